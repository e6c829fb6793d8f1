// The rooms layer's media policy (rooms.media_policy; createRoom's `media`, setRoomMediaPolicy in service.ts): how a
// group room shares media out. Stored with the room, handed to the provider (with the room's spec, and through
// setMediaPolicy when it changes), given back to the provider after a restart, sent on the participant channel
// (`media`, when it changes and after `ready`) and carried by the token answer with what to publish (config.groups).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import { systemCtx } from '../src/server/context.js';
import { rooms } from '../src/server/db/schema.js';
import type { MediaPolicy, MediaProvider, ProviderRoomSpec } from '../src/server/rooms/provider.js';
import { createRoom, endRoomById, issueToken, setRoomMediaPolicy } from '../src/server/rooms/service.js';
import type { Database } from '../src/server/db/index.js';
import { createTestApp, freePort, SETUPS, type TestApp, type TestAppOptions } from './helpers/app.js';
import { createTestOrg, type TestOrg } from './helpers/builders.js';
import { ChannelClient } from './helpers/channel.js';
import { createTestDatabase } from './helpers/db.js';
import { sleep } from './helpers/media.js';
import { newTwilioCredentials, startTwilioFake, type TwilioCredentials } from './helpers/twilio-media.js';
import type { FakeTwilioVideo } from './helpers/twilio-video-fake.js';

interface TokenAnswer {
  token: string;
  identity: string;
  channel: { url: string; token: string };
  media?: { simulcast: boolean; mode: string; spotlight: string | null; lastN: number; audioBitrateBps: number; video: { width: number; height: number; frameRate: number } };
}

/** What the rooms layer told the provider about media: room specs (create, restore) and policy changes. */
interface Told {
  created: ProviderRoomSpec[];
  restored: ProviderRoomSpec[];
  policies: { providerRoomId: string; policy: MediaPolicy | null }[];
}

/**
 * The real provider, with the rooms layer's media calls written down. setMediaPolicy is offered whether or not the
 * provider has one (then passed on): the seam says the rooms layer calls it when a provider offers it.
 */
