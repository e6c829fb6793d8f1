/**
 * Writing to a client's `/rtc` socket: signaling messages (src/shared/rtc.ts), and the `bye` that says why
 * before the socket closes with its reason's close code.
 */
import { WebSocket } from 'ws';
import { RTC_CLOSE, type RtcEndReason, type ServerMessage } from '../../../shared/rtc.js';
import type { Peer } from './rooms.js';

/** What the client is told, in words, when its session ends. */
export const END_MESSAGES: Record<RtcEndReason, string> = {
  left: 'You left the room.',
  removed: 'You were removed from the room.',
  room_ended: 'The room has ended.',
  replaced: 'You joined this room from another connection.',
  duration_exceeded: 'You reached the maximum time allowed in this room.',
  invalid_token: 'The access token is not valid.',
  token_expired: 'The access token has expired.',
  room_full: 'The room is full.',
  room_not_found: 'The room does not exist or has ended.',
  connection_lost: 'The connection was lost for too long.',
  protocol_error: 'The client broke the signaling protocol.',
  server_shutdown: 'The server is restarting; reconnect shortly.',
  server_error: 'The server could not continue the session.',
};

/** Maps a rooms-layer reason to what the client is told. */
export function endReasonFor(reason: string): RtcEndReason {
  if (reason in RTC_CLOSE) return reason as RtcEndReason;
  if (reason === 'max_duration') return 'duration_exceeded';
  return 'removed';
}

/** Sends to the peer's current socket; false when it has none or it is not open (the message is dropped). */
export function send(peer: Peer, message: ServerMessage): boolean {
  return peer.socket ? sendTo(peer.socket, message) : false;
}

export function sendTo(ws: WebSocket, message: ServerMessage): boolean {
  if (ws.readyState !== WebSocket.OPEN) return false;
  ws.send(JSON.stringify(message));
  return true;
}

export function closeSocket(ws: WebSocket, reason: RtcEndReason, message: string): void {
  sendTo(ws, { type: 'bye', reason, message });
  if (ws.readyState === WebSocket.OPEN || ws.readyState === WebSocket.CONNECTING) ws.close(RTC_CLOSE[reason], reason);
}
