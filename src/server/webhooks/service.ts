import { randomBytes } from 'node:crypto';
import { and, asc, desc, eq, getTableColumns, inArray, sql, type SQL } from 'drizzle-orm';
import type { PgColumn } from 'drizzle-orm/pg-core';
import type { FastifyBaseLogger } from 'fastify';
import type {
  CreateWebhookBody,
  ListDeliveriesQuery,
  ListWebhooksQuery,
  UpdateWebhookBody,
  Webhook,
  WebhookDelivery,
} from '../../shared/api/webhooks.js';
import type { OrgEvent } from '../../shared/events.js';
import { audit } from '../audit/service.js';
import type { Config } from '../config.js';
import type { Ctx } from '../context.js';
import { sqlState, type Db } from '../db/index.js';
import { webhookAttempts, webhookDeliveries, webhookSubscriptions } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { decodeCursor, encodeCursor, page } from '../http/pagination.js';
import type { Jobs } from '../jobs/index.js';
import { isKnownPattern, patternsMatch, webhookEventType } from './events.js';

/** The job queue deliveries run on; a job is `{ orgId, deliveryId }`. */
export const WEBHOOK_QUEUE = 'webhook-deliver';
export const SECRET_PREFIX = 'whsec_';
/** The event type of `POST /webhooks/:id/test`, sent to that subscription whatever its events. */
export const TEST_EVENT_TYPE = 'webhook.test';

export interface DeliveryJob {
  orgId: string;
  deliveryId: string;
}

export interface WebhookDeps {
  db: Db;
  jobs: Jobs;
  config: Config['webhooks'];
  log: Pick<FastifyBaseLogger, 'info' | 'warn' | 'error'>;
}

type SubscriptionRow = typeof webhookSubscriptions.$inferSelect;
type DeliveryRow = typeof webhookDeliveries.$inferSelect;
type AttemptRow = typeof webhookAttempts.$inferSelect;

export function toWebhookDto(row: SubscriptionRow): Webhook {
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    description: row.description,
    active: row.active,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

function toDeliveryDto(row: DeliveryRow, attempts: AttemptRow[]): WebhookDelivery {
  return {
    id: row.id,
    webhookId: row.subscriptionId,
    messageId: row.messageId,
    eventType: row.eventType,
    payload: row.payload as WebhookDelivery['payload'],
    status: row.status,
    attemptCount: row.attempts,
    lastStatusCode: row.lastStatusCode,
    lastError: row.lastError,
    createdAt: row.createdAt.toISOString(),
    deliveredAt: row.deliveredAt?.toISOString() ?? null,
    attempts: attempts.map((a) => ({ attempt: a.attempt, at: a.at.toISOString(), statusCode: a.statusCode, durationMs: a.durationMs, error: a.error })),
  };
}

/** A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes (the spec asks for 24 to 64). */
export function newWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/** A Standard Webhooks message id (the `webhook-id` header). */
export function newMessageId(): string {
  return `msg_${randomBytes(16).toString('hex')}`;
}

/** The URL as stored: absolute http(s), no fragment (it is never sent). */
function checkUrl(raw: string): string {
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    throw new AppError('invalid_webhook_url');
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.hostname === '') throw new AppError('invalid_webhook_url');
  url.hash = '';
  return url.toString();
}

/** The patterns as stored (deduplicated, in the given order); every one must name something that exists. */
function checkEvents(events: readonly string[]): string[] {
  const unknown = events.flatMap((e, i) => (isKnownPattern(e) ? [] : [{ path: `body/events/${i}`, message: `"${e}" is not an event type or category (GET /api/v1/webhooks/event-types lists them)` }]));
  if (unknown.length > 0) throw new AppError('validation_failed', undefined, unknown);
  return [...new Set(events)];
}

async function subscriptionOf(db: Db, orgId: string, id: string): Promise<SubscriptionRow> {
  const [row] = await db.select().from(webhookSubscriptions).where(and(eq(webhookSubscriptions.orgId, orgId), eq(webhookSubscriptions.id, id))).limit(1);
  if (!row) throw new AppError('not_found', 'There is no such webhook.');
  return row;
}

