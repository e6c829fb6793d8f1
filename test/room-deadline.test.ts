// The rooms layer's deadline (rooms.ends_at; src/server/rooms/deadlines.ts and setRoomDeadline in service.ts): a
// room ends at the moment a feature set (a check-in call's limit), within a few hundred milliseconds, whatever the
// provider; the participants hear it on the channel (`deadline`) and in the SDK's Room; a moved or cleared deadline
// is followed; a restart re-arms it (or ends a room whose deadline passed meanwhile); the sweep ends a room whose
// deadline another process set.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { and, eq } from 'drizzle-orm';
import { systemCtx } from '../src/server/context.js';
import { auditEvents, rooms } from '../src/server/db/schema.js';
import { setRoomDeadline } from '../src/server/rooms/service.js';
import type { Database } from '../src/server/db/index.js';
import { createTestApp, freePort, SETUPS, type TestApp, type TestAppOptions } from './helpers/app.js';
import { auditActions } from './helpers/audit.js';
import { createTestOrg, type TestOrg } from './helpers/builders.js';
import { ChannelClient } from './helpers/channel.js';
import { createTestDatabase } from './helpers/db.js';
import { sleep, waitFor } from './helpers/media.js';
import { record, sdk } from './helpers/sdk-node.js';
import { newTwilioCredentials, startTwilioFake, type TwilioCredentials } from './helpers/twilio-media.js';
import type { FakeTwilioVideo } from './helpers/twilio-video-fake.js';
import { standIn } from './helpers/twilio-video-standin.js';

/** How late (ms after the deadline) a room may end in these tests: the target is 250 ms at p99 with 50 rooms. */
const LATE_MS = 300;

interface TokenAnswer {
  token: string;
  identity: string;
  provider: string;
  url: string;
  channel: { url: string; token: string };
}

