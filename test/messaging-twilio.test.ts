// Twilio Programmable Messaging, contract-tested against a local fake of Twilio's REST API (test/helpers/twilio-fake.ts)
// that checks every request OpenVisit sends and every response it serves against Twilio's published OpenAPI
// description (test/fixtures/twilio/twilio_api_v2010.json): the exact create request, error mapping (21610, 21211,
// 30006, 429 with retry), a timeout after Twilio accepted (reconciled, not sent twice), status callbacks in any
// order, and both webhooks' signatures (valid, tampered, wrong URL). Runs on both databases.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eq, sql } from 'drizzle-orm';
import { auditEvents, messages } from '../src/server/db/schema.js';
import type { Message } from '../src/shared/api/messaging.js';
import { createTestApp, freePort, type TestApp } from './helpers/app.js';
import { auditActions } from './helpers/audit.js';
import { createTestOrg, expectStatus, type TestOrg } from './helpers/builders.js';
import { DB_KINDS } from './helpers/db.js';
import { conversation, messageOf, newPatient, send, untilStatus, waitFor } from './helpers/messaging.js';
import { startFakeTwilio, type FakeTwilio } from './helpers/twilio-fake.js';

const ACCOUNT = `AC${'a1'.repeat(16)}`;
const TOKEN = 'f'.repeat(8) + '0123456789abcdef' + '0'.repeat(8);
const FROM = '+15005550006';

