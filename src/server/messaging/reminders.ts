/**
 * Appointment reminders: one scheduled job per patient and offset (24 h and 15 min before by default; an
 * organisation sets its own), made when an appointment is created or moved and cancelled when it is cancelled or
 * moved. The job re-reads the appointment when it runs, so a reminder never announces a time that changed.
 * Reminders go by SMS when the patient can receive texts, else by email; one that cannot go is marked skipped
 * with the reason. A reminder an hour or less before the start ignores quiet hours.
 */
import type { FastifyBaseLogger } from 'fastify';
import { and, eq, gt, isNull, ne, sql } from 'drizzle-orm';
import type { OrgEvent } from '../../shared/events.js';
import { audit } from '../audit/service.js';
import { systemCtx } from '../context.js';
import { appointmentPatients, appointmentReminders, appointments, patients, users } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import type { Jobs } from '../jobs/index.js';
import type { MessagingDeps } from './messages.js';
import { previewMessage, sendToPatient } from './queue.js';
import { settingsOf } from './settings.js';
import { defaultTemplate } from './template-store.js';

export const REMINDER_QUEUE = 'appointment-reminder';

export interface ReminderDeps extends MessagingDeps {
  jobs: Jobs;
  log: Pick<FastifyBaseLogger, 'warn' | 'info'>;
  /** The patient's join link for a video appointment (a visit invite), or null: visits', given when reminders are wired. */
  joinLinkFor: (orgId: string, appointmentId: string, patientId: string) => Promise<string | null>;
}

interface ReminderJob {
  orgId: string;
  appointmentId: string;
  patientId: string;
  offsetMinutes: number;
  startsAt: string;
}

/** The row of one reminder: an appointment, a patient, an offset, for the start time it was made for. */
function reminderIs(r: { appointmentId: string; patientId: string; offsetMinutes: number; startsAt: Date }) {
  return and(
    eq(appointmentReminders.appointmentId, r.appointmentId),
    eq(appointmentReminders.patientId, r.patientId),
    eq(appointmentReminders.offsetMinutes, r.offsetMinutes),
    eq(appointmentReminders.startsAt, r.startsAt),
  );
}

export async function startReminderWorkers(deps: ReminderDeps): Promise<void> {
  await deps.jobs.work<ReminderJob>(REMINDER_QUEUE, { retryLimit: 3, retryDelaySeconds: 30, retryBackoff: true, expireInSeconds: 120 }, async (job) => {
    await runReminder(deps, job.data);
  });
}

/** The hub observer: appointment changes (re)schedule or cancel their reminders. */
export function reminderObserver(deps: ReminderDeps) {
  return async (orgId: string, event: OrgEvent): Promise<void> => {
    if (event.type !== 'appointment.created' && event.type !== 'appointment.updated' && event.type !== 'appointment.cancelled') return;
    const appointmentId = event.data.appointmentId;
    if (typeof appointmentId !== 'string') return;
    try {
      await scheduleReminders(deps, orgId, appointmentId);
    } catch (err) {
      deps.log.warn({ err: { message: (err as Error).message }, appointmentId }, 'scheduling reminders failed');
    }
  };
}

/**
 * Brings an appointment's reminders in line with it: cancels those made for another start time, for removed
 * patients or for a cancelled appointment; schedules the missing ones that are still in the future.
 */
