// Real VP8/Opus RTP for headless werift publishers (tests and benchmarks).
//
// ensureCapture() encodes a known clip once with Debian ffmpeg and keeps its RTP packets in a cache directory:
//   video: RGB(200,50,100) 640x480 at 20 fps with a white 80x80 box moving along the top (y 40..120) and a
//          low-contrast grey noise strip along the bottom (y 448..480) so the encoder actually spends about
//          `bitrateKbps` (a flat picture compresses to ~20 kbps, which would make benchmarks meaningless);
//          VP8 (libvpx, realtime deadline), a keyframe every 2 s (-g 40).
//   audio: a 440 Hz sine, Opus 48 kHz mono, 20 ms frames.
// ffmpeg encodes once and sends through its tee muxer to two RTP outputs (one per stream, on UDP sockets this
// process binds on 127.0.0.1) and to capture.webm (the same encoded streams, for ffprobe). Every RTP packet is
// kept (payload, RTP header fields, arrival offset) in packets.bin. The region around the centre (and anything
// above y 448 outside the box's strip) is the flat colour: sample there.
//
// ReplaySource sends a capture stream on a werift transceiver in real time, in a loop, paced by the capture's
// RTP timestamps (ffmpeg runs faster than real time while capturing, so arrival offsets are informational).
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { RtpHeader, RtpPacket, type RTCRtpTransceiver } from 'werift';
import { isVp8KeyframeStart } from '../../src/server/rooms/builtin/sfu/rewrite.js';

export const CAPTURE_COLOUR = { r: 200, g: 50, b: 100 } as const;
export const CAPTURE_TONE_HZ = 440;
export const CAPTURE_SIZE = { width: 640, height: 480 } as const;
export const CAPTURE_FPS = 20;
const CAPTURE_FORMAT_VERSION = 1;
const FFMPEG = process.env.FFMPEG ?? 'ffmpeg';
const FFPROBE = process.env.FFPROBE ?? 'ffprobe';

export interface CaptureOptions {
  /** Clip length (one loop of a ReplaySource). Default 10. */
  seconds?: number;
  /** Video target bitrate. Default 500. */
  bitrateKbps?: number;
  /**
   * Opus target bitrate. Default 48 (a 1:1 call's). A group's members send config.groups.audioBitrateBps (16 by
   * default: the SDK caps it), which bench/groups.ts uses.
   */
  audioKbps?: number;
  /** Cache root; the capture lives in a sub-directory named after the options. Default os.tmpdir(). */
  dir?: string;
  /**
   * Encoded picture size (even numbers). Default CAPTURE_SIZE, 640x480. Another size scales the same picture
   * (simulcast layers: test/helpers/simulcast.ts); the centre stays the flat colour.
   */
  size?: { width: number; height: number };
}

export interface CapturedPacket {
  /** RTP timestamp relative to the stream's first packet (clock units, unwrapped). */
  readonly ts: number;
  readonly seq: number;
  readonly marker: boolean;
  readonly payload: Buffer;
  /** When the packet arrived from ffmpeg, ms after the first packet of the capture. */
  readonly arrivalMs: number;
  /** Video: the first packet of a VP8 keyframe. */
  readonly keyframe: boolean;
}

export interface CaptureStream {
  readonly kind: 'audio' | 'video';
  readonly clockRate: number;
  /** The payload type ffmpeg used (ReplaySource rewrites it to the sender's). */
  readonly payloadType: number;
  readonly packets: readonly CapturedPacket[];
  /** Timestamp step between frames (video 4500, audio 960). */
  readonly frameTs: number;
  /** Length of one loop in clock units: last timestamp + one frame. */
  readonly loopTs: number;
  /** Indices of packets that start a keyframe (video). */
  readonly keyframes: readonly number[];
}

export interface Capture {
  /** The directory holding packets.bin, meta.json and capture.webm. */
  readonly dir: string;
  readonly seconds: number;
  readonly bitrateKbps: number;
  readonly size: { width: number; height: number };
  /** The same encoded streams as the packets, muxed by ffmpeg (for ffprobe). */
  readonly webm: string;
  readonly video: CaptureStream;
  readonly audio: CaptureStream;
}

interface Meta {
  version: number;
  seconds: number;
  bitrateKbps: number;
  size?: { width: number; height: number };
  video: { payloadType: number; count: number };
  audio: { payloadType: number; count: number };
}

