/**
 * Who is where: the visit's people by id (names, roles, admission, from the API), the remote participants in the
 * call with us and those still in the waiting room, and whether we ourselves wait or are in the visit. While we wait,
 * the visit is read every few seconds (to see the admission soon).
 */
import { useEffect, useMemo } from 'react';
import type { Visit, VisitParticipant } from '../../shared/api/visits.js';
import type { CallRoom, CallToken, RemotePeer } from './room.js';
import { isClinicianRole } from './useGroup.js';

const WAITING_POLL_MS = 3_000;

export interface Roster {
  people: Map<string, VisitParticipant>;
  /** Our own visit participant, once the visit is read. */
  self: VisitParticipant | undefined;
  nameOf(id: string): string;
  /** The clinician's name (the visit's host), once known. */
  clinician: string | null;
  /** Every remote participant the room shows us (a host's token sees the waiting ones too). */
  remotes: RemotePeer[];
  /** Those in the call with us. */
  inCall: RemotePeer[];
  /** Host view: those connected but still in the waiting room. */
  waitingRemotes: RemotePeer[];
  /** Our token sees everyone in the room (a host's): only the visit's admitted people are in the call. */
  seesEveryone: boolean;
  /** A participant connected but not let in yet: the call screen is their waiting room. */
  waiting: boolean;
  admitted: boolean;
}

export function useRoster(
  as: 'host' | 'participant',
  room: CallRoom | null,
  token: CallToken | null,
  visit: Visit | null,
  live: boolean,
  refreshVisit: () => Promise<void>,
): Roster {
  const people = useMemo(() => new Map<string, VisitParticipant>((visit?.participants ?? []).map((p) => [p.id, p])), [visit]);
  const self = token ? people.get(token.identity) : undefined;
  const nameOf = (id: string) => people.get(id)?.displayName ?? 'Participant';

  const remotes: RemotePeer[] = room ? [...room.participants.values()] : [];
  const seesEveryone = as === 'host' || (room?.grants.admin ?? false);
  const inVisit = (id: string) => {
    if (!visit) return true;
    const p = people.get(id);
    return p !== undefined && (isClinicianRole(p.role) || p.admission === 'admitted');
  };
  const inCall = seesEveryone ? remotes.filter((p) => inVisit(p.identity)) : remotes;
  const waitingRemotes = seesEveryone && visit ? remotes.filter((p) => people.get(p.identity)?.admission === 'waiting') : [];
  const myAdmission = self?.admission ?? token?.admission ?? null;
  // Someone else in view means we are in the visit (a waiting participant is alone in their own group).
  const waiting = as === 'participant' && live && inCall.length === 0 && (myAdmission === 'waiting' || myAdmission === 'invited');
  const admitted = live && !waiting;

  useEffect(() => {
    if (!waiting) return;
    const timer = setInterval(() => void refreshVisit(), WAITING_POLL_MS);
    return () => clearInterval(timer);
  }, [waiting, refreshVisit]);

  const clinician = [...people.values()].find((p) => p.role === 'host')?.displayName ?? null;
  return { people, self, nameOf, clinician, remotes, inCall, waitingRemotes, seesEveryone, waiting, admitted };
}
