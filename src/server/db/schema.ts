import { sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  check,
  date,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  real,
  smallint,
  text,
  timestamp,
  unique,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

/**
 * The one schema, for PGlite and PostgreSQL alike. Every row belongs to an organisation (`org_id`);
 * child rows reference their parent through (org_id, id) so the database itself refuses a link that
 * crosses organisations. Column names say what a thing is, never which vendor provides it.
 */

const ts = (name: string) => timestamp(name, { withTimezone: true, mode: 'date' });
const createdAt = () => ts('created_at').notNull().defaultNow();

export const GROUP_NAME_POLICIES = ['first_initial', 'first', 'full', 'participant_n'] as const;
export type GroupNamePolicy = (typeof GROUP_NAME_POLICIES)[number];

export const organizations = pgTable('organizations', {
  id: uuid('id').primaryKey().defaultRandom(),
  slug: text('slug').notNull().unique(),
  name: text('name').notNull(),
  timeZone: text('time_zone').notNull().default('UTC'),
  /** An https URL (or a data: image) of the clinic's logo, shown to patients on their join pages. */
  logoUrl: text('logo_url'),
  /**
   * Group visits: how one client sees another (docs/groups.md): `first_initial` (Maria G., the default), `first`,
   * `full`, or `participant_n` (Participant 3). Staff always see full names.
   */
  groupNamePolicy: text('group_name_policy', { enum: GROUP_NAME_POLICIES }).notNull().default('first_initial'),
  /** Whether a client may choose the name the others in a group see (the policy's name otherwise). */
  groupSelfNames: boolean('group_self_names').notNull().default(false),
  /** Patients and guests a group visit admits at most, unless the visit sets its own (2–50). */
  groupMaxParticipants: integer('group_max_participants').notNull().default(50),
  createdAt: createdAt(),
}, (t) => [
  check('organizations_group_max_participants_check', sql`${t.groupMaxParticipants} between 2 and 50`),
]);

export const USER_ROLES = ['admin', 'clinician', 'caregiver'] as const;
export type UserRole = (typeof USER_ROLES)[number];

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id')
      .notNull()
      .references(() => organizations.id),
    /** Stored lower-cased; one account per email across the installation, so sign-in needs no org. */
    email: text('email').notNull(),
    name: text('name').notNull(),
    role: text('role', { enum: USER_ROLES }).notNull(),
    passwordHash: text('password_hash').notNull(),
    disabledAt: ts('disabled_at'),
    lastLoginAt: ts('last_login_at'),
    createdAt: createdAt(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('users_email_key').on(t.email),
    unique('users_org_id_id_key').on(t.orgId, t.id),
    index('users_org_created_idx').on(t.orgId, t.createdAt, t.id),
    check('users_role_check', sql`${t.role} in ('admin', 'clinician', 'caregiver')`),
  ],
);

export const sessions = pgTable(
  'sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    userId: uuid('user_id').notNull(),
    /** sha256 of the cookie value; the value itself is never stored. */
    tokenHash: text('token_hash').notNull(),
    ip: text('ip'),
    userAgent: text('user_agent'),
    createdAt: createdAt(),
    lastSeenAt: ts('last_seen_at').notNull().defaultNow(),
    expiresAt: ts('expires_at').notNull(),
    revokedAt: ts('revoked_at'),
  },
  (t) => [
    uniqueIndex('sessions_token_hash_key').on(t.tokenHash),
    index('sessions_user_idx').on(t.userId),
    foreignKey({ name: 'sessions_user_fk', columns: [t.orgId, t.userId], foreignColumns: [users.orgId, users.id] }),
  ],
);

export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id')
      .notNull()
      .references(() => organizations.id),
    name: text('name').notNull(),
    /** First characters of the key, shown in lists so people can tell keys apart. */
    prefix: text('prefix').notNull(),
    keyHash: text('key_hash').notNull(),
    createdByUserId: uuid('created_by_user_id'),
    createdAt: createdAt(),
    lastUsedAt: ts('last_used_at'),
    revokedAt: ts('revoked_at'),
  },
  (t) => [uniqueIndex('api_keys_key_hash_key').on(t.keyHash), index('api_keys_org_idx').on(t.orgId, t.createdAt, t.id)],
);

export const patients = pgTable(
  'patients',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id')
      .notNull()
      .references(() => organizations.id),
    givenName: text('given_name').notNull(),
    familyName: text('family_name').notNull(),
    dateOfBirth: date('date_of_birth', { mode: 'string' }),
    /** E.164, e.g. +15555550123. */
    phone: text('phone'),
    email: text('email'),
    timeZone: text('time_zone').notNull().default('UTC'),
    /** The host app's own identifier for this patient (an EHR's MRN or id). */
    externalId: text('external_id'),
    archivedAt: ts('archived_at'),
    createdAt: createdAt(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    unique('patients_org_id_id_key').on(t.orgId, t.id),
    uniqueIndex('patients_org_external_id_key').on(t.orgId, t.externalId),
    index('patients_org_created_idx').on(t.orgId, t.createdAt, t.id),
    index('patients_org_phone_idx').on(t.orgId, t.phone),
  ],
);

export const CONSENT_KINDS = ['telehealth', 'recording', 'sms', 'email'] as const;
export type ConsentKind = (typeof CONSENT_KINDS)[number];
export const CONSENT_METHODS = ['verbal', 'written', 'web', 'sms', 'ehr'] as const;
export type ConsentMethod = (typeof CONSENT_METHODS)[number];

/** Append-only: a revocation is a new row with status `revoked`; the latest row per kind is in force. */
export const patientConsents = pgTable(
  'patient_consents',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    patientId: uuid('patient_id').notNull(),
    kind: text('kind', { enum: CONSENT_KINDS }).notNull(),
    status: text('status', { enum: ['granted', 'revoked'] }).notNull(),
    method: text('method', { enum: CONSENT_METHODS }).notNull(),
    textVersion: text('text_version'),
    recordedByUserId: uuid('recorded_by_user_id'),
    recordedByApiKeyId: uuid('recorded_by_api_key_id'),
    ip: text('ip'),
    userAgent: text('user_agent'),
    recordedAt: ts('recorded_at').notNull().defaultNow(),
  },
  (t) => [
    index('patient_consents_patient_idx').on(t.orgId, t.patientId, t.kind, t.recordedAt),
    foreignKey({ name: 'patient_consents_patient_fk', columns: [t.orgId, t.patientId], foreignColumns: [patients.orgId, patients.id] }),
  ],
);

