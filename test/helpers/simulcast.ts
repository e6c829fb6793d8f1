// Headless simulcast publishers for tests and benchmarks: real VP8 in three layers plus Opus with audio levels.
//
// ensureSimulcastCapture() makes (once, cached like test/helpers/replay.ts) three VP8 encodes of the test capture
// at three sizes, default 320x180 / 640x360 / 1280x720 (rids q, h, f: the names and order Chromium uses for
// sendEncodings low → full), each with a keyframe every 2 s, and keeps the Opus 440 Hz tone of the first one.
//
// SimulcastPublisher owns a werift RTCPeerConnection whose video m-line offers `a=rid:q send`, `a=rid:h send`,
// `a=rid:f send` and `a=simulcast:send q;h;f`. werift cannot send simulcast through its API (one SSRC per sender),
// so the publisher writes each layer's packets itself, as a browser would: its own SSRC per layer, the sdes:mid
// and sdes:rtp-stream-id header extensions (until the SFU's receiver report for that SSRC arrives, as libwebrtc
// does; later packets are identified by SSRC alone), encrypted with the transport's SRTP session and sent on its ICE
// connection. PLIs are answered per layer (that layer rewinds to its latest keyframe, like ReplaySource), NACKs
// from a 256-packet history per layer. Audio goes through werift's sender with the RFC 6464 audio-level extension:
// `speak()` makes this publisher loud (dominant speaker), `quiet()` background level.
//
// The caller does the signaling: `offer()` / `answer()` give and take SDP (any transport: in-process Sfu, IPC,
// WS /rtc), or `joinSfu()` connects one publisher to an in-process Sfu directly.
import { createHash, randomBytes } from 'node:crypto';
import {
  GenericNack,
  MediaStreamTrack,
  PictureLossIndication,
  RTCPeerConnection,
  RTP_EXTENSION_URI,
  ReceiverEstimatedMaxBitrate,
  RtcpPayloadSpecificFeedback,
  RtcpRrPacket,
  RtcpSrPacket,
  RtcpTransportLayerFeedback,
  RtpHeader,
  RtpPacket,
  useAudioLevelIndication,
  useRepairedRtpStreamId,
  useSdesMid,
  useSdesRTPStreamId,
  type RtcpPacket,
  type RTCRtpTransceiver,
} from 'werift';
import { isVp8KeyframeStart, parseVp8Descriptor, vp8KeyframeSize } from '../../src/server/rooms/builtin/sfu/rewrite.js';
import type { Sfu } from '../../src/server/rooms/builtin/sfu/sfu.js';
import type { SfuParticipant } from '../../src/server/rooms/builtin/sfu/participant.js';
import { SfuError, type IceCandidateInit } from '../../src/server/rooms/builtin/sfu/types.js';
import { suppressDefaultStun } from '../../src/server/rooms/builtin/sfu/werift.js';
import { LOOPBACK_ONLY, waitFor } from './media.js';
import { ReplaySource, ensureCapture, type Capture, type CaptureStream, type CapturedPacket } from './replay.js';

export type LayerName = 'low' | 'medium' | 'high';

export interface LayerSpec {
  readonly rid: string;
  readonly layer: LayerName;
  readonly width: number;
  readonly height: number;
  readonly bitrateKbps: number;
}

/** Chromium's three layers for a 1280x720 camera (rids q, h, f), with bit rates near its defaults. */
export const SIMULCAST_LAYERS: readonly LayerSpec[] = [
  { rid: 'q', layer: 'low', width: 320, height: 180, bitrateKbps: 150 },
  { rid: 'h', layer: 'medium', width: 640, height: 360, bitrateKbps: 400 },
  { rid: 'f', layer: 'high', width: 1280, height: 720, bitrateKbps: 1000 },
];

export interface SimulcastCapture {
  readonly layers: readonly (LayerSpec & { readonly capture: Capture })[];
  readonly audio: CaptureStream;
}

export interface SimulcastCaptureOptions {
  /** Default SIMULCAST_LAYERS (lowest first). */
  layers?: readonly LayerSpec[];
  /** Clip length (one loop). Default 10. */
  seconds?: number;
  /** Opus target bitrate (ensureCapture's audioKbps). Default 48. */
  audioKbps?: number;
  /** Cache root. Default os.tmpdir(). */
  dir?: string;
}

