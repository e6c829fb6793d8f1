/**
 * The people of a group visit beyond the host and its clients (docs/groups.md): co-hosts (other staff with the host's
 * rights in this visit: a visit_participants row of role `cohost`, joining as themselves) and the name a client
 * chooses for the others to see (when the organisation allows it). Each change is audited in its transaction and
 * announced on the hub (ids only) after commit.
 */
import { and, eq, isNull } from 'drizzle-orm';
import type { VisitParticipant } from '../../shared/api/visits.js';
import { audit } from '../audit/service.js';
import type { Ctx } from '../context.js';
import { participantSessions, users, visitParticipants } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { notifyRoom, removeRoomParticipant, revokeParticipantTokens } from '../rooms/service.js';
import { groupSettings } from './group.js';
import { fullView } from './privacy.js';
import { assertCanHost, participantRow, roomNameOf, visitRow, type ParticipantRow, type VisitDeps } from './service.js';
import { isFinal } from './state.js';

/**
 * Makes a staff user of the organisation (an active clinician or admin, not the host) a co-host of the visit: in the
 * visit from the start (admitted), recorded like the host, with the host's rights. Adding a co-host again answers
 * their row as it is; one removed before is made a co-host again. The host, an admin, a co-host or the host app may.
 */
export async function addCohost(deps: VisitDeps, ctx: Ctx, visitId: string, userId: string): Promise<VisitParticipant> {
  const id = userId.toLowerCase();
  const { row, changed } = await deps.db.transaction(async (tx) => {
    const visit = await visitRow(tx, ctx.orgId, visitId, true);
    await assertCanHost(tx, ctx, visit);
    if (isFinal(visit.status)) throw new AppError('invalid_state', `The visit is ${visit.status.replace('_', ' ')}.`, { status: visit.status });
    const [user] = await tx
      .select({ id: users.id, name: users.name, role: users.role, disabledAt: users.disabledAt })
      .from(users)
      .where(and(eq(users.orgId, ctx.orgId), eq(users.id, id)))
      .limit(1);
    if (!user || user.disabledAt !== null || user.role === 'caregiver') {
      throw new AppError('validation_failed', 'A co-host is an active clinician or admin of your organisation.', [{ path: 'body/userId', message: 'is not an active clinician or admin' }]);
    }
    if (user.id === visit.hostUserId) throw new AppError('validation_failed', 'The host already runs the visit.', [{ path: 'body/userId', message: 'is the visit’s host' }]);
    const [existing] = await tx
      .select()
      .from(visitParticipants)
      .where(and(eq(visitParticipants.orgId, ctx.orgId), eq(visitParticipants.visitId, visitId), eq(visitParticipants.role, 'cohost'), eq(visitParticipants.userId, user.id)))
      .limit(1);
    if (existing?.admission === 'admitted') return { row: existing, changed: false };
    const now = new Date();
    const [saved] = existing
      ? await tx.update(visitParticipants).set({ admission: 'admitted', admittedAt: now, displayName: user.name, updatedAt: now }).where(eq(visitParticipants.id, existing.id)).returning()
      : await tx.insert(visitParticipants).values({ orgId: ctx.orgId, visitId, role: 'cohost', userId: user.id, displayName: user.name, admission: 'admitted', admittedAt: now }).returning();
    await audit(tx, ctx, 'visit.cohost_added', { type: 'visit', id: visitId }, { participantId: saved!.id, userId: user.id });
    return { row: saved!, changed: true };
  });
  if (changed) await deps.hub.publish(ctx.orgId, 'visit.cohost_added', { visitId, participantId: row.id, userId: row.userId });
  return fullView(row);
}

/**
 * Ends a user's co-hosting: their row is `removed`, and like a removed participant their tokens for the visit are
 * revoked and their connection to its room ended (they are told first). 404 when the user is not a co-host of it.
 */
