// The Twilio Video provider against a local fake of Twilio's API (test/helpers/twilio-video-fake.ts, which checks every
// request and every answer against twilio_video_v1.json): the media provider contract, then what only Twilio has
// (the connect window, Twilio's errors, status callbacks out of order or twice, rooms Twilio ends, compositions).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import Fastify from 'fastify';
import { loadConfig } from '../src/server/config.js';
import { createMediaProvider } from '../src/server/rooms/loader.js';
import { DEFAULT_GRANTS, MediaUnavailableError, ProviderRoomEndedError, type MediaProvider, type RoomEvent } from '../src/server/rooms/provider.js';
import { TwilioVideoApi } from '../src/server/rooms/twilio/api.js';
import { TwilioProvider } from '../src/server/rooms/twilio/provider.js';
import { TwilioTokenMinter } from '../src/server/rooms/twilio/tokens.js';
import { freePort } from './helpers/app.js';
import { mediaProviderContract, type MediaProviderHarness } from './helpers/media-provider-contract.js';
import { joinTwilio, newTwilioCredentials, startTwilioFake, twilioMediaEnv } from './helpers/twilio-media.js';
import type { FakeTwilioVideo } from './helpers/twilio-video-fake.js';

interface TwilioHarness extends MediaProviderHarness {
  fake: FakeTwilioVideo;
  credentials: ReturnType<typeof newTwilioCredentials>;
  provider: TwilioProvider;
}

