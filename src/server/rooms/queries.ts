/**
 * What features read from the rooms layer: who is connected, the rooms a feature owns over time, their stays and
 * usage. Features call these rather than reading the rooms tables (or matching room names) themselves.
 */
import { and, asc, eq, inArray, isNotNull, isNull, ne, sql, type SQL } from 'drizzle-orm';
import type { Ctx } from '../context.js';
import { roomParticipants, roomRecordings, rooms, type MediaPolicyRow } from '../db/schema.js';
import type { RoomDeps, RoomOwner } from './service.js';

/** Identities connected to the room now (its open participation rows). */
export async function connectedIdentities(deps: Pick<RoomDeps, 'db'>, ctx: Pick<Ctx, 'orgId'>, roomId: string | null): Promise<Set<string>> {
  if (!roomId) return new Set();
  const rows = await deps.db
    .select({ identity: roomParticipants.identity })
    .from(roomParticipants)
    .where(and(eq(roomParticipants.orgId, ctx.orgId), eq(roomParticipants.roomId, roomId), isNull(roomParticipants.leftAt)));
  return new Set(rows.map((r) => r.identity));
}

/** The ids of every room the owner has had, oldest first (a room closed by a timeout may be made again). */
export async function roomIdsOwnedBy(deps: Pick<RoomDeps, 'db'>, ctx: Pick<Ctx, 'orgId'>, owner: RoomOwner): Promise<string[]> {
  const rows = await deps.db
    .select({ id: rooms.id })
    .from(rooms)
    .where(and(eq(rooms.orgId, ctx.orgId), eq(rooms.ownerKind, owner.kind), eq(rooms.ownerId, owner.id)))
    .orderBy(asc(rooms.createdAt), asc(rooms.id));
  return rows.map((r) => r.id);
}

/** One participant's stay in a room: from joining to leaving (open while `leftAt` is null). */
export interface RoomStay {
  identity: string;
  joinedAt: Date;
  leftAt: Date | null;
  durationS: number | null;
  leaveReason: string | null;
  qualityAvg: number | null;
  qualityMin: number | null;
  mediaStartedAt: Date | null;
  mediaS: number | null;
}

/** Every stay in these rooms, in order of joining. */
export async function staysInRooms(deps: Pick<RoomDeps, 'db'>, ctx: Pick<Ctx, 'orgId'>, roomIds: readonly string[]): Promise<RoomStay[]> {
  if (roomIds.length === 0) return [];
  return deps.db
    .select({
      identity: roomParticipants.identity,
      joinedAt: roomParticipants.joinedAt,
      leftAt: roomParticipants.leftAt,
      durationS: roomParticipants.durationS,
      leaveReason: roomParticipants.leaveReason,
      qualityAvg: roomParticipants.qualityAvg,
      qualityMin: roomParticipants.qualityMin,
      mediaStartedAt: roomParticipants.mediaStartedAt,
      mediaS: roomParticipants.mediaS,
    })
    .from(roomParticipants)
    .where(and(eq(roomParticipants.orgId, ctx.orgId), inArray(roomParticipants.roomId, [...roomIds])))
    .orderBy(asc(roomParticipants.joinedAt), asc(roomParticipants.id));
}

/** Whether the recording belongs to one of these rooms (a feature checks a download is its own). */
export async function recordingInRooms(deps: Pick<RoomDeps, 'db'>, ctx: Pick<Ctx, 'orgId'>, recordingId: string, roomIds: readonly string[]): Promise<boolean> {
  if (roomIds.length === 0) return false;
  const [owned] = await deps.db
    .select({ id: roomRecordings.id })
    .from(roomRecordings)
    .where(and(eq(roomRecordings.orgId, ctx.orgId), eq(roomRecordings.id, recordingId), inArray(roomRecordings.roomId, [...roomIds])))
    .limit(1);
  return owned !== undefined;
}

/** Billed minutes in a period, for one owner (null: the rooms nobody owns, made through the API). */
export interface OwnerUsage {
  owner: RoomOwner | null;
  /** Whole minutes per stay, rounded up, at least one. */
  participantMinutes: number;
  /** Recorded participant-minutes: whole minutes per stretch a participant was recorded, rounded up, at least one (see recordingUsage). */
  recordedMinutes: number;
  /** Whole minutes per finished composition, rounded up, at least one. */
  compositionMinutes: number;
  rooms: number;
}