for (const kind of DB_KINDS) {
  describe(`SMS through Twilio (${kind})`, () => {
    let fake: FakeTwilio;
    let t: TestApp;
    let org: TestOrg;
    let base: string;
    before(async () => {
      fake = await startFakeTwilio({ accountSid: ACCOUNT, authToken: TOKEN });
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      t = await createTestApp(kind, {
        env: {
          MESSAGING_PROVIDER: 'twilio',
          TWILIO_ACCOUNT_SID: ACCOUNT,
          TWILIO_AUTH_TOKEN: TOKEN,
          TWILIO_FROM_NUMBER: FROM,
          TWILIO_API_BASE_URL: fake.url,
          PUBLIC_URL: base,
          SMS_SENDER_RATE_PER_SECOND: '1000',
          MESSAGING_QUIET_HOURS: '',
          MESSAGING_RETRY_DELAY_SECONDS: '1',
          MESSAGING_SEND_TIMEOUT_SECONDS: '1',
        },
      });
      await t.listen(port);
      org = await createTestOrg(t.app);
    });
    after(async () => {
      await t?.close();
      await fake?.close();
    });

    test('the exact create request, then sent and delivered from signed status callbacks', async () => {
      const p = await newPatient(org, { phone: '(555) 555-0170' });
      const m = (await send(org.clinician, p.id, { body: 'Your visit is at 10:00.' })).json() as Message;
      const sending = await untilStatus(org.clinician, m.id, 'sending');
      await waitFor('the provider id', async () => (await messageOf(org.clinician, m.id)).providerMessageId);
      const created = fake.sendsTo('+15555550170');
      assert.equal(created.length, 1);
      const req = fake.requests.find((r) => r.method === 'POST' && r.path.endsWith('/Messages.json'))!;
      assert.equal(req.path, `/2010-04-01/Accounts/${ACCOUNT}/Messages.json`);
      assert.deepEqual(req.params, { To: '+15555550170', From: FROM, Body: 'Your visit is at 10:00.\nReply STOP to opt out.', StatusCallback: `${base}/webhooks/twilio/sms-status?m=${m.id}` });
      assert.equal(req.headers.authorization, `Basic ${Buffer.from(`${ACCOUNT}:${TOKEN}`).toString('base64')}`);
      const sid = (await messageOf(org.clinician, m.id)).providerMessageId!;
      assert.equal(sid, created[0]!.sid);
      assert.equal(sending.status, 'sending');
      assert.equal(await fake.statusCallback(sid, 'sent'), 204);
      assert.equal((await messageOf(org.clinician, m.id)).status, 'sent');
      assert.equal(await fake.statusCallback(sid, 'delivered'), 204);
      const done = await messageOf(org.clinician, m.id);
      assert.equal(done.status, 'delivered');
      assert.equal(done.from, FROM);
      fake.assertNoViolations();
    });

    test('callbacks out of order (delivered before sent) and duplicated leave delivered, audited once each', async () => {
      const p = await newPatient(org, { phone: '5555550171' });
      const m = (await send(org.clinician, p.id, { body: 'Order matters' })).json() as Message;
      const sid = await waitFor('the provider id', async () => (await messageOf(org.clinician, m.id)).providerMessageId);
      const count = async () => (await auditActions(t, org.orgId, p.id)).filter((a) => a === 'message.status_changed').length;
      const before = await count();
      await fake.statusCallback(sid, 'delivered');
      await fake.statusCallback(sid, 'sent');
      await fake.statusCallback(sid, 'delivered');
      await fake.statusCallback(sid, 'queued');
      assert.equal((await messageOf(org.clinician, m.id)).status, 'delivered');
      assert.equal(await count(), before + 1, 'only the first delivered report changed anything');
      fake.assertNoViolations();
    });

    test('error mapping: 21211 and 21610 fail at once (21610 also revokes SMS consent), 30006 arrives as undelivered', async () => {
      const bad = await newPatient(org, { phone: '5555550172' });
      fake.ruleFor('+15555550172', { createError: { status: 400, code: 21211 } });
      const m1 = (await send(org.clinician, bad.id, { body: 'Invalid number' })).json() as Message;
      const f1 = await untilStatus(org.clinician, m1.id, 'failed');
      assert.equal(f1.errorCode, '21211');
      assert.equal(f1.errorReason, 'The phone number is not valid.');
      assert.equal(f1.attempts, 1);

      const out = await newPatient(org, { phone: '5555550173' });
      fake.failNext(1, { status: 400, code: 21610 });
      const m2 = (await send(org.clinician, out.id, { body: 'Opted out at Twilio' })).json() as Message;
      const f2 = await untilStatus(org.clinician, m2.id, 'failed');
      assert.equal(f2.errorCode, '21610');
      expectStatus(await send(org.clinician, out.id, { body: 'Again' }), 409, 'recipient_opted_out');
      assert.ok((await auditActions(t, org.orgId, out.id)).includes('message.opted_out'));

      const landline = await newPatient(org, { phone: '5555550174' });
      const m3 = (await send(org.clinician, landline.id, { body: 'Landline' })).json() as Message;
      const sid = await waitFor('the provider id', async () => (await messageOf(org.clinician, m3.id)).providerMessageId);
      await fake.statusCallback(sid, 'undelivered', { errorCode: 30006 });
      const u = await messageOf(org.clinician, m3.id);
      assert.equal(u.status, 'undelivered');
      assert.equal(u.errorCode, '30006');
      assert.match(u.errorReason ?? '', /landline/i);
      fake.assertNoViolations();
    });

    test('a status callback failed with 21610 (opted out at Twilio) revokes SMS consent, as a refused send does', async () => {
      const p = await newPatient(org, { phone: '5555550176' });
      const m = (await send(org.clinician, p.id, { body: 'Accepted, then refused' })).json() as Message;
      const sid = await waitFor('the provider id', async () => (await messageOf(org.clinician, m.id)).providerMessageId);
      assert.equal(await fake.statusCallback(sid, 'failed', { errorCode: 21610 }), 204);
      const f = await messageOf(org.clinician, m.id);
      assert.equal(f.status, 'failed');
      assert.equal(f.errorCode, '21610');
      assert.match(f.errorReason ?? '', /opted out/);
      expectStatus(await send(org.clinician, p.id, { body: 'Again' }), 409, 'recipient_opted_out');
      assert.ok((await auditActions(t, org.orgId, p.id)).includes('message.opted_out'));
      fake.assertNoViolations();
    });

    test('429 and 503 are retried with backoff and the message is created once', async () => {
      const p = await newPatient(org, { phone: '5555550175' });
      fake.failNext(1, { status: 429 });
      fake.failNext(1, { status: 503 });
      const m = (await send(org.clinician, p.id, { body: 'Busy Twilio' })).json() as Message;
      await waitFor('the provider id', async () => (await messageOf(org.clinician, m.id)).providerMessageId, 20_000);
      assert.equal((await messageOf(org.clinician, m.id)).attempts, 3);
      assert.equal(fake.sendsTo('+15555550175').length, 1);
      fake.assertNoViolations();
    });

    test('a timeout after Twilio accepted the message (or a dropped answer) is reconciled, never sent twice', async () => {
      for (const [i, failure] of [[0, { hangMs: 2500 }], [1, { dropAfterCreate: true as const }]] as const) {
        const phone = `555555018${i}`;
        const p = await newPatient(org, { phone });
        fake.failNext(1, failure);
        const m = (await send(org.clinician, p.id, { body: `In doubt ${i}` })).json() as Message;
        const sid = await waitFor('the reconciled provider id', async () => (await messageOf(org.clinician, m.id)).providerMessageId, 20_000);
        assert.equal(fake.sendsTo(`+1${phone}`).length, 1, 'created exactly once');
        assert.equal(sid, fake.sendsTo(`+1${phone}`)[0]!.sid);
        assert.ok(fake.requests.some((r) => r.method === 'GET' && r.path.endsWith('/Messages.json') && r.query.To === `+1${phone}`), 'the worker asked Twilio before sending again');
      }
      fake.assertNoViolations();
    });

    test('inbound webhook: signed requests only (tampered and wrong-URL signatures refused), matched, stored once', async () => {
      const p = await newPatient(org, { phone: '5555550190' });
      const url = `${base}/webhooks/twilio/sms`;
      const tampered = await fake.inbound(url, { From: '+15555550190', To: FROM, Body: 'tampered' }, { tamper: true });
      assert.equal(tampered.status, 403);
      const wrongUrl = await fake.inbound(url, { From: '+15555550190', To: FROM, Body: 'wrong url' }, { signUrl: `http://proxy.internal/webhooks/twilio/sms` });
      assert.equal(wrongUrl.status, 403);
      const unsigned = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'From=%2B15555550190&Body=hi&MessageSid=SM1' });
      assert.equal(unsigned.status, 403);
      assert.equal((await conversation(org.clinician, p.id)).filter((m) => m.direction === 'inbound').length, 0, 'nothing stored from refused requests');
      const ok = await fake.inbound(url, { From: '+15555550190', To: FROM, Body: 'Running 5 minutes late' });
      assert.equal(ok.status, 200, ok.body);
      assert.match(ok.contentType ?? '', /xml/);
      assert.match(ok.body, /<Response><\/Response>/);
      const inbound = (await conversation(org.clinician, p.id)).filter((m) => m.direction === 'inbound');
      assert.equal(inbound.length, 1);
      assert.equal(inbound[0]!.body, 'Running 5 minutes late');
      assert.equal(inbound[0]!.providerMessageId, ok.params.MessageSid);
      // Twilio retries a webhook it thinks failed: the same MessageSid is stored once.
      const [{ n }] = (await t.database.db.select({ n: sql<number>`count(*)::int` }).from(messages).where(eq(messages.providerMessageId, ok.params.MessageSid!))) as [{ n: number }];
      assert.equal(n, 1);
    });

    test('status callback signatures: tampered and wrong-URL ones are refused and change nothing', async () => {
      const p = await newPatient(org, { phone: '5555550191' });
      const m = (await send(org.clinician, p.id, { body: 'Signed statuses' })).json() as Message;
      const sid = await waitFor('the provider id', async () => (await messageOf(org.clinician, m.id)).providerMessageId);
      assert.equal(await fake.statusCallback(sid, 'delivered', { tamper: true }), 403);
      assert.equal(await fake.statusCallback(sid, 'delivered', { signUrl: `${base}/webhooks/twilio/sms-status` }), 403, 'signed without the ?m= query Twilio was given');
      assert.equal((await messageOf(org.clinician, m.id)).status, 'sending');
      assert.equal(await fake.statusCallback(sid, 'delivered'), 204);
      assert.equal((await messageOf(org.clinician, m.id)).status, 'delivered');
    });

    test('STOP, START and HELP through the inbound webhook; Twilio confirms STOP itself, HELP gets our help text', async () => {
      const p = await newPatient(org, { phone: '5555550192' });
      const url = `${base}/webhooks/twilio/sms`;
      const createdBefore = fake.sendsTo('+15555550192').length;
      await fake.inbound(url, { From: '+15555550192', To: FROM, Body: 'STOP' });
      const patient = (await org.clinician.get(`/api/v1/patients/${p.id}`)).json() as { consents: { kind: string; status: string }[] };
      assert.equal(patient.consents.find((c) => c.kind === 'sms')?.status, 'revoked');
      expectStatus(await send(org.clinician, p.id, { body: 'After STOP' }), 409, 'recipient_opted_out');
      await fake.inbound(url, { From: '+15555550192', To: FROM, Body: 'help' });
      await waitFor('the help text at Twilio', () => fake.sendsTo('+15555550192').find((c) => /Reply STOP to opt out/.test(c.body) && /help/i.test(c.body)));
      assert.equal(fake.sendsTo('+15555550192').length, createdBefore + 1, 'no STOP confirmation from us (Twilio sends its own)');
      await fake.inbound(url, { From: '+15555550192', To: FROM, Body: 'START' });
      assert.equal((await send(org.clinician, p.id, { body: 'Welcome back' })).statusCode, 201);
      const audit = JSON.stringify(await t.database.db.select().from(auditEvents).where(eq(auditEvents.orgId, org.orgId)));
      assert.ok(!audit.includes('5555550192'), 'no phone numbers in the audit');
      fake.assertNoViolations();
    });
  });
}

