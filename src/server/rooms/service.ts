import { and, asc, desc, eq, inArray, isNotNull, isNull, notInArray, sql } from 'drizzle-orm';
import type { CreateRoomBody, ParticipantRouting, ParticipantRoutingBody, Recording, Room, TokenBody, TokenMedia } from '../../shared/api/rooms.js';
import { audit } from '../audit/service.js';
import type { Config } from '../config.js';
import { systemCtx, type Ctx } from '../context.js';
import { sqlState, type Db } from '../db/index.js';
import { roomParticipants, roomRecordings, roomRouting, rooms } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import type { OrgEvents } from '../realtime/events.js';
import type { ParticipantChannel } from './channel.js';
import type { DeadlineTimers } from './deadlines.js';
import {
  CAPABILITY_LABELS,
  DEFAULT_GRANTS,
  hasCapability,
  type MediaCapability,
  type MediaPolicy,
  MediaUnavailableError,
  ProviderLimitError,
  ProviderRoomEndedError,
  type MediaProvider,
  type ProviderRoomSpec,
  type ProviderWith,
  type RecordingMedia,
  type RoomEvent,
  type RoutingState,
  type RoutingUpdate,
} from './provider.js';

type RoomRow = typeof rooms.$inferSelect;

/**
 * What a room belongs to when a feature made it (`{ kind: 'visit', id }`; later group sessions, check-ins). The
 * rooms layer stores it and hands it back with the room's events and queries; it never interprets it.
 */
export interface RoomOwner {
  kind: string;
  id: string;
}

const ownerOf = (row: RoomRow): RoomOwner | null => (row.ownerKind !== null && row.ownerId !== null ? { kind: row.ownerKind, id: row.ownerId } : null);

export interface RoomDeps {
  db: Db;
  hub: OrgEvents;
  media: MediaProvider;
  /** The server's own line to the participants (notices, chat, the survey link), whatever the provider. */
  channel: ParticipantChannel;
  defaults: Config['rooms'];
  /** What a room with a media policy tells its clients to publish (the token answer's `media`): audio bitrate, camera. */
  groups: Pick<Config['groups'], 'audioBitrateBps' | 'video'>;
  /** This app's deadline timers (one per room with a deadline; setRoomDeadline arms them, a room's end clears them). */
  deadlines: DeadlineTimers;
  log: { warn(obj: object, msg: string): void };
}

/** The provider, when it offers `capability`; otherwise `capability_unavailable` naming both. */
export function requireCapability<C extends MediaCapability>(media: MediaProvider, capability: C): ProviderWith<C> {
  if (!hasCapability(media, capability)) {
    throw new AppError('capability_unavailable', `The media provider "${media.name}" does not offer ${CAPABILITY_LABELS[capability]}.`, { capability, provider: media.name });
  }
  return media;
}

/** A token outlives any connection it opens: it must cover the room's longest stay (twilio.md: no re-tokening). */
export const DEFAULT_TOKEN_TTL_S = 4 * 3600;

export function toRoomDto(row: RoomRow): Room {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    provider: row.provider,
    maxParticipants: row.maxParticipants,
    maxParticipantDurationSeconds: row.maxParticipantDurationS,
    emptyRoomTimeoutSeconds: row.emptyRoomTimeoutS,
    unusedRoomTimeoutSeconds: row.unusedRoomTimeoutS,
    createdAt: row.createdAt.toISOString(),
    endedAt: row.endedAt?.toISOString() ?? null,
    endReason: row.endReason,
  };
}

/** The in-progress room of that name, or else the most recent one. */
export async function findRoom(db: Db, orgId: string, name: string): Promise<RoomRow | undefined> {
  const [row] = await db
    .select()
    .from(rooms)
    .where(and(eq(rooms.orgId, orgId), eq(rooms.name, name)))
    .orderBy(sql`${rooms.status} = 'in-progress' desc`, desc(rooms.createdAt))
    .limit(1);
  return row;
}

async function getRoom(db: Db, orgId: string, name: string): Promise<RoomRow> {
  const row = await findRoom(db, orgId, name);
  if (!row) throw new AppError('not_found', `There is no room "${name}".`);
  return row;
}

/** What the provider is told of a room: its ids, name, limits and media policy. */
function specOf(row: RoomRow): ProviderRoomSpec {
  return {
    roomId: row.id,
    orgId: row.orgId,
    name: row.name,
    maxParticipants: row.maxParticipants,
    maxParticipantDurationS: row.maxParticipantDurationS,
    emptyTimeoutS: row.emptyRoomTimeoutS,
    unusedTimeoutS: row.unusedRoomTimeoutS,
    media: row.mediaPolicy ?? null,
  };
}

/** A stored policy as its own plain object (the jsonb row may carry keys a later version added). */
function policyOf(policy: MediaPolicy): MediaPolicy {
  return { simulcast: policy.simulcast, mode: policy.mode, spotlight: policy.spotlight, lastN: policy.lastN };
}

/** The token answer's `media` for a room with a policy: the policy plus what to publish (config.groups). */
function tokenMediaOf(deps: RoomDeps, policy: MediaPolicy): TokenMedia {
  const { width, height, frameRate } = deps.groups.video;
  return { ...policyOf(policy), audioBitrateBps: deps.groups.audioBitrateBps, video: { width, height, frameRate } };
}

export interface CreateRoomOptions {
  /** How the room shares media out (group visits); absent: the provider's defaults for a small room. */
  media?: MediaPolicy;
}

/**
 * A provider's failure as the API answers it: `media_unavailable` (503) when the provider could not be reached or
 * refused our credentials (retrying later, or fixing the settings, helps), `provider_error` (502) otherwise.
 */
export function providerFailure(err: unknown, doing: string): AppError {
  if (err instanceof AppError) return err;
  if (err instanceof ProviderRoomEndedError) return new AppError('invalid_state', `${err.message} Create a new room to meet again.`, { status: 'completed' });
  if (err instanceof ProviderLimitError) {
    return new AppError('capability_unavailable', `The media provider cannot ${doing} this way: ${err.message}`, { capability: err.capability, provider: err.provider });
  }
  if (err instanceof MediaUnavailableError) return new AppError('media_unavailable', `The media service is not available right now (${err.reason}); try again shortly.`, { reason: err.reason });
  return new AppError('provider_error', `The media provider could not ${doing}: ${(err as Error).message}`);
}

