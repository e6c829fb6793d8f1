/**
 * The outbox worker: sends committed message rows through their provider. Every server process runs one; they
 * share the table through `FOR UPDATE SKIP LOCKED` claims, so a row is sent by one process at a time.
 *
 * A claim marks the row `sending`, counts the attempt and leases it (`locked_until`). What happens next:
 * - the provider took it: its id is recorded and the lease cleared (statuses then come from the provider);
 * - a retryable failure (timeout, 429, 5xx): the row goes back to `queued` after an exponential backoff;
 * - a failure whose outcome is unknown (a timeout after the request left, a crash of this process): the row stays
 *   `sending` with no provider id until its lease ends, and the next claim first asks the provider whether the
 *   message exists (`find`) before sending it again: a message is never sent twice, never lost;
 * - a final failure (invalid number, opted out…): `failed` with the provider's code and reason.
 * Per-sender throughput is kept to the provider's rate (segments per second).
 */
import type { FastifyBaseLogger } from 'fastify';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { audit } from '../audit/service.js';
import { systemCtx } from '../context.js';
import { messages, messagingSettings } from '../db/schema.js';
import { ProviderError, type MessagingProvider, type OutgoingMessage, type SendResult } from './provider.js';
import { STATUS_RANK, type MessageRow, type MessagingDeps } from './messages.js';
import { recordProviderOptOut } from './status.js';

export interface OutboxWorker {
  /** Look for due messages now (after a commit that queued one). */
  kick(): void;
  /** Resolves when nothing is claimed or being sent (tests, benchmarks). */
  idle(): Promise<void>;
  stop(): Promise<void>;
}

export interface WorkerOptions {
  /** How often an idle worker looks for due rows (retries, quiet hours ending, rows other processes queued). */
  pollMs?: number;
  /** Extra time a claim holds a row beyond the send timeout. */
  leaseMarginMs?: number;
}

