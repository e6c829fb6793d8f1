/**
 * The two ends of a forwarded stream: a Publication (a track a participant sends to the SFU) and a Slot (one of
 * a subscriber's outgoing m-lines). Packets flow Publication → every attached Slot; keyframe requests flow back.
 */
import {
  RTP_EXTENSION_URI,
  RtcpRrPacket,
  RtcpSrPacket,
  RtpHeader,
  RtpPacket,
  type RtcpPacket,
  type RTCRtpTransceiver,
} from 'werift';
import { StreamRewriter, isVp8KeyframeStart } from './rewrite.js';
import { LevelMeter } from './speaker.js';
import type { ForwardedTrack, PublishedTrack, SfuLogger, TrackKind } from './types.js';

export const CLOCK_RATE: Record<TrackKind, number> = { audio: 48_000, video: 90_000 };
/** Minimum spacing of PLIs sent to one publisher track; requests inside the window are coalesced into one at its end. */
export const PLI_MIN_INTERVAL_MS = 250;
const ONE_BYTE_PROFILE = 0xbede;

interface Unsubscribable {
  unSubscribe(): void;
}

/** A track a participant publishes, with the slots it is forwarded to. */
export class Publication {
  readonly slots = new Set<Slot>();
  readonly meter = new LevelMeter();
  /** Whether any packet carried the audio-level extension (dominant speaker only considers tracks that do). */
  hasLevels = false;
  packetsReceived = 0;
  /** Upstream loss over the owner's last stats interval (0..1), set by the publishing session's sampler. */
  lossFraction: number | undefined;
  /** @internal A recording's tap (recorder.ts): sees every received packet after it is forwarded; unset when not recording. */
  recorderTap: ((rtp: RtpPacket) => void) | undefined;
  readonly #subscribed = new Map<string, Unsubscribable>();
  #lastPliAt = 0;
  #pliTimer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(
    readonly info: PublishedTrack,
    readonly transceiver: RTCRtpTransceiver,
    private readonly log: SfuLogger,
  ) {
    this.refreshTracks();
  }

  /** Subscribes to every incoming SSRC of the receiver (called again after each negotiation: an SSRC can be added). */
  refreshTracks(): void {
    for (const track of this.transceiver.receiver.tracks) {
      if (this.#subscribed.has(track.uuid)) continue;
      this.#subscribed.set(track.uuid, track.onReceiveRtp.subscribe((rtp, extensions) => this.#onRtp(rtp, extensions)));
    }
  }

  /** The SSRCs the publisher sends this track on. */
  ssrcs(): number[] {
    return this.transceiver.receiver.tracks.map((t) => t.ssrc).filter((s): s is number => typeof s === 'number');
  }

  #onRtp(rtp: RtpPacket, extensions: Record<string, unknown> | undefined): void {
    if (this.#closed) return;
    this.packetsReceived++;
    if (this.info.kind === 'audio') {
      const level = extensions?.[RTP_EXTENSION_URI.audioLevelIndication] as { level?: unknown } | undefined;
      if (level && typeof level.level === 'number') {
        this.hasLevels = true;
        this.meter.add(level.level);
      }
    }
    const now = Date.now();
    let waiting = false;
    for (const slot of this.slots) {
      slot.send(rtp, now);
      if (slot.waitingForKeyframe && slot.ready) waiting = true;
    }
    // A subscriber still waiting for a keyframe keeps asking (at most every PLI_MIN_INTERVAL_MS): the first PLI
    // may have gone out before the publisher's SSRC was known, or been ignored while its encoder started.
    if (waiting && !this.#pliTimer) this.requestKeyframe();
    if (this.recorderTap) this.recorderTap(rtp);
  }

  /** Asks the publisher for a keyframe (video only), at most once per PLI_MIN_INTERVAL_MS. */
  requestKeyframe(): void {
    if (this.#closed || this.info.kind !== 'video' || this.#pliTimer) return;
    const wait = this.#lastPliAt + PLI_MIN_INTERVAL_MS - Date.now();
    if (wait > 0) {
      this.#pliTimer = setTimeout(() => {
        this.#pliTimer = undefined;
        this.requestKeyframe();
      }, wait);
      return;
    }
    this.#lastPliAt = Date.now();
    const receiver = this.transceiver.receiver;
    for (const ssrc of this.ssrcs()) {
      receiver.sendRtcpPLI(ssrc).catch((error: unknown) => this.log.debug({ err: error, trackId: this.info.trackId }, 'sfu: PLI failed'));
    }
  }

  close(): void {
    this.#closed = true;
    this.recorderTap = undefined;
    if (this.#pliTimer) clearTimeout(this.#pliTimer);
    this.#pliTimer = undefined;
    for (const sub of this.#subscribed.values()) sub.unSubscribe();
    this.#subscribed.clear();
    for (const slot of [...this.slots]) slot.unassign();
  }
}

/** One of a subscriber's sending m-lines; carries at most one publication at a time. */
export class Slot {
  publication: Publication | undefined;
  /** The track this slot carried last (idle slots are handed back to the same track first, e.g. on unmute). */
  lastTrackId: string | undefined;
  packetsSent = 0;
  /** From the subscriber's receiver reports on this slot. */
  remoteJitterMs: number | undefined;
  remoteFractionLost: number | undefined;
  readonly #rewriter: StreamRewriter;
  #waitingForKeyframe = false;
  readonly #subscriptions: Unsubscribable[] = [];

  constructor(
    readonly transceiver: RTCRtpTransceiver,
    readonly kind: TrackKind,
    private readonly log: SfuLogger,
  ) {
    this.#rewriter = new StreamRewriter(CLOCK_RATE[kind]);
    const sender = transceiver.sender;
    // A subscriber's PLI goes to the publisher of whatever this slot carries (pitfall 8).
    this.#subscriptions.push(sender.onPictureLossIndication.subscribe(() => this.publication?.requestKeyframe()));
    this.#subscriptions.push(sender.onRtcp.subscribe((packet) => this.#onRtcp(packet)));
  }

  get mid(): string | null {
    return this.transceiver.mid;
  }

  /** Whether packets handed to the sender now would go out (negotiated and DTLS connected). */
  get ready(): boolean {
    const sender = this.transceiver.sender;
    return sender.codec !== undefined && sender.dtlsTransport?.state === 'connected';
  }

  /** Whether the slot has been through a completed negotiation and can be reassigned without a new offer. */
  get negotiated(): boolean {
    return this.transceiver.sender.codec !== undefined;
  }

  describe(): ForwardedTrack | undefined {
    const mid = this.mid;
    if (mid === null) return undefined;
    const info = this.publication?.info;
    return { mid, kind: this.kind, publisherId: info?.participantId ?? null, trackId: info?.trackId ?? null, source: info?.source ?? null };
  }

  assign(publication: Publication): void {
    if (this.publication === publication) return;
    this.unassign();
    this.publication = publication;
    this.lastTrackId = publication.info.trackId;
    publication.slots.add(this);
    this.#rewriter.rebaseNext();
    this.#waitingForKeyframe = this.kind === 'video';
  }

  unassign(): void {
    this.publication?.slots.delete(this);
    this.publication = undefined;
  }

  /** Whether this video slot is still waiting for a keyframe after being (re)assigned. */
  get waitingForKeyframe(): boolean {
    return this.#waitingForKeyframe;
  }

  send(rtp: RtpPacket, now: number): void {
    // Until the slot can send, keep waiting: a keyframe handed to a sender that drops it would be lost.
    if (!this.ready) return;
    if (this.#waitingForKeyframe) {
      if (!isVp8KeyframeStart(rtp.payload)) return;
      this.#waitingForKeyframe = false;
    }
    const { seq, ts } = this.#rewriter.rewrite(rtp.header.sequenceNumber, rtp.header.timestamp, now);
    // A fresh packet per subscriber (sendRtp mutates it and keeps it for NACK, pitfall 4) without the
    // publisher's header extensions (their ids belong to the publisher's negotiation, pitfall 3).
    const header = new RtpHeader({
      ...rtp.header,
      sequenceNumber: seq,
      timestamp: ts,
      csrc: [...rtp.header.csrc],
      extension: false,
      extensionProfile: ONE_BYTE_PROFILE,
      extensions: [],
    });
    this.packetsSent++;
    this.transceiver.sender
      .sendRtp(new RtpPacket(header, rtp.payload))
      .catch((error: unknown) => this.log.debug({ err: error, mid: this.mid }, 'sfu: sendRtp failed'));
  }

  #onRtcp(packet: RtcpPacket): void {
    if (!(packet instanceof RtcpRrPacket || packet instanceof RtcpSrPacket)) return;
    const report = packet.reports.find((r) => r.ssrc === this.transceiver.sender.ssrc);
    if (!report) return;
    this.remoteJitterMs = (report.jitter / CLOCK_RATE[this.kind]) * 1000;
    this.remoteFractionLost = report.fractionLost / 256;
  }

  close(): void {
    this.unassign();
    for (const sub of this.#subscriptions) sub.unSubscribe();
    this.#subscriptions.length = 0;
  }
}