/** A provider call whose failure is answered as providerFailure says. */
async function viaProvider<T>(doing: string, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    throw providerFailure(err, doing);
  }
}

/**
 * Creates a room (the API's rooms have no owner; a feature passes itself as `owner` to find its rooms again), with
 * its media policy when a feature gives one (stored with the room, handed to the provider with the room's spec).
 */
export async function createRoom(deps: RoomDeps, ctx: Ctx, body: CreateRoomBody, owner?: RoomOwner, options: CreateRoomOptions = {}): Promise<Room> {
  let row: RoomRow;
  try {
    row = await deps.db.transaction(async (tx) => {
      const [inserted] = await tx
        .insert(rooms)
        .values({
          orgId: ctx.orgId,
          name: body.name,
          provider: deps.media.name,
          maxParticipants: body.maxParticipants ?? deps.defaults.maxParticipants,
          maxParticipantDurationS: body.maxParticipantDurationSeconds ?? deps.defaults.maxParticipantDurationS,
          emptyRoomTimeoutS: body.emptyRoomTimeoutSeconds ?? deps.defaults.emptyTimeoutS,
          unusedRoomTimeoutS: body.unusedRoomTimeoutSeconds ?? deps.defaults.unusedTimeoutS,
          ownerKind: owner?.kind ?? null,
          ownerId: owner?.id ?? null,
          mediaPolicy: options.media ? policyOf(options.media) : null,
        })
        .returning();
      await audit(tx, ctx, 'room.created', { type: 'room', id: inserted!.id }, { provider: deps.media.name });
      return inserted!;
    });
  } catch (err) {
    if (sqlState(err) === '23505') throw new AppError('already_exists', `A room named "${body.name}" is already in progress.`, [{ path: 'body/name', message: 'is in use by a room in progress' }]);
    throw err;
  }
  let provided: Awaited<ReturnType<MediaProvider['createRoom']>>;
  try {
    provided = await deps.media.createRoom(specOf(row));
  } catch (err) {
    // The row exists but the provider has no room: close it, so the name is free to try again.
    await finishRoom(deps, ctx, row, 'provider_error');
    throw providerFailure(err, 'create the room');
  }
  const [updated] = await deps.db
    .update(rooms)
    .set({ providerRoomId: provided.providerRoomId, providerData: provided.providerData ?? null })
    .where(eq(rooms.id, row.id))
    .returning();
  await deps.hub.publish(ctx.orgId, 'room.created', { roomId: row.id, name: row.name });
  return toRoomDto(updated!);
}

/**
 * Sets how the room shares media out (a group visit's mode, spotlight or last-N changed): stored with the room (a
 * restart gives it back to the provider), applied by a provider that selects media on the server
 * (`setMediaPolicy`), and sent to the room's clients on the channel (`media`; a client that connects later hears it
 * after `ready`, and tokens issued from now on carry it). Setting the policy the room already has changes nothing
 * and sends nothing. The feature that changes it audits why (a spotlight, a mode). 404 for a room of another
 * organisation, 409 invalid_state for one that has ended.
 */
export async function setRoomMediaPolicy(deps: RoomDeps, ctx: Ctx, roomId: string, policy: MediaPolicy): Promise<MediaPolicy> {
  const next = policyOf(policy);
  const [row] = await deps.db.select().from(rooms).where(and(eq(rooms.orgId, ctx.orgId), eq(rooms.id, roomId))).limit(1);
  if (!row) throw new AppError('not_found', 'There is no such room.');
  if (row.status !== 'in-progress' || !row.providerRoomId) throw new AppError('invalid_state', 'The room has ended.', { status: row.status });
  if (row.mediaPolicy && JSON.stringify(policyOf(row.mediaPolicy)) === JSON.stringify(next)) return next;
  // The provider first, as for routing: a failed call leaves the row saying what the provider still applies.
  if (deps.media.setMediaPolicy) await viaProvider('set the media policy', deps.media.setMediaPolicy(row.providerRoomId, next));
  const [updated] = await deps.db
    .update(rooms)
    .set({ mediaPolicy: next })
    .where(and(eq(rooms.orgId, ctx.orgId), eq(rooms.id, roomId), eq(rooms.status, 'in-progress')))
    .returning({ id: rooms.id });
  if (!updated) throw new AppError('invalid_state', 'The room has ended.', { status: 'completed' });
  await deps.channel.send(roomId, { type: 'media', policy: next });
  return next;
}

export async function getRoomByName(deps: RoomDeps, ctx: Ctx, name: string): Promise<Room> {
  return toRoomDto(await getRoom(deps.db, ctx.orgId, name));
}

/** Whole seconds from a participant row's join to `at`, for its duration column. */
function secondsSinceJoined(at: Date) {
  return sql<number>`greatest(0, floor(extract(epoch from (${at.toISOString()}::timestamptz - ${roomParticipants.joinedAt}))))::int`;
}

/** How a room ended, beyond its reason: `late` when a deadline fell due while no process of ours was running. */
type EndDetails = { late?: true };

/**
 * Marks the room completed at `now` and closes open participant rows; audited. Returns false if it was already
 * completed. Either way the room's deadline timer of this process is done.
 */
async function finishRoom(deps: RoomDeps, ctx: Ctx, row: RoomRow, reason: string, now = new Date(), details: EndDetails = {}): Promise<boolean> {
  const ended = await deps.db.transaction(async (tx) => {
    const [ended] = await tx
      .update(rooms)
      .set({ status: 'completed', endedAt: now, endReason: reason })
      .where(and(eq(rooms.id, row.id), eq(rooms.status, 'in-progress')))
      .returning({ id: rooms.id });
    if (!ended) return false;
    await tx
      .update(roomParticipants)
      .set({ status: 'disconnected', leftAt: now, leaveReason: 'room_ended', durationS: secondsSinceJoined(now) })
      .where(and(eq(roomParticipants.orgId, ctx.orgId), eq(roomParticipants.roomId, row.id), isNull(roomParticipants.leftAt)));
    await audit(tx, ctx, 'room.ended', { type: 'room', id: row.id }, { reason, ...details });
    return true;
  });
  deps.deadlines.clear(row.id);
  return ended;
}

