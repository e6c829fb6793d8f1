/**
 * Patient messaging's message rows: the dependencies every messaging module shares, the order statuses move in,
 * the API shape of a message, its hub event, and reading conversations (a patient's, the organisation's: the
 * Outbox page, the unmatched inbox, a host app's reconciliation). Queueing: queue.ts; status reports: status.ts;
 * inbound texts: inbound.ts; the outbox page's actions: outbox-page.ts; other features: notifier.ts.
 *
 * Invariants:
 * - An outbound message is a committed row (status `queued`) before any provider call; worker.ts sends it.
 * - SMS needs the patient's SMS consent in force; an opt-out (STOP, or the provider's own opt-out refusal) revokes
 *   it and refuses every later send with `recipient_opted_out` until START.
 * - `status_rank` only grows: a late or repeated report never moves a message backwards.
 * - Bodies are encrypted at rest; audit details, hub events and logs carry ids and codes only.
 */
import { and, asc, desc, eq, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import type { ListMessagesQuery, Message } from '../../shared/api/messaging.js';
import type { OrgEventType } from '../../shared/events.js';
import type { Config } from '../config.js';
import type { Ctx } from '../context.js';
import type { Db } from '../db/index.js';
import { messages, patients, type MessageChannel, type MessageStatus } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { decodeCursor, encodeCursor, page } from '../http/pagination.js';
import type { OrgEvents } from '../realtime/events.js';
import type { Cipher } from './crypto.js';
import type { MessagingProvider } from './provider.js';

export type MessageRow = typeof messages.$inferSelect;
export type PatientRow = typeof patients.$inferSelect;

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

/** The order statuses move in; the last four are final. Providers' own words are mapped by their receivers. */
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

/** SMS segments are billed both ways (SMS providers charge inbound texts too); email costs nothing here. */
export function costOf(config: Config['messaging'], channel: MessageChannel, segments: number): number {
  if (channel !== 'sms') return 0;
  return Math.round(segments * config.segmentPrice * 1e6) / 1e6;
}

export async function publish(deps: Pick<MessagingDeps, 'hub'>, orgId: string, type: OrgEventType, row: MessageRow): Promise<void> {
  await deps.hub.publish(orgId, type, {
    messageId: row.id,
    patientId: row.patientId,
    channel: row.channel,
    direction: row.direction,
    status: row.status,
    errorCode: row.errorCode,
  });
}

export async function patientRow(db: Db, orgId: string, id: string): Promise<PatientRow> {
  const [row] = await db.select().from(patients).where(and(eq(patients.orgId, orgId), eq(patients.id, id))).limit(1);
  if (!row) throw new AppError('not_found', 'There is no such patient.');
  return row;
}

export async function messageRow(db: Db, orgId: string, id: string): Promise<MessageRow> {
  const [row] = await db.select().from(messages).where(and(eq(messages.orgId, orgId), eq(messages.id, id))).limit(1);
  if (!row) throw new AppError('not_found', 'There is no such message.');
  return row;
}

/* ------------------------------------------------------------------------------------------------ reading */

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

/** Ids of messages by their intake requests. */
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
