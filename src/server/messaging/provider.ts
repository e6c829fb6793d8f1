/**
 * The messaging provider seam: one SMS provider and one email provider, chosen by configuration
 * (providers/loader.ts). The outbox worker (worker.ts) is the only caller of `send`; inbound messages and status
 * callbacks come back through the provider's webhook receiver (`webhooks`), which verifies and parses the vendor's
 * requests, so the rest of messaging (inbound.ts, status.ts) sees only the neutral shapes below.
 */
import type { FastifyInstance } from 'fastify';

export interface OutgoingMessage {
  /** Our message id: providers that support it use it to make a repeated send harmless (or echo it in callbacks). */
  id: string;
  channel: 'sms' | 'email';
  to: string;
  subject: string | null;
  body: string;
  segments: number;
  /**
   * The organisation's own sender (messaging_settings.sms_number / messaging_service_sid), when it has one:
   * SMS providers send from it instead of the configured one. `service`: a provider-side sending service (a pool
   * of numbers) rather than one number.
   */
  sender?: { number?: string | undefined; service?: string | undefined } | undefined;
}

export interface SendResult {
  providerMessageId: string;
  /** `sending`: the provider took it and will report; `sent`: it left (SMTP accepted it, the outbox stored it). */
  status: 'sending' | 'sent';
  /** The sender used (a phone number, a sending service, an email address), when known. */
  from: string | null;
}

/**
 * A failed send. `retry`: try again later (timeouts, 429, 5xx), after `retryAfterMs` if the provider said.
 * `inDoubt`: the request may have reached the provider (a timeout or a dropped connection after sending it):
 * the worker asks the provider (`find`) before trying again, so a message is never sent twice.
 * `optedOut`: the provider refused because the recipient opted out with it: our consent ledger follows.
 * Neither retry nor inDoubt: permanent. `reason` is said for people (shown on the message).
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

/** A status a provider reports, in our words (each receiver maps its vendor's words onto these). */
export type ReportedStatus = 'sending' | 'sent' | 'delivered' | 'undelivered' | 'failed' | 'canceled';

/** An incoming text, as a receiver parsed it from the provider's webhook. */
export interface InboundText {
  providerMessageId: string;
  from: string;
  /** The number texted (may be empty or a short code). */
  to: string;
  body: string;
  /**
   * Routing hint besides `to`: the provider-side sending service the receiving number belongs to, when it says
   * (compared with an organisation's messaging_settings.messaging_service_sid).
   */
  service?: string | undefined;
}

/** A delivery status, as a receiver parsed it from the provider's callback. */
export interface StatusUpdate {
  providerMessageId: string;
  /** Our message id when the provider echoes it back (a report may arrive before the send's own answer). */
  messageId?: string | undefined;
  /** null: a word this receiver does not know (vendors add some now and then): acknowledged and ignored. */
  status: ReportedStatus | null;
  errorCode: string | null;
  /** The error said for people, when the receiver knows the code. */
  errorReason: string | null;
  /** The recipient opted out with the provider (our consent ledger follows). */
  optedOut: boolean;
}

/** A webhook request as a receiver needs it: the path and query exactly as received, headers, form fields. */
export interface WebhookRequest {
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
}

/** What messaging does with a verified, parsed webhook (inbound.ts, status.ts). */
export interface WebhookHandlers {
  inbound(text: InboundText): Promise<void>;
  status(update: StatusUpdate): Promise<void>;
}

/**
 * A provider's webhooks (as LiveKit's WebhookReceiver): verification against PUBLIC_URL and the provider's secret,
 * parsing into the neutral shapes, and the HTTP routes the provider calls (its paths, content types and answers).
 */
export interface MessagingWebhookReceiver {
  /** Whether the request is signed by the provider over PUBLIC_URL + `url` and these fields. */
  verify(request: WebhookRequest): boolean;
  /** An incoming text, or null when a required field is missing. Call only on a verified request. */
  parseInbound(request: WebhookRequest): InboundText | null;
  /** A status callback, or null when a required field is missing. Call only on a verified request. */
  parseStatus(request: WebhookRequest): StatusUpdate | null;
  /** Registers the provider's callback routes on `app` (its own encapsulated scope); each reaches `handlers`. */
  routes(app: FastifyInstance, handlers: WebhookHandlers): Promise<void>;
}

export interface MessagingProvider {
  readonly name: string;
  /** The configured sender, for per-sender throughput limits (a message's own `sender` has its own limit). */
  readonly senderKey: string;
  /** Segments per second this sender may send (Infinity = no limit). */
  readonly ratePerSecond: number;
  /** The provider answers STOP and START itself (and blocks the number): we send no confirmation of our own. */
  readonly confirmsOptOut?: boolean;
  /** Its inbound and status webhooks, when it has any. */
  readonly webhooks?: MessagingWebhookReceiver;
  send(message: OutgoingMessage, signal: AbortSignal): Promise<SendResult>;
  /**
   * After an attempt whose outcome is unknown: the provider's message for this one if it was created, else null.
   * `since` is when that attempt started; `exclude` holds provider ids already recorded for other messages.
   */
  find?(message: OutgoingMessage, since: Date, exclude: (providerMessageId: string) => Promise<boolean>, signal: AbortSignal): Promise<SendResult | null>;
  close?(): Promise<void>;
}
