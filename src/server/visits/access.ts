/**
 * Getting into a visit: a join link becomes a participant session; the participant accepts the consents; a
 * media token places them in the waiting room (or the visit, once admitted); the host admits, denies, sends
 * back, mutes and removes. Every step is checked here, on the server.
 */
import { and, asc, desc, eq, isNull } from 'drizzle-orm';
import type { AcceptConsentBody, ConsentText, CreateConsentTextBody, JoinResult, VisitConsent, VisitContext, VisitToken } from '../../shared/api/visits.js';
import { audit } from '../audit/service.js';
import { newSecret, PARTICIPANT_SESSION_PREFIX, sha256Hex } from '../auth/secrets.js';
import type { Ctx } from '../context.js';
import { sqlState, type Db } from '../db/index.js';
import { consentTexts, organizations, participantSessions, patientConsents, visitConsents, visitLinks, visitParticipants, visits, type ConsentTextKind } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { connectedIdentities } from '../rooms/queries.js';
import { issueToken, notifyRoom, releaseHeld, removeRoomParticipant, revokeParticipantTokens, routeParticipant } from '../rooms/service.js';
import { DEFAULT_CONSENT_TEXTS } from './consent-defaults.js';
import { announceLeft, leaveGroupState, mutedAtAdmission, tellMutedAtAdmission, type LeftGroupState } from './controls.js';
import { assertRoomFor } from './group.js';
import { inVisit, mayBeRecorded, placementOf } from './placement.js';
import { isStaffRole } from './privacy.js';
import {
  assertCanHost,
  cohostRow,
  endsAt,
  ensureRoom,
  joinWindow,
  maybeBegin,
  participantRow,
  placeParticipant,
  roomNameOf,
  toParticipantDto,
  visitRow,
  type ParticipantRow,
  type VisitDeps,
  type VisitRow,
} from './service.js';
import { isFinal } from './state.js';

export interface ClientInfo {
  ip: string | null;
  userAgent: string | null;
}

// ---- consent texts ---------------------------------------------------------------------------------------

/** The text of a kind in force: the organisation's newest version, or OpenVisit's default. */
export async function currentConsentText(db: Db, orgId: string, kind: ConsentTextKind): Promise<ConsentText> {
  const [row] = await db
    .select()
    .from(consentTexts)
    .where(and(eq(consentTexts.orgId, orgId), eq(consentTexts.kind, kind)))
    .orderBy(desc(consentTexts.createdAt), desc(consentTexts.id))
    .limit(1);
  if (row) return { kind, version: row.version, body: row.body, createdAt: row.createdAt.toISOString() };
  return { ...DEFAULT_CONSENT_TEXTS[kind], kind };
}

export async function listConsentTexts(deps: VisitDeps, ctx: Ctx): Promise<ConsentText[]> {
  return [await currentConsentText(deps.db, ctx.orgId, 'telehealth'), await currentConsentText(deps.db, ctx.orgId, 'recording')];
}

/** Publishes a new version (texts are never edited: acceptances point at the version shown). */
export async function createConsentText(deps: VisitDeps, ctx: Ctx, body: CreateConsentTextBody): Promise<ConsentText> {
  if (body.version === DEFAULT_CONSENT_TEXTS[body.kind].version) {
    throw new AppError('already_exists', 'That version name is OpenVisit’s default text.', [{ path: 'body/version', message: 'is reserved' }]);
  }
  try {
    const row = await deps.db.transaction(async (tx) => {
      const [inserted] = await tx
        .insert(consentTexts)
        .values({ orgId: ctx.orgId, kind: body.kind, version: body.version, body: body.body, createdByUserId: ctx.principal.kind === 'user' ? ctx.principal.userId : null })
        .returning();
      await audit(tx, ctx, 'consent_text.created', { type: 'consent_text', id: inserted!.id }, { kind: body.kind, version: body.version });
      return inserted!;
    });
    return { kind: row.kind, version: row.version, body: row.body, createdAt: row.createdAt.toISOString() };
  } catch (err) {
    if (sqlState(err) === '23505') throw new AppError('already_exists', `Version "${body.version}" of the ${body.kind} consent exists; texts are never edited, publish a new version.`, [{ path: 'body/version', message: 'exists' }]);
    throw err;
  }
}

