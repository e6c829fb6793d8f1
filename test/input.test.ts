import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import pino from 'pino';
import { SESSION_COOKIE } from '../src/server/auth/secrets.js';
import { loggerOptions } from '../src/server/http/logging.js';
import { ERRORS } from '../src/shared/errors.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestOrg, detailPaths, errorOf, sessionFor, type TestOrg } from './helpers/builders.js';
import { DB_KINDS } from './helpers/db.js';
import { apiOperations, type JsonSchema, type Operation, type Spec } from './helpers/openapi.js';

/**
 * Client input never causes a 500, and every error has the project's shape: hostile dates, months and
 * cursors on every list and filter (enumerated from /api/openapi.json), whitespace-only text in every body,
 * empty JSON bodies on every route, errors of Node's HTTP parser, a database error's log line, and every
 * registered route in the OpenAPI document.
 */

const BAD_DATE_TIMES = [
  '0000-01-01T00:00:00Z',
  '0001-01-01T00:00:00Z',
  '0099-12-31T23:59:59Z',
  '1899-12-31T23:59:59Z',
  '1900-01-01T00:00:00+01:00', // 1899 in UTC
  '9999-12-31T23:59:59-01:00', // the year 10000 in UTC
  '10000-01-01T00:00:00Z',
  '2024-02-30T00:00:00Z',
  '2024-01-01T23:59:60Z',
  '2024-01-01T00:00:00',
];
const GOOD_DATE_TIMES = ['1900-01-01T00:00:00Z', '9999-12-31T23:59:59.999Z', '2024-02-29T12:00:00.123456+05:30'];
const BAD_DATES = ['0000-01-01', '0001-01-01', '0099-12-31', '1899-12-31', '10000-01-01', '2023-02-29', '2024-13-01'];
const GOOD_DATES = ['1900-01-01', '9999-12-31', '2024-02-29'];
const BAD_MONTHS = ['0000-01', '0001-01', '0099-12', '1899-12', '10000-01', '2024-13', '2024-00'];
const GOOD_MONTHS = ['1900-01', '9999-12'];

/** Query parameters that hold a date by their name: each must carry one of the date formats. */
const DATE_NAMES = /^(from|to|day|month|date|since|until|at|startsAt|endsAt|scheduledStart)$/;
const DATE_FORMATS = new Set(['date-time', 'date', 'year-month']);

/** Required-looking text in bodies that is not trimmed, and why (everything else must carry `trim`). */
const UNTRIMMED: Record<string, string> = {
  password: 'a secret: its spaces are part of it',
  currentPassword: 'a secret: its spaces are part of it',
  newPassword: 'a secret: its spaces are part of it',
  token: 'an opaque credential, compared exactly',
  phone: 'parsed as a phone number: blank is invalid_phone_number',
  from: 'parsed as a phone number: blank is invalid_phone_number',
  url: 'parsed as a URL: blank is invalid_webhook_url',
  email: 'sign-in email, looked up as typed (lower-cased), blank matches nobody',
};

/** Registered routes that are not in the OpenAPI document, and why. */
const UNDOCUMENTED: { method: string; url: RegExp; why: string }[] = [
  { method: 'GET', url: /^\/api\/openapi\.json$/, why: 'the OpenAPI document itself' },
  { method: 'GET', url: /^\/api\/docs(\/.*)?$/, why: 'the Swagger UI that renders the document, and its static files' },
  { method: 'GET', url: /^\/assets\/\*$/, why: "the web app's hashed static files (JS, CSS), served as built" },
  { method: 'OPTIONS', url: /.*/, why: 'CORS preflight, answered by @fastify/cors for every route' },
  { method: 'HEAD', url: /.*/, why: 'HEAD of a documented GET, added by Fastify' },
];

function jsonOf(res: LightMyRequestResponse): { error?: { code?: string; message?: string; requestId?: string; details?: { path?: string; message?: string }[] } } {
  return res.json();
}

/** The project's error shape, with the code and a status that agrees with it. */
function assertShape(res: LightMyRequestResponse, code: string, what: string): void {
  assert.ok(res.statusCode < 500 || code === 'internal_error', `${what}: ${res.statusCode} ${res.body.slice(0, 200)}`);
  const e = jsonOf(res).error;
  assert.ok(e && typeof e.message === 'string' && typeof e.requestId === 'string', `${what}: not the error shape: ${res.body.slice(0, 200)}`);
  assert.equal(e.code, code, `${what}: ${res.body.slice(0, 300)}`);
  assert.equal(res.statusCode, ERRORS[code as keyof typeof ERRORS].status, what);
  assert.equal(e.requestId, res.headers['x-request-id'], what);
}

