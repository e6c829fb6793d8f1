/**
 * The browser SDK's Room: one signaling socket and one RTCPeerConnection to the server, behind an API that
 * does not name the provider (the Twilio adapter implements the same surface). The connection follows the
 * state machine in state.ts; see src/shared/rtc.ts for the wire protocol.
 */
import type {
  ClientMessage,
  RtcEndReason,
  RtcGrants,
  RtcIceServer,
  RtcParticipantInfo,
  RtcRoute,
  ServerMessage,
  TrackKind,
  TrackSource,
} from '../shared/rtc.js';
import { RTC_CLOSE, RTC_PROTOCOL_VERSION } from '../shared/rtc.js';
import { Emitter } from './emitter.js';
import { ConnectionMachine, type ConnectionState } from './state.js';

export type { ConnectionState, TrackKind, TrackSource };

/** Why the room was left for good. */
export type DisconnectReason = RtcEndReason | 'join_failed';

export interface ConnectOptions {
  /** Capture the microphone (true, constraints) or not. Default true. Ignored for sources given in `tracks`. */
  audio?: boolean | MediaTrackConstraints;
  /** Capture the camera. Default true. */
  video?: boolean | MediaTrackConstraints;
  /** Tracks already captured (e.g. by a device check): published instead of capturing again. */
  tracks?: MediaStreamTrack[];
  /** A fresh token when the old one has expired during a reconnect (same identity). */
  getToken?: () => Promise<string>;
  /** How long reconnection keeps trying before giving up. Default: the server's grace period + 15 s. */
  reconnectTimeoutMs?: number;
  /** Extra ICE servers, added to the server's. */
  iceServers?: RTCIceServer[];
}

export interface RemoteTrack {
  readonly sid: string;
  readonly kind: TrackKind;
  readonly source: TrackSource;
  readonly mediaStreamTrack: MediaStreamTrack;
  /** The publisher turned it off. */
  readonly muted: boolean;
  /** A host stopped it reaching anyone. */
  readonly hostMuted: boolean;
  /** Creates (or fills) a media element playing this track. */
  attach(element?: HTMLMediaElement): HTMLMediaElement;
}

export interface RemoteParticipant {
  readonly identity: string;
  readonly joinedAt: Date;
  /** Published tracks as the server describes them (whether or not routed to us). */
  readonly published: readonly { kind: TrackKind; source: TrackSource; muted: boolean; hostMuted: boolean }[];
  /** Tracks routed to us, by source. */
  readonly tracks: ReadonlyMap<TrackSource, RemoteTrack>;
  readonly networkQuality: number | null;
}

export interface RoomEvents {
  stateChanged: (state: ConnectionState) => void;
  participantConnected: (participant: RemoteParticipant) => void;
  participantDisconnected: (participant: RemoteParticipant, reason: string) => void;
  participantUpdated: (participant: RemoteParticipant) => void;
  trackSubscribed: (track: RemoteTrack, participant: RemoteParticipant) => void;
  trackUnsubscribed: (track: RemoteTrack, participant: RemoteParticipant) => void;
  /** 0 (none) to 5 (excellent): the local participant's (participant null) or a remote one's. */
  networkQuality: (level: number, participant: RemoteParticipant | null) => void;
  /** The loudest participant of our group (null: the local participant or nobody). */
  dominantSpeaker: (participant: RemoteParticipant | null) => void;
  reconnecting: (cause: 'signal' | 'media') => void;
  reconnected: () => void;
  disconnected: (reason: DisconnectReason, message: string) => void;
  /** `participant` is null for a message from the server (a visit's chat message, stored before it is sent). */
  dataReceived: (payload: string, participant: RemoteParticipant | null) => void;
  notice: (notice: { code: string; message: string }) => void;
  /** A local publication changed (camera on/off, screen share started/stopped). */
  localTrackChanged: (source: TrackSource, track: MediaStreamTrack | null) => void;
}

/** Server reasons after which reconnecting is pointless. */
const FINAL: ReadonlySet<string> = new Set(['left', 'removed', 'room_ended', 'replaced', 'duration_exceeded', 'invalid_token', 'room_full', 'room_not_found', 'protocol_error']);
const PING_MS = 5000;
const SILENCE_MS = 12_000;
const MEDIA_FAIL_MS = 4000;