export const APPOINTMENT_KINDS = ['video', 'group', 'checkin'] as const;
/** Seed 002's bandwidth modes: equal quality, screen share first, many small tiles. */
export const MEDIA_MODES = ['collaboration', 'presentation', 'grid'] as const;
export type MediaMode = (typeof MEDIA_MODES)[number];
/** A room's media policy as stored (the rooms layer's MediaPolicy). */
export interface MediaPolicyRow {
  simulcast: boolean;
  mode: MediaMode;
  /** The identity everyone's view puts first (always forwarded, high layer); null: none. */
  spotlight: string | null;
  /** At most this many videos forwarded to one subscriber (a screen share comes on top). */
  lastN: number;
}
export type AppointmentKind = (typeof APPOINTMENT_KINDS)[number];
export const APPOINTMENT_STATUSES = ['scheduled', 'cancelled', 'completed', 'no_show'] as const;
export type AppointmentStatus = (typeof APPOINTMENT_STATUSES)[number];

export const appointments = pgTable(
  'appointments',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    kind: text('kind', { enum: APPOINTMENT_KINDS }).notNull(),
    clinicianId: uuid('clinician_id').notNull(),
    startsAt: ts('starts_at').notNull(),
    durationMinutes: integer('duration_minutes').notNull(),
    status: text('status', { enum: APPOINTMENT_STATUSES }).notNull().default('scheduled'),
    createdAt: createdAt(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    unique('appointments_org_id_id_key').on(t.orgId, t.id),
    index('appointments_org_starts_idx').on(t.orgId, t.startsAt, t.id),
    foreignKey({ name: 'appointments_clinician_fk', columns: [t.orgId, t.clinicianId], foreignColumns: [users.orgId, users.id] }),
    check('appointments_duration_check', sql`${t.durationMinutes} between 1 and 1440`),
  ],
);

export const appointmentPatients = pgTable(
  'appointment_patients',
  {
    orgId: uuid('org_id').notNull(),
    appointmentId: uuid('appointment_id').notNull(),
    patientId: uuid('patient_id').notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.appointmentId, t.patientId] }),
    index('appointment_patients_patient_idx').on(t.orgId, t.patientId),
    foreignKey({
      name: 'appointment_patients_appointment_fk',
      columns: [t.orgId, t.appointmentId],
      foreignColumns: [appointments.orgId, appointments.id],
    }).onDelete('cascade'),
    foreignKey({ name: 'appointment_patients_patient_fk', columns: [t.orgId, t.patientId], foreignColumns: [patients.orgId, patients.id] }),
  ],
);

export const ROOM_STATUSES = ['in-progress', 'completed'] as const;
export type RoomStatus = (typeof ROOM_STATUSES)[number];

/**
 * Rooms of any media provider. `name` is unique among an organisation's in-progress rooms (a completed
 * room's name may be used again, as with Twilio's UniqueName). Timeouts are in seconds.
 */
export const rooms = pgTable(
  'rooms',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id')
      .notNull()
      .references(() => organizations.id),
    name: text('name').notNull(),
    provider: text('provider').notNull(),
    providerRoomId: text('provider_room_id'),
    status: text('status', { enum: ROOM_STATUSES }).notNull().default('in-progress'),
    maxParticipants: integer('max_participants').notNull(),
    maxParticipantDurationS: integer('max_participant_duration_s').notNull(),
    emptyRoomTimeoutS: integer('empty_room_timeout_s').notNull(),
    unusedRoomTimeoutS: integer('unused_room_timeout_s').notNull(),
    providerData: jsonb('provider_data').$type<Record<string, unknown>>(),
    /**
     * What the room belongs to, when a feature made it (kind `visit` and the visit's id; later group sessions,
     * check-ins): features find their rooms by it, never by parsing names. Null for rooms made through the API.
     */
    ownerKind: text('owner_kind'),
    ownerId: uuid('owner_id'),
    /** Since when the room is being recorded; null while it is not (a restart starts recording again). */
    recordingSince: ts('recording_since'),
    /**
     * The room's deadline, when a feature set one (a check-in call's limit): the rooms layer ends the room then, for
     * `deadline_reason`, with a timer of the process and the sweep as its backstop (so a restart still ends it).
     */
    endsAt: ts('ends_at'),
    deadlineReason: text('deadline_reason'),
    /** How the room shares media out (src/server/rooms/provider.ts MediaPolicy): simulcast, mode, spotlight, last-N. Null: the defaults of a 1:1 room. */
    mediaPolicy: jsonb('media_policy').$type<MediaPolicyRow>(),
    createdAt: createdAt(),
    endedAt: ts('ended_at'),
    endReason: text('end_reason'),
  },
  (t) => [
    unique('rooms_org_id_id_key').on(t.orgId, t.id),
    uniqueIndex('rooms_org_name_in_progress_key')
      .on(t.orgId, t.name)
      .where(sql`${t.status} = 'in-progress'`),
    index('rooms_org_created_idx').on(t.orgId, t.createdAt, t.id),
    index('rooms_org_owner_idx')
      .on(t.orgId, t.ownerKind, t.ownerId, t.createdAt)
      .where(sql`${t.ownerId} is not null`),
    check('rooms_owner_check', sql`(${t.ownerKind} is null) = (${t.ownerId} is null)`),
    index('rooms_ends_at_idx')
      .on(t.endsAt)
      .where(sql`${t.status} = 'in-progress' and ${t.endsAt} is not null`),
  ],
);

/**
 * Where each identity's media goes in a room, as the rooms layer last set it (group, host mutes, recorded), and
 * the identity's revoked tokens: the provider keeps this in memory (builtin) or not at all, so the rooms layer
 * stores it and applies it again after a restart. A null column was never set (the provider's default applies).
 * A row may exist before the identity ever connects (a feature places people before handing out tokens).
 */
export const roomRouting = pgTable(
  'room_routing',
  {
    orgId: uuid('org_id').notNull(),
    roomId: uuid('room_id').notNull(),
    identity: text('identity').notNull(),
    group: text('group_name'),
    audioMuted: boolean('audio_muted'),
    videoMuted: boolean('video_muted'),
    recorded: boolean('recorded'),
    /** Tokens of this identity issued at or before this instant no longer get into the room. */
    tokensRevokedBefore: ts('tokens_revoked_before'),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.roomId, t.identity] }),
    foreignKey({ name: 'room_routing_room_fk', columns: [t.orgId, t.roomId], foreignColumns: [rooms.orgId, rooms.id] }),
  ],
);

