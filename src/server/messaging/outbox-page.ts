/**
 * The Outbox page's actions (MESSAGING_PROVIDER=outbox / EMAIL_PROVIDER=outbox): playing the carrier's part by
 * hand. Each goes through the same path a real provider's report or incoming text takes (status.ts, inbound.ts).
 * The page's list is listMessages (messages.ts).
 */
import { randomBytes } from 'node:crypto';
import type { Message } from '../../shared/api/messaging.js';
import type { Ctx } from '../context.js';
import { AppError } from '../http/errors.js';
import { toE164 } from '../http/phone.js';
import { receiveInbound } from './inbound.js';
import { messageRow, toMessageDto, type MessageRow, type MessagingDeps } from './messages.js';
import { outboxFailure } from './providers/outbox.js';
import { applyStatus } from './status.js';

function assertOutbox(row: MessageRow): void {
  if (row.provider !== 'outbox') throw new AppError('outbox_disabled', 'This message went through a real provider: its status comes from there.');
}

/** The Outbox page marks a message as the carrier would have (delivered, undelivered with a carrier's code…). */
export async function setOutboxStatus(deps: MessagingDeps, ctx: Ctx, id: string, status: 'sent' | 'delivered' | 'undelivered' | 'failed', errorCode?: string): Promise<Message> {
  const row = await messageRow(deps.db, ctx.orgId, id);
  assertOutbox(row);
  if (!row.providerMessageId) throw new AppError('invalid_state', 'The message has not been sent yet.', { status: row.status });
  const error = status === 'delivered' || status === 'sent' ? { errorCode: errorCode ?? null, errorReason: null } : outboxFailure(errorCode);
  const updated = await applyStatus(deps, { provider: 'outbox', providerMessageId: row.providerMessageId, status, ...error, ctx });
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
  const { message } = await receiveInbound(deps, ctx, { provider: 'outbox', providerMessageId: `OI${randomBytes(16).toString('hex')}`, from: number, to: 'outbox', body });
  return toMessageDto(deps, message);
}
