import Type from 'typebox';
import { IsoDate, IsoDateTime, Text, Uuid } from './common.js';

const Name = Text({ maxLength: 100 });
const DateOnly = Type.String({ ...IsoDate, description: 'YYYY-MM-DD, from 1900-01-01 and not in the future.' });
const Phone = Type.String({ minLength: 3, maxLength: 40, description: 'Any common format; stored as E.164.' });
const Email = Type.String({ format: 'email', maxLength: 254 });
const TimeZone = Text({ maxLength: 64, description: 'IANA time zone, e.g. America/New_York.' });
const ExternalId = Text({ maxLength: 128, description: "The host app's id for this patient (e.g. an MRN)." });

export const ConsentKind = Type.Union([Type.Literal('telehealth'), Type.Literal('recording'), Type.Literal('sms'), Type.Literal('email')]);
export const ConsentMethod = Type.Union([Type.Literal('verbal'), Type.Literal('written'), Type.Literal('web'), Type.Literal('sms'), Type.Literal('ehr')]);

export const ConsentState = Type.Object({
  kind: ConsentKind,
  status: Type.Union([Type.Literal('granted'), Type.Literal('revoked')]),
  recordedAt: IsoDateTime,
});

export const Patient = Type.Object({
  id: Uuid,
  givenName: Type.String(),
  familyName: Type.String(),
  dateOfBirth: Type.Union([Type.String(), Type.Null()]),
  phone: Type.Union([Type.String(), Type.Null()]),
  email: Type.Union([Type.String(), Type.Null()]),
  timeZone: Type.String(),
  externalId: Type.Union([Type.String(), Type.Null()]),
  archived: Type.Boolean(),
  /** The consent in force per kind (the latest record of each). */
  consents: Type.Array(ConsentState),
  createdAt: IsoDateTime,
  updatedAt: IsoDateTime,
});
export type Patient = Type.Static<typeof Patient>;

export const CreatePatientBody = Type.Object(
  {
    givenName: Name,
    familyName: Name,
    dateOfBirth: Type.Optional(Type.Union([DateOnly, Type.Null()])),
    phone: Type.Optional(Type.Union([Phone, Type.Null()])),
    email: Type.Optional(Type.Union([Email, Type.Null()])),
    timeZone: Type.Optional(TimeZone),
    externalId: Type.Optional(Type.Union([ExternalId, Type.Null()])),
  },
  { additionalProperties: false },
);
export type CreatePatientBody = Type.Static<typeof CreatePatientBody>;

export const UpdatePatientBody = Type.Object(
  {
    givenName: Type.Optional(Name),
    familyName: Type.Optional(Name),
    dateOfBirth: Type.Optional(Type.Union([DateOnly, Type.Null()])),
    phone: Type.Optional(Type.Union([Phone, Type.Null()])),
    email: Type.Optional(Type.Union([Email, Type.Null()])),
    timeZone: Type.Optional(TimeZone),
    externalId: Type.Optional(Type.Union([ExternalId, Type.Null()])),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdatePatientBody = Type.Static<typeof UpdatePatientBody>;

export const ListPatientsQuery = Type.Object({
  q: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'Matches name, email, phone or external id.' })),
  archived: Type.Union([Type.Literal('false'), Type.Literal('true'), Type.Literal('all')], { default: 'false' }),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
});

export const Consent = Type.Object({
  id: Uuid,
  patientId: Uuid,
  kind: ConsentKind,
  status: Type.Union([Type.Literal('granted'), Type.Literal('revoked')]),
  method: ConsentMethod,
  textVersion: Type.Union([Type.String(), Type.Null()]),
  recordedBy: Type.Object({ type: Type.Union([Type.Literal('user'), Type.Literal('api_key'), Type.Literal('patient')]), id: Type.Union([Uuid, Type.Null()]) }),
  recordedAt: IsoDateTime,
});
export type Consent = Type.Static<typeof Consent>;

export const RecordConsentBody = Type.Object(
  {
    kind: ConsentKind,
    status: Type.Union([Type.Literal('granted'), Type.Literal('revoked')]),
    method: ConsentMethod,
    textVersion: Type.Optional(Text({ maxLength: 64 })),
  },
  { additionalProperties: false },
);
