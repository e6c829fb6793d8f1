/**
 * Queueing a message to a patient (messages.ts has the invariants): consent and address checks, the template
 * rendered, the opt-out notice on a number's first text, SMS segments, quiet hours in the patient's time zone, an
 * idempotency key; the row is committed with its audit event, then the outbox worker (worker.ts) is woken. Also a
 * preview of what a send would be, and cancelling a message that has not gone yet.
 */
import { and, eq, sql } from 'drizzle-orm';
import type { Message, SendMessageBody } from '../../shared/api/messaging.js';
import { audit } from '../audit/service.js';
import type { Ctx } from '../context.js';
import { sqlState, type Db } from '../db/index.js';
import { messages, messagingSettings, organizations, patientConsents, patients, type MessageChannel, type MessagePurpose } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { toE164 } from '../http/phone.js';
import type { Cipher } from './crypto.js';
import { costOf, messageRow, publish, STATUS_RANK, toMessageDto, type MessageRow, type MessagingDeps, type PatientRow } from './messages.js';
import { nextSendTime } from './quiet-hours.js';
import { effectiveSettings, type EffectiveSettings } from './settings.js';
import { templateRow, type TemplateRow } from './template-store.js';
import { segmentsOf } from './segments.js';
import { clinicalTermsIn, render, type TemplateValues } from './templates.js';

export interface QueueOptions {
  purpose: MessagePurpose;
  idempotencyKey?: string | undefined;
  appointmentId?: string | undefined;
  intakeRequestId?: string | undefined;
  /** Keyword replies go even without consent (the person wrote to us) and to senders who are not patients. */
  bypassConsent?: boolean;
  /** A template chosen by the server (intake links, reminders) rather than by the caller's templateId. */
  template?: Pick<TemplateRow, 'channel' | 'subject' | 'body'> | undefined;
  /** A preview: an empty body is allowed (it answers what would block a send). */
  preview?: boolean;
  /** Only worth sending until then: a message quiet hours would hold past it is not queued (invalid_state, reason quiet_hours). */
  notAfter?: Date | undefined;
}

interface Draft {
  channel: MessageChannel;
  to: string | null;
  subject: string | null;
  body: string;
  segments: number;
  encoding: string | null;
  optOutNoticeAdded: boolean;
  sendAfter: Date;
  deferred: boolean;
  blockedBy: string | null;
  urgent: boolean;
}

const OPT_OUT_NOTICE = 'Reply STOP to opt out.';

/**
 * Everything a send to a patient depends on, in one query (it runs on every send): the record, the organisation's
 * name and messaging settings, the SMS and email consents in force, and whether their number was texted before.
 */
interface Recipient {
  patient: PatientRow;
  settings: EffectiveSettings;
  consent: { sms: 'granted' | 'revoked' | null; email: 'granted' | 'revoked' | null };
  textedBefore: boolean;
}

async function recipientOf(deps: Pick<MessagingDeps, 'db' | 'config'>, orgId: string, patientId: string): Promise<Recipient> {
  const consentOf = (kind: 'sms' | 'email') =>
    sql<'granted' | 'revoked' | null>`(select c.status from ${patientConsents} c where c.org_id = ${patients.orgId} and c.patient_id = ${patients.id} and c.kind = ${kind} order by c.recorded_at desc, c.id desc limit 1)`;
  const [row] = await deps.db
    .select({
      patient: patients,
      orgName: organizations.name,
      s: messagingSettings,
      sms: consentOf('sms'),
      email: consentOf('email'),
      texted: sql<boolean>`exists (select 1 from ${messages} m where m.org_id = ${patients.orgId} and m.to_address = ${patients.phone} and m.channel = 'sms' and m.direction = 'outbound' and m.status <> 'canceled')`,
    })
    .from(patients)
    .innerJoin(organizations, eq(organizations.id, patients.orgId))
    .leftJoin(messagingSettings, eq(messagingSettings.orgId, patients.orgId))
    .where(and(eq(patients.orgId, orgId), eq(patients.id, patientId)))
    .limit(1);
  if (!row) throw new AppError('not_found', 'There is no such patient.');
  return { patient: row.patient, settings: effectiveSettings(deps.config, row.orgName, row.s), consent: { sms: row.sms, email: row.email }, textedBefore: row.texted === true };
}

