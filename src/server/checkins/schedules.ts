/**
 * Scheduled check-ins: `once` at an instant, or `daily` / `weekly` (ISO weekdays) at HH:MM in a time zone. The next
 * occurrence is computed here (pure, luxon): "every day at 10:00" stays 10:00 local across daylight-saving changes;
 * a wall time that does not exist (spring forward) moves to the first valid time after the gap; an ambiguous one
 * (fall back) takes the first, earlier instant. The sweep (sweeper.ts) makes the calls as they fall due.
 */
import { and, asc, eq, isNull } from 'drizzle-orm';
import { DateTime, IANAZone } from 'luxon';
import type { CheckinSchedule, CreateCheckinScheduleBody } from '../../shared/api/checkins.js';
import { audit } from '../audit/service.js';
import type { Ctx } from '../context.js';
import { careMembers, checkinSchedules, patients } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import type { CheckinDeps } from './deps.js';

export type ScheduleRow = typeof checkinSchedules.$inferSelect;

export interface Recurrence {
  frequency: 'once' | 'daily' | 'weekly';
  /** `once`: the instant. */
  at?: Date | null;
  /** `HH:MM` (recurring). */
  time?: string | null;
  /** ISO weekdays for `weekly` (1 = Monday). */
  weekdays?: readonly number[] | null;
  timeZone: string;
}

const MINUTE = 60_000;

/** The zone's offset (minutes) at an instant. */
const offsetAt = (ms: number, zone: string) => DateTime.fromMillis(ms, { zone }).offset;

/**
 * The instant of a wall time on a local date in a zone: the earlier instant of an ambiguous time, the first valid
 * time after the gap for one that does not exist.
 */
export function wallTimeInstant(year: number, month: number, day: number, hour: number, minute: number, zone: string): Date {
  const wallUtc = Date.UTC(year, month - 1, day, hour, minute);
  // The offsets around that day: a transition lies between them if they differ.
  const before = offsetAt(wallUtc - 26 * 3600_000, zone);
  const after = offsetAt(wallUtc + 26 * 3600_000, zone);
  const candidates = [...new Set([before, after, offsetAt(wallUtc, zone)])]
    .map((offset) => wallUtc - offset * MINUTE)
    .filter((ms) => {
      const d = DateTime.fromMillis(ms, { zone });
      return d.year === year && d.month === month && d.day === day && d.hour === hour && d.minute === minute;
    })
    .sort((a, b) => a - b);
  if (candidates.length > 0) return new Date(candidates[0]!);
  // In the gap: the first valid time is the transition itself (the first instant at the later offset).
  let lo = wallUtc - before * MINUTE - 26 * 3600_000;
  let hi = wallUtc - after * MINUTE + 26 * 3600_000;
  // Invariant: offset(lo) == before, offset(hi) != before; search to the minute.
  while (hi - lo > MINUTE) {
    const mid = lo + Math.floor((hi - lo) / 2 / MINUTE) * MINUTE;
    if (offsetAt(mid, zone) === before) lo = mid;
    else hi = mid;
  }
  return new Date(hi);
}

/** The first occurrence strictly after `after` (null: a one-off already past, or a recurrence with no day). */
export function nextOccurrence(r: Recurrence, after: Date): Date | null {
  if (r.frequency === 'once') return r.at && r.at.getTime() > after.getTime() ? r.at : null;
  const [h, m] = (r.time ?? '').split(':').map(Number);
  if (h === undefined || m === undefined || Number.isNaN(h) || Number.isNaN(m)) return null;
  const days = r.frequency === 'weekly' ? new Set(r.weekdays ?? []) : null;
  if (days && days.size === 0) return null;
  // From the local day before `after` (an early-morning time in a zone ahead of UTC), eight days cover every weekday.
  let date = DateTime.fromMillis(after.getTime(), { zone: r.timeZone }).startOf('day').minus({ days: 1 });
  for (let i = 0; i < 10; i++, date = date.plus({ days: 1 })) {
    if (days && !days.has(date.weekday)) continue;
    const at = wallTimeInstant(date.year, date.month, date.day, h, m, r.timeZone);
    if (at.getTime() > after.getTime()) return at;
  }
  return null;
}

