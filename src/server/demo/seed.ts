import { sql } from 'drizzle-orm';
import { createAppointment } from '../appointments/service.js';
import { recordAudit } from '../audit/service.js';
import { addCaregiver } from '../checkins/care.js';
import { systemCtx } from '../context.js';
import type { Db } from '../db/index.js';
import { organizations, type UserRole } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { createOrganization, findOrganizationBySlug } from '../orgs/service.js';
import { createIntakeForm } from '../messaging/intake.js';
import { createPatient, patientDeps, recordConsent } from '../patients/service.js';
import type { OrgEvents } from '../realtime/events.js';
import { createUser } from '../users/service.js';

/** The demo organisation: fictional people, 555 numbers, a day of appointments. Never for real use. */
export const DEMO_SLUG = 'demo';
export const DEMO_PASSWORD = 'demo-password';
export const DEMO_USERS: readonly { email: string; name: string; role: UserRole }[] = [
  { email: 'admin@demo.test', name: 'Avery Admin', role: 'admin' },
  { email: 'patel@demo.test', name: 'Dr. Maya Patel', role: 'clinician' },
  { email: 'rivera@demo.test', name: 'Dr. Sam Rivera', role: 'clinician' },
  { email: 'carla@demo.test', name: 'Carla Nguyen', role: 'caregiver' },
];

const DEMO_PATIENTS = [
  { givenName: 'Jordan', familyName: 'Lee', dateOfBirth: '1988-04-12', phone: '+15555550101', email: 'jordan.lee@example.com', timeZone: 'America/New_York' },
  { givenName: 'Priya', familyName: 'Shah', dateOfBirth: '1975-09-30', phone: '+15555550102', email: 'priya.shah@example.com', timeZone: 'America/Chicago' },
  { givenName: 'Marcus', familyName: 'Brown', dateOfBirth: '1992-01-05', phone: '+15555550103', email: null, timeZone: 'America/Denver' },
  { givenName: 'Elena', familyName: 'García', dateOfBirth: '1960-06-18', phone: '+15555550104', email: 'elena.garcia@example.com', timeZone: 'America/Los_Angeles' },
  { givenName: 'Tom', familyName: 'Okafor', dateOfBirth: '2001-11-23', phone: '+15555550105', email: 'tom.okafor@example.com', timeZone: 'America/New_York' },
  { givenName: 'Rose', familyName: 'Whitfield', dateOfBirth: '1938-02-14', phone: '+15555550106', email: null, timeZone: 'America/New_York' },
] as const;

export async function databaseIsEmpty(db: Db): Promise<boolean> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(organizations);
  return (row?.n ?? 0) === 0;
}

export interface DemoSummary {
  orgId: string;
  users: readonly { email: string; role: UserRole }[];
  password: string;
  patients: number;
  appointments: number;
  /** Rose's granddaughter in her care circle: a family member, who signs in with a care link. */
  familyMemberId: string;
}

/**
 * Seeds the demo organisation through the same domain functions the API uses, so every row is
 * audited like any other. Appointments are placed around the current time so "today" has a schedule.
 */
export async function seedDemo(db: Db, events: OrgEvents, now = new Date()): Promise<DemoSummary> {
  if (await findOrganizationBySlug(db, DEMO_SLUG)) throw new AppError('already_exists', 'The demo organisation already exists.');
  const org = await createOrganization(db, { slug: DEMO_SLUG, name: 'Demo Clinic', timeZone: 'America/New_York' });
  const ctx = systemCtx(org.id);
  const users = [];
  for (const u of DEMO_USERS) users.push(await createUser({ db, hub: events }, ctx, { ...u, password: DEMO_PASSWORD }));
  const deps = patientDeps(db, events, 'US');
  const patients = [];
  for (const p of DEMO_PATIENTS) patients.push(await createPatient(deps, ctx, p));
  // Most demo patients agreed to texts (Marcus did not: his chat shows why a text cannot go).
  for (const p of [patients[0]!, patients[1]!, patients[3]!, patients[4]!, patients[5]!]) {
    await recordConsent(deps, ctx, p.id, { kind: 'sms', status: 'granted', method: 'written', textVersion: 'demo' });
  }
  await createIntakeForm({ db }, ctx, {
    name: 'New patient questionnaire',
    description: 'A few questions before your first visit.',
    fields: [
      { id: 'reason', label: 'What would you like to talk about?', type: 'textarea', required: true },
      { id: 'first_visit', label: 'Is this your first visit with us?', type: 'yesno', required: true },
      { id: 'preferred_contact', label: 'How should we contact you?', type: 'choice', required: false, options: ['Text message', 'Email', 'Phone call'] },
      { id: 'pharmacy', label: 'Your pharmacy (name and town)', type: 'text', required: false },
    ],
  });

  const [patel, rivera] = [users[1]!, users[2]!];
  const slot = (minutesFromNow: number) => {
    const t = new Date(now.getTime() + minutesFromNow * 60_000);
    t.setUTCMinutes(Math.ceil(t.getUTCMinutes() / 5) * 5, 0, 0);
    return t.toISOString();
  };
  const plan = [
    { kind: 'video', clinicianId: patel.id, patientIds: [patients[0]!.id], startsAt: slot(10), durationMinutes: 50 },
    { kind: 'video', clinicianId: patel.id, patientIds: [patients[1]!.id], startsAt: slot(70), durationMinutes: 50 },
    { kind: 'video', clinicianId: rivera.id, patientIds: [patients[2]!.id], startsAt: slot(25), durationMinutes: 30 },
    // A group session (docs/groups.md): five of the patients with Dr. Rivera, to try the group screens and privacy.
    { kind: 'group', clinicianId: rivera.id, patientIds: [patients[3]!.id, patients[4]!.id, patients[2]!.id, patients[0]!.id, patients[1]!.id], startsAt: slot(120), durationMinutes: 90 },
    { kind: 'checkin', clinicianId: patel.id, patientIds: [patients[5]!.id], startsAt: slot(180), durationMinutes: 5 },
  ] as const;
  for (const a of plan) await createAppointment({ db, hub: events }, ctx, { ...a, patientIds: [...a.patientIds] });
  // Rose's care circle (check-in calls): Carla, the clinic's caregiver, and her granddaughter Dana (who signs in with a
  // care link an admin makes on Rose's page); Rose's own member is made with the first caregiver.
  const carla = users[DEMO_USERS.findIndex((u) => u.role === 'caregiver')]!;
  const care = { db, hub: events, defaultPhoneRegion: 'US' };
  await addCaregiver(care, ctx, patients[5]!.id, { userId: carla.id, relationship: 'Home care aide' });
  const dana = await addCaregiver(care, ctx, patients[5]!.id, { displayName: 'Dana Whitfield', relationship: 'Granddaughter', phone: '+15555550107' });
  await recordAudit(db, { orgId: org.id, actor: ctx.actor, action: 'demo.seeded', target: { type: 'organization', id: org.id }, details: { patients: patients.length, appointments: plan.length } });
  return { orgId: org.id, users: DEMO_USERS.map(({ email, role }) => ({ email, role })), password: DEMO_PASSWORD, patients: patients.length, appointments: plan.length, familyMemberId: dana.id };
}
