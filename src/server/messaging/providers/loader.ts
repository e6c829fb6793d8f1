import type { Config } from '../../config.js';
import type { MessagingProvider } from '../provider.js';
import { createOutboxProvider } from './outbox.js';
import { createSmtpProvider } from './smtp.js';
import { createTwilioSmsProvider } from './twilio.js';

export interface MessagingProviders {
  sms: MessagingProvider;
  email: MessagingProvider;
}

/** The SMS and email providers chosen by MESSAGING_PROVIDER and EMAIL_PROVIDER. */
export function loadMessagingProviders(config: Config, report: (provider: string, providerMessageId: string, status: 'delivered', messageId: string) => Promise<void>): MessagingProviders {
  const m = config.messaging;
  const outbox = (channel: 'sms' | 'email', from: string) =>
    createOutboxProvider({ channel, from, deliveryDelayMs: m.outboxDeliveryDelayMs, report: (id, status, messageId) => report('outbox', id, status, messageId) });
  const sms =
    m.smsProvider === 'twilio'
      ? createTwilioSmsProvider({
          accountSid: config.twilio.accountSid!,
          authToken: config.twilio.authToken!,
          fromNumber: config.twilio.fromNumber,
          messagingServiceSid: config.twilio.messagingServiceSid,
          apiBaseUrl: config.twilio.apiBaseUrl,
          timeoutMs: m.sendTimeoutMs,
          ratePerSecond: m.senderRatePerSecond,
          publicUrl: config.publicUrl,
        })
      : outbox('sms', 'outbox');
  const email = m.emailProvider === 'smtp' ? createSmtpProvider({ url: m.smtpUrl!, from: m.emailFrom, timeoutMs: m.sendTimeoutMs }) : outbox('email', m.emailFrom);
  return { sms, email };
}
