import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { and, eq, sql } from 'drizzle-orm';
import { webhookAttempts, webhookDeliveries, webhookSubscriptions } from '../db/schema.js';
import type { Job } from '../jobs/index.js';
import { SECRET_PREFIX, WEBHOOK_QUEUE, type DeliveryJob, type WebhookDeps } from './service.js';

/**
 * Delivery per the Standard Webhooks specification (https://www.standardwebhooks.com): a JSON POST with
 * `webhook-id` (the message id, the same on every attempt), `webhook-timestamp` (unix seconds of this
 * attempt) and `webhook-signature` (`v1,` + base64 HMAC-SHA256 of `id.timestamp.body` keyed with the
 * secret's base64-decoded bytes). A 2xx answer is success; anything else, a timeout or a network error is a
 * failed attempt, recorded and thrown so the job queue retries it with exponential backoff.
 */

export const USER_AGENT = 'OpenVisit-Webhooks/1.0';
/** The most of an answer's body read (and thrown away) before the connection is dropped. */
const MAX_ANSWER_BYTES = 64 * 1024;

export function signPayload(secret: string, messageId: string, timestamp: number, body: string): string {
  const key = Buffer.from(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret, 'base64');
  return `v1,${createHmac('sha256', key).update(`${messageId}.${timestamp}.${body}`).digest('base64')}`;
}

interface Outcome {
  statusCode: number | null;
  /** Short and safe to store: a status, a timeout or an error code; never the answer's body or the URL. */
  error: string | null;
}

class ShutdownError extends Error {}

/** One POST. Resolves the outcome of the attempt; rejects only when the server is shutting down. */
function post(url: string, headers: Record<string, string>, body: string, timeoutMs: number, shutdown: AbortSignal): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    if (shutdown.aborted) return reject(new ShutdownError('shutting down'));
    const target = new URL(url);
    const client = target.protocol === 'https:' ? https : http;
    let settled = false;
    const finish = (outcome: Outcome | ShutdownError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      shutdown.removeEventListener('abort', onShutdown);
      if (outcome instanceof ShutdownError) reject(outcome);
      else resolve(outcome);
    };
    // No pooled connections: endpoints are many and calls rare; nothing stays open after an attempt.
    const request = client.request(target, { method: 'POST', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent: false });
    const timer = setTimeout(() => {
      finish({ statusCode: null, error: `timed out after ${Math.round(timeoutMs / 1000)} s` });
      request.destroy();
    }, timeoutMs);
    const onShutdown = () => {
      finish(new ShutdownError('shutting down'));
      request.destroy();
    };
    shutdown.addEventListener('abort', onShutdown, { once: true });
    request.on('response', (response) => {
      const statusCode = response.statusCode ?? 0;
      const outcome: Outcome = { statusCode, error: statusCode >= 200 && statusCode < 300 ? null : `HTTP ${statusCode}` };
      let read = 0;
      response.on('data', (chunk: Buffer) => {
        read += chunk.length;
        if (read > MAX_ANSWER_BYTES) {
          finish(outcome);
          response.destroy();
        }
      });
      response.on('end', () => finish(outcome));
      response.on('error', () => finish(outcome));
      response.on('close', () => finish(outcome));
    });
    request.on('error', (err: NodeJS.ErrnoException) => finish({ statusCode: null, error: `connection failed${err.code ? ` (${err.code})` : ''}` }));
    request.end(body);
  });
}

