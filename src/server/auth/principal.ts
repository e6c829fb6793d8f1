import { and, eq, gt, isNull, lt, or } from 'drizzle-orm';
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../context.js';
import type { Db } from '../db/index.js';
import { apiKeys, sessions, users } from '../db/schema.js';
import { API_KEY_PREFIX, SESSION_COOKIE, sha256Hex } from './secrets.js';

/** How often, at most, "last used" / "last seen" times are written: a write per request would halve throughput. */
const TOUCH_INTERVAL_MS = 60_000;

export type Credentials = { kind: 'api_key'; key: string } | { kind: 'session'; token: string } | { kind: 'malformed' } | undefined;

/** Reads credentials from `Authorization: Bearer` (API keys) or the session cookie. */
export function credentialsOf(request: FastifyRequest): Credentials {
  return credentialsFrom(request.headers.authorization, request.cookies[SESSION_COOKIE]);
}

export function credentialsFrom(header: string | undefined, token: string | undefined): Credentials {
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match || !match[1]!.startsWith(API_KEY_PREFIX)) return { kind: 'malformed' };
    return { kind: 'api_key', key: match[1]! };
  }
  if (token) return { kind: 'session', token };
  return undefined;
}

export async function resolvePrincipal(db: Db, credentials: Exclude<Credentials, undefined | { kind: 'malformed' }>): Promise<Principal | undefined> {
  return credentials.kind === 'api_key' ? principalFromApiKey(db, credentials.key) : principalFromSession(db, credentials.token);
}

export async function principalFromApiKey(db: Db, key: string, now = new Date()): Promise<Principal | undefined> {
  const [row] = await db
    .select({ id: apiKeys.id, orgId: apiKeys.orgId, lastUsedAt: apiKeys.lastUsedAt })
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, sha256Hex(key)), isNull(apiKeys.revokedAt)))
    .limit(1);
  if (!row) return undefined;
  if (!row.lastUsedAt || now.getTime() - row.lastUsedAt.getTime() > TOUCH_INTERVAL_MS) {
    const stale = new Date(now.getTime() - TOUCH_INTERVAL_MS);
    await db
      .update(apiKeys)
      .set({ lastUsedAt: now })
      .where(and(eq(apiKeys.id, row.id), or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, stale))));
  }
  return { kind: 'api_key', orgId: row.orgId, apiKeyId: row.id };
}

export async function principalFromSession(db: Db, token: string, now = new Date()): Promise<Principal | undefined> {
  const [row] = await db
    .select({ id: sessions.id, orgId: sessions.orgId, userId: sessions.userId, role: users.role, lastSeenAt: sessions.lastSeenAt })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(and(eq(sessions.tokenHash, sha256Hex(token)), isNull(sessions.revokedAt), gt(sessions.expiresAt, now), isNull(users.disabledAt)))
    .limit(1);
  if (!row) return undefined;
  if (now.getTime() - row.lastSeenAt.getTime() > TOUCH_INTERVAL_MS) {
    await db.update(sessions).set({ lastSeenAt: now }).where(eq(sessions.id, row.id));
  }
  return { kind: 'user', orgId: row.orgId, userId: row.userId, role: row.role, sessionId: row.id };
}