/** The three encodes (made one after the other: two ffmpeg encodes at once lose packets on a loaded machine). */
export async function ensureSimulcastCapture(options: SimulcastCaptureOptions = {}): Promise<SimulcastCapture> {
  const specs = options.layers ?? SIMULCAST_LAYERS;
  if (specs.length === 0 || new Set(specs.map((s) => s.rid)).size !== specs.length) throw new RangeError('ensureSimulcastCapture: distinct rids, at least one');
  const layers: (LayerSpec & { capture: Capture })[] = [];
  for (const spec of specs) {
    const capture = await ensureCapture({
      seconds: options.seconds ?? 10,
      bitrateKbps: spec.bitrateKbps,
      size: { width: spec.width, height: spec.height },
      ...(options.audioKbps ? { audioKbps: options.audioKbps } : {}),
      ...(options.dir ? { dir: options.dir } : {}),
    });
    layers.push({ ...spec, capture });
  }
  return { layers, audio: layers[0]!.capture.audio };
}

/** werift settings of a simulcast publisher: loopback only (as every media test), plus the rid header extensions. */
export const SIMULCAST_PEER_CONFIG = {
  ...LOOPBACK_ONLY,
  headerExtensions: {
    audio: [useSdesMid(), useAudioLevelIndication()],
    video: [useSdesMid(), useSdesRTPStreamId(), useRepairedRtpStreamId()],
  },
};

/** Audio level (RFC 6464 -dBov) of a publisher that is not speaking, and of one that is (speaker.ts: ≤ 60 speaks). */
export const QUIET_DBOV = 90;
export const SPEAKING_DBOV = 25;

// ---------------------------------------------------------------------------------------------------------
// Pacing (one shared 20 ms timer, as ReplaySource)
// ---------------------------------------------------------------------------------------------------------

const TICK_MS = 20;
const MAX_BURST_MS = 500;
const HISTORY = 256;
const active = new Set<SimulcastPublisher>();
let ticker: NodeJS.Timeout | undefined;

function schedule(publisher: SimulcastPublisher): void {
  active.add(publisher);
  if (ticker) return;
  ticker = setInterval(() => {
    const now = performance.now();
    for (const p of active) p.tick(now);
  }, TICK_MS);
  ticker.unref();
}

function unschedule(publisher: SimulcastPublisher): void {
  active.delete(publisher);
  if (active.size === 0 && ticker) {
    clearInterval(ticker);
    ticker = undefined;
  }
}

/**
 * Walks one capture stream in real time, in a loop, with continuous output timestamps (clock units since the
 * start); `rewind()` jumps back to the latest keyframe passed at the next frame boundary (answering a PLI).
 */
class Cursor {
  #index = 0;
  #offset = 0;
  #lastOut = -1;
  #atFrameStart = true;
  #rewindWanted = false;
  #lastRewindAt = -Infinity;
  rewinds = 0;

  constructor(readonly stream: CaptureStream) {}