/** What a send would be: rendered text, segments, cost, when it goes, and why it could not go now. */
async function draftFor(deps: MessagingDeps, ctx: Ctx, recipient: Recipient, input: SendMessageBody, options: QueueOptions, now: Date): Promise<Draft> {
  const { patient, settings } = recipient;
  let channel: MessageChannel = input.channel ?? 'sms';
  let subject = input.subject?.trim() ?? null;
  let body = input.body?.trim() ?? '';
  if (input.templateId || options.template) {
    const template = options.template ?? (await templateRow(deps.db, ctx.orgId, input.templateId!));
    if (input.channel && input.channel !== template.channel) {
      throw new AppError('validation_failed', undefined, [{ path: 'body/channel', message: `the template is for ${template.channel}` }]);
    }
    if (input.body !== undefined) throw new AppError('validation_failed', undefined, [{ path: 'body/body', message: 'give either body or templateId' }]);
    channel = template.channel;
    const values: TemplateValues = { patientFirstName: patient.givenName, orgName: settings.orgName, ...input.values };
    body = render(template.body, values);
    subject = template.subject ? render(template.subject, values) : null;
  } else if (body === '' && !options.preview) {
    throw new AppError('validation_failed', undefined, [{ path: 'body/body', message: 'give a body or a templateId' }]);
  }
  if (channel === 'email' && !subject) subject = `A message from ${settings.orgName}`;
  if (channel === 'sms') subject = null;

  let to: string | null = null;
  let blockedBy: string | null = null;
  if (channel === 'sms') {
    if (patient.phone) {
      try {
        to = toE164(patient.phone, deps.defaultPhoneRegion);
      } catch {
        to = null;
      }
    }
    if (!to) blockedBy = 'no_phone_number';
  } else {
    to = patient.email;
    if (!to) blockedBy = 'no_email_address';
  }
  if (!blockedBy && !options.bypassConsent) {
    const consent = recipient.consent[channel];
    if (consent === 'revoked') blockedBy = 'recipient_opted_out';
    else if (channel === 'sms' && consent !== 'granted') blockedBy = 'sms_consent_required';
  }
  if (!blockedBy && patient.archivedAt) blockedBy = 'invalid_state';

  let optOutNoticeAdded = false;
  if (channel === 'sms' && to && !recipient.textedBefore && !/\bSTOP\b/.test(body)) {
    body = body === '' ? OPT_OUT_NOTICE : `${body}\n${OPT_OUT_NOTICE}`;
    optOutNoticeAdded = true;
  }
  if (channel === 'sms' && body.length > 1600) {
    throw new AppError('validation_failed', undefined, [{ path: 'body/body', message: 'is longer than 1600 characters (10 SMS segments)' }]);
  }
  const seg = channel === 'sms' ? segmentsOf(body) : null;
  const urgent = input.urgent === true;
  const sendAfter = urgent ? now : nextSendTime(now, patient.timeZone, settings.quietHours);
  return {
    channel,
    to,
    subject,
    body,
    segments: seg?.segments ?? 1,
    encoding: seg?.encoding ?? null,
    optOutNoticeAdded,
    sendAfter,
    deferred: sendAfter.getTime() > now.getTime(),
    blockedBy,
    urgent,
  };
}

export async function previewMessage(deps: MessagingDeps, ctx: Ctx, patientId: string, input: SendMessageBody) {
  const d = await draftFor(deps, ctx, await recipientOf(deps, ctx.orgId, patientId), input, { purpose: 'chat', preview: true }, new Date());
  return {
    channel: d.channel,
    to: d.to,
    subject: d.subject,
    body: d.body,
    segments: d.segments,
    encoding: d.encoding ?? 'email',
    estimatedCost: costOf(deps.config, d.channel, d.segments),
    currency: deps.config.currency,
    optOutNoticeAdded: d.optOutNoticeAdded,
    sendAfter: d.sendAfter.toISOString(),
    deferredByQuietHours: d.deferred,
    phiWarnings: clinicalTermsIn(`${d.subject ?? ''} ${d.body}`),
    blockedBy: d.blockedBy,
  };
}

const BLOCKED_MESSAGES: Record<string, string | undefined> = {
  invalid_state: 'The patient is archived.',
};

/**
 * Queues a message to a patient: checks consent and address, renders, commits the row with its audit event, then
 * wakes the worker. With an idempotency key, repeating the call returns the first message.
 */
