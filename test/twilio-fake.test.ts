/**
 * The Twilio fake itself: it must behave like Twilio's Messages API, and its spec checking must catch
 * requests and responses that do not match Twilio's OpenAPI document.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import twilio from 'twilio';
import { FakeTwilioRequestClient, startFakeTwilio, type FakeTwilio, type FakeTwilioOptions } from './helpers/twilio-fake.js';

const ACCOUNT_SID = `AC${randomBytes(16).toString('hex')}`;
const AUTH_TOKEN = randomBytes(16).toString('hex');
const API_KEY = `SK${randomBytes(16).toString('hex')}`;
const API_SECRET = randomBytes(16).toString('hex');
const SERVICE_SID = `MG${randomBytes(16).toString('hex')}`;
const FROM = '+15005550006';
const TO = '+15558675310';

const RFC2822 = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/;
const MESSAGE_SID = /^SM[0-9a-f]{32}$/;
const MESSAGE_FIELDS = [
  'account_sid', 'api_version', 'body', 'date_created', 'date_sent', 'date_updated', 'direction', 'error_code',
  'error_message', 'from', 'messaging_service_sid', 'num_media', 'num_segments', 'price', 'price_unit', 'sid',
  'status', 'subresource_uris', 'to', 'uri',
];

const basic = (user: string, secret: string): string => `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;

interface JsonAnswer {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
}

async function call(
  fake: FakeTwilio,
  method: string,
  path: string,
  form?: Record<string, string | string[]>,
  auth = basic(ACCOUNT_SID, AUTH_TOKEN),
): Promise<JsonAnswer> {
  let body: string | undefined;
  if (form) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(form)) for (const value of Array.isArray(v) ? v : [v]) q.append(k, value);
    body = q.toString();
  }
  const res = await fetch(fake.url + path, {
    method,
    headers: { Authorization: auth, ...(body !== undefined ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}) },
    body,
  });
  return { status: res.status, headers: res.headers, json: (await res.json()) as Record<string, unknown> };
}

const messagesPath = `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages.json`;
const create = (fake: FakeTwilio, form: Record<string, string | string[]>, auth?: string): Promise<JsonAnswer> =>
  call(fake, 'POST', messagesPath, form, auth);

/** A webhook receiver: records each POST with the full URL it was addressed to and its form parameters. */
interface Received {
  url: string;
  signature: string | undefined;
  params: Record<string, string>;
  headers: http.IncomingHttpHeaders;
}
interface Receiver {
  url: string;
  received: Received[];
  close(): Promise<void>;
}
async function startReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (text += c));
    req.on('end', () => {
      received.push({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${req.url ?? ''}`,
        signature: req.headers['x-twilio-signature'] as string | undefined,
        params: Object.fromEntries(new URLSearchParams(text)),
        headers: req.headers,
      });
      res.writeHead(200, { 'Content-Type': 'text/xml' }).end('<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const signedCorrectly = (r: Received): boolean => twilio.validateRequest(AUTH_TOKEN, r.signature ?? '', r.url, r.params);

describe('twilio fake', () => {
  let fake: FakeTwilio;
  let receiver: Receiver;
  const start = async (options: Partial<FakeTwilioOptions> = {}): Promise<FakeTwilio> => {
    fake = await startFakeTwilio({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiKeys: { [API_KEY]: API_SECRET }, ...options });
    return fake;
  };

  before(async () => {
    receiver = await startReceiver();
  });
  after(async () => {
    await receiver.close();
  });
  beforeEach(async () => {
    receiver.received.length = 0;
    await start();
  });
  afterEach(async () => {
    await fake.close();
  });

  describe('creating messages', () => {
    test('a well-formed create gets 201 and a spec-valid Message resource', async () => {
      const res = await create(fake, { To: TO, From: FROM, Body: 'Your visit starts at 10:00', StatusCallback: `${receiver.url}/status` });
      assert.equal(res.status, 201);
      const m = res.json;
      assert.deepEqual(Object.keys(m).sort(), [...MESSAGE_FIELDS].sort());
      assert.match(String(m.sid), MESSAGE_SID);
      assert.equal(m.status, 'queued');
      assert.equal(m.to, TO);
      assert.equal(m.from, FROM);
      assert.equal(m.account_sid, ACCOUNT_SID);
      assert.equal(m.api_version, '2010-04-01');
      assert.equal(m.direction, 'outbound-api');
      assert.equal(m.num_segments, '1');
      assert.equal(m.num_media, '0');
      assert.equal(m.price, null);
      assert.equal(m.error_code, null);
      assert.match(String(m.date_created), RFC2822);
      assert.equal(m.uri, `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/${String(m.sid)}.json`);
      assert.deepEqual(m.subresource_uris, { media: `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/${String(m.sid)}/Media.json` });
      fake.assertNoViolations();

      assert.equal(fake.created.length, 1);
      assert.deepEqual(fake.sendsTo(TO).map((c) => c.sid), [m.sid]);
      assert.equal(fake.created[0]!.statusCallback, `${receiver.url}/status`);
      const recorded = fake.requests.at(-1)!;
      assert.equal(recorded.operationId, 'CreateMessage');
      assert.equal(recorded.params.To, TO);
      assert.equal(recorded.headers['content-type'], 'application/x-www-form-urlencoded');

      const fetched = await call(fake, 'GET', `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/${String(m.sid)}.json`);
      assert.equal(fetched.status, 200);
      assert.deepEqual(fetched.json, m);
      fake.assertNoViolations();
    });

    test('a Messaging Service create is accepted with a null from; long and Unicode bodies count segments', async () => {
      const res = await create(fake, { To: TO, MessagingServiceSid: SERVICE_SID, Body: 'é'.repeat(161) });
      assert.equal(res.status, 201);
      assert.equal(res.json.status, 'accepted');
      assert.equal(res.json.from, null);
      assert.equal(res.json.messaging_service_sid, SERVICE_SID);
      assert.equal(res.json.num_segments, '2'); // é is GSM-7: 161 septets → 2 parts of 153
      const ucs2 = await create(fake, { To: TO, From: FROM, Body: '👍'.repeat(36) }); // 72 UTF-16 units
      assert.equal(ucs2.json.num_segments, '2');
      fake.assertNoViolations();
    });

    test('missing To, Body or sender answers Twilio 400s (and the request is flagged against the spec)', async () => {
      const noTo = await create(fake, { From: FROM, Body: 'hi' });
      assert.equal(noTo.status, 400);
      assert.deepEqual(noTo.json, {
        code: 21604,
        message: "A 'To' phone number is required.",
        more_info: 'https://www.twilio.com/docs/errors/21604',
        status: 400,
      });
      const noBody = await create(fake, { To: TO, From: FROM });
      assert.equal(noBody.status, 400);
      assert.equal(noBody.json.code, 21602);
      const noSender = await create(fake, { To: TO, Body: 'hi' });
      assert.equal(noSender.status, 400);
      assert.equal(noSender.json.code, 21603);
      const badTo = await create(fake, { To: '555-1234', From: FROM, Body: 'hi' });
      assert.equal(badTo.json.code, 21211);
      assert.equal(badTo.json.message, "The 'To' number 555-1234 is not a valid phone number.");
      assert.equal(fake.created.length, 0);

      assert.ok(fake.violations.some((v) => v.startsWith('request:') && v.includes('missing required parameter "To"')), fake.violations.join('\n'));
      assert.ok(fake.violations.some((v) => v.includes('one of Body, MediaUrl, ContentSid is required')));
      assert.ok(fake.violations.some((v) => v.includes('one of From, MessagingServiceSid is required')));
      assert.ok(fake.violations.some((v) => v.includes('/To must match format "phone-number"')));
      assert.ok(!fake.violations.some((v) => v.startsWith('response:')), 'the error answers themselves are well-formed');
    });
  });

  describe('spec checking', () => {
    test('an undeclared form parameter is a request violation', async () => {
      const res = await create(fake, { To: TO, From: FROM, Body: 'hi', Bogus: '1' });
      assert.equal(res.status, 201, 'Twilio ignores unknown parameters, so the fake answers normally');
      assert.deepEqual(fake.violations, [
        'request: CreateMessage (POST /2010-04-01/Accounts/{AccountSid}/Messages.json) body: undeclared parameter "Bogus" at (root)',
      ]);
      assert.throws(() => fake.assertNoViolations(), /1 spec violation\(s\):\n {2}request: .*Bogus/);
    });

    test('a bad enum value, a non-URI StatusCallback and a non-boolean flag are request violations', async () => {
      await create(fake, { To: TO, From: FROM, Body: 'hi', ScheduleType: 'later', StatusCallback: 'not a url', SmartEncoded: 'yes' });
      const v = fake.violations.join('\n');
      assert.match(v, /request: CreateMessage .* body: \/ScheduleType must be equal to one of the allowed values \(fixed\)/);
      assert.match(v, /request: CreateMessage .* body: \/StatusCallback must match format "uri"/);
      assert.match(v, /request: CreateMessage .* body: \/SmartEncoded must be boolean/);
      assert.equal(fake.violations.length, 3, v);
    });

    test('the same parameters with valid values raise nothing (the check is not just noisy)', async () => {
      const sendAt = new Date(Date.now() + 3_600_000).toISOString();
      const res = await create(fake, {
        To: TO,
        MessagingServiceSid: SERVICE_SID,
        Body: 'hi',
        ScheduleType: 'fixed',
        SendAt: sendAt,
        StatusCallback: 'https://example.com/cb?x=1',
        SmartEncoded: 'true',
        MediaUrl: ['https://example.com/a.png', 'https://example.com/b.png'],
      });
      assert.equal(res.status, 201);
      assert.match(String(res.json.sid), /^MM[0-9a-f]{32}$/);
      assert.equal(res.json.num_media, '2');
      fake.assertNoViolations();
    });

    test('path, query, content type and auth header are checked too', async () => {
      await call(fake, 'GET', `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/SMnot-a-sid.json`);
      await call(fake, 'GET', `${messagesPath}?To=${encodeURIComponent(TO)}&Sort=asc&PageSize=5000`);
      await fetch(fake.url + messagesPath, { method: 'POST', headers: { Authorization: basic(ACCOUNT_SID, AUTH_TOKEN), 'Content-Type': 'application/json' }, body: '{}' });
      await fetch(fake.url + messagesPath);
      const v = fake.violations.join('\n');
      assert.match(v, /request: FetchMessage .* path: \/Sid must match pattern/);
      assert.match(v, /request: ListMessage .* query: undeclared query parameter "Sort"/);
      assert.match(v, /request: ListMessage .* query: \/PageSize must be <= 1000/);
      assert.match(v, /request: CreateMessage .* body: content type "application\/json" is not application\/x-www-form-urlencoded/);
      assert.match(v, /request: ListMessage .*: no Basic Authorization header/);
    });

    test('a path the spec does not know is a violation and a Twilio 404', async () => {
      const res = await call(fake, 'POST', `/2010-04-01/Accounts/${ACCOUNT_SID}/SMS/Messages.json`, { To: TO });
      assert.equal(res.status, 404);
      assert.equal(res.json.code, 20404);
      assert.deepEqual(fake.violations, [`request: POST /2010-04-01/Accounts/${ACCOUNT_SID}/SMS/Messages.json matches no path in the spec`]);
      const wrongMethod = await call(fake, 'PUT', messagesPath);
      assert.equal(wrongMethod.status, 405);
      assert.match(fake.violations.at(-1)!, /declares no PUT operation/);
    });

    test('a malformed Message response is a response violation', async () => {
      fake.corruptNextResponse((body) => ({ ...body, num_segments: 1 }));
      const res = await create(fake, { To: TO, From: FROM, Body: 'hi' });
      assert.equal(res.json.num_segments, 1, 'the corrupted body is what was served');
      assert.deepEqual(fake.violations, ['response: CreateMessage 201: /num_segments must be string,null']);

      fake.violations.length = 0;
      fake.corruptNextResponse(({ price: _price, ...rest }) => ({ ...rest, statusText: 'queued', date_created: new Date().toISOString() }));
      await create(fake, { To: TO, From: FROM, Body: 'hi' });
      const v = fake.violations.join('\n');
      assert.match(v, /response: CreateMessage 201: missing required property "price"/);
      assert.match(v, /response: CreateMessage 201: undeclared property "statusText"/);
      assert.match(v, /response: CreateMessage 201: \/date_created must match format "date-time-rfc-2822"/);

      fake.violations.length = 0;
      fake.corruptNextResponse((body) => ({ ...body, status: 'done' }));
      await create(fake, { To: TO, From: FROM, Body: 'hi' });
      assert.match(fake.violations.join('\n'), /response: CreateMessage 201: \/status must be equal to one of the allowed values/);
    });

    test('malformed list pages and error bodies are response violations', async () => {
      await create(fake, { To: TO, From: FROM, Body: 'hi' });
      fake.corruptNextResponse(({ next_page_uri: _n, ...rest }) => ({ ...rest, messages: [{ sid: 'nope' }] }));
      await call(fake, 'GET', messagesPath);
      const v = fake.violations.join('\n');
      assert.match(v, /response: ListMessage 200: missing required property "next_page_uri"/);
      assert.match(v, /response: ListMessage 200: \/messages\/0\/sid must match pattern/);

      fake.violations.length = 0;
      fake.corruptNextResponse((body) => ({ ...body, code: '20003', status: 403 }));
      await create(fake, { To: TO, From: FROM, Body: 'hi' }, basic(ACCOUNT_SID, 'wrong'));
      assert.deepEqual(fake.violations, ['response: CreateMessage 401 (error body): /code must be integer']);
      fake.violations.length = 0;
      fake.corruptNextResponse((body) => ({ ...body, status: 403 }));
      await create(fake, { To: TO, From: FROM, Body: 'hi' }, basic(ACCOUNT_SID, 'wrong'));
      assert.deepEqual(fake.violations, ['response: CreateMessage 401 (error body): "status" 403 differs from the HTTP status']);
    });
  });

  describe('authentication', () => {
    test('a wrong token is a 401 with Twilio error 20003; an API key pair is accepted', async () => {
      const res = await create(fake, { To: TO, From: FROM, Body: 'hi' }, basic(ACCOUNT_SID, 'not-the-token'));
      assert.equal(res.status, 401);
      assert.deepEqual(res.json, { code: 20003, message: 'Authenticate', more_info: 'https://www.twilio.com/docs/errors/20003', status: 401 });
      assert.equal(res.headers.get('www-authenticate'), 'Basic realm="Twilio API"');
      assert.equal(fake.created.length, 0);

      assert.equal((await create(fake, { To: TO, From: FROM, Body: 'hi' }, basic(API_KEY, 'wrong'))).status, 401);
      assert.equal((await create(fake, { To: TO, From: FROM, Body: 'hi' }, basic(API_KEY, API_SECRET))).status, 201);
      const otherAccount = `AC${'0'.repeat(32)}`;
      const wrongAccount = await call(fake, 'POST', `/2010-04-01/Accounts/${otherAccount}/Messages.json`, { To: TO, From: FROM, Body: 'hi' });
      assert.equal(wrongAccount.status, 401);
      fake.assertNoViolations();
    });
  });

  describe('failure injection', () => {
    test('failNext 429 answers Too Many Requests once, then creates normally', async () => {
      fake.failNext(1, { status: 429 });
      const limited = await create(fake, { To: TO, From: FROM, Body: 'hi' });
      assert.equal(limited.status, 429);
      assert.deepEqual(limited.json, { code: 20429, message: 'Too Many Requests', more_info: 'https://www.twilio.com/docs/errors/20429', status: 429 });
      assert.equal(limited.headers.get('retry-after'), null);
      assert.equal(fake.created.length, 0);
      const ok = await create(fake, { To: TO, From: FROM, Body: 'hi' });
      assert.equal(ok.status, 201);
      assert.equal(fake.created.length, 1);

      fake.failNext(1, { status: 429, retryAfter: 2 });
      assert.equal((await create(fake, { To: TO, From: FROM, Body: 'hi' })).headers.get('retry-after'), '2');
      fake.assertNoViolations();
    });

    test('failNext queues several failures in order: 500, 503 and Twilio 400 codes', async () => {
      fake.failNext(1, { status: 500 });
      fake.failNext(1, { status: 503 });
      fake.failNext(1, { status: 400, code: 21610 });
      fake.failNext(1, { status: 400, code: 21211 });
      fake.failNext(1, { status: 400, code: 21614 });
      fake.failNext(1, { status: 400, code: 21408 });
      const answers = [];
      for (let i = 0; i < 7; i++) answers.push(await create(fake, { To: TO, From: FROM, Body: 'hi' }));
      assert.deepEqual(answers.map((a) => [a.status, a.json.code ?? null]), [
        [500, 20500], [503, 20503], [400, 21610], [400, 21211], [400, 21614], [400, 21408], [201, null],
      ]);
      assert.equal(answers[2]!.json.message, 'Attempt to send to unsubscribed recipient');
      assert.equal(answers[3]!.json.message, `The 'To' number ${TO} is not a valid phone number.`);
      assert.equal(answers[5]!.json.message, `Permission to send an SMS has not been enabled for the region indicated by the 'To' number: ${TO}.`);
      assert.equal(fake.created.length, 1);
      fake.assertNoViolations();
    });

    test('hangMs: the client times out but the message was created', async () => {
      fake.failNext(1, { hangMs: 5_000 });
      const form = new URLSearchParams({ To: TO, From: FROM, Body: 'hi' }).toString();
      await assert.rejects(
        fetch(fake.url + messagesPath, {
          method: 'POST',
          headers: { Authorization: basic(ACCOUNT_SID, AUTH_TOKEN), 'Content-Type': 'application/x-www-form-urlencoded' },
          body: form,
          signal: AbortSignal.timeout(150),
        }),
        { name: 'TimeoutError' },
      );
      assert.equal(fake.created.length, 1);
      assert.equal(fake.message(fake.created[0]!.sid)?.status, 'queued');
    });

    test('hangMs shorter than the client timeout answers late with the created message', async () => {
      fake.failNext(1, { hangMs: 100 });
      const t0 = Date.now();
      const res = await create(fake, { To: TO, From: FROM, Body: 'hi' });
      assert.ok(Date.now() - t0 >= 90);
      assert.equal(res.status, 201);
      assert.equal(res.json.sid, fake.created[0]!.sid);
      fake.assertNoViolations();
    });

    test('dropAfterCreate: the connection dies without an answer, but the message exists', async () => {
      fake.failNext(1, { dropAfterCreate: true });
      await assert.rejects(create(fake, { To: TO, From: FROM, Body: 'hi' }), TypeError);
      assert.equal(fake.created.length, 1);
      assert.ok(fake.message(fake.created[0]!.sid));
    });

    test('ruleFor createError refuses one recipient only', async () => {
      fake.ruleFor('+15550001111', { createError: { status: 400, code: 21610 } });
      const refused = await create(fake, { To: '+15550001111', From: FROM, Body: 'hi' });
      assert.equal(refused.status, 400);
      assert.equal(refused.json.code, 21610);
      assert.equal((await create(fake, { To: TO, From: FROM, Body: 'hi' })).status, 201);
      assert.deepEqual(fake.sendsTo('+15550001111'), []);
    });
  });

  describe('webhooks', () => {
    test('autoCallbacks posts sent then delivered, form-encoded and signed like Twilio', async () => {
      await fake.close();
      await start({ autoCallbacks: true });
      const res = await create(fake, { To: TO, From: FROM, Body: 'hi', StatusCallback: `${receiver.url}/status?visit=42` });
      await fake.settled();
      const sid = String(res.json.sid);
      assert.deepEqual(receiver.received.map((r) => r.params.MessageStatus), ['sent', 'delivered']);
      for (const r of receiver.received) {
        assert.equal(r.url, `${receiver.url}/status?visit=42`);
        assert.equal(r.headers['content-type'], 'application/x-www-form-urlencoded');
        assert.ok(signedCorrectly(r), 'X-Twilio-Signature validates with the auth token');
        assert.deepEqual(Object.keys(r.params).sort(), ['AccountSid', 'ApiVersion', 'From', 'MessageSid', 'MessageStatus', 'SmsSid', 'SmsStatus', 'To']);
        assert.equal(r.params.MessageSid, sid);
        assert.equal(r.params.SmsSid, sid);
        assert.equal(r.params.SmsStatus, r.params.MessageStatus);
        assert.equal(r.params.AccountSid, ACCOUNT_SID);
        assert.equal(r.params.To, TO);
        assert.equal(r.params.From, FROM);
        assert.equal(r.params.ApiVersion, '2010-04-01');
      }
      const fetched = await call(fake, 'GET', `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/${sid}.json`);
      assert.equal(fetched.json.status, 'delivered');
      assert.match(String(fetched.json.date_sent), RFC2822);
      assert.deepEqual(fake.callbacks.map((c) => c.status), [200, 200]);
      fake.assertNoViolations();
    });

    test('a landline rule ends undelivered with ErrorCode 30006; a Messaging Service callback names the service', async () => {
      await fake.close();
      await start({ autoCallbacks: true });
      fake.ruleFor(TO, { deliver: { status: 'undelivered', errorCode: 30006 } });
      fake.ruleFor('+15550002222', { deliver: { status: 'failed', errorCode: 30003 } });
      const landline = await create(fake, { To: TO, MessagingServiceSid: SERVICE_SID, Body: 'hi', StatusCallback: `${receiver.url}/a` });
      const failed = await create(fake, { To: '+15550002222', From: FROM, Body: 'hi', StatusCallback: `${receiver.url}/b` });
      await fake.settled();
      const a = receiver.received.filter((r) => r.url.endsWith('/a'));
      const b = receiver.received.filter((r) => r.url.endsWith('/b'));
      assert.deepEqual(a.map((r) => [r.params.MessageStatus, r.params.ErrorCode]), [['sent', undefined], ['undelivered', '30006']]);
      assert.equal(a[0]!.params.MessagingServiceSid, SERVICE_SID);
      assert.equal(a[0]!.params.From, '+15005550006', 'the service picked a sender');
      assert.deepEqual(b.map((r) => [r.params.MessageStatus, r.params.ErrorCode]), [['failed', '30003']]);
      assert.ok([...a, ...b].every(signedCorrectly));

      const fetched = await call(fake, 'GET', `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/${String(landline.json.sid)}.json`);
      assert.equal(fetched.json.status, 'undelivered');
      assert.equal(fetched.json.error_code, 30006);
      assert.equal(fake.message(String(failed.json.sid))?.status, 'failed');
      fake.assertNoViolations();
    });

    test('statusCallback sends one signed callback now; tampered or mis-addressed signatures do not validate', async () => {
      const res = await create(fake, { To: TO, From: FROM, Body: 'hi', StatusCallback: `${receiver.url}/status` });
      const sid = String(res.json.sid);
      assert.equal(receiver.received.length, 0, 'no automatic callbacks by default');

      assert.equal(await fake.statusCallback(sid, 'sent'), 200);
      assert.equal(await fake.statusCallback(sid, 'undelivered', { errorCode: 30006 }), 200);
      assert.equal(await fake.statusCallback(sid, 'delivered', { tamper: true }), 200);
      assert.equal(await fake.statusCallback(sid, 'delivered', { signUrl: `${receiver.url}/elsewhere` }), 200);
      const [sent, undelivered, tampered, misaddressed] = receiver.received;
      assert.ok(signedCorrectly(sent!));
      assert.ok(signedCorrectly(undelivered!));
      assert.equal(undelivered!.params.ErrorCode, '30006');
      assert.equal(signedCorrectly(tampered!), false);
      assert.equal(signedCorrectly(misaddressed!), false);
      assert.equal(fake.message(sid)?.status, 'delivered');
      await assert.rejects(fake.statusCallback(`SM${'0'.repeat(32)}`, 'sent'), /no message/);
    });

    test('inbound posts a signed Twilio inbound-message webhook and returns the answer', async () => {
      const result = await fake.inbound(`${receiver.url}/sms?clinic=1`, { From: TO, To: FROM, Body: 'STOP' });
      assert.equal(result.status, 200);
      assert.equal(result.contentType, 'text/xml');
      assert.match(result.body, /<Response><\/Response>/);
      const r = receiver.received[0]!;
      assert.ok(signedCorrectly(r));
      assert.match(r.params.MessageSid!, MESSAGE_SID);
      assert.equal(r.params.SmsMessageSid, r.params.MessageSid);
      assert.equal(r.params.SmsSid, r.params.MessageSid);
      assert.equal(r.params.SmsStatus, 'received');
      assert.equal(r.params.NumMedia, '0');
      assert.equal(r.params.NumSegments, '1');
      assert.equal(r.params.AccountSid, ACCOUNT_SID);
      assert.equal(r.params.ApiVersion, '2010-04-01');
      assert.equal(r.params.Body, 'STOP');
      for (const geo of ['FromCity', 'FromState', 'FromZip', 'FromCountry', 'ToCity', 'ToState', 'ToZip', 'ToCountry']) {
        assert.ok(geo in r.params, `${geo} is sent`);
      }
      assert.equal(r.headers['user-agent'], 'TwilioProxy/1.1');

      await fake.inbound(`${receiver.url}/sms?clinic=1`, { From: TO, To: FROM, Body: 'STOP' }, { tamper: true });
      await fake.inbound(`${receiver.url}/sms?clinic=2`, { From: TO, To: FROM, Body: 'STOP' }, { signUrl: `${receiver.url}/sms?clinic=1` });
      assert.equal(signedCorrectly(receiver.received[1]!), false);
      assert.equal(signedCorrectly(receiver.received[2]!), false);
    });
  });

  describe('reading messages', () => {
    test('fetching an unknown message is a Twilio 404', async () => {
      const res = await call(fake, 'GET', `/2010-04-01/Accounts/${ACCOUNT_SID}/Messages/SM${'0'.repeat(32)}.json`);
      assert.equal(res.status, 404);
      assert.equal(res.json.code, 20404);
      assert.equal(res.json.status, 404);
      fake.assertNoViolations();
    });

    test('the list filters by To and From, pages newest first, and filters by DateSent', async () => {
      const other = '+15550003333';
      const sids: string[] = [];
      for (let i = 0; i < 3; i++) sids.push(String((await create(fake, { To: TO, From: FROM, Body: `m${i}` })).json.sid));
      await create(fake, { To: other, From: FROM, Body: 'other' });

      const all = await call(fake, 'GET', messagesPath);
      assert.equal((all.json.messages as unknown[]).length, 4);
      const toOnly = await call(fake, 'GET', `${messagesPath}?To=${encodeURIComponent(TO)}`);
      assert.deepEqual((toOnly.json.messages as { sid: string }[]).map((m) => m.sid), [...sids].reverse());
      const fromOther = await call(fake, 'GET', `${messagesPath}?To=${encodeURIComponent(other)}&From=${encodeURIComponent(FROM)}`);
      assert.deepEqual((fromOther.json.messages as { to: string }[]).map((m) => m.to), [other]);

      const page0 = await call(fake, 'GET', `${messagesPath}?To=${encodeURIComponent(TO)}&PageSize=2`);
      assert.equal(page0.json.page, 0);
      assert.equal(page0.json.page_size, 2);
      assert.equal(page0.json.start, 0);
      assert.equal(page0.json.end, 1);
      assert.equal(page0.json.previous_page_uri, null);
      assert.equal(page0.json.first_page_uri, `${messagesPath}?To=%2B15558675310&PageSize=2&Page=0`);
      assert.equal(page0.json.uri, page0.json.first_page_uri);
      assert.match(String(page0.json.next_page_uri), /^\/2010-04-01\/Accounts\/AC[0-9a-f]{32}\/Messages\.json\?To=%2B15558675310&PageSize=2&Page=1&PageToken=PA/);
      const page1 = await call(fake, 'GET', String(page0.json.next_page_uri));
      assert.deepEqual((page1.json.messages as { sid: string }[]).map((m) => m.sid), [sids[0]]);
      assert.equal(page1.json.start, 2);
      assert.equal(page1.json.end, 2);
      assert.equal(page1.json.next_page_uri, null);

      const today = new Date().toISOString().slice(0, 10);
      const sentToday = await call(fake, 'GET', `${messagesPath}?DateSent=${today}&To=${encodeURIComponent(TO)}`);
      assert.equal((sentToday.json.messages as unknown[]).length, 0, 'queued messages have no date_sent yet');
      await fake.close();
      await start({ autoCallbacks: true });
      await create(fake, { To: TO, From: FROM, Body: 'x' });
      await fake.settled();
      const after = await call(fake, 'GET', `${messagesPath}?${new URLSearchParams({ 'DateSent>': today })}`);
      assert.equal((after.json.messages as unknown[]).length, 1);
      const before = await call(fake, 'GET', `${messagesPath}?${new URLSearchParams({ 'DateSent<': '2008-01-02' })}`);
      assert.equal((before.json.messages as unknown[]).length, 0);
      assert.equal(before.json.end, 0);
      fake.assertNoViolations();
    });
  });

  describe('the official twilio SDK against the fake', () => {
    const client = (): twilio.Twilio => twilio(ACCOUNT_SID, AUTH_TOKEN, { httpClient: new FakeTwilioRequestClient(fake.url) });

    test('messages.create resolves with the sid and sends nothing the spec does not declare', async () => {
      const message = await client().messages.create({ to: TO, from: FROM, body: 'Reminder: visit at 10:00', statusCallback: `${receiver.url}/status` });
      assert.match(message.sid, MESSAGE_SID);
      assert.equal(message.status, 'queued');
      assert.equal(message.numSegments, '1');
      assert.ok(message.dateCreated instanceof Date && !Number.isNaN(message.dateCreated.getTime()));
      assert.deepEqual(fake.sendsTo(TO).map((m) => m.sid), [message.sid]);
      assert.equal(fake.requests.at(-1)!.headers.authorization, basic(ACCOUNT_SID, AUTH_TOKEN));

      const fetched = await client().messages(message.sid).fetch();
      assert.equal(fetched.body, 'Reminder: visit at 10:00');
      for (let i = 0; i < 3; i++) await client().messages.create({ to: TO, from: FROM, body: `n${i}` });
      const listed = await client().messages.list({ to: TO, pageSize: 2, dateSentAfter: new Date(Date.now() - 86_400_000) });
      assert.equal(listed.length, 0, 'none sent yet (date_sent is null while queued)');
      const everything = await client().messages.list({ to: TO, pageSize: 2 });
      assert.equal(everything.length, 4, 'the SDK followed next_page_uri across pages');
      fake.assertNoViolations();
    });

    test('a 21610 rejects with a RestException carrying code and status', async () => {
      fake.failNext(1, { status: 400, code: 21610 });
      const err = await client()
        .messages.create({ to: TO, from: FROM, body: 'hi' })
        .then(
          () => assert.fail('expected a rejection'),
          (e: unknown) => e,
        );
      assert.ok(err instanceof twilio.RestException, String(err));
      assert.equal(err.code, 21610);
      assert.equal(err.status, 400);
      assert.equal(err.message, 'Attempt to send to unsubscribed recipient');
      assert.equal(err.moreInfo, 'https://www.twilio.com/docs/errors/21610');
      fake.assertNoViolations();
    });
  });
});
