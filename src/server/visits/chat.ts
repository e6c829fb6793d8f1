/**
 * In-call chat, kept with the visit. A message is stored first, then the server hands it to everyone in the visit
 * through the rooms layer (a data message from the server), so what was said is exactly what the record holds.
 * Only the visit's host and its admitted participants write and read it (plus an admin or the organisation's
 * host app, reading the record). The host may also send a private message to one participant, waiting ("Running 5
 * minutes late") or in the visit (a word to one client of a group): kept with the visit's messages
 * (`to_participant_id`), delivered to that participant alone, and listed only for its sender, its recipient and the
 * staff; someone waiting sees only the notes to them. Bodies never reach a log, the audit or the hub.
 */
import { and, asc, eq, isNull, or, sql, type SQL } from 'drizzle-orm';
import type { ChatMessage, ListMessagesQuery } from '../../shared/api/visits.js';
import { audit } from '../audit/service.js';
import type { Ctx } from '../context.js';
import type { Db } from '../db/index.js';
import { visitMessages, visitParticipants } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { sendRoomData } from '../rooms/service.js';
import { assertCanHost, participantRows, roomNameOf, visitRow, type ParticipantRow, type VisitDeps, type VisitRow } from './service.js';
import { groupSettings, nameRulesOf } from './group.js';
import { chatView, clientNumbers, isStaffRole } from './privacy.js';
import { isFinal } from './state.js';

/** What a client receives on the media connection (the SDK's `dataReceived` with no participant). */
export interface ChatPayload {
  type: 'chat';
  visitId: string;
  message: ChatMessage;
}

/** The host's private message, delivered to its one participant alone over the same connection. */
export interface NotePayload {
  type: 'note';
  visitId: string;
  message: ChatMessage;
}

/** The caller as a chat member: a participant in the visit (admitted, the host or a co-host); null for a reader. */
async function memberOf(db: Db, ctx: Ctx, visit: VisitRow, people: ParticipantRow[]): Promise<ParticipantRow | null> {
  const p = ctx.principal;
  if (p.kind === 'participant') {
    if (p.visitId !== visit.id) throw new AppError('not_found', 'There is no such visit.');
    const me = people.find((x) => x.id === p.participantId);
    if (!me || (me.role !== 'host' && me.admission !== 'admitted')) throw new AppError('not_admitted', 'The chat is for people in the visit.');
    return me;
  }
  if (p.kind === 'user' && p.userId === visit.hostUserId) return people.find((x) => x.role === 'host') ?? null;
  if (p.kind === 'user' && p.role !== 'caregiver') {
    const cohost = people.find((x) => x.role === 'cohost' && x.userId === p.userId && x.admission === 'admitted');
    if (cohost) return cohost;
  }
  if ((p.kind === 'user' && p.role === 'admin') || p.kind === 'api_key' || p.kind === 'system') return null;
  throw new AppError('forbidden', 'The chat is for the visit’s participants.');
}

function toDto(row: typeof visitMessages.$inferSelect, sender: Pick<ParticipantRow, 'role' | 'displayName'>): ChatMessage {
  return {
    id: row.id,
    participantId: row.participantId,
    role: sender.role,
    displayName: sender.displayName,
    body: row.body,
    toParticipantId: row.toParticipantId,
    createdAt: row.createdAt.toISOString(),
  };
}

