import { and, asc, desc, eq, ilike, inArray, isNotNull, isNull, or, sql, type SQL } from 'drizzle-orm';
import type { Consent, CreatePatientBody, Patient, UpdatePatientBody } from '../../shared/api/patients.js';
import { BIRTH_DATE_RULE, isBirthDate } from '../../shared/dates.js';
import { audit } from '../audit/service.js';
import type { Ctx } from '../context.js';
import { sqlState, type Db } from '../db/index.js';
import { patientConsents, patients, type ConsentKind, type ConsentMethod } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { decodeCursor, encodeCursor, page } from '../http/pagination.js';
import { toE164 } from '../http/phone.js';
import { assertPrintable, assertTimeZone } from '../http/validators.js';
import type { OrgEvents } from '../realtime/events.js';

type PatientRow = typeof patients.$inferSelect;
type ConsentRow = typeof patientConsents.$inferSelect;

export interface PatientDeps {
  db: Db;
  hub: OrgEvents;
  defaultPhoneRegion: string;
  reads: PatientReads;
}

/** The hot read (one patient with the consents in force), as prepared statements built once per app. */
export interface PatientReads {
  byId(orgId: string, id: string): Promise<PatientRow | undefined>;
  consentsOf(orgId: string, id: string): Promise<ConsentRow[]>;
}

export function preparePatientReads(db: Db): PatientReads {
  const byId = db
    .select()
    .from(patients)
    .where(and(eq(patients.orgId, sql.placeholder('orgId')), eq(patients.id, sql.placeholder('id'))))
    .limit(1)
    .prepare('ov_patient_by_id');
  const consents = db
    .selectDistinctOn([patientConsents.kind])
    .from(patientConsents)
    .where(and(eq(patientConsents.orgId, sql.placeholder('orgId')), eq(patientConsents.patientId, sql.placeholder('id'))))
    .orderBy(patientConsents.kind, desc(patientConsents.recordedAt), desc(patientConsents.id))
    .prepare('ov_patient_consents_in_force');
  return {
    async byId(orgId, id) {
      return (await byId.execute({ orgId, id }))[0];
    },
    consentsOf: (orgId, id) => consents.execute({ orgId, id }),
  };
}

export function patientDeps(db: Db, hub: OrgEvents, defaultPhoneRegion: string): PatientDeps {
  return { db, hub, defaultPhoneRegion, reads: preparePatientReads(db) };
}

