/**
 * The ring of an incoming check-in call, made with the Web Audio API (no audio file), as the console's chime is. A
 * browser plays sound only once the page is allowed to (a click or key press, or its autoplay policy): the audio
 * context is made at once and resumed on the first gesture, and `audible` says whether the ring can be heard now, so
 * the screen can offer "Turn on the ring sound" until it can (the overlay shows the call either way).
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import { playTones, type Tones } from '../tones.js';

const RING_EVERY_MS = 2500;

/** Two short two-note bursts, like a phone. */
const RING: Tones = {
  notes: [
    [659.25, 0],
    [880, 0.16],
    [659.25, 0.5],
    [880, 0.66],
  ],
  peak: 0.25,
  decay: 0.3,
};

/** Rings while `ringing`; `audible` is whether the browser lets the page play it; `enable` asks (a click handler). */
export function useRinger(ringing: boolean) {
  const ctxRef = useRef<AudioContext | null>(null);
  const [audible, setAudible] = useState(false);

  const ensure = useCallback((): AudioContext | null => {
    if (!ctxRef.current) {
      try {
        const ctx = new AudioContext();
        ctx.onstatechange = () => setAudible(ctx.state === 'running');
        ctxRef.current = ctx;
        setAudible(ctx.state === 'running');
      } catch {
        return null;
      }
    }
    return ctxRef.current;
  }, []);

  const enable = useCallback(() => {
    const ctx = ensure();
    if (ctx && ctx.state === 'suspended') void ctx.resume().catch(() => undefined);
  }, [ensure]);

  // The page's first gesture lets it play sound.
  useEffect(() => {
    ensure();
    const once = () => enable();
    window.addEventListener('pointerdown', once, true);
    window.addEventListener('keydown', once, true);
    return () => {
      window.removeEventListener('pointerdown', once, true);
      window.removeEventListener('keydown', once, true);
    };
  }, [ensure, enable]);

  useEffect(
    () => () => {
      void ctxRef.current?.close().catch(() => undefined);
      ctxRef.current = null;
    },
    [],
  );

  useEffect(() => {
    if (!ringing) return;
    const ring = () => {
      const ctx = ctxRef.current;
      if (ctx?.state === 'running') playTones(ctx, RING);
      else if (ctx?.state === 'suspended') void ctx.resume().catch(() => undefined);
      // Vibration needs a tap on the page first (browsers refuse it, with a warning, before).
      if (navigator.userActivation?.hasBeenActive) navigator.vibrate?.([400, 200, 400]);
    };
    ring();
    const timer = setInterval(ring, RING_EVERY_MS);
    return () => {
      clearInterval(timer);
      if (navigator.userActivation?.hasBeenActive) navigator.vibrate?.(0);
    };
  }, [ringing]);

  return { audible, enable };
}
