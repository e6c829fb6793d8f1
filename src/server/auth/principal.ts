import { and, eq, gt, isNull, lt, or, sql } from 'drizzle-orm';
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

export type ValidCredentials = Exclude<Credentials, undefined | { kind: 'malformed' }>;

export interface PrincipalResolver {
  resolve(credentials: ValidCredentials, now?: Date): Promise<Principal | undefined>;
}

/**
 * Resolves credentials to a principal on every authenticated request and hub connection, so its
 * lookups are prepared statements, built once per app: about half the cost of building the query
 * each time (measured: 0.47 → 0.21 ms on PGlite, 0.26 → 0.09 ms on PostgreSQL).
 */
export function createPrincipalResolver(db: Db): PrincipalResolver {
  const keyByHash = db
    .select({ id: apiKeys.id, orgId: apiKeys.orgId, lastUsedAt: apiKeys.lastUsedAt })
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, sql.placeholder('hash')), isNull(apiKeys.revokedAt)))
    .limit(1)
    .prepare('ov_principal_api_key');
  const sessionByHash = db
    .select({ id: sessions.id, orgId: sessions.orgId, userId: sessions.userId, role: users.role, lastSeenAt: sessions.lastSeenAt, expiresAt: sessions.expiresAt })
    .from(sessions)
    .innerJoin(users, eq(users.id, sessions.userId))
    .where(and(eq(sessions.tokenHash, sql.placeholder('hash')), isNull(sessions.revokedAt), gt(sessions.expiresAt, sql.placeholder('now')), isNull(users.disabledAt)))
    .limit(1)
    .prepare('ov_principal_session');

  async function fromApiKey(key: string, now: Date): Promise<Principal | undefined> {
    const [row] = await keyByHash.execute({ hash: sha256Hex(key) });
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

  async function fromSession(token: string, now: Date): Promise<Principal | undefined> {
    const [row] = await sessionByHash.execute({ hash: sha256Hex(token), now: now.toISOString() });
    if (!row) return undefined;
    if (now.getTime() - row.lastSeenAt.getTime() > TOUCH_INTERVAL_MS) {
      await db.update(sessions).set({ lastSeenAt: now }).where(eq(sessions.id, row.id));
    }
    return { kind: 'user', orgId: row.orgId, userId: row.userId, role: row.role, sessionId: row.id, sessionExpiresAt: row.expiresAt };
  }

  return {
    resolve(credentials, now = new Date()) {
      return credentials.kind === 'api_key' ? fromApiKey(credentials.key, now) : fromSession(credentials.token, now);
    },
  };
}