function fillPath(path: string, id: string): string {
  return path.replace(/\{[^}]+\}/g, id);
}

function cursorOf(values: unknown[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

/** Sends raw bytes on a fresh connection and resolves everything the server wrote until it closed. */
function rawExchange(base: string, payload: string): Promise<{ status: number; headers: Record<string, string>; body: string; closed: boolean }> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: url.hostname, port: Number(url.port) });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no close after ${Buffer.concat(chunks).toString().slice(0, 200)}`));
    }, 5000);
    socket.on('data', (d) => chunks.push(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('utf8');
      const [head = '', body = ''] = text.split('\r\n\r\n');
      const [statusLine = '', ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body, closed: true });
    });
    socket.write(payload);
  });
}

for (const kind of DB_KINDS) {
  describe(`client input on ${kind}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let spec: Spec;
    let operations: Operation[];
    const ids: Record<string, string> = {};

    /** A fresh admin session (some operations sign out or revoke sessions). */
    const admin = async (): Promise<Record<string, string>> => ({ cookie: `${SESSION_COOKIE}=${await sessionFor(t.database, a.admin.user)}` });
    const send = async (method: string, url: string, options: { headers?: Record<string, string>; payload?: string } = {}) =>
      t.app.inject({ method: method as InjectOptions['method'], url, headers: { ...(await admin()), ...options.headers }, ...(options.payload !== undefined ? { payload: options.payload } : {}) });

    before(async () => {
      t = await createTestApp(kind, {
        // Twilio configured, so its webhook routes are registered (no message is sent: no network).
        env: { MESSAGING_PROVIDER: 'twilio', TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`, TWILIO_AUTH_TOKEN: 'ab'.repeat(16), TWILIO_FROM_NUMBER: '+14155550100', TWILIO_API_BASE_URL: 'http://127.0.0.1:9', LOGIN_RATE_LIMIT_PER_MINUTE: '10000' },
      });
      a = await createTestOrg(t.app);
      // Two of everything a list pages through, so each list (limit=1) hands out a real cursor.
      for (const n of [1, 2]) {
        const patient = await a.admin.post('/api/v1/patients', { givenName: `Input${n}`, familyName: 'Test', phone: `+1415555012${n}` });
        assert.equal(patient.statusCode, 201, patient.body);
        ids.patients = patient.json().id;
        const appointment = await a.admin.post('/api/v1/appointments', { kind: 'video', clinicianId: a.clinician.user.id, patientIds: [ids.patients], startsAt: new Date(Date.now() + n * 86_400_000).toISOString(), durationMinutes: 30 });
        assert.equal(appointment.statusCode, 201, appointment.body);
        ids.appointments = appointment.json().id;
        const visit = await a.admin.post('/api/v1/visits', { appointmentId: ids.appointments });
        assert.equal(visit.statusCode, 201, visit.body);
        ids.visits = visit.json().id;
        const key = await a.admin.post('/api/v1/api-keys', { name: `input ${n}` });
        assert.equal(key.statusCode, 201, key.body);
        const webhook = await a.admin.post('/api/v1/webhooks', { url: `http://127.0.0.1:9/input-${n}`, events: ['*'], active: false });
        assert.equal(webhook.statusCode, 201, webhook.body);
        ids.webhooks = webhook.json().webhook.id;
        assert.equal((await a.admin.post(`/api/v1/patients/${ids.patients}/consents`, { kind: 'sms', status: 'granted', method: 'verbal' })).statusCode, 201);
        const text = await a.admin.post(`/api/v1/patients/${ids.patients}/messages`, { body: `Input hello ${n}` });
        assert.equal(text.statusCode, 201, text.body);
      }
      ({ spec, operations } = await apiOperations(t.app));
    });
    after(() => t.close());

    /** The path of an operation with a seeded id where the resource has one, else a random uuid. */
    const urlFor = (op: Operation): string => {
      const resource = /^\/api\/v1\/([a-z-]+)\/\{/.exec(op.path)?.[1];
      return fillPath(op.path, (resource && ids[resource]) || randomUUID());
    };
    const lists = () => operations.filter((op) => op.method === 'GET' && op.params.some((p) => p.in === 'query'));

    test('every date, date-time and month filter refuses what the database cannot hold or a clinic cannot mean, and takes the bounds', async () => {
      const problems: string[] = [];
      let checked = 0;
      for (const op of lists()) {
        const url = urlFor(op);
        for (const param of op.params.filter((p) => p.in === 'query')) {
          const format = param.schema.format;
          if (DATE_NAMES.test(param.name)) assert.ok(format && DATE_FORMATS.has(format), `${op.path} ?${param.name} holds a date but has no date format`);
          if (!format || !DATE_FORMATS.has(format)) continue;
          const [bad, good] = format === 'date-time' ? [BAD_DATE_TIMES, GOOD_DATE_TIMES] : format === 'date' ? [BAD_DATES, GOOD_DATES] : [BAD_MONTHS, GOOD_MONTHS];
          for (const value of bad) {
            const res = await send('GET', `${url}?${param.name}=${encodeURIComponent(value)}`);
            checked++;
            const e = res.statusCode < 500 ? jsonOf(res).error : undefined;
            const detail = e?.details?.find((d) => d.path === `querystring/${param.name}`);
            if (res.statusCode !== 400 || e?.code !== 'validation_failed' || !detail?.message?.includes('1900')) problems.push(`${op.path} ?${param.name}=${value}: ${res.statusCode} ${res.body.slice(0, 200)}`);
          }
          for (const value of good) {
            const res = await send('GET', `${url}?${param.name}=${encodeURIComponent(value)}`);
            checked++;
            if (res.statusCode !== 200) problems.push(`${op.path} ?${param.name}=${value} (in range): ${res.statusCode} ${res.body.slice(0, 200)}`);
          }
        }
      }
      assert.deepEqual(problems, []);
      // appointments from/to, audit from/to, visits day, usage month at least.
      assert.ok(checked >= 6 * 10, `only ${checked} date filter cases`);
    });

    test('usage months: the years 1900 to 9999 are answered for the month asked, the rest refused', async () => {
      for (const month of ['1900-01', '9999-12', '2024-02']) {
        const res = await send('GET', `/api/v1/usage?month=${month}`);
        assert.equal(res.statusCode, 200, res.body);
        assert.equal(res.json().month, month);
      }
      for (const month of ['0000-01', '9999-13', '0001-12']) assertShape(await send('GET', `/api/v1/usage?month=${month}`), 'validation_failed', `usage ${month}`);
    });

    test('every cursor holding a date refuses one out of range as invalid_cursor, and takes one in range', async () => {
      const problems: string[] = [];
      const timeCursors: string[] = [];
      for (const op of lists()) {
        const cursorParam = op.params.find((p) => p.in === 'query' && (p.name === 'cursor' || p.name === 'before'));
        if (!cursorParam) continue;
        const url = urlFor(op);
        const first = await send('GET', `${url}?limit=1`);
        assert.equal(first.statusCode, 200, `${op.path}: ${first.body.slice(0, 200)}`);
        const real = first.json().nextCursor as string | null;
        // Every shape a forged date could take, in every position of a two-part cursor.
        const uuid = randomUUID();
        const hostile = [...BAD_DATE_TIMES, '0001-01-01T00:00:00.000000Z', '0050-06-01T00:00:00.000Z', '1899-12-31T23:59:59.999999Z', '9999-12-31T23:59:60.000000Z', '10000-01-01T00:00:00.000000Z'];
        for (const date of hostile) {
          for (const values of [[date, uuid], [date], [date, date, uuid]]) {
            const res = await send('GET', `${url}?${cursorParam.name}=${cursorOf(values)}`);
            if (res.statusCode >= 500) problems.push(`${op.path} cursor ${JSON.stringify(values)}: ${res.statusCode} ${res.body.slice(0, 200)}`);
          }
        }
        if (!real) continue;
        const decoded = JSON.parse(Buffer.from(real, 'base64url').toString()) as unknown[];
        const timeAt = decoded.findIndex((v) => typeof v === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(v));
        if (timeAt === -1) continue;
        timeCursors.push(op.path);
        for (const date of hostile) {
          const forged = decoded.map((v, i) => (i === timeAt ? date : v));
          const res = await send('GET', `${url}?${cursorParam.name}=${cursorOf(forged)}`);
          if (res.statusCode !== 400 || jsonOf(res).error?.code !== 'invalid_cursor') problems.push(`${op.path} cursor ${JSON.stringify(forged)}: ${res.statusCode} ${res.body.slice(0, 200)}`);
        }
        for (const date of ['1900-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z']) {
          const res = await send('GET', `${url}?${cursorParam.name}=${cursorOf(decoded.map((v, i) => (i === timeAt ? date : v)))}`);
          if (res.statusCode !== 200) problems.push(`${op.path} cursor at ${date} (in range): ${res.statusCode} ${res.body.slice(0, 200)}`);
        }
      }
      assert.deepEqual(problems, []);
      for (const path of ['/api/v1/api-keys', '/api/v1/webhooks', '/api/v1/appointments', '/api/v1/visits', '/api/v1/messages']) {
        assert.ok(timeCursors.includes(path), `${path} hands out a time cursor (seen: ${timeCursors.join(', ')})`);
      }
    });

    test('every date and date-time in every body refuses what is out of range, naming the field', async () => {
      const problems: string[] = [];
      let checked = 0;
      for (const op of operations.filter((o) => o.body?.properties)) {
        for (const [prop, schema] of Object.entries(op.body!.properties!)) {
          const formats = [schema, ...(schema.anyOf ?? [])].map((s) => s.format);
          const format = formats.find((f) => f === 'date-time' || f === 'date');
          if (!format) continue;
          for (const value of format === 'date-time' ? BAD_DATE_TIMES : BAD_DATES) {
            const res = await send(op.method, urlFor(op), { headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ [prop]: value }) });
            checked++;
            const e = res.statusCode < 500 ? jsonOf(res).error : undefined;
            const detail = e?.details?.find((d) => d.path === `body/${prop}`);
            if (res.statusCode !== 400 || e?.code !== 'validation_failed' || !detail?.message?.includes('1900')) problems.push(`${op.method} ${op.path} ${prop}=${value}: ${res.statusCode} ${res.body.slice(0, 200)}`);
          }
        }
      }
      assert.deepEqual(problems, []);
      assert.ok(checked >= 4 * 7, `only ${checked} body date cases`);
    });

    test('dates at the edges of the range are stored as sent, never moved a century', async () => {
      const appointment = await a.admin.post('/api/v1/appointments', { kind: 'video', clinicianId: a.clinician.user.id, patientIds: [ids.patients], startsAt: '1900-01-01T00:00:00Z', durationMinutes: 30 });
      assert.equal(appointment.statusCode, 201, appointment.body);
      assert.equal(appointment.json().startsAt, '1900-01-01T00:00:00.000Z');
      const read = await a.admin.get(`/api/v1/appointments/${appointment.json().id}`);
      assert.equal(read.json().startsAt, '1900-01-01T00:00:00.000Z');
      const listed = await a.admin.get(`/api/v1/appointments?from=${encodeURIComponent('1900-01-01T00:00:00Z')}&to=${encodeURIComponent('1900-01-02T00:00:00Z')}`);
      assert.deepEqual(
        listed.json().data.map((x: { id: string }) => x.id),
        [appointment.json().id],
      );
      assertShape(await a.admin.post('/api/v1/appointments', { kind: 'video', clinicianId: a.clinician.user.id, patientIds: [ids.patients], startsAt: '0001-01-01T00:00:00Z', durationMinutes: 30 }), 'validation_failed', 'year 1');
      const visit = await a.admin.post('/api/v1/visits', { patientIds: [ids.patients], scheduledStart: '9999-12-31T23:00:00Z' });
      assert.equal(visit.statusCode, 201, visit.body);
      assert.equal(visit.json().scheduledStart, '9999-12-31T23:00:00.000Z');

      // Birth dates: from 1900, not in the future.
      const born = await a.admin.post('/api/v1/patients', { givenName: 'Old', familyName: 'Timer', dateOfBirth: '1900-01-01' });
      assert.equal(born.statusCode, 201, born.body);
      assert.equal(born.json().dateOfBirth, '1900-01-01');
      const tomorrow = new Date(Date.now() + 2 * 86_400_000).toISOString().slice(0, 10);
      for (const dateOfBirth of ['1899-12-31', '0001-01-01', tomorrow]) {
        const res = await a.admin.post('/api/v1/patients', { givenName: 'Not', familyName: 'Born', dateOfBirth });
        assertShape(res, 'validation_failed', dateOfBirth);
        assert.ok(detailPaths(res).includes('body/dateOfBirth'), res.body);
        assert.match(res.body, /1900/);
      }
    });

    test('a date answered on an intake form follows the same rule', async () => {
      const form = await a.admin.post('/api/v1/intake-forms', { name: 'Dates', fields: [{ id: 'onset', label: 'When did it start?', type: 'date', required: true }] });
      assert.equal(form.statusCode, 201, form.body);
      const sent = await a.admin.post(`/api/v1/intake-forms/${form.json().id}/send`, { patientId: ids.patients, delivery: 'sms' });
      assert.equal(sent.statusCode, 201, sent.body);
      const token = (sent.json().link as string).split('#')[1]!;
      for (const onset of ['0001-01-01', '2024-02-30', '1899-12-31', '10000-01-01']) {
        const res = await a.anonymous.post('/api/v1/intake/submit', { token, answers: { onset } });
        assertShape(res, 'validation_failed', onset);
        assert.deepEqual(detailPaths(res), ['body/answers/onset'], onset);
        assert.match(res.body, /1900/);
      }
      const ok = await a.anonymous.post('/api/v1/intake/submit', { token, answers: { onset: '2024-02-29' } });
      assert.equal(ok.statusCode, 200, ok.body);
    });

    test('required text in every body is trimmed and refused when only spaces, naming the field', async () => {
      const problems: string[] = [];
      const trimmed: string[] = [];
      const walk = (op: Operation, schema: JsonSchema, path: string, name: string): void => {
        for (const branch of [schema, ...(schema.anyOf ?? [])]) {
          if (branch.properties) for (const [k, s] of Object.entries(branch.properties)) walk(op, s, `${path}/${k}`, k);
          if (branch.items) walk(op, branch.items, `${path}/0`, name);
          const text = branch.type === 'string' && (branch.minLength ?? 0) >= 1 && !branch.format && !branch.pattern && !branch.enum && branch.const === undefined;
          if (text && branch.trim !== true && !UNTRIMMED[name]) problems.push(`${op.method} ${op.path} ${path} is required text but not trimmed`);
          if (branch.trim === true) trimmed.push(`${op.method} ${op.path} ${path}`);
        }
      };
      for (const op of operations) if (op.body) walk(op, op.body, 'body', 'body');
      assert.deepEqual(problems, []);
      assert.ok(trimmed.length >= 20, `only ${trimmed.length} trimmed fields`);

      // Every top-level trimmed field answers "   " with validation_failed naming it.
      const refusals: string[] = [];
      for (const op of operations.filter((o) => o.body?.properties)) {
        for (const [prop, schema] of Object.entries(op.body!.properties!)) {
          if (![schema, ...(schema.anyOf ?? [])].some((s) => s.trim === true)) continue;
          const res = await send(op.method, urlFor(op), { headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ [prop]: ' \t  ' }) });
          if (res.statusCode !== 400 || !detailPaths(res).includes(`body/${prop}`)) refusals.push(`${op.method} ${op.path} ${prop}="   ": ${res.statusCode} ${res.body.slice(0, 200)}`);
        }
      }
      assert.deepEqual(refusals, []);

      const created = await a.admin.post('/api/v1/patients', { givenName: '  Ada ', familyName: '\tLovelace\n' });
      assert.equal(created.statusCode, 201, created.body);
      assert.equal(created.json().givenName, 'Ada');
      assert.equal(created.json().familyName, 'Lovelace');
      const blank = await a.admin.post('/api/v1/patients', { givenName: '   ', familyName: 'Lovelace' });
      assertShape(blank, 'validation_failed', 'blank givenName');
      assert.deepEqual(errorOf(blank).details, [{ path: 'body/givenName', message: 'must not be empty or only spaces' }]);
      assertShape(await a.admin.patch(`/api/v1/patients/${created.json().id}`, { familyName: '  ' }), 'validation_failed', 'blank familyName on update');
      assert.equal((await a.admin.get(`/api/v1/patients/${created.json().id}`)).json().familyName, 'Lovelace');
      // A visit note shorter than 20 characters once trimmed is refused too.
      assertShape(await a.admin.post(`/api/v1/consent-texts`, { kind: 'telehealth', version: 'v-input', body: `   short   ${' '.repeat(30)}` }), 'validation_failed', 'short consent text');
    });

    test('an empty body sent as application/json is no body: body-less routes run, body routes name the missing body', async () => {
      const room = await a.admin.post('/api/v1/rooms', { name: 'input-room' });
      assert.equal(room.statusCode, 201, room.body);
      const ended = await send('POST', '/api/v1/rooms/input-room/end', { headers: { 'content-type': 'application/json' }, payload: '' });
      assert.equal(ended.statusCode, 200, ended.body);

      const problems: string[] = [];
      let bodyless = 0;
      let withBody = 0;
      for (const op of operations.filter((o) => ['POST', 'PATCH', 'PUT', 'DELETE'].includes(o.method))) {
        for (const contentType of ['application/json', 'application/json; charset=utf-8']) {
          const res = await send(op.method, urlFor(op), { headers: { 'content-type': contentType }, payload: '' });
          const e = res.statusCode >= 400 && res.statusCode < 500 ? jsonOf(res).error : undefined;
          if (res.statusCode >= 500) problems.push(`${op.method} ${op.path}: ${res.statusCode} ${res.body.slice(0, 200)}`);
          else if (e?.code === 'invalid_json') problems.push(`${op.method} ${op.path}: an empty body is invalid_json`);
          else if (op.body) {
            withBody++;
            if (e?.code !== 'validation_failed' || !detailPaths(res).includes('body')) problems.push(`${op.method} ${op.path}: ${res.statusCode} ${res.body.slice(0, 200)} (expected validation_failed naming body)`);
          } else bodyless++;
        }
      }
      assert.deepEqual(problems, []);
      assert.ok(bodyless >= 10 && withBody >= 20, `${bodyless} body-less and ${withBody} body routes`);
      // Still malformed: a body of spaces is not JSON.
      assertShape(await send('POST', '/api/v1/patients', { headers: { 'content-type': 'application/json' }, payload: '  ' }), 'invalid_json', 'spaces');
    });

    test("errors of Node's HTTP parser answer in the shape, with a request id, and close the connection", async () => {
      const base = await t.listen();
      const cases: [string, string, number, string][] = [
        ['headers over 16 KB', `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431, 'headers_too_large'],
        ['a malformed request line', 'NOT A REQUEST\r\n\r\n', 400, 'bad_request'],
        ['an unknown HTTP version', 'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n', 400, 'bad_request'],
        ['Content-Length with Transfer-Encoding', 'POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400, 'bad_request'],
        ['two different Content-Lengths', 'POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}', 400, 'bad_request'],
        ['a header without a name', 'GET /healthz HTTP/1.1\r\nHost: x\r\n: nameless\r\n\r\n', 400, 'bad_request'],
      ];
      for (const [what, payload, status, code] of cases) {
        const res = await rawExchange(base, payload);
        assert.equal(res.status, status, `${what}: ${res.body}`);
        assert.equal(res.headers.connection, 'close', what);
        assert.match(res.headers['content-type'] ?? '', /^application\/json/, what);
        assert.equal(Number(res.headers['content-length']), Buffer.byteLength(res.body), what);
        const e = (JSON.parse(res.body) as { error: { code: string; message: string; requestId: string } }).error;
        assert.equal(e.code, code, what);
        assert.equal(ERRORS[code as keyof typeof ERRORS].status, status, what);
        assert.ok(e.message.length > 0, what);
        assert.match(e.requestId, /^[0-9a-f-]{36}$/, what);
        assert.equal(res.headers['x-request-id'], e.requestId, what);
      }
      // The big header's value never reaches the log.
      assert.ok(!t.logs.some((line) => line.includes('a'.repeat(100))), 'the raw request reached the log');
      // The server still answers afterwards.
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
    });

    test('a database error is logged with its SQLSTATE, route and request id, never the query or its parameters', async () => {
      // A check constraint the patient route does not expect: its violation is an unhandled 23514 whose
      // message, detail ("Failing row contains (…)") and query parameters all hold the values sent.
      await t.database.db.execute(sql.raw(`alter table patients add constraint input_test_forced check (given_name <> 'Forced-Secret-Name') not valid`));
      try {
        const res = await a.admin.post('/api/v1/patients', { givenName: 'Forced-Secret-Name', familyName: 'Hidden-Family', phone: '+14155550177', email: 'forced-secret@example.org' });
        assertShape(res, 'internal_error', 'forced database error');
        const requestId = errorOf(res).requestId;
        const lines = t.logs.filter((line) => line.includes(requestId));
        const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((entry) => entry.msg === 'unhandled error');
        assert.ok(logged, `no unhandled-error line for ${requestId}: ${lines.join('\n')}`);
        assert.equal(logged.sqlState, '23514');
        assert.equal(logged.route, '/api/v1/patients');
        assert.equal(logged.requestId, requestId);
        // The cause chain is followed and kept to names and codes.
        assert.match(JSON.stringify(logged.err), /23514/);
        assert.match(JSON.stringify(logged.err), /input_test_forced/);
        for (const secret of ['Forced-Secret-Name', 'Hidden-Family', '4155550177', 'forced-secret', 'insert into', 'Failed query', 'params', 'Failing row']) {
          assert.ok(!t.logs.some((line) => line.includes(secret)), `the log holds ${secret}`);
        }
      } finally {
        await t.database.db.execute(sql.raw('alter table patients drop constraint input_test_forced'));
      }
    });

    test("the logger's error serializer keeps a driver error's SQLSTATE and names, never its values, however it is logged", async () => {
      const secret = 'Serializer-Secret-4155550166';
      let caught: unknown;
      try {
        // A uuid cast of a value: the driver's message ("invalid input syntax for type uuid: \"…\"") holds it.
        await t.database.db.execute(sql`select ${secret}::uuid`);
      } catch (err) {
        caught = err;
      }
      assert.ok(caught instanceof Error, 'the query failed');
      assert.match(String(caught.message) + String((caught as { cause?: Error }).cause?.message), new RegExp(secret), 'the raw error holds the value');
      const lines: string[] = [];
      const log = pino(loggerOptions('info'), new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) }));
      log.warn({ err: caught }, 'as the error');
      log.warn({ error: caught }, 'under error');
      log.warn({ err: { message: (caught as Error).message } }, 'as its message');
      log.warn({ err: new Error('wrapped', { cause: caught }) }, 'as a cause');
      assert.equal(lines.length, 4);
      for (const line of lines) {
        assert.ok(!line.includes(secret) && !line.includes('select'), `the log holds the value or the query: ${line}`);
      }
      const entry = JSON.parse(lines[0]!) as { err: { sqlState?: string; cause?: { sqlState?: string } } };
      assert.equal(entry.err.sqlState ?? entry.err.cause?.sqlState, '22P02');
      assert.match(lines[3]!, /22P02/);
      assert.match(lines[3]!, /"message":"wrapped"/);
    });

    test('every route the server registered is in the OpenAPI document or on a justified list', async () => {
      const documented = new Set(Object.entries(spec.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`)));
      const missing: string[] = [];
      for (const route of t.app.registeredRoutes) {
        const path = route.url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
        if (documented.has(`${route.method} ${path}`)) continue;
        if (UNDOCUMENTED.some((u) => u.method === route.method && u.url.test(route.url))) continue;
        missing.push(`${route.method} ${route.url}${route.hidden ? ' (hidden)' : ''}`);
      }
      assert.deepEqual(missing, []);
      assert.ok(t.app.registeredRoutes.length > 50);
      // What Twilio calls: form-encoded bodies with its field names, the signature header, the answers.
      for (const path of ['/webhooks/twilio/sms', '/webhooks/twilio/sms-status']) {
        const op = spec.paths[path]?.post;
        assert.ok(op, `${path} is documented`);
        const form = op.requestBody?.content['application/x-www-form-urlencoded']?.schema;
        assert.ok(form?.properties?.MessageSid && form.properties.From, `${path} documents Twilio's fields`);
        assert.ok(op.parameters?.some((p) => p.in === 'header' && p.name === 'x-twilio-signature'), `${path} documents the signature header`);
        assert.ok(op.responses?.['403'], `${path} documents the refusal`);
        assert.deepEqual(op.security, []);
      }
      assert.ok(spec.paths['/webhooks/twilio/sms']?.post?.requestBody?.content['application/x-www-form-urlencoded']?.schema.properties?.Body);
      for (const path of ['/healthz', '/readyz', '/sdk/openvisit.js', '/favicon.ico', '/favicon.svg', '/', '/join', '/visits/{id}']) assert.ok(spec.paths[path]?.get, `${path} is documented`);
    });
  });
}
