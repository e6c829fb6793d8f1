import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { and, eq } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import { SESSION_COOKIE, sha256Hex } from '../src/server/auth/secrets.js';
import { auditEvents, sessions, users } from '../src/server/db/schema.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { auditActions } from './helpers/audit.js';
import { addStaff, caller, createTestOrg, errorOf, sessionFor, TEST_PASSWORD, type Caller, type TestOrg, expectStatus, detailPaths } from './helpers/builders.js';
import { DB_KINDS } from './helpers/db.js';

interface UserDto {
  id: string;
  orgId: string;
  email: string;
  name: string;
  role: string;
  disabled: boolean;
  lastLoginAt: string | null;
  createdAt: string;
  updatedAt: string;
}

const cursorOf = (values: unknown[]) => Buffer.from(JSON.stringify(values)).toString('base64url');

for (const kind of DB_KINDS) {
  describe(`users on ${kind}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;

    before(async () => {
      t = await createTestApp(kind, { env: { LOGIN_RATE_LIMIT_PER_MINUTE: '1000' } });
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
    });
    after(() => t.close());

    const email = (label: string) => `${label}-${randomBytes(4).toString('hex')}@example.test`;
    const login = (emailAddress: string, password: string) => t.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email: emailAddress, password } });
    const withCookie = (token: string): Caller => caller(t.app, { cookie: `${SESSION_COOKIE}=${token}` });
    const dbRow = async (id: string) => (await t.database.db.select().from(users).where(eq(users.id, id)))[0]!;


    async function listAll(who: Caller, query: string, limit: number): Promise<UserDto[]> {
      const seen: UserDto[] = [];
      let cursor: string | null = null;
      for (let pages = 0; pages < 50; pages++) {
        const res = await who.get(`/api/v1/users?limit=${limit}${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        assert.equal(res.statusCode, 200, res.body);
        const body = res.json() as { data: UserDto[]; nextCursor: string | null };
        assert.ok(body.data.length <= limit);
        seen.push(...body.data);
        cursor = body.nextCursor;
        if (!cursor) return seen;
      }
      throw new Error('pagination does not end');
    }

    test('list: every staff role and the API key see their organisation’s users, and only those', async () => {
      const mine = [a.admin.user.id, a.clinician.user.id, a.caregiver.user.id];
      for (const who of [a.admin, a.clinician, a.caregiver, a.apiKey]) {
        const res = await who.get('/api/v1/users?limit=200');
        assert.equal(res.statusCode, 200, res.body);
        const data = res.json().data as UserDto[];
        for (const id of mine) assert.ok(data.some((u) => u.id === id), `user ${id} listed`);
        assert.ok(data.every((u) => u.orgId === a.orgId), 'only organisation A');
        assert.ok(!res.body.includes('scrypt') && data.every((u) => !('passwordHash' in u)), 'no password hashes');
      }
      const other = (await b.admin.get(`/api/v1/users?q=${encodeURIComponent(a.admin.user.email)}`)).json();
      assert.deepEqual(other.data, []);
    });

    test('list: filter by role and search text; cursor pagination walks everything exactly once', async () => {
      const org = await createTestOrg(t.app);
      const names = ['Zed Zimmer', 'Amy Adams', 'Bob Brown', 'Cat Cruz', 'Dan Diaz', 'Eve 100% Evans'];
      for (const [i, name] of names.entries()) {
        const res = await org.admin.post('/api/v1/users', { email: email(`u${i}`), name, role: i % 2 ? 'clinician' : 'caregiver', password: TEST_PASSWORD });
        assert.equal(res.statusCode, 201, res.body);
      }
      // Same-name users: the id breaks the tie, so none is skipped or repeated across pages.
      await Promise.all([addStaff(t.app, org.orgId, 'clinician'), addStaff(t.app, org.orgId, 'clinician')]);
      const everyone = (await org.clinician.get('/api/v1/users?limit=200')).json().data as UserDto[];
      assert.equal(everyone.length, names.length + 5);
      assert.equal(new Set(everyone.map((u) => u.id)).size, everyone.length);

      for (const limit of [1, 2, 4]) {
        const walked = await listAll(org.apiKey, '', limit);
        assert.deepEqual(walked.map((u) => u.id), everyone.map((u) => u.id), `limit ${limit}`);
      }
      const clinicians = await listAll(org.caregiver, '&role=clinician', 2);
      assert.deepEqual(clinicians.map((u) => u.name).sort(), ['Amy Adams', 'Cat Cruz', 'Eve 100% Evans', 'Test clinician', 'Test clinician', 'Test clinician']);

      const byName = (await org.clinician.get('/api/v1/users?q=cRuZ')).json().data as UserDto[];
      assert.deepEqual(byName.map((u) => u.name), ['Cat Cruz']);
      const byEmail = (await org.clinician.get(`/api/v1/users?q=${encodeURIComponent(org.admin.user.email.toUpperCase())}`)).json().data as UserDto[];
      assert.deepEqual(byEmail.map((u) => u.id), [org.admin.user.id]);
      // LIKE wildcards typed by the user are literal.
      const percent = (await org.clinician.get('/api/v1/users?q=0%25')).json().data as UserDto[];
      assert.deepEqual(percent.map((u) => u.name), ['Eve 100% Evans']);
      const underscore = (await org.clinician.get('/api/v1/users?q=_')).json().data as UserDto[];
      assert.deepEqual(underscore, []);
      const combined = (await org.clinician.get('/api/v1/users?role=caregiver&q=zim')).json().data as UserDto[];
      assert.deepEqual(combined.map((u) => u.name), ['Zed Zimmer']);

      await expectStatus(await org.clinician.get('/api/v1/users?cursor=not-a-cursor'), 400, 'invalid_cursor');
      // Well-formed JSON with a wrong id is still the client's mistake, not a 500.
      await expectStatus(await org.clinician.get(`/api/v1/users?cursor=${cursorOf(['Amy', 'not-a-uuid'])}`), 400, 'invalid_cursor');
      await expectStatus(await org.clinician.get(`/api/v1/users?cursor=${cursorOf(['Amy'])}`), 400, 'invalid_cursor');
      await expectStatus(await org.clinician.get('/api/v1/users?role=superuser'), 400, 'validation_failed');
      await expectStatus(await org.clinician.get('/api/v1/users?limit=0'), 400, 'validation_failed');
      await expectStatus(await org.clinician.get('/api/v1/users?limit=201'), 400, 'validation_failed');
    });

    test('create: admins only; the new user can sign in; audited', async () => {
      const body = { email: email('New.Person').toUpperCase(), name: '  New Person ', role: 'clinician', password: 'a fine long password' };
      for (const who of [a.clinician, a.caregiver]) {
        await expectStatus(await who.post('/api/v1/users', body), 403, 'forbidden');
      }
      const res = await a.admin.post('/api/v1/users', body);
      assert.equal(res.statusCode, 201, res.body);
      const user = res.json() as UserDto;
      assert.equal(user.email, body.email.toLowerCase());
      assert.equal(user.name, 'New Person');
      assert.equal(user.role, 'clinician');
      assert.equal(user.orgId, a.orgId);
      assert.equal(user.disabled, false);
      assert.equal(user.lastLoginAt, null);
      assert.ok(!res.body.includes('scrypt'));
      const stored = await dbRow(user.id);
      assert.ok(stored.passwordHash.startsWith('scrypt$') && !stored.passwordHash.includes(body.password), 'only a hash is stored');

      const signIn = await login(body.email, body.password);
      assert.equal(signIn.statusCode, 200, signIn.body);
      assert.equal(signIn.json().user.id, user.id);

      const [created] = await t.database.db.select().from(auditEvents).where(and(eq(auditEvents.action, 'user.created'), eq(auditEvents.targetId, user.id)));
      assert.equal(created!.actorType, 'user');
      assert.equal(created!.actorId, a.admin.user.id);
      assert.equal(created!.orgId, a.orgId);
      assert.ok(!JSON.stringify(created).includes(body.email.toLowerCase()), 'no email in the audit row');

      // Emails are unique across the installation, whatever their case.
      const again = await a.admin.post('/api/v1/users', { ...body, email: body.email.toLowerCase() });
      await expectStatus(again, 409, 'already_exists');
      await expectStatus(await b.admin.post('/api/v1/users', body), 409, 'already_exists');
      assert.equal((await t.database.db.select().from(users).where(eq(users.email, user.email))).length, 1);
    });

    test('API keys cannot manage staff (a key that made an admin could sign in and mint keys)', async () => {
      const provisioned = email('provisioned');
      const res = await a.apiKey.post('/api/v1/users', { email: provisioned, name: 'Provisioned By EHR', role: 'admin', password: TEST_PASSWORD });
      await expectStatus(res, 403, 'forbidden');
      await expectStatus(await a.apiKey.patch(`/api/v1/users/${a.clinician.user.id}`, { role: 'admin' }), 403, 'forbidden');
      await expectStatus(await a.apiKey.post(`/api/v1/users/${a.clinician.user.id}/sessions/revoke`), 403, 'forbidden');
      assert.equal((await t.database.db.select().from(users).where(eq(users.email, provisioned))).length, 0);
      assert.equal((await dbRow(a.clinician.user.id)).role, 'clinician');
    });

    test('create: invalid input is a 400 naming each field', async () => {
      const good = { email: email('valid'), name: 'Valid Name', role: 'clinician', password: TEST_PASSWORD };
      const cases: [unknown, string[]][] = [
        [{}, ['body/email', 'body/name', 'body/password', 'body/role']],
        [{ ...good, role: 'superuser' }, ['body/role']],
        [{ ...good, email: 'not-an-email' }, ['body/email']],
        [{ ...good, password: 'short' }, ['body/password']],
        [{ ...good, name: '' }, ['body/name']],
        [{ ...good, orgId: b.orgId }, ['body/orgId']],
        [{ ...good, name: 'Bad\u0007Bell' }, ['body/name']],
        [{ ...good, name: '    ' }, ['body/name']],
      ];
      for (const [input, paths] of cases) {
        const res = await a.admin.post('/api/v1/users', input);
        await expectStatus(res, 400, 'validation_failed', JSON.stringify(input));
        assert.deepEqual(detailPaths(res).sort(), paths, JSON.stringify(input));
      }
      assert.equal((await t.database.db.select().from(users).where(eq(users.email, good.email))).length, 0, 'nothing was created');
    });

    test('get one user; a missing id is 404 and a malformed one 400', async () => {
      for (const who of [a.admin, a.caregiver, a.apiKey]) {
        const res = await who.get(`/api/v1/users/${a.clinician.user.id}`);
        assert.equal(res.statusCode, 200, res.body);
        assert.deepEqual(res.json(), { ...a.clinician.user, updatedAt: res.json().updatedAt });
      }
      await expectStatus(await a.admin.get(`/api/v1/users/${randomUUID()}`), 404, 'not_found');
      await expectStatus(await a.admin.get('/api/v1/users/123'), 400, 'validation_failed');
    });

    test('update: rename and role changes apply to the user’s open sessions at once; audited', async () => {
      const target = await addStaff(t.app, a.orgId, 'clinician');
      await expectStatus(await target.get('/api/v1/api-keys'), 403, 'forbidden');

      const renamed = await a.admin.patch(`/api/v1/users/${target.user.id}`, { name: ' Dr. Renamed ' });
      assert.equal(renamed.statusCode, 200, renamed.body);
      assert.equal(renamed.json().name, 'Dr. Renamed');

      const promoted = await a.admin.patch(`/api/v1/users/${target.user.id}`, { role: 'admin' });
      assert.equal(promoted.json().role, 'admin');
      assert.equal((await target.get('/api/v1/api-keys')).statusCode, 200, 'the existing session now has admin rights');
      const demoted = await a.admin.patch(`/api/v1/users/${target.user.id}`, { role: 'caregiver' });
      assert.equal(demoted.json().role, 'caregiver');
      await expectStatus(await target.get('/api/v1/api-keys'), 403, 'forbidden');
      assert.equal((await target.get('/api/v1/auth/me')).statusCode, 200, 'a rename or role change signs nobody out');

      const got = (await a.clinician.get(`/api/v1/users/${target.user.id}`)).json();
      assert.equal(got.name, 'Dr. Renamed');
      assert.equal(got.role, 'caregiver');
      assert.deepEqual(await auditActions(t, a.orgId, target.user.id), ['user.created', 'user.updated', 'user.updated', 'user.updated']);
      const [roleChange] = await t.database.db.select().from(auditEvents).where(eq(auditEvents.requestId, promoted.headers['x-request-id'] as string));
      assert.equal(roleChange!.actorId, a.admin.user.id);
      assert.equal(roleChange!.details?.role, 'admin');
    });

    test('update: admins only; invalid patches are a 400 and change nothing', async () => {
      const target = await addStaff(t.app, a.orgId, 'caregiver');
      for (const who of [a.clinician, a.caregiver, target]) {
        await expectStatus(await who.patch(`/api/v1/users/${target.user.id}`, { role: 'admin' }), 403, 'forbidden');
      }
      for (const [input, paths] of [
        [{}, ['body']],
        [{ role: 'owner' }, ['body/role']],
        [{ disabled: 'yes' }, ['body/disabled']],
        [{ password: 'short' }, ['body/password']],
        [{ email: 'new@example.test' }, ['body/email']],
        [{ name: ' \t ' }, ['body/name']],
      ] as const) {
        const res = await a.admin.patch(`/api/v1/users/${target.user.id}`, input);
        await expectStatus(res, 400, 'validation_failed', JSON.stringify(input));
        assert.deepEqual(detailPaths(res).sort(), paths, JSON.stringify(input));
      }
      await expectStatus(await a.admin.patch(`/api/v1/users/${randomUUID()}`, { name: 'Nobody' }), 404, 'not_found');
      const row = await dbRow(target.user.id);
      assert.equal(row.role, 'caregiver');
      assert.equal(row.name, 'Test caregiver');
      assert.equal(row.updatedAt.toISOString(), target.user.updatedAt);
      assert.deepEqual(await auditActions(t, a.orgId, target.user.id), ['user.created']);
    });

    test('disable ends the user’s sessions at once and blocks sign-in; enable lets them sign in again', async () => {
      const target = await addStaff(t.app, a.orgId, 'clinician', email('disable'));
      const tablet = withCookie(await sessionFor(t.database, target.user));
      assert.equal((await tablet.get('/api/v1/auth/me')).statusCode, 200);

      const off = await a.admin.patch(`/api/v1/users/${target.user.id}`, { disabled: true });
      assert.equal(off.statusCode, 200, off.body);
      assert.equal(off.json().disabled, true);
      for (const who of [target, tablet]) await expectStatus(await who.get('/api/v1/patients'), 401, 'unauthenticated');
      const open = await t.database.db.select().from(sessions).where(and(eq(sessions.userId, target.user.id)));
      assert.ok(open.length === 2 && open.every((s) => s.revokedAt !== null), 'every session row is revoked');
      await expectStatus(await login(target.user.email, TEST_PASSWORD), 401, 'invalid_credentials');
      assert.equal((await a.caregiver.get(`/api/v1/users/${target.user.id}`)).json().disabled, true);

      // Disabling again changes nothing and is not audited twice.
      assert.equal((await a.admin.patch(`/api/v1/users/${target.user.id}`, { disabled: true })).json().disabled, true);

      const on = await a.admin.patch(`/api/v1/users/${target.user.id}`, { disabled: false });
      assert.equal(on.statusCode, 200, on.body);
      assert.equal(on.json().disabled, false);
      await expectStatus(await target.get('/api/v1/auth/me'), 401, 'unauthenticated');
      const back = await login(target.user.email, TEST_PASSWORD);
      assert.equal(back.statusCode, 200, back.body);

      assert.deepEqual(await auditActions(t, a.orgId, target.user.id), [
        'user.created',
        'user.disabled',
        'user.updated',
        'auth.login_failed',
        'user.updated',
        'user.enabled',
        'user.updated',
      ]);
    });

    test('an admin’s password reset signs the user out everywhere; only the new password works', async () => {
      const target = await addStaff(t.app, a.orgId, 'caregiver', email('reset'));
      const newPassword = 'reset by the admin 2024';
      const res = await a.admin.patch(`/api/v1/users/${target.user.id}`, { password: newPassword });
      assert.equal(res.statusCode, 200, res.body);
      assert.ok(!res.body.includes(newPassword) && !res.body.includes('scrypt'));
      await expectStatus(await target.get('/api/v1/auth/me'), 401, 'unauthenticated');
      await expectStatus(await login(target.user.email, TEST_PASSWORD), 401, 'invalid_credentials');
      assert.equal((await login(target.user.email, newPassword)).statusCode, 200);
      const [row] = await t.database.db.select().from(auditEvents).where(eq(auditEvents.requestId, res.headers['x-request-id'] as string));
      assert.equal(row!.action, 'user.updated');
      assert.equal(row!.details?.fields, 'password');
      assert.equal(row!.details?.signedOut, true);
      assert.ok(!JSON.stringify(row).includes(newPassword));
      assert.ok(!t.logs.join('').includes(newPassword), 'the password never reaches the log');
    });

    test('the last active admin cannot be demoted or disabled', async () => {
      const org = await createTestOrg(t.app);
      const only = org.admin.user.id;
      for (const patch of [{ role: 'clinician' }, { disabled: true }, { role: 'caregiver', name: 'Still Admin' }]) {
        await expectStatus(await org.admin.patch(`/api/v1/users/${only}`, patch), 409, 'invalid_state', JSON.stringify(patch));
      }
      // A disabled admin does not count.
      const second = await addStaff(t.app, org.orgId, 'admin');
      assert.equal((await org.admin.patch(`/api/v1/users/${second.user.id}`, { disabled: true })).statusCode, 200);
      await expectStatus(await org.admin.patch(`/api/v1/users/${only}`, { role: 'clinician' }), 409, 'invalid_state');
      const row = await dbRow(only);
      assert.equal(row.role, 'admin');
      assert.equal(row.name, 'Test admin');
      assert.equal(row.disabledAt, null);
      assert.equal((await org.admin.get('/api/v1/auth/me')).statusCode, 200);

      // With another active admin, the first may step down; then the other is the last one.
      assert.equal((await org.admin.patch(`/api/v1/users/${second.user.id}`, { disabled: false })).statusCode, 200);
      const stepDown = await org.admin.patch(`/api/v1/users/${only}`, { role: 'clinician' });
      assert.equal(stepDown.statusCode, 200, stepDown.body);
      const secondSession = withCookie(await sessionFor(t.database, second.user));
      await expectStatus(await secondSession.patch(`/api/v1/users/${second.user.id}`, { disabled: true }), 409, 'invalid_state');
      await expectStatus(await secondSession.patch(`/api/v1/users/${second.user.id}`, { role: 'caregiver' }), 409, 'invalid_state');
      assert.equal((await dbRow(second.user.id)).role, 'admin');
    });

    test('two admins stepping down at the same moment still leave one active admin', async () => {
      for (let round = 0; round < 3; round++) {
        const org = await createTestOrg(t.app);
        const other = await addStaff(t.app, org.orgId, 'admin');
        // Each steps down itself, so neither request is refused by the role check: only the
        // last-admin rule can stop one of them.
        const results = await Promise.all([
          org.admin.patch(`/api/v1/users/${org.admin.user.id}`, { role: 'clinician' }),
          other.patch(`/api/v1/users/${other.user.id}`, { disabled: true }),
        ]);
        const statuses = results.map((r) => r.statusCode).sort();
        const admins = await t.database.db.select().from(users).where(and(eq(users.orgId, org.orgId), eq(users.role, 'admin')));
        const active = admins.filter((u) => u.disabledAt === null);
        assert.equal(active.length, 1, `round ${round}: ${active.length} active admins left (${statuses.join(', ')})`);
        assert.deepEqual(statuses, [200, 409], `round ${round}`);
      }
    });

    test('POST /users/:id/sessions/revoke signs a user out everywhere; audited', async () => {
      const target = await addStaff(t.app, a.orgId, 'clinician');
      const tablet = withCookie(await sessionFor(t.database, target.user));
      for (const who of [a.clinician, a.caregiver]) {
        await expectStatus(await who.post(`/api/v1/users/${target.user.id}/sessions/revoke`), 403, 'forbidden');
      }
      assert.equal((await tablet.get('/api/v1/auth/me')).statusCode, 200);

      const res = await a.admin.post(`/api/v1/users/${target.user.id}/sessions/revoke`);
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { revoked: 2 });
      for (const who of [target, tablet]) await expectStatus(await who.get('/api/v1/auth/me'), 401, 'unauthenticated');
      assert.equal((await a.admin.get('/api/v1/auth/me')).statusCode, 200);
      assert.equal((await dbRow(target.user.id)).disabledAt, null, 'signed out, not disabled');
      assert.equal((await login(target.user.email, TEST_PASSWORD)).statusCode, 200);

      const [row] = await t.database.db.select().from(auditEvents).where(eq(auditEvents.requestId, res.headers['x-request-id'] as string));
      assert.equal(row!.action, 'auth.session_revoked');
      assert.equal(row!.targetId, target.user.id);
      assert.equal(row!.actorId, a.admin.user.id);
      assert.equal(row!.details?.sessions, 2);

      await expectStatus(await a.admin.post(`/api/v1/users/${a.admin.user.id}/sessions/revoke`), 409, 'invalid_state');
      assert.equal((await a.admin.get('/api/v1/auth/me')).statusCode, 200);
      await expectStatus(await a.admin.post(`/api/v1/users/${randomUUID()}/sessions/revoke`), 404, 'not_found');
    });

    test('401 without credentials on every users route', async () => {
      const id = a.clinician.user.id;
      for (const headers of [{}, { cookie: `${SESSION_COOKIE}=forged` }, { authorization: `Bearer ovk_${randomBytes(8).toString('hex')}` }] as Record<string, string>[]) {
        for (const [method, url, body] of [
          ['GET', '/api/v1/users'],
          ['POST', '/api/v1/users', { email: email('anon'), name: 'Anon', role: 'admin', password: TEST_PASSWORD }],
          ['GET', `/api/v1/users/${id}`],
          ['PATCH', `/api/v1/users/${id}`, { role: 'caregiver' }],
          ['POST', `/api/v1/users/${id}/sessions/revoke`, {}],
        ] as const) {
          const res = await caller(t.app, headers).request(method, url, body);
          await expectStatus(res, 401, 'unauthenticated', `${JSON.stringify(headers)} ${method} ${url}`);
        }
      }
      assert.equal((await dbRow(id)).role, 'clinician');
    });

    test('organisation B can never read or change organisation A’s users or sessions', async () => {
      const target = await addStaff(t.app, a.orgId, 'clinician', email('private'));
      const before = await dbRow(target.user.id);
      for (const who of [b.admin, b.clinician, b.caregiver, b.apiKey]) {
        const writer = who === b.admin;
        for (const [method, url, body, adminOnly] of [
          ['GET', `/api/v1/users/${target.user.id}`, undefined, false],
          ['PATCH', `/api/v1/users/${target.user.id}`, { name: 'Hacked', role: 'admin' }, true],
          ['PATCH', `/api/v1/users/${target.user.id}`, { disabled: true }, true],
          ['PATCH', `/api/v1/users/${target.user.id}`, { password: 'taken over by B' }, true],
          ['POST', `/api/v1/users/${target.user.id}/sessions/revoke`, {}, true],
        ] as const) {
          const res = await who.request(method, url, body);
          // Another organisation's user is indistinguishable from a missing one; a role that may not
          // call the route at all is refused first.
          const [status, code] = adminOnly && !writer ? [403, 'forbidden'] : [404, 'not_found'];
          await expectStatus(res, status, code, `${method} ${url}`);
        }
        const listed = (await who.get(`/api/v1/users?limit=200&q=${encodeURIComponent(target.user.email)}`)).json();
        assert.deepEqual(listed.data, []);
        const all = (await who.get('/api/v1/users?limit=200')).json().data as UserDto[];
        assert.ok(all.every((u) => u.orgId === b.orgId));
      }
      // B cannot create a user inside A either.
      await expectStatus(await b.admin.post('/api/v1/users', { email: email('planted'), name: 'Planted', role: 'admin', password: TEST_PASSWORD, orgId: a.orgId }), 400, 'validation_failed');

      assert.deepEqual(await dbRow(target.user.id), before, 'the row is unchanged');
      assert.equal((await target.get('/api/v1/auth/me')).statusCode, 200, 'the session still works');
      assert.equal((await login(target.user.email, TEST_PASSWORD)).statusCode, 200, 'the password is unchanged');
      assert.deepEqual(await auditActions(t, a.orgId, target.user.id), ['user.created']);
      const stray = await t.database.db.select().from(auditEvents).where(and(eq(auditEvents.orgId, b.orgId), eq(auditEvents.targetId, target.user.id)));
      assert.deepEqual(stray, []);
      const rows = await t.database.db.select().from(sessions).where(eq(sessions.tokenHash, sha256Hex(target.sessionToken)));
      assert.equal(rows[0]!.revokedAt, null);
    });
  });
}
