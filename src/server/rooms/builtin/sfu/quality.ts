/**
 * Network quality 0..5 from what RTCP tells the SFU about a participant's connection, as a pure function.
 *
 *   5 excellent · 4 good · 3 fair · 2 poor · 1 bad · 0 not connected
 *
 * Each metric that is known maps to a level through its thresholds (strictly below the first threshold → 5,
 * below the second → 4, …, at or above the last → 1); the result is the worst of them. A connected
 * participant with no metric yet (nothing measured) is 5: there is no evidence of a problem.
 */

export interface QualitySample {
  connected: boolean;
  /** 0..1: packets lost over the last interval (worst of upstream and downstream). */
  lossFraction?: number | undefined;
  /** Round-trip time, milliseconds. */
  rttMs?: number | undefined;
  /** Interarrival jitter, milliseconds. */
  jitterMs?: number | undefined;
}

export type QualityLevel = 0 | 1 | 2 | 3 | 4 | 5;

/** Thresholds for levels 5, 4, 3, 2 (a value at or above the last one is level 1). */
export const QUALITY_THRESHOLDS = {
  lossFraction: [0.01, 0.03, 0.06, 0.12],
  rttMs: [150, 250, 400, 700],
  jitterMs: [20, 40, 60, 100],
} as const satisfies Record<string, readonly [number, number, number, number]>;

export function levelFor(value: number, thresholds: readonly [number, number, number, number]): Exclude<QualityLevel, 0> {
  if (value < thresholds[0]) return 5;
  if (value < thresholds[1]) return 4;
  if (value < thresholds[2]) return 3;
  if (value < thresholds[3]) return 2;
  return 1;
}

export function networkQuality(sample: QualitySample): QualityLevel {
  if (!sample.connected) return 0;
  let level: QualityLevel = 5;
  for (const metric of ['lossFraction', 'rttMs', 'jitterMs'] as const) {
    const value = sample[metric];
    if (value === undefined || !Number.isFinite(value)) continue;
    level = Math.min(level, levelFor(value, QUALITY_THRESHOLDS[metric])) as QualityLevel;
  }
  return level;
}
