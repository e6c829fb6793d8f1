import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { createMemoryPubSub } from '../src/server/pubsub/memory.js';
import { createRedisPubSub } from '../src/server/pubsub/redis.js';
import type { PubSub } from '../src/server/pubsub/index.js';
import { EVENTS_PATH } from '../src/server/realtime/hub.js';
import { ERRORS } from '../src/shared/errors.js';
import { HUB_CLOSE, type HubMessage } from '../src/shared/events.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { addStaff, createTestOrg, errorOf, type TestOrg } from './helpers/builders.js';
import { DB_KINDS } from './helpers/db.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** How long a test waits for something that should happen. */
const WAIT_MS = 5000;
/** How long a test waits to be convinced something does not happen. */
const ABSENCE_MS = 300;

/** A hub connection recording every message and the close. */
class HubClient {
  readonly messages: HubMessage[] = [];
  closed: { code: number; reason: string } | undefined;
  readonly #listeners = new Set<() => void>();

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.messages.push(JSON.parse(String(data)) as HubMessage);
      this.#notify();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: String(reason) };
      this.#notify();
    });
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  /** Resolves with the first message (already received or to come) matching; rejects after `ms`. */
  waitFor<T extends HubMessage>(what: string, match: (m: HubMessage) => m is T, ms?: number): Promise<T>;
  waitFor(what: string, match: (m: HubMessage) => boolean, ms?: number): Promise<HubMessage>;
  waitFor(what: string, match: (m: HubMessage) => boolean, ms = WAIT_MS): Promise<HubMessage> {
    return this.#until(what, ms, () => this.messages.find(match));
  }

  waitForClose(ms = WAIT_MS): Promise<{ code: number; reason: string }> {
    return this.#until('the socket to close', ms, () => this.closed);
  }

  #until<T>(what: string, ms: number, check: () => T | undefined): Promise<T> {
    return new Promise((resolve, reject) => {
      const done = () => {
        const value = check();
        if (value === undefined) return;
        clearTimeout(timer);
        this.#listeners.delete(done);
        resolve(value);
      };
      const timer = setTimeout(() => {
        this.#listeners.delete(done);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}; got ${JSON.stringify(this.messages)}${this.closed ? `, closed ${this.closed.code}` : ''}`));
      }, ms);
      this.#listeners.add(done);
      done();
    });
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }
}

const isHello = (m: HubMessage): m is Extract<HubMessage, { type: 'hello' }> => m.type === 'hello';
const isEvent = (type: string, key: string, id: string) => (m: HubMessage) => m.type === 'event' && m.event.type === type && m.event.data[key] === id;

function portOf(t: TestApp): number {
  return (t.app.server.address() as AddressInfo).port;
}

/** Opens a hub connection and waits for the hello. */
async function connect(t: TestApp, headers: Record<string, string>, options: { origin?: string; path?: string } = {}): Promise<HubClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${portOf(t)}${options.path ?? EVENTS_PATH}`, { headers, ...(options.origin ? { origin: options.origin } : {}) });
  const client = new HubClient(ws);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out opening the hub connection')), WAIT_MS);
    ws.once('open', () => (clearTimeout(timer), resolve()));
    ws.once('unexpected-response', (_req, res) => (clearTimeout(timer), reject(new Error(`upgrade refused with ${res.statusCode}`))));
    ws.once('error', (err) => (clearTimeout(timer), reject(err)));
  });
  await client.waitFor('hello', isHello);
  return client;
}

/** Attempts an upgrade that must be refused; returns the HTTP answer. Never upgrades. */
async function refusal(t: TestApp, headers: Record<string, string>, options: { origin?: string; path?: string } = {}): Promise<{ status: number; body: string; headers: IncomingMessage['headers'] }> {
  const ws = new WebSocket(`ws://127.0.0.1:${portOf(t)}${options.path ?? EVENTS_PATH}`, { headers, ...(options.origin ? { origin: options.origin } : {}) });
  try {
    return await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for the refusal')), WAIT_MS);
      ws.once('upgrade', () => (clearTimeout(timer), reject(new Error('the connection was upgraded'))));
      ws.once('unexpected-response', (req, res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => {
          clearTimeout(timer);
          req.destroy();
          resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
        });
      });
      ws.once('error', (err) => (clearTimeout(timer), reject(err)));
    });
  } finally {
    ws.on('error', () => {});
    ws.terminate();
  }
}

