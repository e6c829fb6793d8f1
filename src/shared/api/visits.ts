import Type from 'typebox';
import { IsoDate, IsoDateTime, Text, Uuid } from './common.js';
import { AppointmentKind } from './appointments.js';
import { ChannelAccess, Recording, TokenMedia } from './rooms.js';

const Nullable = <T extends Type.TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** Seed 002's bandwidth modes: `collaboration` (equal quality), `presentation` (the screen share first), `grid` (many small tiles). */
export const MediaMode = Type.Union([Type.Literal('collaboration'), Type.Literal('presentation'), Type.Literal('grid')]);
export type MediaMode = Type.Static<typeof MediaMode>;

export const VisitStatus = Type.Union([
  Type.Literal('scheduled'),
  Type.Literal('open'),
  Type.Literal('in_progress'),
  Type.Literal('ended'),
  Type.Literal('cancelled'),
  Type.Literal('no_show'),
]);
export const VisitRole = Type.Union([Type.Literal('host'), Type.Literal('cohost'), Type.Literal('patient'), Type.Literal('guest'), Type.Literal('interpreter'), Type.Literal('caregiver')]);
export const InviteeRole = Type.Union([Type.Literal('patient'), Type.Literal('guest'), Type.Literal('interpreter'), Type.Literal('caregiver')]);
export const Admission = Type.Union([Type.Literal('invited'), Type.Literal('waiting'), Type.Literal('admitted'), Type.Literal('denied'), Type.Literal('removed')]);

export const VisitParticipant = Type.Object({
  id: Uuid,
  role: VisitRole,
  patientId: Nullable(Uuid),
  userId: Nullable(Uuid),
  /**
   * The name as the viewer may see it: staff see the real name; in a group visit a client sees another client by the
   * organisation's name policy (or the name that client chose), never more (docs/groups.md, "Privacy and names").
   */
  displayName: Type.String(),
  /** The name this client chose for the others (group visits, when the organisation allows it): to staff and the client themselves. */
  chosenName: Type.Optional(Nullable(Type.String())),
  admission: Admission,
  telehealthConsentAt: Nullable(IsoDateTime),
  recordingConsentAt: Nullable(IsoDateTime),
  arrivedAt: Nullable(IsoDateTime),
  admittedAt: Nullable(IsoDateTime),
  /** Since when the hand is raised (hosts see the queue in this order); null: lowered. */
  handRaisedAt: Nullable(IsoDateTime),
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
  /** Since when the host has the visit recorded (everyone is shown an indicator); null while it is not. */
  recordingSince: Nullable(IsoDateTime),
  /** Patients and guests the visit admits at most (group visits: the visit's own or the organisation's; 1:1 visits: null). */
  maxParticipants: Nullable(Type.Integer()),
  /** The participant in the spotlight for everyone; null: none. */
  spotlightParticipantId: Nullable(Uuid),
  /** A host muted everyone; newcomers join muted. */
  mutedAll: Type.Boolean(),
  /** While mutedAll: whether participants may unmute themselves (false: only when a host asks them to). */
  selfUnmute: Type.Boolean(),
  mediaMode: MediaMode,
  /** The post-visit survey for the patient, once the visit has ended (when the organisation has one). */
  surveyUrl: Nullable(Type.String()),
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
    /** Group visits: patients and guests admitted at most (default: the organisation's group limit). */
    maxParticipants: Type.Optional(Type.Integer({ minimum: 1, maximum: 50 })),
    mediaMode: Type.Optional(MediaMode),
  },
  { additionalProperties: false },
);
export type CreateVisitBody = Type.Static<typeof CreateVisitBody>;

export const ListVisitsQuery = Type.Object({
  /** A calendar day in the organisation's time zone (YYYY-MM-DD). */
  day: Type.Optional(IsoDate),
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
    displayName: Type.Optional(Text({ maxLength: 120 })),
    expiresInHours: Type.Optional(Type.Integer({ minimum: 1, maximum: 90 * 24 })),
    /** role patient: also send the link to the patient by SMS and/or email (the organisation's visit-invite template). */
    sendVia: Type.Optional(Type.Array(Type.Union([Type.Literal('sms'), Type.Literal('email')]), { minItems: 1, maxItems: 2, uniqueItems: true })),
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
  /** With sendVia: the messages queued (GET /messages/:id for their delivery status). */
  messageIds: Type.Optional(Type.Array(Uuid)),
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
    body: Text({ minLength: 20, maxLength: 20_000 }),
  },
  { additionalProperties: false },
);
export type CreateConsentTextBody = Type.Static<typeof CreateConsentTextBody>;

