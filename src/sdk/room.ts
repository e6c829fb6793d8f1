/**
 * The provider-neutral Room the application holds: participants, local media, events. It picks its adapter from
 * the token answer's `provider` (adapters.ts) and hears the adapter through a RoomSink; the adapter owns the
 * connection (the builtin one: builtin/engine.ts over a signal client and a transport). Data and notices are
 * emitted here too, so a channel of the server's own (not the media provider's) can feed the same events.
 *
 * A participant the server holds out of the media (token answer `held: true`: a waiting room on a provider that
 * cannot keep a newcomer apart from its first moment in the room) gets a Room that is `connected` and `held`, with
 * its local tracks captured (the preview works) and only the participant channel: no adapter. When the server says
 * `join` on the channel (or the channel comes back after a drop, in case that was missed), the Room asks
 * `options.getToken()` for a token answer; one that is no longer held makes the adapter, which joins and publishes.
 *
 *   const room = new Room({ audio: true });
 *   room.on('trackSubscribed', (track) => document.body.append(track.attach()));
 *   await room.connect(tokenResponse);
 *
 * Group rooms (a token answer with `media`: group visits) add a media policy (`mediaPolicy`, from the answer and then
 * the channel's `media`), which the adapter publishes by (simulcast layers, the camera's size, the audio bitrate);
 * adaptive stream (adaptive.ts: what the attached elements show goes to the adapter, which asks the provider for
 * just that), pins, each remote video's stream state, the speakers' order, and the hosts' notices as events.
 */
import { CHANNEL_CLOSE } from '../shared/channel.js';
import type { JoinedInfo, MediaAdapter, ParticipantInfo, RoomSink, SubscribedTrack, VideoView } from './adapter.js';
import { adapterFor } from './adapters.js';
import { AdaptiveStream } from './adaptive.js';
import { RoomChannel } from './channel.js';
import { Emitter } from './emitter.js';
import { ConnectError } from './errors.js';
import { LocalParticipant, Remote, RemoteTrackImpl, captureInitialTracks, type LocalHost } from './participants.js';
import type { ConnectionState } from './state.js';
import type { ConnectOptions, DisconnectReason, Grants, MediaPolicy, MediaState, RemoteParticipant, RoomEvents, StreamState, TokenMedia, TokenResponse, TrackSource } from './types.js';

export class Room extends Emitter<RoomEvents> {
  readonly localParticipant: LocalParticipant;
  readonly #options: ConnectOptions;
  readonly #local: LocalHost;
  readonly #remotes = new Map<string, Remote>();
  #adapter: MediaAdapter | null = null;
  /** The participant channel (the token answer's `channel`): the server's own notices and messages, whatever the provider. */
  #channel: RoomChannel | null = null;
  #name = '';
  #sid = '';
  #grants: Grants = { publish: false, subscribe: false, data: false, admin: false };
  #state: ConnectionState = 'idle';
  /** Held out of the media by the server (see the file's comment). */
  #held = false;
  /** A token request to lift the hold, under way. */
  #asking: Promise<void> | null = null;
  /** The room's deadline, as the server last told it on the channel, and its reason. */
  #deadline: Date | null = null;
  #deadlineReason: string | null = null;
  /** Joins after a hold that failed in a way worth retrying, and the retry's timer. */
  #joinFailures = 0;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  /** The room's media policy (null: none, a 1:1 room) and what to publish by (the token answer's `media`). */
  #policy: MediaPolicy | null = null;
  #publishing: TokenMedia | null = null;
  /** Adaptive stream: the attached elements of remote videos, reported to the adapter in rooms with a policy. */
  readonly #adaptive = new AdaptiveStream(() => this.#adapter?.videoViewsChanged());
  /** Remote identities that spoke, most recent first. */
  #speakers: string[] = [];

  /** A room not yet connected: add listeners, then `connect(tokenResponse)` (or use the `connect()` function). */
  constructor(options: ConnectOptions = {}) {
    super();
    this.#options = options;
    this.#local = {
      identity: '',
      networkQuality: null,
      tracks: new Map(),
      options,
      camera: () => this.#camera(),
      adapter: () => this.#adapter,
      changed: (source, track) => this.emit('localTrackChanged', source, track),
    };
    this.localParticipant = new LocalParticipant(this.#local);
  }