const RECORD_HEADER = 14; // kind u8, flags u8, seq u16, ts u32, arrival u32, length u16
const loaded = new Map<string, Promise<Capture>>();

/** The capture for these options: made once (atomically, so concurrent test processes agree) and then reused. */
export function ensureCapture(options: CaptureOptions = {}): Promise<Capture> {
  const seconds = options.seconds ?? 10;
  const bitrateKbps = options.bitrateKbps ?? 500;
  const audioKbps = options.audioKbps ?? 48;
  const size = options.size ?? CAPTURE_SIZE;
  const sizeOk = (n: number) => Number.isInteger(n) && n >= 16 && n <= 1920 && n % 2 === 0;
  if (!(seconds > 0 && seconds <= 120) || !(bitrateKbps >= 50 && bitrateKbps <= 5000) || !sizeOk(size.width) || !sizeOk(size.height) || !(Number.isInteger(audioKbps) && audioKbps >= 6 && audioKbps <= 510)) {
    return Promise.reject(new RangeError('ensureCapture: seconds in (0, 120], bitrateKbps in [50, 5000], size even in [16, 1920], audioKbps an integer in [6, 510]'));
  }
  const defaultSize = size.width === CAPTURE_SIZE.width && size.height === CAPTURE_SIZE.height;
  const key = `openvisit-capture-v${CAPTURE_FORMAT_VERSION}-${seconds}s-${bitrateKbps}k${defaultSize ? '' : `-${size.width}x${size.height}`}${audioKbps === 48 ? '' : `-a${audioKbps}k`}`;
  const dir = path.join(options.dir ?? os.tmpdir(), key);
  let capture = loaded.get(dir);
  if (!capture) {
    capture = (async () => {
      if (!existsSync(path.join(dir, 'meta.json'))) await makeCapture(dir, seconds, bitrateKbps, size, audioKbps);
      return loadCapture(dir);
    })();
    loaded.set(dir, capture);
    capture.catch(() => loaded.delete(dir));
  }
  return capture;
}

async function assertFfmpeg(): Promise<void> {
  for (const tool of [FFMPEG, FFPROBE]) {
    const ok = await new Promise<boolean>((resolve) => {
      execFile(tool, ['-version'], { timeout: 10_000 }, (error) => resolve(!error));
    });
    if (!ok) throw new Error(`${tool} was not found or does not run; install Debian's: apt-get install -y ffmpeg`);
  }
}

function bindLoopback(): Promise<dgram.Socket> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      socket.off('error', reject);
      try {
        socket.setRecvBufferSize(4 << 20); // the whole clip fits: ffmpeg sends faster than real time
      } catch {
        // capped by net.core.rmem_max; sequence numbers are checked below
      }
      resolve(socket);
    });
  });
}

interface RawPacket {
  kind: 0 | 1; // 0 video, 1 audio
  seq: number;
  ts: number;
  marker: boolean;
  payloadType: number;
  arrivalMs: number;
  payload: Buffer;
}

function parseRtp(message: Buffer): Omit<RawPacket, 'kind' | 'arrivalMs'> | undefined {
  if (message.length < 12 || message[0]! >> 6 !== 2) return undefined;
  const csrcCount = message[0]! & 0x0f;
  let offset = 12 + csrcCount * 4;
  if (message[0]! & 0x10) {
    if (message.length < offset + 4) return undefined;
    offset += 4 + message.readUInt16BE(offset + 2) * 4;
  }
  let end = message.length;
  if (message[0]! & 0x20) end -= message[end - 1]!;
  if (end <= offset) return undefined;
  return {
    marker: (message[1]! & 0x80) !== 0,
    payloadType: message[1]! & 0x7f,
    seq: message.readUInt16BE(2),
    ts: message.readUInt32BE(4),
    payload: Buffer.from(message.subarray(offset, end)),
  };
}

