import Type from 'typebox';
import { IsoDateTime, Text, Uuid } from './common.js';

const Nullable = <T extends Type.TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const MessageChannel = Type.Union([Type.Literal('sms'), Type.Literal('email')]);
export const MessageStatus = Type.Enum(['queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'received', 'canceled'],
  { description: 'queued → sending → sent → delivered, or undelivered / failed (with errorCode and errorReason); received for inbound; canceled.' },
);
export const MessagePurpose = Type.Enum(['chat', 'visit_invite', 'appointment_reminder', 'intake_form', 'checkin_notice', 'keyword_reply', 'other']);

export const Message = Type.Object({
  id: Uuid,
  patientId: Nullable(Uuid),
  direction: Type.Union([Type.Literal('outbound'), Type.Literal('inbound')]),
  channel: MessageChannel,
  purpose: MessagePurpose,
  to: Type.String(),
  from: Nullable(Type.String()),
  subject: Nullable(Type.String()),
  body: Type.String(),
  status: MessageStatus,
  urgent: Type.Boolean(),
  provider: Type.String(),
  providerMessageId: Nullable(Type.String()),
  errorCode: Nullable(Type.String()),
  errorReason: Nullable(Type.String()),
  segments: Type.Integer(),
  encoding: Nullable(Type.String()),
  estimatedCost: Type.Number(),
  currency: Type.String(),
  attempts: Type.Integer(),
  /** A message waiting for quiet hours to end (or a retry) goes at this time. */
  sendAfter: IsoDateTime,
  createdBy: Nullable(Type.Object({ type: Type.Union([Type.Literal('user'), Type.Literal('api_key')]), id: Uuid })),
  createdAt: IsoDateTime,
  updatedAt: IsoDateTime,
  sentAt: Nullable(IsoDateTime),
  deliveredAt: Nullable(IsoDateTime),
  failedAt: Nullable(IsoDateTime),
});
export type Message = Type.Static<typeof Message>;

const TemplateValues = Type.Object(
  {
    link: Type.Optional(Type.String({ maxLength: 1000 })),
    appointmentDate: Type.Optional(Type.String({ maxLength: 100 })),
    appointmentTime: Type.Optional(Type.String({ maxLength: 100 })),
    clinicianName: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false, description: 'Values for the template’s placeholders (patientFirstName and orgName are filled in by the server).' },
);

export const SendMessageBody = Type.Object(
  {
    channel: Type.Optional(MessageChannel),
    body: Type.Optional(Text({ maxLength: 1600 })),
    subject: Type.Optional(Text({ maxLength: 200 })),
    templateId: Type.Optional(Uuid),
    values: Type.Optional(TemplateValues),
    /** Urgent messages ignore quiet hours. */
    urgent: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, description: 'Either body (and subject for email) or templateId. channel defaults to sms (or the template’s).' },
);
export type SendMessageBody = Type.Static<typeof SendMessageBody>;

export const MessagePreview = Type.Object({
  channel: MessageChannel,
  to: Nullable(Type.String()),
  subject: Nullable(Type.String()),
  body: Type.String(),
  segments: Type.Integer(),
  encoding: Type.String(),
  estimatedCost: Type.Number(),
  currency: Type.String(),
  /** The first text to this number carries the opt-out instructions. */
  optOutNoticeAdded: Type.Boolean(),
  sendAfter: IsoDateTime,
  deferredByQuietHours: Type.Boolean(),
  /** Clinical words found in the text (keep PHI out of SMS). */
  phiWarnings: Type.Array(Type.String()),
  /** Why it cannot be sent now (no_phone_number, sms_consent_required, recipient_opted_out…), or null. */
  blockedBy: Nullable(Type.String()),
});

export const ListPatientMessagesQuery = Type.Object(
  {
    before: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'nextCursor of the previous page (older messages).' })),
    limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
  },
  { additionalProperties: false },
);

export const ListMessagesQuery = Type.Object(
  {
    cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
    limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
    status: Type.Optional(MessageStatus),
    direction: Type.Optional(Type.Union([Type.Literal('outbound'), Type.Literal('inbound')])),
    channel: Type.Optional(MessageChannel),
    provider: Type.Optional(Type.String({ maxLength: 20 })),
    unmatched: Type.Optional(Type.Boolean({ description: 'Only inbound messages not yet matched to a patient.' })),
  },
  { additionalProperties: false },
);
export type ListMessagesQuery = Type.Static<typeof ListMessagesQuery>;

export const AssignMessageBody = Type.Object({ patientId: Uuid }, { additionalProperties: false });

export const OutboxStatusBody = Type.Object(
  {
    status: Type.Union([Type.Literal('sent'), Type.Literal('delivered'), Type.Literal('undelivered'), Type.Literal('failed')]),
    errorCode: Type.Optional(Type.String({ pattern: '^[0-9]{5}$', description: 'A Twilio-style error code such as 30006.' })),
  },
  { additionalProperties: false },
);
export const OutboxInboundBody = Type.Object(
  { from: Type.String({ minLength: 3, maxLength: 40 }), body: Text({ maxLength: 1600 }) },
  { additionalProperties: false },
);

