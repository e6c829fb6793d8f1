import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { createApiKey } from '../src/server/apikeys/service.js';
import { systemCtx } from '../src/server/context.js';
import { SESSION_COOKIE } from '../src/server/auth/secrets.js';
import { roomRecordings, webhookDeliveries } from '../src/server/db/schema.js';
import { ERRORS } from '../src/shared/errors.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestOrg, sessionFor, type TestOrg } from './helpers/builders.js';
import { DB_KINDS } from './helpers/db.js';
import { apiOperations, takesInput, type JsonSchema, type Operation } from './helpers/openapi.js';

/**
 * Every operation in /api/openapi.json, fed malformed, mistyped, oversized and odd input, as an admin and
 * as an API key. The answer is never a 5xx, and every error is the catalogue's shape with a catalogue code
 * whose status it carries. Where the right answer is certain (bad JSON, unknown field, wrong type, wrong
 * content type, too large, not a uuid) the exact code is checked too.
 */

const BODY_LIMIT = 4096;
const CONCURRENCY = 4;

interface Case {
  label: string;
  method: string;
  url: string;
  headers?: Record<string, string>;
  payload?: string;
  /** The one catalogue code this answer must carry; absent = any well-formed answer below 500. */
  expect?: string;
  /** For validation_failed: a detail must name this path (e.g. body/givenName). */
  names?: string;
}

// An empty body is no body (test/input.test.ts); a body of spaces is still not JSON.
const MALFORMED_JSON = ['{"a":', '{"a":1}}', ' ', '{a:1}', "{'a':1}", '\u0000', '{"a":"\\u00"}', 'NaN', '[1,]'];
const VALID_BUT_ODD_JSON = ['[]', 'null', '"str"', '0', 'true', '{}', '[{}]'];
/** Prototype poisoning: Fastify's JSON parser refuses these outright. */
const POISONED_JSON = ['{"__proto__":{"polluted":1}}', '{"constructor":{"prototype":{"polluted":1}}}', '{"a":{"__proto__":{"polluted":1}}}'];
const ODD_VALUES: unknown[] = [
  0,
  -1,
  1.5,
  1e308,
  2 ** 31,
  2 ** 53 + 2,
  true,
  null,
  [],
  {},
  [null],
  'str',
  '',
  ' ',
  'x'.repeat(1000),
  '\u0000nul',
  '\u202etxet',
  '😀'.repeat(40),
  "'; drop table patients; --",
  '<script>alert(1)</script>',
  '0000-01-01',
  '0000-01-01T00:00:00Z',
  '9999-12-31T23:59:59Z',
  '2024-02-30T00:00:00Z',
  '2024-01-01T00:00:00+14:00',
  '1970-01-01T00:00:00.123456789Z',
  '00000000-0000-0000-0000-000000000000',
  'not-a-uuid',
  ['not-a-uuid'],
];
const QUERY_VALUES = ['zz-not-valid', '', '-1', '0', '1.5', '1e999', '99999999999999999999', 'x'.repeat(600), '\u0000', '😀', 'true', 'null', '2024-02-30T00:00:00Z', '0000-01-01T00:00:00Z'];

function jsonTypes(value: unknown): string[] {
  if (value === null) return ['null'];
  if (Array.isArray(value)) return ['array'];
  if (typeof value === 'number') return Number.isInteger(value) ? ['integer', 'number'] : ['number'];
  return [typeof value];
}

/** The JSON types a schema admits (undefined: anything). */
function allowedTypes(schema: JsonSchema): Set<string> | undefined {
  if (schema.anyOf) {
    const out = new Set<string>();
    for (const branch of schema.anyOf) {
      const types = allowedTypes(branch);
      if (!types) return undefined;
      for (const t of types) out.add(t);
    }
    return out;
  }
  if (schema.type) {
    const types = new Set(Array.isArray(schema.type) ? schema.type : [schema.type]);
    if (types.has('number')) types.add('integer');
    return types;
  }
  if (schema.const !== undefined) return new Set(jsonTypes(schema.const));
  return undefined;
}

/** Whether a query value is certainly refused by the schema (a closed set, a number, a boolean or a format). */
function certainlyInvalidQuery(schema: JsonSchema, value: string): boolean {
  if (value.includes('\u0000')) return true;
  if (value !== 'zz-not-valid') return false;
  if (schema.anyOf) return schema.anyOf.every((b) => b.const !== undefined || b.enum !== undefined);
  return schema.enum !== undefined || schema.const !== undefined || schema.type === 'integer' || schema.type === 'number' || schema.type === 'boolean' || schema.format !== undefined;
}

