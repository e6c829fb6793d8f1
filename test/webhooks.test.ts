// Webhooks to host apps (src/server/webhooks, src/server/jobs): subscriptions through the API (validation, secrets,
// tenancy, who may manage them), then real deliveries to a local receiver on 127.0.0.1 through the job queue:
// Standard Webhooks headers verified with the `standardwebhooks` package, retries with exponential backoff, the
// delivery log, redelivery, the last attempt, and jobs surviving a restart. Every test runs on both databases; a room
// event from Twilio's status callbacks runs with the Twilio provider (against its fake).
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Webhook as StandardWebhook } from 'standardwebhooks';
import { webhookEventType, WEBHOOK_EVENT_TYPES, patternsMatch } from '../src/server/webhooks/events.js';
import { createTestApp, SETUPS, type TestApp } from './helpers/app.js';
import { auditActions } from './helpers/audit.js';
import { caller, createTestOrg, detailPaths, expectStatus, type Caller, type TestOrg } from './helpers/builders.js';
import { createTestDatabase, DB_KINDS } from './helpers/db.js';

interface Received {
  path: string;
  query: string;
  at: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** The status the receiver answered. */
  status: number;
}

/** A host app's endpoint on 127.0.0.1: `answer(path, n)` picks the status of the n-th request (1-based) to a path, or 'hang'. */
async function startReceiver(answer: (path: string, n: number) => number | 'hang' = () => 200): Promise<{ url: string; received: Received[]; on(path: string): Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const counts = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const [path = '', query = ''] = (req.url ?? '').split('?');
      const n = (counts.get(path) ?? 0) + 1;
      counts.set(path, n);
      const status = answer(path, n);
      if (status === 'hang') return; // never answers: the sender's timeout must end it
      received.push({ path, query, at: Date.now(), headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), status });
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status >= 400 ? 'receiver says no: SECRET-BODY-TEXT' : 'ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    on: (path) => received.filter((r) => r.path === path),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ENV = {
  LINK_SIGNING_SECRET: 'test-link-secret-'.repeat(3),
  TOKEN_SIGNING_SECRET: 'test-token-secret-'.repeat(3),
  WEBHOOK_RETRY_DELAY_SECONDS: '1',
  WEBHOOK_MAX_ATTEMPTS: '3',
  WEBHOOK_TIMEOUT_SECONDS: '1',
};

describe('webhook event names (pure)', () => {
  test('hub events map to webhook events; patterns select by exact name, category or *', () => {
    assert.equal(webhookEventType('visit.created'), 'visit.created');
    assert.equal(webhookEventType('visit.no_show'), 'visit.no_show');
    assert.equal(webhookEventType('visit.participant_waiting'), 'participant.waiting');
    assert.equal(webhookEventType('visit.participant_admitted'), 'participant.admitted');
    assert.equal(webhookEventType('visit.consent_recorded'), 'consent.recorded');
    assert.equal(webhookEventType('consent.recorded'), 'consent.recorded');
    assert.equal(webhookEventType('room.recording_started'), 'recording.started');
    assert.equal(webhookEventType('room.recording_completed'), 'recording.completed');
    assert.equal(webhookEventType('room.created'), 'room.created');
    assert.equal(webhookEventType('patient.created'), 'patient.created');
    assert.equal(webhookEventType('no.such_event'), null);
    for (const type of WEBHOOK_EVENT_TYPES) assert.ok(!type.startsWith('visit.participant_') && !type.startsWith('room.recording_'), type);
    assert.ok(patternsMatch(['participant.*'], 'participant.waiting'));
    assert.ok(!patternsMatch(['participant.*'], 'participants.waiting'));
    assert.ok(!patternsMatch(['visit.created'], 'visit.created_later'));
    assert.ok(patternsMatch(['patient.created', '*'], 'room.ended'));
    assert.ok(!patternsMatch(['patient.created'], 'patient.updated'));
  });
});

