// Check-in schedules (src/server/checkins/schedules.ts): the next occurrence as a pure function across daylight-saving
// changes (America/New_York 2026-03-08 and 2026-11-01, Europe/London), then the schedule routes and the sweep making
// the calls as they fall due, on both databases and both media providers (SETUPS).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import { checkinCalls, checkinSchedules } from '../src/server/db/schema.js';
import { nextOccurrence, wallTimeInstant, type Recurrence } from '../src/server/checkins/schedules.js';
import { runDueSchedules } from '../src/server/checkins/sweeper.js';
import { createTestApp, SETUPS, type TestApp } from './helpers/app.js';
import { auditActions } from './helpers/audit.js';
import { createTestOrg, detailPaths, expectStatus, type TestOrg } from './helpers/builders.js';
import { checkinDeps, newCircle, type Circle } from './helpers/checkins.js';

const NY = 'America/New_York';
const LONDON = 'Europe/London';
const iso = (d: Date | null) => d?.toISOString() ?? null;

describe('next occurrence (pure)', () => {
  test('daily 10:00 stays 10:00 local across both New York changes (UTC moves by an hour)', () => {
    const daily: Recurrence = { frequency: 'daily', time: '10:00', timeZone: NY };
    // Before spring forward: EST (UTC-5); after: EDT (UTC-4).
    assert.equal(iso(nextOccurrence(daily, new Date('2026-03-07T15:00:00Z'))), '2026-03-08T14:00:00.000Z');
    assert.equal(iso(nextOccurrence(daily, new Date('2026-03-07T14:59:00Z'))), '2026-03-07T15:00:00.000Z');
    assert.equal(iso(nextOccurrence(daily, new Date('2026-03-08T14:00:00Z'))), '2026-03-09T14:00:00.000Z');
    // Fall back: 2026-11-01 10:00 is EST again.
    assert.equal(iso(nextOccurrence(daily, new Date('2026-10-31T14:00:00Z'))), '2026-11-01T15:00:00.000Z');
    assert.equal(iso(nextOccurrence(daily, new Date('2026-10-31T13:59:59Z'))), '2026-10-31T14:00:00.000Z');
  });

  test('a wall time that does not exist (02:30 on 2026-03-08 in New York) moves to the first valid time, 03:00 EDT', () => {
    assert.equal(iso(wallTimeInstant(2026, 3, 8, 2, 30, NY)), '2026-03-08T07:00:00.000Z');
    assert.equal(iso(wallTimeInstant(2026, 3, 8, 2, 0, NY)), '2026-03-08T07:00:00.000Z');
    const daily: Recurrence = { frequency: 'daily', time: '02:30', timeZone: NY };
    assert.equal(iso(nextOccurrence(daily, new Date('2026-03-07T12:00:00Z'))), '2026-03-08T07:00:00.000Z');
    // The next day it is 02:30 EDT again.
    assert.equal(iso(nextOccurrence(daily, new Date('2026-03-08T07:00:00Z'))), '2026-03-09T06:30:00.000Z');
    // London springs forward at 01:00 GMT on 2026-03-29: 01:30 does not exist → 02:00 BST (01:00Z).
    assert.equal(iso(wallTimeInstant(2026, 3, 29, 1, 30, LONDON)), '2026-03-29T01:00:00.000Z');
  });

  test('an ambiguous wall time (01:30 on 2026-11-01 in New York) takes the first, earlier instant (EDT)', () => {
    assert.equal(iso(wallTimeInstant(2026, 11, 1, 1, 30, NY)), '2026-11-01T05:30:00.000Z');
    const daily: Recurrence = { frequency: 'daily', time: '01:30', timeZone: NY };
    assert.equal(iso(nextOccurrence(daily, new Date('2026-10-31T12:00:00Z'))), '2026-11-01T05:30:00.000Z');
    // Not again at the repeated 01:30 EST: the next is the following day.
    assert.equal(iso(nextOccurrence(daily, new Date('2026-11-01T05:30:00Z'))), '2026-11-02T06:30:00.000Z');
    // London falls back at 02:00 BST on 2026-10-25: 01:30 happens twice; the first is 00:30Z.
    assert.equal(iso(wallTimeInstant(2026, 10, 25, 1, 30, LONDON)), '2026-10-25T00:30:00.000Z');
  });

  test('Europe/London: daily 10:00 is 10:00Z in winter and 09:00Z in summer', () => {
    const daily: Recurrence = { frequency: 'daily', time: '10:00', timeZone: LONDON };
    assert.equal(iso(nextOccurrence(daily, new Date('2026-03-28T10:00:00Z'))), '2026-03-29T09:00:00.000Z');
    assert.equal(iso(nextOccurrence(daily, new Date('2026-10-24T09:00:00Z'))), '2026-10-25T10:00:00.000Z');
  });

  test('weekly on ISO weekdays, a zone ahead of UTC, and one-offs', () => {
    // 2026-03-06 is a Friday. Mondays and Wednesdays at 09:15 New York.
    const weekly: Recurrence = { frequency: 'weekly', time: '09:15', weekdays: [1, 3], timeZone: NY };
    assert.equal(iso(nextOccurrence(weekly, new Date('2026-03-06T12:00:00Z'))), '2026-03-09T13:15:00.000Z');
    assert.equal(iso(nextOccurrence(weekly, new Date('2026-03-09T13:15:00Z'))), '2026-03-11T13:15:00.000Z');
    assert.equal(iso(nextOccurrence(weekly, new Date('2026-03-11T13:15:00Z'))), '2026-03-16T13:15:00.000Z');
    // Sundays only.
    assert.equal(iso(nextOccurrence({ ...weekly, weekdays: [7] }, new Date('2026-03-06T12:00:00Z'))), '2026-03-08T13:15:00.000Z');
    // Tokyo 07:00 is 22:00Z the day before: the local day is what counts.
    assert.equal(iso(nextOccurrence({ frequency: 'daily', time: '07:00', timeZone: 'Asia/Tokyo' }, new Date('2026-05-01T21:00:00Z'))), '2026-05-01T22:00:00.000Z');
    const at = new Date('2026-06-01T10:00:00Z');
    assert.equal(iso(nextOccurrence({ frequency: 'once', at, timeZone: 'UTC' }, new Date('2026-05-01T00:00:00Z'))), at.toISOString());
    assert.equal(nextOccurrence({ frequency: 'once', at, timeZone: 'UTC' }, at), null);
    assert.equal(nextOccurrence({ frequency: 'weekly', time: '10:00', weekdays: [], timeZone: NY }, at), null);
  });
});

