import { and, asc, desc, eq, gte, lt, lte, sql, type SQL } from 'drizzle-orm';
import type { Ctx, Actor } from '../context.js';
import type { Db } from '../db/index.js';
import { auditEvents } from '../db/schema.js';
import type { AuditAction, AuditDetails, AuditOutcome } from './catalogue.js';
import { eventHash, GENESIS_HASH } from './chain.js';

export const SYSTEM_CHAIN = 'system';

export interface AuditInput {
  orgId: string | null;
  actor: Actor;
  action: AuditAction;
  target?: { type: string; id: string } | undefined;
  requestId?: string | null | undefined;
  ip?: string | null | undefined;
  outcome?: AuditOutcome | undefined;
  details?: AuditDetails | undefined;
}

/**
 * Appends one event to its organisation's chain. Call it inside the transaction that makes the change,
 * so the change and its trace commit together. The per-chain advisory lock orders concurrent writers
 * (it is held until the surrounding transaction commits).
 */
export async function recordAudit(db: Db, input: AuditInput): Promise<void> {
  const chain = input.orgId ?? SYSTEM_CHAIN;
  await db.transaction(async (tx) => {
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${chain}, 0))`);
    const [last] = await tx
      .select({ seq: auditEvents.seq, hash: auditEvents.hash })
      .from(auditEvents)
      .where(eq(auditEvents.chain, chain))
      .orderBy(desc(auditEvents.seq))
      .limit(1);
    const fields = {
      chain,
      seq: (last?.seq ?? 0) + 1,
      orgId: input.orgId,
      at: new Date(),
      actorType: input.actor.type,
      actorId: input.actor.id,
      action: input.action,
      targetType: input.target?.type ?? null,
      targetId: input.target?.id ?? null,
      requestId: input.requestId ?? null,
      ip: input.ip ?? null,
      outcome: input.outcome ?? 'success',
      details: input.details ?? null,
    } as const;
    const prevHash = last?.hash ?? GENESIS_HASH;
    await tx.insert(auditEvents).values({ ...fields, prevHash, hash: eventHash(prevHash, fields) });
  });
}

/** Shorthand for the common case: the request's actor acting on one target in its organisation. */
export function audit(
  db: Db,
  ctx: Ctx,
  action: AuditAction,
  target?: { type: string; id: string },
  details?: AuditDetails,
  outcome: AuditOutcome = 'success',
): Promise<void> {
  return recordAudit(db, { orgId: ctx.orgId, actor: ctx.actor, action, target, requestId: ctx.requestId, ip: ctx.ip, outcome, details });
}

export interface VerifyResult {
  ok: boolean;
  chains: number;
  events: number;
  broken?: { chain: string; seq: number; id: number; reason: string };
  /**
   * The last event of each intact chain. Deleting a chain's newest events leaves no trace inside the
   * chain, so record these heads elsewhere (a ticket, a log archive) and compare them next time.
   */
  heads: { chain: string; seq: number; hash: string }[];
}

/** Walks every chain in order and reports the first broken link. */
export async function verifyAuditChains(db: Db, pageSize = 2000): Promise<VerifyResult> {
  const chains = await db.selectDistinct({ chain: auditEvents.chain }).from(auditEvents).orderBy(asc(auditEvents.chain));
  let events = 0;
  const heads: VerifyResult['heads'] = [];
  for (const { chain } of chains) {
    let prevHash = GENESIS_HASH;
    let expectedSeq = 1;
    for (;;) {
      const rows = await db
        .select()
        .from(auditEvents)
        .where(and(eq(auditEvents.chain, chain), gte(auditEvents.seq, expectedSeq)))
        .orderBy(asc(auditEvents.seq))
        .limit(pageSize);
      for (const row of rows) {
        events++;
        const fail = (reason: string): VerifyResult => ({ ok: false, chains: chains.length, events, heads, broken: { chain, seq: row.seq, id: row.id, reason } });
        if (row.seq !== expectedSeq) return fail(`event ${expectedSeq} is missing (found ${row.seq} next)`);
        if (row.prevHash !== prevHash) return fail('prev_hash does not match the previous event');
        if (eventHash(prevHash, { ...row, details: row.details ?? null }) !== row.hash) return fail('the event was altered after it was written');
        prevHash = row.hash;
        expectedSeq++;
      }
      if (rows.length < pageSize) break;
    }
    heads.push({ chain, seq: expectedSeq - 1, hash: prevHash });
  }
  return { ok: true, chains: chains.length, events, heads };
}

export interface AuditQuery {
  action?: string | undefined;
  actorType?: string | undefined;
  actorId?: string | undefined;
  targetType?: string | undefined;
  targetId?: string | undefined;
  outcome?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  /** Events with ids below this (the cursor). */
  beforeId?: number | undefined;
  limit: number;
}

/** What reading the audit log needs. */
export interface AuditDeps {
  db: Db;
}

/** Newest first. Reads the caller's organisation's events only. */
export async function listAuditEvents(deps: AuditDeps, ctx: Ctx, q: AuditQuery) {
  const where: SQL[] = [eq(auditEvents.orgId, ctx.orgId)];
  if (q.action) where.push(eq(auditEvents.action, q.action));
  if (q.actorType) where.push(eq(auditEvents.actorType, q.actorType as never));
  if (q.actorId) where.push(eq(auditEvents.actorId, q.actorId));
  if (q.targetType) where.push(eq(auditEvents.targetType, q.targetType));
  if (q.targetId) where.push(eq(auditEvents.targetId, q.targetId));
  if (q.outcome) where.push(eq(auditEvents.outcome, q.outcome as never));
  if (q.from) where.push(gte(auditEvents.at, q.from));
  if (q.to) where.push(lte(auditEvents.at, q.to));
  if (q.beforeId !== undefined) where.push(lt(auditEvents.id, q.beforeId));
  return deps.db
    .select()
    .from(auditEvents)
    .where(and(...where))
    .orderBy(desc(auditEvents.id))
    .limit(q.limit);
}