async function endRow(deps: RoomDeps, ctx: Ctx, row: RoomRow, reason: string, details: EndDetails = {}): Promise<boolean> {
  if (row.status !== 'in-progress' || !(await finishRoom(deps, ctx, row, reason, new Date(), details))) return false;
  // The channel first: its sockets close after what was sent before (a survey link), as the media connections end.
  await deps.channel.endRoom(row.id);
  if (row.providerRoomId) await viaProvider('end the room', deps.media.endRoom(row.providerRoomId, reason));
  await deps.hub.publish(ctx.orgId, 'room.ended', { roomId: row.id, name: row.name, reason, ...details });
  return true;
}

/** Ends the room for everyone. Ending a completed room answers it as it is. */
export async function endRoom(deps: RoomDeps, ctx: Ctx, name: string, reason = 'ended_by_api'): Promise<Room> {
  await endRow(deps, ctx, await getRoom(deps.db, ctx.orgId, name), reason);
  return toRoomDto(await getRoom(deps.db, ctx.orgId, name));
}

/** Resolves on the event loop's next turn (after due timers and I/O), not as a microtask. */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Ends a room by id (timers, other features); false when it had ended already. */
export async function endRoomById(deps: RoomDeps, ctx: Ctx, roomId: string, reason: string): Promise<boolean> {
  const [row] = await deps.db.select().from(rooms).where(and(eq(rooms.orgId, ctx.orgId), eq(rooms.id, roomId))).limit(1);
  return row ? endRow(deps, ctx, row, reason) : false;
}

// ---- deadlines -------------------------------------------------------------------------------------------------

/**
 * Sets the room's deadline (`endsAt`), or clears it (null): the rooms layer ends the room then, for `reason` (a
 * check-in call's limit: `time_limit`). Stored with the room (rooms.ends_at, deadline_reason), so another process's
 * sweep and a restart still end it; this process arms a timer for the precise moment. Audited `room.deadline_set`
 * when it changes; the room's participants are told on the channel (`deadline`), and each one whose channel becomes
 * ready later is told then. A deadline already past ends the room at once. 404 for a room of another organisation,
 * 409 invalid_state for one that has ended.
 */
export async function setRoomDeadline(deps: RoomDeps, ctx: Ctx, roomId: string, endsAt: Date | null, reason: string): Promise<void> {
  const storedReason = endsAt ? reason : null;
  const changed = await deps.db.transaction(async (tx) => {
    const [row] = await tx
      .select({ status: rooms.status, endsAt: rooms.endsAt, deadlineReason: rooms.deadlineReason })
      .from(rooms)
      .where(and(eq(rooms.orgId, ctx.orgId), eq(rooms.id, roomId)))
      .limit(1);
    if (!row) throw new AppError('not_found', 'There is no such room.');
    if (row.status !== 'in-progress') throw new AppError('invalid_state', 'The room has ended.', { status: row.status });
    if ((row.endsAt?.getTime() ?? null) === (endsAt?.getTime() ?? null) && row.deadlineReason === storedReason) return false;
    const [updated] = await tx
      .update(rooms)
      .set({ endsAt, deadlineReason: storedReason })
      .where(and(eq(rooms.orgId, ctx.orgId), eq(rooms.id, roomId), eq(rooms.status, 'in-progress')))
      .returning({ id: rooms.id });
    if (!updated) throw new AppError('invalid_state', 'The room has ended.', { status: 'completed' });
    await audit(tx, ctx, 'room.deadline_set', { type: 'room', id: roomId }, { endsAt: endsAt?.toISOString() ?? null, reason });
    return true;
  });
  armDeadline(deps, roomId, endsAt);
  if (changed) await deps.channel.send(roomId, { type: 'deadline', endsAt: endsAt?.toISOString() ?? null, reason: storedReason });
}

/** This process's timer for the room's deadline (none when it is cleared). */
function armDeadline(deps: RoomDeps, roomId: string, endsAt: Date | null): void {
  if (endsAt) deps.deadlines.arm(roomId, endsAt);
  else deps.deadlines.clear(roomId);
}

/**
 * Ends the rooms among `roomIds` whose deadline (as stored: another process may have moved it) has come by `now`,
 * each for its deadline's reason; a deadline moved later is armed again. One read for them all (the timers hand over
 * rooms due together in one batch), then the media of every room due, then their records (see endAtDeadline). Returns the rooms ended here.
 * A room the provider could not end stays in progress (logged): the sweep tries again within a second.
 */
export async function endRoomsAtDeadline(deps: RoomDeps, roomIds: readonly string[], now = new Date()): Promise<string[]> {
  if (roomIds.length === 0) return [];
  // The ids come from this layer's own timers and sweep (rooms of every organisation, as the sweep reads them).
  const rows = await deps.db
    .select()
    .from(rooms)
    .where(and(inArray(rooms.id, [...roomIds]), eq(rooms.status, 'in-progress'), isNotNull(rooms.endsAt)))
    .limit(roomIds.length);
  const due: RoomRow[] = [];
  for (const row of rows) {
    if (row.endsAt!.getTime() > now.getTime()) armDeadline(deps, row.id, row.endsAt);
    else due.push(row);
  }
  // Every room's media first, all at once; then their records, one room per turn of the event loop, so that the
  // database work (PGlite runs in this thread) does not hold off the next deadlines' timers.
  const cut = await Promise.all(
    due.map((row) =>
      cutAtDeadline(deps, row).catch((err: unknown) => {
        deps.log.warn({ err, roomId: row.id }, 'room deadline: the room was not ended (the sweep tries again)');
        return null;
      }),
    ),
  );
  const ended: string[] = [];
  for (const [i, row] of due.entries()) {
    const at = cut[i];
    if (!at) continue;
    await nextTurn();
    try {
      if (await recordDeadlineEnd(deps, row, at)) ended.push(row.id);
    } catch (err) {
      deps.log.warn({ err, roomId: row.id }, 'room deadline: the end was not recorded (the sweep tries again)');
    }
  }
  return ended;
}

/**
 * A room whose deadline came is ended in the order that makes the end fast: the provider first (the media stops:
 * the moment the room ended, stored as ended_at: the provider's when it says, else when it returned), then the
 * channel (after the media: a failed provider call leaves everything as it was, for the next try), then the database
 * (the guarded update: each room ends once, whoever else ends it at the same time) and the hub. Many rooms due at
 * once wait for each other only in the database, after their media has ended. `late`: the deadline fell due while
 * no process of ours ran (restoreRooms).
 */
