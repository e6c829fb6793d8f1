/**
 * The load generators of `bench/media.ts`: headless werift participants in their own process (one process for
 * the publisher, one for all subscribers), so their CPU is not counted as the SFU's. Not meant to be run by hand:
 *
 *   node --import tsx bench/media-peers.ts pub | subs     (started by bench/media.ts with an IPC channel)
 *
 * Signaling goes to the SFU process through the parent (bench/media-ipc.ts). Peers are loopback only: the
 * LOOPBACK_ONLY settings of test/helpers/media.ts and `suppressDefaultStun` before every setLocalDescription.
 *
 * pub   one participant sending audio + video (sendonly, plus the data channel a client offer must carry): a real
 *       VP8/Opus RTP capture made once with ffmpeg (test/helpers/replay.ts), replayed in real time, in a loop.
 * subs  N participants; the SFU offers each one the publisher's two tracks; they only count the RTP they get.
 */
import { MediaStreamTrack, RTCPeerConnection, type RtpPacket } from 'werift';
import type { IceCandidateInit } from '../src/server/rooms/builtin/sfu/types.js';
import { suppressDefaultStun } from '../src/server/rooms/builtin/sfu/werift.js';
import { LOOPBACK_ONLY, sleep, waitFor } from '../test/helpers/media.js';
import { ReplaySource, ensureCapture } from '../test/helpers/replay.js';
import { SIMULCAST_LAYERS, SimulcastPublisher, ensureSimulcastCapture } from '../test/helpers/simulcast.js';
import { Requester, isChildMessage, processSample, reply, serve } from './media-ipc.js';

const role = process.argv[2];
if (!process.send || (role !== 'pub' && role !== 'subs')) {
  console.error('bench/media-peers.ts pub|subs is started by bench/media.ts (it needs an IPC channel)');
  process.exit(2);
}

/** Requests to the SFU process (relayed by the parent). */
const sfu = new Requester(role, { send: (m) => reply(m) }, 'sfu');
const CONNECT_MS = 15_000;

/** One werift participant and its half of the signaling with the SFU. */
class Peer {
  readonly pc: RTCPeerConnection;
  state = 'new';
  tracks = 0;
  /** RTP received, per kind. */
  readonly received = { audio: { packets: 0, bytes: 0 }, video: { packets: 0, bytes: 0 } };
  // werift emits local candidates during setLocalDescription, before the SFU has our SDP (pitfall 7): hold them
  // until it does. Remote candidates wait for our remote description the same way.
  #localGate = false;
  readonly #localHeld: (IceCandidateInit | null)[] = [];
  #remoteGate = false;
  readonly #remoteHeld: (IceCandidateInit | null)[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  readonly #seenTracks = new Set<string>();

  /** `pc`: a peer connection made elsewhere (the simulcast publisher's); default a plain loopback one. */
  constructor(
    readonly pid: string,
    pc?: RTCPeerConnection,
  ) {
    this.pc = pc ?? new RTCPeerConnection(LOOPBACK_ONLY);
    this.pc.onIceCandidate.subscribe((candidate) => {
      const init = candidate ? (candidate.toJSON() as IceCandidateInit) : null;
      if (this.#localGate) this.#sendCandidate(init);
      else this.#localHeld.push(init);
    });
    this.pc.onTrack.subscribe((track) => {
      if (this.#seenTracks.has(track.uuid)) return;
      this.#seenTracks.add(track.uuid);
      this.tracks++;
      const counter = this.received[track.kind === 'audio' ? 'audio' : 'video'];
      track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
        counter.packets++;
        counter.bytes += rtp.serializeSize;
      });
    });
  }

