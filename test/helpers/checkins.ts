import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import type { CheckinDeps } from '../../src/server/checkins/deps.js';
import { linkSigningSecret } from '../../src/server/secrets.js';
import { createLinkSigner } from '../../src/server/visits/links.js';
import type { Checkin } from '../../src/shared/api/checkins.js';
import type { TestApp } from './app.js';
import { addStaff, caller, type Caller, type StaffMember, type TestOrg } from './builders.js';
import { newPatient, waitFor } from './messaging.js';

/** The check-ins feature's deps as the plugin builds them (to drive the sweep's steps at a chosen time). */
export function checkinDeps(t: TestApp): CheckinDeps {
  const app = t.app;
  return {
    db: t.database.db,
    hub: app.realtime,
    rooms: app.rooms,
    notifier: app.messaging.notifier,
    careLinks: createLinkSigner(linkSigningSecret(t.config), 'care'),
    publicUrl: t.config.publicUrl,
    defaultPhoneRegion: t.config.defaultPhoneRegion,
    config: t.config.checkins,
  };
}

export interface Circle {
  recipientId: string;
  /** The recipient's own member, signed in on its device (a member session from its care link). */
  recipient: { memberId: string; session: Caller };
  /** A staff caregiver (role caregiver) in the circle: acts as its member with its staff session. */
  caregiver: { memberId: string; staff: StaffMember };
  /** A family member, signed in with its care link. */
  family: { memberId: string; session: Caller };
}

/** Exchanges a care link for a member session (Authorization: Bearer ovm_…). */
export async function memberSession(t: TestApp, url: string): Promise<Caller> {
  const token = new URL(url).searchParams.get('t')!;
  const body = json<{ session: string }>(await caller(t.app).post('/api/v1/care/session', { token }));
  return caller(t.app, { authorization: `Bearer ${body.session}` });
}

/**
 * A care circle through the care API: a patient (SMS consent granted, a phone), its recipient member signed in on its
 * device, a staff caregiver and a family member signed in with its link.
 */
export async function newCircle(t: TestApp, org: TestOrg, options: { timeZone?: string; staff?: StaffMember; phone?: string; sms?: 'granted' | 'revoked' | null } = {}): Promise<Circle> {
  const patient = await newPatient(org, { phone: options.phone ?? '+15555550100', timeZone: options.timeZone ?? 'UTC', ...(options.sms !== undefined ? { sms: options.sms } : {}) });
  const staff = options.staff ?? (await addStaff(t.app, org.orgId, 'caregiver'));
  const base = `/api/v1/care/recipients/${patient.id}`;
  const recipientLink = json<{ memberId: string; url: string }>(await org.admin.post(`${base}/recipient-link`, {}), 201);
  const caregiver = json<{ id: string }>(await org.admin.post(`${base}/caregivers`, { userId: staff.user.id }), 201);
  const family = json<{ id: string }>(await org.admin.post(`${base}/caregivers`, { displayName: 'Dana', relationship: 'daughter' }), 201);
  const familyLink = json<{ url: string }>(await org.admin.post(`/api/v1/care/members/${family.id}/link`, {}), 201);
  return {
    recipientId: patient.id,
    recipient: { memberId: recipientLink.memberId, session: await memberSession(t, recipientLink.url) },
    caregiver: { memberId: caregiver.id, staff },
    family: { memberId: family.id, session: await memberSession(t, familyLink.url) },
  };
}

export function json<T>(res: LightMyRequestResponse, status = 200): T {
  assert.equal(res.statusCode, status, res.body);
  return res.json() as T;
}

export async function getCall(who: Caller, id: string): Promise<Checkin> {
  return json<Checkin>(await who.get(`/api/v1/checkins/${id}`));
}

/** Polls the call until `done` holds (bounded). */
export async function untilCall(who: Caller, id: string, done: (c: Checkin) => boolean, what: string, timeoutMs = 20_000): Promise<Checkin> {
  return waitFor(`check-in ${id} ${what}`, async () => {
    const c = await getCall(who, id);
    return done(c) ? c : undefined;
  }, timeoutMs, 25);
}
