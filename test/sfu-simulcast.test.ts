// Simulcast in the embedded SFU: pure layer helpers, then headless werift publishers sending real VP8 in three rid
// layers (test/helpers/simulcast.ts: 320x180, 640x360 and 1280x720 encodes of the test capture) and subscribers
// that record what they get. The layer a subscriber receives is proven by the picture size in the VP8 keyframes
// it decodes the header of, and by its bit rate.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
  LayerSwitch,
  StreamRewriter,
  Vp8PictureRewriter,
  layerNamesForRids,
  parseVp8Descriptor,
  vp8KeyframeSize,
} from '../src/server/rooms/builtin/sfu/rewrite.js';
import type { Sfu } from '../src/server/rooms/builtin/sfu/sfu.js';
import { SfuError } from '../src/server/rooms/builtin/sfu/types.js';
import { newSfu, sleep, waitFor } from './helpers/media.js';
import { decodeErrors, ensureCapture, ffprobe } from './helpers/replay.js';
import {
  ReplayPublisher,
  SIMULCAST_LAYERS,
  SimulcastPublisher,
  SubscriberPeer,
  ensureSimulcastCapture,
  joinSfu,
  layerClassifier,
  type ReceivedStream,
  type SimulcastCapture,
  type SimulcastPublisherOptions,
} from './helpers/simulcast.js';

/** A VP8 payload: extended descriptor (15-bit picture id, TL0PICIDX, TID), then a keyframe header of w x h. */
function vp8Keyframe(pictureId: number, tl0: number, width: number, height: number): Buffer {
  const size = Buffer.alloc(4);
  size.writeUInt16LE(width, 0);
  size.writeUInt16LE(height, 2);
  return Buffer.concat([Buffer.from([0x90, 0xe0, 0x80 | (pictureId >> 8), pictureId & 0xff, tl0, 0x20, 0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a]), size]);
}

function vp8Delta(pictureId: number, tl0: number): Buffer {
  return Buffer.from([0x90, 0xe0, 0x80 | (pictureId >> 8), pictureId & 0xff, tl0, 0x20, 0x11, 0x00, 0x00]);
}

function pictureIdOf(payload: Buffer): number {
  const d = parseVp8Descriptor(payload)!;
  return payload.readUInt16BE(d.pictureIdOffset) & 0x7fff;
}

