/**
 * Status reports on outbound messages, from whichever provider sent them (its webhook receiver, the outbox's own
 * timer, the Outbox page), in our words: `status_rank` only grows, so a late or repeated report never moves a
 * message backwards. A report that the recipient opted out with the provider revokes their SMS consent, as the
 * worker does when a send is refused for that reason.
 */
import { and, eq, sql } from 'drizzle-orm';
import { audit } from '../audit/service.js';
import { systemCtx, type Ctx } from '../context.js';
import type { Db } from '../db/index.js';
import { messages, patientConsents } from '../db/schema.js';
import { publish, STATUS_RANK, type MessageRow, type MessagingDeps } from './messages.js';
import type { ReportedStatus } from './provider.js';

export interface StatusReport {
  provider: string;
  providerMessageId: string;
  /** Our id when the provider echoes it (its callback URL carries it): a report may beat the send's answer. */
  messageId?: string | undefined;
  status: ReportedStatus;
  errorCode?: string | null | undefined;
  /** The error said for people, when the provider knows the code (else "Provider error <code>."). */
  errorReason?: string | null | undefined;
  /** The recipient opted out with the provider: their SMS consent is revoked. */
  optedOut?: boolean | undefined;
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
  const errorCode = report.errorCode ?? null;
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
        errorCode: failed ? errorCode : sql`${messages.errorCode}`,
        errorReason: failed ? (report.errorReason ?? (errorCode ? `Provider error ${errorCode}.` : null)) : sql`${messages.errorReason}`,
        sentAt: rank >= STATUS_RANK.sent && report.status !== 'canceled' ? sql`coalesce(${messages.sentAt}, ${now})` : sql`${messages.sentAt}`,
        deliveredAt: report.status === 'delivered' ? now : sql`${messages.deliveredAt}`,
        failedAt: failed ? now : sql`${messages.failedAt}`,
        updatedAt: now,
      })
      .where(and(match, eq(messages.direction, 'outbound'), sql`${messages.statusRank} < ${rank}`))
      .returning();
    if (!updated) return null;
    const ctx = report.ctx ?? systemCtx(updated.orgId);
    await audit(tx, ctx, 'message.status_changed', { type: 'patient', id: updated.patientId ?? updated.id }, {
      messageId: updated.id,
      status: updated.status,
      errorCode: updated.errorCode,
      provider: report.provider,
    });
    if (failed && report.optedOut) await recordProviderOptOut(tx, ctx, updated, errorCode ?? 'opted_out');
    return updated;
  });
  if (row) await publish(deps, row.orgId, 'message.updated', row);
  return row;
}

/**
 * The provider's own opt-out block (a send refused, or a message failed, because the recipient opted out with it):
 * our consent ledger follows, so nothing else is queued to them. In the caller's transaction.
 */
export async function recordProviderOptOut(tx: Db, ctx: Ctx, row: Pick<MessageRow, 'id' | 'orgId' | 'patientId' | 'channel'>, code: string): Promise<void> {
  if (!row.patientId || row.channel !== 'sms') return;
  const [consent] = await tx
    .insert(patientConsents)
    .values({ orgId: row.orgId, patientId: row.patientId, kind: 'sms', status: 'revoked', method: 'sms', textVersion: `provider:${code}` })
    .returning();
  await audit(tx, ctx, 'consent.recorded', { type: 'patient', id: row.patientId }, { consentId: consent!.id, kind: 'sms', status: 'revoked', method: 'sms' });
  await audit(tx, ctx, 'message.opted_out', { type: 'patient', id: row.patientId }, { messageId: row.id, source: 'provider' });
}
