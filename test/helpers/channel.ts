// A node client of the participant channel (`WS /api/v1/channel`, src/shared/channel.ts): what the server tells a
// participant (notices, chat, the survey link), whatever the media provider. Messages are kept in arrival order.
import { WebSocket } from 'ws';
import { CHANNEL_PATH, CHANNEL_PROTOCOL_VERSION, type ChannelClientMessage, type ChannelServerMessage } from '../../src/shared/channel.js';
import { WAIT_MS } from './media.js';

type Of<T extends ChannelServerMessage['type']> = Extract<ChannelServerMessage, { type: T }>;

export class ChannelClient {
  readonly messages: ChannelServerMessage[] = [];
  /** Server data messages (`from` is always null), as the RtcClient keeps its own. */
  readonly data: { from: null; payload: string }[] = [];
  #closed: Promise<number>;
  #waiters = new Set<() => void>();

  private constructor(
    readonly ws: WebSocket,
    readonly identity: string,
  ) {
    this.#closed = new Promise((resolve) => ws.once('close', (code) => resolve(code)));
    ws.on('message', (raw) => {
      const message = JSON.parse(String(raw)) as ChannelServerMessage;
      this.messages.push(message);
      if (message.type === 'data') this.data.push({ from: null, payload: message.payload });
      for (const wake of [...this.#waiters]) wake();
    });
  }

  /** Opens the socket and sends the token; resolves once `ready` (rejects with the close code when refused). */
  static async connect(base: string, channel: { token: string }, identity = ''): Promise<ChannelClient> {
    const client = ChannelClient.open(base, identity);
    await new Promise((resolve, reject) => {
      client.ws.once('open', resolve);
      client.ws.once('error', reject);
    });
    client.send({ type: 'auth', token: channel.token, protocol: CHANNEL_PROTOCOL_VERSION });
    const outcome = await Promise.race([client.next('ready').then(() => 'ready' as const), client.closed()]);
    if (outcome !== 'ready') throw Object.assign(new Error(`channel refused (${outcome})`), { code: outcome });
    return client;
  }

  /** A socket to the channel, nothing sent yet. */
  static open(base: string, identity = ''): ChannelClient {
    return new ChannelClient(new WebSocket(`${base.replace(/^http/, 'ws')}${CHANNEL_PATH}`), identity);
  }

  send(message: ChannelClientMessage | Record<string, unknown>): void {
    this.ws.send(JSON.stringify(message));
  }

  /** The first message of that type (already received or to come) matching `where`. */
  next<T extends ChannelServerMessage['type']>(type: T, where: (m: Of<T>) => boolean = () => true, ms = WAIT_MS): Promise<Of<T>> {
    const find = () => this.messages.find((m): m is Of<T> => m.type === type && where(m as Of<T>));
    return new Promise((resolve, reject) => {
      const found = find();
      if (found) return resolve(found);
      const timer = setTimeout(() => {
        this.#waiters.delete(wake);
        reject(new Error(`${this.identity || 'channel client'}: no ${type} message within ${ms} ms`));
      }, ms);
      const wake = () => {
        const hit = find();
        if (!hit) return;
        clearTimeout(timer);
        this.#waiters.delete(wake);
        resolve(hit);
      };
      this.#waiters.add(wake);
    });
  }

  /** Whether a notice with that code has come. */
  told(code: string): boolean {
    return this.messages.some((m) => m.type === 'notice' && m.code === code);
  }

  /** Resolves with the close code once the socket closes. */
  closed(): Promise<number> {
    return this.#closed;
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    this.ws.close();
    await this.#closed;
  }
}