async function endAtDeadline(deps: RoomDeps, row: RoomRow, details: EndDetails = {}): Promise<boolean> {
  return recordDeadlineEnd(deps, row, await cutAtDeadline(deps, row), details);
}

/** The media and the channel of a room at its deadline; resolves with the moment the media ended. */
async function cutAtDeadline(deps: RoomDeps, row: RoomRow): Promise<Date> {
  const reason = row.deadlineReason ?? 'deadline';
  const cut = row.providerRoomId ? await viaProvider('end the room', deps.media.endRoom(row.providerRoomId, reason)) : undefined;
  await deps.channel.endRoom(row.id);
  return cut instanceof Date ? cut : new Date();
}

/** The room's end at its deadline, in the database (guarded: false when it had ended already) and on the hub. */
async function recordDeadlineEnd(deps: RoomDeps, row: RoomRow, at: Date, details: EndDetails = {}): Promise<boolean> {
  const reason = row.deadlineReason ?? 'deadline';
  if (!(await finishRoom(deps, systemCtx(row.orgId), row, reason, at, details))) return false;
  await deps.hub.publish(row.orgId, 'room.ended', { roomId: row.id, name: row.name, reason, ...details });
  return true;
}

export async function listRoomParticipants(deps: RoomDeps, ctx: Ctx, name: string) {
  const row = await getRoom(deps.db, ctx.orgId, name);
  const rows = await deps.db
    .select()
    .from(roomParticipants)
    .where(and(eq(roomParticipants.orgId, ctx.orgId), eq(roomParticipants.roomId, row.id)))
    .orderBy(asc(roomParticipants.joinedAt), asc(roomParticipants.id))
    .limit(1000);
  return rows.map((p) => ({
    identity: p.identity,
    status: p.status,
    joinedAt: p.joinedAt.toISOString(),
    leftAt: p.leftAt?.toISOString() ?? null,
    durationSeconds: p.durationS,
  }));
}

export async function removeRoomParticipant(deps: RoomDeps, ctx: Ctx, name: string, identity: string): Promise<void> {
  const row = await getRoom(deps.db, ctx.orgId, name);
  if (row.status !== 'in-progress' || !row.providerRoomId) throw new AppError('invalid_state', `The room "${name}" has ended.`);
  // Whether or not their media is connected, nothing more reaches them over the channel.
  await deps.channel.remove(row.id, identity);
  const removed = await viaProvider('remove the participant', deps.media.removeParticipant(row.providerRoomId, identity, 'removed_by_api'));
  if (!removed) throw new AppError('not_found', `"${identity}" is not connected to the room "${name}".`);
  await audit(deps.db, ctx, 'room.participant_removed', { type: 'room', id: row.id }, { identity });
}

type StoredRouting = Pick<typeof roomRouting.$inferInsert, 'group' | 'audioMuted' | 'videoMuted' | 'recorded' | 'tokensRevokedBefore'>;

/**
 * Stores what was set for an identity (only the fields given: the row is the sum of every update, as the provider
 * received them). A revocation only ever moves later.
 */
async function storeRouting(db: Db, row: RoomRow, identity: string, set: StoredRouting): Promise<void> {
  const { tokensRevokedBefore, ...routing } = set;
  await db
    .insert(roomRouting)
    .values({ orgId: row.orgId, roomId: row.id, identity, ...set })
    .onConflictDoUpdate({
      target: [roomRouting.roomId, roomRouting.identity],
      set: {
        ...routing,
        ...(tokensRevokedBefore ? { tokensRevokedBefore: sql`greatest(${roomRouting.tokensRevokedBefore}, excluded.tokens_revoked_before)` } : {}),
        updatedAt: new Date(),
      },
    });
}

/** The stored fields as a provider update (what was never set is left out: the provider's default applies). */
function routingUpdateOf(stored: typeof roomRouting.$inferSelect): RoutingUpdate {
  return {
    ...(stored.group !== null ? { group: stored.group } : {}),
    ...(stored.audioMuted !== null ? { audioMuted: stored.audioMuted } : {}),
    ...(stored.videoMuted !== null ? { videoMuted: stored.videoMuted } : {}),
    ...(stored.recorded !== null ? { recorded: stored.recorded } : {}),
  };
}

/**
 * Sets where a participant's media goes (group, host mutes, recorded). Works before the participant joins, so a
 * feature can place someone (a waiting room, a breakout) before handing out their token. Stored with the room, so a
 * restart applies it again (restoreRooms). Audited when it changes something (placing someone where they already
 * are is not an event).
 */
export async function routeParticipant(deps: RoomDeps, ctx: Ctx, name: string, identity: string, update: ParticipantRoutingBody): Promise<ParticipantRouting> {
  const row = await getRoom(deps.db, ctx.orgId, name);
  const media = requireCapability(deps.media, 'routing');
  if (row.status !== 'in-progress' || !row.providerRoomId) throw new AppError('invalid_state', `The room "${name}" has ended.`, { status: row.status });
  const result = await viaProvider('route the participant', media.setRouting(row.providerRoomId, identity, update));
  if (!result) throw new AppError('provider_error', 'The media provider does not have this room live.');
  // Stored even when nothing changed: the row must say what the provider holds, whoever set it first.
  const stored: StoredRouting = {
    ...(update.group !== undefined ? { group: update.group } : {}),
    ...(update.audioMuted !== undefined ? { audioMuted: update.audioMuted } : {}),
    ...(update.videoMuted !== undefined ? { videoMuted: update.videoMuted } : {}),
    ...(update.recorded !== undefined ? { recorded: update.recorded } : {}),
  };
  await deps.db.transaction(async (tx) => {
    await storeRouting(tx, row, identity, stored);
    if (!result.changed) return;
    await audit(tx, ctx, 'room.participant_routed', { type: 'room', id: row.id }, {
      identity,
      group: update.group ?? null,
      audioMuted: update.audioMuted ?? null,
      videoMuted: update.videoMuted ?? null,
      recorded: update.recorded ?? null,
    });
  });
  return { identity, ...result.state };
}