// ---- joining ---------------------------------------------------------------------------------------------

function assertWindow(visit: VisitRow, deps: VisitDeps, now: Date): void {
  const { opensAt, closesAt } = joinWindow(visit, deps.config);
  if (now < opensAt) {
    throw new AppError('outside_join_window', `The visit opens for joining at ${opensAt.toISOString()}. Come back then.`, { opensAt: opensAt.toISOString(), closesAt: closesAt.toISOString() });
  }
  if (now > closesAt) {
    throw new AppError('outside_join_window', 'The time to join this visit has passed. Contact the clinic.', { opensAt: opensAt.toISOString(), closesAt: closesAt.toISOString() });
  }
}

async function requiredConsents(db: Db, orgId: string, participant: ParticipantRow): Promise<ConsentText[]> {
  if (isStaffRole(participant.role) || participant.telehealthConsentAt) return [];
  return [await currentConsentText(db, orgId, 'telehealth')];
}

/** Exchanges a join link for a participant session (no account needed). */
export async function joinWithLink(deps: VisitDeps, token: string, client: ClientInfo, now = new Date()): Promise<JoinResult> {
  const linkId = deps.links.verify(token);
  if (!linkId) throw new AppError('link_invalid');
  const [found] = await deps.db
    .select({ link: visitLinks, visit: visits, participant: visitParticipants })
    .from(visitLinks)
    .innerJoin(visits, and(eq(visits.orgId, visitLinks.orgId), eq(visits.id, visitLinks.visitId)))
    .innerJoin(visitParticipants, and(eq(visitParticipants.orgId, visitLinks.orgId), eq(visitParticipants.id, visitLinks.participantId)))
    .where(eq(visitLinks.id, linkId))
    .limit(1);
  if (!found) throw new AppError('link_invalid');
  const { link, visit, participant } = found;
  if (isFinal(visit.status)) throw new AppError('link_revoked', 'This visit is over; the link no longer works.');
  if (link.revokedAt) throw new AppError('link_revoked');
  if (link.expiresAt <= now) throw new AppError('link_expired');
  if (participant.admission === 'denied' || participant.admission === 'removed') {
    throw new AppError('not_admitted', participant.denyMessage ?? 'The clinician has not let you into this visit.');
  }
  assertWindow(visit, deps, now);
  if (visit.locked && participant.admission !== 'admitted') throw new AppError('visit_locked');
  const session = newSecret(PARTICIPANT_SESSION_PREFIX);
  const { opensAt, closesAt } = joinWindow(visit, deps.config);
  const expiresAt = new Date(Math.max(closesAt.getTime(), endsAt(visit).getTime()) + 3600_000);
  const ctx = participantCtx(visit.orgId, visit.id, participant.id, client);
  await deps.db.transaction(async (tx) => {
    await tx.insert(participantSessions).values({
      orgId: visit.orgId,
      visitId: visit.id,
      participantId: participant.id,
      tokenHash: sha256Hex(session),
      linkId: link.id,
      ip: client.ip,
      userAgent: client.userAgent,
      expiresAt,
    });
    await tx.update(visitLinks).set({ lastUsedAt: now }).where(eq(visitLinks.id, link.id));
    await audit(tx, ctx, 'visit.link_used', { type: 'visit', id: visit.id }, { linkId: link.id, participantId: participant.id });
  });
  return {
    session,
    expiresAt: expiresAt.toISOString(),
    visit: { id: visit.id, status: visit.status, scheduledStart: visit.scheduledStart.toISOString(), joinOpensAt: opensAt.toISOString(), joinClosesAt: closesAt.toISOString() },
    participant: toParticipantDto(participant),
    consentsRequired: await requiredConsents(deps.db, visit.orgId, participant),
    context: await contextOf(deps.db, visit),
  };
}