  /** The packets due by `due` (clock units since start), with their output timestamps. */
  *due(due: number, now: number): Generator<{ packet: CapturedPacket; out: number; frameStart: boolean }> {
    const packets = this.stream.packets;
    for (;;) {
      if (this.#rewindWanted && this.#atFrameStart && now - this.#lastRewindAt >= 250) this.#rewind(now);
      const packet = packets[this.#index]!;
      const out = packet.ts + this.#offset;
      if (out > due) return;
      const frameStart = this.#atFrameStart;
      this.#lastOut = out;
      this.#atFrameStart = this.stream.kind === 'audio' || packet.marker;
      if (++this.#index === packets.length) {
        this.#index = 0;
        this.#offset += this.stream.loopTs;
      }
      yield { packet, out, frameStart };
    }
  }

  /** The next packet's output timestamp. */
  next(): number {
    return this.stream.packets[this.#index]!.ts + this.#offset;
  }

  requestRewind(): void {
    this.#rewindWanted = true;
  }

  #rewind(now: number): void {
    this.#rewindWanted = false;
    let k = this.stream.keyframes[0] ?? 0;
    for (const index of this.stream.keyframes) if (index <= this.#index) k = index;
    const next = Math.max(this.#lastOut + this.stream.frameTs, this.stream.packets[this.#index]!.ts + this.#offset);
    this.#index = k;
    this.#offset = next - this.stream.packets[k]!.ts;
    this.#lastRewindAt = now;
    this.rewinds++;
  }
}

/** What one layer sent, for assertions and benchmarks. */
export interface LayerCounters {
  readonly rid: string;
  readonly ssrc: number;
  packets: number;
  bytes: number;
  plis: number;
  nacked: number;
  /** Whether the SFU's receiver report for this SSRC came (from then on packets carry no rid extension). */
  acknowledged: boolean;
  /** Packets left out (dropEvery). */
  dropped: number;
}

export class LayerSender {
  readonly cursor: Cursor;
  readonly counters: LayerCounters;
  enabled = true;
  /** Sequence numbers sent (first and last), left out (dropEvery), and asked for again by NACKs. */
  firstSeq: number | undefined;
  lastSeq: number | undefined;
  readonly droppedSeqs = new Set<number>();
  readonly nackRequests: number[] = [];
  #seq = randomBytes(2).readUInt16BE(0);
  readonly #tsBase = randomBytes(4).readUInt32BE(0);
  #pictureId = randomBytes(2).readUInt16BE(0) & 0x7fff;
  readonly #history: (Buffer | undefined)[] = new Array<Buffer | undefined>(HISTORY);
  readonly #historySeq = new Int32Array(HISTORY).fill(-1);

  constructor(
    readonly spec: LayerSpec,
    capture: Capture,
    ssrc: number,
    /** Leave out every n-th packet (0: none). */
    readonly dropEvery: number,
  ) {
    this.cursor = new Cursor(capture.video);
    this.counters = { rid: spec.rid, ssrc, packets: 0, bytes: 0, plis: 0, nacked: 0, acknowledged: false, dropped: 0 };
  }

  /**
   * Builds the next packet (continuous picture ids across loops and rewinds), keeps it for NACK, returns it
   * encrypted, or undefined when dropEvery leaves it out.
   */
  packet(
    packet: CapturedPacket,
    out: number,
    frameStart: boolean,
    payloadType: number,
    extensions: { mid?: { id: number; value: Buffer }; rid?: { id: number; value: Buffer } },
    encrypt: (payload: Buffer, header: RtpHeader) => Buffer,
  ): Buffer | undefined {
    let payload = packet.payload;
    const descriptor = parseVp8Descriptor(payload);
    if (descriptor && descriptor.pictureIdOffset >= 0) {
      payload = Buffer.from(payload);
      if (frameStart) this.#pictureId = (this.#pictureId + 1) & 0x7fff;
      if (descriptor.longPictureId) payload.writeUInt16BE(0x8000 | this.#pictureId, descriptor.pictureIdOffset);
      else payload[descriptor.pictureIdOffset] = this.#pictureId & 0x7f;
    }
    this.#seq = (this.#seq + 1) & 0xffff;
    this.firstSeq ??= this.#seq;
    this.lastSeq = this.#seq;
    const ext: { id: number; payload: Buffer }[] = [];
    if (extensions.mid) ext.push({ id: extensions.mid.id, payload: extensions.mid.value });
    if (extensions.rid && !this.counters.acknowledged) ext.push({ id: extensions.rid.id, payload: extensions.rid.value });
    ext.sort((a, b) => a.id - b.id);
    const header = new RtpHeader({
      payloadType,
      sequenceNumber: this.#seq,
      timestamp: (this.#tsBase + out) >>> 0,
      ssrc: this.counters.ssrc,
      marker: packet.marker,
      extension: ext.length > 0,
      extensionProfile: 0xbede,
      extensions: ext,
    });
    const encrypted = encrypt(payload, header);
    this.#history[this.#seq % HISTORY] = encrypted;
    this.#historySeq[this.#seq % HISTORY] = this.#seq;
    if (this.dropEvery > 0 && this.#seq % this.dropEvery === 0) {
      this.counters.dropped++;
      this.droppedSeqs.add(this.#seq);
      return undefined;
    }
    this.counters.packets++;
    this.counters.bytes += payload.length;
    return encrypted;
  }

  retransmit(seq: number): Buffer | undefined {
    if (this.nackRequests.length < 10_000) this.nackRequests.push(seq);
    const index = seq % HISTORY;
    if (this.#historySeq[index] !== seq) return undefined;
    this.counters.nacked++;
    return this.#history[index];
  }
}

export interface SimulcastPublisherOptions {
  /** Publish the Opus tone with audio levels (default true). */
  audio?: boolean;
  /** The rids to offer (default all of the capture's layers). */
  rids?: readonly string[];
  /** Extra werift settings (default SIMULCAST_PEER_CONFIG). */
  config?: Partial<typeof SIMULCAST_PEER_CONFIG>;
  /** false: ignore PLIs (keyframes only every 2 s, from the capture). Default true. */
  answerPli?: boolean;
  /** Leave out every n-th packet of a layer (its sequence number is used: a gap the SFU NACKs), by rid. */
  dropEvery?: Readonly<Record<string, number>>;
}

/**
 * One headless participant publishing camera simulcast (+ microphone). Starts sending when its connection is up
 * and the m-lines are negotiated; until `stop()` / `close()`.
 */
export class SimulcastPublisher implements Publisher {
  readonly pc: RTCPeerConnection;
  readonly video: RTCRtpTransceiver;
  readonly audio: RTCRtpTransceiver | undefined;
  readonly layers: LayerSender[];
  /** Audio level sent on every audio packet (-dBov, 0 loudest, 127 silent). */
  level = QUIET_DBOV;
  audioPackets = 0;
  /** Opus payload bytes sent. */
  audioBytes = 0;
  /** The last REMB the SFU sent (bps), undefined before the first. */
  rembBps: number | undefined;
  /** Why media could not be sent, if so (e.g. the SFU did not negotiate the rid extension). */
  error: string | undefined;
  readonly #audioCursor: Cursor | undefined;
  #audioSeq = randomBytes(2).readUInt16BE(0);
  readonly #audioTsBase = randomBytes(4).readUInt32BE(0);
  #startedAt: number | undefined;
  #stopped = false;
  #rtcpSubscribed = false;
  readonly #answerPli: boolean;

  constructor(
    readonly capture: SimulcastCapture,
    options: SimulcastPublisherOptions = {},
  ) {
    this.#answerPli = options.answerPli ?? true;
    this.pc = new RTCPeerConnection({ ...SIMULCAST_PEER_CONFIG, ...options.config });
    const specs = capture.layers.filter((l) => !options.rids || options.rids.includes(l.rid));
    if (specs.length === 0) throw new RangeError('SimulcastPublisher: no layer selected');
    const ssrcs = new Set<number>();
    this.layers = specs.map((spec) => {
      let ssrc: number;
      do ssrc = randomBytes(4).readUInt32BE(0);
      while (ssrc === 0 || ssrcs.has(ssrc));
      ssrcs.add(ssrc);
      return new LayerSender(spec, spec.capture, ssrc, options.dropEvery?.[spec.rid] ?? 0);
    });
    this.video = this.pc.addTransceiver(new MediaStreamTrack({ kind: 'video' }), {
      direction: 'sendonly',
      simulcast: specs.map((s) => ({ rid: s.rid, direction: 'send' as const })),
    });
    if (options.audio ?? true) {
      this.audio = this.pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: 'sendonly' });
      this.#audioCursor = new Cursor(capture.audio);
    }
    // A client offer must carry the data channel (the SFU's rule).
    this.pc.createDataChannel('openvisit');
    schedule(this);
  }

  /** One layer's sender (sequence numbers sent, dropped and NACKed), by rid. */
  layer(rid: string): LayerSender {
    const layer = this.layers.find((l) => l.spec.rid === rid);
    if (!layer) throw new RangeError(`no layer ${rid}`);
    return layer;
  }

  /** Counters per layer, by rid. */
  counters(): Record<string, LayerCounters> {
    return Object.fromEntries(this.layers.map((l) => [l.spec.rid, l.counters]));
  }

  /** Loud: this publisher becomes the dominant speaker against quiet ones. */
  speak(level = SPEAKING_DBOV): void {
    this.level = level;
  }

  quiet(): void {
    this.level = QUIET_DBOV;
  }

  /** Stops or resumes sending one layer (as a browser drops its top layer when its bandwidth falls). */
  setLayerEnabled(rid: string, enabled: boolean): void {
    const layer = this.layers.find((l) => l.spec.rid === rid);
    if (!layer) throw new RangeError(`no layer ${rid}`);
    layer.enabled = enabled;
  }

  /** The m-line sources for the SFU's createAnswer (`{ [mid]: source }`). */
  sources(): Record<string, 'camera' | 'microphone'> {
    const sources: Record<string, 'camera' | 'microphone'> = {};
    if (this.video.mid !== null) sources[this.video.mid] = 'camera';
    if (this.audio?.mid) sources[this.audio.mid] = 'microphone';
    return sources;
  }

  /**
   * A local offer (set as local description). The video m-line's `a=ssrc` lines (werift's sender SSRC, which never
   * sends) are left out, as Chromium leaves them out of a rid simulcast m-line: the layers are known by rid only.
   */
  async offer(): Promise<string> {
    const offer = await this.pc.createOffer();
    suppressDefaultStun(this.pc);
    await this.pc.setLocalDescription(offer);
    return withoutVideoSsrcLines(this.pc.localDescription!.sdp);
  }

  /** Applies the answer to `offer()`. */
  async applyAnswer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
  }

  /** Answers an offer from the other side (an SFU offering others' tracks). */
  async answer(offerSdp: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
    const answer = await this.pc.createAnswer();
    suppressDefaultStun(this.pc);
    await this.pc.setLocalDescription(answer);
    return this.pc.localDescription!.sdp;
  }

  /** @internal called by the shared timer. */
  tick(now: number): void {
    if (this.#stopped) return;
    const video = this.video.sender;
    const transport = video.dtlsTransport;
    if (transport?.state !== 'connected' || !video.codec) return;
    this.#subscribeRtcp();
    const extensionId = (uri: string) => this.video.headerExtensions.find((e) => e.uri === uri)?.id;
    const ridId = extensionId(RTP_EXTENSION_URI.sdesRTPStreamID);
    if (ridId === undefined) {
      this.error = 'the rid header extension (urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id) was not negotiated';
      return;
    }
    const midId = extensionId(RTP_EXTENSION_URI.sdesMid);
    const mid = this.video.mid;
    this.#startedAt ??= now;
    // Far behind (the process stalled): pause the media clock instead of bursting the backlog.
    const lead = this.layers[0]!.cursor;
    let elapsedMs = now - this.#startedAt;
    const nextMs = (lead.next() * 1000) / lead.stream.clockRate;
    if (elapsedMs - nextMs > MAX_BURST_MS) {
      this.#startedAt = now - nextMs;
      elapsedMs = nextMs;
    }
    const encrypt = (payload: Buffer, header: RtpHeader) => transport.srtp.encrypt(payload, header);
    const send = (packet: Buffer) => {
      transport.bytesSent += packet.length;
      transport.packetsSent++;
      transport.iceTransport.connection.send(packet).catch(() => undefined);
    };
    const midExtension = midId !== undefined && mid !== null ? { mid: { id: midId, value: Buffer.from(mid) } } : {};
    for (const layer of this.layers) {
      const due = (elapsedMs * layer.cursor.stream.clockRate) / 1000;
      const ext = { ...midExtension, rid: { id: ridId, value: Buffer.from(layer.spec.rid) } };
      for (const { packet, out, frameStart } of layer.cursor.due(due, now)) {
        // A disabled layer's clock runs on (it resumes in step with the others) but nothing is sent.
        if (!layer.enabled) continue;
        const encrypted = layer.packet(packet, out, frameStart, video.codec.payloadType, ext, encrypt);
        if (encrypted) send(encrypted);
      }
    }
    this.#tickAudio(elapsedMs, now);
  }

  #tickAudio(elapsedMs: number, now: number): void {
    const transceiver = this.audio;
    const cursor = this.#audioCursor;
    if (!transceiver || !cursor) return;
    const sender = transceiver.sender;
    if (sender.dtlsTransport?.state !== 'connected' || !sender.codec) return;
    const levelId = transceiver.headerExtensions.find((e) => e.uri === RTP_EXTENSION_URI.audioLevelIndication)?.id;
    const due = (elapsedMs * cursor.stream.clockRate) / 1000;
    for (const { packet, out } of cursor.due(due, now)) {
      this.#audioSeq = (this.#audioSeq + 1) & 0xffff;
      const header = new RtpHeader({
        payloadType: sender.codec.payloadType,
        sequenceNumber: this.#audioSeq,
        timestamp: (this.#audioTsBase + out) >>> 0,
        marker: packet.marker,
        extensions: levelId === undefined ? [] : [{ id: levelId, payload: Buffer.from([0x80 | (this.level & 0x7f)]) }],
      });
      this.audioPackets++;
      this.audioBytes += packet.payload.length;
      // A fresh packet per send: werift's sendRtp mutates it and keeps it for NACK.
      sender.sendRtp(new RtpPacket(header, packet.payload)).catch(() => undefined);
    }
  }

  /** PLI / NACK / REMB / receiver reports for the layer SSRCs (werift's router knows none of them). */
  #subscribeRtcp(): void {
    if (this.#rtcpSubscribed) return;
    const transport = this.video.sender.dtlsTransport;
    if (!transport) return;
    this.#rtcpSubscribed = true;
    const bySsrc = new Map(this.layers.map((l) => [l.counters.ssrc, l]));
    transport.onRtcp.subscribe((packet: RtcpPacket) => {
      if (packet instanceof RtcpPayloadSpecificFeedback) {
        const feedback = packet.feedback;
        if (feedback instanceof PictureLossIndication) {
          const layer = bySsrc.get(feedback.mediaSsrc);
          if (layer) {
            layer.counters.plis++;
            if (this.#answerPli) layer.cursor.requestRewind();
          }
        } else if (feedback instanceof ReceiverEstimatedMaxBitrate) {
          this.rembBps = Number(feedback.bitrate);
        }
      } else if (packet instanceof RtcpTransportLayerFeedback && packet.feedback instanceof GenericNack) {
        const layer = bySsrc.get(packet.feedback.mediaSourceSsrc);
        if (!layer) return;
        for (const seq of packet.feedback.lost) {
          const resend = layer.retransmit(seq);
          if (resend) transport.iceTransport.connection.send(resend).catch(() => undefined);
        }
      } else if (packet instanceof RtcpRrPacket || packet instanceof RtcpSrPacket) {
        for (const report of packet.reports) {
          const layer = bySsrc.get(report.ssrc);
          if (layer) layer.counters.acknowledged = true;
        }
      }
    });
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    unschedule(this);
  }

  async close(): Promise<void> {
    this.stop();
    await this.pc.close();
  }
}

function withoutVideoSsrcLines(sdp: string): string {
  let video = false;
  return sdp
    .split('\r\n')
    .filter((line) => {
      if (line.startsWith('m=')) video = line.startsWith('m=video');
      return !(video && (line.startsWith('a=ssrc:') || line.startsWith('a=ssrc-group:')));
    })
    .join('\r\n');
}

/** What joinSfu needs of a headless publisher. */
export interface Publisher {
  readonly pc: RTCPeerConnection;
  offer(): Promise<string>;
  applyAnswer(sdp: string): Promise<void>;
  answer(offerSdp: string): Promise<string>;
  sources(): Record<string, 'camera' | 'microphone'>;
}

/**
 * A publisher without simulcast (one VP8 stream and the Opus tone of a replay capture, through werift's own
 * senders: ReplaySource), for comparisons with SimulcastPublisher.
 */
export class ReplayPublisher implements Publisher {
  readonly pc = new RTCPeerConnection(SIMULCAST_PEER_CONFIG);
  readonly video: RTCRtpTransceiver;
  readonly audio: RTCRtpTransceiver;
  readonly replays: ReplaySource[];

  constructor(readonly capture: Capture) {
    this.video = this.pc.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' });
    this.audio = this.pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: 'sendonly' });
    this.replays = [new ReplaySource(this.video, capture), new ReplaySource(this.audio, capture)];
    this.pc.createDataChannel('openvisit');
  }

  sources(): Record<string, 'camera' | 'microphone'> {
    const sources: Record<string, 'camera' | 'microphone'> = {};
    if (this.video.mid !== null) sources[this.video.mid] = 'camera';
    if (this.audio.mid !== null) sources[this.audio.mid] = 'microphone';
    return sources;
  }

  async offer(): Promise<string> {
    const offer = await this.pc.createOffer();
    suppressDefaultStun(this.pc);
    await this.pc.setLocalDescription(offer);
    return this.pc.localDescription!.sdp;
  }

  async applyAnswer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'answer', sdp });
  }

  async answer(offerSdp: string): Promise<string> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offerSdp });
    const answer = await this.pc.createAnswer();
    suppressDefaultStun(this.pc);
    await this.pc.setLocalDescription(answer);
    return this.pc.localDescription!.sdp;
  }

  async close(): Promise<void> {
    for (const replay of this.replays) replay.stop();
    await this.pc.close();
  }
}

