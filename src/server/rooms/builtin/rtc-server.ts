/**
 * Signaling for the embedded SFU: `WS /rtc`, the protocol in src/shared/rtc.ts. It owns the live rooms of
 * this process, each participant's socket and SFU session, the routing preferences the rooms layer sets
 * (group, host mutes, per-pair subscriptions), who sees whom in the participant list, reconnection (resume
 * within the grace period, takeover by a new connection of the same identity) and ghost removal.
 *
 * Identity is the participant's name in a room; the SFU session id is per connection (a takeover gets a new
 * one while the identity, its join time and its routing stay).
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import {
  parseClientMessage,
  RTC_CLOSE,
  RTC_MAX_DATA_CHARS,
  type ClientMessage,
  type RtcEndReason,
  type RtcIceServer,
  type RtcParticipantInfo,
  type RtcRoute,
  type ServerMessage,
  type TrackKind,
  type TrackSource,
} from '../../../shared/rtc.js';
import { refuseUpgrade } from '../../http/upgrade.js';
import type { Grants, RoomEvent, RoutingState, RoutingUpdate } from '../provider.js';
import { Sfu, SfuError, type ForwardedTrack, type SfuLogger, type SfuParticipant } from './sfu/index.js';
import { TokenError, type TokenSigner } from './tokens.js';

export interface RtcServerOptions {
  sfu: Sfu;
  signer: TokenSigner;
  /** How long a participant whose socket dropped (or whose media failed) keeps its place. */
  reconnectGraceMs: number;
  iceServersFor(identity: string): RtcIceServer[];
  emit(event: RoomEvent): void;
  log: SfuLogger;
  maxPayloadBytes: number;
  /** Recordings go to <recordingsDir>/<orgId>/<roomId>/. */
  recordingsDir: string;
  /** WebSocket ping interval; a socket that misses two pongs is dropped. Default 5000. */
  heartbeatMs?: number;
  /** A socket must send `join` within this long. Default 10000. */
  joinTimeoutMs?: number;
}

interface RoutingPreference {
  group: string;
  hostMuted: Set<TrackKind>;
  /** Whether the participant is recorded while the room is (default true). */
  recorded: boolean;
}

interface SubscriptionOverride {
  subscriber: string;
  publisher: string;
  kind: TrackKind | '*';
  allow: boolean;
}

interface LiveRoom {
  readonly id: string;
  readonly orgId: string;
  readonly name: string;
  readonly maxParticipants: number;
  readonly peers: Map<string, Peer>;
  readonly prefs: Map<string, RoutingPreference>;
  readonly overrides: Map<string, SubscriptionOverride>;
  /** identity → tokens issued at or before this time (ms) no longer join (a denied or removed participant). */
  readonly revoked: Map<string, number>;
  /** The directory recordings go to while the room is being recorded. */
  recording: string | null;
}

interface Peer {
  readonly room: LiveRoom;
  readonly identity: string;
  readonly joinedAt: Date;
  grants: Grants;
  sessionId: string;
  socket: WebSocket | null;
  session: SfuParticipant | null;
  /** The publications of the current session: trackId → what it is. */
  readonly tracks: Map<string, { source: TrackSource; kind: TrackKind }>;
  readonly localMuted: Set<TrackSource>;
  quality: number | null;
  /**
   * Network quality over the stay, for participant.left: time-weighted over the time the media connection was up
   * (levels are reported on change), and the worst level reported once it had come up (0: it dropped).
   */
  readonly qualityStats: { weightedMs: number; ms: number; min: number; since: number };
  /** The media connection over the stay (all of the peer's sessions): when it first came up, how long it was up, up since when now. */
  readonly media: { startedAt: Date | null; ms: number; upSince: number | null };
  grace: NodeJS.Timeout | null;
  /** The identities this peer's client has been told about. */
  readonly known: Set<string>;
  dataWindow: { start: number; count: number };
}

/** Data messages per peer per second (a chat burst is fine; a flood is refused). */
const DATA_PER_SECOND = 20;
export const DEFAULT_GROUP = 'main';

