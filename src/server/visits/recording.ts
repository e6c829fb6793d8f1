/**
 * Recording a visit, only with consent. The host starts it when everyone in the visit has agreed to be recorded;
 * whoever joins later without that consent is asked, and kept out of the recording (routing: `recorded: false`)
 * until they agree. Everyone is told (a notice in the call, `recording` on the visit and on their token).
 * Stopping, listing and downloading are the host's (or an admin's, or the host app's), and audited.
 */
import { eq } from 'drizzle-orm';
import type { Recording } from '../../shared/api/rooms.js';
import type { VisitRecordingState } from '../../shared/api/visits.js';
import { audit } from '../audit/service.js';
import type { Ctx } from '../context.js';
import { visits } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { connectedIdentities, recordingInRooms, roomIdsOwnedBy } from '../rooms/queries.js';
import { listRecordingsOfRooms, notifyRoom, openRecording, setRoomRecording } from '../rooms/service.js';
import { mayBeRecorded } from './placement.js';
import { isStaffRole } from './privacy.js';
import { assertCanHost, participantRows, placeParticipant, roomNameOf, roomOwnerOf, visitRow, type VisitDeps, type VisitRow } from './service.js';
import { isLive } from './state.js';

export const RECORDING_NOTICES = {
  started: { code: 'recording_started', message: 'This visit is being recorded.' },
  stopped: { code: 'recording_stopped', message: 'Recording has stopped.' },
  /** To someone who joins a recorded visit without having agreed to be recorded. */
  askConsent: { code: 'recording_consent_required', message: 'This visit is being recorded. You are not recorded unless you agree.' },
} as const;

async function liveVisitForHost(deps: VisitDeps, ctx: Ctx, visitId: string): Promise<VisitRow & { roomId: string }> {
  const visit = await visitRow(deps.db, ctx.orgId, visitId);
  await assertCanHost(deps.db, ctx, visit);
  if (!isLive(visit.status) || visit.status === 'scheduled' || !visit.roomId) {
    throw new AppError('invalid_state', 'Only a visit the host has started can be recorded.', { status: visit.status });
  }
  return visit as VisitRow & { roomId: string };
}

/** Who is in the visit now and not recorded (no recording consent, or waiting). */
async function notRecorded(deps: VisitDeps, ctx: Ctx, visit: VisitRow): Promise<string[]> {
  const connected = await connectedIdentities(deps.rooms, ctx, visit.roomId);
  const people = await participantRows(deps.db, ctx.orgId, visit.id);
  return people.filter((p) => connected.has(p.id) && !mayBeRecorded(p)).map((p) => p.id);
}

export async function recordingState(deps: VisitDeps, ctx: Ctx, visitId: string): Promise<VisitRecordingState> {
  const visit = await visitRow(deps.db, ctx.orgId, visitId);
  await assertCanHost(deps.db, ctx, visit);
  return { recording: visit.recordingSince !== null, recordingSince: visit.recordingSince?.toISOString() ?? null, notRecorded: await notRecorded(deps, ctx, visit) };
}

/**
 * Starts recording: refused (recording_consent_missing, with who) while anyone admitted and connected has not
 * agreed. Starting a recorded visit again is a no-op.
 */
export async function startVisitRecording(deps: VisitDeps, ctx: Ctx, visitId: string): Promise<VisitRecordingState> {
  const visit = await liveVisitForHost(deps, ctx, visitId);
  const connected = await connectedIdentities(deps.rooms, ctx, visit.roomId);
  const people = await participantRows(deps.db, ctx.orgId, visitId);
  const missing = people.filter((p) => connected.has(p.id) && !isStaffRole(p.role) && p.admission === 'admitted' && !p.recordingConsentAt);
  if (missing.length > 0) {
    throw new AppError('recording_consent_missing', `${missing.length === 1 ? 'One participant has' : `${missing.length} participants have`} not agreed to be recorded.`, {
      participantIds: missing.map((p) => p.id),
    });
  }
  const since = new Date();
  const started = await deps.db.transaction(async (tx) => {
    const v = await visitRow(tx, ctx.orgId, visitId, true);
    if (v.recordingSince) return false;
    await tx.update(visits).set({ recordingSince: since, updatedAt: since }).where(eq(visits.id, visitId));
    await audit(tx, ctx, 'visit.recording_started', { type: 'visit', id: visitId }, { participants: connected.size });
    return true;
  });
  if (started) {
    // Routing first (who may be recorded), then the recorder: nobody without consent is captured even briefly.
    for (const p of people) if (connected.has(p.id)) await placeParticipant(deps, ctx, visit, p.id, { recorded: mayBeRecorded(p) });
    await setRoomRecording(deps.rooms, ctx, roomNameOf(visitId), true);
    await notifyRoom(deps.rooms, ctx, roomNameOf(visitId), RECORDING_NOTICES.started);
    await deps.hub.publish(ctx.orgId, 'visit.recording_started', { visitId });
  }
  return recordingState(deps, ctx, visitId);
}

export async function stopVisitRecording(deps: VisitDeps, ctx: Ctx, visitId: string): Promise<VisitRecordingState> {
  await liveVisitForHost(deps, ctx, visitId);
  const stopped = await deps.db.transaction(async (tx) => {
    const v = await visitRow(tx, ctx.orgId, visitId, true);
    if (!v.recordingSince) return false;
    await tx.update(visits).set({ recordingSince: null, updatedAt: new Date() }).where(eq(visits.id, visitId));
    await audit(tx, ctx, 'visit.recording_stopped', { type: 'visit', id: visitId }, { seconds: Math.round((Date.now() - v.recordingSince.getTime()) / 1000) });
    return true;
  });
  if (stopped) {
    await setRoomRecording(deps.rooms, ctx, roomNameOf(visitId), false);
    await notifyRoom(deps.rooms, ctx, roomNameOf(visitId), RECORDING_NOTICES.stopped);
    await deps.hub.publish(ctx.orgId, 'visit.recording_stopped', { visitId });
  }
  return recordingState(deps, ctx, visitId);
}

/** The ids of every room the visit has had (a room closed by its empty-room timeout is made again). */
export async function visitRoomIds(deps: VisitDeps, ctx: Ctx, visitId: string): Promise<string[]> {
  return roomIdsOwnedBy(deps.rooms, ctx, roomOwnerOf(visitId));
}

/** The visit's recording files (one per participant and stretch), oldest first. */
export async function listVisitRecordings(deps: VisitDeps, ctx: Ctx, visitId: string): Promise<Recording[]> {
  const visit = await visitRow(deps.db, ctx.orgId, visitId);
  await assertCanHost(deps.db, ctx, visit);
  return listRecordingsOfRooms(deps.rooms, ctx, await visitRoomIds(deps, ctx, visitId));
}

/** A finished recording of this visit, for download (audited by the rooms layer and here). */
export async function openVisitRecording(deps: VisitDeps, ctx: Ctx, visitId: string, recordingId: string) {
  const visit = await visitRow(deps.db, ctx.orgId, visitId);
  await assertCanHost(deps.db, ctx, visit);
  if (!(await recordingInRooms(deps.rooms, ctx, recordingId, await visitRoomIds(deps, ctx, visitId)))) throw new AppError('not_found', 'There is no such recording in this visit.');
  const opened = await openRecording(deps.rooms, ctx, recordingId);
  try {
    await audit(deps.db, ctx, 'visit.recording_downloaded', { type: 'visit', id: visitId }, { recordingId });
  } catch (err) {
    opened.stream.destroy();
    throw err;
  }
  return opened;
}