describe('SFU simulcast (pure)', () => {
  test('layer names for rids: q/h/f by name, others by order', () => {
    const table: [string[], string[]][] = [
      [['q', 'h', 'f'], ['low', 'medium', 'high']],
      [['f', 'q', 'h'], ['high', 'low', 'medium']],
      [['q', 'f'], ['low', 'high']],
      [['h'], ['medium']],
      [['a', 'b', 'c'], ['low', 'medium', 'high']],
      [['lo', 'hi'], ['low', 'high']],
      [['only'], ['high']],
      [['1', '2', '3', '4'], ['low', 'medium', 'medium', 'high']],
      [['q', 'q'], ['low', 'high']],
      [[], []],
    ];
    for (const [rids, names] of table) assert.deepEqual(layerNamesForRids(rids), names, rids.join(','));
  });

  test('VP8 descriptor and keyframe size', () => {
    assert.deepEqual(parseVp8Descriptor(vp8Keyframe(300, 7, 320, 180)), { pictureIdOffset: 2, longPictureId: true, tl0Offset: 4, size: 6 });
    assert.deepEqual(parseVp8Descriptor(Buffer.from([0x10, 0x10])), { pictureIdOffset: -1, longPictureId: false, tl0Offset: -1, size: 1 });
    assert.deepEqual(parseVp8Descriptor(Buffer.from([0x90, 0x80, 0x05, 0x11])), { pictureIdOffset: 2, longPictureId: false, tl0Offset: -1, size: 3 });
    assert.equal(parseVp8Descriptor(Buffer.from([0x90])), undefined);
    assert.equal(parseVp8Descriptor(Buffer.alloc(0)), undefined);
    assert.deepEqual(vp8KeyframeSize(vp8Keyframe(1, 0, 1280, 720)), { width: 1280, height: 720 });
    // Scaling bits on top of the 14-bit sizes are not part of the size.
    assert.deepEqual(vp8KeyframeSize(vp8Keyframe(1, 0, 0xc000 | 640, 0x4000 | 360)), { width: 640, height: 360 });
    assert.equal(vp8KeyframeSize(vp8Delta(1, 0)), undefined);
    assert.equal(vp8KeyframeSize(vp8Keyframe(1, 0, 320, 180).subarray(0, 14)), undefined); // truncated
    const wrongStartCode = vp8Keyframe(1, 0, 320, 180);
    wrongStartCode[9] = 0x9e;
    assert.equal(vp8KeyframeSize(wrongStartCode), undefined);
  });

  test('Vp8PictureRewriter: untouched until a switch, then continuous picture ids and TL0PICIDX (with wrap)', () => {
    const r = new Vp8PictureRewriter();
    const a = vp8Delta(0x7ffe, 250);
    assert.equal(r.rewrite(a), a, 'no copy while nothing was switched');
    r.rewrite(vp8Delta(0x7fff, 251));
    r.rebaseNext();
    const switched = r.rewrite(vp8Keyframe(17, 3, 320, 180));
    assert.equal(pictureIdOf(switched), 0, 'picture id continues after 0x7fff (wraps to 0)');
    assert.equal(switched[4], 252, 'TL0PICIDX continues');
    assert.deepEqual(vp8KeyframeSize(switched), { width: 320, height: 180 }, 'the rest of the payload is untouched');
    const next = r.rewrite(vp8Delta(18, 3));
    assert.equal(pictureIdOf(next), 1);
    assert.equal(next[4], 252);
    assert.equal(r.rewrite(vp8Delta(19, 4))[4], 253);
    // Short (7-bit) picture ids wrap at 128.
    const s = new Vp8PictureRewriter();
    s.rewrite(Buffer.from([0x90, 0x80, 0x7f, 0x11]));
    s.rebaseNext();
    assert.equal(s.rewrite(Buffer.from([0x90, 0x80, 0x10, 0x10]))[2], 0);
  });

  test('LayerSwitch: the old layer flows until the target keyframe; then only the target, rebased', () => {
    const rewriter = new StreamRewriter(90_000);
    const sw = new LayerSwitch(rewriter, new Vp8PictureRewriter());
    assert.equal(sw.admit(1, vp8Keyframe(1, 0, 320, 180)), false, 'nothing wanted yet');
    assert.equal(sw.want(1), true, 'a keyframe is needed');
    assert.equal(sw.admit(1, vp8Delta(2, 0)), false, 'waits for a keyframe');
    assert.equal(sw.admit(2, vp8Keyframe(2, 0, 640, 360)), false, 'another layer');
    assert.equal(sw.admit(1, vp8Keyframe(3, 0, 320, 180)), true);
    assert.equal(sw.current, 1);
    assert.deepEqual(rewriter.rewrite(100, 9000, 0), { seq: 100, ts: 9000 });
    assert.equal(sw.want(1), false, 'already flowing');
    assert.equal(sw.want(2), true);
    assert.equal(sw.admit(1, vp8Delta(4, 0)), true, 'the old layer keeps flowing');
    assert.deepEqual(rewriter.rewrite(101, 12000, 40), { seq: 101, ts: 12000 });
    assert.equal(sw.admit(2, vp8Delta(9, 0)), false, 'the target waits for its keyframe');
    assert.equal(sw.admit(2, vp8Keyframe(10, 0, 640, 360)), true);
    assert.equal(sw.current, 2);
    assert.equal(sw.target, undefined);
    // Rebased: the sequence continues at 102 whatever the layer's numbers; the timestamp advances by 50 ms.
    assert.deepEqual(rewriter.rewrite(5000, 777, 90), { seq: 102, ts: 12000 + 4500 });
    assert.equal(sw.admit(1, vp8Delta(5, 0)), false, 'the old layer is dropped from the switch on');
    assert.equal(sw.want(undefined), false, 'nothing available: keep what flows');
    assert.equal(sw.current, 2);
    sw.reset();
    assert.equal(sw.admit(2, vp8Delta(11, 0)), false, 'reset: nothing flows');
  });
});