export async function sendMessage(deps: VisitDeps, ctx: Ctx, visitId: string, body: string): Promise<ChatMessage> {
  const text = body.trim();
  if (text === '') throw new AppError('validation_failed', undefined, [{ path: 'body/body', message: 'is empty' }]);
  const visit = await visitRow(deps.db, ctx.orgId, visitId);
  const people = await participantRows(deps.db, ctx.orgId, visitId);
  const sender = await memberOf(deps.db, ctx, visit, people);
  if (!sender) throw new AppError('forbidden', 'Only the visit’s participants write in its chat.');
  if (isFinal(visit.status)) throw new AppError('invalid_state', `The visit is ${visit.status.replace('_', ' ')}.`, { status: visit.status });
  const row = await deps.db.transaction(async (tx) => {
    const [inserted] = await tx.insert(visitMessages).values({ orgId: ctx.orgId, visitId, participantId: sender.id, body: text }).returning();
    await audit(tx, ctx, 'visit.message_sent', { type: 'visit', id: visitId }, { messageId: inserted!.id, participantId: sender.id, chars: text.length });
    return inserted!;
  });
  const message = toDto(row, sender);
  // Everyone in the visit hears it; the staff with the sender's name as it is, each client with the name the
  // organisation's policy gives the sender (group visits: a client's full name never reaches another client).
  const inVisit = people.filter((p) => p.role === 'host' || p.admission === 'admitted');
  const staff = inVisit.filter((p) => isStaffRole(p.role)).map((p) => p.id);
  const clients = inVisit.filter((p) => !isStaffRole(p.role));
  const room = roomNameOf(visitId);
  if (staff.length > 0) await sendRoomData(deps.rooms, ctx, room, JSON.stringify({ type: 'chat', visitId, message } satisfies ChatPayload), staff);
  if (clients.length > 0) {
    const rules = nameRulesOf(visit, await groupSettings(deps.db, ctx.orgId));
    const numbers = clientNumbers(people);
    // Clients see the sender by the same name (only the sender sees their own as it is): one message for the others.
    const others = clients.filter((p) => p.id !== sender.id).map((p) => p.id);
    const asOthersSee = chatView({ kind: 'client', participantId: others[0] ?? '' }, message, sender, rules, numbers);
    if (others.length > 0) await sendRoomData(deps.rooms, ctx, room, JSON.stringify({ type: 'chat', visitId, message: asOthersSee } satisfies ChatPayload), others);
    if (clients.some((p) => p.id === sender.id)) await sendRoomData(deps.rooms, ctx, room, JSON.stringify({ type: 'chat', visitId, message } satisfies ChatPayload), [sender.id]);
  }
  await deps.hub.publish(ctx.orgId, 'visit.message_sent', { visitId, messageId: row.id, participantId: sender.id });
  return message;
}

/**
 * The host's private message to one participant, waiting or admitted: stored with the visit (private to them),
 * audited, then delivered at once to that participant's channel (`note`). The host, a co-host, an admin or the host
 * app may send it; it is said in the sending co-host's name, else the host's (the visit's host participant), and the
 * audit names who sent it.
 */
export async function sendNote(deps: VisitDeps, ctx: Ctx, visitId: string, participantId: string, body: string): Promise<ChatMessage> {
  const text = body.trim();
  if (text === '') throw new AppError('validation_failed', undefined, [{ path: 'body/body', message: 'is empty' }]);
  const { row, host } = await deps.db.transaction(async (tx) => {
    const visit = await visitRow(tx, ctx.orgId, visitId);
    await assertCanHost(tx, ctx, visit);
    if (isFinal(visit.status)) throw new AppError('invalid_state', `The visit is ${visit.status.replace('_', ' ')}.`, { status: visit.status });
    const people = await participantRows(tx, ctx.orgId, visitId);
    const to = people.find((p) => p.id === participantId);
    if (!to) throw new AppError('not_found', 'There is no such participant in this visit.');
    if (to.role === 'host' || to.role === 'cohost' || (to.admission !== 'waiting' && to.admission !== 'admitted')) {
      throw new AppError('invalid_state', `A private message goes to someone waiting or in the visit; this participant is ${to.role === 'host' || to.role === 'cohost' ? 'a host' : to.admission}.`, { admission: to.admission });
    }
    // Said by the staff member who sends it when they are in the visit (a co-host), else in the host's name.
    const me = ctx.principal.kind === 'user' ? ctx.principal.userId : null;
    const sender = people.find((p) => p.role === 'cohost' && me !== null && p.userId === me) ?? people.find((p) => p.role === 'host');
    if (!sender) throw new AppError('invalid_state', 'The visit has no host.');
    const [inserted] = await tx.insert(visitMessages).values({ orgId: ctx.orgId, visitId, participantId: sender.id, toParticipantId: to.id, body: text }).returning();
    await audit(tx, ctx, 'visit.note_sent', { type: 'visit', id: visitId }, { messageId: inserted!.id, participantId: to.id, chars: text.length });
    return { row: inserted!, host: sender };
  });
  const message = toDto(row, host);
  const payload: NotePayload = { type: 'note', visitId, message };
  await sendRoomData(deps.rooms, ctx, roomNameOf(visitId), JSON.stringify(payload), [participantId]);
  await deps.hub.publish(ctx.orgId, 'visit.message_sent', { visitId, messageId: row.id, participantId: host.id });
  return message;
}