/** Recorded and composed minutes (see recordingUsage), in all. */
export interface RecordingUsage {
  recordedMinutes: number;
  compositionMinutes: number;
}

/**
 * Usage of the organisation's rooms in [start, end) (timestamptz text): every stay that began in it and every
 * finished recording that began in it, per owner.
 */
export async function usageByOwner(deps: Pick<RoomDeps, 'db'>, ctx: Pick<Ctx, 'orgId'>, start: string, end: string): Promise<OwnerUsage[]> {
  const { db } = deps;
  const seconds = sql<number>`greatest(1, coalesce(${roomParticipants.durationS}, extract(epoch from (coalesce(${roomParticipants.leftAt}, now()) - ${roomParticipants.joinedAt}))::int))`;
  const stayRows = await db
    .select({ kind: rooms.ownerKind, id: rooms.ownerId, minutes: sql<string>`sum(ceil(${seconds} / 60.0))`, roomCount: sql<string>`count(distinct ${rooms.id})` })
    .from(roomParticipants)
    .innerJoin(rooms, and(eq(rooms.orgId, roomParticipants.orgId), eq(rooms.id, roomParticipants.roomId)))
    .where(and(eq(roomParticipants.orgId, ctx.orgId), sql`${roomParticipants.joinedAt} >= ${start}::timestamptz`, sql`${roomParticipants.joinedAt} < ${end}::timestamptz`))
    .groupBy(rooms.ownerKind, rooms.ownerId);
  const recRows = await recordingUsage(db, ctx, and(sql`${roomRecordings.startedAt} >= ${start}::timestamptz`, sql`${roomRecordings.startedAt} < ${end}::timestamptz`)!);
  const byOwner = new Map<string, OwnerUsage>();
  const entry = (kind: string | null, id: string | null): OwnerUsage => {
    const key = kind !== null && id !== null ? `${kind}\u0000${id}` : '';
    let found = byOwner.get(key);
    if (!found) byOwner.set(key, (found = { owner: key ? { kind: kind!, id: id! } : null, participantMinutes: 0, recordedMinutes: 0, compositionMinutes: 0, rooms: 0 }));
    return found;
  };
  for (const r of stayRows) {
    const e = entry(r.kind, r.id);
    e.participantMinutes += Number(r.minutes);
    e.rooms += Number(r.roomCount);
  }
  for (const r of recRows) {
    const e = entry(r.kind, r.id);
    e.recordedMinutes += r.recordedMinutes;
    e.compositionMinutes += r.compositionMinutes;
  }
  return [...byOwner.values()];
}

/** Recorded and composed minutes of these rooms' finished recordings, whenever they were made (a visit's summary). */
export async function recordingUsageInRooms(deps: Pick<RoomDeps, 'db'>, ctx: Pick<Ctx, 'orgId'>, roomIds: readonly string[]): Promise<RecordingUsage> {
  const total: RecordingUsage = { recordedMinutes: 0, compositionMinutes: 0 };
  if (roomIds.length === 0) return total;
  for (const r of await recordingUsage(deps.db, ctx, inArray(roomRecordings.roomId, [...roomIds]))) {
    total.recordedMinutes += r.recordedMinutes;
    total.compositionMinutes += r.compositionMinutes;
  }
  return total;
}

/**
 * Billed recording minutes of the organisation's finished recordings matching `where`, per room owner, in SQL (the
 * usage report and a visit's summary count them the same way):
 * - Recorded minutes are recorded participant-minutes. Twilio prices Group-room recording per participant-minute
 *   recorded, not per track file (its Video pricing page; seed 000: "Recording: $0.004/min recorded"), though it
 *   writes a file per track: a participant whose camera and microphone were recorded for 10 minutes is 10 recorded
 *   minutes, not 20, and a screen share recorded meanwhile adds none. So the files of one identity in one room
 *   (every kind but 'composition') are merged into the stretches they cover (range_agg joins overlapping and
 *   touching ranges: the builtin provider's back-to-back segments are one stretch), and each stretch is rounded up
 *   to whole minutes, at least one, as a stay is.
 * - Composition minutes are each composition's length (Twilio bills per composed minute), rounded up likewise.
 * A recording still being made is not counted yet.
 */
