/**
 * The two ends of a forwarded stream: a Publication (a track a participant sends to the SFU) and a Slot (one of
 * a subscriber's outgoing m-lines). Packets flow Publication → every attached Slot; keyframe requests flow back.
 */
import {
  GenericNack,
  ReceiverEstimatedMaxBitrate,
  RTP_EXTENSION_URI,
  RtcpPayloadSpecificFeedback,
  RtcpRrPacket,
  RtcpSenderInfo,
  RtcpSrPacket,
  RtcpTransportLayerFeedback,
  RtpHeader,
  RtpPacket,
  type MediaStreamTrack,
  type RtcpPacket,
  type RTCRtpTransceiver,
} from 'werift';
import { LayerSwitch, StreamRewriter, VIDEO_LAYERS, Vp8PictureRewriter, isVp8KeyframeStart, layerNamesForRids, vp8KeyframeSize } from './rewrite.js';
import { LevelMeter } from './speaker.js';
import type { ForwardedTrack, PublishedTrack, SfuLogger, TrackKind, VideoLayer, VideoLayerChoice, VideoLayerInfo } from './types.js';

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

/**
 * A layer silent for this long while another layer of its track still sends is unavailable (the publisher stopped
 * sending it, e.g. for its bandwidth). Measured against the track's newest packet, not the clock: when everything
 * pauses (the publisher's network, an event-loop stall here), no layer is dropped, and subscribers do not flap
 * between layers as the backlog arrives one layer after another.
 */
export const LAYER_STALE_MS = 1500;
/** The window a layer's bit rate is measured over. */
const BITRATE_WINDOW_MS = 1000;
/** Sequence numbers remembered per received video SSRC to drop duplicate (retransmitted) packets. */
const DUPLICATE_WINDOW = 1024;
/** `Slot.keyframeWanted` of a non-simulcast slot: any SSRC of the publication will do. */
export const ANY_SSRC = -1;
/** The SSRC written on the packets a simulcast publication hands its recording (one continuous stream). */
const RECORDING_SSRC = 1;

/** One RTP stream of a video publication: a simulcast layer, or the only stream of a track without simulcast. */
export class Layer {
  /** Learned from the first packet (the rid header extension names its layer); null before that. */
  ssrc: number | undefined;
  lastPacketAt = 0;
  bitrateBps = 0;
  width: number | undefined;
  height: number | undefined;
  #bytes = 0;
  #windowStart = 0;

  constructor(
    readonly rid: string | null,
    readonly layer: VideoLayer,
    /** Position from the lowest (0). */
    readonly rank: number,
  ) {}

