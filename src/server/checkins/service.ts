/**
 * Check-in calls (docs/checkins.md): a short call between two members of a care circle, in a room of its own (owner
 * kind `checkin`), ended by the server. Every transition is a guarded UPDATE (`where status in (…)`) with its audit
 * event in the same transaction, then a hub event `checkin.<state>` (ids only, with `memberIds` for the members'
 * sockets). The room ends whenever the call leaves ringing / active for a final state; a call that was active is
 * completed from its room's row (events.ts), whatever ended it.
 */
import { and, asc, desc, eq, inArray, isNull, or, sql, type SQL } from 'drizzle-orm';
import type { Checkin, CheckinEndReason, CheckinStats, CheckinStatus, CreateCheckinBody } from '../../shared/api/checkins.js';
import type { OrgEventType } from '../../shared/events.js';
import type { AuditAction } from '../audit/catalogue.js';
import { audit } from '../audit/service.js';
import { systemCtx, type Ctx } from '../context.js';
import type { Db } from '../db/index.js';
import { careMembers, checkinCalls } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { decodeCursor, encodeCursor, page } from '../http/pagination.js';
import { roomTimes } from '../rooms/queries.js';
import { createRoom, endRoomById, issueToken, type IssuedToken } from '../rooms/service.js';
import { memberDisplayNames, membersOfPrincipal } from './care.js';
import type { CheckinDeps } from './deps.js';

export type CallRow = typeof checkinCalls.$inferSelect;
type MemberRow = typeof careMembers.$inferSelect;

/** The owner kind of a check-in's room (the rooms layer hands it back with the room's events). */
export const CHECKIN_OWNER = 'checkin';
/** A call's room is named after it. */
export const roomNameOf = (callId: string) => `checkin-${callId}`;
/** Both answered but the media never connected: the call fails this long after its ring window. */
export const CONNECT_GRACE_MS = 60_000;
/** A token covers the ring window, the limit, and this margin. */
const TOKEN_MARGIN_S = 300;

const OPEN: CheckinStatus[] = ['requested', 'ringing'];
const LIVE: CheckinStatus[] = ['requested', 'ringing', 'active'];
export const FINAL: CheckinStatus[] = ['completed', 'missed', 'declined', 'cancelled', 'failed'];

// ---- members -------------------------------------------------------------------------------------------------

/** Members with the name to show (care.ts's naming: the recipient's from the patient record, a staff caregiver's from the user). */
export async function membersById(db: Db, orgId: string, ids: readonly string[]): Promise<Map<string, MemberRow & { name: string }>> {
  if (ids.length === 0) return new Map();
  const unique = [...new Set(ids)];
  const [rows, names] = await Promise.all([
    db.select().from(careMembers).where(and(eq(careMembers.orgId, orgId), inArray(careMembers.id, unique))),
    memberDisplayNames(db, orgId, unique),
  ]);
  return new Map(rows.map((m) => [m.id, { ...m, name: names.get(m.id) ?? '' }]));
}

async function liveMember(db: Db, orgId: string, id: string, path: string): Promise<MemberRow> {
  const [row] = await db
    .select()
    .from(careMembers)
    .where(and(eq(careMembers.orgId, orgId), eq(careMembers.id, id), isNull(careMembers.removedAt)))
    .limit(1);
  if (!row) throw new AppError('not_found', 'There is no such care member.', { path });
  return row;
}

/**
 * Which party of the call the caller is: a member session is its member, a staff user the member row that is theirs,
 * an API key the member it names. Null: not a party (staff acting as staff, or a stranger).
 */
async function partyOf(deps: CheckinDeps, ctx: Ctx, call: CallRow, named?: string): Promise<'caller' | 'callee' | null> {
  const p = ctx.principal;
  const which = (id: string | undefined) => (id === call.callerMemberId ? 'caller' : id === call.calleeMemberId ? 'callee' : null);
  switch (p.kind) {
    case 'member':
      return named !== undefined && named !== p.memberId ? null : which(p.memberId);
    case 'api_key':
      return which(named);
    case 'user': {
      const mine = (await membersOfPrincipal(deps, ctx)).map((m) => m.id);
      if (named !== undefined) return mine.includes(named) ? which(named) : null;
      return mine.includes(call.callerMemberId) ? 'caller' : mine.includes(call.calleeMemberId) ? 'callee' : null;
    }
    default:
      return null;
  }
}

