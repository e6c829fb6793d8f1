/**
 * A local fake of Twilio's Programmable Messaging REST API (the 2010-04-01 Messages resource) for contract
 * tests. It serves create / fetch / list as Twilio does (snake_case JSON, RFC 2822 dates, Twilio error
 * bodies), sends signed status callbacks and inbound webhooks, and checks every request it receives and every
 * response it serves against Twilio's OpenAPI document (twilio-oai, test/fixtures/twilio/twilio_api_v2010.json),
 * recording mismatches in `violations`.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import type * as TwilioHttpResponse from 'twilio/lib/http/response.js';
import {
  CHANNEL_ADDRESS,
  E164,
  ISO_DATE,
  all,
  first,
  getSpec,
  isPhoneNumber,
  matchOperation,
  moreInfo,
  parseForm,
  requestProblems,
  responseProblems,
  type FormParams,
  type LoadedSpec,
  type Operation,
} from './twilio-spec.js';

export type { FormParams } from './twilio-spec.js';

const DEFAULT_SPEC = fileURLToPath(new URL('../fixtures/twilio/twilio_api_v2010.json', import.meta.url));
const API_VERSION = '2010-04-01';
const TWILIO_ORIGIN = 'https://api.twilio.com';

// ---------------------------------------------------------------------------------------------------------
// Public types

export interface FakeTwilioOptions {
  accountSid: string;
  authToken: string;
  /** The OpenAPI 3 document to check against; defaults to the shared twilio_api_v2010.json. */
  specPath?: string;
  /** API key credentials (`SK…` → secret) also accepted for Basic auth. */
  apiKeys?: Record<string, string>;
  /** After a create, walk the message through its lifecycle and POST its status callbacks (default false). */
  autoCallbacks?: boolean;
  /** The sender a Messaging Service picks from its pool when a message has no From (default +15005550006). */
  messagingServiceFrom?: string;
}

/** A failure queued with `failNext` for the next create calls (after authentication). */
export type Failure =
  | { status: 429; /** Adds a Retry-After header (seconds); Twilio does not promise one. */ retryAfter?: number }
  | { status: 500 }
  | { status: 503 }
  | { status: 400; code: 21610 | 21211 | 21614 | 21408 }
  /** The message is created but the answer only comes after hangMs (a client timeout after Twilio accepted). */
  | { hangMs: number }
  /** The message is created, then the socket is destroyed without an answer. */
  | { dropAfterCreate: true };

export type DeliveryOutcome = 'delivered' | { status: 'undelivered' | 'failed'; errorCode: number };

export interface RecipientRule {
  /** Refuse creates to this recipient with a Twilio 400 error. */
  createError?: { status: 400; code: number };
  /** How the message ends (status callbacks): default 'delivered'. */
  deliver?: DeliveryOutcome;
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: FormParams;
  /** Lower-case header names, as node:http gives them. */
  headers: http.IncomingHttpHeaders;
  /** The parsed form body (repeated keys become arrays). */
  params: FormParams;
  /** The spec operation the request matched, if any (e.g. 'CreateMessage'). */
  operationId: string | null;
}

export interface CreatedMessage {
  sid: string;
  to: string;
  from: string | null;
  messagingServiceSid: string | null;
  body: string;
  statusCallback: string | null;
  createdAt: Date;
}

/** The Message resource as Twilio serialises it (`api.v2010.account.message`). */
export interface MessageResource {
  account_sid: string;
  api_version: string;
  body: string;
  date_created: string;
  date_sent: string | null;
  date_updated: string;
  direction: 'inbound' | 'outbound-api' | 'outbound-call' | 'outbound-reply';
  error_code: number | null;
  error_message: string | null;
  from: string | null;
  messaging_service_sid: string | null;
  num_media: string;
  num_segments: string;
  price: string | null;
  price_unit: string | null;
  sid: string;
  status: string;
  subresource_uris: Record<string, string>;
  to: string;
  uri: string;
}

export interface SignOptions {
  /** Send a signature that does not match (signed with a wrong token). */
  tamper?: boolean;
  /** Sign for this URL while posting to another one. */
  signUrl?: string;
}

export interface WebhookResult {
  status: number;
  body: string;
  contentType: string | null;
  /** The form parameters that were posted. */
  params: Record<string, string>;
}