export async function sendToPatient(deps: MessagingDeps, ctx: Ctx, patientId: string, input: SendMessageBody, options: QueueOptions): Promise<{ message: Message; created: boolean }> {
  if (options.idempotencyKey) {
    const existing = await byIdempotencyKey(deps.db, ctx.orgId, options.idempotencyKey);
    if (existing) return { message: toMessageDto(deps, existing), created: false };
  }
  const d = await draftFor(deps, ctx, await recipientOf(deps, ctx.orgId, patientId), input, options, new Date());
  if (d.blockedBy) {
    throw new AppError(d.blockedBy as 'no_phone_number', BLOCKED_MESSAGES[d.blockedBy], d.blockedBy === 'invalid_state' ? { reason: 'archived' } : undefined);
  }
  if (options.notAfter && d.sendAfter.getTime() > options.notAfter.getTime()) {
    throw new AppError('invalid_state', 'Quiet hours would hold the message past the moment it is for: it was not queued.', { reason: 'quiet_hours', sendAfter: d.sendAfter.toISOString() });
  }
  let row: MessageRow;
  try {
    row = await deps.db.transaction(async (tx) => {
      const inserted = await insertOutbound(tx, ctx, { ...d, to: d.to! }, { ...options, patientId, provider: (d.channel === 'sms' ? deps.sms : deps.email).name }, deps.cipher);
      await audit(tx, ctx, 'message.queued', { type: 'patient', id: patientId }, {
        messageId: inserted.id,
        channel: d.channel,
        purpose: options.purpose,
        segments: d.segments,
        deferred: d.deferred,
        urgent: d.urgent,
      });
      return inserted;
    });
  } catch (err) {
    if (options.idempotencyKey && sqlState(err) === '23505') {
      const existing = await byIdempotencyKey(deps.db, ctx.orgId, options.idempotencyKey);
      if (existing) return { message: toMessageDto(deps, existing), created: false };
    }
    throw err;
  }
  await publish(deps, ctx.orgId, 'message.created', row);
  deps.kick();
  return { message: toMessageDto(deps, row), created: true };
}

async function byIdempotencyKey(db: Db, orgId: string, key: string): Promise<MessageRow | undefined> {
  const [row] = await db.select().from(messages).where(and(eq(messages.orgId, orgId), eq(messages.idempotencyKey, key))).limit(1);
  return row;
}

export async function insertOutbound(
  tx: Db,
  ctx: Ctx,
  d: Pick<Draft, 'channel' | 'subject' | 'body' | 'segments' | 'encoding' | 'sendAfter' | 'urgent'> & { to: string },
  o: QueueOptions & { patientId: string | null; provider: string },
  cipher: Cipher,
): Promise<MessageRow> {
  const p = ctx.principal;
  const [row] = await tx
    .insert(messages)
    .values({
      orgId: ctx.orgId,
      patientId: o.patientId,
      direction: 'outbound',
      channel: d.channel,
      purpose: o.purpose,
      toAddress: d.to,
      subjectEnc: d.subject ? cipher.encrypt(d.subject) : null,
      bodyEnc: cipher.encrypt(d.body),
      status: 'queued',
      statusRank: STATUS_RANK.queued,
      urgent: d.urgent,
      provider: o.provider,
      segments: d.segments,
      encoding: d.encoding,
      sendAfter: d.sendAfter,
      idempotencyKey: o.idempotencyKey ?? null,
      appointmentId: o.appointmentId ?? null,
      intakeRequestId: o.intakeRequestId ?? null,
      createdByUserId: p.kind === 'user' ? p.userId : null,
      createdByApiKeyId: p.kind === 'api_key' ? p.apiKeyId : null,
    })
    .returning();
  return row!;
}

/** Cancels a message that has not gone yet (waiting for quiet hours to end, or a retry). */
export async function cancelMessage(deps: MessagingDeps, ctx: Ctx, id: string): Promise<Message> {
  const row = await deps.db.transaction(async (tx) => {
    const [updated] = await tx
      .update(messages)
      .set({ status: 'canceled', statusRank: STATUS_RANK.canceled, updatedAt: new Date(), lockedUntil: null })
      .where(and(eq(messages.orgId, ctx.orgId), eq(messages.id, id), eq(messages.status, 'queued')))
      .returning();
    if (!updated) {
      const current = await messageRow(tx, ctx.orgId, id);
      throw new AppError('invalid_state', `The message is ${current.status}: only a queued message can be cancelled.`, { status: current.status });
    }
    await audit(tx, ctx, 'message.canceled', { type: 'patient', id: updated.patientId ?? updated.id }, { messageId: id });
    return updated;
  });
  await publish(deps, ctx.orgId, 'message.updated', row);
  return toMessageDto(deps, row);
}

