import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestOrg, errorOf, type TestOrg } from './helpers/builders.js';
import { DB_KINDS } from './helpers/db.js';
import { allAuditRows, auditActions } from './helpers/audit.js';

for (const kind of DB_KINDS) {
  describe(`patients on ${kind}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;

    before(async () => {
      t = await createTestApp(kind);
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
    });
    after(() => t.close());

    const ada = { givenName: 'Ada', familyName: 'Lovelace', dateOfBirth: '1985-12-10', phone: '(415) 555-0123', email: 'Ada@Example.org', timeZone: 'America/Los_Angeles' };

    test('create stores E.164 and lower-cased email, and audits without PHI', async () => {
      const res = await a.clinician.post('/api/v1/patients', ada);
      assert.equal(res.statusCode, 201, res.body);
      const p = res.json();
      assert.equal(p.phone, '+14155550123');
      assert.equal(p.email, 'ada@example.org');
      assert.equal(p.archived, false);
      assert.deepEqual(p.consents, []);
      const events = await auditActions(t, a.orgId, p.id);
      assert.deepEqual(events, ['patient.created']);
      const raw = JSON.stringify(await allAuditRows(t));
      assert.ok(!raw.includes('Lovelace') && !raw.includes('4155550123'), 'audit rows hold no PHI');
    });

    test('phone numbers in common formats are accepted; unusable ones are a clear 400', async () => {
      for (const phone of ['5555555555', '(555) 555-5555', '+1 555 555 5555']) {
        const res = await a.clinician.post('/api/v1/patients', { givenName: 'P', familyName: 'Phone', phone });
        assert.equal(res.statusCode, 201, `${phone}: ${res.body}`);
        assert.equal(res.json().phone, '+15555555555');
      }
      for (const phone of ['12345', 'call me', '+1 555']) {
        const res = await a.clinician.post('/api/v1/patients', { givenName: 'P', familyName: 'Phone', phone });
        assert.equal(res.statusCode, 400);
        const err = errorOf(res);
        assert.equal(err.code, 'invalid_phone_number');
        assert.deepEqual(err.details, [{ path: 'body/phone', message: 'is not a valid phone number' }]);
      }
    });

    test('validation errors name every offending field', async () => {
      const res = await a.clinician.post('/api/v1/patients', { givenName: '', familyName: 7, email: 'nope', shoeSize: 44 });
      assert.equal(res.statusCode, 400);
      const err = errorOf(res);
      assert.equal(err.code, 'validation_failed');
      const paths = (err.details as { path: string }[]).map((d) => d.path).sort();
      assert.deepEqual(paths, ['body/email', 'body/familyName', 'body/givenName', 'body/shoeSize']);
      const tz = await a.clinician.post('/api/v1/patients', { givenName: 'T', familyName: 'Z', timeZone: 'Mars/Olympus' });
      assert.equal(errorOf(tz).code, 'invalid_time_zone');
      const dob = await a.clinician.post('/api/v1/patients', { givenName: 'T', familyName: 'Z', dateOfBirth: '2999-01-01' });
      assert.equal(errorOf(dob).code, 'validation_failed');
    });

    test('get, update, archive, restore', async () => {
      const created = (await a.clinician.post('/api/v1/patients', { givenName: 'Grace', familyName: 'Hopper', externalId: 'MRN-1' })).json();
      const got = await a.caregiver.get(`/api/v1/patients/${created.id}`);
      assert.equal(got.statusCode, 200);
      assert.equal(got.json().externalId, 'MRN-1');

      const upd = await a.apiKey.patch(`/api/v1/patients/${created.id}`, { phone: '+44 20 7183 8750', timeZone: 'Europe/London' });
      assert.equal(upd.statusCode, 200, upd.body);
      assert.equal(upd.json().phone, '+442071838750');

      const dup = await a.clinician.post('/api/v1/patients', { givenName: 'Other', familyName: 'Person', externalId: 'MRN-1' });
      assert.equal(errorOf(dup).code, 'already_exists');

      const arch = await a.clinician.post(`/api/v1/patients/${created.id}/archive`);
      assert.equal(arch.json().archived, true);
      const editArchived = await a.clinician.patch(`/api/v1/patients/${created.id}`, { givenName: 'G' });
      assert.equal(editArchived.statusCode, 409);
      assert.equal(errorOf(editArchived).code, 'invalid_state');
      const listed = (await a.clinician.get('/api/v1/patients?q=Hopper')).json();
      assert.equal(listed.data.length, 0, 'archived patients are hidden by default');
      const listedAll = (await a.clinician.get('/api/v1/patients?q=Hopper&archived=all')).json();
      assert.equal(listedAll.data.length, 1);
      const restored = await a.clinician.post(`/api/v1/patients/${created.id}/restore`);
      assert.equal(restored.json().archived, false);
      assert.deepEqual(await auditActions(t, a.orgId, created.id), ['patient.created', 'patient.updated', 'patient.archived', 'patient.restored']);
    });

    test('caregivers read but cannot write', async () => {
      const res = await a.caregiver.post('/api/v1/patients', { givenName: 'No', familyName: 'Way' });
      assert.equal(res.statusCode, 403);
      assert.equal(errorOf(res).code, 'forbidden');
    });

    test('search by name, phone, email and external id; cursor pagination walks everything once', async () => {
      const org = await createTestOrg(t.app);
      const names = ['Zed', 'Amy', 'Bob', 'Cat', 'Dan', 'Eve', 'Fay'];
      for (const [i, n] of names.entries()) {
        const r = await org.clinician.post('/api/v1/patients', { givenName: n, familyName: 'Searchable', phone: `+1415555010${i}`, email: `${n.toLowerCase()}@mail.test`, externalId: `X-${n}` });
        assert.equal(r.statusCode, 201);
      }
      assert.equal((await org.clinician.get('/api/v1/patients?q=amy%20searchable')).json().data[0].givenName, 'Amy');
      assert.equal((await org.clinician.get('/api/v1/patients?q=(415)%20555-0102')).json().data[0].givenName, 'Bob');
      assert.equal((await org.clinician.get('/api/v1/patients?q=cat@mail')).json().data[0].givenName, 'Cat');
      assert.equal((await org.clinician.get('/api/v1/patients?q=X-Dan')).json().data[0].givenName, 'Dan');

      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await org.clinician.get(`/api/v1/patients?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
        assert.equal(res.statusCode, 200);
        const body = res.json() as { data: { givenName: string }[]; nextCursor: string | null };
        seen.push(...body.data.map((p) => p.givenName));
        cursor = body.nextCursor;
      } while (cursor);
      assert.deepEqual(seen, [...names].sort());

      const bad = await org.clinician.get('/api/v1/patients?cursor=not-a-cursor');
      assert.equal(errorOf(bad).code, 'invalid_cursor');
    });

    test('consents: recorded, shown in force on the patient, history kept, audited', async () => {
      const p = (await a.clinician.post('/api/v1/patients', { givenName: 'Con', familyName: 'Sent' })).json();
      const granted = await a.clinician.post(`/api/v1/patients/${p.id}/consents`, { kind: 'sms', status: 'granted', method: 'verbal' });
      assert.equal(granted.statusCode, 201, granted.body);
      assert.equal(granted.json().recordedBy.type, 'user');
      const revoked = await a.apiKey.post(`/api/v1/patients/${p.id}/consents`, { kind: 'sms', status: 'revoked', method: 'ehr' });
      assert.equal(revoked.json().recordedBy.type, 'api_key');
      await a.clinician.post(`/api/v1/patients/${p.id}/consents`, { kind: 'telehealth', status: 'granted', method: 'web', textVersion: 'v3' });
      const now = (await a.clinician.get(`/api/v1/patients/${p.id}`)).json();
      const byKind = Object.fromEntries(now.consents.map((c: { kind: string; status: string }) => [c.kind, c.status]));
      assert.deepEqual(byKind, { sms: 'revoked', telehealth: 'granted' });
      const history = (await a.clinician.get(`/api/v1/patients/${p.id}/consents`)).json().data;
      assert.equal(history.length, 3);
      assert.deepEqual(await auditActions(t, a.orgId, p.id), ['patient.created', 'consent.recorded', 'consent.recorded', 'consent.recorded']);
      const bad = await a.clinician.post(`/api/v1/patients/${p.id}/consents`, { kind: 'telepathy', status: 'granted', method: 'web' });
      assert.equal(errorOf(bad).code, 'validation_failed');
    });

    test('401 without credentials, with a bad key, or with a revoked session', async () => {
      for (const headers of [{}, { authorization: 'Bearer ovk_nope' }, { authorization: 'Basic abc' }, { cookie: 'ov_session=forged' }]) {
        const res = await t.app.inject({ method: 'GET', url: '/api/v1/patients', headers });
        assert.equal(res.statusCode, 401);
        assert.equal(errorOf(res).code, 'unauthenticated');
      }
    });

    test('organisation B can never read or change organisation A’s patients', async () => {
      const p = (await a.clinician.post('/api/v1/patients', { givenName: 'Private', familyName: 'Person', phone: '+14155550199' })).json();
      for (const who of [b.admin, b.clinician, b.caregiver, b.apiKey]) {
        for (const [method, url, body] of [
          ['GET', `/api/v1/patients/${p.id}`],
          ['PATCH', `/api/v1/patients/${p.id}`, { givenName: 'Hacked' }],
          ['POST', `/api/v1/patients/${p.id}/archive`, {}],
          ['POST', `/api/v1/patients/${p.id}/restore`, {}],
          ['GET', `/api/v1/patients/${p.id}/consents`],
          ['POST', `/api/v1/patients/${p.id}/consents`, { kind: 'sms', status: 'granted', method: 'verbal' }],
        ] as const) {
          const res = await who.request(method, url, body);
          // Another organisation's row is indistinguishable from a missing one, so ids cannot be probed;
          // a caregiver is refused any write before the row is even looked up.
          const expected = who === b.caregiver && method !== 'GET' ? 403 : 404;
          assert.equal(res.statusCode, expected, `${method} ${url} -> ${res.statusCode}`);
        }
        const list = (await who.get('/api/v1/patients?q=Private&archived=all')).json();
        assert.equal(list.data.length, 0);
      }
      const still = (await a.clinician.get(`/api/v1/patients/${p.id}`)).json();
      assert.equal(still.givenName, 'Private');
      assert.equal(still.archived, false);
      assert.deepEqual(still.consents, []);
    });

    test('names, phone numbers and emails never reach the log', async () => {
      await a.clinician.post('/api/v1/patients', { givenName: 'Logan', familyName: 'Secretname', phone: '+14155550142', email: 'logan@secret.test' });
      await a.clinician.get('/api/v1/patients?q=Secretname');
      const all = t.logs.join('');
      assert.ok(all.length > 0, 'requests are logged');
      for (const needle of ['Secretname', '4155550142', 'logan@secret.test', a.apiKey.key, a.clinician.sessionToken]) {
        assert.ok(!all.includes(needle), `log contains ${needle.slice(0, 6)}…`);
      }
    });
  });
}
