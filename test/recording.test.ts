// Recording in the embedded SFU (src/server/rooms/builtin/sfu/recorder.ts): headless werift publishers send a
// real VP8/Opus capture (test/helpers/replay.ts: RGB 200,50,100 with a moving white box, a 440 Hz tone) on
// loopback; the WebM files the SFU writes are checked with ffprobe/ffmpeg: codecs, duration, clean decode,
// the picture's colour and the tone's frequency.
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, describe, test } from 'node:test';
import { MediaStreamTrack, RTCPeerConnection, type RtpPacket } from 'werift';
import type { SfuParticipant } from '../src/server/rooms/builtin/sfu/participant.js';
import type { RecordingInfo } from '../src/server/rooms/builtin/sfu/recorder.js';
import { isVp8KeyframeStart } from '../src/server/rooms/builtin/sfu/rewrite.js';
import type { Sfu } from '../src/server/rooms/builtin/sfu/sfu.js';
import { SfuError, type TrackSource } from '../src/server/rooms/builtin/sfu/types.js';
import { suppressDefaultStun } from '../src/server/rooms/builtin/sfu/werift.js';
import { LOOPBACK_ONLY, newSfu, sleep, waitFor } from './helpers/media.js';
import {
  CAPTURE_COLOUR,
  CAPTURE_TONE_HZ,
  ReplaySource,
  colourDistance,
  decodeErrors,
  dominantFrequency,
  ensureCapture,
  ffprobe,
  meanColour,
  writeIvf,
  type Capture,
} from './helpers/replay.js';

/** A headless participant (the minimal in-process negotiation of TestPeer in sfu.test.ts) sending the capture. */
class Peer {
  readonly pc = new RTCPeerConnection(LOOPBACK_ONLY);
  readonly sources = new Map<TrackSource, ReplaySource>();
  readonly received: RtpPacket[] = [];
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly session: SfuParticipant,
    readonly capture: Capture,
  ) {
    session.on('iceCandidate', (candidate) => {
      if (candidate) this.pc.addIceCandidate(candidate).catch(() => undefined);
    });
    this.pc.onIceCandidate.subscribe((candidate) => {
      if (candidate) session.addIceCandidate(candidate.toJSON()).catch(() => undefined);
    });
    session.on('needsNegotiation', (offer) => void this.#enqueue(() => this.#answer(offer)));
    this.pc.onTrack.subscribe((track) => {
      if (track.kind !== 'video') return;
      track.onReceiveRtp.subscribe((rtp) => {
        if (this.received.length < 3000) this.received.push(rtp);
      });
    });
    this.pc.createDataChannel('chat');
  }

  static async join(sfu: Sfu, room: string, id: string, capture: Capture, publish: TrackSource[]): Promise<Peer> {
    const peer = new Peer(await sfu.join(room, id, 'visit'), capture);
    for (const source of publish) peer.#add(source);
    await peer.#enqueue(() => peer.#offer());
    await waitFor(`${id} to connect`, () => peer.session.connectionState === 'connected');
    return peer;
  }

  #enqueue<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(operation);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #add(source: TrackSource): void {
    const kind = source === 'microphone' ? 'audio' : 'video';
    const transceiver = this.pc.addTransceiver(new MediaStreamTrack({ kind }), { direction: 'sendonly' });
    this.sources.set(source, new ReplaySource(transceiver, this.capture));
  }

  publish(source: TrackSource): Promise<void> {
    this.#add(source);
    return this.#enqueue(() => this.#offer());
  }

  unpublish(source: TrackSource): Promise<void> {
    const replay = this.sources.get(source)!;
    replay.stop();
    this.sources.delete(source);
    this.pc.removeTrack(replay.transceiver.sender);
    return this.#enqueue(() => this.#offer());
  }

  async #offer(): Promise<void> {
    const offer = await this.pc.createOffer();
    suppressDefaultStun(this.pc);
    await this.pc.setLocalDescription(offer);
    const sources: Record<string, TrackSource> = {};
    for (const [source, replay] of this.sources) if (replay.transceiver.mid !== null) sources[replay.transceiver.mid] = source;
    const answer = await this.session.createAnswer(this.pc.localDescription!.sdp, { sources });
    await this.pc.setRemoteDescription({ type: 'answer', sdp: answer });
  }

  async #answer(offer: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offer });
    const answer = await this.pc.createAnswer();
    suppressDefaultStun(this.pc);
    await this.pc.setLocalDescription(answer);
    await this.session.setRemoteDescription(this.pc.localDescription!.sdp);
  }

  async close(): Promise<void> {
    for (const source of this.sources.values()) source.stop();
    await this.pc.close();
  }
}

const stalls = monitorEventLoopDelay({ resolution: 20 });
stalls.enable();