export const recurrenceOf = (row: ScheduleRow): Recurrence => ({
  frequency: row.frequency,
  at: row.frequency === 'once' ? row.nextAt : null,
  time: row.timeOfDay,
  weekdays: row.weekdays,
  timeZone: row.timeZone,
});

// ---- the API ------------------------------------------------------------------------------------------------

export function toScheduleDto(row: ScheduleRow): CheckinSchedule {
  return {
    id: row.id,
    recipientId: row.recipientId,
    callerMemberId: row.callerMemberId,
    calleeMemberId: row.calleeMemberId,
    durationSeconds: row.durationS,
    frequency: row.frequency,
    time: row.timeOfDay,
    weekdays: row.weekdays,
    timeZone: row.timeZone,
    nextAt: row.nextAt?.toISOString() ?? null,
    cancelled: row.cancelledAt !== null,
    createdAt: row.createdAt.toISOString(),
  };
}

async function recipientZone(deps: CheckinDeps, ctx: Ctx, patientId: string): Promise<string> {
  const [p] = await deps.db
    .select({ timeZone: patients.timeZone })
    .from(patients)
    .where(and(eq(patients.orgId, ctx.orgId), eq(patients.id, patientId)))
    .limit(1);
  if (!p) throw new AppError('not_found', 'There is no such care recipient.');
  return p.timeZone;
}

/** `POST /care/recipients/:patientId/schedules`: a one-off or recurring check-in between two members of the circle. */
export async function createSchedule(deps: CheckinDeps, ctx: Ctx, patientId: string, body: CreateCheckinScheduleBody, now = new Date()): Promise<CheckinSchedule> {
  const zone = body.timeZone ?? (await recipientZone(deps, ctx, patientId));
  const problems: { path: string; message: string }[] = [];
  if (!IANAZone.isValidZone(zone)) problems.push({ path: 'body/timeZone', message: 'is not an IANA time zone' });
  if (body.frequency === 'once') {
    if (!body.at) problems.push({ path: 'body/at', message: 'is required for a one-off check-in' });
    else if (Date.parse(body.at) <= now.getTime()) problems.push({ path: 'body/at', message: 'is in the past' });
    if (body.time !== undefined) problems.push({ path: 'body/time', message: 'is for recurring check-ins (use at)' });
  } else {
    if (!body.time) problems.push({ path: 'body/time', message: `is required for a ${body.frequency} check-in` });
    if (body.at !== undefined) problems.push({ path: 'body/at', message: 'is for one-off check-ins (use time)' });
  }
  if (body.frequency === 'weekly' && !body.weekdays) problems.push({ path: 'body/weekdays', message: 'is required for a weekly check-in' });
  if (body.frequency !== 'weekly' && body.weekdays !== undefined) problems.push({ path: 'body/weekdays', message: 'is for weekly check-ins' });
  if (body.callerMemberId === body.calleeMemberId) problems.push({ path: 'body/calleeMemberId', message: 'is the caller' });
  if (problems.length > 0) throw new AppError('validation_failed', undefined, problems);
  await recipientZone(deps, ctx, patientId);
  const members = await deps.db
    .select()
    .from(careMembers)
    .where(and(eq(careMembers.orgId, ctx.orgId), eq(careMembers.recipientId, patientId), isNull(careMembers.removedAt)));
  const caller = members.find((m) => m.id === body.callerMemberId);
  const callee = members.find((m) => m.id === body.calleeMemberId);
  if (!caller || !callee) {
    throw new AppError('validation_failed', 'Both members must be in this care circle.', [
      ...(!caller ? [{ path: 'body/callerMemberId', message: 'is not a member of this care circle' }] : []),
      ...(!callee ? [{ path: 'body/calleeMemberId', message: 'is not a member of this care circle' }] : []),
    ]);
  }
  if (!caller.canStart) throw new AppError('care_permission', 'The caller may not start calls.', { memberId: caller.id, permission: 'canStart' });
  if (!callee.canReceive) throw new AppError('care_permission', 'The callee may not receive calls.', { memberId: callee.id, permission: 'canReceive' });
  const recurrence: Recurrence = {
    frequency: body.frequency,
    at: body.at ? new Date(body.at) : null,
    time: body.time ?? null,
    weekdays: body.weekdays ? [...body.weekdays].sort() : null,
    timeZone: zone,
  };
  const nextAt = nextOccurrence(recurrence, now);
  const row = await deps.db.transaction(async (tx) => {
    const [inserted] = await tx
      .insert(checkinSchedules)
      .values({
        orgId: ctx.orgId,
        recipientId: patientId,
        callerMemberId: caller.id,
        calleeMemberId: callee.id,
        durationS: body.durationSeconds ?? 15,
        frequency: body.frequency,
        timeOfDay: recurrence.time ?? null,
        weekdays: recurrence.weekdays ? [...recurrence.weekdays] : null,
        timeZone: zone,
        nextAt,
      })
      .returning();
    await audit(tx, ctx, 'checkin.schedule_created', { type: 'checkin_schedule', id: inserted!.id }, { recipientId: patientId, frequency: body.frequency });
    return inserted!;
  });
  await deps.hub.publish(ctx.orgId, 'checkin.schedule_created', { scheduleId: row.id, recipientId: patientId, memberIds: [caller.id, callee.id] });
  return toScheduleDto(row);
}

