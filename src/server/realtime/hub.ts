import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { HUB_CLOSE, type HubMessage } from '../../shared/events.js';
import { credentialsFrom } from '../auth/principal.js';
import { MEMBER_COOKIE, SESSION_COOKIE } from '../auth/secrets.js';
import type { Config } from '../config.js';
import type { App, Principal } from '../context.js';
import { originAllowed } from '../http/origin.js';
import { refuseUpgrade, UpgradeRouter } from '../http/upgrade.js';
import type { PubSub, Unsubscribe } from '../pubsub/index.js';
import { createOrgEvents, orgChannel, type ChannelMessage, type ObservedOrgEvents } from './events.js';

export const EVENTS_PATH = '/api/v1/events';
const HEARTBEAT_MS = 30_000;

export interface RealtimeHub extends ObservedOrgEvents {
  readonly upgrades: UpgradeRouter;
  /** Number of open client connections on this process. */
  connections(): number;
}

interface Client {
  socket: WebSocket;
  principal: Principal;
  alive: boolean;
}

/**
 * The realtime hub: staff browsers and host apps hold a WebSocket on /api/v1/events and receive their
 * organisation's events. Fan-out goes through the PubSub (memory or Redis), one subscription per
 * organisation per process, multiplexed to that organisation's sockets. A care circle member's session (a family
 * caregiver's phone, the recipient's device) connects too, and gets only the events addressed to it: those whose
 * `data.memberIds` lists its member (a check-in call ringing it), never anything else of the organisation.
 */
