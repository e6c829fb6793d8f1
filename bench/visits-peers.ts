/**
 * The media participants of `bench/visits.ts`, in their own process so their CPU is not counted as the server's.
 * Not meant to be run by hand: it needs the parent's IPC channel (bench/media-ipc.ts).
 *
 * Each participant is a headless werift peer that speaks the builtin media plane's real signaling protocol on
 * `WS /rtc` (src/shared/rtc.ts) with the token the REST API gave it (a visit token, or a rooms-layer token for the
 * baseline), and publishes a microphone and a camera: the real VP8/Opus capture of test/helpers/replay.ts, replayed
 * in real time. It counts what it receives per kind (RTP packets, bytes, and video frames: packets with the marker
 * bit), and what it sends. Like test/helpers/rtc.ts's RtcClient, leaner: no per-packet tag parsing.
 * Loopback only: the LOOPBACK_ONLY settings of test/helpers/media.ts and `suppressDefaultStun`.
 *
 * Requests (from the parent): prepare {videoKbps, clipSeconds} (encode or load the capture), connect {base,
 * participants, concurrency, timeoutMs} (join, publish, wait until each receives audio and video from the other
 * side), sample (every participant's counters and this process's CPU), close {group?} (leave and close).
 */
import { MediaStreamTrack, RTCPeerConnection, type RtpPacket } from 'werift';
import { WebSocket } from 'ws';
import type { ClientMessage, ServerMessage, TrackSource } from '../src/shared/rtc.js';
import { suppressDefaultStun } from '../src/server/rooms/builtin/sfu/werift.js';
import { LOOPBACK_ONLY, sleep, waitFor } from '../test/helpers/media.js';
import { ensureCapture, ReplaySource, type Capture } from '../test/helpers/replay.js';
import { processSample, reply, serve } from './media-ipc.js';

if (!process.send) {
  console.error('bench/visits-peers.ts is started by bench/visits.ts (it needs an IPC channel)');
  process.exit(2);
}

const STEP_MS = 15_000;

/** What the parent asks to connect: one participant with its media token. */
export interface PeerSpec {
  /** Unique in the run, e.g. "v3-host". */
  name: string;
  /** Which set it belongs to ("baseline", "visits"), so a set can be closed alone. */
  group: string;
  /** The name of the participant it should receive from (the other side of the 1:1). */
  partner: string;
  token: string;
}

export interface PeerCounters {
  name: string;
  partner: string;
  connected: boolean;
  sentAudioPackets: number;
  sentVideoPackets: number;
  sentBytes: number;
  audioPackets: number;
  videoPackets: number;
  videoFrames: number;
  bytes: number;
}

class Participant {
  readonly pc = new RTCPeerConnection(LOOPBACK_ONLY);
  readonly sources: ReplaySource[] = [];
  readonly received = { audio: 0, video: 0, frames: 0, bytes: 0 };
  ws!: WebSocket;
  joined = false;
  #queue: Promise<unknown> = Promise.resolve();
  #answerWaiter: ((sdp: string | null) => void) | undefined;
  readonly #tracks = new Set<string>();

