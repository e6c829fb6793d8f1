// Joining again and again in Debian Chromium through the SDK and the embedded SFU, asserting the slowest join.
// The page has no camera or microphone permission, so Chromium announces its ICE candidates as mDNS names
// (`<uuid>.local`) and sends them right behind its offer; it publishes a canvas track (no permission needed).
// Before the fix, werift made the first answer wait on an mDNS lookup with a fixed 10 s timeout whenever such a
// candidate came in before the offer was applied: measured 9 of 12 joins at 10.2 to 10.7 s (the others 0.2 to
// 0.5 s). See test/join.test.ts for the same join with headless peers on both databases.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { createTestApp, type TestApp } from './helpers/app.js';
import { CHROMIUM_PATH, closeBrowser, withTimeout } from './helpers/browser.js';
import { createTestOrg, type TestOrg } from './helpers/builders.js';

const JOINS = 12;
/** The slowest `connect()` (socket, join, offer answered) and the slowest join → media connected. */
const SLOWEST_JOINED_MS = 2500;
const SLOWEST_CONNECTED_MS = 4000;

interface PageJoin {
  joinedMs: number;
  connectedMs: number;
  candidates: string[];
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

describe('joining in Chromium, again and again (no device permission: mDNS candidates)', () => {
  let t: TestApp;
  let org: TestOrg;
  let base: string;
  let browser: Browser;

  before(async () => {
    t = await createTestApp('pglite');
    org = await createTestOrg(t.app);
    base = await t.listen();
    assert.equal((await org.apiKey.post('/api/v1/rooms', { name: 'browser-join' })).statusCode, 201);
    // Without --use-fake-ui-for-media-stream (launchChromium's default), which counts as permission granted and
    // makes Chromium announce its real addresses.
    browser = await chromium.launch({
      executablePath: CHROMIUM_PATH,
      headless: false,
      args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--allow-loopback-in-peer-connection'],
      timeout: 30_000,
    });
  });
  after(async () => {
    await closeBrowser(browser);
    await t.close();
  });

  test(`${JOINS} SDK joins in a row: the slowest is answered within ${SLOWEST_JOINED_MS} ms and connected within ${SLOWEST_CONNECTED_MS} ms`, async (ctx) => {
    const joins: PageJoin[] = [];
    for (let i = 0; i < JOINS; i++) {
      const res = await org.apiKey.post('/api/v1/tokens', { room: 'browser-join', identity: 'clinician' });
      assert.equal(res.statusCode, 201, res.body);
      const context = await browser.newContext();
      try {
        const page = await context.newPage();
        const candidates: string[] = [];
        page.on('websocket', (ws) =>
          ws.on('framesent', (frame) => {
            const m = JSON.parse(String(frame.payload)) as { type: string; candidate?: { candidate: string } | null };
            if (m.type === 'candidate' && m.candidate) candidates.push(m.candidate.candidate.split(' ')[4] ?? '?');
          }),
        );
        await page.goto(`${base}/`);
        const timing = await withTimeout(
          page.evaluate(
            async ({ answer, origin }) => {
              // Runs in the page (this file is type-checked without the DOM library).
              type Room = { mediaState: string | null; disconnect(): Promise<void> };
              const g = globalThis as unknown as {
                document: { createElement(tag: 'canvas'): { width: number; height: number; getContext(kind: '2d'): { fillStyle: string; fillRect(x: number, y: number, w: number, h: number): void }; captureStream(fps: number): { getVideoTracks(): unknown[] } } };
              };
              const sdk = (await import('/sdk/openvisit.js' as string)) as { connect(answer: unknown, o: unknown): Promise<Room> };
              const canvas = g.document.createElement('canvas');
              canvas.width = 320;
              canvas.height = 240;
              const draw = canvas.getContext('2d');
              let n = 0;
              const timer = setInterval(() => {
                draw.fillStyle = `rgb(${n++ % 255},50,100)`;
                draw.fillRect(0, 0, 320, 240);
              }, 50);
              const t0 = performance.now();
              const room = await sdk.connect(answer, { apiOrigin: origin, tracks: canvas.captureStream(20).getVideoTracks(), audio: false });
              const joinedMs = performance.now() - t0;
              while (room.mediaState !== 'connected') {
                if (performance.now() - t0 > 15_000) throw new Error(`not connected within 15 s (${room.mediaState})`);
                await new Promise((resolve) => setTimeout(resolve, 5));
              }
              const connectedMs = performance.now() - t0;
              clearInterval(timer);
              await room.disconnect();
              return { joinedMs: Math.round(joinedMs), connectedMs: Math.round(connectedMs) };
            },
            { answer: res.json() as { provider: string; url: string; token: string }, origin: base },
          ),
          20_000,
          `join ${i + 1}`,
        );
        joins.push({ ...timing, candidates });
      } finally {
        await context.close();
      }
    }
    assert.ok(
      joins.every((j) => j.candidates.length > 0 && j.candidates.every((address) => address.endsWith('.local'))),
      `Chromium announced mDNS names only: ${JSON.stringify(joins.map((j) => j.candidates))}`,
    );
    const joined = joins.map((j) => j.joinedMs);
    const connected = joins.map((j) => j.connectedMs);
    ctx.diagnostic(`connect() resolved: median ${median(joined)} ms, slowest ${Math.max(...joined)} ms; connected: median ${median(connected)} ms, slowest ${Math.max(...connected)} ms`);
    assert.ok(Math.max(...joined) < SLOWEST_JOINED_MS, `connect() took up to ${Math.max(...joined)} ms: ${joined.join(', ')}`);
    assert.ok(Math.max(...connected) < SLOWEST_CONNECTED_MS, `connected after up to ${Math.max(...connected)} ms: ${connected.join(', ')}`);
  });
});