  get state(): ConnectionState {
    return this.#state;
  }
  /**
   * The server holds us out of the media for now (a waiting room on some providers): connected to the server's
   * channel only, nobody seen or heard, local tracks captured. It turns false (event `heldChanged`) once joined.
   */
  get held(): boolean {
    return this.#held;
  }
  /**
   * When the server ends the room (its clock: a check-in call's time limit), null when it has no deadline. Comes on
   * the participant channel; `deadlineChanged` says when it changes.
   */
  get deadline(): Date | null {
    return this.#deadline;
  }
  /** Why the room ends at `deadline` (`time_limit`, `disconnected`…), null when it has none. */
  get deadlineReason(): string | null {
    return this.#deadlineReason;
  }
  /** Remote participants by identity. */
  get participants(): ReadonlyMap<string, RemoteParticipant> {
    return this.#remotes;
  }
  /**
   * How the room shares media out (group visits: simulcast, mode, spotlight, last-N), null in rooms without a policy
   * (1:1). From the token answer, then the participant channel; `mediaPolicyChanged` says when it changes.
   */
  get mediaPolicy(): MediaPolicy | null {
    return this.#policy;
  }
  /** Remote participants who have spoken (the dominant speaker over time), most recent first: a speaker view's order. */
  get activeSpeakers(): RemoteParticipant[] {
    return this.#speakers.map((identity) => this.#remotes.get(identity)).filter((p): p is Remote => p !== undefined);
  }
  /**
   * Pins a remote video (default the camera): in a group room it is kept ahead of last-N's speaker order and
   * received at the size its tiles show (builtin: `pinned` in the subscription; Twilio: the track's priority
   * `high`). Unpinned with `pinned` false. Has an effect only on videos attached to an element (adaptive stream).
   */
  setPinned(identity: string, source: 'camera' | 'screen' = 'camera', pinned = true): void {
    this.#adaptive.setPinned(identity, source, pinned);
  }
  /** Whether `setPinned` pinned that video. */
  isPinned(identity: string, source: 'camera' | 'screen' = 'camera'): boolean {
    return this.#adaptive.isPinned(identity, source);
  }
  get name(): string {
    return this.#name;
  }
  get sid(): string {
    return this.#sid;
  }
  get grants(): Grants {
    return this.#grants;
  }
  /** How many times the connection recovered (signal resumed or media rejoined). */
  get reconnects(): number {
    return this.#adapter?.reconnects ?? 0;
  }
  /** The media connection's state (diagnostics; `connected` once media can flow). */
  get mediaState(): MediaState | null {
    return this.#adapter?.mediaState ?? null;
  }
  /** WebRTC statistics of the media connection (diagnostics), null when there is none. */
  getStats(): Promise<RTCStatsReport | null> {
    return this.#adapter?.getStats() ?? Promise.resolve(null);
  }

