/** Patient messaging in the console: the API's types, what statuses mean for people, and the shared settings. */
import { useEffect, useState } from 'react';
import type { Static } from 'typebox';
import type {
  IntakeForm as IntakeFormSchema,
  IntakeRequest as IntakeRequestSchema,
  Message,
  MessagePreview as MessagePreviewSchema,
  MessagingSettings as MessagingSettingsSchema,
} from '../../shared/api/messaging.js';
import type { OrgEvent } from '../../shared/events.js';
import { staffApi } from './auth.js';

export type { Message };
export type MessagePreview = Static<typeof MessagePreviewSchema>;
export type MessagingSettings = Static<typeof MessagingSettingsSchema>;
export type IntakeForm = Static<typeof IntakeFormSchema>;
export type IntakeField = IntakeForm['fields'][number];
export type IntakeRequest = Static<typeof IntakeRequestSchema>;
export type MessageStatus = Message['status'];

export interface MessagePage {
  data: Message[];
  nextCursor: string | null;
}

/**
 * The order statuses move in (the server's rule: a message never moves backwards). A later answer that ranks
 * lower than what is shown is an older view of the message and is not applied.
 */
const STATUS_RANK: Record<MessageStatus, number> = { queued: 0, sending: 1, sent: 2, delivered: 3, undelivered: 3, failed: 3, canceled: 3, received: 3 };

/** `next` unless it is an older view of `current` (a lower status, e.g. a slow answer overtaken by a hub event). */
export function newer(current: Message | undefined, next: Message): Message {
  if (!current) return next;
  return STATUS_RANK[next.status] < STATUS_RANK[current.status] ? current : next;
}

/** A hub event about a message: its id, patient and status (ids and codes only). */
export interface MessageEventData {
  messageId: string;
  patientId: string | null;
  status: MessageStatus;
  errorCode: string | null;
}

export function messageEvent(event: OrgEvent): MessageEventData | null {
  if (event.type !== 'message.created' && event.type !== 'message.updated' && event.type !== 'message.received') return null;
  const d = event.data;
  if (typeof d.messageId !== 'string') return null;
  return {
    messageId: d.messageId,
    patientId: typeof d.patientId === 'string' ? d.patientId : null,
    status: (typeof d.status === 'string' ? d.status : 'queued') as MessageStatus,
    errorCode: typeof d.errorCode === 'string' ? d.errorCode : null,
  };
}

/** Whether a hub event changed a patient's consents (a recorded consent names one patient; STOP/START name several). */
export function consentChangedFor(event: OrgEvent, patientId: string): boolean {
  if (event.type !== 'consent.recorded') return false;
  const { patientId: one, patientIds: many } = event.data;
  return one === patientId || (Array.isArray(many) && many.includes(patientId));
}

/** What stops a send, in words for the clinician (preview `blockedBy` and the send's error codes). */
export const BLOCKED_TEXT: Record<string, string> = {
  no_phone_number: 'No phone number on file. Add a mobile number to the patient’s record to text them.',
  no_email_address: 'No email address on file. Add one to the patient’s record to email them.',
  sms_consent_required: 'The patient has not agreed to texts — record SMS consent first.',
  recipient_opted_out: 'The patient opted out (replied STOP). They can reply START to receive texts again.',
  invalid_state: 'The patient is archived: restore the record to message them.',
};

export const PURPOSE_LABEL: Record<Message['purpose'], string> = {
  chat: 'Chat',
  visit_invite: 'Visit invitation',
  appointment_reminder: 'Appointment reminder',
  intake_form: 'Intake form',
  checkin_notice: 'Check-in notice',
  keyword_reply: 'Keyword reply',
  other: 'Other',
};

export const CHANNEL_LABEL: Record<Message['channel'], string> = { sms: 'SMS', email: 'Email' };

export const DELIVERY_LABEL: Record<string, string> = { sms: 'SMS only', email_sms: 'Email & SMS', email: 'Email only' };

/** The organisation's messaging settings (providers, quiet hours), read once per page. */
export function useMessagingSettings(): MessagingSettings | null {
  const [settings, setSettings] = useState<MessagingSettings | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    staffApi<MessagingSettings>('GET', '/messaging/settings', undefined, controller.signal).then(setSettings, () => undefined);
    return () => controller.abort();
  }, []);
  return settings;
}

export const usesOutbox = (s: MessagingSettings | null): boolean => s !== null && (s.smsProvider === 'outbox' || s.emailProvider === 'outbox');