const END_MESSAGES: Record<RtcEndReason, string> = {
  left: 'You left the room.',
  removed: 'You were removed from the room.',
  room_ended: 'The room has ended.',
  replaced: 'You joined this room from another connection.',
  duration_exceeded: 'You reached the maximum time allowed in this room.',
  invalid_token: 'The access token is not valid.',
  token_expired: 'The access token has expired.',
  room_full: 'The room is full.',
  room_not_found: 'The room does not exist or has ended.',
  connection_lost: 'The connection was lost for too long.',
  protocol_error: 'The client broke the signaling protocol.',
  server_shutdown: 'The server is restarting; reconnect shortly.',
  server_error: 'The server could not continue the session.',
};

/**
 * Adds the time spent at the current quality level to the peer's running, time-weighted figures. Only time with
 * the media connection up counts: joining (before media first connects) and time without media never do.
 */
function accrueQuality(peer: Peer, now = Date.now()): void {
  const q = peer.qualityStats;
  if (peer.quality !== null && peer.media.upSince !== null) {
    q.weightedMs += peer.quality * (now - q.since);
    q.ms += now - q.since;
  }
  q.since = now;
}

/** The peer's media connection came up (its first time: media started for this stay). */
function mediaUp(peer: Peer): void {
  const now = Date.now();
  accrueQuality(peer, now);
  if (peer.media.upSince !== null) return;
  peer.media.upSince = now;
  peer.media.startedAt ??= new Date(now);
}

/** The peer's media connection went down (dropped, failed, replaced by a new session, or left). */
function mediaDown(peer: Peer): void {
  const now = Date.now();
  accrueQuality(peer, now);
  if (peer.media.upSince === null) return;
  peer.media.ms += now - peer.media.upSince;
  peer.media.upSince = null;
}

/** Maps a rooms-layer reason to what the client is told. */
function endReasonFor(reason: string): RtcEndReason {
  if (reason in RTC_CLOSE) return reason as RtcEndReason;
  if (reason === 'max_duration') return 'duration_exceeded';
  return 'removed';
}

export class RtcServer {
  readonly #o: Required<RtcServerOptions>;
  readonly #rooms = new Map<string, LiveRoom>();
  /** SFU participant id (one per connection) → peer. */
  readonly #bySfuId = new Map<string, Peer>();
  /** SFU participant id → whose it was (kept after the session ends, for its recordings' last events). */
  readonly #owners = new Map<string, { roomId: string; identity: string }>();
  readonly #wss: WebSocketServer;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #alive = new WeakMap<WebSocket, boolean>();
  #closing = false;

