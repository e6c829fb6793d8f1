import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { sweepRooms } from '../src/server/rooms/lifecycle.js';
import { createTestApp, SETUPS, type TestApp } from './helpers/app.js';
import { auditActions } from './helpers/audit.js';
import { createTestOrg, type TestOrg } from './helpers/builders.js';

const later = (seconds: number) => new Date(Date.now() + seconds * 1000);

// Every limit is the server's own (swept from the database), whatever the provider: on Twilio too, below its
// 600-second minimum.
for (const setup of SETUPS) {
  describe(`room lifecycle on ${setup.label}`, () => {
    let t: TestApp;
    let a: TestOrg;

    before(async () => {
      t = await createTestApp(setup.db, { media: setup.media });
      a = await createTestOrg(t.app);
    });
    after(() => t.close());

    const create = async (body: Record<string, unknown>) => {
      const res = await a.apiKey.post('/api/v1/rooms', body);
      assert.equal(res.statusCode, 201, res.body);
      return res.json() as { id: string; name: string };
    };
    const join = async (room: string, identity: string) => {
      const token = await a.apiKey.post('/api/v1/tokens', { room, identity });
      assert.equal(token.statusCode, 201);
      return t.media.join(token.json(), { publish: [] });
    };
    const status = async (name: string) => (await a.apiKey.get(`/api/v1/rooms/${name}`)).json() as { status: string; endReason: string | null };

    test('a room nobody joins ends after its unused-room timeout, not before', async () => {
      const room = await create({ name: 'unused', unusedRoomTimeoutSeconds: 60 });
      await sweepRooms(t.app.rooms, later(59));
      assert.equal((await status('unused')).status, 'in-progress');
      const result = await sweepRooms(t.app.rooms, later(61));
      assert.deepEqual(result.ended.filter((e) => e.roomId === room.id), [{ roomId: room.id, reason: 'unused_timeout' }]);
      const ended = await status('unused');
      assert.deepEqual([ended.status, ended.endReason], ['completed', 'unused_timeout']);
      assert.equal(t.media.isLive(room.id), false);
      assert.deepEqual(await auditActions(t, a.orgId, room.id), ['room.created', 'room.ended']);
    });

    test('a room ends after its empty-room timeout once the last participant left; a rejoin resets it', async () => {
      const room = await create({ name: 'emptied', emptyRoomTimeoutSeconds: 30, unusedRoomTimeoutSeconds: 5 });
      const p1 = await join('emptied', 'p1');
      await t.media.settle();
      await sweepRooms(t.app.rooms, later(3600));
      assert.equal((await status('emptied')).status, 'in-progress', 'someone is in: neither timeout applies');
      await p1.leave();
      await t.media.settle();
      await sweepRooms(t.app.rooms, later(25));
      assert.equal((await status('emptied')).status, 'in-progress');
      const result = await sweepRooms(t.app.rooms, later(31));
      assert.ok(result.ended.some((e) => e.roomId === room.id && e.reason === 'empty_timeout'));
      assert.equal((await status('emptied')).endReason, 'empty_timeout');
    });

    test('a participant is removed when their maximum duration is reached', async () => {
      const room = await create({ name: 'timed', maxParticipantDurationSeconds: 15 });
      const caller = await join('timed', 'caller');
      await t.media.settle();
      assert.deepEqual((await sweepRooms(t.app.rooms, later(10))).removed, []);
      const result = await sweepRooms(t.app.rooms, later(16));
      assert.deepEqual(result.removed, [{ roomId: room.id, identity: 'caller' }]);
      if (setup.media === 'builtin') assert.equal(await caller.endCode(), 4007, 'the client is told it reached the maximum duration');
      await caller.disconnected();
      if (setup.media === 'twilio') {
        // Twilio's own limit was its minimum (600 s): the server's timer removed the caller through the REST API.
        const twilioRoom = t.media.twilio!.fake.room(room.id)!;
        assert.equal(twilioRoom.options.MaxParticipantDuration, '600');
        assert.ok(t.media.twilio!.fake.requests.some((r) => r.method === 'POST' && /\/Participants\/PA/.test(r.path) && r.params.Status === 'disconnected'));
      }
      await t.media.settle();
      const [p] = (await a.apiKey.get('/api/v1/rooms/timed/participants')).json().data;
      assert.equal(p.status, 'disconnected');
    });

    test('deadlines survive a restart: a new app on the same database ends what fell due', async () => {
      const room = await create({ name: 'restart', unusedRoomTimeoutSeconds: 60 });
      const restarted = await createTestApp(setup.db, { database: t.database, media: setup.media, ...(t.media.twilio ? { twilio: t.media.twilio } : {}) });
      try {
        const result = await sweepRooms(restarted.app.rooms, later(61));
        assert.ok(result.ended.some((e) => e.roomId === room.id));
        assert.equal((await status('restart')).endReason, 'unused_timeout');
        // Sweeping again (another process, the next tick) ends nothing twice.
        assert.ok(!(await sweepRooms(t.app.rooms, later(120))).ended.some((e) => e.roomId === room.id));
        assert.deepEqual(await auditActions(t, a.orgId, room.id), ['room.created', 'room.ended']);
      } finally {
        await restarted.close();
      }
    });
  });
}
