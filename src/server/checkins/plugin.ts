import fp from 'fastify-plugin';
import { API_PREFIX, type App } from '../context.js';
import { linkSigningSecret } from '../secrets.js';
import { createLinkSigner } from '../visits/links.js';
import { careRoutes } from './care-routes.js';
import type { CheckinDeps } from './deps.js';
import { checkinRoutes } from './routes.js';

/**
 * Check-in calls (docs/checkins.md): care circles and their members' sessions, calls over the rooms layer (owner kind
 * `checkin`, the limit a room deadline), ringing on the realtime hub with a text as fallback, schedules, the sweep.
 */
async function checkinsPlugin(app: App): Promise<void> {
  const { config, database } = app.deps;
  const deps: CheckinDeps = {
    db: database.db,
    hub: app.realtime,
    rooms: app.rooms,
    notifier: app.messaging.notifier,
    careLinks: createLinkSigner(linkSigningSecret(config), 'care'),
    publicUrl: config.publicUrl,
    defaultPhoneRegion: config.defaultPhoneRegion,
    config: config.checkins,
  };
  await app.register(
    async (scope) => {
      await careRoutes(scope, deps);
      await checkinRoutes(scope, deps);
    },
    { prefix: API_PREFIX },
  );
}

export default fp(checkinsPlugin, { name: 'checkins', dependencies: ['realtime', 'messaging', 'rooms'] });
