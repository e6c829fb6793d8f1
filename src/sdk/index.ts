/**
 * OpenVisit browser SDK. `connect(url, token)` joins a room and returns a `Room`; the `url` and `token` come
 * from the server's `POST /api/v1/tokens` answer. Served bundled at `/sdk/openvisit.js` (ES module).
 *
 *   import { connect } from '/sdk/openvisit.js';
 *   const room = await connect(url, token);
 *   room.on('trackSubscribed', (track, participant) => document.body.append(track.attach()));
 *   await room.localParticipant.setMicrophoneEnabled(false);
 */
import { Room, type ConnectOptions } from './room.js';

export { ConnectError, LocalParticipant, Room } from './room.js';
export type { ConnectOptions, DisconnectReason, RemoteParticipant, RemoteTrack, RoomEvents, TrackKind, TrackSource } from './room.js';
export { ConnectionMachine, EVENTS, STATES, TRANSITIONS, type ConnectionEvent, type ConnectionState, type Transition } from './state.js';

/** Captures camera and microphone (unless told otherwise), joins the room and publishes. Rejects with ConnectError. */
export async function connect(url: string, token: string, options: ConnectOptions = {}): Promise<Room> {
  const room = new Room(url, token, options);
  await room.connect();
  return room;
}