export function createRealtimeHub(app: App, deps: { pubsub: PubSub; config: Config }): RealtimeHub {
  const upgrades = new UpgradeRouter();
  const events = createOrgEvents(deps.pubsub, app.log);
  const wss = new WebSocketServer({ noServer: true, maxPayload: deps.config.wsMaxPayloadBytes });
  /** Per organisation: its clients on this process and the one pub/sub subscription serving them. */
  interface OrgEntry {
    clients: Set<Client>;
    subscribed: Promise<Unsubscribe>;
  }
  const byOrg = new Map<string, OrgEntry>();

  const send = (client: Client, message: HubMessage) => {
    if (client.socket.readyState === WebSocket.OPEN) client.socket.send(JSON.stringify(message));
  };

  // Bound to its own entry: a subscription still being torn down never reaches a newer entry's clients.
  const onChannel = (entry: OrgEntry) => (raw: unknown) => {
    const message = raw as ChannelMessage;
    if (message.kind === 'event') {
      const text = JSON.stringify({ type: 'event', event: message.event } satisfies HubMessage);
      const addressed = message.event.data.memberIds;
      for (const client of entry.clients) {
        if (client.socket.readyState !== WebSocket.OPEN) continue;
        const p = client.principal;
        // A member sees only what names it; staff and host apps see the organisation's events.
        if (p.kind === 'member' && !(Array.isArray(addressed) && addressed.includes(p.memberId))) continue;
        client.socket.send(text);
      }
      return;
    }
    for (const client of entry.clients) {
      const p = client.principal;
      const hit =
        p.kind === 'user'
          ? message.sessionIds?.includes(p.sessionId) || message.userIds?.includes(p.userId)
          : p.kind === 'api_key'
            ? message.apiKeyIds?.includes(p.apiKeyId)
            : p.kind === 'member' && (message.memberSessionIds?.includes(p.sessionId) || message.memberIds?.includes(p.memberId));
      if (hit) client.socket.close(HUB_CLOSE.sessionEnded, 'credentials revoked');
    }
  };

  /** Adds the client to its organisation's entry; resolves once the subscription is live. */
  const attach = (client: Client): Promise<Unsubscribe> => {
    const orgId = client.principal.orgId;
    let entry = byOrg.get(orgId);
    if (!entry) {
      const created: OrgEntry = { clients: new Set(), subscribed: Promise.resolve(async () => {}) };
      created.subscribed = deps.pubsub.subscribe(orgChannel(orgId), onChannel(created));
      // A failed subscription must not stay cached: the next client tries again.
      created.subscribed.catch(() => byOrg.get(orgId) === created && byOrg.delete(orgId));
      byOrg.set(orgId, created);
      entry = created;
    }
    const own = entry;
    own.clients.add(client);
    client.socket.on('close', () => {
      own.clients.delete(client);
      if (own.clients.size === 0 && byOrg.get(orgId) === own) {
        byOrg.delete(orgId);
        void own.subscribed.then((unsubscribe) => unsubscribe()).catch(() => {});
      }
    });
    return own.subscribed;
  };

  const heartbeat = setInterval(() => {
    const now = Date.now();
    for (const { clients } of byOrg.values()) {
      for (const client of clients) {
        const p = client.principal;
        if ((p.kind === 'user' || p.kind === 'member') && p.sessionExpiresAt && p.sessionExpiresAt.getTime() <= now) {
          client.socket.close(HUB_CLOSE.sessionEnded, 'session expired');
          continue;
        }
        if (!client.alive) {
          client.socket.terminate();
          continue;
        }
        client.alive = false;
        client.socket.ping();
      }
    }
  }, HEARTBEAT_MS);
  heartbeat.unref();

  /** Set when the app starts closing: from then on upgrades are refused. */
  let shuttingDown = false;
  upgrades.register(EVENTS_PATH, async (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    const cookies = request.headers.cookie ? app.parseCookie(request.headers.cookie) : {};
    const credentials = credentialsFrom(request.headers.authorization, cookies[SESSION_COOKIE], undefined, cookies[MEMBER_COOKIE]);
    if (!credentials || credentials.kind === 'malformed') return refuseUpgrade(socket, 401, 'unauthenticated');
    // The hub carries the organisation's events: staff and host apps, and care members (only what names them); never
    // a visit participant.
    if (credentials.kind === 'participant') return refuseUpgrade(socket, 403, 'forbidden');
    // A browser always sends Origin on a WebSocket; refuse cross-site pages riding a staff (or member) cookie.
    if (credentials.kind === 'session' || (credentials.kind === 'member' && credentials.fromCookie)) {
      const host = request.headers.host ?? '';
      const protocol = (request.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
      if (!originAllowed(request.headers.origin, { protocol, host }, deps.config)) return refuseUpgrade(socket, 403, 'origin_not_allowed');
    }
    const principal = await app.principals.resolve(credentials);
    if (!principal) return refuseUpgrade(socket, 401, 'unauthenticated');
    if (socket.destroyed) return;
    // Once closing has begun, preClose has told the clients it knew of to reconnect; a socket accepted now
    // would get neither that nor a close, and would keep the HTTP server (and the shutdown) open.
    if (shuttingDown) return refuseUpgrade(socket, 503, 'not_ready');
    wss.handleUpgrade(request, socket, head, (ws) => {
      const client: Client = { socket: ws, principal, alive: true };
      ws.on('error', () => ws.terminate());
      ws.on('pong', () => {
        client.alive = true;
      });
      // The hub is server-to-client; anything a client sends is ignored (pings are answered by ws).
      ws.on('message', () => {});
      // `hello` only once the subscription is live, so a client never misses an event sent after it.
      attach(client).then(
        () => send(client, { type: 'hello', orgId: principal.orgId, heartbeatSeconds: HEARTBEAT_MS / 1000 }),
        (err: unknown) => {
          app.log.warn({ err }, 'realtime subscription failed');
          ws.close(1011, 'events unavailable');
        },
      );
    });
  });

  app.server.on('upgrade', upgrades.handle);

  app.addHook('preClose', async () => {
    shuttingDown = true;
    clearInterval(heartbeat);
    const closing: Promise<void>[] = [];
    for (const { clients } of byOrg.values()) {
      for (const client of clients) {
        send(client, { type: 'reconnect', retryAfterMs: 1000 });
        closing.push(
          new Promise((resolve) => {
            client.socket.once('close', () => resolve());
            client.socket.close(HUB_CLOSE.serverRestart, 'server restarting');
            setTimeout(() => {
              client.socket.terminate();
              resolve();
            }, 1000).unref();
          }),
        );
      }
    }
    await Promise.all(closing);
    const unsubscribes = [...byOrg.values()].map((e) => e.subscribed);
    byOrg.clear();
    await Promise.allSettled(unsubscribes.map(async (u) => (await u)()));
    wss.close();
  });

  return {
    upgrades,
    ...events,
    connections() {
      let n = 0;
      for (const { clients } of byOrg.values()) n += clients.size;
      return n;
    },
  };
}