export const roomParticipants = pgTable(
  'room_participants',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    roomId: uuid('room_id').notNull(),
    identity: text('identity').notNull(),
    status: text('status', { enum: ['connected', 'disconnected'] }).notNull(),
    joinedAt: ts('joined_at').notNull(),
    leftAt: ts('left_at'),
    durationS: integer('duration_s'),
    leaveReason: text('leave_reason'),
    /** Network quality while the stay's media flowed (0–5, the provider's scale): the time-weighted mean and the worst level; null if none. */
    qualityAvg: real('quality_avg'),
    qualityMin: smallint('quality_min'),
    /** When the participant's media first connected in this stay, and for how many seconds it was connected in all; null: never (or not reported). */
    mediaStartedAt: ts('media_started_at'),
    mediaS: integer('media_s'),
  },
  (t) => [
    index('room_participants_room_idx').on(t.orgId, t.roomId, t.joinedAt),
    foreignKey({ name: 'room_participants_room_fk', columns: [t.orgId, t.roomId], foreignColumns: [rooms.orgId, rooms.id] }),
  ],
);

/**
 * What a recording holds. The builtin provider writes 'camera' (camera and microphone in one file) and 'screen';
 * Twilio records per track ('camera' video, 'microphone' audio, 'screen') and makes one 'composition' per recorded
 * room (identity '': the whole room). A text column: no database constraint lists these, so a new kind needs
 * no migration.
 */
export const RECORDING_CONTENTS = ['camera', 'microphone', 'screen', 'composition'] as const;
export type RecordingContent = (typeof RECORDING_CONTENTS)[number];

/**
 * Recording files, one row per file (builtin: a participant's camera+microphone or screen, one segment each time
 * what they publish changes; Twilio: one per recorded track, plus the room's composition). `file` is relative to
 * RECORDINGS_DIR when the provider writes files here; `provider_ref` is the provider's id for it.
 */
export const roomRecordings = pgTable(
  'room_recordings',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    roomId: uuid('room_id').notNull(),
    identity: text('identity').notNull(),
    content: text('content', { enum: RECORDING_CONTENTS }).notNull(),
    status: text('status', { enum: ['recording', 'completed', 'failed'] }).notNull(),
    providerRef: text('provider_ref').notNull(),
    file: text('file'),
    /** As the provider declared it (builtin: video/webm); downloads are served with it. */
    mediaType: text('media_type').notNull(),
    startedAt: ts('started_at').notNull(),
    endedAt: ts('ended_at'),
    bytes: bigint('bytes', { mode: 'number' }),
    error: text('error'),
    /** When the retention period (or a person) deleted the file; the row stays as the record that it existed. */
    deletedAt: ts('deleted_at'),
  },
  (t) => [
    unique('room_recordings_provider_ref_key').on(t.providerRef),
    index('room_recordings_room_idx').on(t.orgId, t.roomId, t.startedAt),
    foreignKey({ name: 'room_recordings_room_fk', columns: [t.orgId, t.roomId], foreignColumns: [rooms.orgId, rooms.id] }),
  ],
);

export const VISIT_STATUSES = ['scheduled', 'open', 'in_progress', 'ended', 'cancelled', 'no_show'] as const;
export type VisitStatus = (typeof VISIT_STATUSES)[number];

/**
 * A telehealth visit: the session of an appointment (at most one visit per appointment) or an instant one.
 * Its room (through the rooms layer) exists from the moment the host opens it until it ends.
 */
export const visits = pgTable(
  'visits',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    appointmentId: uuid('appointment_id'),
    kind: text('kind', { enum: APPOINTMENT_KINDS }).notNull(),
    hostUserId: uuid('host_user_id').notNull(),
    status: text('status', { enum: VISIT_STATUSES }).notNull().default('scheduled'),
    scheduledStart: ts('scheduled_start').notNull(),
    durationMinutes: integer('duration_minutes').notNull(),
    /** Minutes the host added (extend time). */
    extendedMinutes: integer('extended_minutes').notNull().default(0),
    locked: boolean('locked').notNull().default(false),
    /** Since when the host has the visit recorded; null while it is not. */
    recordingSince: ts('recording_since'),
    /** Group visits: patients and guests admitted at most; null = the organisation's group_max_participants. */
    maxParticipants: integer('max_participants'),
    /** The participant a host put in the spotlight: the main picture for everyone, always forwarded. */
    spotlightParticipantId: uuid('spotlight_participant_id'),
    /** A host muted everyone (newcomers join muted); with self_unmute false the mute is enforced by the server. */
    mutedAll: boolean('muted_all').notNull().default(false),
    selfUnmute: boolean('self_unmute').notNull().default(true),
    /** How media is shared out at group size (seed 002's bandwidth modes). */
    mediaMode: text('media_mode', { enum: MEDIA_MODES }).notNull().default('collaboration'),
    roomId: uuid('room_id'),
    openedAt: ts('opened_at'),
    startedAt: ts('started_at'),
    endedAt: ts('ended_at'),
    endReason: text('end_reason'),
    createdAt: createdAt(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    unique('visits_org_id_id_key').on(t.orgId, t.id),
    uniqueIndex('visits_org_appointment_key')
      .on(t.orgId, t.appointmentId)
      .where(sql`${t.appointmentId} is not null`),
    index('visits_org_start_idx').on(t.orgId, t.scheduledStart, t.id),
    index('visits_org_host_start_idx').on(t.orgId, t.hostUserId, t.scheduledStart),
    foreignKey({ name: 'visits_appointment_fk', columns: [t.orgId, t.appointmentId], foreignColumns: [appointments.orgId, appointments.id] }),
    foreignKey({ name: 'visits_host_fk', columns: [t.orgId, t.hostUserId], foreignColumns: [users.orgId, users.id] }),
    foreignKey({ name: 'visits_room_fk', columns: [t.orgId, t.roomId], foreignColumns: [rooms.orgId, rooms.id] }),
    check('visits_duration_check', sql`${t.durationMinutes} between 1 and 1440 and ${t.extendedMinutes} between 0 and 1440`),
    check('visits_max_participants_check', sql`${t.maxParticipants} is null or ${t.maxParticipants} between 1 and 50`),
  ],
);

/** `cohost`: another staff user with the host's rights in the visit (group visits). */
export const VISIT_ROLES = ['host', 'cohost', 'patient', 'guest', 'interpreter', 'caregiver'] as const;
export type VisitRole = (typeof VISIT_ROLES)[number];
/** invited: has a link, not yet arrived; waiting: in the waiting room; admitted; denied; removed (by the host). */
export const ADMISSIONS = ['invited', 'waiting', 'admitted', 'denied', 'removed'] as const;
export type Admission = (typeof ADMISSIONS)[number];

