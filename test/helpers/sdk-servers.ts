// The server's side of the SDK's sockets, for node tests of the SDK: the participant channel (src/shared/channel.ts)
// and the builtin provider's `/rtc` signaling (src/shared/rtc.ts), each a WebSocket server that records what the SDK
// sends and sends what a test says; and a stand-in for the browser's RTCPeerConnection (the builtin transport's),
// which records the transceivers the SDK adds (with their send encodings) and takes the server's offers.
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { CHANNEL_PATH, type ChannelServerMessage } from '../../src/shared/channel.js';
import { RTC_PATH, type ClientMessage, type RtcParticipantInfo, type RtcRoute, type ServerMessage } from '../../src/shared/rtc.js';
import { FakeTrack } from './sdk-node.js';

abstract class SocketStandIn<Out> {
  readonly wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  readonly sockets = new Set<WebSocket>();
  readonly ready: Promise<void>;
  constructor(private readonly path: string) {
    this.ready = new Promise((resolve) => this.wss.once('listening', () => resolve()));
    this.wss.on('connection', (ws) => {
      this.sockets.add(ws);
      ws.on('close', () => this.sockets.delete(ws));
      ws.on('message', (raw) => this.received(JSON.parse(String(raw)) as { type: string }, ws));
    });
  }
  protected abstract received(message: { type: string }, ws: WebSocket): void;
  get url(): string {
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}${this.path}`;
  }
  send(message: Out, to?: WebSocket): void {
    for (const ws of to ? [to] : this.sockets) ws.send(JSON.stringify(message));
  }
  closeAll(code: number): void {
    for (const ws of this.sockets) ws.close(code);
  }
  close(): Promise<void> {
    for (const ws of this.sockets) ws.terminate();
    return new Promise((resolve) => this.wss.close(() => resolve()));
  }
}

/** The participant channel's server: accepts any token (and notes it), answers pings, sends what a test says. */
export class ChannelStandIn extends SocketStandIn<ChannelServerMessage> {
  readonly auths: string[] = [];
  constructor() {
    super(CHANNEL_PATH);
  }
  protected received(message: { type: string; token?: string }, ws: WebSocket): void {
    if (message.type === 'auth') {
      this.auths.push(message.token!);
      this.send({ type: 'ready', room: 'visit-1', identity: 'patient', heartbeatSeconds: 30 }, ws);
    } else if (message.type === 'ping') this.send({ type: 'pong' }, ws);
  }
}

/**
 * The builtin provider's `/rtc` server: a join is answered `joined` as `identity` with `participants` there, an offer
 * with an answer; every client message is kept in `messages` (with the time it came).
 */
export class RtcStandIn extends SocketStandIn<ServerMessage> {
  readonly messages: { at: number; message: ClientMessage }[] = [];
  participants: RtcParticipantInfo[] = [];
  identity = 'patient';
  constructor() {
    super(RTC_PATH);
  }
  protected received(message: { type: string }, ws: WebSocket): void {
    const m = message as ClientMessage;
    this.messages.push({ at: Date.now(), message: m });
    if (m.type === 'join') {
      this.send(
        {
          type: 'joined',
          sessionId: 'session-1',
          resumed: false,
          identity: this.identity,
          room: { id: 'RM1', name: 'visit-1' },
          grants: { publish: true, subscribe: true, data: true, admin: false },
          participants: this.participants,
          iceServers: [],
          reconnectGraceMs: 15_000,
          routes: [],
        },
        ws,
      );
    } else if (m.type === 'offer') this.send({ type: 'answer', sdp: 'v=0 answer' }, ws);
    else if (m.type === 'ping') this.send({ type: 'pong' }, ws);
  }
  /** The client messages of one type, in order. */
  of<T extends ClientMessage['type']>(type: T): Extract<ClientMessage, { type: T }>[] {
    return this.messages.filter((m) => m.message.type === type).map((m) => m.message as Extract<ClientMessage, { type: T }>);
  }
  /** Offers the client receiving m-lines carrying `routes` (the stand-in peer connection reads them from the SDP). */
  offer(routes: RtcRoute[]): void {
    this.send({ type: 'offer', sdp: `fake-offer:${JSON.stringify(routes.map((r) => ({ mid: r.mid, kind: r.kind })))}`, routes });
  }
}

/** An RTCRtpEncodingParameters (the tests are type-checked without the DOM library). */
export type Encoding = { rid?: string; scaleResolutionDownBy?: number; maxBitrate?: number };

export interface FakeTransceiver {
  mid: string | null;
  direction: string;
  sendEncodings: Encoding[] | undefined;
  sender: { track: unknown; replaceTrack(track: unknown): Promise<void> };
  receiver: { track: FakeTrack | null };
}

/** The browser's RTCPeerConnection as the builtin transport uses it; `FakePeerConnection.last` is the newest. */
export class FakePeerConnection {
  static instances: FakePeerConnection[] = [];
  static get last(): FakePeerConnection {
    const pc = FakePeerConnection.instances.at(-1);
    if (!pc) throw new Error('no peer connection made');
    return pc;
  }
  readonly transceivers: FakeTransceiver[] = [];
  signalingState = 'stable';
  connectionState = 'new';
  localDescription: { type: string; sdp: string } | null = null;
  remoteDescription: { type: string; sdp: string } | null = null;
  onicecandidate: unknown = null;
  ontrack: (() => void) | null = null;
  onconnectionstatechange: unknown = null;
  closed = false;
  constructor(readonly config: unknown) {
    FakePeerConnection.instances.push(this);
  }
  addTransceiver(track: unknown, init: { direction: string; sendEncodings?: Encoding[] }): FakeTransceiver {
    const transceiver: FakeTransceiver = {
      mid: String(this.transceivers.length),
      direction: init.direction,
      sendEncodings: init.sendEncodings,
      sender: {
        track,
        async replaceTrack(next: unknown) {
          this.track = next;
        },
      },
      receiver: { track: null },
    };
    this.transceivers.push(transceiver);
    return transceiver;
  }
  getTransceivers(): FakeTransceiver[] {
    return this.transceivers;
  }
  async createOffer(): Promise<{ type: string; sdp: string }> {
    return { type: 'offer', sdp: 'v=0 offer' };
  }
  async createAnswer(): Promise<{ type: string; sdp: string }> {
    return { type: 'answer', sdp: 'v=0 answer' };
  }
  async setLocalDescription(description: { type: string; sdp?: string }): Promise<void> {
    if (description.type === 'rollback') {
      this.signalingState = 'stable';
      return;
    }
    this.localDescription = { type: description.type, sdp: description.sdp ?? '' };
    this.signalingState = description.type === 'offer' ? 'have-local-offer' : 'stable';
  }
  async setRemoteDescription(description: { type: string; sdp: string }): Promise<void> {
    this.remoteDescription = description;
    this.signalingState = description.type === 'offer' ? 'have-remote-offer' : 'stable';
    if (description.type === 'offer' && description.sdp.startsWith('fake-offer:')) {
      for (const { mid, kind } of JSON.parse(description.sdp.slice('fake-offer:'.length)) as { mid: string; kind: 'audio' | 'video' }[]) {
        if (this.transceivers.some((t) => t.mid === mid)) continue;
        this.transceivers.push({ mid, direction: 'recvonly', sendEncodings: undefined, sender: { track: null, async replaceTrack() {} }, receiver: { track: new FakeTrack(kind) } });
      }
      this.ontrack?.();
    }
  }
  async addIceCandidate(): Promise<void> {}
  removeTrack(): void {}
  async getStats(): Promise<Map<string, unknown>> {
    return new Map();
  }
  close(): void {
    this.closed = true;
  }
}

export function installPeerConnection(): void {
  FakePeerConnection.instances.length = 0;
  (globalThis as Record<string, unknown>).RTCPeerConnection = FakePeerConnection;
}
