/**
 * Where a visit participant's media goes, derived from their place in the visit: the one rule every caller uses
 * (their token, the host's admit / return / deny / remove; breakouts next). Pure: the rooms layer stores what it is
 * given and applies it again after a restart, so nothing re-derives it elsewhere.
 */
import type { visitParticipants } from '../db/schema.js';
import type { RoutingUpdate } from '../rooms/provider.js';
import { isStaffRole } from './privacy.js';

type Participant = Pick<typeof visitParticipants.$inferSelect, 'id' | 'role' | 'admission' | 'recordingConsentAt'>;

/** The visit itself: the host and everyone admitted. */
export const MAIN_GROUP = 'main';
/** A participant's own waiting room: alone in it, they receive nobody and nobody receives them. */
export const waitingGroup = (participantId: string) => `waiting-${participantId}`;
/** A breakout room of the visit: a routing group inside the visit's room (moves need no reconnect). */
export const breakoutGroup = (breakoutId: string) => `breakout-${breakoutId}`;

/**
 * Whether a participant may be recorded: the host and co-hosts (who start the recording), and an admitted participant who
 * agreed to be recorded. Everyone else is kept out of the recording by routing (`recorded: false`).
 */
export function mayBeRecorded(p: Participant): boolean {
  return isStaffRole(p.role) || (p.admission === 'admitted' && p.recordingConsentAt !== null);
}

/**
 * In the visit: the host, a co-host (while one: a removed co-host is `removed`) and everyone admitted. Anyone else is
 * kept apart (their own waiting group).
 */
export function inVisit(p: Pick<Participant, 'role' | 'admission'>): boolean {
  return p.role === 'host' || p.admission === 'admitted';
}

export interface PlacementOptions {
  /** The breakout room the participant is assigned to, if any (null or absent: the main room). */
  breakout?: string | null;
}

/**
 * The host and admitted participants are in the visit (their breakout room when assigned one), recorded if they may
 * be; anyone else (invited, waiting, sent back, denied, removed) is alone in their waiting group and never recorded.
 */
export function placementOf(p: Participant, options: PlacementOptions = {}): Required<Pick<RoutingUpdate, 'group' | 'recorded'>> {
  if (!inVisit(p)) return { group: waitingGroup(p.id), recorded: false };
  return { group: options.breakout ? breakoutGroup(options.breakout) : MAIN_GROUP, recorded: mayBeRecorded(p) };
}