  constructor(readonly spec: PeerSpec) {
    this.pc.onIceCandidate.subscribe((candidate) => {
      if (candidate) this.#send({ type: 'candidate', candidate: candidate.toJSON() });
    });
    this.pc.onTrack.subscribe((track) => {
      if (this.#tracks.has(track.uuid)) return;
      this.#tracks.add(track.uuid);
      const video = track.kind === 'video';
      track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
        this.received.bytes += rtp.serializeSize;
        if (!video) return void this.received.audio++;
        this.received.video++;
        if (rtp.header.marker) this.received.frames++;
      });
    });
  }

  #send(message: ClientMessage): void {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  #enqueue<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(operation);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Joins over /rtc, publishes microphone + camera from the capture, and waits until the peer connection is up. */
  async connect(base: string, capture: Capture): Promise<void> {
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/rtc`);
    this.ws = ws;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.spec.name}: no joined within ${STEP_MS} ms`)), STEP_MS);
      ws.on('message', (raw) => {
        const message = JSON.parse(String(raw)) as ServerMessage;
        if (message.type === 'joined') {
          this.joined = true;
          clearTimeout(timer);
          resolve();
        }
        this.#onMessage(message);
      });
      ws.once('open', () => this.#send({ type: 'join', token: this.spec.token }));
      ws.on('close', (code) => {
        clearTimeout(timer);
        if (!this.joined) reject(new Error(`${this.spec.name}: socket closed with ${code} before joined`));
      });
      ws.on('error', () => undefined);
    });
    for (const kind of ['audio', 'video'] as const) {
      const transceiver = this.pc.addTransceiver(new MediaStreamTrack({ kind }), { direction: 'sendonly' });
      this.sources.push(new ReplaySource(transceiver, capture));
    }
    await this.#enqueue(() => this.#offer());
    await waitFor(`${this.spec.name} to connect`, () => this.pc.connectionState === 'connected' || (this.pc.connectionState === 'failed' && 'failed'), STEP_MS).then((state) => {
      if (state === 'failed') throw new Error(`${this.spec.name}: peer connection failed`);
    });
  }

  #onMessage(message: ServerMessage): void {
    switch (message.type) {
      case 'offer':
        void this.#enqueue(() => this.#answer(message.sdp)).catch((err: unknown) => console.error(`[${this.spec.name}] answering failed:`, (err as Error).message));
        break;
      case 'answer':
        this.#answerWaiter?.(message.sdp);
        break;
      case 'error':
        if (message.code === 'glare') this.#answerWaiter?.(null);
        break;
      case 'candidate':
        if (message.candidate) {
          const c = message.candidate;
          this.pc.addIceCandidate({ candidate: c.candidate, sdpMid: c.sdpMid ?? undefined, sdpMLineIndex: c.sdpMLineIndex ?? undefined, usernameFragment: c.usernameFragment ?? undefined }).catch(() => undefined);
        }
        break;
      default:
        break;
    }
  }

  async #offer(): Promise<void> {
    const offer = await this.pc.createOffer();
    suppressDefaultStun(this.pc);
    await this.pc.setLocalDescription(offer);
    const sources: Record<string, TrackSource> = {};
    for (const s of this.sources) if (s.transceiver.mid) sources[s.transceiver.mid] = s.kind === 'audio' ? 'microphone' : 'camera';
    const answered = new Promise<string | null>((resolve) => (this.#answerWaiter = resolve));
    this.#send({ type: 'offer', sdp: this.pc.localDescription!.sdp, sources });
    const answer = await Promise.race([answered, sleep(STEP_MS).then(() => Promise.reject(new Error(`${this.spec.name}: no answer to the offer`)))]);
    this.#answerWaiter = undefined;
    if (answer === null) {
      // Glare: the server's offer wins; roll back, let it be answered, offer again.
      await this.pc.setLocalDescription({ type: 'rollback' });
      void this.#enqueue(() => this.#offer());
      return;
    }
    await this.pc.setRemoteDescription({ type: 'answer', sdp: answer });
  }

  async #answer(sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp });
    const answer = await this.pc.createAnswer();
    suppressDefaultStun(this.pc);
    await this.pc.setLocalDescription(answer);
    this.#send({ type: 'answer', sdp: this.pc.localDescription!.sdp });
  }

  counters(): PeerCounters {
    return {
      name: this.spec.name,
      partner: this.spec.partner,
      connected: this.pc.connectionState === 'connected',
      sentAudioPackets: this.sources.reduce((n, s) => n + (s.kind === 'audio' ? s.sent : 0), 0),
      sentVideoPackets: this.sources.reduce((n, s) => n + (s.kind === 'video' ? s.sent : 0), 0),
      // RTP header (12 bytes) + payload, as bench/media-peers.ts counts it.
      sentBytes: this.sources.reduce((n, s) => n + s.bytes + 12 * s.sent, 0),
      audioPackets: this.received.audio,
      videoPackets: this.received.video,
      videoFrames: this.received.frames,
      bytes: this.received.bytes,
    };
  }

  async close(): Promise<void> {
    for (const s of this.sources) s.stop();
    this.#send({ type: 'leave' });
    this.ws?.terminate();
    await this.pc.close().catch(() => undefined);
  }
}