  constructor(options: RtcServerOptions) {
    this.#o = { heartbeatMs: 5000, joinTimeoutMs: 10_000, ...options };
    this.#wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayloadBytes });
    this.#heartbeat = setInterval(() => this.#beat(), this.#o.heartbeatMs);
    this.#heartbeat.unref();
    const sfu = this.#o.sfu;
    sfu.on('dominantSpeaker', (roomId, group, sfuId) => {
      const room = this.#rooms.get(roomId);
      if (!room) return;
      const identity = sfuId === null ? null : (this.#bySfuId.get(sfuId)?.identity ?? null);
      for (const peer of room.peers.values()) if (this.#group(peer) === group) this.#send(peer, { type: 'dominantSpeaker', identity });
    });
    sfu.on('recordingStarted', (info) => {
      const owner = this.#owners.get(info.participantId);
      if (owner) this.#o.emit({ type: 'recording.started', roomId: owner.roomId, identity: owner.identity, at: info.startedAt, recording: this.#recordingFile(info) });
    });
    sfu.on('recordingCompleted', (info) => {
      const owner = this.#owners.get(info.participantId);
      if (!owner) return;
      const endedAt = info.endedAt ?? new Date();
      this.#o.emit({
        type: 'recording.completed',
        roomId: owner.roomId,
        identity: owner.identity,
        at: endedAt,
        recording: { ...this.#recordingFile(info), endedAt, bytes: info.bytes, ...(info.error ? { error: info.error } : {}) },
      });
    });
  }

  // ---- rooms (called by the provider) ---------------------------------------------------------------------

  openRoom(spec: { roomId: string; orgId: string; name: string; maxParticipants: number }): boolean {
    if (this.#rooms.has(spec.roomId)) return false;
    this.#rooms.set(spec.roomId, { id: spec.roomId, orgId: spec.orgId, name: spec.name, maxParticipants: spec.maxParticipants, peers: new Map(), prefs: new Map(), overrides: new Map(), revoked: new Map(), recording: null });
    return true;
  }

  isLive(roomId: string): boolean {
    return this.#rooms.has(roomId);
  }

  async closeRoom(roomId: string): Promise<boolean> {
    const room = this.#rooms.get(roomId);
    if (!room) return false;
    this.#rooms.delete(roomId);
    room.recording = null;
    await Promise.all([...room.peers.values()].map((peer) => this.#remove(peer, 'room_ended', 'room_ended')));
    await this.#o.sfu.closeRoom(roomId);
    for (const [sfuId, owner] of this.#owners) if (owner.roomId === roomId) this.#owners.delete(sfuId);
    return true;
  }

  /** Records every participant of the room, and whoever joins or publishes later, until stopRecording. */
  async startRecording(roomId: string): Promise<boolean> {
    const room = this.#rooms.get(roomId);
    if (!room) return false;
    room.recording ??= path.join(this.#o.recordingsDir, room.orgId, room.id);
    await Promise.all([...room.peers.values()].map((peer) => this.#record(peer)));
    return true;
  }

  async stopRecording(roomId: string): Promise<boolean> {
    const room = this.#rooms.get(roomId);
    if (!room) return false;
    room.recording = null;
    await Promise.all([...room.peers.values()].map((peer) => (peer.session ? this.#o.sfu.stopRecording(peer.session.id) : [])));
    return true;
  }

  /** Starts recording a peer's current session if its room is being recorded and it publishes something. */
  async #record(peer: Peer): Promise<void> {
    const directory = peer.room.recording;
    const session = peer.session;
    if (!directory || !session || peer.tracks.size === 0 || !this.#pref(peer.room, peer.identity).recorded) return;
    try {
      await this.#o.sfu.startRecording(session.id, { directory });
    } catch (err) {
      this.#o.log.warn({ err, roomId: peer.room.id }, 'rtc: recording did not start');
    }
  }

  #recordingFile(info: { file: string; content: 'camera' | 'screen'; startedAt: Date }) {
    const relative = path.relative(this.#o.recordingsDir, info.file);
    return { ref: relative, content: info.content, file: relative, startedAt: info.startedAt };
  }

  participants(roomId: string): { identity: string; connectedAt: Date }[] {
    return [...(this.#rooms.get(roomId)?.peers.values() ?? [])].map((p) => ({ identity: p.identity, connectedAt: p.joinedAt }));
  }

  async removeParticipant(roomId: string, identity: string, reason: string): Promise<boolean> {
    const peer = this.#rooms.get(roomId)?.peers.get(identity);
    if (!peer) return false;
    await this.#remove(peer, endReasonFor(reason), reason);
    return true;
  }

  /** Sets where a participant's media goes; works before the participant connects (applied on join). */
  setRouting(roomId: string, identity: string, update: RoutingUpdate): { state: RoutingState; changed: boolean } | null {
    const room = this.#rooms.get(roomId);
    if (!room) return null;
    const pref = this.#pref(room, identity);
    const peer = room.peers.get(identity);
    const stateOf = (): RoutingState => ({ group: pref.group, audioMuted: pref.hostMuted.has('audio'), videoMuted: pref.hostMuted.has('video'), recorded: pref.recorded });
    const before = stateOf();
    if (update.group !== undefined) pref.group = update.group;
    for (const [kind, muted] of [['audio', update.audioMuted], ['video', update.videoMuted]] as const) {
      if (muted === undefined) continue;
      if (muted) pref.hostMuted.add(kind);
      else pref.hostMuted.delete(kind);
    }
    if (update.recorded !== undefined && update.recorded !== pref.recorded) {
      pref.recorded = update.recorded;
      // Leaving the recording finalises the participant's files now; joining it starts new ones.
      if (peer?.session && room.recording) {
        if (update.recorded) void this.#record(peer);
        else void this.#o.sfu.stopRecording(peer.session.id);
      }
    }
    const state = stateOf();
    const changed = state.group !== before.group || state.audioMuted !== before.audioMuted || state.videoMuted !== before.videoMuted || state.recorded !== before.recorded;
    if (!changed) return { state, changed };
    if (peer?.session) this.#applyRouting(peer, peer.session);
    if (peer) {
      this.#syncVisibility(room);
      this.#broadcastUpdate(peer);
    }
    return { state, changed };
  }

  /** Tokens of `identity` issued at or before `issuedBefore` no longer join this room (nor resume in it). */
  revokeTokens(roomId: string, identity: string, issuedBefore: Date): boolean {
    const room = this.#rooms.get(roomId);
    if (!room) return false;
    room.revoked.set(identity, Math.max(room.revoked.get(identity) ?? 0, issuedBefore.getTime()));
    return true;
  }

  /** Per-pair override of the group rule (null removes it); a host mute still wins. */
  setSubscription(roomId: string, subscriber: string, publisher: string, kind: TrackKind | '*', allow: boolean | null): boolean {
    const room = this.#rooms.get(roomId);
    if (!room) return false;
    const key = `${subscriber}\u0000${publisher}\u0000${kind}`;
    if (allow === null) room.overrides.delete(key);
    else room.overrides.set(key, { subscriber, publisher, kind, allow });
    const sub = room.peers.get(subscriber);
    const pub = room.peers.get(publisher);
    if (sub?.session && pub?.session) this.#o.sfu.setRoute(sub.session.id, pub.session.id, kind, allow);
    return true;
  }

  /** A data message from the server (`from: null`) to some participants of a room (all when `to` is absent), whatever their grants. */
  sendData(roomId: string, payload: string, to?: readonly string[]): number {
    const room = this.#rooms.get(roomId);
    if (!room) return 0;
    let n = 0;
    for (const peer of room.peers.values()) {
      if (to && !to.includes(peer.identity)) continue;
      if (this.#send(peer, { type: 'data', from: null, payload })) n++;
    }
    return n;
  }

  /** A server notice to some participants of a room (all when `to` is absent); returns how many got it. */
  notify(roomId: string, notice: { code: string; message: string }, to?: readonly string[]): number {
    const room = this.#rooms.get(roomId);
    if (!room) return 0;
    let n = 0;
    for (const peer of room.peers.values()) {
      if (to && !to.includes(peer.identity)) continue;
      if (this.#send(peer, { type: 'notice', code: notice.code, message: notice.message })) n++;
    }
    return n;
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
      if (!peer) this.#closeSocket(ws, 'protocol_error', 'No join message arrived in time.');
    }, this.#o.joinTimeoutMs);
    ws.on('close', () => {
      clearTimeout(joinTimer);
      if (peer && peer.socket === ws) this.#socketLost(peer);
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return this.#closeSocket(ws, 'protocol_error', 'Messages are JSON text.');
      const parsed = parseClientMessage(data.toString());
      if (!parsed.ok) {
        if (!peer) return this.#closeSocket(ws, 'protocol_error', parsed.reason);
        return void this.#sendTo(ws, { type: 'error', code: 'invalid_message', message: parsed.reason });
      }
      const message = parsed.message;
      if (message.type === 'join') {
        if (peer || joining) return void this.#sendTo(ws, { type: 'error', code: 'invalid_message', message: 'already joined', ref: 'join' });
        joining = true;
        this.#join(ws, message).then(
          (joined) => {
            clearTimeout(joinTimer);
            peer = joined;
            joining = false;
          },
          (err: unknown) => {
            this.#o.log.warn({ err }, 'rtc: join failed');
            this.#closeSocket(ws, 'server_error', END_MESSAGES.server_error);
          },
        );
        return;
      }
      if (message.type === 'ping') {
        if (!peer || peer.socket !== ws) return void this.#sendTo(ws, { type: 'pong' });
      } else if (!peer && !joining) {
        return this.#closeSocket(ws, 'protocol_error', 'The first message must be join.');
      } else if (!peer || peer.socket !== ws) {
        return void this.#sendTo(ws, { type: 'error', code: 'not_joined', message: 'Not joined (yet, or any more).', ref: message.type });
      }
      this.#onMessage(peer, message).catch((err: unknown) => this.#o.log.warn({ err, type: message.type }, 'rtc: message failed'));
    });
  }

  async #join(ws: WebSocket, message: Extract<ClientMessage, { type: 'join' }>): Promise<Peer | null> {
    let claims;
    try {
      claims = await this.#o.signer.verify(message.token);
    } catch (err) {
      const reason = err instanceof TokenError && err.reason === 'expired' ? 'token_expired' : 'invalid_token';
      this.#closeSocket(ws, reason, END_MESSAGES[reason]);
      return null;
    }
    const room = this.#rooms.get(claims.roomId);
    if (!room || room.orgId !== claims.orgId || ws.readyState !== WebSocket.OPEN) {
      this.#closeSocket(ws, 'room_not_found', END_MESSAGES.room_not_found);
      return null;
    }
    const revokedAt = room.revoked.get(claims.identity);
    if (revokedAt !== undefined && claims.issuedAt.getTime() <= revokedAt) {
      this.#closeSocket(ws, 'removed', END_MESSAGES.removed);
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
      if (previousSocket) this.#closeSocket(previousSocket, 'replaced', END_MESSAGES.replaced);
      await this.#dropSession(existing);
      peer = existing;
      peer.grants = claims.grants;
      peer.sessionId = randomUUID();
    } else {
      if (room.peers.size >= room.maxParticipants) {
        this.#closeSocket(ws, 'room_full', END_MESSAGES.room_full);
        return null;
      }
      peer = {
        room,
        identity: claims.identity,
        joinedAt: new Date(),
        grants: claims.grants,
        sessionId: randomUUID(),
        socket: null,
        session: null,
        tracks: new Map(),
        localMuted: new Set(),
        quality: null,
        qualityStats: { weightedMs: 0, ms: 0, min: 5, since: 0 },
        media: { startedAt: null, ms: 0, upSince: null },
        grace: null,
        known: new Set(),
        dataWindow: { start: 0, count: 0 },
      };
      room.peers.set(peer.identity, peer);
      this.#o.emit({ type: 'participant.joined', roomId: room.id, identity: peer.identity, at: peer.joinedAt });
    }
    this.#clearGrace(peer);
    peer.socket = ws;
    const session = await this.#o.sfu.join(room.id, peer.sessionId, this.#group(peer), { receives: peer.grants.subscribe });
    if (this.#rooms.get(room.id) !== room || room.peers.get(peer.identity) !== peer || peer.socket !== ws) {
      // The room ended, the participant was removed or another connection took over while we waited.
      await this.#o.sfu.leave(session.id);
      const reason: RtcEndReason = this.#rooms.get(room.id) !== room ? 'room_ended' : room.peers.get(peer.identity) !== peer ? 'removed' : 'replaced';
      if (ws.readyState === WebSocket.OPEN) this.#closeSocket(ws, reason, END_MESSAGES[reason]);
      return null;
    }
    this.#bySfuId.set(session.id, peer);
    this.#owners.set(session.id, { roomId: room.id, identity: peer.identity });
    peer.session = session;
    this.#wire(peer, session);
    this.#applyRouting(peer, session);
    for (const o of room.overrides.values()) {
      if (o.subscriber !== peer.identity && o.publisher !== peer.identity) continue;
      const sub = room.peers.get(o.subscriber)?.session;
      const pub = room.peers.get(o.publisher)?.session;
      if (sub && pub) this.#o.sfu.setRoute(sub.id, pub.id, o.kind, o.allow);
    }
    this.#sendJoined(peer, false);
    this.#syncVisibility(room);
    return peer;
  }

  #resume(peer: Peer, ws: WebSocket, grants: Grants): Peer {
    const previousSocket = peer.socket;
    peer.socket = ws;
    peer.grants = grants;
    if (previousSocket && previousSocket !== ws) this.#closeSocket(previousSocket, 'replaced', END_MESSAGES.replaced);
    this.#clearGrace(peer);
    this.#sendJoined(peer, true);
    const session = peer.session;
    // An offer the client may have missed while its socket was down: createOffer re-delivers an outstanding one.
    if (session && session.pc.signalingState === 'have-local-offer') {
      session.createOffer().then(
        (sdp) => peer.session === session && this.#send(peer, { type: 'offer', sdp, routes: this.#routes(session.routes()) }),
        () => undefined,
      );
    }
    return peer;
  }

  #sendJoined(peer: Peer, resumed: boolean): void {
    const room = peer.room;
    peer.known.clear();
    const participants: RtcParticipantInfo[] = [];
    for (const other of room.peers.values()) {
      if (other === peer || !this.#visible(peer, other)) continue;
      peer.known.add(other.identity);
      participants.push(this.#info(other));
    }
    this.#send(peer, {
      type: 'joined',
      sessionId: peer.sessionId,
      resumed,
      identity: peer.identity,
      room: { id: room.id, name: room.name },
      grants: { ...peer.grants },
      participants,
      iceServers: this.#o.iceServersFor(peer.identity),
      reconnectGraceMs: this.#o.reconnectGraceMs,
      routes: peer.session ? this.#routes(peer.session.routes()) : [],
    });
    if (peer.quality !== null) this.#send(peer, { type: 'networkQuality', identity: peer.identity, level: peer.quality });
  }

  #wire(peer: Peer, session: SfuParticipant): void {
    const current = () => peer.session === session;
    session.on('iceCandidate', (candidate) => current() && this.#send(peer, { type: 'candidate', candidate }));
    session.on('needsNegotiation', (sdp, routes) => current() && this.#send(peer, { type: 'offer', sdp, routes: this.#routes(routes) }));
    session.on('routesChanged', (routes) => current() && this.#send(peer, { type: 'routes', routes: this.#routes(routes) }));
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
      this.#broadcastUpdate(peer);
      // In a recorded room, a participant is recorded from its first track on (the SFU follows later changes).
      if (peer.room.recording && this.#o.sfu.recordings(session.id).length === 0) void this.#record(peer);
      this.#o.emit({ type: 'track.published', roomId: peer.room.id, identity: peer.identity, kind: track.kind, source: track.source, at: new Date() });
    });
    session.on('trackUnpublished', (track) => {
      if (!current() || !peer.tracks.delete(track.trackId)) return;
      this.#broadcastUpdate(peer);
      this.#o.emit({ type: 'track.unpublished', roomId: peer.room.id, identity: peer.identity, kind: track.kind, source: track.source, at: new Date() });
    });
    session.on('networkQuality', (level) => {
      if (!current()) return;
      accrueQuality(peer);
      peer.quality = level;
      peer.qualityStats.min = Math.min(peer.qualityStats.min, level);
      for (const viewer of peer.room.peers.values()) {
        if (viewer === peer || viewer.known.has(peer.identity)) this.#send(viewer, { type: 'networkQuality', identity: peer.identity, level });
      }
    });
  }

  async #onMessage(peer: Peer, message: ClientMessage): Promise<void> {
    const session = peer.session;
    switch (message.type) {
      case 'offer': {
        if (!session) return;
        try {
          const sdp = await session.createAnswer(message.sdp, { sources: message.sources });
          if (peer.session === session) this.#send(peer, { type: 'answer', sdp });
        } catch (err) {
          if (err instanceof SfuError && err.code === 'glare') {
            this.#send(peer, { type: 'error', code: 'glare', message: 'The server has an offer outstanding: answer it, then offer again.', ref: 'offer' });
          } else {
            this.#send(peer, { type: 'error', code: 'negotiation_failed', message: err instanceof Error ? err.message : 'negotiation failed', ref: 'offer' });
          }
        }
        return;
      }
      case 'answer':
        if (!session) return;
        try {
          await session.setRemoteDescription(message.sdp);
        } catch (err) {
          this.#send(peer, { type: 'error', code: 'negotiation_failed', message: err instanceof Error ? err.message : 'negotiation failed', ref: 'answer' });
        }
        return;
      case 'candidate':
        if (session) await session.addIceCandidate(message.candidate);
        return;
      case 'mute':
        if (message.muted === peer.localMuted.has(message.source)) return;
        if (message.muted) peer.localMuted.add(message.source);
        else peer.localMuted.delete(message.source);
        this.#broadcastUpdate(peer);
        return;
      case 'data':
        return this.#relayData(peer, message.payload, message.to);
      case 'ping':
        this.#send(peer, { type: 'pong' });
        return;
      case 'leave':
        await this.#remove(peer, 'left', 'left');
        return;
      case 'join':
        return;
    }
  }

  #relayData(peer: Peer, payload: string, to: string[] | undefined): void {
    if (!peer.grants.data) return void this.#send(peer, { type: 'error', code: 'forbidden', message: 'This token has no data grant.', ref: 'data' });
    if (payload.length > RTC_MAX_DATA_CHARS) {
      return void this.#send(peer, { type: 'error', code: 'too_large', message: `Data messages are at most ${RTC_MAX_DATA_CHARS} characters.`, ref: 'data' });
    }
    const now = Date.now();
    if (now - peer.dataWindow.start >= 1000) peer.dataWindow = { start: now, count: 0 };
    if (++peer.dataWindow.count > DATA_PER_SECOND) {
      return void this.#send(peer, { type: 'error', code: 'rate_limited', message: `At most ${DATA_PER_SECOND} data messages per second.`, ref: 'data' });
    }
    const group = this.#group(peer);
    for (const other of peer.room.peers.values()) {
      if (other === peer || !other.grants.data || this.#group(other) !== group) continue;
      if (to && !to.includes(other.identity)) continue;
      this.#send(other, { type: 'data', from: peer.identity, payload });
    }
  }

  // ---- routing and visibility ----------------------------------------------------------------------------

  #pref(room: LiveRoom, identity: string): RoutingPreference {
    let pref = room.prefs.get(identity);
    if (!pref) {
      pref = { group: DEFAULT_GROUP, hostMuted: new Set(), recorded: true };
      room.prefs.set(identity, pref);
    }
    return pref;
  }

  #group(peer: Peer): string {
    return peer.room.prefs.get(peer.identity)?.group ?? DEFAULT_GROUP;
  }

  #applyRouting(peer: Peer, session: SfuParticipant): void {
    const pref = this.#pref(peer.room, peer.identity);
    const sfu = this.#o.sfu;
    sfu.setGroup(session.id, pref.group);
    for (const kind of ['audio', 'video'] as const) {
      // Without the publish grant nothing a participant sends reaches anyone (enforced by routing too).
      sfu.setMuted(session.id, kind, pref.hostMuted.has(kind) || !peer.grants.publish);
    }
  }

  /** Who appears in whose participant list: the same group, and admins see everyone. */
  #visible(viewer: Peer, subject: Peer): boolean {
    return viewer.grants.admin || this.#group(viewer) === this.#group(subject);
  }

  #syncVisibility(room: LiveRoom): void {
    for (const viewer of room.peers.values()) {
      for (const subject of room.peers.values()) {
        if (subject === viewer) continue;
        const visible = this.#visible(viewer, subject);
        const known = viewer.known.has(subject.identity);
        if (visible && !known) {
          viewer.known.add(subject.identity);
          this.#send(viewer, { type: 'participantJoined', participant: this.#info(subject) });
        } else if (!visible && known) {
          viewer.known.delete(subject.identity);
          this.#send(viewer, { type: 'participantLeft', identity: subject.identity, reason: 'moved' });
        }
      }
    }
  }

  #info(peer: Peer): RtcParticipantInfo {
    const hostMuted = this.#pref(peer.room, peer.identity).hostMuted;
    return {
      identity: peer.identity,
      joinedAt: peer.joinedAt.toISOString(),
      tracks: [...peer.tracks.values()].map((t) => ({ source: t.source, kind: t.kind, muted: peer.localMuted.has(t.source), hostMuted: hostMuted.has(t.kind) || !peer.grants.publish })),
      networkQuality: peer.quality,
    };
  }

  #broadcastUpdate(peer: Peer): void {
    const participant = this.#info(peer);
    for (const viewer of peer.room.peers.values()) {
      if (viewer === peer || viewer.known.has(peer.identity)) this.#send(viewer, { type: 'participantUpdated', participant });
    }
  }

  #routes(routes: ForwardedTrack[]): RtcRoute[] {
    return routes.map((r) => ({
      mid: r.mid,
      kind: r.kind,
      identity: r.publisherId === null ? null : (this.#bySfuId.get(r.publisherId)?.identity ?? null),
      source: r.source,
    }));
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
        void this.#remove(peer, 'connection_lost', 'connection_lost');
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
    this.#bySfuId.delete(session.id);
    // Its tracks go with it (unpublish events of a stale session are ignored, so update here).
    if (peer.tracks.size > 0) {
      for (const [, t] of peer.tracks) {
        this.#o.emit({ type: 'track.unpublished', roomId: peer.room.id, identity: peer.identity, kind: t.kind, source: t.source, at: new Date() });
      }
      peer.tracks.clear();
      this.#broadcastUpdate(peer);
    }
    await this.#o.sfu.leave(session.id);
  }

  async #remove(peer: Peer, reason: RtcEndReason, eventReason: string): Promise<void> {
    const room = peer.room;
    if (room.peers.get(peer.identity) !== peer) return;
    room.peers.delete(peer.identity);
    this.#clearGrace(peer);
    const socket = peer.socket;
    peer.socket = null;
    if (socket) this.#closeSocket(socket, reason, END_MESSAGES[reason]);
    await this.#dropSession(peer);
    for (const viewer of room.peers.values()) {
      if (viewer.known.delete(peer.identity)) this.#send(viewer, { type: 'participantLeft', identity: peer.identity, reason: eventReason });
    }
    mediaDown(peer);
    const q = peer.qualityStats;
    const media = { startedAt: peer.media.startedAt, seconds: Math.round(peer.media.ms / 1000) };
    const quality = !media.startedAt || peer.quality === null ? undefined : q.ms > 0 ? { average: q.weightedMs / q.ms, min: q.min } : { average: peer.quality, min: q.min };
    this.#o.emit({ type: 'participant.left', roomId: room.id, identity: peer.identity, at: new Date(), reason: eventReason, media, ...(quality ? { quality } : {}) });
  }

  // ---- plumbing ------------------------------------------------------------------------------------------

  #send(peer: Peer, message: ServerMessage): boolean {
    return peer.socket ? this.#sendTo(peer.socket, message) : false;
  }

  #sendTo(ws: WebSocket, message: ServerMessage): boolean {
    if (ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(message));
    return true;
  }

  #closeSocket(ws: WebSocket, reason: RtcEndReason, message: string): void {
    this.#sendTo(ws, { type: 'bye', reason, message });
    if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(RTC_CLOSE[reason], reason);
  }

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

  /** Tells every client the server is going away (they reconnect later), then closes the sockets. */
  async shutdown(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    clearInterval(this.#heartbeat);
    const closing = [...this.#wss.clients].map(
      (ws) =>
        new Promise<void>((resolve) => {
          ws.once('close', () => resolve());
          this.#closeSocket(ws, 'server_shutdown', END_MESSAGES.server_shutdown);
          setTimeout(() => {
            ws.terminate();
            resolve();
          }, 1000).unref();
        }),
    );
    await Promise.all(closing);
    for (const room of this.#rooms.values()) for (const peer of room.peers.values()) this.#clearGrace(peer);
    // Finalise recordings now, while the rooms layer still records their completion.
    await Promise.all([...this.#rooms.values()].filter((r) => r.recording).map((r) => this.stopRecording(r.id)));
    this.#wss.close();
  }

  async close(): Promise<void> {
    await this.shutdown();
    this.#rooms.clear();
    this.#bySfuId.clear();
    await this.#o.sfu.close();
  }
}
