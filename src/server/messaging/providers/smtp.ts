import nodemailer from 'nodemailer';
import { ProviderError, type MessagingProvider, type OutgoingMessage, type SendResult } from '../provider.js';

/**
 * Email through an SMTP server (nodemailer). "sent" means the server accepted it; SMTP has no delivery receipts.
 * The Message-ID is derived from our message id, so a resend after a crash carries the same one (mail systems
 * and clients drop the duplicate).
 */
export function createSmtpProvider(options: { url: string; from: string; timeoutMs: number }): MessagingProvider {
  const transport = nodemailer.createTransport(options.url, {});
  const domain = /@([^>\s]+)>?\s*$/.exec(options.from)?.[1] ?? 'openvisit.local';
  return {
    name: 'smtp',
    senderKey: `smtp:${options.from}`,
    ratePerSecond: Number.POSITIVE_INFINITY,
    async send(message: OutgoingMessage): Promise<SendResult> {
      try {
        const info = await transport.sendMail({
          from: options.from,
          to: message.to,
          subject: message.subject ?? '',
          text: message.body,
          messageId: `<${message.id}@${domain}>`,
        });
        return { providerMessageId: info.messageId ?? `<${message.id}@${domain}>`, status: 'sent', from: options.from };
      } catch (err) {
        const e = err as { responseCode?: number; code?: string; response?: string; message?: string };
        if (typeof e.responseCode === 'number') {
          const reason = (e.response ?? e.message ?? 'rejected').slice(0, 300);
          return Promise.reject(new ProviderError(`smtp_${e.responseCode}`, reason, { retry: e.responseCode < 500 }));
        }
        throw new ProviderError('network_error', `The mail server did not answer (${e.code ?? 'connection failed'})`, { retry: true });
      }
    },
    async close() {
      transport.close();
    },
  };
}
