import { and, desc, eq, gt, isNull, ne } from 'drizzle-orm';
import type Type from 'typebox';
import type { ChangePasswordBody, LoginBody, Me, Session } from '../../shared/api/staff.js';
import { audit, recordAudit } from '../audit/service.js';
import type { Config } from '../config.js';
import type { Ctx } from '../context.js';
import type { Db } from '../db/index.js';
import { sessions, users } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { organizationRow, toOrganizationDto } from '../orgs/service.js';
import type { OrgEvents } from '../realtime/events.js';
import { getUserRow, normaliseEmail, toUserDto } from '../users/service.js';
import { linkOrigin } from '../visits/links.js';
import { DUMMY_PASSWORD_HASH, hashPassword, verifyPassword } from './passwords.js';
import { newSecret, sha256Hex } from './secrets.js';

/** What sign-in and sessions need: the database, the hub that closes ended sessions' sockets, the configuration. */
export interface AuthDeps {
  db: Db;
  hub: OrgEvents;
  config: Config;
}

/** Facts about an anonymous request (sign-in, sign-out), for the session row and the audit log. */
export interface ClientFacts {
  requestId: string;
  ip: string;
  userAgent: string | null;
}

type MeDto = Type.Static<typeof Me>;

/** The signed-in staff user's ids: API keys and visit participants have no sessions or password. */
function staffOf(ctx: Ctx): { userId: string; sessionId: string } {
  if (ctx.principal.kind !== 'user') throw new AppError('forbidden');
  return { userId: ctx.principal.userId, sessionId: ctx.principal.sessionId };
}

/** Signs a staff user in: a new session (its token returned once, for the cookie), audited either way. */
export async function login(deps: AuthDeps, client: ClientFacts, body: Type.Static<typeof LoginBody>): Promise<{ me: MeDto; token: string }> {
  const { db, config } = deps;
  const email = normaliseEmail(body.email);
  const [user] = await db.select().from(users).where(eq(users.email, email)).limit(1);
  // Always spend one scrypt, so timing does not tell whether the account exists.
  const passwordOk = await verifyPassword(body.password, user?.passwordHash ?? DUMMY_PASSWORD_HASH);
  if (!user || !passwordOk || user.disabledAt !== null) {
    const reason = !user ? 'unknown_email' : !passwordOk ? 'wrong_password' : 'disabled';
    await recordAudit(db, {
      orgId: user?.orgId ?? null,
      actor: { type: 'anonymous', id: null },
      action: 'auth.login_failed',
      target: user ? { type: 'user', id: user.id } : undefined,
      requestId: client.requestId,
      ip: client.ip,
      outcome: 'failure',
      details: { reason },
    });
    throw new AppError('invalid_credentials');
  }
  const token = newSecret();
  const now = new Date();
  await db.transaction(async (tx) => {
    const [session] = await tx
      .insert(sessions)
      .values({ orgId: user.orgId, userId: user.id, tokenHash: sha256Hex(token), ip: client.ip, userAgent: client.userAgent, expiresAt: new Date(now.getTime() + config.sessionTtlMs) })
      .returning({ id: sessions.id });
    await tx.update(users).set({ lastLoginAt: now }).where(eq(users.id, user.id));
    await recordAudit(tx, {
      orgId: user.orgId,
      actor: { type: 'user', id: user.id },
      action: 'auth.login',
      target: { type: 'session', id: session!.id },
      requestId: client.requestId,
      ip: client.ip,
    });
  });
  const organization = await organizationRow(db, user.orgId);
  return { me: { user: toUserDto({ ...user, lastLoginAt: now }), organization: toOrganizationDto(organization), links: linkOrigin(config) }, token };
}