/** Staff who manage circles (admin, clinician), an API key or the system: may act on any call of the org. */
function isManager(ctx: Ctx): boolean {
  const p = ctx.principal;
  return p.kind === 'api_key' || p.kind === 'system' || (p.kind === 'user' && p.role !== 'caregiver');
}

// ---- reading ------------------------------------------------------------------------------------------------

export async function callRow(db: Db, orgId: string, id: string): Promise<CallRow> {
  const [row] = await db
    .select()
    .from(checkinCalls)
    .where(and(eq(checkinCalls.orgId, orgId), eq(checkinCalls.id, id)))
    .limit(1);
  if (!row) throw new AppError('not_found', 'There is no such check-in call.');
  return row;
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

export function toCheckinDto(row: CallRow, members: Map<string, MemberRow & { name: string }>): Checkin {
  const party = (id: string, answeredAt: Date | null, joinedAt: Date | null) => {
    const m = members.get(id);
    return { memberId: id, displayName: m?.name ?? '', kind: m?.kind ?? 'caregiver', relationship: m?.relationship ?? null, answeredAt: iso(answeredAt), joinedAt: iso(joinedAt) };
  };
  const endsAt = row.status === 'active' && row.startedAt ? new Date(row.startedAt.getTime() + row.durationLimitS * 1000) : row.status === 'completed' ? row.completedAt : null;
  return {
    id: row.id,
    recipientId: row.recipientId,
    status: row.status,
    caller: party(row.callerMemberId, row.callerAnsweredAt, row.callerJoinedAt),
    callee: party(row.calleeMemberId, row.calleeAnsweredAt, row.calleeJoinedAt),
    scheduleId: row.scheduleId,
    durationLimitSeconds: row.durationLimitS,
    ringExpiresAt: row.ringExpiresAt.toISOString(),
    startedAt: iso(row.startedAt),
    endsAt: iso(endsAt),
    completedAt: iso(row.completedAt),
    durationMs: row.durationMs,
    endReason: (row.endReason as CheckinEndReason | null) ?? null,
    endedByMemberId: row.endedByMemberId,
    textSent: row.textMessageId !== null,
    createdAt: row.createdAt.toISOString(),
  };
}

export async function toDtos(db: Db, orgId: string, rows: CallRow[]): Promise<Checkin[]> {
  const members = await membersById(db, orgId, rows.flatMap((r) => [r.callerMemberId, r.calleeMemberId]));
  return rows.map((r) => toCheckinDto(r, members));
}

async function dtoOf(db: Db, row: CallRow): Promise<Checkin> {
  return (await toDtos(db, row.orgId, [row]))[0]!;
}

/** What a member session may see: the calls it is a party to, and for the recipient's own device, its circle's. */
async function visibility(deps: CheckinDeps, ctx: Ctx): Promise<SQL | undefined> {
  const p = ctx.principal;
  if (p.kind !== 'member') return undefined;
  const [me] = await deps.db
    .select({ kind: careMembers.kind })
    .from(careMembers)
    .where(and(eq(careMembers.orgId, ctx.orgId), eq(careMembers.id, p.memberId)))
    .limit(1);
  if (me?.kind === 'recipient') return eq(checkinCalls.recipientId, p.recipientId);
  return or(eq(checkinCalls.callerMemberId, p.memberId), eq(checkinCalls.calleeMemberId, p.memberId));
}

export async function getCheckin(deps: CheckinDeps, ctx: Ctx, id: string): Promise<Checkin> {
  return dtoOf(deps.db, await visibleCall(deps, ctx, id));
}

export interface CheckinFilter {
  recipientId?: string | undefined;
  memberId?: string | undefined;
  status?: CheckinStatus | undefined;
  from?: string | undefined;
  to?: string | undefined;
}

function dayBound(day: string, path: string): string {
  const ms = Date.parse(`${day}T00:00:00Z`);
  if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== day) throw new AppError('validation_failed', undefined, [{ path, message: 'is not a calendar day' }]);
  return day;
}

