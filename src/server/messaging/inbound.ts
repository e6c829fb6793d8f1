/**
 * Incoming texts, whichever provider received them (its webhook receiver) or the Outbox page's "reply as the
 * patient": which organisation a text belongs to (inboundOrgOf, by what received it), stored once, matched to that
 * organisation's patients by number, carrier keywords applied (STOP, START, HELP), and the unmatched inbox
 * (assignMessage files a text under a patient).
 */
import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import type { Message } from '../../shared/api/messaging.js';
import { audit } from '../audit/service.js';
import { systemCtx, type Ctx } from '../context.js';
import { sqlState, type Db } from '../db/index.js';
import { messages, messagingSettings, organizations, patientConsents, patients } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { toE164 } from '../http/phone.js';
import { keywordOf } from './keywords.js';
import type { InboundText } from './provider.js';
import { messageRow, patientRow, publish, STATUS_RANK, toMessageDto, type MessageRow, type MessagingDeps } from './messages.js';
import { insertOutbound } from './queue.js';
import { segmentsOf } from './segments.js';
import { settingsOf } from './settings.js';

export interface InboundSms {
  provider: string;
  providerMessageId: string;
  from: string;
  to: string;
  body: string;
}

/**
 * An incoming SMS for one organisation, `ctx`'s, decided by the caller (the number or sending service that received
 * it, with a system context: see inboundOrgOf; or the outbox page's signed-in caller), never by matching a patient
 * across organisations. Stored once whatever the provider's retries, matched to that organisation's patients by number,
 * carrier keywords applied (STOP revokes SMS consent and cancels queued texts, START grants it, HELP answers with
 * the organisation's help text). A sender none of its patients has lands in its unmatched inbox.
 */
export async function receiveInbound(deps: MessagingDeps, ctx: Ctx, input: InboundSms): Promise<{ message: MessageRow; duplicate: boolean }> {
  const orgId = ctx.orgId;
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
 * Keyword replies. HELP/INFO always get the organisation's help text. A provider that confirms STOP and START
 * itself (`confirmsOptOut`: its own opt-out handling, which also blocks the number at the sender) gets no
 * confirmation from us; the outbox sends them, so that a demo shows the whole exchange.
 */
async function replyToKeyword(deps: MessagingDeps, orgId: string, keyword: ReturnType<typeof keywordOf>, to: string, patientId: string | null): Promise<void> {
  if (!keyword) return;
  if (keyword !== 'help' && deps.sms.confirmsOptOut) return;
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

/** What received an incoming text: the number texted and, when it belongs to one, the sending service; and who sent it. */
export type InboundRecipient = Pick<InboundText, 'to' | 'service' | 'from'>;

/**
 * Which organisation an incoming text belongs to, by what received it, never by who sent it:
 * 1. the organisation whose own SMS number (messaging_settings.sms_number) is the number texted;
 * 2. else the organisation whose own sending service (messaging_settings.messaging_service_sid) received it;
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
    // A short code or no number: it claims nothing.
  }
  if (to) {
    const [byNumber] = await db.select({ orgId: messagingSettings.orgId }).from(messagingSettings).where(eq(messagingSettings.smsNumber, to)).limit(1);
    if (byNumber) return byNumber.orgId;
  }
  const service = input.service?.trim();
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
