/**
 * A visit's group controls (docs/groups.md, "Group controls"): raised hands (an ordered queue for the hosts), the
 * spotlight (the room's media policy puts that participant first for everyone), mute all (a notice to every admitted
 * client, and with `selfUnmute` false the server's own audio mute through routing, for newcomers too) with "ask to
 * unmute", and the group's settings during the session (media mode, limit). Each change is audited in its
 * transaction and announced on the hub after commit, ids only; the participant it concerns hears it on the room's
 * channel (notices `hand_lowered`, `muted_by_host`, `unmute_requested`).
 */
import { and, asc, eq, isNotNull } from 'drizzle-orm';
import type { MuteAllBody, UpdateGroupBody, Visit, VisitParticipant } from '../../shared/api/visits.js';
import { audit } from '../audit/service.js';
import type { Ctx } from '../context.js';
import type { Db } from '../db/index.js';
import { visitParticipants, visits } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { roomMediaPolicy } from '../rooms/queries.js';
import { findRoom, notifyRoom, routeParticipants, setRoomMediaPolicy } from '../rooms/service.js';
import { assertCanHost, getVisit, participantRow, participantRows, placeParticipant, roomNameOf, toParticipantDto, visitRow, type ParticipantRow, type VisitDeps, type VisitRow } from './service.js';
import { isFinal } from './state.js';
import { admittedClients } from './group.js';
import { isStaffRole } from './privacy.js';

/** Staff in the visit (the host, co-hosts): never muted by "mute all", never in the hands queue. */

/** The clients a group control acts on: admitted, not staff. */
const admittedOf = (people: readonly ParticipantRow[]) => people.filter((p) => !isStaffRole(p.role) && p.admission === 'admitted');

/** What the participant is told (stable codes: src/shared/channel.ts CHANNEL_NOTICES; the SDK acts on them). */
export const GROUP_NOTICES = {
  handLowered: { code: 'hand_lowered', message: 'The clinician lowered your hand.' },
  mutedByHost: { code: 'muted_by_host', message: 'The clinician muted everyone.' },
  unmuteRequested: { code: 'unmute_requested', message: 'The clinician asks you to unmute your microphone.' },
} as const;

function assertNotOver(visit: VisitRow): void {
  if (isFinal(visit.status)) throw new AppError('invalid_state', `The visit is ${visit.status.replace('_', ' ')}.`, { status: visit.status });
}

function assertGroup(visit: VisitRow): void {
  if (visit.kind !== 'group') throw new AppError('invalid_state', 'This is for group visits; this visit is not one.', { kind: visit.kind });
}

/** Inside a transaction: the visit's row, locked, for one who may host it, not over yet. */
async function hostedVisit(tx: Db, ctx: Ctx, visitId: string): Promise<VisitRow> {
  const visit = await visitRow(tx, ctx.orgId, visitId, true);
  await assertCanHost(tx, ctx, visit);
  assertNotOver(visit);
  return visit;
}

/** The client a host acts on: a participant of the visit, not staff. */
async function clientRow(tx: Db, ctx: Ctx, visitId: string, participantId: string): Promise<ParticipantRow> {
  const p = await participantRow(tx, ctx.orgId, visitId, participantId, true);
  if (isStaffRole(p.role)) throw new AppError('invalid_state', 'This is for the visit’s clients, not its hosts.', { role: p.role });
  return p;
}

// ---- hands -----------------------------------------------------------------------------------------------

/** A participant raises or lowers their own hand (only while admitted). Raising a raised hand keeps its place. */
export async function setOwnHand(deps: VisitDeps, ctx: Ctx, visitId: string, raised: boolean): Promise<VisitParticipant> {
  const p = ctx.principal;
  if (p.kind !== 'participant') throw new AppError('forbidden', 'Only a visit participant raises their hand.');
  if (p.visitId !== visitId) throw new AppError('not_found', 'There is no such visit.');
  const { after, changed } = await deps.db.transaction(async (tx) => {
    assertNotOver(await visitRow(tx, ctx.orgId, visitId));
    const before = await participantRow(tx, ctx.orgId, visitId, p.participantId, true);
    if (before.admission !== 'admitted' || isStaffRole(before.role)) throw new AppError('not_admitted', 'Only someone in the visit can raise a hand.');
    return changeHand(tx, ctx, visitId, before, raised, 'participant');
  });
  if (changed) await deps.hub.publish(ctx.orgId, raised ? 'visit.participant_hand_raised' : 'visit.participant_hand_lowered', { visitId, participantId: after.id });
  return toParticipantDto(after);
}