export function startOutboxWorker(deps: MessagingDeps, log: Pick<FastifyBaseLogger, 'warn' | 'error' | 'info'>, options: WorkerOptions = {}): OutboxWorker {
  const { config } = deps;
  const pollMs = options.pollMs ?? 1000;
  const leaseMs = config.sendTimeoutMs + (options.leaseMarginMs ?? 10_000);
  const abort = new AbortController();
  const inflight = new Set<Promise<void>>();
  const nextFree = new Map<string, number>();
  let claiming = false;
  let again = false;
  let stopped = false;
  let idleWaiters: (() => void)[] = [];

  const wake = () => {
    if (stopped) return;
    if (claiming) {
      again = true;
      return;
    }
    claiming = true;
    void claim()
      .catch((err: unknown) => {
        if (!stopped) log.warn({ err }, 'outbox claim failed');
      })
      .finally(() => {
        claiming = false;
        if (again) {
          again = false;
          wake();
        } else settle();
      });
  };

  const settle = () => {
    if (inflight.size === 0 && !claiming) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    }
  };

  const claim = async () => {
    const room = config.concurrency - inflight.size;
    if (room <= 0) return;
    const result = await deps.db.execute<{ id: string; prev_status: string; prev_started: string | Date | null }>(sql`
      update ${messages} m
      set status = 'sending', status_rank = greatest(m.status_rank, ${STATUS_RANK.sending}), attempts = m.attempts + 1,
          locked_until = now() + (${leaseMs} * interval '1 millisecond'), attempt_started_at = now(), updated_at = now()
      from (
        select id, status as prev_status, attempt_started_at as prev_started from ${messages}
        where direction = 'outbound'
          and ((status = 'queued' and send_after <= now()) or (status = 'sending' and provider_message_id is null and locked_until < now()))
        order by send_after, created_at
        limit ${room}
        for update skip locked
      ) due
      where m.id = due.id
      returning m.id, due.prev_status, due.prev_started`);
    const claimed = (result as unknown as { rows: { id: string; prev_status: string; prev_started: string | Date | null }[] }).rows;
    if (claimed.length === 0) return;
    // With each row, its organisation's own SMS sender (when it has one): texts go out from it.
    const claimedRows = await deps.db
      .select({ row: messages, number: messagingSettings.smsNumber, service: messagingSettings.messagingServiceSid })
      .from(messages)
      .leftJoin(messagingSettings, eq(messagingSettings.orgId, messages.orgId))
      .where(inArray(messages.id, claimed.map((c) => c.id)));
    for (const { row, number, service } of claimedRows) {
      if (row.attempts === 1) {
        void deps.hub.publish(row.orgId, 'message.updated', { messageId: row.id, patientId: row.patientId, channel: row.channel, direction: 'outbound', status: 'sending', errorCode: null });
      }
      const c = claimed.find((x) => x.id === row.id)!;
      const inDoubt = c.prev_status === 'sending' && c.prev_started !== null ? new Date(c.prev_started) : null;
      const sender = row.channel === 'sms' && (number || service) ? { number: number ?? undefined, service: service ?? undefined } : undefined;
      const job = deliver(row, inDoubt, sender).finally(() => {
        inflight.delete(job);
        wake();
      });
      inflight.add(job);
    }
    if (claimed.length === room) again = true;
  };

  /** Waits for the sender's turn: `segments / rate` seconds per message, in claim order. */
  const pace = async (provider: MessagingProvider, segments: number, sender: OutgoingMessage['sender']) => {
    if (!Number.isFinite(provider.ratePerSecond)) return;
    const key = sender ? `${provider.name}:${sender.service ?? sender.number}` : provider.senderKey;
    const now = Date.now();
    const at = Math.max(now, nextFree.get(key) ?? 0);
    nextFree.set(key, at + (segments / provider.ratePerSecond) * 1000);
    if (at > now) await new Promise((r) => setTimeout(r, at - now));
  };

  const deliver = async (row: MessageRow, inDoubtSince: Date | null, sender: OutgoingMessage['sender']) => {
    const provider = row.channel === 'sms' ? deps.sms : deps.email;
    const outgoing: OutgoingMessage = {
      id: row.id,
      channel: row.channel,
      to: row.toAddress,
      subject: row.subjectEnc ? deps.cipher.decrypt(row.subjectEnc) : null,
      body: deps.cipher.decrypt(row.bodyEnc),
      segments: row.segments,
      ...(sender ? { sender } : {}),
    };
    try {
      if (inDoubtSince && provider.find) {
        const found = await provider.find(outgoing, inDoubtSince, (pid) => takenByAnother(row, provider.name, pid), abort.signal);
        if (found) {
          await recordSent(row, provider, found, true);
          return;
        }
      }
      await pace(provider, row.segments, sender);
      if (stopped) return; // left leased: the next start sends it
      const result = await provider.send(outgoing, abort.signal);
      await recordSent(row, provider, result, false);
    } catch (err) {
      if (err instanceof ProviderError) await recordFailure(row, err);
      else if (!stopped) log.error({ err: { message: (err as Error).message }, messageId: row.id }, 'outbox send failed unexpectedly; retried after the lease');
    }
  };

  const takenByAnother = async (row: MessageRow, provider: string, providerMessageId: string) => {
    const [other] = await deps.db
      .select({ id: messages.id })
      .from(messages)
      .where(and(eq(messages.provider, provider), eq(messages.providerMessageId, providerMessageId)))
      .limit(1);
    return other !== undefined && other.id !== row.id;
  };

  const recordSent = async (row: MessageRow, provider: MessagingProvider, result: SendResult, recovered: boolean) => {
    const rank = STATUS_RANK[result.status];
    const ctx = systemCtx(row.orgId);
    const updated = await deps.db.transaction(async (tx) => {
      const [u] = await tx
        .update(messages)
        .set({
          providerMessageId: result.providerMessageId,
          provider: provider.name,
          fromAddress: result.from,
          lockedUntil: null,
          status: sql`case when ${messages.statusRank} < ${rank} then ${result.status} else ${messages.status} end`,
          statusRank: sql`greatest(${messages.statusRank}, ${rank})`,
          sentAt: result.status === 'sent' ? sql`coalesce(${messages.sentAt}, now())` : sql`${messages.sentAt}`,
          errorCode: null,
          errorReason: null,
          updatedAt: new Date(),
        })
        .where(eq(messages.id, row.id))
        .returning();
      await audit(tx, ctx, 'message.status_changed', { type: 'patient', id: row.patientId ?? row.id }, {
        messageId: row.id,
        status: u!.status,
        provider: provider.name,
        attempt: row.attempts,
        recovered,
      });
      return u!;
    });
    await deps.hub.publish(row.orgId, 'message.updated', { messageId: row.id, patientId: row.patientId, channel: row.channel, direction: 'outbound', status: updated.status, errorCode: null });
  };

  const recordFailure = async (row: MessageRow, err: ProviderError) => {
    const retry = err.options.retry && row.attempts < config.maxAttempts;
    const reason = err.reason;
    if (retry) {
      const backoff = Math.min(3600_000, config.retryDelayMs * 2 ** (row.attempts - 1)) * (0.8 + Math.random() * 0.4);
      const wait = Math.max(backoff, err.options.retryAfterMs ?? 0);
      const at = new Date(Date.now() + wait);
      await deps.db
        .update(messages)
        .set(
          err.options.inDoubt
            ? { lockedUntil: at, errorCode: err.code, errorReason: reason, updatedAt: new Date() }
            : { status: 'queued', statusRank: STATUS_RANK.queued, sendAfter: at, lockedUntil: null, errorCode: err.code, errorReason: reason, updatedAt: new Date() },
        )
        .where(and(eq(messages.id, row.id), eq(messages.status, 'sending')));
      return;
    }
    const ctx = systemCtx(row.orgId);
    const updated = await deps.db.transaction(async (tx) => {
      const [u] = await tx
        .update(messages)
        .set({ status: 'failed', statusRank: STATUS_RANK.failed, errorCode: err.code, errorReason: reason, failedAt: new Date(), lockedUntil: null, updatedAt: new Date() })
        .where(and(eq(messages.id, row.id), eq(messages.status, 'sending')))
        .returning();
      if (!u) return null;
      await audit(tx, ctx, 'message.status_changed', { type: 'patient', id: row.patientId ?? row.id }, { messageId: row.id, status: 'failed', errorCode: err.code, provider: row.provider, attempt: row.attempts });
      if (err.options.optedOut) await recordProviderOptOut(tx, ctx, row, err.code);
      return u;
    });
    if (updated) {
      await deps.hub.publish(row.orgId, 'message.updated', { messageId: row.id, patientId: row.patientId, channel: row.channel, direction: 'outbound', status: 'failed', errorCode: err.code });
    }
  };

  const timer = setInterval(wake, pollMs);
  timer.unref();
  setImmediate(wake);
  return {
    kick: wake,
    idle: () =>
      new Promise<void>((resolve) => {
        if (inflight.size === 0 && !claiming) resolve();
        else idleWaiters.push(resolve);
      }),
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      abort.abort();
      await Promise.race([Promise.allSettled([...inflight]), new Promise((r) => setTimeout(r, 5000))]);
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const w of waiters) w();
    },
  };
}
