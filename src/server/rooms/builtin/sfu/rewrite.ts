/**
 * Per-subscriber RTP rewriting. One outgoing slot (a sender toward one subscriber) may carry different
 * publisher tracks over time (slots are reused on re-route and host unmute). Each time a source is attached,
 * the next packet is rebased so the outgoing sequence numbers continue without a gap and the timestamps
 * advance by the wall time that passed, which is what the subscriber's jitter buffer and decoder expect.
 */

export class StreamRewriter {
  #seqDelta = 0;
  #tsDelta = 0;
  #rebase = true;
  #lastSeq: number | undefined;
  #lastTs = 0;
  #lastAt = 0;

  constructor(private readonly clockRate: number) {}

  /** The next packet starts a new source (or the same one after a pause). */
  rebaseNext(): void {
    this.#rebase = true;
  }

  rewrite(seq: number, ts: number, nowMs: number): { seq: number; ts: number } {
    if (this.#rebase) {
      this.#rebase = false;
      if (this.#lastSeq === undefined) {
        this.#seqDelta = 0;
        this.#tsDelta = 0;
      } else {
        const ticks = Math.max(1, Math.round(((nowMs - this.#lastAt) * this.clockRate) / 1000));
        this.#seqDelta = (this.#lastSeq + 1 - seq) & 0xffff;
        this.#tsDelta = (this.#lastTs + ticks - ts) >>> 0;
      }
    }
    const out = { seq: (seq + this.#seqDelta) & 0xffff, ts: (ts + this.#tsDelta) >>> 0 };
    if (this.#lastSeq === undefined || seqNewer(out.seq, this.#lastSeq)) {
      this.#lastSeq = out.seq;
      this.#lastTs = out.ts;
      this.#lastAt = nowMs;
    }
    return out;
  }

  /** The outgoing timestamp that corresponds to wall time `nowMs` (the last one sent, advanced by the time since). */
  timestampAt(nowMs: number): number | undefined {
    if (this.#lastSeq === undefined) return undefined;
    return (this.#lastTs + Math.round(((nowMs - this.#lastAt) * this.clockRate) / 1000)) >>> 0;
  }
}

/** RFC 1982 serial-number comparison on 16 bits: whether a comes after b. */
export function seqNewer(a: number, b: number): boolean {
  const diff = (a - b) & 0xffff;
  return diff !== 0 && diff < 0x8000;
}

/**
 * Whether a VP8 RTP payload (RFC 7741) is the first packet of a keyframe: the payload descriptor's S bit set
 * with partition index 0, and the VP8 frame tag's P bit (inverse keyframe flag) clear.
 */
export function isVp8KeyframeStart(payload: Buffer): boolean {
  if (payload.length < 1) return false;
  const b0 = payload[0]!;
  const start = (b0 & 0x10) !== 0;
  const partition = b0 & 0x07;
  if (!start || partition !== 0) return false;
  let offset = 1;
  if (b0 & 0x80) {
    const x = payload[offset++];
    if (x === undefined) return false;
    if (x & 0x80) {
      const pictureId = payload[offset];
      if (pictureId === undefined) return false;
      offset += pictureId & 0x80 ? 2 : 1;
    }
    if (x & 0x40) offset += 1;
    if (x & 0x30) offset += 1;
  }
  const tag = payload[offset];
  return tag !== undefined && (tag & 0x01) === 0;
}
