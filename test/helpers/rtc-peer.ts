// A headless participant of the builtin media plane over the real `WS /rtc` protocol that publishes real simulcast
// (a SimulcastPublisher, test/helpers/simulcast.ts) or nothing, and records what it receives per mid: packets,
// payload bytes, and the VP8 picture size of each keyframe (which layer it is being sent). Used by
// test/rtc-selection.test.ts and bench/groups.ts (whose SFU runs in another process: only a URL and a token here).
import { RTCPeerConnection, type RtpPacket } from 'werift';
import { rembPacket } from '../../src/server/rooms/builtin/sfu/participant.js';
import { WebSocket } from 'ws';
import type { ClientMessage, RtcRoute, ServerMessage } from '../../src/shared/rtc.js';
import { isVp8KeyframeStart, vp8KeyframeSize } from '../../src/server/rooms/builtin/sfu/rewrite.js';
import { suppressDefaultStun } from '../../src/server/rooms/builtin/sfu/werift.js';
import { LOOPBACK_ONLY, WAIT_MS, sleep, waitFor } from './media.js';
import type { SimulcastPublisher } from './simulcast.js';

export interface Received {
  packets: number;
  /** RTP payload bytes. */
  bytes: number;
  /** The picture size of the last keyframe (0 before one). */
  width: number;
  height: number;
}

export class RtcPeer {
  readonly ws: WebSocket;
  readonly pc: RTCPeerConnection;
  readonly messages: ServerMessage[] = [];
  readonly routes = new Map<string, RtcRoute>();
  /** mid → what came on it. */
  readonly byMid = new Map<string, Received>();
  /** Everything received (RTP payload bytes), all mids. */
  bytes = 0;
  /** Of `bytes`, what came on audio mids. */
  audioBytes = 0;
  readonly #listeners = new Set<(m: ServerMessage) => void>();
  readonly #tracks = new Set<string>();
  #queue: Promise<unknown> = Promise.resolve();
  #answerWaiter: ((sdp: string | null) => void) | undefined;

