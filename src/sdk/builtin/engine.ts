/**
 * The builtin provider's engine: connection and reconnection over the signal client (signal.ts) and the transport
 * (transport.ts), following the state machine of ../state.ts. A dropped socket resumes the same session (the
 * transport carries on); a failed transport rejoins as the same identity with a new one; a refused or final ending
 * disconnects. Messages about the media connection are handled here, the rest (participants, routes, data) go to
 * the builtin room (room.ts).
 */
import type { ClientMessage, RtcEndReason, RtcIceServer, RtcRoute, ServerMessage } from '../../shared/rtc.js';
import { tokenOf, type RoomSink } from '../adapter.js';
import { ConnectError } from '../errors.js';
import { ConnectionMachine, type ConnectionState } from '../state.js';
import type { ConnectOptions, DisconnectReason, MediaState, TrackSource } from '../types.js';
import { JoinRefused, SignalClient, type JoinedMessage } from './signal.js';
import { SIMULCAST_LAYERS, Transport } from './transport.js';

/** Server reasons after which reconnecting is pointless. */
const FINAL: ReadonlySet<string> = new Set(['left', 'removed', 'room_ended', 'replaced', 'duration_exceeded', 'invalid_token', 'room_full', 'room_not_found', 'protocol_error']);

/** What the engine needs from the builtin room. */
export interface EngineHandlers {
  /** A join (first, resume or rejoin) was answered; on a resume its routes are current. */
  onJoined(joined: JoinedMessage): void;
  /** The routes announced with the server's offer (matched once the offer is answered). */
  onOfferRoutes(routes: RtcRoute[]): void;
  /** The transport's receivers may have changed. */
  onTracks(): void;
  /** A server message about the room rather than the connection. */
  onMessage(message: ServerMessage): void;
}

export class Engine {
  /** How many times the connection recovered (signal resumed or media rejoined). */
  reconnects = 0;
  readonly #machine = new ConnectionMachine();
  readonly #signal: SignalClient;
  readonly #sink: RoomSink;
  readonly #handlers: EngineHandlers;
  readonly #options: ConnectOptions;
  #token: string;
  #transport: Transport | null = null;
  #sessionId: string | null = null;
  #iceServers: RtcIceServer[] = [];
  #graceMs = 15_000;
  #reconnecting: Promise<void> | null = null;

