import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyBaseLogger, FastifyInstance, RawServerDefault } from 'fastify';
import type { AuditActorType } from './audit/catalogue.js';
import type { UserRole } from './db/schema.js';
import { AppError } from './http/errors.js';

/**
 * The app (or a plugin's scope of it) as features see it. Features take it, and the caller, from here, never
 * from app.ts, which imports them: a route module loads on its own. Its decorations are declared in fastify.ts.
 */
export type App = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

/** Where the API's routes are mounted (each feature registers its routes under it). */
export const API_PREFIX = '/api/v1';

/** Who is acting. API keys act for their organisation with the rights of a service (see docs/API.md). */
export type Principal =
  | { kind: 'user'; orgId: string; userId: string; role: UserRole; sessionId: string; sessionExpiresAt: Date }
  | { kind: 'api_key'; orgId: string; apiKeyId: string }
  /** Someone who joined a visit with a join link (patient, guest, interpreter, caregiver): visit routes only. */
  | { kind: 'participant'; orgId: string; visitId: string; participantId: string; sessionId: string }
  /**
   * A care circle's member signed in with a care link (a family caregiver, the recipient's device): check-in routes
   * only. `sessionExpiresAt` when resolved from a session (the hub closes the socket then).
   */
  | { kind: 'member'; orgId: string; memberId: string; recipientId: string; sessionId: string; sessionExpiresAt?: Date }
  /** The server itself or an operator at the CLI (demo data, maintenance); never from a request. */
  | { kind: 'system'; orgId: string };

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
  switch (principal.kind) {
    case 'user':
      return { type: 'user', id: principal.userId };
    case 'api_key':
      return { type: 'api_key', id: principal.apiKeyId };
    case 'participant':
      return { type: 'participant', id: principal.participantId };
    case 'member':
      return { type: 'member', id: principal.memberId };
    case 'system':
      return { type: 'system', id: null };
  }
}

/** The signed-in caller's context. Only valid on authenticated routes. */
export function ctxOf(request: { principal: Principal | null; id: string; ip: string }): Ctx {
  const principal = request.principal;
  if (!principal) throw new AppError('unauthenticated');
  return { orgId: principal.orgId, actor: actorOf(principal), principal, requestId: request.id, ip: request.ip };
}

/** The context for work the system does on an organisation's behalf (CLI, demo data, timers). */
export function systemCtx(orgId: string): Ctx {
  const principal: Principal = { kind: 'system', orgId };
  return { orgId, actor: actorOf(principal), principal, requestId: null, ip: null };
}

/** Who to count a rate limit against: the caller, not their IP (a host app or a clinic's patients share one address). */
export function callerKey(principal: Principal | null, ip: string): string {
  switch (principal?.kind) {
    case 'api_key':
      return `key:${principal.apiKeyId}`;
    case 'user':
      return `user:${principal.userId}`;
    case 'participant':
      return `participant:${principal.participantId}`;
    case 'member':
      return `member:${principal.memberId}`;
    default:
      return `ip:${ip}`;
  }
}
