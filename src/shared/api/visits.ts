import Type from 'typebox';
import { IsoDateTime, Uuid } from './common.js';
import { AppointmentKind } from './appointments.js';

const Nullable = <T extends Type.TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const VisitStatus = Type.Union([
  Type.Literal('scheduled'),
  Type.Literal('open'),
  Type.Literal('in_progress'),
  Type.Literal('ended'),
  Type.Literal('cancelled'),
  Type.Literal('no_show'),
]);
export const VisitRole = Type.Union([Type.Literal('host'), Type.Literal('patient'), Type.Literal('guest'), Type.Literal('interpreter'), Type.Literal('caregiver')]);
export const InviteeRole = Type.Union([Type.Literal('patient'), Type.Literal('guest'), Type.Literal('interpreter'), Type.Literal('caregiver')]);
export const Admission = Type.Union([Type.Literal('invited'), Type.Literal('waiting'), Type.Literal('admitted'), Type.Literal('denied'), Type.Literal('removed')]);

export const VisitParticipant = Type.Object({
  id: Uuid,
  role: VisitRole,
  patientId: Nullable(Uuid),
  userId: Nullable(Uuid),
  displayName: Type.String(),
  admission: Admission,
  telehealthConsentAt: Nullable(IsoDateTime),
  recordingConsentAt: Nullable(IsoDateTime),
  arrivedAt: Nullable(IsoDateTime),
  admittedAt: Nullable(IsoDateTime),
});
export type VisitParticipant = Type.Static<typeof VisitParticipant>;

export const Visit = Type.Object({
  id: Uuid,
  kind: AppointmentKind,
  appointmentId: Nullable(Uuid),
  hostUserId: Uuid,
  status: VisitStatus,
  scheduledStart: IsoDateTime,
  durationMinutes: Type.Integer(),
  extendedMinutes: Type.Integer(),
  /** scheduledStart + duration + extension. */
  endsAt: IsoDateTime,
  /** When join links start and stop working. */
  joinOpensAt: IsoDateTime,
  joinClosesAt: IsoDateTime,
  locked: Type.Boolean(),
  /** The visit's room in the rooms layer while it is open. */
  roomName: Nullable(Type.String()),
  openedAt: Nullable(IsoDateTime),
  startedAt: Nullable(IsoDateTime),
  endedAt: Nullable(IsoDateTime),
  endReason: Nullable(Type.String()),
  createdAt: IsoDateTime,
  updatedAt: IsoDateTime,
  participants: Type.Array(VisitParticipant),
});
export type Visit = Type.Static<typeof Visit>;

