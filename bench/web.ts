// `npm run bench:web`: the web app's weight and its patient path.
//  1. Production bundle: the JS the join page loads at start (dist/web: index.html's script and what it imports
//     statically, gzip -9), beside a bare React 19 page built by the same Vite in the same run (the framework's
//     floor) and the SDK bundle alone (dist/sdk/openvisit.js and its static imports); what loads only when needed
//     (twilio-video and the Twilio adapter, for rooms on Twilio) is counted apart.
//  2. Opening a join link → the first remote video frame in Chromium (the device check and consent completed by
//     clicks as soon as they can be, admission by the host app the moment the patient waits), p50 over
//     BENCH_WEB_RUNS (10) runs, beside a direct peer-to-peer call between two pages (join → first frame) measured
//     alternately in the same run.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { WebSocket } from 'ws';
import { spawnSync } from 'node:child_process';
import { createTestApp } from '../test/helpers/app.js';
import { closeBrowser, launchChromium, newMediaPage, p2pJoinToFirstFrame } from '../test/helpers/browser.js';
import { createTestOrg, type TestOrg } from '../test/helpers/builders.js';
import { ROOT, gitCommit, installCleanups, runBench } from './common.js';

const RUNS = Math.max(1, Number(process.env.BENCH_WEB_RUNS ?? 10));
const cleanups = installCleanups();

const gz = (file: string) => gzipSync(readFileSync(file), { level: 9 }).length;
const kib = (bytes: number) => Math.round((bytes / 1024) * 10) / 10;
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Weight {
  files: number;
  raw: number;
  gzip: number;
}

/** `entries` and the modules they import statically (not `import()`), as paths. */
function staticClosure(entries: string[]): Set<string> {
  const seen = new Set<string>();
  const todo = [...entries];
  while (todo.length > 0) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    // Minified ESM: `import{a as b}from"./x.js"`, `import"./x.js"`; `import("./x.js")` (loaded when needed) does not match.
    for (const m of readFileSync(file, 'utf8').matchAll(/\bimport\s*(?:[\w$*{}\s,]+from\s*)?["'](\.{1,2}\/[^"']+)["']/g)) todo.push(path.resolve(path.dirname(file), m[1]!));
  }
  return seen;
}

function weigh(files: Iterable<string>): Weight {
  const list = [...files];
  return { files: list.length, raw: list.reduce((n, f) => n + readFileSync(f).length, 0), gzip: list.reduce((n, f) => n + gz(f), 0) };
}

/** A built bundle's JS, gzip -9: what loads at start (from `entries`) and the rest of `dir` (loaded when needed). */
function bundleWeight(dir: string, entries: string[]): { start: Weight; later: Weight } {
  const start = staticClosure(entries);
  const all = readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => f.endsWith('.js'))
    .map((f) => path.join(dir, f));
  return { start: weigh(start), later: weigh(all.filter((f) => !start.has(f))) };
}

/** A Vite build: index.html's module scripts are the entries. */
function jsGzip(dir: string): { start: Weight; later: Weight } {
  const html = readFileSync(path.join(dir, 'index.html'), 'utf8');
  const entries = [...html.matchAll(/<script[^>]*type="module"[^>]*src="\/([^"]+)"/g)].map((m) => path.join(dir, m[1]!));
  return bundleWeight(path.join(dir, 'assets'), entries);
}

/** The floor: a React 19 page rendering one paragraph, built by the same Vite and plugin. */
async function bareReactGzip(): Promise<{ files: number; raw: number; gzip: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'ov-bench-web-'));
  cleanups.add(`temp dir ${dir}`, () => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><html><body><div id="root"></div><script type="module" src="./main.tsx"></script></body></html>');
  writeFileSync(
    path.join(dir, 'main.tsx'),
    "import { createRoot } from 'react-dom/client';\ncreateRoot(document.getElementById('root')!).render(<p>Hello</p>);\n",
  );
  const vite = await import('vite');
  const react = (await import('@vitejs/plugin-react')).default;
  await vite.build({ root: dir, configFile: false, logLevel: 'error', plugins: [react()], resolve: { alias: { react: path.join(ROOT, 'node_modules/react'), 'react-dom': path.join(ROOT, 'node_modules/react-dom') } }, build: { outDir: path.join(dir, 'dist'), target: ['chrome100', 'firefox100', 'safari15'] } });
  return jsGzip(path.join(dir, 'dist')).start;
}

