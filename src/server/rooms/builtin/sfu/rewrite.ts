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

/**
 * Where a VP8 payload descriptor (RFC 7741 §4.2) keeps its picture id and TL0PICIDX, and how long it is.
 * undefined for an empty or truncated payload.
 */
export interface Vp8Descriptor {
  /** Offset of the picture id, or -1 when absent. */
  readonly pictureIdOffset: number;
  /** Whether the picture id is 15 bits (M bit) rather than 7. */
  readonly longPictureId: boolean;
  /** Offset of TL0PICIDX, or -1 when absent. */
  readonly tl0Offset: number;
  /** Bytes of the descriptor: the VP8 payload header (frame tag) starts here. */
  readonly size: number;
}

export function parseVp8Descriptor(payload: Buffer): Vp8Descriptor | undefined {
  const b0 = payload[0];
  if (b0 === undefined) return undefined;
  let offset = 1;
  let pictureIdOffset = -1;
  let longPictureId = false;
  let tl0Offset = -1;
  if (b0 & 0x80) {
    const x = payload[offset++];
    if (x === undefined) return undefined;
    if (x & 0x80) {
      const first = payload[offset];
      if (first === undefined) return undefined;
      pictureIdOffset = offset;
      longPictureId = (first & 0x80) !== 0;
      offset += longPictureId ? 2 : 1;
    }
    if (x & 0x40) tl0Offset = offset++;
    if (x & 0x30) offset += 1;
  }
  if (offset > payload.length) return undefined;
  return { pictureIdOffset, longPictureId, tl0Offset, size: offset };
}

/**
 * The picture size in the first packet of a VP8 keyframe (RFC 6386 §9.1: the 3-byte frame tag, the start code
 * 9d 01 2a, then 14-bit width and height, little-endian, each with 2 scaling bits on top); undefined otherwise.
 */
export function vp8KeyframeSize(payload: Buffer): { width: number; height: number } | undefined {
  if (!isVp8KeyframeStart(payload)) return undefined;
  const descriptor = parseVp8Descriptor(payload);
  if (!descriptor) return undefined;
  const at = descriptor.size;
  if (payload.length < at + 10 || payload[at + 3] !== 0x9d || payload[at + 4] !== 0x01 || payload[at + 5] !== 0x2a) return undefined;
  return { width: payload.readUInt16LE(at + 6) & 0x3fff, height: payload.readUInt16LE(at + 8) & 0x3fff };
}

/**
 * Keeps VP8 picture ids and TL0PICIDX continuous on one outgoing stream when its source changes (a simulcast
 * layer switch): each layer's encoder numbers its pictures independently, and a receiver (libwebrtc's frame
 * reference finder) relates frames by picture id. After `rebaseNext()` the next packet (a keyframe) continues
 * from the last picture id sent plus one. Payloads are copied only when a rewrite changes them (never while the
 * stream has had one source), so a stream that never switches costs nothing.
 */
export class Vp8PictureRewriter {
  #pidDelta = 0;
  #tl0Delta = 0;
  #rebase = false;
  #lastPid: number | undefined;
  #lastTl0: number | undefined;

  rebaseNext(): void {
    this.#rebase = true;
  }

  rewrite(payload: Buffer): Buffer {
    const d = parseVp8Descriptor(payload);
    if (!d || (d.pictureIdOffset < 0 && d.tl0Offset < 0)) return payload;
    const pid = d.pictureIdOffset < 0 ? undefined : d.longPictureId ? payload.readUInt16BE(d.pictureIdOffset) & 0x7fff : payload[d.pictureIdOffset]! & 0x7f;
    const tl0 = d.tl0Offset < 0 ? undefined : payload[d.tl0Offset]!;
    if (this.#rebase) {
      this.#rebase = false;
      if (pid !== undefined && this.#lastPid !== undefined) this.#pidDelta = (this.#lastPid + 1 - pid) & 0x7fff;
      if (tl0 !== undefined && this.#lastTl0 !== undefined) this.#tl0Delta = (this.#lastTl0 + 1 - tl0) & 0xff;
    }
    let out = payload;
    if (pid !== undefined) {
      const mask = d.longPictureId ? 0x7fff : 0x7f;
      const next = (pid + this.#pidDelta) & mask;
      if (this.#pidDelta !== 0) {
        out = Buffer.from(payload);
        if (d.longPictureId) out.writeUInt16BE(0x8000 | next, d.pictureIdOffset);
        else out[d.pictureIdOffset] = next;
      }
      if (this.#lastPid === undefined || pidNewer(next, this.#lastPid, mask)) this.#lastPid = next;
    }
    if (tl0 !== undefined) {
      const next = (tl0 + this.#tl0Delta) & 0xff;
      if (this.#tl0Delta !== 0) {
        if (out === payload) out = Buffer.from(payload);
        out[d.tl0Offset] = next;
      }
      // TL0PICIDX repeats across the frames of higher temporal layers: keep the latest value seen.
      this.#lastTl0 = next;
    }
    return out;
  }
}

function pidNewer(a: number, b: number, mask: number): boolean {
  const diff = (a - b) & mask;
  return diff !== 0 && diff <= mask >> 1;
}

/**
 * Which SSRC of a simulcast publication an outgoing stream forwards. `current` flows until the `target` layer's
 * next keyframe starts; then the stream switches (sequence numbers, timestamps and picture ids rebased, so the
 * receiver sees one continuous stream) and the old layer is dropped from that packet on.
 */
export class LayerSwitch {
  current: number | undefined;
  target: number | undefined;

  constructor(
    readonly rewriter: StreamRewriter,
    readonly pictures: Vp8PictureRewriter,
  ) {}

  /** Wants `ssrc` (undefined: keep what flows). Returns whether a keyframe of the target is needed. */
  want(ssrc: number | undefined): boolean {
    if (ssrc === undefined || ssrc === this.current) {
      this.target = undefined;
      return false;
    }
    this.target = ssrc;
    return true;
  }

  /** Whether the packet is forwarded; switches to the target at its keyframe. */
  admit(ssrc: number, payload: Buffer): boolean {
    if (ssrc === this.target) {
      if (!isVp8KeyframeStart(payload)) return false;
      this.current = ssrc;
      this.target = undefined;
      this.rewriter.rebaseNext();
      this.pictures.rebaseNext();
      return true;
    }
    return ssrc === this.current;
  }

  /** Forward nothing until `want` names a layer again (and its keyframe comes). */
  reset(): void {
    this.current = undefined;
    this.target = undefined;
  }
}

/** The simulcast layer names, lowest first. */
export const VIDEO_LAYERS = ['low', 'medium', 'high'] as const;

/**
 * The layer each rid of a simulcast m-line carries, from the rids in SDP order. Chromium's rids for three
 * encodings are q, h, f (quarter, half, full resolution): with only those names, they say their layer. Otherwise
 * the order decides, lowest first (the order of the publisher's sendEncodings): one rid is 'high', two are
 * 'low' and 'high', and with three or more the first is 'low', the last 'high' and those between 'medium'.
 */
export function layerNamesForRids(rids: readonly string[]): (typeof VIDEO_LAYERS)[number][] {
  const named: Record<string, (typeof VIDEO_LAYERS)[number]> = { q: 'low', h: 'medium', f: 'high' };
  if (rids.length > 0 && rids.every((r) => r in named) && new Set(rids).size === rids.length) return rids.map((r) => named[r]!);
  return rids.map((_, i) => (i === rids.length - 1 ? 'high' : i === 0 ? 'low' : 'medium'));
}