for (const kind of DB_KINDS) {
  describe(`webhooks on ${kind}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;

    before(async () => {
      t = await createTestApp(kind, { env: ENV });
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
    });
    after(() => t.close());

    async function create(org: TestOrg, body: Record<string, unknown>, as: Caller = org.admin): Promise<{ id: string; secret: string; webhook: Record<string, unknown> }> {
      const res = await as.post('/api/v1/webhooks', body);
      assert.equal(res.statusCode, 201, res.body);
      const { webhook, secret } = res.json();
      return { id: webhook.id, secret, webhook };
    }

    const jobsInstalled = async () => {
      const { rows } = await t.database.executeSql('select to_regclass($1) is not null as installed', ['pgboss.version']);
      return rows[0]?.installed === true;
    };

    test('create, read, update, rotate, delete; the secret is shown on create and rotate only; all audited', async () => {
      const created = await create(a, { url: 'https://hooks.example.org/openvisit#frag', events: ['visit.*', 'participant.waiting', 'visit.*'], description: '  EHR  ' });
      assert.match(created.secret, /^whsec_[A-Za-z0-9+/]+=*$/);
      assert.equal(Buffer.from(created.secret.slice(6), 'base64').length, 32);
      assert.deepEqual(created.webhook.events, ['visit.*', 'participant.waiting'], 'deduplicated');
      assert.equal(created.webhook.url, 'https://hooks.example.org/openvisit', 'a fragment is never sent, so not kept');
      assert.equal(created.webhook.description, 'EHR');
      assert.equal(created.webhook.active, true);

      const got = await a.admin.get(`/api/v1/webhooks/${created.id}`);
      assert.equal(got.statusCode, 200);
      assert.ok(!got.body.includes(created.secret) && !('secret' in got.json()), 'never read back');
      const listed = await a.apiKey.get('/api/v1/webhooks');
      assert.equal(listed.statusCode, 200);
      assert.ok(!listed.body.includes('whsec_'));
      assert.deepEqual(listed.json().data.map((w: { id: string }) => w.id), [created.id]);

      const patched = await a.admin.patch(`/api/v1/webhooks/${created.id}`, { events: ['*'], active: false, description: null });
      assert.equal(patched.statusCode, 200, patched.body);
      assert.deepEqual([patched.json().events, patched.json().active, patched.json().description], [['*'], false, null]);

      const rotated = await a.admin.post(`/api/v1/webhooks/${created.id}/rotate-secret`);
      assert.equal(rotated.statusCode, 200, rotated.body);
      assert.match(rotated.json().secret, /^whsec_/);
      assert.notEqual(rotated.json().secret, created.secret);

      assert.equal((await a.admin.request('DELETE', `/api/v1/webhooks/${created.id}`)).statusCode, 204);
      expectStatus(await a.admin.get(`/api/v1/webhooks/${created.id}`), 404, 'not_found');
      expectStatus(await a.admin.request('DELETE', `/api/v1/webhooks/${created.id}`), 404, 'not_found');
      assert.deepEqual(await auditActions(t, a.orgId, created.id), ['webhook.created', 'webhook.updated', 'webhook.secret_rotated', 'webhook.deleted']);

      // Pages, newest first.
      const ids = [];
      for (let i = 0; i < 3; i++) ids.push((await create(a, { url: `https://hooks.example.org/${i}`, events: ['*'], active: false }, a.apiKey)).id);
      const first = (await a.admin.get('/api/v1/webhooks?limit=2')).json();
      const second = (await a.admin.get(`/api/v1/webhooks?limit=2&cursor=${first.nextCursor}`)).json();
      assert.deepEqual([...first.data, ...second.data].map((w: { id: string }) => w.id), ids.reverse());
      assert.equal(second.nextCursor, null);
      expectStatus(await a.admin.get('/api/v1/webhooks?cursor=bm9wZQ'), 400, 'invalid_cursor');

      const types = (await a.apiKey.get('/api/v1/webhooks/event-types')).json();
      for (const type of ['visit.created', 'visit.ended', 'participant.waiting', 'participant.joined', 'consent.recorded', 'recording.started', 'room.created', 'patient.created']) {
        assert.ok(types.eventTypes.includes(type), type);
      }
      assert.ok(!types.eventTypes.includes('visit.participant_waiting') && !types.eventTypes.includes('visit.consent_recorded'));
      assert.deepEqual(types.categories.filter((c: string) => ['participant', 'recording', 'visit'].includes(c)), ['participant', 'recording', 'visit']);

      // Nothing was sent yet: the job queue has not even been installed (it starts with the first job).
      assert.equal(await jobsInstalled(), false);
    });

    test('validation: http(s) URLs only, known events only, strict bodies', async () => {
      for (const url of ['ftp://hooks.example.org/x', 'javascript:alert(1)', 'not a url at all', 'mailto:ops@example.org', '/relative/path']) {
        expectStatus(await a.admin.post('/api/v1/webhooks', { url, events: ['*'] }), 400, 'invalid_webhook_url', url);
      }
      const unknown = await a.admin.post('/api/v1/webhooks', { url: 'https://h.example.org/', events: ['visit.created', 'visit.create', 'nope.*', 'visit.participant_waiting'] });
      expectStatus(unknown, 400, 'validation_failed');
      assert.deepEqual(detailPaths(unknown), ['body/events/1', 'body/events/2', 'body/events/3']);
      expectStatus(await a.admin.post('/api/v1/webhooks', { url: 'https://h.example.org/', events: [] }), 400, 'validation_failed');
      expectStatus(await a.admin.post('/api/v1/webhooks', { url: 'https://h.example.org/', events: ['VISIT.CREATED'] }), 400, 'validation_failed');
      expectStatus(await a.admin.post('/api/v1/webhooks', { url: 'https://h.example.org/' }), 400, 'validation_failed');
      const extra = await a.admin.post('/api/v1/webhooks', { url: 'https://h.example.org/', events: ['*'], secret: 'whsec_mine' });
      expectStatus(extra, 400, 'validation_failed');
      const { id } = await create(a, { url: 'https://h.example.org/', events: ['*'], active: false });
      expectStatus(await a.admin.patch(`/api/v1/webhooks/${id}`, {}), 400, 'validation_failed');
      expectStatus(await a.admin.patch(`/api/v1/webhooks/${id}`, { url: 'ws://h.example.org/' }), 400, 'invalid_webhook_url');
      expectStatus(await a.admin.patch(`/api/v1/webhooks/${id}`, { active: 'yes' }), 400, 'validation_failed');
      expectStatus(await a.admin.get('/api/v1/webhooks/not-a-uuid'), 400, 'validation_failed');
      expectStatus(await a.admin.get(`/api/v1/webhooks/${id}/deliveries?status=lost`), 400, 'validation_failed');
      assert.deepEqual(await auditActions(t, a.orgId, id), ['webhook.created'], 'refused changes leave no trace');
    });

    test('tenancy and roles: another organisation sees 404; clinicians, caregivers and participants are refused', async () => {
      const { id } = await create(a, { url: 'https://h.example.org/a', events: ['*'], active: false });
      for (const [method, url] of [
        ['GET', `/api/v1/webhooks/${id}`],
        ['PATCH', `/api/v1/webhooks/${id}`],
        ['DELETE', `/api/v1/webhooks/${id}`],
        ['POST', `/api/v1/webhooks/${id}/rotate-secret`],
        ['POST', `/api/v1/webhooks/${id}/test`],
        ['GET', `/api/v1/webhooks/${id}/deliveries`],
      ] as const) {
        expectStatus(await b.admin.request(method, url, method === 'PATCH' ? { active: true } : method === 'POST' ? {} : undefined), 404, 'not_found', `${method} ${url}`);
        expectStatus(await b.apiKey.request(method, url, method === 'PATCH' ? { active: true } : method === 'POST' ? {} : undefined), 404, 'not_found', `${method} ${url}`);
      }
      assert.ok(!(await b.admin.get('/api/v1/webhooks')).json().data.some((w: { id: string }) => w.id === id));
      assert.equal((await a.admin.get(`/api/v1/webhooks/${id}`)).json().active, false, 'untouched by the other organisation');

      for (const who of [a.clinician, a.caregiver]) {
        expectStatus(await who.get('/api/v1/webhooks'), 403, 'forbidden');
        expectStatus(await who.post('/api/v1/webhooks', { url: 'https://h.example.org/c', events: ['*'] }), 403, 'forbidden');
        expectStatus(await who.get(`/api/v1/webhooks/${id}`), 403, 'forbidden');
      }
      expectStatus(await a.anonymous.get('/api/v1/webhooks'), 401, 'unauthenticated');

      // A visit participant (a join-link session) is refused too.
      const patientId = (await a.clinician.post('/api/v1/patients', { givenName: 'Hook', familyName: 'Test' })).json().id;
      const visit = (await a.clinician.post('/api/v1/visits', { patientIds: [patientId] })).json();
      const invite = await a.clinician.post(`/api/v1/visits/${visit.id}/invites`, { role: 'guest', displayName: 'Guest' });
      assert.equal(invite.statusCode, 201, invite.body);
      const joined = await a.anonymous.post('/api/v1/join', { token: invite.json().token });
      assert.equal(joined.statusCode, 200, joined.body);
      const participant = caller(t.app, { authorization: `Bearer ${joined.json().session}` });
      assert.equal((await participant.get(`/api/v1/visits/${visit.id}`)).statusCode, 200, 'the session works where it may');
      expectStatus(await participant.get('/api/v1/webhooks'), 403, 'forbidden');
      expectStatus(await participant.post('/api/v1/webhooks', { url: 'https://h.example.org/p', events: ['*'] }), 403, 'forbidden');
    });

    test('a visit created through the API is delivered once after two 500s: signed per Standard Webhooks, logged, backed off', async () => {
      const receiver = await startReceiver((path, n) => (path === '/flaky' && n <= 2 ? 500 : 200));
      try {
        const hook = await create(a, { url: `${receiver.url}/flaky?tenant=a`, events: ['visit.created'] });
        const other = await create(a, { url: `${receiver.url}/other`, events: ['patient.updated', 'participant.*'] });
        const inactive = await create(a, { url: `${receiver.url}/inactive`, events: ['*'], active: false });
        const elsewhere = await create(b, { url: `${receiver.url}/org-b`, events: ['*'] });

        const patientId = (await a.clinician.post('/api/v1/patients', { givenName: 'Hook', familyName: 'Delivery' })).json().id;
        const created = await a.clinician.post('/api/v1/visits', { patientIds: [patientId] });
        assert.equal(created.statusCode, 201, created.body);
        const visitId: string = created.json().id;

        const log = await waitFor('three attempts, the last one delivered', async () => {
          const page = (await a.admin.get(`/api/v1/webhooks/${hook.id}/deliveries`)).json();
          return page.data[0]?.status === 'delivered' ? page : undefined;
        });
        const got = receiver.on('/flaky');
        assert.deepEqual(got.map((r) => r.status), [500, 500, 200]);

        // The log: one delivery, three attempts (500, 500, 200), its message id the webhook-id of every attempt.
        assert.equal(log.data.length, 1);
        const delivery = log.data[0];
        assert.equal(delivery.eventType, 'visit.created');
        assert.equal(delivery.attemptCount, 3);
        assert.deepEqual(delivery.attempts.map((x: { statusCode: number }) => x.statusCode), [500, 500, 200]);
        assert.deepEqual(delivery.attempts.map((x: { attempt: number }) => x.attempt), [1, 2, 3]);
        assert.deepEqual(delivery.attempts.map((x: { error: string | null }) => x.error), ['HTTP 500', 'HTTP 500', null]);
        assert.ok(delivery.attempts.every((x: { durationMs: number }) => Number.isInteger(x.durationMs) && x.durationMs >= 0));
        assert.equal(delivery.lastStatusCode, 200);
        assert.ok(delivery.deliveredAt);
        assert.ok(!JSON.stringify(delivery).includes('SECRET-BODY-TEXT'), 'the answer body is never stored');
        assert.deepEqual(new Set(got.map((r) => r.headers['webhook-id'])), new Set([delivery.messageId]));
        assert.match(delivery.messageId, /^msg_[0-9a-f]{32}$/);

        // Every attempt verifies with the standardwebhooks package; each carries its own timestamp and signature.
        const verifier = new StandardWebhook(hook.secret);
        for (const r of got) {
          assert.equal(r.headers['content-type'], 'application/json');
          assert.match(String(r.headers['user-agent']), /^OpenVisit-Webhooks\//);
          assert.equal(r.query, 'tenant=a', 'the URL is used as given');
          const verified = verifier.verify(r.body, r.headers as Record<string, string>) as { type: string; timestamp: string; data: Record<string, unknown> };
          assert.deepEqual(verified, { type: 'visit.created', timestamp: delivery.payload.timestamp, data: { visitId } });
          assert.ok(Math.abs(Number(r.headers['webhook-timestamp']) - r.at / 1000) < 5);
        }
        // …and would not verify with another secret or a changed body (the check above can fail).
        assert.throws(() => new StandardWebhook(other.secret).verify(got[2]!.body, got[2]!.headers as Record<string, string>));
        assert.throws(() => verifier.verify(got[2]!.body.replace(visitId, (visitId.startsWith('f') ? 'e' : 'f') + visitId.slice(1)), got[2]!.headers as Record<string, string>));

        // Exponential backoff: with a 1 s retry delay the first retry waits at least 1 s, the second at least 2 s.
        const gaps = [got[1]!.at - got[0]!.at, got[2]!.at - got[1]!.at];
        assert.ok(gaps[0]! >= 1000, `first retry after ${gaps[0]} ms`);
        assert.ok(gaps[1]! >= 2000, `second retry after ${gaps[1]} ms`);

        // Delivered once: nothing more arrives; the other subscriptions got nothing.
        await sleep(1200);
        assert.equal(receiver.on('/flaky').filter((r) => r.status === 200).length, 1);
        assert.equal(receiver.on('/flaky').length, 3);
        for (const [path, sub] of [['/other', other], ['/inactive', inactive]] as const) {
          assert.deepEqual(receiver.on(path), [], `${path} received nothing`);
          assert.deepEqual((await a.admin.get(`/api/v1/webhooks/${sub.id}/deliveries`)).json().data, []);
        }
        // Organisation B's subscription saw none of A's events (B created nothing).
        assert.deepEqual(receiver.on('/org-b'), []);
        assert.equal((await b.admin.get(`/api/v1/webhooks/${elsewhere.id}/deliveries`)).json().data.length, 0);
        expectStatus(await b.admin.get(`/api/v1/webhooks/deliveries/${delivery.id}`), 404, 'not_found');
        expectStatus(await b.admin.post(`/api/v1/webhooks/deliveries/${delivery.id}/redeliver`), 404, 'not_found');

        // Redeliver: the same webhook-id, a fresh attempt appended to the log.
        const again = await a.admin.post(`/api/v1/webhooks/deliveries/${delivery.id}/redeliver`);
        assert.equal(again.statusCode, 202, again.body);
        assert.equal(again.json().messageId, delivery.messageId);
        const redelivered = await waitFor('the redelivery', async () => {
          const d = (await a.admin.get(`/api/v1/webhooks/deliveries/${delivery.id}`)).json();
          return d.status === 'delivered' && d.attemptCount === 4 ? d : undefined;
        });
        assert.deepEqual(redelivered.attempts.map((x: { statusCode: number }) => x.statusCode), [500, 500, 200, 200]);
        const fourth = receiver.on('/flaky')[3]!;
        assert.equal(fourth.headers['webhook-id'], delivery.messageId);
        assert.deepEqual(verifier.verify(fourth.body, fourth.headers as Record<string, string>), { type: 'visit.created', timestamp: delivery.payload.timestamp, data: { visitId } });
        assert.deepEqual(await auditActions(t, a.orgId, delivery.id), ['webhook.redelivered']);

        // Logs carry ids, never the URL's query string, the secret or the answer's body.
        const logs = t.logs.join('');
        assert.ok(logs.includes(delivery.id), 'deliveries are logged by id');
        for (const secret of ['tenant=a', hook.secret, hook.secret.slice(6), 'SECRET-BODY-TEXT']) assert.ok(!logs.includes(secret), `logs hold ${secret}`);
      } finally {
        await receiver.close();
      }
    });

    test('an endpoint that never succeeds: timeouts and 500s until the last attempt, then failed; test pings; redeliver rules', async () => {
      const receiver = await startReceiver((path, n) => (path === '/down' ? (n === 1 ? 'hang' : 503) : 200));
      try {
        const hook = await create(a, { url: `${receiver.url}/down`, events: ['patient.created'] });
        const ping = await a.admin.post(`/api/v1/webhooks/${hook.id}/test`);
        assert.equal(ping.statusCode, 202, ping.body);
        assert.equal(ping.json().eventType, 'webhook.test');
        assert.equal(ping.json().status, 'pending');
        expectStatus(await a.admin.post(`/api/v1/webhooks/deliveries/${ping.json().id}/redeliver`), 409, 'invalid_state');

        const failed = await waitFor('the last attempt', async () => {
          const d = (await a.admin.get(`/api/v1/webhooks/deliveries/${ping.json().id}`)).json();
          return d.status === 'failed' ? d : undefined;
        });
        assert.equal(failed.attemptCount, 3, 'WEBHOOK_MAX_ATTEMPTS');
        assert.deepEqual(failed.attempts.map((x: { statusCode: number | null }) => x.statusCode), [null, 503, 503]);
        assert.deepEqual(failed.attempts.map((x: { error: string }) => x.error), ['timed out after 1 s', 'HTTP 503', 'HTTP 503']);
        assert.ok(failed.attempts[0].durationMs >= 900, 'the timeout ended the first attempt');
        assert.equal(failed.lastStatusCode, 503);
        assert.equal(failed.deliveredAt, null);
        const signed = receiver.on('/down');
        assert.equal(signed.length, 2, 'the hung request is not counted by the receiver');
        assert.deepEqual(new StandardWebhook(hook.secret).verify(signed[0]!.body, signed[0]!.headers as Record<string, string>), { type: 'webhook.test', timestamp: failed.payload.timestamp, data: { webhookId: hook.id } });
        await sleep(1500);
        assert.equal(receiver.on('/down').length, 2, 'no attempt after the last');

        // Filtering the log; an inactive webhook can be neither pinged nor redelivered.
        assert.equal((await a.admin.get(`/api/v1/webhooks/${hook.id}/deliveries?status=failed`)).json().data.length, 1);
        assert.equal((await a.admin.get(`/api/v1/webhooks/${hook.id}/deliveries?status=delivered`)).json().data.length, 0);
        assert.equal((await a.admin.patch(`/api/v1/webhooks/${hook.id}`, { active: false })).statusCode, 200);
        expectStatus(await a.admin.post(`/api/v1/webhooks/${hook.id}/test`), 409, 'invalid_state');
        expectStatus(await a.admin.post(`/api/v1/webhooks/deliveries/${failed.id}/redeliver`), 409, 'invalid_state');
        assert.deepEqual(await auditActions(t, a.orgId, hook.id), ['webhook.created', 'webhook.test_sent', 'webhook.updated']);

        // Deleting the webhook takes its log with it.
        assert.equal((await a.admin.request('DELETE', `/api/v1/webhooks/${hook.id}`)).statusCode, 204);
        expectStatus(await a.admin.get(`/api/v1/webhooks/deliveries/${failed.id}`), 404, 'not_found');
      } finally {
        await receiver.close();
      }
    });
  });

  describe(`webhook jobs across a restart on ${kind}`, () => {
    test('a retry left by a stopped server is sent by the next one on the same database', async () => {
      const database = await createTestDatabase(kind);
      const receiver = await startReceiver((_path, n) => (n === 1 ? 500 : 200));
      try {
        const first = await createTestApp(kind, { env: { ...ENV, WEBHOOK_RETRY_DELAY_SECONDS: '2' }, database });
        const org = await createTestOrg(first.app);
        const res = await org.admin.post('/api/v1/webhooks', { url: `${receiver.url}/restart`, events: ['patient.*'] });
        assert.equal(res.statusCode, 201, res.body);
        const { webhook, secret } = res.json();
        assert.equal((await org.clinician.post('/api/v1/patients', { givenName: 'Re', familyName: 'Start' })).statusCode, 201);
        // The first attempt is recorded (500) and its retry scheduled; then this server stops.
        await waitFor('the first attempt recorded', async () => {
          const d = (await org.admin.get(`/api/v1/webhooks/${webhook.id}/deliveries`)).json().data[0];
          return d?.attemptCount === 1 ? d : undefined;
        });
        const closing = performance.now();
        await first.close();
        assert.ok(performance.now() - closing < 3000, 'closing with jobs running stays quick');
        assert.equal(receiver.received.length, 1);

        const second = await createTestApp(kind, { env: ENV, database });
        try {
          const admin = caller(second.app, org.admin.headers);
          const delivered = await waitFor('the retry, sent by the second server', async () => {
            const d = (await admin.get(`/api/v1/webhooks/${webhook.id}/deliveries`)).json().data[0];
            return d?.status === 'delivered' ? d : undefined;
          });
          assert.deepEqual(delivered.attempts.map((x: { statusCode: number }) => x.statusCode), [500, 200]);
          assert.equal(receiver.received.length, 2);
          const last = receiver.received[1]!;
          assert.equal((new StandardWebhook(secret).verify(last.body, last.headers as Record<string, string>) as { type: string }).type, 'patient.created');
        } finally {
          await second.close();
        }
      } finally {
        await receiver.close();
        await database.close();
      }
    });
  });
}