/**
 * `routeParticipant` for several identities of one room at once (a host muting a whole group): applied together by a
 * provider that can (setRoutingMany: Twilio rewrites everyone's rules once, not once per identity), else one by one;
 * stored and audited as routeParticipant does, in one transaction.
 */
export async function routeParticipants(deps: RoomDeps, ctx: Ctx, name: string, updates: readonly { identity: string; update: ParticipantRoutingBody }[]): Promise<ParticipantRouting[]> {
  if (updates.length === 0) return [];
  const row = await getRoom(deps.db, ctx.orgId, name);
  const media = requireCapability(deps.media, 'routing');
  if (row.status !== 'in-progress' || !row.providerRoomId) throw new AppError('invalid_state', `The room "${name}" has ended.`, { status: row.status });
  const providerRoomId = row.providerRoomId;
  let results: ({ state: RoutingState; changed: boolean } | null)[];
  if (media.setRoutingMany) {
    const many = await viaProvider('route the participants', media.setRoutingMany(providerRoomId, updates));
    results = many ?? updates.map(() => null);
  } else {
    results = [];
    for (const { identity, update } of updates) results.push(await viaProvider('route the participant', media.setRouting(providerRoomId, identity, update)));
  }
  if (results.some((r) => r === null)) throw new AppError('provider_error', 'The media provider does not have this room live.');
  await deps.db.transaction(async (tx) => {
    for (const [i, { identity, update }] of updates.entries()) {
      await storeRouting(tx, row, identity, {
        ...(update.group !== undefined ? { group: update.group } : {}),
        ...(update.audioMuted !== undefined ? { audioMuted: update.audioMuted } : {}),
        ...(update.videoMuted !== undefined ? { videoMuted: update.videoMuted } : {}),
        ...(update.recorded !== undefined ? { recorded: update.recorded } : {}),
      });
      if (!results[i]!.changed) continue;
      await audit(tx, ctx, 'room.participant_routed', { type: 'room', id: row.id }, {
        identity,
        group: update.group ?? null,
        audioMuted: update.audioMuted ?? null,
        videoMuted: update.videoMuted ?? null,
        recorded: update.recorded ?? null,
      });
    }
  });
  return updates.map(({ identity }, i) => ({ identity, ...results[i]!.state }));
}

/**
 * Tokens of `identity` issued until `issuedBefore` no longer join the room (the provider refuses them) nor open its
 * channel (whose sockets of theirs are closed now). Stored with the room's routing, so a restart does not let an old
 * token back in. Audited.
 */
export async function revokeParticipantTokens(deps: RoomDeps, ctx: Ctx, name: string, identity: string, issuedBefore = new Date()): Promise<boolean> {
  const row = await findRoom(deps.db, ctx.orgId, name);
  if (!row || row.status !== 'in-progress' || !row.providerRoomId) return false;
  // The rooms layer's own part holds on any provider: the revocation is stored (the channel refuses the old tokens,
  // also after a restart) and the identity's channel sockets close. The provider refuses the old media tokens only
  // where it declares tokenRevocation; a denial or removal must not fail halfway on one that does not.
  await deps.channel.revoke(row.id, identity, issuedBefore);
  const byProvider = hasCapability(deps.media, 'tokenRevocation') ? await deps.media.revokeTokens(row.providerRoomId, identity, issuedBefore) : false;
  await deps.db.transaction(async (tx) => {
    await storeRouting(tx, row, identity, { tokensRevokedBefore: issuedBefore });
    await audit(tx, ctx, 'room.tokens_revoked', { type: 'room', id: row.id }, { identity, provider: byProvider });
  });
  return true;
}

/** The live room's id, or null when the room is not live (messages to it go nowhere). */
async function liveRoomId(deps: RoomDeps, orgId: string, name: string): Promise<string | null> {
  const row = await findRoom(deps.db, orgId, name);
  return row && row.status === 'in-progress' ? row.id : null;
}

/**
 * A data message from the server (`from: null`) to the room's participants connected to its channel (all when `to`
 * is absent), on whichever server they are; the same on every media provider.
 */
export async function sendRoomData(deps: RoomDeps, ctx: Ctx, name: string, payload: string, to?: readonly string[]): Promise<void> {
  const roomId = await liveRoomId(deps, ctx.orgId, name);
  if (roomId) await deps.channel.send(roomId, { type: 'data', payload }, to);
}

/** A notice shown to the room's participants (all when `to` is absent), over the channel like `sendRoomData`. */
export async function notifyRoom(deps: RoomDeps, ctx: Ctx, name: string, notice: { code: string; message: string }, to?: readonly string[]): Promise<void> {
  const roomId = await liveRoomId(deps, ctx.orgId, name);
  if (roomId) await deps.channel.send(roomId, { type: 'notice', code: notice.code, message: notice.message }, to);
}

/** Starts recording the room (everyone in it and whoever joins) until stopped or the room ends. Audited. */
export async function setRoomRecording(deps: RoomDeps, ctx: Ctx, name: string, on: boolean): Promise<{ room: string; recording: boolean }> {
  const media = requireCapability(deps.media, 'recording');
  const row = await getRoom(deps.db, ctx.orgId, name);
  if (row.status !== 'in-progress' || !row.providerRoomId) throw new AppError('invalid_state', `The room "${name}" has ended.`, { status: row.status });
  const done = await viaProvider(on ? 'start recording' : 'stop recording', on ? media.startRecording(row.providerRoomId) : media.stopRecording(row.providerRoomId));
  if (!done) throw new AppError('provider_error', 'The media provider does not have this room live.');
  await deps.db.transaction(async (tx) => {
    // Kept with the room so that a restart records it again (restoreRooms); an earlier start keeps its time.
    await tx
      .update(rooms)
      .set({ recordingSince: on ? sql`coalesce(${rooms.recordingSince}, now())` : null })
      .where(and(eq(rooms.orgId, ctx.orgId), eq(rooms.id, row.id)));
    await audit(tx, ctx, on ? 'room.recording_started' : 'room.recording_stopped', { type: 'room', id: row.id });
  });
  return { room: row.name, recording: on };
}

type RecordingRow = typeof roomRecordings.$inferSelect;