/** Asserts an upgrade refusal is the catalogue's error with the expected code and status. */
function assertRefused(answer: { status: number; body: string; headers: IncomingMessage['headers'] }, code: keyof typeof ERRORS): void {
  assert.equal(answer.status, ERRORS[code].status, answer.body);
  const body = JSON.parse(answer.body) as { error: { code: string; message: string; requestId: string } };
  assert.equal(body.error.code, code);
  assert.equal(typeof body.error.message, 'string');
  assert.equal(typeof body.error.requestId, 'string');
  assert.equal(answer.headers['x-request-id'], body.error.requestId);
}

/** Resolves false if nothing matching arrives within `ms`, true as soon as something does. */
async function arrives(client: HubClient, match: (m: HubMessage) => boolean, ms = ABSENCE_MS): Promise<boolean> {
  return client.waitFor('(absence)', match, ms).then(
    () => true,
    () => false,
  );
}

for (const kind of DB_KINDS) {
  describe(`realtime hub on ${kind}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;
    let base: string;
    const clients: HubClient[] = [];
    const track = (c: HubClient) => (clients.push(c), c);
    const ownOrigin = () => `http://127.0.0.1:${portOf(t)}`;

    before(async () => {
      t = await createTestApp(kind);
      await t.app.listen({ host: '127.0.0.1', port: 0 });
      base = `http://127.0.0.1:${portOf(t)}`;
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
    });
    after(async () => {
      for (const c of clients) c.close();
      await t.close();
    });

    test('a staff session (from our own origin) and an API key both connect and get hello', async () => {
      const staff = track(await connect(t, { cookie: a.admin.headers.cookie! }, { origin: ownOrigin() }));
      const hello = await staff.waitFor('hello', isHello);
      assert.equal(hello.orgId, a.orgId);
      assert.ok(hello.heartbeatSeconds > 0);
      const key = track(await connect(t, a.apiKey.headers));
      assert.equal((await key.waitFor('hello', isHello)).orgId, a.orgId);
      // A server-side client (no Origin header at all) with a cookie is fine too: only foreign origins are refused.
      track(await connect(t, { cookie: a.clinician.headers.cookie! }));
      assert.equal(t.app.realtime.connections() >= 3, true);
    });

    test("an organisation's events reach its clients and never another organisation's", async () => {
      const staff = track(await connect(t, { cookie: a.admin.headers.cookie! }, { origin: ownOrigin() }));
      const key = track(await connect(t, a.apiKey.headers));
      const other = track(await connect(t, b.apiKey.headers));

      const res = await fetch(`${base}/api/v1/patients`, {
        method: 'POST',
        headers: { ...a.apiKey.headers, 'content-type': 'application/json' },
        body: JSON.stringify({ givenName: 'Event', familyName: 'Source' }),
      });
      const returnedAt = performance.now();
      assert.equal(res.status, 201);
      const patientId = ((await res.json()) as { id: string }).id;
      const created = isEvent('patient.created', 'patientId', patientId);

      const [viaKey, viaStaff] = await Promise.all([
        key.waitFor('patient.created on the key socket', created).then((m) => ({ m, at: performance.now() })),
        staff.waitFor('patient.created on the staff socket', created),
      ]);
      console.log(`realtime ${kind}: event arrived ${(viaKey.at - returnedAt).toFixed(2)} ms after the POST returned (negative: before the HTTP answer was read)`);
      assert.equal(viaKey.m.type, 'event');
      if (viaKey.m.type === 'event') {
        assert.deepEqual(viaKey.m.event.data, { patientId });
        assert.ok(!Number.isNaN(Date.parse(viaKey.m.event.at)));
      }
      assert.deepEqual(viaStaff, viaKey.m);

      // Absence, bounded: nothing for B in a while, and B's own later event arrives with nothing of A's before it.
      assert.equal(await arrives(other, (m) => m.type === 'event'), false, "B's client received A's event");
      const mine = await b.apiKey.post('/api/v1/patients', { givenName: 'Other', familyName: 'Org' });
      assert.equal(mine.statusCode, 201);
      await other.waitFor("B's own event", isEvent('patient.created', 'patientId', mine.json().id));
      assert.deepEqual(
        other.messages.filter((m) => m.type === 'event').map((m) => (m.type === 'event' ? m.event.data.patientId : null)),
        [mine.json().id],
      );
      assert.equal(await arrives(key, isEvent('patient.created', 'patientId', mine.json().id)), false, "A's client received B's event");
    });

    test('no credentials, a bad key or a forged cookie: 401 before any upgrade', async () => {
      assertRefused(await refusal(t, {}), 'unauthenticated');
      assertRefused(await refusal(t, { authorization: 'Bearer ovk_nope' }), 'unauthenticated');
      assertRefused(await refusal(t, { authorization: 'Basic Zm9vOmJhcg==' }), 'unauthenticated');
      assertRefused(await refusal(t, { cookie: 'ov_session=forged' }, { origin: ownOrigin() }), 'unauthenticated');
    });

    test('a staff cookie from a foreign Origin is refused with 403; an API key is not bound to origins', async () => {
      assertRefused(await refusal(t, { cookie: a.admin.headers.cookie! }, { origin: 'https://evil.example' }), 'origin_not_allowed');
      assertRefused(await refusal(t, { cookie: a.admin.headers.cookie! }, { origin: `http://127.0.0.1:${portOf(t) + 1}` }), 'origin_not_allowed');
      assertRefused(await refusal(t, { cookie: a.admin.headers.cookie! }, { origin: 'null' }), 'origin_not_allowed');
      track(await connect(t, a.apiKey.headers, { origin: 'https://evil.example' }));
    });

    test('a plain HTTP GET on the hub is told to upgrade (426); without credentials it is a 401', async () => {
      const res = await a.apiKey.get('/api/v1/events');
      assert.equal(res.statusCode, 426);
      assert.equal(errorOf(res).code, 'upgrade_required');
      assert.equal((await a.anonymous.get('/api/v1/events')).statusCode, 401);
    });

    test('an unknown upgrade path answers 404 and never upgrades', async () => {
      for (const path of ['/nope', '/api/v1/events/extra', '/api/v1/patients', '/api/v1/event']) {
        assertRefused(await refusal(t, a.apiKey.headers, { path }), 'route_not_found');
      }
      // The same, by hand: a raw upgrade request gets a plain HTTP 404 and the connection ends.
      const raw = await new Promise<string>((resolve, reject) => {
        const socket = net.connect(portOf(t), '127.0.0.1');
        let data = '';
        const timer = setTimeout(() => (socket.destroy(), reject(new Error(`no answer; got ${JSON.stringify(data)}`))), WAIT_MS);
        socket.on('data', (chunk) => (data += chunk.toString('latin1')));
        socket.on('close', () => (clearTimeout(timer), resolve(data)));
        socket.on('error', reject);
        socket.write(
          'GET /nope HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
            'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
        );
      });
      assert.match(raw, /^HTTP\/1\.1 404 /);
      assert.doesNotMatch(raw, /101 Switching Protocols/);
    });

    test('logging out closes that session’s sockets with 4001, and only those', async () => {
      const member = await addStaff(t.app, a.orgId, 'clinician');
      const colleague = await addStaff(t.app, a.orgId, 'clinician');
      const mine = track(await connect(t, { cookie: member.headers.cookie! }, { origin: ownOrigin() }));
      const mineToo = track(await connect(t, { cookie: member.headers.cookie! }));
      const theirs = track(await connect(t, { cookie: colleague.headers.cookie! }, { origin: ownOrigin() }));

      const res = await fetch(`${base}/api/v1/auth/logout`, { method: 'POST', headers: { cookie: member.headers.cookie!, origin: ownOrigin() } });
      assert.equal(res.status, 204);
      assert.equal((await mine.waitForClose()).code, HUB_CLOSE.sessionEnded);
      assert.equal((await mineToo.waitForClose()).code, HUB_CLOSE.sessionEnded);
      assert.equal(await arrives(theirs, () => false), false);
      assert.equal(theirs.closed, undefined, "another user's socket stays open");
      assert.equal(theirs.ws.readyState, WebSocket.OPEN);
      // The ended session cannot reconnect.
      assertRefused(await refusal(t, { cookie: member.headers.cookie! }, { origin: ownOrigin() }), 'unauthenticated');
    });

    test('revoking an API key closes its sockets with 4001, and only those', async () => {
      const created = await a.admin.post('/api/v1/api-keys', { name: 'short-lived' });
      assert.equal(created.statusCode, 201, created.body);
      const { apiKey, key } = created.json() as { apiKey: { id: string }; key: string };
      const doomed = track(await connect(t, { authorization: `Bearer ${key}` }));
      const doomedToo = track(await connect(t, { authorization: `Bearer ${key}` }));
      const survivor = track(await connect(t, a.apiKey.headers));
      const staff = track(await connect(t, { cookie: a.admin.headers.cookie! }, { origin: ownOrigin() }));

      const revoked = await a.admin.post(`/api/v1/api-keys/${apiKey.id}/revoke`);
      assert.equal(revoked.statusCode, 200, revoked.body);
      assert.equal((await doomed.waitForClose()).code, HUB_CLOSE.sessionEnded);
      assert.equal((await doomedToo.waitForClose()).code, HUB_CLOSE.sessionEnded);
      assert.equal(await arrives(survivor, () => false), false);
      assert.equal(survivor.closed, undefined, 'the other key keeps its socket');
      assert.equal(staff.closed, undefined, 'staff sockets stay open');
      assertRefused(await refusal(t, { authorization: `Bearer ${key}` }), 'unauthenticated');
    });

    test('closing the app tells clients to reconnect and closes with 1012', async () => {
      const own = await createTestApp(kind, { database: t.database });
      await own.app.listen({ host: '127.0.0.1', port: 0 });
      try {
        const staff = await connect(own, { cookie: a.admin.headers.cookie! }, { origin: `http://127.0.0.1:${portOf(own)}` });
        const key = await connect(own, a.apiKey.headers);
        const other = await connect(own, b.apiKey.headers);
        const closing = own.close();
        for (const c of [staff, key, other]) {
          const reconnect = await c.waitFor('reconnect', (m) => m.type === 'reconnect');
          assert.ok(reconnect.type === 'reconnect' && reconnect.retryAfterMs > 0);
          assert.equal((await c.waitForClose()).code, HUB_CLOSE.serverRestart);
        }
        await closing;
      } finally {
        await own.close().catch(() => {});
      }
    });

    test('a connection attempted while the app closes is refused or closed too, and closing completes', async () => {
      const own = await createTestApp(kind, { database: t.database });
      await own.app.listen({ host: '127.0.0.1', port: 0 });
      const port = portOf(own);
      let late: WebSocket | undefined;
      try {
        const first = await connect(own, a.apiKey.headers);
        const closing = own.close();
        // A client arriving during shutdown (for instance one reconnecting early) must not keep the server up.
        late = new WebSocket(`ws://127.0.0.1:${port}${EVENTS_PATH}`, { headers: a.apiKey.headers });
        const lateClient = new HubClient(late);
        const refusedWith = new Promise<number>((resolve) => late!.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
        const outcome = await new Promise<string>((resolve) => {
          const timer = setTimeout(() => resolve('nothing'), WAIT_MS);
          void refusedWith.then((status) => (clearTimeout(timer), resolve(`refused ${status}`)));
          late!.once('error', () => (clearTimeout(timer), resolve('error')));
          late!.once('close', () => (clearTimeout(timer), resolve('closed')));
        });
        assert.notEqual(outcome, 'nothing', 'the late client is neither refused nor closed');
        const done = await Promise.race([closing.then(() => 'closed'), new Promise((r) => setTimeout(() => r('hung'), WAIT_MS))]);
        assert.equal(done, 'closed', `app.close() did not finish (late client: ${outcome}, ${JSON.stringify(lateClient.messages)})`);
        assert.equal((await first.waitForClose()).code, HUB_CLOSE.serverRestart);
      } finally {
        late?.on('error', () => {});
        late?.terminate();
        // Bounded: if closing hangs, the assertion above has said so; do not hang the run as well.
        await Promise.race([own.close().catch(() => {}), new Promise((r) => setTimeout(r, WAIT_MS))]);
      }
    });

    test('disabling a user, or signing them out everywhere, closes all their sockets', async () => {
      const member = await addStaff(t.app, a.orgId, 'caregiver');
      const first = track(await connect(t, { cookie: member.headers.cookie! }));
      const res = await a.admin.post(`/api/v1/users/${member.user.id}/sessions/revoke`);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal((await first.waitForClose()).code, HUB_CLOSE.sessionEnded);

      const again = await addStaff(t.app, a.orgId, 'caregiver');
      const second = track(await connect(t, { cookie: again.headers.cookie! }));
      const disabled = await a.admin.patch(`/api/v1/users/${again.user.id}`, { disabled: true });
      assert.equal(disabled.statusCode, 200, disabled.body);
      assert.equal((await second.waitForClose()).code, HUB_CLOSE.sessionEnded);
    });

    test('a client that sends more than WS_MAX_PAYLOAD_BYTES is disconnected', async () => {
      const client = track(await connect(t, a.apiKey.headers));
      client.ws.on('error', () => {});
      client.ws.send(JSON.stringify({ type: 'x', pad: 'x'.repeat(t.config.wsMaxPayloadBytes) }));
      assert.equal((await client.waitForClose()).code, 1009);
      const small = track(await connect(t, a.apiKey.headers));
      small.ws.send('{"type":"anything"}'); // ignored, not fatal
      assert.equal(await arrives(small, () => false), false);
      assert.equal(small.closed, undefined);
    });

    test('Redis fan-out: an event caused on one app reaches a client connected to another', { timeout: 30_000 }, async () => {
      const [ps1, ps2] = await Promise.all([createRedisPubSub(REDIS_URL), createRedisPubSub(REDIS_URL)]);
      const one = await createTestApp(kind, { database: t.database, pubsub: ps1 });
      const two = await createTestApp(kind, { database: t.database, pubsub: ps2 });
      try {
        await Promise.all([one.app.listen({ host: '127.0.0.1', port: 0 }), two.app.listen({ host: '127.0.0.1', port: 0 })]);
        assert.equal((await one.app.inject({ method: 'GET', url: '/readyz' })).json().pubsub, 'redis');
        // A fresh organisation: its channel is unique to this run, whatever else uses this Redis.
        const org = await createTestOrg(one.app);
        const stranger = await createTestOrg(one.app);
        const onTwo = await connect(two, org.apiKey.headers);
        const staffOnTwo = await connect(two, { cookie: org.admin.headers.cookie! }, { origin: `http://127.0.0.1:${portOf(two)}` });
        const strangerOnTwo = await connect(two, stranger.apiKey.headers);
        const onOne = await connect(one, org.apiKey.headers);

        const res = await fetch(`http://127.0.0.1:${portOf(one)}/api/v1/patients`, {
          method: 'POST',
          headers: { ...org.apiKey.headers, 'content-type': 'application/json' },
          body: JSON.stringify({ givenName: 'Across', familyName: 'Processes' }),
        });
        const returnedAt = performance.now();
        assert.equal(res.status, 201);
        const patientId = ((await res.json()) as { id: string }).id;
        const created = isEvent('patient.created', 'patientId', patientId);
        await onTwo.waitFor('the event on app 2', created);
        console.log(`realtime ${kind}: via Redis, the event reached app 2's client ${(performance.now() - returnedAt).toFixed(2)} ms after the POST to app 1 returned`);
        await staffOnTwo.waitFor('the event on app 2 (staff)', created);
        await onOne.waitFor('the event on app 1', created);
        assert.equal(await arrives(strangerOnTwo, (m) => m.type === 'event'), false, "another organisation's client received the event");
        assert.equal(onTwo.messages.filter(created).length, 1, 'delivered once');

        // Revocation travels the same way: signing out on app 1 closes the socket held on app 2.
        const out = await fetch(`http://127.0.0.1:${portOf(one)}/api/v1/auth/logout`, { method: 'POST', headers: { cookie: org.admin.headers.cookie! } });
        assert.equal(out.status, 204);
        assert.equal((await staffOnTwo.waitForClose()).code, HUB_CLOSE.sessionEnded);
        assert.equal(onTwo.closed, undefined);
      } finally {
        await two.close();
        await one.close();
        await Promise.all([ps1.close(), ps2.close()]);
      }
    });
  });
}

