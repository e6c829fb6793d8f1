import Type from 'typebox';
import { IsoDate, IsoDateTime, Text, Uuid } from './common.js';

/**
 * Check-in calls: short video calls between a care recipient and their caregivers, ended by the server
 * (docs/checkins.md). A care circle is a recipient (a patient record) and its members; a call is between two
 * members of one circle, in a room of its own, with a limit of 5–600 s (default 15) counted from both connected.
 */

export const CareMemberKind = Type.Union([Type.Literal('recipient'), Type.Literal('caregiver')]);
export const CheckinStatus = Type.Union([
  Type.Literal('requested'),
  Type.Literal('ringing'),
  Type.Literal('active'),
  Type.Literal('completed'),
  Type.Literal('missed'),
  Type.Literal('declined'),
  Type.Literal('cancelled'),
  Type.Literal('failed'),
]);
export type CheckinStatus = Type.Static<typeof CheckinStatus>;
/** The states a call can no longer leave. */
export const FINAL_CHECKIN_STATUSES: readonly CheckinStatus[] = ['completed', 'missed', 'declined', 'cancelled', 'failed'];

/**
 * How a call ended: `time_limit` (the server's timer), `ended_early` (a party or staff ended it: `endedBy`),
 * `disconnected` (both left and nobody came back), `no_answer`, `declined`, `cancelled`, `no_connection` (answered
 * but the media never connected in time), `provider_error`.
 */
export const CheckinEndReason = Type.Union([
  Type.Literal('time_limit'),
  Type.Literal('ended_early'),
  Type.Literal('disconnected'),
  Type.Literal('no_answer'),
  Type.Literal('declined'),
  Type.Literal('cancelled'),
  Type.Literal('no_connection'),
  Type.Literal('provider_error'),
]);
export type CheckinEndReason = Type.Static<typeof CheckinEndReason>;

export const DurationSeconds = Type.Integer({ minimum: 5, maximum: 600, description: 'The call length from both connected, 5–600 s (default 15).' });

export const CareMember = Type.Object({
  id: Uuid,
  recipientId: Uuid,
  kind: CareMemberKind,
  /** A staff caregiver's user id; null for the recipient and family members. */
  userId: Type.Union([Uuid, Type.Null()]),
  /** The name to show: the recipient's (patient record), the staff user's, or the family member's. */
  displayName: Type.String(),
  relationship: Type.Union([Type.String(), Type.Null()]),
  canStart: Type.Boolean(),
  canReceive: Type.Boolean(),
  createdAt: IsoDateTime,
  removed: Type.Boolean(),
});
export type CareMember = Type.Static<typeof CareMember>;

export const AddCaregiverBody = Type.Object(
  {
    /** A staff user with the caregiver role… */
    userId: Type.Optional(Uuid),
    /** …or a family member, invited by link. */
    displayName: Type.Optional(Text({ maxLength: 100 })),
    relationship: Type.Optional(Text({ maxLength: 60 })),
    phone: Type.Optional(Type.String({ minLength: 3, maxLength: 40, description: 'A family member’s mobile, for the invitation text (stored as E.164).' })),
    canStart: Type.Optional(Type.Boolean()),
    canReceive: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, description: 'Exactly one of userId (staff caregiver) and displayName (family member).' },
);
export type AddCaregiverBody = Type.Static<typeof AddCaregiverBody>;

