/**
 * The two ends of a forwarded stream: a Publication (a track a participant sends to the SFU) and a Slot (one of
 * a subscriber's outgoing m-lines). Packets flow Publication → every attached Slot; keyframe requests flow back.
 */
import {
  GenericNack,
  RTP_EXTENSION_URI,
  RtcpRrPacket,
  RtcpSenderInfo,
  RtcpSrPacket,
  RtcpTransportLayerFeedback,
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
/** Sent packets a video slot keeps for retransmission on NACK (as werift's sender does): ~0.8 s at 1 Mbps. */
export const RTP_HISTORY_SIZE = 128;
/** Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
const NTP_UNIX_OFFSET_S = 2_208_988_800;

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

/**
 * One of a subscriber's sending m-lines; carries at most one publication at a time.
 *
 * The send path is the SFU's hot loop (one call per forwarded packet per subscriber), so it does not go through
 * werift's `RTCRtpSender.sendRtp`, which per packet rebuilds and sorts the header extensions, formats the NTP
 * time as a string, and feeds a bandwidth estimator the SFU does not use (see bench/README.md). A slot writes
 * the packet itself: a fresh header (the subscriber's SSRC, payload type, rewritten sequence number and
 * timestamp, and only the `sdes:mid` extension, pitfall 3), encrypted by the transport's werift SRTP session
 * and sent on its ICE connection. The slot therefore also does what the sender would have done with it: keep
 * sent video packets for NACK retransmission, answer NACKs, and produce RTCP sender reports
 * (`senderReport()`, sent by the session) whose NTP/RTP pair lets the subscriber synchronise audio and video,
 * and from whose receiver reports it measures the round trip.
 */
export class Slot {
  publication: Publication | undefined;
  /** The track this slot carried last (idle slots are handed back to the same track first, e.g. on unmute). */
  lastTrackId: string | undefined;
  packetsSent = 0;
  octetsSent = 0;
  packetsRetransmitted = 0;
  /** From the subscriber's receiver reports on this slot. */
  remoteJitterMs: number | undefined;
  remoteFractionLost: number | undefined;
  /** Round trip measured from the subscriber's receiver reports against this slot's sender reports. */
  rttMs: number | undefined;
  readonly #rewriter: StreamRewriter;
  #waitingForKeyframe = false;
  readonly #subscriptions: Unsubscribable[] = [];
  /** The `sdes:mid` extension written on every packet, built once per (mid, id). */
  #midExtension: { mid: string; extension: { id: number; payload: Buffer } } | undefined;
  /** Encrypted packets as sent, by sequence number modulo RTP_HISTORY_SIZE (video only; audio has no NACK). */
  readonly #history: (Buffer | undefined)[] | undefined;
  readonly #historySeq: Int32Array | undefined;
  /** The middle 32 bits of the last sender report's NTP time, and when it was sent (ms), for the round trip. */
  #lastSr: { compactNtp: number; sentAtMs: number } | undefined;

  constructor(
    readonly transceiver: RTCRtpTransceiver,
    readonly kind: TrackKind,
    private readonly log: SfuLogger,
  ) {
    this.#rewriter = new StreamRewriter(CLOCK_RATE[kind]);
    if (kind === 'video') {
      this.#history = new Array<Buffer | undefined>(RTP_HISTORY_SIZE);
      this.#historySeq = new Int32Array(RTP_HISTORY_SIZE).fill(-1);
    }
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
    const sender = this.transceiver.sender;
    const codec = sender.codec;
    const transport = sender.dtlsTransport;
    // Until the slot can send, keep waiting: a keyframe handed to a sender that drops it would be lost.
    if (codec === undefined || transport?.state !== 'connected') return;
    if (this.#waitingForKeyframe) {
      if (!isVp8KeyframeStart(rtp.payload)) return;
      this.#waitingForKeyframe = false;
    }
    const { seq, ts } = this.#rewriter.rewrite(rtp.header.sequenceNumber, rtp.header.timestamp, now);
    const csrc = rtp.header.csrc;
    const mid = this.#midExtensionFor(this.transceiver.mid);
    const header = new RtpHeader({
      marker: rtp.header.marker,
      payloadType: codec.payloadType,
      sequenceNumber: seq,
      timestamp: ts,
      ssrc: sender.ssrc,
      csrc: csrc.length === 0 ? [] : [...csrc],
      extension: mid !== undefined,
      extensionProfile: ONE_BYTE_PROFILE,
      extensions: mid === undefined ? [] : [mid],
    });
    let packet: Buffer;
    try {
      packet = transport.srtp.encrypt(rtp.payload, header);
    } catch (error) {
      this.log.debug({ err: error, mid: this.mid }, 'sfu: SRTP encrypt failed');
      return;
    }
    if (this.#history && this.#historySeq) {
      this.#history[seq % RTP_HISTORY_SIZE] = packet;
      this.#historySeq[seq % RTP_HISTORY_SIZE] = seq;
    }
    this.packetsSent++;
    this.octetsSent += rtp.payload.length;
    this.#transmit(packet);
  }

  /**
   * The RTCP sender report for this slot at `nowMs`, or undefined before it sent anything or while idle. The RTP timestamp
   * is the last sent one advanced by the wall time since (what the subscriber would see at `nowMs`), on the
   * same arrival clock for audio and video, so the pair keeps a publisher's tracks in sync.
   */
  senderReport(nowMs: number): RtcpSrPacket | undefined {
    if (this.packetsSent === 0 || this.publication === undefined) return undefined;
    const rtpTimestamp = this.#rewriter.timestampAt(nowMs);
    if (rtpTimestamp === undefined) return undefined;
    const seconds = Math.floor(nowMs / 1000);
    const fraction = Math.floor(((nowMs - seconds * 1000) / 1000) * 0x1_0000_0000);
    const ntpSeconds = seconds + NTP_UNIX_OFFSET_S;
    this.#lastSr = { compactNtp: (((ntpSeconds & 0xffff) << 16) | (fraction >>> 16)) >>> 0, sentAtMs: nowMs };
    return new RtcpSrPacket({
      ssrc: this.transceiver.sender.ssrc,
      senderInfo: new RtcpSenderInfo({
        ntpTimestamp: (BigInt(ntpSeconds) << 32n) | BigInt(fraction),
        rtpTimestamp,
        packetCount: this.packetsSent >>> 0,
        octetCount: this.octetsSent >>> 0,
      }),
    });
  }

  #midExtensionFor(mid: string | null): { id: number; payload: Buffer } | undefined {
    if (mid === null) return undefined;
    const cached = this.#midExtension;
    if (cached?.mid === mid) return cached.extension;
    const id = this.transceiver.headerExtensions.find((e) => e.uri === RTP_EXTENSION_URI.sdesMid)?.id;
    if (id === undefined) return undefined;
    this.#midExtension = { mid, extension: { id, payload: Buffer.from(mid, 'utf8') } };
    return this.#midExtension.extension;
  }

  #transmit(packet: Buffer): void {
    const transport = this.transceiver.sender.dtlsTransport;
    transport.bytesSent += packet.length;
    transport.packetsSent++;
    transport.iceTransport.connection.send(packet).catch((error: unknown) => this.log.debug({ err: error, mid: this.mid }, 'sfu: send failed'));
  }

  #retransmit(lost: readonly number[]): void {
    if (!this.#history || !this.#historySeq || !this.ready) return;
    for (const seq of lost) {
      const index = seq % RTP_HISTORY_SIZE;
      const packet = this.#history[index];
      if (packet === undefined || this.#historySeq[index] !== seq) continue;
      this.packetsRetransmitted++;
      this.#transmit(packet);
    }
  }

  #onRtcp(packet: RtcpPacket): void {
    if (packet instanceof RtcpTransportLayerFeedback) {
      if (packet.feedback instanceof GenericNack) this.#retransmit(packet.feedback.lost);
      return;
    }
    if (!(packet instanceof RtcpRrPacket || packet instanceof RtcpSrPacket)) return;
    const report = packet.reports.find((r) => r.ssrc === this.transceiver.sender.ssrc);
    if (!report) return;
    this.remoteJitterMs = (report.jitter / CLOCK_RATE[this.kind]) * 1000;
    this.remoteFractionLost = report.fractionLost / 256;
    const sr = this.#lastSr;
    if (sr && report.lsr !== 0 && report.lsr === sr.compactNtp) {
      const rtt = Date.now() - sr.sentAtMs - (report.dlsr / 65536) * 1000;
      if (rtt >= 0) this.rttMs = this.rttMs === undefined ? rtt : 0.8 * this.rttMs + 0.2 * rtt;
    }
  }

  close(): void {
    this.unassign();
    for (const sub of this.#subscriptions) sub.unSubscribe();
    this.#subscriptions.length = 0;
  }
}
