/**
 * The `/rtc` signaling sessions (protocol: src/shared/rtc.ts). A socket authenticates with the media token in its
 * first message (`join`, never the URL); the peer then gets an SFU session whose events (ICE candidates, offers,
 * routes, tracks, connection state, network quality) are relayed to its client, and its client's messages
 * (offer / answer / candidate, mute, data, ping, leave) are handled here.
 *
 * A participant keeps its place across connections:
 *   - resume: the same session id within the grace period after its socket dropped (same SFU session);
 *   - takeover: a new connection of the same identity (new peer connection after ICE failed, another tab) gets
 *     a new SFU session while the identity, its join time and its routing stay; the old socket is told `replaced`;
 *   - ghost removal: a peer without a socket, or whose media failed, for longer than the grace period leaves
 *     (`connection_lost`).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { parseClientMessage, type ClientMessage, type RtcEndReason } from '../../../shared/rtc.js';
import { refuseUpgrade } from '../../http/upgrade.js';
import type { Grants } from '../provider.js';
import { relayData } from './data.js';
import { mediaDown, mediaUp, qualityReported, staySummary } from './media-stats.js';
import type { RecordingControl } from './recording-control.js';
import type { MediaSelection } from './selection.js';
import type { RtcServerOptions } from './rtc-server.js';
import { groupOf, newPeer, type LiveRooms, type Peer } from './rooms.js';
import { SfuError, type SfuParticipant } from './sfu/index.js';
import { closeSocket, END_MESSAGES, send, sendTo } from './socket.js';
import { TokenError } from './tokens.js';
import {
  announceDominantSpeaker,
  applyOverrides,
  applyRouting,
  broadcastQuality,
  broadcastUpdate,
  knownParticipants,
  rtcRoutes,
  syncVisibility,
} from './visibility.js';

/** The server's options it needs (with their defaults filled in by RtcServer), plus the parts RtcServer owns. */
export interface SignalingOptions
  extends Pick<RtcServerOptions, 'sfu' | 'signer' | 'reconnectGraceMs' | 'iceServersFor' | 'emit' | 'log' | 'maxPayloadBytes'>,
    Required<Pick<RtcServerOptions, 'heartbeatMs' | 'joinTimeoutMs'>> {
  rooms: LiveRooms;
  recording: RecordingControl;
  selection: MediaSelection;
}

export class Signaling {
  readonly #o: SignalingOptions;
  readonly #wss: WebSocketServer;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #alive = new WeakMap<WebSocket, boolean>();
  #closing = false;

