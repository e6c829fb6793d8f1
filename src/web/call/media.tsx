/** Media elements of the call: remote and local video, remote audio (autoplay-aware), network quality bars. */
import { useEffect, useRef } from 'react';
import type { RemoteTrack } from '../../sdk/index.js';

/** A remote video track. Muted (its audio plays in a separate element), inline, autoplaying. */
export function RemoteVideo({ track, label, className }: { track: RemoteTrack; label: string; className?: string }) {
  const ref = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    track.attach(el);
    el.muted = true;
    // A muted video may always autoplay; a rejected play() here is only an interrupted load.
    el.play().catch(() => undefined);
    // Detached, the SDK stops counting this element as showing the video (adaptive stream: a tile no longer on the
    // page gets no video from the server).
    return () => track.detach(el);
  }, [track]);
  return <video ref={ref} className={className} aria-label={label} autoPlay playsInline muted />;
}

/** A local track (self view, mirrored like a mirror when `mirrored`). */
export function LocalVideo({ track, label, mirrored }: { track: MediaStreamTrack; label: string; mirrored?: boolean }) {
  const ref = useRef<HTMLVideoElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    el.srcObject = new MediaStream([track]);
    el.play().catch(() => undefined);
    return () => {
      el.srcObject = null;
    };
  }, [track]);
  return <video ref={ref} className={mirrored ? 'ov-mirrored' : undefined} aria-label={label} autoPlay playsInline muted />;
}

export interface AudioRegistry {
  add(el: HTMLAudioElement): void;
  delete(el: HTMLAudioElement): void;
  /** The browser refused to start playback (autoplay policy): the call shows "Enable sound". */
  blocked(): void;
}

/** A remote audio track. If the browser refuses to play it, the registry hears so (never silently muted). */
export function RemoteAudio({ track, identity, registry }: { track: RemoteTrack; identity: string; registry: AudioRegistry }) {
  const ref = useRef<HTMLAudioElement>(null);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    track.attach(el);
    registry.add(el);
    el.play().catch((error: unknown) => {
      if (error instanceof DOMException && error.name === 'NotAllowedError') registry.blocked();
    });
    // Paused by the system (a phone call on iOS, the audio session taken): offer to start it again. A pause from
    // being taken out of the page is not that.
    const paused = () => {
      if (el.isConnected && el.srcObject) registry.blocked();
    };
    el.addEventListener('pause', paused);
    return () => {
      el.removeEventListener('pause', paused);
      registry.delete(el);
      track.detach(el);
    };
  }, [track, registry]);
  return <audio ref={ref} data-identity={identity} autoPlay />;
}

/** Every remote participant's microphone, each in its own (hidden) audio element. */
export function RemoteAudios({ remotes, registry }: { remotes: readonly { identity: string; tracks: ReadonlyMap<string, RemoteTrack> }[]; registry: AudioRegistry }) {
  return (
    <div className="ov-audio">
      {remotes.map((p) => {
        const track = p.tracks.get('microphone');
        return track ? <RemoteAudio key={`${p.identity}:${track.sid}`} track={track} identity={p.identity} registry={registry} /> : null;
      })}
    </div>
  );
}

const QUALITY_WORDS = ['no connection', 'very poor', 'poor', 'fair', 'good', 'excellent'] as const;

/** 0–5 bars; the text alternative says the level in words. */
export function NetworkQuality({ level, who }: { level: number | null; who?: string }) {
  const prefix = who ? `Network quality of ${who}` : 'Network quality';
  const clamped = level === null ? null : Math.max(0, Math.min(5, Math.round(level)));
  const text = clamped === null ? `${prefix}: not measured yet` : `${prefix}: ${clamped} of 5 (${QUALITY_WORDS[clamped]})`;
  const tone = clamped === null ? 'unknown' : clamped <= 1 ? 'bad' : clamped <= 3 ? 'fair' : 'good';
  return (
    <span className={`ov-net ov-net--${tone}`} role="img" aria-label={text} title={text}>
      {[1, 2, 3, 4, 5].map((bar) => (
        <span key={bar} className={clamped !== null && bar <= clamped ? 'ov-net__bar is-on' : 'ov-net__bar'} />
      ))}
    </span>
  );
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? [parts[0]!, parts[parts.length - 1]!] : parts.slice(0, 1);
  return letters.map((p) => p[0]!.toUpperCase()).join('') || '?';
}
