import Type from 'typebox';
import { IsoDateTime, Uuid } from './common.js';

export const AppointmentKind = Type.Union([Type.Literal('video'), Type.Literal('group'), Type.Literal('checkin')]);
export const AppointmentStatus = Type.Union([Type.Literal('scheduled'), Type.Literal('cancelled'), Type.Literal('completed'), Type.Literal('no_show')]);

export const Appointment = Type.Object({
  id: Uuid,
  kind: AppointmentKind,
  clinicianId: Uuid,
  patientIds: Type.Array(Uuid),
  startsAt: IsoDateTime,
  endsAt: IsoDateTime,
  durationMinutes: Type.Integer(),
  status: AppointmentStatus,
  createdAt: IsoDateTime,
  updatedAt: IsoDateTime,
});
export type Appointment = Type.Static<typeof Appointment>;

const Duration = Type.Integer({ minimum: 1, maximum: 1440, description: 'Minutes.' });
const PatientIds = Type.Array(Uuid, { minItems: 1, maxItems: 50, uniqueItems: true });

export const CreateAppointmentBody = Type.Object(
  {
    kind: AppointmentKind,
    clinicianId: Uuid,
    patientIds: PatientIds,
    startsAt: IsoDateTime,
    durationMinutes: Duration,
  },
  { additionalProperties: false },
);
export type CreateAppointmentBody = Type.Static<typeof CreateAppointmentBody>;

export const UpdateAppointmentBody = Type.Object(
  {
    clinicianId: Type.Optional(Uuid),
    patientIds: Type.Optional(PatientIds),
    startsAt: Type.Optional(IsoDateTime),
    durationMinutes: Type.Optional(Duration),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateAppointmentBody = Type.Static<typeof UpdateAppointmentBody>;

export const ListAppointmentsQuery = Type.Object({
  from: Type.Optional(IsoDateTime),
  to: Type.Optional(IsoDateTime),
  clinicianId: Type.Optional(Uuid),
  patientId: Type.Optional(Uuid),
  status: Type.Optional(AppointmentStatus),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
});
export type ListAppointmentsQuery = Type.Static<typeof ListAppointmentsQuery>;
