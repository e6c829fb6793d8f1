/**
 * Privacy between a visit's clients (docs/groups.md, "Privacy and names"), pure: what one participant of a visit may
 * see of another. Staff (the organisation's users and host apps, and the visit's host and co-hosts) see everyone as
 * they are. A client (patient, guest, interpreter, caregiver) sees the staff by their names, and another client only
 * by the name the organisation's policy makes of them (group visits: `first_initial` "Maria G." by default, `first`,
 * `full`, or `participant_n` "Participant 3"; their own chosen name instead when the organisation allows one), and
 * never another client's patient or user id, consent times, arrival or admission times. Every read that a
 * participant principal makes goes through here (the visit, its participants, the chat and what the channel carries).
 */
import type { ChatMessage, VisitParticipant } from '../../shared/api/visits.js';
import type { GroupNamePolicy, VisitRole, visitParticipants } from '../db/schema.js';

type Row = typeof visitParticipants.$inferSelect;

/** The visit's staff: the host and co-hosts (host rights, full names, never counted toward a group's limit). */
export const isStaffRole = (role: VisitRole): boolean => role === 'host' || role === 'cohost';

/** How a visit shows its clients to each other: the organisation's settings, and whether the visit is a group. */
export interface NameRules {
  group: boolean;
  policy: GroupNamePolicy;
  /** Clients may choose the name the others see (organizations.group_self_names). */
  selfNames: boolean;
}

/** Who is looking: staff (sees everything), or one client of the visit (by participant id). */
export type Viewer = { kind: 'staff' } | { kind: 'client'; participantId: string };

/** The first letter of a word as a person reads it (a surrogate pair or an accented letter stays whole). */
function initialOf(word: string): string {
  const [first = ''] = Array.from(word.normalize('NFC'));
  return first.toLocaleUpperCase();
}

/** A full name as the policy shows it: "Maria Garcia Lopez" → first_initial "Maria L.", first "Maria". */
export function policyName(policy: GroupNamePolicy, fullName: string, number: number): string {
  if (policy === 'participant_n') return `Participant ${number}`;
  if (policy === 'full') return fullName;
  const words = fullName.trim().split(/\s+/).filter((w) => w !== '');
  if (words.length === 0) return `Participant ${number}`;
  if (policy === 'first' || words.length === 1) return words[0]!;
  return `${words[0]} ${initialOf(words[words.length - 1]!)}.`;
}

/**
 * Each client's number for `participant_n`: the order in which the clients joined the visit (arrived in its waiting
 * room), then the order they were added. Stable: a client who leaves keeps theirs, nobody's changes.
 */
export function clientNumbers(people: readonly Pick<Row, 'id' | 'role' | 'arrivedAt' | 'createdAt'>[]): Map<string, number> {
  const clients = people.filter((p) => !isStaffRole(p.role));
  const key = (p: (typeof clients)[number]) => [p.arrivedAt?.getTime() ?? Number.MAX_SAFE_INTEGER, p.createdAt.getTime()] as const;
  clients.sort((x, y) => {
    const [a1, a2] = key(x);
    const [b1, b2] = key(y);
    return a1 - b1 || a2 - b2 || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0);
  });
  return new Map(clients.map((p, i) => [p.id, i + 1]));
}

/** What the others see as a client's name when `viewer` looks (staff, themselves and 1:1 visits: the name as it is). */
export function nameFor(viewer: Viewer, p: Pick<Row, 'id' | 'role' | 'displayName' | 'chosenName'>, rules: NameRules, numbers: ReadonlyMap<string, number>): string {
  if (viewer.kind === 'staff' || isStaffRole(p.role) || viewer.participantId === p.id || !rules.group) return p.displayName;
  if (rules.selfNames && p.chosenName) return p.chosenName;
  return policyName(rules.policy, p.displayName, numbers.get(p.id) ?? 0);
}

const iso = (d: Date | null) => d?.toISOString() ?? null;

/** The participant as it is (what staff see, and a client sees of themselves): the real name, and the chosen one. */
export function fullView(p: Row): VisitParticipant {
  return {
    id: p.id,
    role: p.role,
    patientId: p.patientId,
    userId: p.userId,
    displayName: p.displayName,
    chosenName: p.chosenName,
    admission: p.admission,
    telehealthConsentAt: iso(p.telehealthConsentAt),
    recordingConsentAt: iso(p.recordingConsentAt),
    arrivedAt: iso(p.arrivedAt),
    admittedAt: iso(p.admittedAt),
    handRaisedAt: iso(p.handRaisedAt),
  };
}

/**
 * `p` as `viewer` may see them. A client sees the staff by name (their user id too: not a client's), and another
 * client by the policy's name, with nothing that identifies or tracks them beyond being in the visit and a raised hand.
 */
export function participantView(viewer: Viewer, p: Row, rules: NameRules, numbers: ReadonlyMap<string, number>): VisitParticipant {
  if (viewer.kind === 'staff' || viewer.participantId === p.id) return fullView(p);
  const staff = isStaffRole(p.role);
  return {
    id: p.id,
    role: p.role,
    patientId: null,
    userId: staff ? p.userId : null,
    displayName: nameFor(viewer, p, rules, numbers),
    chosenName: null,
    admission: p.admission,
    telehealthConsentAt: null,
    recordingConsentAt: null,
    arrivedAt: null,
    admittedAt: null,
    handRaisedAt: iso(p.handRaisedAt),
  };
}

/**
 * Who a client sees in the participant list: themselves, the staff and whoever is admitted; never who else waits or
 * was invited, denied or removed (only hosts see the waiting room).
 */
export function visibleTo(viewer: Viewer, p: Pick<Row, 'id' | 'role' | 'admission'>): boolean {
  if (viewer.kind === 'staff') return true;
  // The host's row is always admitted; a co-host removed from the visit is no longer in it.
  return p.id === viewer.participantId || p.admission === 'admitted';
}

/** A chat message as `viewer` sees it: its sender's name by the same rule. */
export function chatView(viewer: Viewer, message: ChatMessage, sender: Row | undefined, rules: NameRules, numbers: ReadonlyMap<string, number>): ChatMessage {
  if (!sender) return message;
  return { ...message, displayName: nameFor(viewer, sender, rules, numbers) };
}
