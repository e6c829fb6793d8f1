import Type from 'typebox';
import { ErrorResponse } from '../../shared/api/common.js';
import type { App } from '../context.js';
import { AppError } from '../http/errors.js';

/** Liveness and readiness for orchestrators; unauthenticated and cheap. */
export async function opsRoutes(app: App): Promise<void> {
  app.get(
    '/healthz',
    { schema: { tags: ['ops'], summary: 'The process is alive', security: [], response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
    async () => ({ status: 'ok' as const }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        tags: ['ops'],
        summary: 'The database (and Redis, when configured) answer',
        security: [],
        response: { 200: Type.Object({ status: Type.Literal('ready'), database: Type.String(), pubsub: Type.String() }), 503: ErrorResponse },
      },
    },
    async () => {
      try {
        await app.deps.database.ping();
      } catch {
        throw new AppError('not_ready', 'The database is not reachable.');
      }
      return { status: 'ready' as const, database: app.deps.database.kind, pubsub: app.deps.pubsub.kind };
    },
  );
}
