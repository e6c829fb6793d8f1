import { and, asc, eq, gte, inArray, lt, sql, type SQL } from 'drizzle-orm';
import type { Appointment, CreateAppointmentBody, ListAppointmentsQuery, UpdateAppointmentBody } from '../../shared/api/appointments.js';
import { audit } from '../audit/service.js';
import type { Ctx } from '../context.js';
import type { Db } from '../db/index.js';
import { appointmentPatients, appointments, patients, users } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { parseInstant } from '../http/validators.js';
import { decodeCursor, encodeCursor, page } from '../http/pagination.js';
import type { OrgEvents } from '../realtime/events.js';

type AppointmentRow = typeof appointments.$inferSelect;

export interface AppointmentDeps {
  db: Db;
  hub: OrgEvents;
}

function toDto(row: AppointmentRow, patientIds: string[]): Appointment {
  return {
    id: row.id,
    kind: row.kind,
    clinicianId: row.clinicianId,
    patientIds,
    startsAt: row.startsAt.toISOString(),
    endsAt: new Date(row.startsAt.getTime() + row.durationMinutes * 60_000).toISOString(),
    durationMinutes: row.durationMinutes,
    status: row.status,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

async function patientIdsOf(db: Db, orgId: string, ids: string[]): Promise<Map<string, string[]>> {
  const map = new Map<string, string[]>();
  if (ids.length === 0) return map;
  const rows = await db
    .select({ appointmentId: appointmentPatients.appointmentId, patientId: appointmentPatients.patientId })
    .from(appointmentPatients)
    .where(and(eq(appointmentPatients.orgId, orgId), inArray(appointmentPatients.appointmentId, ids)))
    .orderBy(asc(appointmentPatients.patientId));
  for (const r of rows) map.set(r.appointmentId, [...(map.get(r.appointmentId) ?? []), r.patientId]);
  return map;
}

/** The clinician must be an active clinician or admin of the organisation; patients must be its active patients. */
async function checkPeople(db: Db, orgId: string, clinicianId: string | undefined, patientIds: string[] | undefined): Promise<void> {
  if (clinicianId !== undefined) {
    const [clinician] = await db
      .select({ role: users.role, disabledAt: users.disabledAt })
      .from(users)
      .where(and(eq(users.orgId, orgId), eq(users.id, clinicianId)))
      .limit(1);
    if (!clinician || clinician.disabledAt !== null || clinician.role === 'caregiver') {
      throw new AppError('validation_failed', 'The clinician must be an active clinician or admin of your organisation.', [{ path: 'body/clinicianId', message: 'is not an active clinician' }]);
    }
  }
  if (patientIds !== undefined) {
    const found = await db
      .select({ id: patients.id, archivedAt: patients.archivedAt })
      .from(patients)
      .where(and(eq(patients.orgId, orgId), inArray(patients.id, patientIds)));
    const active = new Set(found.filter((p) => p.archivedAt === null).map((p) => p.id));
    const missing = patientIds.filter((id) => !active.has(id));
    if (missing.length > 0) {
      throw new AppError(
        'validation_failed',
        'Every patient must be an active patient of your organisation.',
        missing.map((id) => ({ path: `body/patientIds/${patientIds.indexOf(id)}`, message: 'is not an active patient' })),
      );
    }
  }
}

/** Ids as the database returns them (lower case), so comparisons in code agree with the database; a patient listed twice is refused. */
function normalisePatientIds(ids: string[]): string[] {
  const out = ids.map((id) => id.toLowerCase());
  const dup = out.findIndex((id, i) => out.indexOf(id) !== i);
  if (dup >= 0) throw new AppError('validation_failed', undefined, [{ path: `body/patientIds/${dup}`, message: 'lists the same patient twice' }]);
  return out;
}

/** `lock`: inside a transaction, hold the row until it commits, so concurrent changes see each other's status. */
async function getRow(db: Db, orgId: string, id: string, lock = false): Promise<AppointmentRow> {
  const query = db.select().from(appointments).where(and(eq(appointments.orgId, orgId), eq(appointments.id, id))).limit(1);
  const [row] = lock ? await query.for('update') : await query;
  if (!row) throw new AppError('not_found', 'There is no such appointment.');
  return row;
}

export async function createAppointment(deps: AppointmentDeps, ctx: Ctx, body: CreateAppointmentBody): Promise<Appointment> {
  const startsAt = parseInstant(body.startsAt, 'body/startsAt');
  const patientIds = normalisePatientIds(body.patientIds);
  const result = await deps.db.transaction(async (tx) => {
    await checkPeople(tx, ctx.orgId, body.clinicianId, patientIds);
    const [row] = await tx
      .insert(appointments)
      .values({ orgId: ctx.orgId, kind: body.kind, clinicianId: body.clinicianId, startsAt, durationMinutes: body.durationMinutes })
      .returning();
    await tx.insert(appointmentPatients).values(patientIds.map((patientId) => ({ orgId: ctx.orgId, appointmentId: row!.id, patientId })));
    await audit(tx, ctx, 'appointment.created', { type: 'appointment', id: row!.id }, { kind: body.kind, patients: patientIds.length });
    return toDto(row!, [...patientIds].sort());
  });
  await deps.hub.publish(ctx.orgId, 'appointment.created', { appointmentId: result.id });
  return result;
}

export async function getAppointment(deps: AppointmentDeps, ctx: Ctx, id: string): Promise<Appointment> {
  const row = await getRow(deps.db, ctx.orgId, id);
  return toDto(row, (await patientIdsOf(deps.db, ctx.orgId, [id])).get(id) ?? []);
}

export async function updateAppointment(deps: AppointmentDeps, ctx: Ctx, id: string, body: UpdateAppointmentBody): Promise<Appointment> {
  const startsAt = body.startsAt !== undefined ? parseInstant(body.startsAt, 'body/startsAt') : undefined;
  const patientIds = body.patientIds !== undefined ? normalisePatientIds(body.patientIds) : undefined;
  const result = await deps.db.transaction(async (tx) => {
    const current = await getRow(tx, ctx.orgId, id, true);
    if (current.status !== 'scheduled') throw new AppError('invalid_state', `The appointment is ${current.status}; only scheduled appointments can be changed.`, { status: current.status });
    await checkPeople(tx, ctx.orgId, body.clinicianId, patientIds);
    const [row] = await tx
      .update(appointments)
      .set({
        ...(body.clinicianId !== undefined ? { clinicianId: body.clinicianId } : {}),
        ...(startsAt !== undefined ? { startsAt } : {}),
        ...(body.durationMinutes !== undefined ? { durationMinutes: body.durationMinutes } : {}),
        updatedAt: new Date(),
      })
      .where(and(eq(appointments.orgId, ctx.orgId), eq(appointments.id, id)))
      .returning();
    if (patientIds !== undefined) {
      await tx.delete(appointmentPatients).where(and(eq(appointmentPatients.orgId, ctx.orgId), eq(appointmentPatients.appointmentId, id)));
      await tx.insert(appointmentPatients).values(patientIds.map((patientId) => ({ orgId: ctx.orgId, appointmentId: id, patientId })));
    }
    await audit(tx, ctx, 'appointment.updated', { type: 'appointment', id }, { fields: Object.keys(body).sort().join(',') });
    return toDto(row!, (await patientIdsOf(tx, ctx.orgId, [id])).get(id) ?? []);
  });
  await deps.hub.publish(ctx.orgId, 'appointment.updated', { appointmentId: id });
  return result;
}

export async function cancelAppointment(deps: AppointmentDeps, ctx: Ctx, id: string): Promise<Appointment> {
  const result = await deps.db.transaction(async (tx) => {
    const current = await getRow(tx, ctx.orgId, id, true);
    if (current.status === 'cancelled') return { row: current, changed: false };
    if (current.status !== 'scheduled') throw new AppError('invalid_state', `The appointment is ${current.status} and cannot be cancelled.`, { status: current.status });
    const [row] = await tx
      .update(appointments)
      .set({ status: 'cancelled', updatedAt: new Date() })
      .where(and(eq(appointments.orgId, ctx.orgId), eq(appointments.id, id)))
      .returning();
    await audit(tx, ctx, 'appointment.cancelled', { type: 'appointment', id });
    return { row: row!, changed: true };
  });
  if (result.changed) await deps.hub.publish(ctx.orgId, 'appointment.cancelled', { appointmentId: id });
  return toDto(result.row, (await patientIdsOf(deps.db, ctx.orgId, [id])).get(id) ?? []);
}

/** By start time, earliest first; `from`/`to` bound the start time. */
export async function listAppointments(deps: AppointmentDeps, ctx: Ctx, q: ListAppointmentsQuery): Promise<{ data: Appointment[]; nextCursor: string | null }> {
  const where: SQL[] = [eq(appointments.orgId, ctx.orgId)];
  const from = q.from ? parseInstant(q.from, 'querystring/from') : undefined;
  const to = q.to ? parseInstant(q.to, 'querystring/to') : undefined;
  if (from && to && from > to) throw new AppError('validation_failed', undefined, [{ path: 'querystring/from', message: 'must not be after "to"' }]);
  if (from) where.push(gte(appointments.startsAt, from));
  if (to) where.push(lt(appointments.startsAt, to));
  if (q.clinicianId) where.push(eq(appointments.clinicianId, q.clinicianId));
  if (q.status) where.push(eq(appointments.status, q.status));
  if (q.patientId) {
    where.push(
      sql`exists (select 1 from ${appointmentPatients} ap where ap.org_id = ${appointments.orgId} and ap.appointment_id = ${appointments.id} and ap.patient_id = ${q.patientId}::uuid)`,
    );
  }
  if (q.cursor) {
    const [at, id] = decodeCursor(q.cursor, ['instant', 'uuid']);
    where.push(sql`(${appointments.startsAt}, ${appointments.id}) > (${at}::timestamptz, ${id}::uuid)`);
  }
  const rows = await deps.db
    .select()
    .from(appointments)
    .where(and(...where))
    .orderBy(asc(appointments.startsAt), asc(appointments.id))
    .limit(q.limit + 1);
  const result = page(rows, q.limit, (r) => encodeCursor([r.startsAt.toISOString(), r.id]));
  const links = await patientIdsOf(
    deps.db,
    ctx.orgId,
    result.data.map((r) => r.id),
  );
  return { data: result.data.map((r) => toDto(r, links.get(r.id) ?? [])), nextCursor: result.nextCursor };
}
