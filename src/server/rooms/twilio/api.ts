import { Readable } from 'node:stream';
import twilio from 'twilio';
import { MediaUnavailableError } from '../provider.js';

/** The host the official SDK calls for Video; rewritten to TWILIO_VIDEO_API_BASE_URL (a proxy, or a local fake in tests). */
const VIDEO_HOST = 'https://video.twilio.com';

export type TwilioClient = ReturnType<typeof twilio>;

export interface TwilioVideoApiOptions {
  accountSid: string;
  apiKeySid: string;
  apiKeySecret: string;
  /** https://video.twilio.com, or a proxy / local fake in front of it. */
  baseUrl: string;
  /** One request gives up after this long (then counts as in doubt, and is retried: every call here is idempotent). */
  timeoutMs: number;
  /** Attempts for a retryable failure (429, 5xx, no answer), the first included. Default 4. */
  maxAttempts?: number;
  /** The first retry waits about this long, each later one about twice as long (with jitter). Default 250 ms. */
  retryBaseMs?: number;
}

/** Twilio refused the request itself (a 4xx other than 401, 403 and 429): retrying it unchanged cannot help. */
export class TwilioRequestError extends Error {
  constructor(
    readonly status: number,
    /** Twilio's error code (https://www.twilio.com/docs/api/errors), when it gave one. */
    readonly code: number | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'TwilioRequestError';
  }
}

/** Network errors after which Twilio may or may not have acted on the request. */
const NO_ANSWER = new Set(['ECONNABORTED', 'ETIMEDOUT', 'ECONNRESET', 'EPIPE', 'ERR_BAD_RESPONSE', 'ESOCKETTIMEDOUT', 'UND_ERR_SOCKET']);
const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

type Failure = { retry: true; reason: MediaUnavailableError['reason']; message: string } | { retry: false; error: Error };