// ---------------------------------------------------------------------------------------------------------
// Headless simulcast publishers over loopback
// ---------------------------------------------------------------------------------------------------------

let capturePromise: Promise<SimulcastCapture> | undefined;
const capture = () => (capturePromise ??= ensureSimulcastCapture());

async function publisher(sfu: Sfu, id: string, options: SimulcastPublisherOptions = {}): Promise<SimulcastPublisher> {
  const pub = new SimulcastPublisher(await capture(), options);
  await joinSfu(sfu, pub, 'room', id, 'g', { receives: false });
  return pub;
}

/** The picture size of the keyframes `stream` received after index `from` (all of them must agree). */
function keyframeSizes(stream: ReceivedStream, from = 0): string[] {
  return [...new Set(stream.keyframes.slice(from).map((k) => `${k.width}x${k.height}`))];
}

/** Waits until `stream` receives a keyframe of `width`x`height`; returns its index in stream.keyframes. */
async function keyframeOf(stream: () => ReceivedStream | undefined, width: number, height: number, ms = 8000, after = 0): Promise<number> {
  return waitFor(`a ${width}x${height} keyframe`, () => {
    const s = stream();
    const index = s?.keyframes.findLastIndex((k) => k.width === width && k.height === height) ?? -1;
    return index >= after ? index : undefined;
  }, ms);
}

async function closeAll(sfu: Sfu, peers: { close(): Promise<void> }[]): Promise<void> {
  await sfu.close();
  await Promise.all(peers.map((p) => p.close()));
}