for (const kind of DB_KINDS) {
  describe(`SMS through a Twilio Messaging Service (${kind})`, () => {
    test('the create names the service and no From; Twilio answers accepted and the message waits for its callbacks', async () => {
      const fake = await startFakeTwilio({ accountSid: ACCOUNT, authToken: TOKEN, messagingServiceFrom: '+15005550077' });
      const service = `MG${'d4'.repeat(16)}`;
      const t = await createTestApp(kind, {
        env: { MESSAGING_PROVIDER: 'twilio', TWILIO_ACCOUNT_SID: ACCOUNT, TWILIO_AUTH_TOKEN: TOKEN, TWILIO_MESSAGING_SERVICE_SID: service, TWILIO_API_BASE_URL: fake.url, PUBLIC_URL: 'https://visits.example.org', MESSAGING_QUIET_HOURS: '' },
      });
      try {
        const org = await createTestOrg(t.app);
        const p = await newPatient(org, { phone: '5555550193' });
        const m = (await send(org.clinician, p.id, { body: 'Via the service' })).json() as Message;
        await waitFor('the provider id', async () => (await messageOf(org.clinician, m.id)).providerMessageId);
        const req = fake.requests.find((r) => r.method === 'POST' && r.path.endsWith('/Messages.json'))!;
        assert.deepEqual(req.params, { To: '+15555550193', MessagingServiceSid: service, Body: 'Via the service\nReply STOP to opt out.', StatusCallback: `https://visits.example.org/webhooks/twilio/sms-status?m=${m.id}` });
        assert.equal(fake.message(fake.sendsTo('+15555550193')[0]!.sid)?.status, 'accepted');
        assert.equal((await messageOf(org.clinician, m.id)).status, 'sending');
        fake.assertNoViolations();
      } finally {
        await t.close();
        await fake.close();
      }
    });
  });
}

