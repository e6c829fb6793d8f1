import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { and, asc, count, eq, sql } from 'drizzle-orm';
import { eventHash } from '../src/server/audit/chain.js';
import { verifyAuditChains } from '../src/server/audit/service.js';
import { sqlState, type Db } from '../src/server/db/index.js';
import { auditEvents } from '../src/server/db/schema.js';
import { encodeCursor } from '../src/server/http/pagination.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { allAuditRows } from './helpers/audit.js';
import { createTestOrg, errorOf, TEST_PASSWORD, type Caller, type TestOrg, detailPaths } from './helpers/builders.js';
import { DB_KINDS } from './helpers/db.js';

interface Event {
  id: number;
  seq: number;
  at: string;
  actor: { type: string; id: string | null };
  action: string;
  target: { type: string; id: string | null } | null;
  requestId: string | null;
  ip: string | null;
  outcome: 'success' | 'failure';
  details: Record<string, unknown> | null;
  hash: string;
  prevHash: string;
}

interface PageOf<T> {
  data: T[];
  nextCursor: string | null;
}

const ROLLBACK = new Error('roll back the tampering');

/** Runs `fn` in a transaction that is always rolled back, with the append-only trigger bypassed (superuser only). */
async function tamper(db: Db, fn: (tx: Db) => Promise<void>): Promise<void> {
  try {
    await db.transaction(async (tx) => {
      await tx.execute(sql`set local session_replication_role = replica`);
      await fn(tx as unknown as Db);
      throw ROLLBACK;
    });
  } catch (err) {
    if (err !== ROLLBACK) throw err;
    return;
  }
  assert.fail('the transaction was not rolled back');
}


/** Every page of the audit log, following nextCursor. */
async function walk(who: Caller, query = '', limit = 500): Promise<Event[]> {
  const out: Event[] = [];
  let cursor: string | null = null;
  for (let pages = 0; pages < 200; pages++) {
    const params = new URLSearchParams(query);
    params.set('limit', String(limit));
    if (cursor) params.set('cursor', cursor);
    const res = await who.get(`/api/v1/audit?${params.toString()}`);
    assert.equal(res.statusCode, 200, res.body);
    const body = res.json() as PageOf<Event>;
    out.push(...body.data);
    cursor = body.nextCursor;
    if (!cursor) return out;
  }
  throw new Error('pagination did not end');
}

async function chainRows(db: Db, chain: string) {
  return db.select().from(auditEvents).where(eq(auditEvents.chain, chain)).orderBy(asc(auditEvents.seq));
}

/** Every chain's seq numbers are exactly 1..n. Returns the number of events per chain. */
async function assertConsecutive(db: Db): Promise<Map<string, number>> {
  const rows = await db.select({ chain: auditEvents.chain, seq: auditEvents.seq }).from(auditEvents).orderBy(asc(auditEvents.chain), asc(auditEvents.seq));
  const byChain = new Map<string, number[]>();
  for (const r of rows) byChain.set(r.chain, [...(byChain.get(r.chain) ?? []), r.seq]);
  for (const [chain, seqs] of byChain) {
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => i + 1),
      `chain ${chain} has gaps or repeats`,
    );
  }
  return new Map([...byChain].map(([chain, seqs]) => [chain, seqs.length]));
}

async function totalEvents(db: Db): Promise<number> {
  const [row] = await db.select({ n: count() }).from(auditEvents);
  return Number(row!.n);
}

