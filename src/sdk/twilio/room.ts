/**
 * The Twilio Video adapter: a room on a clinic's Twilio account, joined with twilio-video's `connect(token)`, behind
 * the neutral Room. This file and twilio-video (about 1 MB) are loaded only when a token answer says
 * `provider: 'twilio'` (index.ts): each is a chunk of its own in the SDK bundle and in the web app, so neither grows
 * for builtin rooms.
 *
 * What reaches us is the server's to decide: the adapter subscribes to nothing by itself (`automaticSubscription:
 * false`) and the server sets each participant's subscribe rules (Twilio's Track Subscription API), so a client never
 * sees more than routing allows, even before the rules land. Tracks are published under the name of their source
 * ('microphone', 'camera', 'screen'): that is how the others (and the server's rules) tell a screen from a camera.
 *
 * Twilio reconnects by itself (signaling or media, `reconnecting` then `reconnected`) but with the token it joined
 * with: once that has expired, it gives up with 20104. The adapter then asks `getToken()` for a fresh one and joins
 * again as the same identity, publishing the same tracks, while the Room stays `reconnecting`.
 */
import type * as Video from 'twilio-video';
import { tokenOf, type MediaAdapter, type ParticipantInfo, type RoomSink } from '../adapter.js';
import { ConnectError } from '../errors.js';
import { ConnectionMachine, type ConnectionState } from '../state.js';
import type { ConnectOptions, DisconnectReason, MediaState, PublishedTrack, TokenResponse, TrackKind, TrackSource } from '../types.js';
import { TWILIO_CODES, disconnectReason, joinFailure } from './codes.js';
import { twilioSettings } from './options.js';

/** What the adapter uses of twilio-video (a stand-in with the same shape serves the tests). */
export type TwilioVideoModule = Pick<typeof Video, 'connect' | 'LocalAudioTrack' | 'LocalVideoTrack' | 'LocalDataTrack'>;
export type TwilioVideoLoader = () => Promise<TwilioVideoModule>;

/** Loads twilio-video on first use (a separate chunk: see the file's comment). */
export const loadTwilioVideo: TwilioVideoLoader = async () => {
  const module = (await import('twilio-video')) as TwilioVideoModule & { default?: TwilioVideoModule };
  // twilio-video is CommonJS: bundlers hand its exports over as the namespace's properties, or only as `default`.
  return typeof module.connect === 'function' ? module : module.default!;
};

/** The data track's name (chat between participants, when an application sends any: OpenVisit's own goes through the server). */
const DATA_TRACK = 'data';

type LocalMediaTrack = Video.LocalAudioTrack | Video.LocalVideoTrack;

const KIND_OF: Readonly<Record<TrackSource, TrackKind>> = { microphone: 'audio', camera: 'video', screen: 'video' };

/** The source a track name says, when it is one of ours and of the right kind. */
function sourceOf(name: string, kind: string): TrackSource | null {
  return Object.hasOwn(KIND_OF, name) && KIND_OF[name as TrackSource] === kind ? (name as TrackSource) : null;
}

/**
 * twilio-video's objects are Node-style event emitters (the `events` package, whose types the SDK's DOM-only build
 * does not load): listeners are added and removed through this shape.
 */
