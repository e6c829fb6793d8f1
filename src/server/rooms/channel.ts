import { webcrypto } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { and, eq } from 'drizzle-orm';
import { errors as joseErrors, jwtVerify, SignJWT } from 'jose';
import { WebSocket, WebSocketServer } from 'ws';
import { CHANNEL_CLOSE, parseChannelClientMessage, type ChannelMediaPolicy, type ChannelServerMessage } from '../../shared/channel.js';
import type { Db } from '../db/index.js';
import { roomRouting, rooms } from '../db/schema.js';
import { refuseUpgrade } from '../http/upgrade.js';
import type { PubSub, Unsubscribe } from '../pubsub/index.js';

/**
 * The participant channel: the server's own WebSocket to the people in a room (`WS /api/v1/channel`, protocol in
 * src/shared/channel.ts), so that what the server says to them (admission notices, chat, the survey link, later
 * breakout and check-in notices) does not depend on the media provider's data channel and works the same on any
 * provider. The rooms layer issues a channel token with every media token and sends through `send`; features never
 * see this module.
 *
 * Delivery goes through the PubSub, so a message sent on one server reaches a socket on another. Every process
 * subscribes once to one topic: room traffic is small (people talking to a clinician), and revocations must reach
 * every process, including those with no socket of that room yet (a denied participant reconnecting elsewhere).
 */

const TOPIC = 'room-channel';
const ISSUER = 'openvisit';
const AUDIENCE = 'openvisit-channel';
const HEARTBEAT_MS = 30_000;
/** A socket that has not sent its token by then is closed. */
const AUTH_TIMEOUT_MS = 10_000;

export type ChannelPayload =
  | { type: 'data'; payload: string }
  | { type: 'notice'; code: string; message: string }
  | { type: 'join' }
  | { type: 'deadline'; endsAt: string | null; reason: string | null }
  | { type: 'media'; policy: ChannelMediaPolicy };

type Broadcast =
  | { kind: 'send'; roomId: string; message: ChannelPayload; to?: readonly string[] }
  /** Tokens of `identity` issued at or before `issuedBefore` (ms) no longer open the channel; its sockets are closed. */
  | { kind: 'revoke'; roomId: string; identity: string; issuedBefore: number }
  /** The identity's sockets are closed (removed from the room); a token not revoked may connect again. */
  | { kind: 'remove'; roomId: string; identity: string }
  | { kind: 'end'; roomId: string };

export interface ChannelClaims {
  orgId: string;
  roomId: string;
  roomName: string;
  identity: string;
  issuedAt: Date;
  expiresAt: Date;
}

export interface ChannelDeps {
  db: Db;
  pubsub: PubSub;
  /** Signs channel tokens (CHANNEL_SIGNING_SECRET, or a key kept under DATA_DIR/secrets). */
  secret: Buffer;
  /** What clients connect to, e.g. wss://visits.example.org/api/v1/channel. */
  url: string;
  maxPayloadBytes: number;
  log: { warn(obj: object, msg: string): void };
}

export interface ParticipantChannel {
  /** A channel token for one identity in one room, living as long as the media token issued with it. */
  issue(input: { orgId: string; roomId: string; roomName: string; identity: string; ttlSeconds: number }): Promise<{ url: string; token: string }>;
  /** Delivers to the room's connected participants (all when `to` is absent), on every server. */
  send(roomId: string, message: ChannelPayload, to?: readonly string[]): Promise<void>;
  /** Closes the identity's sockets and refuses its tokens issued at or before `issuedBefore`. */
  revoke(roomId: string, identity: string, issuedBefore: Date): Promise<void>;
  /** Closes the identity's sockets (it was removed from the room). */
  remove(roomId: string, identity: string): Promise<void>;
  /** The room ended: its sockets are closed (after what was sent before), its revocations forgotten. */
  endRoom(roomId: string): Promise<void>;
  /** For the upgrade router. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Open sockets on this process (authenticated or not). */
  connections(): number;
  /** The server is stopping: clients are told to come back, then closed (before the HTTP server closes). */
  shutdown(): Promise<void>;
  close(): Promise<void>;
}

