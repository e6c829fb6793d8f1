import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { and, asc, eq } from 'drizzle-orm';
import { appointments, auditEvents, users } from '../src/server/db/schema.js';
import { encodeCursor } from '../src/server/http/pagination.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { auditActions } from './helpers/audit.js';
import { addStaff, createTestOrg, errorOf, type Caller, type TestOrg, detailPaths } from './helpers/builders.js';
import { DB_KINDS } from './helpers/db.js';

interface Appt {
  id: string;
  kind: string;
  clinicianId: string;
  patientIds: string[];
  startsAt: string;
  endsAt: string;
  durationMinutes: number;
  status: string;
  createdAt: string;
  updatedAt: string;
}

interface PageOf<T> {
  data: T[];
  nextCursor: string | null;
}

/** A start time `hours` after a base instant far in the future (each test uses its own base). */
function at(base: number, hours: number, minutes = 0): string {
  return new Date(Date.UTC(2031, 0, 1) + base * 86_400_000 + hours * 3_600_000 + minutes * 60_000).toISOString();
}


async function newPatient(who: Caller, givenName = 'Pat'): Promise<string> {
  const res = await who.post('/api/v1/patients', { givenName, familyName: 'Appointments' });
  assert.equal(res.statusCode, 201, res.body);
  return (res.json() as { id: string }).id;
}

/** Every page of a list, following nextCursor; asserts each page is a 200. */
async function walk(who: Caller, url: string): Promise<Appt[]> {
  const out: Appt[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 100; pages++) {
    const res = await who.get(`${url}${url.includes('?') ? '&' : '?'}${cursor ? `cursor=${encodeURIComponent(cursor)}` : ''}`);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as PageOf<Appt>;
    out.push(...body.data);
    cursor = body.nextCursor;
    if (!cursor) return out;
  }
  throw new Error('pagination did not end');
}

