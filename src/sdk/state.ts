/**
 * The connection's state machine, as data. An adapter's engine (builtin/engine.ts) feeds it events and acts on the
 * transitions it allows; anything the table does not list is ignored (a late socket close after leaving, say), so the
 * state can only move the ways written here. test/sdk-state.test.ts checks every (state, event) pair.
 *
 *   idle ──connect──▶ connecting ──joined──▶ connected ◀──joined── reconnecting
 *                        │                      │  ▲                   │  ▲
 *                        │ failed/ended/leave   │  └──────────────────┘  │ signalLost / mediaFailed (retry)
 *                        ▼                      └─signalLost/mediaFailed─┘
 *                   disconnected ◀── ended / leave / retriesExhausted ── (connected, reconnecting)
 */

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

export type ConnectionEvent =
  /** connect() was called. */
  | 'connect'
  /** The server answered `joined` (first join, resume or rejoin). */
  | 'joined'
  /** The signaling socket closed or stopped answering, without the server ending the session. */
  | 'signalLost'
  /** The peer connection failed (ICE / DTLS). */
  | 'mediaFailed'
  /** The first join was refused or could not be made. */
  | 'failed'
  /** The server ended the session (removed, room ended, replaced, token refused, …). */
  | 'ended'
  /** The reconnection budget ran out. */
  | 'retriesExhausted'
  /** The application called disconnect(). */
  | 'leave';

export const STATES: readonly ConnectionState[] = ['idle', 'connecting', 'connected', 'reconnecting', 'disconnected'];
export const EVENTS: readonly ConnectionEvent[] = ['connect', 'joined', 'signalLost', 'mediaFailed', 'failed', 'ended', 'retriesExhausted', 'leave'];

/** Every allowed transition; absent pairs are ignored. */
export const TRANSITIONS: Readonly<Record<ConnectionState, Partial<Record<ConnectionEvent, ConnectionState>>>> = {
  idle: { connect: 'connecting', leave: 'disconnected' },
  connecting: { joined: 'connected', failed: 'disconnected', ended: 'disconnected', leave: 'disconnected', signalLost: 'disconnected' },
  connected: { signalLost: 'reconnecting', mediaFailed: 'reconnecting', ended: 'disconnected', leave: 'disconnected' },
  reconnecting: {
    joined: 'connected',
    signalLost: 'reconnecting',
    mediaFailed: 'reconnecting',
    ended: 'disconnected',
    retriesExhausted: 'disconnected',
    leave: 'disconnected',
  },
  disconnected: {},
};

export interface Transition {
  from: ConnectionState;
  to: ConnectionState;
  event: ConnectionEvent;
  /** false when the table does not list the pair: nothing changed. */
  valid: boolean;
}

export class ConnectionMachine {
  #state: ConnectionState = 'idle';
  readonly #listeners = new Set<(t: Transition) => void>();

  get state(): ConnectionState {
    return this.#state;
  }

  /** Applies an event; listeners hear valid transitions only. */
  send(event: ConnectionEvent): Transition {
    const from = this.#state;
    const to = TRANSITIONS[from][event];
    if (to === undefined) return { from, to: from, event, valid: false };
    this.#state = to;
    const transition = { from, to, event, valid: true };
    for (const listener of this.#listeners) listener(transition);
    return transition;
  }

  onTransition(listener: (t: Transition) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