interface Client {
  ws: WebSocket;
  alive: boolean;
  /** Set once the token is accepted. */
  claims: ChannelClaims | null;
  /** A `deadline` broadcast reached it (newer than what its room's row said when it became ready). */
  deadlineHeard: boolean;
  /** A `media` broadcast reached it (likewise newer than the row read at ready). */
  mediaHeard: boolean;
}

export async function createParticipantChannel(deps: ChannelDeps): Promise<ParticipantChannel> {
  // A CryptoKey made once: jose 6 works on WebCrypto and turns a KeyObject into one on every signature, which cost
  // the token routes about a quarter of their throughput (bench:visits, rooms token 142 → 180 req/s on PGlite, against 189 before the channel).
  const key = await webcrypto.subtle.importKey('raw', deps.secret, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);
  const wss = new WebSocketServer({ noServer: true, maxPayload: deps.maxPayloadBytes });
  const clients = new Set<Client>();
  const byRoom = new Map<string, Set<Client>>();
  /** Per room: identity → revoked-before time (ms). Dropped when the room ends. */
  const revoked = new Map<string, Map<string, number>>();
  let closing = false;

  const send = (client: Client, message: ChannelServerMessage) => {
    if (client.ws.readyState === WebSocket.OPEN) client.ws.send(JSON.stringify(message));
  };
  const closeWhere = (roomId: string, code: number, reason: string, match: (c: Client) => boolean) => {
    for (const client of byRoom.get(roomId) ?? []) if (match(client)) client.ws.close(code, reason);
  };

  const onBroadcast = (raw: unknown) => {
    const b = raw as Broadcast;
    if (b.kind === 'send') {
      const room = byRoom.get(b.roomId);
      if (!room) return;
      const text = JSON.stringify(b.message.type === 'data' ? ({ type: 'data', from: null, payload: b.message.payload } satisfies ChannelServerMessage) : b.message);
      for (const client of room) {
        if (b.to && !b.to.includes(client.claims!.identity)) continue;
        if (b.message.type === 'deadline') client.deadlineHeard = true;
        if (b.message.type === 'media') client.mediaHeard = true;
        if (client.ws.readyState === WebSocket.OPEN) client.ws.send(text);
      }
      return;
    }
    if (b.kind === 'revoke') {
      let room = revoked.get(b.roomId);
      if (!room) revoked.set(b.roomId, (room = new Map()));
      room.set(b.identity, Math.max(room.get(b.identity) ?? 0, b.issuedBefore));
      closeWhere(b.roomId, CHANNEL_CLOSE.removed, 'removed', (c) => c.claims!.identity === b.identity && c.claims!.issuedAt.getTime() <= b.issuedBefore);
      return;
    }
    if (b.kind === 'remove') {
      closeWhere(b.roomId, CHANNEL_CLOSE.removed, 'removed', (c) => c.claims!.identity === b.identity);
      return;
    }
    revoked.delete(b.roomId);
    closeWhere(b.roomId, CHANNEL_CLOSE.roomEnded, 'room ended', () => true);
  };
  const unsubscribe: Unsubscribe = await deps.pubsub.subscribe(TOPIC, onBroadcast);
  const publish = (b: Broadcast) => deps.pubsub.publish(TOPIC, b);

  const verify = async (token: string): Promise<ChannelClaims | 'expired' | 'invalid'> => {
    try {
      const { payload } = await jwtVerify(token, key, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'] });
      const { sub, org, rid, room, iat, exp } = payload as Record<string, unknown>;
      if (typeof sub !== 'string' || typeof org !== 'string' || typeof rid !== 'string' || typeof room !== 'string' || typeof iat !== 'number' || typeof exp !== 'number') return 'invalid';
      return { orgId: org, roomId: rid, roomName: room, identity: sub, issuedAt: new Date(iat * 1000), expiresAt: new Date(exp * 1000) };
    } catch (err) {
      return err instanceof joseErrors.JWTExpired ? 'expired' : 'invalid';
    }
  };

  /**
   * Whether the room is in progress and belongs to the token's organisation (a token never crosses tenants), and
   * whether the rooms layer has revoked this token (stored with the room's routing: it holds across restarts and
   * processes that never heard the revocation).
   */
  const admission = async (claims: ChannelClaims): Promise<'live' | 'not_found' | 'revoked'> => {
    const [row] = await deps.db
      .select({ status: rooms.status, revokedBefore: roomRouting.tokensRevokedBefore })
      .from(rooms)
      .leftJoin(roomRouting, and(eq(roomRouting.orgId, rooms.orgId), eq(roomRouting.roomId, rooms.id), eq(roomRouting.identity, claims.identity)))
      .where(and(eq(rooms.orgId, claims.orgId), eq(rooms.id, claims.roomId)))
      .limit(1);
    if (row?.status !== 'in-progress') return 'not_found';
    return row.revokedBefore && claims.issuedAt.getTime() <= row.revokedBefore.getTime() ? 'revoked' : 'live';
  };

  const authenticate = async (client: Client, token: string) => {
    const claims = await verify(token);
    if (claims === 'expired') return client.ws.close(CHANNEL_CLOSE.tokenExpired, 'token expired');
    if (claims === 'invalid') return client.ws.close(CHANNEL_CLOSE.invalidToken, 'invalid token');
    const before = revoked.get(claims.roomId)?.get(claims.identity);
    if (before !== undefined && claims.issuedAt.getTime() <= before) return client.ws.close(CHANNEL_CLOSE.removed, 'removed');
    const state = await admission(claims);
    if (state === 'not_found') return client.ws.close(CHANNEL_CLOSE.roomNotFound, 'room not found');
    if (state === 'revoked') return client.ws.close(CHANNEL_CLOSE.removed, 'removed');
    if (client.ws.readyState !== WebSocket.OPEN) return;
    // A revocation may have arrived while the database answered.
    const since = revoked.get(claims.roomId)?.get(claims.identity);
    if (since !== undefined && claims.issuedAt.getTime() <= since) return client.ws.close(CHANNEL_CLOSE.removed, 'removed');
    client.claims = claims;
    let room = byRoom.get(claims.roomId);
    if (!room) byRoom.set(claims.roomId, (room = new Set()));
    room.add(client);
    // The subscription is live from start-up, so nothing sent after `ready` is missed.
    send(client, { type: 'ready', room: claims.roomName, identity: claims.identity, heartbeatSeconds: HEARTBEAT_MS / 1000 });
    await tellRoomState(client, claims);
  };

  /**
   * The room's deadline and media policy, if it has them, to a client that just became ready. Read after the client
   * joined its room here, so a change committed later reaches it as a broadcast; one heard meanwhile is newer than
   * this read.
   */
  const tellRoomState = async (client: Client, claims: ChannelClaims) => {
    const [row] = await deps.db
      .select({ endsAt: rooms.endsAt, reason: rooms.deadlineReason, media: rooms.mediaPolicy })
      .from(rooms)
      .where(and(eq(rooms.orgId, claims.orgId), eq(rooms.id, claims.roomId), eq(rooms.status, 'in-progress')))
      .limit(1);
    if (row?.endsAt && !client.deadlineHeard) send(client, { type: 'deadline', endsAt: row.endsAt.toISOString(), reason: row.reason });
    if (row?.media && !client.mediaHeard) {
      const { simulcast, mode, spotlight, lastN } = row.media;
      send(client, { type: 'media', policy: { simulcast, mode, spotlight, lastN } });
    }
  };

  const accept = (ws: WebSocket) => {
    const client: Client = { ws, alive: true, claims: null, deadlineHeard: false, mediaHeard: false };
    clients.add(client);
    const authTimer = setTimeout(() => client.claims === null && ws.close(CHANNEL_CLOSE.protocolError, 'no token'), AUTH_TIMEOUT_MS);
    authTimer.unref();
    let authenticating = false;
    ws.on('pong', () => {
      client.alive = true;
    });
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      clearTimeout(authTimer);
      clients.delete(client);
      if (!client.claims) return;
      const room = byRoom.get(client.claims.roomId);
      room?.delete(client);
      if (room?.size === 0) byRoom.delete(client.claims.roomId);
    });
    ws.on('message', (data, isBinary) => {
      client.alive = true;
      if (isBinary) return ws.close(CHANNEL_CLOSE.protocolError, 'text frames only');
      const parsed = parseChannelClientMessage(String(data));
      if (!parsed.ok) return ws.close(CHANNEL_CLOSE.protocolError, parsed.reason.slice(0, 120));
      const message = parsed.message;
      if (message.type === 'ping') return send(client, { type: 'pong' });
      if (authenticating || client.claims) return ws.close(CHANNEL_CLOSE.protocolError, 'already authenticated');
      authenticating = true;
      authenticate(client, message.token).catch((err: unknown) => {
        deps.log.warn({ err }, 'channel authentication failed');
        ws.close(CHANNEL_CLOSE.serverError, 'server error');
      });
    });
  };

  const heartbeat = setInterval(() => {
    for (const client of clients) {
      if (!client.alive) {
        client.ws.terminate();
        continue;
      }
      client.alive = false;
      client.ws.ping();
    }
  }, HEARTBEAT_MS);
  heartbeat.unref();

  return {
    async issue(input) {
      const iat = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({ org: input.orgId, rid: input.roomId, room: input.roomName })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setIssuer(ISSUER)
        .setAudience(AUDIENCE)
        .setSubject(input.identity)
        .setIssuedAt(iat)
        .setExpirationTime(iat + input.ttlSeconds)
        .sign(key);
      return { url: deps.url, token };
    },
    send: (roomId, message, to) => publish({ kind: 'send', roomId, message, ...(to ? { to: [...to] } : {}) }),
    revoke: (roomId, identity, issuedBefore) => publish({ kind: 'revoke', roomId, identity, issuedBefore: issuedBefore.getTime() }),
    remove: (roomId, identity) => publish({ kind: 'remove', roomId, identity }),
    endRoom: (roomId) => publish({ kind: 'end', roomId }),
    handleUpgrade(request, socket, head) {
      // Once closing has begun, a socket accepted now would get neither the reconnect notice nor a close.
      if (closing) return refuseUpgrade(socket, 503, 'not_ready');
      wss.handleUpgrade(request, socket, head, accept);
    },
    connections: () => clients.size,
    async shutdown() {
      closing = true;
      clearInterval(heartbeat);
      await Promise.all(
        [...clients].map(
          (client) =>
            new Promise<void>((resolve) => {
              if (client.ws.readyState === WebSocket.CLOSED) return resolve();
              send(client, { type: 'reconnect', retryAfterMs: 1000 });
              client.ws.once('close', () => resolve());
              client.ws.close(CHANNEL_CLOSE.serverRestart, 'server restarting');
              setTimeout(() => {
                client.ws.terminate();
                resolve();
              }, 1000).unref();
            }),
        ),
      );
    },
    async close() {
      closing = true;
      clearInterval(heartbeat);
      for (const client of clients) client.ws.terminate();
      await unsubscribe().catch(() => {});
      wss.close();
    },
  };
}

/** The channel's URL for clients: PUBLIC_URL's origin with a WebSocket scheme. */
export function channelUrl(publicUrl: string, path: string): string {
  const url = new URL(publicUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.pathname = path;
  url.search = '';
  url.hash = '';
  return url.toString();
}
