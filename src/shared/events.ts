/**
 * Messages on the realtime hub (`/api/v1/events`): organisation events pushed to signed-in staff and
 * API-key clients. Events carry ids, never PHI: a client that needs details fetches them over REST.
 */
export type OrgEventType =
  | 'patient.created'
  | 'patient.updated'
  | 'patient.archived'
  | 'patient.restored'
  | 'consent.recorded'
  | 'appointment.created'
  | 'appointment.updated'
  | 'appointment.cancelled'
  | 'user.created'
  | 'user.updated'
  | 'room.created'
  | 'room.ended'
  | 'room.participant_joined'
  | 'room.participant_left'
  | 'room.recording_started'
  | 'room.recording_completed'
  | 'visit.created'
  | 'visit.opened'
  | 'visit.started'
  | 'visit.ended'
  | 'visit.cancelled'
  | 'visit.no_show'
  | 'visit.updated'
  | 'visit.participant_invited'
  | 'visit.participant_waiting'
  | 'visit.participant_admitted'
  | 'visit.participant_denied'
  | 'visit.participant_returned'
  | 'visit.participant_muted'
  | 'visit.participant_removed'
  | 'visit.participant_joined'
  | 'visit.participant_left'
  | 'visit.consent_recorded'
  | 'visit.recording_started'
  | 'visit.recording_stopped'
  | 'visit.message_sent'
  | 'visit.participant_hand_raised'
  | 'visit.participant_hand_lowered'
  | 'visit.participant_unmute_requested'
  | 'visit.participant_renamed'
  | 'visit.cohost_added'
  | 'visit.cohost_removed'
  | 'visit.spotlight_changed'
  | 'visit.muted_all'
  | 'message.created'
  | 'message.updated'
  | 'message.received'
  | 'intake.submitted'
  | 'care.member_added'
  | 'care.member_updated'
  | 'care.member_removed'
  | 'checkin.requested'
  | 'checkin.ringing'
  | 'checkin.answered'
  | 'checkin.declined'
  | 'checkin.active'
  | 'checkin.completed'
  | 'checkin.missed'
  | 'checkin.cancelled'
  | 'checkin.failed'
  | 'checkin.schedule_created'
  | 'checkin.schedule_cancelled';

export interface OrgEvent {
  type: OrgEventType;
  /** ISO time the server published it. */
  at: string;
  data: Record<string, string | number | boolean | null | string[]>;
}

export type HubMessage =
  | { type: 'hello'; orgId: string; heartbeatSeconds: number }
  | { type: 'event'; event: OrgEvent }
  /** The server is going away (restart, deploy): reconnect after `retryAfterMs`. */
  | { type: 'reconnect'; retryAfterMs: number };

/** WebSocket close codes the hub uses. */
export const HUB_CLOSE = {
  sessionEnded: 4001,
  serverRestart: 1012,
} as const;