async function runFfmpegCapture(dir: string, seconds: number, bitrateKbps: number, size: { width: number; height: number }, audioKbps: number, paced: boolean): Promise<RawPacket[]> {
  const video = await bindLoopback();
  const audio = await bindLoopback();
  const packets: RawPacket[] = [];
  let firstAt: number | undefined;
  const onMessage = (kind: 0 | 1) => (message: Buffer) => {
    const now = performance.now();
    firstAt ??= now;
    const rtp = parseRtp(message);
    if (rtp) packets.push({ kind, arrivalMs: Math.round(now - firstAt), ...rtp });
  };
  video.on('message', onMessage(0));
  audio.on('message', onMessage(1));
  const vport = video.address().port;
  const aport = audio.address().port;
  const kbps = bitrateKbps;
  const args = [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    ...(paced ? ['-re'] : []),
    '-f', 'lavfi', '-i', `color=c=0xC83264:s=640x480:r=${CAPTURE_FPS}:d=${seconds},drawbox=x='mod(t*160\\,560)':y=40:w=80:h=80:color=white:t=fill`,
    ...(paced ? ['-re'] : []),
    '-f', 'lavfi', '-i', `nullsrc=s=640x32:r=${CAPTURE_FPS}:d=${seconds},geq=lum='128+random(1)*48':cb=128:cr=128`,
    ...(paced ? ['-re'] : []),
    '-f', 'lavfi', '-i', `sine=frequency=${CAPTURE_TONE_HZ}:sample_rate=48000:duration=${seconds}`,
    '-filter_complex', `[0:v][1:v]overlay=0:448:shortest=1,scale=${size.width}:${size.height},format=yuv420p[v]`,
    '-map', '[v]', '-map', '2:a',
    '-c:v', 'libvpx', '-deadline', 'realtime', '-cpu-used', '8', '-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps}k`,
    '-g', String(CAPTURE_FPS * 2), '-keyint_min', String(CAPTURE_FPS * 2), '-auto-alt-ref', '0', '-lag-in-frames', '0',
    '-c:a', 'libopus', '-b:a', `${audioKbps}k`, '-ac', '1', '-application', 'voip', '-frame_duration', '20',
    '-f', 'tee',
    `[select=v:f=rtp:rtpflags=skip_rtcp:payload_type=96]rtp://127.0.0.1:${vport}?pkt_size=1200|` +
      `[select=a:f=rtp:rtpflags=skip_rtcp:payload_type=111]rtp://127.0.0.1:${aport}?pkt_size=1200|` +
      `[f=webm]${path.join(dir, 'capture.webm')}`,
  ];
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(FFMPEG, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        if (stderr.length < 8000) stderr += chunk.toString();
      });
      const limit = (paced ? seconds * 1000 : 0) + 30_000;
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`ffmpeg capture took longer than ${limit} ms (killed)`));
      }, limit);
      child.once('error', (error) => {
        clearTimeout(timer);
        reject(new Error(`ffmpeg failed to start (${error.message}); install it: apt-get install -y ffmpeg`));
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        if (code === 0) resolve();
        else reject(new Error(`ffmpeg exited with ${code ?? signal}: ${stderr.trim()}`));
      });
    });
    // The last datagrams may still sit in the socket buffers.
    await new Promise((resolve) => setTimeout(resolve, 200));
  } finally {
    video.close();
    audio.close();
  }
  return packets;
}

/** Whether each stream's sequence numbers are consecutive (nothing lost or reordered on loopback). */
function complete(packets: RawPacket[], kind: 0 | 1): boolean {
  const list = packets.filter((p) => p.kind === kind);
  if (list.length < 10) return false;
  return list.every((p, i) => i === 0 || p.seq === ((list[i - 1]!.seq + 1) & 0xffff));
}