  count(bytes: number, now: number): void {
    this.lastPacketAt = now;
    if (this.#windowStart === 0) this.#windowStart = now;
    this.#bytes += bytes;
    const elapsed = now - this.#windowStart;
    if (elapsed >= BITRATE_WINDOW_MS) {
      this.bitrateBps = Math.round((this.#bytes * 8000) / elapsed);
      this.#bytes = 0;
      this.#windowStart = now;
    }
  }

  /** Whether the layer sends, relative to `newestAt` (the track's newest packet; see LAYER_STALE_MS). */
  active(newestAt: number): boolean {
    return this.ssrc !== undefined && newestAt - this.lastPacketAt <= LAYER_STALE_MS;
  }

  /** `silent`: the whole track has sent nothing for LAYER_STALE_MS (its rate is then 0). */
  info(silent: boolean): VideoLayerInfo {
    return {
      layer: this.layer,
      rid: this.rid,
      ssrc: this.ssrc ?? 0,
      bitrateBps: silent ? 0 : this.bitrateBps,
      ...(this.width !== undefined && this.height !== undefined ? { width: this.width, height: this.height } : {}),
    };
  }
}

/** werift's receiver NACK generator (private in werift): what the per-SSRC replacement needs of it. */
interface NackGenerator {
  addPacket(packet: RtpPacket): void;
  close(): void;
  readonly onPacketLost: { execute(...args: unknown[]): void; subscribe(fn: (...args: unknown[]) => void): Unsubscribable };
}

/**
 * werift's receiver keeps one NACK generator per receiver, which assumes one sequence-number space: fed the three
 * interleaved SSRCs of a simulcast m-line it would see thousands of "lost" packets per packet and NACK them every
 * 5 ms. A simulcast publication gives each SSRC its own generator (werift's own class), so upstream NACKs are per
 * layer.
 */
function nackPerSsrc(transceiver: RTCRtpTransceiver): void {
  const receiver = transceiver.receiver as unknown as { nack: NackGenerator & { perSsrc?: true } };
  const original = receiver.nack;
  if (original.perSsrc) return;
  const Generator = original.constructor as new (receiver: unknown) => NackGenerator;
  const bySsrc = new Map<number, NackGenerator>();
  receiver.nack = {
    perSsrc: true,
    onPacketLost: original.onPacketLost,
    addPacket(packet: RtpPacket): void {
      let generator = bySsrc.get(packet.header.ssrc);
      if (!generator) {
        generator = new Generator(receiver);
        // werift counts NACKs per SSRC from the receiver's event (its stats).
        generator.onPacketLost.subscribe((...args) => original.onPacketLost.execute(...args));
        bySsrc.set(packet.header.ssrc, generator);
      }
      generator.addPacket(packet);
    },
    close(): void {
      original.close();
      for (const generator of bySsrc.values()) generator.close();
      bySsrc.clear();
    },
  };
}

/**
 * A track a participant publishes, with the slots it is forwarded to.
 *
 * Video comes in layers: a simulcast m-line (`a=rid:… send`, `a=simulcast:send q;h;f`) carries one SSRC per rid,
 * learned from the rid header extension of its first packets (werift routes them to a receiver track per rid);
 * a track without simulcast is one layer, 'high', whatever SSRCs it uses. Each layer's bit rate and picture size
 * (from its VP8 keyframes) are measured; a layer silent for LAYER_STALE_MS is unavailable until it sends again.
 */
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
  /** @internal Called when the set of available layers changes (the SFU announces it). */
  onLayersChanged: (() => void) | undefined;
  /** Whether the publisher sends this video as rid simulcast layers. */
  simulcast = false;
  readonly #layers: Layer[] = [];
  readonly #layerBySsrc = new Map<number, { layer: Layer; seen: Int32Array }>();
  /** Bit i set: layer i available, as last announced. */
  #activeMask = 0;
  /** When the newest video packet of any layer arrived (layers are available relative to it). */
  #newestAt = 0;
  readonly #subscribed = new Map<string, Unsubscribable>();
  readonly #pli = new Map<number, { lastAt: number; timer: NodeJS.Timeout | undefined; asked: boolean }>();
  /** The recording's own layer switch (simulcast: the highest available layer, continuous across switches). */
  #recording: { tap: (rtp: RtpPacket) => void; layers: LayerSwitch } | undefined;
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
    const tracks = this.transceiver.receiver.tracks;
    if (this.info.kind === 'video' && this.#layers.length === 0) {
      const rids = tracks.map((t) => t.rid).filter((r): r is string => typeof r === 'string' && r.length > 0);
      if (rids.length > 0) {
        this.simulcast = true;
        layerNamesForRids(rids).forEach((name, i) => this.#layers.push(new Layer(rids[i]!, name, i)));
        nackPerSsrc(this.transceiver);
      } else {
        this.#layers.push(new Layer(null, 'high', 0));
      }
    }
    for (const track of tracks) {
      if (this.#subscribed.has(track.uuid)) continue;
      this.#subscribed.set(track.uuid, track.onReceiveRtp.subscribe((rtp, extensions) => this.#onRtp(rtp, extensions, track)));
    }
  }

  /** The SSRCs the publisher sends this track on (a simulcast layer's once its first packet came). */
  ssrcs(): number[] {
    const ssrcs = new Set<number>();
    for (const t of this.transceiver.receiver.tracks) if (typeof t.ssrc === 'number') ssrcs.add(t.ssrc);
    for (const layer of this.#layers) if (layer.ssrc !== undefined) ssrcs.add(layer.ssrc);
    return [...ssrcs];
  }

  /** How many layers the publisher declared (rids; 1 without simulcast, 0 for audio), whether it sends them now or not. */
  get layerCount(): number {
    return this.#layers.length;
  }

  /** The layers available now, lowest first (video; [] for audio). A track silent for LAYER_STALE_MS reports rate 0. */
  videoLayers(now = Date.now()): VideoLayerInfo[] {
    const silent = now - this.#newestAt > LAYER_STALE_MS;
    return this.#layers.filter((l) => l.active(this.#newestAt)).map((l) => l.info(silent));
  }

  /** The layer an SSRC carries. */
  layerOf(ssrc: number | undefined): VideoLayer | undefined {
    return ssrc === undefined ? undefined : this.#layerBySsrc.get(ssrc)?.layer.layer;
  }

  /** The available layer closest to `wanted` (ties: the lower one, it costs the subscriber less). */
  resolveLayer(wanted: VideoLayer): Layer | undefined {
    const want = VIDEO_LAYERS.indexOf(wanted);
    let best: Layer | undefined;
    let bestDistance = Infinity;
    for (const layer of this.#layers) {
      if (!layer.active(this.#newestAt)) continue;
      const distance = Math.abs(VIDEO_LAYERS.indexOf(layer.layer) - want);
      if (distance < bestDistance || (distance === bestDistance && best !== undefined && layer.rank < best.rank)) {
        best = layer;
        bestDistance = distance;
      }
    }
    return best;
  }

  #streamFor(ssrc: number, track: MediaStreamTrack): { layer: Layer; seen: Int32Array } | undefined {
    const known = this.#layerBySsrc.get(ssrc);
    if (known) return known;
    const layer = this.simulcast ? this.#layers.find((l) => l.rid === track.rid) : this.#layers[0];
    if (!layer) return undefined;
    // A layer restarted on a new SSRC (the publisher's encoder was recreated) replaces the old one.
    if (this.simulcast && layer.ssrc !== undefined) this.#layerBySsrc.delete(layer.ssrc);
    layer.ssrc = ssrc;
    const stream = { layer, seen: new Int32Array(DUPLICATE_WINDOW).fill(-1) };
    this.#layerBySsrc.set(ssrc, stream);
    // werift leaves a rid track's ssrc unset, and its statistics (upstream loss) only cover tracks with one.
    if (track.ssrc === undefined) track.ssrc = ssrc;
    return stream;
  }

  #onRtp(rtp: RtpPacket, extensions: Record<string, unknown> | undefined, track: MediaStreamTrack): void {
    if (this.#closed) return;
    this.packetsReceived++;
    const now = Date.now();
    if (this.info.kind === 'audio') {
      const level = extensions?.[RTP_EXTENSION_URI.audioLevelIndication] as { level?: unknown } | undefined;
      if (level && typeof level.level === 'number') {
        this.hasLevels = true;
        this.meter.add(level.level);
      }
    } else {
      const stream = this.#streamFor(rtp.header.ssrc, track);
      if (!stream) return; // a stream of a simulcast m-line that no rid names
      // werift's receiver NACKs a lost packet every 5 ms until it comes (up to 10 times): a stalled event loop
      // brings several retransmissions of one packet. Forward each sequence number once.
      const seq = rtp.header.sequenceNumber;
      const index = seq % DUPLICATE_WINDOW;
      if (stream.seen[index] === seq) return;
      stream.seen[index] = seq;
      const layer = stream.layer;
      const wasActive = layer.active(this.#newestAt);
      this.#newestAt = now;
      layer.count(rtp.payload.length, now);
      if (isVp8KeyframeStart(rtp.payload)) {
        const size = vp8KeyframeSize(rtp.payload);
        if (size) {
          layer.width = size.width;
          layer.height = size.height;
        }
      }
      if (!wasActive) this.checkLayers();
    }
    let anyKeyframe = false;
    for (const slot of this.slots) {
      slot.send(rtp, now);
      // A subscriber still waiting for a keyframe keeps asking (at most every PLI_MIN_INTERVAL_MS per layer): the
      // first PLI may have gone out before the publisher's SSRC was known, or been ignored while its encoder started.
      const wanted = slot.keyframeWanted;
      if (wanted === undefined || !slot.ready) continue;
      if (wanted === ANY_SSRC) anyKeyframe = true;
      else this.#pliTo(wanted, false);
    }
    if (anyKeyframe) for (const ssrc of this.ssrcs()) this.#pliTo(ssrc, false);
    if (this.recorderTap) this.#record(rtp, now);
  }

  /** Re-evaluates which layers are available (on a packet from a silent layer, and every second): slots follow. */
  checkLayers(): void {
    let mask = 0;
    this.#layers.forEach((layer, i) => {
      if (layer.active(this.#newestAt)) mask |= 1 << i;
    });
    if (mask === this.#activeMask) return;
    this.#activeMask = mask;
    for (const slot of this.slots) slot.reselect();
    this.onLayersChanged?.();
  }

  #record(rtp: RtpPacket, now: number): void {
    const tap = this.recorderTap!;
    if (!this.simulcast) {
      tap(rtp);
      return;
    }
    if (this.#recording?.tap !== tap) this.#recording = { tap, layers: new LayerSwitch(new StreamRewriter(CLOCK_RATE.video), new Vp8PictureRewriter()) };
    const { layers } = this.#recording;
    const best = this.resolveLayer('high')?.ssrc;
    if (layers.want(best) && best !== undefined) this.#pliTo(best, false);
    if (!layers.admit(rtp.header.ssrc, rtp.payload)) return;
    const { seq, ts } = layers.rewriter.rewrite(rtp.header.sequenceNumber, rtp.header.timestamp, now);
    const copy = rtp.clone();
    copy.header.sequenceNumber = seq;
    copy.header.timestamp = ts;
    copy.header.ssrc = RECORDING_SSRC;
    copy.payload = layers.pictures.rewrite(rtp.payload);
    tap(copy);
  }

  /**
   * Asks the publisher for a keyframe (video only) on one SSRC (a simulcast layer), or on every SSRC of the track,
   * at most once per PLI_MIN_INTERVAL_MS per SSRC; requests inside the window are coalesced into one at its end.
   */
  requestKeyframe(ssrc?: number): void {
    if (this.#closed || this.info.kind !== 'video') return;
    if (ssrc === undefined) {
      for (const s of this.ssrcs()) this.#pliTo(s, true);
    } else {
      this.#pliTo(ssrc, true);
    }
  }

  /**
   * One PLI to `ssrc`, now or at the end of its PLI_MIN_INTERVAL_MS window. `asked`: a request that must be
   * served (a subscriber's PLI, a new slot, a recording); the reminders of slots still waiting are dropped at the
   * end of the window when no slot waits any more (the keyframe came meanwhile).
   */
  #pliTo(ssrc: number, asked: boolean): void {
    let state = this.#pli.get(ssrc);
    if (!state) {
      state = { lastAt: 0, timer: undefined, asked: false };
      this.#pli.set(ssrc, state);
    }
    if (state.timer) {
      state.asked ||= asked;
      return;
    }
    const wait = state.lastAt + PLI_MIN_INTERVAL_MS - Date.now();
    if (wait > 0) {
      const pending = state;
      pending.asked = asked;
      pending.timer = setTimeout(() => {
        pending.timer = undefined;
        if (!this.#closed && (pending.asked || this.#slotWaitsFor(ssrc))) this.#pliTo(ssrc, pending.asked);
      }, wait);
      return;
    }
    state.asked = false;
    state.lastAt = Date.now();
    this.transceiver.receiver
      .sendRtcpPLI(ssrc)
      .catch((error: unknown) => this.log.debug({ err: error, trackId: this.info.trackId }, 'sfu: PLI failed'));
  }

  #slotWaitsFor(ssrc: number): boolean {
    for (const slot of this.slots) {
      const wanted = slot.keyframeWanted;
      if (slot.ready && (wanted === ssrc || wanted === ANY_SSRC)) return true;
    }
    return this.#recording?.layers.target === ssrc;
  }

  close(): void {
    this.#closed = true;
    this.recorderTap = undefined;
    this.onLayersChanged = undefined;
    this.#recording = undefined;
    for (const state of this.#pli.values()) if (state.timer) clearTimeout(state.timer);
    this.#pli.clear();
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
  /** When the last receiver report for this slot came (ms). */
  remoteReportAtMs = 0;
  /** Round trip measured from the subscriber's receiver reports against this slot's sender reports. */
  rttMs: number | undefined;
  /**
   * The subscriber's last REMB naming this slot's SSRC first (werift hands a REMB to that sender only): its
   * estimate of what it can receive in all, and when it came (the downlink estimate, downlink.ts).
   */
  remb: { bps: number; atMs: number } | undefined;
  readonly #rewriter: StreamRewriter;
  #waitingForKeyframe = false;
  /** Video: the layer the subscriber asked for (Sfu.setVideoLayer); 'high' by default: the best available. */
  #choice: VideoLayerChoice = 'high';
  /** Video from a simulcast publication: which layer flows, and which one it switches to at its next keyframe. */
  readonly #layers: LayerSwitch;
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
    this.#layers = new LayerSwitch(this.#rewriter, new Vp8PictureRewriter());
    if (kind === 'video') {
      this.#history = new Array<Buffer | undefined>(RTP_HISTORY_SIZE);
      this.#historySeq = new Int32Array(RTP_HISTORY_SIZE).fill(-1);
    }
    const sender = transceiver.sender;
    // A subscriber's PLI goes to the publisher of whatever this slot carries (pitfall 8).
    this.#subscriptions.push(sender.onPictureLossIndication.subscribe(() => this.requestKeyframe()));
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
    this.#layers.reset();
    this.#layers.pictures.rebaseNext();
    // The caller asks for the keyframe once the slot is attached (a PLI here would be a second one).
    this.#retarget();
  }

  unassign(): void {
    this.publication?.slots.delete(this);
    this.publication = undefined;
    this.#layers.reset();
  }

  /** Whether this video slot is still waiting for a keyframe after being (re)assigned or switching layers. */
  get waitingForKeyframe(): boolean {
    return this.keyframeWanted !== undefined;
  }

  /**
   * The SSRC this video slot needs a keyframe from (a simulcast layer it switches to), ANY_SSRC for a track
   * without simulcast, or undefined when it needs none (flowing, 'off', audio).
   */
  get keyframeWanted(): number | undefined {
    if (this.kind !== 'video' || this.#choice === 'off' || !this.publication) return undefined;
    if (this.publication.simulcast) return this.#layers.target;
    return this.#waitingForKeyframe ? ANY_SSRC : undefined;
  }

  /** The layer asked for, and the one flowing now (null: none yet, or 'off'). */
  get layerState(): { choice: VideoLayerChoice; current: VideoLayer | null } {
    const publication = this.publication;
    let current: VideoLayer | null = null;
    if (publication && this.#choice !== 'off') {
      if (publication.simulcast) current = publication.layerOf(this.#layers.current) ?? null;
      else if (!this.#waitingForKeyframe) current = 'high';
    }
    return { choice: this.#choice, current };
  }

  /**
   * Which layer of its publication this video slot forwards (the slot stays assigned whatever the choice: 'off'
   * forwards nothing, without a renegotiation). A change of layer waits for the new layer's keyframe while the
   * old one keeps flowing; from 'off', nothing flows until that keyframe.
   */
  setLayer(choice: VideoLayerChoice): void {
    if (this.kind !== 'video' || choice === this.#choice) return;
    const wasOff = this.#choice === 'off';
    this.#choice = choice;
    if (choice === 'off') {
      this.#layers.reset();
      return;
    }
    if (wasOff) {
      // Nothing was sent meanwhile: the next packet continues the sequence, timestamps advance by the pause.
      this.#rewriter.rebaseNext();
      this.#waitingForKeyframe = true;
    }
    this.reselect();
    if (wasOff && !this.publication?.simulcast) this.requestKeyframe();
  }

  /** Re-targets the best available layer for the slot's choice (layers come and go as the publisher sends them). */
  reselect(): void {
    const want = this.#retarget();
    if (want !== undefined && this.ready) this.publication?.requestKeyframe(want);
  }

  /** Points the layer switch at the best available layer; returns the SSRC a keyframe is needed from, if any. */
  #retarget(): number | undefined {
    const publication = this.publication;
    if (this.kind !== 'video' || !publication?.simulcast || this.#choice === 'off') return undefined;
    const want = publication.resolveLayer(this.#choice)?.ssrc;
    return this.#layers.want(want) ? want : undefined;
  }

  /** Asks the publisher for a keyframe of what this slot forwards (or is about to). */
  requestKeyframe(): void {
    const publication = this.publication;
    if (!publication || this.kind !== 'video' || this.#choice === 'off') return;
    if (!publication.simulcast) {
      publication.requestKeyframe();
      return;
    }
    const ssrc = this.#layers.target ?? this.#layers.current;
    if (ssrc !== undefined) publication.requestKeyframe(ssrc);
  }

  send(rtp: RtpPacket, now: number): void {
    const sender = this.transceiver.sender;
    const codec = sender.codec;
    const transport = sender.dtlsTransport;
    // Until the slot can send, keep waiting: a keyframe handed to a sender that drops it would be lost.
    if (codec === undefined || transport?.state !== 'connected') return;
    let payload = rtp.payload;
    if (this.kind === 'video') {
      if (this.#choice === 'off') return;
      if (this.publication?.simulcast) {
        // One layer: the one flowing, or the target from its keyframe on (LayerSwitch rebases at the switch).
        if (!this.#layers.admit(rtp.header.ssrc, payload)) return;
        this.#waitingForKeyframe = false;
        payload = this.#layers.pictures.rewrite(payload);
      } else if (this.#waitingForKeyframe) {
        if (!isVp8KeyframeStart(payload)) return;
        this.#waitingForKeyframe = false;
      }
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
      packet = transport.srtp.encrypt(payload, header);
    } catch (error) {
      this.log.debug({ err: error, mid: this.mid }, 'sfu: SRTP encrypt failed');
      return;
    }
    if (this.#history && this.#historySeq) {
      this.#history[seq % RTP_HISTORY_SIZE] = packet;
      this.#historySeq[seq % RTP_HISTORY_SIZE] = seq;
    }
    this.packetsSent++;
    this.octetsSent += payload.length;
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
    if (packet instanceof RtcpPayloadSpecificFeedback) {
      if (packet.feedback instanceof ReceiverEstimatedMaxBitrate) this.remb = { bps: Number(packet.feedback.bitrate), atMs: Date.now() };
      return;
    }
    if (packet instanceof RtcpTransportLayerFeedback) {
      if (packet.feedback instanceof GenericNack) this.#retransmit(packet.feedback.lost);
      return;
    }
    if (!(packet instanceof RtcpRrPacket || packet instanceof RtcpSrPacket)) return;
    const report = packet.reports.find((r) => r.ssrc === this.transceiver.sender.ssrc);
    if (!report) return;
    this.remoteJitterMs = (report.jitter / CLOCK_RATE[this.kind]) * 1000;
    this.remoteFractionLost = report.fractionLost / 256;
    this.remoteReportAtMs = Date.now();
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
