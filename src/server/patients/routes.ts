import Type from 'typebox';
import { IdParams, Page } from '../../shared/api/common.js';
import { Consent, CreatePatientBody, ListPatientsQuery, Patient, RecordConsentBody, UpdatePatientBody } from '../../shared/api/patients.js';
import { ctxOf, type App } from '../context.js';
import { authErrors } from '../http/schemas.js';
import {
  createPatient,
  getPatient,
  listConsents,
  listPatients,
  recordConsent,
  setPatientArchived,
  updatePatient,
  patientDeps,
  type PatientDeps,
} from './service.js';

/** Patients are records, not accounts. Admins and clinicians manage them; caregivers read. */
const WRITERS = ['admin', 'clinician'] as const;

export async function patientRoutes(app: App): Promise<void> {
  const deps: PatientDeps = patientDeps(app.deps.database.db, app.realtime, app.deps.config.defaultPhoneRegion);
  const tags = ['patients'];

  app.post(
    '/patients',
    { config: { roles: WRITERS }, schema: { tags, summary: 'Create a patient', body: CreatePatientBody, response: { 201: Patient, ...authErrors } } },
    async (request, reply) => reply.status(201).send(await createPatient(deps, ctxOf(request), request.body)),
  );

  app.get(
    '/patients',
    { schema: { tags, summary: 'List patients (search by name, phone, email or external id)', querystring: ListPatientsQuery, response: { 200: Page(Patient), ...authErrors } } },
    async (request) => listPatients(deps, ctxOf(request), request.query),
  );

  app.get(
    '/patients/:id',
    { schema: { tags, summary: 'Get a patient', params: IdParams, response: { 200: Patient, ...authErrors } } },
    async (request) => getPatient(deps, ctxOf(request), request.params.id),
  );

  app.patch(
    '/patients/:id',
    { config: { roles: WRITERS }, schema: { tags, summary: 'Update a patient', params: IdParams, body: UpdatePatientBody, response: { 200: Patient, ...authErrors } } },
    async (request) => updatePatient(deps, ctxOf(request), request.params.id, request.body),
  );

  app.post(
    '/patients/:id/archive',
    { config: { roles: WRITERS }, schema: { tags, summary: 'Archive a patient (hidden from lists; history kept)', params: IdParams, response: { 200: Patient, ...authErrors } } },
    async (request) => setPatientArchived(deps, ctxOf(request), request.params.id, true),
  );

  app.post(
    '/patients/:id/restore',
    { config: { roles: WRITERS }, schema: { tags, summary: 'Restore an archived patient', params: IdParams, response: { 200: Patient, ...authErrors } } },
    async (request) => setPatientArchived(deps, ctxOf(request), request.params.id, false),
  );

  app.get(
    '/patients/:id/consents',
    { schema: { tags, summary: "A patient's consent history, newest first", params: IdParams, response: { 200: Type.Object({ data: Type.Array(Consent) }), ...authErrors } } },
    async (request) => ({ data: await listConsents(deps, ctxOf(request), request.params.id) }),
  );

  app.post(
    '/patients/:id/consents',
    {
      config: { roles: WRITERS },
      schema: { tags, summary: 'Record a consent given or withdrawn (telehealth, recording, sms, email)', params: IdParams, body: RecordConsentBody, response: { 201: Consent, ...authErrors } },
    },
    async (request, reply) =>
      reply.status(201).send(await recordConsent(deps, ctxOf(request), request.params.id, { ...request.body, userAgent: request.headers['user-agent'] })),
  );
}
