// The browser harness (test/helpers/browser.ts) proved on its own: two Chromium pages, each fed the fake camera
// (RGB 200,50,100 with a moving white box) and microphone (440 Hz), connected directly peer to peer on
// 127.0.0.1 with SDP exchanged through Playwright; no server media. Each page proves the other's media arrived:
// frames decoded and audio packets grow, the decoded picture has the known colour and moves, the received audio
// peaks at 440 Hz. The pages are served with a strict CSP (script-src 'self'), as the app's pages are, and
// Chromium runs in a network namespace of its own where only lo exists.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import {
  FAKE_COLOUR,
  FAKE_TONE_HZ,
  P2P,
  TONE_TOLERANCE_HZ,
  closeBrowser,
  colourMatches,
  connectP2P,
  expectFramesDiffer,
  expectLoopbackPair,
  expectTone,
  expectVideoFrom,
  launchChromium,
  p2pJoinToFirstFrame,
  serveTestPage,
  toneMatches,
  toneOf,
  videoColour,
  waitForAudioPacketsGrowing,
  waitForFramesGrowing,
  type P2PPair,
  type TestPageServer,
} from './helpers/browser.js';

describe('browser harness: two Chromium pages peer to peer on 127.0.0.1', { timeout: 60_000 }, () => {
  let server: TestPageServer | undefined;
  let browser: Browser | undefined;
  let pair: P2PPair | undefined;
  const sides = () => {
    assert.ok(pair, 'the two pages did not connect (see the before hook)');
    return [
      { name: 'page A (receiving from B)', page: pair.a },
      { name: 'page B (receiving from A)', page: pair.b },
    ];
  };

  before(async () => {
    server = await serveTestPage();
    // In a network namespace with only lo: on the host network Chromium pairs its eth0 address with the other
    // page's 127.0.0.1 candidate. The page server stays in this process (Playwright carries the page loads).
    browser = await launchChromium({ network: 'loopback-only' });
    pair = await connectP2P(browser, server.url);
  });

  after(async () => {
    await pair?.close();
    await closeBrowser(browser);
    await server?.close();
  });

  test('join to first frame on both pages is measured', (t) => {
    assert.ok(pair);
    t.diagnostic(`P2P join to first decoded frame on both pages: ${pair.joinToFirstFrameMs} ms`);
    assert.ok(pair.joinToFirstFrameMs > 0 && pair.joinToFirstFrameMs < 15_000, `join to first frame took ${pair.joinToFirstFrameMs} ms`);
  });

  test('media flows both ways: video frames decoded and audio packets received keep growing', async (t) => {
    for (const { name, page } of sides()) {
      const frames = await waitForFramesGrowing(page, P2P.pc, { by: 10 });
      const packets = await waitForAudioPacketsGrowing(page, P2P.pc, { by: 25 });
      t.diagnostic(`${name}: frames decoded ${frames.from} -> ${frames.to}, audio packets ${packets.from} -> ${packets.to}`);
    }
  });

  test('the selected ICE candidate pair is 127.0.0.1 at both ends, on both pages', async (t) => {
    for (const { name, page } of sides()) {
      const selected = await expectLoopbackPair(page, P2P.pc, { timeoutMs: 5000 });
      assert.equal(selected.state, 'succeeded', `${name}: ${JSON.stringify(selected)}`);
      t.diagnostic(`${name}: ${selected.local?.candidateType} ${selected.local?.address}:${selected.local?.port} <-> ${selected.remote?.candidateType} ${selected.remote?.address}:${selected.remote?.port} (${selected.local?.protocol})`);
    }
  });

  test('each page decodes the other camera colour, rgb(200,50,100)', async (t) => {
    for (const { name, page } of sides()) {
      const colour = await expectVideoFrom(page, P2P.remoteVideo, FAKE_COLOUR);
      t.diagnostic(`${name}: decoded colour rgb(${colour.r},${colour.g},${colour.b}) at ${colour.width}x${colour.height}`);
    }
  });

  test('the colour check rejects a wrong colour (it cannot pass by accident)', async () => {
    const { page } = sides()[0]!;
    const measured = await videoColour(page, P2P.remoteVideo);
    assert.ok(colourMatches(measured, FAKE_COLOUR), `expected the real colour first, got ${JSON.stringify(measured)}`);
    // Chromium's built-in fake camera is mostly green/black; a swapped channel must fail too.
    for (const wrong of [{ r: 50, g: 200, b: 100 }, { r: 200, g: 50, b: 160 }, { r: 0, g: 0, b: 0 }]) {
      assert.equal(colourMatches(measured, wrong), false, `rgb(${wrong.r},${wrong.g},${wrong.b}) accepted for ${JSON.stringify(measured)}`);
    }
    await assert.rejects(expectVideoFrom(page, P2P.remoteVideo, { r: 50, g: 200, b: 100 }, { timeoutMs: 600 }), /showing rgb\(50,200,100\).*not within 600 ms/);
  });

  test('two grabs of the received video differ (the box moves: frames are live)', async (t) => {
    for (const { name, page } of sides()) {
      const diff = await expectFramesDiffer(page, P2P.remoteVideo);
      t.diagnostic(`${name}: ${(diff.fraction * 100).toFixed(2)} % of pixels changed between grabs 300 ms apart`);
    }
  });

  test('each page hears the other microphone tone, 440 Hz', async (t) => {
    for (const { name, page } of sides()) {
      const tone = await expectTone(page, P2P.remoteAudio, FAKE_TONE_HZ);
      t.diagnostic(`${name}: dominant frequency ${tone.hz.toFixed(1)} Hz at ${tone.peakDb.toFixed(1)} dB (median ${tone.medianDb.toFixed(1)} dB, ${tone.sampleRate} Hz context)`);
    }
  });

  test('the tone check rejects another frequency (it cannot pass by accident)', async () => {
    const { page } = sides()[1]!;
    const tone = await toneOf(page, P2P.remoteAudio);
    assert.ok(toneMatches(tone, FAKE_TONE_HZ), `expected the real tone first, got ${JSON.stringify(tone)}`);
    assert.equal(toneMatches(tone, 880), false);
    assert.equal(toneMatches({ ...tone, peakDb: -120, medianDb: -125 }, FAKE_TONE_HZ), false, 'silence accepted');
    await assert.rejects(expectTone(page, P2P.remoteAudio, 880, { timeoutMs: 600 }), /880 Hz tone.*not within 600 ms/);
  });

  test('the probes fail on a static picture of another colour, another tone and silence (local stand-ins)', async () => {
    const { page } = sides()[0]!;
    // Local tracks standing in for media that is wrong: a still green canvas, an 880 Hz oscillator, silence.
    await page.evaluate(`(() => {
      const canvas = document.createElement('canvas');
      canvas.width = 320;
      canvas.height = 240;
      const g = canvas.getContext('2d');
      const paint = () => { g.fillStyle = 'rgb(50,200,100)'; g.fillRect(0, 0, 320, 240); };
      paint();
      const ctx = new AudioContext();
      const osc = ctx.createOscillator();
      osc.frequency.value = 880;
      const tone = ctx.createMediaStreamDestination();
      osc.connect(tone);
      osc.start();
      const silence = ctx.createMediaStreamDestination();
      window.__ovWrong = { video: canvas.captureStream(10).getVideoTracks()[0], tone: tone.stream.getAudioTracks()[0],
        silence: silence.stream.getAudioTracks()[0], timer: setInterval(paint, 100), ctx };
      return true;
    })()`);
    try {
      await assert.rejects(expectVideoFrom(page, 'window.__ovWrong.video', FAKE_COLOUR, { timeoutMs: 800 }), /showing rgb\(200,50,100\).*last seen: \{"r":50,"g":200,"b":100/);
      await assert.rejects(expectFramesDiffer(page, 'window.__ovWrong.video', { timeoutMs: 800 }), /differing \(live video\).*"differs":false/);
      const other = await toneOf(page, 'window.__ovWrong.tone');
      assert.ok(Math.abs(other.hz - 880) < TONE_TOLERANCE_HZ, `the 880 Hz stand-in measured ${other.hz} Hz`);
      await assert.rejects(expectTone(page, 'window.__ovWrong.tone', FAKE_TONE_HZ, { timeoutMs: 800 }), /440 Hz tone/);
      await assert.rejects(expectTone(page, 'window.__ovWrong.silence', FAKE_TONE_HZ, { timeoutMs: 800 }), /440 Hz tone/);
    } finally {
      await page.evaluate('clearInterval(window.__ovWrong.timer); window.__ovWrong.ctx.close(); window.__ovWrong.video.stop(); true');
    }
  });

  test('p2pJoinToFirstFrame measures a fresh pair (for the benchmarks)', async (t) => {
    assert.ok(browser && server);
    const ms = await p2pJoinToFirstFrame(browser, server.url);
    t.diagnostic(`fresh P2P pair: join to first decoded frame on both pages ${ms} ms`);
    assert.ok(ms > 0 && ms < 15_000, `join to first frame took ${ms} ms`);
  });
});
