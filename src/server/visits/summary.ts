/**
 * After the visit: its summary (duration, who was there and when, consents, recordings, the chat transcript,
 * connection quality and reconnects, usage) and the organisation's usage metering (participant-minutes, recorded
 * participant-minutes and composed minutes per visit and per month, with a cost estimated from the configured
 * rates, as the seeds estimate a Twilio bill).
 */
import { and, asc, eq, inArray } from 'drizzle-orm';
import type { Usage, UsageFigures, UsageQuery, VisitSummary } from '../../shared/api/visits.js';
import { audit } from '../audit/service.js';
import type { Config } from '../config.js';
import type { Ctx } from '../context.js';
import { visits } from '../db/schema.js';
import { recordingUsageInRooms, staysInRooms, usageByOwner } from '../rooms/queries.js';
import { listRecordingsOfRooms } from '../rooms/service.js';
import { listVisitConsents } from './access.js';
import { transcript } from './chat.js';
import { visitRoomIds } from './recording.js';
import { surveyAnswers, surveyUrlOf } from './survey.js';
import { assertCanHost, participantRows, VISIT_OWNER, visitDto, visitRow, type VisitDeps } from './service.js';

/** The most chat messages a summary carries (a visit's whole conversation, in practice). */
const SUMMARY_CHAT_LIMIT = 5000;

/** Billing minutes of a stay: whole minutes rounded up, at least one (as providers bill participant-minutes). */
const billedMinutes = (seconds: number) => Math.max(1, Math.ceil(seconds / 60));

/** Minutes metered for a visit, a month or an owner. */
export interface MeteredMinutes {
  participantMinutes: number;
  recordedMinutes: number;
  compositionMinutes: number;
}

const money = (amount: number) => Math.round(amount * 10_000) / 10_000;

/** The estimate of what the provider bills for these minutes (the seeds' Twilio prices by default): each item, then their sum. */
export function usageFigures(m: MeteredMinutes, rates: Config['usage']): UsageFigures {
  const costs = {
    participants: money(m.participantMinutes * rates.participantMinuteRate),
    recordings: money(m.recordedMinutes * rates.recordingMinuteRate),
    compositions: money(m.compositionMinutes * rates.compositionMinuteRate),
  };
  return {
    participantMinutes: m.participantMinutes,
    recordedMinutes: m.recordedMinutes,
    compositionMinutes: m.compositionMinutes,
    // The sum of the rounded items, so the total is what its items add up to.
    estimatedCost: money(costs.participants + costs.recordings + costs.compositions),
    costs,
    currency: rates.currency,
  };
}

export async function visitSummary(deps: VisitDeps, ctx: Ctx, visitId: string): Promise<VisitSummary> {
  const visit = await visitRow(deps.db, ctx.orgId, visitId);
  await assertCanHost(deps.db, ctx, visit);
  const people = await participantRows(deps.db, ctx.orgId, visitId);
  const roomIds = await visitRoomIds(deps, ctx, visitId);
  const stays = await staysInRooms(deps.rooms, ctx, roomIds);
  const now = Date.now();
  const secondsOf = (s: (typeof stays)[number]) => s.durationS ?? Math.max(0, Math.round(((s.leftAt?.getTime() ?? now) - s.joinedAt.getTime()) / 1000));
  /** Time with media flowing: what the provider measured when the stay ended (in the room so far while it is open, or when not measured). */
  const mediaSecondsOf = (s: (typeof stays)[number]) => s.mediaS ?? secondsOf(s);
  const recordings = await listRecordingsOfRooms(deps.rooms, ctx, roomIds);

  const participants = people.map((p) => {
    const mine = stays.filter((s) => s.identity === p.id);
    return {
      id: p.id,
      role: p.role,
      displayName: p.displayName,
      admission: p.admission,
      stays: mine.map((s) => ({
        joinedAt: s.joinedAt.toISOString(),
        leftAt: s.leftAt?.toISOString() ?? null,
        durationSeconds: s.leftAt ? secondsOf(s) : null,
        leaveReason: s.leaveReason,
        qualityAverage: s.qualityAvg === null ? null : Math.round(s.qualityAvg * 100) / 100,
        qualityMin: s.qualityMin,
        mediaStartedAt: s.mediaStartedAt?.toISOString() ?? null,
        mediaSeconds: s.mediaS,
      })),
      // Attendance (a group's register): the first arrival in the room and the last departure, over every stay.
      firstJoinedAt: mine.length === 0 ? null : new Date(Math.min(...mine.map((s) => s.joinedAt.getTime()))).toISOString(),
      lastLeftAt: mine.length === 0 || mine.some((s) => !s.leftAt) ? null : new Date(Math.max(...mine.map((s) => s.leftAt!.getTime()))).toISOString(),
      secondsInVisit: mine.reduce((sum, s) => sum + mediaSecondsOf(s), 0),
      reconnects: Math.max(0, mine.length - 1),
    };
  });
  const measured = stays.filter((s) => s.qualityAvg !== null);
  const participantMinutes = stays.reduce((sum, s) => sum + billedMinutes(secondsOf(s)), 0);
  // Counted as the usage report counts them (rooms/queries.ts), in SQL: per participant, not per track file.
  const recorded = await recordingUsageInRooms(deps.rooms, ctx, roomIds);
  const from = visit.startedAt ?? visit.openedAt;
  const summary: VisitSummary = {
    visit: await visitDto(deps, ctx, visit, people),
    durationSeconds: from ? Math.round(((visit.endedAt?.getTime() ?? now) - from.getTime()) / 1000) : null,
    participants,
    consents: await listVisitConsents(deps, ctx, visitId),
    recordings,
    chat: await transcript(deps.db, ctx.orgId, visitId, SUMMARY_CHAT_LIMIT),
    quality: {
      average: measured.length === 0 ? null : Math.round((measured.reduce((sum, s) => sum + s.qualityAvg!, 0) / measured.length) * 100) / 100,
      worst: measured.length === 0 ? null : Math.min(...measured.map((s) => s.qualityMin ?? 5)),
      reconnects: participants.reduce((sum, p) => sum + p.reconnects, 0),
    },
    usage: usageFigures({ participantMinutes, ...recorded }, deps.usage),
    surveyUrl: surveyUrlOf(visit, deps.config),
    surveys: await surveyAnswers(deps.db, ctx.orgId, visitId),
  };
  // The summary carries the transcript and who attended: reading it is recorded.
  await audit(deps.db, ctx, 'visit.summary_viewed', { type: 'visit', id: visitId });
  return summary;
}