export async function removeCohost(deps: VisitDeps, ctx: Ctx, visitId: string, userId: string): Promise<void> {
  const id = userId.toLowerCase();
  const { row, roomId } = await deps.db.transaction(async (tx) => {
    const visit = await visitRow(tx, ctx.orgId, visitId, true);
    await assertCanHost(tx, ctx, visit);
    const now = new Date();
    const [removed] = await tx
      .update(visitParticipants)
      .set({ admission: 'removed', updatedAt: now })
      .where(
        and(
          eq(visitParticipants.orgId, ctx.orgId),
          eq(visitParticipants.visitId, visitId),
          eq(visitParticipants.role, 'cohost'),
          eq(visitParticipants.userId, id),
          eq(visitParticipants.admission, 'admitted'),
        ),
      )
      .returning();
    if (!removed) throw new AppError('not_found', 'That user is not a co-host of this visit.');
    await tx.update(participantSessions).set({ revokedAt: now }).where(and(eq(participantSessions.participantId, removed.id), isNull(participantSessions.revokedAt)));
    await audit(tx, ctx, 'visit.cohost_removed', { type: 'visit', id: visitId }, { participantId: removed.id, userId: id });
    return { row: removed, roomId: visit.roomId };
  });
  if (roomId) {
    const room = roomNameOf(visitId);
    await notifyRoom(deps.rooms, ctx, room, { code: 'removed', message: 'You are no longer a co-host of this visit.' }, [row.id]);
    // Their media tokens revoked: the token they hold no longer gets in, and their connection ends now.
    await revokeParticipantTokens(deps.rooms, ctx, room, row.id);
    await removeRoomParticipant(deps.rooms, ctx, room, row.id).catch((err: unknown) => {
      if (!(err instanceof AppError && (err.code === 'not_found' || err.code === 'invalid_state'))) throw err;
    });
  }
  await deps.hub.publish(ctx.orgId, 'visit.cohost_removed', { visitId, participantId: row.id, userId: id });
}

/**
 * A client of a group visit chooses the name the other clients see (organizations.group_self_names; else 403
 * display_name_not_allowed). Staff keep seeing the real name beside it. Audited (the participant, never the name).
 */
export async function setOwnDisplayName(deps: VisitDeps, ctx: Ctx, visitId: string, displayName: string): Promise<VisitParticipant> {
  const p = ctx.principal;
  if (p.kind !== 'participant') throw new AppError('forbidden', 'Only a participant of the visit chooses their own name.');
  if (p.visitId !== visitId) throw new AppError('not_found', 'There is no such visit.');
  const name = displayName.trim().replace(/\s+/g, ' ');
  if (name === '') throw new AppError('validation_failed', undefined, [{ path: 'body/displayName', message: 'is blank' }]);
  const { row, changed } = await deps.db.transaction(async (tx): Promise<{ row: ParticipantRow; changed: boolean }> => {
    const visit = await visitRow(tx, ctx.orgId, visitId);
    if (visit.kind !== 'group') throw new AppError('display_name_not_allowed', 'Names are chosen in group visits only.');
    if (!(await groupSettings(tx, ctx.orgId)).selfNames) throw new AppError('display_name_not_allowed');
    if (isFinal(visit.status)) throw new AppError('invalid_state', `The visit is ${visit.status.replace('_', ' ')}.`, { status: visit.status });
    const me = await participantRow(tx, ctx.orgId, visitId, p.participantId, true);
    if (me.chosenName === name) return { row: me, changed: false };
    const [updated] = await tx.update(visitParticipants).set({ chosenName: name, updatedAt: new Date() }).where(eq(visitParticipants.id, me.id)).returning();
    await audit(tx, ctx, 'visit.participant_renamed', { type: 'visit', id: visitId }, { participantId: me.id });
    return { row: updated!, changed: true };
  });
  if (changed) await deps.hub.publish(ctx.orgId, 'visit.participant_renamed', { visitId, participantId: row.id });
  return fullView(row);
}
