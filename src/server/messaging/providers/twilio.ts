import twilio from 'twilio';
import { ProviderError, type MessagingProvider, type OutgoingMessage, type SendResult } from '../provider.js';
import { TWILIO_OPTED_OUT, twilioErrorReason } from './twilio-errors.js';
import { createTwilioWebhookReceiver, twilioStatusCallbackUrl } from './twilio-webhooks.js';

export interface TwilioSmsOptions {
  accountSid: string;
  authToken: string;
  fromNumber: string | undefined;
  messagingServiceSid: string | undefined;
  /** https://api.twilio.com, or a proxy / local fake in front of it. */
  apiBaseUrl: string;
  timeoutMs: number;
  ratePerSecond: number;
  /** PUBLIC_URL: the StatusCallback of each send, and the URL Twilio signs its webhooks over. */
  publicUrl: string;
}

const TWILIO_HOST = 'https://api.twilio.com';

/** Network failures after which the request may or may not have reached Twilio. */
const IN_DOUBT = new Set(['ECONNABORTED', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'ERR_BAD_RESPONSE', 'ESOCKETTIMEDOUT', 'UND_ERR_SOCKET']);

/**
 * Twilio Programmable Messaging through the official SDK. Status comes back on our StatusCallback and incoming texts
 * on the inbound webhook, both through its webhook receiver (twilio-webhooks.ts). Twilio's default opt-out handling
 * answers STOP and START itself and blocks the number at the sender (error 21610 on a later send).
 */
export function createTwilioSmsProvider(options: TwilioSmsOptions): MessagingProvider {
  const base = options.apiBaseUrl.replace(/\/+$/, '');
  class RoutedClient extends twilio.RequestClient {
    override request<T>(opts: Parameters<InstanceType<typeof twilio.RequestClient>['request']>[0] & { data?: T }) {
      if (base !== TWILIO_HOST && opts.uri.startsWith(TWILIO_HOST)) opts.uri = base + opts.uri.slice(TWILIO_HOST.length);
      return super.request({ ...opts, timeout: options.timeoutMs });
    }
  }
  const client = twilio(options.accountSid, options.authToken, { httpClient: new RoutedClient({ timeout: options.timeoutMs, keepAlive: true }) });
  const sender = options.messagingServiceSid ?? options.fromNumber!;
  /** The organisation's own messaging service or number when it has one, else the configured ones. */
  const senderOf = (message: OutgoingMessage): { number: string | undefined; messagingServiceSid: string | undefined } =>
    message.sender?.service || message.sender?.number
      ? { number: message.sender.number, messagingServiceSid: message.sender.service }
      : { number: options.fromNumber, messagingServiceSid: options.messagingServiceSid };

  const classify = (err: unknown): ProviderError => {
    const e = err as { status?: number; code?: number | string; message?: string; moreInfo?: string };
    if (typeof e.status === 'number') {
      const code = typeof e.code === 'number' ? e.code : undefined;
      // The codes a clinic meets are said for people; others keep Twilio's own message.
      const reason = twilioErrorReason(code === undefined ? null : String(code)) ?? e.message ?? `HTTP ${e.status}`;
      if (e.status === 429 || code === 20429) return new ProviderError(String(code ?? 20429), reason, { retry: true });
      if (e.status >= 500) return new ProviderError(String(code ?? `http_${e.status}`), reason, { retry: true });
      return new ProviderError(String(code ?? `http_${e.status}`), reason, { retry: false, optedOut: String(code) === TWILIO_OPTED_OUT });
    }
    const netCode = typeof e.code === 'string' ? e.code : 'network_error';
    if (netCode === 'ECONNREFUSED' || netCode === 'ENOTFOUND' || netCode === 'EAI_AGAIN') {
      return new ProviderError('network_error', `Twilio could not be reached (${netCode})`, { retry: true });
    }
    return new ProviderError('network_error', `No answer from Twilio (${IN_DOUBT.has(netCode) ? netCode : 'connection lost'})`, { retry: true, inDoubt: true });
  };

  return {
    name: 'twilio',
    senderKey: `twilio:${sender}`,
    ratePerSecond: options.ratePerSecond,
    confirmsOptOut: true,
    webhooks: createTwilioWebhookReceiver({ authToken: options.authToken, publicUrl: options.publicUrl }),
    async send(message: OutgoingMessage): Promise<SendResult> {
      try {
        const own = senderOf(message);
        const created = await client.messages.create({
          to: message.to,
          body: message.body,
          statusCallback: twilioStatusCallbackUrl(options.publicUrl, message.id),
          ...(own.messagingServiceSid ? { messagingServiceSid: own.messagingServiceSid } : { from: own.number! }),
        });
        return { providerMessageId: created.sid, status: 'sending', from: created.from ?? own.messagingServiceSid ?? own.number! };
      } catch (err) {
        throw classify(err);
      }
    },
    async find(message, since, exclude) {
      // Twilio has no idempotency key for a send: look for a message to the same number, with the same body,
      // created since the attempt began, that no other message of ours has claimed.
      try {
        const own = senderOf(message);
        const recent = await client.messages.list({ to: message.to, ...(own.number && !own.messagingServiceSid ? { from: own.number } : {}), limit: 50 });
        for (const m of recent) {
          if (m.body !== message.body) continue;
          if (m.dateCreated && m.dateCreated.getTime() < since.getTime() - 120_000) continue;
          if (own.messagingServiceSid && m.messagingServiceSid && m.messagingServiceSid !== own.messagingServiceSid) continue;
          if (await exclude(m.sid)) continue;
          return { providerMessageId: m.sid, status: 'sending', from: m.from ?? own.messagingServiceSid ?? own.number! };
        }
        return null;
      } catch (err) {
        throw classify(err);
      }
    },
  };
}
