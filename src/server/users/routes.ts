import Type from 'typebox';
import { IdParams, Page } from '../../shared/api/common.js';
import { CreateUserBody, UpdateUserBody, User, UserRole } from '../../shared/api/staff.js';
import { ctxOf, type App } from '../context.js';
import { AppError } from '../http/errors.js';
import { authErrors } from '../http/schemas.js';
import { createUser, getUser, listUsers, revokeUserSessions, updateUser, type UserDeps } from './service.js';

/** Staff users. Staff and API keys can see the staff list (to schedule with a clinician); admins manage it. */
/**
 * Managing staff is for signed-in admins only: an API key that could create an admin with a password
 * of its choosing could sign in as them and mint more keys.
 */
const ADMINS = { roles: ['admin'] as const, apiKeys: false };

export async function userRoutes(app: App): Promise<void> {
  const deps: UserDeps = { db: app.deps.database.db, hub: app.realtime };
  const tags = ['users'];

  app.get(
    '/users',
    {
      schema: {
        tags,
        summary: 'List staff users',
        querystring: Type.Object({
          role: Type.Optional(UserRole),
          q: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
          cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
          limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
        }),
        response: { 200: Page(User), ...authErrors },
      },
    },
    async (request) => listUsers(deps, ctxOf(request), request.query),
  );

  app.post(
    '/users',
    { config: ADMINS, schema: { tags, summary: 'Create a staff user', body: CreateUserBody, response: { 201: User, ...authErrors } } },
    async (request, reply) => reply.status(201).send(await createUser(deps, ctxOf(request), request.body)),
  );

  app.get(
    '/users/:id',
    { schema: { tags, summary: 'Get a staff user', params: IdParams, response: { 200: User, ...authErrors } } },
    async (request) => getUser(deps, ctxOf(request), request.params.id),
  );

  app.patch(
    '/users/:id',
    {
      config: ADMINS,
      schema: { tags, summary: 'Rename, change role, disable/enable or reset the password of a user', params: IdParams, body: UpdateUserBody, response: { 200: User, ...authErrors } },
    },
    async (request) => updateUser(deps, ctxOf(request), request.params.id, request.body),
  );

  app.post(
    '/users/:id/sessions/revoke',
    {
      config: ADMINS,
      schema: { tags, summary: 'Sign a user out everywhere', params: IdParams, response: { 200: Type.Object({ revoked: Type.Integer() }), ...authErrors } },
    },
    async (request) => {
      const ctx = ctxOf(request);
      if (ctx.principal.kind === 'user' && ctx.principal.userId === request.params.id) {
        throw new AppError('invalid_state', 'Use POST /api/v1/auth/logout or revoke single sessions to sign yourself out.');
      }
      return { revoked: await revokeUserSessions(deps, ctx, request.params.id) };
    },
  );
}
