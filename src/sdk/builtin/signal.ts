/**
 * The builtin provider's signal client: the `/rtc` WebSocket of src/shared/rtc.ts. One socket at a time: join()
 * opens it and settles on `joined` (or on the server's refusal); pings keep it honest (a socket that stops answering
 * counts as closed); after the join, messages and the socket's end are handed to the engine, which decides what
 * they mean for the connection.
 */
import type { ClientMessage, RtcEndReason, ServerMessage } from '../../shared/rtc.js';
import { RTC_CLOSE, RTC_PROTOCOL_VERSION } from '../../shared/rtc.js';

export type JoinedMessage = Extract<ServerMessage, { type: 'joined' }>;

const PING_MS = 5000;
const SILENCE_MS = 12_000;
const JOIN_TIMEOUT_MS = 10_000;

/** The server refused the join (or the socket ended before it answered): `reason` says why. */
export class JoinRefused extends Error {
  constructor(
    readonly reason: RtcEndReason,
    message: string,
  ) {
    super(message);
  }
}

export interface SignalHandlers {
  /** A server message other than `joined`. After a `bye` the socket is already let go: nothing else follows. */
  onMessage(message: ServerMessage): void;
  /** The socket closed (or went silent) after the join, without a `bye`. */
  onClose(reason: RtcEndReason, message: string): void;
}

export class SignalClient {
  readonly #url: string;
  readonly #handlers: SignalHandlers;
  #ws: WebSocket | null = null;
  #pingTimer: ReturnType<typeof setInterval> | null = null;
  #lastHeard = 0;
  #joinedResolver: ((message: JoinedMessage) => void) | null = null;

  constructor(url: string, handlers: SignalHandlers) {
    this.#url = url;
    this.#handlers = handlers;
  }

  /** Opens a socket (closing any other) and joins with `token`; `sessionId` asks to resume that session. */
  join(token: string, sessionId: string | null): Promise<JoinedMessage> {
    this.close();
    const ws = new WebSocket(this.#url);
    this.#ws = ws;
    return new Promise((resolve, reject) => {
      let settled = false;
      const timer = setTimeout(() => fail(new Error('The server did not answer in time.')), JOIN_TIMEOUT_MS);
      const fail = (error: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.#joinedResolver = null;
        if (this.#ws === ws) this.close();
        reject(error);
      };
      this.#joinedResolver = (message) => {
        settled = true;
        clearTimeout(timer);
        this.#joinedResolver = null;
        resolve(message);
      };
      ws.onopen = () => {
        this.#lastHeard = Date.now();
        ws.send(JSON.stringify({ type: 'join', token, protocol: RTC_PROTOCOL_VERSION, ...(sessionId ? { sessionId } : {}) } satisfies ClientMessage));
        this.#startPing();
      };
      ws.onmessage = (event) => {
        if (this.#ws !== ws) return;
        this.#lastHeard = Date.now();
        let message: ServerMessage;
        try {
          message = JSON.parse(String(event.data)) as ServerMessage;
        } catch {
          return;
        }
        if (message.type === 'bye' && !settled) return fail(new JoinRefused(message.reason, message.message));
        this.#onMessage(message);
      };
      ws.onclose = (event) => {
        if (this.#ws !== ws) return;
        if (!settled) return fail(new JoinRefused(closeReason(event.code), event.reason || `closed (${event.code})`));
        this.#ws = null;
        this.#handlers.onClose(closeReason(event.code), event.reason);
      };
    });
  }

  /** Sends when the socket is open; otherwise dropped (what matters is sent again after a rejoin). */
  send(message: ClientMessage): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(message));
  }

  close(): void {
    const ws = this.#ws;
    this.#ws = null;
    if (this.#pingTimer) clearInterval(this.#pingTimer);
    this.#pingTimer = null;
    if (ws && ws.readyState <= WebSocket.OPEN) ws.close(1000);
  }

  #onMessage(message: ServerMessage): void {
    if (message.type === 'joined') {
      this.#joinedResolver?.(message);
      return;
    }
    if (message.type === 'bye' && this.#ws) {
      // The server ends this socket itself; its close must not be heard as a second ending.
      this.#ws.onclose = null;
      this.#ws = null;
    }
    this.#handlers.onMessage(message);
  }

  #startPing(): void {
    if (this.#pingTimer) clearInterval(this.#pingTimer);
    this.#pingTimer = setInterval(() => {
      if (Date.now() - this.#lastHeard > SILENCE_MS) {
        // The socket is silently dead (no pong): treat it as lost.
        const ws = this.#ws;
        this.close();
        if (ws) this.#handlers.onClose(closeReason(1006), 'no answer');
        return;
      }
      this.send({ type: 'ping' });
    }, PING_MS);
  }
}

const CODES = new Map<number, RtcEndReason>(Object.entries(RTC_CLOSE).map(([reason, code]) => [code, reason as RtcEndReason]));

/** A close without a bye: 1000 from the server is not "left" by us, so only our own 4xxx codes are final. */
function closeReason(code: number): RtcEndReason {
  if (code === 1000) return 'connection_lost';
  return CODES.get(code) ?? 'connection_lost';
}