interface Emitter {
  on(event: string, listener: (...args: never[]) => void): unknown;
  removeListener(event: string, listener: (...args: never[]) => void): unknown;
}
const emitter = (target: object) => target as unknown as Emitter;

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class TwilioRoom implements MediaAdapter {
  /** How many times the connection recovered (Twilio's own reconnects and joins with a fresh token). */
  reconnects = 0;
  readonly #machine = new ConnectionMachine();
  readonly #load: TwilioVideoLoader;
  readonly #options: ConnectOptions;
  readonly #sink: RoomSink;
  #token: string;
  #video: TwilioVideoModule | null = null;
  #room: Video.Room | null = null;
  /** A connect under way (cancelled by a leave). */
  #pending: ReturnType<TwilioVideoModule['connect']> | null = null;
  /** Our publications on the current room, by source. */
  readonly #published = new Map<TrackSource, LocalMediaTrack>();
  #data: Video.LocalDataTrack | null = null;
  /** Twilio does not say when a participant joined: when we first saw them. */
  readonly #seen = new Map<string, Date>();
  /** Removes the listeners on the current room and its participants. */
  #unlisten: (() => void)[] = [];

  constructor(load: TwilioVideoLoader, token: TokenResponse, options: ConnectOptions, sink: RoomSink) {
    this.#load = load;
    this.#token = token.token;
    this.#options = options;
    this.#sink = sink;
    this.#machine.onTransition((t) => sink.stateChanged(t.to));
  }

  get state(): ConnectionState {
    return this.#machine.state;
  }

  /** twilio-video does not expose its peer connections: the media state is its room's (connected, or not now). */
  get mediaState(): MediaState | null {
    const room = this.#room;
    if (!room) return null;
    if (room.state === 'connected') return 'connected';
    return room.state === 'reconnecting' ? 'disconnected' : 'closed';
  }

  async connect(prepare: () => Promise<void>): Promise<void> {
    if (this.#left()) throw new ConnectError('left', 'You left the room.');
    if (!this.#machine.send('connect').valid) throw new ConnectError('join_failed', 'This room has already been connected.');
    // Loading twilio-video and capturing run side by side; what the capture throws is the caller's to see as it is.
    const loading = this.#load().then(
      (video) => ({ video }),
      (error: unknown) => ({ error }),
    );
    try {
      await prepare();
    } catch (error) {
      this.#machine.send('failed');
      throw error;
    }
    const loaded = await loading;
    if (this.state !== 'connecting') throw new ConnectError('left', 'You left the room.');
    if ('error' in loaded) {
      this.#machine.send('failed');
      throw new ConnectError('join_failed', `Twilio Video could not be loaded: ${messageOf(loaded.error)}`);
    }
    this.#video = loaded.video;
    try {
      await this.#join();
    } catch (error) {
      if (this.#left()) throw new ConnectError('left', 'You left the room.');
      this.#machine.send('failed');
      this.#close();
      throw new ConnectError(joinFailure(error), messageOf(error));
    }
    this.#machine.send('joined');
  }

  async publish(source: TrackSource, track: MediaStreamTrack | null): Promise<void> {
    const room = this.#room;
    // Before the join (or between two), the join publishes the local tracks as they are then.
    if (!room || !this.#video) return;
    const current = this.#published.get(source);
    if (current?.mediaStreamTrack === track) return;
    if (current) {
      // Twilio cannot send nothing on a publication: a camera turned off is unpublished (the others see it go), and
      // published again when it comes back. The MediaStreamTrack is the Room's: it is not stopped here.
      room.localParticipant.unpublishTrack(current);
      this.#published.delete(source);
    }
    if (!track) return;
    const local = this.#local(this.#video, source, track);
    this.#published.set(source, local);
    await room.localParticipant.publishTrack(local, { priority: source === 'screen' ? 'high' : 'standard' });
  }

  unpublish(source: TrackSource): Promise<void> {
    return this.publish(source, null);
  }

  /** Twilio's track enable/disable: the others hear trackDisabled / trackEnabled (muted in their participant list). */
  setMuted(source: TrackSource, muted: boolean): void {
    const track = this.#published.get(source);
    if (track) track.enable(!muted);
  }

  /**
   * Sends on our data track to everyone the server's rules let subscribe to it. Twilio cannot address a data track
   * to chosen participants: a message for some (`to`) is refused rather than sent to all (the server's participant
   * channel carries private messages).
   */
  sendData(payload: string, to?: string[]): void {
    if (to) throw new Error('On Twilio rooms, data cannot be sent to chosen participants (it would reach everyone subscribed).');
    this.#data?.send(payload);
  }

  /**
   * twilio-video's own statistics (Room.getStats: per-track summaries by peer connection) are not an RTCStatsReport
   * and its peer connections are not exposed, so there is nothing faithful to return: null.
   */
  async getStats(): Promise<RTCStatsReport | null> {
    return null;
  }

  async disconnect(): Promise<void> {
    if (this.state === 'disconnected') return;
    this.#pending?.cancel();
    this.#close();
    this.#machine.send('leave');
    this.#sink.disconnected('left', 'You left the room.');
  }

  // ---- joining ----------------------------------------------------------------------------------------------------

  /** Connects with the current token, publishing the Room's local tracks, and reports who is there. */
  async #join(): Promise<void> {
    const video = this.#video!;
    this.#published.clear();
    const tracks: Video.LocalTrack[] = [];
    for (const [source, track] of this.#sink.localTracks) {
      const local = this.#local(video, source, track);
      this.#published.set(source, local);
      tracks.push(local);
    }
    this.#data = new video.LocalDataTrack({ name: DATA_TRACK });
    tracks.push(this.#data);
    const pending = video.connect(this.#token, {
      ...twilioSettings(this.#options.twilio),
      tracks,
      // The server subscribes each participant (its rules follow routing: group, host mutes, the waiting room).
      automaticSubscription: false,
      networkQuality: { local: 1, remote: 1 },
      dominantSpeaker: true,
    });
    this.#pending = pending;
    let room: Video.Room;
    try {
      room = await pending;
    } finally {
      this.#pending = null;
    }
    if (this.#left()) {
      room.disconnect();
      throw new ConnectError('left', 'You left the room.');
    }
    this.#room = room;
    this.#listen(room);
    this.#sink.joined({
      identity: room.localParticipant.identity,
      roomName: room.name,
      roomSid: room.sid,
      // A Twilio token grants the room only; what this participant may send and receive is the server's rules'.
      grants: { publish: true, subscribe: true, data: true, admin: false },
      participants: [...room.participants.values()].map((p) => this.#info(p)),
    });
    // Tracks that reached us as the connect completed are reported like later ones.
    for (const participant of room.participants.values()) {
      for (const publication of participant.tracks.values()) if (publication.track) this.#subscribed(publication.track, publication, participant);
    }
    // Changes made while connecting (a camera turned off, a screen shared) are applied now.
    for (const source of this.#published.keys()) if (!this.#sink.localTracks.has(source)) await this.publish(source, null);
    for (const [source, track] of this.#sink.localTracks) await this.publish(source, track);
  }

  /** A twilio-video local track over one of the Room's MediaStreamTracks, named by its source. */
  #local(video: TwilioVideoModule, source: TrackSource, track: MediaStreamTrack): LocalMediaTrack {
    return source === 'microphone' ? new video.LocalAudioTrack(track, { name: source }) : new video.LocalVideoTrack(track, { name: source });
  }

  #info(participant: Video.RemoteParticipant): ParticipantInfo {
    let joinedAt = this.#seen.get(participant.identity);
    if (!joinedAt) {
      joinedAt = new Date();
      this.#seen.set(participant.identity, joinedAt);
    }
    const published: PublishedTrack[] = [];
    for (const publication of participant.tracks.values()) {
      const source = sourceOf(publication.trackName, publication.kind);
      // hostMuted: a host mute is a subscribe rule of the server's, which no client sees; the track just stops arriving.
      if (source) published.push({ kind: KIND_OF[source], source, muted: !publication.isTrackEnabled, hostMuted: false });
    }
    return { identity: participant.identity, joinedAt, published, networkQuality: participant.networkQualityLevel };
  }

  #subscribed(track: Video.RemoteTrack, publication: Video.RemoteTrackPublication, participant: Video.RemoteParticipant): void {
    if (track.kind === 'data') return;
    const source = sourceOf(publication.trackName, track.kind);
    if (!source) return;
    this.#sink.trackSubscribed(participant.identity, { sid: publication.trackSid, kind: track.kind, source, mediaStreamTrack: track.mediaStreamTrack });
  }

  // ---- events -----------------------------------------------------------------------------------------------------

  #listen(room: Video.Room): void {
    const sink = this.#sink;
    const watched = new Map<Video.RemoteParticipant, (level: number) => void>();
    const watch = (participant: Video.RemoteParticipant) => {
      const onQuality = (level: number) => sink.networkQuality(participant.identity, level);
      emitter(participant).on('networkQualityLevelChanged', onQuality);
      watched.set(participant, onQuality);
    };
    const unwatch = (participant: Video.RemoteParticipant) => {
      const onQuality = watched.get(participant);
      if (onQuality) emitter(participant).removeListener('networkQualityLevelChanged', onQuality);
      watched.delete(participant);
    };
    for (const participant of room.participants.values()) watch(participant);

    const local = room.localParticipant;
    const onLocalQuality = (level: number) => sink.networkQuality(local.identity, level);
    const updated = (_publication: Video.RemoteTrackPublication, participant: Video.RemoteParticipant) => sink.participantUpdated(this.#info(participant));
    const handlers = {
      participantConnected: (participant: Video.RemoteParticipant) => {
        watch(participant);
        sink.participantJoined(this.#info(participant));
      },
      participantDisconnected: (participant: Video.RemoteParticipant) => {
        unwatch(participant);
        this.#seen.delete(participant.identity);
        sink.participantLeft(participant.identity, 'left');
      },
      trackSubscribed: (track: Video.RemoteTrack, publication: Video.RemoteTrackPublication, participant: Video.RemoteParticipant) => this.#subscribed(track, publication, participant),
      trackUnsubscribed: (track: Video.RemoteTrack, publication: Video.RemoteTrackPublication, participant: Video.RemoteParticipant) => {
        const source = sourceOf(publication.trackName, track.kind);
        if (source) sink.trackUnsubscribed(participant.identity, source);
      },
      trackPublished: updated,
      trackUnpublished: updated,
      trackEnabled: updated,
      trackDisabled: updated,
      trackMessage: (data: string | ArrayBuffer, _track: Video.RemoteDataTrack, participant: Video.RemoteParticipant) => {
        if (typeof data === 'string') sink.data(data, participant.identity);
      },
      dominantSpeakerChanged: (participant: Video.RemoteParticipant | null) => sink.dominantSpeaker(participant?.identity ?? null),
      reconnecting: (error: Video.TwilioError) => this.#onReconnecting(error),
      reconnected: () => this.#onReconnected(),
      disconnected: (from: Video.Room, error: Video.TwilioError | undefined) => this.#onDisconnected(from, error),
    };
    for (const [event, handler] of Object.entries(handlers)) emitter(room).on(event, handler);
    emitter(local).on('networkQualityLevelChanged', onLocalQuality);
    this.#unlisten.push(() => {
      for (const [event, handler] of Object.entries(handlers)) emitter(room).removeListener(event, handler);
      emitter(local).removeListener('networkQualityLevelChanged', onLocalQuality);
      for (const participant of [...watched.keys()]) unwatch(participant);
    });
  }

  #onReconnecting(error: Video.TwilioError | undefined): void {
    const cause = error?.code === TWILIO_CODES.mediaConnectionFailed ? 'media' : 'signal';
    const wasConnected = this.state === 'connected';
    this.#machine.send(cause === 'media' ? 'mediaFailed' : 'signalLost');
    if (wasConnected) this.#sink.reconnecting(cause);
  }

  #onReconnected(): void {
    if (this.state !== 'reconnecting') return;
    this.reconnects++;
    this.#machine.send('joined');
    this.#sink.reconnected();
  }

  #onDisconnected(room: Video.Room, error: Video.TwilioError | undefined): void {
    if (room !== this.#room) return;
    this.#drop();
    if (this.state === 'disconnected') return;
    if (error?.code === TWILIO_CODES.accessTokenExpired && this.#options.getToken) {
      void this.#rejoin(this.#options.getToken);
      return;
    }
    this.#end(disconnectReason(error), error?.message ?? 'The server disconnected you from the room.');
  }

  /** The token expired (twilio-video cannot renew it on a live connection): join again with a fresh one, same identity. */
  async #rejoin(getToken: () => Promise<string | TokenResponse>): Promise<void> {
    const wasConnected = this.state === 'connected';
    this.#machine.send('signalLost');
    if (wasConnected) this.#sink.reconnecting('signal');
    // What reached us on the old connection is gone: the new one's subscriptions are reported afresh.
    for (const remote of this.#sink.participants.values()) for (const source of [...remote.tracks.keys()]) this.#sink.trackUnsubscribed(remote.identity, source);
    try {
      this.#token = tokenOf(await getToken());
    } catch (error) {
      if (this.state === 'reconnecting') this.#end('token_expired', `The access token expired and a new one could not be had: ${messageOf(error)}`);
      return;
    }
    if (this.state !== 'reconnecting') return;
    try {
      await this.#join();
    } catch (error) {
      if (this.state !== 'reconnecting') return;
      const reason = joinFailure(error);
      this.#end(reason === 'join_failed' ? 'connection_lost' : reason, messageOf(error));
      return;
    }
    this.reconnects++;
    this.#machine.send('joined');
    this.#sink.reconnected();
  }

  /** Whether the room was left (or ended) meanwhile: read after an await, where a leave may have happened. */
  #left(): boolean {
    return this.#machine.state === 'disconnected';
  }

  #end(reason: DisconnectReason, message: string): void {
    if (this.state === 'disconnected') return;
    this.#machine.send('ended');
    this.#close();
    this.#sink.disconnected(reason, message);
  }

  /** Leaves the current room, if any (a join that failed after connecting, a leave, an end), and forgets it. */
  #close(): void {
    const room = this.#room;
    this.#drop();
    room?.disconnect();
  }

  /** Forgets the current room (its listeners, our publications on it); the Room's MediaStreamTracks stay its own. */
  #drop(): void {
    for (const off of this.#unlisten.splice(0)) off();
    this.#room = null;
    this.#published.clear();
    this.#data = null;
  }
}