async function filterOf(deps: CheckinDeps, ctx: Ctx, q: CheckinFilter): Promise<SQL[]> {
  const where: SQL[] = [eq(checkinCalls.orgId, ctx.orgId)];
  const seen = await visibility(deps, ctx);
  if (seen) where.push(seen);
  if (q.recipientId) where.push(eq(checkinCalls.recipientId, q.recipientId));
  if (q.memberId) where.push(or(eq(checkinCalls.callerMemberId, q.memberId), eq(checkinCalls.calleeMemberId, q.memberId))!);
  if (q.status) where.push(eq(checkinCalls.status, q.status));
  // Days in UTC: from its first instant, to the end of `to`.
  if (q.from) where.push(sql`${checkinCalls.createdAt} >= ${dayBound(q.from, 'querystring/from')}::date`);
  if (q.to) where.push(sql`${checkinCalls.createdAt} < (${dayBound(q.to, 'querystring/to')}::date + 1)`);
  return where;
}

/** The org's calls (a member session: its own), newest first, with filters and a cursor. */
export async function listCheckins(deps: CheckinDeps, ctx: Ctx, q: CheckinFilter & { limit?: number | undefined; cursor?: string | undefined }): Promise<{ data: Checkin[]; nextCursor: string | null }> {
  const limit = q.limit ?? 50;
  const where = await filterOf(deps, ctx, q);
  if (q.cursor) {
    const [at, cid] = decodeCursor(q.cursor, ['time', 'uuid']);
    where.push(sql`(${checkinCalls.createdAt}, ${checkinCalls.id}) < (${at}::timestamptz, ${cid}::uuid)`);
  }
  const rows = await deps.db
    .select({ row: checkinCalls, at: sql<string>`to_char(${checkinCalls.createdAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')` })
    .from(checkinCalls)
    .where(and(...where))
    .orderBy(desc(checkinCalls.createdAt), desc(checkinCalls.id))
    .limit(limit + 1);
  const result = page(rows, limit, (r) => encodeCursor([r.at, r.row.id]));
  return { data: await toDtos(deps.db, ctx.orgId, result.data.map((r) => r.row)), nextCursor: result.nextCursor };
}

/** Counts per status, completion (completed ÷ every call that ended but the cancelled ones), the mean duration of completed calls. */
export async function checkinStats(deps: CheckinDeps, ctx: Ctx, q: CheckinFilter): Promise<CheckinStats> {
  const where = await filterOf(deps, ctx, { ...q, status: undefined });
  const rows = await deps.db
    .select({ status: checkinCalls.status, n: sql<string>`count(*)`, avg: sql<string | null>`avg(${checkinCalls.durationMs})` })
    .from(checkinCalls)
    .where(and(...where))
    .groupBy(checkinCalls.status);
  const byStatus: Record<string, number> = {};
  let total = 0;
  let averageDurationMs: number | null = null;
  for (const r of rows) {
    byStatus[r.status] = Number(r.n);
    total += Number(r.n);
    if (r.status === 'completed' && r.avg !== null) averageDurationMs = Math.round(Number(r.avg));
  }
  const ended = FINAL.filter((s) => s !== 'cancelled').reduce((n, s) => n + (byStatus[s] ?? 0), 0);
  return { total, byStatus, completionRate: ended > 0 ? (byStatus.completed ?? 0) / ended : null, averageDurationMs };
}

// ---- transitions --------------------------------------------------------------------------------------------

/** The hub event of a call (ids only); `memberIds` routes it to the two members' sockets. */
export async function announce(deps: CheckinDeps, row: CallRow, type: OrgEventType): Promise<void> {
  await deps.hub.publish(row.orgId, type, {
    checkinId: row.id,
    recipientId: row.recipientId,
    callerMemberId: row.callerMemberId,
    calleeMemberId: row.calleeMemberId,
    status: row.status,
    endReason: row.endReason,
    memberIds: [row.callerMemberId, row.calleeMemberId],
  });
}

type CallSet = Partial<Omit<typeof checkinCalls.$inferInsert, 'id' | 'orgId'>>;

/**
 * One guarded transition: the update applies only while the call is in one of `from` (and `guard` holds), with its
 * audit event in the same transaction. Returns the updated row, or null when the call had moved on.
 */
export async function transition(
  deps: Pick<CheckinDeps, 'db'>,
  ctx: Ctx,
  id: string,
  from: readonly CheckinStatus[],
  set: CallSet,
  action: AuditAction,
  details: Record<string, string | number | boolean | null> = {},
  guard?: SQL,
): Promise<CallRow | null> {
  return deps.db.transaction(async (tx) => {
    const [row] = await tx
      .update(checkinCalls)
      .set({ ...set, updatedAt: new Date() })
      .where(and(eq(checkinCalls.orgId, ctx.orgId), eq(checkinCalls.id, id), inArray(checkinCalls.status, [...from]), guard))
      .returning();
    if (!row) return null;
    await audit(tx, ctx, action, { type: 'checkin', id }, { status: row.status, ...details });
    return row;
  });
}

