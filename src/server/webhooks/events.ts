import type { OrgEventType } from '../../shared/events.js';

/**
 * Which organisation events reach webhooks, and under what name. Every hub event type is listed, so a new
 * one fails type-checking here until it is placed (the mapping below then names it; `false` keeps it off
 * webhooks).
 */
const HUB_EVENTS = {
  'patient.created': true,
  'patient.updated': true,
  'patient.archived': true,
  'patient.restored': true,
  'consent.recorded': true,
  'appointment.created': true,
  'appointment.updated': true,
  'appointment.cancelled': true,
  'user.created': true,
  'user.updated': true,
  'room.created': true,
  'room.ended': true,
  'room.participant_joined': true,
  'room.participant_left': true,
  'room.recording_started': true,
  'room.recording_completed': true,
  'visit.created': true,
  'visit.opened': true,
  'visit.started': true,
  'visit.ended': true,
  'visit.cancelled': true,
  'visit.no_show': true,
  'visit.updated': true,
  'visit.participant_invited': true,
  'visit.participant_waiting': true,
  'visit.participant_admitted': true,
  'visit.participant_denied': true,
  'visit.participant_returned': true,
  'visit.participant_muted': true,
  'visit.participant_removed': true,
  'visit.participant_joined': true,
  'visit.participant_left': true,
  'visit.consent_recorded': true,
  'visit.recording_started': true,
  'visit.recording_stopped': true,
  'visit.message_sent': true,
  'visit.participant_hand_raised': true,
  'visit.participant_hand_lowered': true,
  'visit.participant_unmute_requested': true,
  'visit.participant_renamed': true,
  'visit.cohost_added': true,
  'visit.cohost_removed': true,
  'visit.spotlight_changed': true,
  'visit.muted_all': true,
  'message.created': true,
  'message.updated': true,
  'message.received': true,
  'intake.submitted': true,
  'care.member_added': true,
  'care.member_updated': true,
  'care.member_removed': true,
  'checkin.requested': true,
  'checkin.ringing': true,
  'checkin.answered': true,
  'checkin.declined': true,
  'checkin.active': true,
  'checkin.completed': true,
  'checkin.missed': true,
  'checkin.cancelled': true,
  'checkin.failed': true,
  'checkin.schedule_created': true,
  'checkin.schedule_cancelled': true,
} as const satisfies Record<OrgEventType, boolean>;

/**
 * The webhook event type of a hub event, or null when webhooks do not carry it:
 * `visit.participant_X` → `participant.X`; `visit.consent_recorded` and `consent.recorded` → `consent.recorded`;
 * `room.recording_X` and `visit.recording_X` → `recording.X`; everything else keeps its name.
 */
export function webhookEventType(hubType: string): string | null {
  if (!Object.hasOwn(HUB_EVENTS, hubType) || !HUB_EVENTS[hubType as OrgEventType]) return null;
  if (hubType === 'visit.consent_recorded') return 'consent.recorded';
  const participant = /^visit\.participant_([a-z_]+)$/.exec(hubType);
  if (participant) return `participant.${participant[1]}`;
  const recording = /^(?:room|visit)\.recording_([a-z_]+)$/.exec(hubType);
  if (recording) return `recording.${recording[1]}`;
  return hubType;
}

/** Every webhook event type, sorted. */
export const WEBHOOK_EVENT_TYPES: readonly string[] = Object.freeze(
  [...new Set(Object.keys(HUB_EVENTS).map(webhookEventType).filter((t): t is string => t !== null))].sort(),
);
/** The categories (`visit`, `participant`…), usable as `category.*` in a subscription. */
export const WEBHOOK_EVENT_CATEGORIES: readonly string[] = Object.freeze([...new Set(WEBHOOK_EVENT_TYPES.map((t) => t.slice(0, t.indexOf('.'))))].sort());

const KNOWN_TYPES = new Set(WEBHOOK_EVENT_TYPES);
const KNOWN_CATEGORIES = new Set(WEBHOOK_EVENT_CATEGORIES);

/** Whether a subscription pattern names something that exists: `*`, `category.*` or a known type. */
export function isKnownPattern(pattern: string): boolean {
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return KNOWN_CATEGORIES.has(pattern.slice(0, -2));
  return KNOWN_TYPES.has(pattern);
}

/** Whether a subscription's patterns select an event type. */
export function patternsMatch(patterns: readonly string[], type: string): boolean {
  return patterns.some((p) => p === '*' || p === type || (p.endsWith('.*') && type.startsWith(p.slice(0, -1))));
}
