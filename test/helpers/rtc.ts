// A headless participant of the builtin media plane: the real signaling protocol over `WS /rtc` and a werift
// peer connection on loopback sending tagged synthetic VP8/Opus (test/helpers/media.ts). What it receives is
// counted by the tag in each packet's payload, so a count can only come from the named publisher.
import assert from 'node:assert/strict';
import { MediaStreamTrack, RTCPeerConnection, type RtpPacket } from 'werift';
import { WebSocket } from 'ws';
import type { ClientMessage, RtcGrants, RtcParticipantInfo, RtcRoute, ServerMessage, TrackSource } from '../../src/shared/rtc.js';
import { suppressDefaultStun } from '../../src/server/rooms/builtin/sfu/werift.js';
import type { TestApp } from './app.js';
import { ensureCapture, ReplaySource } from './replay.js';
import type { Caller } from './builders.js';
import { ABSENCE_MS, LOOPBACK_ONLY, SyntheticSource, WAIT_MS, sleep, tagOf, waitFor } from './media.js';

export interface RtcClientOptions {
  /** Sources to publish (synthetic, tagged "<identity>/<source>"). */
  publish?: TrackSource[];
  /** false: signaling only, no peer connection (the participant joins without media). Default true. */
  media?: boolean;
  /** Wait until the peer connection is connected. Default true when media. */
  waitConnected?: boolean;
  /** Publish real VP8/Opus (a replayed ffmpeg capture: 200,50,100 picture, 440 Hz) instead of tagged synthetic packets. */
  replay?: boolean;
}

type Join = Extract<ServerMessage, { type: 'joined' }>;

export class RtcClient {
  ws!: WebSocket;
  readonly pc: RTCPeerConnection | null;
  readonly messages: ServerMessage[] = [];
  readonly participants = new Map<string, RtcParticipantInfo>();
  readonly routes = new Map<string, RtcRoute>();
  readonly sources = new Map<TrackSource, SyntheticSource | ReplaySource>();
  readonly arrivals = new Map<string, { count: number; firstAt: number; mids: Set<string> }>();
  readonly data: { from: string | null; payload: string }[] = [];
  joined: Join | undefined;
  closeCode: number | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #tracks = new Set<string>();