function tapped(inner: MediaProvider, told: Told): MediaProvider {
  return new Proxy(inner, {
    get(target, property) {
      if (property === 'createRoom') return (spec: ProviderRoomSpec) => (told.created.push(spec), target.createRoom(spec));
      if (property === 'restoreRoom') return (spec: ProviderRoomSpec & { providerRoomId: string }) => (told.restored.push(spec), target.restoreRoom(spec));
      if (property === 'setMediaPolicy') {
        return async (providerRoomId: string, policy: MediaPolicy | null) => {
          told.policies.push({ providerRoomId, policy });
          await target.setMediaPolicy?.(providerRoomId, policy);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

const GROUP: MediaPolicy = { simulcast: true, mode: 'collaboration', spotlight: null, lastN: 9 };

for (const setup of SETUPS) {
  describe(`room media policy on ${setup.label}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;
    let base: string;
    let database: Database;
    let twilio: { fake: FakeTwilioVideo; credentials: TwilioCredentials } | undefined;
    let options: TestAppOptions;
    const told: Told = { created: [], restored: [], policies: [] };

    before(async () => {
      database = await createTestDatabase(setup.db);
      if (setup.media === 'twilio') {
        const credentials = newTwilioCredentials();
        twilio = { credentials, fake: await startTwilioFake(credentials) };
      }
      options = {
        database,
        media: setup.media,
        env: { GROUP_AUDIO_BITRATE_BPS: '20000', GROUP_VIDEO_WIDTH: '960', GROUP_VIDEO_HEIGHT: '540', GROUP_VIDEO_FRAME_RATE: '20' },
        wrap: (provider) => tapped(provider, told),
        ...(twilio ? { twilio, port: await freePort() } : {}),
      };
      t = await createTestApp(setup.db, options);
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
      base = await t.listen();
    });
    after(async () => {
      await t.close();
      twilio?.fake.assertNoProblems();
      await twilio?.fake.close();
      await database.close();
    });

    const token = async (room: string, identity: string, org = a) => {
      const res = await org.apiKey.post('/api/v1/tokens', { room, identity });
      assert.equal(res.statusCode, 201, res.body);
      return res.json() as TokenAnswer;
    };
    const stored = async (id: string) => (await database.db.select({ media: rooms.mediaPolicy }).from(rooms).where(eq(rooms.id, id)))[0]!.media;

    test('a room made with a policy stores it, hands it to the provider, and every token answer carries it with what to publish', async () => {
      const room = await createRoom(t.app.rooms, systemCtx(a.orgId), { name: 'group-1' }, { kind: 'visit', id: randomUUID() }, { media: GROUP });
      assert.deepEqual(await stored(room.id), GROUP);
      assert.deepEqual(told.created.find((s) => s.roomId === room.id)?.media, GROUP, 'the provider got it with the room');
      const answer = await token('group-1', 'pat-1');
      assert.deepEqual(answer.media, { ...GROUP, audioBitrateBps: 20000, video: { width: 960, height: 540, frameRate: 20 } });

      // A room without a policy: none stored, none given, nothing in its answers or after `ready`.
      const plain = await createRoom(t.app.rooms, systemCtx(a.orgId), { name: 'one-to-one' });
      assert.equal(await stored(plain.id), null);
      assert.equal(told.created.find((s) => s.roomId === plain.id)?.media, null);
      const plainAnswer = await token('one-to-one', 'pat-2');
      assert.equal('media' in plainAnswer, false);
      const channel = await ChannelClient.connect(base, plainAnswer.channel, 'pat-2');
      await sleep(300);
      assert.equal(channel.messages.some((m) => m.type === 'media'), false);
      channel.ws.close();
    });

    test('a change reaches the provider, the row, the connected clients (once) and later answers; a client connecting later hears it after ready', async () => {
      const room = await createRoom(t.app.rooms, systemCtx(a.orgId), { name: 'group-2' }, undefined, { media: GROUP });
      const first = await token('group-2', 'pat-a');
      const early = await ChannelClient.connect(base, first.channel, 'pat-a');
      // Right after ready, the policy the room has.
      assert.deepEqual((await early.next('media')).policy, GROUP);
      const providerRoomId = (await database.db.select({ id: rooms.providerRoomId }).from(rooms).where(eq(rooms.id, room.id)))[0]!.id!;

      const spotlit: MediaPolicy = { simulcast: true, mode: 'presentation', spotlight: 'pat-a', lastN: 4 };
      assert.deepEqual(await setRoomMediaPolicy(t.app.rooms, systemCtx(a.orgId), room.id, spotlit), spotlit);
      assert.deepEqual(told.policies.filter((p) => p.providerRoomId === providerRoomId).map((p) => p.policy), [spotlit]);
      assert.deepEqual(await stored(room.id), spotlit);
      assert.deepEqual((await early.next('media', (m) => m.policy.mode === 'presentation')).policy, spotlit);

      // The same policy again changes nothing: no provider call, no message.
      await setRoomMediaPolicy(t.app.rooms, systemCtx(a.orgId), room.id, { ...spotlit });
      assert.equal(told.policies.filter((p) => p.providerRoomId === providerRoomId).length, 1);

      const later = await token('group-2', 'pat-b');
      assert.deepEqual(later.media && { simulcast: later.media.simulcast, mode: later.media.mode, spotlight: later.media.spotlight, lastN: later.media.lastN }, spotlit);
      const late = await ChannelClient.connect(base, later.channel, 'pat-b');
      const heard = await late.next('media');
      assert.deepEqual(heard.policy, spotlit);
      assert.equal(late.messages.indexOf(heard), 1, 'right after ready');

      // A message the early client gets after the repeat shows the repeat sent nothing.
      const grid: MediaPolicy = { ...spotlit, mode: 'grid', spotlight: null };
      await setRoomMediaPolicy(t.app.rooms, systemCtx(a.orgId), room.id, grid);
      await early.next('media', (m) => m.policy.mode === 'grid');
      assert.deepEqual(early.messages.filter((m) => m.type === 'media').map((m) => (m as { policy: MediaPolicy }).policy.mode), ['collaboration', 'presentation', 'grid']);
      early.ws.close();
      late.ws.close();
    });

    test('another organisation cannot set it (404); an ended room answers 409 invalid_state', async () => {
      const room = await createRoom(t.app.rooms, systemCtx(a.orgId), { name: 'group-3' }, undefined, { media: GROUP });
      await assert.rejects(setRoomMediaPolicy(t.app.rooms, systemCtx(b.orgId), room.id, { ...GROUP, lastN: 3 }), (err: { code?: string }) => err.code === 'not_found');
      assert.deepEqual(await stored(room.id), GROUP);
      await endRoomById(t.app.rooms, systemCtx(a.orgId), room.id, 'ended_by_api');
      await assert.rejects(setRoomMediaPolicy(t.app.rooms, systemCtx(a.orgId), room.id, { ...GROUP, lastN: 3 }), (err: { code?: string }) => err.code === 'invalid_state');
    });

    // Last: it restarts the suite's app (same database, same Twilio).
    test('after a restart the provider gets the stored policy back with the room, and new clients hear it', async () => {
      const room = await createRoom(t.app.rooms, systemCtx(a.orgId), { name: 'group-4' }, undefined, { media: GROUP });
      const changed: MediaPolicy = { simulcast: true, mode: 'grid', spotlight: null, lastN: 6 };
      await setRoomMediaPolicy(t.app.rooms, systemCtx(a.orgId), room.id, changed);
      await t.close();
      told.restored.length = 0;
      t = await createTestApp(setup.db, options);
      base = await t.listen();
      assert.deepEqual(told.restored.find((s) => s.roomId === room.id)?.media, changed);
      // The org's API client was bound to the app that stopped: the rooms layer's own call, as a feature makes it.
      const answer = await issueToken(t.app.rooms, systemCtx(a.orgId), { room: 'group-4', identity: 'pat-c' });
      assert.equal(answer.media?.lastN, 6);
      const channel = await ChannelClient.connect(base, answer.channel, 'pat-c');
      assert.deepEqual((await channel.next('media')).policy, changed);
      channel.ws.close();
    });
  });
}