async function makeCapture(dir: string, seconds: number, bitrateKbps: number, picture: { width: number; height: number }, audioKbps: number): Promise<void> {
  await assertFfmpeg();
  const parent = path.dirname(dir);
  await mkdir(parent, { recursive: true });
  const work = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(work);
  try {
    let packets = await runFfmpegCapture(work, seconds, bitrateKbps, picture, audioKbps, false);
    if (!complete(packets, 0) || !complete(packets, 1)) packets = await runFfmpegCapture(work, seconds, bitrateKbps, picture, audioKbps, true);
    if (!complete(packets, 0) || !complete(packets, 1)) throw new Error('the ffmpeg RTP capture lost packets on loopback twice');
    const size = packets.reduce((n, p) => n + RECORD_HEADER + p.payload.length, 0);
    const out = Buffer.alloc(size);
    let offset = 0;
    for (const p of packets) {
      out.writeUInt8(p.kind, offset);
      out.writeUInt8((p.marker ? 1 : 0) | (p.payloadType << 1), offset + 1);
      out.writeUInt16BE(p.seq, offset + 2);
      out.writeUInt32BE(p.ts, offset + 4);
      out.writeUInt32BE(Math.min(p.arrivalMs, 0xffffffff), offset + 8);
      out.writeUInt16BE(p.payload.length, offset + 12);
      p.payload.copy(out, offset + RECORD_HEADER);
      offset += RECORD_HEADER + p.payload.length;
    }
    await writeFile(path.join(work, 'packets.bin'), out);
    const first = (kind: 0 | 1) => packets.find((p) => p.kind === kind)!;
    const meta: Meta = {
      version: CAPTURE_FORMAT_VERSION,
      seconds,
      bitrateKbps,
      size: picture,
      video: { payloadType: first(0).payloadType, count: packets.filter((p) => p.kind === 0).length },
      audio: { payloadType: first(1).payloadType, count: packets.filter((p) => p.kind === 1).length },
    };
    await writeFile(path.join(work, 'meta.json'), JSON.stringify(meta, null, 2));
    try {
      await rename(work, dir);
    } catch (error) {
      // Another process finished first: use its capture.
      if (!existsSync(path.join(dir, 'meta.json'))) throw error;
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

function mostCommonStep(values: number[]): number {
  const counts = new Map<number, number>();
  for (let i = 1; i < values.length; i++) {
    const d = values[i]! - values[i - 1]!;
    if (d > 0) counts.set(d, (counts.get(d) ?? 0) + 1);
  }
  let best = 0;
  let bestCount = -1;
  for (const [d, c] of counts) if (c > bestCount) [best, bestCount] = [d, c];
  return best;
}

async function loadCapture(dir: string): Promise<Capture> {
  const meta = JSON.parse(await readFile(path.join(dir, 'meta.json'), 'utf8')) as Meta;
  const data = await readFile(path.join(dir, 'packets.bin'));
  const raw: { kind: number; marker: boolean; seq: number; ts: number; arrivalMs: number; payload: Buffer }[] = [];
  for (let offset = 0; offset + RECORD_HEADER <= data.length; ) {
    const length = data.readUInt16BE(offset + 12);
    raw.push({
      kind: data.readUInt8(offset),
      marker: (data.readUInt8(offset + 1) & 1) === 1,
      seq: data.readUInt16BE(offset + 2),
      ts: data.readUInt32BE(offset + 4),
      arrivalMs: data.readUInt32BE(offset + 8),
      payload: data.subarray(offset + RECORD_HEADER, offset + RECORD_HEADER + length),
    });
    offset += RECORD_HEADER + length;
  }
  const stream = (kind: 'audio' | 'video'): CaptureStream => {
    const list = raw.filter((p) => p.kind === (kind === 'video' ? 0 : 1));
    const expected = kind === 'video' ? meta.video.count : meta.audio.count;
    if (list.length === 0 || list.length !== expected) throw new Error(`capture ${dir} is damaged (${kind}: ${list.length} of ${expected} packets); delete it`);
    const ts0 = list[0]!.ts;
    const packets: CapturedPacket[] = list.map((p) => ({
      ts: (p.ts - ts0) >>> 0,
      seq: p.seq,
      marker: p.marker,
      payload: p.payload,
      arrivalMs: p.arrivalMs,
      keyframe: kind === 'video' && isVp8KeyframeStart(p.payload),
    }));
    const clockRate = kind === 'video' ? 90_000 : 48_000;
    const frameTs = mostCommonStep(packets.map((p) => p.ts)) || Math.round(clockRate / (kind === 'video' ? CAPTURE_FPS : 50));
    const keyframes = packets.flatMap((p, i) => (p.keyframe ? [i] : []));
    if (kind === 'video' && keyframes[0] !== 0) throw new Error(`capture ${dir}: the video does not start with a keyframe`);
    return {
      kind,
      clockRate,
      payloadType: kind === 'video' ? meta.video.payloadType : meta.audio.payloadType,
      packets,
      frameTs,
      loopTs: packets[packets.length - 1]!.ts + frameTs,
      keyframes,
    };
  };
  return { dir, seconds: meta.seconds, bitrateKbps: meta.bitrateKbps, size: meta.size ?? CAPTURE_SIZE, webm: path.join(dir, 'capture.webm'), video: stream('video'), audio: stream('audio') };
}

// ---------------------------------------------------------------------------------------------------------
// ReplaySource
// ---------------------------------------------------------------------------------------------------------

/** All replay sources share one 20 ms timer (one wake-up per tick however many publishers a benchmark runs). */
const TICK_MS = 20;
/** Behind by more than this (an event-loop stall), a source skips ahead rather than sending the backlog at once. */
const MAX_BURST_MS = 500;
const active = new Set<ReplaySource>();
let ticker: NodeJS.Timeout | undefined;

function schedule(source: ReplaySource): void {
  active.add(source);
  if (ticker) return;
  ticker = setInterval(() => {
    const now = performance.now();
    for (const s of active) s.tick(now);
  }, TICK_MS);
  ticker.unref();
}

function unschedule(source: ReplaySource): void {
  active.delete(source);
  if (active.size === 0 && ticker) {
    clearInterval(ticker);
    ticker = undefined;
  }
}

/** Offset of the VP8 picture id in a payload descriptor, and whether it is 15-bit; undefined when absent. */
function vp8PictureId(payload: Buffer): { offset: number; long: boolean } | undefined {
  const b0 = payload[0];
  if (b0 === undefined || !(b0 & 0x80)) return undefined;
  const x = payload[1];
  if (x === undefined || !(x & 0x80) || payload.length < 3) return undefined;
  const long = (payload[2]! & 0x80) !== 0;
  if (long && payload.length < 4) return undefined;
  return { offset: 2, long };
}

export interface ReplayOptions {
  /** Rewind to the latest keyframe on a PLI (default true). */
  keyframeOnPli?: boolean;
  /** Stop after one pass instead of looping. */
  once?: boolean;
}

/**
 * Sends one stream of a capture on a werift transceiver (kind audio or video) in real time. Starts when the
 * sender is negotiated and its DTLS transport is connected; loops with continuous sequence numbers, timestamps
 * and VP8 picture ids (each loop starts with a keyframe). The payload type is the sender's negotiated codec.
 * After an event-loop stall longer than 500 ms the media clock pauses (no burst, no gap in sequence numbers).
 *
 * On a PLI (video), at the next frame boundary the source rewinds to the latest keyframe it passed and sends
 * from there (timestamps keep advancing, so the picture jumps back by up to one keyframe interval, 2 s): the
 * receiver gets a keyframe within one tick. At most one rewind per 250 ms.
 */
export class ReplaySource {
  readonly kind: 'audio' | 'video';
  readonly stream: CaptureStream;
  /** Packets and payload bytes handed to sendRtp. */
  sent = 0;
  bytes = 0;
  plis = 0;
  /** Keyframe rewinds done for PLIs. */
  rewinds = 0;
  /** Completed passes over the capture. */
  loops = 0;
  #seq = Math.floor(Math.random() * 0x10000);
  readonly #tsBase = Math.floor(Math.random() * 0x1_0000_0000);
  #pictureId = Math.floor(Math.random() * 0x8000);
  #cursor = 0;
  /** Output timestamp offset (clock units since start) minus the capture's relative timestamp, for #cursor. */
  #offset = 0;
  #lastOut = -1;
  #startedAt: number | undefined;
  #atFrameStart = true;
  #rewindWanted = false;
  #lastRewindAt = -Infinity;
  #stopped = false;
  readonly #unsubscribe: (() => void) | undefined;

  constructor(
    readonly transceiver: RTCRtpTransceiver,
    capture: Capture,
    readonly options: ReplayOptions = {},
  ) {
    const kind = transceiver.kind;
    if (kind !== 'audio' && kind !== 'video') throw new TypeError(`ReplaySource needs an audio or video transceiver, not ${String(kind)}`);
    this.kind = kind;
    this.stream = capture[kind];
    if (kind === 'video' && options.keyframeOnPli !== false) {
      const sub = transceiver.sender.onPictureLossIndication.subscribe(() => {
        this.plis++;
        this.#rewindWanted = true;
      });
      this.#unsubscribe = () => sub.unSubscribe();
    }
    schedule(this);
  }

  get running(): boolean {
    return this.#startedAt !== undefined && !this.#stopped;
  }

  /** @internal called by the shared timer. */
  tick(now: number): void {
    const sender = this.transceiver.sender;
    if (this.#stopped || sender.dtlsTransport?.state !== 'connected' || !sender.codec) return;
    this.#startedAt ??= now;
    const clock = this.stream.clockRate;
    const packets = this.stream.packets;
    let due = ((now - this.#startedAt) * clock) / 1000;
    const next = packets[this.#cursor]!.ts + this.#offset;
    if (due - next > (MAX_BURST_MS * clock) / 1000) {
      // Far behind (the process stalled): pause the media clock instead of bursting the backlog.
      this.#startedAt = now - (next * 1000) / clock;
      due = next;
    }
    for (;;) {
      if (this.#rewindWanted && this.#atFrameStart && now - this.#lastRewindAt >= 250) this.#rewind(now);
      const packet = packets[this.#cursor]!;
      const out = packet.ts + this.#offset;
      if (out > due) break;
      this.#send(packet, out, sender.codec.payloadType);
      this.#lastOut = out;
      this.#atFrameStart = this.kind === 'audio' || packet.marker;
      if (++this.#cursor === packets.length) {
        this.loops++;
        if (this.options.once) {
          this.stop();
          return;
        }
        this.#cursor = 0;
        this.#offset += this.stream.loopTs;
      }
    }
  }

  #rewind(now: number): void {
    this.#rewindWanted = false;
    const keyframes = this.stream.keyframes;
    let k = keyframes[0] ?? 0;
    for (const index of keyframes) if (index <= this.#cursor) k = index;
    const next = Math.max(this.#lastOut + this.stream.frameTs, this.stream.packets[this.#cursor]!.ts + this.#offset);
    this.#cursor = k;
    this.#offset = next - this.stream.packets[k]!.ts;
    this.#lastRewindAt = now;
    this.rewinds++;
  }

  #send(packet: CapturedPacket, out: number, payloadType: number): void {
    let payload = packet.payload;
    if (this.kind === 'video') {
      // Continuous picture ids across loops and rewinds (libwebrtc tracks references by picture id).
      const pid = vp8PictureId(payload);
      if (pid) {
        payload = Buffer.from(payload);
        if (this.#atFrameStart) this.#pictureId = (this.#pictureId + 1) & 0x7fff;
        if (pid.long) payload.writeUInt16BE(0x8000 | this.#pictureId, pid.offset);
        else payload[pid.offset] = this.#pictureId & 0x7f;
      }
    }
    this.#seq = (this.#seq + 1) & 0xffff;
    const header = new RtpHeader({
      payloadType,
      sequenceNumber: this.#seq,
      timestamp: (this.#tsBase + out) >>> 0,
      marker: packet.marker,
    });
    this.sent++;
    this.bytes += payload.length;
    // A fresh packet per send: sendRtp mutates it and keeps it for NACK (pitfall 4).
    this.transceiver.sender.sendRtp(new RtpPacket(header, payload)).catch(() => undefined);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unsubscribe?.();
    unschedule(this);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Checking media with ffmpeg (tests)
// ---------------------------------------------------------------------------------------------------------

function run(tool: string, args: string[], options: { timeoutMs?: number; binary?: boolean } = {}): Promise<{ stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(tool, args, { timeout: options.timeoutMs ?? 30_000, encoding: 'buffer', maxBuffer: 64 << 20 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${tool} ${args.join(' ')} failed: ${error.message} ${stderr.toString().trim()}`));
      else resolve({ stdout, stderr: stderr.toString() });
    });
  });
}

export interface ProbeResult {
  format: { format_name?: string; duration?: string; size?: string };
  streams: { codec_type?: string; codec_name?: string; width?: number; height?: number; sample_rate?: string; channels?: number; duration?: string }[];
}

export async function ffprobe(file: string): Promise<ProbeResult> {
  const { stdout } = await run(FFPROBE, ['-v', 'error', '-show_format', '-show_streams', '-of', 'json', file]);
  return JSON.parse(stdout.toString()) as ProbeResult;
}

/** ffmpeg's complaints while decoding the whole file ('' when it decodes cleanly). */
export async function decodeErrors(file: string): Promise<string> {
  const { stderr } = await run(FFMPEG, ['-v', 'error', '-i', file, '-f', 'null', '-'], { timeoutMs: 60_000 });
  return stderr.trim();
}

/** Mean RGB of a size×size square centred on (x, y) of the frame at `atSeconds`. */
export async function meanColour(file: string, options: { atSeconds?: number; x?: number; y?: number; size?: number } = {}): Promise<{ r: number; g: number; b: number }> {
  const size = options.size ?? 8;
  const x = (options.x ?? CAPTURE_SIZE.width / 2) - size / 2;
  const y = (options.y ?? CAPTURE_SIZE.height / 2) - size / 2;
  const { stdout } = await run(FFMPEG, [
    '-v', 'error', ...(options.atSeconds ? ['-ss', String(options.atSeconds)] : []), '-i', file,
    '-frames:v', '1', '-vf', `crop=${size}:${size}:${x}:${y}`, '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-',
  ]);
  if (stdout.length < size * size * 3) throw new Error(`no decoded frame from ${file}`);
  const sum = { r: 0, g: 0, b: 0 };
  for (let i = 0; i < size * size * 3; i += 3) {
    sum.r += stdout[i]!;
    sum.g += stdout[i + 1]!;
    sum.b += stdout[i + 2]!;
  }
  const n = size * size;
  return { r: sum.r / n, g: sum.g / n, b: sum.b / n };
}

export function colourDistance(a: { r: number; g: number; b: number }, b: { r: number; g: number; b: number }): number {
  return Math.max(Math.abs(a.r - b.r), Math.abs(a.g - b.g), Math.abs(a.b - b.b));
}

/** The strongest frequency (Hz, 1 Hz resolution over 50..4000 Hz) of the first audio stream from `fromSeconds`. */
export async function dominantFrequency(file: string, options: { fromSeconds?: number; seconds?: number } = {}): Promise<number> {
  const rate = 16_000;
  const seconds = options.seconds ?? 1;
  const { stdout } = await run(FFMPEG, [
    '-v', 'error', ...(options.fromSeconds ? ['-ss', String(options.fromSeconds)] : []), '-i', file, '-t', String(seconds),
    '-map', '0:a:0', '-ac', '1', '-ar', String(rate), '-f', 's16le', '-',
  ]);
  const n = Math.floor(stdout.length / 2);
  if (n < rate / 10) throw new Error(`too little audio decoded from ${file} (${n} samples)`);
  const samples = new Float64Array(n);
  for (let i = 0; i < n; i++) samples[i] = stdout.readInt16LE(i * 2);
  // Goertzel power at each candidate frequency, over the window as decoded (frequency resolution rate/n... refined by 1 Hz steps).
  let best = 0;
  let bestPower = -1;
  for (let f = 50; f <= 4000; f++) {
    const w = (2 * Math.PI * f) / rate;
    const c = 2 * Math.cos(w);
    let s1 = 0;
    let s2 = 0;
    for (let i = 0; i < n; i++) {
      const s0 = samples[i]! + c * s1 - s2;
      s2 = s1;
      s1 = s0;
    }
    const power = s1 * s1 + s2 * s2 - c * s1 * s2;
    if (power > bestPower) [best, bestPower] = [f, power];
  }
  return best;
}

/** Writes VP8 RTP payloads (in order) as an IVF file ffmpeg can decode: proof the packets themselves are VP8. */
export async function writeIvf(packets: readonly Pick<CapturedPacket, 'payload' | 'marker'>[], file: string): Promise<number> {
  const frames: Buffer[] = [];
  let parts: Buffer[] = [];
  for (const { payload, marker } of packets) {
    const b0 = payload[0]!;
    let offset = 1;
    if (b0 & 0x80) {
      const x = payload[offset++]!;
      if (x & 0x80) offset += payload[offset]! & 0x80 ? 2 : 1;
      if (x & 0x40) offset += 1;
      if (x & 0x30) offset += 1;
    }
    if (b0 & 0x10 && (b0 & 0x07) === 0) parts = [];
    parts.push(payload.subarray(offset));
    if (marker) {
      frames.push(Buffer.concat(parts));
      parts = [];
    }
  }
  const header = Buffer.alloc(32);
  header.write('DKIF', 0, 'ascii');
  header.writeUInt16LE(0, 4);
  header.writeUInt16LE(32, 6);
  header.write('VP80', 8, 'ascii');
  header.writeUInt16LE(CAPTURE_SIZE.width, 12);
  header.writeUInt16LE(CAPTURE_SIZE.height, 14);
  header.writeUInt32LE(CAPTURE_FPS, 16);
  header.writeUInt32LE(1, 20);
  header.writeUInt32LE(frames.length, 24);
  const chunks: Buffer[] = [header];
  frames.forEach((frame, i) => {
    const h = Buffer.alloc(12);
    h.writeUInt32LE(frame.length, 0);
    h.writeBigUInt64LE(BigInt(i), 4);
    chunks.push(h, frame);
  });
  await writeFile(file, Buffer.concat(chunks));
  return frames.length;
}
