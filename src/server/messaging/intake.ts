/**
 * Intake forms: an organisation's forms (fields only, no clinical logic), sent to a patient as a signed link by
 * "SMS only", "Email & SMS" or email; the patient opens the link (no account), fills the form in once, and the
 * answers are stored encrypted with the patient's record for staff to read. Opening, submitting and reading the
 * answers are audited.
 */
import { and, desc, eq, isNull } from 'drizzle-orm';
import type { Static } from 'typebox';
import type { CreateIntakeFormBody, IntakeRequest as IntakeRequestSchema, SendIntakeFormBody } from '../../shared/api/messaging.js';
import { DATE_RULE, isDate } from '../../shared/dates.js';

type IntakeRequest = Static<typeof IntakeRequestSchema>;
import { audit } from '../audit/service.js';
import { systemCtx, type Ctx } from '../context.js';
import type { Db } from '../db/index.js';
import { intakeForms, intakeRequests, organizations, patients, type IntakeField } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import type { LinkSigner } from '../visits/links.js';
import { messageIdsFor, type MessagingDeps } from './messages.js';
import { previewMessage, sendToPatient } from './queue.js';
import { defaultTemplate } from './template-store.js';

export interface IntakeDeps extends MessagingDeps {
  intakeLinks: LinkSigner;
}

type FormRow = typeof intakeForms.$inferSelect;
type RequestRow = typeof intakeRequests.$inferSelect;