// ---------------------------------------------------------------------------------------------------------
// In-process: a publisher joined to an Sfu directly (tests, SFU-only benchmarks)
// ---------------------------------------------------------------------------------------------------------

/**
 * Joins `publisher` to `sfu` as `participantId` in `room`/`group` (signaling in-process, client offer first),
 * answers the SFU's later offers (it receives what routing gives it unless `receives: false`), and waits until
 * the connection is up.
 */
export async function joinSfu(
  sfu: Sfu,
  publisher: Publisher,
  room: string,
  participantId: string,
  group: string,
  options: { receives?: boolean } = {},
): Promise<SfuParticipant> {
  const session = await sfu.join(room, participantId, group, { receives: options.receives ?? true });
  let queue: Promise<unknown> = Promise.resolve();
  const enqueue = (operation: () => Promise<unknown>) => {
    queue = queue.then(operation).catch(() => undefined);
    return queue;
  };
  session.on('iceCandidate', (candidate: IceCandidateInit | null) => {
    if (candidate) publisher.pc.addIceCandidate(candidate).catch(() => undefined);
  });
  publisher.pc.onIceCandidate.subscribe((candidate) => {
    if (candidate) session.addIceCandidate(candidate.toJSON()).catch(() => undefined);
  });
  session.on('needsNegotiation', (offer) => {
    void enqueue(async () => session.setRemoteDescription(await publisher.answer(offer)));
  });
  const offerOnce = async (): Promise<void> => {
    const offer = await publisher.offer();
    try {
      await publisher.applyAnswer(await session.createAnswer(offer, { sources: publisher.sources() }));
    } catch (error) {
      if (!(error instanceof SfuError && error.code === 'glare')) throw error;
      await publisher.pc.setLocalDescription({ type: 'rollback' });
      void enqueue(offerOnce);
    }
  };
  await offerOnce();
  await waitFor(`${participantId} to connect`, () => session.connectionState === 'connected');
  return session;
}