function toRecordingDto(row: RecordingRow): Recording {
  return {
    id: row.id,
    identity: row.identity,
    content: row.content,
    status: row.status,
    startedAt: row.startedAt.toISOString(),
    endedAt: row.endedAt?.toISOString() ?? null,
    durationSeconds: row.endedAt ? Math.round((row.endedAt.getTime() - row.startedAt.getTime()) / 100) / 10 : null,
    bytes: row.bytes,
    mediaType: row.mediaType,
    error: row.error,
    deletedAt: row.deletedAt?.toISOString() ?? null,
  };
}

export async function listRoomRecordings(deps: RoomDeps, ctx: Ctx, name: string): Promise<Recording[]> {
  const row = await getRoom(deps.db, ctx.orgId, name);
  const rows = await deps.db
    .select()
    .from(roomRecordings)
    .where(and(eq(roomRecordings.orgId, ctx.orgId), eq(roomRecordings.roomId, row.id)))
    .orderBy(asc(roomRecordings.startedAt), asc(roomRecordings.id))
    .limit(1000);
  return rows.map(toRecordingDto);
}

/** The recordings of several rooms (a feature's rooms over time), oldest first. */
export async function listRecordingsOfRooms(deps: RoomDeps, ctx: Ctx, roomIds: readonly string[]): Promise<Recording[]> {
  if (roomIds.length === 0) return [];
  const rows = await deps.db
    .select()
    .from(roomRecordings)
    .where(and(eq(roomRecordings.orgId, ctx.orgId), inArray(roomRecordings.roomId, [...roomIds])))
    .orderBy(asc(roomRecordings.startedAt), asc(roomRecordings.id))
    .limit(1000);
  return rows.map(toRecordingDto);
}

/** File name extensions for the media types providers record in; anything else downloads as .bin. */
const EXTENSIONS: Readonly<Record<string, string>> = {
  'video/webm': 'webm',
  'audio/webm': 'webm',
  'video/mp4': 'mp4',
  'audio/mp4': 'm4a',
  'video/x-matroska': 'mkv',
  'audio/x-matroska': 'mka',
};

/** A recording open for download: its media (stream, size, content type) and the name to save it under. */
export interface OpenedRecording extends RecordingMedia {
  recording: Recording;
  /** The file name extension that goes with the content type, without the dot (webm, mp4, mka…). */
  extension: string;
}

/**
 * A completed recording's media, from the provider's recording store, for download; audited. The caller sends
 * the stream (or destroys it).
 */
export async function openRecording(deps: RoomDeps, ctx: Ctx, id: string): Promise<OpenedRecording> {
  const [found] = await deps.db
    .select({ recording: roomRecordings, provider: rooms.provider })
    .from(roomRecordings)
    .innerJoin(rooms, and(eq(rooms.orgId, roomRecordings.orgId), eq(rooms.id, roomRecordings.roomId)))
    .where(and(eq(roomRecordings.orgId, ctx.orgId), eq(roomRecordings.id, id)))
    .limit(1);
  if (!found) throw new AppError('not_found', 'There is no such recording.');
  const row = found.recording;
  if (row.deletedAt) throw new AppError('not_found', `The recording file was deleted on ${row.deletedAt.toISOString()} (retention period).`);
  if (row.status === 'recording') throw new AppError('invalid_state', 'The recording is not finished yet.', { status: row.status });
  // Only the provider that recorded it knows where it is (after a switch of MEDIA_PROVIDER, older rooms' files stay with the old one).
  if (found.provider !== deps.media.name) {
    throw new AppError('capability_unavailable', `The recording was made by the media provider "${found.provider}"; this server runs "${deps.media.name}".`, {
      capability: 'recording',
      provider: deps.media.name,
      recordedBy: found.provider,
    });
  }
  const media = await requireCapability(deps.media, 'recording').recordings.open({ ref: row.providerRef, file: row.file });
  if (!media) throw new AppError('not_found', 'The recording file is no longer there.');
  try {
    await audit(deps.db, ctx, 'room.recording_downloaded', { type: 'room', id: row.roomId }, { recordingId: row.id });
  } catch (err) {
    media.stream.destroy();
    throw err;
  }
  return { ...media, recording: toRecordingDto(row), extension: EXTENSIONS[media.contentType] ?? 'bin' };
}

export interface IssuedToken {
  /** The media token; '' when `held` (there is none yet). */
  token: string;
  room: string;
  identity: string;
  expiresIn: number;
  provider: string;
  /** Where the client connects; '' when `held`. */
  url: string;
  /**
   * No media connection yet: the identity is to be kept apart from everyone (a waiting room) on a provider that
   * cannot route a participant before it connects (`routingAtConnect` false). It holds only the channel, and is told
   * on it (`join`) when to ask again (releaseHeld).
   */
  held: boolean;
  /** The participant channel (server notices and messages), the same whatever the provider. */
  channel: { url: string; token: string };
  /** The room's media policy and what to publish, when the room has one (group visits). */
  media?: TokenMedia;
}

export interface IssueOptions {
  /**
   * The identity is to be kept apart from everyone for now (placed alone in its own group before this call). On a
   * provider that routes from the first moment the token is minted as usual (the routing isolates it); on one that
   * does not, no media token is minted and the answer is `held`.
   */
  isolated?: boolean;
}

/** Mints a media token for one identity in one in-progress room; audited (never the token itself). */
export async function issueToken(deps: RoomDeps, ctx: Ctx, body: TokenBody, options: IssueOptions = {}): Promise<IssuedToken> {
  const row = await getRoom(deps.db, ctx.orgId, body.room);
  if (row.status !== 'in-progress' || !row.providerRoomId) {
    throw new AppError('invalid_state', `The room "${body.room}" has ended; create a new room to meet again.`, { status: row.status });
  }
  const ttlSeconds = body.ttlSeconds ?? DEFAULT_TOKEN_TTL_S;
  const grants = { ...DEFAULT_GRANTS, ...body.grants };
  const held = options.isolated === true && !deps.media.routingAtConnect;
  const minted = held
    ? { token: '', url: '' }
    : await deps.media
        .mintToken({ roomId: row.id, roomName: row.name, providerRoomId: row.providerRoomId, orgId: ctx.orgId, identity: body.identity, grants, ttlSeconds })
        .catch((err: unknown) => {
          throw providerFailure(err, 'issue a media token');
        });
  const channel = await deps.channel.issue({ orgId: ctx.orgId, roomId: row.id, roomName: row.name, identity: body.identity, ttlSeconds });
  await audit(deps.db, ctx, 'room.token_issued', { type: 'room', id: row.id }, {
    identity: body.identity,
    ttlSeconds,
    publish: grants.publish,
    subscribe: grants.subscribe,
    data: grants.data,
    admin: grants.admin,
    ...(held ? { held: true } : {}),
  });
  return {
    token: minted.token,
    room: row.name,
    identity: body.identity,
    expiresIn: ttlSeconds,
    provider: deps.media.name,
    url: minted.url,
    held,
    channel,
    ...(row.mediaPolicy ? { media: tokenMediaOf(deps, row.mediaPolicy) } : {}),
  };
}