const participants = new Map<string, Participant>();
let capture: Capture | undefined;

async function prepare(videoKbps: number, clipSeconds: number): Promise<unknown> {
  const started = Date.now();
  capture = await ensureCapture({ bitrateKbps: videoKbps, seconds: clipSeconds });
  const rtpKbps = (stream: Capture['video']) => (stream.packets.reduce((n, p) => n + p.payload.length + 12, 0) * 8) / capture!.seconds / 1000;
  const frames = capture.video.packets.filter((p) => p.marker).length;
  return {
    dir: capture.dir,
    seconds: capture.seconds,
    videoKbps: Math.round(rtpKbps(capture.video)),
    audioKbps: Math.round(rtpKbps(capture.audio)),
    /** What one participant sends per second (audio + video RTP packets), and video frames per second. */
    packetsPerSec: (capture.video.packets.length + capture.audio.packets.length) / capture.seconds,
    fps: frames / capture.seconds,
    captureMs: Date.now() - started,
  };
}

/** Connects the new participants (`concurrency` at a time), then waits until each receives audio and video. */
async function connect(base: string, specs: PeerSpec[], concurrency: number, timeoutMs: number): Promise<unknown> {
  if (!capture) throw new Error('prepare first');
  const started = Date.now();
  const fresh = specs.map((spec) => {
    const p = new Participant(spec);
    participants.set(spec.name, p);
    return p;
  });
  const queue = [...fresh];
  await Promise.all(
    Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let p = queue.shift(); p; p = queue.shift()) await p.connect(base, capture!);
    }),
  );
  // Video is forwarded from the next keyframe on (the SFU asks the publisher with a PLI).
  const missing = () => fresh.filter((p) => !(p.received.audio > 0 && p.received.video > 0 && p.received.frames > 0));
  try {
    await waitFor('every participant to receive audio and video', () => missing().length === 0, Math.max(1000, timeoutMs - (Date.now() - started)));
  } catch (error) {
    const detail = missing()
      .slice(0, 6)
      .map((p) => `${p.spec.name} (${p.pc.connectionState}, audio ${p.received.audio}, video ${p.received.video})`);
    throw new Error(`${(error as Error).message}: ${missing().length} of ${fresh.length} lack media: ${detail.join('; ')}`);
  }
  return { connected: fresh.length, ms: Date.now() - started };
}

async function close(group?: string): Promise<unknown> {
  const leaving = [...participants.values()].filter((p) => group === undefined || p.spec.group === group);
  await Promise.race([Promise.all(leaving.map((p) => p.close())), sleep(5000)]);
  for (const p of leaving) participants.delete(p.spec.name);
  return { closed: leaving.length };
}

serve(async (op, args) => {
  switch (op) {
    case 'prepare':
      return prepare(Number(args.videoKbps), Number(args.clipSeconds));
    case 'connect':
      return connect(String(args.base), args.participants as PeerSpec[], Number(args.concurrency ?? 4), Number(args.timeoutMs ?? 30_000));
    case 'sample':
      return { ...processSample(), peers: [...participants.values()].map((p) => p.counters()) };
    case 'close':
      return close(typeof args.group === 'string' ? args.group : undefined);
    default:
      throw new Error(`unknown op ${op}`);
  }
});
process.on('disconnect', () => void Promise.race([close(), sleep(2000)]).finally(() => process.exit(0)));
reply({ kind: 'ready' });
