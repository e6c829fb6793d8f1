import assert from 'node:assert/strict';
import type { LightMyRequestResponse } from 'fastify';
import type { CheckinDeps } from '../../src/server/checkins/deps.js';
import { careMembers } from '../../src/server/db/schema.js';
import { linkSigningSecret } from '../../src/server/secrets.js';
import { createLinkSigner } from '../../src/server/visits/links.js';
import type { Checkin } from '../../src/shared/api/checkins.js';
import type { TestApp } from './app.js';
import { addStaff, type Caller, type StaffMember, type TestOrg } from './builders.js';
import { newPatient, waitFor } from './messaging.js';

/** The check-ins feature's deps as the plugin builds them (to drive the sweep's steps at a chosen time). */
export function checkinDeps(t: TestApp): CheckinDeps {
  const app = t.app;
  return {
    db: t.database.db,
    hub: app.realtime,
    rooms: app.rooms,
    notifier: app.messaging.notifier,
    careLinks: createLinkSigner(linkSigningSecret(t.config), 'join'),
    publicUrl: t.config.publicUrl,
    config: t.config.checkins,
  } as CheckinDeps;
}

export interface Circle {
  recipientId: string;
  /** The recipient's own member (its device acts through a member session, or an API key naming it). */
  recipient: { memberId: string };
  /** A staff caregiver (role caregiver) in the circle: acts as its member with its staff session. */
  caregiver: { memberId: string; staff: StaffMember };
  /** A family member (link sessions only). */
  family: { memberId: string };
}

/** A care circle: a patient (SMS consent granted, a phone), its recipient member, a staff caregiver and a family member. */
export async function newCircle(t: TestApp, org: TestOrg, options: { timeZone?: string; staff?: StaffMember; phone?: string; sms?: 'granted' | 'revoked' | null } = {}): Promise<Circle> {
  const patient = await newPatient(org, { phone: options.phone ?? '+15555550100', timeZone: options.timeZone ?? 'UTC', ...(options.sms !== undefined ? { sms: options.sms } : {}) });
  const staff = options.staff ?? (await addStaff(t.app, org.orgId, 'caregiver'));
  const db = t.database.db;
  const [recipient] = await db.insert(careMembers).values({ orgId: org.orgId, recipientId: patient.id, kind: 'recipient' }).returning();
  const [caregiver] = await db.insert(careMembers).values({ orgId: org.orgId, recipientId: patient.id, kind: 'caregiver', userId: staff.user.id }).returning();
  const [family] = await db.insert(careMembers).values({ orgId: org.orgId, recipientId: patient.id, kind: 'caregiver', displayName: 'Dana', relationship: 'daughter' }).returning();
  return { recipientId: patient.id, recipient: { memberId: recipient!.id }, caregiver: { memberId: caregiver!.id, staff }, family: { memberId: family!.id } };
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
