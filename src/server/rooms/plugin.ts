import fp from 'fastify-plugin';
import { API_PREFIX, type App } from '../context.js';
import { startRoomSweeper } from './lifecycle.js';
import { roomRoutes } from './routes.js';
import { recordRoomEvents, restoreRooms, type RoomDeps, type RoomEventListener } from './service.js';

/**
 * The rooms layer (`app.rooms`, `app.roomEvents`): the media provider attached to the app, its events recorded,
 * rooms restored and the lifecycle sweeper started when the app is ready, the rooms API.
 */
async function roomsPlugin(app: App): Promise<void> {
  const { config, database, media } = app.deps;
  const deps: RoomDeps = { db: database.db, hub: app.realtime, media, defaults: config.rooms };
  app.decorate('rooms', deps);
  // Features built on rooms add their listeners while the app is built; the recorder reads the list per event.
  const listeners: RoomEventListener[] = [];
  const recorder = recordRoomEvents(deps, app.log, listeners);
  app.decorate('roomEvents', {
    idle: () => recorder.idle(),
    listen: (listener: RoomEventListener) => {
      listeners.push(listener);
    },
  });
  // The provider's endpoints: WebSocket upgrades, and HTTP routes (status callbacks) in their own scope outside /api/v1.
  media.attach?.({ registerUpgrade: (path, handler) => app.realtime.upgrades.register(path, handler), registerRoutes: (plugin) => void app.register(plugin) });
  app.addHook('preClose', async () => {
    await media.shutdown?.();
  });
  // When ready, so every listener hears what restoring and sweeping cause.
  let sweeper: { stop(): Promise<void> } | undefined;
  app.addHook('onReady', async () => {
    await restoreRooms(deps, app.log);
    sweeper = startRoomSweeper(deps, app.log);
  });
  // Before jobs stop (registered earlier, so closed later): events recorded while closing still queue their webhooks.
  app.addHook('onClose', async () => {
    await sweeper?.stop();
    recorder.stop();
    await recorder.idle();
  });
  await app.register(roomRoutes, { prefix: API_PREFIX });
}

export default fp(roomsPlugin, { name: 'rooms', dependencies: ['realtime'] });
