import type { AuditActorType } from './audit/catalogue.js';
import type { UserRole } from './db/schema.js';

/** Who is acting. API keys act for their organisation with the rights of a service (see docs/API.md). */
export type Principal =
  | { kind: 'user'; orgId: string; userId: string; role: UserRole; sessionId: string }
  | { kind: 'api_key'; orgId: string; apiKeyId: string };

export interface Actor {
  type: AuditActorType;
  id: string | null;
}

/** What every domain function receives: the tenant, the actor, and request facts for the audit log. */
export interface Ctx {
  orgId: string;
  actor: Actor;
  principal: Principal;
  requestId: string | null;
  ip: string | null;
}

export function actorOf(principal: Principal): Actor {
  return principal.kind === 'user' ? { type: 'user', id: principal.userId } : { type: 'api_key', id: principal.apiKeyId };
}