/**
 * A month's bounds in UTC from `YYYY-MM` (default: the current month; the schema admits 1900-01 to 9999-12).
 * The bounds are timestamptz text, not Dates: the end of 9999-12 is the year 10000, which PostgreSQL holds
 * but a Date would send as "+010000-…", which it refuses.
 */
function monthBounds(month: string | undefined, now = new Date()): { label: string; start: string; end: string } {
  const [y, m] = month ? month.split('-').map(Number) : [now.getUTCFullYear(), now.getUTCMonth() + 1];
  const text = (year: number, mon: number) => `${String(year).padStart(4, '0')}-${String(mon).padStart(2, '0')}`;
  const label = text(y!, m!);
  return { label, start: `${label}-01T00:00:00Z`, end: `${m === 12 ? text(y! + 1, 1) : text(y!, m! + 1)}-01T00:00:00Z` };
}

/**
 * Usage for a month: every stay that began in it (all rooms: visits, group sessions, check-ins, API rooms),
 * rounded up to whole minutes per stay, and the recordings that began in it; then per visit.
 */
export async function usage(deps: VisitDeps, ctx: Ctx, q: UsageQuery): Promise<Usage> {
  const { db, rooms, usage: rates } = deps;
  const { label, start, end } = monthBounds(q.month);
  const byVisit = new Map<string, MeteredMinutes>();
  const total: MeteredMinutes = { participantMinutes: 0, recordedMinutes: 0, compositionMinutes: 0 };
  let roomCount = 0;
  for (const u of await usageByOwner(rooms, ctx, start, end)) {
    const minutes = { participantMinutes: u.participantMinutes, recordedMinutes: u.recordedMinutes, compositionMinutes: u.compositionMinutes };
    total.participantMinutes += minutes.participantMinutes;
    total.recordedMinutes += minutes.recordedMinutes;
    total.compositionMinutes += minutes.compositionMinutes;
    roomCount += u.rooms;
    if (u.owner?.kind === VISIT_OWNER) byVisit.set(u.owner.id, minutes);
  }
  const ids = [...byVisit.keys()];
  const visitRows =
    ids.length === 0
      ? []
      : await db
          .select({ id: visits.id, scheduledStart: visits.scheduledStart, status: visits.status })
          .from(visits)
          .where(and(eq(visits.orgId, ctx.orgId), inArray(visits.id, ids)))
          .orderBy(asc(visits.scheduledStart), asc(visits.id));
  return {
    month: label,
    total: usageFigures(total, rates),
    rooms: roomCount,
    visits: visitRows.map((v) => {
      return { visitId: v.id, scheduledStart: v.scheduledStart.toISOString(), status: v.status, usage: usageFigures(byVisit.get(v.id)!, rates) };
    }),
  };
}