async function changeHand(tx: Db, ctx: Ctx, visitId: string, before: ParticipantRow, raised: boolean, by: 'participant' | 'host' | 'left'): Promise<{ after: ParticipantRow; changed: boolean }> {
  if (raised === (before.handRaisedAt !== null)) return { after: before, changed: false };
  const now = new Date();
  const [after] = await tx
    .update(visitParticipants)
    .set({ handRaisedAt: raised ? now : null, updatedAt: now })
    .where(eq(visitParticipants.id, before.id))
    .returning();
  await audit(tx, ctx, raised ? 'visit.hand_raised' : 'visit.hand_lowered', { type: 'visit', id: visitId }, { participantId: before.id, by });
  return { after: after!, changed: true };
}

/** A host lowers a participant's hand; the participant is told (`hand_lowered`). Lowering a lowered hand changes nothing. */
export async function lowerHand(deps: VisitDeps, ctx: Ctx, visitId: string, participantId: string): Promise<VisitParticipant> {
  const { after, changed } = await deps.db.transaction(async (tx) => {
    await hostedVisit(tx, ctx, visitId);
    return changeHand(tx, ctx, visitId, await clientRow(tx, ctx, visitId, participantId), false, 'host');
  });
  if (changed) {
    await notifyRoom(deps.rooms, ctx, roomNameOf(visitId), GROUP_NOTICES.handLowered, [participantId]);
    await deps.hub.publish(ctx.orgId, 'visit.participant_hand_lowered', { visitId, participantId });
  }
  return toParticipantDto(after);
}

/** The raised hands, oldest first (the order hosts take them in). */
export async function handsQueue(deps: VisitDeps, ctx: Ctx, visitId: string): Promise<VisitParticipant[]> {
  await assertCanHost(deps.db, ctx, await visitRow(deps.db, ctx.orgId, visitId));
  const rows = await deps.db
    .select()
    .from(visitParticipants)
    .where(and(eq(visitParticipants.orgId, ctx.orgId), eq(visitParticipants.visitId, visitId), eq(visitParticipants.admission, 'admitted'), isNotNull(visitParticipants.handRaisedAt)))
    .orderBy(asc(visitParticipants.handRaisedAt), asc(visitParticipants.id));
  return rows.map(toParticipantDto);
}

// ---- leaving: hand down, out of the spotlight ------------------------------------------------------------

export interface LeftGroupState {
  handLowered: boolean;
  spotlightCleared: boolean;
}

/**
 * Inside the transaction that takes a participant out of the visit (sent back, denied, removed), or after their
 * connection ended: their hand comes down and the spotlight leaves them. Audited here; `announceLeft` after commit.
 */
export async function leaveGroupState(tx: Db, ctx: Ctx, visit: VisitRow, participant: ParticipantRow): Promise<LeftGroupState> {
  const { changed } = await changeHand(tx, ctx, visit.id, participant, false, 'left');
  let spotlightCleared = false;
  if (visit.spotlightParticipantId === participant.id) {
    const cleared = await tx
      .update(visits)
      .set({ spotlightParticipantId: null, updatedAt: new Date() })
      .where(and(eq(visits.id, visit.id), eq(visits.spotlightParticipantId, participant.id)))
      .returning({ id: visits.id });
    spotlightCleared = cleared.length > 0;
    if (spotlightCleared) await audit(tx, ctx, 'visit.spotlight_set', { type: 'visit', id: visit.id }, { participantId: null, previous: participant.id, reason: 'left' });
  }
  return { handLowered: changed, spotlightCleared };
}

/** After commit: the room's media policy and the hub hear what leaveGroupState changed. */
export async function announceLeft(deps: VisitDeps, ctx: Ctx, visitId: string, participantId: string, left: LeftGroupState): Promise<void> {
  if (left.spotlightCleared) {
    await applyMediaPolicy(deps, ctx, visitId);
    await deps.hub.publish(ctx.orgId, 'visit.spotlight_changed', { visitId, participantId: null });
  }
  if (left.handLowered) await deps.hub.publish(ctx.orgId, 'visit.participant_hand_lowered', { visitId, participantId });
}

/** A participant's connection to the visit's room ended (the rooms layer's participant.left). */
export async function participantLeftRoom(deps: VisitDeps, ctx: Ctx, visitId: string, participantId: string): Promise<void> {
  const left = await deps.db.transaction(async (tx) => {
    const visit = await visitRow(tx, ctx.orgId, visitId, true);
    const [participant] = await tx
      .select()
      .from(visitParticipants)
      .where(and(eq(visitParticipants.orgId, ctx.orgId), eq(visitParticipants.visitId, visitId), eq(visitParticipants.id, participantId)))
      .for('update');
    // An identity that is not a participant (never, in a visit's room) has nothing to lower.
    if (!participant) return null;
    return leaveGroupState(tx, ctx, visit, participant);
  });
  if (left) await announceLeft(deps, ctx, visitId, participantId, left);
}