/** Everyone who takes part in a visit. The row id is also the participant's media identity. */
export const visitParticipants = pgTable(
  'visit_participants',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    visitId: uuid('visit_id').notNull(),
    role: text('role', { enum: VISIT_ROLES }).notNull(),
    patientId: uuid('patient_id'),
    userId: uuid('user_id'),
    displayName: text('display_name').notNull(),
    admission: text('admission', { enum: ADMISSIONS }).notNull().default('invited'),
    /** What the host told a denied participant. */
    denyMessage: text('deny_message'),
    /** When the participant accepted the current telehealth consent for this visit. */
    telehealthConsentAt: ts('telehealth_consent_at'),
    recordingConsentAt: ts('recording_consent_at'),
    arrivedAt: ts('arrived_at'),
    admittedAt: ts('admitted_at'),
    /** A raised hand (the queue is in this order); null when lowered. */
    handRaisedAt: ts('hand_raised_at'),
    /** The name this client chose for the others in a group, when the organisation allows it. */
    chosenName: text('chosen_name'),
    createdAt: createdAt(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    unique('visit_participants_org_id_id_key').on(t.orgId, t.id),
    index('visit_participants_visit_idx').on(t.orgId, t.visitId, t.createdAt),
    uniqueIndex('visit_participants_host_key')
      .on(t.visitId)
      .where(sql`${t.role} = 'host'`),
    foreignKey({ name: 'visit_participants_visit_fk', columns: [t.orgId, t.visitId], foreignColumns: [visits.orgId, visits.id] }).onDelete('cascade'),
    foreignKey({ name: 'visit_participants_patient_fk', columns: [t.orgId, t.patientId], foreignColumns: [patients.orgId, patients.id] }),
    foreignKey({ name: 'visit_participants_user_fk', columns: [t.orgId, t.userId], foreignColumns: [users.orgId, users.id] }),
  ],
);

/** Join links: one per invitation. The link carries only its id, signed; expiry and revocation live here. */
export const visitLinks = pgTable(
  'visit_links',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    visitId: uuid('visit_id').notNull(),
    participantId: uuid('participant_id').notNull(),
    expiresAt: ts('expires_at').notNull(),
    revokedAt: ts('revoked_at'),
    lastUsedAt: ts('last_used_at'),
    createdAt: createdAt(),
  },
  (t) => [
    index('visit_links_visit_idx').on(t.orgId, t.visitId),
    foreignKey({ name: 'visit_links_participant_fk', columns: [t.orgId, t.participantId], foreignColumns: [visitParticipants.orgId, visitParticipants.id] }).onDelete('cascade'),
  ],
);

/** A participant's session, from exchanging a join link: `Authorization: Bearer ovp_…` or the participant cookie. */
export const participantSessions = pgTable(
  'participant_sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    visitId: uuid('visit_id').notNull(),
    participantId: uuid('participant_id').notNull(),
    tokenHash: text('token_hash').notNull(),
    linkId: uuid('link_id'),
    ip: text('ip'),
    userAgent: text('user_agent'),
    createdAt: createdAt(),
    expiresAt: ts('expires_at').notNull(),
    revokedAt: ts('revoked_at'),
  },
  (t) => [
    uniqueIndex('participant_sessions_token_hash_key').on(t.tokenHash),
    index('participant_sessions_participant_idx').on(t.orgId, t.participantId),
    foreignKey({ name: 'participant_sessions_participant_fk', columns: [t.orgId, t.participantId], foreignColumns: [visitParticipants.orgId, visitParticipants.id] }).onDelete('cascade'),
  ],
);

export const CONSENT_TEXT_KINDS = ['telehealth', 'recording'] as const;
export type ConsentTextKind = (typeof CONSENT_TEXT_KINDS)[number];

/** Versioned consent texts per organisation; the newest version of a kind is the one shown. Never edited. */
export const consentTexts = pgTable(
  'consent_texts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    kind: text('kind', { enum: CONSENT_TEXT_KINDS }).notNull(),
    version: text('version').notNull(),
    body: text('body').notNull(),
    createdByUserId: uuid('created_by_user_id'),
    createdAt: createdAt(),
  },
  (t) => [
    unique('consent_texts_org_id_id_key').on(t.orgId, t.id),
    uniqueIndex('consent_texts_org_kind_version_key').on(t.orgId, t.kind, t.version),
    index('consent_texts_org_kind_idx').on(t.orgId, t.kind, t.createdAt),
    foreignKey({ name: 'consent_texts_org_fk', columns: [t.orgId], foreignColumns: [organizations.id] }),
  ],
);

/** Each acceptance of a consent text by a visit participant: version, time, IP and user agent. Append-only. */
export const visitConsents = pgTable(
  'visit_consents',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    visitId: uuid('visit_id').notNull(),
    participantId: uuid('participant_id').notNull(),
    kind: text('kind', { enum: CONSENT_TEXT_KINDS }).notNull(),
    textVersion: text('text_version').notNull(),
    ip: text('ip'),
    userAgent: text('user_agent'),
    acceptedAt: ts('accepted_at').notNull().defaultNow(),
  },
  (t) => [
    index('visit_consents_visit_idx').on(t.orgId, t.visitId, t.acceptedAt),
    foreignKey({ name: 'visit_consents_participant_fk', columns: [t.orgId, t.participantId], foreignColumns: [visitParticipants.orgId, visitParticipants.id] }).onDelete('cascade'),
  ],
);

/** In-call chat, kept with the visit: visible to the visit's admitted participants and its host only. */
export const visitMessages = pgTable(
  'visit_messages',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    visitId: uuid('visit_id').notNull(),
    /** The sender (a visit participant: the host has one too). */
    participantId: uuid('participant_id').notNull(),
    /** A private message to one participant (a host's note to a waiting patient); null: to everyone in the call. */
    toParticipantId: uuid('to_participant_id'),
    body: text('body').notNull(),
    createdAt: createdAt(),
  },
  (t) => [
    index('visit_messages_visit_idx').on(t.orgId, t.visitId, t.createdAt, t.id),
    foreignKey({ name: 'visit_messages_visit_fk', columns: [t.orgId, t.visitId], foreignColumns: [visits.orgId, visits.id] }).onDelete('cascade'),
    foreignKey({ name: 'visit_messages_participant_fk', columns: [t.orgId, t.participantId], foreignColumns: [visitParticipants.orgId, visitParticipants.id] }).onDelete('cascade'),
    foreignKey({ name: 'visit_messages_to_participant_fk', columns: [t.orgId, t.toParticipantId], foreignColumns: [visitParticipants.orgId, visitParticipants.id] }).onDelete('cascade'),
  ],
);

