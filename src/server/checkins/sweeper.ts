/**
 * The check-ins sweep, every second: due schedules make their calls; calls rung past their window are missed (or
 * failed `no_connection` when both answered but the media never connected); the fallback text goes to a recipient
 * callee whose app did not show the call; a call whose room ended without it being completed is completed (a
 * backstop: the room's end is normally heard at once). Everything is derived from rows, with guarded updates, so a
 * restart or several processes sweeping at once change nothing.
 */
import { and, asc, eq, inArray, isNotNull, isNull, sql } from 'drizzle-orm';
import { systemCtx } from '../context.js';
import { careMembers, checkinCalls, checkinSchedules } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import type { CheckinDeps } from './deps.js';
import { nextOccurrence, recurrenceOf } from './schedules.js';
import { closeOpenCall, completeFromRoom, CONNECT_GRACE_MS, startCall } from './service.js';
import { sendCallText } from './texts.js';

type Log = { warn(obj: object, msg: string): void };

/** Schedules due now: each occurrence claimed with a guarded update (next_at moved on), then its call made. */
export async function runDueSchedules(deps: CheckinDeps, log: Log, now = new Date()): Promise<number> {
  const due = await deps.db
    .select()
    .from(checkinSchedules)
    .where(and(isNotNull(checkinSchedules.nextAt), isNull(checkinSchedules.cancelledAt), sql`${checkinSchedules.nextAt} <= ${now.toISOString()}::timestamptz`))
    .orderBy(asc(checkinSchedules.nextAt))
    .limit(100);
  let made = 0;
  for (const s of due) {
    // The next occurrence after now: occurrences missed while no server ran are not all rung at once.
    const next = s.frequency === 'once' ? null : nextOccurrence(recurrenceOf(s), now);
    const [claimed] = await deps.db
      .update(checkinSchedules)
      .set({ nextAt: next })
      .where(and(eq(checkinSchedules.id, s.id), eq(checkinSchedules.nextAt, s.nextAt!), isNull(checkinSchedules.cancelledAt)))
      .returning({ id: checkinSchedules.id });
    if (!claimed) continue;
    try {
      await startCall(deps, systemCtx(s.orgId), {
        callerMemberId: s.callerMemberId,
        calleeMemberId: s.calleeMemberId,
        durationS: s.durationS,
        ringMs: deps.config.ringMs,
        callerAnswered: false,
        scheduleId: s.id,
      });
      made++;
    } catch (err) {
      // A member removed or no longer allowed, the provider refusing: this occurrence is skipped (the next one tries).
      log.warn({ err: err instanceof AppError ? { code: err.code } : err, scheduleId: s.id }, 'scheduled check-in not made');
    }
  }
  return made;
}

/** Calls rung past their window: missed, or failed `no_connection` when both answered (after the connect grace). */
export async function closeExpired(deps: CheckinDeps, now = new Date()): Promise<number> {
  const at = now.toISOString();
  const bothAnswered = sql`(${checkinCalls.callerAnsweredAt} is not null and ${checkinCalls.calleeAnsweredAt} is not null)`;
  const due = await deps.db
    .select({ id: checkinCalls.id, orgId: checkinCalls.orgId, both: sql<boolean>`${bothAnswered}` })
    .from(checkinCalls)
    .where(
      and(
        inArray(checkinCalls.status, ['requested', 'ringing']),
        sql`${checkinCalls.ringExpiresAt} <= ${at}::timestamptz`,
        sql`(not ${bothAnswered} or ${checkinCalls.ringExpiresAt} + make_interval(secs => ${CONNECT_GRACE_MS / 1000}) <= ${at}::timestamptz)`,
      ),
    )
    .orderBy(asc(checkinCalls.ringExpiresAt))
    .limit(200);
  let closed = 0;
  for (const c of due) {
    const ctx = systemCtx(c.orgId);
    const row = c.both ? await closeOpenCall(deps, ctx, c.id, 'failed', 'no_connection', null, bothAnswered) : await closeOpenCall(deps, ctx, c.id, 'missed', 'no_answer', null, sql`not ${bothAnswered}`);
    if (row) closed++;
  }
  return closed;
}

/**
 * The fallback text: a recipient callee still ringing, whose app has not shown the call (`ring` not acknowledged)
 * and who has not answered, `textAfterMs` after the ring began. Claimed once (text_queued_at), then sent through
 * patient messaging (sendCallText: consent and quiet hours apply; not sent if it could not go within the window).
 */
export async function sendDueTexts(deps: CheckinDeps, log: Log, now = new Date()): Promise<number> {
  const at = now.toISOString();
  const due = await deps.db
    .select({ id: checkinCalls.id, orgId: checkinCalls.orgId })
    .from(checkinCalls)
    .innerJoin(careMembers, and(eq(careMembers.orgId, checkinCalls.orgId), eq(careMembers.id, checkinCalls.calleeMemberId)))
    .where(
      and(
        eq(checkinCalls.status, 'ringing'),
        eq(careMembers.kind, 'recipient'),
        isNull(checkinCalls.calleeAlertedAt),
        isNull(checkinCalls.calleeAnsweredAt),
        isNull(checkinCalls.textQueuedAt),
        sql`${checkinCalls.ringStartedAt} + make_interval(secs => ${deps.config.textAfterMs / 1000}) <= ${at}::timestamptz`,
        sql`${checkinCalls.ringExpiresAt} > ${at}::timestamptz`,
      ),
    )
    .limit(100);
  let sent = 0;
  for (const c of due) {
    const [claimed] = await deps.db
      .update(checkinCalls)
      .set({ textQueuedAt: now, updatedAt: now })
      .where(and(eq(checkinCalls.orgId, c.orgId), eq(checkinCalls.id, c.id), isNull(checkinCalls.textQueuedAt), eq(checkinCalls.status, 'ringing')))
      .returning();
    if (!claimed) continue;
    try {
      if (await sendCallText(deps, systemCtx(c.orgId), claimed)) sent++;
    } catch (err) {
      log.warn({ err: err instanceof AppError ? { code: err.code } : err, checkinId: c.id }, 'check-in text not sent');
    }
  }
  return sent;
}

/** Active calls whose room has ended (its end not heard: another process crashed meanwhile). */
export async function completeEnded(deps: CheckinDeps): Promise<number> {
  const rows = await deps.db
    .select({ orgId: checkinCalls.orgId, roomId: checkinCalls.roomId })
    .from(checkinCalls)
    .where(and(eq(checkinCalls.status, 'active'), isNotNull(checkinCalls.roomId)))
    .limit(1000);
  let done = 0;
  for (const r of rows) if (await completeFromRoom(deps, r.orgId, r.roomId!)) done++;
  return done;
}

/** Backstop runs this often (the room's end is heard at once on the process that ends it). */
const BACKSTOP_EVERY_MS = 10_000;

export function startCheckinSweeper(deps: CheckinDeps, log: Log, intervalMs = 1000): { stop(): Promise<void> } {
  let running: Promise<unknown> = Promise.resolve();
  let lastBackstop = 0;
  let busy = false;
  const tick = async () => {
    const now = new Date();
    await runDueSchedules(deps, log, now);
    await closeExpired(deps, now);
    await sendDueTexts(deps, log, now);
    if (Date.now() - lastBackstop >= BACKSTOP_EVERY_MS) {
      lastBackstop = Date.now();
      await completeEnded(deps);
    }
  };
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    running = tick()
      .catch((err: unknown) => log.warn({ err }, 'check-in sweep failed'))
      .finally(() => {
        busy = false;
      });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}

