/**
 * The builtin provider's adapter: the room as OpenVisit's own SFU describes it over `/rtc`. It turns the server's
 * participant, route, data and notice messages into RoomSink calls, and matches the transport's receiving m-lines
 * to participants through the server's routes. The connection itself is the engine's (engine.ts).
 */
import type { RtcParticipantInfo, RtcRoute, ServerMessage } from '../../shared/rtc.js';
import type { AdapterFactory, MediaAdapter, ParticipantInfo, RoomSink } from '../adapter.js';
import type { ConnectionState } from '../state.js';
import type { ConnectOptions, MediaState, TokenResponse, TrackKind, TrackSource } from '../types.js';
import { Engine } from './engine.js';
import type { JoinedMessage } from './signal.js';

export const createBuiltinAdapter: AdapterFactory = (token, options, sink) => new BuiltinRoom(token, options, sink);

class BuiltinRoom implements MediaAdapter {
  readonly #sink: RoomSink;
  readonly #engine: Engine;
  /** What each receiving m-line carries, by mid (slots are reused: a mid may carry someone else later). */
  readonly #routes = new Map<string, RtcRoute>();
  /** The subscription last sent on this session (the same list is not sent twice). */
  #sentViews = '';

  constructor(token: TokenResponse, options: ConnectOptions, sink: RoomSink) {
    this.#sink = sink;
    this.#engine = new Engine(signalingUrl(token.url, options.apiOrigin), token.token, options, sink, {
      onJoined: (joined) => this.#onJoined(joined),
      onOfferRoutes: (routes) => {
        for (const route of routes) this.#routes.set(route.mid, route);
      },
      onTracks: () => this.#applyRoutes(),
      onMessage: (message) => this.#onMessage(message),
    });
  }

  get state(): ConnectionState {
    return this.#engine.state;
  }
  get reconnects(): number {
    return this.#engine.reconnects;
  }
  get mediaState(): MediaState | null {
    return this.#engine.mediaState;
  }

  connect(prepare: () => Promise<void>): Promise<void> {
    return this.#engine.connect(prepare);
  }
  publish(source: TrackSource, track: MediaStreamTrack | null): Promise<void> {
    return this.#engine.publish(source, track);
  }
  unpublish(source: TrackSource): Promise<void> {
    return this.#engine.unpublish(source);
  }
  setMuted(source: TrackSource, muted: boolean): void {
    this.#engine.send({ type: 'mute', source, muted });
  }
  sendData(payload: string, to?: string[]): void {
    this.#engine.send({ type: 'data', payload, ...(to ? { to } : {}) });
  }
  async getStats(): Promise<RTCStatsReport | null> {
    return (await this.#engine.transport?.getStats()) ?? null;
  }
  /** Adaptive stream: the whole list in one `subscription` (the SFU picks each video's layer, or none, from it). */
  videoViewsChanged(): void {
    const views = this.#sink.videoViews;
    if (!views) return;
    const tracks = views.map((v) => ({ identity: v.identity, source: v.source, visible: v.visible, width: v.width, height: v.height, pinned: v.pinned }));
    const text = JSON.stringify(tracks);
    if (text === this.#sentViews) return;
    this.#sentViews = text;
    this.#engine.send({ type: 'subscription', tracks });
  }
  /**
   * Nothing to do on a live connection: the server applies its own policy (spotlight, mode, last-N) to what it
   * forwards, and the camera's layers were fixed when its sender was made (engine.ts: the next connection uses the new one).
   */
  mediaPolicyChanged(): void {}
  async disconnect(): Promise<void> {
    this.#engine.leave();
  }

  #onJoined(joined: JoinedMessage): void {
    this.#sink.joined({
      identity: joined.identity,
      roomName: joined.room.name,
      roomSid: joined.room.id,
      grants: joined.grants,
      participants: joined.participants.map(participantInfo),
    });
    // Every join (first, resume, rejoin) tells the server what we show: a new session starts without it.
    this.#sentViews = '';
    this.videoViewsChanged();
    if (joined.resumed) {
      for (const route of joined.routes) this.#routes.set(route.mid, route);
      this.#applyRoutes();
    } else {
      // A new transport: its m-lines are announced afresh with the server's next offer.
      this.#routes.clear();
    }
  }

  #onMessage(message: ServerMessage): void {
    switch (message.type) {
      case 'routes':
        for (const route of message.routes) this.#routes.set(route.mid, route);
        this.#applyRoutes();
        return;
      case 'participantJoined':
        this.#sink.participantJoined(participantInfo(message.participant));
        this.#applyRoutes();
        return;
      case 'participantUpdated':
        this.#sink.participantUpdated(participantInfo(message.participant));
        return;
      case 'participantLeft':
        this.#sink.participantLeft(message.identity, message.reason);
        return;
      case 'networkQuality':
        this.#sink.networkQuality(message.identity, message.level);
        return;
      case 'dominantSpeaker':
        this.#sink.dominantSpeaker(message.identity);
        return;
      case 'streamStates':
        for (const s of message.states) this.#sink.streamState(s.identity, s.source, { state: s.state, layer: s.layer, reason: s.reason });
        return;
      case 'data':
        this.#sink.data(message.payload, message.from);
        return;
      case 'notice':
        this.#sink.notice({ code: message.code, message: message.message });
        return;
      default:
        return;
    }
  }

  /** Matches receiving m-lines to publishers through the server's routes (by mid: slots are reused). */
  #applyRoutes(): void {
    const transport = this.#engine.transport;
    if (!transport) return;
    const wanted = new Map<string, { identity: string; source: TrackSource; track: MediaStreamTrack; mid: string }>();
    for (const route of this.#routes.values()) {
      if (!route.identity || !route.source) continue;
      const track = transport.receiverTrack(route.mid);
      if (!this.#sink.participants.has(route.identity) || !track || track.kind !== route.kind) continue;
      wanted.set(`${route.identity}\u0000${route.source}`, { identity: route.identity, source: route.source, track, mid: route.mid });
    }
    for (const remote of this.#sink.participants.values()) {
      for (const track of [...remote.tracks.values()]) {
        const key = `${remote.identity}\u0000${track.source}`;
        if (wanted.get(key)?.track === track.mediaStreamTrack) {
          wanted.delete(key);
          continue;
        }
        this.#sink.trackUnsubscribed(remote.identity, track.source);
      }
    }
    for (const { identity, source, track, mid } of wanted.values()) {
      this.#sink.trackSubscribed(identity, { sid: mid, kind: track.kind as TrackKind, source, mediaStreamTrack: track });
    }
  }
}

function participantInfo(info: RtcParticipantInfo): ParticipantInfo {
  return { identity: info.identity, joinedAt: new Date(info.joinedAt), published: info.tracks, networkQuality: info.networkQuality };
}

/**
 * Where the signaling socket is: the token's URL, or, given the origin the page reaches the server on, that
 * origin with the token URL's path (the token names PUBLIC_URL, which may be another name for the same server).
 */
function signalingUrl(tokenUrl: string, apiOrigin: string | undefined): string {
  if (!apiOrigin) return tokenUrl;
  const url = new URL(new URL(tokenUrl).pathname, apiOrigin);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}
