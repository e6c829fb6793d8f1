import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { mediaDown, mediaUp, newMediaStats, qualityReported, staySummary } from '../src/server/rooms/builtin/media-stats.js';
import { DEFAULT_GROUP, LiveRooms, newPeer, prefOf, type LiveRoom, type Peer } from '../src/server/rooms/builtin/rooms.js';
import { Sfu } from '../src/server/rooms/builtin/sfu/index.js';
import { knownParticipants, participantInfo, setRouting, syncVisibility, visible } from '../src/server/rooms/builtin/visibility.js';
import { DEFAULT_GRANTS, type Grants } from '../src/server/rooms/provider.js';

// Peers here have no socket and no SFU session: these tests cover the rules (who sees whom, what routing state
// results, what a stay reports), not delivery; test/rtc.test.ts covers the same end to end over /rtc.

function roomWith(...people: [identity: string, grants?: Partial<Grants>][]): LiveRoom {
  const rooms = new LiveRooms();
  rooms.open({ roomId: 'r1', orgId: 'o1', name: 'consult', maxParticipants: 10 });
  const room = rooms.get('r1');
  assert.ok(room);
  for (const [identity, grants] of people) room.peers.set(identity, newPeer(room, identity, { ...DEFAULT_GRANTS, ...grants }));
  return room;
}

function peer(room: LiveRoom, identity: string): Peer {
  const p = room.peers.get(identity);
  assert.ok(p);
  return p;
}

/** An Sfu that is never started: setRouting only calls it for peers with a session, which these have not. */
function idleSfu(): Sfu {
  return new Sfu({});
}

describe('builtin visibility: who sees whom', () => {
  test('participants of the same group see each other; another group is hidden; admins see everyone', () => {
    const room = roomWith(['host', { admin: true }], ['patient'], ['other']);
    prefOf(room, 'other').group = 'waiting';
    assert.equal(visible(peer(room, 'patient'), peer(room, 'host')), true);
    assert.equal(visible(peer(room, 'patient'), peer(room, 'other')), false);
    assert.equal(visible(peer(room, 'other'), peer(room, 'patient')), false);
    assert.equal(visible(peer(room, 'host'), peer(room, 'other')), true);
    // Admin sight is the viewer's: a waiting participant does not see the admin outside its group.
    assert.equal(visible(peer(room, 'other'), peer(room, 'host')), false);
  });

  test('a fresh list names the visible others, never the peer itself, and is remembered as known', () => {
    const room = roomWith(['host', { admin: true }], ['patient'], ['waiting']);
    prefOf(room, 'waiting').group = 'lobby';
    assert.deepEqual(knownParticipants(peer(room, 'patient')).map((p) => p.identity), ['host']);
    assert.deepEqual([...peer(room, 'patient').known], ['host']);
    assert.deepEqual(knownParticipants(peer(room, 'host')).map((p) => p.identity), ['patient', 'waiting']);
    assert.deepEqual(knownParticipants(peer(room, 'waiting')), []);
  });

  test('moving a participant between groups updates what each viewer knows', () => {
    const room = roomWith(['host', { admin: true }], ['a'], ['b']);
    for (const p of room.peers.values()) knownParticipants(p);
    const changes: Peer[] = [];
    const moved = setRouting(idleSfu(), room, 'b', { group: 'breakout-1' }, (p) => changes.push(p));
    assert.deepEqual(moved, { state: { group: 'breakout-1', audioMuted: false, videoMuted: false, recorded: true }, changed: true });
    assert.deepEqual([...peer(room, 'a').known].sort(), ['host']);
    assert.deepEqual([...peer(room, 'b').known], []);
    assert.deepEqual([...peer(room, 'host').known].sort(), ['a', 'b']);
    // Back to the main group: they see each other again.
    setRouting(idleSfu(), room, 'b', { group: DEFAULT_GROUP }, (p) => changes.push(p));
    assert.deepEqual([...peer(room, 'a').known].sort(), ['b', 'host']);
    assert.deepEqual([...peer(room, 'b').known].sort(), ['a', 'host']);
    assert.deepEqual(changes, []);
  });

  test('syncVisibility adds and drops known participants by the current groups', () => {
    const room = roomWith(['a'], ['b'], ['c']);
    syncVisibility(room);
    assert.deepEqual([...peer(room, 'a').known].sort(), ['b', 'c']);
    prefOf(room, 'c').group = 'side';
    syncVisibility(room);
    assert.deepEqual([...peer(room, 'a').known], ['b']);
    assert.deepEqual([...peer(room, 'c').known], []);
  });
});

