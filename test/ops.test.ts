import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { LightMyRequestResponse } from 'fastify';
import { ERRORS } from '../src/shared/errors.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestOrg, errorOf, type TestOrg } from './helpers/builders.js';
import { createTestDatabase, DB_KINDS } from './helpers/db.js';
import { newTwilioCredentials, startTwilioFake, twilioMediaEnv } from './helpers/twilio-media.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

interface Operation {
  summary?: unknown;
  parameters?: { in: string; name: string; required?: boolean; schema?: unknown }[];
  requestBody?: { content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { description?: unknown; content?: Record<string, { schema?: unknown }> }>;
}

/** An error answer in the catalogue's shape, whose status is the catalogue's status for its code. */
function assertCatalogueError(res: LightMyRequestResponse, code: string, status = ERRORS[code as keyof typeof ERRORS].status): void {
  assert.equal(res.statusCode, status, res.body);
  const err = errorOf(res);
  assert.equal(err.code, code);
  assert.equal(err.requestId, res.headers['x-request-id'], 'the body names the same request id as the header');
}

/**
 * The app's routes as Fastify registered them, read from `printRoutes({ commonPrefix: false })`: a tree
 * whose lines look like `│   ├── /:id/revoke (POST)`; each level is four characters wide.
 */
function registeredRoutes(printed: string): { method: string; url: string }[] {
  const out: { method: string; url: string }[] = [];
  const stack: string[] = [];
  for (const line of printed.split('\n')) {
    if (line.trim() === '') continue;
    const m = /^((?:│ {3}| {4})*)(?:├── |└── )(.*?)(?: \(([A-Z, ]+)\))?$/.exec(line);
    assert.ok(m, `unexpected printRoutes line: ${JSON.stringify(line)}`);
    const depth = m[1]!.length / 4;
    stack.length = depth;
    const url = (stack[depth - 1] ?? '') + m[2]!;
    stack.push(url);
    for (const method of (m[3] ?? '').split(',').map((s) => s.trim()).filter(Boolean)) out.push({ method, url });
  }
  return out;
}

for (const kind of DB_KINDS) {
  describe(`ops, headers and the API document on ${kind}`, () => {
    let t: TestApp;
    let a: TestOrg;

    before(async () => {
      t = await createTestApp(kind, { env: { CORS_ORIGINS: 'https://ehr.example.org', PUBLIC_URL: 'https://visits.example.org' } });
      a = await createTestOrg(t.app);
    });
    after(() => t.close());

    test('/healthz answers 200 ok', async () => {
      const res = await t.app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), { status: 'ok' });
    });

    test('/readyz answers 200 and names the database and pub/sub', async () => {
      const res = await t.app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(res.json(), { status: 'ready', database: kind, pubsub: 'memory' });
    });

    test('/readyz answers 503 not_ready once the database is gone', async () => {
      // Its own app and database: closing the shared one would break the other tests.
      const database = await createTestDatabase(kind);
      const own = await createTestApp(kind, { database });
      try {
        assert.equal((await own.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200);
        await database.close();
        const res = await own.app.inject({ method: 'GET', url: '/readyz' });
        assertCatalogueError(res, 'not_ready', 503);
        assert.equal((await own.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'liveness does not depend on the database');
      } finally {
        await own.close();
      }
    });

    test('every response carries an x-request-id; a well-formed incoming one is echoed', async () => {
      const cases: { method: 'GET' | 'POST'; url: string; headers?: Record<string, string>; payload?: string }[] = [
        { method: 'GET', url: '/healthz' },
        { method: 'GET', url: '/api/v1/patients' }, // 401
        { method: 'GET', url: '/nope' }, // 404
        { method: 'POST', url: '/api/v1/patients', headers: { ...a.admin.headers, 'content-type': 'application/json' }, payload: '{"a":' }, // 400
        { method: 'GET', url: '/api/docs' },
        // Refused while routing, before any hook: still the error shape and a request id.
        { method: 'GET', url: '/api/v1/patients/%E0%A4%A', headers: a.admin.headers },
        { method: 'GET', url: `/api/v1/patients/${'x'.repeat(250)}`, headers: a.admin.headers },
      ];
      for (const c of cases) {
        const res = await t.app.inject(c);
        assert.match(String(res.headers['x-request-id']), UUID, `${c.method} ${c.url} (${res.statusCode}) has a generated request id`);
        const echoed = await t.app.inject({ ...c, headers: { ...c.headers, 'x-request-id': 'lb-7f3a.91:2_x' } });
        assert.equal(echoed.headers['x-request-id'], 'lb-7f3a.91:2_x', `${c.method} ${c.url} echoes the caller's id`);
        if (echoed.statusCode >= 400) {
          assert.equal(errorOf(echoed).requestId, 'lb-7f3a.91:2_x');
          assert.equal(ERRORS[errorOf(echoed).code as keyof typeof ERRORS].status, echoed.statusCode, `${c.url}: ${echoed.body}`);
        }
      }
    });

    test('a malformed incoming x-request-id is replaced, never echoed (it reaches logs)', async () => {
      for (const bad of ['has spaces', '<script>alert(1)</script>', `too-long-${'q'.repeat(60)}`, 'a"b', 'é']) {
        const res = await t.app.inject({ method: 'GET', url: '/api/v1/patients', headers: { 'x-request-id': bad } });
        assert.equal(res.statusCode, 401);
        assert.match(String(res.headers['x-request-id']), UUID, `${JSON.stringify(bad)} is replaced`);
        assert.equal(errorOf(res).requestId, res.headers['x-request-id']);
        assert.ok(!t.logs.some((l) => l.includes(bad)), `${JSON.stringify(bad)} never reaches the logs`);
      }
    });

    test('security headers on API answers, errors and 404s', async () => {
      for (const url of ['/healthz', '/api/v1/patients', '/nope']) {
        const res = await t.app.inject({ method: 'GET', url });
        const csp = String(res.headers['content-security-policy']);
        const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values.join(' ')]));
        assert.equal(directives.get('default-src'), "'self'", `${url}: ${csp}`);
        assert.equal(directives.get('frame-ancestors'), "'none'", `${url}: ${csp}`);
        assert.equal(directives.get('object-src'), "'none'", `${url}: ${csp}`);
        assert.equal(directives.get('connect-src'), "'self'", `${url}: the builtin media client connects to this server only`);
        assert.equal(res.headers['x-content-type-options'], 'nosniff', url);
        assert.equal(res.headers['referrer-policy'], 'no-referrer', url);
        assert.equal(res.headers['cross-origin-opener-policy'], 'same-origin', url);
        assert.equal(res.headers['x-frame-options'], 'SAMEORIGIN', url);
        assert.equal(res.headers['x-powered-by'], undefined, url);
        // PUBLIC_URL is https here, so browsers are told to stay on https.
        assert.match(String(res.headers['strict-transport-security']), /max-age=\d+/, url);
      }
    });

