import Type from 'typebox';
import { IdParams, Page } from '../../shared/api/common.js';
import { ApiKey, CreateApiKeyBody, CreatedApiKey } from '../../shared/api/staff.js';
import { ctxOf, type App } from '../context.js';
import { authErrors } from '../http/schemas.js';
import { createApiKey, listApiKeys, revokeApiKey, type ApiKeyDeps } from './service.js';

/** API keys for host apps. Admins manage them; a key can never mint or list keys. */
export async function apiKeyRoutes(app: App): Promise<void> {
  const deps: ApiKeyDeps = { db: app.deps.database.db, hub: app.realtime };
  const tags = ['api-keys'];
  const adminOnly = { roles: ['admin'] as const, apiKeys: false };

  app.get(
    '/api-keys',
    {
      config: adminOnly,
      schema: {
        tags,
        summary: "List the organisation's API keys (never the keys themselves)",
        querystring: Type.Object({
          includeRevoked: Type.Boolean({ default: false }),
          cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
          limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
        }),
        response: { 200: Page(ApiKey), ...authErrors },
      },
    },
    async (request) => listApiKeys(deps, ctxOf(request), request.query),
  );

  app.post(
    '/api-keys',
    { config: adminOnly, schema: { tags, summary: 'Create an API key (shown once)', body: CreateApiKeyBody, response: { 201: CreatedApiKey, ...authErrors } } },
    async (request, reply) => reply.status(201).send(await createApiKey(deps, ctxOf(request), request.body.name)),
  );

  app.post(
    '/api-keys/:id/revoke',
    { config: adminOnly, schema: { tags, summary: 'Revoke an API key (immediately refused everywhere)', params: IdParams, response: { 200: ApiKey, ...authErrors } } },
    async (request) => revokeApiKey(deps, ctxOf(request), request.params.id),
  );
}
