import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { and, eq } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import { SESSION_COOKIE, sha256Hex } from '../src/server/auth/secrets.js';
import { auditEvents, sessions, users } from '../src/server/db/schema.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { addStaff, caller, createTestOrg, errorOf, sessionFor, TEST_PASSWORD, type StaffMember, type TestOrg } from './helpers/builders.js';
import { DB_KINDS } from './helpers/db.js';

const LOGIN = '/api/v1/auth/login';

function setCookies(res: LightMyRequestResponse): string[] {
  const raw = res.headers['set-cookie'];
  return raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
}

/** The session cookie a response set: its value and its attributes, lower-cased. */
function sessionCookieOf(res: LightMyRequestResponse): { token: string; attributes: string[] } {
  const cookie = setCookies(res).find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  assert.ok(cookie, `no ${SESSION_COOKIE} cookie in ${JSON.stringify(res.headers['set-cookie'])}`);
  const [pair, ...attributes] = cookie.split(';').map((s) => s.trim());
  return { token: pair!.slice(SESSION_COOKIE.length + 1), attributes: attributes.map((a) => a.toLowerCase()) };
}

for (const kind of DB_KINDS) {
  describe(`auth on ${kind}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;

    before(async () => {
      // The login limit is tested on its own app below; this one must not trip it.
      t = await createTestApp(kind, { env: { LOGIN_RATE_LIMIT_PER_MINUTE: '1000' } });
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
    });
    after(() => t.close());

    const email = (label: string) => `${label}-${randomBytes(4).toString('hex')}@example.test`;
    const login = (body: unknown, headers: Record<string, string> = {}, remoteAddress?: string, app = t) =>
      app.app.inject({ method: 'POST', url: LOGIN, payload: body as object, headers, ...(remoteAddress ? { remoteAddress } : {}) });
    const withCookie = (token: string) => caller(t.app, { cookie: `${SESSION_COOKIE}=${token}` });

    async function sessionRow(token: string) {
      const [row] = await t.database.db.select().from(sessions).where(eq(sessions.tokenHash, sha256Hex(token)));
      assert.ok(row, 'session row exists');
      return row;
    }
    async function auditByRequest(requestId: string) {
      return t.database.db.select().from(auditEvents).where(eq(auditEvents.requestId, requestId));
    }
    async function expectUnauthenticated(who: { get(url: string): Promise<LightMyRequestResponse> }) {
      const res = await who.get('/api/v1/auth/me');
      assert.equal(res.statusCode, 401, res.body);
      assert.equal(errorOf(res).code, 'unauthenticated');
    }

    test('login sets an httpOnly, SameSite=Lax session cookie, returns the user and organisation, and the cookie signs in', async () => {
      const member = await addStaff(t.app, a.orgId, 'clinician', email('Login'));
      const res = await login({ email: `  ${member.user.email.toUpperCase()} `, password: TEST_PASSWORD }, { 'user-agent': 'OpenVisitTest/1.0' });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      assert.equal(body.user.id, member.user.id);
      assert.equal(body.user.email, member.user.email);
      assert.equal(body.user.role, 'clinician');
      assert.equal(body.user.disabled, false);
      assert.ok(body.user.lastLoginAt, 'lastLoginAt is set by the login');
      assert.deepEqual(Object.keys(body).sort(), ['links', 'organization', 'user']);
      assert.equal(body.organization.id, a.orgId);
      assert.equal(body.organization.slug, a.slug);
      assert.ok(!res.body.includes('scrypt') && !('passwordHash' in body.user), 'no password hash in the answer');

      const cookies = setCookies(res);
      assert.equal(cookies.length, 1, JSON.stringify(cookies));
      const { token, attributes } = sessionCookieOf(res);
      assert.match(token, /^[A-Za-z0-9_-]{43}$/, 'a 256-bit random token');
      assert.ok(attributes.includes('httponly'), cookies[0]);
      assert.ok(attributes.includes('samesite=lax'), cookies[0]);
      assert.ok(attributes.includes('path=/'), cookies[0]);
      assert.ok(attributes.includes(`max-age=${t.config.sessionTtlMs / 1000}`), cookies[0]);
      assert.ok(!attributes.includes('secure'), 'no Secure flag on a plain-http PUBLIC_URL');

      const me = await withCookie(token).get('/api/v1/auth/me');
      assert.equal(me.statusCode, 200, me.body);
      assert.equal(me.json().user.id, member.user.id);
      assert.equal(me.json().organization.id, a.orgId);

      // Only the token's hash is stored, with the client's address and user agent.
      const row = await sessionRow(token);
      assert.equal(row.userId, member.user.id);
      assert.equal(row.orgId, a.orgId);
      assert.equal(row.userAgent, 'OpenVisitTest/1.0');
      assert.equal(row.ip, '127.0.0.1');
      assert.ok(!Object.values(row).some((v) => v === token), 'the token itself is not stored');
      assert.ok(row.expiresAt.getTime() > Date.now() + t.config.sessionTtlMs - 60_000);

      const [stored] = await t.database.db.select().from(users).where(eq(users.id, member.user.id));
      assert.ok(stored!.lastLoginAt);

      const events = await t.database.db.select().from(auditEvents).where(and(eq(auditEvents.action, 'auth.login'), eq(auditEvents.actorId, member.user.id)));
      assert.equal(events.length, 1);
      assert.equal(events[0]!.orgId, a.orgId);
      assert.equal(events[0]!.actorType, 'user');
      assert.equal(events[0]!.targetType, 'session');
      assert.equal(events[0]!.targetId, row.id);
      assert.equal(events[0]!.outcome, 'success');
    });

    test('a wrong password, an unknown email and a disabled user get the same 401, audited as failures', async () => {
      const member = await addStaff(t.app, a.orgId, 'caregiver', email('fail'));
      const disabled = await addStaff(t.app, a.orgId, 'clinician', email('disabled'));
      const off = await a.admin.patch(`/api/v1/users/${disabled.user.id}`, { disabled: true });
      assert.equal(off.statusCode, 200, off.body);

      const unknownEmail = email('nobody');
      const wrong = await login({ email: member.user.email, password: 'not the password at all' });
      const unknown = await login({ email: unknownEmail, password: TEST_PASSWORD });
      const blocked = await login({ email: disabled.user.email, password: TEST_PASSWORD });
      const bodies = [wrong, unknown, blocked].map((res) => {
        assert.equal(res.statusCode, 401, res.body);
        assert.equal(setCookies(res).length, 0, 'no cookie on a failed login');
        const err = errorOf(res);
        assert.equal(err.code, 'invalid_credentials');
        assert.equal(err.requestId, res.headers['x-request-id']);
        const { requestId: _ignored, ...rest } = err;
        return rest;
      });
      // Nothing in the answer tells whether the account exists (or is disabled).
      assert.deepEqual(bodies[1], bodies[0]);
      assert.deepEqual(bodies[2], bodies[0]);

      const [wrongRow] = await auditByRequest(errorOf(wrong).requestId);
      assert.equal(wrongRow!.action, 'auth.login_failed');
      assert.equal(wrongRow!.outcome, 'failure');
      assert.equal(wrongRow!.orgId, a.orgId);
      assert.equal(wrongRow!.actorType, 'anonymous');
      assert.equal(wrongRow!.targetId, member.user.id);
      assert.equal(wrongRow!.details?.reason, 'wrong_password');

      const [unknownRow] = await auditByRequest(errorOf(unknown).requestId);
      assert.equal(unknownRow!.action, 'auth.login_failed');
      assert.equal(unknownRow!.outcome, 'failure');
      assert.equal(unknownRow!.orgId, null);
      assert.equal(unknownRow!.details?.reason, 'unknown_email');
      assert.ok(!JSON.stringify(unknownRow).includes(unknownEmail), 'the typed email is not written to the audit log');

      const [blockedRow] = await auditByRequest(errorOf(blocked).requestId);
      assert.equal(blockedRow!.action, 'auth.login_failed');
      assert.equal(blockedRow!.outcome, 'failure');
      assert.equal(blockedRow!.details?.reason, 'disabled');

      const created = await t.database.db.select().from(sessions).where(eq(sessions.userId, member.user.id));
      assert.equal(created.length, 1, 'only the builder’s session: failures create none');
      const logins = await t.database.db.select().from(auditEvents).where(and(eq(auditEvents.action, 'auth.login'), eq(auditEvents.actorId, disabled.user.id)));
      assert.equal(logins.length, 0);
    });

    test('login validation: missing or unknown fields are a 400 naming each field', async () => {
      const empty = await login({});
      assert.equal(empty.statusCode, 400);
      const err = errorOf(empty);
      assert.equal(err.code, 'validation_failed');
      assert.deepEqual((err.details as { path: string }[]).map((d) => d.path).sort(), ['body/email', 'body/password']);

      const noPassword = errorOf(await login({ email: 'someone@example.test' }));
      assert.equal(noPassword.code, 'validation_failed');
      assert.deepEqual((noPassword.details as { path: string }[]).map((d) => d.path), ['body/password']);

      const extra = errorOf(await login({ email: a.admin.user.email, password: TEST_PASSWORD, orgId: a.orgId }));
      assert.equal(extra.code, 'validation_failed');
      assert.deepEqual(extra.details, [{ path: 'body/orgId', message: 'is not a known field' }]);

      const wrongType = errorOf(await login({ email: a.admin.user.email, password: 12345678901 }));
      assert.equal(wrongType.code, 'validation_failed');

      const notJson = await t.app.inject({ method: 'POST', url: LOGIN, payload: '{"email":', headers: { 'content-type': 'application/json' } });
      assert.equal(notJson.statusCode, 400);
      assert.equal(errorOf(notJson).code, 'invalid_json');
    });

    test('login is rate-limited per client: the 4th attempt in a minute is a 429 with retry-after', async () => {
      // A second process on the same database, as production would run it, with a limit of 3 and https.
      const limited = await createTestApp(kind, { database: t.database, env: { LOGIN_RATE_LIMIT_PER_MINUTE: '3', PUBLIC_URL: 'https://visits.example.test' } });
      try {
        const member = await addStaff(t.app, a.orgId, 'clinician', email('limited'));
        for (let i = 0; i < 3; i++) {
          const res = await login({ email: member.user.email, password: `wrong password ${i}` }, {}, '10.1.1.1', limited);
          assert.equal(res.statusCode, 401, `attempt ${i + 1}: ${res.body}`);
        }
        // Even the right password is refused once the limit is reached.
        const fourth = await login({ email: member.user.email, password: TEST_PASSWORD }, {}, '10.1.1.1', limited);
        assert.equal(fourth.statusCode, 429, fourth.body);
        const err = errorOf(fourth);
        assert.equal(err.code, 'rate_limited');
        assert.equal(err.requestId, fourth.headers['x-request-id']);
        const retryAfter = Number(fourth.headers['retry-after']);
        assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 60, `retry-after: ${fourth.headers['retry-after']}`);
        assert.equal(setCookies(fourth).length, 0);
        const sessionsAfter = await t.database.db.select().from(sessions).where(eq(sessions.userId, member.user.id));
        assert.equal(sessionsAfter.length, 1, 'the refused attempt created no session');

        // Another client is not locked out by the first one; on https the cookie is Secure.
        const other = await login({ email: member.user.email, password: TEST_PASSWORD }, {}, '10.2.2.2', limited);
        assert.equal(other.statusCode, 200, other.body);
        const { attributes } = sessionCookieOf(other);
        assert.ok(attributes.includes('secure'), attributes.join('; '));
        assert.ok(attributes.includes('httponly') && attributes.includes('samesite=lax'));
      } finally {
        await limited.close();
      }
    });

    test('logout revokes the session and clears the cookie; it always answers 204', async () => {
      const member = await addStaff(t.app, a.orgId, 'clinician');
      const token = await sessionFor(t.database, member.user);
      const session = await sessionRow(token);
      const me = withCookie(token);
      assert.equal((await me.get('/api/v1/auth/me')).statusCode, 200);

      const out = await me.post('/api/v1/auth/logout');
      assert.equal(out.statusCode, 204, out.body);
      assert.equal(out.body, '');
      const cleared = setCookies(out).find((c) => c.startsWith(`${SESSION_COOKIE}=;`));
      assert.ok(cleared && /expires=thu, 01 jan 1970/i.test(cleared), `cookie cleared: ${JSON.stringify(out.headers['set-cookie'])}`);
      await expectUnauthenticated(me);
      assert.ok((await sessionRow(token)).revokedAt, 'the row is revoked, not just the cookie dropped');
      // The user's other session is untouched.
      assert.equal((await member.get('/api/v1/auth/me')).statusCode, 200);

      const events = await t.database.db.select().from(auditEvents).where(and(eq(auditEvents.action, 'auth.logout'), eq(auditEvents.targetId, session.id)));
      assert.equal(events.length, 1);
      assert.equal(events[0]!.actorId, member.user.id);

      // Again, with no cookie, or with a forged one: still 204, nothing else audited.
      for (const headers of [{ cookie: `${SESSION_COOKIE}=${token}` }, {}, { cookie: `${SESSION_COOKIE}=forged` }]) {
        const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers });
        assert.equal(res.statusCode, 204, res.body);
      }
      const again = await t.database.db.select().from(auditEvents).where(and(eq(auditEvents.action, 'auth.logout'), eq(auditEvents.targetId, session.id)));
      assert.equal(again.length, 1);
    });

    test('GET /auth/sessions lists the caller’s active sessions only and marks the current one', async () => {
      const member = await addStaff(t.app, a.orgId, 'caregiver');
      const second = await sessionFor(t.database, member.user);
      const revoked = await sessionFor(t.database, member.user);
      await withCookie(revoked).post('/api/v1/auth/logout');
      const [expired] = await t.database.db
        .insert(sessions)
        .values({ orgId: a.orgId, userId: member.user.id, tokenHash: sha256Hex(randomUUID()), expiresAt: new Date(Date.now() - 1000) })
        .returning();
      const colleague = await addStaff(t.app, a.orgId, 'caregiver');

      const res = await withCookie(second).get('/api/v1/auth/sessions');
      assert.equal(res.statusCode, 200, res.body);
      const list = res.json().data as { id: string; current: boolean; createdAt: string; expiresAt: string; lastSeenAt: string }[];
      const expected = [(await sessionRow(member.sessionToken)).id, (await sessionRow(second)).id].sort();
      assert.deepEqual(list.map((s) => s.id).sort(), expected);
      assert.deepEqual(
        list.filter((s) => s.current).map((s) => s.id),
        [(await sessionRow(second)).id],
      );
      assert.ok(!list.some((s) => s.id === expired!.id));
      assert.ok(!JSON.stringify(list).includes(second), 'tokens are never listed');

      // From the other session, the other one is current.
      const fromFirst = (await member.get('/api/v1/auth/sessions')).json().data as { id: string; current: boolean }[];
      assert.deepEqual(fromFirst.filter((s) => s.current).map((s) => s.id), [(await sessionRow(member.sessionToken)).id]);

      const theirs = (await colleague.get('/api/v1/auth/sessions')).json().data as { id: string }[];
      assert.deepEqual(theirs.map((s) => s.id), [(await sessionRow(colleague.sessionToken)).id]);
    });

    test('POST /auth/sessions/:id/revoke ends one of your sessions; anyone else’s is a 404 and stays valid', async () => {
      const member = await addStaff(t.app, a.orgId, 'clinician');
      const laptop = await sessionFor(t.database, member.user);
      const laptopId = (await sessionRow(laptop)).id;

      const res = await member.post(`/api/v1/auth/sessions/${laptopId}/revoke`);
      assert.equal(res.statusCode, 204, res.body);
      await expectUnauthenticated(withCookie(laptop));
      assert.equal((await member.get('/api/v1/auth/me')).statusCode, 200, 'the calling session is untouched');
      assert.ok(!setCookies(res).some((c) => c.startsWith(`${SESSION_COOKIE}=`)), 'the caller’s cookie is kept');
      const events = await t.database.db.select().from(auditEvents).where(and(eq(auditEvents.action, 'auth.session_revoked'), eq(auditEvents.targetId, laptopId)));
      assert.equal(events.length, 1);
      assert.equal(events[0]!.actorId, member.user.id);

      // Already revoked, unknown, a colleague's, another organisation's: all 404 not_found.
      const colleagueSession = (await sessionRow(a.admin.sessionToken)).id;
      const otherOrgSession = (await sessionRow(b.admin.sessionToken)).id;
      for (const id of [laptopId, randomUUID(), colleagueSession, otherOrgSession]) {
        const r = await member.post(`/api/v1/auth/sessions/${id}/revoke`);
        assert.equal(r.statusCode, 404, `${id}: ${r.body}`);
        assert.equal(errorOf(r).code, 'not_found');
      }
      // An admin of another organisation cannot either.
      const cross = await b.admin.post(`/api/v1/auth/sessions/${(await sessionRow(member.sessionToken)).id}/revoke`);
      assert.equal(cross.statusCode, 404);
      assert.equal(errorOf(cross).code, 'not_found');
      assert.equal((await a.admin.get('/api/v1/auth/me')).statusCode, 200);
      assert.equal((await b.admin.get('/api/v1/auth/me')).statusCode, 200);
      assert.equal((await member.get('/api/v1/auth/me')).statusCode, 200);
      assert.equal((await sessionRow(a.admin.sessionToken)).revokedAt, null);
      assert.equal((await sessionRow(b.admin.sessionToken)).revokedAt, null);

      const bad = await member.post('/api/v1/auth/sessions/not-a-uuid/revoke');
      assert.equal(bad.statusCode, 400);
      assert.equal(errorOf(bad).code, 'validation_failed');

      // Revoking the current session signs you out and clears the cookie.
      const self = await member.post(`/api/v1/auth/sessions/${(await sessionRow(member.sessionToken)).id}/revoke`);
      assert.equal(self.statusCode, 204);
      assert.ok(setCookies(self).some((c) => c.startsWith(`${SESSION_COOKIE}=;`)));
      await expectUnauthenticated(member);
    });

    test('POST /auth/password: a wrong current password is 401; success keeps this session, ends the others, and the new password works', async () => {
      const member = await addStaff(t.app, a.orgId, 'clinician', email('pw'));
      const phone = withCookie(await sessionFor(t.database, member.user));
      const newPassword = 'a much better passphrase 42';

      const wrong = await member.post('/api/v1/auth/password', { currentPassword: 'not my password', newPassword });
      assert.equal(wrong.statusCode, 401, wrong.body);
      assert.equal(errorOf(wrong).code, 'invalid_credentials');
      assert.equal((await phone.get('/api/v1/auth/me')).statusCode, 200, 'a failed change signs nobody out');
      const failures = await auditByRequest(errorOf(wrong).requestId);
      assert.equal(failures.length, 1);
      assert.equal(failures[0]!.action, 'auth.password_changed');
      assert.equal(failures[0]!.outcome, 'failure');

      const short = await member.post('/api/v1/auth/password', { currentPassword: TEST_PASSWORD, newPassword: 'short' });
      assert.equal(short.statusCode, 400);
      const shortErr = errorOf(short);
      assert.equal(shortErr.code, 'validation_failed');
      assert.deepEqual((shortErr.details as { path: string }[]).map((d) => d.path), ['body/newPassword']);
      const missing = errorOf(await member.post('/api/v1/auth/password', {}));
      assert.deepEqual((missing.details as { path: string }[]).map((d) => d.path).sort(), ['body/currentPassword', 'body/newPassword']);

      // A cookie-authenticated write from a foreign page is refused before anything changes.
      const csrf = await member.request('POST', '/api/v1/auth/password', { currentPassword: TEST_PASSWORD, newPassword }, { origin: 'https://evil.example' });
      assert.equal(csrf.statusCode, 403);
      assert.equal(errorOf(csrf).code, 'origin_not_allowed');

      const ok = await member.post('/api/v1/auth/password', { currentPassword: TEST_PASSWORD, newPassword });
      assert.equal(ok.statusCode, 204, ok.body);
      assert.equal((await member.get('/api/v1/auth/me')).statusCode, 200, 'the current session is kept');
      await expectUnauthenticated(phone);
      const successes = await auditByRequest(ok.headers['x-request-id'] as string);
      assert.equal(successes.length, 1);
      assert.equal(successes[0]!.action, 'auth.password_changed');
      assert.equal(successes[0]!.outcome, 'success');
      assert.equal(successes[0]!.details?.otherSessionsRevoked, 1);

      assert.equal((await login({ email: member.user.email, password: TEST_PASSWORD })).statusCode, 401);
      const again = await login({ email: member.user.email, password: newPassword });
      assert.equal(again.statusCode, 200, again.body);

      const logs = t.logs.join('');
      for (const secret of [newPassword, TEST_PASSWORD, member.sessionToken, sessionCookieOf(again).token]) {
        assert.ok(!logs.includes(secret), `the log contains a secret (${secret.slice(0, 4)}…)`);
      }
    });

    test('API keys are refused on the signed-in staff routes with 403', async () => {
      const someSession = (await sessionRow(a.caregiver.sessionToken)).id;
      for (const [method, url, body] of [
        ['GET', '/api/v1/auth/me'],
        ['GET', '/api/v1/auth/sessions'],
        ['POST', `/api/v1/auth/sessions/${someSession}/revoke`, {}],
        ['POST', '/api/v1/auth/password', { currentPassword: TEST_PASSWORD, newPassword: 'whatever else 123' }],
      ] as const) {
        const res = await a.apiKey.request(method, url, body);
        assert.equal(res.statusCode, 403, `${method} ${url}: ${res.body}`);
        assert.equal(errorOf(res).code, 'forbidden');
      }
      assert.equal((await a.caregiver.get('/api/v1/auth/me')).statusCode, 200);
    });

    test('401 without credentials, with a forged or expired session, or a malformed Authorization header', async () => {
      const member: StaffMember = await addStaff(t.app, a.orgId, 'caregiver');
      const [expired] = await t.database.db
        .insert(sessions)
        .values({ orgId: a.orgId, userId: member.user.id, tokenHash: sha256Hex('expired-token-value'), expiresAt: new Date(Date.now() - 1000) })
        .returning();
      const someSession = (await sessionRow(member.sessionToken)).id;
      const routes = [
        ['GET', '/api/v1/auth/me'],
        ['GET', '/api/v1/auth/sessions'],
        ['POST', `/api/v1/auth/sessions/${someSession}/revoke`, {}],
        ['POST', '/api/v1/auth/password', { currentPassword: TEST_PASSWORD, newPassword: 'whatever else 123' }],
      ] as const;
      for (const headers of [{}, { cookie: `${SESSION_COOKIE}=forged` }, { cookie: `${SESSION_COOKIE}=expired-token-value` }, { authorization: 'Basic abc' }, { authorization: 'Bearer ovk_nope' }] as Record<string, string>[]) {
        for (const [method, url, body] of routes) {
          const res = await caller(t.app, headers).request(method, url, body);
          assert.equal(res.statusCode, 401, `${JSON.stringify(headers)} ${method} ${url}: ${res.body}`);
          assert.equal(errorOf(res).code, 'unauthenticated');
        }
      }
      assert.equal(expired!.revokedAt, null);
      assert.equal((await member.get('/api/v1/auth/me')).statusCode, 200, 'the real session was not revoked by any of this');
    });
  });
}