  #sendCandidate(candidate: IceCandidateInit | null): void {
    sfu.request('addIceCandidate', { pid: this.pid, candidate }).catch(() => undefined);
  }

  #openLocalGate(): void {
    if (this.#localGate) return;
    this.#localGate = true;
    for (const c of this.#localHeld.splice(0)) this.#sendCandidate(c);
  }

  #openRemoteGate(): void {
    if (this.#remoteGate) return;
    this.#remoteGate = true;
    for (const c of this.#remoteHeld.splice(0)) void this.#addRemote(c);
  }

  async #addRemote(candidate: IceCandidateInit | null): Promise<void> {
    if (!candidate) return; // werift needs no end-of-candidates
    await this.pc.addIceCandidate({ ...candidate, sdpMid: candidate.sdpMid ?? undefined, sdpMLineIndex: candidate.sdpMLineIndex ?? undefined, usernameFragment: candidate.usernameFragment ?? undefined }).catch(() => undefined);
  }

  onEvent(event: string, data: unknown): void {
    if (event === 'iceCandidate') {
      const candidate = data as IceCandidateInit | null;
      if (this.#remoteGate) void this.#addRemote(candidate);
      else this.#remoteHeld.push(candidate);
    } else if (event === 'connectionState') {
      this.state = String(data);
    } else if (event === 'needsNegotiation') {
      void this.#enqueue(() => this.#answer(String(data))).catch((error: unknown) => console.error(`[${this.pid}] renegotiation failed:`, error));
    }
  }

  #enqueue<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(operation);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Client-first negotiation (the publisher): our offer, the SFU's answer. */
  offer(sources: Record<string, string>): Promise<void> {
    return this.#enqueue(async () => {
      const offer = await this.pc.createOffer();
      suppressDefaultStun(this.pc);
      await this.pc.setLocalDescription(offer);
      const answer = await sfu.request<string>('createAnswer', { pid: this.pid, sdp: this.pc.localDescription!.sdp, sources });
      this.#openLocalGate();
      await this.pc.setRemoteDescription({ type: 'answer', sdp: answer });
      this.#openRemoteGate();
    });
  }

  /** Server-first negotiation (the subscribers): the SFU's offer already carries a slot per forwarded track. */
  answerServer(): Promise<void> {
    return this.#enqueue(async () => this.#answer(await sfu.request<string>('createOffer', { pid: this.pid })));
  }

  async #answer(offer: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offer });
    this.#openRemoteGate();
    const answer = await this.pc.createAnswer();
    suppressDefaultStun(this.pc);
    await this.pc.setLocalDescription(answer);
    await sfu.request('setRemoteDescription', { pid: this.pid, sdp: this.pc.localDescription!.sdp });
    this.#openLocalGate();
  }

  async close(): Promise<void> {
    await this.pc.close().catch(() => undefined);
  }
}

const peers = new Map<string, Peer>();

process.on('message', (raw) => {
  if (!isChildMessage(raw)) return;
  if (raw.kind === 'res') sfu.settle(raw);
  else if (raw.kind === 'evt') peers.get(raw.pid)?.onEvent(raw.event, raw.data);
});

async function connect(peer: Peer): Promise<void> {
  await waitFor(`${peer.pid} to connect`, () => peer.state === 'connected' || (peer.state === 'failed' && 'failed'), CONNECT_MS).then((s) => {
    if (s === 'failed') throw new Error(`${peer.pid}: connection failed`);
  });
}

// ---- publisher ---------------------------------------------------------------------------------------------

const sources: ReplaySource[] = [];
let simulcast: SimulcastPublisher | undefined;

/**
 * BENCH_MEDIA_SIMULCAST=1: the publisher sends its camera as rid simulcast (test/helpers/simulcast.ts: 320x180 at
 * 150 kbit/s, 640x360 at 400 kbit/s, 1280x720 at the video target), the subscribers get the top layer (the SFU's
 * default): the same forwarded rate as without simulcast, plus the SFU's layer work and two more layers received.
 */
async function publishSimulcast(videoKbps: number, clipSeconds: number): Promise<unknown> {
  const pid = 'publisher';
  const captureStarted = Date.now();
  const layers = SIMULCAST_LAYERS.map((l) => (l.layer === 'high' ? { ...l, bitrateKbps: videoKbps } : l));
  const capture = await ensureSimulcastCapture({ layers, seconds: clipSeconds });
  const captureMs = Date.now() - captureStarted;
  await sfu.request('join', { pid });
  simulcast = new SimulcastPublisher(capture);
  const peer = new Peer(pid, simulcast.pc);
  peers.set(pid, peer);
  await peer.offer({});
  await connect(peer);
  const top = capture.layers.at(-1)!.capture;
  const kbps = (stream: typeof top.video) => (stream.packets.reduce((n, p) => n + p.payload.length + 12, 0) * 8) / top.seconds / 1000;
  return {
    pid,
    mids: { audio: simulcast.audio?.mid ?? null, video: simulcast.video.mid },
    capture: { dir: top.dir, seconds: top.seconds, videoKbps: Math.round(kbps(top.video)), audioKbps: Math.round(kbps(top.audio)), captureMs },
  };
}

async function publish(videoKbps: number, clipSeconds: number): Promise<unknown> {
  if (process.env.BENCH_MEDIA_SIMULCAST === '1') return publishSimulcast(videoKbps, clipSeconds);
  const pid = 'publisher';
  const captureStarted = Date.now();
  const capture = await ensureCapture({ bitrateKbps: videoKbps, seconds: clipSeconds });
  const captureMs = Date.now() - captureStarted;
  await sfu.request('join', { pid });
  const peer = new Peer(pid);
  peers.set(pid, peer);
  peer.pc.createDataChannel('bench'); // a client's first offer must carry the data channel (SFU README)
  const audio = peer.pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: 'sendonly' });
  const video = peer.pc.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' });
  sources.push(new ReplaySource(audio, capture), new ReplaySource(video, capture));
  await peer.offer({}); // unnamed audio is the microphone, unnamed video the camera
  await connect(peer);
  const kbps = (stream: typeof capture.video) => (stream.packets.reduce((n, p) => n + p.payload.length + 12, 0) * 8) / capture.seconds / 1000;
  return {
    pid,
    mids: { audio: audio.mid, video: video.mid },
    capture: { dir: capture.dir, seconds: capture.seconds, videoKbps: Math.round(kbps(capture.video)), audioKbps: Math.round(kbps(capture.audio)), captureMs },
  };
}

