/**
 * A subscriber's downlink estimate (what the SFU may send it, bits per second), as a small pure state machine fed
 * once a second by the selection (../selection.ts) from the subscriber's RTCP:
 *   - a REMB it sent for the SFU's streams in the last REMB_FRESH_MS is read against what the SFU sent it meanwhile:
 *     a receiver-side estimate (Chromium's) follows the rate it receives, a little above it, so it can say there is
 *     less room (a REMB under REMB_CONGESTED of the rate sent: the estimate drops to it) but never that there is more
 *     than it has been shown. Trusted as a cap, a viewer sent only the low layer would report about that and never
 *     get a larger one (seen in Chromium: stuck at 200–240 kbit/s with a 1280x720 tile). A REMB above the rate sent
 *     only raises the estimate (to at most the cap). "The rate sent" is the lower of the last two intervals': a REMB
 *     describes what arrived before it was sent, so right after the SFU sends more (the viewer's tiles grew, a video
 *     resumed) it still follows the old rate, and read against the new one it looked like congestion: the estimate
 *     fell to it, videos paused for bandwidth, and the REMB of what was left kept them paused (seen in Chromium: a
 *     host turning to a gallery page of larger tiles);
 *   - otherwise its receiver reports: loss above LOSS_HIGH steps the estimate down (× STEP_DOWN), loss below LOSS_LOW
 *     held for STABLE_MS steps it up (× STEP_UP), in between it holds;
 * always between FLOOR_BPS and the cap (config.groups.downlinkBps). It starts at the cap: a subscriber is assumed
 * to manage until its reports say otherwise.
 */

export const REMB_FRESH_MS = 5000;
export const LOSS_HIGH = 0.1;
export const LOSS_LOW = 0.02;
export const STABLE_MS = 4000;
export const STEP_DOWN = 0.8;
export const STEP_UP = 1.15;
/** Never below what one low layer and some audio need. */
export const FLOOR_BPS = 200_000;
/** A REMB below this share of the rate sent means congestion. */
export const REMB_CONGESTED = 0.9;

export interface DownlinkSample {
  nowMs: number;
  /** The newest REMB the subscriber sent, and when (ms). */
  remb?: { bps: number; atMs: number } | undefined;
  /** Loss on the way to the subscriber over the last interval (0..1), its own part only; undefined: not measured. */
  lossFraction?: number | undefined;
  /** What the SFU sent the subscriber over the last interval (bits per second); undefined: not known yet. */
  sentBps?: number | undefined;
}

export class DownlinkEstimator {
  #bps: number;
  #calmSince: number | null = null;
  #source: 'cap' | 'remb' | 'loss' = 'cap';
  /** The rate sent over the interval before the last sample's (undefined: not known). */
  #sentBefore: number | undefined;

  constructor(readonly capBps: number) {
    this.#bps = capBps;
  }

  get bps(): number {
    return this.#bps;
  }

  /** What the estimate rests on now: nothing yet (the cap), the subscriber's REMB, or its loss reports. */
  get source(): 'cap' | 'remb' | 'loss' {
    return this.#source;
  }

  update(sample: DownlinkSample): number {
    const clamp = (bps: number) => Math.min(this.capBps, Math.max(Math.min(FLOOR_BPS, this.capBps), Math.round(bps)));
    const sentBefore = this.#sentBefore;
    this.#sentBefore = sample.sentBps;
    if (sample.remb && sample.nowMs - sample.remb.atMs <= REMB_FRESH_MS && sample.sentBps !== undefined) {
      const sent = Math.min(sample.sentBps, sentBefore ?? sample.sentBps);
      if (sample.remb.bps < sent * REMB_CONGESTED) {
        this.#bps = clamp(sample.remb.bps);
        this.#source = 'remb';
        this.#calmSince = null;
        return this.#bps;
      }
      if (sample.remb.bps > this.#bps) {
        this.#bps = clamp(sample.remb.bps);
        this.#source = 'remb';
      }
    }
    const loss = sample.lossFraction;
    if (loss === undefined) return this.#bps;
    if (loss > LOSS_HIGH) {
      this.#bps = clamp(this.#bps * STEP_DOWN);
      this.#source = 'loss';
      this.#calmSince = null;
    } else if (loss < LOSS_LOW) {
      if (this.#calmSince === null) this.#calmSince = sample.nowMs;
      else if (sample.nowMs - this.#calmSince >= STABLE_MS) {
        this.#bps = clamp(this.#bps * STEP_UP);
        this.#calmSince = sample.nowMs;
      }
    } else {
      this.#calmSince = null;
    }
    return this.#bps;
  }
}