function toPatientDto(row: PatientRow, consents: ConsentRow[]): Patient {
  return {
    id: row.id,
    givenName: row.givenName,
    familyName: row.familyName,
    dateOfBirth: row.dateOfBirth,
    phone: row.phone,
    email: row.email,
    timeZone: row.timeZone,
    externalId: row.externalId,
    archived: row.archivedAt !== null,
    consents: consents.map((c) => ({ kind: c.kind, status: c.status, recordedAt: c.recordedAt.toISOString() })),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export function toConsentDto(row: ConsentRow): Consent {
  const recordedBy = row.recordedByUserId
    ? { type: 'user' as const, id: row.recordedByUserId }
    : row.recordedByApiKeyId
      ? { type: 'api_key' as const, id: row.recordedByApiKeyId }
      : { type: 'patient' as const, id: null };
  return {
    id: row.id,
    patientId: row.patientId,
    kind: row.kind,
    status: row.status,
    method: row.method,
    textVersion: row.textVersion,
    recordedBy,
    recordedAt: row.recordedAt.toISOString(),
  };
}

/** The consent in force per (patient, kind): the latest record. */
async function currentConsents(db: Db, orgId: string, patientIds: string[]): Promise<Map<string, ConsentRow[]>> {
  const byPatient = new Map<string, ConsentRow[]>();
  if (patientIds.length === 0) return byPatient;
  const rows = await db
    .selectDistinctOn([patientConsents.patientId, patientConsents.kind])
    .from(patientConsents)
    .where(and(eq(patientConsents.orgId, orgId), inArray(patientConsents.patientId, patientIds)))
    .orderBy(patientConsents.patientId, patientConsents.kind, desc(patientConsents.recordedAt), desc(patientConsents.id));
  for (const row of rows) {
    const list = byPatient.get(row.patientId) ?? [];
    list.push(row);
    byPatient.set(row.patientId, list);
  }
  return byPatient;
}

async function getRow(db: Db, orgId: string, id: string): Promise<PatientRow> {
  const [row] = await db.select().from(patients).where(and(eq(patients.orgId, orgId), eq(patients.id, id))).limit(1);
  if (!row) throw new AppError('not_found', 'There is no such patient.');
  return row;
}

function cleanFields(deps: PatientDeps, body: UpdatePatientBody) {
  const out: Partial<typeof patients.$inferInsert> = {};
  if (body.givenName !== undefined) {
    assertPrintable(body.givenName, 'body/givenName');
    out.givenName = body.givenName.trim();
  }
  if (body.familyName !== undefined) {
    assertPrintable(body.familyName, 'body/familyName');
    out.familyName = body.familyName.trim();
  }
  if (body.dateOfBirth !== undefined) {
    // The schema's `date` format has checked the calendar and the range; a birth date is also not in the future.
    if (body.dateOfBirth !== null && !isBirthDate(body.dateOfBirth, new Date().toISOString().slice(0, 10))) {
      throw new AppError('validation_failed', undefined, [{ path: 'body/dateOfBirth', message: BIRTH_DATE_RULE }]);
    }
    out.dateOfBirth = body.dateOfBirth;
  }
  if (body.phone !== undefined) out.phone = body.phone === null ? null : toE164(body.phone, deps.defaultPhoneRegion);
  if (body.email !== undefined) out.email = body.email === null ? null : body.email.trim().toLowerCase();
  if (body.timeZone !== undefined) {
    assertTimeZone(body.timeZone, 'body/timeZone');
    out.timeZone = body.timeZone;
  }
  if (body.externalId !== undefined) {
    if (body.externalId !== null) assertPrintable(body.externalId, 'body/externalId');
    out.externalId = body.externalId;
  }
  return out;
}

function uniqueViolation(err: unknown): never {
  if (sqlState(err) === '23505') {
    throw new AppError('already_exists', 'Another patient already has this external id.', [{ path: 'body/externalId', message: 'is already in use' }]);
  }
  throw err;
}

export async function createPatient(deps: PatientDeps, ctx: Ctx, body: CreatePatientBody): Promise<Patient> {
  const fields = cleanFields(deps, body);
  const row = await deps.db
    .transaction(async (tx) => {
      const [inserted] = await tx
        .insert(patients)
        .values({ ...fields, givenName: fields.givenName!, familyName: fields.familyName!, orgId: ctx.orgId })
        .returning();
      await audit(tx, ctx, 'patient.created', { type: 'patient', id: inserted!.id });
      return inserted!;
    })
    .catch(uniqueViolation);
  await deps.hub.publish(ctx.orgId, 'patient.created', { patientId: row.id });
  return toPatientDto(row, []);
}

export async function getPatient(deps: PatientDeps, ctx: Ctx, id: string): Promise<Patient> {
  const row = await deps.reads.byId(ctx.orgId, id);
  if (!row) throw new AppError('not_found', 'There is no such patient.');
  return toPatientDto(row, await deps.reads.consentsOf(ctx.orgId, id));
}

export async function updatePatient(deps: PatientDeps, ctx: Ctx, id: string, body: UpdatePatientBody): Promise<Patient> {
  const fields = cleanFields(deps, body);
  const row = await deps.db
    .transaction(async (tx) => {
      const current = await getRow(tx, ctx.orgId, id);
      if (current.archivedAt) throw new AppError('invalid_state', 'The patient is archived: restore them before editing.');
      const [updated] = await tx
        .update(patients)
        .set({ ...fields, updatedAt: new Date() })
        .where(and(eq(patients.orgId, ctx.orgId), eq(patients.id, id)))
        .returning();
      // Field names only: the audit log never holds the values.
      await audit(tx, ctx, 'patient.updated', { type: 'patient', id }, { fields: Object.keys(fields).sort().join(',') });
      return updated!;
    })
    .catch(uniqueViolation);
  await deps.hub.publish(ctx.orgId, 'patient.updated', { patientId: id });
  const consents = await currentConsents(deps.db, ctx.orgId, [id]);
  return toPatientDto(row, consents.get(id) ?? []);
}

export async function setPatientArchived(deps: PatientDeps, ctx: Ctx, id: string, archived: boolean): Promise<Patient> {
  const row = await deps.db.transaction(async (tx) => {
    const current = await getRow(tx, ctx.orgId, id);
    if ((current.archivedAt !== null) === archived) return current;
    const [updated] = await tx
      .update(patients)
      .set({ archivedAt: archived ? new Date() : null, updatedAt: new Date() })
      .where(and(eq(patients.orgId, ctx.orgId), eq(patients.id, id)))
      .returning();
    await audit(tx, ctx, archived ? 'patient.archived' : 'patient.restored', { type: 'patient', id });
    return updated!;
  });
  await deps.hub.publish(ctx.orgId, archived ? 'patient.archived' : 'patient.restored', { patientId: id });
  const consents = await currentConsents(deps.db, ctx.orgId, [id]);
  return toPatientDto(row, consents.get(id) ?? []);
}

export interface PatientQuery {
  q?: string | undefined;
  archived: 'true' | 'false' | 'all';
  cursor?: string | undefined;
  limit: number;
}

/** Alphabetical by family name, then given name; keyset-paginated. */
export async function listPatients(deps: PatientDeps, ctx: Ctx, query: PatientQuery): Promise<{ data: Patient[]; nextCursor: string | null }> {
  const where: SQL[] = [eq(patients.orgId, ctx.orgId)];
  if (query.archived === 'false') where.push(isNull(patients.archivedAt));
  if (query.archived === 'true') where.push(isNotNull(patients.archivedAt));
  if (query.q) {
    const term = query.q.trim();
    const pattern = `%${term.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const matches: SQL[] = [
      ilike(sql`${patients.givenName} || ' ' || ${patients.familyName}`, pattern),
      ilike(sql`${patients.familyName} || ', ' || ${patients.givenName}`, pattern),
      ilike(patients.email, pattern),
      eq(patients.externalId, term),
    ];
    const digits = term.replace(/[^\d+]/g, '');
    if (digits.replace('+', '').length >= 4) {
      let phone: string | undefined;
      try {
        phone = toE164(term, deps.defaultPhoneRegion);
      } catch {
        phone = undefined;
      }
      matches.push(phone ? eq(patients.phone, phone) : ilike(patients.phone, `%${digits.replace('+', '')}%`));
    }
    where.push(or(...matches)!);
  }
  if (query.cursor) {
    const [family, given, id] = decodeCursor(query.cursor, ['string', 'string', 'uuid']);
    where.push(sql`(${patients.familyName}, ${patients.givenName}, ${patients.id}) > (${family}, ${given}, ${id}::uuid)`);
  }
  const rows = await deps.db
    .select()
    .from(patients)
    .where(and(...where))
    .orderBy(asc(patients.familyName), asc(patients.givenName), asc(patients.id))
    .limit(query.limit + 1);
  const result = page(rows, query.limit, (r) => encodeCursor([r.familyName, r.givenName, r.id]));
  const consents = await currentConsents(
    deps.db,
    ctx.orgId,
    result.data.map((r) => r.id),
  );
  return { data: result.data.map((r) => toPatientDto(r, consents.get(r.id) ?? [])), nextCursor: result.nextCursor };
}

export async function recordConsent(
  deps: PatientDeps,
  ctx: Ctx,
  patientId: string,
  input: { kind: ConsentKind; status: 'granted' | 'revoked'; method: ConsentMethod; textVersion?: string | undefined; userAgent?: string | undefined },
): Promise<Consent> {
  const row = await deps.db.transaction(async (tx) => {
    const patient = await getRow(tx, ctx.orgId, patientId);
    if (patient.archivedAt) throw new AppError('invalid_state', 'The patient is archived: restore them first.');
    const [inserted] = await tx
      .insert(patientConsents)
      .values({
        orgId: ctx.orgId,
        patientId,
        kind: input.kind,
        status: input.status,
        method: input.method,
        textVersion: input.textVersion ?? null,
        recordedByUserId: ctx.principal.kind === 'user' ? ctx.principal.userId : null,
        recordedByApiKeyId: ctx.principal.kind === 'api_key' ? ctx.principal.apiKeyId : null,
        ip: ctx.ip,
        userAgent: input.userAgent?.slice(0, 300) ?? null,
      })
      .returning();
    await audit(tx, ctx, 'consent.recorded', { type: 'patient', id: patientId }, { consentId: inserted!.id, kind: input.kind, status: input.status, method: input.method });
    return inserted!;
  });
  await deps.hub.publish(ctx.orgId, 'consent.recorded', { patientId, consentId: row.id, kind: row.kind, status: row.status });
  return toConsentDto(row);
}

/** Every consent record of a patient, newest first (the full history, for the visit summary and audits). */
export async function listConsents(deps: PatientDeps, ctx: Ctx, patientId: string): Promise<Consent[]> {
  await getRow(deps.db, ctx.orgId, patientId);
  const rows = await deps.db
    .select()
    .from(patientConsents)
    .where(and(eq(patientConsents.orgId, ctx.orgId), eq(patientConsents.patientId, patientId)))
    .orderBy(desc(patientConsents.recordedAt), desc(patientConsents.id))
    .limit(500);
  return rows.map(toConsentDto);
}