  private constructor(
    readonly identity: string,
    ws: WebSocket,
    readonly publisher: SimulcastPublisher | null,
  ) {
    this.ws = ws;
    this.pc = publisher?.pc ?? new RTCPeerConnection(LOOPBACK_ONLY);
    if (!publisher) this.pc.createDataChannel('openvisit');
    this.pc.onIceCandidate.subscribe((candidate) => {
      if (candidate) this.send({ type: 'candidate', candidate: candidate.toJSON() });
    });
    this.pc.onTrack.subscribe((track) => {
      if (this.#tracks.has(track.uuid)) return;
      this.#tracks.add(track.uuid);
      const transceiver = this.pc.getTransceivers().find((t) => t.receiver.tracks.includes(track) || t.receiver.track === track);
      track.onReceiveRtp.subscribe((rtp) => this.#record(transceiver?.mid ?? '?', rtp));
    });
    ws.on('message', (data) => this.#onMessage(JSON.parse(data.toString()) as ServerMessage));
  }

  /** Joins with `token` over `url` (ws://…/rtc), publishes what `publisher` sends (or nothing), waits for media. */
  static async connect(url: string, token: string, identity: string, publisher: SimulcastPublisher | null, ms = WAIT_MS * 2): Promise<RtcPeer> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    const peer = new RtcPeer(identity, ws, publisher);
    peer.send({ type: 'join', token });
    await peer.next('joined', () => true, ms);
    await peer.#enqueue(() => peer.#offer());
    await waitFor(`${identity} to connect`, () => peer.pc.connectionState === 'connected', ms);
    return peer;
  }

  send(message: ClientMessage): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** The next message of `type` matching `where`. */
  next<T extends ServerMessage['type']>(type: T, where: (m: Extract<ServerMessage, { type: T }>) => boolean = () => true, ms = WAIT_MS): Promise<Extract<ServerMessage, { type: T }>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#listeners.delete(listener);
        reject(new Error(`${this.identity}: no ${type} within ${ms} ms`));
      }, ms);
      const listener = (m: ServerMessage) => {
        if (m.type !== type || !where(m as Extract<ServerMessage, { type: T }>)) return;
        clearTimeout(timer);
        this.#listeners.delete(listener);
        resolve(m as Extract<ServerMessage, { type: T }>);
      };
      this.#listeners.add(listener);
    });
  }

  /** What arrived of a publisher's video source (through the routes the server announced). */
  received(identity: string, source: 'camera' | 'screen' = 'camera'): Received {
    const total: Received = { packets: 0, bytes: 0, width: 0, height: 0 };
    for (const [mid, route] of this.routes) {
      if (route.identity !== identity || route.source !== source) continue;
      const r = this.byMid.get(mid);
      if (!r) continue;
      total.packets += r.packets;
      total.bytes += r.bytes;
      if (r.width > 0) ({ width: total.width, height: total.height } = r);
    }
    return total;
  }

  /** Packets of a publisher's video arriving over `ms` (0: none forwarded). */
  async packetsOver(identity: string, ms: number, source: 'camera' | 'screen' = 'camera'): Promise<number> {
    const before = this.received(identity, source).packets;
    await sleep(ms);
    return this.received(identity, source).packets - before;
  }

  /** Sends a REMB naming every SSRC received (as Chromium's receive-side estimator does): "I can take `bps` in all". */
  async sendRemb(bps: number): Promise<void> {
    const receivers = this.pc.getTransceivers().filter((t) => t.receiver.tracks.length > 0);
    const ssrcs = receivers.flatMap((t) => t.receiver.tracks.map((tr) => tr.ssrc)).filter((x): x is number => typeof x === 'number');
    const first = receivers[0];
    if (!first || ssrcs.length === 0) throw new Error(`${this.identity}: nothing received to send a REMB about`);
    await first.receiver.dtlsTransport.sendRtcp([rembPacket(first.receiver.rtcpSsrc, ssrcs, bps)]);
  }

  async close(): Promise<void> {
    this.ws.terminate();
    this.publisher?.stop();
    await this.pc.close();
  }

  #record(mid: string, rtp: RtpPacket): void {
    let r = this.byMid.get(mid);
    if (!r) {
      r = { packets: 0, bytes: 0, width: 0, height: 0 };
      this.byMid.set(mid, r);
    }
    r.packets++;
    r.bytes += rtp.payload.length;
    this.bytes += rtp.payload.length;
    if (this.routes.get(mid)?.kind === 'audio') this.audioBytes += rtp.payload.length;
    if (isVp8KeyframeStart(rtp.payload)) {
      const size = vp8KeyframeSize(rtp.payload);
      if (size) ({ width: r.width, height: r.height } = size);
    }
  }

  #onMessage(message: ServerMessage): void {
    this.messages.push(message);
    if (message.type === 'offer' || message.type === 'routes' || message.type === 'joined') {
      for (const route of message.routes) this.routes.set(route.mid, route);
    }
    if (message.type === 'offer') void this.#enqueue(() => this.#answer(message.sdp));
    else if (message.type === 'answer') this.#answerWaiter?.(message.sdp);
    else if (message.type === 'error' && message.code === 'glare') this.#answerWaiter?.(null);
    else if (message.type === 'candidate' && message.candidate) {
      const c = message.candidate;
      this.pc.addIceCandidate({ ...c, sdpMid: c.sdpMid ?? undefined, sdpMLineIndex: c.sdpMLineIndex ?? undefined, usernameFragment: c.usernameFragment ?? undefined }).catch(() => undefined);
    }
    for (const listener of [...this.#listeners]) listener(message);
  }

  #enqueue<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(operation);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #offer(): Promise<void> {
    let sdp: string;
    if (this.publisher) sdp = await this.publisher.offer();
    else {
      const offer = await this.pc.createOffer();
      suppressDefaultStun(this.pc);
      await this.pc.setLocalDescription(offer);
      sdp = this.pc.localDescription!.sdp;
    }
    const answered = new Promise<string | null>((resolve) => (this.#answerWaiter = resolve));
    this.send({ type: 'offer', sdp, sources: this.publisher?.sources() ?? {} });
    const answer = await Promise.race([answered, sleep(WAIT_MS * 2).then(() => Promise.reject(new Error(`${this.identity}: no answer`)))]);
    this.#answerWaiter = undefined;
    if (answer === null) {
      await this.pc.setLocalDescription({ type: 'rollback' });
      void this.#enqueue(() => this.#offer());
      return;
    }
    if (this.publisher) await this.publisher.applyAnswer(answer);
    else await this.pc.setRemoteDescription({ type: 'answer', sdp: answer });
  }

  async #answer(sdp: string): Promise<void> {
    let answer: string;
    if (this.publisher) answer = await this.publisher.answer(sdp);
    else {
      await this.pc.setRemoteDescription({ type: 'offer', sdp });
      const created = await this.pc.createAnswer();
      suppressDefaultStun(this.pc);
      await this.pc.setLocalDescription(created);
      answer = this.pc.localDescription!.sdp;
    }
    this.send({ type: 'answer', sdp: answer });
  }
}