function encodePath(template: string, id: string): string {
  return template.replace(/\{[^}]+\}/g, id);
}

for (const kind of DB_KINDS) {
  describe(`fuzzing every operation on ${kind}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;
    let operations: Operation[];
    const ids: Record<string, string> = {};

    before(async () => {
      t = await createTestApp(kind, { env: { BODY_LIMIT_BYTES: String(BODY_LIMIT), LOGIN_RATE_LIMIT_PER_MINUTE: '10000', TOKEN_RATE_LIMIT_PER_MINUTE: '100000', CHAT_RATE_LIMIT_PER_MINUTE: '100000' } });
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
      const patient = await a.admin.post('/api/v1/patients', { givenName: 'Fuzz', familyName: 'Target', phone: '+14155550123' });
      assert.equal(patient.statusCode, 201, patient.body);
      const appointment = await a.admin.post('/api/v1/appointments', {
        kind: 'video',
        clinicianId: a.clinician.user.id,
        patientIds: [patient.json().id],
        startsAt: new Date(Date.now() + 86_400_000).toISOString(),
        durationMinutes: 30,
      });
      assert.equal(appointment.statusCode, 201, appointment.body);
      const otherPatient = await b.admin.post('/api/v1/patients', { givenName: 'Other', familyName: 'Org' });
      // Rooms are addressed by name (and participants by identity): one value fits both path patterns.
      const room = await a.admin.post('/api/v1/rooms', { name: 'fuzz-room' });
      assert.equal(room.statusCode, 201);
      // A finished recording of that room (its file is not on disk: the download answers 404, never a 5xx).
      const [recording] = await t.database.db
        .insert(roomRecordings)
        .values({ orgId: a.orgId, roomId: room.json().id, identity: 'fuzz', content: 'camera', status: 'completed', providerRef: `fuzz-${randomUUID()}`, file: 'fuzz/missing.webm', mediaType: 'video/webm', startedAt: new Date(), endedAt: new Date(), bytes: 0 })
        .returning();
      // A visit of that appointment with an invited patient.
      const visit = await a.admin.post('/api/v1/visits', { appointmentId: appointment.json().id });
      assert.equal(visit.statusCode, 201, visit.body);
      const invite = await a.admin.post(`/api/v1/visits/${visit.json().id}/invites`, { role: 'patient', patientId: patient.json().id });
      assert.equal(invite.statusCode, 201, invite.body);
      // An inactive webhook (to a closed loopback port, should the run activate it) and a settled delivery.
      const webhook = await a.admin.post('/api/v1/webhooks', { url: 'http://127.0.0.1:9/fuzz', events: ['*'], active: false });
      assert.equal(webhook.statusCode, 201, webhook.body);
      const [delivery] = await t.database.db
        .insert(webhookDeliveries)
        .values({ orgId: a.orgId, subscriptionId: webhook.json().webhook.id, messageId: `msg_fuzz${randomUUID().slice(0, 8)}`, eventType: 'webhook.test', payload: { type: 'webhook.test', timestamp: new Date().toISOString(), data: {} }, status: 'failed' })
        .returning();
      // A text to the patient (with SMS consent), a template, an intake form sent to the patient.
      const pid = patient.json().id as string;
      assert.equal((await a.admin.post(`/api/v1/patients/${pid}/consents`, { kind: 'sms', status: 'granted', method: 'verbal' })).statusCode, 201);
      const text = await a.admin.post(`/api/v1/patients/${pid}/messages`, { body: 'Fuzz hello' });
      assert.equal(text.statusCode, 201, text.body);
      const template = await a.admin.post('/api/v1/templates', { name: 'Fuzz template', purpose: 'custom', channel: 'sms', body: 'Hello from {{orgName}}' });
      assert.equal(template.statusCode, 201, template.body);
      const form = await a.admin.post('/api/v1/intake-forms', { name: 'Fuzz form', fields: [{ id: 'q', label: 'Question', type: 'text', required: false }] });
      assert.equal(form.statusCode, 201, form.body);
      const intake = await a.admin.post(`/api/v1/intake-forms/${form.json().id}/send`, { patientId: pid, delivery: 'sms' });
      assert.equal(intake.statusCode, 201, intake.body);
      // A care circle: the patient's own member and a family member (the member routes act on it).
      const careMember = await a.admin.post(`/api/v1/care/recipients/${patient.json().id as string}/caregivers`, { displayName: 'Fuzz Family' });
      assert.equal(careMember.statusCode, 201, careMember.body);
      // A check-in call between the patient's own member and the family member, and a schedule.
      const recipient = await a.admin.post(`/api/v1/care/recipients/${pid}/recipient-link`, {});
      assert.equal(recipient.statusCode, 201, recipient.body);
      const checkin = await a.apiKey.post('/api/v1/checkins', { callerMemberId: recipient.json().memberId, calleeMemberId: careMember.json().id, ringSeconds: 600 });
      assert.equal(checkin.statusCode, 201, checkin.body);
      const schedule = await a.admin.post(`/api/v1/care/recipients/${pid}/schedules`, { callerMemberId: recipient.json().memberId, calleeMemberId: careMember.json().id, frequency: 'once', at: new Date(Date.now() + 30 * 86_400_000).toISOString() });
      assert.equal(schedule.statusCode, 201, schedule.body);
      // Victims of the state-changing operations, so the callers themselves survive the run.
      const victimKey = await createApiKey({ db: t.database.db, hub: t.app.realtime }, systemCtx(a.orgId), 'victim');
      await sessionFor(t.database, a.admin.user); // a second admin session, for /auth/sessions/{id}/revoke
      const sessions = (await a.admin.get('/api/v1/auth/sessions')).json() as { data: { id: string; current: boolean }[] };
      Object.assign(ids, {
        patients: patient.json().id,
        appointments: appointment.json().id,
        users: a.clinician.user.id,
        'api-keys': victimKey.apiKey.id,
        sessions: sessions.data.find((s) => !s.current)!.id,
        otherOrg: otherPatient.json().id,
        rooms: 'fuzz-room',
        recordings: recording!.id,
        visits: visit.json().id,
        webhooks: webhook.json().webhook.id,
        'webhook-deliveries': delivery!.id,
        messages: text.json().id,
        outbox: text.json().id,
        templates: template.json().id,
        'intake-forms': form.json().id,
        'intake-requests': intake.json().id,
        'care-members': careMember.json().id,
        checkins: checkin.json().id,
        'checkin-schedules': schedule.json().id,
      });

      operations = (await apiOperations(t.app)).operations.filter(takesInput);
    });
    after(() => t.close());

    /** The id to put in a path: the seeded resource the path is about. */
    const realIdFor = (path: string): string => {
      if (path.startsWith('/api/v1/auth/sessions/')) return ids.sessions!;
      if (path.startsWith('/api/v1/webhooks/deliveries/')) return ids['webhook-deliveries']!;
      if (path.startsWith('/api/v1/care/recipients/')) return ids.patients!;
      if (path.startsWith('/api/v1/care/members/')) return ids['care-members']!;
      const resource = /^\/api\/v1\/([a-z-]+)\//.exec(path)?.[1];
      const id = resource ? ids[resource] : undefined;
      assert.ok(id, `no seeded id for ${path}`);
      return id;
    };

    /** A plausible value for a schema: real ids where the name says which, otherwise the first allowed value. */
    const synth = (schema: JsonSchema, name: string): unknown => {
      if (schema.anyOf) return synth(schema.anyOf.find((s) => s.type !== 'null') ?? schema.anyOf[0]!, name);
      if (schema.const !== undefined) return schema.const;
      if (schema.enum) return schema.enum[0];
      switch (schema.type) {
        case 'object': {
          const out: Record<string, unknown> = {};
          for (const key of schema.required ?? []) out[key] = synth(schema.properties![key]!, key);
          return out;
        }
        case 'array':
          return Array.from({ length: Math.max(schema.minItems ?? 1, 1) }, () => synth(schema.items!, name));
        case 'integer':
        case 'number':
          return Math.max(schema.minimum ?? 1, 1);
        case 'boolean':
          return false;
        default:
          if (schema.format === 'uuid') return name === 'clinicianId' ? a.clinician.user.id : name.startsWith('patientId') ? ids.patients : randomUUID();
          if (schema.format === 'date-time') return new Date(Date.now() + 7 * 86_400_000).toISOString();
          if (schema.format === 'date') return '1980-01-01';
          if (schema.format === 'email') return `fuzz-${randomUUID().slice(0, 8)}@example.org`;
          if (name === 'phone') return '+14155550123';
          if (name === 'timeZone') return 'UTC';
          return 'fuzz'.padEnd(Math.max(schema.minLength ?? 1, 10), 'z');
      }
    };

    /** A body that passes validation (required fields, plus every optional one when `full`). */
    const validBody = (schema: JsonSchema, full = false): Record<string, unknown> => {
      const body = synth(schema, 'body') as Record<string, unknown>;
      if (full || Object.keys(body).length === 0) {
        for (const [key, prop] of Object.entries(schema.properties ?? {})) {
          if (key === 'disabled' || key === 'password' || key === 'role') continue; // would lock the victim out mid-run; covered below
          body[key] ??= synth(prop, key);
          if (!full) break;
        }
      }
      return body;
    };

    const casesFor = (op: Operation): Case[] => {
      const cases: Case[] = [];
      const url = encodePath(op.path, op.path.includes('{') ? realIdFor(op.path) : '');
      const json = { 'content-type': 'application/json' };
      const hasBody = op.method === 'POST' || op.method === 'PATCH' || op.method === 'PUT';
      const name = `${op.method} ${op.path}`;

      if (hasBody) {
        for (const payload of [...MALFORMED_JSON, ...POISONED_JSON]) cases.push({ label: `${name} malformed ${JSON.stringify(payload)}`, method: op.method, url, headers: json, payload, expect: 'invalid_json' });
        for (const payload of VALID_BUT_ODD_JSON) {
          const refused = op.body && (payload !== '{}' || (op.body.required?.length ?? 0) > 0 || op.method === 'PATCH');
          cases.push({ label: `${name} odd JSON ${payload}`, method: op.method, url, headers: json, payload, ...(refused ? { expect: 'validation_failed' } : {}) });
        }
        const big = JSON.stringify({ givenName: 'x'.repeat(BODY_LIMIT + 100) });
        cases.push({ label: `${name} body over the limit`, method: op.method, url, headers: json, payload: big, expect: 'payload_too_large' });
        for (const [type, payload] of [
          ['text/plain', 'hello'],
          ['application/x-www-form-urlencoded', 'givenName=a&familyName=b'],
          ['application/xml', '<a/>'],
          ['multipart/form-data; boundary=x', '--x\r\nContent-Disposition: form-data; name="a"\r\n\r\nb\r\n--x--'],
        ] as const) {
          cases.push({ label: `${name} as ${type}`, method: op.method, url, headers: { 'content-type': type }, payload, expect: 'unsupported_media_type' });
        }
      }

      if (op.body) {
        const base = validBody(op.body);
        cases.push({
          label: `${name} unknown field`,
          method: op.method,
          url,
          headers: json,
          payload: JSON.stringify({ ...base, zzUnknownField: 1 }),
          expect: 'validation_failed',
          names: 'body/zzUnknownField',
        });
        for (const [prop, schema] of Object.entries(op.body.properties ?? {})) {
          const allowed = allowedTypes(schema);
          for (const value of ODD_VALUES) {
            // PostgreSQL text cannot hold NUL: a string carrying one is refused up front, never a database error.
            const mismatched = (allowed !== undefined && !jsonTypes(value).some((type) => allowed.has(type))) || (typeof value === 'string' && value.includes('\u0000'));
            cases.push({
              label: `${name} ${prop}=${JSON.stringify(value).slice(0, 40)}`,
              method: op.method,
              url,
              headers: json,
              payload: JSON.stringify({ ...base, [prop]: value }),
              ...(mismatched ? { expect: 'validation_failed', names: `body/${prop}` } : {}),
            });
          }
        }
      }

      for (const param of op.params.filter((p) => p.in === 'query')) {
        for (const value of QUERY_VALUES) {
          cases.push({
            label: `${name} ?${param.name}=${JSON.stringify(value).slice(0, 30)}`,
            method: op.method,
            url: `${url}?${param.name}=${encodeURIComponent(value)}`,
            ...(certainlyInvalidQuery(param.schema, value) ? { expect: 'validation_failed', names: `querystring/${param.name}` } : {}),
          });
        }
        cases.push({ label: `${name} ?${param.name} twice`, method: op.method, url: `${url}?${param.name}=1&${param.name}=2` });
      }
      if (op.method === 'GET') cases.push({ label: `${name} unknown query`, method: op.method, url: `${url}?zz=1&__proto__=x&constructor=y` });

      if (op.path.includes('{')) {
        // A body that passes validation, so a route that takes one reaches its lookup.
        const body = op.body ? { headers: json, payload: JSON.stringify(validBody(op.body, true)) } : {};
        const odd: [string, string | undefined][] = [
          ['not-a-uuid', 'validation_failed'],
          ['x'.repeat(150), 'validation_failed'],
          ['x'.repeat(250), undefined], // over the router's maxParamLength
          [encodeURIComponent('пациент-😀'), 'validation_failed'],
          ['%00', 'validation_failed'],
          ['%E0%A4%A', undefined], // not valid percent-encoding
          ['..%2F..%2Fetc%2Fpasswd', undefined],
          [encodeURIComponent("1' or '1'='1"), 'validation_failed'],
          ['00000000-0000-0000-0000-000000000000', op.body ? undefined : 'not_found'],
          [randomUUID(), op.body ? undefined : 'not_found'],
          [ids.otherOrg!, op.body ? undefined : 'not_found'], // another organisation's record
          [realIdFor(op.path).toUpperCase(), undefined],
        ];
        // Exact codes are certain only for uuid ids; names (rooms) and identities accept other shapes,
        // so there the answer must only be no 5xx and the error shape.
        const byUuid = op.params.some((p) => p.in === 'path' && p.name === 'id');
        for (const [id, expect] of odd) {
          cases.push({
            label: `${name} with id ${id.slice(0, 40)}`,
            method: op.method,
            url: encodePath(op.path, id),
            ...body,
            ...(expect && byUuid ? { expect } : {}),
            ...(expect === 'validation_failed' && byUuid ? { names: 'params/id' } : {}),
          });
        }
      }
      return cases;
    };

    /** Sends every case; returns what went wrong. */
    const run = async (who: 'admin' | 'apiKey'): Promise<{ sent: number; problems: string[]; codes: Map<string, number> }> => {
      const problems: string[] = [];
      const codes = new Map<string, number>();
      let sent = 0;
      for (const op of operations) {
        // Public routes (sign-in, sign-out) ignore the caller: fuzzing them once, as the admin pass does, is enough.
        if (who === 'apiKey' && op.public) continue;
        // A fresh admin session per operation: logout and session revocation are among the operations.
        const auth = who === 'admin' ? { cookie: `${SESSION_COOKIE}=${await sessionFor(t.database, a.admin.user)}` } : a.apiKey.headers;
        const probe = await t.app.inject({ method: op.method as InjectOptions['method'], url: encodePath(op.path, op.path.includes('{') ? realIdFor(op.path) : ''), headers: auth });
        // API keys may not call some routes; then "forbidden" is the right answer to everything.
        const forbidden = probe.statusCode === 403;
        if (who === 'admin') assert.notEqual(probe.statusCode, 403, `${op.method} ${op.path} refuses an admin: ${probe.body}`);
        const queue = casesFor(op);
        // A few requests in flight at once, as a server sees them (and password hashing overlaps).
        const worker = async () => {
          for (let c = queue.shift(); c; c = queue.shift()) {
            const res: LightMyRequestResponse = await t.app.inject({
              method: c.method as InjectOptions['method'],
              url: c.url,
              headers: { ...auth, ...c.headers },
              ...(c.payload !== undefined ? { payload: c.payload } : {}),
            });
            sent++;
            // Routing errors (bad percent-encoding, over-long ids) come before authentication; they keep their own expectation.
            const problem = check(res, forbidden && c.expect ? { label: c.label, method: c.method, url: c.url, expect: 'forbidden' } : c);
            if (problem) problems.push(`[${who}] ${c.label}: ${problem}`);
          }
        };
        await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      }
      return { sent, problems, codes };

      function check(res: LightMyRequestResponse, c: Case): string | undefined {
        if (res.statusCode >= 500) return `${res.statusCode} ${res.body.slice(0, 200)}`;
        if (res.statusCode < 400) return c.expect ? `expected ${c.expect}, got ${res.statusCode} ${res.body.slice(0, 120)}` : undefined;
        let body: { error?: { code?: unknown; message?: unknown; requestId?: unknown; details?: unknown } };
        try {
          body = res.json();
        } catch {
          return `${res.statusCode} not JSON: ${res.body.slice(0, 120)}`;
        }
        const e = body.error;
        if (!e || typeof e.code !== 'string' || typeof e.message !== 'string' || typeof e.requestId !== 'string') return `${res.statusCode} not the error shape: ${res.body.slice(0, 200)}`;
        if (!Object.hasOwn(ERRORS, e.code)) return `${res.statusCode} code ${e.code} is not in the catalogue`;
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
        if (ERRORS[e.code as keyof typeof ERRORS].status !== res.statusCode) return `status ${res.statusCode} does not match ${e.code}`;
        if (e.requestId !== res.headers['x-request-id']) return `requestId ${e.requestId} differs from the x-request-id header ${String(res.headers['x-request-id'])}`;
        if (c.expect && e.code !== c.expect) return `expected ${c.expect}, got ${res.statusCode} ${res.body.slice(0, 200)}`;
        if (c.names) {
          const paths = Array.isArray(e.details) ? (e.details as { path?: string }[]).map((d) => d.path) : [];
          if (!paths.includes(c.names)) return `details do not name ${c.names}: ${JSON.stringify(e.details).slice(0, 200)}`;
        }
        return undefined;
      }
    };

    const report = (who: string, result: Awaited<ReturnType<typeof run>>, ms: number) => {
      console.log(`fuzz ${kind} as ${who}: ${result.sent} requests in ${ms} ms; error codes: ${JSON.stringify(Object.fromEntries(result.codes))}`);
      for (const problem of result.problems) console.log(`  ${problem.slice(0, 300)}`);
      assert.deepEqual(result.problems.slice(0, 40), [], `${result.problems.length} problems`);
    };

    test('as an admin session: never a 5xx, always the error shape, the exact code where it is certain', { timeout: 300_000 }, async () => {
      assert.ok(operations.length >= 20, `the document lists ${operations.length} operations`);
      const started = Date.now();
      const result = await run('admin');
      report('admin', result, Date.now() - started);
      assert.ok((result.codes.get('validation_failed') ?? 0) > 100 && (result.codes.get('invalid_json') ?? 0) > 50, 'the cases reach validation');
    });

    test('as an API key: the same, or forbidden where keys are not allowed', { timeout: 300_000 }, async () => {
      const started = Date.now();
      const result = await run('apiKey');
      report('API key', result, Date.now() - started);
      assert.ok((result.codes.get('forbidden') ?? 0) > 0, 'some routes are for staff only');
    });

    test('forged pagination cursors are refused with 400 invalid_cursor, never a 5xx', async () => {
      const admin = { cookie: `${SESSION_COOKIE}=${await sessionFor(t.database, a.admin.user)}` };
      const forged = [
        ['x', 'y'],
        ['x', 'y', 'z'],
        ['2024-01-01T00:00:00.000Z', 'not-a-uuid'],
        ['Lovelace', 'Ada', 'not-a-uuid'],
        [1],
        [1.5],
        [-1],
        [9e99],
        ['\u0000', '\u0000', '\u0000'],
        // Well-formed but for a NUL, which PostgreSQL text cannot hold.
        ['\u0000', '\u0000', randomUUID()],
        ['\u0000', randomUUID()],
        ['Lovelace', 'Ada\u0000', randomUUID()],
        [],
        {},
        'x',
      ].map((v) => Buffer.from(JSON.stringify(v)).toString('base64url'));
      const problems: string[] = [];
      for (const op of operations.filter((o) => o.params.some((p) => p.in === 'query' && p.name === 'cursor'))) {
        for (const cursor of forged) {
          const path = op.path.includes('{') ? encodePath(op.path, realIdFor(op.path)) : op.path;
          const res = await t.app.inject({ method: 'GET', url: `${path}?cursor=${cursor}`, headers: admin });
          // A forged cursor of the right shape may simply be a position (audit: a number); then 200 is fine.
          const code = res.statusCode < 500 && res.statusCode >= 400 ? (res.json() as { error?: { code?: string } }).error?.code : undefined;
          if (res.statusCode >= 300 && (res.statusCode !== 400 || code !== 'invalid_cursor')) {
            problems.push(`${op.path} cursor ${Buffer.from(cursor, 'base64url').toString()}: ${res.statusCode} ${res.body.slice(0, 100)}`);
          }
        }
      }
      assert.deepEqual(problems, []);
    });
  });
}
