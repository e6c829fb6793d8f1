/**
 * Short tones made with the Web Audio API (no audio files): the console's arrival chime and the check-in ring. Each
 * note is a sine that rises in 20 ms to `peak` and fades out over `decay` seconds.
 */
export interface Tones {
  /** [frequency in Hz, start offset in seconds] */
  notes: readonly (readonly [frequency: number, offset: number])[];
  peak: number;
  decay: number;
}

export function playTones(ctx: AudioContext, { notes, peak, decay }: Tones): void {
  const start = ctx.currentTime + 0.02;
  for (const [frequency, offset] of notes) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.type = 'sine';
    osc.frequency.value = frequency;
    const t = start + offset;
    gain.gain.setValueAtTime(0.0001, t);
    gain.gain.exponentialRampToValueAtTime(peak, t + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t + decay);
    osc.connect(gain).connect(ctx.destination);
    osc.start(t);
    osc.stop(t + decay + 0.05);
  }
}