/**
 * Tells `identity` (if connected to the room's channel) to ask for a token again: it is no longer kept apart (a
 * waiting participant admitted). A held participant then gets a media token; any other ignores it.
 */
export async function releaseHeld(deps: RoomDeps, ctx: Ctx, name: string, identity: string): Promise<void> {
  const roomId = await liveRoomId(deps, ctx.orgId, name);
  if (roomId) await deps.channel.send(roomId, { type: 'join' }, [identity]);
}

async function roomByProviderId(db: Db, providerRoomId: string): Promise<RoomRow | undefined> {
  const [row] = await db.select().from(rooms).where(eq(rooms.providerRoomId, providerRoomId)).orderBy(desc(rooms.createdAt)).limit(1);
  return row;
}

/**
 * Persists the provider's normalised events: participant rows with join/leave times and durations, the
 * audit trail, and realtime events. A room's events are applied one at a time, in order; different rooms' events
 * are recorded side by side (a burst in one room, or many rooms starting together, does not hold the others back).
 */
/** Told of each provider event once it is recorded (features built on rooms: visits). Per room in order, one at a time. */
export type RoomEventListener = (room: { id: string; orgId: string; name: string; owner: RoomOwner | null }, event: RoomEvent) => Promise<void>;

export function recordRoomEvents(
  deps: RoomDeps,
  log: { warn(obj: object, msg: string): void },
  listeners: readonly RoomEventListener[] = [],
): { stop(): void; idle(): Promise<void> } {
  /** Per provider room: the events still being recorded, in order. A room's entry goes once it is idle. */
  const chains = new Map<string, Promise<void>>();
  const record = async (event: RoomEvent) => {
    await apply(event);
    if (listeners.length === 0 || event.type === 'room.started') return;
    const row = await roomByProviderId(deps.db, event.roomId);
    if (!row) return;
    for (const listener of listeners) {
      await listener({ id: row.id, orgId: row.orgId, name: row.name, owner: ownerOf(row) }, event).catch((err: unknown) => log.warn({ err, eventType: event.type }, 'room event listener failed'));
    }
  };
  const apply = async (event: RoomEvent) => {
    if (event.type === 'room.started' || event.type === 'track.published' || event.type === 'track.unpublished') return;
    const row = await roomByProviderId(deps.db, event.roomId);
    if (!row) return;
    const ctx = systemCtx(row.orgId);
    if (event.type === 'recording.started' || event.type === 'recording.completed') {
      const r = event.recording;
      const done = event.type === 'recording.completed' ? event.recording : null;
      const values = {
        orgId: row.orgId,
        roomId: row.id,
        identity: event.identity,
        content: r.content,
        providerRef: r.ref,
        file: r.file,
        mediaType: r.mediaType,
        startedAt: r.startedAt,
        status: done ? (done.error ? ('failed' as const) : ('completed' as const)) : ('recording' as const),
        endedAt: done?.endedAt ?? null,
        bytes: done?.bytes ?? null,
        error: done?.error ?? null,
      };
      // A late `started` never moves a completed file backwards. The completion's span is the file's (a composition
      // starts when it is queued but covers the room's media: RecordingFile.content), so it replaces the start.
      await deps.db
        .insert(roomRecordings)
        .values(values)
        .onConflictDoUpdate({
          target: roomRecordings.providerRef,
          set: done ? { status: values.status, startedAt: values.startedAt, endedAt: values.endedAt, bytes: values.bytes, error: values.error } : { providerRef: r.ref },
        });
      await deps.hub.publish(row.orgId, done ? 'room.recording_completed' : 'room.recording_started', { roomId: row.id, name: row.name, identity: event.identity });
      return;
    }
    if (event.type === 'room.ended') {
      // Ended when the provider says (a room ended at its deadline may be recorded here first: the same moment).
      if (row.status === 'in-progress' && (await finishRoom(deps, ctx, row, event.reason, event.at))) {
        await deps.channel.endRoom(row.id);
        await deps.hub.publish(row.orgId, 'room.ended', { roomId: row.id, name: row.name, reason: event.reason });
      }
      return;
    }
    if (event.type === 'participant.joined') {
      await deps.db.transaction(async (tx) => {
        await tx.insert(roomParticipants).values({ orgId: row.orgId, roomId: row.id, identity: event.identity, status: 'connected', joinedAt: event.at });
        await audit(tx, ctx, 'room.participant_joined', { type: 'room', id: row.id }, { identity: event.identity });
      });
      await deps.hub.publish(row.orgId, 'room.participant_joined', { roomId: row.id, name: row.name, identity: event.identity });
      return;
    }
    const closed = await deps.db.transaction(async (tx) => {
      const updated = await tx
        .update(roomParticipants)
        .set({
          status: 'disconnected',
          leftAt: event.at,
          leaveReason: event.reason,
          durationS: secondsSinceJoined(event.at),
          qualityAvg: event.quality?.average ?? null,
          qualityMin: event.quality?.min ?? null,
          mediaStartedAt: event.media?.startedAt ?? null,
          mediaS: event.media?.seconds ?? null,
        })
        .where(and(eq(roomParticipants.orgId, row.orgId), eq(roomParticipants.roomId, row.id), eq(roomParticipants.identity, event.identity), isNull(roomParticipants.leftAt)))
        .returning({ id: roomParticipants.id });
      if (updated.length > 0) await audit(tx, ctx, 'room.participant_left', { type: 'room', id: row.id }, { identity: event.identity, reason: event.reason });
      else if (event.quality || event.media) {
        // The stay was closed already (the room ended first): its quality and media time still belong on it.
        await tx
          .update(roomParticipants)
          .set({ qualityAvg: event.quality?.average ?? null, qualityMin: event.quality?.min ?? null, mediaStartedAt: event.media?.startedAt ?? null, mediaS: event.media?.seconds ?? null })
          .where(
            sql`${roomParticipants.id} = (select id from ${roomParticipants} where ${roomParticipants.orgId} = ${row.orgId} and ${roomParticipants.roomId} = ${row.id}
                 and ${roomParticipants.identity} = ${event.identity} and ${roomParticipants.qualityAvg} is null and ${roomParticipants.mediaS} is null
                 order by ${roomParticipants.joinedAt} desc limit 1)`,
          );
      }
      return updated.length > 0;
    });
    if (closed) await deps.hub.publish(row.orgId, 'room.participant_left', { roomId: row.id, name: row.name, identity: event.identity, reason: event.reason });
  };
  const unsubscribe = deps.media.onEvent((event) => {
    // One event per turn of the event loop: on PGlite (in this thread, promise-chained) a burst of events recorded
    // back to back would otherwise hold off timers (a room's deadline) and sockets until all were written.
    const key = event.roomId;
    const next = (chains.get(key) ?? Promise.resolve())
      .then(nextTurn)
      .then(() => record(event))
      .catch((err: unknown) => log.warn({ err, eventType: event.type }, 'room event not recorded'));
    chains.set(key, next);
    void next.then(() => {
      if (chains.get(key) === next) chains.delete(key);
    });
  });
  return {
    stop: unsubscribe,
    // Every event so far recorded (events that arrive meanwhile are waited for too, until all rooms are idle).
    async idle() {
      while (chains.size > 0) await Promise.all([...chains.values()]);
    },
  };
}

