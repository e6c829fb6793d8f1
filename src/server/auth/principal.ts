import { and, eq, gt, isNull, lt, or, sql } from 'drizzle-orm';
import type { FastifyRequest } from 'fastify';
import type { Principal } from '../context.js';
import type { Db } from '../db/index.js';
import { apiKeys, careMembers, memberSessions, participantSessions, patients, sessions, users, visitParticipants } from '../db/schema.js';
import { API_KEY_PREFIX, MEMBER_COOKIE, MEMBER_SESSION_PREFIX, PARTICIPANT_COOKIE, PARTICIPANT_SESSION_PREFIX, SESSION_COOKIE, sha256Hex } from './secrets.js';

/** How often, at most, "last used" / "last seen" times are written: a write per request would halve throughput. */
const TOUCH_INTERVAL_MS = 60_000;

export type Credentials =
  | { kind: 'api_key'; key: string }
  | { kind: 'session'; token: string }
  /** A visit participant's session (`fromCookie`: sent by the browser on its own, so writes need an allowed Origin). */
  | { kind: 'participant'; token: string; fromCookie: boolean }
  /** A care circle member's session (`fromCookie` as for participants). */
  | { kind: 'member'; token: string; fromCookie: boolean }
  | { kind: 'malformed' }
  | undefined;

/** Reads credentials from `Authorization: Bearer` (API keys, participant and member sessions) or the session cookies. */
export function credentialsOf(request: FastifyRequest): Credentials {
  return credentialsFrom(request.headers.authorization, request.cookies[SESSION_COOKIE], request.cookies[PARTICIPANT_COOKIE], request.cookies[MEMBER_COOKIE]);
}

/** A header wins over cookies; of the cookies, a staff session, then a visit participant's, then a care member's. */
export function credentialsFrom(header: string | undefined, token: string | undefined, participantToken?: string, memberToken?: string): Credentials {
  if (header !== undefined) {
    const value = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
    if (value?.startsWith(API_KEY_PREFIX)) return { kind: 'api_key', key: value };
    if (value?.startsWith(PARTICIPANT_SESSION_PREFIX)) return { kind: 'participant', token: value, fromCookie: false };
    if (value?.startsWith(MEMBER_SESSION_PREFIX)) return { kind: 'member', token: value, fromCookie: false };
    return { kind: 'malformed' };
  }
  if (token) return { kind: 'session', token };
  if (participantToken) return { kind: 'participant', token: participantToken, fromCookie: true };
  if (memberToken) return { kind: 'member', token: memberToken, fromCookie: true };
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
  const participantByHash = db
    .select({ id: participantSessions.id, orgId: participantSessions.orgId, visitId: participantSessions.visitId, participantId: participantSessions.participantId })
    .from(participantSessions)
    .innerJoin(visitParticipants, eq(visitParticipants.id, participantSessions.participantId))
    .where(
      and(
        eq(participantSessions.tokenHash, sql.placeholder('hash')),
        isNull(participantSessions.revokedAt),
        gt(participantSessions.expiresAt, sql.placeholder('now')),
        sql`${visitParticipants.admission} not in ('denied', 'removed')`,
      ),
    )
    .limit(1)
    .prepare('ov_principal_participant');
  // A removed member's sessions are revoked with it; the join refuses them even if one were missed.
  const memberByHash = db
    .select({ id: memberSessions.id, orgId: memberSessions.orgId, memberId: memberSessions.memberId, recipientId: careMembers.recipientId, expiresAt: memberSessions.expiresAt })
    .from(memberSessions)
    .innerJoin(careMembers, and(eq(careMembers.orgId, memberSessions.orgId), eq(careMembers.id, memberSessions.memberId)))
    // An archived recipient's circle is closed: its members' sessions stop working (and start again if restored).
    .innerJoin(patients, and(eq(patients.orgId, careMembers.orgId), eq(patients.id, careMembers.recipientId)))
    .where(
      and(
        eq(memberSessions.tokenHash, sql.placeholder('hash')),
        isNull(memberSessions.revokedAt),
        gt(memberSessions.expiresAt, sql.placeholder('now')),
        isNull(careMembers.removedAt),
        isNull(patients.archivedAt),
      ),
    )
    .limit(1)
    .prepare('ov_principal_member');

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

  async function fromParticipant(token: string, now: Date): Promise<Principal | undefined> {
    const [row] = await participantByHash.execute({ hash: sha256Hex(token), now: now.toISOString() });
    if (!row) return undefined;
    return { kind: 'participant', orgId: row.orgId, visitId: row.visitId, participantId: row.participantId, sessionId: row.id };
  }

  async function fromMember(token: string, now: Date): Promise<Principal | undefined> {
    const [row] = await memberByHash.execute({ hash: sha256Hex(token), now: now.toISOString() });
    if (!row) return undefined;
    return { kind: 'member', orgId: row.orgId, memberId: row.memberId, recipientId: row.recipientId, sessionId: row.id, sessionExpiresAt: row.expiresAt };
  }

  return {
    resolve(credentials, now = new Date()) {
      switch (credentials.kind) {
        case 'api_key':
          return fromApiKey(credentials.key, now);
        case 'session':
          return fromSession(credentials.token, now);
        case 'participant':
          return fromParticipant(credentials.token, now);
        case 'member':
          return fromMember(credentials.token, now);
      }
    },
  };
}