class Remote implements RemoteParticipant {
  joinedAt: Date;
  published: RtcParticipantInfo['tracks'] = [];
  readonly tracks = new Map<TrackSource, RemoteTrackImpl>();
  networkQuality: number | null = null;
  constructor(
    readonly identity: string,
    info: RtcParticipantInfo,
  ) {
    this.joinedAt = new Date(info.joinedAt);
    this.update(info);
  }
  update(info: RtcParticipantInfo): void {
    this.published = info.tracks;
    this.networkQuality = info.networkQuality;
  }
}

class RemoteTrackImpl implements RemoteTrack {
  constructor(
    readonly sid: string,
    readonly kind: TrackKind,
    readonly source: TrackSource,
    readonly mediaStreamTrack: MediaStreamTrack,
    private readonly owner: Remote,
  ) {}
  get muted(): boolean {
    return this.owner.published.find((t) => t.source === this.source)?.muted ?? false;
  }
  get hostMuted(): boolean {
    return this.owner.published.find((t) => t.source === this.source)?.hostMuted ?? false;
  }
  attach(element?: HTMLMediaElement): HTMLMediaElement {
    const el = element ?? document.createElement(this.kind === 'audio' ? 'audio' : 'video');
    el.autoplay = true;
    if (el instanceof HTMLVideoElement) el.playsInline = true;
    el.srcObject = new MediaStream([this.mediaStreamTrack]);
    return el;
  }
}

/** The local participant: what we publish and its controls. */
export class LocalParticipant {
  identity = '';
  networkQuality: number | null = null;
  /** Published local tracks by source. */
  readonly tracks = new Map<TrackSource, MediaStreamTrack>();
  constructor(private readonly room: Room) {}

  get microphoneEnabled(): boolean {
    return this.tracks.get('microphone')?.enabled ?? false;
  }
  get cameraEnabled(): boolean {
    return this.tracks.has('camera');
  }
  get screenSharing(): boolean {
    return this.tracks.has('screen');
  }
  /** Mutes or unmutes the microphone (the track keeps running; others see it muted). */
  setMicrophoneEnabled(enabled: boolean): Promise<void> {
    return this.room._setMicrophone(enabled);
  }
  /** Turns the camera off (the device is released) or on again (captured anew). */
  setCameraEnabled(enabled: boolean): Promise<void> {
    return this.room._setCamera(enabled);
  }
  startScreenShare(): Promise<MediaStreamTrack> {
    return this.room._startScreenShare();
  }
  stopScreenShare(): Promise<void> {
    return this.room._stopScreenShare();
  }
}

export class Room extends Emitter<RoomEvents> {
  readonly localParticipant = new LocalParticipant(this);
  readonly participants = new Map<string, RemoteParticipant>();
  name = '';
  sid = '';
  grants: RtcGrants = { publish: false, subscribe: false, data: false, admin: false };
  /** How many times the connection recovered (signal resumed or media rejoined). */
  reconnects = 0;
  readonly #machine = new ConnectionMachine();
  readonly #url: string;
  #token: string;
  readonly #options: ConnectOptions;
  #ws: WebSocket | null = null;
  #pc: RTCPeerConnection | null = null;
  #sessionId: string | null = null;
  #iceServers: RtcIceServer[] = [];
  #graceMs = 15_000;
  #queue: Promise<unknown> = Promise.resolve();
  #needsOffer = false;
  /** Settles the offer in flight: the server's answer, null (glare: answer the server's offer, offer again) or the server's refusal. */
  #answerWaiter: ((answer: string | null | Error) => void) | null = null;
  readonly #pendingCandidates: RTCIceCandidateInit[] = [];
  readonly #senders = new Map<TrackSource, RTCRtpTransceiver>();
  readonly #routes = new Map<string, RtcRoute>();
  readonly #remotes = new Map<string, Remote>();
  #pingTimer: ReturnType<typeof setInterval> | null = null;
  #lastHeard = 0;
  #mediaFailTimer: ReturnType<typeof setTimeout> | null = null;
  #reconnecting: Promise<void> | null = null;
  #joinedResolver: ((message: Extract<ServerMessage, { type: 'joined' }>) => void) | null = null;

