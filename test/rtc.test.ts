// The builtin media plane end to end, minus the browser: the app in-process on a real database, headless werift
// participants joining over the real `WS /rtc` protocol with tokens from the REST API, tagged synthetic media on
// loopback. Routing (groups, host mute, grants), removal, resume, takeover, ghosts, data, refusals.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { parseClientMessage, RTC_CLOSE } from '../src/shared/rtc.js';
import { iceServersFor, turnCredentials } from '../src/server/rooms/builtin/ice.js';
import { BuiltinProvider } from '../src/server/rooms/builtin/provider.js';
import { createTokenSigner } from '../src/server/rooms/builtin/tokens.js';
import { loadConfig } from '../src/server/config.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { auditActions } from './helpers/audit.js';
import { caller, createTestOrg, expectStatus, type TestOrg } from './helpers/builders.js';
import { DB_KINDS } from './helpers/db.js';
import { sleep, waitFor } from './helpers/media.js';
import { decodeErrors, ffprobe } from './helpers/replay.js';
import { joinRoom, RtcClient } from './helpers/rtc.js';
import { ChannelClient } from './helpers/channel.js';
import { systemCtx } from '../src/server/context.js';
import { notifyRoom } from '../src/server/rooms/service.js';

const SECRET = 'rtc-test-signing-secret-'.repeat(2);

