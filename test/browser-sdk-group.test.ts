// The browser SDK in a group room on the embedded SFU, in Debian Chromium: a room made with a media policy (the rooms
// layer's `media`, as a group visit's) gives token answers with `media`, and the SDK in the page then asks the camera
// for 1280x720 and publishes it in three simulcast layers, rids q / h / f at a quarter, half and full size, each
// encoded and sent (the page's own getStats: outbound-rtp per rid); a second member, showing that camera in a tile,
// decodes it. Adaptive stream end to end: the viewer's tile at 320x180 receives the low layer, hidden nothing, as the
// SDK's stream states say. A room without a policy (1:1) publishes one plain layer. Chromium's built-in fake camera is used: unlike a fake file, it gives the size asked for.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { systemCtx } from '../src/server/context.js';
import { createRoom } from '../src/server/rooms/service.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestOrg, type TestOrg } from './helpers/builders.js';
import { closeBrowser, errorsOf, installProbes, launchChromium, newMediaPage, waitForFramesGrowing } from './helpers/browser.js';

const GROUP = { simulcast: true, mode: 'collaboration', spotlight: null, lastN: 9 } as const;

interface Layer {
  rid: string | null;
  width: number;
  height: number;
  framesEncoded: number;
  bytesSent: number;
}
interface Sent {
  camera: { width: number; height: number };
  layers: Layer[];
}

/**
 * Loads the SDK from the app, joins with `answer` and keeps the room in window.ov; a remote camera is shown in a
 * 320x180 tile on the page (adaptive stream: a video shown nowhere is not sent).
 */
async function joinInPage(page: Page, base: string, answer: object): Promise<void> {
  await page.goto(`${base}/`);
  await installProbes(page);
  await page.evaluate(
    async ({ answer, origin }) => {
      const sdk = await import('/sdk/openvisit.js' as string);
      const room = new sdk.Room({ apiOrigin: origin });
      const ov = { room, tiles: {} as Record<string, unknown>, tracks: {} as Record<string, unknown> };
      const page = globalThis as unknown as { ov: typeof ov; document: { body: { prepend(el: unknown): void } } };
      page.ov = ov;
      room.on('trackSubscribed', (track: { kind: string; attach(): { muted: boolean; style: { width: string; height: string } } }, participant: { identity: string }) => {
        const el = track.attach();
        el.muted = true;
        if (track.kind === 'video') {
          Object.assign(el.style, { width: '320px', height: '180px', display: 'block' });
          ov.tiles[participant.identity] = el;
          ov.tracks[participant.identity] = track;
        }
        page.document.body.prepend(el);
      });
      await room.connect(answer);
    },
    { answer, origin: base },
  );
}

/** The page's camera settings and its outbound video layers, from the room's own statistics. */
function sent(page: Page): Promise<Sent> {
  return page.evaluate(`(async () => {
    const room = window.ov.room;
    const camera = room.localParticipant.tracks.get('camera').getSettings();
    const layers = [];
    for (const s of (await room.getStats()).values()) {
      if (s.type !== 'outbound-rtp' || s.kind !== 'video') continue;
      layers.push({ rid: s.rid ?? null, width: s.frameWidth ?? 0, height: s.frameHeight ?? 0, framesEncoded: s.framesEncoded ?? 0, bytesSent: s.bytesSent ?? 0 });
    }
    layers.sort((a, b) => a.width - b.width);
    return { camera: { width: camera.width, height: camera.height }, layers };
  })()`);
}