/** Checks a finished segment file with ffprobe/ffmpeg: codecs, duration, clean decode, colour, tone. */
async function checkFile(info: RecordingInfo, expect: { video: boolean; audio: boolean }): Promise<number> {
  assert.ok(existsSync(info.file), `${info.file} exists`);
  assert.equal(statSync(info.file).size, info.bytes);
  assert.equal(statSync(info.file).mode & 0o777, 0o600);
  const probe = await ffprobe(info.file);
  assert.match(probe.format.format_name ?? '', /webm/);
  const codecs = probe.streams.map((s) => `${s.codec_type}/${s.codec_name}`).sort();
  assert.deepEqual(codecs, [...(expect.audio ? ['audio/opus'] : []), ...(expect.video ? ['video/vp8'] : [])]);
  const duration = Number(probe.format.duration);
  const recorded = (info.endedAt!.getTime() - info.startedAt.getTime()) / 1000;
  // The publisher runs in this process: an event-loop stall (2 shared cores) shifts how much media was sent.
  const stall = stalls.max / 1e9;
  assert.ok(Math.abs(duration - recorded) <= 0.5 + stall, `file duration ${duration} s, recorded ${recorded} s (longest stall ${stall.toFixed(2)} s)`);
  assert.equal(await decodeErrors(info.file), '', 'decodes without errors');
  const at = Math.min(1, duration / 2);
  if (expect.video) {
    const video = probe.streams.find((s) => s.codec_type === 'video')!;
    assert.deepEqual([video.width, video.height], [640, 480]);
    const colour = await meanColour(info.file, { atSeconds: at });
    assert.ok(colourDistance(colour, CAPTURE_COLOUR) <= 10, `centre colour ${JSON.stringify(colour)}`);
  }
  if (expect.audio) {
    const hz = await dominantFrequency(info.file, { fromSeconds: at, seconds: Math.min(1, duration - at) });
    assert.ok(Math.abs(hz - CAPTURE_TONE_HZ) <= 5, `dominant frequency ${hz} Hz`);
  }
  return duration;
}

