/**
 * Participants as the application sees them, whatever the provider: remote participants and their tracks (filled by
 * the Room from its adapter's reports), and the local participant, whose media is captured here and handed to the
 * adapter to publish.
 */
import type { MediaAdapter, ParticipantInfo } from './adapter.js';
import type { AdaptiveStream } from './adaptive.js';
import type { ConnectOptions, PublishedTrack, RemoteParticipant, RemoteTrack, StreamState, TrackKind, TrackSource } from './types.js';

/** A track's state before the provider says otherwise, and always an audio track's. */
export const ACTIVE: StreamState = Object.freeze({ state: 'active', layer: null, reason: null });

export class Remote implements RemoteParticipant {
  joinedAt: Date;
  published: readonly PublishedTrack[] = [];
  readonly tracks = new Map<TrackSource, RemoteTrackImpl>();
  networkQuality: number | null = null;
  /** What reaches us of each video source, as the provider last said (kept for a track that is not there yet). */
  readonly streamStates = new Map<TrackSource, StreamState>();
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
    private readonly adaptive: AdaptiveStream,
  ) {}
  /** The elements it was attached to, with the stream each was given. */
  readonly #elements = new Map<HTMLMediaElement, MediaStream>();
  get streamState(): StreamState {
    return this.kind === 'video' ? (this.owner.streamStates.get(this.source) ?? ACTIVE) : ACTIVE;
  }
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
    const stream = new MediaStream([this.mediaStreamTrack]);
    el.srcObject = stream;
    this.#elements.set(el, stream);
    if (this.source !== 'microphone') this.adaptive.observe(this.owner.identity, this.source, el, () => el.srcObject === stream);
    return el;
  }
  detach(element?: HTMLMediaElement): void {
    for (const el of element ? [element] : [...this.#elements.keys()]) {
      const stream = this.#elements.get(el);
      if (!stream) continue;
      this.#elements.delete(el);
      // Another track may have been attached to it since: only our own stream is taken out.
      if (el.srcObject === stream) el.srcObject = null;
      if (this.source !== 'microphone') this.adaptive.unobserve(this.owner.identity, this.source, el);
    }
  }
}

/** What the Room shares with its local participant: who we are, and the adapter once there is one. */
export interface LocalHost {
  identity: string;
  networkQuality: number | null;
  readonly tracks: Map<TrackSource, MediaStreamTrack>;
  readonly options: ConnectOptions;
  /** What to ask of the camera: the application's constraints, else the room's (a group's ideal size), else any. */
  camera(): boolean | MediaTrackConstraints;
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
    const { tracks } = this.#host;
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
    const constraints = this.#host.camera();
    const track = (await navigator.mediaDevices.getUserMedia({ video: constraints === false ? true : constraints })).getVideoTracks()[0]!;
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

/**
 * Adds to `tracks` what `options` asks for: the tracks given, then a capture of the rest (one permission prompt).
 * `camera` is what to ask of the camera (LocalHost.camera).
 */
export async function captureInitialTracks(tracks: Map<TrackSource, MediaStreamTrack>, options: ConnectOptions, camera: boolean | MediaTrackConstraints): Promise<void> {
  for (const track of options.tracks ?? []) tracks.set(track.kind === 'audio' ? 'microphone' : 'camera', track);
  const audio = !tracks.has('microphone') && (options.audio ?? true);
  const video = !tracks.has('camera') && camera;
  if (!audio && !video) return;
  const stream = await navigator.mediaDevices.getUserMedia({ audio, video });
  for (const track of stream.getTracks()) tracks.set(track.kind === 'audio' ? 'microphone' : 'camera', track);
}