/**
 * What the patient's pages show about whose visit this is: the clinic (name, logo, time zone), the clinician and
 * the visit's time. Nothing about anyone else in the visit.
 */
export const VisitContext = Type.Object({
  clinic: Type.Object({ name: Type.String(), logoUrl: Nullable(Type.String()), timeZone: Type.String() }),
  /** The host clinician's name as the visit shows it. */
  clinicianName: Nullable(Type.String()),
  scheduledStart: IsoDateTime,
  endsAt: IsoDateTime,
});
export type VisitContext = Type.Static<typeof VisitContext>;

/** What joining answers: the participant's session credential and where they stand. */
export const JoinResult = Type.Object({
  /** Send as `Authorization: Bearer <session>` (or use the cookie set with it). */
  session: Type.String(),
  expiresAt: IsoDateTime,
  visit: Type.Object({ id: Uuid, status: VisitStatus, scheduledStart: IsoDateTime, joinOpensAt: IsoDateTime, joinClosesAt: IsoDateTime }),
  participant: VisitParticipant,
  /** Consents this participant must accept before the waiting room (the current texts). */
  consentsRequired: Type.Array(ConsentText),
  context: VisitContext,
});
export type JoinResult = Type.Static<typeof JoinResult>;

export const AcceptConsentBody = Type.Object(
  {
    kind: Type.Union([Type.Literal('telehealth'), Type.Literal('recording')]),
    /** The version the participant was shown; a newer text must be shown and accepted instead. */
    version: Type.String({ pattern: '^[A-Za-z0-9._-]{1,40}$' }),
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

export const DenyBody = Type.Object({ message: Type.Optional(Text({ maxLength: 500 })) }, { additionalProperties: false });
export const MuteBody = Type.Object(
  { audio: Type.Optional(Type.Boolean()), video: Type.Optional(Type.Boolean()) },
  { additionalProperties: false, minProperties: 1 },
);

export const VisitToken = Type.Object({
  token: Type.String({ description: "The media token; '' when held." }),
  url: Type.String({ description: "Where the SDK connects; '' when held." }),
  held: Type.Boolean({
    description:
      'No media connection yet: a waiting participant on a media provider that cannot keep a newcomer apart from its first moment (Twilio) holds only the participant channel, and is told there (`join`) to ask for a token again once admitted.',
  }),
  identity: Type.String(),
  room: Type.String(),
  expiresIn: Type.Integer(),
  provider: Type.String(),
  channel: ChannelAccess,
  /** Group visits: how media is shared out and what to publish (the SDK reads it). */
  media: Type.Optional(TokenMedia),
  /** Where the participant is: `admitted` (in the visit) or `waiting` (connected, receiving nothing until admitted). */
  admission: Admission,
  /** Whether the visit is being recorded now (show the indicator). */
  recording: Type.Boolean(),
  /** Consents to ask for now: the recording consent when the visit is recorded and this participant has not agreed
   * (until they do, they are kept out of the recording). */
  consentsRequired: Type.Array(ConsentText),
});
export type VisitToken = Type.Static<typeof VisitToken>;

// ---- recording, chat, summary, usage ---------------------------------------------------------------------

export const VisitRecordingState = Type.Object({
  recording: Type.Boolean(),
  recordingSince: Nullable(IsoDateTime),
  /** Participants in the visit now who are not recorded (not agreed yet, or in the waiting room). */
  notRecorded: Type.Array(Uuid),
});
export type VisitRecordingState = Type.Static<typeof VisitRecordingState>;

export const RecordingParams = Type.Object({ id: Uuid, recordingId: Uuid });

export const ChatMessage = Type.Object({
  id: Uuid,
  participantId: Uuid,
  role: VisitRole,
  displayName: Type.String(),
  body: Type.String(),
  /** A private note to one participant (the host's note to someone waiting); null: said to everyone in the call. */
  toParticipantId: Nullable(Uuid),
  createdAt: IsoDateTime,
});
export type ChatMessage = Type.Static<typeof ChatMessage>;

export const SendMessageBody = Type.Object({ body: Text({ maxLength: 4000 }) }, { additionalProperties: false });
export type SendMessageBody = Type.Static<typeof SendMessageBody>;
/** The host's short note to a waiting participant ("Running 5 minutes late"). */
export const NoteBody = Type.Object({ body: Text({ maxLength: 500 }) }, { additionalProperties: false });
export type NoteBody = Type.Static<typeof NoteBody>;

export const ListMessagesQuery = Type.Object(
  {
    /** Only messages after this one (the last id the client has). */
    after: Type.Optional(Uuid),
    limit: Type.Integer({ minimum: 1, maximum: 500, default: 200 }),
  },
  { additionalProperties: false },
);
export type ListMessagesQuery = Type.Static<typeof ListMessagesQuery>;

export const UsageFigures = Type.Object({
  participantMinutes: Type.Integer({ description: 'Each stay in the room rounded up to a whole minute, at least one, as providers bill (Twilio: Group-room participant-minutes).' }),
  recordedMinutes: Type.Integer({
    description:
      'Recorded participant-minutes: each stretch a participant was recorded, rounded up to a whole minute, at least one. Their files are merged first (Twilio writes one per track but bills per participant-minute recorded), so camera, microphone and screen recorded together count once.',
  }),
  compositionMinutes: Type.Integer({ description: 'Each composition (the whole room in one playable file) rounded up to a whole minute, at least one: Twilio bills per composed minute.' }),
  estimatedCost: Type.Number({ description: 'The total: costs.participants + costs.recordings + costs.compositions, in `currency`.' }),
  costs: Type.Object(
    {
      participants: Type.Number({ description: 'participantMinutes × USAGE_PARTICIPANT_MINUTE_RATE' }),
      recordings: Type.Number({ description: 'recordedMinutes × USAGE_RECORDING_MINUTE_RATE' }),
      compositions: Type.Number({ description: 'compositionMinutes × USAGE_COMPOSITION_MINUTE_RATE' }),
    },
    { description: 'The estimate item by item, each rounded to 4 decimals (the rates are the seeds’ Twilio list prices unless configured).' },
  ),
  currency: Type.String(),
});
export type UsageFigures = Type.Static<typeof UsageFigures>;

export const SurveyAnswer = Type.Object({
  participantId: Uuid,
  displayName: Type.String(),
  rating: Type.Integer({ minimum: 1, maximum: 5 }),
  comment: Nullable(Type.String()),
  createdAt: IsoDateTime,
});
export type SurveyAnswer = Type.Static<typeof SurveyAnswer>;

export const SurveyTokenBody = Type.Object({ token: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });
export const SurveyAnswerBody = Type.Object(
  {
    token: Type.String({ minLength: 1, maxLength: 200 }),
    /** 1 (poor) to 5 (excellent). */
    rating: Type.Integer({ minimum: 1, maximum: 5 }),
    comment: Type.Optional(Type.String({ maxLength: 2000 })),
  },
  { additionalProperties: false },
);
export type SurveyAnswerBody = Type.Static<typeof SurveyAnswerBody>;

export const SurveyInfo = Type.Object({
  visitId: Uuid,
  /** The clinic's name and logo, for the page's header. */
  clinic: Type.Object({ name: Type.String(), logoUrl: Nullable(Type.String()) }),
  clinicianName: Type.String(),
  endedAt: IsoDateTime,
  displayName: Type.String(),
  answered: Type.Boolean(),
});
export type SurveyInfo = Type.Static<typeof SurveyInfo>;

export const SummaryStay = Type.Object({
  joinedAt: IsoDateTime,
  leftAt: Nullable(IsoDateTime),
  durationSeconds: Nullable(Type.Integer()),
  leaveReason: Nullable(Type.String()),
  /**
   * Network quality while the stay's media flowed (0–5, 5 best; joining does not count): the time-weighted mean and
   * the worst level (0: the connection dropped); null when not measured.
   */
  qualityAverage: Nullable(Type.Number()),
  qualityMin: Nullable(Type.Integer()),
  /** When the participant's media (audio and video connection) first came up in this stay; null: not (yet) known, or never. */
  mediaStartedAt: Nullable(IsoDateTime),
  /** Seconds the participant's media connection was up during the stay; null until the stay ends (or not measured). */
  mediaSeconds: Nullable(Type.Integer()),
});

export const VisitSummary = Type.Object({
  visit: Visit,
  /** From the host opening it (or the first arrival) to its end (or now). */
  durationSeconds: Nullable(Type.Integer()),
  participants: Type.Array(
    Type.Object({
      id: Uuid,
      role: VisitRole,
      displayName: Type.String(),
      admission: Admission,
      stays: Type.Array(SummaryStay),
      /** Attendance: when they first came into the room (null: never), and last left it (null: never came, or still there). */
      firstJoinedAt: Nullable(IsoDateTime),
      lastLeftAt: Nullable(IsoDateTime),
      /** Seconds with media flowing, over the stays (a stay still open, or not measured, counts its time in the room). */
      secondsInVisit: Type.Integer(),
      /** Times the participant came back after their connection ended (a new stay in the room). */
      reconnects: Type.Integer(),
    }),
  ),
  consents: Type.Array(VisitConsent),
  recordings: Type.Array(Recording),
  chat: Type.Array(ChatMessage),
  quality: Type.Object({
    /** Mean of the stays' mean network quality (0–5, measured while media flowed), null when nothing was measured. */
    average: Nullable(Type.Number()),
    worst: Nullable(Type.Integer()),
    reconnects: Type.Integer(),
  }),
  usage: UsageFigures,
  surveyUrl: Nullable(Type.String()),
  /** Answers to OpenVisit's own post-visit survey. */
  surveys: Type.Array(SurveyAnswer),
});
export type VisitSummary = Type.Static<typeof VisitSummary>;

export const UsageQuery = Type.Object(
  { month: Type.Optional(Type.String({ format: 'year-month', description: 'YYYY-MM (UTC), 1900-01 to 9999-12; default the current month.' })) },
  { additionalProperties: false },
);
export type UsageQuery = Type.Static<typeof UsageQuery>;

export const Usage = Type.Object({
  month: Type.String(),
  /** Every room of the organisation (visits, group sessions, check-ins, rooms made through the API). */
  total: UsageFigures,
  rooms: Type.Integer(),
  visits: Type.Array(Type.Object({ visitId: Uuid, scheduledStart: IsoDateTime, status: VisitStatus, usage: UsageFigures })),
});
export type Usage = Type.Static<typeof Usage>;

// ---- group visits (docs/groups.md) ----------------------------------------------------------------------------

/** Add a co-host: another staff user of the organisation, with the host's rights in this visit. */
export const AddCohostBody = Type.Object({ userId: Uuid }, { additionalProperties: false });
export type AddCohostBody = Type.Static<typeof AddCohostBody>;

/** Raise or lower a hand (a participant their own; a host anyone's, to lower it). */
export const HandBody = Type.Object({ raised: Type.Boolean() }, { additionalProperties: false });
export type HandBody = Type.Static<typeof HandBody>;

/** Put a participant in the spotlight for everyone, or nobody (null). */
export const SpotlightBody = Type.Object({ participantId: Nullable(Uuid) }, { additionalProperties: false });
export type SpotlightBody = Type.Static<typeof SpotlightBody>;

/**
 * Mute everyone but the hosts (and everyone who joins later), or lift it. `selfUnmute` false: the server stops their
 * audio until a host asks them to unmute; true (default): their microphones are turned off and they may turn them on.
 */
export const MuteAllBody = Type.Object({ muted: Type.Boolean(), selfUnmute: Type.Optional(Type.Boolean()) }, { additionalProperties: false });
export type MuteAllBody = Type.Static<typeof MuteAllBody>;

/** Change how media is shared out, or the visit's limit. */
export const UpdateGroupBody = Type.Object(
  { mediaMode: Type.Optional(MediaMode), maxParticipants: Type.Optional(Type.Integer({ minimum: 1, maximum: 50 })) },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateGroupBody = Type.Static<typeof UpdateGroupBody>;

/** The name the other clients see, chosen by the participant when the organisation allows it. */
export const DisplayNameBody = Type.Object({ displayName: Text({ minLength: 1, maxLength: 60 }) }, { additionalProperties: false });
export type DisplayNameBody = Type.Static<typeof DisplayNameBody>;
