// Chromium join-to-first-frame: through the embedded SFU (the app in-process, the SDK in two pages) beside a
// direct peer-to-peer connection between two pages, alternating in the same run. Each sample: page A is in
// the call (joined, publishing, alone, its connection up); the clock starts when page B starts joining (before its getUserMedia)
// and stops when both pages have decoded a video frame from each other. Through the SFU, page B also times its own
// join: until `connect()` resolves (socket, join, offer answered) and until its peer connection is connected.
// Each series is reported as a distribution (median, p95, max): a join that sometimes waits shows in the tail.
import type { Browser, Page } from 'playwright-core';
import { createTestApp } from '../test/helpers/app.js';
import { closeBrowser, firstFrameAt, installProbes, launchChromium, newMediaPage, p2pJoinToFirstFrame, serveTestPage } from '../test/helpers/browser.js';
import { createTestOrg } from '../test/helpers/builders.js';

/** A series of samples (ms): median, 95th percentile (nearest rank) and the slowest. */
export interface Distribution {
  medianMs: number;
  p95Ms: number;
  maxMs: number;
}

export interface JoinTimes {
  runs: number;
  sfuMs: number[];
  p2pMs: number[];
  sfuMedianMs: number;
  p2pMedianMs: number;
  ratio: number;
  verdict: 'PASS' | 'MISS';
  /** Join → first frame on both pages. */
  sfu: Distribution;
  p2p: Distribution;
  /** Page B through the SFU: join start → `connect()` resolved (its offer answered), and → its peer connection connected. */
  sfuJoinedMs: number[];
  sfuConnectedMs: number[];
  sfuJoined: Distribution;
  sfuConnected: Distribution;
  /** The slowest SFU join against the slowest P2P one (join → first frame on both pages). */
  maxRatio: number;
}

export const JOIN_TARGET_RATIO = 1.2;
/** The SDK's room: the probes read its media statistics (it exposes no peer connection). */
const PC = 'window.ov.room';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

export function distribution(xs: number[]): Distribution {
  const s = [...xs].sort((a, b) => a - b);
  return { medianMs: median(s), p95Ms: s[Math.max(0, Math.ceil(s.length * 0.95) - 1)]!, maxMs: s[s.length - 1]! };
}

export const formatDistribution = (d: Distribution) => `median ${d.medianMs}, p95 ${d.p95Ms}, max ${d.maxMs}`;

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

/** Joins through the SDK; resolves page-side times from the call: `connect()` resolved, and the media connection connected. */
function join(page: Page, base: string, answer: TokenAnswer): Promise<{ joinedMs: number; connectedMs: number }> {
  return page.evaluate(
    async ({ answer, origin }) => {
      const g = globalThis as unknown as { ovSdk: { connect(a: unknown, o: unknown): Promise<{ mediaState: string | null }> }; ov: { room: unknown } };
      const t0 = performance.now();
      // The token names PUBLIC_URL; the page reaches the server on its own origin.
      const room = await g.ovSdk.connect(answer, { apiOrigin: origin });
      g.ov = { room };
      const joinedMs = performance.now() - t0;
      const deadline = t0 + 20_000;
      while (room.mediaState !== 'connected') {
        if (performance.now() > deadline) throw new Error(`not connected within 20 s (${room.mediaState})`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      return { joinedMs: Math.round(joinedMs), connectedMs: Math.round(performance.now() - t0) };
    },
    { answer, origin: base },
  );
}

/** The token API's answer (the SDK takes it as it is). */
interface TokenAnswer {
  provider: string;
  url: string;
  token: string;
}

/** `runs` alternating SFU and P2P samples; throws if a sample fails. */
export async function measureJoinTimes(runs: number): Promise<JoinTimes> {
  const t = await createTestApp('pglite');
  const browser = await launchChromium();
  const pages = await serveTestPage();
  const sfuMs: number[] = [];
  const p2pMs: number[] = [];
  const sfuJoinedMs: number[] = [];
  const sfuConnectedMs: number[] = [];
  const sides: string[] = [];
  try {
    const org = await createTestOrg(t.app);
    const base = await t.listen();
    for (let i = 0; i < runs; i++) {
      const room = `bench-${i}`;
      await org.apiKey.post('/api/v1/rooms', { name: room });
      const token = async (identity: string) => (await org.apiKey.post('/api/v1/tokens', { room, identity })).json() as TokenAnswer;
      const [ta, tb] = [await token('a'), await token('b')];
      const a = await sdkPage(browser, base);
      const b = await sdkPage(browser, base);
      try {
        await join(a, base, ta);
        // A is in the call: its connection to the server is up (ICE and DTLS), as for anyone already talking.
        await a.waitForFunction(
          () => (globalThis as unknown as { ov: { room: { mediaState: string | null } } }).ov.room.mediaState === 'connected',
          undefined,
          { timeout: 10_000 },
        );
        const firstA = firstFrameAt(a, PC);
        firstA.catch(() => undefined);
        const t0 = Date.now();
        const joining = join(b, base, tb);
        // The SDK's media connection exists once B has joined; wait for it, then for its first frame.
        const own = await joining;
        const [atA, atB] = await Promise.all([firstA, firstFrameAt(b, PC)]);
        sfuMs.push(Math.max(atA, atB) - t0);
        sfuJoinedMs.push(own.joinedMs);
        sfuConnectedMs.push(own.connectedMs);
        sides.push(`A ${atA - t0} / B ${atB - t0}; B joined ${own.joinedMs}, connected ${own.connectedMs}`);
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
  const sfu = distribution(sfuMs);
  const p2p = distribution(p2pMs);
  return {
    runs,
    sfuMs,
    p2pMs,
    sfuMedianMs,
    p2pMedianMs,
    ratio,
    verdict: ratio <= JOIN_TARGET_RATIO ? 'PASS' : 'MISS',
    sfu,
    p2p,
    sfuJoinedMs,
    sfuConnectedMs,
    sfuJoined: distribution(sfuJoinedMs),
    sfuConnected: distribution(sfuConnectedMs),
    maxRatio: sfu.maxMs / p2p.maxMs,
  };
}