  /**
   * Picks the adapter for `token.provider`, captures media (unless given or turned off), joins and publishes.
   * Rejects with ConnectError (`unknown_provider` before anything is captured), or with the capture's own error.
   */
  async connect(token: TokenResponse): Promise<void> {
    if (this.#adapter || this.#state !== 'idle') throw new ConnectError('join_failed', 'This room has already been connected.');
    const factory = adapterFor(token.provider);
    this.#applyMedia(token);
    if (token.held) return this.#connectHeld(token);
    const adapter: MediaAdapter = factory(token, this.#options, this.#sink(() => this.#adapter === adapter));
    this.#adapter = adapter;
    try {
      await this.#openChannel(token);
      await adapter.connect(() => captureInitialTracks(this.#local.tracks, this.#options, this.#camera()));
    } catch (error) {
      this.#channel?.close();
      this.#channel = null;
      if (error instanceof ConnectError) this.#stopLocal();
      throw error;
    }
  }

  /**
   * The participant channel comes up before the media join, so that what the server says as we arrive (the
   * recording notice to arrivals) finds it open; its messages are this room's `dataReceived` (from null) and
   * `notice`. It is this server's own: on `apiOrigin` when given, like the builtin media plane. One that cannot
   * connect does not stop the call: it keeps trying in the background.
   */
  async #openChannel(token: TokenResponse): Promise<void> {
    if (!token.channel) return;
    let url = token.channel.url;
    if (this.#options.apiOrigin) {
      const here = new URL(new URL(url).pathname, this.#options.apiOrigin);
      here.protocol = here.protocol === 'https:' ? 'wss:' : 'ws:';
      url = here.toString();
    }
    const channel = new RoomChannel(url, token.channel.token);
    this.#channel = channel;
    channel.on('data', (payload) => this.emit('dataReceived', payload, null));
    channel.on('notice', (notice) => this.#onNotice(notice));
    channel.on('media', (policy) => this.#setPolicy(policy));
    channel.on('deadline', (endsAt, reason) => {
      if (this.#deadline?.getTime() === endsAt?.getTime() && this.#deadlineReason === reason) return;
      this.#deadline = endsAt;
      this.#deadlineReason = reason;
      this.emit('deadlineChanged', endsAt, reason);
    });
    await channel.connect();
  }

  /** Sends a data message (chat) to the participants of our group, or to `to`. */
  sendData(payload: string, to?: string[]): void {
    this.#adapter?.sendData(payload, to);
  }

  /** Leaves the room for good. */
  async disconnect(): Promise<void> {
    if (!this.#held) return this.#adapter?.disconnect();
    // Held (or joining after a hold): the adapter, if one is joining, is let go unheard; the Room ends itself.
    const adapter = this.#adapter;
    this.#adapter = null;
    await adapter?.disconnect();
    this.#endHeld('left', 'You left the room.');
  }

  // ---- held by the server -----------------------------------------------------------------------------------------

  /** A held answer: the channel and the local tracks, no media connection (see the file's comment). */
  async #connectHeld(token: TokenResponse): Promise<void> {
    const getToken = this.#options.getToken;
    if (!getToken) throw new ConnectError('join_failed', 'The server holds this participant out of the media for now: connect with the getToken option, to ask again when it lets us in.');
    if (!token.channel) throw new ConnectError('join_failed', 'The server holds this participant but gave no participant channel to hear when to join.');
    this.#held = true;
    this.#setState('connecting');
    try {
      await this.#openChannel(token);
      await captureInitialTracks(this.#local.tracks, this.#options, this.#camera());
    } catch (error) {
      this.#endHeld('join_failed', error instanceof Error ? error.message : String(error), false);
      throw error;
    }
    if (this.#state !== 'connecting') {
      // Left while the camera and microphone were being started.
      this.#stopLocal();
      throw new ConnectError('left', 'You left the room.');
    }
    const channel = this.#channel!;
    channel.on('join', () => this.#askToJoin(getToken));
    // Ready again after a drop: a `join` sent meanwhile was missed, so ask (still held: nothing changes).
    channel.on('ready', () => this.#askToJoin(getToken));
    channel.on('closed', (code, reason) => this.#heldChannelClosed(code, reason, getToken));
    this.emit('heldChanged', true);
    this.#setState('connected');
  }

  /** Asks for a token answer (one request at a time) and joins with it unless the server still holds us. */
  #askToJoin(getToken: () => Promise<string | TokenResponse>): void {
    if (!this.#held || this.#adapter || this.#asking || this.#state !== 'connected') return;
    this.#asking = this.#lift(getToken).finally(() => (this.#asking = null));
  }

  async #lift(getToken: () => Promise<string | TokenResponse>): Promise<void> {
    let answer: string | TokenResponse;
    try {
      answer = await getToken();
    } catch {
      // The server could not answer now: the channel's next `join` (or its return after a drop) asks again.
      if (this.#channel === null || this.#channel.closed) this.#endHeld('connection_lost', 'The server could not be reached to join the room.');
      return;
    }
    if (!this.#held || this.#state !== 'connected') return;
    // A bare token names no provider and cannot lift a hold (getToken must give the whole answer).
    if (typeof answer === 'string') return;
    if (answer.channel) this.#channel?.renew(answer.channel.token);
    if (answer.held) {
      // Still held. A channel closed for good (its token expired) is opened again with the new answer's.
      if (answer.channel && (this.#channel === null || this.#channel.closed)) await this.#reopenChannel(answer, getToken);
      return;
    }
    let factory;
    try {
      factory = adapterFor(answer.provider);
    } catch (error) {
      return this.#endHeld('join_failed', (error as Error).message);
    }
    this.#applyMedia(answer);
    const adapter: MediaAdapter = factory(answer, this.#options, this.#sink(() => this.#adapter === adapter));
    this.#adapter = adapter;
    try {
      // The local tracks were captured at the hold (and changed since as the user chose): published as they are.
      await adapter.connect(async () => {});
    } catch (error) {
      if (this.#adapter !== adapter) return; // left meanwhile
      this.#adapter = null;
      const reason = error instanceof ConnectError ? error.reason : 'join_failed';
      const message = error instanceof Error ? error.message : String(error);
      if ((reason === 'join_failed' || reason === 'connection_lost') && this.#joinFailures < 3) {
        // Held still; tried again shortly (1, 2, 4 s), as a `join` would.
        const delay = 1000 * 2 ** this.#joinFailures++;
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = null;
          this.#askToJoin(getToken);
        }, delay);
        return;
      }
      return this.#endHeld(reason === 'unknown_provider' ? 'join_failed' : reason, message);
    }
    if (this.#adapter !== adapter) return;
    this.#joinFailures = 0;
    this.#held = false;
    this.emit('heldChanged', false);
    if (adapter.state !== this.#state) this.#setState(adapter.state);
  }

  /** Opens the channel of a newer held answer (the old one's token expired while we waited). */
  async #reopenChannel(answer: TokenResponse, getToken: () => Promise<string | TokenResponse>): Promise<void> {
    await this.#openChannel(answer);
    const channel = this.#channel!;
    if (!this.#held || this.#state !== 'connected') return channel.close();
    channel.on('join', () => this.#askToJoin(getToken));
    channel.on('ready', () => this.#askToJoin(getToken));
    channel.on('closed', (code, reason) => this.#heldChannelClosed(code, reason, getToken));
  }

  /** The channel closed for good while we were held: the server ended the room or removed us, or its token expired. */
  #heldChannelClosed(code: number, reason: string, getToken: () => Promise<string | TokenResponse>): void {
    if (!this.#held || this.#state === 'disconnected' || code === 1000) return;
    if (code === CHANNEL_CLOSE.tokenExpired) {
      // Still waiting: a new answer brings a new channel token (or lets us in).
      this.#askToJoin(getToken);
      return;
    }
    this.#endHeld(CHANNEL_REASONS.get(code) ?? 'connection_lost', reason || 'The server closed the connection.');
  }

  /** The end of a held room (no adapter has joined): local tracks stopped, the channel closed, `disconnected` said. */
  #endHeld(reason: DisconnectReason, message: string, announce = true): void {
    if (this.#state === 'disconnected') return;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#adaptive.close();
    this.#setState('disconnected');
    this.#stopLocal();
    for (const remote of [...this.#remotes.values()]) this.#drop(remote, reason);
    const channel = this.#channel;
    this.#channel = null;
    channel?.close();
    if (announce) this.emit('disconnected', reason, message);
  }

  // ---- groups: media policy, notices ------------------------------------------------------------------------------

  /** A token answer's `media`: what to publish by, and the policy (the channel may change the policy later). */
  #applyMedia(token: TokenResponse): void {
    if (!token.media) return;
    const { simulcast, mode, spotlight, lastN } = token.media;
    this.#publishing = token.media;
    this.#setPolicy({ simulcast, mode, spotlight, lastN });
  }

  #setPolicy(policy: MediaPolicy): void {
    const current = this.#policy;
    if (current && current.simulcast === policy.simulcast && current.mode === policy.mode && current.spotlight === policy.spotlight && current.lastN === policy.lastN) return;
    this.#policy = { simulcast: policy.simulcast, mode: policy.mode, spotlight: policy.spotlight, lastN: policy.lastN };
    this.#adaptive.setEnabled(this.#options.adaptiveStream !== false);
    this.#adapter?.mediaPolicyChanged();
    this.emit('mediaPolicyChanged', this.#policy);
  }

  /** What to ask of the camera: the application's constraints win; a group room asks for its ideal size. */
  #camera(): boolean | MediaTrackConstraints {
    const video = this.#options.video;
    if (typeof video === 'object' || video === false) return video;
    const size = this.#publishing?.video;
    if (!size) return true;
    return { width: { ideal: size.width }, height: { ideal: size.height }, frameRate: { ideal: size.frameRate } };
  }

  /**
   * A notice from the server (the channel, or the builtin provider's socket): always the `notice` event (its words for
   * people), and the hosts' group notices as their own events. A host's mute turns the microphone off here, so it is
   * off whatever the application does; a request to unmute is only told (the person decides).
   */
  #onNotice(notice: { code: string; message: string }): void {
    this.emit('notice', notice);
    switch (notice.code) {
      case 'muted_by_host':
        void this.localParticipant.setMicrophoneEnabled(false).then(() => this.emit('mutedByHost'));
        return;
      case 'unmute_requested':
        this.emit('unmuteRequested');
        return;
      case 'hand_lowered':
        this.emit('handLowered');
        return;
    }
  }

  #setState(state: ConnectionState): void {
    this.#state = state;
    this.emit('stateChanged', state);
  }

  #stopLocal(): void {
    for (const track of this.#local.tracks.values()) track.stop();
  }

  #add(info: ParticipantInfo): void {
    const remote = new Remote(info.identity, info);
    this.#remotes.set(remote.identity, remote);
    this.emit('participantConnected', remote);
  }

  #drop(remote: Remote, reason: string): void {
    for (const track of [...remote.tracks.values()]) {
      remote.tracks.delete(track.source);
      this.emit('trackUnsubscribed', track, remote);
    }
    this.#adaptive.forget(remote.identity);
    this.#speakers = this.#speakers.filter((identity) => identity !== remote.identity);
    this.#remotes.delete(remote.identity);
    this.emit('participantDisconnected', remote, reason);
  }

  /**
   * What the adapter reports, applied to the model and emitted. `current` says whether that adapter is still the
   * Room's (one let go, after a leave while joining from a hold, is not heard). While a hold is being lifted the
   * Room stays `connected`: the adapter's own states show once it has joined.
   */
  #sink(current: () => boolean): RoomSink {
    const remotes = this.#remotes;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the sink's getters read the Room's current state
    const room = this;
    const gated =
      <A extends unknown[]>(report: (...args: A) => void) =>
      (...args: A): void => {
        if (current()) report(...args);
      };
    return {
      participants: remotes,
      localTracks: this.#local.tracks,
      get mediaPolicy(): MediaPolicy | null {
        return room.#policy;
      },
      get publishing(): TokenMedia | null {
        return room.#publishing;
      },
      get videoViews(): readonly VideoView[] | null {
        return room.#adaptive.enabled ? room.#adaptive.views : null;
      },
      get activeSpeakers(): readonly string[] {
        return room.#speakers;
      },
      stateChanged: gated((state: ConnectionState) => {
        if (!this.#held) this.#setState(state);
      }),
      joined: gated((info: JoinedInfo) => {
        this.#name = info.roomName;
        this.#sid = info.roomSid;
        this.#grants = info.grants;
        this.#local.identity = info.identity;
        const seen = new Set<string>();
        for (const p of info.participants) {
          seen.add(p.identity);
          const existing = remotes.get(p.identity);
          if (existing) existing.update(p);
          else this.#add(p);
        }
        for (const remote of [...remotes.values()]) if (!seen.has(remote.identity)) this.#drop(remote, 'left');
      }),
      participantJoined: gated((info: ParticipantInfo) => this.#add(info)),
      participantUpdated: gated((info: ParticipantInfo) => {
        const remote = remotes.get(info.identity);
        if (!remote) return;
        remote.update(info);
        this.emit('participantUpdated', remote);
      }),
      participantLeft: gated((identity: string, reason: string) => {
        const remote = remotes.get(identity);
        if (remote) this.#drop(remote, reason);
      }),
      trackSubscribed: gated((identity: string, t: SubscribedTrack) => {
        const remote = remotes.get(identity);
        if (!remote) return;
        const track = new RemoteTrackImpl(t.sid, t.kind, t.source, t.mediaStreamTrack, remote, this.#adaptive);
        remote.tracks.set(t.source, track);
        this.emit('trackSubscribed', track, remote);
      }),
      trackUnsubscribed: gated((identity: string, source: TrackSource) => {
        const remote = remotes.get(identity);
        const track = remote?.tracks.get(source);
        if (!remote || !track) return;
        remote.tracks.delete(source);
        if (source !== 'microphone') this.#adaptive.forget(identity, source);
        this.emit('trackUnsubscribed', track, remote);
      }),
      networkQuality: gated((identity: string, level: number) => {
        if (identity === this.#local.identity) {
          this.#local.networkQuality = level;
          this.emit('networkQuality', level, null);
          return;
        }
        const remote = remotes.get(identity);
        if (!remote) return;
        remote.networkQuality = level;
        this.emit('networkQuality', level, remote);
      }),
      dominantSpeaker: gated((identity: string | null) => {
        const remote = identity === null ? null : (remotes.get(identity) ?? null);
        if (remote) this.#speakers = [remote.identity, ...this.#speakers.filter((s) => s !== remote.identity)];
        this.emit('dominantSpeaker', remote);
      }),
      streamState: gated((identity: string, source: TrackSource, state: StreamState) => {
        const remote = remotes.get(identity);
        if (!remote) return;
        const before = remote.streamStates.get(source);
        if (before && before.state === state.state && before.layer === state.layer && before.reason === state.reason) return;
        remote.streamStates.set(source, { state: state.state, layer: state.layer, reason: state.reason });
        const track = remote.tracks.get(source);
        if (track && track.kind === 'video') this.emit('trackStreamStateChanged', track, remote, track.streamState);
      }),
      data: gated((payload: string, from: string | null) => this.emit('dataReceived', payload, from === null ? null : (remotes.get(from) ?? null))),
      notice: gated((notice: { code: string; message: string }) => this.#onNotice(notice)),
      reconnecting: gated((cause) => this.emit('reconnecting', cause)),
      reconnected: gated(() => this.emit('reconnected')),
      disconnected: gated((reason: DisconnectReason, message: string) => {
        this.#held = false;
        this.#adaptive.close();
        if (this.#state !== 'disconnected') this.#setState('disconnected');
        this.#stopLocal();
        for (const remote of [...remotes.values()]) this.#drop(remote, reason);
        const channel = this.#channel;
        this.#channel = null;
        if (!channel || (reason !== 'room_ended' && reason !== 'removed')) {
          channel?.close();
          this.emit('disconnected', reason, message);
          return;
        }
        // The server closes the channel as it ends the room or removes us, after what it sent before (the survey
        // link, the words of a removal): those travel beside the media connection, so they are let in first.
        void channel.settled(1500).then(() => {
          channel.close();
          this.emit('disconnected', reason, message);
        });
      }),
    };
  }
}

/** The participant channel's final close codes, as the reasons a held room ends with. */
const CHANNEL_REASONS: ReadonlyMap<number, DisconnectReason> = new Map<number, DisconnectReason>([
  [CHANNEL_CLOSE.removed, 'removed'],
  [CHANNEL_CLOSE.invalidToken, 'invalid_token'],
  [CHANNEL_CLOSE.tokenExpired, 'token_expired'],
  [CHANNEL_CLOSE.roomEnded, 'room_ended'],
  [CHANNEL_CLOSE.roomNotFound, 'room_not_found'],
  [CHANNEL_CLOSE.protocolError, 'protocol_error'],
]);