/** One stream a SubscriberPeer receives on one of its m-lines. */
export interface ReceivedStream {
  readonly mid: string;
  readonly kind: 'audio' | 'video';
  packets: number;
  /** Payload bytes. */
  bytes: number;
  lastAt: number;
  /** Forward jumps in sequence numbers beyond +1 (loss or a bad switch), and steps back (reorder / wrong rebase). */
  seqGaps: number;
  seqBackwards: number;
  /** Timestamps that went backwards against the previous packet's. */
  tsBackwards: number;
  /** Video: keyframes received (first packet), with their VP8 picture size. */
  readonly keyframes: { at: number; seq: number; width: number; height: number }[];
  /** Video packets per layer (rid) they came from (with a classifier; see layerClassifier). */
  readonly layers: Record<string, number>;
  /** The last packets (seq, timestamp, keyframe start, picture id, layer), at most 4000. */
  readonly log: { seq: number; ts: number; keyframe: boolean; pictureId: number | undefined; layer: string | undefined; at: number }[];
}

/**
 * Which layer of `capture` a forwarded VP8 payload came from: the payload after its descriptor (which the
 * publisher and the SFU rewrite) is identical to one packet of exactly one layer's encode.
 */
export function layerClassifier(capture: SimulcastCapture): (payload: Buffer) => string | undefined {
  const body = (payload: Buffer) => {
    const d = parseVp8Descriptor(payload);
    return d ? createHash('sha1').update(payload.subarray(d.size)).digest('base64') : '';
  };
  const rids = new Map<string, string>();
  for (const layer of capture.layers) for (const p of layer.capture.video.packets) rids.set(body(p.payload), layer.rid);
  return (payload) => rids.get(body(payload));
}

