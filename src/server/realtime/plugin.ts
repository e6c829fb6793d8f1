import fp from 'fastify-plugin';
import { API_PREFIX, type App } from '../context.js';
import { createRealtimeHub } from './hub.js';
import { realtimeRoutes } from './routes.js';

/**
 * The event hub (`app.realtime`): WS /api/v1/events and the upgrade router other WebSockets register on. Features
 * after it publish through it and add their observers with `app.realtime.observe`.
 */
async function realtimePlugin(app: App): Promise<void> {
  app.decorate('realtime', createRealtimeHub(app, { pubsub: app.deps.pubsub, config: app.deps.config }));
  await app.register(realtimeRoutes, { prefix: API_PREFIX });
}

export default fp(realtimePlugin, { name: 'realtime' });
