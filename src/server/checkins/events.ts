/**
 * What the rooms layer's events mean for check-in calls (rooms owned by kind `checkin`): a party joining or leaving
 * (caller_joined_at / callee_joined_at; both connected makes the call active and sets the room's deadline at
 * started_at + the limit; both gone moves it to min(limit, now + reconnect grace), reason `disconnected`; one back
 * restores the limit), and the room's end completing the call (an observer of the hub's `room.ended`, which fires
 * on the publishing process for every end: the deadline, an early end, the provider's own end, a restart).
 */
import type { OrgEventObserver } from '../realtime/events.js';
import { systemCtx, type Ctx } from '../context.js';
import { and, eq, isNull } from 'drizzle-orm';
import { checkinCalls } from '../db/schema.js';
import { connectedIdentities, roomTimes } from '../rooms/queries.js';
import { setRoomDeadline, type RoomEventListener } from '../rooms/service.js';
import type { CheckinDeps } from './deps.js';
import { announce, CHECKIN_OWNER, completeFromRoom, dropText, transition, type CallRow } from './service.js';

export const limitOf = (call: Pick<CallRow, 'startedAt' | 'durationLimitS'>): Date => new Date(call.startedAt!.getTime() + call.durationLimitS * 1000);

async function callOfRoom(deps: CheckinDeps, orgId: string, callId: string, roomId: string): Promise<CallRow | undefined> {
  const [row] = await deps.db
    .select()
    .from(checkinCalls)
    .where(and(eq(checkinCalls.orgId, orgId), eq(checkinCalls.id, callId), eq(checkinCalls.roomId, roomId)))
    .limit(1);
  return row;
}

/**
 * A party joined. Both connected while ringing: the call becomes active at the later join, and the room's deadline is
 * its limit. Someone back while active after both had gone: the limit stands again.
 */
async function onJoined(deps: CheckinDeps, ctx: Ctx, call: CallRow, roomId: string, at: Date): Promise<void> {
  if (call.status === 'ringing') {
    const connected = await connectedIdentities(deps.rooms, ctx, roomId);
    if (!connected.has(call.callerMemberId) || !connected.has(call.calleeMemberId)) return;
    const active = await transition(deps, ctx, call.id, ['ringing'], { status: 'active', startedAt: at }, 'checkin.active', { roomId });
    if (!active) return;
    await dropText(deps, ctx, active);
    await setRoomDeadline(deps.rooms, ctx, roomId, limitOf(active), 'time_limit');
    await announce(deps, active, 'checkin.active');
    return;
  }
  if (call.status === 'active' && call.startedAt) {
    const times = await roomTimes(deps.rooms, ctx, roomId);
    if (times?.status === 'in-progress' && times.deadlineReason === 'disconnected') await setRoomDeadline(deps.rooms, ctx, roomId, limitOf(call), 'time_limit');
  }
}

/** Departures that are not the parties leaving: the room ended, or a server went away (they come back to the next one). */
const DEPARTURES_IGNORED: ReadonlySet<string> = new Set(['room_ended', 'server_shutdown', 'server_restart']);

export function checkinRoomListener(deps: CheckinDeps): RoomEventListener {
  return async (room, event) => {
    if (room.owner?.kind !== CHECKIN_OWNER) return;
    // A departure because the room ended (its deadline, an early end) or the server went away needs nothing here:
    // the room's end completes the call. Checked before any query: at a deadline every call's two parties leave at
    // once, and this keeps the burst's database work (PGlite: this thread) to the rooms' and calls' own records.
    if (event.type === 'participant.left' && DEPARTURES_IGNORED.has(event.reason)) return;
    const ctx = systemCtx(room.orgId);
    const call = await callOfRoom(deps, room.orgId, room.owner.id, room.id);
    if (!call) return;
    switch (event.type) {
      case 'participant.joined': {
        const column = event.identity === call.callerMemberId ? checkinCalls.callerJoinedAt : event.identity === call.calleeMemberId ? checkinCalls.calleeJoinedAt : null;
        if (!column) return;
        // The first join of each party is kept (a return after a drop continues the same call).
        await deps.db
          .update(checkinCalls)
          .set(event.identity === call.callerMemberId ? { callerJoinedAt: event.at } : { calleeJoinedAt: event.at })
          .where(and(eq(checkinCalls.orgId, room.orgId), eq(checkinCalls.id, call.id), isNull(column)));
        await onJoined(deps, ctx, call, room.id, event.at);
        return;
      }
      case 'participant.left': {
        if (call.status !== 'active' || !call.startedAt) return;
        const connected = await connectedIdentities(deps.rooms, ctx, room.id);
        if (connected.has(call.callerMemberId) || connected.has(call.calleeMemberId)) return;
        // Both gone: the call ends after the reconnect grace, unless the limit comes first.
        const grace = new Date(Date.now() + deps.config.reconnectMs);
        if (grace.getTime() < limitOf(call).getTime()) await setRoomDeadline(deps.rooms, ctx, room.id, grace, 'disconnected');
        return;
      }
      default:
        return;
    }
  };
}

/** The hub's `room.ended` (any end of any room, heard once on the process that ended it): a call's room completes the call. */
export function checkinRoomEndObserver(deps: CheckinDeps, log: { warn(obj: object, msg: string): void }): OrgEventObserver {
  return async (orgId, event) => {
    if (event.type !== 'room.ended') return;
    const roomId = event.data.roomId;
    if (typeof roomId !== 'string') return;
    const name = event.data.name;
    if (typeof name === 'string' && !name.startsWith('checkin-')) return;
    await completeFromRoom(deps, orgId, roomId).catch((err: unknown) => log.warn({ err, roomId }, 'check-in not completed from its room'));
  };
}