  constructor(options: SignalingOptions) {
    this.#o = options;
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayloadBytes });
    this.#heartbeat = setInterval(() => this.#beat(), options.heartbeatMs);
    this.#heartbeat.unref();
    options.sfu.on('dominantSpeaker', (roomId, group, sfuId) => {
      const room = options.rooms.get(roomId);
      if (!room) return;
      announceDominantSpeaker(room, group, sfuId === null ? null : (options.rooms.peerOf(sfuId)?.identity ?? null));
    });
  }

  // ---- sockets ---------------------------------------------------------------------------------------------

  handleUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    if (this.#closing) return refuseUpgrade(socket, 503, 'not_ready');
    // The token travels in the first message, never in the URL (URLs reach proxies' logs).
    this.#wss.handleUpgrade(request, socket, head, (ws) => this.#accept(ws));
  };

  #accept(ws: WebSocket): void {
    this.#alive.set(ws, true);
    ws.on('pong', () => this.#alive.set(ws, true));
    ws.on('error', () => ws.terminate());
    let peer: Peer | null = null;
    let joining = false;
    const joinTimer = setTimeout(() => {
      if (!peer) closeSocket(ws, 'protocol_error', 'No join message arrived in time.');
    }, this.#o.joinTimeoutMs);
    ws.on('close', () => {
      clearTimeout(joinTimer);
      if (peer && peer.socket === ws) this.#socketLost(peer);
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return closeSocket(ws, 'protocol_error', 'Messages are JSON text.');
      const parsed = parseClientMessage(data.toString());
      if (!parsed.ok) {
        if (!peer) return closeSocket(ws, 'protocol_error', parsed.reason);
        return void sendTo(ws, { type: 'error', code: 'invalid_message', message: parsed.reason });
      }
      const message = parsed.message;
      if (message.type === 'join') {
        if (peer || joining) return void sendTo(ws, { type: 'error', code: 'invalid_message', message: 'already joined', ref: 'join' });
        joining = true;
        this.#join(ws, message).then(
          (joined) => {
            clearTimeout(joinTimer);
            peer = joined;
            joining = false;
          },
          (err: unknown) => {
            this.#o.log.warn({ err }, 'rtc: join failed');
            closeSocket(ws, 'server_error', END_MESSAGES.server_error);
          },
        );
        return;
      }
      if (message.type === 'ping') {
        if (!peer || peer.socket !== ws) return void sendTo(ws, { type: 'pong' });
      } else if (!peer && !joining) {
        return closeSocket(ws, 'protocol_error', 'The first message must be join.');
      } else if (!peer || peer.socket !== ws) {
        return void sendTo(ws, { type: 'error', code: 'not_joined', message: 'Not joined (yet, or any more).', ref: message.type });
      }
      this.#onMessage(peer, message).catch((err: unknown) => this.#o.log.warn({ err, type: message.type }, 'rtc: message failed'));
    });
  }

  // ---- joining: token auth, resume, takeover -------------------------------------------------------------

  async #join(ws: WebSocket, message: Extract<ClientMessage, { type: 'join' }>): Promise<Peer | null> {
    const rooms = this.#o.rooms;
    let claims;
    try {
      claims = await this.#o.signer.verify(message.token);
    } catch (err) {
      const reason = err instanceof TokenError && err.reason === 'expired' ? 'token_expired' : 'invalid_token';
      closeSocket(ws, reason, END_MESSAGES[reason]);
      return null;
    }
    const room = rooms.get(claims.roomId);
    if (!room || room.orgId !== claims.orgId || ws.readyState !== WebSocket.OPEN) {
      closeSocket(ws, 'room_not_found', END_MESSAGES.room_not_found);
      return null;
    }
    const revokedAt = room.revoked.get(claims.identity);
    if (revokedAt !== undefined && claims.issuedAt.getTime() <= revokedAt) {
      closeSocket(ws, 'removed', END_MESSAGES.removed);
      return null;
    }
    const existing = room.peers.get(claims.identity);
    if (existing && message.sessionId !== undefined && message.sessionId === existing.sessionId && existing.session && !existing.session.closed) {
      return this.#resume(existing, ws, claims.grants);
    }
    let peer: Peer;
    if (existing) {
      // A new connection for an identity already here (new peer connection after ICE failed, another tab):
      // it takes over; the participant is not announced again.
      const previousSocket = existing.socket;
      existing.socket = null;
      if (previousSocket) closeSocket(previousSocket, 'replaced', END_MESSAGES.replaced);
      await this.#dropSession(existing);
      peer = existing;
      peer.grants = claims.grants;
      peer.sessionId = randomUUID();
    } else {
      if (room.peers.size >= room.maxParticipants) {
        closeSocket(ws, 'room_full', END_MESSAGES.room_full);
        return null;
      }
      peer = newPeer(room, claims.identity, claims.grants);
      room.peers.set(peer.identity, peer);
      this.#o.emit({ type: 'participant.joined', roomId: room.id, identity: peer.identity, at: peer.joinedAt });
    }
    this.#clearGrace(peer);
    peer.socket = ws;
    const session = await this.#o.sfu.join(room.id, peer.sessionId, groupOf(peer), { receives: peer.grants.subscribe });
    if (rooms.get(room.id) !== room || room.peers.get(peer.identity) !== peer || peer.socket !== ws) {
      // The room ended, the participant was removed or another connection took over while we waited.
      await this.#o.sfu.leave(session.id);
      const reason: RtcEndReason = rooms.get(room.id) !== room ? 'room_ended' : room.peers.get(peer.identity) !== peer ? 'removed' : 'replaced';
      if (ws.readyState === WebSocket.OPEN) closeSocket(ws, reason, END_MESSAGES[reason]);
      return null;
    }
    rooms.bindSession(session.id, peer);
    peer.session = session;
    this.#wire(peer, session);
    applyRouting(this.#o.sfu, peer, session);
    applyOverrides(this.#o.sfu, peer);
    this.#sendJoined(peer, false);
    syncVisibility(room);
    // A new session starts from the default layers: the room's selection applies this peer's (and tells it).
    this.#o.selection.resend(peer);
    this.#o.selection.invalidate(room);
    return peer;
  }

  #resume(peer: Peer, ws: WebSocket, grants: Grants): Peer {
    const previousSocket = peer.socket;
    peer.socket = ws;
    peer.grants = grants;
    if (previousSocket && previousSocket !== ws) closeSocket(previousSocket, 'replaced', END_MESSAGES.replaced);
    this.#clearGrace(peer);
    this.#sendJoined(peer, true);
    this.#o.selection.resend(peer);
    const session = peer.session;
    // An offer the client may have missed while its socket was down: createOffer re-delivers an outstanding one.
    if (session && session.pc.signalingState === 'have-local-offer') {
      session.createOffer().then(
        (sdp) => peer.session === session && send(peer, { type: 'offer', sdp, routes: rtcRoutes(this.#o.rooms, session.routes()) }),
        () => undefined,
      );
    }
    return peer;
  }

  #sendJoined(peer: Peer, resumed: boolean): void {
    const room = peer.room;
    send(peer, {
      type: 'joined',
      sessionId: peer.sessionId,
      resumed,
      identity: peer.identity,
      room: { id: room.id, name: room.name },
      grants: { ...peer.grants },
      participants: knownParticipants(peer),
      iceServers: this.#o.iceServersFor(peer.identity),
      reconnectGraceMs: this.#o.reconnectGraceMs,
      routes: peer.session ? rtcRoutes(this.#o.rooms, peer.session.routes()) : [],
    });
    if (peer.quality !== null) send(peer, { type: 'networkQuality', identity: peer.identity, level: peer.quality });
  }

  // ---- the SFU session's events, the client's messages ---------------------------------------------------

  #wire(peer: Peer, session: SfuParticipant): void {
    const rooms = this.#o.rooms;
    const current = () => peer.session === session;
    session.on('iceCandidate', (candidate) => current() && send(peer, { type: 'candidate', candidate }));
    session.on('needsNegotiation', (sdp, routes) => current() && send(peer, { type: 'offer', sdp, routes: rtcRoutes(rooms, routes) }));
    session.on('routesChanged', (routes) => current() && send(peer, { type: 'routes', routes: rtcRoutes(rooms, routes) }));
    session.on('connectionState', (state) => {
      if (!current()) return;
      if (state === 'connected') mediaUp(peer);
      else if (state !== 'new' && state !== 'connecting') mediaDown(peer);
      if (state === 'connected') {
        if (peer.socket) this.#clearGrace(peer);
      } else if (state === 'failed' || state === 'disconnected') {
        // The client rejoins with a new peer connection; if it does not, the grace period removes it.
        this.#startGrace(peer);
      }
    });
    session.on('trackPublished', (track) => {
      if (!current()) return;
      peer.tracks.set(track.trackId, { source: track.source, kind: track.kind });
      broadcastUpdate(peer);
      this.#o.recording.trackPublished(peer);
      this.#o.emit({ type: 'track.published', roomId: peer.room.id, identity: peer.identity, kind: track.kind, source: track.source, at: new Date() });
    });
    session.on('trackUnpublished', (track) => {
      if (!current() || !peer.tracks.delete(track.trackId)) return;
      broadcastUpdate(peer);
      this.#o.emit({ type: 'track.unpublished', roomId: peer.room.id, identity: peer.identity, kind: track.kind, source: track.source, at: new Date() });
    });
    session.on('networkQuality', (level) => {
      if (!current()) return;
      qualityReported(peer, level);
      broadcastQuality(peer, level);
    });
  }

  async #onMessage(peer: Peer, message: ClientMessage): Promise<void> {
    const session = peer.session;
    switch (message.type) {
      case 'offer': {
        if (!session) return;
        try {
          const sdp = await session.createAnswer(message.sdp, { sources: message.sources });
          if (peer.session === session) send(peer, { type: 'answer', sdp });
        } catch (err) {
          if (err instanceof SfuError && err.code === 'glare') {
            send(peer, { type: 'error', code: 'glare', message: 'The server has an offer outstanding: answer it, then offer again.', ref: 'offer' });
          } else {
            send(peer, { type: 'error', code: 'negotiation_failed', message: err instanceof Error ? err.message : 'negotiation failed', ref: 'offer' });
          }
        }
        return;
      }
      case 'answer':
        if (!session) return;
        try {
          await session.setRemoteDescription(message.sdp);
        } catch (err) {
          send(peer, { type: 'error', code: 'negotiation_failed', message: err instanceof Error ? err.message : 'negotiation failed', ref: 'answer' });
        }
        return;
      case 'candidate':
        if (session) await session.addIceCandidate(message.candidate);
        return;
      case 'mute':
        if (message.muted === peer.localMuted.has(message.source)) return;
        if (message.muted) peer.localMuted.add(message.source);
        else peer.localMuted.delete(message.source);
        broadcastUpdate(peer);
        // A camera turned off gives its last-N place to one that is on.
        this.#o.selection.invalidate(peer.room);
        return;
      case 'subscription':
        return this.#o.selection.setView(peer, message.tracks);
      case 'data':
        return relayData(peer, message.payload, message.to);
      case 'ping':
        send(peer, { type: 'pong' });
        return;
      case 'leave':
        await this.remove(peer, 'left', 'left');
        return;
      case 'join':
        return;
    }
  }

  // ---- leaving, grace and ghosts -------------------------------------------------------------------------

  #socketLost(peer: Peer): void {
    peer.socket = null;
    if (!peer.room.peers.has(peer.identity) || peer.room.peers.get(peer.identity) !== peer) return;
    this.#startGrace(peer);
  }

  #startGrace(peer: Peer): void {
    if (peer.grace || this.#closing) return;
    peer.grace = setTimeout(() => {
      peer.grace = null;
      if (peer.room.peers.get(peer.identity) !== peer) return;
      // Still no socket, or the media never came back: a ghost.
      if (!peer.socket || peer.session?.connectionState !== 'connected') {
        void this.remove(peer, 'connection_lost', 'connection_lost');
      }
    }, this.#o.reconnectGraceMs);
    peer.grace.unref();
  }

  #clearGrace(peer: Peer): void {
    if (peer.grace) clearTimeout(peer.grace);
    peer.grace = null;
  }

  async #dropSession(peer: Peer): Promise<void> {
    const session = peer.session;
    peer.session = null;
    if (!session) return;
    // The session's own events are not heard any more (peer.session moved on): its media ends here.
    mediaDown(peer);
    this.#o.rooms.unbindSession(session.id);
    // Its tracks go with it (unpublish events of a stale session are ignored, so update here).
    if (peer.tracks.size > 0) {
      for (const [, t] of peer.tracks) {
        this.#o.emit({ type: 'track.unpublished', roomId: peer.room.id, identity: peer.identity, kind: t.kind, source: t.source, at: new Date() });
      }
      peer.tracks.clear();
      broadcastUpdate(peer);
    }
    await this.#o.sfu.leave(session.id);
  }

  /**
   * The peer leaves its room: its socket is told why (`reason`) and closed, its SFU session ends, those who knew it
   * are told (`eventReason`), and `participant.left` carries its media figures. No-op for a peer already gone.
   */
  async remove(peer: Peer, reason: RtcEndReason, eventReason: string): Promise<void> {
    const room = peer.room;
    if (room.peers.get(peer.identity) !== peer) return;
    room.peers.delete(peer.identity);
    this.#clearGrace(peer);
    const socket = peer.socket;
    peer.socket = null;
    if (socket) closeSocket(socket, reason, END_MESSAGES[reason]);
    await this.#dropSession(peer);
    for (const viewer of room.peers.values()) {
      if (viewer.known.delete(peer.identity)) send(viewer, { type: 'participantLeft', identity: peer.identity, reason: eventReason });
    }
    mediaDown(peer);
    this.#o.emit({ type: 'participant.left', roomId: room.id, identity: peer.identity, at: new Date(), reason: eventReason, ...staySummary(peer) });
  }

  // ---- heartbeat and shutdown ----------------------------------------------------------------------------

  #beat(): void {
    for (const ws of this.#wss.clients) {
      if (this.#alive.get(ws) === false) {
        ws.terminate();
        continue;
      }
      this.#alive.set(ws, false);
      ws.ping();
    }
  }

  /**
   * Refuses new sockets, tells every client the server is going away (they reconnect later) and closes the
   * sockets; nobody is removed as a ghost after that. False when shutdown had already begun.
   */
  async disconnectAll(): Promise<boolean> {
    if (this.#closing) return false;
    this.#closing = true;
    clearInterval(this.#heartbeat);
    const closing = [...this.#wss.clients].map(
      (ws) =>
        new Promise<void>((resolve) => {
          ws.once('close', () => resolve());
          closeSocket(ws, 'server_shutdown', END_MESSAGES.server_shutdown);
          setTimeout(() => {
            ws.terminate();
            resolve();
          }, 1000).unref();
        }),
    );
    await Promise.all(closing);
    for (const room of this.#o.rooms.values()) for (const peer of room.peers.values()) this.#clearGrace(peer);
    return true;
  }

  /** Closes the WebSocket server (after disconnectAll). */
  closeServer(): void {
    this.#wss.close();
  }
}
