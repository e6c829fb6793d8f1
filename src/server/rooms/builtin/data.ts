/**
 * Data messages and notices over `/rtc`: a participant's data (chat) relayed to the others of its group that
 * hold the data grant, within size and rate limits; and messages from the server itself (data with
 * `from: null`, notices) to some or all participants of a room, whatever their grants.
 */
import { RTC_MAX_DATA_CHARS } from '../../../shared/rtc.js';
import { groupOf, type LiveRoom, type Peer } from './rooms.js';
import { send } from './socket.js';

/** Data messages per peer per second (a chat burst is fine; a flood is refused). */
const DATA_PER_SECOND = 20;

/** A participant's data message to the others of its group (only those named in `to`, when given). */
export function relayData(peer: Peer, payload: string, to: string[] | undefined): void {
  if (!peer.grants.data) return void send(peer, { type: 'error', code: 'forbidden', message: 'This token has no data grant.', ref: 'data' });
  if (payload.length > RTC_MAX_DATA_CHARS) {
    return void send(peer, { type: 'error', code: 'too_large', message: `Data messages are at most ${RTC_MAX_DATA_CHARS} characters.`, ref: 'data' });
  }
  const now = Date.now();
  if (now - peer.dataWindow.start >= 1000) peer.dataWindow = { start: now, count: 0 };
  if (++peer.dataWindow.count > DATA_PER_SECOND) {
    return void send(peer, { type: 'error', code: 'rate_limited', message: `At most ${DATA_PER_SECOND} data messages per second.`, ref: 'data' });
  }
  const group = groupOf(peer);
  for (const other of peer.room.peers.values()) {
    if (other === peer || !other.grants.data || groupOf(other) !== group) continue;
    if (to && !to.includes(other.identity)) continue;
    send(other, { type: 'data', from: peer.identity, payload });
  }
}