function classify(err: unknown): Failure {
  const e = err as { status?: unknown; code?: unknown; message?: unknown };
  if (typeof e.status === 'number') {
    const code = typeof e.code === 'number' ? e.code : undefined;
    const message = typeof e.message === 'string' ? e.message : `HTTP ${e.status}`;
    if (e.status === 429 || code === 20429) return { retry: true, reason: 'overloaded', message: `Twilio asked to slow down (${message})` };
    if (e.status >= 500) return { retry: true, reason: 'overloaded', message: `Twilio answered ${e.status} (${message})` };
    if (e.status === 401 || e.status === 403) {
      return { retry: false, error: new MediaUnavailableError('credentials_refused', `Twilio refused the configured credentials (${code ?? e.status}): check TWILIO_ACCOUNT_SID, TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET`) };
    }
    return { retry: false, error: new TwilioRequestError(e.status, code, message) };
  }
  const net = typeof e.code === 'string' ? e.code : '';
  if (UNREACHABLE.has(net)) return { retry: true, reason: 'unreachable', message: `Twilio could not be reached (${net})` };
  if (NO_ANSWER.has(net) || /timeout/i.test(String(e.message ?? ''))) return { retry: true, reason: 'timeout', message: `No answer from Twilio (${net || 'timeout'})` };
  return { retry: false, error: err instanceof Error ? err : new Error(String(err)) };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Twilio Video's REST API through the official SDK, with the retry policy every call here shares: 429, 5xx and no
 * answer are retried with exponential backoff and jitter, then reported as MediaUnavailableError (the API's 503);
 * 401 / 403 at once as credentials refused; any other 4xx as TwilioRequestError. Every call made through `call` must
 * be safe to repeat (a timed-out request may have been applied): set-the-state writes are; creations check first.
 */
export class TwilioVideoApi {
  readonly client: TwilioClient;
  readonly #options: Required<TwilioVideoApiOptions>;
  readonly #auth: string;

  constructor(options: TwilioVideoApiOptions) {
    this.#options = { maxAttempts: 4, retryBaseMs: 250, ...options, baseUrl: options.baseUrl.replace(/\/+$/, '') };
    const base = this.#options.baseUrl;
    const timeout = options.timeoutMs;
    class RoutedClient extends twilio.RequestClient {
      override request<T>(opts: Parameters<InstanceType<typeof twilio.RequestClient>['request']>[0] & { data?: T }) {
        if (base !== VIDEO_HOST && opts.uri.startsWith(VIDEO_HOST)) opts.uri = base + opts.uri.slice(VIDEO_HOST.length);
        return super.request({ ...opts, timeout });
      }
    }
    // An API key (SK…) authenticates REST calls; the account SID says whose account.
    this.client = twilio(options.apiKeySid, options.apiKeySecret, { accountSid: options.accountSid, httpClient: new RoutedClient({ timeout, keepAlive: true }) });
    this.#auth = `Basic ${Buffer.from(`${options.apiKeySid}:${options.apiKeySecret}`).toString('base64')}`;
  }

  /** Runs `fn` under the retry policy. */
  async call<T>(fn: (client: TwilioClient) => Promise<T>): Promise<T> {
    const { maxAttempts, retryBaseMs } = this.#options;
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(this.client);
      } catch (err) {
        const failure = classify(err);
        if (!failure.retry) throw failure.error;
        if (attempt >= maxAttempts) throw new MediaUnavailableError(failure.reason, `${failure.message}, after ${attempt} attempts`);
        await sleep(retryBaseMs * 2 ** (attempt - 1) * (0.5 + Math.random()));
      }
    }
  }

  /**
   * A media file (`/v1/Recordings/RT…/Media`, `/v1/Compositions/CJ…/Media`): Twilio answers a redirect to a short-lived
   * URL on its media host, fetched without our credentials. Null when Twilio has no such file (404, or deleted).
   */
  async media(path: string): Promise<{ stream: Readable; bytes: number; contentType: string } | null> {
    const first = await this.call(() => fetchOrThrow(`${this.#options.baseUrl}${path}`, { headers: { authorization: this.#auth }, redirect: 'manual' }, this.#options.timeoutMs));
    if (first.status === 404) return null;
    let answer = first;
    if (first.status >= 300 && first.status < 400) {
      const location = first.headers.get('location');
      await first.body?.cancel();
      if (!location) throw new TwilioRequestError(first.status, undefined, 'Twilio redirected to no media URL');
      answer = await this.call(() => fetchOrThrow(new URL(location, this.#options.baseUrl).toString(), {}, this.#options.timeoutMs));
      if (answer.status === 404) return null;
    }
    if (answer.status !== 200 || !answer.body) {
      await answer.body?.cancel();
      throw new TwilioRequestError(answer.status, undefined, `Twilio's media answered ${answer.status}`);
    }
    return {
      stream: Readable.fromWeb(answer.body as import('node:stream/web').ReadableStream<Uint8Array>),
      bytes: Number(answer.headers.get('content-length') ?? 0),
      contentType: answer.headers.get('content-type')?.split(';')[0]?.trim() || 'application/octet-stream',
    };
  }

  /** DELETE of a media resource (a recording, a composition); gone already is not an error. */
  async remove(path: string): Promise<void> {
    const answer = await this.call(() => fetchOrThrow(`${this.#options.baseUrl}${path}`, { method: 'DELETE', headers: { authorization: this.#auth } }, this.#options.timeoutMs));
    await answer.body?.cancel();
    if (answer.status !== 204 && answer.status !== 200 && answer.status !== 404) throw new TwilioRequestError(answer.status, undefined, `Twilio answered ${answer.status} to a delete`);
  }
}

/** fetch() with a timeout, throwing what classify() reads for the statuses the retry policy cares about. */
async function fetchOrThrow(url: string, init: RequestInit, timeoutMs: number): Promise<Response> {
  let answer: Response;
  try {
    answer = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    throw Object.assign(new Error(`fetch failed: ${(err as Error).name}`), { code: cause?.code ?? ((err as Error).name === 'TimeoutError' ? 'ETIMEDOUT' : 'ECONNRESET') });
  }
  if (answer.status === 429 || answer.status >= 500 || answer.status === 401 || answer.status === 403) {
    await answer.body?.cancel();
    throw Object.assign(new Error(`HTTP ${answer.status}`), { status: answer.status });
  }
  return answer;
}
