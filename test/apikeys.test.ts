import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { and, eq, sql } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import { SESSION_COOKIE, sha256Hex } from '../src/server/auth/secrets.js';
import { apiKeys, auditEvents } from '../src/server/db/schema.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { auditActions } from './helpers/audit.js';
import { caller, createTestOrg, errorOf, type Caller, type TestOrg, expectStatus } from './helpers/builders.js';
import { DB_KINDS } from './helpers/db.js';

interface ApiKeyDto {
  id: string;
  name: string;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

const cursorOf = (values: unknown[]) => Buffer.from(JSON.stringify(values)).toString('base64url');
const bearer = (app: TestApp, key: string): Caller => caller(app.app, { authorization: `Bearer ${key}` });

for (const kind of DB_KINDS) {
  describe(`api keys on ${kind}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;

    before(async () => {
      t = await createTestApp(kind);
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
    });
    after(() => t.close());

    const row = async (id: string) => (await t.database.db.select().from(apiKeys).where(eq(apiKeys.id, id)))[0]!;
    async function create(org: TestOrg, name: string): Promise<{ apiKey: ApiKeyDto; key: string }> {
      const res = await org.admin.post('/api/v1/api-keys', { name });
      assert.equal(res.statusCode, 201, res.body);
      return res.json();
    }
    async function listAll(who: Caller, query: string, limit: number): Promise<ApiKeyDto[]> {
      const seen: ApiKeyDto[] = [];
      let cursor: string | null = null;
      for (let pages = 0; pages < 50; pages++) {
        const res = await who.get(`/api/v1/api-keys?limit=${limit}${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        assert.equal(res.statusCode, 200, res.body);
        const body = res.json() as { data: ApiKeyDto[]; nextCursor: string | null };
        assert.ok(body.data.length <= limit);
        seen.push(...body.data);
        cursor = body.nextCursor;
        if (!cursor) return seen;
      }
      throw new Error('pagination does not end');
    }

    test('create shows an ovk_ key once; it works as a Bearer token; only its hash is stored; audited', async () => {
      const res = await a.admin.post('/api/v1/api-keys', { name: '  EHR integration ' });
      assert.equal(res.statusCode, 201, res.body);
      const { apiKey, key } = res.json() as { apiKey: ApiKeyDto; key: string };
      assert.match(key, /^ovk_[A-Za-z0-9_-]{43}$/);
      assert.equal(apiKey.name, 'EHR integration');
      assert.equal(apiKey.prefix, key.slice(0, apiKey.prefix.length));
      assert.ok(apiKey.prefix.startsWith('ovk_') && apiKey.prefix.length < 16, `a short prefix: ${apiKey.prefix}`);
      assert.equal(apiKey.lastUsedAt, null);
      assert.equal(apiKey.revokedAt, null);

      const patients = await bearer(t, key).get('/api/v1/patients');
      assert.equal(patients.statusCode, 200, patients.body);
      const lowerScheme = await caller(t.app, { authorization: `bearer ${key}` }).get('/api/v1/patients');
      assert.equal(lowerScheme.statusCode, 200, 'the scheme is case-insensitive');

      // Never shown again: the list carries no key, only the prefix.
      const list = await a.admin.get('/api/v1/api-keys');
      assert.equal(list.statusCode, 200, list.body);
      assert.ok(!list.body.includes(key));
      const listed = (list.json().data as ApiKeyDto[]).find((k) => k.id === apiKey.id);
      assert.ok(listed);
      assert.deepEqual(Object.keys(listed).sort(), ['createdAt', 'id', 'lastUsedAt', 'name', 'prefix', 'revokedAt']);

      // The stored row holds no column equal to (or containing) the key.
      const stored = await row(apiKey.id);
      for (const [column, value] of Object.entries(stored)) {
        assert.ok(!(typeof value === 'string' && value.includes(key)), `column ${column} holds the key`);
      }
      assert.equal(stored.keyHash, sha256Hex(key));
      assert.equal(stored.orgId, a.orgId);
      assert.equal(stored.createdByUserId, a.admin.user.id);

      assert.deepEqual(await auditActions(t, a.orgId, apiKey.id), ['api_key.created']);
      const [event] = await t.database.db.select().from(auditEvents).where(and(eq(auditEvents.action, 'api_key.created'), eq(auditEvents.targetId, apiKey.id)));
      assert.equal(event!.actorType, 'user');
      assert.equal(event!.actorId, a.admin.user.id);
      assert.ok(!JSON.stringify(event).includes(key));
      assert.ok(!t.logs.join('').includes(key), 'the key never reaches the log');
    });

    test('lastUsedAt is recorded when a key is used', async () => {
      const { apiKey, key } = await create(a, 'usage');
      const before = Date.now();
      assert.equal((await bearer(t, key).get('/api/v1/users')).statusCode, 200);
      const listed = ((await a.admin.get('/api/v1/api-keys?limit=200')).json().data as ApiKeyDto[]).find((k) => k.id === apiKey.id);
      assert.ok(listed?.lastUsedAt, 'lastUsedAt is set');
      const at = Date.parse(listed.lastUsedAt);
      assert.ok(at >= before - 1000 && at <= Date.now() + 1000, listed.lastUsedAt);
      // Unused keys stay null.
      const { apiKey: idle } = await create(a, 'idle');
      const idleListed = ((await a.admin.get('/api/v1/api-keys?limit=200')).json().data as ApiKeyDto[]).find((k) => k.id === idle.id);
      assert.equal(idleListed?.lastUsedAt, null);
    });

    test('a revoked key is refused at once; revoking is idempotent and audited once', async () => {
      const { apiKey, key } = await create(a, 'to revoke');
      const client = bearer(t, key);
      assert.equal((await client.get('/api/v1/patients')).statusCode, 200);

      const res = await a.admin.post(`/api/v1/api-keys/${apiKey.id}/revoke`);
      assert.equal(res.statusCode, 200, res.body);
      const revoked = res.json() as ApiKeyDto;
      assert.equal(revoked.id, apiKey.id);
      assert.ok(revoked.revokedAt);
      assert.ok(!res.body.includes(key));

      for (const url of ['/api/v1/patients', '/api/v1/users', '/api/v1/organization']) {
        const refused = await client.get(url);
        await expectStatus(refused, 401, 'unauthenticated', url);
      }

      const active = (await a.admin.get('/api/v1/api-keys?limit=200')).json().data as ApiKeyDto[];
      assert.ok(!active.some((k) => k.id === apiKey.id), 'revoked keys are hidden by default');
      const all = (await a.admin.get('/api/v1/api-keys?limit=200&includeRevoked=true')).json().data as ApiKeyDto[];
      assert.equal(all.find((k) => k.id === apiKey.id)?.revokedAt, revoked.revokedAt);

      const again = await a.admin.post(`/api/v1/api-keys/${apiKey.id}/revoke`);
      assert.equal(again.statusCode, 200);
      assert.equal(again.json().revokedAt, revoked.revokedAt, 'the first revocation time is kept');
      assert.deepEqual(await auditActions(t, a.orgId, apiKey.id), ['api_key.created', 'api_key.revoked']);
      const [event] = await t.database.db.select().from(auditEvents).where(eq(auditEvents.requestId, res.headers['x-request-id'] as string));
      assert.equal(event!.action, 'api_key.revoked');
      assert.equal(event!.actorId, a.admin.user.id);

      await expectStatus(await a.admin.post(`/api/v1/api-keys/${randomUUID()}/revoke`), 404, 'not_found');
      await expectStatus(await a.admin.post('/api/v1/api-keys/nope/revoke'), 400, 'validation_failed');
    });

    test('only a signed-in admin manages keys: other roles and API keys (even on their own key) get 403', async () => {
      const { apiKey, key } = await create(a, 'guarded');
      const itself = bearer(t, key);
      for (const who of [a.clinician, a.caregiver, a.apiKey, itself]) {
        for (const [method, url, body] of [
          ['GET', '/api/v1/api-keys'],
          ['GET', '/api/v1/api-keys?includeRevoked=true'],
          ['POST', '/api/v1/api-keys', { name: 'minted' }],
          ['POST', `/api/v1/api-keys/${apiKey.id}/revoke`, {}],
          ['POST', `/api/v1/api-keys/${a.apiKey.id}/revoke`, {}],
        ] as const) {
          await expectStatus(await who.request(method, url, body), 403, 'forbidden', `${method} ${url}`);
        }
      }
      const rows = await t.database.db.select().from(apiKeys).where(eq(apiKeys.orgId, a.orgId));
      assert.ok(!rows.some((r) => r.name === 'minted'), 'nothing was minted');
      assert.equal((await row(apiKey.id)).revokedAt, null);
      assert.equal((await row(a.apiKey.id)).revokedAt, null);
      assert.equal((await itself.get('/api/v1/patients')).statusCode, 200);
    });

    test('401 without credentials, with an unknown key or a forged session', async () => {
      for (const headers of [{}, { authorization: 'Bearer ovk_unknown' }, { authorization: `Bearer ${a.apiKey.key}x` }, { authorization: a.apiKey.key }, { cookie: `${SESSION_COOKIE}=forged` }] as Record<string, string>[]) {
        for (const [method, url, body] of [
          ['GET', '/api/v1/api-keys'],
          ['POST', '/api/v1/api-keys', { name: 'anonymous' }],
          ['POST', `/api/v1/api-keys/${a.apiKey.id}/revoke`, {}],
        ] as const) {
          await expectStatus(await caller(t.app, headers).request(method, url, body), 401, 'unauthenticated', `${JSON.stringify(headers)} ${method} ${url}`);
        }
      }
      assert.equal((await row(a.apiKey.id)).revokedAt, null);
    });

    test('create: invalid input is a 400 naming the field', async () => {
      for (const [input, path] of [
        [{}, 'body/name'],
        [{ name: '' }, 'body/name'],
        [{ name: 'x'.repeat(101) }, 'body/name'],
        [{ name: 42 }, 'body/name'],
        [{ name: 'ok', orgId: b.orgId }, 'body/orgId'],
        [{ name: '   ' }, 'body/name'],
      ] as const) {
        const res = await a.admin.post('/api/v1/api-keys', input);
        await expectStatus(res, 400, 'validation_failed', JSON.stringify(input));
        assert.deepEqual(((errorOf(res).details ?? []) as { path: string }[]).map((d) => d.path), [path], JSON.stringify(input));
      }
      const rows = await t.database.db.select().from(apiKeys).where(eq(apiKeys.orgId, b.orgId));
      assert.equal(rows.length, 1, 'nothing was created in B (or anywhere)');
    });

    test('list: newest first; cursor pagination walks every key exactly once', async () => {
      const org = await createTestOrg(t.app);
      for (let i = 0; i < 4; i++) await create(org, `key ${i}`);
      // Keys made in the same millisecond (a script, a migration) must not be skipped either.
      await t.database.db.insert(apiKeys).values(
        [123_456, 123_789, 123_001].map((micros, i) => ({
          orgId: org.orgId,
          name: `batch ${i}`,
          prefix: 'ovk_batch',
          keyHash: sha256Hex(randomUUID()),
          createdAt: sql`${`2024-05-01 12:00:00.${String(micros).padStart(6, '0')}+00`}::timestamptz`,
        })),
      );
      const everything = (await org.admin.get('/api/v1/api-keys?limit=200')).json().data as ApiKeyDto[];
      assert.equal(everything.length, 4 + 3 + 1);
      const times = everything.map((k) => Date.parse(k.createdAt));
      assert.deepEqual(times, [...times].sort((x, y) => y - x), 'newest first');
      assert.deepEqual(everything.slice(0, 4).map((k) => k.name), ['key 3', 'key 2', 'key 1', 'key 0']);

      for (const limit of [1, 2, 3]) {
        const walked = await listAll(org.admin, '', limit);
        assert.deepEqual(walked.map((k) => k.id), everything.map((k) => k.id), `limit ${limit}`);
      }
      await org.admin.post(`/api/v1/api-keys/${everything[1]!.id}/revoke`);
      const withRevoked = await listAll(org.admin, '&includeRevoked=true', 2);
      assert.equal(withRevoked.length, everything.length);
      const active = await listAll(org.admin, '', 2);
      assert.deepEqual(active.map((k) => k.id), everything.filter((_, i) => i !== 1).map((k) => k.id));

      await expectStatus(await org.admin.get('/api/v1/api-keys?cursor=garbage'), 400, 'invalid_cursor');
      await expectStatus(await org.admin.get(`/api/v1/api-keys?cursor=${cursorOf(['yesterday', randomUUID()])}`), 400, 'invalid_cursor');
      await expectStatus(await org.admin.get(`/api/v1/api-keys?cursor=${cursorOf([new Date().toISOString(), 'not-a-uuid'])}`), 400, 'invalid_cursor');
      await expectStatus(await org.admin.get('/api/v1/api-keys?limit=0'), 400, 'validation_failed');
    });

    test('organisation B can never see, use against A, or revoke A’s keys', async () => {
      const { apiKey, key } = await create(a, 'private to A');
      for (const who of [b.admin, b.clinician, b.caregiver, b.apiKey]) {
        const res = await who.post(`/api/v1/api-keys/${apiKey.id}/revoke`);
        // B's admin may call the route, but A's key is "not found"; everyone else may not call it at all.
        const [status, code] = who === b.admin ? [404, 'not_found'] : [403, 'forbidden'];
        await expectStatus(res, status, code, `revoke as ${who === b.apiKey ? 'api key' : 'user'}`);
      }
      const listed = (await b.admin.get('/api/v1/api-keys?limit=200&includeRevoked=true')).json().data as ApiKeyDto[];
      assert.deepEqual(
        listed.map((k) => k.id),
        [b.apiKey.id],
      );
      // A's key only ever sees A's data.
      const users = (await bearer(t, key).get('/api/v1/users?limit=200')).json().data as { orgId: string }[];
      assert.ok(users.length > 0 && users.every((u) => u.orgId === a.orgId));
      await expectStatus(await bearer(t, key).get(`/api/v1/users/${b.admin.user.id}`), 404, 'not_found');
      assert.equal((await bearer(t, key).get('/api/v1/organization')).json().id, a.orgId);

      const stored = await row(apiKey.id);
      assert.equal(stored.revokedAt, null);
      assert.equal(stored.name, 'private to A');
      assert.equal((await bearer(t, key).get('/api/v1/patients')).statusCode, 200);
      assert.deepEqual(await auditActions(t, a.orgId, apiKey.id), ['api_key.created']);
      const stray = await t.database.db.select().from(auditEvents).where(and(eq(auditEvents.orgId, b.orgId), eq(auditEvents.targetId, apiKey.id)));
      assert.deepEqual(stray, []);
    });
  });
}
