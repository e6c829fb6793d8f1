import type { DisconnectReason } from './types.js';

/**
 * connect() failed: `reason` says why (invalid_token, room_full, room_not_found, join_failed, …; unknown_provider
 * when the token answer names a media provider this SDK has no adapter for).
 */
export class ConnectError extends Error {
  constructor(
    readonly reason: DisconnectReason | 'unknown_provider',
    message: string,
  ) {
    super(message);
    this.name = 'ConnectError';
  }
}
