import fp from 'fastify-plugin';
import { API_PREFIX, type App } from '../context.js';
import { startDeliveryWorkers } from './deliver.js';
import { webhookRoutes } from './routes.js';
import { enqueueEvent, type WebhookDeps } from './service.js';

/** Webhooks to host apps: the delivery job's workers, the hub observer that queues deliveries, the routes. */
async function webhooksPlugin(app: App): Promise<void> {
  const deps: WebhookDeps = { db: app.deps.database.db, jobs: app.jobs, config: app.deps.config.webhooks, log: app.log };
  await startDeliveryWorkers(deps);
  // Every event this process publishes (once per event, whichever server publishes it) queues its deliveries.
  app.realtime.observe((orgId, event) => enqueueEvent(deps, orgId, event));
  await app.register(async (scope) => webhookRoutes(scope, deps), { prefix: API_PREFIX });
}

export default fp(webhooksPlugin, { name: 'webhooks', dependencies: ['jobs', 'realtime'] });