/** A patient's answer to the post-visit survey (OpenVisit's own, when no external survey is configured). */
export const visitSurveys = pgTable(
  'visit_surveys',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    visitId: uuid('visit_id').notNull(),
    participantId: uuid('participant_id').notNull(),
    /** 1 (poor) to 5 (excellent). */
    rating: smallint('rating').notNull(),
    comment: text('comment'),
    createdAt: createdAt(),
  },
  (t) => [
    uniqueIndex('visit_surveys_participant_key').on(t.participantId),
    index('visit_surveys_visit_idx').on(t.orgId, t.visitId),
    check('visit_surveys_rating_check', sql`${t.rating} between 1 and 5`),
    foreignKey({ name: 'visit_surveys_participant_fk', columns: [t.orgId, t.participantId], foreignColumns: [visitParticipants.orgId, visitParticipants.id] }).onDelete('cascade'),
  ],
);

/** A host app's webhook endpoint: which events it wants and the secret deliveries are signed with. */
export const webhookSubscriptions = pgTable(
  'webhook_subscriptions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    url: text('url').notNull(),
    /** Event types (`visit.ended`), or a prefix with a star (`participant.*`), or `*` for all. */
    events: jsonb('events').$type<string[]>().notNull(),
    /** Standard Webhooks secret, `whsec_` + base64 of the key. */
    secret: text('secret').notNull(),
    description: text('description'),
    active: boolean('active').notNull().default(true),
    createdAt: createdAt(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    unique('webhook_subscriptions_org_id_id_key').on(t.orgId, t.id),
    index('webhook_subscriptions_org_idx').on(t.orgId, t.createdAt),
    foreignKey({ name: 'webhook_subscriptions_org_fk', columns: [t.orgId], foreignColumns: [organizations.id] }),
  ],
);

export const WEBHOOK_DELIVERY_STATUSES = ['pending', 'delivered', 'failed'] as const;

/** One event for one subscription: the message (its id is the `webhook-id` header) and where it stands. */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    subscriptionId: uuid('subscription_id').notNull(),
    /** The Standard Webhooks message id (`msg_…`), the same on every attempt and redelivery. */
    messageId: text('message_id').notNull(),
    eventType: text('event_type').notNull(),
    payload: jsonb('payload').$type<Record<string, unknown>>().notNull(),
    status: text('status', { enum: WEBHOOK_DELIVERY_STATUSES }).notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    createdAt: createdAt(),
    deliveredAt: ts('delivered_at'),
  },
  (t) => [
    unique('webhook_deliveries_org_id_id_key').on(t.orgId, t.id),
    index('webhook_deliveries_subscription_idx').on(t.orgId, t.subscriptionId, t.createdAt),
    foreignKey({ name: 'webhook_deliveries_subscription_fk', columns: [t.orgId, t.subscriptionId], foreignColumns: [webhookSubscriptions.orgId, webhookSubscriptions.id] }).onDelete('cascade'),
  ],
);

/** Each HTTP attempt of a delivery: when, the answer's status (null when none came) and how long it took. */
export const webhookAttempts = pgTable(
  'webhook_attempts',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    deliveryId: uuid('delivery_id').notNull(),
    attempt: integer('attempt').notNull(),
    at: ts('at').notNull().defaultNow(),
    statusCode: integer('status_code'),
    durationMs: integer('duration_ms').notNull(),
    error: text('error'),
  },
  (t) => [
    index('webhook_attempts_delivery_idx').on(t.orgId, t.deliveryId, t.attempt),
    foreignKey({ name: 'webhook_attempts_delivery_fk', columns: [t.orgId, t.deliveryId], foreignColumns: [webhookDeliveries.orgId, webhookDeliveries.id] }).onDelete('cascade'),
  ],
);

/* ---------------------------------------------------------------- patient messaging */

export const MESSAGE_CHANNELS = ['sms', 'email'] as const;
export type MessageChannel = (typeof MESSAGE_CHANNELS)[number];
export const MESSAGE_STATUSES = ['queued', 'sending', 'sent', 'delivered', 'undelivered', 'failed', 'received', 'canceled'] as const;
export type MessageStatus = (typeof MESSAGE_STATUSES)[number];
export const MESSAGE_PURPOSES = ['chat', 'visit_invite', 'appointment_reminder', 'intake_form', 'checkin_notice', 'keyword_reply', 'other'] as const;
export type MessagePurpose = (typeof MESSAGE_PURPOSES)[number];

/**
 * The conversation with patients, and the outbox: an outbound row is committed before any provider call, and
 * the worker claims due rows (`send_after`) with SKIP LOCKED under a lease (`locked_until`). `status_rank` only
 * grows (a late or duplicate status callback never moves a message backwards). Bodies and subjects are
 * encrypted at rest (messaging/crypto.ts). `patient_id` is null for an inbound message nobody matched yet.
 */
export const messages = pgTable(
  'messages',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    patientId: uuid('patient_id'),
    direction: text('direction', { enum: ['outbound', 'inbound'] }).notNull(),
    channel: text('channel', { enum: MESSAGE_CHANNELS }).notNull(),
    purpose: text('purpose', { enum: MESSAGE_PURPOSES }).notNull().default('chat'),
    toAddress: text('to_address').notNull(),
    fromAddress: text('from_address'),
    subjectEnc: text('subject_enc'),
    bodyEnc: text('body_enc').notNull(),
    status: text('status', { enum: MESSAGE_STATUSES }).notNull(),
    statusRank: smallint('status_rank').notNull(),
    urgent: boolean('urgent').notNull().default(false),
    provider: text('provider').notNull(),
    providerMessageId: text('provider_message_id'),
    errorCode: text('error_code'),
    errorReason: text('error_reason'),
    segments: integer('segments').notNull().default(1),
    encoding: text('encoding'),
    attempts: integer('attempts').notNull().default(0),
    sendAfter: ts('send_after').notNull().defaultNow(),
    lockedUntil: ts('locked_until'),
    /** When the latest attempt was handed to the provider (a crash after it leaves the outcome in doubt). */
    attemptStartedAt: ts('attempt_started_at'),
    idempotencyKey: text('idempotency_key'),
    appointmentId: uuid('appointment_id'),
    intakeRequestId: uuid('intake_request_id'),
    createdByUserId: uuid('created_by_user_id'),
    createdByApiKeyId: uuid('created_by_api_key_id'),
    createdAt: createdAt(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
    sentAt: ts('sent_at'),
    deliveredAt: ts('delivered_at'),
    failedAt: ts('failed_at'),
  },
  (t) => [
    unique('messages_org_id_id_key').on(t.orgId, t.id),
    index('messages_patient_idx').on(t.orgId, t.patientId, t.createdAt, t.id),
    index('messages_org_created_idx').on(t.orgId, t.createdAt, t.id),
    // Only what the outbox worker can claim: queued rows, and sends whose outcome is not known yet.
    index('messages_due_idx').on(t.sendAfter).where(sql`status = 'queued' or (status = 'sending' and provider_message_id is null)`),
    index('messages_to_idx').on(t.orgId, t.toAddress, t.createdAt),
    uniqueIndex('messages_provider_id_key').on(t.provider, t.providerMessageId),
    uniqueIndex('messages_idempotency_key').on(t.orgId, t.idempotencyKey),
    foreignKey({ name: 'messages_patient_fk', columns: [t.orgId, t.patientId], foreignColumns: [patients.orgId, patients.id] }),
  ],
);

