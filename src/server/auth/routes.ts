import type { FastifyReply } from 'fastify';
import Type from 'typebox';
import { ErrorResponse, IdParams } from '../../shared/api/common.js';
import { ChangePasswordBody, LoginBody, Me, Session } from '../../shared/api/staff.js';
import type { Config } from '../config.js';
import { ctxOf, type App } from '../context.js';
import { SESSION_COOKIE } from './secrets.js';
import { changePassword, listSessions, login, logout, me, revokeSession, type AuthDeps, type ClientFacts } from './service.js';

const errors = { 400: ErrorResponse, 401: ErrorResponse, 403: ErrorResponse, 404: ErrorResponse, 429: ErrorResponse };

/** What the audit log and the session row keep of an anonymous request. */
function clientOf(request: { id: string; ip: string; headers: { 'user-agent'?: string | undefined } }): ClientFacts {
  return { requestId: request.id, ip: request.ip, userAgent: request.headers['user-agent']?.slice(0, 300) ?? null };
}

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
  const deps: AuthDeps = { db: database.db, hub: app.realtime, config };

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
      const { me: signedIn, token } = await login(deps, clientOf(request), request.body);
      setSessionCookie(reply, config, token);
      return signedIn;
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
      if (token) await logout(deps, clientOf(request), token);
      void reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/auth/me',
    { config: { apiKeys: false }, schema: { tags: ['auth'], summary: 'The signed-in user and organisation, and where join links point (PUBLIC_URL)', response: { 200: Me, ...errors } } },
    async (request) => me(deps, ctxOf(request)),
  );

  app.get(
    '/auth/sessions',
    { config: { apiKeys: false }, schema: { tags: ['auth'], summary: 'Your active sessions', response: { 200: Type.Object({ data: Type.Array(Session) }), ...errors } } },
    async (request) => ({ data: await listSessions(deps, ctxOf(request)) }),
  );

  app.post(
    '/auth/sessions/:id/revoke',
    {
      config: { apiKeys: false },
      schema: { tags: ['auth'], summary: 'Sign out one of your sessions (e.g. a lost laptop)', params: IdParams, response: { 204: Type.Null(), ...errors } },
    },
    async (request, reply) => {
      const { current } = await revokeSession(deps, ctxOf(request), request.params.id);
      if (current) void reply.clearCookie(SESSION_COOKIE, { path: '/' });
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
      await changePassword(deps, ctxOf(request), request.body);
      return reply.status(204).send(null);
    },
  );
}