/** Ends the session of this token, if it is live; after commit, its hub sockets are closed. */
export async function logout(deps: AuthDeps, client: ClientFacts, token: string): Promise<void> {
  const [session] = await deps.db
    .update(sessions)
    .set({ revokedAt: new Date() })
    .where(and(eq(sessions.tokenHash, sha256Hex(token)), isNull(sessions.revokedAt)))
    .returning();
  if (!session) return;
  await recordAudit(deps.db, {
    orgId: session.orgId,
    actor: { type: 'user', id: session.userId },
    action: 'auth.logout',
    target: { type: 'session', id: session.id },
    requestId: client.requestId,
    ip: client.ip,
  });
  await deps.hub.revoke(session.orgId, { sessionIds: [session.id] });
}

/** The signed-in user and organisation, and where join links point. */
export async function me(deps: AuthDeps, ctx: Ctx): Promise<MeDto> {
  const { userId } = staffOf(ctx);
  const [user, organization] = await Promise.all([getUserRow(deps.db, ctx.orgId, userId), organizationRow(deps.db, ctx.orgId)]);
  return { user: toUserDto(user), organization: toOrganizationDto(organization), links: linkOrigin(deps.config) };
}

/** The caller's active sessions, newest first. */
export async function listSessions(deps: AuthDeps, ctx: Ctx): Promise<Type.Static<typeof Session>[]> {
  const { userId, sessionId } = staffOf(ctx);
  const rows = await deps.db
    .select()
    .from(sessions)
    .where(and(eq(sessions.orgId, ctx.orgId), eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, new Date())))
    .orderBy(desc(sessions.createdAt))
    .limit(200);
  return rows.map((s) => ({
    id: s.id,
    current: s.id === sessionId,
    ip: s.ip,
    userAgent: s.userAgent,
    createdAt: s.createdAt.toISOString(),
    lastSeenAt: s.lastSeenAt.toISOString(),
    expiresAt: s.expiresAt.toISOString(),
  }));
}

/** Signs out one of the caller's sessions; `current` tells whether it was the one making this call. */
export async function revokeSession(deps: AuthDeps, ctx: Ctx, id: string): Promise<{ current: boolean }> {
  const { userId, sessionId } = staffOf(ctx);
  const [session] = await deps.db.transaction(async (tx) => {
    const revoked = await tx
      .update(sessions)
      .set({ revokedAt: new Date() })
      .where(and(eq(sessions.id, id), eq(sessions.orgId, ctx.orgId), eq(sessions.userId, userId), isNull(sessions.revokedAt)))
      .returning({ id: sessions.id });
    if (revoked.length > 0) await audit(tx, ctx, 'auth.session_revoked', { type: 'session', id }, { scope: 'one' });
    return revoked;
  });
  if (!session) throw new AppError('not_found', 'There is no such active session.');
  await deps.hub.revoke(ctx.orgId, { sessionIds: [session.id] });
  return { current: session.id === sessionId };
}

/** Changes the caller's password (the current one checked, a failure audited); their other sessions end. */
export async function changePassword(deps: AuthDeps, ctx: Ctx, body: Type.Static<typeof ChangePasswordBody>): Promise<void> {
  const { userId, sessionId } = staffOf(ctx);
  const user = await getUserRow(deps.db, ctx.orgId, userId);
  if (!(await verifyPassword(body.currentPassword, user.passwordHash))) {
    await audit(deps.db, ctx, 'auth.password_changed', { type: 'user', id: userId }, { reason: 'wrong_password' }, 'failure');
    throw new AppError('invalid_credentials', 'The current password is incorrect.');
  }
  const passwordHash = await hashPassword(body.newPassword);
  const others = await deps.db.transaction(async (tx) => {
    await tx.update(users).set({ passwordHash, updatedAt: new Date() }).where(eq(users.id, userId));
    const revoked = await tx
      .update(sessions)
      .set({ revokedAt: new Date() })
      .where(and(eq(sessions.userId, userId), ne(sessions.id, sessionId), isNull(sessions.revokedAt)))
      .returning({ id: sessions.id });
    await audit(tx, ctx, 'auth.password_changed', { type: 'user', id: userId }, { otherSessionsRevoked: revoked.length });
    return revoked.map((r) => r.id);
  });
  if (others.length > 0) await deps.hub.revoke(ctx.orgId, { sessionIds: others });
}