    test('CORS: an allowed origin gets access-control-allow-origin on preflight; a foreign one does not', async () => {
      const preflight = (origin: string) =>
        t.app.inject({
          method: 'OPTIONS',
          url: '/api/v1/patients',
          headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
        });
      const ok = await preflight('https://ehr.example.org');
      assert.ok(ok.statusCode >= 200 && ok.statusCode < 300, `preflight ${ok.statusCode}`);
      assert.equal(ok.headers['access-control-allow-origin'], 'https://ehr.example.org');
      assert.equal(ok.headers['access-control-allow-credentials'], 'true');
      assert.match(String(ok.headers['access-control-allow-methods']), /POST/);

      const evil = await preflight('https://evil.example');
      assert.equal(evil.headers['access-control-allow-origin'], undefined);

      const simple = await t.app.inject({ method: 'GET', url: '/api/v1/patients', headers: { ...a.apiKey.headers, origin: 'https://ehr.example.org' } });
      assert.equal(simple.headers['access-control-allow-origin'], 'https://ehr.example.org');
      assert.match(String(simple.headers['access-control-expose-headers']), /x-request-id/);
      const foreign = await t.app.inject({ method: 'GET', url: '/api/v1/patients', headers: { ...a.apiKey.headers, origin: 'https://evil.example' } });
      assert.equal(foreign.headers['access-control-allow-origin'], undefined);
    });