/**
 * The transcript (oldest first), or what came after the message `after`. A participant sees what was said to
 * everyone and the notes to or from them; someone waiting only the host's notes to them; staff everything.
 */
export async function listMessages(deps: VisitDeps, ctx: Ctx, visitId: string, q: ListMessagesQuery): Promise<ChatMessage[]> {
  const visit = await visitRow(deps.db, ctx.orgId, visitId);
  const people = await participantRows(deps.db, ctx.orgId, visitId);
  const p = ctx.principal;
  if (p.kind === 'participant' && p.visitId === visitId) {
    const me = people.find((x) => x.id === p.participantId);
    if (me && me.role !== 'host' && me.admission === 'waiting') return transcript(deps.db, ctx.orgId, visitId, q.limit, q.after, { participantId: me.id, notesOnly: true });
  }
  const member = await memberOf(deps.db, ctx, visit, people);
  const viewer = p.kind === 'participant' && member && member.role !== 'host' ? { participantId: member.id } : undefined;
  const messages = await transcript(deps.db, ctx.orgId, visitId, q.limit, q.after, viewer);
  if (!viewer) return messages;
  // A client reads the others by the organisation's name policy, as the participant list shows them.
  const rules = nameRulesOf(visit, await groupSettings(deps.db, ctx.orgId));
  const numbers = clientNumbers(people);
  const byId = new Map(people.map((x) => [x.id, x]));
  return messages.map((m) => chatView({ kind: 'client', participantId: viewer.participantId }, m, byId.get(m.participantId), rules, numbers));
}

/** Whose view of the transcript: private notes only when to or from them (`notesOnly`: nothing else). Absent: all. */
export interface TranscriptViewer {
  participantId: string;
  notesOnly?: boolean;
}

function visibleTo(viewer: TranscriptViewer | undefined): SQL | undefined {
  if (!viewer) return undefined;
  if (viewer.notesOnly) return eq(visitMessages.toParticipantId, viewer.participantId);
  return or(isNull(visitMessages.toParticipantId), eq(visitMessages.toParticipantId, viewer.participantId), eq(visitMessages.participantId, viewer.participantId));
}

export async function transcript(db: Db, orgId: string, visitId: string, limit: number, after?: string, viewer?: TranscriptViewer): Promise<ChatMessage[]> {
  let cursor;
  if (after) {
    const id = after.toLowerCase();
    const [from] = await db
      .select({ id: visitMessages.id })
      .from(visitMessages)
      .where(and(eq(visitMessages.orgId, orgId), eq(visitMessages.visitId, visitId), eq(visitMessages.id, id), visibleTo(viewer)))
      .limit(1);
    if (!from) throw new AppError('validation_failed', undefined, [{ path: 'querystring/after', message: 'is not a message of this visit' }]);
    // Compared in the database: its timestamps have microseconds, a JavaScript Date only milliseconds.
    cursor = sql`(${visitMessages.createdAt}, ${visitMessages.id}) > (select m.created_at, m.id from ${visitMessages} m where m.id = ${id}::uuid)`;
  }
  const rows = await db
    .select({ message: visitMessages, role: visitParticipants.role, displayName: visitParticipants.displayName })
    .from(visitMessages)
    .innerJoin(visitParticipants, and(eq(visitParticipants.orgId, visitMessages.orgId), eq(visitParticipants.id, visitMessages.participantId)))
    .where(and(eq(visitMessages.orgId, orgId), eq(visitMessages.visitId, visitId), cursor, visibleTo(viewer)))
    .orderBy(asc(visitMessages.createdAt), asc(visitMessages.id))
    .limit(limit);
  return rows.map((r) => toDto(r.message, r));
}