// ---- what the patient's pages show -----------------------------------------------------------------------

/** The clinic (name, logo, time zone), the host's name and the visit's time: nothing about anyone else. */
async function contextOf(db: Db, visit: VisitRow): Promise<VisitContext> {
  const [[org], [host]] = await Promise.all([
    db.select({ name: organizations.name, logoUrl: organizations.logoUrl, timeZone: organizations.timeZone }).from(organizations).where(eq(organizations.id, visit.orgId)).limit(1),
    db
      .select({ displayName: visitParticipants.displayName })
      .from(visitParticipants)
      .where(and(eq(visitParticipants.orgId, visit.orgId), eq(visitParticipants.visitId, visit.id), eq(visitParticipants.role, 'host')))
      .limit(1),
  ]);
  if (!org) throw new AppError('not_found', 'The organisation does not exist.');
  return {
    clinic: { name: org.name, logoUrl: org.logoUrl, timeZone: org.timeZone },
    clinicianName: host?.displayName ?? null,
    scheduledStart: visit.scheduledStart.toISOString(),
    endsAt: endsAt(visit).toISOString(),
  };
}

/** The visit's context for its participant (their own visit only) or the organisation's staff. */
export async function visitContext(deps: VisitDeps, ctx: Ctx, visitId: string): Promise<VisitContext> {
  const p = ctx.principal;
  if (p.kind === 'participant' && p.visitId !== visitId) throw new AppError('not_found', 'There is no such visit.');
  return contextOf(deps.db, await visitRow(deps.db, ctx.orgId, visitId));
}

function participantCtx(orgId: string, visitId: string, participantId: string, client: ClientInfo): Ctx {
  return {
    orgId,
    actor: { type: 'participant', id: participantId },
    principal: { kind: 'participant', orgId, visitId, participantId, sessionId: '' },
    requestId: null,
    ip: client.ip,
  };
}

/** The participant behind a participant principal, checked against the visit in the URL. */
function ownParticipantId(ctx: Ctx, visitId: string): string {
  const p = ctx.principal;
  if (p.kind !== 'participant') throw new AppError('forbidden', 'Only a visit participant can do this.');
  if (p.visitId !== visitId) throw new AppError('not_found', 'There is no such visit.');
  return p.participantId;
}

// ---- consents --------------------------------------------------------------------------------------------

/** A participant accepts the text they were shown; a stale version is refused (show the new one). */
export async function acceptConsent(deps: VisitDeps, ctx: Ctx, visitId: string, body: AcceptConsentBody, client: ClientInfo): Promise<VisitConsent> {
  const participantId = ownParticipantId(ctx, visitId);
  const current = await currentConsentText(deps.db, ctx.orgId, body.kind);
  if (current.version !== body.version) {
    throw new AppError('invalid_state', `The ${body.kind} consent has a newer text (version ${current.version}); show it and accept that one.`, { currentVersion: current.version });
  }
  const accepted = await deps.db.transaction(async (tx) => {
    const visit = await visitRow(tx, ctx.orgId, visitId);
    if (isFinal(visit.status)) throw new AppError('invalid_state', `The visit is ${visit.status.replace('_', ' ')}.`, { status: visit.status });
    const participant = await participantRow(tx, ctx.orgId, visitId, participantId, true);
    const now = new Date();
    const [row] = await tx
      .insert(visitConsents)
      .values({ orgId: ctx.orgId, visitId, participantId, kind: body.kind, textVersion: body.version, ip: client.ip, userAgent: client.userAgent, acceptedAt: now })
      .returning();
    await tx
      .update(visitParticipants)
      .set({ ...(body.kind === 'telehealth' ? { telehealthConsentAt: now } : { recordingConsentAt: now }), updatedAt: now })
      .where(eq(visitParticipants.id, participantId));
    // A patient's acceptance is also their consent on record (what the patient's consents show).
    if (participant.patientId) {
      await tx.insert(patientConsents).values({
        orgId: ctx.orgId,
        patientId: participant.patientId,
        kind: body.kind,
        status: 'granted',
        method: 'web',
        textVersion: body.version,
        ip: client.ip,
        userAgent: client.userAgent,
        recordedAt: now,
      });
    }
    await audit(tx, ctx, 'consent.recorded', { type: 'visit', id: visitId }, { participantId, kind: body.kind, textVersion: body.version, patientId: participant.patientId });
    return { row: row!, visit, participant: { ...participant, recordingConsentAt: body.kind === 'recording' ? now : participant.recordingConsentAt } };
  });
  // Agreeing to be recorded in a visit being recorded: from now on they are (routing lets the recorder take them).
  if (body.kind === 'recording' && accepted.visit.roomId && mayBeRecorded(accepted.participant)) {
    await placeParticipant(deps, ctx, accepted.visit, participantId, { recorded: true });
  }
  await deps.hub.publish(ctx.orgId, 'visit.consent_recorded', { visitId, participantId, kind: body.kind });
  return toConsentDto(accepted.row);
}