    test('a cookie-authenticated write from a foreign Origin is refused; an API key, same origin or allowed origin is fine', async () => {
      const body = { givenName: 'Origin', familyName: 'Check' };
      const evil = await a.admin.request('POST', '/api/v1/patients', body, { origin: 'https://evil.example' });
      assertCatalogueError(evil, 'origin_not_allowed', 403);
      const evilNull = await a.admin.request('POST', '/api/v1/patients', body, { origin: 'null' });
      assertCatalogueError(evilNull, 'origin_not_allowed', 403);
      // Reads are not refused: they change nothing and CORS keeps the answer from the foreign page.
      assert.equal((await a.admin.request('GET', '/api/v1/patients', undefined, { origin: 'https://evil.example' })).statusCode, 200);

      const key = await a.apiKey.request('POST', '/api/v1/patients', body, { origin: 'https://evil.example' });
      assert.equal(key.statusCode, 201, key.body);
      const accepted: Record<string, string>[] = [
        { origin: 'https://ehr.example.org' }, // CORS_ORIGINS
        { origin: 'https://visits.example.org' }, // PUBLIC_URL
        { origin: 'http://clinic.example:8080', host: 'clinic.example:8080' }, // the request's own origin
        {}, // no Origin at all (curl, servers)
      ];
      for (const headers of accepted) {
        const res = await a.admin.request('POST', '/api/v1/patients', body, headers);
        assert.equal(res.statusCode, 201, `${JSON.stringify(headers)}: ${res.body}`);
      }
      // The Origin is compared whole: a look-alike host is not ours.
      const lookalike = await a.admin.request('POST', '/api/v1/patients', body, { origin: 'https://ehr.example.org.evil.example' });
      assertCatalogueError(lookalike, 'origin_not_allowed', 403);
    });

    test('unknown routes answer 404 route_not_found in the error shape', async () => {
      for (const [method, url] of [
        ['GET', '/nope'],
        ['GET', '/api/v1/nope'],
        ['POST', '/api/v1/patients/x/y/z'],
        ['DELETE', '/api/v1/patients'],
        ['GET', '/api/v2/patients'],
      ] as const) {
        const res = await t.app.inject({ method, url, headers: a.admin.headers });
        assertCatalogueError(res, 'route_not_found', 404);
        assert.match(errorOf(res).message, new RegExp(`${method} ${url.replace(/[/]/g, '\\/')}`));
      }
    });

