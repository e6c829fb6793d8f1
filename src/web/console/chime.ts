/**
 * A short two-note chime for arrivals, made with the Web Audio API (no audio file). Browsers only let a page
 * play sound after the user has interacted with it, so the AudioContext is created on the first click or key
 * press (creating it earlier would only log an autoplay warning); until then the chime is silent.
 */
import { playTones } from '../tones.js';

let context: AudioContext | null = null;
let armed = false;

function unlock(): void {
  try {
    context ??= new AudioContext();
    if (context.state === 'suspended') void context.resume().catch(() => {});
  } catch {
    context = null;
  }
}

/** Call once: the next user gesture enables the chime. */
export function armChime(): void {
  if (armed || typeof window === 'undefined') return;
  armed = true;
  const once = () => {
    window.removeEventListener('pointerdown', once, true);
    window.removeEventListener('keydown', once, true);
    unlock();
  };
  window.addEventListener('pointerdown', once, true);
  window.addEventListener('keydown', once, true);
}

export function playChime(): void {
  const ctx = context;
  if (!ctx || ctx.state !== 'running') return;
  playTones(ctx, {
    notes: [
      [659.25, 0],
      [987.77, 0.18],
    ],
    peak: 0.18,
    decay: 0.6,
  });
}
