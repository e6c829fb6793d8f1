/**
 * A short two-note chime for arrivals, made with the Web Audio API (no audio file). Browsers only let a page
 * play sound after the user has interacted with it, so the AudioContext is created on the first click or key
 * press (creating it earlier would only log an autoplay warning); until then the chime is silent.
 */
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
  const start = ctx.currentTime + 0.02;
  const notes: [frequency: number, offset: number][] = [
    [659.25, 0],
    [987.77, 0.18],
  ];
  for (const [frequency, offset] of notes) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'sine';
    osc.frequency.value = frequency;
    const t = start + offset;
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(0.18, t + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.6);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t);
    osc.stop(t + 0.65);
  }
}
