/**
 * Every audit action code, in one place. Codes are stable identifiers stored in the log forever:
 * add new ones, never rename or reuse one.
 */
export const AUDIT_ACTIONS = [
  'org.created',
  'org.updated',
  'auth.login',
  'auth.login_failed',
  'auth.logout',
  'auth.session_revoked',
  'auth.password_changed',
  'user.created',
  'user.updated',
  'user.disabled',
  'user.enabled',
  'api_key.created',
  'api_key.revoked',
  'patient.created',
  'patient.updated',
  'patient.archived',
  'patient.restored',
  'consent.recorded',
  'appointment.created',
  'appointment.updated',
  'appointment.cancelled',
  'room.created',
  'room.ended',
  'room.token_issued',
  'room.participant_joined',
  'room.participant_left',
  'room.participant_removed',
  'room.participant_routed',
  'room.recording_started',
  'room.recording_stopped',
  'room.recording_downloaded',
  'demo.seeded',
  'visit.created',
  'visit.opened',
  'visit.started',
  'visit.ended',
  'visit.cancelled',
  'visit.no_show',
  'visit.extended',
  'visit.locked',
  'visit.unlocked',
  'visit.invite_created',
  'visit.link_revoked',
  'visit.link_used',
  'visit.participant_waiting',
  'visit.participant_admitted',
  'visit.participant_denied',
  'visit.participant_returned',
  'visit.participant_muted',
  'visit.participant_removed',
  'consent_text.created',
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];
export type AuditActorType = 'user' | 'api_key' | 'system' | 'anonymous' | 'participant';
export type AuditOutcome = 'success' | 'failure';
/** Ids, codes, counts and flags only: never names, phone numbers, emails or message bodies. */
export type AuditDetails = Record<string, string | number | boolean | null>;