function publisherSample(): unknown {
  // RTP header (12 bytes; the SFU's senders add a few bytes of header extensions that subscribers count) + payload.
  const layers = simulcast ? Object.values(simulcast.counters()) : [];
  const packetsSent = sources.reduce((n, s) => n + s.sent, 0) + layers.reduce((n, l) => n + l.packets, 0) + (simulcast?.audioPackets ?? 0);
  const bytesSent =
    sources.reduce((n, s) => n + s.bytes, 0) + layers.reduce((n, l) => n + l.bytes, 0) + (simulcast?.audioBytes ?? 0) + 12 * packetsSent;
  return { ...processSample(), packetsSent, bytesSent, rewinds: sources.reduce((n, s) => n + s.rewinds, 0) };
}

// ---- subscribers -------------------------------------------------------------------------------------------

let subscriberCount = 0;

/** Brings the number of subscribers up to `count`, `concurrency` joining at a time; each must get video. */
async function subscribe(count: number, concurrency: number, timeoutMs: number): Promise<unknown> {
  const started = Date.now();
  const ids: string[] = [];
  while (subscriberCount < count) ids.push(`sub-${++subscriberCount}`);
  const joinOne = async (pid: string) => {
    await sfu.request('join', { pid });
    const peer = new Peer(pid);
    peers.set(pid, peer);
    await peer.answerServer();
    await connect(peer);
  };
  const queue = [...ids];
  await Promise.all(
    Array.from({ length: Math.min(concurrency, queue.length) }, async () => {
      for (let pid = queue.shift(); pid; pid = queue.shift()) await joinOne(pid);
    }),
  );
  // Video is forwarded from the next keyframe on: wait until every new subscriber has both kinds flowing.
  const remaining = () => Math.max(1000, timeoutMs - (Date.now() - started));
  const missing = () => ids.filter((pid) => !((peers.get(pid)?.received.video.packets ?? 0) > 0 && (peers.get(pid)?.received.audio.packets ?? 0) > 0));
  try {
    await waitFor('every subscriber to receive audio and video', () => missing().length === 0, remaining());
  } catch (error) {
    const detail = missing()
      .slice(0, 8)
      .map((pid) => {
        const peer = peers.get(pid)!;
        const pc = peer.pc;
        return `${pid} (sfu ${peer.state}, local ${pc.connectionState}/ice ${pc.iceConnectionState}/dtls ${pc.dtlsTransports.map((t) => t.state).join(',')}, audio ${peer.received.audio.packets}, video ${peer.received.video.packets}, tracks ${peer.tracks})`;
      });
    throw new Error(`${(error as Error).message}: ${missing().length} of ${ids.length} new subscribers lack media: ${detail.join('; ')}`);
  }
  return { subscribers: subscriberCount, joined: ids.length, ms: Date.now() - started };
}

function subscribersSample(): unknown {
  let packets = 0;
  let bytes = 0;
  const perSubscriberPackets: number[] = [];
  for (const peer of peers.values()) {
    const n = peer.received.audio.packets + peer.received.video.packets;
    packets += n;
    bytes += peer.received.audio.bytes + peer.received.video.bytes;
    perSubscriberPackets.push(n);
  }
  return { ...processSample(), subscribers: peers.size, packets, bytes, perSubscriberPackets };
}

// ---------------------------------------------------------------------------------------------------------

async function closeAll(): Promise<void> {
  for (const s of sources.splice(0)) s.stop();
  simulcast?.stop();
  await Promise.all([...peers.values()].map((p) => p.close()));
  peers.clear();
}

serve(async (op, args) => {
  switch (op) {
    case 'publish':
      return publish(Number(args.videoKbps), Number(args.clipSeconds));
    case 'subscribe':
      return subscribe(Number(args.count), Number(args.concurrency ?? 8), Number(args.timeoutMs ?? 30_000));
    case 'sample':
      return role === 'pub' ? publisherSample() : subscribersSample();
    case 'close':
      await closeAll();
      return {};
    default:
      throw new Error(`unknown op ${op}`);
  }
});
process.on('disconnect', () => {
  sfu.failAll('parent gone');
  void Promise.race([closeAll(), sleep(2000)]).finally(() => process.exit(0));
});
reply({ kind: 'ready' });