for (const kind of DB_KINDS) {
  describe(`audit on ${kind}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;
    let aPatient: string;

    before(async () => {
      t = await createTestApp(kind);
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
      const res = await a.clinician.post('/api/v1/patients', { givenName: 'Audit', familyName: 'Subject' });
      assert.equal(res.statusCode, 201, res.body);
      aPatient = (res.json() as { id: string }).id;
      assert.equal((await a.apiKey.patch(`/api/v1/patients/${aPatient}`, { timeZone: 'Europe/Paris' })).statusCode, 200);
      assert.equal((await b.clinician.post('/api/v1/patients', { givenName: 'Other', familyName: 'Org' })).statusCode, 201);
      // A failed sign-in to a known account lands in its organisation's chain; an unknown email in the system chain.
      const wrong = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: a.clinician.user.email, password: 'not the password' } });
      assert.equal(wrong.statusCode, 401);
      const unknown = await t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: 'nobody@nowhere.test', password: TEST_PASSWORD } });
      assert.equal(unknown.statusCode, 401);
    });
    after(() => t.close());

    test('only admins and API keys may read the audit log', async () => {
      for (const who of [a.admin, a.apiKey]) {
        const res = await who.get('/api/v1/audit');
        assert.equal(res.statusCode, 200, res.body);
        assert.ok((res.json() as PageOf<Event>).data.length > 0);
      }
      for (const who of [a.clinician, a.caregiver]) {
        const res = await who.get('/api/v1/audit');
        assert.equal(res.statusCode, 403);
        assert.equal(errorOf(res).code, 'forbidden');
      }
      for (const headers of [{}, { authorization: 'Bearer ovk_nope' }, { cookie: 'ov_session=forged' }]) {
        const res = await t.app.inject({ method: 'GET', url: '/api/v1/audit', headers });
        assert.equal(res.statusCode, 401);
        assert.equal(errorOf(res).code, 'unauthenticated');
      }
    });

    test('each organisation sees exactly its own events, never another’s', async () => {
      const mine = await walk(a.admin);
      const dbIds = (await t.database.db.select({ id: auditEvents.id }).from(auditEvents).where(eq(auditEvents.orgId, a.orgId))).map((r) => r.id);
      assert.deepEqual(mine.map((e) => e.id).sort((x, y) => x - y), dbIds.sort((x, y) => x - y), 'A lists all of its events and nothing else');
      const theirs = await walk(b.apiKey);
      const bIds = new Set((await t.database.db.select({ id: auditEvents.id }).from(auditEvents).where(eq(auditEvents.orgId, b.orgId))).map((r) => r.id));
      assert.deepEqual(new Set(theirs.map((e) => e.id)), bIds);
      assert.ok(!theirs.some((e) => mine.some((m) => m.id === e.id)));
      // Filters naming A's people or records find nothing from B.
      for (const query of [`targetId=${aPatient}`, `actorId=${a.clinician.user.id}`, `actorId=${a.apiKey.id}`, 'action=auth.login_failed', 'actorType=anonymous']) {
        const res = await b.admin.get(`/api/v1/audit?${query}`);
        assert.equal(res.statusCode, 200);
        assert.deepEqual((res.json() as PageOf<Event>).data, [], query);
      }
      // Events without an organisation (an unknown email's failed sign-in) are shown to no organisation.
      const system = await t.database.db.select().from(auditEvents).where(eq(auditEvents.chain, 'system'));
      const unknownEmail = system.filter((e) => e.action === 'auth.login_failed' && e.details?.reason === 'unknown_email');
      assert.equal(unknownEmail.length, 1);
      assert.ok(system.every((e) => e.orgId === null));
      assert.ok(!system.some((e) => mine.some((m) => m.id === e.id) || theirs.some((m) => m.id === e.id)));
    });

    test('filters: action, actorType, actorId, targetType, targetId, outcome, from, to', async () => {
      const list = async (query: string) => {
        const res = await a.admin.get(`/api/v1/audit?${query}`);
        assert.equal(res.statusCode, 200, `${query}: ${res.body}`);
        return (res.json() as PageOf<Event>).data;
      };
      const all = await walk(a.admin);
      const expect = (pred: (e: Event) => boolean) => all.filter(pred).map((e) => e.id);
      const ids = (events: Event[]) => events.map((e) => e.id);

      const created = await list('action=patient.created');
      assert.deepEqual(ids(created), expect((e) => e.action === 'patient.created'));
      assert.ok(created.length >= 1);
      assert.ok(created.every((e) => e.action === 'patient.created' && e.target?.type === 'patient'));

      const byKey = await list('actorType=api_key');
      assert.deepEqual(byKey.map((e) => [e.action, e.actor.id, e.target?.id]), [['patient.updated', a.apiKey.id, aPatient]]);
      assert.deepEqual(byKey[0]!.details, { fields: 'timeZone' });

      const anonymous = await list('actorType=anonymous');
      assert.deepEqual(anonymous.map((e) => [e.action, e.outcome, e.target?.id, e.details?.reason]), [['auth.login_failed', 'failure', a.clinician.user.id, 'wrong_password']]);
      assert.deepEqual(ids(await list('outcome=failure')), ids(anonymous));
      assert.deepEqual(ids(await list('outcome=success&limit=500')), expect((e) => e.outcome === 'success'));

      // createTestOrg writes as the system: the organisation, three users and an API key.
      assert.deepEqual((await list('actorType=system')).map((e) => e.action).sort(), ['api_key.created', 'org.created', 'user.created', 'user.created', 'user.created']);

      assert.deepEqual(ids(await list(`actorId=${a.clinician.user.id}`)), expect((e) => e.actor.id === a.clinician.user.id));
      assert.ok((await list(`actorId=${a.clinician.user.id}`)).some((e) => e.action === 'patient.created' && e.target?.id === aPatient));
      assert.deepEqual(ids(await list('targetType=user')), expect((e) => e.target?.type === 'user'));
      assert.deepEqual((await list(`targetType=patient&targetId=${aPatient}`)).map((e) => e.action), ['patient.updated', 'patient.created'], 'newest first');
      assert.deepEqual(ids(await list(`targetId=${aPatient}&actorType=user`)), expect((e) => e.target?.id === aPatient && e.actor.type === 'user'));
      assert.deepEqual(await list('targetId=00000000-0000-4000-8000-000000000000'), []);

      // Time bounds are inclusive at both ends.
      const pivot = all[Math.floor(all.length / 2)]!;
      assert.deepEqual(ids(await list(`limit=500&from=${encodeURIComponent(pivot.at)}`)), expect((e) => e.at >= pivot.at));
      assert.deepEqual(ids(await list(`limit=500&to=${encodeURIComponent(pivot.at)}`)), expect((e) => e.at <= pivot.at));
      assert.deepEqual(ids(await list(`limit=500&from=${encodeURIComponent(pivot.at)}&to=${encodeURIComponent(pivot.at)}`)), expect((e) => e.at === pivot.at));
      assert.ok(ids(await list(`from=${encodeURIComponent(pivot.at)}&to=${encodeURIComponent(pivot.at)}`)).includes(pivot.id));
      assert.deepEqual(await list('from=2999-01-01T00:00:00Z'), []);
      assert.deepEqual(await list('to=2000-01-01T00:00:00Z'), []);

      // Each event has the documented shape.
      for (const e of all) {
        assert.match(e.hash, /^[0-9a-f]{64}$/);
        assert.match(e.prevHash, /^[0-9a-f]{64}$/);
        assert.ok(!Number.isNaN(Date.parse(e.at)));
        assert.ok(['success', 'failure'].includes(e.outcome));
      }
    });

    test('invalid filter values are a 400 naming the parameter', async () => {
      for (const [query, paths] of [
        ['action=patient.deleted', ['querystring/action']],
        ['actorType=robot', ['querystring/actorType']],
        ['outcome=maybe', ['querystring/outcome']],
        ['from=yesterday', ['querystring/from']],
        ['to=2031-02-30T00:00:00Z', ['querystring/to']],
        ['from=2016-12-31T23:59:60Z', ['querystring/from']],
        ['to=0000-01-01T00:00:00Z', ['querystring/to']],
        ['from=2031-01-02T00:00:00Z&to=2031-01-01T00:00:00Z', ['querystring/from']],
        ['limit=0', ['querystring/limit']],
        ['limit=501', ['querystring/limit']],
        ['limit=many', ['querystring/limit']],
        ['targetType=', ['querystring/targetType']],
        ['actorId=', ['querystring/actorId']],
        [`targetId=${'x'.repeat(129)}`, ['querystring/targetId']],
        ['action=nope&outcome=maybe&from=then', ['querystring/action', 'querystring/from', 'querystring/outcome']],
      ] as const) {
        const res = await a.admin.get(`/api/v1/audit?${query}`);
        assert.equal(res.statusCode, 400, `${query}: ${res.body}`);
        assert.equal(errorOf(res).code, 'validation_failed', query);
        assert.deepEqual(detailPaths(res).sort(), paths, query);
      }
      for (const cursor of ['not-a-cursor', encodeCursor(['5']), encodeCursor([1, 2]), encodeCursor([1.5]), encodeCursor([-1]), encodeCursor([0]), encodeCursor([1e300])]) {
        const res = await a.admin.get(`/api/v1/audit?cursor=${encodeURIComponent(cursor)}`);
        assert.equal(res.statusCode, 400, `${cursor}: ${res.body}`);
        assert.equal(errorOf(res).code, 'invalid_cursor');
      }
    });

    test('cursor pagination walks newest first, every event exactly once, and the pages link up as a chain', async () => {
      const org = await createTestOrg(t.app);
      for (let i = 0; i < 7; i++) assert.equal((await org.clinician.post('/api/v1/patients', { givenName: `P${i}`, familyName: 'Paged' })).statusCode, 201);
      const dbRows = await chainRows(t.database.db, org.orgId);
      assert.equal(dbRows.length, 12, 'org, 3 users, API key, 7 patients');
      for (const limit of [1, 2, 5, 12]) {
        const seen = await walk(org.admin, '', limit);
        assert.deepEqual(
          seen.map((e) => e.id),
          dbRows.map((r) => r.id).reverse(),
          `limit ${limit}`,
        );
        assert.deepEqual(
          seen.map((e) => e.seq),
          dbRows.map((r) => r.seq).reverse(),
        );
      }
      const seen = await walk(org.admin, '', 3);
      for (let i = 0; i < seen.length - 1; i++) assert.equal(seen[i]!.prevHash, seen[i + 1]!.hash, `event ${seen[i]!.seq} links to ${seen[i + 1]!.seq}`);
      assert.equal(seen.at(-1)!.prevHash, '0'.repeat(64), 'the first event links to the genesis hash');
      const first = (await org.admin.get('/api/v1/audit?limit=12')).json() as PageOf<Event>;
      assert.equal(first.nextCursor, null, 'no cursor when everything fits');
      // Pagination composes with a filter.
      const patients = await walk(org.admin, 'action=patient.created', 2);
      assert.deepEqual(
        patients.map((e) => e.id),
        dbRows
          .filter((r) => r.action === 'patient.created')
          .map((r) => r.id)
          .reverse(),
      );
    });

    test('concurrent audited changes keep one gap-free, verifiable chain per organisation', async () => {
      const db = t.database.db;
      const beforeA = (await chainRows(db, a.orgId)).length;
      const beforeB = (await chainRows(db, b.orgId)).length;
      const responses = await Promise.all([
        ...Array.from({ length: 20 }, (_, i) => a.clinician.post('/api/v1/patients', { givenName: `Par${i}`, familyName: 'Allel' })),
        ...Array.from({ length: 8 }, (_, i) => b.apiKey.post('/api/v1/patients', { givenName: `Bee${i}`, familyName: 'Allel' })),
        a.apiKey.patch(`/api/v1/patients/${aPatient}`, { timeZone: 'Asia/Tokyo' }),
        a.clinician.patch(`/api/v1/patients/${aPatient}`, { givenName: 'Renamed' }),
      ]);
      for (const res of responses) assert.ok(res.statusCode === 200 || res.statusCode === 201, res.body);
      assert.equal((await chainRows(db, a.orgId)).length, beforeA + 22);
      assert.equal((await chainRows(db, b.orgId)).length, beforeB + 8);

      const perChain = await assertConsecutive(db);
      const total = await totalEvents(db);
      assert.equal([...perChain.values()].reduce((x, y) => x + y, 0), total);
      assert.ok(perChain.has('system'));
      const result = await verifyAuditChains(db);
      const { heads, ...summary } = result;
      assert.deepEqual(summary, { ok: true, chains: perChain.size, events: total });
      // Each head is the newest event of its chain, to be recorded outside the database.
      assert.deepEqual(
        heads.map((h) => [h.chain, h.seq]).sort(),
        [...perChain.entries()].sort(),
      );
      // The same answer when the walk pages through each chain in small steps.
      assert.deepEqual(await verifyAuditChains(db, 3), result);
      assert.deepEqual(await verifyAuditChains(db, 1), result);

      // Every stored hash is the hash of the stored event and its predecessor.
      const rows = await chainRows(db, a.orgId);
      let prev = '0'.repeat(64);
      for (const row of rows) {
        assert.equal(row.prevHash, prev);
        assert.equal(eventHash(prev, { ...row, details: row.details ?? null }), row.hash);
        prev = row.hash;
      }
    });

    test('the audit table refuses UPDATE, DELETE and TRUNCATE (SQLSTATE 42501)', async () => {
      const db = t.database.db;
      const [row] = await chainRows(db, a.orgId);
      for (const statement of [
        sql`update ${auditEvents} set action = 'patient.archived' where id = ${row!.id}`,
        sql`update ${auditEvents} set details = null`,
        sql`delete from ${auditEvents} where id = ${row!.id}`,
        sql`delete from ${auditEvents}`,
        sql`truncate ${auditEvents}`,
      ]) {
        await assert.rejects(db.execute(statement), (err) => sqlState(err) === '42501');
      }
      const [again] = await chainRows(db, a.orgId);
      assert.deepEqual(again, row);
      assert.equal((await verifyAuditChains(db)).ok, true);
    });

    test('tampering is detected at exactly the altered event; a deleted event is reported missing', async () => {
      const db = t.database.db;
      const rows = await chainRows(db, a.orgId);
      assert.ok(rows.length >= 6);
      const victim = rows[3]!; // seq 4, in the middle of the chain
      assert.equal(victim.seq, 4);
      const expectBroken = async (tx: Db, seq: number, reason: RegExp) => {
        const result = await verifyAuditChains(tx);
        assert.equal(result.ok, false);
        assert.equal(result.broken?.chain, a.orgId);
        assert.equal(result.broken?.seq, seq);
        assert.match(result.broken!.reason, reason);
        // The small-page walk finds the same break.
        assert.deepEqual((await verifyAuditChains(tx, 2)).broken, result.broken);
      };

      await tamper(db, async (tx) => {
        await tx.update(auditEvents).set({ details: { ...victim.details, tampered: true } }).where(eq(auditEvents.id, victim.id));
        await expectBroken(tx, 4, /altered/);
      });
      await tamper(db, async (tx) => {
        await tx.update(auditEvents).set({ action: 'user.disabled' }).where(eq(auditEvents.id, victim.id));
        await expectBroken(tx, 4, /altered/);
      });
      await tamper(db, async (tx) => {
        await tx.update(auditEvents).set({ at: new Date(victim.at.getTime() - 60_000) }).where(eq(auditEvents.id, victim.id));
        await expectBroken(tx, 4, /altered/);
      });
      // Rewriting the event and its hash breaks the link to the next event instead.
      await tamper(db, async (tx) => {
        const forged = { ...victim, actorId: b.admin.user.id, details: victim.details ?? null };
        await tx
          .update(auditEvents)
          .set({ actorId: forged.actorId, hash: eventHash(victim.prevHash, forged) })
          .where(eq(auditEvents.id, victim.id));
        await expectBroken(tx, 5, /prev_hash/);
      });
      await tamper(db, async (tx) => {
        await tx.delete(auditEvents).where(eq(auditEvents.id, victim.id));
        const result = await verifyAuditChains(tx);
        assert.equal(result.ok, false);
        assert.equal(result.broken?.chain, a.orgId);
        assert.match(result.broken!.reason, /event 4 is missing/);
        assert.equal(result.broken?.seq, 5, 'reported at the event found in its place');
      });
      // Another chain's tampering names that chain; A's chain is untouched by it.
      await tamper(db, async (tx) => {
        await tx
          .update(auditEvents)
          .set({ details: { reason: 'disabled' } })
          .where(and(eq(auditEvents.chain, 'system'), eq(auditEvents.seq, 1)));
        const result = await verifyAuditChains(tx);
        assert.deepEqual([result.ok, result.broken?.chain, result.broken?.seq], [false, 'system', 1]);
      });

      // Every change above was rolled back: the log verifies again.
      assert.deepEqual(await chainRows(db, a.orgId), rows);
      assert.equal((await verifyAuditChains(db)).ok, true);
    });

    test('no audit event holds PHI: names, phone numbers, emails, dates of birth, record numbers', async () => {
      const created = await a.clinician.post('/api/v1/patients', {
        givenName: 'Zebulon',
        familyName: 'Quixotically',
        dateOfBirth: '1971-03-04',
        phone: '+1 415 555 0187',
        email: 'Zebulon.Q@phi.test',
        externalId: 'MRN-PHI-7731',
      });
      assert.equal(created.statusCode, 201, created.body);
      const id = (created.json() as { id: string }).id;
      const updated = await a.apiKey.patch(`/api/v1/patients/${id}`, {
        givenName: 'Yolanda',
        familyName: 'Xanthopoulos',
        dateOfBirth: '1968-11-22',
        phone: '+44 20 7946 0321',
        email: 'yx@phi.test',
        externalId: 'MRN-PHI-8842',
      });
      assert.equal(updated.statusCode, 200, updated.body);
      assert.equal((await a.clinician.post(`/api/v1/patients/${id}/consents`, { kind: 'sms', status: 'granted', method: 'verbal' })).statusCode, 201);
      assert.equal((await a.clinician.post(`/api/v1/patients/${id}/archive`)).statusCode, 200);

      const needles = ['Zebulon', 'Quixotically', '1971-03-04', '4155550187', '415 555', 'zebulon.q@phi.test', 'MRN-PHI-7731', 'Yolanda', 'Xanthopoulos', '1968-11-22', '2079460321', 'yx@phi.test', 'MRN-PHI-8842'];
      const raw = JSON.stringify(await allAuditRows(t)).toLowerCase();
      const listed = JSON.stringify(await walk(a.admin)).toLowerCase();
      for (const needle of needles) {
        assert.ok(!raw.includes(needle.toLowerCase()), `audit rows contain ${needle}`);
        assert.ok(!listed.includes(needle.toLowerCase()), `GET /audit shows ${needle}`);
      }
      const events = (await walk(a.admin, `targetId=${id}`)).reverse();
      assert.deepEqual(
        events.map((e) => e.action),
        ['patient.created', 'patient.updated', 'consent.recorded', 'patient.archived'],
      );
      assert.deepEqual(events[1]!.details, { fields: 'dateOfBirth,email,externalId,familyName,givenName,phone' }, 'field names, not values');
    });
  });
}