  /** A room not yet connected: add listeners, then `connect()` (or use the `connect()` function). */
  constructor(url: string, token: string, options: ConnectOptions = {}) {
    super();
    this.#url = url;
    this.#token = token;
    this.#options = options;
    this.#machine.onTransition((t) => this.emit('stateChanged', t.to));
  }

  get state(): ConnectionState {
    return this.#machine.state;
  }

  /** The peer connection (diagnostics: getStats). Replaced when the media connection is rebuilt. */
  get peerConnection(): RTCPeerConnection | null {
    return this.#pc;
  }

  // ---- public API ----------------------------------------------------------------------------------------

  /** Sends a data message (chat) to the participants of our group, or to `to`. */
  sendData(payload: string, to?: string[]): void {
    this.#send({ type: 'data', payload, ...(to ? { to } : {}) });
  }

  /** Leaves the room for good. */
  async disconnect(): Promise<void> {
    if (this.state === 'disconnected') return;
    this.#send({ type: 'leave' });
    this.#end('left', 'You left the room.');
  }

  // ---- connecting ------------------------------------------------------------------------------------------

  /** Captures media (unless given or turned off), joins and publishes. Rejects with ConnectError. */
  async connect(): Promise<void> {
    if (!this.#machine.send('connect').valid) throw new ConnectError('join_failed', 'This room has already been connected.');
    await this.#captureInitial();
    try {
      await this.#join(false);
    } catch (error) {
      const { reason, message } = error instanceof JoinRefused ? error : { reason: 'join_failed' as const, message: String(error) };
      this.#stopLocal();
      this.#machine.send('failed');
      this.#teardown();
      throw new ConnectError(reason, message);
    }
  }

  async #captureInitial(): Promise<void> {
    for (const track of this.#options.tracks ?? []) {
      const source: TrackSource = track.kind === 'audio' ? 'microphone' : 'camera';
      this.localParticipant.tracks.set(source, track);
    }
    const wantAudio = this.#options.audio ?? true;
    const wantVideo = this.#options.video ?? true;
    const audio = !this.localParticipant.tracks.has('microphone') && wantAudio;
    const video = !this.localParticipant.tracks.has('camera') && wantVideo;
    if (!audio && !video) return;
    const stream = await navigator.mediaDevices.getUserMedia({ audio, video });
    for (const track of stream.getTracks()) this.localParticipant.tracks.set(track.kind === 'audio' ? 'microphone' : 'camera', track);
  }