/** The call's fallback text, if still waiting (quiet hours, a retry), is not sent once the call left ringing. */
export async function dropText(deps: CheckinDeps, ctx: Ctx, row: CallRow): Promise<void> {
  if (row.textMessageId) await deps.notifier.cancel(ctx, row.textMessageId).catch(() => false);
}

/** A final state from ringing (missed, declined, cancelled, failed): the row, its event, then its room ends. */
export async function closeOpenCall(
  deps: CheckinDeps,
  ctx: Ctx,
  id: string,
  status: 'missed' | 'declined' | 'cancelled' | 'failed',
  endReason: CheckinEndReason,
  endedByMemberId: string | null,
  guard?: SQL,
): Promise<CallRow | null> {
  const now = new Date();
  const row = await transition(deps, ctx, id, OPEN, { status, endReason, endedByMemberId, completedAt: now }, `checkin.${status}`, { endReason, endedByMemberId }, guard);
  if (!row) return null;
  await dropText(deps, ctx, row);
  await announce(deps, row, `checkin.${status}`);
  if (row.roomId) await endRoomById(deps.rooms, ctx, row.roomId, endReason).catch(() => false);
  return row;
}

// ---- creating -----------------------------------------------------------------------------------------------

export interface NewCall {
  callerMemberId: string;
  calleeMemberId: string;
  durationS: number;
  ringMs: number;
  /** The caller is the one asking now: they have answered already (only the callee is rung). */
  callerAnswered: boolean;
  scheduleId?: string | null;
}

/** Checks the two members can have this call: distinct, same circle, live, the caller may start, the callee receive. */
async function partiesOf(db: Db, orgId: string, callerId: string, calleeId: string): Promise<{ caller: MemberRow; callee: MemberRow }> {
  if (callerId === calleeId) throw new AppError('validation_failed', 'A member cannot call themselves.', [{ path: 'body/calleeMemberId', message: 'is the caller' }]);
  const caller = await liveMember(db, orgId, callerId, 'body/callerMemberId');
  const callee = await liveMember(db, orgId, calleeId, 'body/calleeMemberId');
  if (caller.recipientId !== callee.recipientId) {
    throw new AppError('validation_failed', 'Both members must be in the same care circle.', [{ path: 'body/calleeMemberId', message: 'is in another care circle' }]);
  }
  if (!caller.canStart) throw new AppError('care_permission', 'The caller may not start calls.', { memberId: caller.id, permission: 'canStart' });
  if (!callee.canReceive) throw new AppError('care_permission', 'The callee may not receive calls.', { memberId: callee.id, permission: 'canReceive' });
  return { caller, callee };
}

/**
 * Makes the call and its room, then rings it. A room the provider refuses makes the call `failed`
 * (`provider_error`), and the error is answered as the rooms layer maps it.
 */
