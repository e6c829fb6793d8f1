// Selection at group size, the pure parts (src/server/rooms/builtin/sfu/allocation.ts, downlink.ts): every rule of
// the allocation (hidden, last-N by spotlight / pins / speaker recency / join order, layers from tile size and mode,
// the downlink budget) and the downlink estimator (REMB, loss steps, cap and floor).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ASSUMED_BPS,
  allocate,
  layerForWidth,
  nearestLayer,
  viewKey,
  type AllocationInput,
  type AllocationPolicy,
  type LayerOffer,
  type RemoteVideo,
  type StreamAllocation,
  type TileView,
} from '../src/server/rooms/builtin/sfu/allocation.js';
import { DownlinkEstimator, FLOOR_BPS, LOSS_HIGH, REMB_FRESH_MS, STABLE_MS, STEP_DOWN, STEP_UP } from '../src/server/rooms/builtin/sfu/downlink.js';

const SIMULCAST: LayerOffer[] = [
  { layer: 'low', bitrateBps: 150_000 },
  { layer: 'medium', bitrateBps: 450_000 },
  { layer: 'high', bitrateBps: 1_200_000 },
];
const policy = (p: Partial<AllocationPolicy> = {}): AllocationPolicy => ({ mode: 'collaboration', spotlight: null, lastN: 9, ...p });
const camera = (identity: string, joinedAt: number, extra: Partial<RemoteVideo> = {}): RemoteVideo => ({ identity, source: 'camera', joinedAt, layers: SIMULCAST, ...extra });
const tile = (width: number, extra: Partial<TileView> = {}): TileView => ({ visible: true, width, height: Math.round((width * 9) / 16), pinned: false, ...extra });
const views = (entries: [string, 'camera' | 'screen', TileView][]) => new Map(entries.map(([id, source, t]) => [viewKey(id, source), t]));
const run = (input: Partial<AllocationInput> & Pick<AllocationInput, 'videos'>): Map<string, StreamAllocation> => {
  const result = allocate({ policy: policy(), view: null, speakers: [], budgetBps: 100_000_000, ...input });
  assert.equal(result.length, input.videos.length, 'one decision per video');
  return new Map(result.map((r) => [`${r.identity}/${r.source}`, r]));
};
const state = (r: StreamAllocation | undefined) => (r ? (r.layer ?? `off:${r.reason}`) : 'missing');