// ---- spotlight and the room's media policy ---------------------------------------------------------------

/**
 * Gives the visit's room the media policy its row says now (mode, spotlight), keeping the rest of the room's policy
 * (simulcast, last-N). Nothing when the room is not live or has no policy (a room made without one: its defaults).
 */
async function applyMediaPolicy(deps: VisitDeps, ctx: Ctx, visitId: string): Promise<void> {
  const visit = await visitRow(deps.db, ctx.orgId, visitId);
  if (!visit.roomId) return;
  const room = await findRoom(deps.db, ctx.orgId, roomNameOf(visitId));
  if (!room || room.id !== visit.roomId || room.status !== 'in-progress') return;
  const current = await roomMediaPolicy(deps.rooms, ctx, room.id);
  if (!current) return;
  try {
    await setRoomMediaPolicy(deps.rooms, ctx, room.id, { ...current, mode: visit.mediaMode, spotlight: visit.spotlightParticipantId });
  } catch (err) {
    // Ended meanwhile: nobody left to tell.
    if (!(err instanceof AppError && err.code === 'invalid_state')) throw err;
  }
}

/**
 * A host puts one participant in the spotlight for everyone (null: nobody): stored with the visit, the room's media
 * policy `spotlight` (that participant's media identity, their participant id), hub visit.spotlight_changed. Only an
 * admitted participant or a host can be spotlit.
 */
export async function setSpotlight(deps: VisitDeps, ctx: Ctx, visitId: string, participantId: string | null): Promise<Visit> {
  const id = participantId?.toLowerCase() ?? null;
  const changed = await deps.db.transaction(async (tx) => {
    const visit = await hostedVisit(tx, ctx, visitId);
    assertGroup(visit);
    if (id !== null) {
      const p = await participantRow(tx, ctx.orgId, visitId, id);
      if (!isStaffRole(p.role) && p.admission !== 'admitted') {
        throw new AppError('invalid_state', `Only someone in the visit can be in the spotlight; this participant is ${p.admission}.`, { admission: p.admission });
      }
    }
    if (visit.spotlightParticipantId === id) return false;
    await tx.update(visits).set({ spotlightParticipantId: id, updatedAt: new Date() }).where(eq(visits.id, visitId));
    await audit(tx, ctx, 'visit.spotlight_set', { type: 'visit', id: visitId }, { participantId: id, previous: visit.spotlightParticipantId });
    return true;
  });
  if (changed) {
    await applyMediaPolicy(deps, ctx, visitId);
    await deps.hub.publish(ctx.orgId, 'visit.spotlight_changed', { visitId, participantId: id });
  }
  return getVisit(deps, ctx, visitId);
}

// ---- mute all, ask to unmute -----------------------------------------------------------------------------

/** The server's audio mute of these participants, all at once (one routing write for the room). */
async function serverMute(deps: VisitDeps, ctx: Ctx, visit: VisitRow, ids: readonly string[], muted: boolean): Promise<void> {
  if (ids.length === 0 || !visit.roomId) return;
  const room = await findRoom(deps.db, ctx.orgId, roomNameOf(visit.id));
  if (!room || room.status !== 'in-progress') return;
  await routeParticipants(deps.rooms, ctx, room.name, ids.map((identity) => ({ identity, update: { audioMuted: muted } })));
}

/**
 * A host mutes everyone but the hosts, or lifts it. Muted: every admitted client is told (`muted_by_host`: their SDK
 * turns the microphone off), and with `selfUnmute` false the server also stops their audio (routing), until a host
 * asks them to unmute; whoever is admitted while it holds is muted the same way at admission (access.ts). Doing it
 * again mutes everyone again (those who unmuted themselves too). Lifted: the server's audio mutes of the clients are
 * lifted; nobody's microphone is turned on for them.
 */
export async function muteAll(deps: VisitDeps, ctx: Ctx, visitId: string, body: MuteAllBody): Promise<Visit> {
  if (!body.muted && body.selfUnmute !== undefined) throw new AppError('validation_failed', undefined, [{ path: 'body/selfUnmute', message: 'goes with muted: true' }]);
  const selfUnmute = body.muted ? (body.selfUnmute ?? true) : true;
  const { visit, clients, wasHard } = await deps.db.transaction(async (tx) => {
    const before = await hostedVisit(tx, ctx, visitId);
    const [updated] = await tx.update(visits).set({ mutedAll: body.muted, selfUnmute, updatedAt: new Date() }).where(eq(visits.id, visitId)).returning();
    const people = admittedOf(await participantRows(tx, ctx.orgId, visitId));
    await audit(tx, ctx, body.muted ? 'visit.muted_all' : 'visit.unmuted_all', { type: 'visit', id: visitId }, body.muted ? { selfUnmute, participants: people.length } : { participants: people.length });
    return { visit: updated!, clients: people.map((p) => p.id), wasHard: before.mutedAll && !before.selfUnmute };
  });
  const hard = body.muted && !selfUnmute;
  if (hard) await serverMute(deps, ctx, visit, clients, true);
  // Lifted, or softened (they may unmute themselves now): the server's own mutes go. Lifting lifts every audio mute
  // the server holds on the clients, a host's one-person mute too: "unmute all" means all.
  else if (wasHard || !body.muted) await serverMute(deps, ctx, visit, clients, false);
  if (body.muted && clients.length > 0) await notifyRoom(deps.rooms, ctx, roomNameOf(visitId), GROUP_NOTICES.mutedByHost, clients);
  await deps.hub.publish(ctx.orgId, 'visit.muted_all', { visitId, muted: body.muted, selfUnmute });
  return getVisit(deps, ctx, visitId);
}

