/**
 * Patient messaging: conversations (SMS and email, both directions), the outbox rows the worker sends, status
 * reports from providers, inbound messages and carrier keywords, the outbox page (templates: template-store.ts;
 * settings: settings.ts).
 *
 * Invariants:
 * - An outbound message is a committed row (status `queued`) before any provider call; worker.ts sends it.
 * - SMS needs the patient's SMS consent in force; an opt-out (STOP, or Twilio's 21610) revokes it and refuses
 *   every later send with `recipient_opted_out` until START.
 * - `status_rank` only grows: a late or repeated report never moves a message backwards.
 * - Bodies are encrypted at rest; audit details, hub events and logs carry ids and codes only.
 */
import { randomBytes } from 'node:crypto';
import { and, asc, desc, eq, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import type {
  ListMessagesQuery,
  Message,
  SendMessageBody,
} from '../../shared/api/messaging.js';
import type { OrgEventType } from '../../shared/events.js';
import { audit } from '../audit/service.js';
import type { Config } from '../config.js';
import { systemCtx, type Ctx } from '../context.js';
import { sqlState, type Db } from '../db/index.js';
import {
  messages,
  messagingSettings,
  organizations,
  patientConsents,
  patients,
  type MessageChannel,
  type MessagePurpose,
  type MessageStatus,
} from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { decodeCursor, encodeCursor, page } from '../http/pagination.js';
import { toE164 } from '../http/phone.js';
import type { OrgEvents } from '../realtime/events.js';
import type { Cipher } from './crypto.js';
import { keywordOf } from './keywords.js';
import type { MessagingProvider } from './provider.js';
import { nextSendTime } from './quiet-hours.js';
import { effectiveSettings, settingsOf, type EffectiveSettings } from './settings.js';
import { defaultTemplate, templateRow, type TemplateRow } from './template-store.js';
import { segmentsOf } from './segments.js';
import { clinicalTermsIn, render, type TemplateValues } from './templates.js';

export type MessageRow = typeof messages.$inferSelect;
type PatientRow = typeof patients.$inferSelect;

export interface MessagingDeps {
  db: Db;
  hub: OrgEvents;
  config: Config['messaging'];
  publicUrl: string;
  defaultPhoneRegion: string;
  cipher: Cipher;
  sms: MessagingProvider;
  email: MessagingProvider;
  /** Wakes the outbox worker (set once the worker runs). */
  kick: () => void;
}

/** The order statuses move in; the last four are final. Twilio's own statuses map onto ours (statusFromProvider). */
export const STATUS_RANK: Record<MessageStatus, number> = {
  queued: 0,
  sending: 1,
  sent: 2,
  delivered: 3,
  undelivered: 3,
  failed: 3,
  canceled: 3,
  received: 3,
};

/** A provider's status word as ours (Twilio: queued/accepted/scheduled are still on their way). */
export function statusFromProvider(status: string): MessageStatus | null {
  switch (status) {
    case 'accepted':
    case 'queued':
    case 'scheduled':
    case 'sending':
      return 'sending';
    case 'sent':
      return 'sent';
    case 'delivered':
    case 'read':
      return 'delivered';
    case 'undelivered':
      return 'undelivered';
    case 'failed':
      return 'failed';
    case 'canceled':
      return 'canceled';
    default:
      return null;
  }
}

/** Twilio's error codes, said for people (the ones a clinic meets). */
const ERROR_REASONS: Record<string, string> = {
  '21211': 'The phone number is not valid.',
  '21408': 'Texts to this region are not enabled for the account.',
  '21608': 'A trial account can only text verified numbers.',
  '21610': 'The patient replied STOP: they have opted out of texts.',
  '21614': 'The number cannot receive texts (not a mobile number).',
  '21635': 'The number is a landline.',
  '30003': 'The phone is off or out of reach.',
  '30004': 'The recipient blocked messages.',
  '30005': 'The number does not exist or is no longer in service.',
  '30006': 'The number is a landline or the carrier cannot deliver texts to it.',
  '30007': 'The carrier filtered the message.',
  '30008': 'The carrier did not say why it was not delivered.',
};
export function errorReasonOf(code: string | null | undefined, fallback?: string | null): string | null {
  if (!code) return fallback ?? null;
  return ERROR_REASONS[code] ?? fallback ?? `Provider error ${code}.`;
}

/* ------------------------------------------------------------------------------------------------ DTOs */

export function toMessageDto(deps: Pick<MessagingDeps, 'cipher' | 'config'>, row: MessageRow): Message {
  return {
    id: row.id,
    patientId: row.patientId,
    direction: row.direction,
    channel: row.channel,
    purpose: row.purpose,
    to: row.toAddress,
    from: row.fromAddress,
    subject: row.subjectEnc ? deps.cipher.decrypt(row.subjectEnc) : null,
    body: deps.cipher.decrypt(row.bodyEnc),
    status: row.status,
    urgent: row.urgent,
    provider: row.provider,
    providerMessageId: row.providerMessageId,
    errorCode: row.errorCode,
    errorReason: row.errorReason,
    segments: row.segments,
    encoding: row.encoding,
    estimatedCost: costOf(deps.config, row.channel, row.segments),
    currency: deps.config.currency,
    attempts: row.attempts,
    sendAfter: row.sendAfter.toISOString(),
    createdBy: row.createdByUserId ? { type: 'user', id: row.createdByUserId } : row.createdByApiKeyId ? { type: 'api_key', id: row.createdByApiKeyId } : null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    sentAt: row.sentAt?.toISOString() ?? null,
    deliveredAt: row.deliveredAt?.toISOString() ?? null,
    failedAt: row.failedAt?.toISOString() ?? null,
  };
}

/** SMS segments are billed both ways (Twilio charges inbound texts too); email costs nothing here. */
function costOf(config: Config['messaging'], channel: MessageChannel, segments: number): number {
  if (channel !== 'sms') return 0;
  return Math.round(segments * config.segmentPrice * 1e6) / 1e6;
}

async function publish(deps: Pick<MessagingDeps, 'hub'>, orgId: string, type: OrgEventType, row: MessageRow): Promise<void> {
  await deps.hub.publish(orgId, type, {
    messageId: row.id,
    patientId: row.patientId,
    channel: row.channel,
    direction: row.direction,
    status: row.status,
    errorCode: row.errorCode,
  });
}

/* ------------------------------------------------------------------------------------------------ sending */

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

async function patientRow(db: Db, orgId: string, id: string): Promise<PatientRow> {
  const [row] = await db.select().from(patients).where(and(eq(patients.orgId, orgId), eq(patients.id, id))).limit(1);
  if (!row) throw new AppError('not_found', 'There is no such patient.');
  return row;
}

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

async function insertOutbound(
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

/* ------------------------------------------------------------------------------------------------ reading */

async function messageRow(db: Db, orgId: string, id: string): Promise<MessageRow> {
  const [row] = await db.select().from(messages).where(and(eq(messages.orgId, orgId), eq(messages.id, id))).limit(1);
  if (!row) throw new AppError('not_found', 'There is no such message.');
  return row;
}

export async function getMessage(deps: MessagingDeps, ctx: Ctx, id: string): Promise<Message> {
  return toMessageDto(deps, await messageRow(deps.db, ctx.orgId, id));
}

/** A patient's conversation, newest first, a page at a time (`before` = the previous page's nextCursor). */
export async function listPatientMessages(deps: MessagingDeps, ctx: Ctx, patientId: string, q: { before?: string | undefined; limit: number }) {
  await patientRow(deps.db, ctx.orgId, patientId);
  return messagePage(deps, [eq(messages.orgId, ctx.orgId), eq(messages.patientId, patientId)], q.before, q.limit);
}

/** A page of messages, newest first; `cursor` is the previous page's nextCursor (older messages). */
async function messagePage(deps: MessagingDeps, where: SQL[], cursor: string | undefined, limit: number) {
  if (cursor) {
    const [at, id] = decodeCursor(cursor, ['instant', 'uuid']);
    where.push(sql`(${messages.createdAt}, ${messages.id}) < (${at}::timestamptz, ${id}::uuid)`);
  }
  const rows = await deps.db
    .select()
    .from(messages)
    .where(and(...where))
    .orderBy(desc(messages.createdAt), desc(messages.id))
    .limit(limit + 1);
  const result = page(rows, limit, (r) => encodeCursor([r.createdAt.toISOString(), r.id]));
  return { data: result.data.map((r) => toMessageDto(deps, r)), nextCursor: result.nextCursor };
}

/** The organisation's messages, newest first: the Outbox page, the unmatched inbox, a host app's reconciliation. */
export async function listMessages(deps: MessagingDeps, ctx: Ctx, q: ListMessagesQuery) {
  const where: SQL[] = [eq(messages.orgId, ctx.orgId)];
  if (q.status) where.push(eq(messages.status, q.status));
  if (q.direction) where.push(eq(messages.direction, q.direction));
  if (q.channel) where.push(eq(messages.channel, q.channel));
  if (q.provider) where.push(eq(messages.provider, q.provider));
  if (q.unmatched) where.push(eq(messages.direction, 'inbound'), isNull(messages.patientId));
  return messagePage(deps, where, q.cursor, q.limit);
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

/** Files an unmatched inbound message (and every other unmatched one from the same number) under a patient. */
export async function assignMessage(deps: MessagingDeps, ctx: Ctx, id: string, patientId: string): Promise<Message> {
  const patient = await patientRow(deps.db, ctx.orgId, patientId);
  const rows = await deps.db.transaction(async (tx) => {
    const current = await messageRow(tx, ctx.orgId, id);
    if (current.direction !== 'inbound' || current.patientId !== null) {
      throw new AppError('invalid_state', 'Only an unmatched incoming message can be assigned.');
    }
    const updated = await tx
      .update(messages)
      .set({ patientId: patient.id, updatedAt: new Date() })
      .where(and(eq(messages.orgId, ctx.orgId), eq(messages.direction, 'inbound'), isNull(messages.patientId), eq(messages.fromAddress, current.fromAddress!)))
      .returning();
    for (const r of updated) await audit(tx, ctx, 'message.assigned', { type: 'patient', id: patient.id }, { messageId: r.id });
    return updated;
  });
  for (const r of rows) await publish(deps, ctx.orgId, 'message.updated', r);
  return toMessageDto(deps, rows.find((r) => r.id === id)!);
}

/* ------------------------------------------------------------------------------------------------ status reports */

export interface StatusReport {
  provider: string;
  providerMessageId: string;
  /** Our id when the provider echoes it (the StatusCallback URL carries it): a report may beat the send's answer. */
  messageId?: string | undefined;
  status: MessageStatus;
  errorCode?: string | null | undefined;
  errorReason?: string | null | undefined;
  /** Who reported (a provider webhook, the outbox page): for the audit. */
  ctx?: Ctx | undefined;
}

/**
 * Applies a provider's status report. Returns the message, or null when it moved nothing (a duplicate, a report
 * that arrives after a later one, or a message we do not know).
 */
export async function applyStatus(deps: Pick<MessagingDeps, 'db' | 'hub'>, report: StatusReport): Promise<MessageRow | null> {
  const rank = STATUS_RANK[report.status];
  const now = new Date();
  const failed = report.status === 'failed' || report.status === 'undelivered';
  // Only the message the report names: by our id (from the callback URL) it must also be this provider's, and
  // carry this provider id or none yet that another message holds; else by the provider's id alone.
  const match = report.messageId
    ? and(
        eq(messages.id, report.messageId),
        eq(messages.provider, report.provider),
        sql`(${messages.providerMessageId} = ${report.providerMessageId} or (${messages.providerMessageId} is null and not exists (select 1 from ${messages} o where o.provider = ${report.provider} and o.provider_message_id = ${report.providerMessageId})))`,
      )
    : and(eq(messages.provider, report.provider), eq(messages.providerMessageId, report.providerMessageId));
  const row = await deps.db.transaction(async (tx) => {
    const [updated] = await tx
      .update(messages)
      .set({
        status: report.status,
        statusRank: rank,
        providerMessageId: sql`coalesce(${messages.providerMessageId}, ${report.providerMessageId})`,
        errorCode: failed ? (report.errorCode ?? null) : sql`${messages.errorCode}`,
        errorReason: failed ? errorReasonOf(report.errorCode, report.errorReason) : sql`${messages.errorReason}`,
        sentAt: rank >= STATUS_RANK.sent && report.status !== 'canceled' ? sql`coalesce(${messages.sentAt}, ${now})` : sql`${messages.sentAt}`,
        deliveredAt: report.status === 'delivered' ? now : sql`${messages.deliveredAt}`,
        failedAt: failed ? now : sql`${messages.failedAt}`,
        updatedAt: now,
      })
      .where(and(match, eq(messages.direction, 'outbound'), sql`${messages.statusRank} < ${rank}`))
      .returning();
    if (!updated) return null;
    await audit(tx, report.ctx ?? systemCtx(updated.orgId), 'message.status_changed', { type: 'patient', id: updated.patientId ?? updated.id }, {
      messageId: updated.id,
      status: updated.status,
      errorCode: updated.errorCode,
      provider: report.provider,
    });
    return updated;
  });
  if (row) await publish(deps, row.orgId, 'message.updated', row);
  return row;
}

/* ------------------------------------------------------------------------------------------------ inbound */

export interface InboundSms {
  provider: string;
  providerMessageId: string;
  from: string;
  to: string;
  body: string;
}

/**
 * An incoming SMS for one organisation, decided by the caller (the number or messaging service that received it,
 * or the outbox page's signed-in organisation: see inboundOrgOf), never by matching a patient across
 * organisations. Stored once whatever the provider's retries, matched to that organisation's patients by number,
 * carrier keywords applied (STOP revokes SMS consent and cancels queued texts, START grants it, HELP answers with
 * the organisation's help text). A sender none of its patients has lands in its unmatched inbox.
 */
export async function receiveInbound(deps: MessagingDeps, orgId: string, input: InboundSms, actor?: Ctx): Promise<{ message: MessageRow; duplicate: boolean }> {
  const [seen] = await deps.db
    .select()
    .from(messages)
    .where(and(eq(messages.provider, input.provider), eq(messages.providerMessageId, input.providerMessageId)))
    .limit(1);
  if (seen) return { message: seen, duplicate: true };
  let from = input.from.trim();
  try {
    from = toE164(from, deps.defaultPhoneRegion);
  } catch {
    // Keep what the carrier sent (a short code, an alphanumeric sender): it is still a conversation.
  }
  const patientIds = await patientsWithNumber(deps.db, orgId, from);
  const matched = patientIds.length === 1 ? patientIds[0]! : null;
  const keyword = keywordOf(input.body);
  const ctx = actor && actor.orgId === orgId ? actor : systemCtx(orgId);
  const seg = segmentsOf(input.body);
  let canceled: MessageRow[] = [];
  const consents: { patientId: string; consentId: string; status: 'granted' | 'revoked' }[] = [];
  let row: MessageRow;
  try {
    row = await deps.db.transaction(async (tx) => {
      const [inserted] = await tx
        .insert(messages)
        .values({
          orgId,
          patientId: matched,
          direction: 'inbound',
          channel: 'sms',
          purpose: keyword ? 'keyword_reply' : 'chat',
          toAddress: input.to,
          fromAddress: from,
          bodyEnc: deps.cipher.encrypt(input.body),
          status: 'received',
          statusRank: STATUS_RANK.received,
          provider: input.provider,
          providerMessageId: input.providerMessageId,
          segments: seg.segments,
          encoding: seg.encoding,
          sentAt: new Date(),
        })
        .returning();
      await audit(tx, ctx, 'message.received', { type: 'patient', id: matched ?? inserted!.id }, { messageId: inserted!.id, matched: matched !== null, keyword });
      if (keyword === 'opt_out' || keyword === 'opt_in') {
        // Every patient of this organisation with the number: a family sharing a phone shares its consent.
        for (const patientId of patientIds) {
          const [consent] = await tx
            .insert(patientConsents)
            .values({ orgId, patientId, kind: 'sms', status: keyword === 'opt_out' ? 'revoked' : 'granted', method: 'sms', textVersion: `keyword:${keywordOf(input.body)}` })
            .returning();
          await audit(tx, ctx, 'consent.recorded', { type: 'patient', id: patientId }, { consentId: consent!.id, kind: 'sms', status: consent!.status, method: 'sms' });
          await audit(tx, ctx, keyword === 'opt_out' ? 'message.opted_out' : 'message.opted_in', { type: 'patient', id: patientId }, { messageId: inserted!.id });
          consents.push({ patientId, consentId: consent!.id, status: consent!.status });
        }
        if (keyword === 'opt_out') {
          canceled = await tx
            .update(messages)
            .set({ status: 'canceled', statusRank: STATUS_RANK.canceled, errorCode: 'recipient_opted_out', errorReason: 'The patient replied STOP.', updatedAt: new Date() })
            .where(and(eq(messages.orgId, orgId), eq(messages.channel, 'sms'), eq(messages.direction, 'outbound'), eq(messages.toAddress, from), eq(messages.status, 'queued')))
            .returning();
          for (const c of canceled) await audit(tx, ctx, 'message.canceled', { type: 'patient', id: c.patientId ?? c.id }, { messageId: c.id, reason: 'opted_out' });
        }
      }
      return inserted!;
    });
  } catch (err) {
    if (sqlState(err) === '23505') {
      const [again] = await deps.db.select().from(messages).where(and(eq(messages.provider, input.provider), eq(messages.providerMessageId, input.providerMessageId))).limit(1);
      if (again) return { message: again, duplicate: true };
    }
    throw err;
  }
  await publish(deps, orgId, 'message.received', row);
  for (const c of canceled) await publish(deps, orgId, 'message.updated', c);
  for (const c of consents) await deps.hub.publish(orgId, 'consent.recorded', { patientId: c.patientId, consentId: c.consentId, kind: 'sms', status: c.status });
  await replyToKeyword(deps, orgId, keyword, from, matched);
  return { message: row, duplicate: false };
}

/**
 * Keyword replies. HELP/INFO always get the organisation's help text. Twilio confirms STOP and START itself
 * (its default opt-out handling, which also blocks the number at the sender), so only the outbox sends those
 * confirmations, so that a demo shows the whole exchange.
 */
async function replyToKeyword(deps: MessagingDeps, orgId: string, keyword: ReturnType<typeof keywordOf>, to: string, patientId: string | null): Promise<void> {
  if (!keyword) return;
  if (keyword !== 'help' && deps.sms.name !== 'outbox') return;
  const settings = await settingsOf(deps, orgId);
  const text =
    keyword === 'help'
      ? settings.helpText
      : keyword === 'opt_out'
        ? `${settings.orgName}: you are unsubscribed and will receive no more texts. Reply START to subscribe again.`
        : `${settings.orgName}: you are subscribed again. Reply STOP to opt out, HELP for help.`;
  const seg = segmentsOf(text);
  const ctx = systemCtx(orgId);
  const row = await deps.db.transaction(async (tx) => {
    const inserted = await insertOutbound(
      tx,
      ctx,
      { channel: 'sms', subject: null, body: text, segments: seg.segments, encoding: seg.encoding, sendAfter: new Date(), urgent: true, to },
      { purpose: 'keyword_reply', patientId, provider: deps.sms.name },
      deps.cipher,
    );
    await audit(tx, ctx, 'message.queued', { type: 'patient', id: patientId ?? inserted.id }, { messageId: inserted.id, channel: 'sms', purpose: 'keyword_reply', segments: seg.segments, deferred: false, urgent: true });
    return inserted;
  });
  await publish(deps, orgId, 'message.created', row);
  deps.kick();
}

/** This organisation's (not archived) patients with the number: none or several leave the message unmatched. */
async function patientsWithNumber(db: Db, orgId: string, from: string): Promise<string[]> {
  const rows = await db
    .select({ id: patients.id })
    .from(patients)
    .where(and(eq(patients.orgId, orgId), eq(patients.phone, from), isNull(patients.archivedAt)));
  return rows.map((r) => r.id);
}

/** What received an incoming text: the number texted (`To`) and, when it belongs to one, the messaging service. */
export interface InboundRecipient {
  to: string;
  messagingServiceSid?: string | undefined;
  from: string;
}

/**
 * Which organisation an incoming text belongs to, by what received it, never by who sent it:
 * 1. the organisation whose own SMS number (messaging_settings.sms_number) is the `To` number;
 * 2. else the organisation whose own messaging service (messaging_settings.messaging_service_sid) received it;
 * 3. else (the installation's configured number or service): the only organisation, if there is one;
 *    else the organisation that last texted this sender from that same number or service (the conversation the
 *    text answers);
 *    else the oldest organisation (its unmatched inbox: a single-clinic default).
 */
export async function inboundOrgOf(deps: Pick<MessagingDeps, 'db' | 'defaultPhoneRegion'>, input: InboundRecipient): Promise<string> {
  const db = deps.db;
  let to = input.to.trim();
  try {
    to = toE164(to, deps.defaultPhoneRegion);
  } catch {
    // A short code or an empty To: it claims nothing.
  }
  if (to) {
    const [byNumber] = await db.select({ orgId: messagingSettings.orgId }).from(messagingSettings).where(eq(messagingSettings.smsNumber, to)).limit(1);
    if (byNumber) return byNumber.orgId;
  }
  const service = input.messagingServiceSid?.trim();
  if (service) {
    const [byService] = await db.select({ orgId: messagingSettings.orgId }).from(messagingSettings).where(eq(messagingSettings.messagingServiceSid, service)).limit(1);
    if (byService) return byService.orgId;
  }
  const orgs = await db.select({ id: organizations.id }).from(organizations).orderBy(asc(organizations.createdAt), asc(organizations.id)).limit(2);
  if (orgs.length === 0) throw new AppError('not_found', 'There is no organisation to receive messages.');
  if (orgs.length === 1) return orgs[0]!.id;
  let from = input.from.trim();
  try {
    from = toE164(from, deps.defaultPhoneRegion);
  } catch {
    // As receiveInbound keeps it.
  }
  const senders = [to, service].filter((v): v is string => !!v);
  if (senders.length > 0) {
    // Per organisation through messages_to_idx (org_id, to_address, created_at), newest first.
    const lastAt = sql<Date | null>`(select m.created_at from ${messages} m where m.org_id = ${organizations.id} and m.to_address = ${from} and m.direction = 'outbound' and m.channel = 'sms' and m.from_address in (${sql.join(senders.map((v) => sql`${v}`), sql`, `)}) order by m.created_at desc limit 1)`;
    const [last] = await db
      .select({ orgId: organizations.id, at: lastAt })
      .from(organizations)
      .where(sql`${lastAt} is not null`)
      .orderBy(sql`2 desc`)
      .limit(1);
    if (last) return last.orgId;
  }
  return orgs[0]!.id;
}

/* ------------------------------------------------------------------------------------------------ the outbox page */

function assertOutbox(row: MessageRow): void {
  if (row.provider !== 'outbox') throw new AppError('outbox_disabled', 'This message went through a real provider: its status comes from there.');
}

/** The Outbox page marks a message as the carrier would have (delivered, undelivered with 30006…). */
export async function setOutboxStatus(deps: MessagingDeps, ctx: Ctx, id: string, status: 'sent' | 'delivered' | 'undelivered' | 'failed', errorCode?: string): Promise<Message> {
  const row = await messageRow(deps.db, ctx.orgId, id);
  assertOutbox(row);
  if (!row.providerMessageId) throw new AppError('invalid_state', 'The message has not been sent yet.', { status: row.status });
  const updated = await applyStatus(deps, { provider: 'outbox', providerMessageId: row.providerMessageId, status, errorCode: errorCode ?? (status === 'delivered' || status === 'sent' ? null : '30008'), ctx });
  if (!updated) {
    // A carrier's late report changes nothing either; the page is told, so a click never silently does nothing.
    const current = await messageRow(deps.db, ctx.orgId, id);
    throw new AppError('invalid_state', `The message is already ${current.status}: a status never moves backwards.`, { status: current.status });
  }
  return toMessageDto(deps, updated);
}

/**
 * The Outbox page's "reply as the patient": the same path as a provider's inbound webhook, always into the
 * caller's organisation (matched only against its patients; an unknown number goes to its unmatched inbox), so
 * the answer is the same whatever other organisations know about the number.
 */
export async function injectOutboxReply(deps: MessagingDeps, ctx: Ctx, from: string, body: string): Promise<Message> {
  if (deps.sms.name !== 'outbox') throw new AppError('outbox_disabled');
  const number = toE164(from, deps.defaultPhoneRegion, 'body/from');
  const { message } = await receiveInbound(
    deps,
    ctx.orgId,
    { provider: 'outbox', providerMessageId: `OI${randomBytes(16).toString('hex')}`, from: number, to: 'outbox', body },
    ctx,
  );
  return toMessageDto(deps, message);
}

/** Ids of messages by their ids (for intake requests). */
export async function messageIdsFor(db: Db, orgId: string, intakeRequestIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (intakeRequestIds.length === 0) return out;
  const rows = await db
    .select({ id: messages.id, req: messages.intakeRequestId })
    .from(messages)
    .where(and(eq(messages.orgId, orgId), inArray(messages.intakeRequestId, intakeRequestIds)))
    .orderBy(asc(messages.createdAt));
  for (const r of rows) out.set(r.req!, [...(out.get(r.req!) ?? []), r.id]);
  return out;
}

/* ------------------------------------------------------------------------------------------------ for other features */

/** How other features (visit invites, check-in notices) text or email a patient with one of the organisation's templates. */
export interface PatientNotifier {
  /** Why the patient cannot be reached on this channel now (no_phone_number, sms_consent_required…), or null. */
  blockedBy(ctx: Ctx, patientId: string, channel: MessageChannel): Promise<string | null>;
  send(
    ctx: Ctx,
    patientId: string,
    purpose: Exclude<TemplateRow['purpose'], 'custom'>,
    channel: MessageChannel,
    values: TemplateValues,
    options?: { urgent?: boolean; idempotencyKey?: string; appointmentId?: string },
  ): Promise<Message>;
}

export function patientNotifier(deps: MessagingDeps): PatientNotifier {
  return {
    async blockedBy(ctx, patientId, channel) {
      return (await previewMessage(deps, ctx, patientId, { channel })).blockedBy;
    },
    async send(ctx, patientId, purpose, channel, values, options = {}) {
      const template = await defaultTemplate(deps.db, ctx.orgId, purpose, channel);
      const { link, appointmentDate, appointmentTime, clinicianName } = values;
      const { message } = await sendToPatient(
        deps,
        ctx,
        patientId,
        { channel, urgent: options.urgent === true, values: { ...(link ? { link } : {}), ...(appointmentDate ? { appointmentDate } : {}), ...(appointmentTime ? { appointmentTime } : {}), ...(clinicianName ? { clinicianName } : {}) } },
        { purpose, template, idempotencyKey: options.idempotencyKey, appointmentId: options.appointmentId },
      );
      return message;
    },
  };
}
