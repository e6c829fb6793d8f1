/**
 * Visits: the telehealth session of an appointment (or an instant one), its participants, its lifecycle and the
 * host's controls. The server owns every rule; a visit reaches media only through the rooms layer (its room is
 * `visit-<id>`, owned by the visit), which places each participant by routing group as placement.ts says: `main`
 * once admitted, `waiting-<participant id>` while in the waiting room (alone: they receive nothing and nobody
 * receives them). The rooms layer keeps that routing and applies it again after a restart.
 */
import { and, asc, eq, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import type { CreateVisitBody, InviteBody, ListVisitsQuery, Visit, VisitParticipant, Invite } from '../../shared/api/visits.js';
import { audit } from '../audit/service.js';
import type { Config } from '../config.js';
import { systemCtx, type Ctx } from '../context.js';
import { sqlState, type Db } from '../db/index.js';
import {
  appointmentPatients,
  appointments,
  organizations,
  participantSessions,
  patients,
  users,
  visitLinks,
  visitParticipants,
  visits,
  type VisitStatus,
} from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { decodeCursor, encodeCursor, page } from '../http/pagination.js';
import { parseInstant } from '../http/validators.js';
import type { PatientNotifier } from '../messaging/service.js';
import type { OrgEvents } from '../realtime/events.js';
import type { RoutingUpdate } from '../rooms/provider.js';
import { createRoom, endRoomById, findRoom, routeParticipant, sendRoomData, type RoomDeps, type RoomOwner } from '../rooms/service.js';
import { effectiveLimit, GROUP_ROOM_SEATS, groupMediaPolicy, groupSettings, nameRulesOf, type GroupSettings } from './group.js';
import type { LinkSigner } from './links.js';
import { clientNumbers, fullView, isStaffRole, participantView, visibleTo, type Viewer } from './privacy.js';
import { surveyLinkFor, surveyUrlOf } from './survey.js';
import { isFinal, isLive, nextVisitStatus, type VisitEvent } from './state.js';

export type VisitRow = typeof visits.$inferSelect;
export type ParticipantRow = typeof visitParticipants.$inferSelect;

export interface VisitDeps {
  db: Db;
  hub: OrgEvents;
  rooms: RoomDeps;
  config: Config['visits'];
  links: LinkSigner;
  /** Group visits: last-N for their rooms' media policy (and what the rooms layer tells clients to publish). */
  groups: Config['groups'];
  /** Where join links point (PUBLIC_URL). */
  publicUrl: string;
  /** Rates for the usage estimate. */
  usage: Config['usage'];
  /** Signs the patients' post-visit survey links. */
  surveys: LinkSigner;
  /** Texts and emails patients (join links sent with an invite): messaging's, given when visits are wired (plugin.ts). */
  notifier: PatientNotifier;
}

export const roomNameOf = (visitId: string) => `visit-${visitId}`;
/** The visit as the owner of its rooms: the rooms layer hands it back with their events and finds them by it. */
export const VISIT_OWNER = 'visit';
export const roomOwnerOf = (visitId: string): RoomOwner => ({ kind: VISIT_OWNER, id: visitId });

// ---- reading ---------------------------------------------------------------------------------------------

export function endsAt(v: VisitRow): Date {
  return new Date(v.scheduledStart.getTime() + (v.durationMinutes + v.extendedMinutes) * 60_000);
}

/** Join links work from `before` ahead of the scheduled start until `after` it, and never close before the visit's end. */
export function joinWindow(v: VisitRow, config: Config['visits']): { opensAt: Date; closesAt: Date } {
  const start = v.scheduledStart.getTime();
  return { opensAt: new Date(start - config.joinWindowBeforeMs), closesAt: new Date(Math.max(start + config.joinWindowAfterMs, endsAt(v).getTime())) };
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

/** The participant as it is: what staff see (and a participant of themselves). Views for a client: privacy.ts. */
export const toParticipantDto = (p: ParticipantRow): VisitParticipant => fullView(p);

/**
 * The visit as a DTO, its participants already as the viewer may see them (visitDto does both), `maxParticipants`
 * the effective limit (group visits; null for 1:1).
 */
export function toVisitDto(v: VisitRow, participants: VisitParticipant[], config: Config['visits'], maxParticipants: number | null): Visit {
  const window = joinWindow(v, config);
  return {
    id: v.id,
    kind: v.kind,
    appointmentId: v.appointmentId,
    hostUserId: v.hostUserId,
    status: v.status,
    scheduledStart: v.scheduledStart.toISOString(),
    durationMinutes: v.durationMinutes,
    extendedMinutes: v.extendedMinutes,
    endsAt: endsAt(v).toISOString(),
    joinOpensAt: window.opensAt.toISOString(),
    joinClosesAt: window.closesAt.toISOString(),
    locked: v.locked,
    recordingSince: iso(v.recordingSince),
    maxParticipants,
    spotlightParticipantId: v.spotlightParticipantId,
    mutedAll: v.mutedAll,
    selfUnmute: v.selfUnmute,
    mediaMode: v.mediaMode,
    surveyUrl: surveyUrlOf(v, config),
    roomName: v.roomId && isLive(v.status) ? roomNameOf(v.id) : null,
    openedAt: iso(v.openedAt),
    startedAt: iso(v.startedAt),
    endedAt: iso(v.endedAt),
    endReason: v.endReason,
    createdAt: v.createdAt.toISOString(),
    updatedAt: v.updatedAt.toISOString(),
    participants,
  };
}

/** Who is looking: a visit participant principal is a client of the visit; anyone else reaching a visit is staff. */
export function viewerOf(ctx: Ctx): Viewer {
  const p = ctx.principal;
  return p.kind === 'participant' ? { kind: 'client', participantId: p.participantId } : { kind: 'staff' };
}

/**
 * The visits as the caller may see them (privacy.ts): staff see everyone as they are; a client sees themselves, the
 * staff and who is admitted, other clients by the organisation's name policy. The organisation's settings are read
 * once (or given).
 */
export async function visitDtos(deps: Pick<VisitDeps, 'db' | 'config'>, ctx: Ctx, rows: { visit: VisitRow; people: ParticipantRow[] }[], settings?: GroupSettings): Promise<Visit[]> {
  if (rows.length === 0) return [];
  const org = settings ?? (await groupSettings(deps.db, ctx.orgId));
  const viewer = viewerOf(ctx);
  return rows.map(({ visit, people }) => {
    const rules = nameRulesOf(visit, org);
    const numbers = clientNumbers(people);
    const seen = people.filter((x) => visibleTo(viewer, x)).map((x) => participantView(viewer, x, rules, numbers));
    return toVisitDto(visit, seen, deps.config, effectiveLimit(visit, org.maxParticipants));
  });
}

/** One visit as the caller may see it (its participants read unless given). */
export async function visitDto(deps: Pick<VisitDeps, 'db' | 'config'>, ctx: Ctx, visit: VisitRow, people?: ParticipantRow[]): Promise<Visit> {
  const [dto] = await visitDtos(deps, ctx, [{ visit, people: people ?? (await participantRows(deps.db, ctx.orgId, visit.id)) }]);
  return dto!;
}

/** `lock`: inside a transaction, hold the visit's row until commit so concurrent changes queue behind it. */
export async function visitRow(db: Db, orgId: string, id: string, lock = false): Promise<VisitRow> {
  const query = db.select().from(visits).where(and(eq(visits.orgId, orgId), eq(visits.id, id))).limit(1);
  const [row] = lock ? await query.for('update') : await query;
  if (!row) throw new AppError('not_found', 'There is no such visit.');
  return row;
}

export async function participantRows(db: Db, orgId: string, visitId: string): Promise<ParticipantRow[]> {
  return db
    .select()
    .from(visitParticipants)
    .where(and(eq(visitParticipants.orgId, orgId), eq(visitParticipants.visitId, visitId)))
    .orderBy(asc(visitParticipants.createdAt), asc(visitParticipants.id));
}

export async function participantRow(db: Db, orgId: string, visitId: string, id: string, lock = false): Promise<ParticipantRow> {
  const query = db
    .select()
    .from(visitParticipants)
    .where(and(eq(visitParticipants.orgId, orgId), eq(visitParticipants.visitId, visitId), eq(visitParticipants.id, id)))
    .limit(1);
  const [row] = lock ? await query.for('update') : await query;
  if (!row) throw new AppError('not_found', 'There is no such participant in this visit.');
  return row;
}

/** The co-host row of `userId` in the visit, while they are one (a removed co-host's row stays, `removed`). */
export async function cohostRow(db: Db, orgId: string, visitId: string, userId: string): Promise<ParticipantRow | undefined> {
  const [row] = await db
    .select()
    .from(visitParticipants)
    .where(and(eq(visitParticipants.orgId, orgId), eq(visitParticipants.visitId, visitId), eq(visitParticipants.role, 'cohost'), eq(visitParticipants.userId, userId), eq(visitParticipants.admission, 'admitted')))
    .limit(1);
  return row;
}

/**
 * Who may run the visit: its host clinician, a co-host (another staff user the host added: group visits), an admin,
 * or the organisation's host app (API key). Other clinicians and caregivers may look, not act; participants never
 * reach these routes. `db`: the caller's transaction when it has one (the co-host row is read there).
 */
export async function assertCanHost(db: Db, ctx: Ctx, visit: VisitRow): Promise<void> {
  const p = ctx.principal;
  if (p.kind === 'api_key' || p.kind === 'system') return;
  if (p.kind === 'user' && (p.role === 'admin' || p.userId === visit.hostUserId)) return;
  if (p.kind === 'user' && p.role !== 'caregiver' && (await cohostRow(db, ctx.orgId, visit.id, p.userId))) return;
  throw new AppError('forbidden', 'Only the visit’s host clinician, a co-host or an admin can do this.');
}

/**
 * A participant sees the visit, themselves, the staff and whoever is admitted (other clients by the name policy);
 * never who else waits or was invited.
 */
export async function getVisit(deps: VisitDeps, ctx: Ctx, id: string): Promise<Visit> {
  const p = ctx.principal;
  if (p.kind === 'participant' && p.visitId !== id) throw new AppError('not_found', 'There is no such visit.');
  return visitDto(deps, ctx, await visitRow(deps.db, ctx.orgId, id));
}

/** By scheduled start, earliest first; `day` is a calendar day in the organisation's time zone. */
export async function listVisits(deps: VisitDeps, ctx: Ctx, q: ListVisitsQuery): Promise<{ data: Visit[]; nextCursor: string | null }> {
  const where: SQL[] = [eq(visits.orgId, ctx.orgId)];
  if (q.day) {
    const [org] = await deps.db.select({ timeZone: organizations.timeZone }).from(organizations).where(eq(organizations.id, ctx.orgId)).limit(1);
    const tz = org?.timeZone ?? 'UTC';
    const ms = Date.parse(`${q.day}T00:00:00Z`);
    if (Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== q.day) throw new AppError('validation_failed', undefined, [{ path: 'querystring/day', message: 'is not a calendar day' }]);
    // The day's bounds in the organisation's zone, computed by the database (it knows every zone's rules).
    where.push(sql`${visits.scheduledStart} >= (${q.day}::date::timestamp at time zone ${tz})`);
    where.push(sql`${visits.scheduledStart} < ((${q.day}::date + 1)::timestamp at time zone ${tz})`);
  }
  if (q.hostUserId) where.push(eq(visits.hostUserId, q.hostUserId));
  if (q.status) where.push(eq(visits.status, q.status));
  if (q.cursor) {
    const [at, cid] = decodeCursor(q.cursor, ['instant', 'uuid']);
    where.push(sql`(${visits.scheduledStart}, ${visits.id}) > (${at}::timestamptz, ${cid}::uuid)`);
  }
  const rows = await deps.db
    .select()
    .from(visits)
    .where(and(...where))
    .orderBy(asc(visits.scheduledStart), asc(visits.id))
    .limit(q.limit + 1);
  const result = page(rows, q.limit, (r) => encodeCursor([r.scheduledStart.toISOString(), r.id]));
  const ids = result.data.map((r) => r.id);
  const people =
    ids.length === 0
      ? []
      : await deps.db
          .select()
          .from(visitParticipants)
          .where(and(eq(visitParticipants.orgId, ctx.orgId), inArray(visitParticipants.visitId, ids)))
          .orderBy(asc(visitParticipants.createdAt), asc(visitParticipants.id));
  return { data: await visitDtos(deps, ctx, result.data.map((r) => ({ visit: r, people: people.filter((p) => p.visitId === r.id) }))), nextCursor: result.nextCursor };
}

// ---- creating --------------------------------------------------------------------------------------------

async function activeHost(db: Db, orgId: string, userId: string, path: string): Promise<{ id: string; name: string }> {
  const [u] = await db
    .select({ id: users.id, name: users.name, role: users.role, disabledAt: users.disabledAt })
    .from(users)
    .where(and(eq(users.orgId, orgId), eq(users.id, userId)))
    .limit(1);
  if (!u || u.disabledAt !== null || u.role === 'caregiver') {
    throw new AppError('validation_failed', 'The host must be an active clinician or admin of your organisation.', [{ path, message: 'is not an active clinician' }]);
  }
  return { id: u.id, name: u.name };
}

async function activePatients(db: Db, orgId: string, ids: string[], path: string): Promise<{ id: string; name: string }[]> {
  if (ids.length === 0) return [];
  const found = await db
    .select({ id: patients.id, givenName: patients.givenName, familyName: patients.familyName, archivedAt: patients.archivedAt })
    .from(patients)
    .where(and(eq(patients.orgId, orgId), inArray(patients.id, ids)));
  const byId = new Map(found.filter((p) => p.archivedAt === null).map((p) => [p.id, `${p.givenName} ${p.familyName}`]));
  const missing = ids.filter((id) => !byId.has(id));
  if (missing.length > 0) {
    throw new AppError('validation_failed', 'Every patient must be an active patient of your organisation.', missing.map((id) => ({ path: `${path}/${ids.indexOf(id)}`, message: 'is not an active patient' })));
  }
  return ids.map((id) => ({ id, name: byId.get(id)! }));
}

export async function createVisit(deps: VisitDeps, ctx: Ctx, body: CreateVisitBody): Promise<Visit> {
  const created = await deps.db.transaction(async (tx) => {
    let values: typeof visits.$inferInsert;
    let host: { id: string; name: string };
    let people: { id: string; name: string }[];
    if (body.appointmentId !== undefined) {
      const extra = (['hostUserId', 'kind', 'patientIds', 'scheduledStart', 'durationMinutes'] as const).filter((k) => body[k] !== undefined);
      if (extra.length > 0) {
        throw new AppError('validation_failed', 'A visit for an appointment takes its host, kind, patients and times from the appointment.', extra.map((k) => ({ path: `body/${k}`, message: 'must not be given with appointmentId' })));
      }
      const [appt] = await tx.select().from(appointments).where(and(eq(appointments.orgId, ctx.orgId), eq(appointments.id, body.appointmentId))).limit(1);
      if (!appt) throw new AppError('not_found', 'There is no such appointment.');
      if (appt.status !== 'scheduled') throw new AppError('invalid_state', `The appointment is ${appt.status}.`, { status: appt.status });
      const patientIds = (
        await tx
          .select({ id: appointmentPatients.patientId })
          .from(appointmentPatients)
          .where(and(eq(appointmentPatients.orgId, ctx.orgId), eq(appointmentPatients.appointmentId, appt.id)))
          .orderBy(asc(appointmentPatients.patientId))
      ).map((r) => r.id);
      host = await activeHost(tx, ctx.orgId, appt.clinicianId, 'appointment/clinicianId');
      people = await activePatients(tx, ctx.orgId, patientIds, 'appointment/patientIds');
      values = { orgId: ctx.orgId, appointmentId: appt.id, kind: appt.kind, hostUserId: host.id, scheduledStart: appt.startsAt, durationMinutes: appt.durationMinutes };
    } else {
      const p = ctx.principal;
      const hostId = body.hostUserId ?? (p.kind === 'user' && p.role !== 'caregiver' ? p.userId : undefined);
      if (!hostId) throw new AppError('validation_failed', undefined, [{ path: 'body/hostUserId', message: 'is required (the clinician who hosts the visit)' }]);
      host = await activeHost(tx, ctx.orgId, hostId, 'body/hostUserId');
      people = await activePatients(tx, ctx.orgId, (body.patientIds ?? []).map((id) => id.toLowerCase()), 'body/patientIds');
      const scheduledStart = body.scheduledStart !== undefined ? parseInstant(body.scheduledStart, 'body/scheduledStart') : new Date();
      values = { orgId: ctx.orgId, kind: body.kind ?? 'video', hostUserId: host.id, scheduledStart, durationMinutes: body.durationMinutes ?? 30 };
    }
    // A group's own limit and media mode (a 1:1 visit has neither: its limit is null, its mode the default).
    const groupFields = (['maxParticipants', 'mediaMode'] as const).filter((k) => body[k] !== undefined);
    if (values.kind !== 'group' && groupFields.length > 0) {
      throw new AppError('validation_failed', 'Only a group visit has a size limit and a media mode.', groupFields.map((k) => ({ path: `body/${k}`, message: 'is for group visits' })));
    }
    values = { ...values, ...(body.maxParticipants !== undefined ? { maxParticipants: body.maxParticipants } : {}), ...(body.mediaMode !== undefined ? { mediaMode: body.mediaMode } : {}) };
    let row: VisitRow;
    try {
      [row] = (await tx.insert(visits).values(values).returning()) as [VisitRow];
    } catch (err) {
      if (sqlState(err) === '23505') throw new AppError('already_exists', 'This appointment already has a visit.', [{ path: 'body/appointmentId', message: 'has a visit' }]);
      throw err;
    }
    await tx.insert(visitParticipants).values([
      { orgId: ctx.orgId, visitId: row.id, role: 'host', userId: host.id, displayName: host.name, admission: 'admitted' },
      ...people.map((p) => ({ orgId: ctx.orgId, visitId: row.id, role: 'patient' as const, patientId: p.id, displayName: p.name })),
    ]);
    await audit(tx, ctx, 'visit.created', { type: 'visit', id: row.id }, { kind: row.kind, appointmentId: row.appointmentId, patients: people.length });
    return row;
  });
  await deps.hub.publish(ctx.orgId, 'visit.created', { visitId: created.id });
  if (body.start) return openVisit(deps, ctx, created.id);
  return visitDto(deps, ctx, created);
}

// ---- the room --------------------------------------------------------------------------------------------

/**
 * The visit's room, created on first need: when the host opens the visit or when someone arrives early
 * (a patient waits in it before the host comes). It lives until the visit ends (or the rooms layer's empty
 * room timeout closes it; then it is made again if the visit is still on).
 */
export async function ensureRoom(deps: VisitDeps, ctx: Ctx, visit: VisitRow): Promise<string> {
  const name = roomNameOf(visit.id);
  const existing = await findRoom(deps.db, ctx.orgId, name);
  if (existing && existing.status === 'in-progress') {
    if (visit.roomId !== existing.id) await deps.db.update(visits).set({ roomId: existing.id }).where(eq(visits.id, visit.id));
    return name;
  }
  const window = joinWindow(visit, deps.config);
  const until = Math.max(window.closesAt.getTime(), endsAt(visit).getTime()) - Date.now();
  let room;
  try {
    // A group's room shares media out by its policy (simulcast, mode, spotlight, last-N) and seats the whole group.
    const media = groupMediaPolicy(visit, deps.groups);
    room = await createRoom(
      deps.rooms,
      ctx,
      {
        name,
        ...(media ? { maxParticipants: GROUP_ROOM_SEATS } : {}),
        maxParticipantDurationSeconds: Math.min(86_400, Math.max(600, Math.ceil(until / 1000) + 3600)),
        // Nobody has to be in it for the visit to stay available until its window closes.
        unusedRoomTimeoutSeconds: Math.min(86_400, Math.max(60, Math.ceil(until / 1000))),
      },
      roomOwnerOf(visit.id),
      media ? { media } : {},
    );
  } catch (err) {
    // Two arrivals at once: the other one made it.
    if (err instanceof AppError && err.code === 'already_exists') return ensureRoom(deps, ctx, visit);
    throw err;
  }
  await deps.db.update(visits).set({ roomId: room.id }).where(eq(visits.id, visit.id));
  return name;
}

/** Routes a participant in the visit's room if the room is live (a later token applies it otherwise). */
export async function placeParticipant(
  deps: VisitDeps,
  ctx: Ctx,
  visit: VisitRow,
  participantId: string,
  update: RoutingUpdate,
): Promise<void> {
  const room = await findRoom(deps.db, ctx.orgId, roomNameOf(visit.id));
  if (!room || room.status !== 'in-progress') return;
  await routeParticipant(deps.rooms, ctx, room.name, participantId, update);
}

// ---- lifecycle -------------------------------------------------------------------------------------------

async function transition(
  deps: VisitDeps,
  ctx: Ctx,
  id: string,
  event: VisitEvent,
  apply: (row: VisitRow) => Partial<typeof visits.$inferInsert>,
  options: { asHost?: boolean; idempotent?: VisitStatus } = {},
): Promise<{ row: VisitRow; changed: boolean }> {
  return deps.db.transaction(async (tx) => {
    const row = await visitRow(tx, ctx.orgId, id, true);
    if (options.asHost !== false) await assertCanHost(tx, ctx, row);
    if (options.idempotent && row.status === options.idempotent) return { row, changed: false };
    const next = nextVisitStatus(row.status, event);
    if (!next) throw new AppError('invalid_state', `The visit is ${row.status.replace('_', ' ')}; it cannot be ${EVENT_PAST[event]} now.`, { status: row.status });
    const [updated] = await tx
      .update(visits)
      .set({ ...apply(row), status: next, updatedAt: new Date() })
      .where(eq(visits.id, id))
      .returning();
    await audit(tx, ctx, EVENT_AUDIT[event], { type: 'visit', id }, { from: row.status, to: next });
    return { row: updated!, changed: true };
  });
}

const EVENT_PAST: Record<VisitEvent, string> = { open: 'started', begin: 'begun', end: 'ended', cancel: 'cancelled', no_show: 'marked a no-show' };
const EVENT_AUDIT = { open: 'visit.opened', begin: 'visit.started', end: 'visit.ended', cancel: 'visit.cancelled', no_show: 'visit.no_show' } as const;
const EVENT_HUB = { open: 'visit.opened', begin: 'visit.started', end: 'visit.ended', cancel: 'visit.cancelled', no_show: 'visit.no_show' } as const;

/** The host starts the visit: its room opens and waiting patients can be admitted. Starting an open visit is a no-op. */
export async function openVisit(deps: VisitDeps, ctx: Ctx, id: string): Promise<Visit> {
  const current = await visitRow(deps.db, ctx.orgId, id);
  await assertCanHost(deps.db, ctx, current);
  if (current.status === 'scheduled') await ensureRoom(deps, ctx, current);
  const { row, changed } = await transition(deps, ctx, id, 'open', () => ({ openedAt: new Date() }), { idempotent: 'open' });
  if (changed) await deps.hub.publish(ctx.orgId, EVENT_HUB.open, { visitId: id });
  return visitDto(deps, ctx, row);
}

/**
 * Ends, cancels or marks a no-show: final. The room ends for everyone, every join link and participant
 * session is revoked (so no token can be had any more). Ending an ended visit is a no-op.
 */
export async function closeVisit(deps: VisitDeps, ctx: Ctx, id: string, event: 'end' | 'cancel' | 'no_show', reason?: string, asHost = true): Promise<Visit> {
  const final = ({ end: 'ended', cancel: 'cancelled', no_show: 'no_show' } as const)[event];
  const { row, changed } = await transition(deps, ctx, id, event, () => ({ endedAt: new Date(), endReason: reason ?? (event === 'end' ? 'ended_by_host' : event), recordingSince: null }), {
    asHost,
    idempotent: final,
  });
  if (changed) {
    const now = new Date();
    await deps.db.update(visitLinks).set({ revokedAt: now }).where(and(eq(visitLinks.orgId, ctx.orgId), eq(visitLinks.visitId, id), isNull(visitLinks.revokedAt)));
    await deps.db
      .update(participantSessions)
      .set({ revokedAt: now })
      .where(and(eq(participantSessions.orgId, ctx.orgId), eq(participantSessions.visitId, id), isNull(participantSessions.revokedAt)));
    if (event === 'end' && row.roomId) {
      // Patients still connected get their post-visit survey link before the room closes.
      for (const p of await participantRows(deps.db, ctx.orgId, id)) {
        if (p.role !== 'patient' || p.admission !== 'admitted') continue;
        await sendRoomData(deps.rooms, ctx, roomNameOf(id), JSON.stringify({ type: 'survey', visitId: id, url: surveyLinkFor(deps, row, p.id) }), [p.id]);
      }
    }
    if (row.roomId) await endRoomById(deps.rooms, ctx, row.roomId, `visit_${final}`);
    await deps.hub.publish(ctx.orgId, EVENT_HUB[event], { visitId: id });
  }
  return visitDto(deps, ctx, row);
}

/** `in_progress` once the host (or a co-host) and an admitted patient are both connected (called on joins and admissions). */
export async function maybeBegin(deps: VisitDeps, ctx: Ctx, visitId: string, connected: ReadonlySet<string>): Promise<void> {
  const visit = await visitRow(deps.db, ctx.orgId, visitId);
  if (visit.status !== 'open') return;
  const people = await participantRows(deps.db, ctx.orgId, visitId);
  const hostIn = people.some((p) => isStaffRole(p.role) && p.admission === 'admitted' && connected.has(p.id));
  const patientIn = people.some((p) => p.role === 'patient' && p.admission === 'admitted' && connected.has(p.id));
  if (!hostIn || !patientIn) return;
  const { changed } = await transition(deps, ctx, visitId, 'begin', () => ({ startedAt: new Date() }), { asHost: false, idempotent: 'in_progress' });
  if (changed) await deps.hub.publish(ctx.orgId, EVENT_HUB.begin, { visitId });
}

/** Inside a transaction: the visit's row, locked, for its host (or admin, host app), and not over yet. */
async function hostedVisit(tx: Db, ctx: Ctx, id: string): Promise<VisitRow> {
  const v = await visitRow(tx, ctx.orgId, id, true);
  await assertCanHost(tx, ctx, v);
  if (isFinal(v.status)) throw new AppError('invalid_state', `The visit is ${v.status.replace('_', ' ')}.`, { status: v.status });
  return v;
}

export async function extendVisit(deps: VisitDeps, ctx: Ctx, id: string, minutes: number): Promise<Visit> {
  const row = await deps.db.transaction(async (tx) => {
    const v = await hostedVisit(tx, ctx, id);
    if (v.extendedMinutes + minutes > 1440) throw new AppError('validation_failed', undefined, [{ path: 'body/minutes', message: 'would extend the visit by more than 24 hours' }]);
    const [updated] = await tx.update(visits).set({ extendedMinutes: v.extendedMinutes + minutes, updatedAt: new Date() }).where(eq(visits.id, id)).returning();
    await audit(tx, ctx, 'visit.extended', { type: 'visit', id }, { minutes, totalExtendedMinutes: v.extendedMinutes + minutes });
    return updated!;
  });
  await deps.hub.publish(ctx.orgId, 'visit.updated', { visitId: id });
  return visitDto(deps, ctx, row);
}

/** A locked visit lets nobody new in: links still open, but only participants already admitted get a token. */
export async function lockVisit(deps: VisitDeps, ctx: Ctx, id: string, locked: boolean): Promise<Visit> {
  const row = await deps.db.transaction(async (tx) => {
    const v = await hostedVisit(tx, ctx, id);
    if (v.locked === locked) return v;
    const [updated] = await tx.update(visits).set({ locked, updatedAt: new Date() }).where(eq(visits.id, id)).returning();
    await audit(tx, ctx, locked ? 'visit.locked' : 'visit.unlocked', { type: 'visit', id });
    return updated!;
  });
  await deps.hub.publish(ctx.orgId, 'visit.updated', { visitId: id });
  return visitDto(deps, ctx, row);
}

// ---- invitations -----------------------------------------------------------------------------------------

export async function createInvite(deps: VisitDeps, ctx: Ctx, visitId: string, body: InviteBody): Promise<Invite> {
  const sendVia = body.sendVia ?? [];
  if (sendVia.length > 0) {
    if (body.role !== 'patient' || !body.patientId) throw new AppError('validation_failed', undefined, [{ path: 'body/sendVia', message: 'sends the link to a patient: give role patient and patientId' }]);
    // Refuse before making a link: a patient who cannot be reached gets the channel's error, and nothing changes.
    for (const channel of sendVia) {
      const blocked = await deps.notifier.blockedBy(ctx, body.patientId.toLowerCase(), channel);
      if (blocked) throw new AppError(blocked as 'no_phone_number', undefined, { channel });
    }
  }
  const result = await deps.db.transaction(async (tx) => {
    const visit = await visitRow(tx, ctx.orgId, visitId, true);
    await assertCanHost(tx, ctx, visit);
    if (isFinal(visit.status)) throw new AppError('invalid_state', `The visit is ${visit.status.replace('_', ' ')}; nobody can be invited.`, { status: visit.status });
    let participant: ParticipantRow | undefined;
    if (body.role === 'patient') {
      if (!body.patientId) throw new AppError('validation_failed', undefined, [{ path: 'body/patientId', message: 'is required to invite a patient' }]);
      if (body.displayName !== undefined) throw new AppError('validation_failed', undefined, [{ path: 'body/displayName', message: 'comes from the patient record' }]);
      const patientId = body.patientId.toLowerCase();
      [participant] = await tx
        .select()
        .from(visitParticipants)
        .where(and(eq(visitParticipants.orgId, ctx.orgId), eq(visitParticipants.visitId, visitId), eq(visitParticipants.patientId, patientId)))
        .limit(1);
      if (!participant) {
        const [patient] = await activePatients(tx, ctx.orgId, [patientId], 'body/patientId');
        [participant] = await tx.insert(visitParticipants).values({ orgId: ctx.orgId, visitId, role: 'patient', patientId, displayName: patient!.name }).returning();
      }
      if (participant!.admission === 'removed' || participant!.admission === 'denied') {
        throw new AppError('invalid_state', `This patient was ${participant!.admission} from the visit.`, { admission: participant!.admission });
      }
    } else {
      if (body.patientId !== undefined) throw new AppError('validation_failed', undefined, [{ path: 'body/patientId', message: 'is only for role patient' }]);
      if (!body.displayName?.trim()) throw new AppError('validation_failed', undefined, [{ path: 'body/displayName', message: `is required to invite a ${body.role}` }]);
      [participant] = await tx.insert(visitParticipants).values({ orgId: ctx.orgId, visitId, role: body.role, displayName: body.displayName.trim() }).returning();
    }
    const window = joinWindow(visit, deps.config);
    const ttl = (body.expiresInHours !== undefined ? body.expiresInHours * 3600_000 : deps.config.linkTtlMs);
    const expiresAt = new Date(Math.min(Date.now() + ttl, window.closesAt.getTime()));
    const [link] = await tx.insert(visitLinks).values({ orgId: ctx.orgId, visitId, participantId: participant!.id, expiresAt }).returning();
    await audit(tx, ctx, 'visit.invite_created', { type: 'visit', id: visitId }, { participantId: participant!.id, role: participant!.role, linkId: link!.id });
    return { participant: participant!, link: link! };
  });
  await deps.hub.publish(ctx.orgId, 'visit.participant_invited', { visitId, participantId: result.participant.id, role: result.participant.role });
  const token = deps.links.sign(result.link.id);
  const url = `${deps.publicUrl}/join#${token}`;
  const messageIds: string[] = [];
  if (sendVia.length > 0 && result.participant.patientId) {
    const visit = await visitRow(deps.db, ctx.orgId, visitId);
    const [host] = await deps.db.select({ name: users.name }).from(users).where(and(eq(users.orgId, ctx.orgId), eq(users.id, visit.hostUserId))).limit(1);
    const [patient] = await deps.db.select({ timeZone: patients.timeZone }).from(patients).where(and(eq(patients.orgId, ctx.orgId), eq(patients.id, result.participant.patientId))).limit(1);
    const when = (opts: Intl.DateTimeFormatOptions) => new Intl.DateTimeFormat('en-US', { timeZone: patient?.timeZone ?? 'UTC', ...opts }).format(visit.scheduledStart);
    for (const channel of sendVia) {
      const message = await deps.notifier.send(ctx, result.participant.patientId, 'visit_invite', channel, {
        link: url,
        clinicianName: host?.name ?? '',
        appointmentDate: when({ weekday: 'long', month: 'long', day: 'numeric' }),
        appointmentTime: when({ hour: 'numeric', minute: '2-digit', timeZoneName: 'short' }),
      }, { urgent: true, idempotencyKey: `invite:${result.link.id}:${channel}` });
      messageIds.push(message.id);
    }
  }
  return {
    linkId: result.link.id,
    url,
    token,
    expiresAt: result.link.expiresAt.toISOString(),
    participant: toParticipantDto(result.participant),
    ...(sendVia.length > 0 ? { messageIds } : {}),
  };
}

/** A fresh join link for a patient of an appointment's visit (reminders carry it), or null when it has no open visit. */
export async function joinLinkForAppointment(deps: VisitDeps, orgId: string, appointmentId: string, patientId: string): Promise<string | null> {
  const [visit] = await deps.db.select({ id: visits.id, status: visits.status }).from(visits).where(and(eq(visits.orgId, orgId), eq(visits.appointmentId, appointmentId))).limit(1);
  if (!visit || isFinal(visit.status)) return null;
  return (await createInvite(deps, systemCtx(orgId), visit.id, { role: 'patient', patientId })).url;
}

export async function revokeLink(deps: VisitDeps, ctx: Ctx, visitId: string, linkId: string): Promise<void> {
  await deps.db.transaction(async (tx) => {
    const visit = await visitRow(tx, ctx.orgId, visitId);
    await assertCanHost(tx, ctx, visit);
    const [link] = await tx
      .update(visitLinks)
      .set({ revokedAt: new Date() })
      .where(and(eq(visitLinks.orgId, ctx.orgId), eq(visitLinks.visitId, visitId), eq(visitLinks.id, linkId), isNull(visitLinks.revokedAt)))
      .returning();
    if (!link) {
      const [exists] = await tx.select({ id: visitLinks.id }).from(visitLinks).where(and(eq(visitLinks.orgId, ctx.orgId), eq(visitLinks.visitId, visitId), eq(visitLinks.id, linkId))).limit(1);
      if (!exists) throw new AppError('not_found', 'There is no such link for this visit.');
      return;
    }
    // Sessions opened with this link end with it.
    await tx.update(participantSessions).set({ revokedAt: new Date() }).where(and(eq(participantSessions.linkId, linkId), isNull(participantSessions.revokedAt)));
    await audit(tx, ctx, 'visit.link_revoked', { type: 'visit', id: visitId }, { linkId, participantId: link.participantId });
  });
}
