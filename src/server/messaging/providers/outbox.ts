import { randomBytes } from 'node:crypto';
import type { MessagingProvider, SendResult } from '../provider.js';
import { TWILIO_UNKNOWN_DELIVERY_ERROR, twilioErrorReason } from './twilio-errors.js';

/**
 * The default provider for SMS and email: nothing leaves the machine. A "sent" message is the row itself, shown
 * on the Outbox page; after `deliveryDelayMs` it is reported delivered through the same status path a real
 * provider's callback takes (the page can also mark one undelivered or failed, or inject a patient's reply).
 */
export function createOutboxProvider(options: {
  channel: 'sms' | 'email';
  from: string;
  deliveryDelayMs: number;
  /** With our message id: the report may come before the worker has recorded the send (as a provider's callback may). */
  report: (providerMessageId: string, status: 'delivered', messageId: string) => Promise<void>;
}): MessagingProvider {
  const timers = new Set<NodeJS.Timeout>();
  return {
    name: 'outbox',
    senderKey: `outbox:${options.channel}`,
    ratePerSecond: Number.POSITIVE_INFINITY,
    async send(message): Promise<SendResult> {
      const providerMessageId = `OB${randomBytes(16).toString('hex')}`;
      if (options.deliveryDelayMs > 0) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          options.report(providerMessageId, 'delivered', message.id).catch(() => undefined);
        }, options.deliveryDelayMs);
        timers.add(timer);
      }
      return { providerMessageId, status: 'sent', from: message.sender?.service ?? message.sender?.number ?? options.from };
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}

/**
 * The error a failure marked on the Outbox page carries: the outbox plays a carrier with Twilio's error codes (the
 * page offers a landline's), so a demo shows the reasons a real failure would; no code is "unknown".
 */
export function outboxFailure(errorCode: string | undefined): { errorCode: string; errorReason: string | null } {
  const code = errorCode ?? TWILIO_UNKNOWN_DELIVERY_ERROR;
  return { errorCode: code, errorReason: twilioErrorReason(code) };
}