export const UpdateCareMemberBody = Type.Object(
  {
    relationship: Type.Optional(Type.Union([Text({ maxLength: 60 }), Type.Null()])),
    canStart: Type.Optional(Type.Boolean()),
    canReceive: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateCareMemberBody = Type.Static<typeof UpdateCareMemberBody>;

/** A sign-in link for a member without an account (family member, or the recipient's own device). Shown once. */
export const CareLink = Type.Object({ memberId: Uuid, url: Type.String(), expiresAt: IsoDateTime });
export type CareLink = Type.Static<typeof CareLink>;

export const CareLinkExchangeBody = Type.Object({ token: Type.String({ minLength: 1, maxLength: 128 }) }, { additionalProperties: false });

/** Who the caller is in the check-in app, and the people they can call. */
export const CareMe = Type.Object({
  org: Type.Object({ name: Type.String(), logoUrl: Type.Union([Type.String(), Type.Null()]) }),
  /** The memberships of the caller (a staff caregiver may be in several circles; a link session is one member). */
  members: Type.Array(
    Type.Object({
      member: CareMember,
      recipient: Type.Object({ id: Uuid, displayName: Type.String(), timeZone: Type.String() }),
      /** The others in this circle the member may call (they can receive; the member can start). */
      contacts: Type.Array(CareMember),
    }),
  ),
});
export type CareMe = Type.Static<typeof CareMe>;

/** A care link exchanged: the member's session (also set as the `ov_member` cookie) and who they are. */
export const CareSession = Type.Object({
  /** `ovm_…`: send as `Authorization: Bearer` from an app that does not keep cookies. Shown once. */
  session: Type.String(),
  expiresAt: IsoDateTime,
  me: CareMe,
  /** A call's link (texted to a callee who was not online) opens that call. */
  checkinId: Type.Optional(Uuid),
});
export type CareSession = Type.Static<typeof CareSession>;

export const RecipientParams = Type.Object({ patientId: Uuid });

export const CheckinParty = Type.Object({
  memberId: Uuid,
  displayName: Type.String(),
  kind: CareMemberKind,
  /** A caregiver's relationship to the recipient ("Daughter"), as the circle has it; null for the recipient and when none was given. */
  relationship: Type.Union([Type.String(), Type.Null()]),
  answeredAt: Type.Union([IsoDateTime, Type.Null()]),
  joinedAt: Type.Union([IsoDateTime, Type.Null()]),
});

export const Checkin = Type.Object({
  id: Uuid,
  recipientId: Uuid,
  status: CheckinStatus,
  caller: CheckinParty,
  callee: CheckinParty,
  scheduleId: Type.Union([Uuid, Type.Null()]),
  durationLimitSeconds: Type.Integer(),
  ringExpiresAt: IsoDateTime,
  /** Both connected: the server's timer started. */
  startedAt: Type.Union([IsoDateTime, Type.Null()]),
  /** The server's end of the call: startedAt + the limit unless it ended otherwise. */
  endsAt: Type.Union([IsoDateTime, Type.Null()]),
  completedAt: Type.Union([IsoDateTime, Type.Null()]),
  /** completedAt − startedAt, in milliseconds. */
  durationMs: Type.Union([Type.Integer(), Type.Null()]),
  endReason: Type.Union([CheckinEndReason, Type.Null()]),
  endedByMemberId: Type.Union([Uuid, Type.Null()]),
  /** A text with the call's link went to the callee (they were not online). */
  textSent: Type.Boolean(),
  createdAt: IsoDateTime,
});
export type Checkin = Type.Static<typeof Checkin>;

export const CreateCheckinBody = Type.Object(
  {
    /** Who calls; a member session or a staff caregiver calling as themselves may omit it. */
    callerMemberId: Type.Optional(Uuid),
    calleeMemberId: Uuid,
    durationSeconds: Type.Optional(DurationSeconds),
    /** How long the callee is rung before the call is missed, 15–600 s (default 120). */
    ringSeconds: Type.Optional(Type.Integer({ minimum: 15, maximum: 600 })),
  },
  { additionalProperties: false },
);
export type CreateCheckinBody = Type.Static<typeof CreateCheckinBody>;

export const CheckinTokenBody = Type.Object(
  {
    /** A host app's API key names which party it asks for; a member session or staff caregiver is its own party. */
    memberId: Type.Optional(Uuid),
  },
  { additionalProperties: false },
);

/** A media token for one party of one call, with the room's channel (the server's countdown and end come there). */
export const CheckinToken = Type.Object({
  token: Type.String(),
  room: Type.String(),
  identity: Type.String(),
  expiresIn: Type.Integer(),
  provider: Type.String(),
  url: Type.String(),
  held: Type.Boolean(),
  channel: Type.Object({ url: Type.String(), token: Type.String() }),
  checkin: Checkin,
});

export const Weekday = Type.Integer({ minimum: 1, maximum: 7, description: 'ISO weekday: 1 = Monday … 7 = Sunday.' });

export const CreateCheckinScheduleBody = Type.Object(
  {
    callerMemberId: Uuid,
    calleeMemberId: Uuid,
    durationSeconds: Type.Optional(DurationSeconds),
    /** `once` at `at`; `daily` / `weekly` at `time` (HH:MM) in `timeZone` (default: the recipient's). */
    frequency: Type.Union([Type.Literal('once'), Type.Literal('daily'), Type.Literal('weekly')]),
    at: Type.Optional(IsoDateTime),
    time: Type.Optional(Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', description: 'HH:MM, 24-hour.' })),
    weekdays: Type.Optional(Type.Array(Weekday, { minItems: 1, maxItems: 7, uniqueItems: true })),
    timeZone: Type.Optional(Text({ maxLength: 64 })),
  },
  { additionalProperties: false },
);
export type CreateCheckinScheduleBody = Type.Static<typeof CreateCheckinScheduleBody>;

export const CheckinSchedule = Type.Object({
  id: Uuid,
  recipientId: Uuid,
  callerMemberId: Uuid,
  calleeMemberId: Uuid,
  durationSeconds: Type.Integer(),
  frequency: Type.Union([Type.Literal('once'), Type.Literal('daily'), Type.Literal('weekly')]),
  time: Type.Union([Type.String(), Type.Null()]),
  weekdays: Type.Union([Type.Array(Type.Integer()), Type.Null()]),
  timeZone: Type.String(),
  /** The next occurrence (UTC); null once a one-off ran or the schedule was cancelled. */
  nextAt: Type.Union([IsoDateTime, Type.Null()]),
  cancelled: Type.Boolean(),
  createdAt: IsoDateTime,
});
export type CheckinSchedule = Type.Static<typeof CheckinSchedule>;

export const CheckinListQuery = Type.Object(
  {
    recipientId: Type.Optional(Uuid),
    /** Calls this member took part in (either side). */
    memberId: Type.Optional(Uuid),
    status: Type.Optional(CheckinStatus),
    from: Type.Optional(IsoDate),
    to: Type.Optional(IsoDate),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
    cursor: Type.Optional(Type.String({ maxLength: 200 })),
  },
  { additionalProperties: false },
);

export const CheckinStatsQuery = Type.Object(
  { recipientId: Type.Optional(Uuid), memberId: Type.Optional(Uuid), from: Type.Optional(IsoDate), to: Type.Optional(IsoDate) },
  { additionalProperties: false },
);

/** Counts per final status over the period, and completion: completed ÷ (all calls that ended except cancelled). */
export const CheckinStats = Type.Object({
  total: Type.Integer(),
  byStatus: Type.Record(Type.String(), Type.Integer()),
  completionRate: Type.Union([Type.Number(), Type.Null()]),
  /** The mean of completed calls' durationMs. */
  averageDurationMs: Type.Union([Type.Number(), Type.Null()]),
});
export type CheckinStats = Type.Static<typeof CheckinStats>;