/** The provider as the server makes it (loader, configuration), its callback route on a bare server, the fake behind it. */
async function twilioHarness(): Promise<TwilioHarness> {
  const credentials = newTwilioCredentials();
  const fake = await startTwilioFake(credentials);
  const port = await freePort();
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ovt-twilio-'));
  const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, HOST: '127.0.0.1', PUBLIC_URL: `http://127.0.0.1:${port}`, ...twilioMediaEnv(credentials, fake) });
  const provider = createMediaProvider(config) as TwilioProvider;
  const server = Fastify();
  provider.attach?.({ registerUpgrade: () => assert.fail('Twilio needs no upgrade'), registerRoutes: (plugin) => void server.register(plugin) });
  await server.listen({ host: '127.0.0.1', port });
  return {
    fake,
    credentials,
    provider,
    connect: (token, _identity, options = {}) => joinTwilio(fake, provider, token.token, { publish: options.publish ?? ['audio', 'video'] }),
    async close() {
      await fake.settled();
      await server.close();
      await provider.close();
      await fake.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

mediaProviderContract('twilio (against a fake of its API)', twilioHarness);

describe('Twilio Video provider: what only Twilio has', { timeout: 120_000 }, () => {
  let h: TwilioHarness;
  const events: RoomEvent[] = [];
  before(async () => {
    h = await twilioHarness();
    h.provider.onEvent((e) => events.push(e));
  });
  after(async () => {
    h.fake.assertNoProblems();
    await h.close();
  });

  const spec = () => ({ roomId: randomUUID(), orgId: randomUUID(), name: 'visit-x', maxParticipants: 10, maxParticipantDurationS: 15, emptyTimeoutS: 30, unusedTimeoutS: 300 });
  const mint = (room: { roomId: string; providerRoomId: string }, identity: string) =>
    h.provider.mintToken({ roomId: room.roomId, roomName: 'visit-x', providerRoomId: room.providerRoomId, orgId: randomUUID(), identity, grants: DEFAULT_GRANTS, ttlSeconds: 600 });
  const waitFor = async (what: string, check: () => boolean, ms = 10_000) => {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  test('rooms are created as Twilio wants them: group, our id as UniqueName, limits within its bounds, the callback URL', async () => {
    const s = spec();
    const { providerRoomId } = await h.provider.createRoom(s);
    const room = h.fake.room(providerRoomId)!;
    assert.equal(room.uniqueName, s.roomId, 'no name or PHI reaches Twilio');
    assert.equal(room.options.Type, 'group');
    assert.equal(room.options.MaxParticipantDuration, '600', 'Twilio’s minimum; the server’s own timer ends a 15-second stay');
    assert.equal(room.options.EmptyRoomTimeout, '1');
    assert.equal(room.options.UnusedRoomTimeout, '5');
    assert.equal(room.options.RecordParticipantsOnConnect, 'false');
    assert.match(String(room.options.StatusCallback), /\/webhooks\/twilio\/video$/);
    const creates = h.fake.requests.filter((r) => r.method === 'POST' && r.path === '/v1/Rooms');
    assert.ok(creates.every((r) => r.authUser?.startsWith('SK')), 'REST calls authenticate with the API key');
    // Created again (a retried call): the same room, its routing kept.
    assert.equal((await h.provider.setRouting(providerRoomId, 'pat', { group: 'waiting-pat' }))?.changed, true);
    assert.equal((await h.provider.createRoom(s)).providerRoomId, providerRoomId);
    assert.equal((await h.provider.setRouting(providerRoomId, 'pat', { group: 'waiting-pat' }))?.changed, false, 'the routing set before is still there');
    await h.provider.endRoom(providerRoomId, 'test_done');
  });

  test('a room created in a call that timed out is created once, and taken up by the retry', async () => {
    const s = spec();
    h.fake.fail({ method: 'POST', path: /^\/v1\/Rooms$/, timeoutMs: 2500 });
    const { providerRoomId } = await h.provider.createRoom(s);
    assert.equal(h.fake.rooms().filter((r) => r.uniqueName === s.roomId).length, 1, 'one room, not two');
    assert.equal(h.fake.room(s.roomId)?.sid, providerRoomId);
    await h.provider.endRoom(providerRoomId, 'test_done');
  });

  test('429 and 5xx are retried with backoff; credentials refused or Twilio unreachable are MediaUnavailableError', async () => {
    h.fake.fail({ method: 'POST', path: /^\/v1\/Rooms$/, status: 429, retryAfter: 0, times: 2 });
    const before = h.fake.requests.length;
    const { providerRoomId } = await h.provider.createRoom(spec());
    assert.equal(h.fake.requests.slice(before).filter((r) => r.path === '/v1/Rooms').length, 3, 'two refusals, then the room');
    h.fake.fail({ method: 'POST', path: /^\/v1\/Rooms$/, status: 503, times: 4 });
    await assert.rejects(h.provider.createRoom(spec()), (err: unknown) => err instanceof MediaUnavailableError && err.reason === 'overloaded');
    h.fake.fail({ method: 'POST', path: /^\/v1\/Rooms$/, status: 401, code: 20003, times: 1 });
    await assert.rejects(h.provider.createRoom(spec()), (err: unknown) => err instanceof MediaUnavailableError && err.reason === 'credentials_refused');
    // Nowhere to connect to.
    const port = await freePort();
    const config = loadConfig({ NODE_ENV: 'test', DATA_DIR: os.tmpdir(), PUBLIC_URL: 'http://127.0.0.1:1', ...twilioMediaEnv(newTwilioCredentials(), { ...h.fake, url: `http://127.0.0.1:${port}` }) });
    const offline = createMediaProvider(config);
    await assert.rejects(offline.createRoom(spec()), (err: unknown) => err instanceof MediaUnavailableError && err.reason === 'unreachable');
    await offline.close();
    // A participant that is not there: false, not an error.
    assert.equal(await h.provider.removeParticipant(providerRoomId, 'nobody', 'x'), false);
    await h.provider.endRoom(providerRoomId, 'test_done');
  });

  test("a token checks the room is still Twilio's when it has not heard of it for a while: unreachable or refused is 503, ended is gone", async () => {
    const api = new TwilioVideoApi({ ...h.credentials, baseUrl: h.fake.url, timeoutMs: 1000, maxAttempts: 2, retryBaseMs: 10 });
    const checking = new TwilioProvider({ api, minter: new TwilioTokenMinter(h.credentials.accountSid, h.credentials.apiKeySid, h.credentials.apiKeySecret), publicUrl: 'http://127.0.0.1:1', authToken: h.credentials.authToken, compositions: false, confirmEveryMs: 0 });
    try {
      const s = spec();
      const room = { roomId: s.roomId, ...(await checking.createRoom(s)) };
      const mintHere = (identity: string) => checking.mintToken({ roomId: room.roomId, roomName: 'x', providerRoomId: room.providerRoomId, orgId: s.orgId, identity, grants: DEFAULT_GRANTS, ttlSeconds: 600 });
      const before = h.fake.requests.length;
      assert.ok((await mintHere('a')).token);
      assert.ok(h.fake.requests.slice(before).some((r) => r.method === 'GET' && r.path === `/v1/Rooms/${room.providerRoomId}`), 'the room was fetched');
      h.fake.fail({ method: 'GET', path: /^\/v1\/Rooms\/RM/, status: 401, code: 20003 });
      await assert.rejects(mintHere('b'), (err: unknown) => err instanceof MediaUnavailableError && err.reason === 'credentials_refused');
      h.fake.fail({ method: 'GET', path: /^\/v1\/Rooms\/RM/, status: 503, times: 2 });
      await assert.rejects(mintHere('b'), (err: unknown) => err instanceof MediaUnavailableError && err.reason === 'overloaded');
      await h.fake.endRoomAsTwilio(room.providerRoomId);
      await assert.rejects(mintHere('c'), (err: unknown) => err instanceof ProviderRoomEndedError);
    } finally {
      await checking.close();
    }
  });

  test('a newcomer to be kept apart is excluded by everyone before it connects, and its own rules are written at its connect', async () => {
    const s = spec();
    const room = { roomId: s.roomId, ...(await h.provider.createRoom(s)) };
    const host = await joinTwilio(h.fake, h.provider, (await mint(room, 'host')).token);
    await h.provider.setRouting(room.providerRoomId, 'pat', { group: 'waiting-pat', recorded: false });
    const pat = await joinTwilio(h.fake, h.provider, (await mint(room, 'pat')).token);
    try {
      assert.equal(host.client.everSubscribed('pat', 'video'), false, 'the host never received the waiting patient, not even at its connect');
      assert.deepEqual(h.fake.room(room.providerRoomId)!.subscribeRules.pat, [{ type: 'exclude', all: true }]);
      await pat.receivesNothingOf('host');
      // Admitted: rules change, no reconnect.
      await h.provider.setRouting(room.providerRoomId, 'pat', { group: 'main', recorded: true });
      await Promise.all([pat.receives('host', 'audio'), host.receives('pat', 'video')]);
      assert.deepEqual(h.fake.room(room.providerRoomId)!.subscribeRules.pat, [{ type: 'include', all: true }]);
    } finally {
      await Promise.all([host.close(), pat.close()]);
      await h.provider.endRoom(room.providerRoomId, 'test_done');
    }
  });

  test('status callbacks twice and out of order leave the right state: one join and one leave per stay', async () => {
    const s = spec();
    const room = { roomId: s.roomId, ...(await h.provider.createRoom(s)) };
    h.fake.callbacks.duplicate = true;
    h.fake.callbacks.reverse = true;
    h.fake.callbacks.delayMs = 150;
    try {
      const a = await h.fake.connect((await mint(room, 'alice')).token, { publish: ['audio'] });
      await new Promise((r) => setTimeout(r, 50));
      await a.disconnect();
      await h.fake.settled();
      await waitFor('alice left', () => events.some((e) => e.type === 'participant.left' && e.roomId === room.providerRoomId && e.identity === 'alice'));
      const mine = events.filter((e) => e.roomId === room.providerRoomId && 'identity' in e && e.identity === 'alice').map((e) => e.type);
      assert.equal(mine.filter((t) => t === 'participant.joined').length, 1, mine.join());
      assert.equal(mine.filter((t) => t === 'participant.left').length, 1, mine.join());
      assert.ok(mine.indexOf('participant.joined') < mine.indexOf('participant.left'), 'joined before left, whatever the delivery order');
      assert.ok(!mine.slice(mine.indexOf('participant.left')).includes('track.published'), 'no track after its participant left');
    } finally {
      Object.assign(h.fake.callbacks, { duplicate: false, reverse: false, delayMs: 0 });
      await h.provider.endRoom(room.providerRoomId, 'test_done');
    }
  });

  test('the same identity connecting again (a reload): in the room once, whatever order Twilio reports the two connections in', async () => {
    for (const reverse of [false, true]) {
      h.fake.callbacks.reverse = reverse;
      h.fake.callbacks.delayMs = reverse ? 100 : 0;
      try {
        const s = spec();
        const room = { roomId: s.roomId, ...(await h.provider.createRoom(s)) };
        const first = await joinTwilio(h.fake, h.provider, (await mint(room, 'bob')).token, { publish: ['audio'] });
        const second = await h.fake.connect((await mint(room, 'bob')).token, { publish: ['audio'] });
        assert.equal((await first.client.disconnected).code, 53205, 'Twilio drops the older connection');
        await h.fake.settled();
        const mine = () => events.filter((e) => e.roomId === room.providerRoomId && 'identity' in e && e.identity === 'bob').map((e) => e.type);
        const open = () => mine().filter((t) => t === 'participant.joined').length - mine().filter((t) => t === 'participant.left').length;
        assert.equal(open(), 1, `one stay open: ${mine().join()}`);
        assert.equal(mine().filter((t) => t.startsWith('participant.')).at(-1), 'participant.joined');
        assert.deepEqual((await h.provider.listParticipants(room.providerRoomId)).map((p) => p.identity), ['bob']);
        await second.disconnect();
        await h.fake.settled();
        await waitFor('bob left', () => open() === 0);
        assert.equal(mine().filter((t) => t.startsWith('participant.')).at(-1), 'participant.left');
        await h.provider.endRoom(room.providerRoomId, 'test_done');
      } finally {
        Object.assign(h.fake.callbacks, { reverse: false, delayMs: 0 });
      }
    }
  });

  test('a room Twilio ends itself is reported ended with a reason; a recorded room gets one composition, listed as a recording', async () => {
    const s = spec();
    const room = { roomId: s.roomId, ...(await h.provider.createRoom(s)) };
    const alice = await joinTwilio(h.fake, h.provider, (await mint(room, 'alice')).token);
    await h.provider.startRecording(room.providerRoomId);
    await waitFor('a recording', () => events.some((e) => e.type === 'recording.started' && e.roomId === room.providerRoomId));
    await h.fake.endRoomAsTwilio(room.providerRoomId);
    await alice.disconnected();
    await waitFor('room.ended', () => events.some((e) => e.type === 'room.ended' && e.roomId === room.providerRoomId));
    const ended = events.find((e) => e.type === 'room.ended' && e.roomId === room.providerRoomId);
    assert.equal(ended?.type === 'room.ended' && ended.reason, 'ended_by_provider');
    await waitFor('the composition', () => events.some((e) => e.type === 'recording.completed' && e.roomId === room.providerRoomId && e.recording.content === 'composition'), 15_000);
    const composition = events.find((e) => e.type === 'recording.completed' && e.recording.content === 'composition');
    assert.ok(composition && composition.type === 'recording.completed');
    assert.equal(composition.identity, '');
    assert.equal(composition.recording.mediaType, 'video/mp4');
    const made = h.fake.compositions().filter((c) => c.roomSid === room.providerRoomId);
    assert.equal(made.length, 1);
    // Its span is its media's (Duration), not the time Twilio took to make it: lengths and composed minutes read it.
    assert.equal(composition.recording.endedAt.getTime() - composition.recording.startedAt.getTime(), made[0]!.duration * 1000);
    const media = await h.provider.recordings.open(composition.recording);
    assert.ok(media);
    assert.equal(media.contentType, 'video/mp4');
    media.stream.destroy();
  });
});

export type { MediaProvider };
