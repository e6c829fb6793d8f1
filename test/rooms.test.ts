// The rooms API (src/server/rooms/routes.ts) on every media provider: rooms, tokens, participants, removal and the
// end of a room as the API and the media plane see them. On Twilio (against the fake of its API) also what Twilio
// holds: the token it is given, the subscribe and recording rules routing produces, the REST removal and completion,
// and the answers when Twilio is down or refuses our credentials.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { systemCtx } from '../src/server/context.js';
import { BuiltinProvider } from '../src/server/rooms/builtin/provider.js';
import { revokeParticipantTokens } from '../src/server/rooms/service.js';
import { createTestApp, SETUPS, type TestApp } from './helpers/app.js';
import { allAuditRows, auditActions } from './helpers/audit.js';
import { createTestOrg, detailPaths, errorOf, expectStatus, type TestOrg } from './helpers/builders.js';

for (const setup of SETUPS) {
  describe(`rooms API on ${setup.label}`, () => {
    const twilio = setup.media === 'twilio';
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;

    before(async () => {
      t = await createTestApp(setup.db, { media: setup.media, env: { TOKEN_SIGNING_SECRET: 'test-signing-secret-'.repeat(3) } });
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
      if (!twilio) assert.ok(t.app.deps.media instanceof BuiltinProvider);
    });
    after(() => t.close());

    const fake = () => t.media.twilio!.fake;
    /** The provider's own id for our room (builtin: ours; Twilio: the room's SID, its UniqueName being ours). */
    const providerRoomId = (roomId: string) => (twilio ? fake().room(roomId)!.sid : roomId);
    /** Who the provider says is connected now. */
    const connected = async (roomId: string) => (await t.app.deps.media.listParticipants(providerRoomId(roomId))).map((p) => p.identity);
    const join = async (room: string, identity: string, publish: readonly ('audio' | 'video')[] = []) => {
      const res = await a.apiKey.post('/api/v1/tokens', { room, identity });
      assert.equal(res.statusCode, 201, res.body);
      return t.media.join(res.json(), { publish });
    };
    /** The REST calls that disconnected a participant of this Twilio room. */
    const restRemovals = (roomId: string) =>
      fake().requests.filter((r) => r.method === 'POST' && r.path.startsWith(`/v1/Rooms/${providerRoomId(roomId)}/Participants/PA`) && r.params.Status === 'disconnected');
    const leaveReasons = async (roomId: string) =>
      (await allAuditRows(t)).filter((r) => r.targetId === roomId && r.action === 'room.participant_left').map((r) => [r.details?.identity, r.details?.reason]);

    test('create a room with defaults or its own limits; audited; a clear 400 for a bad name', async () => {
      const res = await a.apiKey.post('/api/v1/rooms', { name: 'consult-1' });
      assert.equal(res.statusCode, 201, res.body);
      const room = res.json();
      assert.equal(room.status, 'in-progress');
      assert.equal(room.provider, setup.media);
      assert.deepEqual(
        [room.maxParticipants, room.maxParticipantDurationSeconds, room.emptyRoomTimeoutSeconds, room.unusedRoomTimeoutSeconds],
        [50, 14_400, 300, 300],
      );
      assert.ok(t.media.isLive(room.id));
      if (twilio) {
        // A group room named by our id alone (no name reaches Twilio), its limits as Twilio counts them.
        const { options } = fake().room(room.id)!;
        assert.deepEqual(
          [options.Type, options.UniqueName, options.MaxParticipants, options.MaxParticipantDuration, options.EmptyRoomTimeout, options.UnusedRoomTimeout],
          ['group', room.id, '50', '14400', '5', '5'],
        );
      }
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
      assert.equal(t.media.isLive(ended.json().id), false);
      // Ending again answers the room as it is.
      assert.equal((await a.clinician.post('/api/v1/rooms/weekly/end')).json().endedAt, ended.json().endedAt);
      await t.media.settle();
      if (twilio) {
        // Completed once through the REST API; Twilio's room-ended callback that follows ends nothing twice.
        const completions = fake().requests.filter((r) => r.method === 'POST' && r.path === `/v1/Rooms/${providerRoomId(ended.json().id)}` && r.params.Status === 'completed');
        assert.equal(completions.length, 1);
        assert.equal(fake().room(ended.json().id)!.status, 'completed');
        assert.ok(fake().sentCallbacks.some((c) => c.event === 'room-ended' && c.params.RoomName === ended.json().id && c.status === 204));
      }

      const again = await a.apiKey.post('/api/v1/rooms', { name: 'weekly' });
      assert.equal(again.statusCode, 201);
      assert.notEqual(again.json().id, ended.json().id);
      assert.equal((await a.apiKey.get('/api/v1/rooms/weekly')).json().id, again.json().id, 'GET prefers the room in progress');
      assert.deepEqual(await auditActions(t, a.orgId, ended.json().id), ['room.created', 'room.ended']);
      assert.equal((await a.apiKey.get('/api/v1/rooms/weekly')).json().status, 'in-progress', 'the old room’s end does not reach the new one');
    });

    test('tokens: scoped to one room and identity, default 4 h, grants merged, audited without the token', async () => {
      const room = (await a.apiKey.post('/api/v1/rooms', { name: 'tokens-room' })).json();
      const res = await a.apiKey.post('/api/v1/tokens', { room: 'tokens-room', identity: 'patient:42' });
      assert.equal(res.statusCode, 201, res.body);
      const body = res.json();
      assert.equal(body.expiresIn, 14_400);
      assert.equal(body.provider, setup.media);
      const host = (await a.clinician.post('/api/v1/tokens', { room: 'tokens-room', identity: 'clinician-7', ttlSeconds: 600, grants: { admin: true, publish: false } })).json();
      assert.equal(host.expiresIn, 600);
      if (t.app.deps.media instanceof BuiltinProvider) {
        const provider = t.app.deps.media;
        assert.equal(body.url, 'ws://localhost:3000/rtc');
        const claims = await provider.signer.verify(body.token);
        assert.deepEqual(
          { room: claims.roomName, roomId: claims.roomId, org: claims.orgId, identity: claims.identity, grants: claims.grants },
          { room: 'tokens-room', roomId: room.id, org: a.orgId, identity: 'patient:42', grants: { publish: true, subscribe: true, data: true, admin: false } },
        );
        assert.ok(Math.abs(claims.expiresAt.getTime() - Date.now() - 14_400_000) < 5000);
        const hostClaims = await provider.signer.verify(host.token);
        assert.deepEqual(hostClaims.grants, { publish: false, subscribe: true, data: true, admin: true });
      } else {
        // A Twilio Video access token for our room id (Twilio never learns the room's name), signed with the API key.
        const { credentials } = t.media.twilio!;
        assert.equal(body.url, 'wss://global.vss.twilio.com/signaling');
        assert.deepEqual(decodeProtectedHeader(body.token), { alg: 'HS256', typ: 'JWT', cty: 'twilio-fpa;v=1' });
        const claims = decodeJwt(body.token) as { iss: string; sub: string; iat: number; exp: number; grants: { identity: string; video: { room: string } } };
        assert.deepEqual([claims.iss, claims.sub, claims.grants], [credentials.apiKeySid, credentials.accountSid, { identity: 'patient:42', video: { room: room.id } }]);
        assert.equal(claims.exp - claims.iat, 14_400);
        assert.ok(Math.abs(claims.exp * 1000 - Date.now() - 14_400_000) < 5000);
        const hostClaims = decodeJwt(host.token) as typeof claims;
        assert.equal(hostClaims.exp - hostClaims.iat, 600);
        assert.equal(hostClaims.grants.video.room, room.id);
      }

      assert.deepEqual(await auditActions(t, a.orgId, room.id), ['room.created', 'room.token_issued', 'room.token_issued']);
      const rows = JSON.stringify(await allAuditRows(t));
      assert.ok(!rows.includes(body.token), 'the token never reaches the audit log');
      assert.ok(!t.logs.join('').includes(body.token), 'nor the logs');
      if (twilio) {
        // The grants are ours to enforce (Twilio tokens carry none): the patient's rules leave out a host who may not publish.
        const patient = await t.media.join(body, { publish: [] });
        try {
          assert.deepEqual(fake().room(room.id)!.subscribeRules['patient:42'], [{ type: 'include', all: true }, { type: 'exclude', publisher: 'clinician-7' }]);
        } finally {
          await patient.leave();
        }
      }
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
      const patient1 = await join('people', 'patient-1');
      await t.media.settle();
      assert.deepEqual(await connected(room.id), ['patient-1']);
      const joined = (await a.apiKey.get('/api/v1/rooms/people/participants')).json().data;
      assert.deepEqual(joined.map((p: { identity: string; status: string }) => [p.identity, p.status]), [['patient-1', 'connected']]);

      const removed = await a.clinician.post('/api/v1/rooms/people/participants/patient-1/remove');
      assert.equal(removed.statusCode, 204, removed.body);
      if (twilio) {
        assert.equal(restRemovals(room.id).length, 1, 'removed through Twilio’s REST API (Status=disconnected)');
        assert.equal(await patient1.endCode(), null, 'a REST removal ends the connection without an error code');
      } else {
        assert.equal(await patient1.endCode(), 4000, 'the removed participant’s socket is closed with "removed"');
      }
      await t.media.settle();
      assert.deepEqual(await connected(room.id), []);
      const left = (await a.apiKey.get('/api/v1/rooms/people/participants')).json().data;
      assert.equal(left[0].status, 'disconnected');
      assert.ok(left[0].leftAt && left[0].durationSeconds !== null && left[0].durationSeconds >= 0);
      expectStatus(await a.clinician.post('/api/v1/rooms/people/participants/patient-1/remove'), 404, 'not_found');
      // The API's removal and the media plane's report of the leave (with the reason it gave) are recorded independently.
      assert.deepEqual((await auditActions(t, a.orgId, room.id)).sort(), ['room.created', 'room.participant_joined', 'room.participant_left', 'room.participant_removed', 'room.token_issued']);
      assert.deepEqual(await leaveReasons(room.id), [['patient-1', 'removed_by_api']]);

      // Ending the room closes everyone's participation.
      const patient2 = await join('people', 'patient-2');
      await t.media.settle();
      await a.apiKey.post('/api/v1/rooms/people/end');
      await t.media.settle();
      const after = (await a.apiKey.get('/api/v1/rooms/people/participants')).json().data as { identity: string; status: string }[];
      assert.deepEqual(after.map((p) => [p.identity, p.status]), [['patient-1', 'disconnected'], ['patient-2', 'disconnected']]);
      assert.equal(await patient2.endCode(), twilio ? 53118 : 4003, 'everyone is told the room ended');
      if (twilio) assert.equal(fake().room(room.id)!.status, 'completed');
      // Ended once, though the API and (on Twilio) the provider's callbacks both report it.
      assert.equal((await auditActions(t, a.orgId, room.id)).filter((x) => x === 'room.ended').length, 1);
      assert.equal((await a.apiKey.get('/api/v1/rooms/people')).json().endReason, 'ended_by_api');
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
      assert.ok(t.media.isLive(room.id));
      assert.deepEqual(await auditActions(t, a.orgId, room.id), ['room.created']);
    });

    test('the token route is rate-limited per caller', async () => {
      const limited = await createTestApp(setup.db, {
        database: t.database,
        media: setup.media,
        ...(t.media.twilio ? { twilio: t.media.twilio } : {}),
        env: { TOKEN_RATE_LIMIT_PER_MINUTE: '3', TOKEN_SIGNING_SECRET: 'x'.repeat(40) },
      });
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

    test('routing through the API: a separate group and a host mute reach the media as routed', async () => {
      const room = (await a.apiKey.post('/api/v1/rooms', { name: 'routed' })).json();
      const host = await join('routed', 'host', ['audio', 'video']);
      const pat = await join('routed', 'pat', ['audio', 'video']);
      const route = async (identity: string, body: Record<string, unknown>) => {
        const res = await a.clinician.patch(`/api/v1/rooms/routed/participants/${identity}`, body);
        assert.equal(res.statusCode, 200, res.body);
        return res.json();
      };
      const rules = (identity: string) => fake().room(room.id)!.subscribeRules[identity];
      try {
        await Promise.all([host.receives('pat', 'video'), pat.receives('host', 'audio')]);
        assert.deepEqual(await route('pat', { group: 'side' }), { identity: 'pat', group: 'side', audioMuted: false, videoMuted: false, recorded: true });
        if (twilio) {
          // The host (main group) takes everything but pat; pat, alone in its group, nothing.
          assert.deepEqual(rules('host'), [{ type: 'include', all: true }, { type: 'exclude', publisher: 'pat' }]);
          assert.deepEqual(rules('pat'), [{ type: 'exclude', all: true }]);
        }
        await Promise.all([host.receivesNothingOf('pat'), pat.receivesNothingOf('host')]);

        // Back in the main group, host-muted: the host gets pat's video, never its audio.
        assert.deepEqual(await route('pat', { group: 'main', audioMuted: true }), { identity: 'pat', group: 'main', audioMuted: true, videoMuted: false, recorded: true });
        if (twilio) {
          assert.deepEqual(rules('host'), [{ type: 'include', all: true }, { type: 'exclude', publisher: 'pat', kind: 'audio' }]);
          assert.deepEqual(rules('pat'), [{ type: 'include', all: true }]);
        }
        await Promise.all([host.receives('pat', 'video'), pat.receives('host', 'audio')]);
        await host.receivesNothingOf('pat', ['audio']);
        assert.deepEqual((await auditActions(t, a.orgId, room.id)).filter((x) => x === 'room.participant_routed'), ['room.participant_routed', 'room.participant_routed']);
      } finally {
        await Promise.all([host.close(), pat.close()]);
        await a.apiKey.post('/api/v1/rooms/routed/end');
      }
    });

    if (twilio) {
      test('Twilio: recording rules follow the recording routes and each participant’s consent', async () => {
        const room = (await a.apiKey.post('/api/v1/rooms', { name: 'recorded' })).json();
        const host = await join('recorded', 'host', ['audio', 'video']);
        const pat = await join('recorded', 'pat', ['audio', 'video']);
        const recordingRules = () => fake().room(room.id)!.recordingRules;
        try {
          assert.equal(recordingRules(), null, 'nothing recorded on connect (RecordParticipantsOnConnect false), no rules written yet');
          const started = await a.clinician.post('/api/v1/rooms/recorded/recording/start');
          assert.equal(started.statusCode, 200, started.body);
          assert.deepEqual(started.json(), { room: 'recorded', recording: true });
          assert.deepEqual(recordingRules(), [{ type: 'include', publisher: 'host' }, { type: 'include', publisher: 'pat' }]);
          // Consent withdrawn: pat leaves the allow-list, its media keeps flowing to the host.
          assert.equal((await a.clinician.patch('/api/v1/rooms/recorded/participants/pat', { recorded: false })).statusCode, 200);
          assert.deepEqual(recordingRules(), [{ type: 'include', publisher: 'host' }]);
          await host.receives('pat', 'audio');
          const stopped = await a.clinician.post('/api/v1/rooms/recorded/recording/stop');
          assert.equal(stopped.statusCode, 200, stopped.body);
          assert.deepEqual(recordingRules(), [{ type: 'exclude', all: true }]);
          await t.media.settle();
          // Per track: the host's camera and microphone, and pat's from the stretch before its consent was withdrawn.
          const files = (await a.apiKey.get('/api/v1/rooms/recorded/recordings')).json().data as { identity: string; content: string }[];
          assert.deepEqual([...new Set(files.map((f) => `${f.identity}/${f.content}`))].sort(), ['host/camera', 'host/microphone', 'pat/camera', 'pat/microphone']);
        } finally {
          await Promise.all([host.close(), pat.close()]);
          await a.apiKey.post('/api/v1/rooms/recorded/end');
          await t.media.settle();
        }
      });

      test('Twilio down or refusing our credentials: creating a room or a token answers 503 media_unavailable, nothing half made', async () => {
        const createFails = async (failure: { status: number; code?: number; times: number }, reason: string) => {
          fake().fail({ method: 'POST', path: /^\/v1\/Rooms$/, ...failure });
          const res = await a.apiKey.post('/api/v1/rooms', { name: 'flaky' });
          expectStatus(res, 503, 'media_unavailable');
          assert.deepEqual(errorOf(res).details, { reason });
          // The room that could not be made is closed: its name is free again.
          assert.equal((await a.apiKey.get('/api/v1/rooms/flaky')).json().status, 'completed');
        };
        await createFails({ status: 401, code: 20003, times: 1 }, 'credentials_refused');
        await createFails({ status: 503, times: 4 }, 'overloaded');
        const room = await a.apiKey.post('/api/v1/rooms', { name: 'flaky' });
        assert.equal(room.statusCode, 201, room.body);
        assert.ok(t.media.isLive(room.json().id));
        assert.equal(fake().rooms().filter((r) => r.status === 'in-progress' && r.uniqueName === room.json().id).length, 1);

        // A token needs Twilio when a rule must be written before its holder can connect: here the host must exclude
        // the guest, placed in another group, from the start.
        const host = await join('flaky', 'host');
        try {
          assert.equal((await a.clinician.patch('/api/v1/rooms/flaky/participants/guest', { group: 'side' })).statusCode, 200);
          const rulesPath = /^\/v1\/Rooms\/RM[0-9a-f]+\/Participants\/PA[0-9a-f]+\/SubscribeRules$/;
          fake().fail({ method: 'POST', path: rulesPath, status: 401, code: 20003, times: 1 });
          const refused = await a.apiKey.post('/api/v1/tokens', { room: 'flaky', identity: 'guest' });
          expectStatus(refused, 503, 'media_unavailable');
          assert.deepEqual(errorOf(refused).details, { reason: 'credentials_refused' });
          fake().fail({ method: 'POST', path: rulesPath, status: 503, times: 4 });
          const down = await a.apiKey.post('/api/v1/tokens', { room: 'flaky', identity: 'guest' });
          expectStatus(down, 503, 'media_unavailable');
          assert.deepEqual(errorOf(down).details, { reason: 'overloaded' });
          assert.deepEqual((await auditActions(t, a.orgId, room.json().id)).filter((x) => x === 'room.token_issued'), ['room.token_issued'], 'the host’s only: a refused token is not issued');
          const ok = await a.apiKey.post('/api/v1/tokens', { room: 'flaky', identity: 'guest' });
          assert.equal(ok.statusCode, 201, ok.body);
          assert.deepEqual(fake().room(room.json().id)!.subscribeRules.host, [{ type: 'include', all: true }, { type: 'exclude', publisher: 'guest' }]);
        } finally {
          await host.close();
          await a.apiKey.post('/api/v1/rooms/flaky/end');
        }
      });

      test('Twilio: a token refused while Twilio is down lifts no revocation; the revoked token is still thrown out', async () => {
        const room = (await a.apiKey.post('/api/v1/rooms', { name: 'revoked' })).json();
        const host = await join('revoked', 'host');
        try {
          const old = await a.apiKey.post('/api/v1/tokens', { room: 'revoked', identity: 'pat' });
          assert.equal(old.statusCode, 201, old.body);
          assert.equal(await revokeParticipantTokens(t.app.rooms, systemCtx(a.orgId), 'revoked', 'pat'), true);
          assert.deepEqual(fake().room(room.id)!.subscribeRules.host, [{ type: 'include', all: true }, { type: 'exclude', publisher: 'pat' }]);
          // A fresh token would let pat be received again: that rule write is refused, so is the token.
          fake().fail({ method: 'POST', path: /\/Participants\/PA[0-9a-f]+\/SubscribeRules$/, status: 401, code: 20003 });
          expectStatus(await a.apiKey.post('/api/v1/tokens', { room: 'revoked', identity: 'pat' }), 503, 'media_unavailable');
          await assert.rejects(t.media.join(old.json(), { publish: [] }), /thrown out/, 'the token revoked before stays revoked');
          // Twilio back: a fresh token is a new decision, and gets in.
          const fresh = await a.apiKey.post('/api/v1/tokens', { room: 'revoked', identity: 'pat' });
          assert.equal(fresh.statusCode, 201, fresh.body);
          assert.deepEqual(fake().room(room.id)!.subscribeRules.host, [{ type: 'include', all: true }]);
          await (await t.media.join(fresh.json(), { publish: [] })).leave();
        } finally {
          await host.close();
          await a.apiKey.post('/api/v1/rooms/revoked/end');
        }
      });

      test('Twilio: a routing past its 20 rules per participant answers 501 capability_unavailable and applies nothing', async () => {
        const room = (await a.apiKey.post('/api/v1/rooms', { name: 'crowded' })).json();
        const host = await join('crowded', 'host');
        try {
          // 45 guests: the host's rules can be include-all plus one exclude per host mute (19 fit in 20 rules), or
          // audio (or video) for all plus the other kind named per unmuted guest (26 unmuted after the 19th: too many),
          // or everyone named: the 20th mute fits no form.
          const guests = Array.from({ length: 45 }, (_, i) => `guest-${String(i + 1).padStart(2, '0')}`);
          for (const identity of guests) assert.equal((await a.clinician.post('/api/v1/tokens', { room: 'crowded', identity })).statusCode, 201);
          for (const identity of guests.slice(0, 19)) assert.equal((await a.clinician.patch(`/api/v1/rooms/crowded/participants/${identity}`, { audioMuted: true })).statusCode, 200);
          const rules = fake().room(room.id)!.subscribeRules.host!;
          assert.equal(rules.length, 20);
          const writes = fake().requests.length;
          const audited = (await auditActions(t, a.orgId, room.id)).length;

          const over = await a.clinician.patch('/api/v1/rooms/crowded/participants/guest-20', { audioMuted: true });
          expectStatus(over, 501, 'capability_unavailable');
          assert.match(errorOf(over).message, /20 rules/);
          assert.deepEqual(fake().room(room.id)!.subscribeRules.host, rules, 'Twilio holds what it held');
          assert.equal(fake().requests.length, writes, 'nothing was sent to Twilio');
          assert.equal((await auditActions(t, a.orgId, room.id)).length, audited, 'nor recorded');
          // guest-20 is still unmuted: setting that again changes nothing.
          const same = await a.clinician.patch('/api/v1/rooms/crowded/participants/guest-20', { audioMuted: false });
          assert.deepEqual(same.json(), { identity: 'guest-20', group: 'main', audioMuted: false, videoMuted: false, recorded: true });
          assert.equal((await auditActions(t, a.orgId, room.id)).length, audited);
        } finally {
          await host.close();
          await a.apiKey.post('/api/v1/rooms/crowded/end');
        }
      });
    }
  });
}
