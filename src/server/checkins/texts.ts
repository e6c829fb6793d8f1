/**
 * The fallback text of a ringing call: a recipient callee whose app did not show the call gets "<caller> is calling
 * you now" with a fresh `ovc_` link bound to the call (expiring with the ring window), through patient messaging
 * (consent, opt-out and quiet hours apply). A text quiet hours would hold past the ring window is not queued; one
 * still waiting when the call leaves ringing is cancelled. No PHI: the caller's name, the clinic's, a link.
 */
import { and, eq } from 'drizzle-orm';
import { audit } from '../audit/service.js';
import type { Ctx } from '../context.js';
import { checkinCalls } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { createCareLink } from './care.js';
import type { CheckinDeps } from './deps.js';
import { membersById, type CallRow } from './service.js';

/** Sends the call's text to its recipient callee; true when a message was queued. */
export async function sendCallText(deps: CheckinDeps, ctx: Ctx, call: CallRow): Promise<boolean> {
  const members = await membersById(deps.db, ctx.orgId, [call.callerMemberId, call.calleeMemberId]);
  const callee = members.get(call.calleeMemberId);
  if (!callee || callee.kind !== 'recipient') return false;
  const blocked = await deps.notifier.blockedBy(ctx, callee.recipientId, 'sms');
  if (blocked) {
    await audit(deps.db, ctx, 'checkin.text_queued', { type: 'checkin', id: call.id }, { sent: false, blockedBy: blocked });
    return false;
  }
  const link = await createCareLink(deps, ctx, callee.id, { expiresAt: call.ringExpiresAt, callId: call.id });
  let messageId: string;
  try {
    const message = await deps.notifier.send(
      ctx,
      callee.recipientId,
      'checkin_notice',
      'sms',
      { link: link.url, clinicianName: members.get(call.callerMemberId)?.name ?? '' },
      { urgent: false, idempotencyKey: `checkin:${call.id}`, notAfter: call.ringExpiresAt },
    );
    messageId = message.id;
  } catch (err) {
    if (err instanceof AppError) {
      const reason = (err.details as { reason?: string } | undefined)?.reason ?? err.code;
      await audit(deps.db, ctx, 'checkin.text_queued', { type: 'checkin', id: call.id }, { sent: false, blockedBy: reason });
      return false;
    }
    throw err;
  }
  await deps.db.transaction(async (tx) => {
    await tx
      .update(checkinCalls)
      .set({ textMessageId: messageId })
      .where(and(eq(checkinCalls.orgId, ctx.orgId), eq(checkinCalls.id, call.id)));
    await audit(tx, ctx, 'checkin.text_queued', { type: 'checkin', id: call.id }, { sent: true, messageId });
  });
  // Answered or ended meanwhile: the text is no longer worth sending.
  const [now] = await deps.db.select({ status: checkinCalls.status }).from(checkinCalls).where(and(eq(checkinCalls.orgId, ctx.orgId), eq(checkinCalls.id, call.id))).limit(1);
  if (now && now.status !== 'ringing') await deps.notifier.cancel(ctx, messageId);
  return true;
}