  constructor(url: string, token: string, options: ConnectOptions, sink: RoomSink, handlers: EngineHandlers) {
    this.#token = token;
    this.#options = options;
    this.#sink = sink;
    this.#handlers = handlers;
    this.#signal = new SignalClient(url, {
      onMessage: (message) => this.#onMessage(message),
      onClose: (reason, message) => (FINAL.has(reason) ? this.#end(reason, message) : this.#recover('signal')),
    });
    this.#machine.onTransition((t) => sink.stateChanged(t.to));
  }

  get state(): ConnectionState {
    return this.#machine.state;
  }

  get mediaState(): MediaState | null {
    return this.#transport?.state ?? null;
  }

  /** The current transport (replaced when the media connection is rebuilt), null when there is none. */
  get transport(): Transport | null {
    return this.#transport;
  }

  /** Joins and publishes the sink's local tracks; `prepare` captures them once connecting has begun. */
  async connect(prepare: () => Promise<void>): Promise<void> {
    if (!this.#machine.send('connect').valid) throw new ConnectError('join_failed', 'This room has already been connected.');
    await prepare();
    // Left while the camera and microphone were being started: do not join after all.
    if (this.state !== 'connecting') throw new ConnectError('left', 'You left the room.');
    try {
      await this.#join(false);
    } catch (error) {
      const { reason, message } = error instanceof JoinRefused ? error : { reason: 'join_failed' as const, message: String(error) };
      this.#machine.send('failed');
      this.#teardown();
      throw new ConnectError(reason, message);
    }
  }

  send(message: ClientMessage): void {
    this.#signal.send(message);
  }

  /** Leaves the room for good. */
  leave(): void {
    if (this.state === 'disconnected') return;
    this.#signal.send({ type: 'leave' });
    this.#end('left', 'You left the room.');
  }

  /**
   * Opens a socket and joins. `resume`: ask for the existing session (the transport carries on); when the server
   * no longer has it, or without `resume`, a new transport is built and the local tracks published again.
   */
  async #join(resume: boolean): Promise<void> {
    const joined = await this.#signal.join(this.#token, resume ? this.#sessionId : null);
    this.#sessionId = joined.sessionId;
    this.#iceServers = joined.iceServers;
    this.#graceMs = joined.reconnectGraceMs;
    this.#handlers.onJoined(joined);
    if (!joined.resumed) {
      const transport = this.#newTransport();
      for (const [source, track] of this.#sink.localTracks) transport.addSender(source, track);
      await transport.negotiate();
    }
    this.#machine.send('joined');
  }

  #newTransport(): Transport {
    this.#transport?.close();
    const transport: Transport = new Transport([...this.#iceServers, ...(this.#options.iceServers ?? [])], {
      send: (message) => this.#signal.send(message),
      onTracks: () => this.#transport === transport && this.#handlers.onTracks(),
      onFailed: () => this.#transport === transport && this.#recover('media'),
      encodings: (source) => this.#encodings(source),
    });
    this.#transport = transport;
    return transport;
  }

  /**
   * How a source is sent in a room with a media policy (1:1 rooms: one plain encoding each, as ever): the camera in
   * three layers when the policy says simulcast (the SFU forwards each subscriber the one it needs), the microphone
   * capped at the room's Opus bitrate. Read when a sender is made: a policy changed later applies from the next
   * media connection.
   */
  #encodings(source: TrackSource): RTCRtpEncodingParameters[] | undefined {
    const media = this.#sink.publishing;
    if (!media) return undefined;
    if (source === 'microphone') return [{ maxBitrate: media.audioBitrateBps }];
    if (source === 'camera' && (this.#sink.mediaPolicy?.simulcast ?? media.simulcast)) return SIMULCAST_LAYERS.map((layer) => ({ ...layer }));
    return undefined;
  }

  /** Sends `track` for `source` (see Transport.publish); nothing while there is no transport (the join publishes). */
  async publish(source: TrackSource, track: MediaStreamTrack | null): Promise<void> {
    await this.#transport?.publish(source, track);
  }

  async unpublish(source: TrackSource): Promise<void> {
    await this.#transport?.unpublish(source);
  }

  #onMessage(message: ServerMessage): void {
    switch (message.type) {
      case 'answer':
        this.#transport?.receiveAnswer(message.sdp);
        return;
      case 'offer': {
        this.#handlers.onOfferRoutes(message.routes);
        const transport = this.#transport;
        if (transport) void transport.receiveOffer(message.sdp).catch(() => this.#recover('media'));
        return;
      }
      case 'candidate':
        if (message.candidate) this.#transport?.addCandidate(message.candidate);
        return;
      case 'error':
        if (message.ref === 'offer') this.#transport?.offerRefused(message.code === 'glare', message.message);
        return;
      case 'bye':
        if (FINAL.has(message.reason)) this.#end(message.reason, message.message);
        else this.#recover('signal');
        return;
      case 'pong':
        return;
      default:
        this.#handlers.onMessage(message);
    }
  }

  // ---- recovery ------------------------------------------------------------------------------------------

  #recover(cause: 'signal' | 'media'): void {
    if (this.state === 'disconnected' || this.state === 'idle') return;
    const wasConnected = this.state === 'connected';
    this.#machine.send(cause === 'signal' ? 'signalLost' : 'mediaFailed');
    if (this.state !== 'reconnecting') return;
    if (wasConnected) this.#sink.reconnecting(cause);
    if (cause === 'media') this.#sessionId = null; // a new transport: the server replaces the old one
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
        this.#sink.reconnected();
        return;
      } catch (error) {
        if (error instanceof JoinRefused) {
          if (error.reason === 'token_expired' && this.#options.getToken) {
            try {
              this.#token = tokenOf(await this.#options.getToken());
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
    this.#sink.disconnected(reason, message);
  }

  #teardown(): void {
    this.#signal.close();
    this.#transport?.close();
    this.#transport = null;
  }
}