describe('SFU recording', { timeout: 60_000 }, () => {
  let capture: Capture;
  let root: string;
  before(async () => {
    capture = await ensureCapture();
    root = await mkdtemp(path.join(os.tmpdir(), 'openvisit-recording-'));
  });
  after(async () => {
    if (process.env.KEEP_RECORDINGS) console.log(`recordings kept in ${root}`);
    else await rm(root, { recursive: true, force: true });
  });

  test('records microphone + camera to WebM (VP8 + Opus, the known picture and tone) without disturbing forwarding', async () => {
    const sfu = newSfu();
    const events: string[] = [];
    sfu.on('recordingStarted', (info) => events.push(`started ${path.basename(info.file)}`));
    sfu.on('recordingCompleted', (info) => events.push(`completed ${path.basename(info.file)}`));
    const pub = await Peer.join(sfu, 'r1', 'alice@clinic', capture, ['microphone', 'camera']);
    const sub = await Peer.join(sfu, 'r1', 'bob', capture, []);
    const dir = path.join(root, 'one', 'nested');
    try {
      await waitFor('bob to receive alice’s video', () => sub.received.length > 20);
      const cpuBefore = process.cpuUsage();
      stalls.reset();
      const info = await sfu.startRecording('alice@clinic', { directory: dir });
      assert.equal(statSync(dir).mode & 0o777, 0o700);
      assert.equal(path.dirname(info.file), dir);
      assert.match(path.basename(info.file), /^alice_clinic-[0-9a-f]{8}-\d{4}-\d\d-\d\dT\d{6}\.\d{3}Z-1\.webm$/);
      assert.deepEqual(info.tracks, ['audio', 'video']);
      assert.equal(info.endedAt, null);
      assert.equal(info.content, 'camera');
      assert.deepEqual(await sfu.startRecording('alice@clinic', { directory: root }).then((i) => i.file), info.file, 'a second start is a no-op');
      assert.deepEqual(sfu.recordings('alice@clinic').map((r) => r.file), [info.file]);

      const receivedBefore = sub.received.length;
      await sleep(3000);
      const receivedDuring = sub.received.length - receivedBefore;
      const [done, ...more] = await sfu.stopRecording('alice@clinic');
      const cpu = process.cpuUsage(cpuBefore);
      assert.equal(more.length, 0);
      assert.equal(done!.file, info.file);
      assert.ok(done!.endedAt instanceof Date && done!.bytes > 0);
      assert.deepEqual(events, [`started ${path.basename(info.file)}`, `completed ${path.basename(info.file)}`]);
      assert.deepEqual(await readdir(dir), [path.basename(info.file)]);
      const duration = await checkFile(done!, { audio: true, video: true });
      console.log(
        `recorded ${duration.toFixed(2)} s: ${((done!.bytes * 8) / duration / 1000).toFixed(0)} kbps on disk; ` +
          `process CPU while recording (publisher, subscriber, SFU, recorder) ${(((cpu.user + cpu.system) / 1000 / 3000) * 100).toFixed(1)} % of a core`,
      );

      // Forwarding went on meanwhile, and what bob got decodes (the recorder never touched the forwarded packets).
      assert.ok(receivedDuring > 3 * 20, `bob received ${receivedDuring} video packets while recording`);
      assert.deepEqual(await sfu.stopRecording('alice@clinic'), [], 'stopping again is a no-op');
      const ivf = path.join(root, 'bob.ivf');
      const packets = sub.received.slice(sub.received.findIndex((p) => isVp8KeyframeStart(p.payload)));
      await writeIvf(packets.map((p) => ({ payload: p.payload, marker: p.header.marker })), ivf);
      assert.equal(await decodeErrors(ivf), '');
      assert.ok(colourDistance(await meanColour(ivf, { atSeconds: 2 }), CAPTURE_COLOUR) <= 10);
    } finally {
      await sfu.close();
      await Promise.all([pub.close(), sub.close()]);
    }
  });

  test('unpublish / republish while recording: one segment per set of tracks', async () => {
    const sfu = newSfu();
    const completed: RecordingInfo[] = [];
    sfu.on('recordingCompleted', (info) => completed.push(info));
    const pub = await Peer.join(sfu, 'r2', 'carol', capture, ['microphone', 'camera']);
    const dir = path.join(root, 'split');
    try {
      stalls.reset();
      const first = await sfu.startRecording('carol', { directory: dir });
      await sleep(1500);
      await pub.unpublish('camera');
      await waitFor('the first segment to complete', () => completed.length === 1);
      assert.equal(completed[0]!.file, first.file);
      const [second] = sfu.recordings('carol');
      assert.deepEqual(second?.tracks, ['audio']);
      assert.match(second!.file, /-2\.webm$/);
      await sleep(1500);
      await pub.publish('camera');
      await waitFor('the second segment to complete', () => completed.length === 2);
      await sleep(1500);
      const all = await sfu.stopRecording('carol');
      assert.deepEqual(all.slice(0, 2).map((i) => i.file), [first.file, second!.file]);
      assert.equal(completed[1]!.file, second!.file);
      assert.deepEqual(all.map((i) => i.tracks), [['audio', 'video'], ['audio'], ['audio', 'video']]);
      assert.match(all[2]!.file, /-3\.webm$/);
      for (const [i, info] of all.entries()) {
        assert.ok(info.endedAt && info.endedAt >= info.startedAt);
        if (i > 0) assert.ok(info.startedAt >= all[i - 1]!.startedAt);
      }
      await checkFile(all[0]!, { audio: true, video: true });
      await checkFile(all[1]!, { audio: true, video: false });
      await checkFile(all[2]!, { audio: true, video: true });
      assert.equal(completed.length, 3);
    } finally {
      await sfu.close();
      await pub.close();
    }
  });

  test('screen share goes to its own -screen file; leave() and close() finalise; errors and no-ops', async () => {
    const sfu = newSfu();
    const completed: RecordingInfo[] = [];
    sfu.on('recordingCompleted', (info) => completed.push(info));
    const pub = await Peer.join(sfu, 'r3', 'dave', capture, ['microphone', 'camera', 'screen']);
    const quiet = await Peer.join(sfu, 'r3', 'erin', capture, []);
    const other = await Peer.join(sfu, 'r4', 'frank', capture, ['microphone']);
    const dir = path.join(root, 'leave');
    try {
      await assert.rejects(sfu.startRecording('nobody', { directory: dir }), (e: unknown) => e instanceof SfuError && e.code === 'participant_not_found');
      await assert.rejects(sfu.startRecording('erin', { directory: dir }), (e: unknown) => e instanceof SfuError && e.code === 'invalid_state');
      assert.deepEqual(await sfu.stopRecording('erin'), []);
      assert.deepEqual(await sfu.stopRecording('nobody'), []);

      stalls.reset();
      const camera = await sfu.startRecording('dave', { directory: dir });
      assert.equal(camera.content, 'camera');
      const screen = sfu.recordings('dave').find((r) => r.content === 'screen');
      assert.ok(screen && /-2-screen\.webm$/.test(screen.file), 'the screen share has its own file');
      assert.deepEqual(screen.tracks, ['video']);
      const audioOnly = await sfu.startRecording('frank', { directory: dir });
      await sleep(2000);
      await sfu.leave('dave');
      assert.deepEqual(completed.map((i) => i.file).sort(), [camera.file, screen.file].sort(), 'leave() resolves after the files are final');
      await checkFile(completed.find((i) => i.content === 'camera')!, { audio: true, video: true });
      await checkFile(completed.find((i) => i.content === 'screen')!, { audio: false, video: true });
      assert.deepEqual(await sfu.stopRecording('dave'), []);

      await sfu.close();
      assert.equal(completed.length, 3, 'close() finalises the remaining recordings');
      const last = completed[2]!;
      assert.equal(last.file, audioOnly.file);
      await checkFile(last, { audio: true, video: false });
    } finally {
      await sfu.close();
      await Promise.all([pub.close(), quiet.close(), other.close()]);
    }
  });
});