export async function startCall(deps: CheckinDeps, ctx: Ctx, input: NewCall): Promise<CallRow> {
  const { caller } = await partiesOf(deps.db, ctx.orgId, input.callerMemberId, input.calleeMemberId);
  const p = ctx.principal;
  const requestedBy =
    p.kind === 'member' ? p.memberId : p.kind === 'user' ? p.userId : p.kind === 'api_key' ? p.apiKeyId : p.kind === 'participant' ? p.participantId : null;
  const now = new Date();
  const created = await deps.db.transaction(async (tx) => {
    const [row] = await tx
      .insert(checkinCalls)
      .values({
        orgId: ctx.orgId,
        recipientId: caller.recipientId,
        callerMemberId: input.callerMemberId,
        calleeMemberId: input.calleeMemberId,
        scheduleId: input.scheduleId ?? null,
        status: 'requested',
        durationLimitS: input.durationS,
        ringExpiresAt: new Date(now.getTime() + input.ringMs),
        requestedByType: p.kind,
        requestedById: requestedBy,
      })
      .returning();
    await audit(tx, ctx, 'checkin.requested', { type: 'checkin', id: row!.id }, {
      recipientId: row!.recipientId,
      callerMemberId: row!.callerMemberId,
      calleeMemberId: row!.calleeMemberId,
      durationS: input.durationS,
      scheduleId: input.scheduleId ?? null,
    });
    return row!;
  });
  await announce(deps, created, 'checkin.requested');
  let roomId: string;
  try {
    const ringS = Math.ceil(input.ringMs / 1000);
    const room = await createRoom(
      deps.rooms,
      ctx,
      {
        name: roomNameOf(created.id),
        maxParticipants: 2,
        unusedRoomTimeoutSeconds: ringS + CONNECT_GRACE_MS / 1000,
        // The call's own deadline (both gone: the reconnect grace) decides first; the room's timeout is the backstop.
        emptyRoomTimeoutSeconds: Math.ceil(deps.config.reconnectMs / 1000) + 10,
      },
      { kind: CHECKIN_OWNER, id: created.id },
    );
    roomId = room.id;
  } catch (err) {
    const failed = await transition(deps, ctx, created.id, OPEN, { status: 'failed', endReason: 'provider_error', completedAt: new Date() }, 'checkin.failed', { endReason: 'provider_error' });
    if (failed) await announce(deps, failed, 'checkin.failed');
    throw err;
  }
  const ringing = await transition(
    deps,
    ctx,
    created.id,
    ['requested'],
    { status: 'ringing', roomId, ringStartedAt: new Date(), ...(input.callerAnswered ? { callerAnsweredAt: now } : {}) },
    'checkin.ringing',
    { roomId, callerAnswered: input.callerAnswered },
  );
  if (!ringing) return callRow(deps.db, ctx.orgId, created.id);
  await announce(deps, ringing, 'checkin.ringing');
  return ringing;
}

/** `POST /checkins`: a call now. A member session or staff caregiver calls as themselves; staff and API keys name the caller. */
export async function createCheckin(deps: CheckinDeps, ctx: Ctx, body: CreateCheckinBody): Promise<Checkin> {
  const p = ctx.principal;
  let callerId = body.callerMemberId;
  let callerAnswered = false;
  if (p.kind === 'member') {
    if (callerId !== undefined && callerId !== p.memberId) throw new AppError('care_permission', 'A member can only call as themselves.', { permission: 'caller' });
    callerId = p.memberId;
    callerAnswered = true;
  } else if (p.kind === 'user') {
    const mine = (await membersOfPrincipal(deps, ctx)).map((m) => m.id);
    if (callerId === undefined) {
      // A staff caregiver calling as themselves: their member row in the callee's circle.
      const callee = await liveMember(deps.db, ctx.orgId, body.calleeMemberId, 'body/calleeMemberId');
      const own = mine.length === 0 ? [] : await deps.db
        .select({ id: careMembers.id })
        .from(careMembers)
        .where(and(eq(careMembers.orgId, ctx.orgId), inArray(careMembers.id, mine), eq(careMembers.recipientId, callee.recipientId)))
        .limit(1);
      if (!own[0]) throw new AppError('validation_failed', 'Name the caller: you are not a member of this care circle.', [{ path: 'body/callerMemberId', message: 'is required' }]);
      callerId = own[0].id;
    }
    callerAnswered = mine.includes(callerId);
    if (!callerAnswered && p.role === 'caregiver') throw new AppError('care_permission', 'A caregiver can only call as themselves.', { permission: 'caller' });
  } else if (callerId === undefined) {
    throw new AppError('validation_failed', undefined, [{ path: 'body/callerMemberId', message: 'is required' }]);
  }
  const row = await startCall(deps, ctx, {
    callerMemberId: callerId,
    calleeMemberId: body.calleeMemberId,
    durationS: body.durationSeconds ?? 15,
    ringMs: body.ringSeconds !== undefined ? body.ringSeconds * 1000 : deps.config.ringMs,
    callerAnswered,
  });
  return dtoOf(deps.db, row);
}

// ---- the parties' actions -----------------------------------------------------------------------------------

async function requireParty(deps: CheckinDeps, ctx: Ctx, call: CallRow, named?: string): Promise<'caller' | 'callee'> {
  if (ctx.principal.kind === 'api_key' && named === undefined) throw new AppError('validation_failed', 'Name the party (memberId).', [{ path: 'body/memberId', message: 'is required for an API key' }]);
  const party = await partyOf(deps, ctx, call, named);
  if (!party) throw new AppError('checkin_not_party');
  return party;
}

