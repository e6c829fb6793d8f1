// The participant channel (`WS /api/v1/channel`, rooms/channel.ts): the server's own line to the people in a room,
// whatever the media provider. Tokens (required, expired, forged, another organisation's room), delivery to all and
// to some, removal and revocation, the room's end, and delivery across processes sharing a Redis PubSub; on every
// media provider, and with it the participant kept apart, whose only line it is on Twilio until it is let in.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createSecretKey } from 'node:crypto';
import { SignJWT } from 'jose';
import { CHANNEL_CLOSE, CHANNEL_PATH, parseChannelClientMessage } from '../src/shared/channel.js';
import { systemCtx } from '../src/server/context.js';
import { createRedisPubSub } from '../src/server/pubsub/redis.js';
import { issueToken, notifyRoom, releaseHeld, revokeParticipantTokens, sendRoomData } from '../src/server/rooms/service.js';
import { createTestApp, SETUPS, type TestApp, type TestAppOptions } from './helpers/app.js';
import { createTestOrg, expectStatus, type TestOrg } from './helpers/builders.js';
import { ChannelClient } from './helpers/channel.js';
import { sleep, ABSENCE_MS } from './helpers/media.js';

const SECRET = 'channel-test-signing-secret-'.repeat(2);
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A channel token signed as the server would, with any claims (expired, another room, another key). */
async function sign(claims: { org: string; rid: string; room: string; sub: string }, options: { secret?: string; iat?: number; ttl?: number } = {}): Promise<string> {
  const iat = options.iat ?? Math.floor(Date.now() / 1000);
  return new SignJWT({ org: claims.org, rid: claims.rid, room: claims.room })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer('openvisit')
    .setAudience('openvisit-channel')
    .setSubject(claims.sub)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (options.ttl ?? 600))
    .sign(createSecretKey(Buffer.from(options.secret ?? SECRET, 'utf8')));
}

describe('channel protocol (pure)', () => {
  test('parseChannelClientMessage accepts auth and ping, refuses the rest with a reason', () => {
    for (const m of [{ type: 'auth', token: 't' }, { type: 'auth', token: 't', protocol: 1 }, { type: 'ping' }]) assert.ok(parseChannelClientMessage(JSON.stringify(m)).ok, JSON.stringify(m));
    const bad: [string, RegExp][] = [
      ['nope', /not JSON/],
      ['[1]', /object with a "type"/],
      ['{"type":"data","payload":"x"}', /unknown message type/],
      ['{"type":"auth"}', /token/],
      ['{"type":"auth","token":"t","protocol":2}', /protocol/],
      ['{"type":"auth","token":"t","room":"x"}', /unknown field/],
    ];
    for (const [text, reason] of bad) {
      const parsed = parseChannelClientMessage(text);
      assert.equal(parsed.ok, false, text);
      if (!parsed.ok) assert.match(parsed.reason, reason, text);
    }
  });
});

