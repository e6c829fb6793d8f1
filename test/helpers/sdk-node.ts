// The browser SDK in node tests: its source loaded as it is (tsx), with `import('twilio-video')` going to the stand-in
// (helpers/twilio-video-standin.ts), fake MediaStreamTracks and navigator.mediaDevices, and a recorder of a Room's
// events. The SDK is type-checked with the DOM library (tsconfig.sdk.json), the tests without: it is loaded untyped
// and used through the few shapes below.
import { register } from 'node:module';
import { WebSocket } from 'ws';

register(new URL('./twilio-video-hook.mjs', import.meta.url));
// The participant channel's client uses the browser's WebSocket (node 20 has none by default).
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

/** A MediaStreamTrack as far as the SDK uses one. */
export class FakeTrack {
  enabled = true;
  readyState: 'live' | 'ended' = 'live';
  readonly listeners = new Map<string, () => void>();
  constructor(
    readonly kind: 'audio' | 'video',
    readonly id = `${kind}-${Math.random().toString(36).slice(2, 8)}`,
  ) {}
  stop(): void {
    this.readyState = 'ended';
  }
  addEventListener(event: string, listener: () => void): void {
    this.listeners.set(event, listener);
  }
}

export interface RemoteTrackView {
  sid: string;
  kind: string;
  source: string;
  muted: boolean;
  mediaStreamTrack: unknown;
}
export interface RemoteView {
  identity: string;
  published: { kind: string; source: string; muted: boolean; hostMuted: boolean }[];
  tracks: Map<string, RemoteTrackView>;
  networkQuality: number | null;
}
export interface SdkRoom {
  state: string;
  held: boolean;
  name: string;
  sid: string;
  reconnects: number;
  mediaState: string | null;
  participants: Map<string, RemoteView>;
  localParticipant: {
    identity: string;
    networkQuality: number | null;
    setMicrophoneEnabled(on: boolean): Promise<void>;
    setCameraEnabled(on: boolean): Promise<void>;
    startScreenShare(): Promise<unknown>;
    stopScreenShare(): Promise<void>;
  };
  on(event: string, listener: (...args: never[]) => void): () => void;
  connect(answer: object): Promise<void>;
  disconnect(): Promise<void>;
  sendData(payload: string, to?: string[]): void;
  getStats(): Promise<unknown>;
}
export const sdk = (await import('../../src/sdk/index.ts' as string)) as { Room: new (options?: object) => SdkRoom };

/** Every event the room emits, as short strings, in order. */
export function record(room: SdkRoom): string[] {
  const seen: string[] = [];
  const who = (p: { identity: string } | null) => (p ? p.identity : 'null');
  room.on('stateChanged', ((s: string) => seen.push(`state:${s}`)) as never);
  room.on('participantConnected', ((p: RemoteView) => seen.push(`joined:${p.identity}`)) as never);
  room.on('participantDisconnected', ((p: RemoteView, reason: string) => seen.push(`left:${p.identity}:${reason}`)) as never);
  room.on('participantUpdated', ((p: RemoteView) => seen.push(`updated:${p.identity}:${p.published.map((t) => `${t.source}${t.muted ? '(muted)' : ''}`).join(',')}`)) as never);
  room.on('trackSubscribed', ((t: RemoteTrackView, p: RemoteView) => seen.push(`subscribed:${p.identity}:${t.source}`)) as never);
  room.on('trackUnsubscribed', ((t: RemoteTrackView, p: RemoteView) => seen.push(`unsubscribed:${p.identity}:${t.source}`)) as never);
  room.on('networkQuality', ((level: number, p: RemoteView | null) => seen.push(`quality:${who(p)}:${level}`)) as never);
  room.on('dominantSpeaker', ((p: RemoteView | null) => seen.push(`speaker:${who(p)}`)) as never);
  room.on('reconnecting', ((cause: string) => seen.push(`reconnecting:${cause}`)) as never);
  room.on('reconnected', (() => seen.push('reconnected')) as never);
  room.on('disconnected', ((reason: string) => seen.push(`disconnected:${reason}`)) as never);
  room.on('dataReceived', ((payload: string, p: RemoteView | null) => seen.push(`data:${who(p)}:${payload}`)) as never);
  room.on('heldChanged', ((held: boolean) => seen.push(`held:${held}`)) as never);
  return seen;
}

/** Installs navigator.mediaDevices (node has none). */
export function setMediaDevices(mediaDevices: object): void {
  Object.defineProperty(globalThis, 'navigator', { value: { mediaDevices }, configurable: true, writable: true });
}

export async function waitFor(condition: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
