/**
 * The participant channel's browser client (protocol: src/shared/channel.ts): the server's own socket to the
 * participant, beside the media connection, whatever the provider. It carries the server's notices and messages
 * (admission, recording, chat, the survey link, the room's deadline); the Room surfaces them as its `notice`,
 * `dataReceived` and `deadlineChanged` events.
 * It reconnects with backoff until closed or until the server says reconnecting cannot help (removed, room ended).
 */
import { CHANNEL_FINAL_CLOSES, CHANNEL_PROTOCOL_VERSION, type ChannelClientMessage, type ChannelMediaPolicy, type ChannelServerMessage } from '../shared/channel.js';
import { Emitter } from './emitter.js';

export interface ChannelEvents {
  /** A data message from the server (a chat message, the survey link). */
  data: (payload: string) => void;
  notice: (notice: { code: string; message: string }) => void;
  /** A held participant may join the media now (it asks for a token again). */
  join: () => void;
  /** The room's deadline (the server's clock; null: none any more) and its reason. */
  deadline: (endsAt: Date | null, reason: string | null) => void;
  /** How the room shares media out (group visits): when it changes, and after each `ready` in a room that has one. */
  media: (policy: ChannelMediaPolicy) => void;
  /** The channel is up (first time and after each reconnect). */
  ready: () => void;
  /** Closed for good: by `close()` (code 1000) or by the server with a final code (CHANNEL_CLOSE). */
  closed: (code: number, reason: string) => void;
}

export interface ChannelOptions {
  /** Backoff between reconnects: starts here, doubles up to `maxDelayMs`. Default 500 ms. */
  minDelayMs?: number;
  maxDelayMs?: number;
  /** How long one attempt may take to be ready. Default 10 s. */
  timeoutMs?: number;
}

export class RoomChannel extends Emitter<ChannelEvents> {
  readonly #url: string;
  #token: string;
  readonly #options: Required<ChannelOptions>;
  #ws: WebSocket | null = null;
  #ready = false;
  #done = false;
  #delay: number;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #pingTimer: ReturnType<typeof setInterval> | null = null;
  /** Settles the first attempt (see `connect`). */
  #first: ((ok: boolean) => void) | null = null;

  constructor(url: string, token: string, options: ChannelOptions = {}) {
    super();
    this.#url = url;
    this.#token = token;
    this.#options = { minDelayMs: options.minDelayMs ?? 500, maxDelayMs: options.maxDelayMs ?? 10_000, timeoutMs: options.timeoutMs ?? 10_000 };
    this.#delay = this.#options.minDelayMs;
  }

  /** Whether the channel is up now. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Whether it is closed for good. */
  get closed(): boolean {
    return this.#done;
  }

  /**
   * Starts connecting; resolves true once ready, false when the first attempt failed (it keeps trying in the
   * background unless the failure was final). The media join waits for this, so that a notice sent as the
   * participant arrives (e.g. "this visit is recorded") finds the channel up.
   */
  connect(): Promise<boolean> {
    return new Promise((resolve) => {
      this.#first = resolve;
      this.#open();
    });
  }

  /** The token to authenticate with from the next (re)connect on (one issued later lives longer). */
  renew(token: string): void {
    this.#token = token;
  }

  /** Closes for good (the room was left). */
  close(): void {
    this.#finish(1000, 'closed');
  }

  /** Resolves once the server has closed the channel for good (after delivering what it sent before), or after `ms`. */
  settled(ms: number): Promise<void> {
    if (this.#done || !this.#ready) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const off = this.once('closed', () => done());
      function done() {
        clearTimeout(timer);
        off();
        resolve();
      }
    });
  }

  #open(): void {
    if (this.#done) return;
    const ws = new WebSocket(this.#url);
    this.#ws = ws;
    const timeout = setTimeout(() => ws.close(), this.#options.timeoutMs);
    ws.onopen = () => this.#send({ type: 'auth', token: this.#token, protocol: CHANNEL_PROTOCOL_VERSION });
    ws.onmessage = (event) => {
      if (this.#ws !== ws) return;
      let message: ChannelServerMessage;
      try {
        message = JSON.parse(String(event.data)) as ChannelServerMessage;
      } catch {
        return;
      }
      switch (message.type) {
        case 'ready':
          clearTimeout(timeout);
          this.#ready = true;
          this.#delay = this.#options.minDelayMs;
          this.#startPing(message.heartbeatSeconds);
          this.#settleFirst(true);
          this.emit('ready');
          return;
        case 'data':
          this.emit('data', message.payload);
          return;
        case 'notice':
          this.emit('notice', { code: message.code, message: message.message });
          return;
        case 'join':
          this.emit('join');
          return;
        case 'deadline': {
          const endsAt = message.endsAt === null ? null : new Date(message.endsAt);
          if (endsAt && Number.isNaN(endsAt.getTime())) return;
          this.emit('deadline', endsAt, message.reason);
          return;
        }
        case 'media':
          if (isPolicy(message.policy)) this.emit('media', message.policy);
          return;
        case 'reconnect':
          // The server is restarting: come back after the delay it asks for, not sooner.
          this.#delay = Math.max(this.#delay, message.retryAfterMs);
          return;
        case 'pong':
          return;
      }
    };
    ws.onclose = (event) => {
      clearTimeout(timeout);
      if (this.#ws !== ws) return;
      this.#ws = null;
      this.#ready = false;
      this.#stopPing();
      if (CHANNEL_FINAL_CLOSES.has(event.code)) return this.#finish(event.code, event.reason);
      this.#settleFirst(false);
      if (this.#done) return;
      this.#retryTimer = setTimeout(() => this.#open(), this.#delay);
      this.#delay = Math.min(this.#delay * 2, this.#options.maxDelayMs);
    };
  }

  #send(message: ChannelClientMessage): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(message));
  }

  /** Pings well within the server's heartbeat, so proxies that drop idle sockets keep this one. */
  #startPing(heartbeatSeconds: number): void {
    this.#stopPing();
    this.#pingTimer = setInterval(() => this.#send({ type: 'ping' }), Math.max(5, heartbeatSeconds / 2) * 1000);
  }

  #stopPing(): void {
    if (this.#pingTimer) clearInterval(this.#pingTimer);
    this.#pingTimer = null;
  }

  #settleFirst(ok: boolean): void {
    const first = this.#first;
    this.#first = null;
    first?.(ok);
  }

  #finish(code: number, reason: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#ready = false;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#stopPing();
    const ws = this.#ws;
    this.#ws = null;
    if (ws && ws.readyState !== WebSocket.CLOSED) ws.close(1000);
    this.#settleFirst(false);
    this.emit('closed', code, reason);
  }
}

const MODES: ReadonlySet<unknown> = new Set(['collaboration', 'presentation', 'grid']);

/** A policy as the protocol has it (a server of another version may send something else: that is not applied). */
function isPolicy(value: unknown): value is ChannelMediaPolicy {
  if (typeof value !== 'object' || value === null) return false;
  const p = value as Record<string, unknown>;
  return (
    typeof p.simulcast === 'boolean' &&
    MODES.has(p.mode) &&
    (p.spotlight === null || typeof p.spotlight === 'string') &&
    typeof p.lastN === 'number' &&
    Number.isInteger(p.lastN) &&
    p.lastN >= 1
  );
}