  /**
   * Opens a socket and joins. `resume`: ask for the existing session (the peer connection carries on); when
   * the server no longer has it, or without `resume`, a new peer connection is built and tracks republished.
   */
  async #join(resume: boolean): Promise<void> {
    const joined = await this.#openSocket(resume ? this.#sessionId : null);
    this.#sessionId = joined.sessionId;
    this.#iceServers = joined.iceServers;
    this.#graceMs = joined.reconnectGraceMs;
    this.name = joined.room.name;
    this.sid = joined.room.id;
    this.grants = joined.grants;
    this.localParticipant.identity = joined.identity;
    this.#syncParticipants(joined.participants);
    if (!joined.resumed) {
      this.#newPeerConnection();
      for (const [source, track] of this.localParticipant.tracks) this.#addSender(source, track);
      this.#routes.clear();
      await this.#enqueue(() => this.#offer());
    } else {
      for (const route of joined.routes) this.#routes.set(route.mid, route);
      this.#applyRoutes();
    }
    this.#machine.send('joined');
  }

  #openSocket(sessionId: string | null): Promise<Extract<ServerMessage, { type: 'joined' }>> {
    this.#closeSocket();
    const ws = new WebSocket(this.#url);
    this.#ws = ws;
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => fail(new Error('The server did not answer in time.')), 10_000);
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#joinedResolver = null;
        if (this.#ws === ws) this.#closeSocket();
        reject(error);
      };
      this.#joinedResolver = (message) => {
        settled = true;
        clearTimeout(timer);
        this.#joinedResolver = null;
        resolve(message);
      };
      ws.onopen = () => {
        this.#lastHeard = Date.now();
        ws.send(JSON.stringify({ type: 'join', token: this.#token, protocol: RTC_PROTOCOL_VERSION, ...(sessionId ? { sessionId } : {}) } satisfies ClientMessage));
        this.#startPing();
      };
      ws.onmessage = (event) => {
        if (this.#ws !== ws) return;
        this.#lastHeard = Date.now();
        let message: ServerMessage;
        try {
          message = JSON.parse(String(event.data)) as ServerMessage;
        } catch {
          return;
        }
        if (message.type === 'bye' && !settled) return fail(new JoinRefused(message.reason, message.message));
        this.#onMessage(message);
      };
      ws.onclose = (event) => {
        if (this.#ws !== ws) return;
        if (!settled) return fail(new JoinRefused(closeReason(event.code), event.reason || `closed (${event.code})`));
        this.#onSocketClosed(event.code, event.reason);
      };
    });
  }

  #closeSocket(): void {
    const ws = this.#ws;
    this.#ws = null;
    if (this.#pingTimer) clearInterval(this.#pingTimer);
    this.#pingTimer = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000);
  }

  #startPing(): void {
    if (this.#pingTimer) clearInterval(this.#pingTimer);
    this.#pingTimer = setInterval(() => {
      if (Date.now() - this.#lastHeard > SILENCE_MS) {
        // The socket is silently dead (no pong): treat it as lost.
        const ws = this.#ws;
        this.#closeSocket();
        if (ws) this.#onSocketClosed(1006, 'no answer');
        return;
      }
      this.#send({ type: 'ping' });
    }, PING_MS);
  }

  #onSocketClosed(code: number, reason: string): void {
    this.#ws = null;
    const why = closeReason(code);
    if (FINAL.has(why)) return this.#end(why, reason);
    this.#recover('signal');
  }

  // ---- recovery ------------------------------------------------------------------------------------------

  #recover(cause: 'signal' | 'media'): void {
    if (this.state === 'disconnected' || this.state === 'idle') return;
    const wasConnected = this.state === 'connected';
    this.#machine.send(cause === 'signal' ? 'signalLost' : 'mediaFailed');
    if (this.state !== 'reconnecting') return;
    if (wasConnected) this.emit('reconnecting', cause);
    if (cause === 'media') this.#sessionId = null; // a new peer connection: the server replaces the old one
    if (this.#reconnecting) return;
    this.#reconnecting = this.#reconnectLoop().finally(() => (this.#reconnecting = null));
  }

  async #reconnectLoop(): Promise<void> {
    const deadline = Date.now() + (this.#options.reconnectTimeoutMs ?? this.#graceMs + 15_000);
    let delay = 250;
    while (this.state === 'reconnecting') {
      try {
        await this.#join(this.#sessionId !== null);
        this.reconnects++;
        this.emit('reconnected');
        return;
      } catch (error) {
        if (error instanceof JoinRefused) {
          if (error.reason === 'token_expired' && this.#options.getToken) {
            try {
              this.#token = await this.#options.getToken();
              continue;
            } catch {
              return this.#end('token_expired', error.message);
            }
          }
          if (FINAL.has(error.reason) || error.reason === 'token_expired') return this.#end(error.reason, error.message);
        }
      }
      if (Date.now() + delay > deadline) {
        this.#machine.send('retriesExhausted');
        this.#finish('connection_lost', 'Could not reconnect.');
        return;
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 2000);
    }
  }

  #end(reason: RtcEndReason, message: string): void {
    if (this.state === 'disconnected') return;
    this.#machine.send(reason === 'left' ? 'leave' : 'ended');
    this.#finish(reason, message);
  }

  #finish(reason: DisconnectReason, message: string): void {
    this.#teardown();
    this.#stopLocal();
    for (const remote of [...this.#remotes.values()]) this.#dropRemote(remote, reason);
    this.emit('disconnected', reason, message);
  }

  #teardown(): void {
    this.#closeSocket();
    if (this.#mediaFailTimer) clearTimeout(this.#mediaFailTimer);
    this.#pc?.close();
    this.#pc = null;
  }

  #stopLocal(): void {
    for (const track of this.localParticipant.tracks.values()) track.stop();
  }

  // ---- peer connection and negotiation -------------------------------------------------------------------

  #newPeerConnection(): void {
    this.#pc?.close();
    this.#senders.clear();
    this.#pendingCandidates.length = 0;
    this.#answerWaiter?.(null);
    this.#answerWaiter = null;
    this.#queue = Promise.resolve();
    const pc = new RTCPeerConnection({ iceServers: [...this.#iceServers, ...(this.#options.iceServers ?? [])], bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    this.#pc = pc;
    pc.onicecandidate = (event) => {
      if (this.#pc === pc) this.#send({ type: 'candidate', candidate: event.candidate ? { ...event.candidate.toJSON(), candidate: event.candidate.candidate } : null });
    };
    pc.ontrack = () => {
      if (this.#pc === pc) this.#applyRoutes();
    };
    pc.onconnectionstatechange = () => {
      if (this.#pc !== pc) return;
      if (this.#mediaFailTimer) clearTimeout(this.#mediaFailTimer);
      this.#mediaFailTimer = null;
      if (pc.connectionState === 'failed') this.#recover('media');
      else if (pc.connectionState === 'disconnected') {
        // 'disconnected' often heals by itself; give it a moment before rebuilding.
        this.#mediaFailTimer = setTimeout(() => this.#pc === pc && pc.connectionState !== 'connected' && this.#recover('media'), MEDIA_FAIL_MS);
      }
    };
  }

  #addSender(source: TrackSource, track: MediaStreamTrack): RTCRtpTransceiver {
    const pc = this.#pc!;
    const transceiver = pc.addTransceiver(track, { direction: 'sendonly', streams: [new MediaStream([track])] });
    this.#senders.set(source, transceiver);
    return transceiver;
  }

  #enqueue<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(operation);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Offers what we publish; on glare the server's offer is answered first and we offer again after. */
  async #offer(): Promise<void> {
    const pc = this.#pc;
    if (!pc || pc.signalingState !== 'stable') {
      this.#needsOffer = true;
      return;
    }
    this.#needsOffer = false;
    await pc.setLocalDescription(await pc.createOffer());
    const sources: Record<string, TrackSource> = {};
    for (const [source, transceiver] of this.#senders) if (transceiver.mid) sources[transceiver.mid] = source;
    const answered = new Promise<string | null | Error>((resolve) => (this.#answerWaiter = resolve));
    this.#send({ type: 'offer', sdp: pc.localDescription!.sdp, sources });
    const sdp = await answered;
    this.#answerWaiter = null;
    if (this.#pc !== pc) return;
    if (sdp instanceof Error) {
      // Refused (negotiation failed, not joined): nothing will answer it. Joining fails rather than waiting forever.
      if ((pc.signalingState as RTCSignalingState) === 'have-local-offer') await pc.setLocalDescription({ type: 'rollback' });
      throw sdp;
    }
    if (sdp === null) {
      // The state may have moved while the answer was awaited (TypeScript still narrows it to the earlier check).
      if ((pc.signalingState as RTCSignalingState) === 'have-local-offer') await pc.setLocalDescription({ type: 'rollback' });
      this.#needsOffer = true;
      return;
    }
    await pc.setRemoteDescription({ type: 'answer', sdp });
    await this.#flushCandidates();
  }

  async #answer(sdp: string): Promise<void> {
    const pc = this.#pc;
    if (!pc) return;
    if (pc.signalingState === 'have-local-offer') {
      // Glare: we are the polite side.
      this.#answerWaiter?.(null);
      await pc.setLocalDescription({ type: 'rollback' });
    }
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    this.#send({ type: 'answer', sdp: pc.localDescription!.sdp });
    await this.#flushCandidates();
    this.#applyRoutes();
    if (this.#needsOffer) await this.#offer();
  }

  async #flushCandidates(): Promise<void> {
    const pc = this.#pc;
    if (!pc?.remoteDescription) return;
    for (const candidate of this.#pendingCandidates.splice(0)) await pc.addIceCandidate(candidate).catch(() => undefined);
  }

  // ---- server messages -----------------------------------------------------------------------------------

  #onMessage(message: ServerMessage): void {
    switch (message.type) {
      case 'joined':
        this.#joinedResolver?.(message);
        return;
      case 'answer':
        this.#answerWaiter?.(message.sdp);
        return;
      case 'offer':
        for (const route of message.routes) this.#routes.set(route.mid, route);
        void this.#enqueue(() => this.#answer(message.sdp)).catch(() => this.#recover('media'));
        return;
      case 'routes':
        for (const route of message.routes) this.#routes.set(route.mid, route);
        this.#applyRoutes();
        return;
      case 'candidate': {
        if (!message.candidate) return;
        const pc = this.#pc;
        if (pc?.remoteDescription) void pc.addIceCandidate(message.candidate).catch(() => undefined);
        else this.#pendingCandidates.push(message.candidate);
        return;
      }
      case 'participantJoined': {
        const remote = new Remote(message.participant.identity, message.participant);
        this.#remotes.set(remote.identity, remote);
        this.participants.set(remote.identity, remote);
        this.emit('participantConnected', remote);
        this.#applyRoutes();
        return;
      }
      case 'participantUpdated': {
        const remote = this.#remotes.get(message.participant.identity);
        if (!remote) return;
        remote.update(message.participant);
        this.emit('participantUpdated', remote);
        return;
      }
      case 'participantLeft': {
        const remote = this.#remotes.get(message.identity);
        if (remote) this.#dropRemote(remote, message.reason);
        return;
      }
      case 'networkQuality': {
        if (message.identity === this.localParticipant.identity) {
          this.localParticipant.networkQuality = message.level;
          this.emit('networkQuality', message.level, null);
          return;
        }
        const remote = this.#remotes.get(message.identity);
        if (!remote) return;
        remote.networkQuality = message.level;
        this.emit('networkQuality', message.level, remote);
        return;
      }
      case 'dominantSpeaker':
        this.emit('dominantSpeaker', message.identity === null ? null : (this.#remotes.get(message.identity) ?? null));
        return;
      case 'data':
        this.emit('dataReceived', message.payload, message.from === null ? null : (this.#remotes.get(message.from) ?? null));
        return;
      case 'notice':
        this.emit('notice', { code: message.code, message: message.message });
        return;
      case 'error':
        if (message.ref === 'offer') this.#answerWaiter?.(message.code === 'glare' ? null : new Error(`The server refused the offer: ${message.message}`));
        return;
      case 'bye':
        if (this.#ws) this.#ws.onclose = null;
        this.#ws = null;
        if (FINAL.has(message.reason)) this.#end(message.reason, message.message);
        else this.#recover('signal');
        return;
      case 'pong':
        return;
    }
  }

  #syncParticipants(list: RtcParticipantInfo[]): void {
    const seen = new Set<string>();
    for (const info of list) {
      seen.add(info.identity);
      const existing = this.#remotes.get(info.identity);
      if (existing) {
        existing.update(info);
        continue;
      }
      const remote = new Remote(info.identity, info);
      this.#remotes.set(remote.identity, remote);
      this.participants.set(remote.identity, remote);
      this.emit('participantConnected', remote);
    }
    for (const remote of [...this.#remotes.values()]) if (!seen.has(remote.identity)) this.#dropRemote(remote, 'left');
  }

  #dropRemote(remote: Remote, reason: string): void {
    for (const track of [...remote.tracks.values()]) {
      remote.tracks.delete(track.source);
      this.emit('trackUnsubscribed', track, remote);
    }
    this.#remotes.delete(remote.identity);
    this.participants.delete(remote.identity);
    this.emit('participantDisconnected', remote, reason);
  }

  /** Matches receiving m-lines to publishers through the server's routes (by mid: slots are reused). */
  #applyRoutes(): void {
    const pc = this.#pc;
    if (!pc) return;
    const wanted = new Map<string, { remote: Remote; source: TrackSource; transceiver: RTCRtpTransceiver; mid: string }>();
    for (const route of this.#routes.values()) {
      if (!route.identity || !route.source) continue;
      const remote = this.#remotes.get(route.identity);
      const transceiver = pc.getTransceivers().find((t) => t.mid === route.mid);
      if (!remote || !transceiver || transceiver.receiver.track.kind !== route.kind) continue;
      wanted.set(`${route.identity}\u0000${route.source}`, { remote, source: route.source, transceiver, mid: route.mid });
    }
    for (const remote of this.#remotes.values()) {
      for (const track of [...remote.tracks.values()]) {
        const want = wanted.get(`${remote.identity}\u0000${track.source}`);
        if (want && want.transceiver.receiver.track === track.mediaStreamTrack) {
          wanted.delete(`${remote.identity}\u0000${track.source}`);
          continue;
        }
        remote.tracks.delete(track.source);
        this.emit('trackUnsubscribed', track, remote);
      }
    }
    for (const { remote, source, transceiver, mid } of wanted.values()) {
      const track = new RemoteTrackImpl(mid, transceiver.receiver.track.kind as TrackKind, source, transceiver.receiver.track, remote);
      remote.tracks.set(source, track);
      this.emit('trackSubscribed', track, remote);
    }
  }

  // ---- local controls ------------------------------------------------------------------------------------

  /** @internal */
  async _setMicrophone(enabled: boolean): Promise<void> {
    let track = this.localParticipant.tracks.get('microphone');
    if (!track && enabled) {
      track = (await navigator.mediaDevices.getUserMedia({ audio: this.#options.audio === false ? true : (this.#options.audio ?? true) })).getAudioTracks()[0]!;
      this.localParticipant.tracks.set('microphone', track);
      await this.#publish('microphone', track);
    }
    if (!track) return;
    track.enabled = enabled;
    this.#send({ type: 'mute', source: 'microphone', muted: !enabled });
  }

  /** @internal */
  async _setCamera(enabled: boolean): Promise<void> {
    const current = this.localParticipant.tracks.get('camera');
    if (!enabled) {
      if (!current) return;
      current.stop();
      this.localParticipant.tracks.delete('camera');
      await this.#senders.get('camera')?.sender.replaceTrack(null);
      this.#send({ type: 'mute', source: 'camera', muted: true });
      this.emit('localTrackChanged', 'camera', null);
      return;
    }
    if (current) return;
    const constraints = typeof this.#options.video === 'object' ? this.#options.video : true;
    const track = (await navigator.mediaDevices.getUserMedia({ video: constraints })).getVideoTracks()[0]!;
    this.localParticipant.tracks.set('camera', track);
    const transceiver = this.#senders.get('camera');
    if (transceiver) await transceiver.sender.replaceTrack(track);
    else await this.#publish('camera', track);
    this.#send({ type: 'mute', source: 'camera', muted: false });
    this.emit('localTrackChanged', 'camera', track);
  }

  /** @internal */
  async _startScreenShare(): Promise<MediaStreamTrack> {
    const existing = this.localParticipant.tracks.get('screen');
    if (existing) return existing;
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const track = stream.getVideoTracks()[0]!;
    track.addEventListener('ended', () => void this._stopScreenShare());
    this.localParticipant.tracks.set('screen', track);
    await this.#publish('screen', track);
    this.emit('localTrackChanged', 'screen', track);
    return track;
  }

  /** @internal */
  async _stopScreenShare(): Promise<void> {
    const track = this.localParticipant.tracks.get('screen');
    if (!track) return;
    track.stop();
    this.localParticipant.tracks.delete('screen');
    const transceiver = this.#senders.get('screen');
    this.#senders.delete('screen');
    if (transceiver && this.#pc) {
      this.#pc.removeTrack(transceiver.sender);
      await this.#enqueue(() => this.#offer());
    }
    this.emit('localTrackChanged', 'screen', null);
  }

  async #publish(source: TrackSource, track: MediaStreamTrack): Promise<void> {
    if (!this.#pc) return;
    this.#addSender(source, track);
    await this.#enqueue(() => this.#offer());
  }

  #send(message: ClientMessage): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(message));
  }
}

class JoinRefused extends Error {
  constructor(
    readonly reason: RtcEndReason,
    message: string,
  ) {
    super(message);
  }
}

/** connect() failed: `reason` says why (invalid_token, room_full, room_not_found, join_failed, …). */
export class ConnectError extends Error {
  constructor(
    readonly reason: DisconnectReason,
    message: string,
  ) {
    super(message);
    this.name = 'ConnectError';
  }
}

const CODES = new Map<number, RtcEndReason>(Object.entries(RTC_CLOSE).map(([reason, code]) => [code, reason as RtcEndReason]));

/** A close without a bye: 1000 from the server is not "left" by us, so only our own 4xxx codes are final. */
function closeReason(code: number): RtcEndReason {
  if (code === 1000) return 'connection_lost';
  return CODES.get(code) ?? 'connection_lost';
}