describe('allocation', () => {
  test('layer from the tile width: ≤ 320 low, ≤ 640 medium, else high', () => {
    assert.deepEqual([0, 1, 320, 321, 640, 641, 1920].map(layerForWidth), ['low', 'low', 'low', 'medium', 'medium', 'high', 'high']);
  });

  test('the nearest layer a publisher sends: the highest at or below, else the lowest above', () => {
    const lowHigh: LayerOffer[] = [SIMULCAST[0]!, SIMULCAST[2]!];
    assert.equal(nearestLayer(lowHigh, 'medium').layer, 'low');
    assert.equal(nearestLayer([SIMULCAST[2]!], 'low').layer, 'high');
    assert.equal(nearestLayer(SIMULCAST, 'medium').layer, 'medium');
    assert.throws(() => nearestLayer([], 'low'), RangeError);
  });

  test('no view reported yet: every video visible and large (high)', () => {
    const r = run({ videos: [camera('a', 1), camera('b', 2)] });
    assert.equal(state(r.get('a/camera')), 'high');
    assert.equal(state(r.get('b/camera')), 'high');
  });

  test('hidden: a video not in the view, or listed not visible, is off with reason hidden; small tile low, medium, large high', () => {
    const r = run({
      videos: [camera('a', 1), camera('b', 2), camera('c', 3), camera('d', 4), camera('e', 5)],
      view: views([
        ['a', 'camera', tile(0, { visible: false })],
        ['c', 'camera', tile(320)],
        ['d', 'camera', tile(600)],
        ['e', 'camera', tile(1280)],
      ]),
    });
    assert.deepEqual(
      ['a', 'b', 'c', 'd', 'e'].map((id) => state(r.get(`${id}/camera`))),
      ['off:hidden', 'off:hidden', 'low', 'medium', 'high'],
    );
    assert.equal(r.get('c/camera')!.bitrateBps, 150_000);
    assert.equal(r.get('a/camera')!.bitrateBps, 0);
  });

  test('a publisher without simulcast (one layer) is forwarded at that layer whatever the tile size; unknown layers are the assumed ladder', () => {
    const single = camera('a', 1, { layers: [{ layer: 'high', bitrateBps: 800_000 }] });
    const unknown = camera('b', 2, { layers: [] });
    const r = run({ videos: [single, unknown], view: views([['a', 'camera', tile(200)], ['b', 'camera', tile(200)]]) });
    assert.equal(state(r.get('a/camera')), 'high');
    assert.equal(state(r.get('b/camera')), 'low', 'layers not known yet: the tile’s layer, the SFU sends the nearest it has');
    assert.equal(r.get('b/camera')!.bitrateBps, ASSUMED_BPS.low, 'unmeasured: the assumed rate');
    const big = run({ videos: [unknown], view: views([['b', 'camera', tile(1280)]]) });
    assert.equal(big.get('b/camera')!.bitrateBps, ASSUMED_BPS.high);
  });

  test('last-N: speaker recency first, then join order; the rest off with reason last_n', () => {
    const videos = [camera('a', 1), camera('b', 2), camera('c', 3), camera('d', 4)];
    let r = run({ videos, policy: policy({ lastN: 2 }) });
    assert.deepEqual(['a', 'b', 'c', 'd'].map((id) => state(r.get(`${id}/camera`))), ['high', 'high', 'off:last_n', 'off:last_n'], 'nobody spoke: join order');
    r = run({ videos, policy: policy({ lastN: 2 }), speakers: ['d', 'c'] });
    assert.deepEqual(['a', 'b', 'c', 'd'].map((id) => state(r.get(`${id}/camera`))), ['off:last_n', 'off:last_n', 'high', 'high'], 'the two most recent speakers');
    r = run({ videos, policy: policy({ lastN: 2 }), speakers: ['c'] });
    assert.deepEqual(['a', 'b', 'c', 'd'].map((id) => state(r.get(`${id}/camera`))), ['high', 'off:last_n', 'high', 'off:last_n'], 'speaker, then the earliest to join');
  });

  test('last-N: the spotlight comes first, then pins, then speakers', () => {
    const videos = [camera('a', 1), camera('b', 2), camera('c', 3), camera('d', 4)];
    const view = views([
      ['a', 'camera', tile(640)],
      ['b', 'camera', tile(640)],
      ['c', 'camera', tile(640, { pinned: true })],
      ['d', 'camera', tile(640)],
    ]);
    const r = run({ videos, view, policy: policy({ lastN: 2, spotlight: 'd' }), speakers: ['a', 'b'] });
    assert.deepEqual(['a', 'b', 'c', 'd'].map((id) => state(r.get(`${id}/camera`))), ['off:last_n', 'off:last_n', 'medium', 'high']);
    const one = run({ videos, view, policy: policy({ lastN: 1, spotlight: 'd' }), speakers: ['a'] });
    assert.equal(state(one.get('d/camera')), 'high', 'the spotlight, whoever speaks, on the high layer');
    assert.equal(state(one.get('c/camera')), 'off:last_n');
  });

  test('last-N counts only visible cameras; hidden ones do not take a place', () => {
    const videos = [camera('a', 1), camera('b', 2), camera('c', 3)];
    const view = views([
      ['a', 'camera', tile(0, { visible: false })],
      ['b', 'camera', tile(400)],
      ['c', 'camera', tile(400)],
    ]);
    const r = run({ videos, view, policy: policy({ lastN: 2 }), speakers: ['a'] });
    assert.deepEqual(['a', 'b', 'c'].map((id) => state(r.get(`${id}/camera`))), ['off:hidden', 'medium', 'medium']);
  });

  test('cameras turned off by their publisher go after those that are on', () => {
    const r = run({ videos: [camera('a', 1, { muted: true }), camera('b', 2)], policy: policy({ lastN: 1 }), speakers: ['a'] });
    assert.equal(state(r.get('b/camera')), 'high');
    assert.equal(state(r.get('a/camera')), 'off:last_n');
  });

  test('screen shares come on top of last-N', () => {
    const screen: RemoteVideo = { identity: 'a', source: 'screen', joinedAt: 1, layers: [{ layer: 'high', bitrateBps: 900_000 }] };
    const r = run({ videos: [screen, camera('a', 1), camera('b', 2)], policy: policy({ lastN: 1 }) });
    assert.equal(state(r.get('a/screen')), 'high');
    assert.equal(state(r.get('a/camera')), 'high');
    assert.equal(state(r.get('b/camera')), 'off:last_n');
  });

  test('lastN 0: no camera at all, a screen share still goes', () => {
    const screen: RemoteVideo = { identity: 'a', source: 'screen', joinedAt: 1, layers: [] };
    const r = run({ videos: [screen, camera('b', 2)], policy: policy({ lastN: 0 }) });
    assert.equal(state(r.get('a/screen')), 'high');
    assert.equal(state(r.get('b/camera')), 'off:last_n');
  });

  test('presentation mode: the screen on the high layer, cameras low whatever their tile', () => {
    const screen: RemoteVideo = { identity: 'a', source: 'screen', joinedAt: 1, layers: SIMULCAST };
    const view = views([
      ['a', 'screen', tile(300)],
      ['b', 'camera', tile(1280)],
      ['c', 'camera', tile(1280)],
    ]);
    const r = run({ videos: [screen, camera('b', 2), camera('c', 3)], view, policy: policy({ mode: 'presentation', spotlight: 'c' }) });
    assert.deepEqual([state(r.get('a/screen')), state(r.get('b/camera')), state(r.get('c/camera'))], ['high', 'low', 'low']);
  });

  test('grid mode caps cameras at medium, the spotlight included', () => {
    const view = views([
      ['a', 'camera', tile(1280)],
      ['b', 'camera', tile(200)],
    ]);
    const r = run({ videos: [camera('a', 1), camera('b', 2)], view, policy: policy({ mode: 'grid', spotlight: 'a' }) });
    assert.deepEqual([state(r.get('a/camera')), state(r.get('b/camera'))], ['medium', 'low']);
  });

  test('the spotlight gets the high layer even in a small tile (collaboration)', () => {
    const r = run({ videos: [camera('a', 1)], view: views([['a', 'camera', tile(200)]]), policy: policy({ spotlight: 'a' }) });
    assert.equal(state(r.get('a/camera')), 'high');
  });

  test('bandwidth: the least important steps down a layer first, then the next; then the least important goes off, down to the most important (kept low)', () => {
    const videos = [camera('a', 1), camera('b', 2), camera('c', 3)];
    // Everyone high: 3.6 Mbps. A budget of 3.0 Mbps: c (least important) high → medium (2.85 Mbps).
    let r = run({ videos, budgetBps: 3_000_000 });
    assert.deepEqual(['a', 'b', 'c'].map((id) => state(r.get(`${id}/camera`))), ['high', 'high', 'medium']);
    // 2.0 Mbps: c down to low (2.55), then b to medium (1.8).
    r = run({ videos, budgetBps: 2_000_000 });
    assert.deepEqual(['a', 'b', 'c'].map((id) => state(r.get(`${id}/camera`))), ['high', 'medium', 'low']);
    // 400 kbps: everyone low (450 kbps) is too much: c, the least important, goes off (300 kbps).
    r = run({ videos, budgetBps: 400_000 });
    assert.deepEqual(['a', 'b', 'c'].map((id) => state(r.get(`${id}/camera`))), ['low', 'low', 'off:bandwidth']);
    // Nothing fits: the most important stays on at its lowest layer (the floor), the others off for bandwidth.
    r = run({ videos, budgetBps: 100_000 });
    assert.deepEqual(['a', 'b', 'c'].map((id) => state(r.get(`${id}/camera`))), ['low', 'off:bandwidth', 'off:bandwidth']);
    r = run({ videos, budgetBps: 0 });
    assert.deepEqual(['a', 'b', 'c'].map((id) => state(r.get(`${id}/camera`))), ['low', 'off:bandwidth', 'off:bandwidth']);
    const total = [...run({ videos, budgetBps: 2_000_000 }).values()].reduce((s, x) => s + x.bitrateBps, 0);
    assert.ok(total <= 2_000_000, `the total (${total}) fits the budget`);
  });

  test('bandwidth follows importance: the recent speaker keeps its layer, the spotlight longest', () => {
    const videos = [camera('a', 1), camera('b', 2), camera('c', 3)];
    let r = run({ videos, budgetBps: 2_000_000, speakers: ['c'] });
    assert.deepEqual(['a', 'b', 'c'].map((id) => state(r.get(`${id}/camera`))), ['medium', 'low', 'high']);
    // Every stream steps down before any goes off; the spotlight steps down last and stays on longest.
    r = run({ videos, budgetBps: 1_300_000, speakers: ['c'], policy: policy({ spotlight: 'b' }) });
    assert.deepEqual(['a', 'b', 'c'].map((id) => state(r.get(`${id}/camera`))), ['low', 'medium', 'low']);
    r = run({ videos, budgetBps: 250_000, speakers: ['c'], policy: policy({ spotlight: 'b' }) });
    assert.deepEqual(['a', 'b', 'c'].map((id) => state(r.get(`${id}/camera`))), ['off:bandwidth', 'low', 'off:bandwidth']);
  });

  test('a gallery of 24 in 2.5 Mbps: every tile forwarded small, the total within the budget', () => {
    const videos = Array.from({ length: 24 }, (_, i) => camera(`p${String(i).padStart(2, '0')}`, i));
    const view = new Map(videos.map((v) => [viewKey(v.identity, 'camera'), tile(256)]));
    const result = allocate({ policy: policy({ lastN: 25 }), view, videos, speakers: [], budgetBps: 2_500_000 });
    const active = result.filter((r) => r.layer !== null);
    assert.ok(active.every((r) => r.layer === 'low'));
    assert.equal(active.length, 16, '16 low layers of 150 kbps fit 2.5 Mbps');
    assert.ok(result.filter((r) => r.layer === null).every((r) => r.reason === 'bandwidth'));
  });
});

