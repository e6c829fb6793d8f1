/**
 * The messaging provider seam: one SMS provider and one email provider, chosen by configuration
 * (providers/loader.ts). The outbox worker (worker.ts) is the only caller of `send`; inbound messages and status
 * callbacks come back through the service (service.ts), whichever provider produced them.
 */
export interface OutgoingMessage {
  /** Our message id: providers that support it use it to make a repeated send harmless. */
  id: string;
  channel: 'sms' | 'email';
  to: string;
  subject: string | null;
  body: string;
  /** Where the provider should report status changes (SMS providers with callbacks). */
  statusCallbackUrl: string;
  segments: number;
  /**
   * The organisation's own sender (messaging_settings.sms_number / messaging_service_sid), when it has one:
   * SMS providers send from it instead of the configured one.
   */
  sender?: { number?: string | undefined; messagingServiceSid?: string | undefined } | undefined;
}

export interface SendResult {
  providerMessageId: string;
  /** `sending`: the provider took it and will report; `sent`: it left (SMTP accepted it, the outbox stored it). */
  status: 'sending' | 'sent';
  /** The sender used (a phone number, a messaging service, an email address), when known. */
  from: string | null;
}

/**
 * A failed send. `retry`: try again later (timeouts, 429, 5xx), after `retryAfterMs` if the provider said.
 * `inDoubt`: the request may have reached the provider (a timeout or a dropped connection after sending it):
 * the worker asks the provider (`find`) before trying again, so a message is never sent twice.
 */
export class ProviderError extends Error {
  constructor(
    readonly code: string,
    readonly reason: string,
    readonly options: { retry: boolean; inDoubt?: boolean; retryAfterMs?: number; optedOut?: boolean } = { retry: false },
  ) {
    super(`${code}: ${reason}`);
    this.name = 'ProviderError';
  }
}

export interface MessagingProvider {
  readonly name: string;
  /** The configured sender, for per-sender throughput limits (a message's own `sender` has its own limit). */
  readonly senderKey: string;
  /** Segments per second this sender may send (Infinity = no limit). */
  readonly ratePerSecond: number;
  send(message: OutgoingMessage, signal: AbortSignal): Promise<SendResult>;
  /**
   * After an attempt whose outcome is unknown: the provider's message for this one if it was created, else null.
   * `since` is when that attempt started; `exclude` holds provider ids already recorded for other messages.
   */
  find?(message: OutgoingMessage, since: Date, exclude: (providerMessageId: string) => Promise<boolean>, signal: AbortSignal): Promise<SendResult | null>;
  close?(): Promise<void>;
}
