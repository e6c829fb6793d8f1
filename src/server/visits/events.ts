/**
 * What the rooms layer's events mean for visits: a participant connecting or leaving (announced on the hub;
 * the host and an admitted patient both in makes the visit `in_progress`), and the room ending (the visit
 * ends with it, e.g. after the empty-room timeout).
 */
import { systemCtx } from '../context.js';
import { AppError } from '../http/errors.js';
import { connectedIdentities } from '../rooms/queries.js';
import type { RoomEventListener } from '../rooms/service.js';
import { notifyRoom } from '../rooms/service.js';
import { participantLeftRoom } from './controls.js';
import { mayBeRecorded } from './placement.js';
import { RECORDING_NOTICES } from './recording.js';
import { closeVisit, maybeBegin, participantRows, VISIT_OWNER, visitRow, type VisitDeps } from './service.js';
import { isLive } from './state.js';

export function visitRoomListener(deps: VisitDeps): RoomEventListener {
  return async (room, event) => {
    // Only the rooms a visit made (the rooms layer carries their owner); API rooms are not visits, whatever their name.
    if (room.owner?.kind !== VISIT_OWNER) return;
    const visitId = room.owner.id;
    const ctx = systemCtx(room.orgId);
    let visit;
    try {
      visit = await visitRow(deps.db, room.orgId, visitId);
    } catch (err) {
      if (err instanceof AppError && err.code === 'not_found') return;
      throw err;
    }
    switch (event.type) {
      case 'participant.joined':
        await deps.hub.publish(room.orgId, 'visit.participant_joined', { visitId, participantId: event.identity });
        if (visit.recordingSince) {
          // Whoever arrives in a recorded visit is told at once; without consent they are asked (and not recorded).
          const who = (await participantRows(deps.db, room.orgId, visitId)).find((p) => p.id === event.identity);
          const notice = who && mayBeRecorded(who) ? RECORDING_NOTICES.started : RECORDING_NOTICES.askConsent;
          await notifyRoom(deps.rooms, ctx, room.name, notice, [event.identity]);
        }
        await maybeBegin(deps, ctx, visitId, await connectedIdentities(deps.rooms, ctx, room.id));
        return;
      case 'participant.left':
        await deps.hub.publish(room.orgId, 'visit.participant_left', { visitId, participantId: event.identity, reason: event.reason });
        // Gone from the visit: their hand comes down and the spotlight leaves them.
        if (isLive(visit.status)) await participantLeftRoom(deps, ctx, visitId, event.identity);
        return;
      case 'room.ended':
        if (isLive(visit.status) && visit.roomId === room.id) await closeVisit(deps, ctx, visitId, 'end', `room_${event.reason}`, false);
        return;
      default:
        return;
    }
  };
}
