import { IdParams, Page } from '../../shared/api/common.js';
import { Appointment, CreateAppointmentBody, ListAppointmentsQuery, UpdateAppointmentBody } from '../../shared/api/appointments.js';
import { ctxOf, type App } from '../context.js';
import { authErrors } from '../http/schemas.js';
import { cancelAppointment, createAppointment, getAppointment, listAppointments, updateAppointment, type AppointmentDeps } from './service.js';

const WRITERS = ['admin', 'clinician'] as const;

export async function appointmentRoutes(app: App): Promise<void> {
  const deps: AppointmentDeps = { db: app.deps.database.db, hub: app.realtime };
  const tags = ['appointments'];

  app.post(
    '/appointments',
    { config: { roles: WRITERS }, schema: { tags, summary: 'Schedule an appointment', body: CreateAppointmentBody, response: { 201: Appointment, ...authErrors } } },
    async (request, reply) => reply.status(201).send(await createAppointment(deps, ctxOf(request), request.body)),
  );

  app.get(
    '/appointments',
    { schema: { tags, summary: 'List appointments by start time (e.g. today’s schedule)', querystring: ListAppointmentsQuery, response: { 200: Page(Appointment), ...authErrors } } },
    async (request) => listAppointments(deps, ctxOf(request), request.query),
  );

  app.get(
    '/appointments/:id',
    { schema: { tags, summary: 'Get an appointment', params: IdParams, response: { 200: Appointment, ...authErrors } } },
    async (request) => getAppointment(deps, ctxOf(request), request.params.id),
  );

  app.patch(
    '/appointments/:id',
    { config: { roles: WRITERS }, schema: { tags, summary: 'Reschedule or reassign a scheduled appointment', params: IdParams, body: UpdateAppointmentBody, response: { 200: Appointment, ...authErrors } } },
    async (request) => updateAppointment(deps, ctxOf(request), request.params.id, request.body),
  );

  app.post(
    '/appointments/:id/cancel',
    { config: { roles: WRITERS }, schema: { tags, summary: 'Cancel a scheduled appointment', params: IdParams, response: { 200: Appointment, ...authErrors } } },
    async (request) => cancelAppointment(deps, ctxOf(request), request.params.id),
  );
}
