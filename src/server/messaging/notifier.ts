/** How other features (visit invites, check-in notices) reach a patient through messaging (queue.ts). */
import type { Message } from '../../shared/api/messaging.js';
import type { Ctx } from '../context.js';
import type { MessageChannel } from '../db/schema.js';
import type { MessagingDeps } from './messages.js';
import { AppError } from '../http/errors.js';
import { cancelMessage, previewMessage, sendToPatient } from './queue.js';
import { defaultTemplate, type TemplateRow } from './template-store.js';
import type { TemplateValues } from './templates.js';

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
    options?: {
      urgent?: boolean;
      idempotencyKey?: string;
      appointmentId?: string;
      /**
       * A message only worth sending until then (a check-in call's ring window): if quiet hours would hold it past
       * `notAfter`, it is not queued (409 invalid_state, details.reason `quiet_hours`).
       */
      notAfter?: Date;
    },
  ): Promise<Message>;
  /** Cancels a message not sent yet (its moment passed: the call was answered or ended); false if it went already. */
  cancel(ctx: Ctx, messageId: string): Promise<boolean>;
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
        { purpose, template, idempotencyKey: options.idempotencyKey, appointmentId: options.appointmentId, notAfter: options.notAfter },
      );
      return message;
    },
    async cancel(ctx, messageId) {
      try {
        await cancelMessage(deps, ctx, messageId);
        return true;
      } catch (err) {
        if (err instanceof AppError && err.code === 'invalid_state') return false;
        throw err;
      }
    },
  };
}