async function recordingUsage(db: RoomDeps['db'], ctx: Pick<Ctx, 'orgId'>, where: SQL): Promise<{ kind: string | null; id: string | null; recordedMinutes: number; compositionMinutes: number }[]> {
  const finished = and(eq(roomRecordings.orgId, ctx.orgId), isNotNull(roomRecordings.endedAt), where);
  const joinRoom = and(eq(rooms.orgId, roomRecordings.orgId), eq(rooms.id, roomRecordings.roomId));
  // A file whose end was stamped before its start (clocks) counts as a moment, never as an error.
  const range = sql`tstzrange(${roomRecordings.startedAt}, greatest(${roomRecordings.startedAt}, ${roomRecordings.endedAt}), '[]')`;
  const stretches = db
    .select({
      kind: sql<string | null>`${rooms.ownerKind}`.as('owner_kind'),
      id: sql<string | null>`${rooms.ownerId}`.as('owner_id'),
      stretch: sql<string>`unnest(range_agg(${range}))`.as('stretch'),
    })
    .from(roomRecordings)
    .innerJoin(rooms, joinRoom)
    .where(and(finished, ne(roomRecordings.content, 'composition')))
    .groupBy(rooms.ownerKind, rooms.ownerId, roomRecordings.roomId, roomRecordings.identity)
    .as('stretches');
  // Whole seconds, then whole minutes, as stays are counted.
  const minutesOf = (seconds: SQL) => sql`ceil(greatest(1, round(${seconds})) / 60.0)`;
  const [recorded, composed] = await Promise.all([
    db
      .select({ kind: stretches.kind, id: stretches.id, minutes: sql<string>`sum(${minutesOf(sql`extract(epoch from upper(${stretches.stretch}) - lower(${stretches.stretch}))`)})` })
      .from(stretches)
      .groupBy(stretches.kind, stretches.id),
    db
      .select({ kind: rooms.ownerKind, id: rooms.ownerId, minutes: sql<string>`sum(${minutesOf(sql`extract(epoch from (${roomRecordings.endedAt} - ${roomRecordings.startedAt}))`)})` })
      .from(roomRecordings)
      .innerJoin(rooms, joinRoom)
      .where(and(finished, eq(roomRecordings.content, 'composition')))
      .groupBy(rooms.ownerKind, rooms.ownerId),
  ]);
  const byOwner = new Map<string, { kind: string | null; id: string | null; recordedMinutes: number; compositionMinutes: number }>();
  const entry = (kind: string | null, id: string | null) => {
    const key = `${kind ?? ''}\u0000${id ?? ''}`;
    let found = byOwner.get(key);
    if (!found) byOwner.set(key, (found = { kind, id, recordedMinutes: 0, compositionMinutes: 0 }));
    return found;
  };
  for (const r of recorded) entry(r.kind, r.id).recordedMinutes += Number(r.minutes);
  for (const r of composed) entry(r.kind, r.id).compositionMinutes += Number(r.minutes);
  return [...byOwner.values()];
}

/** A room's state, end and deadline as stored (a feature completes its own record from the room's end). */
export interface RoomTimes {
  status: 'in-progress' | 'completed';
  createdAt: Date;
  endedAt: Date | null;
  endReason: string | null;
  endsAt: Date | null;
  deadlineReason: string | null;
}

export async function roomTimes(deps: Pick<RoomDeps, 'db'>, ctx: Pick<Ctx, 'orgId'>, roomId: string): Promise<RoomTimes | null> {
  const [row] = await deps.db
    .select({ status: rooms.status, createdAt: rooms.createdAt, endedAt: rooms.endedAt, endReason: rooms.endReason, endsAt: rooms.endsAt, deadlineReason: rooms.deadlineReason })
    .from(rooms)
    .where(and(eq(rooms.orgId, ctx.orgId), eq(rooms.id, roomId)))
    .limit(1);
  return row ?? null;
}

/** The room's media policy as stored (null: none, a 1:1 room; or no such room of the organisation). */
export async function roomMediaPolicy(deps: Pick<RoomDeps, 'db'>, ctx: Pick<Ctx, 'orgId'>, roomId: string): Promise<MediaPolicyRow | null> {
  const [row] = await deps.db.select({ policy: rooms.mediaPolicy }).from(rooms).where(and(eq(rooms.orgId, ctx.orgId), eq(rooms.id, roomId))).limit(1);
  return row?.policy ?? null;
}