export const TEMPLATE_KEYS = ['visit_invite', 'appointment_reminder', 'intake_form', 'checkin_notice', 'custom'] as const;
export type TemplateKey = (typeof TEMPLATE_KEYS)[number];

/** An organisation's message templates, `{{variable}}` placeholders from a fixed list (messaging/templates.ts). */
export const messageTemplates = pgTable(
  'message_templates',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull().references(() => organizations.id),
    name: text('name').notNull(),
    purpose: text('purpose', { enum: TEMPLATE_KEYS }).notNull(),
    channel: text('channel', { enum: MESSAGE_CHANNELS }).notNull(),
    subject: text('subject'),
    body: text('body').notNull(),
    /** The template this organisation uses for `purpose` on `channel` (one each). */
    isDefault: boolean('is_default').notNull().default(false),
    createdAt: createdAt(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    unique('message_templates_org_id_id_key').on(t.orgId, t.id),
    uniqueIndex('message_templates_org_name_key').on(t.orgId, t.name),
    uniqueIndex('message_templates_default_key').on(t.orgId, t.purpose, t.channel).where(sql`is_default`),
  ],
);

/**
 * Per organisation: the HELP reply, quiet hours and reminder offsets (absent = the configured defaults), and the
 * organisation's own SMS number or messaging service: an inbound text belongs to the organisation whose number or
 * service received it (each is held by one organisation at most).
 */
export const messagingSettings = pgTable(
  'messaging_settings',
  {
    orgId: uuid('org_id').primaryKey().references(() => organizations.id),
    helpText: text('help_text'),
    quietHoursStart: text('quiet_hours_start'),
    quietHoursEnd: text('quiet_hours_end'),
    reminderOffsetsMinutes: jsonb('reminder_offsets_minutes').$type<number[]>(),
    /** E.164: the number this organisation texts from and receives on. */
    smsNumber: text('sms_number'),
    /** A Twilio Messaging Service (MG…) this organisation sends through and receives on. */
    messagingServiceSid: text('messaging_service_sid'),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('messaging_settings_sms_number_key').on(t.smsNumber).where(sql`sms_number is not null`),
    uniqueIndex('messaging_settings_service_key').on(t.messagingServiceSid).where(sql`messaging_service_sid is not null`),
  ],
);

export interface IntakeField {
  id: string;
  label: string;
  type: 'text' | 'textarea' | 'yesno' | 'date' | 'choice';
  required: boolean;
  options?: string[];
}

export const intakeForms = pgTable(
  'intake_forms',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull().references(() => organizations.id),
    name: text('name').notNull(),
    description: text('description'),
    fields: jsonb('fields').$type<IntakeField[]>().notNull(),
    archivedAt: ts('archived_at'),
    createdAt: createdAt(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [unique('intake_forms_org_id_id_key').on(t.orgId, t.id)],
);

/** A form sent to a patient (a signed link), and their answers (encrypted) once submitted. */
export const intakeRequests = pgTable(
  'intake_requests',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    patientId: uuid('patient_id').notNull(),
    formId: uuid('form_id').notNull(),
    delivery: text('delivery', { enum: ['sms', 'email_sms', 'email'] }).notNull(),
    status: text('status', { enum: ['sent', 'submitted'] }).notNull().default('sent'),
    expiresAt: ts('expires_at').notNull(),
    answersEnc: text('answers_enc'),
    submittedAt: ts('submitted_at'),
    createdByUserId: uuid('created_by_user_id'),
    createdByApiKeyId: uuid('created_by_api_key_id'),
    createdAt: createdAt(),
  },
  (t) => [
    unique('intake_requests_org_id_id_key').on(t.orgId, t.id),
    index('intake_requests_patient_idx').on(t.orgId, t.patientId, t.createdAt),
    foreignKey({ name: 'intake_requests_patient_fk', columns: [t.orgId, t.patientId], foreignColumns: [patients.orgId, patients.id] }),
    foreignKey({ name: 'intake_requests_form_fk', columns: [t.orgId, t.formId], foreignColumns: [intakeForms.orgId, intakeForms.id] }),
  ],
);

/** Appointment reminders: one pg-boss job each, cancelled with the appointment. */
export const appointmentReminders = pgTable(
  'appointment_reminders',
  {
    orgId: uuid('org_id').notNull(),
    appointmentId: uuid('appointment_id').notNull(),
    patientId: uuid('patient_id').notNull(),
    offsetMinutes: integer('offset_minutes').notNull(),
    /** The appointment start this reminder was made for (a reschedule makes new reminders). */
    startsAt: ts('starts_at').notNull(),
    dueAt: ts('due_at').notNull(),
    jobId: text('job_id'),
    status: text('status', { enum: ['scheduled', 'sent', 'cancelled', 'skipped'] }).notNull().default('scheduled'),
    reason: text('reason'),
    messageId: uuid('message_id'),
    createdAt: createdAt(),
  },
  (t) => [
    primaryKey({ columns: [t.appointmentId, t.patientId, t.offsetMinutes, t.startsAt] }),
    index('appointment_reminders_org_idx').on(t.orgId, t.appointmentId),
    foreignKey({
      name: 'appointment_reminders_appointment_fk',
      columns: [t.orgId, t.appointmentId],
      foreignColumns: [appointments.orgId, appointments.id],
    }).onDelete('cascade'),
  ],
);