describe('signaling protocol and ICE settings (pure)', () => {
  test('parseClientMessage accepts each message type and refuses malformed ones with a reason', () => {
    const good = [
      { type: 'join', token: 't' },
      { type: 'join', token: 't', sessionId: 's', protocol: 1 },
      { type: 'offer', sdp: 'v=0', sources: { '0': 'microphone', '1': 'camera', '2': 'screen' } },
      { type: 'answer', sdp: 'v=0' },
      { type: 'candidate', candidate: null },
      { type: 'candidate', candidate: { candidate: 'candidate:1 1 udp 1 127.0.0.1 5000 typ host', sdpMid: '0', sdpMLineIndex: 0 } },
      { type: 'mute', source: 'camera', muted: true },
      { type: 'data', payload: 'hi', to: ['patient-1'] },
      { type: 'ping' },
      { type: 'leave' },
    ];
    for (const m of good) assert.ok(parseClientMessage(JSON.stringify(m)).ok, JSON.stringify(m));
    const bad: [unknown, RegExp][] = [
      ['not json', /not JSON/],
      [[1], /object with a "type"/],
      [{ type: 'dance' }, /unknown message type/],
      [{ type: 'join' }, /token/],
      [{ type: 'join', token: 't', protocol: 2 }, /protocol/],
      [{ type: 'join', token: 't', extra: 1 }, /unknown field/],
      [{ type: 'offer', sdp: '' }, /sdp/],
      [{ type: 'offer', sdp: 'v=0', sources: { '0': 'speaker' } }, /sources/],
      [{ type: 'offer', sdp: 'x'.repeat(70_000), sources: {} }, /sdp/],
      [{ type: 'candidate' }, /candidate/],
      [{ type: 'candidate', candidate: { candidate: 1 } }, /candidate/],
      [{ type: 'mute', source: 'camera' }, /muted/],
      [{ type: 'data', payload: 5 }, /payload/],
      [{ type: 'data', payload: 'x', to: ['Jane Doe'] }, /identities/],
      [{ type: 'leave', now: true }, /unknown field/],
    ];
    for (const [input, reason] of bad) {
      const parsed = parseClientMessage(typeof input === 'string' ? input : JSON.stringify(input));
      assert.equal(parsed.ok, false, JSON.stringify(input));
      if (!parsed.ok) assert.match(parsed.reason, reason, JSON.stringify(input));
    }
  });

  test('TURN-REST credentials match an independent HMAC-SHA1 (openssl) and expire with the TTL', () => {
    const now = new Date('2026-11-21T12:00:00Z');
    const { username, credential, expiresAt } = turnCredentials('coturn-shared-secret', 'patient-1', 3600, now);
    assert.equal(username, `${Math.floor(now.getTime() / 1000) + 3600}:patient-1`);
    assert.equal(expiresAt.toISOString(), '2026-11-21T13:00:00.000Z');
    const openssl = execFileSync('openssl', ['dgst', '-sha1', '-hmac', 'coturn-shared-secret', '-binary'], { input: username });
    assert.equal(credential, openssl.toString('base64'));

    const config = loadConfig({ STUN_URLS: 'stun:stun.example.org:3478', TURN_URLS: 'turn:turn.example.org:3478?transport=udp,turns:turn.example.org:5349', TURN_SECRET: 's3cret', TURN_CREDENTIAL_TTL_SECONDS: '600' });
    const servers = iceServersFor(config.rtc, 'clin-1', now);
    assert.deepEqual(servers[0], { urls: ['stun:stun.example.org:3478'] });
    assert.deepEqual(servers[1]!.urls, ['turn:turn.example.org:3478?transport=udp', 'turns:turn.example.org:5349']);
    assert.equal(servers[1]!.username, `${Math.floor(now.getTime() / 1000) + 600}:clin-1`);
    assert.deepEqual(iceServersFor(loadConfig({}).rtc, 'x'), [], 'no STUN or TURN unless configured');
  });

  test('ICE configuration is validated with every problem named', () => {
    assert.throws(
      () => loadConfig({ RTC_ANNOUNCED_ADDRESSES: '127.0.0.1,media.example.org', RTC_UDP_PORT_MIN: '40000', TURN_URLS: 'http://turn.example.org', STUN_URLS: 'turn:x' }),
      (err: Error) =>
        /RTC_ANNOUNCED_ADDRESSES "media\.example\.org" is not an IP address/.test(err.message) &&
        /RTC_UDP_PORT_MAX set both/.test(err.message) &&
        /TURN_URLS "http:\/\/turn\.example\.org" must start with turn: or turns:/.test(err.message) &&
        /STUN_URLS "turn:x" must start with stun:/.test(err.message) &&
        /TURN_SECRET is required with TURN_URLS/.test(err.message),
    );
    assert.throws(() => loadConfig({ RTC_USE_INTERFACE_ADDRESSES: 'false' }), /RTC_ANNOUNCED_ADDRESSES is required when RTC_USE_INTERFACE_ADDRESSES=false/);
    assert.throws(() => loadConfig({ RTC_UDP_PORT_MIN: '50000', RTC_UDP_PORT_MAX: '40000' }), /RTC_UDP_PORT_MAX must be greater/);
    const ok = loadConfig({ RTC_ANNOUNCED_ADDRESSES: '203.0.113.7, 127.0.0.1', RTC_UDP_PORT_MIN: '40000', RTC_UDP_PORT_MAX: '40100' });
    assert.deepEqual(ok.rtc.announcedAddresses, ['203.0.113.7', '127.0.0.1']);
    assert.deepEqual(ok.rtc.udpPortRange, [40000, 40100]);
    assert.equal(ok.rtc.reconnectGraceMs, 15_000, 'the grace period defaults to 15 s');
  });
});