function toConsentDto(row: typeof visitConsents.$inferSelect): VisitConsent {
  return { participantId: row.participantId, kind: row.kind, textVersion: row.textVersion, acceptedAt: row.acceptedAt.toISOString(), ip: row.ip, userAgent: row.userAgent };
}

/** Staff: every acceptance in the visit. A participant: their own. */
export async function listVisitConsents(deps: VisitDeps, ctx: Ctx, visitId: string): Promise<VisitConsent[]> {
  const p = ctx.principal;
  if (p.kind === 'participant' && p.visitId !== visitId) throw new AppError('not_found', 'There is no such visit.');
  await visitRow(deps.db, ctx.orgId, visitId);
  const rows = await deps.db
    .select()
    .from(visitConsents)
    .where(
      and(
        eq(visitConsents.orgId, ctx.orgId),
        eq(visitConsents.visitId, visitId),
        p.kind === 'participant' ? eq(visitConsents.participantId, p.participantId) : undefined,
      ),
    )
    .orderBy(visitConsents.acceptedAt);
  return rows.map(toConsentDto);
}

// ---- media tokens ----------------------------------------------------------------------------------------

/**
 * The media token for the caller's place in the visit. The host (or an admin) is in the visit; a participant
 * must have accepted the telehealth consent, and is routed to the waiting room until the host admits them.
 * Asking again (a reconnect with an expired token) keeps the same identity and admission.
 */