export interface SentWebhook {
  kind: 'status' | 'inbound';
  url: string;
  params: Record<string, string>;
  signature: string;
  /** The receiver's HTTP status, or null when it could not be reached. */
  status: number | null;
  error?: string;
}

export interface InboundParams {
  From: string;
  To: string;
  Body: string;
  [name: string]: string;
}

export interface FakeTwilio {
  /** Base URL, e.g. http://127.0.0.1:41234 (stands in for https://api.twilio.com). */
  readonly url: string;
  readonly accountSid: string;
  readonly requests: RecordedRequest[];
  readonly created: CreatedMessage[];
  /** Signed webhooks the fake has posted (status callbacks and inbound messages). */
  readonly callbacks: SentWebhook[];
  /** Spec mismatches: "request: …" for what clients sent, "response: …" for what the fake served. */
  readonly violations: string[];
  assertNoViolations(): void;
  failNext(n: number, failure: Failure): void;
  ruleFor(to: string, rule: RecipientRule): void;
  /** Test-only: rewrite the next JSON response body before it is checked and sent. */
  corruptNextResponse(fn: (body: Record<string, unknown>) => unknown): void;
  sendsTo(to: string): CreatedMessage[];
  /** The current state of a message, as GET …/Messages/{Sid}.json would return it. */
  message(sid: string): MessageResource | undefined;
  /** Moves a message to `status` and posts one signed status callback; resolves the receiver's HTTP status. */
  statusCallback(sid: string, status: string, extra?: { errorCode?: number } & SignOptions): Promise<number>;
  /** Posts a signed inbound-message webhook as Twilio does. */
  inbound(url: string, params: InboundParams, options?: SignOptions): Promise<WebhookResult>;
  /** Resolves when every automatic status callback started so far has been delivered (or has failed). */
  settled(): Promise<void>;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------
// Twilio's wording

/** Messages Twilio answers for the create errors the fake can produce ({to} is the recipient). */
const CREATE_ERRORS: Record<number, string> = {
  21211: "The 'To' number {to} is not a valid phone number.",
  21212: "The 'From' number {from} is not a valid phone number, shortcode, or alphanumeric sender ID.",
  21408: "Permission to send an SMS has not been enabled for the region indicated by the 'To' number: {to}.",
  21602: 'Message body is required.',
  21603: "A 'From' phone number is required.",
  21604: "A 'To' phone number is required.",
  21610: 'Attempt to send to unsubscribed recipient',
  21612: "The 'To' phone number: {to}, is not currently reachable using the 'From' phone number: {from} via SMS.",
  21614: "'To' number is not a valid mobile number",
  21617: 'The concatenated message body exceeds the 1600 character limit.',
};

const STATUS_ERRORS: Record<number, [code: number, message: string]> = {
  429: [20429, 'Too Many Requests'],
  500: [20500, 'Internal Server Error'],
  503: [20503, 'Service Unavailable'],
};

/** Descriptions of delivery error codes (carried as error_message on the resource). */
const DELIVERY_ERRORS: Record<number, string> = {
  30003: 'Unreachable destination handset',
  30004: 'Message blocked',
  30005: 'Unknown destination handset',
  30006: 'Landline or unreachable carrier',
  30007: 'Message filtered',
  30008: 'Unknown error',
};

// ---------------------------------------------------------------------------------------------------------
// Small utilities

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');
const newSid = (prefix: string): string => prefix + hex(16);

/** RFC 2822 in GMT, as Twilio writes dates: "Thu, 24 Aug 2023 05:01:45 +0000". */
const rfc2822 = (d: Date): string => d.toUTCString().replace(/GMT$/, '+0000');


const GSM7 =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM7_EXTENDED = '^{}\\[~]|€\f';

/** SMS segments: GSM-7 (160, or 153 per part) when every character fits, else UCS-2 (70, or 67 per part). */
export function countSegments(body: string): number {
  let septets = 0;
  let gsm = true;
  for (const ch of body) {
    if (GSM7.includes(ch)) septets += 1;
    else if (GSM7_EXTENDED.includes(ch)) septets += 2;
    else {
      gsm = false;
      break;
    }
  }
  if (gsm) return septets <= 160 ? 1 : Math.ceil(septets / 153);
  const units = body.length; // UTF-16 code units
  return units <= 70 ? 1 : Math.ceil(units / 67);
}

/** Day (UTC, YYYY-MM-DD) of a DateSent filter value, or null if unparseable. */
function filterDay(value: string): string | null {
  if (ISO_DATE.test(value)) return value;
  const t = Date.parse(value);
  return Number.isNaN(t) ? null : new Date(t).toISOString().slice(0, 10);
}

// ---------------------------------------------------------------------------------------------------------
// The fake

interface StoredMessage {
  resource: MessageResource;
  statusCallback: string | null;
}

interface Context {
  req: http.IncomingMessage;
  res: http.ServerResponse;
  method: string;
  path: string;
  operation: Operation | null;
}

class FakeTwilioServer implements FakeTwilio {
  readonly requests: RecordedRequest[] = [];
  readonly created: CreatedMessage[] = [];
  readonly callbacks: SentWebhook[] = [];
  readonly violations: string[] = [];
  url = '';