/**
 * After a restart, before anyone reconnects: the room's stored routing (groups, host mutes, recorded, revoked tokens)
 * goes back to the provider, so a reconnecting participant lands where they were (a waiting patient still sees
 * nobody, a removed one's old token still fails); then a room that was being recorded is recorded again (routing
 * first: nobody kept out of the recording is captured even briefly). The files the restart cut stay, marked failed.
 */
async function reapplyRouting(deps: RoomDeps, row: RoomRow, providerRoomId: string): Promise<void> {
  const stored = await deps.db
    .select()
    .from(roomRouting)
    .where(and(eq(roomRouting.orgId, row.orgId), eq(roomRouting.roomId, row.id)))
    .limit(100_000);
  for (const r of stored) {
    const update = routingUpdateOf(r);
    if (Object.keys(update).length > 0) await requireCapability(deps.media, 'routing').setRouting(providerRoomId, r.identity, update);
    if (r.tokensRevokedBefore) await requireCapability(deps.media, 'tokenRevocation').revokeTokens(providerRoomId, r.identity, r.tokensRevokedBefore);
  }
  if (row.recordingSince && (await requireCapability(deps.media, 'recording').startRecording(providerRoomId))) {
    await audit(deps.db, systemCtx(row.orgId), 'room.recording_started', { type: 'room', id: row.id }, { reason: 'server_restart' });
  }
}

/**
 * At start-up: rooms still in progress on this provider are taken up again (the builtin provider re-opens them,
 * empty, and clients rejoin), with their stored routing and recording, and participation rows the provider no
 * longer knows of are closed (reason `server_restart`, audited). A room the provider cannot restore is ended (`provider_lost`). The builtin media
 * plane lives in one process: run one OpenVisit process per media plane. A room's deadline is armed again; one that
 * fell due while no process ran ends the room first, at once (its reason, audited and announced with `late: true`).
 */
export async function restoreRooms(deps: RoomDeps, log: { warn(obj: object, msg: string): void }): Promise<{ restored: number; ended: number }> {
  const live = await deps.db
    .select()
    .from(rooms)
    .where(and(eq(rooms.status, 'in-progress'), eq(rooms.provider, deps.media.name)))
    .limit(10_000);
  let restored = 0;
  let ended = 0;
  const now = new Date();
  for (const row of live) {
    const ctx = systemCtx(row.orgId);
    // A deadline that fell due while no process ran ends the room now (said `late`); a later one is armed again.
    if (row.endsAt && row.endsAt.getTime() <= now.getTime()) {
      const done = await endAtDeadline(deps, row, { late: true }).catch((err: unknown) => (log.warn({ err, roomId: row.id }, 'room deadline: the room was not ended'), false));
      if (done) ended++;
      continue;
    }
    armDeadline(deps, row.id, row.endsAt);
    const providerRoomId = row.providerRoomId;
    const ok =
      providerRoomId !== null &&
      (await deps.media
        .restoreRoom({ ...specOf(row), providerRoomId })
        .catch((err: unknown) => (log.warn({ err, roomId: row.id }, 'room not restored'), false)));
    if (!ok || providerRoomId === null) {
      if (await endRow(deps, ctx, row, 'provider_lost')) ended++;
      continue;
    }
    restored++;
    const connected = (await deps.media.listParticipants(providerRoomId)).map((p) => p.identity);
    const at = new Date();
    await deps.db.transaction(async (tx) => {
      const closed = await tx
        .update(roomParticipants)
        .set({ status: 'disconnected', leftAt: at, leaveReason: 'server_restart', durationS: secondsSinceJoined(at) })
        .where(
          and(
            eq(roomParticipants.orgId, row.orgId),
            eq(roomParticipants.roomId, row.id),
            isNull(roomParticipants.leftAt),
            connected.length > 0 ? notInArray(roomParticipants.identity, connected) : undefined,
          ),
        )
        .returning({ identity: roomParticipants.identity });
      for (const p of closed) await audit(tx, ctx, 'room.participant_left', { type: 'room', id: row.id }, { identity: p.identity, reason: 'server_restart' });
      // Files still being written when the process stopped may be incomplete.
      await tx
        .update(roomRecordings)
        .set({ status: 'failed', error: 'server_restart', endedAt: at })
        .where(and(eq(roomRecordings.orgId, row.orgId), eq(roomRecordings.roomId, row.id), eq(roomRecordings.status, 'recording')));
    });
    // After the cut files are marked: a recording started again writes new ones.
    await reapplyRouting(deps, row, providerRoomId).catch((err: unknown) => log.warn({ err, roomId: row.id }, 'room routing not restored'));
  }
  return { restored, ended };
}
