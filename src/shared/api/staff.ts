import Type from 'typebox';
import { IsoDateTime, Text, Uuid } from './common.js';

export const UserRole = Type.Union([Type.Literal('admin'), Type.Literal('clinician'), Type.Literal('caregiver')]);
export const Email = Type.String({ format: 'email', minLength: 3, maxLength: 254 });
export const Password = Type.String({ minLength: 10, maxLength: 200, description: 'At least 10 characters.' });
export const PersonName = Text({ maxLength: 200 });

/** `first_initial`: Maria G. (default); `first`: Maria; `full`: Maria Garcia; `participant_n`: Participant 3. */
export const GroupNamePolicy = Type.Union([Type.Literal('first_initial'), Type.Literal('first'), Type.Literal('full'), Type.Literal('participant_n')]);

export const Organization = Type.Object({
  id: Uuid,
  slug: Type.String(),
  name: Type.String(),
  timeZone: Type.String(),
  /** The clinic's logo, shown to patients on their join pages: an https URL or a data: URL of an image; null: none. */
  logoUrl: Type.Union([Type.String(), Type.Null()]),
  /** Group visits: how one client sees another (staff always see full names). */
  groupNamePolicy: GroupNamePolicy,
  /** Whether a client may choose the name the others in a group see. */
  groupSelfNames: Type.Boolean(),
  /** Patients and guests a group visit admits at most, unless the visit sets its own. */
  groupMaxParticipants: Type.Integer({ minimum: 2, maximum: 50 }),
  createdAt: IsoDateTime,
});
export type Organization = Type.Static<typeof Organization>;

export const User = Type.Object({
  id: Uuid,
  orgId: Uuid,
  email: Type.String(),
  name: Type.String(),
  role: UserRole,
  disabled: Type.Boolean(),
  lastLoginAt: Type.Union([IsoDateTime, Type.Null()]),
  createdAt: IsoDateTime,
  updatedAt: IsoDateTime,
});
export type User = Type.Static<typeof User>;

export const LoginBody = Type.Object({ email: Type.String({ minLength: 1, maxLength: 254 }), password: Type.String({ minLength: 1, maxLength: 200 }) }, { additionalProperties: false });
/** Where join links point, for the console to warn when patients on another device could not open them. */
export const LinkOrigin = Type.Object({
  /** PUBLIC_URL (or its default, http://localhost:PORT): every join, survey and intake link starts with it. */
  publicUrl: Type.String(),
  /** Whether PUBLIC_URL is set (false: the default above). */
  configured: Type.Boolean(),
  /** The links name this computer only (localhost, 127.0.0.0/8, ::1): no other device can open them. */
  loopback: Type.Boolean(),
  /** https, or a loopback http origin: browsers allow cameras and microphones only on a secure origin. */
  secure: Type.Boolean(),
});
export type LinkOrigin = Type.Static<typeof LinkOrigin>;
export const Me = Type.Object({ user: User, organization: Organization, links: LinkOrigin });

export const Session = Type.Object({
  id: Uuid,
  current: Type.Boolean(),
  ip: Type.Union([Type.String(), Type.Null()]),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  createdAt: IsoDateTime,
  lastSeenAt: IsoDateTime,
  expiresAt: IsoDateTime,
});

export const ChangePasswordBody = Type.Object({ currentPassword: Type.String({ minLength: 1, maxLength: 200 }), newPassword: Password }, { additionalProperties: false });

export const CreateUserBody = Type.Object({ email: Email, name: PersonName, role: UserRole, password: Password }, { additionalProperties: false });
export const UpdateUserBody = Type.Object(
  {
    name: Type.Optional(PersonName),
    role: Type.Optional(UserRole),
    disabled: Type.Optional(Type.Boolean({ description: 'Disabling signs the user out everywhere.' })),
    password: Type.Optional(Password),
  },
  { additionalProperties: false, minProperties: 1 },
);

export const ApiKey = Type.Object({
  id: Uuid,
  name: Type.String(),
  prefix: Type.String({ description: 'The first characters of the key, to tell keys apart.' }),
  createdAt: IsoDateTime,
  lastUsedAt: Type.Union([IsoDateTime, Type.Null()]),
  revokedAt: Type.Union([IsoDateTime, Type.Null()]),
});
export const CreateApiKeyBody = Type.Object({ name: Text({ maxLength: 100 }) }, { additionalProperties: false });
export const CreatedApiKey = Type.Object({ apiKey: ApiKey, key: Type.String({ description: 'Shown once; store it now.' }) });

/** The longest logo value accepted: a data: URL of an image up to LOGO_MAX_BYTES, base64-encoded, and its prefix. */
export const LOGO_MAX_BYTES = 100 * 1024;
export const LOGO_MAX_CHARS = Math.ceil(LOGO_MAX_BYTES / 3) * 4 + 64;
export const UpdateOrganizationBody = Type.Object(
  {
    name: Type.Optional(Text({ maxLength: 200 })),
    timeZone: Type.Optional(Text({ maxLength: 64 })),
    /** An https URL (up to 2048 characters) or a base64 data: URL of a PNG, JPEG, SVG or WebP image up to 100 KB; null removes it. */
    logoUrl: Type.Optional(Type.Union([Text({ maxLength: LOGO_MAX_CHARS }), Type.Null()])),
    groupNamePolicy: Type.Optional(GroupNamePolicy),
    groupSelfNames: Type.Optional(Type.Boolean()),
    groupMaxParticipants: Type.Optional(Type.Integer({ minimum: 2, maximum: 50 })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateOrganizationBody = Type.Static<typeof UpdateOrganizationBody>;