export async function listSchedules(deps: CheckinDeps, ctx: Ctx, patientId: string): Promise<CheckinSchedule[]> {
  await recipientZone(deps, ctx, patientId);
  const rows = await deps.db
    .select()
    .from(checkinSchedules)
    .where(and(eq(checkinSchedules.orgId, ctx.orgId), eq(checkinSchedules.recipientId, patientId)))
    .orderBy(asc(checkinSchedules.createdAt), asc(checkinSchedules.id))
    .limit(500);
  return rows.map(toScheduleDto);
}

/** `DELETE /checkin-schedules/:id`: no further calls (calls already made go on). */
export async function cancelSchedule(deps: CheckinDeps, ctx: Ctx, id: string): Promise<CheckinSchedule> {
  const row = await deps.db.transaction(async (tx) => {
    const [updated] = await tx
      .update(checkinSchedules)
      .set({ cancelledAt: new Date(), nextAt: null })
      .where(and(eq(checkinSchedules.orgId, ctx.orgId), eq(checkinSchedules.id, id), isNull(checkinSchedules.cancelledAt)))
      .returning();
    if (!updated) {
      const [found] = await tx
        .select()
        .from(checkinSchedules)
        .where(and(eq(checkinSchedules.orgId, ctx.orgId), eq(checkinSchedules.id, id)))
        .limit(1);
      if (!found) throw new AppError('not_found', 'There is no such check-in schedule.');
      return null;
    }
    await audit(tx, ctx, 'checkin.schedule_cancelled', { type: 'checkin_schedule', id }, { recipientId: updated.recipientId });
    return updated;
  });
  if (!row) {
    const [found] = await deps.db.select().from(checkinSchedules).where(and(eq(checkinSchedules.orgId, ctx.orgId), eq(checkinSchedules.id, id))).limit(1);
    return toScheduleDto(found!);
  }
  await deps.hub.publish(ctx.orgId, 'checkin.schedule_cancelled', { scheduleId: row.id, recipientId: row.recipientId, memberIds: [row.callerMemberId, row.calleeMemberId] });
  return toScheduleDto(row);
}