/** The job handler: one attempt of one delivery. */
export async function runDelivery(deps: WebhookDeps, job: Job<DeliveryJob>): Promise<void> {
  const { orgId, deliveryId } = job.data;
  const [row] = await deps.db
    .select({
      status: webhookDeliveries.status,
      messageId: webhookDeliveries.messageId,
      payload: webhookDeliveries.payload,
      subscriptionId: webhookSubscriptions.id,
      url: webhookSubscriptions.url,
      secret: webhookSubscriptions.secret,
      active: webhookSubscriptions.active,
    })
    .from(webhookDeliveries)
    .innerJoin(webhookSubscriptions, and(eq(webhookSubscriptions.orgId, webhookDeliveries.orgId), eq(webhookSubscriptions.id, webhookDeliveries.subscriptionId)))
    .where(and(eq(webhookDeliveries.orgId, orgId), eq(webhookDeliveries.id, deliveryId)))
    .limit(1);
  // Deleted with its subscription, or settled already (a redelivery requested twice): nothing to send.
  if (!row || row.status !== 'pending') return;
  const ids = { deliveryId, subscriptionId: row.subscriptionId, messageId: row.messageId };
  if (!row.active) {
    await deps.db
      .update(webhookDeliveries)
      .set({ status: 'failed', lastError: 'webhook inactive' })
      .where(and(eq(webhookDeliveries.orgId, orgId), eq(webhookDeliveries.id, deliveryId), eq(webhookDeliveries.status, 'pending')));
    deps.log.info(ids, 'webhook delivery dropped: the webhook is inactive');
    return;
  }

  const payload = row.payload as { type?: unknown; timestamp?: unknown; data?: unknown };
  const body = JSON.stringify({ type: payload.type, timestamp: payload.timestamp, data: payload.data });
  const timestamp = Math.floor(Date.now() / 1000);
  const headers = {
    'content-type': 'application/json',
    'user-agent': USER_AGENT,
    'webhook-id': row.messageId,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': signPayload(row.secret, row.messageId, timestamp, body),
  };
  const started = performance.now();
  const outcome = await post(row.url, headers, body, deps.config.timeoutMs, job.signal);
  const durationMs = Math.round(performance.now() - started);
  const delivered = outcome.error === null;
  const last = job.retryCount >= job.retryLimit;
  const status = delivered ? 'delivered' : last ? 'failed' : 'pending';

  const attempt = await deps.db.transaction(async (tx) => {
    const [updated] = await tx
      .update(webhookDeliveries)
      .set({
        attempts: sql`${webhookDeliveries.attempts} + 1`,
        status,
        lastStatusCode: outcome.statusCode,
        lastError: outcome.error,
        ...(delivered ? { deliveredAt: new Date() } : {}),
      })
      .where(and(eq(webhookDeliveries.orgId, orgId), eq(webhookDeliveries.id, deliveryId)))
      .returning({ attempts: webhookDeliveries.attempts });
    if (!updated) return null; // deleted meanwhile
    await tx.insert(webhookAttempts).values({ orgId, deliveryId, attempt: updated.attempts, statusCode: outcome.statusCode, durationMs, error: outcome.error });
    return updated.attempts;
  });
  if (attempt === null) return;
  const logged = { ...ids, attempt, statusCode: outcome.statusCode, durationMs };
  if (delivered) {
    deps.log.info(logged, 'webhook delivered');
    return;
  }
  deps.log.warn({ ...logged, error: outcome.error, final: last }, last ? 'webhook delivery failed for good' : 'webhook delivery failed; it will be retried');
  // Thrown so pg-boss records the failure and schedules the retry (none after the last attempt).
  throw new Error(`webhook attempt failed: ${outcome.error}`);
}

/** Declares the delivery queue with the configured retry policy and runs its workers on this process. */
export async function startDeliveryWorkers(deps: WebhookDeps): Promise<void> {
  await deps.jobs.work<DeliveryJob>(
    WEBHOOK_QUEUE,
    {
      retryLimit: deps.config.maxAttempts - 1,
      retryDelaySeconds: deps.config.retryDelayS,
      retryBackoff: true,
      // Room for the attempt and its bookkeeping; a run lost with its process is retried after this.
      expireInSeconds: Math.ceil(deps.config.timeoutMs / 1000) + 30,
      concurrency: 4,
    },
    (job) => runDelivery(deps, job),
  );
}