for (const setup of SETUPS) {
  describe(`participant channel on ${setup.label}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;
    let base: string;
    const open: ChannelClient[] = [];
    const createRoom = async (org: TestOrg, name: string) => {
      const res = await org.apiKey.post('/api/v1/rooms', { name });
      assert.equal(res.statusCode, 201, res.body);
      return res.json() as { id: string; name: string };
    };
    const tokenFor = async (org: TestOrg, room: string, identity: string) => {
      const res = await org.apiKey.post('/api/v1/tokens', { room, identity });
      assert.equal(res.statusCode, 201, res.body);
      return res.json() as { channel: { url: string; token: string } };
    };
    const connect = async (org: TestOrg, room: string, identity: string, at = base) => {
      const client = await ChannelClient.connect(at, (await tokenFor(org, room, identity)).channel, identity);
      open.push(client);
      return client;
    };
    /** Sends `first` on a fresh socket; resolves the close code. */
    const refusal = async (first: string | Buffer): Promise<number> => {
      const client = ChannelClient.open(base);
      open.push(client);
      await new Promise((resolve) => client.ws.once('open', resolve));
      client.ws.send(first);
      return client.closed();
    };
    const auth = (token: string) => JSON.stringify({ type: 'auth', token });
    /** Another process of the same deployment: the same database and media provider (on Twilio, the same account). */
    const another = (): TestAppOptions => ({ database: t.database, media: setup.media, ...(t.media.twilio ? { twilio: t.media.twilio } : {}) });

    before(async () => {
      t = await createTestApp(setup.db, { media: setup.media, env: { CHANNEL_SIGNING_SECRET: SECRET } });
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
      base = await t.listen();
    });
    after(async () => {
      await Promise.all(open.map((c) => c.close()));
      await t.close();
    });

    test('the token answer names the channel; a plain GET is told to upgrade', async () => {
      await createRoom(a, 'named');
      const { channel } = await tokenFor(a, 'named', 'alice');
      assert.equal(channel.url, `${t.config.publicUrl.replace(/^http/, 'ws').replace(/\/$/, '')}${CHANNEL_PATH}`);
      assert.ok(!channel.url.includes(channel.token), 'the token is never in the URL');
      expectStatus(await t.app.inject({ method: 'GET', url: CHANNEL_PATH }), 426, 'upgrade_required');
      const client = await connect(a, 'named', 'alice');
      assert.deepEqual(client.messages[0], { type: 'ready', room: 'named', identity: 'alice', heartbeatSeconds: 30 });
      client.send({ type: 'ping' });
      await client.next('pong');
    });

    test('refused: garbage, binary, a forged, expired or foreign-organisation token, an ended room', async () => {
      const room = await createRoom(a, 'guarded');
      const foreign = await createRoom(b, 'theirs');
      assert.equal(await refusal('garbage'), CHANNEL_CLOSE.protocolError);
      assert.equal(await refusal(Buffer.from(auth('x'))), CHANNEL_CLOSE.protocolError, 'text frames only');
      assert.equal(await refusal(auth('not-a-token')), CHANNEL_CLOSE.invalidToken);
      const claims = { org: a.orgId, rid: room.id, room: 'guarded', sub: 'mallory' };
      assert.equal(await refusal(auth(await sign(claims, { secret: 'another-server-secret-'.repeat(2) }))), CHANNEL_CLOSE.invalidToken, 'forged');
      assert.equal(await refusal(auth(await sign(claims, { iat: Math.floor(Date.now() / 1000) - 7200, ttl: 60 }))), CHANNEL_CLOSE.tokenExpired);
      // Signed by this server, but naming organisation B with A's room (or A with B's): no such room for that organisation.
      assert.equal(await refusal(auth(await sign({ ...claims, org: b.orgId }))), CHANNEL_CLOSE.roomNotFound);
      assert.equal(await refusal(auth(await sign({ org: a.orgId, rid: foreign.id, room: 'theirs', sub: 'mallory' }))), CHANNEL_CLOSE.roomNotFound);
      // The same claims for the right organisation get in: the refusals above are about the claims alone.
      const ok = ChannelClient.open(base);
      open.push(ok);
      await new Promise((resolve) => ok.ws.once('open', resolve));
      ok.ws.send(auth(await sign(claims)));
      await ok.next('ready');

      const { channel } = await tokenFor(a, 'guarded', 'late');
      assert.equal((await a.apiKey.post('/api/v1/rooms/guarded/end')).statusCode, 200);
      assert.equal(await ok.closed(), CHANNEL_CLOSE.roomEnded, 'the room’s end closes its sockets');
      assert.equal(await refusal(auth(channel.token)), CHANNEL_CLOSE.roomNotFound, 'a token for an ended room is refused');
    });

    test('delivery: to everyone in the room, or to the addressed identities only; never to another room', async () => {
      await createRoom(a, 'deliver');
      await createRoom(a, 'elsewhere');
      const [alice, bob, carol] = [await connect(a, 'deliver', 'alice'), await connect(a, 'deliver', 'bob'), await connect(a, 'deliver', 'carol')];
      const stranger = await connect(a, 'elsewhere', 'alice');
      const ctx = systemCtx(a.orgId);
      await sendRoomData(t.app.rooms, ctx, 'deliver', '{"type":"chat","n":1}');
      for (const c of [alice, bob, carol]) assert.deepEqual(await c.next('data'), { type: 'data', from: null, payload: '{"type":"chat","n":1}' });
      await notifyRoom(t.app.rooms, ctx, 'deliver', { code: 'admitted', message: 'The clinician let you in.' }, ['bob', 'carol']);
      await Promise.all([bob.next('notice'), carol.next('notice')]);
      assert.deepEqual(bob.messages.at(-1), { type: 'notice', code: 'admitted', message: 'The clinician let you in.' });
      await sendRoomData(t.app.rooms, ctx, 'deliver', 'for alice', ['alice']);
      await alice.next('data', (m) => m.payload === 'for alice');
      await sleep(ABSENCE_MS);
      assert.equal(alice.told('admitted'), false, 'alice was not addressed');
      assert.ok(![bob, carol].some((c) => c.data.some((d) => d.payload === 'for alice')), 'only alice got hers');
      assert.deepEqual(stranger.messages.map((m) => m.type), ['ready'], 'another room of the same name’s identity hears nothing');
    });

    test('removed or revoked: sockets closed, nothing more received; an old token no longer opens it, a new one does', async () => {
      await createRoom(a, 'removal');
      const [pat, clin] = [await connect(a, 'removal', 'pat'), await connect(a, 'removal', 'clin')];
      // Removal through the rooms API closes their channel even when their media is not connected.
      expectStatus(await a.apiKey.post('/api/v1/rooms/removal/participants/pat/remove'), 404, 'not_found');
      assert.equal(await pat.closed(), CHANNEL_CLOSE.removed);
      await notifyRoom(t.app.rooms, systemCtx(a.orgId), 'removal', { code: 'after', message: 'after the removal' });
      await clin.next('notice', (m) => m.code === 'after');
      assert.equal(pat.told('after'), false);

      // Revocation (a denied or removed visit participant): their tokens issued until then are refused.
      const held = (await tokenFor(a, 'removal', 'pat')).channel;
      const again = await ChannelClient.connect(base, held, 'pat');
      open.push(again);
      assert.equal(await revokeParticipantTokens(t.app.rooms, systemCtx(a.orgId), 'removal', 'pat'), true);
      assert.equal(await again.closed(), CHANNEL_CLOSE.removed);
      assert.equal(await refusal(auth(held.token)), CHANNEL_CLOSE.removed, 'the token they still hold no longer opens it');
      await sleep(1100); // token times are in seconds: a token issued after the revocation is a second later
      const fresh = await connect(a, 'removal', 'pat');
      await notifyRoom(t.app.rooms, systemCtx(a.orgId), 'removal', { code: 'back', message: 'let back in' }, ['pat']);
      await fresh.next('notice', (m) => m.code === 'back');
    });

    test('kept apart: on Twilio no media token, only the channel, until told to join; then a token and the room as routed', async () => {
      const room = await createRoom(a, 'apart');
      const ctx = systemCtx(a.orgId);
      // Placed alone before its token is asked for, as the waiting room places a patient.
      assert.equal((await a.clinician.patch('/api/v1/rooms/apart/participants/pat', { group: 'waiting-pat', recorded: false })).statusCode, 200);
      const hostToken = await a.apiKey.post('/api/v1/tokens', { room: 'apart', identity: 'host' });
      assert.equal(hostToken.statusCode, 201, hostToken.body);
      // Publishing (builtin: a client without media receives none either).
      const host = await t.media.join(hostToken.json(), { publish: ['audio'] });
      try {
        const waiting = await issueToken(t.app.rooms, ctx, { room: 'apart', identity: 'pat' }, { isolated: true });
        if (setup.media === 'twilio') {
          // Twilio would route it to everyone until its rules land: no media token at all while it waits.
          assert.deepEqual([waiting.held, waiting.token, waiting.url], [true, '', '']);
          assert.equal(t.media.twilio!.fake.room(room.id)!.participants.some((p) => p.identity === 'pat'), false);
        } else {
          assert.equal(waiting.held, false, 'the builtin provider routes from the first moment: a token as usual');
          assert.ok(waiting.token);
        }
        const pat = await ChannelClient.connect(base, waiting.channel, 'pat');
        open.push(pat);
        const clin = await connect(a, 'apart', 'clin');
        await notifyRoom(t.app.rooms, ctx, 'apart', { code: 'waiting', message: 'The clinician will let you in shortly.' }, ['pat']);
        await pat.next('notice', (m) => m.code === 'waiting');

        // Admitted: placed with everyone, then told to join; nobody else is told.
        assert.equal((await a.clinician.patch('/api/v1/rooms/apart/participants/pat', { group: 'main', recorded: true })).statusCode, 200);
        await releaseHeld(t.app.rooms, ctx, 'apart', 'pat');
        assert.deepEqual(await pat.next('join'), { type: 'join' });
        const admitted = await issueToken(t.app.rooms, ctx, { room: 'apart', identity: 'pat' }, { isolated: false });
        assert.equal(admitted.held, false);
        const media = await t.media.join(admitted, { publish: ['video'] });
        try {
          await host.receives('pat', 'video');
          if (setup.media === 'twilio') assert.deepEqual(t.media.twilio!.fake.room(room.id)!.subscribeRules.pat, [{ type: 'include', all: true }]);
        } finally {
          await media.close();
        }
        await sleep(ABSENCE_MS);
        assert.equal(clin.messages.some((m) => m.type === 'join'), false);
      } finally {
        await host.close();
      }
    });

    test('shutdown: clients are told to come back, then closed with 1012', async () => {
      const other = await createTestApp(setup.db, { ...another(), env: { CHANNEL_SIGNING_SECRET: SECRET } });
      let closed = false;
      try {
        const at = await other.listen();
        await createRoom(a, 'restarting');
        const client = await connect(a, 'restarting', 'pat', at);
        const closing = other.close().then(() => (closed = true));
        assert.equal(await client.closed(), CHANNEL_CLOSE.serverRestart);
        assert.ok(client.messages.some((m) => m.type === 'reconnect'));
        await closing;
      } finally {
        if (!closed) await other.close();
      }
    });

    test('two processes sharing a Redis PubSub: sent on one, delivered on the other; revoked on one, closed on the other', { timeout: 90_000 }, async () => {
      const [ps1, ps2] = await Promise.all([createRedisPubSub(REDIS_URL), createRedisPubSub(REDIS_URL)]);
      const one = await createTestApp(setup.db, { ...another(), pubsub: ps1, env: { CHANNEL_SIGNING_SECRET: SECRET } });
      const two = await createTestApp(setup.db, { ...another(), pubsub: ps2, env: { CHANNEL_SIGNING_SECRET: SECRET } });
      try {
        const [, at2] = await Promise.all([one.listen(), two.listen()]);
        const org = await createTestOrg(one.app);
        const res = await org.apiKey.post('/api/v1/rooms', { name: 'across' });
        assert.equal(res.statusCode, 201, res.body);
        const token = async (identity: string) => ((await org.apiKey.post('/api/v1/tokens', { room: 'across', identity })).json() as { channel: { token: string } }).channel;
        const pat = await ChannelClient.connect(at2, await token('pat'), 'pat');
        const clin = await ChannelClient.connect(at2, await token('clin'), 'clin');
        try {
          await notifyRoom(one.app.rooms, systemCtx(org.orgId), 'across', { code: 'admitted', message: 'The clinician let you in.' }, ['pat']);
          assert.deepEqual(await pat.next('notice'), { type: 'notice', code: 'admitted', message: 'The clinician let you in.' });
          await sendRoomData(one.app.rooms, systemCtx(org.orgId), 'across', 'to all');
          await Promise.all([pat.next('data'), clin.next('data')]);
          assert.equal(clin.told('admitted'), false, 'addressed delivery holds across processes');
          await revokeParticipantTokens(one.app.rooms, systemCtx(org.orgId), 'across', 'pat');
          assert.equal(await pat.closed(), CHANNEL_CLOSE.removed);
          assert.equal(clin.ws.readyState, clin.ws.OPEN);
        } finally {
          await Promise.all([pat.close(), clin.close()]);
        }
      } finally {
        await two.close();
        await one.close();
        await Promise.all([ps1.close(), ps2.close()]);
      }
    });
  });
}