/** A visible call for the caller, or 404 (a member session sees only its own). */
async function visibleCall(deps: CheckinDeps, ctx: Ctx, id: string): Promise<CallRow> {
  const seen = await visibility(deps, ctx);
  const [row] = await deps.db
    .select()
    .from(checkinCalls)
    .where(and(eq(checkinCalls.orgId, ctx.orgId), eq(checkinCalls.id, id), seen))
    .limit(1);
  if (!row) throw new AppError('not_found', 'There is no such check-in call.');
  return row;
}

function assertNotOver(call: CallRow, now = new Date()): void {
  if (FINAL.includes(call.status)) throw new AppError('checkin_over', `This check-in call is ${call.status}.`, { status: call.status });
  if (call.status !== 'active' && call.ringExpiresAt.getTime() <= now.getTime()) throw new AppError('checkin_over', 'This check-in call is no longer ringing.', { status: 'missed' });
}

/** `POST /checkins/:id/ring`: the party's app shows the incoming call (no text goes to a recipient who saw it). */
export async function acknowledgeRing(deps: CheckinDeps, ctx: Ctx, id: string, named?: string): Promise<Checkin> {
  const call = await visibleCall(deps, ctx, id);
  const party = await requireParty(deps, ctx, call, named);
  assertNotOver(call);
  const column = party === 'caller' ? checkinCalls.callerAlertedAt : checkinCalls.calleeAlertedAt;
  const updated = await transition(deps, ctx, id, LIVE, party === 'caller' ? { callerAlertedAt: new Date() } : { calleeAlertedAt: new Date() }, 'checkin.alerted', { party }, isNull(column));
  return dtoOf(deps.db, updated ?? (await callRow(deps.db, ctx.orgId, id)));
}

/**
 * `POST /checkins/:id/token`: a media token for one party (its identity is the member id), which answers the call
 * for them. Anyone else: 403 checkin_not_party; a call over or past its ring window: 410 checkin_over.
 */
export async function checkinToken(deps: CheckinDeps, ctx: Ctx, id: string, named?: string): Promise<IssuedToken & { checkin: Checkin }> {
  let call = await callRow(deps.db, ctx.orgId, id);
  const party = await requireParty(deps, ctx, call, named);
  assertNotOver(call);
  if (!call.roomId) throw new AppError('invalid_state', 'The call is still being set up; try again in a moment.', { status: call.status });
  const memberId = party === 'caller' ? call.callerMemberId : call.calleeMemberId;
  const answeredColumn = party === 'caller' ? checkinCalls.callerAnsweredAt : checkinCalls.calleeAnsweredAt;
  const answered = await transition(deps, ctx, id, LIVE, party === 'caller' ? { callerAnsweredAt: new Date() } : { calleeAnsweredAt: new Date() }, 'checkin.answered', { memberId }, isNull(answeredColumn));
  if (answered) {
    call = answered;
    await announce(deps, answered, 'checkin.answered');
  }
  const ringLeftS = Math.max(0, Math.ceil((call.ringExpiresAt.getTime() - Date.now()) / 1000));
  const issued = await issueToken(deps.rooms, ctx, { room: roomNameOf(call.id), identity: memberId, ttlSeconds: Math.max(60, ringLeftS + CONNECT_GRACE_MS / 1000 + call.durationLimitS + TOKEN_MARGIN_S) });
  await audit(deps.db, ctx, 'checkin.token_issued', { type: 'checkin', id }, { memberId });
  return { ...issued, checkin: await dtoOf(deps.db, call) };
}

/** `POST /checkins/:id/decline`: a rung party declines (before the call is active). */
export async function declineCheckin(deps: CheckinDeps, ctx: Ctx, id: string, named?: string): Promise<Checkin> {
  const call = await visibleCall(deps, ctx, id);
  const party = await requireParty(deps, ctx, call, named);
  if (!OPEN.includes(call.status)) throw new AppError(FINAL.includes(call.status) ? 'checkin_over' : 'invalid_state', `The call is ${call.status}.`, { status: call.status });
  const memberId = party === 'caller' ? call.callerMemberId : call.calleeMemberId;
  const row = await closeOpenCall(deps, ctx, id, 'declined', 'declined', memberId);
  return dtoOf(deps.db, row ?? (await callRow(deps.db, ctx.orgId, id)));
}

/**
 * `POST /checkins/:id/end`: before active, cancelled (the caller, staff or a host app) or declined (the callee);
 * active, the room ends and the call is completed `ended_early` (by the member, or null for staff / a host app).
 */