export const CreateVisitBody = Type.Object(
  {
    /** The visit of this appointment (its kind, clinician, patients, start and duration). */
    appointmentId: Type.Optional(Uuid),
    /** Without an appointment: the host clinician (default: the signed-in clinician). */
    hostUserId: Type.Optional(Uuid),
    kind: Type.Optional(AppointmentKind),
    patientIds: Type.Optional(Type.Array(Uuid, { maxItems: 50, uniqueItems: true })),
    /** Default: now. */
    scheduledStart: Type.Optional(IsoDateTime),
    durationMinutes: Type.Optional(Type.Integer({ minimum: 1, maximum: 1440 })),
    /** Open it at once (an instant visit). */
    start: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type CreateVisitBody = Type.Static<typeof CreateVisitBody>;

export const ListVisitsQuery = Type.Object({
  /** A calendar day in the organisation's time zone (YYYY-MM-DD). */
  day: Type.Optional(Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' })),
  hostUserId: Type.Optional(Uuid),
  status: Type.Optional(VisitStatus),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
});
export type ListVisitsQuery = Type.Static<typeof ListVisitsQuery>;

export const EndVisitBody = Type.Object({ reason: Type.Optional(Type.String({ pattern: '^[a-z_]{1,40}$' })) }, { additionalProperties: false });
export const ExtendVisitBody = Type.Object({ minutes: Type.Integer({ minimum: 1, maximum: 240 }) }, { additionalProperties: false });
export const LockVisitBody = Type.Object({ locked: Type.Boolean() }, { additionalProperties: false });

export const InviteBody = Type.Object(
  {
    role: InviteeRole,
    /** role patient: one of the visit's patients, or another active patient of the organisation (added to the visit). */
    patientId: Type.Optional(Uuid),
    /** Required for guests, interpreters and caregivers; a patient's name comes from their record. */
    displayName: Type.Optional(Type.String({ minLength: 1, maxLength: 120 })),
    expiresInHours: Type.Optional(Type.Integer({ minimum: 1, maximum: 90 * 24 })),
  },
  { additionalProperties: false },
);
export type InviteBody = Type.Static<typeof InviteBody>;

export const Invite = Type.Object({
  linkId: Uuid,
  /** The join link to send, `PUBLIC_URL/join#<token>` (keep it secret: it lets its holder join as this participant). */
  url: Type.String(),
  token: Type.String(),
  expiresAt: IsoDateTime,
  participant: VisitParticipant,
});
export type Invite = Type.Static<typeof Invite>;

export const LinkParams = Type.Object({ id: Uuid, linkId: Uuid });
/** The link's token travels in the body (and after `#` in the link), never in a URL path a log could keep. */
export const JoinBody = Type.Object({ token: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false });
export const ParticipantActionParams = Type.Object({ id: Uuid, pid: Uuid });

export const ConsentText = Type.Object({
  kind: Type.Union([Type.Literal('telehealth'), Type.Literal('recording')]),
  version: Type.String(),
  body: Type.String(),
  createdAt: IsoDateTime,
});
export type ConsentText = Type.Static<typeof ConsentText>;

export const CreateConsentTextBody = Type.Object(
  {
    kind: Type.Union([Type.Literal('telehealth'), Type.Literal('recording')]),
    version: Type.String({ pattern: '^[A-Za-z0-9._-]{1,40}$' }),
    body: Type.String({ minLength: 20, maxLength: 20_000 }),
  },
  { additionalProperties: false },
);
export type CreateConsentTextBody = Type.Static<typeof CreateConsentTextBody>;

/** What joining answers: the participant's session credential and where they stand. */
export const JoinResult = Type.Object({
  /** Send as `Authorization: Bearer <session>` (or use the cookie set with it). */
  session: Type.String(),
  expiresAt: IsoDateTime,
  visit: Type.Object({ id: Uuid, status: VisitStatus, scheduledStart: IsoDateTime, joinOpensAt: IsoDateTime, joinClosesAt: IsoDateTime }),
  participant: VisitParticipant,
  /** Consents this participant must accept before the waiting room (the current texts). */
  consentsRequired: Type.Array(ConsentText),
});
export type JoinResult = Type.Static<typeof JoinResult>;

export const AcceptConsentBody = Type.Object(
  {
    kind: Type.Union([Type.Literal('telehealth'), Type.Literal('recording')]),
    /** The version the participant was shown; a newer text must be shown and accepted instead. */
    version: Type.String({ minLength: 1, maxLength: 40 }),
  },
  { additionalProperties: false },
);
export type AcceptConsentBody = Type.Static<typeof AcceptConsentBody>;

export const VisitConsent = Type.Object({
  participantId: Uuid,
  kind: Type.Union([Type.Literal('telehealth'), Type.Literal('recording')]),
  textVersion: Type.String(),
  acceptedAt: IsoDateTime,
  ip: Nullable(Type.String()),
  userAgent: Nullable(Type.String()),
});
export type VisitConsent = Type.Static<typeof VisitConsent>;

export const DenyBody = Type.Object({ message: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })) }, { additionalProperties: false });
export const MuteBody = Type.Object(
  { audio: Type.Optional(Type.Boolean()), video: Type.Optional(Type.Boolean()) },
  { additionalProperties: false, minProperties: 1 },
);

export const VisitToken = Type.Object({
  token: Type.String(),
  url: Type.String(),
  identity: Type.String(),
  room: Type.String(),
  expiresIn: Type.Integer(),
  provider: Type.String(),
  /** Where the participant is: `admitted` (in the visit) or `waiting` (connected, receiving nothing until admitted). */
  admission: Admission,
});
export type VisitToken = Type.Static<typeof VisitToken>;
