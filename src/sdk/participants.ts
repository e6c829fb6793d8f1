/**
 * Participants as the application sees them, whatever the provider: remote participants and their tracks (filled by
 * the Room from its adapter's reports), and the local participant, whose media is captured here and handed to the
 * adapter to publish.
 */
import type { MediaAdapter, ParticipantInfo } from './adapter.js';
import type { ConnectOptions, PublishedTrack, RemoteParticipant, RemoteTrack, TrackKind, TrackSource } from './types.js';

export class Remote implements RemoteParticipant {
  joinedAt: Date;
  published: readonly PublishedTrack[] = [];
  readonly tracks = new Map<TrackSource, RemoteTrackImpl>();
  networkQuality: number | null = null;
  constructor(
    readonly identity: string,
    info: ParticipantInfo,
  ) {
    this.joinedAt = info.joinedAt;
    this.update(info);
  }
  update(info: ParticipantInfo): void {
    this.published = info.published;
    this.networkQuality = info.networkQuality;
  }
}

export class RemoteTrackImpl implements RemoteTrack {
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

/** What the Room shares with its local participant: who we are, and the adapter once there is one. */
export interface LocalHost {
  identity: string;
  networkQuality: number | null;
  readonly tracks: Map<TrackSource, MediaStreamTrack>;
  readonly options: ConnectOptions;
  adapter(): MediaAdapter | null;
  changed(source: TrackSource, track: MediaStreamTrack | null): void;
}

/** The local participant: what we publish and its controls. Before the room is connected, changes wait for the join. */
export class LocalParticipant {
  readonly #host: LocalHost;
  constructor(host: LocalHost) {
    this.#host = host;
  }

  get identity(): string {
    return this.#host.identity;
  }
  get networkQuality(): number | null {
    return this.#host.networkQuality;
  }
  /** Published local tracks by source. */
  get tracks(): ReadonlyMap<TrackSource, MediaStreamTrack> {
    return this.#host.tracks;
  }
  get microphoneEnabled(): boolean {
    return this.#host.tracks.get('microphone')?.enabled ?? false;
  }
  get cameraEnabled(): boolean {
    return this.#host.tracks.has('camera');
  }
  get screenSharing(): boolean {
    return this.#host.tracks.has('screen');
  }

  /** Mutes or unmutes the microphone (the track keeps running; others see it muted). */
  async setMicrophoneEnabled(enabled: boolean): Promise<void> {
    const { tracks, options } = this.#host;
    let track = tracks.get('microphone');
    if (!track && enabled) {
      track = (await navigator.mediaDevices.getUserMedia({ audio: options.audio === false ? true : (options.audio ?? true) })).getAudioTracks()[0]!;
      tracks.set('microphone', track);
      await this.#host.adapter()?.publish('microphone', track);
    }
    if (!track) return;
    track.enabled = enabled;
    this.#host.adapter()?.setMuted('microphone', !enabled);
  }

  /** Turns the camera off (the device is released) or on again (captured anew). */
  async setCameraEnabled(enabled: boolean): Promise<void> {
    const { tracks, options } = this.#host;
    const current = tracks.get('camera');
    if (!enabled) {
      if (!current) return;
      current.stop();
      tracks.delete('camera');
      // The publication stays (sending nothing): turning the camera on again needs no renegotiation.
      await this.#host.adapter()?.publish('camera', null);
      this.#host.adapter()?.setMuted('camera', true);
      this.#host.changed('camera', null);
      return;
    }
    if (current) return;
    const constraints = typeof options.video === 'object' ? options.video : true;
    const track = (await navigator.mediaDevices.getUserMedia({ video: constraints })).getVideoTracks()[0]!;
    tracks.set('camera', track);
    await this.#host.adapter()?.publish('camera', track);
    this.#host.adapter()?.setMuted('camera', false);
    this.#host.changed('camera', track);
  }

  async startScreenShare(): Promise<MediaStreamTrack> {
    const existing = this.#host.tracks.get('screen');
    if (existing) return existing;
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const track = stream.getVideoTracks()[0]!;
    // The browser's own "Stop sharing" button ends the track.
    track.addEventListener('ended', () => void this.stopScreenShare());
    this.#host.tracks.set('screen', track);
    await this.#host.adapter()?.publish('screen', track);
    this.#host.changed('screen', track);
    return track;
  }

  async stopScreenShare(): Promise<void> {
    const track = this.#host.tracks.get('screen');
    if (!track) return;
    track.stop();
    this.#host.tracks.delete('screen');
    await this.#host.adapter()?.unpublish('screen');
    this.#host.changed('screen', null);
  }
}

/** Adds to `tracks` what `options` asks for: the tracks given, then a capture of the rest (one permission prompt). */
export async function captureInitialTracks(tracks: Map<TrackSource, MediaStreamTrack>, options: ConnectOptions): Promise<void> {
  for (const track of options.tracks ?? []) tracks.set(track.kind === 'audio' ? 'microphone' : 'camera', track);
  const audio = !tracks.has('microphone') && (options.audio ?? true);
  const video = !tracks.has('camera') && (options.video ?? true);
  if (!audio && !video) return;
  const stream = await navigator.mediaDevices.getUserMedia({ audio, video });
  for (const track of stream.getTracks()) tracks.set(track.kind === 'audio' ? 'microphone' : 'camera', track);
}