  private readonly messages = new Map<string, StoredMessage>();
  private readonly failures: Failure[] = [];
  private readonly rules = new Map<string, RecipientRule>();
  private readonly corruptions: ((body: Record<string, unknown>) => unknown)[] = [];
  private readonly pending = new Set<Promise<unknown>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly aborter = new AbortController();
  private readonly server: http.Server;

  constructor(
    private readonly options: FakeTwilioOptions,
    private readonly spec: LoadedSpec,
  ) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.violations.push(`response: the fake crashed: ${err instanceof Error ? err.stack : String(err)}`);
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
  }

  get accountSid(): string {
    return this.options.accountSid;
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  // ---- controls -------------------------------------------------------------------------------------

  assertNoViolations(): void {
    if (this.violations.length > 0) {
      throw new Error(`Twilio fake saw ${this.violations.length} spec violation(s):\n  ${this.violations.join('\n  ')}`);
    }
  }

  failNext(n: number, failure: Failure): void {
    for (let i = 0; i < n; i++) this.failures.push(failure);
  }

  ruleFor(to: string, rule: RecipientRule): void {
    this.rules.set(to, rule);
  }

  corruptNextResponse(fn: (body: Record<string, unknown>) => unknown): void {
    this.corruptions.push(fn);
  }

  sendsTo(to: string): CreatedMessage[] {
    return this.created.filter((m) => m.to === to);
  }

  message(sid: string): MessageResource | undefined {
    const m = this.messages.get(sid);
    return m && structuredClone(m.resource);
  }

  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.aborter.abort();
    await Promise.allSettled([...this.pending]);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // ---- webhooks -------------------------------------------------------------------------------------

  async statusCallback(sid: string, status: string, extra: { errorCode?: number } & SignOptions = {}): Promise<number> {
    const stored = this.messages.get(sid);
    if (!stored) throw new Error(`twilio-fake: no message ${sid}`);
    if (!stored.statusCallback) throw new Error(`twilio-fake: message ${sid} has no StatusCallback`);
    this.transition(stored, status, extra.errorCode);
    const result = await this.postSigned('status', stored.statusCallback, this.callbackParams(stored, extra.errorCode), extra);
    return result.status;
  }

  async inbound(url: string, params: InboundParams, options: SignOptions = {}): Promise<WebhookResult> {
    const sid = newSid('SM');
    const { From, To, Body, ...overrides } = params;
    const full: Record<string, string> = {
      ToCountry: 'US',
      ToState: '',
      SmsMessageSid: sid,
      NumMedia: '0',
      ToCity: '',
      FromZip: '',
      SmsSid: sid,
      FromState: '',
      SmsStatus: 'received',
      FromCity: '',
      Body,
      FromCountry: 'US',
      To,
      ToZip: '',
      NumSegments: String(countSegments(Body)),
      MessageSid: sid,
      AccountSid: this.options.accountSid,
      From,
      ApiVersion: API_VERSION,
      ...overrides,
    };
    return this.postSigned('inbound', url, full, options);
  }

  /** Posts a form exactly as Twilio's webhook sender does, signed with the account's auth token. */
  private async postSigned(kind: SentWebhook['kind'], url: string, params: Record<string, string>, options: SignOptions): Promise<WebhookResult> {
    const token = options.tamper ? `${this.options.authToken}-tampered` : this.options.authToken;
    const signature = twilio.getExpectedTwilioSignature(token, options.signUrl ?? url, params);
    const record: SentWebhook = { kind, url, params, signature, status: null };
    this.callbacks.push(record);
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          'User-Agent': 'TwilioProxy/1.1',
          Accept: '*/*',
          'X-Twilio-Signature': signature,
          'I-Twilio-Idempotency-Token': randomUUID(),
        },
        body: new URLSearchParams(params).toString(),
        signal: this.aborter.signal,
      });
      record.status = res.status;
      return { status: res.status, body: await res.text(), contentType: res.headers.get('content-type'), params };
    } catch (err) {
      record.error = err instanceof Error ? err.message : String(err);
      throw err;
    }
  }

  private callbackParams(stored: StoredMessage, errorCode?: number): Record<string, string> {
    const m = stored.resource;
    const params: Record<string, string> = {};
    if (errorCode !== undefined) params.ErrorCode = String(errorCode);
    Object.assign(params, {
      SmsSid: m.sid,
      SmsStatus: m.status,
      MessageStatus: m.status,
      To: m.to,
      MessageSid: m.sid,
      AccountSid: m.account_sid,
      From: m.from ?? '',
      ApiVersion: API_VERSION,
    });
    if (m.messaging_service_sid) params.MessagingServiceSid = m.messaging_service_sid;
    return params;
  }

  private transition(stored: StoredMessage, status: string, errorCode?: number): void {
    const m = stored.resource;
    const now = new Date();
    m.status = status;
    m.date_updated = rfc2822(now);
    if (m.from === null && m.messaging_service_sid && status !== 'accepted' && status !== 'queued') {
      m.from = this.options.messagingServiceFrom ?? '+15005550006';
    }
    if (status === 'sent' && m.date_sent === null) m.date_sent = rfc2822(now);
    m.error_code = errorCode ?? null;
    m.error_message = errorCode === undefined ? null : (DELIVERY_ERRORS[errorCode] ?? null);
  }

  /** autoCallbacks: sent → delivered, sent → undelivered, or failed, per the recipient's rule. */
  private runLifecycle(stored: StoredMessage, after: Promise<void>): void {
    const outcome = this.rules.get(stored.resource.to)?.deliver ?? 'delivered';
    const steps: [string, number | undefined][] =
      outcome === 'delivered'
        ? [['sent', undefined], ['delivered', undefined]]
        : outcome.status === 'failed'
          ? [['failed', outcome.errorCode]]
          : [['sent', undefined], ['undelivered', outcome.errorCode]];
    const run = async (): Promise<void> => {
      await after;
      for (const [status, errorCode] of steps) {
        if (this.aborter.signal.aborted) return;
        this.transition(stored, status, errorCode);
        if (stored.statusCallback) {
          await this.postSigned('status', stored.statusCallback, this.callbackParams(stored, errorCode), {}).catch(() => undefined);
        }
      }
    };
    const p = run();
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  // ---- HTTP -----------------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = (req.method ?? 'GET').toUpperCase();
    const path = url.pathname;
    const query = parseForm(url.search.slice(1));
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const params = contentType === 'application/x-www-form-urlencoded' ? parseForm(text) : {};

    // Which spec operation is this?
    const { pathKnown, operation, pathParams } = matchOperation(this.spec, method, path);
    this.requests.push({ method, path, query, headers: req.headers, params, operationId: operation?.id ?? null });
    const ctx: Context = { req, res, method, path, operation };

    if (!pathKnown) {
      this.violations.push(`request: ${method} ${path} matches no path in the spec`);
      return this.error(ctx, 404, 20404, `The requested resource ${path} was not found`);
    }
    if (!operation) {
      this.violations.push(`request: ${method} ${path}: the spec declares no ${method} operation on this path`);
      return this.error(ctx, 405, 20004, 'Method not allowed');
    }
    this.violations.push(...requestProblems(this.spec, operation, { pathParams, query, params, rawBody: text, contentType, authorization: req.headers.authorization }));

    // Authentication, as Twilio: Basic with the account's token or an API key; the path must name the account.
    if (!this.authenticated(req.headers.authorization) || pathParams.AccountSid !== this.options.accountSid) {
      res.setHeader('WWW-Authenticate', 'Basic realm="Twilio API"');
      return this.error(ctx, 401, 20003, 'Authenticate');
    }

    switch (operation.id) {
      case 'CreateMessage':
        return this.create(ctx, params);
      case 'FetchMessage': {
        const stored = this.messages.get(pathParams.Sid ?? '');
        if (!stored) return this.error(ctx, 404, 20404, `The requested resource ${path} was not found`);
        return this.send(ctx, 200, stored.resource);
      }
      case 'ListMessage':
        return this.list(ctx, query);
      default:
        // A real operation the fake does not implement.
        return this.error(ctx, 404, 20404, `The requested resource ${path} was not found`);
    }
  }

  private authenticated(header: string | undefined): boolean {
    const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
    if (!m) return false;
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    const user = decoded.slice(0, colon);
    const secret = decoded.slice(colon + 1);
    if (user === this.options.accountSid) return secret === this.options.authToken;
    return user.startsWith('SK') && this.options.apiKeys?.[user] === secret;
  }

  private create(ctx: Context, params: FormParams): void {
    const failure = this.failures.shift();
    if (failure && 'status' in failure) {
      if (failure.status === 400) return this.createError(ctx, failure.code, params);
      const [code, message] = STATUS_ERRORS[failure.status]!;
      if (failure.status === 429 && failure.retryAfter !== undefined) ctx.res.setHeader('Retry-After', String(failure.retryAfter));
      return this.error(ctx, failure.status, code, message);
    }

    const to = first(params, 'To') ?? '';
    const from = first(params, 'From') ?? '';
    const serviceSid = first(params, 'MessagingServiceSid') ?? '';
    const body = first(params, 'Body') ?? '';
    const media = all(params, 'MediaUrl');
    const contentSid = first(params, 'ContentSid') ?? '';
    if (!to) return this.createError(ctx, 21604, params);
    if (!from && !serviceSid) return this.createError(ctx, 21603, params);
    if (!body && media.length === 0 && !contentSid) return this.createError(ctx, 21602, params);
    if (!(E164.test(to) || CHANNEL_ADDRESS.test(to))) return this.createError(ctx, 21211, params);
    if (from && !isPhoneNumber(from)) return this.createError(ctx, 21212, params);
    if ([...body].length > 1600) return this.createError(ctx, 21617, params);
    const rule = this.rules.get(to);
    if (rule?.createError) return this.createError(ctx, rule.createError.code, params);

    const now = new Date();
    const sid = newSid(media.length > 0 ? 'MM' : 'SM');
    const accountSid = this.options.accountSid;
    const uriBase = `/${API_VERSION}/Accounts/${accountSid}/Messages/${sid}`;
    const resource: MessageResource = {
      account_sid: accountSid,
      api_version: API_VERSION,
      body,
      date_created: rfc2822(now),
      date_sent: null,
      date_updated: rfc2822(now),
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from: from || null,
      messaging_service_sid: serviceSid || null,
      num_media: String(media.length),
      num_segments: String(countSegments(body)),
      price: null,
      price_unit: 'USD',
      sid,
      status: serviceSid ? 'accepted' : 'queued',
      subresource_uris: { media: `${uriBase}/Media.json` },
      to,
      uri: `${uriBase}.json`,
    };
    const stored: StoredMessage = { resource, statusCallback: first(params, 'StatusCallback') || null };
    this.messages.set(sid, stored);
    this.created.push({
      sid,
      to,
      from: resource.from,
      messagingServiceSid: resource.messaging_service_sid,
      body,
      statusCallback: stored.statusCallback,
      createdAt: now,
    });
    const snapshot = structuredClone(resource);

    if (failure && 'dropAfterCreate' in failure) {
      ctx.req.socket.destroy();
      if (this.options.autoCallbacks) this.runLifecycle(stored, Promise.resolve());
      return;
    }
    if (failure && 'hangMs' in failure) {
      // Twilio accepted the message: callbacks flow while the client is still waiting for its answer.
      if (this.options.autoCallbacks) this.runLifecycle(stored, Promise.resolve());
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (!ctx.res.destroyed) this.send(ctx, 201, snapshot);
      }, failure.hangMs);
      this.timers.add(timer);
      return;
    }
    if (this.options.autoCallbacks) {
      const answered = new Promise<void>((resolve) => {
        ctx.res.once('finish', resolve);
        ctx.res.once('close', resolve);
      });
      this.runLifecycle(stored, answered);
    }
    this.send(ctx, 201, snapshot);
  }

  private createError(ctx: Context, code: number, params: FormParams): void {
    const template = CREATE_ERRORS[code] ?? `Twilio error ${code}`;
    const message = template.replace('{to}', first(params, 'To') ?? '').replace('{from}', first(params, 'From') ?? '');
    this.error(ctx, 400, code, message);
  }

  private list(ctx: Context, query: FormParams): void {
    const to = first(query, 'To');
    const from = first(query, 'From');
    const day = (name: string): string | null => {
      const v = first(query, name);
      return v === undefined ? null : filterDay(v);
    };
    const [on, onOrAfter, onOrBefore] = [day('DateSent'), day('DateSent>'), day('DateSent<')];
    const dateFiltered = on !== null || onOrAfter !== null || onOrBefore !== null;
    const sentDay = (m: MessageResource): string | null => (m.date_sent ? new Date(m.date_sent).toISOString().slice(0, 10) : null);

    // Newest first, as Twilio lists them.
    const matches = [...this.messages.values()]
      .map((s) => s.resource)
      .reverse()
      .filter((m) => (to === undefined || m.to === to) && (from === undefined || m.from === from))
      .filter((m) => {
        if (!dateFiltered) return true;
        const d = sentDay(m);
        if (d === null) return false;
        return (on === null || d === on) && (onOrAfter === null || d >= onOrAfter) && (onOrBefore === null || d <= onOrBefore);
      });

    const pageSize = Math.min(Math.max(Number(first(query, 'PageSize') ?? 50) || 50, 1), 1000);
    const page = Math.max(Number(first(query, 'Page') ?? 0) || 0, 0);
    const start = page * pageSize;
    const items = matches.slice(start, start + pageSize);
    const hasNext = matches.length > start + pageSize;

    // Page URIs keep the caller's filters, then PageSize & Page (and a PageToken for the next page).
    const base = `/${API_VERSION}/Accounts/${this.options.accountSid}/Messages.json`;
    const filters = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (k === 'PageSize' || k === 'Page' || k === 'PageToken') continue;
      for (const value of Array.isArray(v) ? v : [v]) filters.append(k, value);
    }
    const pageUri = (n: number, token?: string): string => {
      const q = new URLSearchParams(filters);
      q.set('PageSize', String(pageSize));
      q.set('Page', String(n));
      if (token) q.set('PageToken', token);
      return `${base}?${q.toString()}`;
    };
    const last = items[items.length - 1];
    this.send(ctx, 200, {
      first_page_uri: pageUri(0),
      end: items.length > 0 ? start + items.length - 1 : 0,
      previous_page_uri: page > 0 ? pageUri(page - 1, `PB${items[0]?.sid ?? ''}`) : null,
      messages: items,
      uri: pageUri(page),
      page_size: pageSize,
      start,
      next_page_uri: hasNext && last ? pageUri(page + 1, `PA${last.sid}`) : null,
      page,
    });
  }

  private error(ctx: Context, status: number, code: number, message: string): void {
    this.send(ctx, status, { code, message, more_info: moreInfo(code), status });
  }

  /** Serves JSON after applying any test corruption, and records response violations. */
  private send(ctx: Context, status: number, payload: object): void {
    let body: unknown = structuredClone(payload);
    const corrupt = this.corruptions.shift();
    if (corrupt) body = corrupt(body as Record<string, unknown>);
    this.checkResponse(ctx, status, body);
    ctx.res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8' });
    ctx.res.end(JSON.stringify(body));
  }

  private checkResponse(ctx: Context, status: number, body: unknown): void {
    this.violations.push(...responseProblems(this.spec, ctx.operation, ctx.method, ctx.path, status, body));
  }
}

/** Starts the fake on 127.0.0.1 (an ephemeral port). */
export async function startFakeTwilio(options: FakeTwilioOptions): Promise<FakeTwilio> {
  const fake = new FakeTwilioServer(options, getSpec(options.specPath ?? DEFAULT_SPEC));
  await fake.listen();
  return fake;
}

/**
 * A `twilio` RequestClient that sends what the SDK addresses to https://api.twilio.com to the fake instead:
 * `twilio(accountSid, authToken, { httpClient: new FakeTwilioRequestClient(fake.url) })`.
 */
export class FakeTwilioRequestClient extends twilio.RequestClient {
  constructor(private readonly baseUrl: string) {
    super();
  }

  override request<TData>(opts: RequestClient.RequestOptions<TData>): Promise<TwilioHttpResponse.default<TData>> {
    const uri = opts.uri.startsWith(TWILIO_ORIGIN) ? this.baseUrl + opts.uri.slice(TWILIO_ORIGIN.length) : opts.uri;
    return super.request({ ...opts, uri });
  }
}