// Room events reach host apps whatever the media provider; on Twilio they begin as its status callbacks, verified and
// recorded by the rooms layer before the webhook is queued.
for (const setup of SETUPS.filter((s) => s.media === 'twilio')) {
  describe(`room webhooks on ${setup.label}`, () => {
    test('a participant-connected status callback becomes the host app’s room.participant_joined webhook', async () => {
      const t = await createTestApp(setup.db, { media: setup.media, env: ENV });
      const receiver = await startReceiver();
      try {
        const org = await createTestOrg(t.app);
        const res = await org.admin.post('/api/v1/webhooks', { url: `${receiver.url}/rooms`, events: ['room.participant_joined'] });
        assert.equal(res.statusCode, 201, res.body);
        const { webhook, secret } = res.json();
        const room = await org.apiKey.post('/api/v1/rooms', { name: 'hooked' });
        assert.equal(room.statusCode, 201, room.body);
        const token = await org.apiKey.post('/api/v1/tokens', { room: 'hooked', identity: 'patient-1' });
        const patient = await t.media.join(token.json(), { publish: [] });
        try {
          await t.media.settle();
          const fake = t.media.twilio!.fake;
          assert.ok(fake.sentCallbacks.some((c) => c.event === 'participant-connected' && c.params.ParticipantIdentity === 'patient-1' && c.status === 204), 'Twilio told the server');
          const delivered = await waitFor('the webhook delivered', async () => {
            const d = (await org.admin.get(`/api/v1/webhooks/${webhook.id}/deliveries`)).json().data[0];
            return d?.status === 'delivered' ? d : undefined;
          });
          assert.equal(delivered.eventType, 'room.participant_joined');
          const [got] = receiver.on('/rooms');
          assert.equal(receiver.received.length, 1, 'only the event subscribed to');
          const verified = new StandardWebhook(secret).verify(got!.body, got!.headers as Record<string, string>) as { type: string; data: Record<string, unknown> };
          assert.deepEqual([verified.type, verified.data], ['room.participant_joined', { roomId: room.json().id, name: 'hooked', identity: 'patient-1' }]);
        } finally {
          await patient.close();
        }
      } finally {
        await receiver.close();
        await t.close();
      }
    });
  });
}
