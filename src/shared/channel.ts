/**
 * The participant channel's protocol on `WS /api/v1/channel`: the server's own realtime line to a room's
 * participants, whatever the media provider (builtin or a hosted one). It carries what the server says to people
 * in a call: admission notices, chat messages stored by the server, the survey link, the room's deadline, and later
 * breakout notices. JSON text frames, one message each. The server (src/server/rooms/channel.ts) and the browser
 * SDK (src/sdk/channel.ts) both compile against this file.
 *
 *   client → auth{token}            server → ready{room, identity, heartbeatSeconds}   (or a close with a code below)
 *   server → data{from: null, payload} / notice{code, message}                         (as the server sends them)
 *   client → ping                   server → pong
 *   server → reconnect{retryAfterMs}, then close 1012                                  (the server is restarting)
 *   server → join                                  (a held participant may now ask for a media token: admitted)
 *   server → deadline{endsAt, reason}              (the room ends at endsAt, ISO 8601; null: no deadline any more)
 *   server → media{policy}                         (how the room shares media out: simulcast, mode, spotlight, last-N)
 *
 * The token travels in the first message, never in the URL (URLs reach proxies' logs). It is issued with every
 * media token (the token answer's `channel`), for one identity in one room, and lives as long as the media token.
 *
 * A participant the server holds (a waiting patient on a provider that cannot keep a newcomer apart from its first
 * moment in the room, such as Twilio) gets a token answer with `held: true`, no media token, and this channel only.
 * `join` tells it that it may join the media now: it asks for a token again. A client that was disconnected when
 * `join` was sent cannot have heard it, so a held client also asks again whenever its channel is ready after a drop.
 *
 * A room with a deadline (a check-in call's time limit) ends then, by the server's clock. `deadline` is sent to the
 * room when the deadline is set, moved or cleared, and right after `ready` to a client that connects (or reconnects)
 * while one is set, so a client always knows the current one: a countdown is `endsAt` minus the server's time, not a
 * timer of its own. `reason` is the deadline's (`time_limit`; `disconnected` while both parties of a call are away).
 */

export const CHANNEL_PATH = '/api/v1/channel';
export const CHANNEL_PROTOCOL_VERSION = 1;

export type ChannelClientMessage = { type: 'auth'; token: string; protocol?: number } | { type: 'ping' };

export type ChannelServerMessage =
  | { type: 'ready'; room: string; identity: string; heartbeatSeconds: number }
  /** A data message from the server (`from` is always null: participants never write here), e.g. a chat message. */
  | { type: 'data'; from: null; payload: string }
  /** A notice to show (stable `code`, words for people in `message`). */
  | { type: 'notice'; code: string; message: string }
  | { type: 'reconnect'; retryAfterMs: number }
  /**
   * You may join the media now: ask for a token again. Sent to a participant the server held out of the media room
   * (a waiting room on a provider that cannot keep a newcomer apart from its first moment) once it is released.
   */
  | { type: 'join' }
  /**
   * The room ends at `endsAt` (ISO 8601, the server's clock) for `reason`; `endsAt` null: the deadline was cleared.
   * Sent when it is set or changes, and after `ready` while one is set.
   */
  | { type: 'deadline'; endsAt: string | null; reason: string | null }
  /**
   * How the room shares media out (group visits): sent when it changes and after `ready` to a client of a room that
   * has one. The SDK publishes simulcast when `simulcast` is set and shows `spotlight` (an identity) first.
   */
  | { type: 'media'; policy: ChannelMediaPolicy }
  | { type: 'pong' };

export interface ChannelMediaPolicy {
  simulcast: boolean;
  mode: 'collaboration' | 'presentation' | 'grid';
  spotlight: string | null;
  lastN: number;
}

/**
 * Notice codes the server sends in group visits (`notice{code, message}`), which the SDK turns into actions:
 * `muted_by_host` (turn the microphone off: a host muted everyone), `unmute_requested` (a host asks you to turn your
 * microphone on: ask the person, never do it for them), `hand_lowered` (a host lowered your hand).
 */
export const CHANNEL_NOTICES = ['muted_by_host', 'unmute_requested', 'hand_lowered'] as const;

/** Why the server closed the channel. The client reconnects after the 1xxx ones only. */
export const CHANNEL_CLOSE = {
  serverError: 1011,
  serverRestart: 1012,
  /** Removed from the room, or its tokens revoked (denied): nothing more comes for this identity. */
  removed: 4000,
  invalidToken: 4001,
  tokenExpired: 4002,
  roomEnded: 4003,
  roomNotFound: 4004,
  protocolError: 4400,
} as const;

/** Close codes after which reconnecting cannot help. */
export const CHANNEL_FINAL_CLOSES: ReadonlySet<number> = new Set([
  CHANNEL_CLOSE.removed,
  CHANNEL_CLOSE.invalidToken,
  CHANNEL_CLOSE.tokenExpired,
  CHANNEL_CLOSE.roomEnded,
  CHANNEL_CLOSE.roomNotFound,
  CHANNEL_CLOSE.protocolError,
]);

/** The server's only way in: a client frame, checked field by field (unknown fields refused). */
export function parseChannelClientMessage(text: string): { ok: true; message: ChannelClientMessage } | { ok: false; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value) || typeof (value as { type?: unknown }).type !== 'string') {
    return { ok: false, reason: 'a message is an object with a "type"' };
  }
  const m = value as Record<string, unknown>;
  const only = (...keys: string[]) => Object.keys(m).every((k) => k === 'type' || keys.includes(k));
  switch (m.type) {
    case 'auth':
      if (typeof m.token !== 'string' || m.token.length === 0 || m.token.length > 4096) return { ok: false, reason: 'auth needs a token' };
      if (m.protocol !== undefined && m.protocol !== CHANNEL_PROTOCOL_VERSION) return { ok: false, reason: `protocol ${String(m.protocol)} is not supported (${CHANNEL_PROTOCOL_VERSION} is)` };
      if (!only('token', 'protocol')) return { ok: false, reason: 'unknown field' };
      return { ok: true, message: { type: 'auth', token: m.token, ...(m.protocol !== undefined ? { protocol: CHANNEL_PROTOCOL_VERSION } : {}) } };
    case 'ping':
      if (!only()) return { ok: false, reason: 'unknown field' };
      return { ok: true, message: { type: 'ping' } };
    default:
      return { ok: false, reason: `unknown message type "${String(m.type)}"` };
  }
}