export async function scheduleReminders(deps: ReminderDeps, orgId: string, appointmentId: string): Promise<{ scheduled: number; cancelled: number }> {
  const [appointment] = await deps.db.select().from(appointments).where(and(eq(appointments.orgId, orgId), eq(appointments.id, appointmentId))).limit(1);
  if (!appointment) return { scheduled: 0, cancelled: 0 };
  const people = appointment.status === 'scheduled'
    ? (await deps.db.select({ id: appointmentPatients.patientId }).from(appointmentPatients).where(and(eq(appointmentPatients.orgId, orgId), eq(appointmentPatients.appointmentId, appointmentId)))).map((r) => r.id)
    : [];
  const offsets = (await settingsOf(deps, orgId)).reminderOffsetsMinutes;
  const ctx = systemCtx(orgId);
  const existing = await deps.db.select().from(appointmentReminders).where(and(eq(appointmentReminders.orgId, orgId), eq(appointmentReminders.appointmentId, appointmentId)));
  const stale = existing.filter(
    (r) => r.status === 'scheduled' && (r.startsAt.getTime() !== appointment.startsAt.getTime() || !people.includes(r.patientId) || !offsets.includes(r.offsetMinutes)),
  );
  if (stale.length > 0) {
    await deps.db.transaction(async (tx) => {
      for (const r of stale) {
        await tx
          .update(appointmentReminders)
          .set({ status: 'cancelled', reason: appointment.status !== 'scheduled' ? `appointment_${appointment.status}` : 'appointment_changed' })
          .where(reminderIs(r));
        await audit(tx, ctx, 'reminder.cancelled', { type: 'patient', id: r.patientId }, { appointmentId, offsetMinutes: r.offsetMinutes });
      }
    });
    const jobIds = stale.map((r) => r.jobId).filter((id): id is string => id !== null);
    await deps.jobs.cancel(REMINDER_QUEUE, jobIds);
  }
  let scheduled = 0;
  const now = Date.now();
  for (const patientId of people) {
    for (const offsetMinutes of offsets) {
      const dueAt = new Date(appointment.startsAt.getTime() - offsetMinutes * 60_000);
      if (dueAt.getTime() <= now) continue;
      if (existing.some((r) => r.patientId === patientId && r.offsetMinutes === offsetMinutes && r.startsAt.getTime() === appointment.startsAt.getTime())) continue;
      const inserted = await deps.db.transaction(async (tx) => {
        const [row] = await tx
          .insert(appointmentReminders)
          .values({ orgId, appointmentId, patientId, offsetMinutes, startsAt: appointment.startsAt, dueAt })
          .onConflictDoNothing()
          .returning();
        if (row) await audit(tx, ctx, 'reminder.scheduled', { type: 'patient', id: patientId }, { appointmentId, offsetMinutes, dueAt: dueAt.toISOString() });
        return row;
      });
      if (!inserted) continue;
      const data: ReminderJob = { orgId, appointmentId, patientId, offsetMinutes, startsAt: appointment.startsAt.toISOString() };
      const jobId = await deps.jobs.send(REMINDER_QUEUE, data, { startAfter: dueAt });
      await deps.db
        .update(appointmentReminders)
        .set({ jobId })
        .where(reminderIs({ appointmentId, patientId, offsetMinutes, startsAt: appointment.startsAt }));
      scheduled += 1;
    }
  }
  return { scheduled, cancelled: stale.length };
}

/**
 * At start-up: schedules the reminders of future appointments that have none for their current start time (made
 * while no server ran, e.g. by the CLI, or left half done by a crash).
 */
export async function reconcileReminders(deps: ReminderDeps): Promise<number> {
  const upcoming = await deps.db
    .select({ orgId: appointments.orgId, id: appointments.id })
    .from(appointments)
    .where(
      and(
        eq(appointments.status, 'scheduled'),
        gt(appointments.startsAt, new Date()),
        sql`not exists (select 1 from ${appointmentReminders} r where r.appointment_id = ${appointments.id} and r.starts_at = ${appointments.startsAt})`,
      ),
    );
  let n = 0;
  for (const a of upcoming) n += (await scheduleReminders(deps, a.orgId, a.id)).scheduled;
  return n;
}

async function markReminder(deps: ReminderDeps, job: ReminderJob, status: 'sent' | 'skipped' | 'cancelled', reason: string | null, messageId: string | null) {
  const ctx = systemCtx(job.orgId);
  await deps.db.transaction(async (tx) => {
    const [row] = await tx
      .update(appointmentReminders)
      .set({ status, reason, messageId })
      .where(and(reminderIs({ ...job, startsAt: new Date(job.startsAt) }), eq(appointmentReminders.status, 'scheduled')))
      .returning();
    if (row && status === 'skipped') await audit(tx, ctx, 'reminder.skipped', { type: 'patient', id: job.patientId }, { appointmentId: job.appointmentId, offsetMinutes: job.offsetMinutes, reason });
    if (row && status === 'cancelled') await audit(tx, ctx, 'reminder.cancelled', { type: 'patient', id: job.patientId }, { appointmentId: job.appointmentId, offsetMinutes: job.offsetMinutes });
  });
}