    test('/api/docs serves the Swagger UI', async () => {
      const res = await t.app.inject({ method: 'GET', url: '/api/docs' });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/html/);
      assert.match(res.body, /<title>Swagger UI<\/title>/);
      const init = await t.app.inject({ method: 'GET', url: '/api/docs/static/swagger-initializer.js' });
      assert.equal(init.statusCode, 200);
    });

    test('/api/openapi.json is an OpenAPI 3.1 document covering every /api/v1 route, each with a summary and a success schema', async () => {
      const res = await t.app.inject({ method: 'GET', url: '/api/openapi.json' });
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^application\/json/);
      const spec = res.json() as {
        openapi: string;
        info: { title?: unknown; version?: unknown };
        paths: Record<string, Record<string, Operation>>;
        components?: { securitySchemes?: Record<string, unknown> };
        security?: Record<string, unknown>[];
      };
      assert.equal(spec.openapi, '3.1.0');
      assert.equal(typeof spec.info.title, 'string');
      assert.equal(typeof spec.info.version, 'string');
      for (const requirement of spec.security ?? []) {
        for (const name of Object.keys(requirement)) assert.ok(spec.components?.securitySchemes?.[name], `security scheme ${name} is defined`);
      }

      // Structure, and every schema a valid JSON Schema 2020-12 (OpenAPI 3.1's dialect).
      const ajv = new Ajv2020({ strict: false, validateFormats: false });
      const documented: { method: string; url: string }[] = [];
      const problems: string[] = [];
      for (const [path, item] of Object.entries(spec.paths)) {
        assert.ok(path.startsWith('/'), path);
        const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!).sort();
        for (const [method, op] of Object.entries(item)) {
          assert.ok((METHODS as readonly string[]).includes(method), `${path}: ${method} is not an HTTP method`);
          const name = `${method.toUpperCase()} ${path}`;
          documented.push({ method: method.toUpperCase(), url: path.replace(/\{([^}]+)\}/g, ':$1') });
          if (typeof op.summary !== 'string' || op.summary.trim() === '') problems.push(`${name} has no summary`);
          const pathParams = (op.parameters ?? []).filter((p) => p.in === 'path');
          assert.deepEqual(pathParams.map((p) => p.name).sort(), templated, `${name}: path parameters match the template`);
          for (const p of pathParams) assert.equal(p.required, true, `${name}: path parameter ${p.name} is required`);
          const responses = op.responses ?? {};
          for (const status of Object.keys(responses)) assert.match(status, /^([1-5]\d\d|[1-5]XX|default)$/, `${name}: response key ${status}`);
          // 101 is the success of a WebSocket endpoint (the hub); like 204 it has no body.
          const success = Object.keys(responses).filter((s) => /^(101|2\d\d)$/.test(s)).sort()[0];
          if (!success) {
            problems.push(`${name} documents no success response`);
          } else if (success !== '204' && success !== '101') {
            // JSON, or the one media type a route produces (the web pages, the SDK bundle, Twilio's TwiML).
            const content = responses[success]!.content ?? {};
            const schema = content['application/json']?.schema ?? (Object.keys(content).length === 1 ? Object.values(content)[0]!.schema : undefined);
            if (!schema) problems.push(`${name} has no schema for its ${success} response`);
          }
          const schemas = [
            ...(op.parameters ?? []).map((p) => p.schema),
            ...Object.values(op.requestBody?.content ?? {}).map((c) => c.schema),
            ...Object.values(responses).flatMap((r) => Object.values(r.content ?? {}).map((c) => c.schema)),
          ].filter((s) => s !== undefined);
          for (const schema of schemas) {
            try {
              ajv.compile(schema as object);
            } catch (err) {
              problems.push(`${name}: invalid schema (${(err as Error).message})`);
            }
          }
        }
      }
      assert.deepEqual(problems, []);

      // Both directions: what Fastify registered under /api/v1 is documented, and what is documented exists.
      const registered = registeredRoutes(t.app.printRoutes({ commonPrefix: false })).filter(
        (r) => r.url.startsWith('/api/v1/') && r.method !== 'HEAD' && r.method !== 'OPTIONS',
      );
      assert.ok(registered.length >= 20, `parsed ${registered.length} routes from printRoutes`);
      assert.ok(registered.some((r) => r.method === 'POST' && r.url === '/api/v1/patients/:id/consents'), 'the route parser resolves nested routes');
      const key = (r: { method: string; url: string }) => `${r.method} ${r.url}`;
      const documentedKeys = new Set(documented.map(key));
      const undocumented = registered.map(key).filter((k) => !documentedKeys.has(k));
      assert.deepEqual(undocumented, [], 'every /api/v1 route is in the OpenAPI document');
      for (const op of documented) {
        assert.ok(t.app.hasRoute({ method: op.method as 'GET', url: op.url }), `${key(op)} is documented but not registered`);
      }
      for (const path of ['/healthz', '/readyz']) assert.ok(spec.paths[path]?.get, `${path} is documented`);
    });
  });
}

describe('ops: the pages of a server whose media provider is Twilio', () => {
  test("their Content-Security-Policy lets twilio-video reach Twilio's signaling and insights, and nothing else more", async () => {
    const credentials = newTwilioCredentials();
    const fake = await startTwilioFake(credentials);
    const t = await createTestApp('pglite', { env: twilioMediaEnv(credentials, fake) });
    try {
      const res = await t.app.inject({ method: 'GET', url: '/' });
      const csp = String(res.headers['content-security-policy']);
      const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values.join(' ')]));
      assert.equal(directives.get('connect-src'), "'self' wss://global.vss.twilio.com wss://sdkgw.us1.twilio.com", csp);
      assert.equal(directives.get('script-src'), "'self'", 'no eval: the SDK bundles twilio-video without it');
    } finally {
      await t.close();
      await fake.close();
    }
  });
});

