/**
 * OpenVisit browser SDK. `connect(tokenResponse)` joins a room and returns a `Room`; the token answer is the server's
 * (`POST /api/v1/tokens`, a visit's token) passed as it is: its `provider` picks the adapter, so the application
 * never names one. Served bundled at `/sdk/openvisit.js` (ES module).
 *
 *   import { connect } from '/sdk/openvisit.js';
 *   const room = await connect(await fetchToken());
 *   room.on('trackSubscribed', (track, participant) => document.body.append(track.attach()));
 *   await room.localParticipant.setMicrophoneEnabled(false);
 *
 * Layers (as LiveKit's client): Room (room.ts, neutral) → an adapter per provider (builtin/: room.ts → engine.ts →
 * signal.ts and transport.ts; twilio/: room.ts over twilio-video, loaded on connect). Only the neutral layer is
 * exported.
 */
import { Room } from './room.js';
import type { ConnectOptions, TokenResponse } from './types.js';

export { ConnectError } from './errors.js';
export { LocalParticipant } from './participants.js';
export { Room } from './room.js';
export type {
  ConnectOptions,
  ConnectionState,
  DisconnectReason,
  Grants,
  MediaMode,
  MediaPolicy,
  MediaState,
  PublishedTrack,
  RemoteParticipant,
  RemoteTrack,
  RoomEvents,
  StreamState,
  TokenMedia,
  TokenResponse,
  TrackKind,
  TrackSource,
  TwilioOptions,
  VideoLayer,
} from './types.js';
export { ConnectionMachine, EVENTS, STATES, TRANSITIONS, type ConnectionEvent, type Transition } from './state.js';

/**
 * Captures camera and microphone (unless told otherwise), joins the room the token answer names and publishes.
 * Rejects with ConnectError (`unknown_provider` when no adapter serves `tokenResponse.provider`). To hear events
 * from the join itself, use `new Room(options)`, add listeners, then `room.connect(tokenResponse)`.
 */
export async function connect(tokenResponse: TokenResponse, options: ConnectOptions = {}): Promise<Room> {
  const room = new Room(options);
  await room.connect(tokenResponse);
  return room;
}
