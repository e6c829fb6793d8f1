// test/helpers/replay.ts: the ffmpeg capture is real VP8/Opus (decoded back to the known colour and tone), and
// ReplaySource delivers it over a werift peer connection on loopback (no SFU) as decodable VP8.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, test } from 'node:test';
import { MediaStreamTrack, RTCPeerConnection, type RtpPacket } from 'werift';
import { isVp8KeyframeStart } from '../src/server/rooms/builtin/sfu/rewrite.js';
import { suppressDefaultStun } from '../src/server/rooms/builtin/sfu/werift.js';
import { LOOPBACK_ONLY, waitFor } from './helpers/media.js';
import {
  CAPTURE_COLOUR,
  CAPTURE_FPS,
  CAPTURE_TONE_HZ,
  ReplaySource,
  colourDistance,
  decodeErrors,
  dominantFrequency,
  ensureCapture,
  ffprobe,
  meanColour,
  writeIvf,
} from './helpers/replay.js';

describe('replay capture', { timeout: 60_000 }, () => {
  test('the capture is VP8 + Opus of the known colour and tone; its RTP packets decode as VP8', async () => {
    const capture = await ensureCapture();
    assert.strictEqual(await ensureCapture(), capture, 'cached in this process');
    const probe = await ffprobe(capture.webm);
    assert.deepEqual(probe.streams.map((s) => `${s.codec_type}/${s.codec_name}`).sort(), ['audio/opus', 'video/vp8']);
    assert.ok(Math.abs(Number(probe.format.duration) - capture.seconds) < 0.2, `duration ${probe.format.duration}`);
    assert.equal(await dominantFrequency(capture.webm, { fromSeconds: 1 }), CAPTURE_TONE_HZ);

    // The packets: keyframe first, a keyframe every 2 s, 20 fps, Opus every 20 ms.
    const { video, audio } = capture;
    assert.equal(video.frameTs, 90_000 / CAPTURE_FPS);
    assert.equal(audio.frameTs, 960);
    assert.equal(video.keyframes.length, Math.ceil(capture.seconds / 2));
    assert.ok(Math.abs(video.loopTs / 90_000 - capture.seconds) < 0.06 && Math.abs(audio.loopTs / 48_000 - capture.seconds) < 0.06);
    const kbps = (video.packets.reduce((n, p) => n + p.payload.length, 0) * 8) / capture.seconds / 1000;
    assert.ok(kbps > capture.bitrateKbps * 0.6 && kbps < capture.bitrateKbps * 1.4, `video ${kbps.toFixed(0)} kbps`);

    const dir = await mkdtemp(path.join(os.tmpdir(), 'openvisit-replay-'));
    try {
      const ivf = path.join(dir, 'video.ivf');
      assert.equal(await writeIvf(video.packets, ivf), capture.seconds * CAPTURE_FPS);
      assert.equal(await decodeErrors(ivf), '');
      const colour = await meanColour(ivf, { atSeconds: 3 });
      assert.ok(colourDistance(colour, CAPTURE_COLOUR) <= 8, `centre colour ${JSON.stringify(colour)}`);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('ReplaySource: a werift publisher reaches a werift subscriber directly; video decodes; PLI gives a keyframe', async () => {
    const capture = await ensureCapture();
    const pub = new RTCPeerConnection(LOOPBACK_ONLY);
    const sub = new RTCPeerConnection(LOOPBACK_ONLY);
    const videoT = pub.addTransceiver(new MediaStreamTrack({ kind: 'video' }), { direction: 'sendonly' });
    const audioT = pub.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: 'sendonly' });
    const video = new ReplaySource(videoT, capture);
    const audio = new ReplaySource(audioT, capture);
    const received = { audio: [] as RtpPacket[], video: [] as RtpPacket[] };
    sub.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => {
        const list = received[track.kind as 'audio' | 'video'];
        if (list.length < 2000) list.push(rtp);
      });
    });
    const dir = await mkdtemp(path.join(os.tmpdir(), 'openvisit-replay-'));
    try {
      const offer = await pub.createOffer();
      suppressDefaultStun(pub);
      await pub.setLocalDescription(offer);
      await sub.setRemoteDescription(pub.localDescription!);
      const answer = await sub.createAnswer();
      suppressDefaultStun(sub);
      await sub.setLocalDescription(answer);
      await pub.setRemoteDescription(sub.localDescription!);
      await waitFor('audio and video at the subscriber', () => received.audio.length >= 50 && received.video.length >= 40, 10_000);
      assert.equal(video.sent >= received.video.length && audio.sent >= received.audio.length, true);
      assert.ok(video.bytes > 0 && audio.bytes > 0);

      // Real time: about 1 s of audio is 50 packets.
      const before = received.audio.length;
      const t0 = performance.now();
      await waitFor('50 more audio packets', () => received.audio.length >= before + 50, 5000);
      const elapsed = performance.now() - t0;
      assert.ok(elapsed > 700 && elapsed < 1600, `50 audio packets took ${elapsed.toFixed(0)} ms`);

      // A PLI makes the source rewind to a keyframe at the next frame boundary.
      const count = received.video.length;
      const ssrc = received.video[0]!.header.ssrc;
      const subVideo = sub.getTransceivers().find((t) => t.kind === 'video')!;
      await subVideo.receiver.sendRtcpPLI(ssrc);
      await waitFor('a rewind', () => video.rewinds >= 1, 3000);
      await waitFor('a keyframe after the PLI', () => received.video.slice(count).some((p) => isVp8KeyframeStart(p.payload)), 3000);

      // Sequence numbers continuous; what arrived decodes as VP8 of the known colour.
      const seqs = received.video.map((p) => p.header.sequenceNumber);
      assert.ok(seqs.every((s, i) => i === 0 || s === ((seqs[i - 1]! + 1) & 0xffff)), 'video sequence numbers are continuous');
      const ivf = path.join(dir, 'received.ivf');
      const first = received.video.findIndex((p) => isVp8KeyframeStart(p.payload));
      await writeIvf(received.video.slice(first).map((p) => ({ payload: p.payload, marker: p.header.marker })), ivf);
      assert.equal(await decodeErrors(ivf), '');
      assert.ok(colourDistance(await meanColour(ivf), CAPTURE_COLOUR) <= 8);
    } finally {
      video.stop();
      audio.stop();
      await Promise.all([pub.close(), sub.close()]);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
