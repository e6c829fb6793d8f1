import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { and, eq } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import { SESSION_COOKIE } from '../src/server/auth/secrets.js';
import { auditEvents, organizations } from '../src/server/db/schema.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { auditActions } from './helpers/audit.js';
import { caller, createTestOrg, errorOf, type TestOrg, expectStatus } from './helpers/builders.js';
import { DB_KINDS } from './helpers/db.js';

for (const kind of DB_KINDS) {
  describe(`organization on ${kind}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;

    before(async () => {
      t = await createTestApp(kind);
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
    });
    after(() => t.close());

    const orgRow = async (id: string) => (await t.database.db.select().from(organizations).where(eq(organizations.id, id)))[0]!;

    test('GET /organization answers the caller’s own organisation, for every role and API keys', async () => {
      for (const [org, other] of [
        [a, b],
        [b, a],
      ] as const) {
        for (const who of [org.admin, org.clinician, org.caregiver, org.apiKey]) {
          const res = await who.get('/api/v1/organization');
          assert.equal(res.statusCode, 200, res.body);
          const body = res.json();
          assert.deepEqual(Object.keys(body).sort(), ['createdAt', 'groupMaxParticipants', 'groupNamePolicy', 'groupSelfNames', 'id', 'logoUrl', 'name', 'slug', 'timeZone']);
          assert.equal(body.id, org.orgId);
          assert.equal(body.slug, org.slug);
          assert.equal(body.name, `Test clinic ${org.slug}`);
          assert.equal(body.timeZone, 'UTC');
          assert.ok(!res.body.includes(other.orgId) && !res.body.includes(other.slug));
        }
      }
    });

    test('PATCH renames and changes the time zone (admins); audited; other organisations untouched', async () => {
      const org = await createTestOrg(t.app);
      const bBefore = await orgRow(b.orgId);
      const res = await org.admin.patch('/api/v1/organization', { name: '  Riverside Clinic ', timeZone: 'America/New_York' });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().name, 'Riverside Clinic');
      assert.equal(res.json().timeZone, 'America/New_York');
      assert.equal(res.json().id, org.orgId);
      assert.equal(res.json().slug, org.slug, 'the slug never changes');

      const seen = (await org.caregiver.get('/api/v1/organization')).json();
      assert.equal(seen.name, 'Riverside Clinic');
      assert.equal(seen.timeZone, 'America/New_York');
      assert.equal((await org.apiKey.get('/api/v1/organization')).json().name, 'Riverside Clinic');

      const tzOnly = await org.admin.patch('/api/v1/organization', { timeZone: 'Europe/London' });
      assert.equal(tzOnly.json().name, 'Riverside Clinic', 'fields not sent are kept');
      assert.equal(tzOnly.json().timeZone, 'Europe/London');

      assert.deepEqual(await auditActions(t, org.orgId, org.orgId), ['org.created', 'org.updated', 'org.updated']);
      const [event] = await t.database.db.select().from(auditEvents).where(eq(auditEvents.requestId, res.headers['x-request-id'] as string));
      assert.equal(event!.action, 'org.updated');
      assert.equal(event!.actorId, org.admin.user.id);
      assert.equal(event!.details?.fields, 'name,timeZone');

      assert.deepEqual(await orgRow(b.orgId), bBefore);
      assert.equal((await b.admin.get('/api/v1/organization')).json().name, bBefore.name);
    });

    test('PATCH writes the group settings (name policy, self-chosen names, size limit); audited by field; bad values refused whole', async () => {
      const org = await createTestOrg(t.app);
      const before = (await org.admin.get('/api/v1/organization')).json();
      assert.deepEqual([before.groupNamePolicy, before.groupSelfNames, before.groupMaxParticipants], ['first_initial', false, 50]);
      const res = await org.admin.patch('/api/v1/organization', { groupNamePolicy: 'participant_n', groupSelfNames: true, groupMaxParticipants: 12 });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual([res.json().groupNamePolicy, res.json().groupSelfNames, res.json().groupMaxParticipants], ['participant_n', true, 12]);
      const row = await orgRow(org.orgId);
      assert.deepEqual([row.groupNamePolicy, row.groupSelfNames, row.groupMaxParticipants], ['participant_n', true, 12]);
      const [event] = await t.database.db.select().from(auditEvents).where(eq(auditEvents.requestId, res.headers['x-request-id'] as string));
      assert.equal(event!.details?.fields, 'groupMaxParticipants,groupNamePolicy,groupSelfNames');
      const one = await org.admin.patch('/api/v1/organization', { groupSelfNames: false });
      assert.deepEqual([one.json().groupNamePolicy, one.json().groupSelfNames, one.json().groupMaxParticipants], ['participant_n', false, 12], 'fields not sent are kept');

      const kept = await orgRow(org.orgId);
      for (const [input, path] of [
        [{ groupNamePolicy: 'surname' }, 'body/groupNamePolicy'],
        [{ groupMaxParticipants: 1 }, 'body/groupMaxParticipants'],
        [{ groupMaxParticipants: 51 }, 'body/groupMaxParticipants'],
        [{ groupSelfNames: 'yes', name: 'Half applied' }, 'body/groupSelfNames'],
      ] as const) {
        const bad = await org.admin.patch('/api/v1/organization', input);
        await expectStatus(bad, 400, 'validation_failed', JSON.stringify(input));
        assert.ok(((errorOf(bad).details ?? []) as { path: string }[]).some((d) => d.path === path), JSON.stringify(errorOf(bad).details));
      }
      assert.deepEqual(await orgRow(org.orgId), kept);
      await expectStatus(await org.clinician.patch('/api/v1/organization', { groupSelfNames: true }), 403, 'forbidden');
    });

    test('API keys act with service rights: they may update their own organisation, audited as the key', async () => {
      const org = await createTestOrg(t.app);
      const res = await org.apiKey.patch('/api/v1/organization', { timeZone: 'America/Chicago' });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().id, org.orgId);
      assert.equal((await orgRow(org.orgId)).timeZone, 'America/Chicago');
      assert.equal((await orgRow(a.orgId)).timeZone, 'UTC');
      const [event] = await t.database.db.select().from(auditEvents).where(eq(auditEvents.requestId, res.headers['x-request-id'] as string));
      assert.deepEqual([event!.action, event!.actorType, event!.actorId], ['org.updated', 'api_key', org.apiKey.id]);
    });

    test('PATCH is for admins: clinicians and caregivers get 403 and nothing changes', async () => {
      const before = await orgRow(a.orgId);
      for (const who of [a.clinician, a.caregiver]) {
        await expectStatus(await who.patch('/api/v1/organization', { name: 'Taken over' }), 403, 'forbidden');
        await expectStatus(await who.patch('/api/v1/organization', { timeZone: 'Asia/Tokyo' }), 403, 'forbidden');
      }
      assert.deepEqual(await orgRow(a.orgId), before);
      assert.deepEqual(await auditActions(t, a.orgId, a.orgId), ['org.created']);
    });

    test('PATCH validation: an unknown time zone is invalid_time_zone; other bad input validation_failed', async () => {
      const before = await orgRow(a.orgId);
      for (const timeZone of ['Mars/Olympus_Mons', 'EST5EDT-nope', 'America/New York']) {
        const res = await a.admin.patch('/api/v1/organization', { timeZone });
        await expectStatus(res, 400, 'invalid_time_zone', timeZone);
        assert.deepEqual(errorOf(res).details, [{ path: 'body/timeZone', message: 'is not a known time zone' }]);
      }
      // Nothing is half-applied when one field is bad.
      await expectStatus(await a.admin.patch('/api/v1/organization', { name: 'Half applied', timeZone: 'Nowhere/Land' }), 400, 'invalid_time_zone');

      for (const [input, paths] of [
        [{}, ['body']],
        [{ name: '' }, ['body/name']],
        [{ name: 'x'.repeat(201) }, ['body/name']],
        [{ name: 7 }, ['body/name']],
        [{ timeZone: '' }, ['body/timeZone']],
        [{ slug: 'renamed' }, ['body/slug']],
        [{ id: b.orgId, name: 'Other' }, ['body/id']],
        [{ name: '   ' }, ['body/name']],
      ] as const) {
        const res = await a.admin.patch('/api/v1/organization', input);
        await expectStatus(res, 400, 'validation_failed', JSON.stringify(input));
        assert.deepEqual(((errorOf(res).details ?? []) as { path: string }[]).map((d) => d.path).sort(), paths, JSON.stringify(input));
      }
      assert.deepEqual(await orgRow(a.orgId), before);
      assert.deepEqual(await auditActions(t, a.orgId, a.orgId), ['org.created']);
    });

    test('401 without credentials', async () => {
      const before = await orgRow(a.orgId);
      for (const headers of [{}, { cookie: `${SESSION_COOKIE}=forged` }, { authorization: 'Bearer ovk_forged' }, { authorization: 'Token abc' }] as Record<string, string>[]) {
        await expectStatus(await caller(t.app, headers).get('/api/v1/organization'), 401, 'unauthenticated', JSON.stringify(headers));
        await expectStatus(await caller(t.app, headers).patch('/api/v1/organization', { name: 'Anonymous' }), 401, 'unauthenticated', JSON.stringify(headers));
      }
      assert.deepEqual(await orgRow(a.orgId), before);
    });

    test('organisation B’s admin changes only B, whatever the body says', async () => {
      const org = await createTestOrg(t.app);
      const aBefore = await orgRow(a.orgId);
      await expectStatus(await org.admin.patch('/api/v1/organization', { id: a.orgId, name: 'Redirected' }), 400, 'validation_failed');
      const res = await org.admin.patch('/api/v1/organization', { name: 'Only mine' });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(res.json().id, org.orgId);
      assert.equal((await orgRow(org.orgId)).name, 'Only mine');
      assert.deepEqual(await orgRow(a.orgId), aBefore);
      const stray = await t.database.db.select().from(auditEvents).where(and(eq(auditEvents.targetId, a.orgId), eq(auditEvents.action, 'org.updated')));
      assert.deepEqual(stray, []);
    });
  });
}