export async function visitToken(deps: VisitDeps, ctx: Ctx, visitId: string): Promise<VisitToken> {
  const p = ctx.principal;
  if (p.kind === 'api_key' || p.kind === 'system') throw new AppError('forbidden', 'A visit token is for the host (signed in) or a participant (with their link).');
  const visit = await visitRow(deps.db, ctx.orgId, visitId);
  let participant: ParticipantRow;
  if (p.kind === 'user') {
    await assertCanHost(deps.db, ctx, visit);
    // A co-host joins as themselves (their own row and identity); the host, an admin, as the visit's host.
    const cohost = p.userId !== visit.hostUserId ? await cohostRow(deps.db, ctx.orgId, visitId, p.userId) : undefined;
    const [host] = cohost
      ? [cohost]
      : await deps.db
          .select()
          .from(visitParticipants)
          .where(and(eq(visitParticipants.orgId, ctx.orgId), eq(visitParticipants.visitId, visitId), eq(visitParticipants.role, 'host')))
          .limit(1);
    if (!host) throw new AppError('invalid_state', 'The visit has no host.');
    participant = host;
  } else {
    participant = await participantRow(deps.db, ctx.orgId, visitId, ownParticipantId(ctx, visitId));
  }
  if (isFinal(visit.status)) throw new AppError('invalid_state', `The visit is ${visit.status.replace('_', ' ')}.`, { status: visit.status });
  const isHost = isStaffRole(participant.role);
  if (!isHost) {
    assertWindow(visit, deps, new Date());
    if (participant.admission === 'denied' || participant.admission === 'removed') throw new AppError('not_admitted', participant.denyMessage ?? undefined);
    if (!participant.telehealthConsentAt) throw new AppError('consent_required');
    if (visit.locked && participant.admission !== 'admitted') throw new AppError('visit_locked');
  }
  const room = await ensureRoom(deps, ctx, visit);

  // Arrival: an invited participant enters the waiting room now (once); an admitted one goes to the visit.
  let arrived = false;
  if (!isHost && participant.admission === 'invited') {
    const [updated] = await deps.db.transaction(async (tx) => {
      const rows = await tx
        .update(visitParticipants)
        .set({ admission: 'waiting', arrivedAt: new Date(), updatedAt: new Date() })
        .where(and(eq(visitParticipants.id, participant.id), eq(visitParticipants.admission, 'invited')))
        .returning();
      if (rows.length > 0) await audit(tx, ctx, 'visit.participant_waiting', { type: 'visit', id: visitId }, { participantId: participant.id, role: participant.role });
      return rows;
    });
    if (updated) {
      participant = updated;
      arrived = true;
    }
  }
  await routeParticipant(deps.rooms, ctx, room, participant.id, placementOf(participant));
  const ttlSeconds = Math.min(86_400, Math.max(900, Math.ceil((joinWindow(visit, deps.config).closesAt.getTime() - Date.now()) / 1000) + 3600));
  const issued = await issueToken(deps.rooms, ctx, {
    room,
    identity: participant.id,
    ttlSeconds,
    // Chat goes through the API (stored with the visit, then delivered by the server), never peer to peer.
    grants: { publish: true, subscribe: true, data: false, admin: isHost },
  }, { isolated: !inVisit(participant) });
  if (arrived) await deps.hub.publish(ctx.orgId, 'visit.participant_waiting', { visitId, participantId: participant.id, role: participant.role });
  const recording = visit.recordingSince !== null;
  return {
    ...issued,
    admission: isHost ? 'admitted' : participant.admission,
    recording,
    consentsRequired: recording && !isHost && !participant.recordingConsentAt ? [await currentConsentText(deps.db, ctx.orgId, 'recording')] : [],
  };
}

// ---- the host's controls ---------------------------------------------------------------------------------

type Control = 'admit' | 'deny' | 'return' | 'remove';

/** Applies an admission change to one participant under the visit's lock; returns the row before and after. */
async function changeAdmission(
  deps: VisitDeps,
  ctx: Ctx,
  visitId: string,
  participantId: string,
  control: Control,
  message?: string,
): Promise<{ visit: VisitRow; before: ParticipantRow; after: ParticipantRow; changed: boolean; left?: LeftGroupState | null }> {
  return deps.db.transaction(async (tx) => {
    const visit = await visitRow(tx, ctx.orgId, visitId, true);
    await assertCanHost(tx, ctx, visit);
    if (isFinal(visit.status)) throw new AppError('invalid_state', `The visit is ${visit.status.replace('_', ' ')}.`, { status: visit.status });
    const before = await participantRow(tx, ctx.orgId, visitId, participantId, true);
    if (isStaffRole(before.role)) throw new AppError('invalid_state', 'The host and co-hosts are not admitted, denied, sent back or removed (a co-host is removed as a co-host).');
    const allowed: Record<Control, { from: readonly string[]; to: ParticipantRow['admission'] }> = {
      admit: { from: ['waiting'], to: 'admitted' },
      deny: { from: ['waiting', 'invited'], to: 'denied' },
      return: { from: ['admitted'], to: 'waiting' },
      remove: { from: ['invited', 'waiting', 'admitted'], to: 'removed' },
    };
    const rule = allowed[control];
    if (before.admission === rule.to) return { visit, before, after: before, changed: false };
    if (!rule.from.includes(before.admission)) {
      throw new AppError('invalid_state', `The participant is ${before.admission}; they cannot be ${CONTROL_PAST[control]}.`, { admission: before.admission });
    }
    // A group admits its limit at most (under the visit's lock: admissions at once queue here).
    if (control === 'admit') await assertRoomFor(tx, visit, before, deps.rooms.media.roomCapacity);
    const now = new Date();
    const [after] = await tx
      .update(visitParticipants)
      .set({
        admission: rule.to,
        updatedAt: now,
        ...(control === 'admit' ? { admittedAt: now } : {}),
        ...(control === 'deny' ? { denyMessage: message ?? null } : {}),
      })
      .where(eq(visitParticipants.id, participantId))
      .returning();
    if (control === 'deny' || control === 'remove') {
      await tx.update(participantSessions).set({ revokedAt: now }).where(and(eq(participantSessions.participantId, participantId), isNull(participantSessions.revokedAt)));
      await tx.update(visitLinks).set({ revokedAt: now }).where(and(eq(visitLinks.participantId, participantId), isNull(visitLinks.revokedAt)));
    }
    await audit(tx, ctx, CONTROL_AUDIT[control], { type: 'visit', id: visitId }, { participantId, role: before.role, from: before.admission });
    // Out of the visit: their hand comes down and the spotlight leaves them (group.ts).
    const left = control === 'admit' ? null : await leaveGroupState(tx, ctx, visit, after!);
    return { visit, before, after: left?.handLowered ? { ...after!, handRaisedAt: null } : after!, changed: true, left };
  });
}