  private constructor(
    readonly baseUrl: string,
    readonly token: string,
    readonly identity: string,
    media: boolean,
  ) {
    this.pc = media ? new RTCPeerConnection(LOOPBACK_ONLY) : null;
    this.pc?.onIceCandidate.subscribe((candidate) => {
      if (candidate) this.send({ type: 'candidate', candidate: candidate.toJSON() });
    });
    this.pc?.onTrack.subscribe((track) => {
      if (this.#tracks.has(track.uuid)) return;
      this.#tracks.add(track.uuid);
      const transceiver = this.pc!.getTransceivers().find((t) => t.receiver.tracks.includes(track) || t.receiver.track === track);
      track.onReceiveRtp.subscribe((rtp) => this.#record(rtp, transceiver?.mid ?? '?'));
    });
  }

  /** Joins with `token` (identity is only for tags), publishes `options.publish`, waits for media to connect. */
  static async connect(baseUrl: string, token: string, identity: string, options: RtcClientOptions = {}): Promise<RtcClient> {
    const client = new RtcClient(baseUrl, token, identity, options.media ?? true);
    try {
      await client.#open();
    } catch (err) {
      // Refused: release the peer connection made for it.
      await client.close();
      throw err;
    }
    if (client.pc) {
      const capture = options.replay ? await ensureCapture() : undefined;
      for (const source of options.publish ?? []) {
        const kind = source === 'microphone' ? 'audio' : 'video';
        const transceiver = client.pc.addTransceiver(new MediaStreamTrack({ kind }), { direction: 'sendonly' });
        client.sources.set(source, capture ? new ReplaySource(transceiver, capture) : new SyntheticSource(`${identity}/${source}`, kind, transceiver));
      }
      await client.#enqueue(() => client.#offer());
      if (options.waitConnected ?? true) await waitFor(`${identity} to connect`, () => client.pc!.connectionState === 'connected');
    }
    return client;
  }

  /** Opens a socket and joins (resuming `sessionId` when given); resolves with `joined`, rejects with the close. */
  #open(sessionId?: string): Promise<Join> {
    const ws = new WebSocket(`${this.baseUrl.replace(/^http/, 'ws')}/rtc`);
    this.ws = ws;
    ws.on('message', (raw) => this.#onMessage(JSON.parse(String(raw)) as ServerMessage));
    return new Promise<Join>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.identity}: no joined within ${WAIT_MS} ms`)), WAIT_MS);
      ws.once('open', () => ws.send(JSON.stringify({ type: 'join', token: this.token, ...(sessionId ? { sessionId } : {}) } satisfies ClientMessage)));
      ws.on('close', (code) => {
        this.closeCode = code;
        clearTimeout(timer);
        reject(new Error(`${this.identity}: socket closed with ${code} before joined`));
      });
      const onJoined = (message: ServerMessage) => {
        if (message.type !== 'joined') return;
        clearTimeout(timer);
        resolve(message);
      };
      this.#listeners.add(onJoined);
    });
  }

  readonly #listeners = new Set<(message: ServerMessage) => void>();

  #onMessage(message: ServerMessage): void {
    this.messages.push(message);
    switch (message.type) {
      case 'joined':
        this.joined = message;
        this.participants.clear();
        for (const p of message.participants) this.participants.set(p.identity, p);
        for (const r of message.routes) this.routes.set(r.mid, r);
        break;
      case 'participantJoined':
      case 'participantUpdated':
        this.participants.set(message.participant.identity, message.participant);
        break;
      case 'participantLeft':
        this.participants.delete(message.identity);
        break;
      case 'routes':
        for (const r of message.routes) this.routes.set(r.mid, r);
        break;
      case 'offer':
        for (const r of message.routes) this.routes.set(r.mid, r);
        void this.#enqueue(() => this.#answer(message.sdp));
        break;
      case 'answer':
        this.#answerWaiter?.(message.sdp);
        break;
      case 'candidate':
        if (message.candidate) this.pc?.addIceCandidate(message.candidate).catch(() => undefined);
        break;
      case 'data':
        this.data.push({ from: message.from, payload: message.payload });
        break;
      case 'error':
        if (message.code === 'glare') this.#answerWaiter?.(null);
        break;
      default:
        break;
    }
    for (const listener of this.#listeners) listener(message);
  }

  #answerWaiter: ((sdp: string | null) => void) | undefined;

  #enqueue<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(operation);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #offer(): Promise<void> {
    const pc = this.pc!;
    const offer = await pc.createOffer();
    suppressDefaultStun(pc);
    await pc.setLocalDescription(offer);
    const sources: Record<string, TrackSource> = {};
    for (const [source, synthetic] of this.sources) if (synthetic.transceiver.mid) sources[synthetic.transceiver.mid] = source;
    const answered = new Promise<string | null>((resolve) => (this.#answerWaiter = resolve));
    this.send({ type: 'offer', sdp: pc.localDescription!.sdp, sources });
    const answer = await Promise.race([answered, sleep(WAIT_MS).then(() => Promise.reject(new Error(`${this.identity}: no answer`)))]);
    this.#answerWaiter = undefined;
    if (answer === null) {
      // Glare: the server's offer wins; roll back, let it be answered, offer again.
      await pc.setLocalDescription({ type: 'rollback' });
      void this.#enqueue(() => this.#offer());
      return;
    }
    await pc.setRemoteDescription({ type: 'answer', sdp: answer });
  }

  async #answer(sdp: string): Promise<void> {
    const pc = this.pc;
    if (!pc) return;
    await pc.setRemoteDescription({ type: 'offer', sdp });
    const answer = await pc.createAnswer();
    suppressDefaultStun(pc);
    await pc.setLocalDescription(answer);
    this.send({ type: 'answer', sdp: pc.localDescription!.sdp });
  }

  #record(rtp: RtpPacket, mid: string): void {
    const tag = tagOf(rtp.payload);
    const arrival = this.arrivals.get(tag) ?? { count: 0, firstAt: performance.now(), mids: new Set<string>() };
    arrival.count++;
    arrival.mids.add(mid);
    this.arrivals.set(tag, arrival);
  }

  send(message: ClientMessage): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Resolves with a message of `type` (matching `where`) received already, else with the next one. */
  seen<T extends ServerMessage['type']>(type: T, where: (m: Extract<ServerMessage, { type: T }>) => boolean = () => true, ms = WAIT_MS): Promise<Extract<ServerMessage, { type: T }>> {
    const earlier = this.messages.find((m): m is Extract<ServerMessage, { type: T }> => m.type === type && where(m as Extract<ServerMessage, { type: T }>));
    return earlier ? Promise.resolve(earlier) : this.next(type, where, ms);
  }

  /** Resolves with the next message of `type` (matching `where`) after now. */
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

  /** Resolves with the socket's close code. */
  closed(ms = WAIT_MS): Promise<number> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve(this.closeCode ?? 0);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.identity}: socket still open after ${ms} ms`)), ms);
      this.ws.once('close', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  /** Drops the signaling socket without a word (a network blip); media carries on. */
  dropSignaling(): void {
    this.ws.terminate();
  }

  /** Opens a new socket and resumes the session. */
  async resume(): Promise<Join> {
    return this.#open(this.joined?.sessionId);
  }

  count(tag: string): number {
    return this.arrivals.get(tag)?.count ?? 0;
  }

  async receives(tag: string, n = 5, ms = WAIT_MS): Promise<void> {
    const start = this.count(tag);
    await waitFor(`${this.identity} to receive ${tag}`, () => this.count(tag) >= start + n, ms);
  }

  async receivesNothingOf(...tags: string[]): Promise<void> {
    await sleep(150);
    const before = tags.map((tag) => this.count(tag));
    await sleep(ABSENCE_MS);
    assert.deepEqual(tags.map((tag) => this.count(tag)), before, `${this.identity} still receives ${tags.join(', ')}`);
  }

  /** Stops the synthetic sources and the peer connection, and closes the socket (without `leave`). */
  async close(): Promise<void> {
    for (const source of this.sources.values()) source.stop();
    this.ws.terminate();
    await this.pc?.close();
  }
}

/** Mints a token through the REST API (as `caller`) and joins the room over `/rtc`. */
export async function joinRoom(
  t: TestApp,
  caller: Caller,
  room: string,
  identity: string,
  options: RtcClientOptions & { grants?: Partial<RtcGrants> } = {},
): Promise<RtcClient> {
  const base = await t.listen();
  const res = await caller.post('/api/v1/tokens', { room, identity, ...(options.grants ? { grants: options.grants } : {}) });
  assert.equal(res.statusCode, 201, res.body);
  return RtcClient.connect(base, (res.json() as { token: string }).token, identity, options);
}