export const TemplatePurpose = Type.Enum(['visit_invite', 'appointment_reminder', 'intake_form', 'checkin_notice', 'custom']);
export const MessageTemplate = Type.Object({
  id: Uuid,
  name: Type.String(),
  purpose: TemplatePurpose,
  channel: MessageChannel,
  subject: Nullable(Type.String()),
  body: Type.String(),
  isDefault: Type.Boolean(),
  segments: Type.Integer(),
  encoding: Type.String(),
  createdAt: IsoDateTime,
  updatedAt: IsoDateTime,
});
export const CreateTemplateBody = Type.Object(
  {
    name: Text({ maxLength: 100 }),
    purpose: TemplatePurpose,
    channel: MessageChannel,
    subject: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    body: Text({ maxLength: 1600 }),
    isDefault: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type CreateTemplateBody = Type.Static<typeof CreateTemplateBody>;
export const UpdateTemplateBody = Type.Object(
  {
    name: Type.Optional(Text({ maxLength: 100 })),
    subject: Type.Optional(Nullable(Type.String({ maxLength: 200 }))),
    body: Type.Optional(Text({ maxLength: 1600 })),
    isDefault: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateTemplateBody = Type.Static<typeof UpdateTemplateBody>;

export const MessagingSettings = Type.Object({
  helpText: Type.String(),
  quietHours: Nullable(Type.Object({ start: Type.String(), end: Type.String() })),
  reminderOffsetsMinutes: Type.Array(Type.Integer()),
  smsNumber: Nullable(Type.String({ description: 'This organisation’s own SMS number (E.164): texts go out from it, texts to it come here. null: the configured TWILIO_FROM_NUMBER.' })),
  messagingServiceSid: Nullable(Type.String({ description: 'This organisation’s own Twilio Messaging Service (MG…): texts go out through it, texts it receives come here. null: the configured TWILIO_MESSAGING_SERVICE_SID.' })),
  /** What helpText, quietHours and reminderOffsetsMinutes are when this organisation has not set them (null restores them). */
  defaults: Type.Object({
    helpText: Type.String(),
    quietHours: Nullable(Type.Object({ start: Type.String(), end: Type.String() })),
    reminderOffsetsMinutes: Type.Array(Type.Integer()),
  }),
  smsProvider: Type.String(),
  emailProvider: Type.String(),
  segmentPrice: Type.Number(),
  currency: Type.String(),
});
export const UpdateMessagingSettingsBody = Type.Object(
  {
    helpText: Type.Optional(Nullable(Text({ maxLength: 320 }))),
    quietHours: Type.Optional(Nullable(Type.Object({ start: Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' }), end: Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' }) }, { additionalProperties: false }))),
    reminderOffsetsMinutes: Type.Optional(Nullable(Type.Array(Type.Integer({ minimum: 1, maximum: 43_200 }), { maxItems: 5 }))),
    smsNumber: Type.Optional(Nullable(Type.String({ pattern: '^\\+[1-9][0-9]{6,14}$', description: 'E.164 (+ and the country code). One organisation per number: a number in use is refused (409 already_exists).' }))),
    messagingServiceSid: Type.Optional(Nullable(Type.String({ pattern: '^MG[0-9a-fA-F]{32}$', description: 'MG followed by 32 hex characters. One organisation per service: a service in use is refused (409 already_exists).' }))),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateMessagingSettingsBody = Type.Static<typeof UpdateMessagingSettingsBody>;

export const IntakeField = Type.Object(
  {
    id: Type.String({ pattern: '^[a-z][a-z0-9_]{0,39}$' }),
    label: Text({ maxLength: 300 }),
    type: Type.Enum(['text', 'textarea', 'yesno', 'date', 'choice']),
    required: Type.Boolean(),
    options: Type.Optional(Type.Array(Text({ maxLength: 200 }), { minItems: 1, maxItems: 50 })),
  },
  { additionalProperties: false },
);
export const IntakeForm = Type.Object({
  id: Uuid,
  name: Type.String(),
  description: Nullable(Type.String()),
  fields: Type.Array(IntakeField),
  archived: Type.Boolean(),
  createdAt: IsoDateTime,
  updatedAt: IsoDateTime,
});
export const CreateIntakeFormBody = Type.Object(
  { name: Text({ maxLength: 200 }), description: Type.Optional(Type.String({ maxLength: 2000 })), fields: Type.Array(IntakeField, { minItems: 1, maxItems: 100 }) },
  { additionalProperties: false },
);
export type CreateIntakeFormBody = Type.Static<typeof CreateIntakeFormBody>;
export const SendIntakeFormBody = Type.Object(
  { patientId: Uuid, delivery: Type.Union([Type.Literal('sms'), Type.Literal('email_sms'), Type.Literal('email')], { description: '"SMS only", "Email & SMS", or email only.' }) },
  { additionalProperties: false },
);
export const IntakeRequest = Type.Object({
  id: Uuid,
  patientId: Uuid,
  formId: Uuid,
  formName: Type.String(),
  delivery: Type.String(),
  status: Type.Union([Type.Literal('sent'), Type.Literal('submitted')]),
  messageIds: Type.Array(Uuid),
  expiresAt: IsoDateTime,
  submittedAt: Nullable(IsoDateTime),
  createdAt: IsoDateTime,
  /** Only on GET /intake-requests/:id (staff reading the submission). */
  answers: Type.Optional(Nullable(Type.Record(Type.String(), Type.Union([Type.String(), Type.Boolean()])))),
  /** The patient's link (only in the answer to the send, for staff to copy). */
  link: Type.Optional(Type.String()),
});
export const PublicIntakeForm = Type.Object({
  orgName: Type.String(),
  name: Type.String(),
  description: Nullable(Type.String()),
  fields: Type.Array(IntakeField),
  status: Type.Union([Type.Literal('sent'), Type.Literal('submitted')]),
});
export const IntakeSubmission = Type.Object(
  { answers: Type.Record(Type.String({ pattern: '^[a-z][a-z0-9_]{0,39}$' }), Type.Union([Type.String({ maxLength: 5000 }), Type.Boolean()])) },
  { additionalProperties: false },
);
export const TokenParams = Type.Object({ token: Type.String({ minLength: 10, maxLength: 600 }) });