describe('SFU simulcast over loopback', () => {
  test('the headless simulcast publisher: three rid layers the SFU learns (SSRC, size, bit rate); speak() leads the dominant speaker', async () => {
    const sfu = newSfu();
    const speakers: (string | null)[] = [];
    sfu.on('dominantSpeaker', (_room, _group, id) => speakers.push(id));
    const alice = await publisher(sfu, 'alice');
    const bob = await publisher(sfu, 'bob');
    try {
      const layers = await waitFor('three layers with sizes and rates', () => {
        const list = sfu.videoLayers('alice', 'camera');
        return list.length === 3 && list.every((l) => l.width !== undefined && l.bitrateBps > 0) ? list : undefined;
      });
      const sent = alice.counters();
      assert.deepEqual(
        layers.map((l) => [l.layer, l.rid, l.ssrc, `${l.width}x${l.height}`]),
        SIMULCAST_LAYERS.map((s) => [s.layer, s.rid, sent[s.rid]!.ssrc, `${s.width}x${s.height}`]),
        'each rid is known with the SSRC the publisher sends it on, and its keyframe size',
      );
      // Measured rates are in the order of the encodes' targets (150 / 400 / 1000 kbps).
      const [low, medium, high] = layers.map((l) => l.bitrateBps);
      assert.ok(low! > 50_000 && low! < medium! && medium! < high! && high! < 3_000_000, `rates ${low} < ${medium} < ${high}`);
      assert.equal(alice.error, undefined);
      assert.equal(sfu.videoLayers('alice', 'screen').length, 0);
      // The publisher stops sending the rid extension once the SFU's receiver report names the SSRC (as libwebrtc
      // does); the SFU keeps the layers by SSRC.

      await waitFor('receiver reports for every layer', () => Object.values(alice.counters()).every((c) => c.acknowledged));
      const before = alice.counters().q!.packets;
      await waitFor('packets after the rid extension stopped', () => alice.counters().q!.packets > before + 20);
      assert.equal(sfu.videoLayers('alice', 'camera').length, 3);
      // A simulcast publisher is allowed the default 1.5 Mbps for each of its three layers.

      await waitFor('a REMB of 3 x 1.5 Mbps', () => alice.rembBps === 4_500_000);

      alice.speak();
      await waitFor('alice is the dominant speaker', () => speakers.at(-1) === 'alice');
      alice.quiet();
      bob.speak();
      await waitFor('bob is the dominant speaker', () => speakers.at(-1) === 'bob');
    } finally {
      await closeAll(sfu, [alice, bob]);
    }
  });

  test("a subscriber set to 'low' gets 320x180, the default the 1280x720 layer, 'off' no video while audio flows", async () => {
    const sfu = newSfu();
    const classify = layerClassifier(await capture());
    const alice = await publisher(sfu, 'alice');
    const low = await SubscriberPeer.join(sfu, 'room', 'low', 'g', { classify });
    const high = await SubscriberPeer.join(sfu, 'room', 'high', 'g', { classify });
    const off = await SubscriberPeer.join(sfu, 'room', 'off', 'g', { classify });
    try {
      sfu.setVideoLayer('low', 'alice', 'camera', 'low');
      sfu.setVideoLayer('off', 'alice', 'camera', 'off');
      const lowFrom = await keyframeOf(() => low.stream('alice', 'video'), 320, 180);
      await keyframeOf(() => high.stream('alice', 'video'), 1280, 720);
      assert.deepEqual(sfu.videoLayerState('low', 'alice', 'camera'), { choice: 'low', current: 'low' });
      assert.deepEqual(sfu.videoLayerState('high', 'alice', 'camera'), { choice: 'high', current: 'high' });
      assert.deepEqual(sfu.videoLayerState('off', 'alice', 'camera'), { choice: 'off', current: null });
      const lowLog = () => low.stream('alice', 'video')!.log;
      const lowStart = lowLog().findLastIndex((p) => p.keyframe && p.layer === 'q');
      const lowSwitchSeq = lowLog()[lowStart]!.seq;
      const highStart = high.stream('alice', 'video')!.log.length;

      const offVideo = off.stream('alice', 'video')?.packets ?? 0;
      const offAudio = off.stream('alice', 'audio')?.packets ?? 0;
      const [lowRate, highRate] = await Promise.all([low.rate('alice', 'video', 2000), high.rate('alice', 'video', 2000)]);
      console.log(`sfu simulcast: received low ${Math.round(lowRate.bps / 1000)} kbps, default ${Math.round(highRate.bps / 1000)} kbps over 2 s`);
      // Every packet since the switch is from the low layer's encode (rid q), every packet of the default
      // subscriber from the top layer's (f): the payloads say so, whatever the machine's load does to rates.
      const lowAfter = lowLog().filter((p) => ((p.seq - lowSwitchSeq) & 0xffff) < 0x8000);
      assert.ok(lowAfter.length > 20, `low received ${lowAfter.length} packets`);
      assert.deepEqual([...new Set(lowAfter.map((p) => p.layer))], ['q']);
      const highAfter = high.stream('alice', 'video')!.log.slice(highStart);
      assert.ok(highAfter.length > 20, `default received ${highAfter.length} packets`);
      assert.deepEqual([...new Set(highAfter.map((p) => p.layer))], ['f']);
      assert.deepEqual(keyframeSizes(low.stream('alice', 'video')!, lowFrom), ['320x180']);
      assert.deepEqual(keyframeSizes(high.stream('alice', 'video')!), ['1280x720']);
      // Audio keeps coming (a loaded machine may hold it back a while), and still no video.
      await waitFor("'off' to receive audio", () => (off.stream('alice', 'audio')?.packets ?? 0) > offAudio + 20);
      assert.equal(off.stream('alice', 'video')?.packets ?? 0, offVideo, "'off' received video");
      // 'off' keeps the slot: the route still names alice's camera.
      assert.ok(off.session.routes().some((r) => r.publisherId === 'alice' && r.kind === 'video'));
      for (const s of [low, high]) {
        const stream = s.stream('alice', 'video')!;
        assert.equal(stream.tsBackwards, 0, `${s.id}: timestamps never go back`);
      }
      // Turning video back on needs no renegotiation: a keyframe of the chosen layer arrives on the same m-line.
      // (A few packets of the default layer may have reached 'off' between its join and the 'off' choice: the
      // check starts at the first packet after the switch back on.)
      const offStream = () => off.stream('alice', 'video');
      const offFrom = offStream()?.log.length ?? 0;
      sfu.setVideoLayer('off', 'alice', 'camera', 'medium');
      await keyframeOf(offStream, 640, 360);
      const firstOn = offStream()!.log[offFrom]!;
      assert.equal(firstOn.keyframe, true, 'the first video packet after turning video on is a keyframe');
      assert.equal(firstOn.layer, 'h');

      assert.throws(() => sfu.setVideoLayer('low', 'nobody', 'camera', 'low'), (e: unknown) => e instanceof SfuError && e.code === 'participant_not_found');
      assert.throws(() => sfu.setVideoLayer('low', 'alice', 'microphone' as 'camera', 'low'), RangeError);
      assert.throws(() => sfu.setVideoLayer('low', 'alice', 'camera', 'huge' as 'low'), RangeError);
    } finally {
      await closeAll(sfu, [alice, low, high, off]);
    }
  });

  test('a layer switch waits for the target keyframe while the old layer flows; seq, timestamps and picture ids continue', async () => {
    const sfu = newSfu();
    const classify = layerClassifier(await capture());
    // Keyframes only from the encodes (every 2 s): the switch visibly waits for one.
    const alice = await publisher(sfu, 'alice', { answerPli: false });
    const bob = await SubscriberPeer.join(sfu, 'room', 'bob', 'g', { classify });
    try {
      const video = () => bob.stream('alice', 'video');
      await keyframeOf(video, 1280, 720);
      const switches: { from: string; to: string; waitedMs: number; oldPackets: number }[] = [];
      for (const [choice, rid, size] of [
        ['low', 'q', [320, 180]],
        ['high', 'f', [1280, 720]],
        ['medium', 'h', [640, 360]],
      ] as const) {
        await waitFor('some packets of the current layer', () => (video()!.log.at(-1)?.layer !== rid ? true : undefined));
        const from = video()!.log.at(-1)!.layer!;
        const start = video()!.log.length;
        const keyframesBefore = video()!.keyframes.length;
        const askedAt = performance.now();
        sfu.setVideoLayer('bob', 'alice', 'camera', choice);
        assert.equal(sfu.videoLayerState('bob', 'alice', 'camera').current, from === 'q' ? 'low' : from === 'h' ? 'medium' : 'high', 'the old layer flows until the keyframe');
        await keyframeOf(video, size[0], size[1], 6000, keyframesBefore);
        const log = video()!.log.slice(start);
        const at = log.findIndex((p) => p.layer === rid);
        assert.ok(at > 0, `old-layer packets before the switch (${at})`);
        const before = log.slice(0, at);
        const first = log[at]!;
        assert.deepEqual([...new Set(before.map((p) => p.layer))], [from], 'only the old layer before the switch');
        assert.ok(first.keyframe, 'the switch starts on a keyframe');
        const last = before.reduce((a, p) => (((p.seq - a.seq) & 0xffff) < 0x8000 ? p : a));
        assert.equal(first.seq, (last.seq + 1) & 0xffff, 'sequence numbers continue without a gap');
        const tsStep = (first.ts - last.ts) >>> 0;
        assert.ok(tsStep > 0 && tsStep < 90_000, `the timestamp moves forward (${tsStep})`);
        const lastPicture = [...before].reverse().find((p) => p.pictureId !== undefined)!.pictureId!;
        assert.equal(first.pictureId, (lastPicture + 1) & 0x7fff, 'picture ids continue');
        assert.deepEqual([...new Set(log.slice(at).map((p) => p.layer))], [rid], 'only the new layer after it');
        switches.push({ from, to: rid, waitedMs: Math.round(first.at - askedAt), oldPackets: at });
      }
      console.log(`sfu simulcast: switches without PLI answers (keyframes every 2 s): ${JSON.stringify(switches)}`);
      assert.equal(video()!.tsBackwards, 0);
    } finally {
      await closeAll(sfu, [alice, bob]);
    }
  });

  test('a layer the publisher stops sending: subscribers fall back to the nearest, and return when it comes back', async () => {
    const sfu = newSfu();
    const classify = layerClassifier(await capture());
    const announced: string[][] = [];
    sfu.on('videoLayers', (publisherId, source, layers) => {
      if (publisherId === 'alice' && source === 'camera') announced.push(layers.map((l) => l.layer));
    });
    const alice = await publisher(sfu, 'alice');
    const top = await SubscriberPeer.join(sfu, 'room', 'top', 'g', { classify });
    const bottom = await SubscriberPeer.join(sfu, 'room', 'bottom', 'g', { classify });
    try {
      sfu.setVideoLayer('bottom', 'alice', 'camera', 'low');
      await keyframeOf(() => top.stream('alice', 'video'), 1280, 720);
      await keyframeOf(() => bottom.stream('alice', 'video'), 320, 180);
      await waitFor('three layers announced', () => announced.at(-1)?.length === 3);
      alice.setLayerEnabled('f', false);
      alice.setLayerEnabled('q', false);
      await waitFor('only medium is announced', () => announced.at(-1)?.join() === 'medium' || undefined);
      assert.deepEqual(sfu.videoLayers('alice', 'camera').map((l) => l.rid), ['h']);
      await keyframeOf(() => top.stream('alice', 'video'), 640, 360);
      await keyframeOf(() => bottom.stream('alice', 'video'), 640, 360);
      assert.deepEqual(sfu.videoLayerState('top', 'alice', 'camera'), { choice: 'high', current: 'medium' });
      assert.deepEqual(sfu.videoLayerState('bottom', 'alice', 'camera'), { choice: 'low', current: 'medium' });
      const [topBefore, bottomBefore] = [top, bottom].map((s) => s.stream('alice', 'video')!.keyframes.length);
      alice.setLayerEnabled('f', true);
      alice.setLayerEnabled('q', true);
      await keyframeOf(() => top.stream('alice', 'video'), 1280, 720, 8000, topBefore);
      await keyframeOf(() => bottom.stream('alice', 'video'), 320, 180, 8000, bottomBefore);
      await waitFor('each back on its layer', () => top.stream('alice', 'video')!.log.at(-1)!.layer === 'f' && bottom.stream('alice', 'video')!.log.at(-1)!.layer === 'q');
      assert.deepEqual(sfu.videoLayerState('top', 'alice', 'camera'), { choice: 'high', current: 'high' });
      assert.equal(announced.at(-1)?.length, 3);
    } finally {
      await closeAll(sfu, [alice, top, bottom]);
    }
  });

  test('upstream NACKs are per layer: a gap in one layer is asked for on that layer only', async () => {
    const sfu = newSfu();
    const alice = await publisher(sfu, 'alice', { dropEvery: { h: 25 } });
    const bob = await SubscriberPeer.join(sfu, 'room', 'bob', 'g');
    try {
      sfu.setVideoLayer('bob', 'alice', 'camera', 'medium');
      await keyframeOf(() => bob.stream('alice', 'video'), 640, 360);
      const h = alice.layer('h');
      await waitFor('10 of the dropped packets asked for', () => [...h.droppedSeqs].filter((seq) => h.nackRequests.includes(seq)).length >= 10, 10_000);
      // Each NACK names sequence numbers of the layer it is addressed to (werift's single generator, fed three
      // sequence spaces, would ask any SSRC for numbers of the others).
      for (const rid of ['q', 'h', 'f']) {
        const layer = alice.layer(rid);
        const span = ((layer.lastSeq! - layer.firstSeq!) & 0xffff) + 1;
        const outside = layer.nackRequests.filter((seq) => ((seq - layer.firstSeq!) & 0xffff) >= span);
        assert.deepEqual(outside, [], `NACKs to ${rid} outside its sequence numbers`);
      }
      const dropped = [...h.droppedSeqs].filter((seq) => ((h.lastSeq! - seq) & 0xffff) > 100);
      const recovered = dropped.filter((seq) => h.nackRequests.includes(seq));
      assert.ok(recovered.length >= dropped.length * 0.9, `${recovered.length} of ${dropped.length} gaps asked for`);
    } finally {
      await closeAll(sfu, [alice, bob]);
    }
  });

  test('recording a simulcast publisher records its highest layer', async () => {
    const sfu = newSfu();
    const alice = await publisher(sfu, 'alice');
    const directory = await mkdtemp(path.join(os.tmpdir(), 'ov-simulcast-rec-'));
    try {
      await waitFor('three layers', () => sfu.videoLayers('alice', 'camera').length === 3);
      const info = await sfu.startRecording('alice', { directory });
      await sleep(3000);
      const [segment] = await sfu.stopRecording('alice');
      assert.equal(segment?.file, info.file);
      const probe = await ffprobe(info.file);
      const video = probe.streams.find((st) => st.codec_type === 'video');
      assert.deepEqual([video?.codec_name, video?.width, video?.height], ['vp8', 1280, 720]);
      assert.ok(probe.streams.some((st) => st.codec_type === 'audio' && st.codec_name === 'opus'));
      assert.ok(Number(probe.format.duration) > 1.5, `duration ${probe.format.duration}`);
      assert.equal(await decodeErrors(info.file), '', 'decodes without errors');
    } finally {
      await closeAll(sfu, [alice]);
      await rm(directory, { recursive: true, force: true });
    }
  });

  test('a publisher without simulcast is one layer, high: forwarded as before, and off turns it off', async () => {
    const sfu = newSfu();
    const replay = await ensureCapture();
    const alice = new ReplayPublisher(replay);
    await joinSfu(sfu, alice, 'room', 'alice', 'g', { receives: false });
    const bob = await SubscriberPeer.join(sfu, 'room', 'bob', 'g');
    try {
      const video = () => bob.stream('alice', 'video');
      await keyframeOf(video, 640, 480);
      const layers = await waitFor('one layer with its size', () => {
        const list = sfu.videoLayers('alice', 'camera');
        return list.length === 1 && list[0]!.width !== undefined ? list : undefined;
      });
      assert.deepEqual(
        layers.map((l) => [l.layer, l.rid, `${l.width}x${l.height}`]),
        [['high', null, '640x480']],
      );
      // Asking for 'low' gets the only layer there is.
      sfu.setVideoLayer('bob', 'alice', 'camera', 'low');
      assert.deepEqual(sfu.videoLayerState('bob', 'alice', 'camera'), { choice: 'low', current: 'high' });
      const flowing = video()!.packets;
      await waitFor('video keeps flowing', () => video()!.packets > flowing + 20);
      sfu.setVideoLayer('bob', 'alice', 'camera', 'off');
      await sleep(150);
      const stopped = video()!.packets;
      const audio = bob.stream('alice', 'audio')!.packets;
      await sleep(1000);
      assert.equal(video()!.packets, stopped, 'no video while off');
      assert.ok(bob.stream('alice', 'audio')!.packets > audio + 30, 'audio flows while video is off');
      sfu.setVideoLayer('bob', 'alice', 'camera', 'high');
      await waitFor('video again', () => video()!.packets > stopped);
      const resumed = video()!.log.findIndex((p, i, all) => i > 0 && p.at - all[i - 1]!.at > 900);
      assert.ok(resumed > 0 && video()!.log[resumed]!.keyframe, 'the first packet after off is a keyframe');
      assert.equal(video()!.log[resumed]!.seq, (video()!.log[resumed - 1]!.seq + 1) & 0xffff, 'no sequence gap across off');
    } finally {
      await closeAll(sfu, [alice, bob]);
    }
  });
});