/** The host app admits each patient the moment they wait (the hub socket, with its API key). */
function autoAdmit(base: string, org: TestOrg): Promise<() => void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace('http', 'ws')}/api/v1/events`, { headers: { authorization: `Bearer ${org.apiKey.key}` } });
    ws.on('error', reject);
    ws.on('message', (raw) => {
      const m = JSON.parse(String(raw)) as { type: string; event?: { type: string; data: { visitId: string; participantId: string } } };
      if (m.type === 'hello') resolve(() => ws.terminate());
      if (m.event?.type === 'visit.participant_waiting') void org.apiKey.post(`/api/v1/visits/${m.event.data.visitId}/participants/${m.event.data.participantId}/admit`);
    });
  });
}

/** The host in the call (the SDK in a page), publishing its fake camera; resolves once connected. */
async function hostInCall(browser: Browser, base: string, org: TestOrg, visitId: string): Promise<Page> {
  const page = await newMediaPage(browser);
  await page.goto(`${base}/sdk/openvisit.js`);
  const token = (await org.clinician.post(`/api/v1/visits/${visitId}/token`)).json() as { provider: string; token: string; url: string };
  await page.evaluate(
    async ({ token, origin }) => {
      const sdk = await import('/sdk/openvisit.js' as string);
      (globalThis as unknown as { host: unknown }).host = await sdk.connect(token, { apiOrigin: origin });
    },
    // The page's own origin (the token's URL names PUBLIC_URL, another name for this server).
    { token, origin: base },
  );
  return page;
}

/** In the page (a function, not a string: the page's CSP forbids eval): a decoded frame in a camera tile not the patient's own. */
function remoteFrame(): boolean {
  const g = globalThis as unknown as {
    sessionStorage: { getItem(k: string): string | null };
    document: { querySelectorAll(q: string): ArrayLike<{ getAttribute(n: string): string | null; querySelector(q: string): { getVideoPlaybackQuality(): { totalVideoFrames: number } } | null }> };
  };
  const me = (JSON.parse(g.sessionStorage.getItem('openvisit.participant') ?? '{}') as { participantId?: string }).participantId;
  return Array.from(g.document.querySelectorAll('figure.ov-tile--camera[data-identity]')).some((f) => {
    const v = f.querySelector('video');
    return f.getAttribute('data-identity') !== me && v !== null && v.getVideoPlaybackQuality().totalVideoFrames > 0;
  });
}

/** One run: a fresh visit; the host waits in it; the patient opens the link; ms until their first remote frame. */
async function joinLinkToFirstFrame(browser: Browser, base: string, org: TestOrg): Promise<number> {
  const patientId = (await org.clinician.post('/api/v1/patients', { givenName: 'Bench', familyName: 'Patient' })).json().id as string;
  const visit = (await org.clinician.post('/api/v1/visits', { patientIds: [patientId], start: true })).json() as { id: string };
  const link = (await org.clinician.post(`/api/v1/visits/${visit.id}/invites`, { role: 'patient', patientId })).json() as { url: string };
  const host = await hostInCall(browser, base, org, visit.id);
  const patient = await newMediaPage(browser);
  try {
    const started = Date.now();
    await patient.goto(link.url.replace(/^https?:\/\/[^/]+/, base));
    await patient.getByRole('button', { name: 'Continue' }).click({ timeout: 20_000 });
    await patient.getByLabel('I have read this and I agree').check();
    await patient.getByRole('button', { name: 'Accept and continue' }).click();
    // A decoded frame in a tile that is not the patient's own.
    await patient.waitForFunction(remoteFrame, undefined, { timeout: 30_000, polling: 10 });
    return Date.now() - started;
  } finally {
    await Promise.all([patient.context().close(), host.context().close()]);
    await org.clinician.post(`/api/v1/visits/${visit.id}/end`);
  }
}

async function main(): Promise<number> {
  console.log(`OpenVisit web app benchmark: bundle size, then join link → first remote frame × ${RUNS} (beside P2P)`);
  if (spawnSync(process.execPath, ['scripts/build.js'], { cwd: ROOT, stdio: 'inherit' }).status !== 0) throw new Error('the build failed');
  const webBuild = jsGzip(path.join(ROOT, 'dist/web'));
  const app = webBuild.start;
  const floor = await bareReactGzip();
  const sdkDir = path.join(ROOT, 'dist/sdk');
  const sdkWeight = bundleWeight(sdkDir, [path.join(sdkDir, 'openvisit.js')]);
  const sdk = sdkWeight.start.gzip;
  console.log('\nProduction bundle (JS, gzip -9)');
  console.log(`  web app (dist/web)      ${kib(app.gzip)} KiB gzip (${kib(app.raw)} KiB raw, ${app.files} file${app.files === 1 ? '' : 's'}) at start`);
  console.log(`  baseline: bare React 19 ${kib(floor.gzip)} KiB gzip (${kib(floor.raw)} KiB raw)`);
  console.log(`  of which the SDK alone  ${kib(sdk)} KiB gzip (dist/sdk/openvisit.js and ${sdkWeight.start.files - 1} chunk(s) it imports)`);
  console.log(`  loaded only when needed (a room on Twilio): web app ${kib(webBuild.later.gzip)} KiB gzip, SDK ${kib(sdkWeight.later.gzip)} KiB gzip`);
  console.log(`  OpenVisit adds ${kib(app.gzip - floor.gzip)} KiB gzip to the framework (${(app.gzip / floor.gzip).toFixed(2)}x)`);

  const t = await createTestApp('pglite', { env: { LOGIN_RATE_LIMIT_PER_MINUTE: '10000', TOKEN_RATE_LIMIT_PER_MINUTE: '100000', LOG_LEVEL: 'silent' } });
  cleanups.add('app', () => t.close());
  const browser = await launchChromium();
  cleanups.add('chromium', () => closeBrowser(browser));
  const org = await createTestOrg(t.app);
  const base = await t.listen();
  const stopAdmitting = await autoAdmit(base, org);
  cleanups.add('hub socket', stopAdmitting);

  // One unmeasured run of each warms Chromium, the server and the caches.
  await joinLinkToFirstFrame(browser, base, org);
  await p2pJoinToFirstFrame(browser, base);
  const web: number[] = [];
  const p2p: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    web.push(await joinLinkToFirstFrame(browser, base, org));
    p2p.push(await p2pJoinToFirstFrame(browser, base));
    console.log(`  run ${i + 1}/${RUNS}: join link → first frame ${web.at(-1)} ms; P2P ${p2p.at(-1)} ms`);
  }
  const webP50 = median(web);
  const p2pP50 = median(p2p);
  console.log('\nJoin link → first remote frame (Chromium, loopback, device check and consent clicked through)');
  console.log(`  web app p50 ${webP50} ms (min ${Math.min(...web)}, max ${Math.max(...web)})`);
  console.log(`  baseline: P2P join → first frame p50 ${p2pP50} ms (min ${Math.min(...p2p)}, max ${Math.max(...p2p)})`);
  console.log(`  the whole patient path costs ${(webP50 / p2pP50).toFixed(2)}x a bare P2P call setup`);
  console.log(
    JSON.stringify({
      bench: 'web',
      version: 1,
      date: new Date().toISOString(),
      commit: gitCommit(),
      bundle: { webGzip: app.gzip, webRaw: app.raw, files: app.files, bareReactGzip: floor.gzip, sdkGzip: sdk, webLaterGzip: webBuild.later.gzip, sdkLaterGzip: sdkWeight.later.gzip },
      join: { runs: RUNS, webMs: web, p2pMs: p2p, webP50Ms: webP50, p2pP50Ms: p2pP50, ratio: webP50 / p2pP50 },
    }),
  );
  return 0;
}

await runBench(main, cleanups.run);
