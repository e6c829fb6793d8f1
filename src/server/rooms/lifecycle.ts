import { and, eq, isNull, sql } from 'drizzle-orm';
import { systemCtx } from '../context.js';
import { roomParticipants, rooms } from '../db/schema.js';
import { endRoomById, type RoomDeps } from './service.js';

/**
 * Room lifecycle, enforced by the server whatever the provider: the unused-room timeout (nobody ever
 * joined), the empty-room timeout (everyone left) and the maximum participant duration. Every deadline
 * is derived from rows in the database (created_at, joined_at, left_at), so there is no timer to lose:
 * after a restart the next sweep finds whatever fell due meanwhile. Several processes may sweep at once;
 * ending a room is a guarded update, so each room ends once.
 */
export interface SweepResult {
  ended: { roomId: string; reason: 'unused_timeout' | 'empty_timeout' }[];
  removed: { roomId: string; identity: string }[];
}

export async function sweepRooms(deps: RoomDeps, now = new Date()): Promise<SweepResult> {
  const at = now.toISOString();
  const due = await deps.db
    .select({ id: rooms.id, orgId: rooms.orgId, reason: sql<'unused_timeout' | 'empty_timeout'>`case when p.joined is null then 'unused_timeout' else 'empty_timeout' end` })
    .from(rooms)
    .leftJoin(
      sql`lateral (select min(${roomParticipants.joinedAt}) as joined, max(${roomParticipants.leftAt}) as last_left, count(*) filter (where ${roomParticipants.leftAt} is null) as open
                   from ${roomParticipants} where ${roomParticipants.orgId} = ${rooms.orgId} and ${roomParticipants.roomId} = ${rooms.id}) p`,
      sql`true`,
    )
    .where(
      and(
        eq(rooms.status, 'in-progress'),
        sql`(
          (p.joined is null and ${rooms.createdAt} + make_interval(secs => ${rooms.unusedRoomTimeoutS}) <= ${at}::timestamptz)
          or (p.joined is not null and p.open = 0 and p.last_left + make_interval(secs => ${rooms.emptyRoomTimeoutS}) <= ${at}::timestamptz)
        )`,
      ),
    )
    .limit(500);
  const ended: SweepResult['ended'] = [];
  for (const room of due) {
    if (await endRoomById(deps, systemCtx(room.orgId), room.id, room.reason)) ended.push({ roomId: room.id, reason: room.reason });
  }

  const overstayed = await deps.db
    .select({ roomId: rooms.id, providerRoomId: rooms.providerRoomId, identity: roomParticipants.identity })
    .from(roomParticipants)
    .innerJoin(rooms, and(eq(rooms.orgId, roomParticipants.orgId), eq(rooms.id, roomParticipants.roomId)))
    .where(
      and(
        eq(rooms.status, 'in-progress'),
        isNull(roomParticipants.leftAt),
        sql`${roomParticipants.joinedAt} + make_interval(secs => ${rooms.maxParticipantDurationS}) <= ${at}::timestamptz`,
      ),
    )
    .limit(500);
  const removed: SweepResult['removed'] = [];
  for (const p of overstayed) {
    if (p.providerRoomId && (await deps.media.removeParticipant(p.providerRoomId, p.identity, 'max_duration'))) removed.push({ roomId: p.roomId, identity: p.identity });
  }
  return { ended, removed };
}

/** Sweeps every `intervalMs` until stopped; a failed sweep is logged and the next one tries again. */
export function startRoomSweeper(deps: RoomDeps, log: { warn(obj: object, msg: string): void }, intervalMs = 1000): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    running = running.then(() => sweepRooms(deps)).catch((err: unknown) => log.warn({ err }, 'room sweep failed'));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
