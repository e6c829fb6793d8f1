/**
 * Twilio Video's error codes (TwilioError.code, as twilio-video raises them; twilio.com/docs/api/errors) in the SDK's
 * words: why a connect failed or a room was left, and which part of a connection is being recovered.
 */
import type { DisconnectReason } from '../types.js';

export const TWILIO_CODES = {
  accessTokenExpired: 20104,
  signalingDisconnected: 53001,
  mediaConnectionFailed: 53405,
} as const;

const REASONS: ReadonlyMap<number, DisconnectReason> = new Map<number, DisconnectReason>([
  // The access token: invalid (20101), header (20102), issuer/subject (20103), not yet valid (20105), grants (20106),
  // signature (20107); expired (20104) is its own reason (a fresh token can help).
  [20101, 'invalid_token'],
  [20102, 'invalid_token'],
  [20103, 'invalid_token'],
  [20104, 'token_expired'],
  [20105, 'invalid_token'],
  [20106, 'invalid_token'],
  [20107, 'invalid_token'],
  // Signaling lost, broken or timed out (53000 to 53004) and media failed (53405, 53407 DTLS): the connection.
  [53000, 'connection_lost'],
  [53001, 'connection_lost'],
  [53002, 'connection_lost'],
  [53003, 'protocol_error'],
  [53004, 'protocol_error'],
  [53405, 'connection_lost'],
  [53407, 'connection_lost'],
  // Twilio's servers busy (53006) or at capacity (53305).
  [53006, 'server_error'],
  [53305, 'server_error'],
  [53105, 'room_full'],
  [53106, 'room_not_found'],
  // Room completed: through the REST API (the server ended the visit) or by Twilio's timeouts.
  [53118, 'room_ended'],
  // Another connection of the same identity joined (53205).
  [53205, 'replaced'],
  // The room's MaxParticipantDuration was reached (53216).
  [53216, 'duration_exceeded'],
]);

/**
 * Why the room was left, from the error twilio-video gave with `disconnected`. None, when we did not leave
 * ourselves, means the server disconnected this participant (the REST API's `Status=disconnected`: twilio-video
 * reports it without an error), i.e. removed. An unknown code during a call is a lost connection.
 */
export function disconnectReason(error: { code?: unknown } | null | undefined): DisconnectReason {
  if (!error) return 'removed';
  return (typeof error.code === 'number' ? REASONS.get(error.code) : undefined) ?? 'connection_lost';
}

/** Why a connect failed: the same words, and `join_failed` for what they do not name (media negotiation, …). */
export function joinFailure(error: unknown): DisconnectReason {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  const reason = typeof code === 'number' ? REASONS.get(code) : undefined;
  return reason && reason !== 'connection_lost' ? reason : 'join_failed';
}