export async function createWebhook(deps: WebhookDeps, ctx: Ctx, body: CreateWebhookBody): Promise<{ webhook: Webhook; secret: string }> {
  const url = checkUrl(body.url);
  const events = checkEvents(body.events);
  const secret = newWebhookSecret();
  const row = await deps.db.transaction(async (tx) => {
    const [inserted] = await tx
      .insert(webhookSubscriptions)
      .values({ orgId: ctx.orgId, url, events, secret, description: body.description?.trim() || null, active: body.active ?? true })
      .returning();
    await audit(tx, ctx, 'webhook.created', { type: 'webhook', id: inserted!.id }, { events: events.length, active: inserted!.active });
    return inserted!;
  });
  return { webhook: toWebhookDto(row), secret };
}

/**
 * A time column to the microsecond, for cursors: a JS Date keeps milliseconds only, and a cursor cut to the
 * millisecond would skip rows created later in the same millisecond than the page's last one.
 */
const exact = (column: PgColumn) => sql<string>`to_char(${column} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** `(time, id) < cursor` for newest-first lists; a tampered cursor is a 400, never a database error. */
function before(cursor: string, time: PgColumn, id: PgColumn): SQL {
  const [at, lastId] = decodeCursor(cursor, ['time', 'uuid']);
  return sql`(${time}, ${id}) < (${at}::timestamptz, ${lastId}::uuid)`;
}

export async function listWebhooks(deps: WebhookDeps, ctx: Ctx, q: ListWebhooksQuery): Promise<{ data: Webhook[]; nextCursor: string | null }> {
  const where: SQL[] = [eq(webhookSubscriptions.orgId, ctx.orgId)];
  if (q.cursor) where.push(before(q.cursor, webhookSubscriptions.createdAt, webhookSubscriptions.id));
  const rows = await deps.db
    .select({ ...getTableColumns(webhookSubscriptions), exactCreatedAt: exact(webhookSubscriptions.createdAt) })
    .from(webhookSubscriptions)
    .where(and(...where))
    .orderBy(desc(webhookSubscriptions.createdAt), desc(webhookSubscriptions.id))
    .limit(q.limit + 1);
  const result = page(rows, q.limit, (r) => encodeCursor([r.exactCreatedAt, r.id]));
  return { data: result.data.map(toWebhookDto), nextCursor: result.nextCursor };
}

export async function getWebhook(deps: WebhookDeps, ctx: Ctx, id: string): Promise<Webhook> {
  return toWebhookDto(await subscriptionOf(deps.db, ctx.orgId, id));
}

export async function updateWebhook(deps: WebhookDeps, ctx: Ctx, id: string, body: UpdateWebhookBody): Promise<Webhook> {
  const changes: Partial<SubscriptionRow> = {};
  if (body.url !== undefined) changes.url = checkUrl(body.url);
  if (body.events !== undefined) changes.events = checkEvents(body.events);
  if (body.description !== undefined) changes.description = body.description?.trim() || null;
  if (body.active !== undefined) changes.active = body.active;
  return deps.db.transaction(async (tx) => {
    await subscriptionOf(tx, ctx.orgId, id);
    const [row] = await tx
      .update(webhookSubscriptions)
      .set({ ...changes, updatedAt: new Date() })
      .where(and(eq(webhookSubscriptions.orgId, ctx.orgId), eq(webhookSubscriptions.id, id)))
      .returning();
    await audit(tx, ctx, 'webhook.updated', { type: 'webhook', id }, { fields: Object.keys(changes).sort().join(','), ...(changes.active !== undefined ? { active: changes.active } : {}) });
    return toWebhookDto(row!);
  });
}

/** Deletes the subscription with its delivery log; a delivery still queued finds nothing and is dropped. */
export async function deleteWebhook(deps: WebhookDeps, ctx: Ctx, id: string): Promise<void> {
  await deps.db.transaction(async (tx) => {
    await subscriptionOf(tx, ctx.orgId, id);
    await tx.delete(webhookSubscriptions).where(and(eq(webhookSubscriptions.orgId, ctx.orgId), eq(webhookSubscriptions.id, id)));
    await audit(tx, ctx, 'webhook.deleted', { type: 'webhook', id });
  });
}

/** A new secret, effective at once: deliveries from now on (retries included) are signed with it. */
export async function rotateWebhookSecret(deps: WebhookDeps, ctx: Ctx, id: string): Promise<{ webhook: Webhook; secret: string }> {
  const secret = newWebhookSecret();
  return deps.db.transaction(async (tx) => {
    await subscriptionOf(tx, ctx.orgId, id);
    const [row] = await tx
      .update(webhookSubscriptions)
      .set({ secret, updatedAt: new Date() })
      .where(and(eq(webhookSubscriptions.orgId, ctx.orgId), eq(webhookSubscriptions.id, id)))
      .returning();
    await audit(tx, ctx, 'webhook.secret_rotated', { type: 'webhook', id });
    return { webhook: toWebhookDto(row!), secret };
  });
}

async function withAttempts(db: Db, orgId: string, rows: DeliveryRow[]): Promise<WebhookDelivery[]> {
  if (rows.length === 0) return [];
  const attempts = await db
    .select()
    .from(webhookAttempts)
    .where(and(eq(webhookAttempts.orgId, orgId), inArray(webhookAttempts.deliveryId, rows.map((r) => r.id))))
    .orderBy(asc(webhookAttempts.deliveryId), asc(webhookAttempts.attempt));
  const byDelivery = new Map<string, AttemptRow[]>();
  for (const a of attempts) byDelivery.set(a.deliveryId, [...(byDelivery.get(a.deliveryId) ?? []), a]);
  return rows.map((r) => toDeliveryDto(r, byDelivery.get(r.id) ?? []));
}

/** A subscription's deliveries, newest first, each with its attempts. */
export async function listDeliveries(deps: WebhookDeps, ctx: Ctx, webhookId: string, q: ListDeliveriesQuery): Promise<{ data: WebhookDelivery[]; nextCursor: string | null }> {
  const where: SQL[] = [eq(webhookDeliveries.orgId, ctx.orgId), eq(webhookDeliveries.subscriptionId, webhookId)];
  if (q.status) where.push(eq(webhookDeliveries.status, q.status));
  // A malformed cursor is a 400 whatever the webhook; only then is the webhook looked up.
  if (q.cursor) where.push(before(q.cursor, webhookDeliveries.createdAt, webhookDeliveries.id));
  await subscriptionOf(deps.db, ctx.orgId, webhookId);
  const rows = await deps.db
    .select({ ...getTableColumns(webhookDeliveries), exactCreatedAt: exact(webhookDeliveries.createdAt) })
    .from(webhookDeliveries)
    .where(and(...where))
    .orderBy(desc(webhookDeliveries.createdAt), desc(webhookDeliveries.id))
    .limit(q.limit + 1);
  const result = page(rows, q.limit, (r) => encodeCursor([r.exactCreatedAt, r.id]));
  return { data: await withAttempts(deps.db, ctx.orgId, result.data), nextCursor: result.nextCursor };
}

async function deliveryOf(db: Db, orgId: string, deliveryId: string): Promise<DeliveryRow> {
  const [row] = await db.select().from(webhookDeliveries).where(and(eq(webhookDeliveries.orgId, orgId), eq(webhookDeliveries.id, deliveryId))).limit(1);
  if (!row) throw new AppError('not_found', 'There is no such delivery.');
  return row;
}

export async function getDelivery(deps: WebhookDeps, ctx: Ctx, deliveryId: string): Promise<WebhookDelivery> {
  const [dto] = await withAttempts(deps.db, ctx.orgId, [await deliveryOf(deps.db, ctx.orgId, deliveryId)]);
  return dto!;
}

/**
 * Hands deliveries to the job queue. A delivery that cannot be queued is marked failed (so it shows in the
 * log and can be redelivered) rather than left pending with nothing to send it.
 */
async function queue(deps: WebhookDeps, rows: readonly { id: string; orgId: string }[]): Promise<void> {
  for (const row of rows) {
    try {
      await deps.jobs.send<DeliveryJob>(WEBHOOK_QUEUE, { orgId: row.orgId, deliveryId: row.id });
    } catch (err) {
      deps.log.error({ err: { message: (err as Error).message }, deliveryId: row.id }, 'webhook delivery could not be queued');
      await deps.db
        .update(webhookDeliveries)
        .set({ status: 'failed', lastError: 'could not be queued' })
        .where(and(eq(webhookDeliveries.orgId, row.orgId), eq(webhookDeliveries.id, row.id)))
        .catch(() => {});
    }
  }
}

/** Sends a delivery again, with the same message id (`webhook-id`), once it is delivered or has failed. */
export async function redeliver(deps: WebhookDeps, ctx: Ctx, deliveryId: string): Promise<WebhookDelivery> {
  const row = await deps.db.transaction(async (tx) => {
    const current = await deliveryOf(tx, ctx.orgId, deliveryId);
    const subscription = await subscriptionOf(tx, ctx.orgId, current.subscriptionId);
    if (!subscription.active) throw new AppError('invalid_state', 'The webhook is inactive: activate it first.');
    const [updated] = await tx
      .update(webhookDeliveries)
      .set({ status: 'pending', deliveredAt: null })
      .where(and(eq(webhookDeliveries.orgId, ctx.orgId), eq(webhookDeliveries.id, deliveryId), sql`${webhookDeliveries.status} <> 'pending'`))
      .returning();
    if (!updated) throw new AppError('invalid_state', 'This delivery is still being attempted.', { status: current.status });
    await audit(tx, ctx, 'webhook.redelivered', { type: 'webhook_delivery', id: deliveryId }, { webhookId: subscription.id, messageId: updated.messageId });
    return updated;
  });
  await queue(deps, [row]);
  return getDelivery(deps, ctx, deliveryId);
}

/** Sends a `webhook.test` event to one subscription (whatever events it selects). */
export async function testWebhook(deps: WebhookDeps, ctx: Ctx, id: string): Promise<WebhookDelivery> {
  const row = await deps.db.transaction(async (tx) => {
    const subscription = await subscriptionOf(tx, ctx.orgId, id);
    if (!subscription.active) throw new AppError('invalid_state', 'The webhook is inactive: activate it first.');
    const payload = { type: TEST_EVENT_TYPE, timestamp: new Date().toISOString(), data: { webhookId: id } };
    const [inserted] = await tx
      .insert(webhookDeliveries)
      .values({ orgId: ctx.orgId, subscriptionId: id, messageId: newMessageId(), eventType: TEST_EVENT_TYPE, payload })
      .returning();
    await audit(tx, ctx, 'webhook.test_sent', { type: 'webhook', id }, { deliveryId: inserted!.id });
    return inserted!;
  });
  await queue(deps, [row]);
  return getDelivery(deps, ctx, row.id);
}

/**
 * Queues an organisation event for every active subscription that selects it: one delivery row each, then
 * a job each. Called by OrgEvents on the process that published the event (once per event, however many
 * servers run). Never throws: the change the event announces is committed already.
 */
export async function enqueueEvent(deps: WebhookDeps, orgId: string, event: OrgEvent): Promise<void> {
  const type = webhookEventType(event.type);
  if (!type) return;
  const payload = { type, timestamp: event.at, data: event.data };
  try {
    // Twice at most: a subscription deleted between the two statements fails the insert (foreign key);
    // the second pass no longer sees it.
    for (let pass = 1; ; pass++) {
      const subscriptions = await deps.db
        .select({ id: webhookSubscriptions.id, events: webhookSubscriptions.events })
        .from(webhookSubscriptions)
        .where(and(eq(webhookSubscriptions.orgId, orgId), eq(webhookSubscriptions.active, true)));
      const matching = subscriptions.filter((s) => patternsMatch(s.events, type));
      if (matching.length === 0) return;
      try {
        const rows = await deps.db
          .insert(webhookDeliveries)
          .values(matching.map((s) => ({ orgId, subscriptionId: s.id, messageId: newMessageId(), eventType: type, payload })))
          .returning({ id: webhookDeliveries.id, orgId: webhookDeliveries.orgId });
        await queue(deps, rows);
        return;
      } catch (err) {
        if (pass === 1 && sqlState(err) === '23503') continue;
        throw err;
      }
    }
  } catch (err) {
    deps.log.error({ err: { message: (err as Error).message, code: sqlState(err) }, orgId, event: event.type }, 'webhook enqueue failed');
  }
}