for (const kind of DB_KINDS) {
  describe(`appointments on ${kind}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;
    let p1: string;
    let p2: string;
    let p3: string;
    let bPatient: string;

    before(async () => {
      t = await createTestApp(kind);
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
      p1 = await newPatient(a.clinician, 'One');
      p2 = await newPatient(a.clinician, 'Two');
      p3 = await newPatient(a.clinician, 'Three');
      bPatient = await newPatient(b.clinician, 'Bee');
    });
    after(() => t.close());

    const create = (who: Caller, body: Record<string, unknown>) => who.post('/api/v1/appointments', body);
    const valid = (extra: Record<string, unknown> = {}) => ({ kind: 'video', clinicianId: a.clinician.user.id, patientIds: [p1], startsAt: at(0, 9), durationMinutes: 30, ...extra });

    async function appointmentCount(orgId: string): Promise<number> {
      return (await t.database.db.select({ id: appointments.id }).from(appointments).where(eq(appointments.orgId, orgId))).length;
    }

    test('create video, group and check-in appointments; endsAt derived, patients sorted, audited without PHI', async () => {
      const video = await create(a.clinician, valid({ startsAt: '2031-01-01T09:00:00+02:00', durationMinutes: 45 }));
      assert.equal(video.statusCode, 201, video.body);
      const v = video.json() as Appt;
      assert.equal(v.kind, 'video');
      assert.equal(v.status, 'scheduled');
      assert.equal(v.clinicianId, a.clinician.user.id);
      assert.deepEqual(v.patientIds, [p1]);
      assert.equal(v.startsAt, '2031-01-01T07:00:00.000Z', 'stored as the instant, answered in UTC');
      assert.equal(v.endsAt, '2031-01-01T07:45:00.000Z');
      assert.equal(v.durationMinutes, 45);

      // An admin may be the clinician; an API key may schedule.
      const group = await create(a.apiKey, valid({ kind: 'group', clinicianId: a.admin.user.id, patientIds: [p3, p1, p2], durationMinutes: 1440 }));
      assert.equal(group.statusCode, 201, group.body);
      const g = group.json() as Appt;
      assert.equal(g.kind, 'group');
      assert.equal(g.clinicianId, a.admin.user.id);
      assert.deepEqual(g.patientIds, [p1, p2, p3].sort());
      assert.equal(new Date(g.endsAt).getTime() - new Date(g.startsAt).getTime(), 1440 * 60_000);

      const checkin = await create(a.admin, valid({ kind: 'checkin', durationMinutes: 1 }));
      assert.equal(checkin.statusCode, 201, checkin.body);
      assert.equal((checkin.json() as Appt).kind, 'checkin');

      for (const created of [v, g, checkin.json() as Appt]) {
        const got = await a.caregiver.get(`/api/v1/appointments/${created.id}`);
        assert.equal(got.statusCode, 200);
        assert.deepEqual(got.json(), created, 'GET answers what POST answered');
        assert.deepEqual(await auditActions(t, a.orgId, created.id), ['appointment.created']);
      }

      const [row] = await t.database.db.select().from(auditEvents).where(and(eq(auditEvents.orgId, a.orgId), eq(auditEvents.targetId, g.id)));
      assert.equal(row!.actorType, 'api_key');
      assert.equal(row!.actorId, a.apiKey.id);
      assert.equal(row!.targetType, 'appointment');
      assert.equal(row!.requestId, group.headers['x-request-id']);
      assert.deepEqual(row!.details, { kind: 'group', patients: 3 });
    });

    test('the clinician must be an active clinician or admin of the organisation', async () => {
      const disabled = await addStaff(t.app, a.orgId, 'clinician');
      await t.database.db.update(users).set({ disabledAt: new Date() }).where(eq(users.id, disabled.user.id));
      const before = await appointmentCount(a.orgId);
      for (const [why, clinicianId] of [
        ['a caregiver', a.caregiver.user.id],
        ['another organisation’s clinician', b.clinician.user.id],
        ['another organisation’s admin', b.admin.user.id],
        ['a disabled clinician', disabled.user.id],
        ['nobody', '00000000-0000-4000-8000-000000000000'],
      ] as const) {
        const res = await create(a.clinician, valid({ clinicianId }));
        assert.equal(res.statusCode, 400, `${why}: ${res.body}`);
        const err = errorOf(res);
        assert.equal(err.code, 'validation_failed', why);
        assert.deepEqual(detailPaths(res), ['body/clinicianId'], why);
      }
      const notUuid = await create(a.clinician, valid({ clinicianId: 'dr-who' }));
      assert.equal(errorOf(notUuid).code, 'validation_failed');
      assert.deepEqual(detailPaths(notUuid), ['body/clinicianId']);
      assert.equal(await appointmentCount(a.orgId), before, 'nothing was created');
    });

    test('patients must be active patients of the organisation; each bad one is named by index', async () => {
      const archived = await newPatient(a.clinician, 'Archived');
      assert.equal((await a.clinician.post(`/api/v1/patients/${archived}/archive`)).statusCode, 200);
      const before = await appointmentCount(a.orgId);
      const cases: [string, string[], string[]][] = [
        ['another organisation’s patient', [p1, bPatient], ['body/patientIds/1']],
        ['an archived patient', [archived, p2], ['body/patientIds/0']],
        ['an unknown id', ['00000000-0000-4000-8000-000000000000'], ['body/patientIds/0']],
        ['several bad ones', [bPatient, p1, archived], ['body/patientIds/0', 'body/patientIds/2']],
      ];
      for (const [why, patientIds, paths] of cases) {
        const res = await create(a.clinician, valid({ patientIds }));
        assert.equal(res.statusCode, 400, `${why}: ${res.body}`);
        assert.equal(errorOf(res).code, 'validation_failed', why);
        assert.deepEqual(detailPaths(res).sort(), paths, why);
      }
      for (const [why, patientIds] of [
        ['empty', []],
        ['listed twice', [p1, p1]],
        ['not uuids', ['patient-1']],
        ['more than 50', Array.from({ length: 51 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`)],
      ] as const) {
        const res = await create(a.clinician, valid({ patientIds }));
        assert.equal(res.statusCode, 400, `${why}: ${res.body}`);
        assert.equal(errorOf(res).code, 'validation_failed', why);
        assert.ok(detailPaths(res).every((p) => p.startsWith('body/patientIds')), `${why}: ${detailPaths(res).join()}`);
      }
      // The same patient in two spellings is still listed twice (the database would refuse the second link).
      const twice = await create(a.clinician, valid({ patientIds: [p1, p1.toUpperCase()] }));
      assert.equal(twice.statusCode, 400, twice.body);
      assert.deepEqual(detailPaths(twice), ['body/patientIds/1']);
      assert.equal(await appointmentCount(a.orgId), before, 'nothing was created');

      // An id in upper case names the same patient.
      const upper = await create(a.clinician, valid({ patientIds: [p2.toUpperCase()] }));
      assert.equal(upper.statusCode, 201, upper.body);
      assert.deepEqual((upper.json() as Appt).patientIds, [p2]);
    });

    test('durationMinutes is a whole number of minutes from 1 to 1440; the body is checked strictly', async () => {
      for (const durationMinutes of [0, -5, 1441, 1.5, '30', null]) {
        const res = await create(a.clinician, valid({ durationMinutes }));
        assert.equal(res.statusCode, 400, `${JSON.stringify(durationMinutes)}: ${res.body}`);
        assert.equal(errorOf(res).code, 'validation_failed');
        assert.deepEqual(detailPaths(res), ['body/durationMinutes']);
      }
      for (const durationMinutes of [1, 1440]) {
        const res = await create(a.clinician, valid({ durationMinutes }));
        assert.equal(res.statusCode, 201, res.body);
        assert.equal((res.json() as Appt).durationMinutes, durationMinutes);
      }
      const missing = await create(a.clinician, { kind: 'video' });
      assert.deepEqual(detailPaths(missing).sort(), ['body/clinicianId', 'body/durationMinutes', 'body/patientIds', 'body/startsAt']);
      const wrongKind = await create(a.clinician, valid({ kind: 'phone' }));
      assert.deepEqual(detailPaths(wrongKind), ['body/kind']);
      const extra = await create(a.clinician, valid({ room: 'blue' }));
      assert.deepEqual(detailPaths(extra), ['body/room']);
    });

    test('bad dates are a 400 naming startsAt, on create, on reschedule and in list filters', async () => {
      const before = await appointmentCount(a.orgId);
      const ok = (await create(a.clinician, valid())).json() as Appt;
      for (const startsAt of [
        'tomorrow',
        '',
        '2031-02-30T10:00:00Z',
        '2031-01-01T10:00:00',
        '2031-01-01',
        '2031-13-01T10:00:00Z',
        '2016-12-31T23:59:60Z', // a leap second: the format allows it, Date cannot represent it
        '0000-01-01T00:00:00Z', // year 0 does not exist in PostgreSQL
        '9999-12-31T23:30:00-01:00', // the year 10000 in UTC
        1_700_000_000_000,
      ]) {
        const res = await create(a.clinician, valid({ startsAt }));
        assert.equal(res.statusCode, 400, `${startsAt}: ${res.body}`);
        assert.equal(errorOf(res).code, 'validation_failed');
        assert.equal(detailPaths(res).length, 1);
        assert.match(detailPaths(res)[0]!, /^(body)?\/startsAt$/, String(startsAt));

        const patch = await a.clinician.patch(`/api/v1/appointments/${ok.id}`, { startsAt });
        assert.equal(patch.statusCode, 400, `PATCH ${startsAt}: ${patch.body}`);
        assert.match(detailPaths(patch)[0]!, /^(body)?\/startsAt$/);
      }
      assert.equal(await appointmentCount(a.orgId), before + 1);
      assert.deepEqual((await a.clinician.get(`/api/v1/appointments/${ok.id}`)).json(), ok, 'the appointment was not changed');

      for (const [query, path] of [
        ['from=yesterday', 'querystring/from'],
        ['to=2031-02-30T00:00:00Z', 'querystring/to'],
        ['from=2016-12-31T23:59:60Z', 'querystring/from'],
        ['to=0000-01-01T00:00:00Z', 'querystring/to'],
        [`from=${encodeURIComponent(at(1, 0))}&to=${encodeURIComponent(at(0, 0))}`, 'querystring/from'],
      ] as const) {
        const res = await a.clinician.get(`/api/v1/appointments?${query}`);
        assert.equal(res.statusCode, 400, `${query}: ${res.body}`);
        assert.equal(errorOf(res).code, 'validation_failed');
        assert.deepEqual(detailPaths(res), [path], query);
      }
    });

    test('list filters: from (inclusive), to (exclusive), clinicianId, patientId, status', async () => {
      const org = await createTestOrg(t.app);
      const [q1, q2] = [await newPatient(org.clinician, 'Q1'), await newPatient(org.clinician, 'Q2')];
      const doc = org.clinician.user.id;
      const boss = org.admin.user.id;
      const plan = [
        { hour: 8, clinicianId: doc, patientIds: [q1] },
        { hour: 9, clinicianId: boss, patientIds: [q2] },
        { hour: 10, clinicianId: doc, patientIds: [q1, q2] },
        { hour: 11, clinicianId: boss, patientIds: [q1] },
        { hour: 12, clinicianId: doc, patientIds: [q2] },
      ];
      const made: Appt[] = [];
      for (const p of plan) {
        const res = await create(org.clinician, { kind: 'video', clinicianId: p.clinicianId, patientIds: p.patientIds, startsAt: at(5, p.hour), durationMinutes: 30 });
        assert.equal(res.statusCode, 201, res.body);
        made.push(res.json() as Appt);
      }
      const cancelled = await org.clinician.post(`/api/v1/appointments/${made[3]!.id}/cancel`);
      assert.equal(cancelled.statusCode, 200);
      const hours = (list: Appt[]) => list.map((x) => new Date(x.startsAt).getUTCHours());
      const list = async (query: string) => {
        const res = await org.caregiver.get(`/api/v1/appointments?${query}`);
        assert.equal(res.statusCode, 200, `${query}: ${res.body}`);
        return (res.json() as PageOf<Appt>).data;
      };
      const q = (params: Record<string, string>) => new URLSearchParams(params).toString();

      assert.deepEqual(hours(await list('')), [8, 9, 10, 11, 12]);
      assert.deepEqual(hours(await list(q({ from: at(5, 9), to: at(5, 11) }))), [9, 10], 'from inclusive, to exclusive');
      assert.deepEqual(hours(await list(q({ from: at(5, 9, 1) }))), [10, 11, 12]);
      assert.deepEqual(hours(await list(q({ to: at(5, 8) }))), []);
      assert.deepEqual(hours(await list(q({ from: at(5, 10), to: at(5, 10) }))), [], 'an empty window');
      assert.deepEqual(hours(await list(q({ clinicianId: doc }))), [8, 10, 12]);
      assert.deepEqual(hours(await list(q({ clinicianId: boss }))), [9, 11]);
      assert.deepEqual(hours(await list(q({ patientId: q1 }))), [8, 10, 11]);
      assert.deepEqual(hours(await list(q({ patientId: q2 }))), [9, 10, 12]);
      assert.deepEqual(hours(await list(q({ status: 'cancelled' }))), [11]);
      assert.deepEqual(hours(await list(q({ status: 'scheduled' }))), [8, 9, 10, 12]);
      assert.deepEqual(hours(await list(q({ status: 'completed' }))), []);
      assert.deepEqual(hours(await list(q({ clinicianId: boss, patientId: q1, status: 'cancelled' }))), [11]);
      assert.deepEqual(hours(await list(q({ clinicianId: doc, patientId: q2, from: at(5, 11) }))), [12]);
      // Each row carries all its patients even when filtered by one of them.
      const both = (await list(q({ patientId: q1, from: at(5, 10), to: at(5, 11) })))[0]!;
      assert.deepEqual(both.patientIds, [q1, q2].sort());
      // Another organisation's people match nothing here.
      assert.deepEqual(await list(q({ clinicianId: a.clinician.user.id })), []);
      assert.deepEqual(await list(q({ patientId: p1 })), []);

      for (const [query, path] of [
        ['status=done', 'querystring/status'],
        ['clinicianId=me', 'querystring/clinicianId'],
        ['patientId=42', 'querystring/patientId'],
        ['limit=0', 'querystring/limit'],
        ['limit=201', 'querystring/limit'],
        ['limit=ten', 'querystring/limit'],
      ] as const) {
        const res = await org.clinician.get(`/api/v1/appointments?${query}`);
        assert.equal(res.statusCode, 400, `${query}: ${res.body}`);
        assert.deepEqual(detailPaths(res), [path], query);
      }
    });

    test('cursor pagination walks every appointment exactly once, in start-time order', async () => {
      const org = await createTestOrg(t.app);
      const patient = await newPatient(org.clinician);
      // Created out of order, with ties on start time (ordered by id) straddling page boundaries.
      const offsets = [7, 3, 3, 3, 0, 11, 5, 5, 1, 9, 3, 2, 8, 6];
      const made: Appt[] = [];
      for (const h of offsets) {
        const res = await create(org.clinician, { kind: 'checkin', clinicianId: org.clinician.user.id, patientIds: [patient], startsAt: at(9, h), durationMinutes: 15 });
        assert.equal(res.statusCode, 201, res.body);
        made.push(res.json() as Appt);
      }
      const expected = [...made].sort((x, y) => (x.startsAt === y.startsAt ? (x.id < y.id ? -1 : 1) : x.startsAt < y.startsAt ? -1 : 1)).map((x) => x.id);
      for (const limit of [1, 3, 4, 14, 200]) {
        const seen = (await walk(org.clinician, `/api/v1/appointments?limit=${limit}`)).map((x) => x.id);
        assert.equal(new Set(seen).size, seen.length, `limit ${limit}: no row twice`);
        assert.deepEqual(seen, expected, `limit ${limit}`);
      }
      // Pagination composes with filters.
      const window = (await walk(org.clinician, `/api/v1/appointments?limit=2&from=${encodeURIComponent(at(9, 3))}&to=${encodeURIComponent(at(9, 6))}`)).map((x) => x.id);
      assert.deepEqual(window, made.filter((x) => x.startsAt >= at(9, 3) && x.startsAt < at(9, 6)).sort((x, y) => expected.indexOf(x.id) - expected.indexOf(y.id)).map((x) => x.id));
      assert.equal(window.length, 6);

      const first = (await org.clinician.get('/api/v1/appointments?limit=14')).json() as PageOf<Appt>;
      assert.equal(first.nextCursor, null, 'no cursor when everything fits');

      for (const cursor of [
        'not-a-cursor',
        encodeCursor([at(9, 0)]),
        encodeCursor([at(9, 0), 'not-a-uuid']),
        encodeCursor(['yesterday', made[0]!.id]),
        encodeCursor(['0000-01-01T00:00:00Z', made[0]!.id]),
        encodeCursor([1, 2]),
      ]) {
        const res = await org.clinician.get(`/api/v1/appointments?cursor=${encodeURIComponent(cursor)}`);
        assert.equal(res.statusCode, 400, `${cursor}: ${res.body}`);
        assert.equal(errorOf(res).code, 'invalid_cursor');
      }
    });

    test('PATCH reschedules, reassigns and replaces the patients; audited with field names only', async () => {
      const created = (await create(a.clinician, valid({ patientIds: [p1, p2], startsAt: at(12, 9) }))).json() as Appt;

      const moved = await a.clinician.patch(`/api/v1/appointments/${created.id}`, { startsAt: at(12, 14), durationMinutes: 50 });
      assert.equal(moved.statusCode, 200, moved.body);
      const m = moved.json() as Appt;
      assert.equal(m.startsAt, at(12, 14));
      assert.equal(m.endsAt, at(12, 14, 50));
      assert.equal(m.durationMinutes, 50);
      assert.deepEqual(m.patientIds, [p1, p2].sort(), 'patients are kept when not given');
      assert.equal(m.clinicianId, a.clinician.user.id);
      assert.equal(m.createdAt, created.createdAt);
      assert.ok(m.updatedAt > created.updatedAt, 'updatedAt moves');

      const replaced = await a.apiKey.patch(`/api/v1/appointments/${created.id}`, { patientIds: [p3], clinicianId: a.admin.user.id });
      assert.equal(replaced.statusCode, 200, replaced.body);
      const r = replaced.json() as Appt;
      assert.deepEqual(r.patientIds, [p3]);
      assert.equal(r.clinicianId, a.admin.user.id);
      assert.equal(r.startsAt, at(12, 14), 'the time is kept when not given');
      assert.deepEqual((await a.clinician.get(`/api/v1/appointments/${created.id}`)).json(), r);
      const byOld = (await a.clinician.get(`/api/v1/appointments?patientId=${p1}&from=${encodeURIComponent(at(12, 0))}&to=${encodeURIComponent(at(13, 0))}`)).json() as PageOf<Appt>;
      assert.ok(!byOld.data.some((x) => x.id === created.id), 'the old patients are unlinked');
      const byNew = (await a.clinician.get(`/api/v1/appointments?patientId=${p3}&from=${encodeURIComponent(at(12, 0))}&to=${encodeURIComponent(at(13, 0))}`)).json() as PageOf<Appt>;
      assert.deepEqual(byNew.data.map((x) => x.id), [created.id]);

      // Refused changes leave the appointment as it was.
      for (const [body, paths] of [
        [{}, ['body']],
        [{ clinicianId: a.caregiver.user.id }, ['body/clinicianId']],
        [{ clinicianId: b.clinician.user.id }, ['body/clinicianId']],
        [{ patientIds: [p1, bPatient] }, ['body/patientIds/1']],
        [{ patientIds: [] }, ['body/patientIds']],
        [{ durationMinutes: 0 }, ['body/durationMinutes']],
        [{ kind: 'group' }, ['body/kind']],
        [{ status: 'cancelled' }, ['body/status']],
      ] as const) {
        const res = await a.clinician.patch(`/api/v1/appointments/${created.id}`, body);
        assert.equal(res.statusCode, 400, `${JSON.stringify(body)}: ${res.body}`);
        assert.equal(errorOf(res).code, 'validation_failed');
        assert.deepEqual(detailPaths(res), paths, JSON.stringify(body));
      }
      assert.deepEqual((await a.clinician.get(`/api/v1/appointments/${created.id}`)).json(), r);

      assert.deepEqual(await auditActions(t, a.orgId, created.id), ['appointment.created', 'appointment.updated', 'appointment.updated']);
      const rows = await t.database.db
        .select()
        .from(auditEvents)
        .where(and(eq(auditEvents.orgId, a.orgId), eq(auditEvents.targetId, created.id), eq(auditEvents.action, 'appointment.updated')))
        .orderBy(asc(auditEvents.id));
      assert.deepEqual(
        rows.map((x) => x.details),
        [{ fields: 'durationMinutes,startsAt' }, { fields: 'clinicianId,patientIds' }],
      );
      assert.deepEqual(
        rows.map((x) => [x.actorType, x.actorId]),
        [
          ['user', a.clinician.user.id],
          ['api_key', a.apiKey.id],
        ],
      );
    });

    test('cancel is idempotent; a cancelled or completed appointment cannot be changed', async () => {
      const created = (await create(a.clinician, valid({ startsAt: at(14, 9) }))).json() as Appt;
      const first = await a.clinician.post(`/api/v1/appointments/${created.id}/cancel`);
      assert.equal(first.statusCode, 200, first.body);
      const c = first.json() as Appt;
      assert.equal(c.status, 'cancelled');
      assert.deepEqual(c.patientIds, created.patientIds);
      const again = await a.admin.post(`/api/v1/appointments/${created.id}/cancel`);
      assert.equal(again.statusCode, 200, again.body);
      assert.deepEqual(again.json(), c, 'a second cancel changes nothing');
      assert.deepEqual(await auditActions(t, a.orgId, created.id), ['appointment.created', 'appointment.cancelled'], 'one audit event for one cancellation');

      for (const body of [{ startsAt: at(15, 9) }, { patientIds: [p2] }, { durationMinutes: 20 }]) {
        const res = await a.clinician.patch(`/api/v1/appointments/${created.id}`, body);
        assert.equal(res.statusCode, 409, res.body);
        const err = errorOf(res);
        assert.equal(err.code, 'invalid_state');
        assert.deepEqual(err.details, { status: 'cancelled' });
      }
      assert.deepEqual((await a.clinician.get(`/api/v1/appointments/${created.id}`)).json(), c);

      const done = (await create(a.clinician, valid({ startsAt: at(14, 10) }))).json() as Appt;
      await t.database.db.update(appointments).set({ status: 'completed' }).where(eq(appointments.id, done.id));
      const cancelDone = await a.clinician.post(`/api/v1/appointments/${done.id}/cancel`);
      assert.equal(cancelDone.statusCode, 409, cancelDone.body);
      assert.equal(errorOf(cancelDone).code, 'invalid_state');
      const patchDone = await a.clinician.patch(`/api/v1/appointments/${done.id}`, { durationMinutes: 20 });
      assert.equal(patchDone.statusCode, 409);
      const stillDone = (await a.clinician.get(`/api/v1/appointments/${done.id}`)).json() as Appt;
      assert.equal(stillDone.status, 'completed');
      assert.equal(stillDone.durationMinutes, 30);
      assert.deepEqual(await auditActions(t, a.orgId, done.id), ['appointment.created']);

      const unknown = await a.clinician.post('/api/v1/appointments/00000000-0000-4000-8000-000000000000/cancel');
      assert.equal(unknown.statusCode, 404);
      assert.equal(errorOf(unknown).code, 'not_found');
    });

    test('concurrent cancels and changes are serialised: one cancellation, no change after it', async () => {
      for (let round = 0; round < 6; round++) {
        const created = (await create(a.clinician, valid({ startsAt: at(16, round) }))).json() as Appt;
        const [c1, c2, patch] = await Promise.all([
          a.clinician.post(`/api/v1/appointments/${created.id}/cancel`),
          a.admin.post(`/api/v1/appointments/${created.id}/cancel`),
          a.clinician.patch(`/api/v1/appointments/${created.id}`, { durationMinutes: 55 }),
        ]);
        assert.equal(c1.statusCode, 200, c1.body);
        assert.equal(c2.statusCode, 200, c2.body);
        assert.ok([200, 409].includes(patch.statusCode), patch.body);
        const actions = await auditActions(t, a.orgId, created.id);
        assert.deepEqual(
          actions,
          patch.statusCode === 200 ? ['appointment.created', 'appointment.updated', 'appointment.cancelled'] : ['appointment.created', 'appointment.cancelled'],
          `round ${round}: ${actions.join(' ')} (PATCH ${patch.statusCode})`,
        );
        const final = (await a.clinician.get(`/api/v1/appointments/${created.id}`)).json() as Appt;
        assert.equal(final.status, 'cancelled');
        assert.equal(final.durationMinutes, patch.statusCode === 200 ? 55 : 30);
      }
    });

    test('caregivers read but cannot schedule, change or cancel', async () => {
      const created = (await create(a.clinician, valid({ startsAt: at(18, 9) }))).json() as Appt;
      assert.equal((await a.caregiver.get(`/api/v1/appointments/${created.id}`)).statusCode, 200);
      assert.equal((await a.caregiver.get('/api/v1/appointments')).statusCode, 200);
      const before = await appointmentCount(a.orgId);
      for (const res of [
        await a.caregiver.post('/api/v1/appointments', valid()),
        await a.caregiver.patch(`/api/v1/appointments/${created.id}`, { durationMinutes: 10 }),
        await a.caregiver.post(`/api/v1/appointments/${created.id}/cancel`),
      ]) {
        assert.equal(res.statusCode, 403, res.body);
        assert.equal(errorOf(res).code, 'forbidden');
      }
      assert.equal(await appointmentCount(a.orgId), before);
      assert.deepEqual((await a.clinician.get(`/api/v1/appointments/${created.id}`)).json(), created);
      assert.deepEqual(await auditActions(t, a.orgId, created.id), ['appointment.created']);
    });

    test('401 without credentials or with bad ones, on every route', async () => {
      const created = (await create(a.clinician, valid({ startsAt: at(19, 9) }))).json() as Appt;
      for (const headers of [{}, { authorization: 'Bearer ovk_nope' }, { cookie: 'ov_session=forged' }]) {
        for (const [method, url, payload] of [
          ['GET', '/api/v1/appointments'],
          ['POST', '/api/v1/appointments', valid()],
          ['GET', `/api/v1/appointments/${created.id}`],
          ['PATCH', `/api/v1/appointments/${created.id}`, { durationMinutes: 10 }],
          ['POST', `/api/v1/appointments/${created.id}/cancel`, {}],
        ] as const) {
          const res = await t.app.inject({ method, url, headers, ...(payload ? { payload } : {}) });
          assert.equal(res.statusCode, 401, `${method} ${url} ${JSON.stringify(headers)}`);
          assert.equal(errorOf(res).code, 'unauthenticated');
        }
      }
      assert.deepEqual((await a.clinician.get(`/api/v1/appointments/${created.id}`)).json(), created);
    });

    test('GET of an unknown id is 404 not_found; a malformed id is 400', async () => {
      const res = await a.clinician.get('/api/v1/appointments/00000000-0000-4000-8000-000000000000');
      assert.equal(res.statusCode, 404);
      assert.equal(errorOf(res).code, 'not_found');
      const bad = await a.clinician.get('/api/v1/appointments/42');
      assert.equal(bad.statusCode, 400);
      assert.deepEqual(detailPaths(bad), ['params/id']);
    });

    test('organisation B can never see or change organisation A’s appointments', async () => {
      const created = (await create(a.clinician, valid({ patientIds: [p1, p2], startsAt: at(20, 9) }))).json() as Appt;
      for (const who of [b.admin, b.clinician, b.caregiver, b.apiKey]) {
        for (const [method, url, body] of [
          ['GET', `/api/v1/appointments/${created.id}`],
          ['PATCH', `/api/v1/appointments/${created.id}`, { startsAt: at(21, 9) }],
          // Even with B's own, valid clinician and patient the row stays out of reach.
          ['PATCH', `/api/v1/appointments/${created.id}`, { clinicianId: b.clinician.user.id, patientIds: [bPatient] }],
          ['POST', `/api/v1/appointments/${created.id}/cancel`, {}],
        ] as const) {
          const res = await who.request(method, url, body);
          // A caregiver is refused any write before the row is looked up; everyone else sees "no such row".
          const expected = who === b.caregiver && method !== 'GET' ? 403 : 404;
          assert.equal(res.statusCode, expected, `${method} ${url} -> ${res.statusCode} ${res.body}`);
          assert.equal(errorOf(res).code, expected === 404 ? 'not_found' : 'forbidden');
        }
        for (const query of ['', `?patientId=${p1}`, `?clinicianId=${a.clinician.user.id}`, `?from=${encodeURIComponent(at(20, 0))}&to=${encodeURIComponent(at(21, 0))}`]) {
          const list = await who.get(`/api/v1/appointments${query}`);
          assert.equal(list.statusCode, 200);
          assert.ok(!(list.json() as PageOf<Appt>).data.some((x) => x.id === created.id), `B listed A's appointment with "${query}"`);
        }
      }
      // B cannot schedule A's people either.
      const steal = await create(b.clinician, { kind: 'video', clinicianId: a.clinician.user.id, patientIds: [p1], startsAt: at(20, 10), durationMinutes: 30 });
      assert.equal(steal.statusCode, 400);
      assert.deepEqual(detailPaths(steal).sort(), ['body/clinicianId']);
      const steal2 = await create(b.clinician, { kind: 'video', clinicianId: b.clinician.user.id, patientIds: [p1], startsAt: at(20, 10), durationMinutes: 30 });
      assert.deepEqual(detailPaths(steal2), ['body/patientIds/0']);

      assert.deepEqual((await a.clinician.get(`/api/v1/appointments/${created.id}`)).json(), created, 'A’s appointment is unchanged');
      assert.deepEqual(await auditActions(t, a.orgId, created.id), ['appointment.created']);
      const inB = await t.database.db.select().from(auditEvents).where(and(eq(auditEvents.orgId, b.orgId), eq(auditEvents.targetId, created.id)));
      assert.deepEqual(inB, []);
    });
  });
}