describe('downlink estimate', () => {
  test('starts at the cap; a fresh REMB under the rate sent lowers it (floored); one above it only raises it (capped); a stale one is ignored', () => {
    const e = new DownlinkEstimator(2_500_000);
    assert.equal(e.bps, 2_500_000);
    assert.equal(e.source, 'cap');
    assert.equal(e.update({ nowMs: 10_000, remb: { bps: 1_000_000, atMs: 9_500 }, sentBps: 2_000_000 }), 1_000_000, 'congested: under the rate sent');
    assert.equal(e.source, 'remb');
    assert.equal(e.update({ nowMs: 11_000, remb: { bps: 9_000_000, atMs: 11_000 }, sentBps: 1_000_000 }), 2_500_000, 'above the rate sent: raises, capped');
    assert.equal(e.update({ nowMs: 12_000, remb: { bps: 10_000, atMs: 12_000 }, sentBps: 2_000_000 }), FLOOR_BPS, 'floored');
    assert.equal(e.update({ nowMs: 12_000 + REMB_FRESH_MS + 1, remb: { bps: 2_000_000, atMs: 12_000 }, sentBps: 200_000 }), FLOOR_BPS, 'stale REMB, no loss figure: holds');
  });

  test("a receiver-side REMB that follows what it is sent (Chromium's, with only the low layer) is no cap", () => {
    const e = new DownlinkEstimator(2_500_000);
    // The viewer receives the low layer (~200 kbit/s) and reports a little above it, second after second.
    for (let t = 1; t <= 10; t++) e.update({ nowMs: t * 1000, remb: { bps: 216_000, atMs: t * 1000 }, sentBps: 200_000, lossFraction: 0 });
    assert.equal(e.bps, 2_500_000, 'still the cap: a larger layer may be sent when the tile grows');
    // Without a rate sent to read it against (the first report), a REMB is not used.
    const f = new DownlinkEstimator(2_500_000);
    assert.equal(f.update({ nowMs: 1000, remb: { bps: 300_000, atMs: 1000 } }), 2_500_000);
  });

  test('a REMB that lags a rise in the rate sent (larger tiles, a resumed video) is no congestion; one under both intervals is', () => {
    const e = new DownlinkEstimator(2_500_000);
    // 400 kbit/s sent, Chromium's REMB a little above; then the SFU sends 1.6 Mbit/s and the next REMB still follows 400.
    e.update({ nowMs: 1000, remb: { bps: 460_000, atMs: 1000 }, sentBps: 400_000, lossFraction: 0 });
    assert.equal(e.update({ nowMs: 2000, remb: { bps: 480_000, atMs: 2000 }, sentBps: 1_600_000, lossFraction: 0 }), 2_500_000, 'lagging, not congested');
    // Sent 1.6 Mbit/s twice and the REMB says 1 Mbit/s: congestion.
    assert.equal(e.update({ nowMs: 3000, remb: { bps: 1_000_000, atMs: 3000 }, sentBps: 1_600_000, lossFraction: 0 }), 1_000_000);
    assert.equal(e.source, 'remb');
  });

  test('without REMB: loss above 10 % steps down, between 2 and 10 % holds, below 2 % for a while steps up to the cap', () => {
    const e = new DownlinkEstimator(2_000_000);
    let now = 0;
    const tick = (lossFraction: number | undefined) => e.update({ nowMs: (now += 1000), lossFraction });
    assert.equal(tick(LOSS_HIGH + 0.05), 2_000_000 * STEP_DOWN);
    assert.equal(e.source, 'loss');
    assert.equal(tick(0.3), Math.round(2_000_000 * STEP_DOWN * STEP_DOWN));
    const low = e.bps;
    assert.equal(tick(0.05), low, 'in between: holds');
    assert.equal(tick(undefined), low, 'nothing measured: holds');
    // Calm from now: a step up after STABLE_MS, not before.
    const calmStart = now + 1000;
    while (now + 1000 - calmStart < STABLE_MS) assert.equal(tick(0), low);
    assert.equal(tick(0), Math.round(low * STEP_UP));
    for (let i = 0; i < 100; i++) tick(0);
    assert.equal(e.bps, 2_000_000, 'never above the cap');
    for (let i = 0; i < 100; i++) tick(0.5);
    assert.equal(e.bps, FLOOR_BPS, 'never below the floor');
  });
});