for (const setup of SETUPS) {
  describe(`room deadlines on ${setup.label}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let base: string;
    // The suite's database and Twilio fake are its own, so that the last test can restart the app on them.
    let database: Database;
    let twilio: { fake: FakeTwilioVideo; credentials: TwilioCredentials } | undefined;
    let options: TestAppOptions;

    before(async () => {
      database = await createTestDatabase(setup.db);
      if (setup.media === 'twilio') {
        const credentials = newTwilioCredentials();
        twilio = { credentials, fake: await startTwilioFake(credentials) };
      }
      options = { database, media: setup.media, ...(twilio ? { twilio, port: await freePort() } : {}) };
      t = await createTestApp(setup.db, options);
      a = await createTestOrg(t.app);
      base = await t.listen();
    });
    after(async () => {
      await t.close();
      twilio?.fake.assertNoProblems();
      await twilio?.fake.close();
      await database.close();
    });

    const create = async (name: string, org = a) => {
      const res = await org.apiKey.post('/api/v1/rooms', { name });
      assert.equal(res.statusCode, 201, res.body);
      return res.json() as { id: string; name: string };
    };
    const token = async (room: string, identity: string) => {
      const res = await a.apiKey.post('/api/v1/tokens', { room, identity });
      assert.equal(res.statusCode, 201, res.body);
      return res.json() as TokenAnswer;
    };
    const roomRow = async (id: string) => (await database.db.select().from(rooms).where(eq(rooms.id, id)))[0]!;
    const deadlineAudits = async (roomId: string) =>
      (await database.db.select().from(auditEvents).where(and(eq(auditEvents.targetId, roomId), eq(auditEvents.action, 'room.deadline_set')))).map((e) => e.details);

    test('a room with a 2 s deadline ends at it: both participants disconnected, the row and the audit say why, the channel told them', async () => {
      const room = await create('limit');
      const answers = [await token('limit', 'caller'), await token('limit', 'callee')];
      const channels = await Promise.all(answers.map((x) => ChannelClient.connect(base, x.channel, x.identity)));
      const people = await Promise.all(answers.map((x) => t.media.join(x)));
      await t.media.settle();
      const endsAt = new Date(Date.now() + 2000);
      await setRoomDeadline(t.app.rooms, systemCtx(a.orgId), room.id, endsAt, 'time_limit');
      for (const channel of channels) assert.deepEqual(await channel.next('deadline'), { type: 'deadline', endsAt: endsAt.toISOString(), reason: 'time_limit' });

      const gone = await Promise.all(people.map(async (p) => (await p.disconnected(), Date.now())));
      for (const at of gone) {
        assert.ok(at >= endsAt.getTime() - 5, `disconnected ${endsAt.getTime() - at} ms before the deadline`);
        assert.ok(at - endsAt.getTime() <= LATE_MS, `disconnected ${at - endsAt.getTime()} ms after the deadline`);
      }
      if (setup.media === 'builtin') for (const p of people) assert.equal(await p.endCode(), 4003, 'room ended');
      if (t.media.twilio) {
        // Twilio's side: the fake completed the room (Status=completed through the REST API) at the limit.
        const ended = t.media.twilio.fake.room(room.id)!;
        assert.equal(ended.status, 'completed');
        const twilioLate = ended.endedAt!.getTime() - endsAt.getTime();
        assert.ok(twilioLate >= 0 && twilioLate <= LATE_MS, `Twilio completed the room ${twilioLate} ms after the deadline`);
        assert.ok(t.media.twilio.fake.requests.some((r) => r.method === 'POST' && r.path.endsWith(`/Rooms/${t.media.twilio!.fake.room(room.id)!.sid}`) && r.params.Status === 'completed'));
      }
      for (const channel of channels) assert.equal(await channel.closed(), 4003, 'the channel closes: room ended');
      await waitForStatus(t, room.id, 'completed', 2000);
      await t.media.settle();
      const row = await roomRow(room.id);
      assert.equal(row.status, 'completed');
      assert.equal(row.endReason, 'time_limit');
      const late = row.endedAt!.getTime() - endsAt.getTime();
      assert.ok(late >= 0 && late <= LATE_MS, `ended_at is ${late} ms after the deadline`);
      const stays = (await a.apiKey.get('/api/v1/rooms/limit/participants')).json().data as { status: string; leftAt: string }[];
      assert.deepEqual(stays.map((s) => s.status), ['disconnected', 'disconnected']);
      const actions = await auditActions(t, a.orgId, room.id);
      assert.ok(actions.indexOf('room.deadline_set') < actions.indexOf('room.ended') && actions.includes('room.deadline_set'), actions.join());
      assert.deepEqual(await deadlineAudits(room.id), [{ endsAt: endsAt.toISOString(), reason: 'time_limit' }]);
      assert.equal(t.app.rooms.deadlines.size(), 0, 'no timer left');
      for (const p of people) await p.close();
    });

    test('a deadline moves and clears: the channel hears each change, a late arrival hears it at ready, the room ends at the last one', async () => {
      const room = await create('moving');
      const first = await ChannelClient.connect(base, (await token('moving', 'caller')).channel, 'caller');
      const ctx = systemCtx(a.orgId);
      const far = new Date(Date.now() + 60_000);
      await setRoomDeadline(t.app.rooms, ctx, room.id, far, 'time_limit');
      await first.next('deadline', (m) => m.endsAt === far.toISOString());
      // Setting it again as it is changes nothing (no audit, no message).
      await setRoomDeadline(t.app.rooms, ctx, room.id, far, 'time_limit');
      const late = await ChannelClient.connect(base, (await token('moving', 'callee')).channel, 'callee');
      await late.next('deadline');
      assert.deepEqual(late.messages.slice(0, 2).map((m) => m.type), ['ready', 'deadline']);
      assert.deepEqual(late.messages[1], { type: 'deadline', endsAt: far.toISOString(), reason: 'time_limit' });

      const soon = new Date(Date.now() + 1200);
      await setRoomDeadline(t.app.rooms, ctx, room.id, soon, 'disconnected');
      await setRoomDeadline(t.app.rooms, ctx, room.id, null, 'cleared');
      for (const channel of [first, late]) {
        await channel.next('deadline', (m) => m.endsAt === soon.toISOString() && m.reason === 'disconnected');
        await channel.next('deadline', (m) => m.endsAt === null && m.reason === null);
      }
      await sleep(1800);
      assert.equal((await roomRow(room.id)).status, 'in-progress', 'a cleared deadline ends nothing (neither the timer nor the sweep)');
      assert.equal(t.app.rooms.deadlines.armedAt(room.id), null);

      const again = new Date(Date.now() + 700);
      await setRoomDeadline(t.app.rooms, ctx, room.id, again, 'time_limit');
      await first.closed();
      await waitForStatus(t, room.id, 'completed', 2000);
      const row = await roomRow(room.id);
      assert.deepEqual([row.status, row.endReason], ['completed', 'time_limit']);
      assert.ok(row.endedAt!.getTime() - again.getTime() <= LATE_MS);
      assert.deepEqual(
        (await deadlineAudits(room.id)).map((d) => [d!.endsAt, d!.reason]),
        [
          [far.toISOString(), 'time_limit'],
          [soon.toISOString(), 'disconnected'],
          [null, 'cleared'],
          [again.toISOString(), 'time_limit'],
        ],
      );
      // An ended room takes no deadline; another organisation's room is not found.
      await assert.rejects(setRoomDeadline(t.app.rooms, ctx, room.id, new Date(Date.now() + 5000), 'time_limit'), { code: 'invalid_state' });
      const b = await createTestOrg(t.app);
      await assert.rejects(setRoomDeadline(t.app.rooms, ctx, (await create('theirs', b)).id, new Date(), 'time_limit'), { code: 'not_found' });
      // A deadline already past ends the room at once.
      const past = await create('past');
      await setRoomDeadline(t.app.rooms, ctx, past.id, new Date(Date.now() - 1000), 'time_limit');
      await waitForStatus(t, past.id, 'completed', 1000);
      for (const channel of [first, late]) await channel.close();
    });

    test('the sweep ends a room whose deadline another process set (the row alone, no timer here)', async () => {
      const room = await create('elsewhere');
      const endsAt = new Date(Date.now() + 300);
      await t.database.db.update(rooms).set({ endsAt, deadlineReason: 'time_limit' }).where(eq(rooms.id, room.id));
      assert.equal(t.app.rooms.deadlines.armedAt(room.id), null);
      await waitForStatus(t, room.id, 'completed', 2500);
      const row = await roomRow(room.id);
      assert.equal(row.endReason, 'time_limit');
      assert.ok(row.endedAt!.getTime() - endsAt.getTime() <= 1300, 'within a sweep interval');
    });

    // Last: it restarts the suite's app (same database, same Twilio).
    test('a restart re-arms a deadline (it fires on time) and ends at once a room whose deadline passed while stopped', async () => {
      const future = await create('future');
      const lapsed = await create('lapsed');
      const futureAt = new Date(Date.now() + 4000);
      const lapsedAt = new Date(Date.now() + 300);
      await setRoomDeadline(t.app.rooms, systemCtx(a.orgId), future.id, futureAt, 'time_limit');
      await setRoomDeadline(t.app.rooms, systemCtx(a.orgId), lapsed.id, lapsedAt, 'disconnected');
      await t.close();
      await sleep(Math.max(0, lapsedAt.getTime() - Date.now()) + 200);
      assert.equal((await database.db.select().from(rooms).where(eq(rooms.id, lapsed.id)))[0]!.status, 'in-progress', 'nothing ran meanwhile');

      t = await createTestApp(setup.db, options);
      const lapsedRow = await roomRow(lapsed.id);
      assert.deepEqual([lapsedRow.status, lapsedRow.endReason], ['completed', 'disconnected'], 'ended at restore');
      const [ended] = await database.db.select().from(auditEvents).where(and(eq(auditEvents.targetId, lapsed.id), eq(auditEvents.action, 'room.ended')));
      assert.deepEqual(ended!.details, { reason: 'disconnected', late: true });
      if (twilio) assert.equal(twilio.fake.room(lapsed.id)?.status, 'completed');

      if (Date.now() < futureAt.getTime()) assert.equal(t.app.rooms.deadlines.armedAt(future.id)?.getTime(), futureAt.getTime(), 're-armed');
      await waitForStatus(t, future.id, 'completed', 6000);
      const futureRow = await roomRow(future.id);
      assert.equal(futureRow.endReason, 'time_limit');
      const late = futureRow.endedAt!.getTime() - futureAt.getTime();
      assert.ok(late >= 0 && late <= LATE_MS, `ended ${late} ms after the deadline`);
    });
  });
}

async function waitForStatus(t: TestApp, roomId: string, status: string, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const [row] = await t.database.db.select({ status: rooms.status }).from(rooms).where(eq(rooms.id, roomId));
    if (row?.status === status) return;
    if (Date.now() > until) throw new Error(`room ${roomId} is ${row?.status}, not ${status}, after ${ms} ms`);
    await sleep(20);
  }
}

// The SDK's Room hears the deadline on the participant channel of a real app (Twilio against its fake: the Room's
// Twilio adapter runs in node over the twilio-video stand-in, the channel is the app's own).
describe('SDK: the Room surfaces the room deadline', () => {
  let t: TestApp;
  before(async () => {
    standIn.reset();
    t = await createTestApp('pglite', { media: 'twilio' });
  });
  after(async () => {
    standIn.reset();
    await t.close();
  });

  test('deadline and deadlineChanged follow the server: set, moved, cleared, and given at connect', async () => {
    const org = await createTestOrg(t.app);
    const api = org.apiKey;
    const room = (await api.post('/api/v1/rooms', { name: 'sdk-deadline' })).json() as { id: string };
    const ctx = systemCtx(org.orgId);
    const endsAt = new Date(Date.now() + 60_000);
    await setRoomDeadline(t.app.rooms, ctx, room.id, endsAt, 'time_limit');

    const answer = (await api.post('/api/v1/tokens', { room: 'sdk-deadline', identity: 'caller' })).json() as TokenAnswer;
    const r = new sdk.Room({ audio: false, video: false }) as InstanceType<typeof sdk.Room> & { deadline: Date | null; deadlineReason: string | null };
    const seen = record(r);
    r.on('deadlineChanged', ((d: Date | null, reason: string | null) => seen.push(`deadline:${d?.toISOString() ?? null}:${reason}`)) as never);
    await r.connect(answer);
    await waitFor('the deadline at connect', () => r.deadline !== null, 3000);
    assert.equal(r.deadline!.getTime(), endsAt.getTime());
    assert.equal(r.deadlineReason, 'time_limit');

    const moved = new Date(Date.now() + 30_000);
    await setRoomDeadline(t.app.rooms, ctx, room.id, moved, 'disconnected');
    await waitFor('the moved deadline', () => r.deadline?.getTime() === moved.getTime() || undefined, 3000);
    await setRoomDeadline(t.app.rooms, ctx, room.id, null, 'cleared');
    await waitFor('the cleared deadline', () => r.deadline === null || undefined, 3000);
    assert.deepEqual(
      seen.filter((s) => s.startsWith('deadline:')),
      [`deadline:${endsAt.toISOString()}:time_limit`, `deadline:${moved.toISOString()}:disconnected`, 'deadline:null:null'],
    );
    await r.disconnect();
  });
});
