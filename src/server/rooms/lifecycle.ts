import { and, eq, isNull, lt, ne, sql } from 'drizzle-orm';
import { audit } from '../audit/service.js';
import { systemCtx } from '../context.js';
import { roomParticipants, roomRecordings, rooms } from '../db/schema.js';
import { endRoomById, endRoomsAtDeadline, requireCapability, type RoomDeps } from './service.js';

/**
 * Room lifecycle, enforced by the server whatever the provider: the unused-room timeout (nobody ever
 * joined), the empty-room timeout (everyone left), the maximum participant duration, and a deadline a feature set
 * (rooms.ends_at). Every deadline is derived from rows in the database (created_at, joined_at, left_at, ends_at),
 * so there is no timer to lose: after a restart the next sweep finds whatever fell due meanwhile. (A room's own
 * deadline also has a timer on the process that set it, deadlines.ts, for the precise moment; the sweep is its
 * backstop: another process's deadline, a timer lost.) Several processes may sweep at once; ending a room is a
 * guarded update, so each room ends once.
 */
export interface SweepResult {
  /** unused_timeout, empty_timeout, or a deadline's reason (time_limit…). */
  ended: { roomId: string; reason: string }[];
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

  const pastDeadline = await deps.db
    .select({ id: rooms.id, orgId: rooms.orgId, endsAt: rooms.endsAt, reason: rooms.deadlineReason })
    .from(rooms)
    .where(and(eq(rooms.status, 'in-progress'), sql`${rooms.endsAt} <= ${at}::timestamptz`))
    .limit(500);
  // This process's timer for that very deadline ends the room by itself, at the moment (unless somehow long overdue).
  const backstop = pastDeadline.filter((room) => {
    const armed = deps.deadlines.armedAt(room.id);
    return !(armed && armed.getTime() === room.endsAt?.getTime() && now.getTime() - armed.getTime() < TIMER_GRACE_MS);
  });
  const byDeadline = new Set(await endRoomsAtDeadline(deps, backstop.map((room) => room.id), now));
  for (const room of backstop) if (byDeadline.has(room.id)) ended.push({ roomId: room.id, reason: room.reason ?? 'deadline' });

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

/** How long past its deadline the sweep leaves a room to this process's own timer. */
const TIMER_GRACE_MS = 5000;

/** The retention sweep runs this often (files expire in days; a minute late is fine). */
const RETENTION_EVERY_MS = 60_000;

/**
 * Sweeps every `intervalMs` until stopped (and applies the recording retention period once a minute); a failed
 * sweep is logged and the next one tries again.
 */
export function startRoomSweeper(deps: RoomDeps, log: { warn(obj: object, msg: string): void }, intervalMs = 1000): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  let lastRetention = 0;
  const timer = setInterval(() => {
    running = running.then(() => sweepRooms(deps)).catch((err: unknown) => log.warn({ err }, 'room sweep failed'));
    if (deps.defaults.recordingRetentionDays > 0 && Date.now() - lastRetention >= RETENTION_EVERY_MS) {
      lastRetention = Date.now();
      running = running.then(() => deleteExpiredRecordings(deps, deps.defaults.recordingRetentionDays)).catch((err: unknown) => log.warn({ err }, 'recording retention sweep failed'));
    }
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * The retention period: completed (or failed) recordings that ended more than `days` days ago are deleted from the
 * provider's recording store; their rows stay, marked deleted, as the record that they existed. Audited per file.
 * Only recordings of rooms on the provider this server runs (the one whose store holds them) are due here.
 */
export async function deleteExpiredRecordings(deps: RoomDeps, days: number, now = new Date()): Promise<number> {
  if (days <= 0) return 0;
  const cutoff = new Date(now.getTime() - days * 86_400_000);
  const due = await deps.db
    .select({ id: roomRecordings.id, orgId: roomRecordings.orgId, roomId: roomRecordings.roomId, ref: roomRecordings.providerRef, file: roomRecordings.file })
    .from(roomRecordings)
    .innerJoin(rooms, and(eq(rooms.orgId, roomRecordings.orgId), eq(rooms.id, roomRecordings.roomId)))
    .where(and(eq(rooms.provider, deps.media.name), isNull(roomRecordings.deletedAt), ne(roomRecordings.status, 'recording'), lt(roomRecordings.endedAt, cutoff)))
    .limit(500);
  if (due.length === 0) return 0;
  // A provider without recording has no recordings of its own rooms; were there some, the error names what is missing.
  const store = requireCapability(deps.media, 'recording').recordings;
  let deleted = 0;
  for (const r of due) {
    await store.delete({ ref: r.ref, file: r.file });
    const done = await deps.db.transaction(async (tx) => {
      const rows = await tx.update(roomRecordings).set({ deletedAt: now }).where(and(eq(roomRecordings.id, r.id), isNull(roomRecordings.deletedAt))).returning({ id: roomRecordings.id });
      if (rows.length > 0) await audit(tx, systemCtx(r.orgId), 'room.recording_deleted', { type: 'room', id: r.roomId }, { recordingId: r.id, reason: 'retention', days });
      return rows.length > 0;
    });
    if (done) deleted++;
  }
  return deleted;
}
