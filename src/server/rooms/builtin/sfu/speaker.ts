/**
 * Dominant speaker from the RTP audio-level header extension (RFC 6464: 0 = 0 dBov, the loudest; 127 = silence),
 * as a pure function over one evaluation window.
 *
 * - A participant is speaking when its mean level over the window is at or below SPEAKING_DBOV.
 * - With nobody speaking, the current dominant speaker stays (it is "the last one who spoke") as long as they are
 *   still a candidate (present, publishing, not muted); otherwise there is none.
 * - A speaking challenger replaces the current speaker only when the current one is not speaking or the
 *   challenger is louder by at least SWITCH_MARGIN_DB (hysteresis against flapping).
 * - Ties go to the smaller participant id, so the result is deterministic.
 */

export const SPEAKING_DBOV = 60;
export const SWITCH_MARGIN_DB = 6;

export interface SpeakerLevel {
  participantId: string;
  /** Mean audio level over the window in -dBov (0 loudest, 127 silent). */
  level: number;
}

export function pickDominantSpeaker(
  current: string | null,
  levels: readonly SpeakerLevel[],
  options: { speakingDbov?: number; switchMarginDb?: number } = {},
): string | null {
  const speakingDbov = options.speakingDbov ?? SPEAKING_DBOV;
  const margin = options.switchMarginDb ?? SWITCH_MARGIN_DB;
  const currentEntry = current === null ? undefined : levels.find((l) => l.participantId === current);
  const speaking = levels
    .filter((l) => l.level <= speakingDbov)
    .sort((a, b) => a.level - b.level || (a.participantId < b.participantId ? -1 : a.participantId > b.participantId ? 1 : 0));
  const loudest = speaking[0];
  if (!loudest) return currentEntry ? currentEntry.participantId : null;
  if (!currentEntry || currentEntry.level > speakingDbov) return loudest.participantId;
  if (loudest.participantId === currentEntry.participantId) return currentEntry.participantId;
  return currentEntry.level - loudest.level >= margin ? loudest.participantId : currentEntry.participantId;
}

/** Accumulates audio levels of one track between evaluations. */
export class LevelMeter {
  #sum = 0;
  #count = 0;

  add(level: number): void {
    this.#sum += Math.min(127, Math.max(0, level));
    this.#count++;
  }

  /** Mean level since the last call (127 = silent when no packet carried a level), then resets. */
  take(): number {
    const mean = this.#count === 0 ? 127 : this.#sum / this.#count;
    this.#sum = 0;
    this.#count = 0;
    return mean;
  }
}
