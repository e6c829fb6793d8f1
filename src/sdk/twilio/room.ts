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
 * In a group room (a token answer with `media`) the adapter connects with seed 002's group settings (options.ts
 * groupSettings: the bandwidth profile in the room's mode, VP8 simulcast, the Opus cap, network quality of the others
 * too) and plays adaptive stream with twilio-video's manual controls: of the remote videos the page shows
 * (sink.videoViews), each is switched on with its render dimensions (Twilio's SFU picks the layer), the rest switched
 * off; of the visible cameras at most last-N are on (spotlight, pins, then the latest speakers), pinned and spotlit
 * ones at priority `high`. Each track's switchedOff / switchedOn is its stream state.
 *
 * Twilio reconnects by itself (signaling or media, `reconnecting` then `reconnected`) but with the token it joined
 * with: once that has expired, it gives up with 20104. The adapter then asks `getToken()` for a fresh one and joins
 * again as the same identity, publishing the same tracks, while the Room stays `reconnecting`.
 */
import type * as Video from 'twilio-video';
import { tokenOf, type MediaAdapter, type ParticipantInfo, type RoomSink } from '../adapter.js';
import { ConnectError } from '../errors.js';
import { ConnectionMachine, type ConnectionState } from '../state.js';
import type { ConnectOptions, DisconnectReason, MediaState, PublishedTrack, StreamState, TokenMedia, TokenResponse, TrackKind, TrackSource } from '../types.js';
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

/** One remote video reaching us, and what the adapter last asked of it (adaptive stream). */
interface VideoControl {
  identity: string;
  source: 'camera' | 'screen';
  track: Video.RemoteVideoTrack;
  /** null: nothing asked yet. */
  on: boolean | null;
  offReason: StreamState['reason'];
  width: number;
  height: number;
  priority: 'high' | null;
  /** Removes its switchedOff / switchedOn listeners. */
  unlisten(): void;
}

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
  /** A group room's settings (the token answer's `media`), null in a 1:1 room. */
  readonly #media: TokenMedia | null;
  /** Whether the connect settings let the adapter switch tracks (clientTrackSwitchOffControl) and size them (contentPreferencesMode). */
  #manualSwitch = false;
  #manualContent = false;
  /** Remote videos reaching us, by identity and source. */
  readonly #videos = new Map<string, VideoControl>();

  constructor(load: TwilioVideoLoader, token: TokenResponse, options: ConnectOptions, sink: RoomSink) {
    this.#load = load;
    this.#token = token.token;
    this.#media = token.media ?? null;
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
    const settings = twilioSettings(this.#options.twilio, this.#media);
    this.#manualSwitch = settings.bandwidthProfile?.video?.clientTrackSwitchOffControl === 'manual';
    this.#manualContent = settings.bandwidthProfile?.video?.contentPreferencesMode === 'manual';
    const pending = video.connect(this.#token, {
      ...settings,
      tracks,
      // The server subscribes each participant (its rules follow routing: group, host mutes, the waiting room).
      automaticSubscription: false,
      // A group's tiles show the others' network quality too (seed 002: remote verbosity 2).
      networkQuality: this.#media ? { local: 1, remote: 2 } : { local: 1, remote: 1 },
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
    if (track.kind === 'video' && source !== 'microphone') this.#watchVideo(participant.identity, source, track);
  }

  // ---- adaptive stream --------------------------------------------------------------------------------------------

  /** A remote video reached us: its switch-offs are its stream state, and the page's views apply to it at once. */
  #watchVideo(identity: string, source: 'camera' | 'screen', track: Video.RemoteVideoTrack): void {
    const key = `${identity}\u0000${source}`;
    this.#videos.get(key)?.unlisten();
    const control: VideoControl = { identity, source, track, on: null, offReason: null, width: 0, height: 0, priority: null, unlisten: () => {} };
    // Switched off by our own choice: its reason is ours (hidden, last-N); otherwise Twilio's (its bandwidth profile).
    const paused = (): StreamState => ({ state: 'paused', layer: null, reason: control.on === false ? control.offReason : 'bandwidth' });
    const onOff = () => this.#sink.streamState(identity, source, paused());
    const onOn = () => this.#sink.streamState(identity, source, { state: 'active', layer: null, reason: null });
    emitter(track).on('switchedOff', onOff);
    emitter(track).on('switchedOn', onOn);
    control.unlisten = () => {
      emitter(track).removeListener('switchedOff', onOff);
      emitter(track).removeListener('switchedOn', onOn);
    };
    this.#videos.set(key, control);
    this.#sink.streamState(identity, source, track.isSwitchedOff ? paused() : { state: 'active', layer: null, reason: null });
    this.#applyViews();
  }

  #unwatchVideo(identity: string, source: TrackSource): void {
    const key = `${identity}\u0000${source}`;
    this.#videos.get(key)?.unlisten();
    this.#videos.delete(key);
  }

  videoViewsChanged(): void {
    this.#applyViews();
  }

  /** Spotlight and last-N change which videos are on; the mode is the connect's (Twilio fixes it for the connection). */
  mediaPolicyChanged(): void {
    this.#applyViews();
  }

  /**
   * The page's views (sink.videoViews) onto the videos reaching us: a visible one switched on at its size, the rest
   * off, at most last-N cameras on. Nothing while there are no views (a 1:1 room: every video stays on, as before)
   * or when the application's own settings took the controls from us (twilio-video throws on them then).
   */
  #applyViews(): void {
    const views = this.#sink.videoViews;
    if (!views || !this.#manualSwitch) return;
    const policy = this.#sink.mediaPolicy;
    const byKey = new Map(views.map((v) => [`${v.identity}\u0000${v.source}`, v]));
    const speakers = this.#sink.activeSpeakers;
    const rank = (identity: string, pinned: boolean) => {
      if (identity === policy?.spotlight) return -2;
      if (pinned) return -1;
      const spoke = speakers.indexOf(identity);
      return spoke === -1 ? speakers.length : spoke;
    };
    // Visible cameras in last-N order (the sort is stable: unranked ones keep the page's order); screens always count.
    const cameras = views.filter((v) => v.visible && v.source === 'camera').sort((a, b) => rank(a.identity, a.pinned) - rank(b.identity, b.pinned));
    const chosen = new Set(cameras.slice(0, policy?.lastN ?? cameras.length).map((v) => v.identity));
    for (const [key, control] of this.#videos) {
      const view = byKey.get(key);
      const visible = view?.visible ?? false;
      const on = visible && (control.source === 'screen' || chosen.has(control.identity));
      const { track } = control;
      if (!on) {
        control.offReason = visible ? 'last_n' : 'hidden';
        if (control.on !== false) {
          control.on = false;
          track.switchOff();
        }
        continue;
      }
      if (control.on !== true) {
        control.on = true;
        track.switchOn();
      }
      if (this.#manualContent && (control.width !== view!.width || control.height !== view!.height)) {
        control.width = view!.width;
        control.height = view!.height;
        track.setContentPreferences({ renderDimensions: { width: view!.width, height: view!.height } });
      }
      const priority = view!.pinned || control.identity === policy?.spotlight ? 'high' : null;
      if (control.priority !== priority) {
        control.priority = priority;
        track.setPriority(priority);
      }
    }
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
        for (const source of ['camera', 'screen'] as const) this.#unwatchVideo(participant.identity, source);
        this.#seen.delete(participant.identity);
        sink.participantLeft(participant.identity, 'left');
      },
      trackSubscribed: (track: Video.RemoteTrack, publication: Video.RemoteTrackPublication, participant: Video.RemoteParticipant) => this.#subscribed(track, publication, participant),
      trackUnsubscribed: (track: Video.RemoteTrack, publication: Video.RemoteTrackPublication, participant: Video.RemoteParticipant) => {
        const source = sourceOf(publication.trackName, track.kind);
        if (!source) return;
        if (track.kind === 'video') this.#unwatchVideo(participant.identity, source);
        sink.trackUnsubscribed(participant.identity, source);
      },
      trackPublished: updated,
      trackUnpublished: updated,
      trackEnabled: updated,
      trackDisabled: updated,
      trackMessage: (data: string | ArrayBuffer, _track: Video.RemoteDataTrack, participant: Video.RemoteParticipant) => {
        if (typeof data === 'string') sink.data(data, participant.identity);
      },
      dominantSpeakerChanged: (participant: Video.RemoteParticipant | null) => {
        sink.dominantSpeaker(participant?.identity ?? null);
        // Last-N follows the speaker: a new speaker's camera may come on in place of another.
        if (participant) this.#applyViews();
      },
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
    for (const control of this.#videos.values()) control.unlisten();
    this.#videos.clear();
    this.#room = null;
    this.#published.clear();
    this.#data = null;
  }
}