async function runReminder(deps: ReminderDeps, job: ReminderJob): Promise<void> {
  const [reminder] = await deps.db
    .select()
    .from(appointmentReminders)
    .where(reminderIs({ ...job, startsAt: new Date(job.startsAt) }))
    .limit(1);
  if (!reminder || reminder.status !== 'scheduled') return;
  const [appointment] = await deps.db.select().from(appointments).where(and(eq(appointments.orgId, job.orgId), eq(appointments.id, job.appointmentId))).limit(1);
  if (!appointment || appointment.status !== 'scheduled' || appointment.startsAt.getTime() !== reminder.startsAt.getTime()) {
    await markReminder(deps, job, 'cancelled', 'appointment_changed', null);
    return;
  }
  const [patient] = await deps.db
    .select()
    .from(patients)
    .where(and(eq(patients.orgId, job.orgId), eq(patients.id, job.patientId), isNull(patients.archivedAt)))
    .limit(1);
  if (!patient) {
    await markReminder(deps, job, 'skipped', 'patient_archived', null);
    return;
  }
  const ctx = systemCtx(job.orgId);
  // SMS when the patient can get texts, else email, else nothing (with the reason kept).
  let channel: 'sms' | 'email' | null = null;
  let blocked: string | null = null;
  for (const c of ['sms', 'email'] as const) {
    const p = await previewMessage(deps, ctx, patient.id, { channel: c });
    if (!p.blockedBy) {
      channel = c;
      break;
    }
    blocked ??= p.blockedBy;
  }
  if (!channel) {
    await markReminder(deps, job, 'skipped', blocked, null);
    return;
  }
  const [clinician] = await deps.db.select({ name: users.name }).from(users).where(and(eq(users.orgId, job.orgId), eq(users.id, appointment.clinicianId))).limit(1);
  const when = (opts: Intl.DateTimeFormatOptions) => new Intl.DateTimeFormat('en-US', { timeZone: patient.timeZone, ...opts }).format(appointment.startsAt);
  const link = appointment.kind === 'video' && deps.joinLinkFor ? await deps.joinLinkFor(job.orgId, appointment.id, patient.id).catch(() => null) : null;
  const template = await defaultTemplate(deps.db, job.orgId, 'appointment_reminder', channel);
  try {
    const { message } = await sendToPatient(
      deps,
      ctx,
      patient.id,
      {
        channel,
        urgent: job.offsetMinutes <= 60,
        values: {
          appointmentDate: when({ weekday: 'long', month: 'long', day: 'numeric' }),
          appointmentTime: when({ hour: 'numeric', minute: '2-digit', timeZoneName: 'short' }),
          clinicianName: clinician?.name ?? '',
          ...(link ? { link } : {}),
        },
      },
      { purpose: 'appointment_reminder', appointmentId: appointment.id, idempotencyKey: `reminder:${appointment.id}:${patient.id}:${job.offsetMinutes}:${job.startsAt}`, template },
    );
    await markReminder(deps, job, 'sent', null, message.id);
  } catch (err) {
    if (err instanceof AppError && err.status < 500) await markReminder(deps, job, 'skipped', err.code, null);
    else throw err;
  }
}

/** The reminders of an appointment (staff: what will go, what went, what was skipped and why). */
export async function listReminders(deps: ReminderDeps, orgId: string, appointmentId: string) {
  const rows = await deps.db
    .select()
    .from(appointmentReminders)
    .where(and(eq(appointmentReminders.orgId, orgId), eq(appointmentReminders.appointmentId, appointmentId), ne(appointmentReminders.status, 'cancelled')));
  return rows.map((r) => ({ patientId: r.patientId, offsetMinutes: r.offsetMinutes, dueAt: r.dueAt.toISOString(), status: r.status, reason: r.reason, messageId: r.messageId }));
}
