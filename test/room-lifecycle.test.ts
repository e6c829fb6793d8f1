import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BuiltinProvider } from '../src/server/rooms/builtin/provider.js';
import { sweepRooms } from '../src/server/rooms/lifecycle.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { joinRoom } from './helpers/rtc.js';
import { auditActions } from './helpers/audit.js';
import { createTestOrg, type TestOrg } from './helpers/builders.js';
import { DB_KINDS } from './helpers/db.js';

const later = (seconds: number) => new Date(Date.now() + seconds * 1000);

for (const kind of DB_KINDS) {
  describe(`room lifecycle on ${kind}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let provider: BuiltinProvider;

    before(async () => {
      t = await createTestApp(kind);
      a = await createTestOrg(t.app);
      provider = t.app.deps.media as BuiltinProvider;
    });
    after(() => t.close());

    const create = async (body: Record<string, unknown>) => {
      const res = await a.apiKey.post('/api/v1/rooms', body);
      assert.equal(res.statusCode, 201, res.body);
      return res.json() as { id: string; name: string };
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
      assert.equal(provider.isLive(room.id), false);
      assert.deepEqual(await auditActions(t, a.orgId, room.id), ['room.created', 'room.ended']);
    });

    test('a room ends after its empty-room timeout once the last participant left; a rejoin resets it', async () => {
      const room = await create({ name: 'emptied', emptyRoomTimeoutSeconds: 30, unusedRoomTimeoutSeconds: 5 });
      const p1 = await joinRoom(t, a.apiKey, 'emptied', 'p1', { media: false });
      await t.app.roomEvents.idle();
      await sweepRooms(t.app.rooms, later(3600));
      assert.equal((await status('emptied')).status, 'in-progress', 'someone is in: neither timeout applies');
      p1.send({ type: 'leave' });
      assert.equal(await p1.closed(), 1000);
      await t.app.roomEvents.idle();
      await sweepRooms(t.app.rooms, later(25));
      assert.equal((await status('emptied')).status, 'in-progress');
      const result = await sweepRooms(t.app.rooms, later(31));
      assert.ok(result.ended.some((e) => e.roomId === room.id && e.reason === 'empty_timeout'));
      assert.equal((await status('emptied')).endReason, 'empty_timeout');
    });

    test('a participant is removed when their maximum duration is reached', async () => {
      const room = await create({ name: 'timed', maxParticipantDurationSeconds: 15 });
      const caller = await joinRoom(t, a.apiKey, 'timed', 'caller', { media: false });
      await t.app.roomEvents.idle();
      assert.deepEqual((await sweepRooms(t.app.rooms, later(10))).removed, []);
      const result = await sweepRooms(t.app.rooms, later(16));
      assert.deepEqual(result.removed, [{ roomId: room.id, identity: 'caller' }]);
      await t.app.roomEvents.idle();
      const [p] = (await a.apiKey.get('/api/v1/rooms/timed/participants')).json().data;
      assert.equal(p.status, 'disconnected');
      assert.equal(await caller.closed(), 4007, 'the client is told it reached the maximum duration');
    });

    test('deadlines survive a restart: a new app on the same database ends what fell due', async () => {
      const room = await create({ name: 'restart', unusedRoomTimeoutSeconds: 60 });
      const restarted = await createTestApp(kind, { database: t.database });
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