/**
 * Where a participant being admitted goes while "mute all" holds: their routing starts audio-muted when the server
 * enforces it (so nothing of theirs is heard for a moment), and they are told to turn their microphone off.
 */
export function mutedAtAdmission(visit: VisitRow): { audioMuted?: true } {
  return visit.mutedAll && !visit.selfUnmute ? { audioMuted: true } : {};
}

/** After an admission while "mute all" holds: the newcomer hears it (`muted_by_host`). */
export async function tellMutedAtAdmission(deps: VisitDeps, ctx: Ctx, visit: VisitRow, participantId: string): Promise<void> {
  if (visit.mutedAll) await notifyRoom(deps.rooms, ctx, roomNameOf(visit.id), GROUP_NOTICES.mutedByHost, [participantId]);
}

/**
 * A host asks an admitted participant to unmute: the server's audio mute of them (if any) is lifted and they are
 * asked (`unmute_requested`: their app asks the person; nobody's microphone is turned on for them).
 */
export async function askUnmute(deps: VisitDeps, ctx: Ctx, visitId: string, participantId: string): Promise<VisitParticipant> {
  const { visit, participant } = await deps.db.transaction(async (tx) => {
    const v = await hostedVisit(tx, ctx, visitId);
    const p = await clientRow(tx, ctx, visitId, participantId);
    if (p.admission !== 'admitted') throw new AppError('invalid_state', `Only someone in the visit can be asked to unmute; this participant is ${p.admission}.`, { admission: p.admission });
    await audit(tx, ctx, 'visit.unmute_requested', { type: 'visit', id: visitId }, { participantId: p.id });
    return { visit: v, participant: p };
  });
  await placeParticipant(deps, ctx, visit, participant.id, { audioMuted: false });
  await notifyRoom(deps.rooms, ctx, roomNameOf(visitId), GROUP_NOTICES.unmuteRequested, [participant.id]);
  await deps.hub.publish(ctx.orgId, 'visit.participant_unmute_requested', { visitId, participantId: participant.id });
  return toParticipantDto(participant);
}

// ---- the group's settings during the session -------------------------------------------------------------

/**
 * A host changes the group's media mode (the room's media policy `mode`) or its limit (never below the clients
 * admitted now: 409 visit_full) while it runs. Audited (visit.group_updated), hub visit.updated.
 */
export async function updateGroup(deps: VisitDeps, ctx: Ctx, visitId: string, body: UpdateGroupBody): Promise<Visit> {
  const modeChanged = await deps.db.transaction(async (tx) => {
    const visit = await hostedVisit(tx, ctx, visitId);
    assertGroup(visit);
    if (body.maxParticipants !== undefined) {
      const admitted = await admittedClients(tx, ctx.orgId, visitId);
      if (body.maxParticipants < admitted) {
        throw new AppError('visit_full', `${admitted} participants are in the group now; its limit cannot go below that. Send someone back or remove them first.`, { admitted });
      }
    }
    await tx
      .update(visits)
      .set({ ...(body.mediaMode !== undefined ? { mediaMode: body.mediaMode } : {}), ...(body.maxParticipants !== undefined ? { maxParticipants: body.maxParticipants } : {}), updatedAt: new Date() })
      .where(eq(visits.id, visitId));
    await audit(tx, ctx, 'visit.group_updated', { type: 'visit', id: visitId }, {
      mediaMode: body.mediaMode ?? null,
      maxParticipants: body.maxParticipants ?? null,
      previousMediaMode: visit.mediaMode,
      previousMaxParticipants: visit.maxParticipants,
    });
    return body.mediaMode !== undefined && body.mediaMode !== visit.mediaMode;
  });
  if (modeChanged) await applyMediaPolicy(deps, ctx, visitId);
  await deps.hub.publish(ctx.orgId, 'visit.updated', { visitId });
  return getVisit(deps, ctx, visitId);
}