// ---- check-in calls: care circles, their members, calls and schedules ---------------------------------------------

export const CARE_MEMBER_KINDS = ['recipient', 'caregiver'] as const;
export type CareMemberKind = (typeof CARE_MEMBER_KINDS)[number];

/**
 * A care recipient's circle: the recipient (a patient record; kind `recipient`, one per patient) and their
 * caregivers (kind `caregiver`): a staff user with the caregiver role (`user_id`), or a family member invited by
 * link (`display_name`, `phone`). What each may do is per row. The row id is also the member's media identity in
 * a check-in call's room. A removed member keeps its row (history names it) and loses its sessions.
 */
export const careMembers = pgTable(
  'care_members',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    /** The care recipient (a patient) whose circle this is. */
    recipientId: uuid('recipient_id').notNull(),
    kind: text('kind', { enum: CARE_MEMBER_KINDS }).notNull(),
    /** A staff caregiver's account; null for the recipient and family members. */
    userId: uuid('user_id'),
    /** A family member's name (the recipient's comes from the patient record, a staff caregiver's from the user). */
    displayName: text('display_name'),
    /** How the member is related to the recipient, in the family's words ("daughter"); shown, never sent. */
    relationship: text('relationship'),
    /** A family member's mobile (E.164), for their invitation. */
    phone: text('phone'),
    canStart: boolean('can_start').notNull().default(true),
    canReceive: boolean('can_receive').notNull().default(true),
    createdAt: createdAt(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
    removedAt: ts('removed_at'),
  },
  (t) => [
    unique('care_members_org_id_id_key').on(t.orgId, t.id),
    index('care_members_recipient_idx').on(t.orgId, t.recipientId, t.createdAt),
    index('care_members_user_idx')
      .on(t.orgId, t.userId)
      .where(sql`${t.userId} is not null`),
    uniqueIndex('care_members_recipient_self_key')
      .on(t.orgId, t.recipientId)
      .where(sql`${t.kind} = 'recipient' and ${t.removedAt} is null`),
    uniqueIndex('care_members_recipient_user_key')
      .on(t.orgId, t.recipientId, t.userId)
      .where(sql`${t.userId} is not null and ${t.removedAt} is null`),
    foreignKey({ name: 'care_members_recipient_fk', columns: [t.orgId, t.recipientId], foreignColumns: [patients.orgId, patients.id] }),
    foreignKey({ name: 'care_members_user_fk', columns: [t.orgId, t.userId], foreignColumns: [users.orgId, users.id] }),
    check('care_members_kind_check', sql`${t.kind} in ('recipient', 'caregiver') and (${t.kind} = 'caregiver' or ${t.userId} is null)`),
  ],
);

/** Sign-in links of care members without an account (family members, the recipient's own device): `ovc_` links. */
export const careLinks = pgTable(
  'care_links',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    memberId: uuid('member_id').notNull(),
    /** A link texted for one call opens that call (and expires with its window). */
    callId: uuid('call_id'),
    expiresAt: ts('expires_at').notNull(),
    revokedAt: ts('revoked_at'),
    lastUsedAt: ts('last_used_at'),
    createdAt: createdAt(),
  },
  (t) => [
    index('care_links_member_idx').on(t.orgId, t.memberId),
    foreignKey({ name: 'care_links_member_fk', columns: [t.orgId, t.memberId], foreignColumns: [careMembers.orgId, careMembers.id] }),
  ],
);

/** A care member's session, from a care link: `Authorization: Bearer ovm_…` or the member cookie. */
export const memberSessions = pgTable(
  'member_sessions',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    memberId: uuid('member_id').notNull(),
    tokenHash: text('token_hash').notNull(),
    linkId: uuid('link_id'),
    ip: text('ip'),
    userAgent: text('user_agent'),
    createdAt: createdAt(),
    expiresAt: ts('expires_at').notNull(),
    revokedAt: ts('revoked_at'),
  },
  (t) => [
    uniqueIndex('member_sessions_token_hash_key').on(t.tokenHash),
    index('member_sessions_member_idx').on(t.orgId, t.memberId),
    foreignKey({ name: 'member_sessions_member_fk', columns: [t.orgId, t.memberId], foreignColumns: [careMembers.orgId, careMembers.id] }),
  ],
);

export const CHECKIN_FREQUENCIES = ['once', 'daily', 'weekly'] as const;
export type CheckinFrequency = (typeof CHECKIN_FREQUENCIES)[number];

/**
 * Scheduled check-ins: one-off (`once`, at `next_at`) or recurring at a wall-clock time in a time zone (`daily`, or
 * `weekly` on ISO weekdays 1–7). `next_at` is the next occurrence in UTC; the checkins sweep makes a call when it is
 * due and moves it on (a guarded update, so each occurrence makes one call whatever the number of processes).
 */
export const checkinSchedules = pgTable(
  'checkin_schedules',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    recipientId: uuid('recipient_id').notNull(),
    callerMemberId: uuid('caller_member_id').notNull(),
    calleeMemberId: uuid('callee_member_id').notNull(),
    durationS: integer('duration_s').notNull(),
    frequency: text('frequency', { enum: CHECKIN_FREQUENCIES }).notNull(),
    /** `HH:MM` in `time_zone` (recurring). */
    timeOfDay: text('time_of_day'),
    /** ISO weekdays (1 = Monday) for `weekly`. */
    weekdays: integer('weekdays').array(),
    timeZone: text('time_zone').notNull(),
    /** The next occurrence; null once a one-off has run or the schedule was cancelled. */
    nextAt: ts('next_at'),
    createdAt: createdAt(),
    cancelledAt: ts('cancelled_at'),
  },
  (t) => [
    unique('checkin_schedules_org_id_id_key').on(t.orgId, t.id),
    index('checkin_schedules_recipient_idx').on(t.orgId, t.recipientId, t.createdAt),
    index('checkin_schedules_due_idx')
      .on(t.nextAt)
      .where(sql`${t.nextAt} is not null`),
    foreignKey({ name: 'checkin_schedules_recipient_fk', columns: [t.orgId, t.recipientId], foreignColumns: [patients.orgId, patients.id] }),
    foreignKey({ name: 'checkin_schedules_caller_fk', columns: [t.orgId, t.callerMemberId], foreignColumns: [careMembers.orgId, careMembers.id] }),
    foreignKey({ name: 'checkin_schedules_callee_fk', columns: [t.orgId, t.calleeMemberId], foreignColumns: [careMembers.orgId, careMembers.id] }),
    check('checkin_schedules_duration_check', sql`${t.durationS} between 5 and 600`),
  ],
);