/** Polls `sent` until `done` holds (the encoder brings its layers up as the send rate grows), or fails with the last reading. */
async function sentWhen(page: Page, done: (s: Sent) => boolean, what: string, ms = 45_000): Promise<Sent> {
  const deadline = Date.now() + ms;
  let last: Sent | null = null;
  while (Date.now() < deadline) {
    last = await sent(page);
    if (done(last)) return last;
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.fail(`${what}: last reading ${JSON.stringify(last)}; page errors ${JSON.stringify(errorsOf(page))}`);
}

describe('browser SDK in a group room on the embedded SFU', () => {
  let t: TestApp;
  let org: TestOrg;
  let base: string;
  let browser: Browser;
  const token = async (room: string, identity: string) => {
    const res = await org.apiKey.post('/api/v1/tokens', { room, identity });
    assert.equal(res.statusCode, 201, res.body);
    return res.json() as { media?: object };
  };

  before(async () => {
    t = await createTestApp('pglite');
    org = await createTestOrg(t.app);
    base = await t.listen();
    await createRoom(t.app.rooms, systemCtx(org.orgId), { name: 'group-sdk' }, undefined, { media: GROUP });
    await createRoom(t.app.rooms, systemCtx(org.orgId), { name: 'plain-sdk' });
    browser = await launchChromium({ fakeMedia: false });
  });
  after(async () => {
    await closeBrowser(browser);
    await t.close();
  });

  test('a group token: the camera at 1280x720, published in three layers q/h/f (320, 640 and 1280 wide), each encoded and sent', { timeout: 90_000 }, async () => {
    const answer = await token('group-sdk', 'member-1');
    assert.deepEqual(answer.media, { ...GROUP, audioBitrateBps: 16_000, video: { width: 1280, height: 720, frameRate: 24 } });
    const page = await newMediaPage(browser);
    await joinInPage(page, base, answer);
    const reading = await sentWhen(
      page,
      (s) => s.layers.length === 3 && s.layers.every((l) => l.framesEncoded > 10 && l.bytesSent > 0 && l.width > 0),
      'three layers encoded and sent',
    );
    assert.deepEqual(reading.camera, { width: 1280, height: 720 });
    assert.deepEqual(
      reading.layers.map((l) => l.rid),
      ['q', 'h', 'f'],
    );
    // Full size once the send rate allows it (on a loaded machine Chromium may start the top layer smaller).
    const full = await sentWhen(page, (s) => s.layers.map((l) => `${l.rid}:${l.width}x${l.height}`).join(' ') === 'q:320x180 h:640x360 f:1280x720', 'the layers at 320x180, 640x360, 1280x720');
    console.log(`# group publisher: ${full.layers.map((l) => `${l.rid} ${l.width}x${l.height} ${l.framesEncoded} frames ${Math.round(l.bytesSent / 1024)} KiB`).join(', ')}`);

    // Another member shows that camera in a tile and decodes it.
    const viewer = await newMediaPage(browser);
    await joinInPage(viewer, base, await token('group-sdk', 'member-2'));
    await waitForFramesGrowing(viewer, 'window.ov.room', { by: 20, timeoutMs: 30_000 });
    await viewer.context().close();
    await page.context().close();
  });

  test('adaptive stream end to end: a 320x180 tile receives the low layer, a hidden tile nothing, shown again the low layer again', { timeout: 120_000 }, async () => {
    const publisher = await newMediaPage(browser);
    await joinInPage(publisher, base, await token('group-sdk', 'presenter'));
    const viewer = await newMediaPage(browser);
    await joinInPage(viewer, base, await token('group-sdk', 'watcher'));
    /** What the viewer receives of the presenter's camera: decoded size and frames, and the SDK's stream state. */
    const received = () =>
      viewer.evaluate(`(async () => {
        let video = null;
        for (const s of (await window.ov.room.getStats()).values()) {
          if (s.type === 'inbound-rtp' && s.kind === 'video') video = { width: s.frameWidth ?? 0, frames: s.framesDecoded ?? 0 };
        }
        const track = window.ov.tracks.presenter;
        return { video, state: track ? track.streamState : null };
      })()`) as Promise<{ video: { width: number; frames: number } | null; state: { state: string; layer: string | null; reason: string | null } | null }>;
    const until = async (what: string, done: (r: Awaited<ReturnType<typeof received>>) => boolean, ms = 30_000) => {
      const deadline = Date.now() + ms;
      let last = await received();
      while (!done(last)) {
        if (Date.now() > deadline) assert.fail(`${what}: last ${JSON.stringify(last)}; page errors ${JSON.stringify(errorsOf(viewer))}`);
        await new Promise((r) => setTimeout(r, 300));
        last = await received();
      }
      return last;
    };
    const tile = (style: string) => viewer.evaluate(`Object.assign(window.ov.tiles.presenter.style, ${style})`);

    const small = await until('the low layer in a 320x180 tile', (r) => r.state?.layer === 'low' && r.video !== null && r.video.width === 320 && r.video.frames > 10);
    assert.deepEqual(small.state, { state: 'active', layer: 'low', reason: null });
    await tile(`{ display: 'none' }`);
    const hidden = await until('paused when hidden', (r) => r.state?.state === 'paused');
    assert.deepEqual(hidden.state, { state: 'paused', layer: null, reason: 'hidden' });
    await new Promise((r) => setTimeout(r, 500));
    const stopped = (await received()).video!.frames;
    await new Promise((r) => setTimeout(r, 2000));
    assert.ok((await received()).video!.frames <= stopped + 2, 'nothing decoded while hidden');
    await tile(`{ display: 'block' }`);
    const back = await until('the low layer again when shown', (r) => r.state?.state === 'active' && (r.video?.frames ?? 0) > stopped + 10);
    assert.deepEqual(back.state, { state: 'active', layer: 'low', reason: null });
    await viewer.context().close();
    await publisher.context().close();
  });

  test('a 1:1 token (no media policy): one plain camera layer, as before', { timeout: 60_000 }, async () => {
    const answer = await token('plain-sdk', 'solo-1');
    assert.equal(answer.media, undefined);
    const page = await newMediaPage(browser);
    await joinInPage(page, base, answer);
    const reading = await sentWhen(page, (s) => s.layers.length === 1 && s.layers[0]!.framesEncoded > 10, 'one layer encoded');
    assert.equal(reading.layers[0]!.rid, null);
    await page.context().close();
  });
});