/** The contract both PubSub implementations keep (the hub relies on it). */
for (const [name, open] of [
  ['memory', async () => [createMemoryPubSub()] as PubSub[]],
  ['redis', async () => Promise.all([createRedisPubSub(REDIS_URL), createRedisPubSub(REDIS_URL)])],
] as const) {
  describe(`${name} pub/sub`, () => {
    let pubsubs: PubSub[];
    /** A publisher and a subscriber: for Redis, two connections as two processes would have. */
    let pub: PubSub;
    let sub: PubSub;
    before(async () => {
      pubsubs = await open();
      pub = pubsubs[0]!;
      sub = pubsubs[1] ?? pubsubs[0]!;
    });
    after(async () => {
      await Promise.all(pubsubs.map((p) => p.close()));
    });

    const channel = () => `openvisit-test:${randomUUID()}`;

    /** Collects messages for one handler and waits, bounded, for a count of them. */
    function inbox() {
      const got: unknown[] = [];
      const waiters: (() => void)[] = [];
      return {
        got,
        handler: (m: unknown) => {
          got.push(m);
          for (const w of waiters.splice(0)) w();
        },
        async count(n: number, ms = WAIT_MS): Promise<unknown[]> {
          const deadline = Date.now() + ms;
          while (got.length < n) {
            const left = deadline - Date.now();
            if (left <= 0) throw new Error(`timed out waiting for ${n} messages; got ${JSON.stringify(got)}`);
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, left);
              waiters.push(() => (clearTimeout(timer), resolve()));
            });
          }
          return got;
        },
      };
    }

    test('kind names the implementation', () => {
      assert.equal(pub.kind, name);
    });

    test('a subscriber receives what is published on its channel, in order, and nothing from other channels', async () => {
      const ch = channel();
      const box = inbox();
      const elsewhere = inbox();
      await sub.subscribe(ch, box.handler);
      await sub.subscribe(channel(), elsewhere.handler);
      for (const n of [1, 2, 3]) await pub.publish(ch, { n, text: 'é😀', nested: { list: [1, null, 'x'] } });
      assert.deepEqual(await box.count(3), [1, 2, 3].map((n) => ({ n, text: 'é😀', nested: { list: [1, null, 'x'] } })));
      await pub.publish(channel(), { stray: true });
      await new Promise((r) => setTimeout(r, ABSENCE_MS));
      assert.equal(box.got.length, 3);
      assert.equal(elsewhere.got.length, 0);
    });

    test('messages are copies, serialised as JSON: no subscriber shares or mutates the publisher’s object', async () => {
      const ch = channel();
      const first = inbox();
      const second = inbox();
      await sub.subscribe(ch, (m) => {
        (m as { list: number[] }).list.push(99); // a misbehaving subscriber
        first.handler(m);
      });
      await sub.subscribe(ch, second.handler);
      const sent = { list: [1, 2], at: new Date(0), gone: undefined, fn: () => 1 };
      await pub.publish(ch, sent);
      const [a] = await first.count(1);
      const [b] = await second.count(1);
      assert.deepEqual(sent.list, [1, 2], 'the publisher’s object is untouched');
      assert.notEqual(a, sent);
      assert.deepEqual(b, { list: [1, 2], at: '1970-01-01T00:00:00.000Z' }, 'each subscriber has its own copy, as JSON would carry it');
      assert.notEqual(a, b);
    });

    test('unsubscribe stops delivery to that handler only; the last one leaves the channel', async () => {
      const ch = channel();
      const kept = inbox();
      const dropped = inbox();
      await sub.subscribe(ch, kept.handler);
      const unsubscribe = await sub.subscribe(ch, dropped.handler);
      await pub.publish(ch, 1);
      await kept.count(1);
      await dropped.count(1);
      await unsubscribe();
      await unsubscribe(); // twice is harmless
      await pub.publish(ch, 2);
      assert.deepEqual(await kept.count(2), [1, 2]);
      await new Promise((r) => setTimeout(r, ABSENCE_MS));
      assert.deepEqual(dropped.got, [1]);

      const last = inbox();
      const ch2 = channel();
      const off = await sub.subscribe(ch2, last.handler);
      await off();
      const again = inbox();
      await sub.subscribe(ch2, again.handler); // subscribing again after leaving works
      await pub.publish(ch2, 'back');
      assert.deepEqual(await again.count(1), ['back']);
      assert.deepEqual(last.got, []);
    });

    test('publishing to a channel nobody listens to resolves', async () => {
      await pub.publish(channel(), { nobody: 'home' });
    });
  });
}