export const CHECKIN_STATUSES = ['requested', 'ringing', 'active', 'completed', 'missed', 'declined', 'cancelled', 'failed'] as const;
export type CheckinStatus = (typeof CHECKIN_STATUSES)[number];

/**
 * One check-in call between two members of a care circle, in a room of its own (owner kind `checkin`). `started_at`
 * is when both were connected (the server's timer starts there), `completed_at` when the room ended; `duration_ms`
 * is the time between them. `end_reason`: time_limit, ended_early (by `ended_by_member_id`, or a host app / staff),
 * disconnected, no_answer, declined, cancelled, no_connection, provider_error, server_restart_late.
 */
export const checkinCalls = pgTable(
  'checkin_calls',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    orgId: uuid('org_id').notNull(),
    recipientId: uuid('recipient_id').notNull(),
    callerMemberId: uuid('caller_member_id').notNull(),
    calleeMemberId: uuid('callee_member_id').notNull(),
    scheduleId: uuid('schedule_id'),
    roomId: uuid('room_id'),
    status: text('status', { enum: CHECKIN_STATUSES }).notNull().default('requested'),
    durationLimitS: integer('duration_limit_s').notNull(),
    /** Until when the parties are rung; unanswered then, the call is missed. */
    ringExpiresAt: ts('ring_expires_at').notNull(),
    ringStartedAt: ts('ring_started_at'),
    /** When each party answered (a caller who starts a call now has answered). */
    callerAnsweredAt: ts('caller_answered_at'),
    calleeAnsweredAt: ts('callee_answered_at'),
    /** When each party's open app showed the incoming call (it acknowledged the ring); null: not online. */
    callerAlertedAt: ts('caller_alerted_at'),
    calleeAlertedAt: ts('callee_alerted_at'),
    /** When the fallback text with the call's link was queued (for the recipient, through patient messaging). */
    textQueuedAt: ts('text_queued_at'),
    textMessageId: uuid('text_message_id'),
    callerJoinedAt: ts('caller_joined_at'),
    calleeJoinedAt: ts('callee_joined_at'),
    startedAt: ts('started_at'),
    completedAt: ts('completed_at'),
    durationMs: integer('duration_ms'),
    endReason: text('end_reason'),
    endedByMemberId: uuid('ended_by_member_id'),
    /** Who asked for the call: a member, a staff user, an API key or the schedule (`system`). */
    requestedByType: text('requested_by_type').notNull(),
    requestedById: text('requested_by_id'),
    createdAt: createdAt(),
    updatedAt: ts('updated_at').notNull().defaultNow(),
  },
  (t) => [
    unique('checkin_calls_org_id_id_key').on(t.orgId, t.id),
    index('checkin_calls_org_created_idx').on(t.orgId, t.createdAt, t.id),
    index('checkin_calls_recipient_idx').on(t.orgId, t.recipientId, t.createdAt),
    index('checkin_calls_caller_idx').on(t.orgId, t.callerMemberId, t.createdAt),
    index('checkin_calls_callee_idx').on(t.orgId, t.calleeMemberId, t.createdAt),
    index('checkin_calls_room_idx')
      .on(t.roomId)
      .where(sql`${t.roomId} is not null`),
    index('checkin_calls_open_idx')
      .on(t.ringExpiresAt)
      .where(sql`${t.status} in ('requested', 'ringing')`),
    foreignKey({ name: 'checkin_calls_recipient_fk', columns: [t.orgId, t.recipientId], foreignColumns: [patients.orgId, patients.id] }),
    foreignKey({ name: 'checkin_calls_caller_fk', columns: [t.orgId, t.callerMemberId], foreignColumns: [careMembers.orgId, careMembers.id] }),
    foreignKey({ name: 'checkin_calls_callee_fk', columns: [t.orgId, t.calleeMemberId], foreignColumns: [careMembers.orgId, careMembers.id] }),
    foreignKey({ name: 'checkin_calls_schedule_fk', columns: [t.orgId, t.scheduleId], foreignColumns: [checkinSchedules.orgId, checkinSchedules.id] }),
    foreignKey({ name: 'checkin_calls_room_fk', columns: [t.orgId, t.roomId], foreignColumns: [rooms.orgId, rooms.id] }),
    check('checkin_calls_duration_check', sql`${t.durationLimitS} between 5 and 600 and ${t.callerMemberId} <> ${t.calleeMemberId}`),
  ],
);

/**
 * The audit log (HIPAA 164.312(b)). Append-only (a trigger refuses UPDATE and DELETE). Events form one
 * hash chain per organisation (`chain` = the organisation id, or `system` for events with none):
 * hash = sha256(prev_hash + canonical JSON of the event). Only ids and codes, never PHI content.
 */
export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    chain: text('chain').notNull(),
    seq: integer('seq').notNull(),
    orgId: uuid('org_id'),
    at: ts('at').notNull(),
    actorType: text('actor_type', { enum: ['user', 'api_key', 'system', 'anonymous', 'participant', 'member'] }).notNull(),
    actorId: text('actor_id'),
    action: text('action').notNull(),
    targetType: text('target_type'),
    targetId: text('target_id'),
    requestId: text('request_id'),
    ip: text('ip'),
    outcome: text('outcome', { enum: ['success', 'failure'] }).notNull(),
    details: jsonb('details').$type<Record<string, string | number | boolean | null>>(),
    prevHash: text('prev_hash').notNull(),
    hash: text('hash').notNull(),
  },
  (t) => [
    uniqueIndex('audit_events_chain_seq_key').on(t.chain, t.seq),
    index('audit_events_org_idx').on(t.orgId, t.id),
    index('audit_events_target_idx').on(t.orgId, t.targetType, t.targetId),
  ],
);

export const schema = {
  organizations,
  users,
  sessions,
  apiKeys,
  patients,
  patientConsents,
  appointments,
  appointmentPatients,
  rooms,
  roomParticipants,
  roomRecordings,
  roomRouting,
  visits,
  visitParticipants,
  visitLinks,
  participantSessions,
  consentTexts,
  visitConsents,
  visitMessages,
  visitSurveys,
  webhookSubscriptions,
  webhookDeliveries,
  webhookAttempts,
  messages,
  messageTemplates,
  messagingSettings,
  intakeForms,
  intakeRequests,
  appointmentReminders,
  careMembers,
  careLinks,
  memberSessions,
  checkinSchedules,
  checkinCalls,
  auditEvents,
};
export type Schema = typeof schema;
