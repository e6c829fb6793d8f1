import fp from 'fastify-plugin';
import { CHANNEL_PATH } from '../../shared/channel.js';
import { API_PREFIX, type App } from '../context.js';
import { loadOrCreateSecret } from '../secrets.js';
import { channelUrl, createParticipantChannel } from './channel.js';
import { createDeadlineTimers } from './deadlines.js';
import { startRoomSweeper } from './lifecycle.js';
import { roomRoutes } from './routes.js';
import { endRoomsAtDeadline, recordRoomEvents, restoreRooms, type RoomDeps, type RoomEventListener } from './service.js';

/**
 * The rooms layer (`app.rooms`, `app.roomEvents`): the media provider attached to the app, its events recorded,
 * rooms restored and the lifecycle sweeper started when the app is ready, the rooms API.
 */
async function roomsPlugin(app: App): Promise<void> {
  const { config, database, media } = app.deps;
  // The participant channel: the server's own socket to the people in a room, on the hub's upgrade router.
  const channel = await createParticipantChannel({
    db: database.db,
    pubsub: app.deps.pubsub,
    secret: config.channelSigningSecret ? Buffer.from(config.channelSigningSecret, 'utf8') : loadOrCreateSecret(config.dataDir, 'room-channel'),
    url: channelUrl(config.publicUrl, CHANNEL_PATH),
    maxPayloadBytes: config.wsMaxPayloadBytes,
    log: app.log,
  });
  app.realtime.upgrades.register(CHANNEL_PATH, (request, socket, head) => channel.handleUpgrade(request, socket, head));
  app.addHook('preClose', () => channel.shutdown());
  app.addHook('onClose', () => channel.close());
  // Rooms' deadlines: this instance's timers, cleared as the app begins to close (the rows keep the deadlines: the
  // next start, or another process's sweep, ends the rooms).
  const deadlines = createDeadlineTimers((roomIds) => void endRoomsAtDeadline(deps, roomIds).catch((err: unknown) => app.log.warn({ err }, 'room deadlines: not ended (the sweep tries again)')));
  app.addHook('preClose', async () => deadlines.close());
  const deps: RoomDeps = { db: database.db, hub: app.realtime, media, channel, defaults: config.rooms, groups: config.groups, deadlines, log: app.log };
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
  // When ready, so every listener hears what restoring and sweeping cause (restoring also arms the rooms' deadlines).
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