for (const setup of SETUPS) {
  describe(`check-in schedules on ${setup.label}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;
    let circle: Circle;

    before(async () => {
      t = await createTestApp(setup.db, { media: setup.media });
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
      circle = await newCircle(t, a, { timeZone: NY });
    });
    after(() => t.close());

    test('create (validation, permissions, the recipient’s zone by default), list, cancel; audited; another org 404', async () => {
      const path = `/api/v1/care/recipients/${circle.recipientId}/schedules`;
      const bad = await a.admin.post(path, { callerMemberId: circle.caregiver.memberId, calleeMemberId: circle.recipient.memberId, frequency: 'weekly' });
      expectStatus(bad, 400, 'validation_failed');
      assert.deepEqual(detailPaths(bad).sort(), ['body/time', 'body/weekdays']);
      expectStatus(await a.admin.post(path, { callerMemberId: circle.caregiver.memberId, calleeMemberId: circle.recipient.memberId, frequency: 'daily', time: '10:00', timeZone: 'Mars/Base' }), 400, 'validation_failed');
      expectStatus(await a.caregiver.post(path, { callerMemberId: circle.caregiver.memberId, calleeMemberId: circle.recipient.memberId, frequency: 'daily', time: '10:00' }), 403, 'forbidden');
      expectStatus(await b.admin.post(path, { callerMemberId: circle.caregiver.memberId, calleeMemberId: circle.recipient.memberId, frequency: 'daily', time: '10:00' }), 404, 'not_found');

      const res = await a.admin.post(path, { callerMemberId: circle.caregiver.memberId, calleeMemberId: circle.recipient.memberId, frequency: 'daily', time: '10:00', durationSeconds: 30 });
      assert.equal(res.statusCode, 201, res.body);
      const s = res.json();
      assert.equal(s.timeZone, NY);
      assert.equal(s.durationSeconds, 30);
      assert.equal(new Date(s.nextAt).toLocaleString('en-US', { timeZone: NY, hour: '2-digit', minute: '2-digit', hour12: false }), '10:00');
      const list = await a.clinician.get(path);
      assert.equal(list.statusCode, 200, list.body);
      assert.deepEqual(list.json().map((x: { id: string }) => x.id), [s.id]);
      expectStatus(await b.admin.get(path), 404, 'not_found');
      expectStatus(await b.admin.request('DELETE', `/api/v1/checkin-schedules/${s.id}`), 404, 'not_found');
      const del = await a.admin.request('DELETE', `/api/v1/checkin-schedules/${s.id}`);
      assert.equal(del.statusCode, 200, del.body);
      assert.equal(del.json().cancelled, true);
      assert.equal(del.json().nextAt, null);
      assert.deepEqual(await auditActions(t, a.orgId, s.id), ['checkin.schedule_created', 'checkin.schedule_cancelled']);
    });

    test('the sweep makes one call per due occurrence (both parties rung), moving a daily schedule to the next local 10:00 across each change', async () => {
      const path = `/api/v1/care/recipients/${circle.recipientId}/schedules`;
      const res = await a.admin.post(path, { callerMemberId: circle.caregiver.memberId, calleeMemberId: circle.recipient.memberId, frequency: 'daily', time: '10:00' });
      assert.equal(res.statusCode, 201, res.body);
      const id = res.json().id as string;
      // Occurrences ahead of the running sweeper (it never reaches them): the eve of New York's next spring change,
      // 2027-03-13 10:00 EST, swept as if it were that moment.
      await t.database.db.update(checkinSchedules).set({ nextAt: new Date('2027-03-13T15:00:00Z') }).where(eq(checkinSchedules.id, id));
      const log = { warn: () => {} };
      const sweepAt = new Date('2027-03-13T15:00:00.500Z');
      // Two sweeps racing (two processes): one call.
      const made = await Promise.all([runDueSchedules(checkinDeps(t), log, sweepAt), runDueSchedules(checkinDeps(t), log, sweepAt)]);
      assert.equal(made[0] + made[1], 1);
      const [row] = await t.database.db.select().from(checkinSchedules).where(eq(checkinSchedules.id, id));
      assert.equal(row!.nextAt!.toISOString(), '2027-03-14T14:00:00.000Z', '10:00 EDT');
      const calls = await t.database.db.select().from(checkinCalls).where(eq(checkinCalls.scheduleId, id));
      assert.equal(calls.length, 1);
      assert.equal(calls[0]!.status, 'ringing');
      assert.equal(calls[0]!.callerAnsweredAt, null, 'a scheduled call rings both parties');
      assert.equal(calls[0]!.requestedByType, 'system');
      assert.deepEqual(await auditActions(t, a.orgId, calls[0]!.id), ['checkin.requested', 'checkin.ringing']);
      // The fall change (2027-11-07) keeps 10:00 local: 14:00Z, then 15:00Z.
      await t.database.db.update(checkinSchedules).set({ nextAt: new Date('2027-11-06T14:00:00Z') }).where(eq(checkinSchedules.id, id));
      assert.equal(await runDueSchedules(checkinDeps(t), log, new Date('2027-11-06T14:00:01Z')), 1);
      const [moved] = await t.database.db.select().from(checkinSchedules).where(eq(checkinSchedules.id, id));
      assert.equal(moved!.nextAt!.toISOString(), '2027-11-07T15:00:00.000Z', '10:00 EST');
      // A sweep that comes late (no server ran for days) makes one call and moves on past now, not one per missed day.
      await t.database.db.update(checkinSchedules).set({ nextAt: new Date('2027-11-07T15:00:00Z') }).where(eq(checkinSchedules.id, id));
      assert.equal(await runDueSchedules(checkinDeps(t), log, new Date('2027-11-10T16:00:00Z')), 1);
      const [late] = await t.database.db.select().from(checkinSchedules).where(eq(checkinSchedules.id, id));
      assert.equal(late!.nextAt!.toISOString(), '2027-11-11T15:00:00.000Z');
      const all = await t.database.db.select().from(checkinCalls).where(eq(checkinCalls.scheduleId, id));
      for (const c of all) await a.admin.post(`/api/v1/checkins/${c.id}/end`, {});
      await a.admin.request('DELETE', `/api/v1/checkin-schedules/${id}`);
    });

    test('a one-off runs once, through the running sweeper', async () => {
      const path = `/api/v1/care/recipients/${circle.recipientId}/schedules`;
      const at = new Date(Date.now() + 1500);
      const res = await a.admin.post(path, { callerMemberId: circle.recipient.memberId, calleeMemberId: circle.caregiver.memberId, frequency: 'once', at: at.toISOString() });
      assert.equal(res.statusCode, 201, res.body);
      const id = res.json().id as string;
      const deadline = Date.now() + 10_000;
      let calls: (typeof checkinCalls.$inferSelect)[] = [];
      while (Date.now() < deadline) {
        calls = await t.database.db.select().from(checkinCalls).where(eq(checkinCalls.scheduleId, id));
        if (calls[0]?.status === 'ringing') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(calls.length, 1);
      assert.ok(calls[0]!.createdAt.getTime() >= at.getTime(), 'made when due');
      const [row] = await t.database.db.select().from(checkinSchedules).where(eq(checkinSchedules.id, id));
      assert.equal(row!.nextAt, null);
      const list = await a.admin.get(`/api/v1/checkins?recipientId=${circle.recipientId}&status=ringing`);
      assert.ok(list.json().data.some((c: { scheduleId: string }) => c.scheduleId === id), 'listed as ringing');
    });
  });
}