for (const kind of DB_KINDS) {
  describe(`builtin media plane over /rtc on ${kind}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let base: string;
    let provider: BuiltinProvider;
    const clients: RtcClient[] = [];
    const join = async (room: string, identity: string, options: Parameters<typeof joinRoom>[4] = {}) => {
      const client = await joinRoom(t, a.apiKey, room, identity, options);
      clients.push(client);
      return client;
    };
    const createRoom = async (name: string, body: Record<string, unknown> = {}) => {
      const res = await a.apiKey.post('/api/v1/rooms', { name, ...body });
      assert.equal(res.statusCode, 201, res.body);
      return res.json() as { id: string; name: string };
    };
    const route = (room: string, identity: string, body: Record<string, unknown>) => a.apiKey.patch(`/api/v1/rooms/${room}/participants/${identity}`, body);

    before(async () => {
      t = await createTestApp(kind, { env: { TOKEN_SIGNING_SECRET: SECRET, RTC_RECONNECT_GRACE_SECONDS: '2' } });
      a = await createTestOrg(t.app);
      base = await t.listen();
      assert.ok(t.app.deps.media instanceof BuiltinProvider);
      provider = t.app.deps.media;
    });
    after(async () => {
      await Promise.all(clients.map((c) => c.close()));
      await t.close();
    });

    test('two participants publish and each receives the other; routes name the publisher of each mid', async () => {
      await createRoom('pair');
      const alice = await join('pair', 'alice', { publish: ['microphone', 'camera'] });
      const bob = await join('pair', 'bob', { publish: ['microphone', 'camera'] });
      await Promise.all([alice.receives('bob/camera'), alice.receives('bob/microphone'), bob.receives('alice/camera'), bob.receives('alice/microphone')]);
      // Each tag arrived on a mid the routes attribute to its publisher.
      for (const [client, other] of [[alice, 'bob'], [bob, 'alice']] as const) {
        for (const source of ['camera', 'microphone']) {
          const mids = [...client.arrivals.get(`${other}/${source}`)!.mids];
          for (const mid of mids) assert.deepEqual([client.routes.get(mid)?.identity, client.routes.get(mid)?.source], [other, source], `${client.identity} mid ${mid}`);
        }
      }
      assert.equal(alice.count('alice/camera'), 0, 'nobody receives their own media');
      // Participant lists: each sees the other with its tracks.
      await waitFor('alice to see bob’s two tracks', () => alice.participants.get('bob')?.tracks.length === 2);
      assert.deepEqual(bob.joined?.participants.map((p) => p.identity), ['alice']);
      // Local mute is shown to others.
      alice.send({ type: 'mute', source: 'camera', muted: true });
      const update = await bob.next('participantUpdated', (m) => m.participant.identity === 'alice');
      assert.deepEqual(update.participant.tracks.find((tr) => tr.source === 'camera')?.muted, true);
      // Network quality is pushed for oneself and for others once media is up (levels are sent on change: a
      // steady connection is reported once), or given in the participant list to a later arrival; the loudest
      // speaker is named to the group.
      const quality = await alice.seen('networkQuality', (m) => m.identity === 'alice', 8000);
      assert.ok(quality.level >= 0 && quality.level <= 5);
      const aliceToBob = bob.joined?.participants.find((p) => p.identity === 'alice')?.networkQuality ?? (await bob.seen('networkQuality', (m) => m.identity === 'alice', 8000)).level;
      assert.ok(aliceToBob !== null && aliceToBob >= 0 && aliceToBob <= 5, `bob knows alice's quality (${aliceToBob})`);
      (bob.sources.get('microphone') as { level: number }).level = 10; // RFC 6464: 10 dBov below full scale, loud
      assert.equal((await alice.next('dominantSpeaker', (m) => m.identity === 'bob', 8000)).identity, 'bob');
      // The rooms layer recorded both, and the published tracks were reported.
      await t.app.roomEvents.idle();
      const people = (await a.apiKey.get('/api/v1/rooms/pair/participants')).json().data as { identity: string; status: string }[];
      assert.deepEqual(people.map((p) => [p.identity, p.status]).sort(), [['alice', 'connected'], ['bob', 'connected']]);
    });

    test('moving a participant to another group re-routes media on the same connection; lists follow', async () => {
      await createRoom('groups');
      const host = await join('groups', 'host', { publish: ['microphone', 'camera'] });
      const p1 = await join('groups', 'p1', { publish: ['microphone', 'camera'] });
      // p2 is placed in a breakout before joining.
      assert.equal((await route('groups', 'p2', { group: 'breakout' })).statusCode, 200);
      const p2 = await join('groups', 'p2', { publish: ['microphone', 'camera'] });
      await Promise.all([host.receives('p1/camera'), p1.receives('host/camera')]);
      await p2.receivesNothingOf('host/camera', 'p1/camera');
      assert.equal(host.participants.has('p2'), false, 'p2 is in another group: not listed');

      const movedAt = performance.now();
      const moved = await route('groups', 'p1', { group: 'breakout' });
      assert.deepEqual(moved.json(), { identity: 'p1', group: 'breakout', audioMuted: false, videoMuted: false, recorded: true });
      await Promise.all([p2.receives('p1/camera', 1), p1.receives('p2/camera', 1)]);
      const firstFrameMs = Math.round(performance.now() - movedAt);
      await host.receivesNothingOf('p1/camera', 'p1/microphone');
      await waitFor('host to drop p1 from its list', () => !host.participants.has('p1'));
      await waitFor('p2 to list p1', () => p2.participants.has('p1'));
      assert.ok(p1.pc!.connectionState === 'connected', 'no reconnect');
      console.log(`# group move: first packet of the new peers after ${firstFrameMs} ms`);
      await t.app.roomEvents.idle();
      assert.ok((await auditActions(t, a.orgId, (await a.apiKey.get('/api/v1/rooms/groups')).json().id)).includes('room.participant_routed'));
    });

    test('host mute stops a participant’s audio at everyone; grants: no subscribe receives nothing, no publish reaches nobody', async () => {
      await createRoom('grants');
      const clin = await join('grants', 'clin', { publish: ['microphone', 'camera'] });
      const pat = await join('grants', 'pat', { publish: ['microphone', 'camera'] });
      const observer = await join('grants', 'observer', { publish: ['microphone', 'camera'], grants: { subscribe: false } });
      const muted = await join('grants', 'listener', { publish: ['microphone', 'camera'], grants: { publish: false } });
      await Promise.all([clin.receives('pat/microphone'), pat.receives('clin/camera')]);
      await Promise.all([observer.receivesNothingOf('clin/camera', 'pat/camera'), clin.receivesNothingOf('listener/camera', 'listener/microphone')]);
      await clin.receives('observer/camera');

      const res = await route('grants', 'pat', { audioMuted: true });
      assert.equal(res.statusCode, 200, res.body);
      await clin.receivesNothingOf('pat/microphone');
      await clin.receives('pat/camera');
      const update = await waitFor('clin to see pat host-muted', () => clin.participants.get('pat')?.tracks.find((tr) => tr.kind === 'audio')?.hostMuted);
      assert.equal(update, true);
      await route('grants', 'pat', { audioMuted: false });
      await clin.receives('pat/microphone');
    });

    test('a participant removed through the API loses media, is told why, and leaves the others’ lists', async () => {
      await createRoom('removal');
      const clin = await join('removal', 'clin', { publish: ['microphone', 'camera'] });
      const pat = await join('removal', 'pat', { publish: ['microphone', 'camera'] });
      await Promise.all([clin.receives('pat/camera'), pat.receives('clin/camera')]);
      const removed = await a.clinician.post('/api/v1/rooms/removal/participants/pat/remove');
      assert.equal(removed.statusCode, 204, removed.body);
      assert.equal(await pat.closed(), RTC_CLOSE.removed);
      assert.equal(pat.messages.find((m) => m.type === 'bye')?.type, 'bye');
      await waitFor('clin to drop pat from its list', () => !clin.participants.has('pat'));
      assert.equal(clin.messages.findLast((m) => m.type === 'participantLeft')?.type, 'participantLeft');
      await clin.receivesNothingOf('pat/camera', 'pat/microphone');
    });

    test('a dropped signaling socket resumes the same session: media never stopped, no new arrival', async () => {
      const room = await createRoom('resume');
      const clin = await join('resume', 'clin', { publish: ['camera'] });
      const pat = await join('resume', 'pat', { publish: ['camera'] });
      await Promise.all([clin.receives('pat/camera'), pat.receives('clin/camera')]);
      const sessionId = pat.joined!.sessionId;
      pat.dropSignaling();
      await clin.receives('pat/camera', 10); // media carries on without signaling
      const resumed = await pat.resume();
      assert.deepEqual([resumed.resumed, resumed.sessionId], [true, sessionId]);
      assert.deepEqual(resumed.participants.map((p) => p.identity), ['clin']);
      await pat.receives('clin/camera', 10);
      assert.equal(clin.participants.has('pat'), true, 'clin never saw pat leave');
      await t.app.roomEvents.idle();
      const joins = (await auditActions(t, a.orgId, room.id)).filter((x) => x === 'room.participant_joined');
      assert.equal(joins.length, 2, 'one arrival each');
    });

    test('a new connection of the same identity takes over (ICE failed, another tab) without a new arrival', async () => {
      const room = await createRoom('takeover');
      const clin = await join('takeover', 'clin', { publish: ['camera'] });
      const first = await join('takeover', 'pat', { publish: ['camera'] });
      await clin.receives('pat/camera');
      const second = await join('takeover', 'pat', { publish: ['camera'] });
      assert.equal(await first.closed(), RTC_CLOSE.replaced);
      assert.equal(second.joined!.resumed, false);
      assert.notEqual(second.joined!.sessionId, first.joined!.sessionId);
      await clin.receives('pat/camera', 10);
      await second.receives('clin/camera');
      assert.equal(clin.messages.some((m) => m.type === 'participantLeft' && m.identity === 'pat'), false, 'clin never saw pat leave');
      await t.app.roomEvents.idle();
      const actions = await auditActions(t, a.orgId, room.id);
      assert.equal(actions.filter((x) => x === 'room.participant_joined').length, 2);
      assert.equal(actions.filter((x) => x === 'room.participant_left').length, 0);
    });

    test('a participant who vanishes is removed after the grace period (no ghosts)', async () => {
      await createRoom('ghosts');
      const clin = await join('ghosts', 'clin', { publish: ['camera'] });
      const ghost = await join('ghosts', 'ghost', { publish: ['camera'] });
      await clin.receives('ghost/camera');
      const vanishedAt = Date.now();
      await ghost.close(); // socket and media gone, no leave
      const left = await clin.next('participantLeft', (m) => m.identity === 'ghost', 6000);
      const after = Date.now() - vanishedAt;
      assert.equal(left.reason, 'connection_lost');
      assert.ok(after >= 1900, `removed after the 2 s grace, not before (${after} ms)`);
      await t.app.roomEvents.idle();
      const people = (await a.apiKey.get('/api/v1/rooms/ghosts/participants')).json().data as { identity: string; status: string }[];
      assert.equal(people.find((p) => p.identity === 'ghost')?.status, 'disconnected');
      assert.deepEqual((await provider.listParticipants((await a.apiKey.get('/api/v1/rooms/ghosts')).json().id)).map((p) => p.identity), ['clin']);
    });

    test('data messages reach the same group only, respect grants and limits; server notices', async () => {
      await createRoom('chat');
      const clin = await join('chat', 'clin', { media: false });
      const pat = await join('chat', 'pat', { media: false });
      await route('chat', 'other', { group: 'elsewhere' });
      const other = await join('chat', 'other', { media: false });
      const mute = await join('chat', 'mute', { media: false, grants: { data: false } });
      clin.send({ type: 'data', payload: 'How are you feeling today?' });
      assert.deepEqual(await pat.next('data'), { type: 'data', from: 'clin', payload: 'How are you feeling today?' });
      pat.send({ type: 'data', payload: 'Better', to: ['clin'] });
      assert.equal((await clin.next('data')).payload, 'Better');
      await sleep(200);
      assert.deepEqual([other.data.length, mute.data.length], [0, 0], 'another group and a token without data receive nothing');
      mute.send({ type: 'data', payload: 'hello?' });
      assert.equal((await mute.next('error')).code, 'forbidden');
      clin.send({ type: 'data', payload: 'x'.repeat(20_000) });
      assert.equal((await clin.next('error')).code, 'too_large');
      for (let i = 0; i < 25; i++) clin.send({ type: 'data', payload: `burst ${i}` });
      assert.equal((await clin.next('error', (m) => m.code === 'rate_limited')).code, 'rate_limited');
      clin.send({ type: 'dance' } as never);
      assert.equal((await clin.next('error', (m) => m.code === 'invalid_message')).code, 'invalid_message');
      // Server notices travel on the participant channel (rooms/channel.ts), not on /rtc: one participant of two is told.
      const channelOf = async (identity: string) => ChannelClient.connect(base, (await a.apiKey.post('/api/v1/tokens', { room: 'chat', identity })).json().channel, identity);
      const [patChannel, clinChannel] = [await channelOf('pat'), await channelOf('clin')];
      try {
        await notifyRoom(t.app.rooms, systemCtx(a.orgId), 'chat', { code: 'recording', message: 'Recording has started.' }, ['pat']);
        assert.deepEqual(await patChannel.next('notice'), { type: 'notice', code: 'recording', message: 'Recording has started.' });
        await sleep(200);
        assert.equal([patChannel, clinChannel].filter((c) => c.told('recording')).length, 1, 'only the one addressed received it');
      } finally {
        await Promise.all([patChannel.close(), clinChannel.close()]);
      }
    });

    test('refusals: bad, expired or foreign tokens, ended rooms, full rooms, no join, binary frames', async () => {
      await createRoom('tiny', { maxParticipants: 1 });
      const closeOf = async (first: unknown): Promise<number> => {
        const ws = new WebSocket(`${base.replace('http', 'ws')}/rtc`);
        await new Promise((resolve) => ws.once('open', resolve));
        ws.send(typeof first === 'string' || Buffer.isBuffer(first) ? first : JSON.stringify(first));
        return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
      };
      assert.equal(await closeOf({ type: 'join', token: 'not-a-token' }), RTC_CLOSE.invalid_token);
      const foreign = await createTokenSigner('another-server-secret-'.repeat(2)).sign({ orgId: a.orgId, roomId: 'x', roomName: 'tiny', identity: 'p', grants: { publish: true, subscribe: true, data: true, admin: false } }, 60);
      assert.equal(await closeOf({ type: 'join', token: foreign.token }), RTC_CLOSE.invalid_token);
      const signer = createTokenSigner(SECRET);
      const tiny = (await a.apiKey.get('/api/v1/rooms/tiny')).json();
      const expired = await signer.sign({ orgId: a.orgId, roomId: tiny.id, roomName: 'tiny', identity: 'p', grants: { publish: true, subscribe: true, data: true, admin: false } }, 60, new Date(Date.now() - 3600_000));
      assert.equal(await closeOf({ type: 'join', token: expired.token }), RTC_CLOSE.token_expired);
      assert.equal(await closeOf({ type: 'offer', sdp: 'v=0', sources: {} }), RTC_CLOSE.protocol_error, 'join must come first');
      assert.equal(await closeOf('garbage'), RTC_CLOSE.protocol_error);
      assert.equal(await closeOf(Buffer.from(JSON.stringify({ type: 'join', token: 'x' }))), RTC_CLOSE.protocol_error, 'binary frames are refused');

      await join('tiny', 'first', { media: false });
      const full = await a.apiKey.post('/api/v1/tokens', { room: 'tiny', identity: 'second' });
      assert.equal(await closeOf({ type: 'join', token: full.json().token }), RTC_CLOSE.room_full);

      const token = (await a.apiKey.post('/api/v1/tokens', { room: 'tiny', identity: 'late' })).json().token;
      await a.apiKey.post('/api/v1/rooms/tiny/end');
      assert.equal(await closeOf({ type: 'join', token }), RTC_CLOSE.room_not_found, 'a token for an ended room is refused');
      expectStatus(await a.apiKey.post('/api/v1/tokens', { room: 'tiny', identity: 'later' }), 409, 'invalid_state');
      expectStatus(await route('tiny', 'late', { group: 'x' }), 409, 'invalid_state');
      expectStatus(await route('nope', 'late', { group: 'x' }), 404, 'not_found');
      const badRoute = await route('chat', 'late', { group: 'no spaces' });
      expectStatus(badRoute, 400, 'validation_failed');
      expectStatus(await route('chat', 'late', {}), 400, 'validation_failed');
    });

    test('recording: start and stop through the API, one WebM per participant, listed and downloadable (audited)', async () => {
      const room = await createRoom('recorded');
      const clin = await join('recorded', 'clin', { publish: ['microphone', 'camera'], replay: true });
      expectStatus(await a.caregiver.post('/api/v1/rooms/recorded/recording/start'), 403, 'forbidden');
      const started = await a.clinician.post('/api/v1/rooms/recorded/recording/start');
      assert.deepEqual(started.json(), { room: 'recorded', recording: true });
      // Someone joining a recorded room is recorded from their first track.
      const pat = await join('recorded', 'pat', { publish: ['microphone', 'camera'], replay: true });
      await sleep(2500);
      const during = (await a.apiKey.get('/api/v1/rooms/recorded/recordings')).json().data as { identity: string; status: string }[];
      assert.deepEqual(during.map((r) => [r.identity, r.status]).sort(), [['clin', 'recording'], ['pat', 'recording']]);
      const stopped = await a.clinician.post('/api/v1/rooms/recorded/recording/stop');
      assert.deepEqual(stopped.json(), { room: 'recorded', recording: false });
      await t.app.roomEvents.idle();
      const files = (await a.apiKey.get('/api/v1/rooms/recorded/recordings')).json().data as { id: string; identity: string; status: string; content: string; bytes: number; durationSeconds: number; mediaType: string }[];
      assert.deepEqual(files.map((r) => [r.identity, r.status, r.content, r.mediaType]).sort(), [['clin', 'completed', 'camera', 'video/webm'], ['pat', 'completed', 'camera', 'video/webm']]);
      for (const f of files) {
        assert.ok(f.bytes > 10_000, `${f.identity}: ${f.bytes} bytes`);
        assert.ok(f.durationSeconds >= 2 && f.durationSeconds < 10, `${f.identity}: ${f.durationSeconds} s`);
      }
      const download = await a.clinician.get(`/api/v1/recordings/${files[0]!.id}/media`);
      assert.equal(download.statusCode, 200);
      assert.equal(download.headers['content-type'], 'video/webm');
      assert.equal(download.rawPayload.length, files[0]!.bytes);
      const tmp = path.join(os.tmpdir(), `ovt-rec-${files[0]!.id}.webm`);
      writeFileSync(tmp, download.rawPayload);
      try {
        const probe = await ffprobe(tmp);
        assert.deepEqual(probe.streams.map((st) => st.codec_name).sort(), ['opus', 'vp8']);
        assert.equal(await decodeErrors(tmp), '', 'the file decodes cleanly');
      } finally {
        rmSync(tmp, { force: true });
      }
      expectStatus(await a.caregiver.get(`/api/v1/recordings/${files[0]!.id}/media`), 403, 'forbidden');
      expectStatus(await a.clinician.get('/api/v1/recordings/00000000-0000-4000-8000-000000000000/media'), 404, 'not_found');
      const other = await createTestOrg(t.app);
      expectStatus(await other.clinician.get(`/api/v1/recordings/${files[0]!.id}/media`), 404, 'not_found');
      const actions = await auditActions(t, a.orgId, room.id);
      for (const action of ['room.recording_started', 'room.recording_stopped', 'room.recording_downloaded']) assert.ok(actions.includes(action), action);
      // The server kept the files under RECORDINGS_DIR/<org>/<room>/.
      assert.ok(existsSync(path.join(t.config.rtc.recordingsDir, a.orgId, room.id)));
      await Promise.all([clin.close(), pat.close()]);
    });

    test('after a restart, in-progress rooms are restored and stale participation is closed', async () => {
      await createRoom('survivor');
      await join('survivor', 'before-restart', { media: false });
      await t.app.roomEvents.idle();
      const restarted = await createTestApp(kind, { database: t.database, env: { TOKEN_SIGNING_SECRET: SECRET } });
      try {
        const roomId = (await a.apiKey.get('/api/v1/rooms/survivor')).json().id;
        assert.ok((restarted.app.deps.media as BuiltinProvider).isLive(roomId), 'the room is live in the new process');
        const people = (await a.apiKey.get('/api/v1/rooms/survivor/participants')).json().data as { identity: string; status: string }[];
        assert.deepEqual(people.map((p) => p.status), ['disconnected'], 'the old process’s participant is closed');
      } finally {
        await restarted.close();
      }
    });

    test('routing survives a restart through the rooms layer alone: reconnecting participants land in their group, still muted', async () => {
      // A room of the rooms API (no visit, no feature placing anyone again): two people moved to a side group, one
      // of them host-muted, before anyone joins; the third stays in the main group.
      await createRoom('routed-restart');
      assert.equal((await route('routed-restart', 'side-a', { group: 'side' })).statusCode, 200);
      assert.equal((await route('routed-restart', 'side-b', { group: 'side', audioMuted: true })).statusCode, 200);
      const token = async (identity: string) => {
        const res = await a.apiKey.post('/api/v1/tokens', { room: 'routed-restart', identity });
        assert.equal(res.statusCode, 201, res.body);
        return (res.json() as { token: string }).token;
      };
      const tokens = { lead: await token('lead'), sideA: await token('side-a'), sideB: await token('side-b') };
      await t.app.roomEvents.idle();

      // A second process on the same database: its media plane starts empty and learns the routing from the rooms layer.
      const restarted = await createTestApp(kind, { database: t.database, env: { TOKEN_SIGNING_SECRET: SECRET } });
      const people: RtcClient[] = [];
      try {
        const again = await restarted.listen();
        const lead = await RtcClient.connect(again, tokens.lead, 'lead', { publish: ['microphone', 'camera'] });
        people.push(lead);
        const sideA = await RtcClient.connect(again, tokens.sideA, 'side-a', { publish: ['microphone', 'camera'] });
        people.push(sideA);
        const sideB = await RtcClient.connect(again, tokens.sideB, 'side-b', { publish: ['microphone', 'camera'] });
        people.push(sideB);
        await Promise.all([sideA.receives('side-b/camera'), sideB.receives('side-a/camera'), sideB.receives('side-a/microphone')]);
        await Promise.all([
          sideA.receivesNothingOf('side-b/microphone', 'lead/camera', 'lead/microphone'),
          lead.receivesNothingOf('side-a/camera', 'side-b/camera'),
        ]);
        assert.equal(lead.participants.has('side-a'), false, 'the side group is not listed in the main group');
        // The new process's routing answers say the same (a change to one field keeps the rest as stored).
        const state = await caller(restarted.app, a.apiKey.headers).patch('/api/v1/rooms/routed-restart/participants/side-b', { videoMuted: false });
        assert.equal(state.statusCode, 200, state.body);
        assert.deepEqual(state.json(), { identity: 'side-b', group: 'side', audioMuted: true, videoMuted: false, recorded: true });
      } finally {
        await Promise.all(people.map((c) => c.close()));
        await restarted.close();
      }
    });
  });
}
