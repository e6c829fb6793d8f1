/**
 * The provider-neutral Room the application holds: participants, local media, events. It picks its adapter from
 * the token answer's `provider` (adapters.ts) and hears the adapter through a RoomSink; the adapter owns the
 * connection (the builtin one: builtin/engine.ts over a signal client and a transport). Data and notices are
 * emitted here too, so a channel of the server's own (not the media provider's) can feed the same events.
 *
 *   const room = new Room({ audio: true });
 *   room.on('trackSubscribed', (track) => document.body.append(track.attach()));
 *   await room.connect(tokenResponse);
 */
import type { JoinedInfo, MediaAdapter, ParticipantInfo, RoomSink, SubscribedTrack } from './adapter.js';
import { adapterFor } from './adapters.js';
import { RoomChannel } from './channel.js';
import { Emitter } from './emitter.js';
import { ConnectError } from './errors.js';
import { LocalParticipant, Remote, RemoteTrackImpl, captureInitialTracks, type LocalHost } from './participants.js';
import type { ConnectionState } from './state.js';
import type { ConnectOptions, DisconnectReason, Grants, MediaState, RemoteParticipant, RoomEvents, TokenResponse, TrackSource } from './types.js';

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

  /** A room not yet connected: add listeners, then `connect(tokenResponse)` (or use the `connect()` function). */
  constructor(options: ConnectOptions = {}) {
    super();
    this.#options = options;
    this.#local = {
      identity: '',
      networkQuality: null,
      tracks: new Map(),
      options,
      adapter: () => this.#adapter,
      changed: (source, track) => this.emit('localTrackChanged', source, track),
    };
    this.localParticipant = new LocalParticipant(this.#local);
  }

  get state(): ConnectionState {
    return this.#adapter?.state ?? 'idle';
  }
  /** Remote participants by identity. */
  get participants(): ReadonlyMap<string, RemoteParticipant> {
    return this.#remotes;
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
    if (this.#adapter) throw new ConnectError('join_failed', 'This room has already been connected.');
    const factory = adapterFor(token.provider);
    const adapter = factory(token, this.#options, this.#sink());
    this.#adapter = adapter;
    try {
      await this.#openChannel(token);
      await adapter.connect(() => captureInitialTracks(this.#local.tracks, this.#options));
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
    channel.on('notice', (notice) => this.emit('notice', notice));
    await channel.connect();
  }

  /** Sends a data message (chat) to the participants of our group, or to `to`. */
  sendData(payload: string, to?: string[]): void {
    this.#adapter?.sendData(payload, to);
  }

  /** Leaves the room for good. */
  async disconnect(): Promise<void> {
    await this.#adapter?.disconnect();
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
    this.#remotes.delete(remote.identity);
    this.emit('participantDisconnected', remote, reason);
  }

  /** What the adapter reports, applied to the model and emitted. */
  #sink(): RoomSink {
    const remotes = this.#remotes;
    return {
      participants: remotes,
      localTracks: this.#local.tracks,
      stateChanged: (state: ConnectionState) => this.emit('stateChanged', state),
      joined: (info: JoinedInfo) => {
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
      },
      participantJoined: (info: ParticipantInfo) => this.#add(info),
      participantUpdated: (info: ParticipantInfo) => {
        const remote = remotes.get(info.identity);
        if (!remote) return;
        remote.update(info);
        this.emit('participantUpdated', remote);
      },
      participantLeft: (identity: string, reason: string) => {
        const remote = remotes.get(identity);
        if (remote) this.#drop(remote, reason);
      },
      trackSubscribed: (identity: string, t: SubscribedTrack) => {
        const remote = remotes.get(identity);
        if (!remote) return;
        const track = new RemoteTrackImpl(t.sid, t.kind, t.source, t.mediaStreamTrack, remote);
        remote.tracks.set(t.source, track);
        this.emit('trackSubscribed', track, remote);
      },
      trackUnsubscribed: (identity: string, source: TrackSource) => {
        const remote = remotes.get(identity);
        const track = remote?.tracks.get(source);
        if (!remote || !track) return;
        remote.tracks.delete(source);
        this.emit('trackUnsubscribed', track, remote);
      },
      networkQuality: (identity: string, level: number) => {
        if (identity === this.#local.identity) {
          this.#local.networkQuality = level;
          this.emit('networkQuality', level, null);
          return;
        }
        const remote = remotes.get(identity);
        if (!remote) return;
        remote.networkQuality = level;
        this.emit('networkQuality', level, remote);
      },
      dominantSpeaker: (identity: string | null) => this.emit('dominantSpeaker', identity === null ? null : (remotes.get(identity) ?? null)),
      data: (payload: string, from: string | null) => this.emit('dataReceived', payload, from === null ? null : (remotes.get(from) ?? null)),
      notice: (notice) => this.emit('notice', notice),
      reconnecting: (cause) => this.emit('reconnecting', cause),
      reconnected: () => this.emit('reconnected'),
      disconnected: (reason: DisconnectReason, message: string) => {
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
      },
    };
  }
}
