/**
 * What makes a visit a group (docs/groups.md): the organisation's group settings, a group's size limit (the visit's
 * own, or the organisation's), who counts toward it (clients admitted now; the host and co-hosts never), and the
 * media policy its room is made with. (Changing a running group's limit or mode: controls.ts, updateGroup.) Imports no other visits module: service.ts and access.ts build on it.
 */
import { and, count, eq, inArray } from 'drizzle-orm';
import type { Config } from '../config.js';
import type { Db } from '../db/index.js';
import { organizations, visitParticipants, type GroupNamePolicy, type visits } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import type { MediaPolicy } from '../rooms/provider.js';
import { connectedIdentities } from '../rooms/queries.js';
import { isStaffRole, type NameRules } from './privacy.js';

type VisitRow = typeof visits.$inferSelect;
type ParticipantRow = typeof visitParticipants.$inferSelect;

/** The most clients any group admits (the schema's bound on a visit's and an organisation's limit). */
export const GROUP_LIMIT_MAX = 50;
/** Seats a group's room keeps for its staff (the host and co-hosts), beyond its clients. */
export const GROUP_STAFF_SEATS = 10;
/**
 * A group room's size for the media provider: the most clients a group admits, as many again waiting (on the builtin
 * provider someone waiting holds a connection, alone), and the staff. The group's own limit is the visit's rule,
 * enforced at admission (visit_full), not by the provider; a limit raised later needs no bigger room. Twilio clamps
 * it to its Group rooms' 50 (there, nobody waiting is connected: they are held).
 */
export const GROUP_ROOM_SEATS = 2 * GROUP_LIMIT_MAX + GROUP_STAFF_SEATS;

/** The roles that count toward a group's limit once admitted: the clients. */
export const countsTowardLimit = (p: Pick<ParticipantRow, 'role' | 'admission'>): boolean => !isStaffRole(p.role) && p.admission === 'admitted';

export interface GroupSettings extends Omit<NameRules, 'group'> {
  /** The organisation's default limit (organizations.group_max_participants). */
  maxParticipants: number;
}

/** The organisation's group settings (name policy, self-chosen names, default limit). */
export async function groupSettings(db: Db, orgId: string): Promise<GroupSettings> {
  const [row] = await db
    .select({ policy: organizations.groupNamePolicy, selfNames: organizations.groupSelfNames, maxParticipants: organizations.groupMaxParticipants })
    .from(organizations)
    .where(eq(organizations.id, orgId))
    .limit(1);
  if (!row) throw new AppError('not_found', 'The organisation does not exist.');
  return { policy: row.policy as GroupNamePolicy, selfNames: row.selfNames, maxParticipants: row.maxParticipants };
}

/** How the visit shows its clients to each other. */
export const nameRulesOf = (visit: Pick<VisitRow, 'kind'>, settings: GroupSettings): NameRules => ({ group: visit.kind === 'group', policy: settings.policy, selfNames: settings.selfNames });

/** The clients a group visit admits at most: its own limit, or the organisation's; null for a 1:1 visit. */
export function effectiveLimit(visit: Pick<VisitRow, 'kind' | 'maxParticipants'>, orgMaxParticipants: number): number | null {
  return visit.kind === 'group' ? (visit.maxParticipants ?? orgMaxParticipants) : null;
}

/**
 * The media policy a group visit's room is made with: simulcast, the visit's mode and spotlight (its identity: the
 * participant id), last-N from config.groups. Null for a 1:1 visit (the provider's small-room defaults).
 */
export function groupMediaPolicy(visit: Pick<VisitRow, 'kind' | 'mediaMode' | 'spotlightParticipantId'>, groups: Pick<Config['groups'], 'lastN'>): MediaPolicy | null {
  if (visit.kind !== 'group') return null;
  return { simulcast: true, mode: visit.mediaMode, spotlight: visit.spotlightParticipantId, lastN: groups.lastN };
}

/** Clients admitted in the visit now (what its limit counts). */
export async function admittedClients(db: Db, orgId: string, visitId: string): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(visitParticipants)
    .where(
      and(
        eq(visitParticipants.orgId, orgId),
        eq(visitParticipants.visitId, visitId),
        eq(visitParticipants.admission, 'admitted'),
        inArray(visitParticipants.role, ['patient', 'guest', 'interpreter', 'caregiver']),
      ),
    );
  return Number(row?.n ?? 0);
}

/**
 * Inside the transaction that admits `participant` (the visit's row locked, so admissions queue): 409 visit_full when
 * the group already admits its limit. Staff never count; a 1:1 visit has no limit. `roomCapacity`: the media
 * provider's most connections in one room (MediaProvider.roomCapacity; Twilio's 50, where people sent back stay
 * connected): also 409 visit_full when that many are connected and the person admitted is not one of them, said
 * before they connect rather than as Twilio's "room full" in their browser.
 */
export async function assertRoomFor(tx: Db, visit: VisitRow, participant: Pick<ParticipantRow, 'id' | 'role'>, roomCapacity?: number): Promise<void> {
  if (visit.kind !== 'group' || isStaffRole(participant.role)) return;
  const limit = effectiveLimit(visit, (await groupSettings(tx, visit.orgId)).maxParticipants)!;
  const admitted = await admittedClients(tx, visit.orgId, visit.id);
  if (admitted >= limit) throw new AppError('visit_full', `The group admits ${limit} participants and has ${admitted} in it. Raise its limit or remove someone first.`, { limit, admitted });
  if (roomCapacity === undefined || !visit.roomId) return;
  const connected = await connectedIdentities({ db: tx }, { orgId: visit.orgId }, visit.roomId);
  if (!connected.has(participant.id) && connected.size >= roomCapacity) {
    throw new AppError('visit_full', `The video service holds ${roomCapacity} people in one room and ${connected.size} are connected to this one. Remove someone first.`, {
      capacity: roomCapacity,
      connected: connected.size,
    });
  }
}