describe('builtin visibility: routing preferences', () => {
  test('works before the participant connects, and reports no change when nothing changed', () => {
    const room = roomWith();
    const sfu = idleSfu();
    const first = setRouting(sfu, room, 'later', { audioMuted: true }, () => assert.fail('not connected'));
    assert.deepEqual(first, { state: { group: DEFAULT_GROUP, audioMuted: true, videoMuted: false, recorded: true }, changed: true });
    assert.equal(setRouting(sfu, room, 'later', { audioMuted: true }, () => undefined).changed, false);
    assert.equal(setRouting(sfu, room, 'later', {}, () => undefined).changed, false);
    const unmuted = setRouting(sfu, room, 'later', { audioMuted: false, videoMuted: true }, () => undefined);
    assert.deepEqual(unmuted.state, { group: DEFAULT_GROUP, audioMuted: false, videoMuted: true, recorded: true });
  });

  test('a change of `recorded` for a present participant is handed to recording control, once', () => {
    const room = roomWith(['patient']);
    const sfu = idleSfu();
    const changes: string[] = [];
    const follow = (p: Peer) => changes.push(`${p.identity}:${prefOf(room, p.identity).recorded}`);
    assert.equal(setRouting(sfu, room, 'patient', { recorded: false }, follow).changed, true);
    assert.equal(setRouting(sfu, room, 'patient', { recorded: false }, follow).changed, false);
    assert.equal(setRouting(sfu, room, 'patient', { recorded: true }, follow).changed, true);
    setRouting(sfu, room, 'absent', { recorded: false }, follow);
    assert.deepEqual(changes, ['patient:false', 'patient:true']);
  });

  test('others see host mutes, and every track as host-muted without the publish grant', () => {
    const room = roomWith(['viewer'], ['speaker', { publish: false }]);
    const speaker = peer(room, 'speaker');
    speaker.tracks.set('t1', { source: 'microphone', kind: 'audio' });
    speaker.localMuted.add('microphone');
    assert.deepEqual(participantInfo(speaker).tracks, [{ source: 'microphone', kind: 'audio', muted: true, hostMuted: true }]);
    const room2 = roomWith(['viewer'], ['speaker']);
    const s2 = peer(room2, 'speaker');
    s2.tracks.set('t1', { source: 'camera', kind: 'video' });
    assert.equal(participantInfo(s2).tracks[0]?.hostMuted, false);
    setRouting(idleSfu(), room2, 'speaker', { videoMuted: true }, () => undefined);
    assert.equal(participantInfo(s2).tracks[0]?.hostMuted, true);
  });
});

describe('builtin media stats over a stay', () => {
  test('time-weighted quality over the time media was up, the worst level, and whole seconds of media', (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
    const stats = newMediaStats();
    qualityReported(stats, 5); // before media: the level counts, its time does not
    t.mock.timers.tick(10_000);
    mediaUp(stats);
    const startedAt = Date.now();
    t.mock.timers.tick(30_000);
    qualityReported(stats, 2);
    t.mock.timers.tick(10_000);
    mediaDown(stats);
    t.mock.timers.tick(60_000); // media down: neither media time nor quality time
    mediaUp(stats);
    t.mock.timers.tick(20_400);
    mediaDown(stats);
    const summary = staySummary(stats);
    assert.equal(summary.media.startedAt?.getTime(), startedAt);
    assert.equal(summary.media.seconds, 60);
    // 30 s at 5, 10 s at 2, 20.4 s at 2.
    assert.ok(summary.quality);
    assert.ok(Math.abs(summary.quality.average - (30_000 * 5 + 30_400 * 2) / 60_400) < 1e-9);
    assert.equal(summary.quality.min, 2);
  });

  test('no quality without media, the last level when no time at a level was counted', (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 5_000 });
    const never = newMediaStats();
    qualityReported(never, 4);
    assert.deepEqual(staySummary(never), { media: { startedAt: null, seconds: 0 } });
    const brief = newMediaStats();
    mediaUp(brief);
    qualityReported(brief, 3);
    mediaDown(brief);
    assert.deepEqual(staySummary(brief).quality, { average: 3, min: 3 });
    const silent = newMediaStats();
    mediaUp(silent);
    mediaDown(silent);
    assert.equal(staySummary(silent).quality, undefined);
  });
});
