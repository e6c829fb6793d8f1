import fp from 'fastify-plugin';
import { API_PREFIX, type App } from '../context.js';
import { linkSigningSecret } from '../secrets.js';
import { createLinkSigner } from '../visits/links.js';
import { careRoutes } from './care-routes.js';
import type { CheckinDeps } from './deps.js';
import { checkinRoomEndObserver, checkinRoomListener } from './events.js';
import { checkinRoutes } from './routes.js';
import { startCheckinSweeper } from './sweeper.js';

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
  // The calls' rooms: joins and leaves (active, the deadline), and every end of a room (the call completed from it).
  app.roomEvents.listen(checkinRoomListener(deps));
  app.realtime.observe(checkinRoomEndObserver(deps, app.log));
  // The sweep (schedules, missed calls, texts) runs once the app is ready, after the rooms are restored.
  let sweeper: { stop(): Promise<void> } | undefined;
  app.addHook('onReady', async () => {
    sweeper = startCheckinSweeper(deps, app.log);
  });
  app.addHook('onClose', async () => {
    await sweeper?.stop();
  });
  await app.register(
    async (scope) => {
      await careRoutes(scope, deps);
      await checkinRoutes(scope, deps);
    },
    { prefix: API_PREFIX },
  );
}

export default fp(checkinsPlugin, { name: 'checkins', dependencies: ['realtime', 'messaging', 'rooms'] });