/** What a participant is told when the host admits, sends back, denies or removes them (notice codes are stable). */
export const ADMISSION_NOTICES: Record<Control, (p: ParticipantRow) => { code: string; message: string }> = {
  admit: () => ({ code: 'admitted', message: 'The clinician let you in.' }),
  return: () => ({ code: 'returned_to_waiting_room', message: 'The clinician moved you back to the waiting room.' }),
  deny: (p) => ({ code: 'denied', message: p.denyMessage ?? 'The clinician could not let you into this visit.' }),
  remove: () => ({ code: 'removed', message: 'The clinician removed you from the visit.' }),
};

const CONTROL_PAST: Record<Control, string> = { admit: 'admitted', deny: 'denied', return: 'sent back to the waiting room', remove: 'removed' };
const CONTROL_AUDIT = { admit: 'visit.participant_admitted', deny: 'visit.participant_denied', return: 'visit.participant_returned', remove: 'visit.participant_removed' } as const;
const CONTROL_HUB = { admit: 'visit.participant_admitted', deny: 'visit.participant_denied', return: 'visit.participant_returned', remove: 'visit.participant_removed' } as const;

export async function controlParticipant(deps: VisitDeps, ctx: Ctx, visitId: string, participantId: string, control: Control, message?: string) {
  const { visit, after, changed, left } = await changeAdmission(deps, ctx, visitId, participantId, control, message);
  if (!changed) return toParticipantDto(after);
  if (left) await announceLeft(deps, ctx, visitId, participantId, left);
  if (visit.roomId) {
    const room = roomNameOf(visitId);
    // The participant's page hears it from the server first (what happened, and the host's words when denied).
    await notifyRoom(deps.rooms, ctx, room, ADMISSION_NOTICES[control](after), [participantId]);
    // Admitted: into the visit; sent back, denied or removed: alone in their waiting group, isolated before anything else.
    // Admitted while "mute all" holds with the server enforcing it: muted from their first moment in the visit.
    await placeParticipant(deps, ctx, visit, participantId, { ...placementOf(after), ...(control === 'admit' ? mutedAtAdmission(visit) : {}) });
    if (control === 'admit') await tellMutedAtAdmission(deps, ctx, visit, participantId);
    // A participant held out of the media room while waiting (a provider that cannot isolate a newcomer from its first
    // moment gives them no media token) now asks for one; anyone already connected ignores it.
    if (control === 'admit') await releaseHeld(deps.rooms, ctx, room, participantId);
    if (control === 'deny' || control === 'remove') {
      // Their media tokens revoked: the token they still hold neither reaches anyone nor gets in.
      await revokeParticipantTokens(deps.rooms, ctx, roomNameOf(visitId), participantId);
      await removeRoomParticipant(deps.rooms, ctx, roomNameOf(visitId), participantId).catch((err: unknown) => {
        // Not connected (or the room is gone): nothing to disconnect; the revoked session keeps them out.
        if (!(err instanceof AppError && (err.code === 'not_found' || err.code === 'invalid_state'))) throw err;
      });
    }
  }
  await deps.hub.publish(ctx.orgId, CONTROL_HUB[control], { visitId, participantId });
  if (control === 'admit') await maybeBegin(deps, ctx, visitId, await connectedIdentities(deps.rooms, ctx, visit.roomId));
  return toParticipantDto(after);
}

