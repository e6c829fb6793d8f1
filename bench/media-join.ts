// Chromium join-to-first-frame: through the embedded SFU (the app in-process, the SDK in two pages) beside a
// direct peer-to-peer connection between two pages, alternating in the same run. Each sample: page A is in
// the call (joined, publishing, alone, its connection up); the clock starts when page B starts joining (before its getUserMedia)
// and stops when both pages have decoded a video frame from each other.
import type { Browser, Page } from 'playwright-core';
import { createTestApp } from '../test/helpers/app.js';
import { closeBrowser, firstFrameAt, installProbes, launchChromium, newMediaPage, p2pJoinToFirstFrame, serveTestPage } from '../test/helpers/browser.js';
import { createTestOrg } from '../test/helpers/builders.js';

export interface JoinTimes {
  runs: number;
  sfuMs: number[];
  p2pMs: number[];
  sfuMedianMs: number;
  p2pMedianMs: number;
  ratio: number;
  verdict: 'PASS' | 'MISS';
}

export const JOIN_TARGET_RATIO = 1.2;
const PC = 'window.ov.room.peerConnection';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

async function sdkPage(browser: Browser, base: string): Promise<Page> {
  const page = await newMediaPage(browser);
  await page.goto(`${base}/`);
  await installProbes(page);
  await page.evaluate(async () => {
    const sdk = await import('/sdk/openvisit.js' as string);
    (globalThis as unknown as { ovSdk: unknown }).ovSdk = sdk;
  });
  return page;
}

function join(page: Page, url: string, token: string): Promise<void> {
  return page.evaluate(
    async ({ url, token }) => {
      const g = globalThis as unknown as { ovSdk: { connect(u: string, t: string): Promise<unknown> }; ov: { room: unknown } };
      g.ov = { room: await g.ovSdk.connect(url, token) };
    },
    { url, token },
  );
}

/** `runs` alternating SFU and P2P samples; throws if a sample fails. */
export async function measureJoinTimes(runs: number): Promise<JoinTimes> {
  const t = await createTestApp('pglite');
  const browser = await launchChromium();
  const pages = await serveTestPage();
  const sfuMs: number[] = [];
  const p2pMs: number[] = [];
  const sides: string[] = [];
  try {
    const org = await createTestOrg(t.app);
    const base = await t.listen();
    const url = `${base.replace('http', 'ws')}/rtc`;
    for (let i = 0; i < runs; i++) {
      const room = `bench-${i}`;
      await org.apiKey.post('/api/v1/rooms', { name: room });
      const token = async (identity: string) => (await org.apiKey.post('/api/v1/tokens', { room, identity })).json().token as string;
      const [ta, tb] = [await token('a'), await token('b')];
      const a = await sdkPage(browser, base);
      const b = await sdkPage(browser, base);
      try {
        await join(a, url, ta);
        // A is in the call: its connection to the server is up (ICE and DTLS), as for anyone already talking.
        await a.waitForFunction(
          () => (globalThis as unknown as { ov: { room: { peerConnection?: { connectionState: string } } } }).ov.room.peerConnection?.connectionState === 'connected',
          undefined,
          { timeout: 10_000 },
        );
        const firstA = firstFrameAt(a, PC);
        firstA.catch(() => undefined);
        const t0 = Date.now();
        const joining = join(b, url, tb);
        // The SDK's peer connection exists once B has joined; wait for it, then for its first frame.
        await joining;
        const [atA, atB] = await Promise.all([firstA, firstFrameAt(b, PC)]);
        sfuMs.push(Math.max(atA, atB) - t0);
        sides.push(`A ${atA - t0} / B ${atB - t0}`);
      } finally {
        await Promise.all([a.context().close(), b.context().close()]);
      }
      p2pMs.push(await p2pJoinToFirstFrame(browser, pages.url));
      console.error(`join ${i + 1}/${runs}: SFU ${sfuMs.at(-1)} ms (first frame on ${sides.at(-1)} ms), P2P ${p2pMs.at(-1)} ms`);
    }
  } finally {
    await closeBrowser(browser);
    await pages.close();
    await t.close();
  }
  const sfuMedianMs = median(sfuMs);
  const p2pMedianMs = median(p2pMs);
  const ratio = sfuMedianMs / p2pMedianMs;
  return { runs, sfuMs, p2pMs, sfuMedianMs, p2pMedianMs, ratio, verdict: ratio <= JOIN_TARGET_RATIO ? 'PASS' : 'MISS' };
}
