/**
 * A participant's media over its stay in a room, for `participant.left`: when its media connection first came up,
 * how long it was up (across all its sessions: resumes and takeovers keep the figures), and its network quality,
 * time-weighted over the time the media connection was up (levels are reported on change) and the worst level
 * reported once it had come up (0: it dropped).
 */

export interface MediaStats {
  /** The last network quality level reported (0..5), null before the first. */
  quality: number | null;
  readonly qualityStats: { weightedMs: number; ms: number; min: number; since: number };
  /** The media connection over the stay (all of the peer's sessions): when it first came up, how long it was up, up since when now. */
  readonly media: { startedAt: Date | null; ms: number; upSince: number | null };
}

export function newMediaStats(): MediaStats {
  return { quality: null, qualityStats: { weightedMs: 0, ms: 0, min: 5, since: 0 }, media: { startedAt: null, ms: 0, upSince: null } };
}

/**
 * Adds the time spent at the current quality level to the running, time-weighted figures. Only time with
 * the media connection up counts: joining (before media first connects) and time without media never do.
 */
export function accrueQuality(stats: MediaStats, now = Date.now()): void {
  const q = stats.qualityStats;
  if (stats.quality !== null && stats.media.upSince !== null) {
    q.weightedMs += stats.quality * (now - q.since);
    q.ms += now - q.since;
  }
  q.since = now;
}

/** A new network quality level was reported. */
export function qualityReported(stats: MediaStats, level: number): void {
  accrueQuality(stats);
  stats.quality = level;
  stats.qualityStats.min = Math.min(stats.qualityStats.min, level);
}

/** The media connection came up (its first time: media started for this stay). */
export function mediaUp(stats: MediaStats): void {
  const now = Date.now();
  accrueQuality(stats, now);
  if (stats.media.upSince !== null) return;
  stats.media.upSince = now;
  stats.media.startedAt ??= new Date(now);
}

/** The media connection went down (dropped, failed, replaced by a new session, or left). */
export function mediaDown(stats: MediaStats): void {
  const now = Date.now();
  accrueQuality(stats, now);
  if (stats.media.upSince === null) return;
  stats.media.ms += now - stats.media.upSince;
  stats.media.upSince = null;
}

/**
 * The figures `participant.left` carries, once the media is down: no quality when the media never came up or no
 * level was reported; the last level as the average when no time at a level was counted.
 */
export function staySummary(stats: MediaStats): {
  media: { startedAt: Date | null; seconds: number };
  quality?: { average: number; min: number };
} {
  const q = stats.qualityStats;
  const media = { startedAt: stats.media.startedAt, seconds: Math.round(stats.media.ms / 1000) };
  const quality = !media.startedAt || stats.quality === null ? undefined : q.ms > 0 ? { average: q.weightedMs / q.ms, min: q.min } : { average: stats.quality, min: q.min };
  return { media, ...(quality ? { quality } : {}) };
}