function toFormDto(row: FormRow) {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    fields: row.fields,
    archived: row.archivedAt !== null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export function intakeUrl(deps: Pick<IntakeDeps, 'publicUrl' | 'intakeLinks'>, requestId: string): string {
  return `${deps.publicUrl}/intake#${deps.intakeLinks.sign(requestId)}`;
}

async function formRow(db: Db, orgId: string, id: string): Promise<FormRow> {
  const [row] = await db.select().from(intakeForms).where(and(eq(intakeForms.orgId, orgId), eq(intakeForms.id, id))).limit(1);
  if (!row) throw new AppError('not_found', 'There is no such intake form.');
  return row;
}

function checkFields(fields: IntakeField[]): void {
  const seen = new Set<string>();
  fields.forEach((f, i) => {
    if (seen.has(f.id)) throw new AppError('validation_failed', undefined, [{ path: `body/fields/${i}/id`, message: 'is used twice' }]);
    seen.add(f.id);
    if (f.type === 'choice' && !f.options?.length) throw new AppError('validation_failed', undefined, [{ path: `body/fields/${i}/options`, message: 'a choice needs options' }]);
    if (f.type !== 'choice' && f.options) throw new AppError('validation_failed', undefined, [{ path: `body/fields/${i}/options`, message: 'only a choice has options' }]);
  });
}

export async function createIntakeForm(deps: Pick<IntakeDeps, 'db'>, ctx: Ctx, body: CreateIntakeFormBody) {
  const fields = body.fields as IntakeField[];
  checkFields(fields);
  const row = await deps.db.transaction(async (tx) => {
    const [inserted] = await tx
      .insert(intakeForms)
      .values({ orgId: ctx.orgId, name: body.name.trim(), description: body.description?.trim() || null, fields })
      .returning();
    await audit(tx, ctx, 'intake_form.created', { type: 'intake_form', id: inserted!.id }, { fields: fields.length });
    return inserted!;
  });
  return toFormDto(row);
}

export async function listIntakeForms(deps: IntakeDeps, ctx: Ctx) {
  const rows = await deps.db.select().from(intakeForms).where(and(eq(intakeForms.orgId, ctx.orgId), isNull(intakeForms.archivedAt))).orderBy(intakeForms.name);
  return rows.map(toFormDto);
}

export async function getIntakeForm(deps: IntakeDeps, ctx: Ctx, id: string) {
  return toFormDto(await formRow(deps.db, ctx.orgId, id));
}

export async function archiveIntakeForm(deps: IntakeDeps, ctx: Ctx, id: string) {
  await formRow(deps.db, ctx.orgId, id);
  const row = await deps.db.transaction(async (tx) => {
    const [updated] = await tx.update(intakeForms).set({ archivedAt: new Date(), updatedAt: new Date() }).where(and(eq(intakeForms.orgId, ctx.orgId), eq(intakeForms.id, id))).returning();
    await audit(tx, ctx, 'intake_form.archived', { type: 'intake_form', id });
    return updated!;
  });
  return toFormDto(row);
}

function toRequestDto(row: RequestRow, formName: string, messageIds: string[]): IntakeRequest {
  return {
    id: row.id,
    patientId: row.patientId,
    formId: row.formId,
    formName,
    delivery: row.delivery,
    status: row.status,
    messageIds,
    expiresAt: row.expiresAt.toISOString(),
    submittedAt: row.submittedAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
  };
}

/**
 * Sends a form to a patient: the request row (and its audit) first, then one message per channel through the
 * outbox with the organisation's intake template. A channel that cannot be used (no phone, no SMS consent) fails
 * the whole send before anything is stored, with that channel's error.
 */
export async function sendIntakeForm(deps: IntakeDeps, ctx: Ctx, formId: string, body: Static<typeof SendIntakeFormBody>): Promise<IntakeRequest> {
  const form = await formRow(deps.db, ctx.orgId, formId);
  if (form.archivedAt) throw new AppError('invalid_state', 'The form is archived.');
  const [patient] = await deps.db.select().from(patients).where(and(eq(patients.orgId, ctx.orgId), eq(patients.id, body.patientId))).limit(1);
  if (!patient) throw new AppError('not_found', 'There is no such patient.');
  const channels: ('sms' | 'email')[] = body.delivery === 'sms' ? ['sms'] : body.delivery === 'email' ? ['email'] : ['email', 'sms'];
  // Check every channel before storing anything: a preview answers blockedBy without side effects.
  for (const channel of channels) {
    const preview = await previewMessage(deps, ctx, patient.id, { channel });
    if (preview.blockedBy) throw new AppError(preview.blockedBy as 'no_phone_number');
  }
  const request = await deps.db.transaction(async (tx) => {
    const [inserted] = await tx
      .insert(intakeRequests)
      .values({
        orgId: ctx.orgId,
        patientId: patient.id,
        formId,
        delivery: body.delivery,
        expiresAt: new Date(Date.now() + deps.config.intakeLinkTtlMs),
        createdByUserId: ctx.principal.kind === 'user' ? ctx.principal.userId : null,
        createdByApiKeyId: ctx.principal.kind === 'api_key' ? ctx.principal.apiKeyId : null,
      })
      .returning();
    await audit(tx, ctx, 'intake_form.sent', { type: 'patient', id: patient.id }, { intakeRequestId: inserted!.id, formId, delivery: body.delivery });
    return inserted!;
  });
  const link = intakeUrl(deps, request.id);
  const messageIds: string[] = [];
  for (const channel of channels) {
    const template = await defaultTemplate(deps.db, ctx.orgId, 'intake_form', channel);
    const { message } = await sendToPatient(
      deps,
      ctx,
      patient.id,
      { channel, values: { link } },
      { purpose: 'intake_form', intakeRequestId: request.id, idempotencyKey: `intake:${request.id}:${channel}`, template },
    );
    messageIds.push(message.id);
  }
  return { ...toRequestDto(request, form.name, messageIds), link };
}

export async function listIntakeRequests(deps: IntakeDeps, ctx: Ctx, patientId: string): Promise<IntakeRequest[]> {
  const [patient] = await deps.db.select({ id: patients.id }).from(patients).where(and(eq(patients.orgId, ctx.orgId), eq(patients.id, patientId))).limit(1);
  if (!patient) throw new AppError('not_found', 'There is no such patient.');
  const rows = await deps.db
    .select({ r: intakeRequests, name: intakeForms.name })
    .from(intakeRequests)
    .innerJoin(intakeForms, and(eq(intakeForms.orgId, intakeRequests.orgId), eq(intakeForms.id, intakeRequests.formId)))
    .where(and(eq(intakeRequests.orgId, ctx.orgId), eq(intakeRequests.patientId, patientId)))
    .orderBy(desc(intakeRequests.createdAt));
  const ids = await messageIdsFor(deps.db, ctx.orgId, rows.map((r) => r.r.id));
  return rows.map((r) => toRequestDto(r.r, r.name, ids.get(r.r.id) ?? []));
}

/** One request with the patient's answers (decrypted; reading them is audited). */
export async function getIntakeRequest(deps: IntakeDeps, ctx: Ctx, id: string): Promise<IntakeRequest> {
  const [row] = await deps.db
    .select({ r: intakeRequests, name: intakeForms.name })
    .from(intakeRequests)
    .innerJoin(intakeForms, and(eq(intakeForms.orgId, intakeRequests.orgId), eq(intakeForms.id, intakeRequests.formId)))
    .where(and(eq(intakeRequests.orgId, ctx.orgId), eq(intakeRequests.id, id)))
    .limit(1);
  if (!row) throw new AppError('not_found', 'There is no such intake request.');
  const ids = await messageIdsFor(deps.db, ctx.orgId, [id]);
  const answers = row.r.answersEnc ? (JSON.parse(deps.cipher.decrypt(row.r.answersEnc)) as Record<string, string | boolean>) : null;
  if (answers) await audit(deps.db, ctx, 'intake_form.answers_viewed', { type: 'patient', id: row.r.patientId }, { intakeRequestId: id });
  return { ...toRequestDto(row.r, row.name, ids.get(id) ?? []), answers };
}

/* ------------------------------------------------------------------------------------------------ the patient's side */

async function byToken(deps: IntakeDeps, token: string) {
  const id = deps.intakeLinks.verify(token.trim());
  if (!id) throw new AppError('intake_link_invalid');
  const [row] = await deps.db
    .select({ r: intakeRequests, form: intakeForms, orgName: organizations.name })
    .from(intakeRequests)
    .innerJoin(intakeForms, and(eq(intakeForms.orgId, intakeRequests.orgId), eq(intakeForms.id, intakeRequests.formId)))
    .innerJoin(organizations, eq(organizations.id, intakeRequests.orgId))
    .where(eq(intakeRequests.id, id))
    .limit(1);
  if (!row) throw new AppError('intake_link_invalid');
  if (row.r.status !== 'submitted' && row.r.expiresAt.getTime() < Date.now()) throw new AppError('intake_link_expired');
  return row;
}

/** What the patient's page shows: the form (never the patient's record). Opening it is audited. */
export async function openIntake(deps: IntakeDeps, token: string, ip: string | null) {
  const row = await byToken(deps, token);
  if (row.r.status === 'sent') {
    await audit(deps.db, { ...systemCtx(row.r.orgId), actor: { type: 'anonymous', id: null }, ip }, 'intake_form.viewed', { type: 'patient', id: row.r.patientId }, { intakeRequestId: row.r.id });
  }
  return { orgName: row.orgName, name: row.form.name, description: row.form.description, fields: row.form.fields, status: row.r.status };
}

export async function submitIntake(deps: IntakeDeps, token: string, answers: Record<string, string | boolean>, ip: string | null): Promise<{ status: 'submitted' }> {
  const row = await byToken(deps, token);
  if (row.r.status === 'submitted') throw new AppError('intake_already_submitted');
  const problems: { path: string; message: string }[] = [];
  const clean: Record<string, string | boolean> = {};
  for (const field of row.form.fields) {
    const v = answers[field.id];
    const empty = v === undefined || (typeof v === 'string' && v.trim() === '');
    if (empty) {
      if (field.required) problems.push({ path: `body/answers/${field.id}`, message: 'is required' });
      continue;
    }
    if (field.type === 'yesno') {
      if (typeof v !== 'boolean') problems.push({ path: `body/answers/${field.id}`, message: 'must be yes or no' });
      else clean[field.id] = v;
    } else if (typeof v !== 'string') {
      problems.push({ path: `body/answers/${field.id}`, message: 'must be text' });
    } else if (field.type === 'date' && !isDate(v.trim())) {
      // The one date rule (src/shared/dates.ts): a real calendar date, 1900 to 9999.
      problems.push({ path: `body/answers/${field.id}`, message: DATE_RULE });
    } else if (field.type === 'choice' && !field.options?.includes(v)) {
      problems.push({ path: `body/answers/${field.id}`, message: 'is not one of the choices' });
    } else clean[field.id] = v.trim();
  }
  for (const key of Object.keys(answers)) {
    if (!row.form.fields.some((f) => f.id === key)) problems.push({ path: `body/answers/${key}`, message: 'is not a field of this form' });
  }
  if (problems.length > 0) throw new AppError('validation_failed', undefined, problems);
  const ctx = { ...systemCtx(row.r.orgId), actor: { type: 'anonymous' as const, id: null }, ip };
  const done = await deps.db.transaction(async (tx) => {
    const [updated] = await tx
      .update(intakeRequests)
      .set({ status: 'submitted', submittedAt: new Date(), answersEnc: deps.cipher.encrypt(JSON.stringify(clean)) })
      .where(and(eq(intakeRequests.id, row.r.id), eq(intakeRequests.status, 'sent')))
      .returning();
    if (!updated) return false;
    await audit(tx, ctx, 'intake_form.submitted', { type: 'patient', id: row.r.patientId }, { intakeRequestId: row.r.id, answered: Object.keys(clean).length });
    return true;
  });
  if (!done) throw new AppError('intake_already_submitted');
  await deps.hub.publish(row.r.orgId, 'intake.submitted', { intakeRequestId: row.r.id, patientId: row.r.patientId, formId: row.r.formId });
  return { status: 'submitted' };
}