/**
 * A headless receiving participant joined to an in-process Sfu (the SFU offers first): records every stream it
 * gets per mid; `stream(publisherId, kind)` finds a publisher's through the session's routes.
 */
export class SubscriberPeer {
  readonly pc = new RTCPeerConnection(LOOPBACK_ONLY);
  readonly streams = new Map<string, ReceivedStream>();
  readonly #tracks = new Set<string>();
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly id: string,
    readonly session: SfuParticipant,
    readonly classify: ((payload: Buffer) => string | undefined) | undefined,
  ) {
    session.on('iceCandidate', (candidate) => {
      if (candidate) this.pc.addIceCandidate(candidate).catch(() => undefined);
    });
    this.pc.onIceCandidate.subscribe((candidate) => {
      if (candidate) session.addIceCandidate(candidate.toJSON()).catch(() => undefined);
    });
    session.on('needsNegotiation', (offer) => void this.#enqueue(() => this.#answer(offer)));
    this.pc.onTrack.subscribe((track) => {
      if (this.#tracks.has(track.uuid)) return;
      this.#tracks.add(track.uuid);
      const transceiver = this.pc.getTransceivers().find((t) => t.receiver.tracks.includes(track) || t.receiver.track === track);
      const kind = track.kind === 'audio' ? 'audio' : 'video';
      track.onReceiveRtp.subscribe((rtp) => this.#record(transceiver?.mid ?? '?', kind, rtp));
    });
  }

  /** `classify`: tells each video packet's layer (layerClassifier), counted in ReceivedStream.layers. */
  static async join(sfu: Sfu, room: string, id: string, group: string, options: { classify?: (payload: Buffer) => string | undefined } = {}): Promise<SubscriberPeer> {
    const session = await sfu.join(room, id, group);
    const peer = new SubscriberPeer(id, session, options.classify);
    await peer.#enqueue(async () => peer.#answer(await session.createOffer()));
    await waitFor(`${id} to connect`, () => session.connectionState === 'connected');
    return peer;
  }

  #enqueue(operation: () => Promise<unknown>): Promise<unknown> {
    const run = this.#queue.then(operation);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #answer(offer: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offer });
    const answer = await this.pc.createAnswer();
    suppressDefaultStun(this.pc);
    await this.pc.setLocalDescription(answer);
    await this.session.setRemoteDescription(this.pc.localDescription!.sdp);
  }

  #record(mid: string, kind: 'audio' | 'video', rtp: RtpPacket): void {
    let stream = this.streams.get(mid);
    const now = performance.now();
    const { sequenceNumber: seq, timestamp: ts } = rtp.header;
    const keyframe = kind === 'video' && isVp8KeyframeStart(rtp.payload);
    if (!stream) {
      stream = { mid, kind, packets: 0, bytes: 0, lastAt: now, seqGaps: 0, seqBackwards: 0, tsBackwards: 0, keyframes: [], layers: {}, log: [] };
      this.streams.set(mid, stream);
    } else {
      const last = stream.log.at(-1);
      if (last) {
        const step = (seq - last.seq) & 0xffff;
        if (step === 0 || step >= 0x8000) stream.seqBackwards++;
        else if (step > 1) stream.seqGaps++;
        const tsStep = (ts - last.ts) >>> 0;
        if (tsStep >= 0x8000_0000) stream.tsBackwards++;
      }
    }
    stream.packets++;
    stream.bytes += rtp.payload.length;
    stream.lastAt = now;
    if (keyframe) {
      const size = vp8KeyframeSize(rtp.payload);
      stream.keyframes.push({ at: now, seq, width: size?.width ?? 0, height: size?.height ?? 0 });
    }
    let pictureId: number | undefined;
    if (kind === 'video') {
      const d = parseVp8Descriptor(rtp.payload);
      if (d && d.pictureIdOffset >= 0) pictureId = d.longPictureId ? rtp.payload.readUInt16BE(d.pictureIdOffset) & 0x7fff : rtp.payload[d.pictureIdOffset]! & 0x7f;
    }
    const layer = kind === 'video' ? this.classify?.(rtp.payload) : undefined;
    if (layer !== undefined) stream.layers[layer] = (stream.layers[layer] ?? 0) + 1;
    stream.log.push({ seq, ts, keyframe, pictureId, layer, at: now });
    if (stream.log.length > 4000) stream.log.splice(0, 1000);
  }

  /** The stream this subscriber receives of a publisher's track of `kind` (source: camera for video by default). */
  stream(publisherId: string, kind: 'audio' | 'video', source?: 'camera' | 'screen' | 'microphone'): ReceivedStream | undefined {
    const route = this.session
      .routes()
      .find((r) => r.publisherId === publisherId && r.kind === kind && (source === undefined || r.source === source));
    return route ? this.streams.get(route.mid) : undefined;
  }

  /** Video packets per second and payload bit rate received over the next `ms` from `publisherId`'s camera. */
  async rate(publisherId: string, kind: 'audio' | 'video', ms: number): Promise<{ packets: number; bps: number }> {
    const before = this.stream(publisherId, kind);
    const p0 = before?.packets ?? 0;
    const b0 = before?.bytes ?? 0;
    await new Promise((resolve) => setTimeout(resolve, ms));
    const after = this.stream(publisherId, kind);
    return { packets: (after?.packets ?? 0) - p0, bps: (((after?.bytes ?? 0) - b0) * 8000) / ms };
  }

  async close(): Promise<void> {
    await this.pc.close();
  }
}