export async function endCheckin(deps: CheckinDeps, ctx: Ctx, id: string, named?: string): Promise<Checkin> {
  const call = await visibleCall(deps, ctx, id);
  // Naming a party is acting as it (it must be the caller's own, or for a key one of the two); otherwise staff and keys act as staff.
  const manager = isManager(ctx) && named === undefined;
  const party = manager ? null : await requireParty(deps, ctx, call, named);
  const memberId = party === 'caller' ? call.callerMemberId : party === 'callee' ? call.calleeMemberId : null;
  if (FINAL.includes(call.status)) throw new AppError('checkin_over', `This check-in call is ${call.status}.`, { status: call.status });
  if (OPEN.includes(call.status)) {
    const row = party === 'callee' ? await closeOpenCall(deps, ctx, id, 'declined', 'declined', memberId) : await closeOpenCall(deps, ctx, id, 'cancelled', 'cancelled', memberId);
    if (row) return dtoOf(deps.db, row);
  }
  // Active (or it became active meanwhile): who ended it is noted, then the room ends; its end completes the call.
  await deps.db
    .update(checkinCalls)
    .set({ endedByMemberId: memberId, updatedAt: new Date() })
    .where(and(eq(checkinCalls.orgId, ctx.orgId), eq(checkinCalls.id, id), eq(checkinCalls.status, 'active')));
  const current = await callRow(deps.db, ctx.orgId, id);
  if (current.status === 'active' && current.roomId) {
    await endRoomById(deps.rooms, ctx, current.roomId, 'ended_early');
    await completeFromRoom(deps, ctx.orgId, current.roomId);
  }
  return dtoOf(deps.db, await callRow(deps.db, ctx.orgId, id));
}

/** How the room's end reason reads for the call (the deadline's reasons, an early end, the provider's own end). */
export function endReasonOf(roomReason: string | null): CheckinEndReason {
  switch (roomReason) {
    case 'time_limit':
      return 'time_limit';
    case 'disconnected':
    case 'empty_timeout':
    case 'provider_lost':
      return 'disconnected';
    default:
      // ended_early, ended_by_api, the provider's own end (a Twilio room completed elsewhere).
      return 'ended_early';
  }
}

/**
 * The call of a room that ended, completed from the room's row: completed_at = the room's ended_at, the duration
 * from started_at, the reason from the room's. A call still ringing whose room ended otherwise than by us failed.
 * Idempotent (guarded): the observer, the end route and the sweep may all call it.
 */
export async function completeFromRoom(deps: CheckinDeps, orgId: string, roomId: string): Promise<CallRow | null> {
  const [call] = await deps.db
    .select()
    .from(checkinCalls)
    .where(and(eq(checkinCalls.orgId, orgId), eq(checkinCalls.roomId, roomId)))
    .limit(1);
  if (!call || FINAL.includes(call.status)) return null;
  const room = await roomTimes(deps.rooms, { orgId }, roomId);
  if (!room || room.status !== 'completed' || !room.endedAt) return null;
  const ctx = systemCtx(orgId);
  if (call.status !== 'active' || !call.startedAt) {
    return closeOpenCall(deps, ctx, call.id, 'failed', 'provider_error', null);
  }
  const endReason = endReasonOf(room.endReason);
  const durationMs = Math.max(0, room.endedAt.getTime() - call.startedAt.getTime());
  const row = await transition(
    deps,
    ctx,
    call.id,
    ['active'],
    { status: 'completed', completedAt: room.endedAt, durationMs, endReason, ...(endReason === 'ended_early' ? {} : { endedByMemberId: null }) },
    'checkin.completed',
    { endReason, durationMs, roomEndReason: room.endReason, ...(room.endsAt && endReason !== 'ended_early' ? { lateMs: room.endedAt.getTime() - room.endsAt.getTime() } : {}) },
  );
  if (row) await announce(deps, row, 'checkin.completed');
  return row;
}

/** The calls waiting for something of the sweep, oldest first (used by sweeper.ts). */
export async function openCallsDue(db: Db, now: Date, limit = 200): Promise<CallRow[]> {
  return db
    .select()
    .from(checkinCalls)
    .where(
      and(
        inArray(checkinCalls.status, OPEN),
        sql`${checkinCalls.ringExpiresAt} <= ${now.toISOString()}::timestamptz`,
      ),
    )
    .orderBy(asc(checkinCalls.ringExpiresAt))
    .limit(limit);
}
