import { and, desc, eq, gt, isNull, ne } from 'drizzle-orm';
import type { FastifyReply } from 'fastify';
import Type from 'typebox';
import { ErrorResponse, IdParams } from '../../shared/api/common.js';
import { ChangePasswordBody, LoginBody, Me, Session } from '../../shared/api/staff.js';
import { ctxOf, type App } from '../context.js';
import { audit, recordAudit } from '../audit/service.js';
import type { Config } from '../config.js';
import { sessions, users } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { getOrganization, toOrganizationDto } from '../orgs/service.js';
import { getUserRow, normaliseEmail, toUserDto } from '../users/service.js';
import { linkOrigin } from '../visits/links.js';
import { DUMMY_PASSWORD_HASH, hashPassword, verifyPassword } from './passwords.js';
import { newSecret, SESSION_COOKIE, sha256Hex } from './secrets.js';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 429: ErrorResponse };

function setSessionCookie(reply: FastifyReply, config: Config, token: string): void {
  void reply.setCookie(SESSION_COOKIE, token, {
    path: '/',
    httpOnly: true,
    sameSite: 'lax',
    secure: config.publicUrl.startsWith('https:'),
    maxAge: Math.floor(config.sessionTtlMs / 1000),
  });
}

export async function authRoutes(app: App): Promise<void> {
  const { config, database } = app.deps;
  const db = database.db;

  app.post(
    '/auth/login',
    {
      config: { auth: 'public', rateLimit: { max: config.rateLimits.loginPerMinute, timeWindow: '1 minute' } },
      schema: {
        tags: ['auth'],
        summary: 'Sign in a staff user; sets the httpOnly session cookie',
        security: [],
        body: LoginBody,
        response: { 200: Me, ...errors },
      },
    },
    async (request, reply) => {
      const email = normaliseEmail(request.body.email);
      const [user] = await db.select().from(users).where(eq(users.email, email)).limit(1);
      // Always spend one scrypt, so timing does not tell whether the account exists.
      const passwordOk = await verifyPassword(request.body.password, user?.passwordHash ?? DUMMY_PASSWORD_HASH);
      if (!user || !passwordOk || user.disabledAt !== null) {
        const reason = !user ? 'unknown_email' : !passwordOk ? 'wrong_password' : 'disabled';
        await recordAudit(db, {
          orgId: user?.orgId ?? null,
          actor: { type: 'anonymous', id: null },
          action: 'auth.login_failed',
          target: user ? { type: 'user', id: user.id } : undefined,
          requestId: request.id,
          ip: request.ip,
          outcome: 'failure',
          details: { reason },
        });
        throw new AppError('invalid_credentials');
      }
      const token = newSecret();
      const now = new Date();
      const userAgent = request.headers['user-agent']?.slice(0, 300) ?? null;
      await db.transaction(async (tx) => {
        const [session] = await tx
          .insert(sessions)
          .values({ orgId: user.orgId, userId: user.id, tokenHash: sha256Hex(token), ip: request.ip, userAgent, expiresAt: new Date(now.getTime() + config.sessionTtlMs) })
          .returning({ id: sessions.id });
        await tx.update(users).set({ lastLoginAt: now }).where(eq(users.id, user.id));
        await recordAudit(tx, {
          orgId: user.orgId,
          actor: { type: 'user', id: user.id },
          action: 'auth.login',
          target: { type: 'session', id: session!.id },
          requestId: request.id,
          ip: request.ip,
        });
      });
      setSessionCookie(reply, config, token);
      const organization = await getOrganization(db, user.orgId);
      return { user: toUserDto({ ...user, lastLoginAt: now }), organization: toOrganizationDto(organization), links: linkOrigin(config) };
    },
  );

  app.post(
    '/auth/logout',
    {
      config: { auth: 'public' },
      schema: { tags: ['auth'], summary: 'End the current session (always succeeds)', security: [], response: { 204: Type.Null() } },
    },
    async (request, reply) => {
      const token = request.cookies[SESSION_COOKIE];
      if (token) {
        const [session] = await db
          .update(sessions)
          .set({ revokedAt: new Date() })
          .where(and(eq(sessions.tokenHash, sha256Hex(token)), isNull(sessions.revokedAt)))
          .returning();
        if (session) {
          await recordAudit(db, {
            orgId: session.orgId,
            actor: { type: 'user', id: session.userId },
            action: 'auth.logout',
            target: { type: 'session', id: session.id },
            requestId: request.id,
            ip: request.ip,
          });
          await app.realtime.revoke(session.orgId, { sessionIds: [session.id] });
        }
      }
      void reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/auth/me',
    { config: { apiKeys: false }, schema: { tags: ['auth'], summary: 'The signed-in user and organisation, and where join links point (PUBLIC_URL)', response: { 200: Me, ...errors } } },
    async (request) => {
      const ctx = ctxOf(request);
      if (ctx.principal.kind !== 'user') throw new AppError('forbidden');
      const [user, organization] = await Promise.all([getUserRow(db, ctx.orgId, ctx.principal.userId), getOrganization(db, ctx.orgId)]);
      return { user: toUserDto(user), organization: toOrganizationDto(organization), links: linkOrigin(config) };
    },
  );

  app.get(
    '/auth/sessions',
    { config: { apiKeys: false }, schema: { tags: ['auth'], summary: 'Your active sessions', response: { 200: Type.Object({ data: Type.Array(Session) }), ...errors } } },
    async (request) => {
      const ctx = ctxOf(request);
      if (ctx.principal.kind !== 'user') throw new AppError('forbidden');
      const rows = await db
        .select()
        .from(sessions)
        .where(and(eq(sessions.orgId, ctx.orgId), eq(sessions.userId, ctx.principal.userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, new Date())))
        .orderBy(desc(sessions.createdAt))
        .limit(200);
      const current = ctx.principal.sessionId;
      return {
        data: rows.map((s) => ({
          id: s.id,
          current: s.id === current,
          ip: s.ip,
          userAgent: s.userAgent,
          createdAt: s.createdAt.toISOString(),
          lastSeenAt: s.lastSeenAt.toISOString(),
          expiresAt: s.expiresAt.toISOString(),
        })),
      };
    },
  );

  app.post(
    '/auth/sessions/:id/revoke',
    {
      config: { apiKeys: false },
      schema: { tags: ['auth'], summary: 'Sign out one of your sessions (e.g. a lost laptop)', params: IdParams, response: { 204: Type.Null(), ...errors } },
    },
    async (request, reply) => {
      const ctx = ctxOf(request);
      if (ctx.principal.kind !== 'user') throw new AppError('forbidden');
      const userId = ctx.principal.userId;
      const [session] = await db.transaction(async (tx) => {
        const revoked = await tx
          .update(sessions)
          .set({ revokedAt: new Date() })
          .where(and(eq(sessions.id, request.params.id), eq(sessions.orgId, ctx.orgId), eq(sessions.userId, userId), isNull(sessions.revokedAt)))
          .returning({ id: sessions.id });
        if (revoked.length > 0) await audit(tx, ctx, 'auth.session_revoked', { type: 'session', id: request.params.id }, { scope: 'one' });
        return revoked;
      });
      if (!session) throw new AppError('not_found', 'There is no such active session.');
      await app.realtime.revoke(ctx.orgId, { sessionIds: [session.id] });
      if (session.id === ctx.principal.sessionId) void reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/auth/password',
    {
      config: { apiKeys: false, rateLimit: { max: config.rateLimits.loginPerMinute, timeWindow: '1 minute' } },
      schema: {
        tags: ['auth'],
        summary: 'Change your password; your other sessions are signed out',
        body: ChangePasswordBody,
        response: { 204: Type.Null(), ...errors },
      },
    },
    async (request, reply) => {
      const ctx = ctxOf(request);
      if (ctx.principal.kind !== 'user') throw new AppError('forbidden');
      const { sessionId, userId } = ctx.principal;
      const user = await getUserRow(db, ctx.orgId, userId);
      if (!(await verifyPassword(request.body.currentPassword, user.passwordHash))) {
        await audit(db, ctx, 'auth.password_changed', { type: 'user', id: userId }, { reason: 'wrong_password' }, 'failure');
        throw new AppError('invalid_credentials', 'The current password is incorrect.');
      }
      const passwordHash = await hashPassword(request.body.newPassword);
      const others = await db.transaction(async (tx) => {
        await tx.update(users).set({ passwordHash, updatedAt: new Date() }).where(eq(users.id, userId));
        const revoked = await tx
          .update(sessions)
          .set({ revokedAt: new Date() })
          .where(and(eq(sessions.userId, userId), ne(sessions.id, sessionId), isNull(sessions.revokedAt)))
          .returning({ id: sessions.id });
        await audit(tx, ctx, 'auth.password_changed', { type: 'user', id: userId }, { otherSessionsRevoked: revoked.length });
        return revoked.map((r) => r.id);
      });
      if (others.length > 0) await app.realtime.revoke(ctx.orgId, { sessionIds: others });
      return reply.status(204).send(null);
    },
  );
}
