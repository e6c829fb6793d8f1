import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BuiltinProvider } from '../src/server/rooms/builtin/provider.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { joinRoom } from './helpers/rtc.js';
import { allAuditRows, auditActions } from './helpers/audit.js';
import { createTestOrg, detailPaths, expectStatus, type TestOrg } from './helpers/builders.js';
import { DB_KINDS } from './helpers/db.js';

for (const kind of DB_KINDS) {
  describe(`rooms API on ${kind}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;
    let provider: BuiltinProvider;

    before(async () => {
      t = await createTestApp(kind, { env: { TOKEN_SIGNING_SECRET: 'test-signing-secret-'.repeat(3) } });
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
      assert.ok(t.app.deps.media instanceof BuiltinProvider);
      provider = t.app.deps.media;
    });
    after(() => t.close());

    test('create a room with defaults or its own limits; audited; a clear 400 for a bad name', async () => {
      const res = await a.apiKey.post('/api/v1/rooms', { name: 'consult-1' });
      assert.equal(res.statusCode, 201, res.body);
      const room = res.json();
      assert.equal(room.status, 'in-progress');
      assert.equal(room.provider, 'builtin');
      assert.deepEqual(
        [room.maxParticipants, room.maxParticipantDurationSeconds, room.emptyRoomTimeoutSeconds, room.unusedRoomTimeoutSeconds],
        [50, 14_400, 300, 300],
      );
      assert.ok(provider.isLive(room.id));
      assert.deepEqual(await auditActions(t, a.orgId, room.id), ['room.created']);

      const custom = (await a.clinician.post('/api/v1/rooms', { name: 'Group_2', maxParticipants: 12, emptyRoomTimeoutSeconds: 60 })).json();
      assert.deepEqual([custom.maxParticipants, custom.emptyRoomTimeoutSeconds], [12, 60]);

      for (const name of ['', 'has space', 'émile', 'a/b', 'x'.repeat(129)]) {
        const bad = await a.apiKey.post('/api/v1/rooms', { name });
        expectStatus(bad, 400, 'validation_failed', name);
        assert.deepEqual(detailPaths(bad), ['body/name']);
      }
      expectStatus(await a.apiKey.post('/api/v1/rooms', { name: 'ok', maxParticipants: 0 }), 400, 'validation_failed');
    });

    test('a name is unique among rooms in progress; after the room ends it can be used again', async () => {
      assert.equal((await a.apiKey.post('/api/v1/rooms', { name: 'weekly' })).statusCode, 201);
      expectStatus(await a.apiKey.post('/api/v1/rooms', { name: 'weekly' }), 409, 'already_exists');
      // Another organisation has its own namespace.
      assert.equal((await b.apiKey.post('/api/v1/rooms', { name: 'weekly' })).statusCode, 201);

      const ended = await a.clinician.post('/api/v1/rooms/weekly/end');
      assert.equal(ended.statusCode, 200, ended.body);
      assert.equal(ended.json().status, 'completed');
      assert.equal(ended.json().endReason, 'ended_by_api');
      assert.equal(provider.isLive(ended.json().id), false);
      // Ending again answers the room as it is.
      assert.equal((await a.clinician.post('/api/v1/rooms/weekly/end')).json().endedAt, ended.json().endedAt);

      const again = await a.apiKey.post('/api/v1/rooms', { name: 'weekly' });
      assert.equal(again.statusCode, 201);
      assert.notEqual(again.json().id, ended.json().id);
      assert.equal((await a.apiKey.get('/api/v1/rooms/weekly')).json().id, again.json().id, 'GET prefers the room in progress');
      assert.deepEqual(await auditActions(t, a.orgId, ended.json().id), ['room.created', 'room.ended']);
    });

    test('tokens: scoped to one room and identity, default 4 h, grants merged, audited without the token', async () => {
      const room = (await a.apiKey.post('/api/v1/rooms', { name: 'tokens-room' })).json();
      const res = await a.apiKey.post('/api/v1/tokens', { room: 'tokens-room', identity: 'patient:42' });
      assert.equal(res.statusCode, 201, res.body);
      const body = res.json();
      assert.equal(body.expiresIn, 14_400);
      assert.equal(body.provider, 'builtin');
      assert.equal(body.url, 'ws://localhost:3000/rtc');
      const claims = await provider.signer.verify(body.token);
      assert.deepEqual(
        { room: claims.roomName, roomId: claims.roomId, org: claims.orgId, identity: claims.identity, grants: claims.grants },
        { room: 'tokens-room', roomId: room.id, org: a.orgId, identity: 'patient:42', grants: { publish: true, subscribe: true, data: true, admin: false } },
      );
      assert.ok(Math.abs(claims.expiresAt.getTime() - Date.now() - 14_400_000) < 5000);

      const host = (await a.clinician.post('/api/v1/tokens', { room: 'tokens-room', identity: 'clinician-7', ttlSeconds: 600, grants: { admin: true, publish: false } })).json();
      const hostClaims = await provider.signer.verify(host.token);
      assert.deepEqual(hostClaims.grants, { publish: false, subscribe: true, data: true, admin: true });
      assert.equal(host.expiresIn, 600);

      assert.deepEqual(await auditActions(t, a.orgId, room.id), ['room.created', 'room.token_issued', 'room.token_issued']);
      const rows = JSON.stringify(await allAuditRows(t));
      assert.ok(!rows.includes(body.token), 'the token never reaches the audit log');
      assert.ok(!t.logs.join('').includes(body.token), 'nor the logs');
    });

    test('tokens are refused for an ended room (409), an unknown room (404) and bad identities (400)', async () => {
      await a.apiKey.post('/api/v1/rooms', { name: 'short-lived' });
      await a.apiKey.post('/api/v1/rooms/short-lived/end');
      expectStatus(await a.apiKey.post('/api/v1/tokens', { room: 'short-lived', identity: 'p1' }), 409, 'invalid_state');
      expectStatus(await a.apiKey.post('/api/v1/tokens', { room: 'nowhere', identity: 'p1' }), 404, 'not_found');
      for (const identity of ['', 'Jane Doe', 'jane@example.com', 'x'.repeat(129)]) {
        const bad = await a.apiKey.post('/api/v1/tokens', { room: 'short-lived', identity });
        expectStatus(bad, 400, 'validation_failed', identity);
        assert.deepEqual(detailPaths(bad), ['body/identity']);
      }
      expectStatus(await a.apiKey.post('/api/v1/tokens', { room: 'short-lived', identity: 'p1', ttlSeconds: 10 }), 400, 'validation_failed');
      expectStatus(await a.apiKey.post('/api/v1/tokens', { room: 'short-lived', identity: 'p1', grants: { fly: true } }), 400, 'validation_failed');
    });

    test('participants: listed from the room’s history; removing someone not connected is a 404', async () => {
      const room = (await a.apiKey.post('/api/v1/rooms', { name: 'people' })).json();
      assert.deepEqual((await a.apiKey.get('/api/v1/rooms/people/participants')).json(), { data: [] });
      // The media plane reports a connection; the rooms layer records it.
      const patient1 = await joinRoom(t, a.apiKey, 'people', 'patient-1', { media: false });
      await t.app.roomEvents.idle();
      assert.deepEqual((await provider.listParticipants(room.id)).map((p) => p.identity), ['patient-1']);
      const joined = (await a.apiKey.get('/api/v1/rooms/people/participants')).json().data;
      assert.deepEqual(joined.map((p: { identity: string; status: string }) => [p.identity, p.status]), [['patient-1', 'connected']]);

      const removed = await a.clinician.post('/api/v1/rooms/people/participants/patient-1/remove');
      assert.equal(removed.statusCode, 204, removed.body);
      assert.equal(await patient1.closed(), 4000, 'the removed participant’s socket is closed with "removed"');
      await t.app.roomEvents.idle();
      assert.deepEqual(await provider.listParticipants(room.id), []);
      const left = (await a.apiKey.get('/api/v1/rooms/people/participants')).json().data;
      assert.equal(left[0].status, 'disconnected');
      assert.ok(left[0].leftAt && left[0].durationSeconds !== null && left[0].durationSeconds >= 0);
      expectStatus(await a.clinician.post('/api/v1/rooms/people/participants/patient-1/remove'), 404, 'not_found');
      // The API's removal and the media plane's report of the leave are recorded independently.
      assert.deepEqual((await auditActions(t, a.orgId, room.id)).sort(), ['room.created', 'room.participant_joined', 'room.participant_left', 'room.participant_removed', 'room.token_issued']);

      // Ending the room closes everyone's participation.
      const patient2 = await joinRoom(t, a.apiKey, 'people', 'patient-2', { media: false });
      await t.app.roomEvents.idle();
      await a.apiKey.post('/api/v1/rooms/people/end');
      await t.app.roomEvents.idle();
      const after = (await a.apiKey.get('/api/v1/rooms/people/participants')).json().data as { identity: string; status: string }[];
      assert.deepEqual(after.map((p) => [p.identity, p.status]), [['patient-1', 'disconnected'], ['patient-2', 'disconnected']]);
      assert.equal(await patient2.closed(), 4003, 'everyone is told the room ended');
    });

    test('roles: caregivers read but cannot create, end, remove or mint; no credentials is a 401', async () => {
      await a.apiKey.post('/api/v1/rooms', { name: 'roles' });
      assert.equal((await a.caregiver.get('/api/v1/rooms/roles')).statusCode, 200);
      expectStatus(await a.caregiver.post('/api/v1/rooms', { name: 'mine' }), 403, 'forbidden');
      expectStatus(await a.caregiver.post('/api/v1/rooms/roles/end'), 403, 'forbidden');
      expectStatus(await a.caregiver.post('/api/v1/tokens', { room: 'roles', identity: 'x' }), 403, 'forbidden');
      for (const [method, url] of [
        ['GET', '/api/v1/rooms/roles'],
        ['POST', '/api/v1/rooms'],
        ['POST', '/api/v1/tokens'],
        ['GET', '/api/v1/rooms/roles/participants'],
      ] as const) {
        expectStatus(await a.anonymous.request(method, url, method === 'POST' ? {} : undefined), 401, 'unauthenticated', url);
      }
    });

    test('organisation B can never see, end or mint tokens for organisation A’s rooms', async () => {
      const room = (await a.apiKey.post('/api/v1/rooms', { name: 'private-room' })).json();
      for (const who of [b.admin, b.clinician, b.apiKey]) {
        expectStatus(await who.get('/api/v1/rooms/private-room'), 404, 'not_found');
        expectStatus(await who.post('/api/v1/rooms/private-room/end'), 404, 'not_found');
        expectStatus(await who.get('/api/v1/rooms/private-room/participants'), 404, 'not_found');
        expectStatus(await who.post('/api/v1/tokens', { room: 'private-room', identity: 'intruder' }), 404, 'not_found');
      }
      const still = (await a.apiKey.get('/api/v1/rooms/private-room')).json();
      assert.equal(still.status, 'in-progress');
      assert.deepEqual(await auditActions(t, a.orgId, room.id), ['room.created']);
    });

    test('the token route is rate-limited per caller', async () => {
      const limited = await createTestApp(kind, { database: t.database, env: { TOKEN_RATE_LIMIT_PER_MINUTE: '3', TOKEN_SIGNING_SECRET: 'x'.repeat(40) } });
      try {
        const org = await createTestOrg(limited.app);
        await org.apiKey.post('/api/v1/rooms', { name: 'busy' });
        for (let i = 0; i < 3; i++) assert.equal((await org.apiKey.post('/api/v1/tokens', { room: 'busy', identity: `p${i}` })).statusCode, 201);
        const over = await org.apiKey.post('/api/v1/tokens', { room: 'busy', identity: 'p9' });
        expectStatus(over, 429, 'rate_limited');
        assert.ok(over.headers['retry-after']);
        // Another caller has its own budget.
        assert.equal((await org.clinician.post('/api/v1/tokens', { room: 'busy', identity: 'p10' })).statusCode, 201);
      } finally {
        await limited.close();
      }
    });
  });
}