describe('per-sender throughput', () => {
  test('a sender is paced to SMS_SENDER_RATE_PER_SECOND segments per second', async () => {
    const fake = await startFakeTwilio({ accountSid: ACCOUNT, authToken: TOKEN });
    const t = await createTestApp(DB_KINDS[0]!, {
      env: { MESSAGING_PROVIDER: 'twilio', TWILIO_ACCOUNT_SID: ACCOUNT, TWILIO_AUTH_TOKEN: TOKEN, TWILIO_FROM_NUMBER: FROM, TWILIO_API_BASE_URL: fake.url, MESSAGING_QUIET_HOURS: '', SMS_SENDER_RATE_PER_SECOND: '5', MESSAGING_CONCURRENCY: '8' },
    });
    try {
      const org = await createTestOrg(t.app);
      const p = await newPatient(org, { phone: '5555550194' });
      // 8 one-segment texts, then one of three segments: at 5 segments/s the last leaves 8 × 0.2 = 1.6 s after the first
      // (the first request also opens the client's connection, so the arrivals may span a little less). Unpaced, the
      // nine arrive within about 0.3 s.
      for (let i = 0; i < 8; i++) assert.equal((await send(org.clinician, p.id, { body: `Paced ${i}` })).statusCode, 201);
      const long = (await send(org.clinician, p.id, { body: 'x'.repeat(400) })).json() as Message;
      assert.equal(long.segments, 3);
      await waitFor('nine creates', () => fake.sendsTo('+15555550194').length === 9, 20_000);
      const times = fake.sendsTo('+15555550194').map((c) => c.createdAt.getTime());
      const span = Math.max(...times) - Math.min(...times);
      assert.ok(span >= 1200, `9 texts (11 segments) took ${span} ms at 5 segments/s`);
      assert.ok(span < 6000, `but not much longer (${span} ms)`);
    } finally {
      await t.close();
      await fake.close();
    }
  });
});