/**
 * Admits everyone waiting, in order of arrival; returns who was admitted. A group admits as many as fit its limit:
 * once it is full the rest stay waiting (the answer lists only those admitted; the waiting room still lists the others).
 */
export async function admitAll(deps: VisitDeps, ctx: Ctx, visitId: string) {
  const visit = await visitRow(deps.db, ctx.orgId, visitId);
  await assertCanHost(deps.db, ctx, visit);
  const waiting = await deps.db
    .select({ id: visitParticipants.id })
    .from(visitParticipants)
    .where(and(eq(visitParticipants.orgId, ctx.orgId), eq(visitParticipants.visitId, visitId), eq(visitParticipants.admission, 'waiting')))
    .orderBy(asc(visitParticipants.arrivedAt), asc(visitParticipants.id));
  const admitted = [];
  for (const w of waiting) {
    try {
      admitted.push(await controlParticipant(deps, ctx, visitId, w.id, 'admit'));
    } catch (err) {
      if (err instanceof AppError && err.code === 'visit_full') break;
      // Someone who left the waiting room meanwhile (denied by another host, removed) is passed over.
      if (err instanceof AppError && err.code === 'invalid_state' && (err.details as { admission?: string } | undefined)?.admission) continue;
      throw err;
    }
  }
  return admitted;
}

/** Who is in the waiting room, in order of arrival (host, admin or host app). */
export async function waitingRoom(deps: VisitDeps, ctx: Ctx, visitId: string) {
  const visit = await visitRow(deps.db, ctx.orgId, visitId);
  await assertCanHost(deps.db, ctx, visit);
  const rows = await deps.db
    .select()
    .from(visitParticipants)
    .where(and(eq(visitParticipants.orgId, ctx.orgId), eq(visitParticipants.visitId, visitId), eq(visitParticipants.admission, 'waiting')))
    .orderBy(asc(visitParticipants.arrivedAt), asc(visitParticipants.id));
  return rows.map(toParticipantDto);
}

/** Host mute (routing: nobody receives that participant's audio / video while muted). */
export async function muteParticipant(deps: VisitDeps, ctx: Ctx, visitId: string, participantId: string, mute: { audio?: boolean; video?: boolean }) {
  const visit = await visitRow(deps.db, ctx.orgId, visitId);
  await assertCanHost(deps.db, ctx, visit);
  if (isFinal(visit.status) || !visit.roomId) throw new AppError('invalid_state', 'Nobody is in the visit’s room yet.', { status: visit.status });
  const participant = await participantRow(deps.db, ctx.orgId, visitId, participantId);
  await placeParticipant(deps, ctx, visit, participant.id, {
    ...(mute.audio !== undefined ? { audioMuted: mute.audio } : {}),
    ...(mute.video !== undefined ? { videoMuted: mute.video } : {}),
  });
  await audit(deps.db, ctx, 'visit.participant_muted', { type: 'visit', id: visitId }, { participantId, audio: mute.audio ?? null, video: mute.video ?? null });
  await deps.hub.publish(ctx.orgId, 'visit.participant_muted', { visitId, participantId });
  return toParticipantDto(participant);
}
