// Browser tests: Debian chromium driven by playwright-core, fed a known picture (solid RGB 200,50,100 with a
// moving white box) and a steady 440 Hz tone, plus page-side probes that prove real media arrived at the other
// end: frames decoded grow, the decoded picture has the known colour, two grabs differ (the box moves), the
// received audio peaks at 440 Hz. None of that can pass on silence, on black frames or on Chromium's default
// fake devices. See /work/shared/notes/media.md for the measured facts behind the flags.
//
// Every page-side piece is a string of JavaScript run with page.evaluate (not subject to the page's CSP, so it
// works under `script-src 'self'`; tsx's function-name helpers would break serialised functions anyway), and
// works on whatever RTCPeerConnection / MediaStreamTrack / HTMLVideoElement a page exposes. Each helper takes
// a JavaScript expression that the page evaluates to that object, e.g. 'window.__ovP2P.pc' or
// 'window.sdk.participant("bob").videoTrack'.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page, type WebSocketRoute } from 'playwright-core';
import WebSocket from 'ws';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export interface Rgb {
  r: number;
  g: number;
  b: number;
}

/** The colour of the fake camera's background (the note measured 199,50,100 after VP8 and back). */
export const FAKE_COLOUR: Rgb = { r: 200, g: 50, b: 100 };
/** The fake microphone's tone (the note measured 441 Hz through Opus and an AnalyserNode). */
export const FAKE_TONE_HZ = 440;
/** Largest per-channel difference accepted between the measured and the expected colour. */
export const COLOUR_TOLERANCE = 20;
export const TONE_TOLERANCE_HZ = 15;
/** How long a browser test waits for media that should arrive. */
export const MEDIA_WAIT_MS = 15_000;
/** Upper bound on any single page.evaluate (Playwright's own evaluate never times out). */
const EVALUATE_MS = 10_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Rejects with "`what` took longer than N ms" if `promise` has not settled in time. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Fake camera and microphone files

const FAKE_MEDIA_DIR = path.join(os.tmpdir(), 'openvisit-fake-media-v1');
const hex = (c: Rgb) => [c.r, c.g, c.b].map((v) => v.toString(16).padStart(2, '0')).join('');

function hasFile(file: string, minBytes: number): boolean {
  try {
    return statSync(file).size >= minBytes;
  } catch {
    return false;
  }
}

function runFfmpeg(args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += String(chunk)));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(
        err.code === 'ENOENT'
          ? new Error('ffmpeg is not installed; the browser tests need the Debian package ffmpeg: sudo apt-get install -y ffmpeg')
          : err,
      );
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`ffmpeg ${args.join(' ')} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
    });
  });
}

/** Generates `file` through a temporary name, so a concurrent test file never reads half of it. */
async function generate(file: string, minBytes: number, args: (out: string) => string[]): Promise<void> {
  if (hasFile(file, minBytes)) return;
  const part = `${file}.${process.pid}.${Date.now()}.part`;
  try {
    await runFfmpeg(args(part));
    renameSync(part, file);
  } finally {
    rmSync(part, { force: true });
  }
}

const fakeMedia = new Map<string, Promise<{ video: string; audio: string }>>();

/** The fake camera's picture size and rate (default 640x480 at 20 fps). */
export interface FakeVideo {
  width: number;
  height: number;
  fps: number;
}
const DEFAULT_FAKE_VIDEO: FakeVideo = { width: 640, height: 480, fps: 20 };

/**
 * The fake camera (640x480, 20 fps, 3 s, looped by Chromium: FAKE_COLOUR with an 80x80 white box moving along
 * the top band, y 40 to 120; another size and rate when asked) and microphone (FAKE_TONE_HZ sine, 48 kHz mono, 5 s,
 * a whole number of cycles so the loop is seamless). Generated once per machine under os.tmpdir(), reused afterwards.
 */
export function ensureFakeMedia(size: FakeVideo = DEFAULT_FAKE_VIDEO): Promise<{ video: string; audio: string }> {
  const { width, height, fps } = size;
  const name = `${width}x${height}-${fps}fps`;
  let made = fakeMedia.get(name);
  if (made) return made;
  made = (async () => {
    mkdirSync(FAKE_MEDIA_DIR, { recursive: true });
    const video = path.join(FAKE_MEDIA_DIR, `colour-${hex(FAKE_COLOUR)}-box-${name}.y4m`);
    const audio = path.join(FAKE_MEDIA_DIR, `tone-${FAKE_TONE_HZ}hz-48k.wav`);
    await generate(video, width * height * 1.5 * fps * 3, (out) => [
      '-f', 'lavfi', '-i', `color=c=0x${hex(FAKE_COLOUR)}:s=${width}x${height}:r=${fps}:d=3`,
      '-f', 'lavfi', '-i', 'color=c=white:s=80x80:r=20:d=3',
      '-filter_complex', "[0:v][1:v]overlay=x='mod(t*200,560)':y=40:shortest=1,format=yuv420p",
      '-f', 'yuv4mpegpipe', out,
    ]);
    await generate(audio, 48_000 * 2 * 5, (out) => [
      '-f', 'lavfi', '-i', `sine=frequency=${FAKE_TONE_HZ}:sample_rate=48000:duration=5`,
      '-ac', '1', '-c:a', 'pcm_s16le', '-f', 'wav', out,
    ]);
    return { video, audio };
  })();
  fakeMedia.set(name, made);
  made.catch(() => fakeMedia.delete(name));
  return made;
}

// ---------------------------------------------------------------------------------------------------------
// Chromium

export interface LaunchChromiumOptions {
  /** Feed the fake camera/microphone files (default true); false keeps Chromium's built-in fake devices. */
  fakeMedia?: boolean;
  /** The fake camera's size and rate (default 640x480 at 20 fps; the same picture, FAKE_COLOUR with the moving box). */
  fakeVideo?: FakeVideo;
  /**
   * 'host' (default): Chromium shares this machine's network. Its WebRTC gathers every interface, and with
   * several (eth0 and lo) it pairs its eth0 address with a peer's 127.0.0.1 candidate (measured: the pair
   * 192.0.2.2 -> 127.0.0.1 was selected over 127.0.0.1 -> 127.0.0.1, loopback having the lowest network
   * preference), so the far end sees a non-loopback peer-reflexive address.
   * 'loopback-only': Chromium runs in a network namespace of its own where only lo exists (root, or
   * unprivileged user namespaces; and iproute2), so WebRTC between its pages can only use 127.0.0.1. Pages
   * (newMediaPage) still load http://127.0.0.1:PORT from this process's servers: their HTTP requests and
   * WebSockets to 127.0.0.1 are carried over by Playwright. UDP is not: a server-side peer (the SFU) running
   * in this process is unreachable from it.
   */
  network?: 'host' | 'loopback-only';
  /** Extra Chromium switches. */
  args?: string[];
  timeoutMs?: number;
}

/**
 * Launches /usr/bin/chromium headless with fake media devices and loopback ICE. The caller closes it
 * (`await browser.close()`, in an after hook); `closeBrowser` bounds that.
 */
export async function launchChromium(options: LaunchChromiumOptions = {}): Promise<Browser> {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
  } catch {
    throw new Error(`${CHROMIUM_PATH} is missing; the browser tests need the Debian package chromium: sudo apt-get install -y chromium (never \`playwright install\`)`);
  }
  const media = options.fakeMedia === false ? undefined : await ensureFakeMedia(options.fakeVideo);
  const args = [
    '--headless=new',
    '--hide-scrollbars',
    '--mute-audio',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-renderer-backgrounding',
    '--autoplay-policy=no-user-gesture-required',
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    '--allow-loopback-in-peer-connection',
    ...(media ? [`--use-file-for-fake-video-capture=${media.video}`, `--use-file-for-fake-audio-capture=${media.audio}`] : []),
    ...(options.args ?? []),
  ];
  // headless: false so Playwright adds no --headless of its own; '--headless=new' above is the one in force.
  // Playwright gives each launch a fresh temporary --user-data-dir and removes it on close.
  const isolate = options.network === 'loopback-only';
  const executablePath = isolate ? loopbackOnlyLauncher() : CHROMIUM_PATH;
  const browser = await chromium.launch({ executablePath, headless: false, args, timeout: options.timeoutMs ?? 30_000 });
  if (isolate) loopbackOnly.add(browser);
  return browser;
}

/** Browsers launched with network: 'loopback-only' (their pages need the bridge to this process's loopback). */
const loopbackOnly = new WeakSet<Browser>();
let launcher: string | undefined;

/**
 * A launcher script that execs /usr/bin/chromium inside a new network namespace with only lo up (every step
 * an exec, so Playwright's pid and pipes are Chromium's own). Checked once per process.
 */
function loopbackOnlyLauncher(): string {
  if (launcher) return launcher;
  const ip = ['/usr/sbin/ip', '/sbin/ip', '/usr/bin/ip', '/bin/ip'].find((file) => {
    try {
      accessSync(file, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  const unshare = process.getuid?.() === 0 ? ['--net'] : ['--user', '--map-root-user', '--net'];
  const check = ip ? spawnSync('unshare', [...unshare, '--', ip, 'link', 'set', 'lo', 'up'], { encoding: 'utf8', timeout: 10_000 }) : undefined;
  if (!ip || check?.status !== 0) {
    throw new Error(
      "launchChromium({ network: 'loopback-only' }) needs `unshare` (util-linux) and `ip` (Debian package iproute2) and the right to " +
        `create a network namespace (root, or unprivileged user namespaces): ${ip ? `unshare ${unshare.join(' ')} failed: ${check?.error?.message ?? check?.stderr.trim()}` : 'ip not found'}`,
    );
  }
  const dir = path.join(os.tmpdir(), 'openvisit-browser');
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `chromium-loopback-only-${process.getuid?.() ?? 'user'}.sh`);
  const part = `${file}.${process.pid}.part`;
  writeFileSync(
    part,
    [
      '#!/bin/sh',
      '# Written by test/helpers/browser.ts: Chromium in a network namespace of its own, where only lo exists.',
      `exec unshare ${unshare.join(' ')} -- /bin/sh -c '${ip} link set lo up && exec ${CHROMIUM_PATH} "$@"' chromium "$@"`,
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  renameSync(part, file);
  launcher = file;
  return file;
}

/** Closes a browser within `ms` (its pages, contexts and processes); never throws. */
export async function closeBrowser(browser: Browser | undefined, ms = 15_000): Promise<void> {
  if (!browser) return;
  await withTimeout(browser.close(), ms, 'closing chromium').catch((err) => console.error(String(err)));
}

export interface MediaPageOptions {
  /** Ignore the page's Content-Security-Policy (only for pages that need page scripts injected; probes don't). */
  bypassCSP?: boolean;
  timeoutMs?: number;
  /** The window's size (default 800x600). */
  viewport?: { width: number; height: number };
  /** The device's time zone (an IANA name) and locale (default: the machine's). */
  timezoneId?: string;
  locale?: string;
}

/** A page in a fresh context of its own (its own renderer, as a separate participant would be). */
export async function newMediaPage(browser: Browser, options: MediaPageOptions = {}): Promise<Page> {
  const context: BrowserContext = await browser.newContext({
    bypassCSP: options.bypassCSP ?? false,
    viewport: options.viewport ?? { width: 800, height: 600 },
    ...(options.timezoneId ? { timezoneId: options.timezoneId } : {}),
    ...(options.locale ? { locale: options.locale } : {}),
  });
  context.setDefaultTimeout(options.timeoutMs ?? 15_000);
  context.setDefaultNavigationTimeout(options.timeoutMs ?? 15_000);
  if (loopbackOnly.has(browser)) await bridgeLoopback(context);
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  pageErrors.set(page, errors);
  return page;
}

const pageErrors = new WeakMap<Page, string[]>();

const isLoopbackUrl = (url: URL) => url.hostname === '127.0.0.1' || url.hostname === 'localhost' || url.hostname === '[::1]';

/**
 * For a browser in its own network namespace: its requests and WebSockets to 127.0.0.1 are made from this
 * process instead (so they reach this process's servers); the page sees the real responses and messages.
 * (Playwright's own WebSocketRoute.connectToServer connects from the page, which cannot reach them.)
 */
async function bridgeLoopback(context: BrowserContext): Promise<void> {
  await context.route(isLoopbackUrl, async (route) => {
    try {
      const response = await route.fetch({ maxRedirects: 0, timeout: 10_000 });
      await route.fulfill({ response });
    } catch {
      await route.abort('connectionrefused').catch(() => undefined);
    }
  });
  await context.routeWebSocket(isLoopbackUrl, (route) => proxyWebSocket(context, route));
}

/**
 * Carries one page WebSocket to the server from this process, with the context's cookies and the page's
 * origin. The page sees it open at once; messages it sends before the server connection opens are queued, and
 * a refused connection reaches it as a close with code 1011.
 */
function proxyWebSocket(context: BrowserContext, route: WebSocketRoute): void {
  const url = new URL(route.url());
  const queue: (string | Buffer)[] = [];
  let upstream: WebSocket | undefined;
  let closed = false;
  route.onMessage((message) => {
    if (upstream?.readyState === WebSocket.OPEN) upstream.send(message);
    else queue.push(message);
  });
  route.onClose((code, reason) => {
    closed = true;
    upstream?.close(code === 1005 || code === undefined ? 1000 : code, reason);
  });
  void (async () => {
    const cookies = await context.cookies(`${url.protocol === 'wss:' ? 'https' : 'http'}://${url.host}${url.pathname}`).catch(() => []);
    if (closed) return;
    const protocols = route.protocols();
    upstream = new WebSocket(url, protocols.length > 0 ? protocols : undefined, {
      origin: `${url.protocol === 'wss:' ? 'https' : 'http'}://${url.host}`,
      headers: cookies.length > 0 ? { cookie: cookies.map((c) => `${c.name}=${c.value}`).join('; ') } : {},
      handshakeTimeout: 10_000,
    });
    const ws = upstream;
    ws.on('open', () => {
      for (const message of queue.splice(0)) ws.send(message);
    });
    ws.on('message', (data: Buffer, isBinary: boolean) => route.send(isBinary ? data : data.toString()));
    ws.on('close', (code, reason) => {
      if (!closed) route.close({ code: code === 1005 || code === 1006 ? 1000 : code, reason: reason.toString() }).catch(() => undefined);
      closed = true;
    });
    ws.on('error', () => {
      if (!closed) route.close({ code: 1011, reason: 'the test bridge could not reach the server' }).catch(() => undefined);
      closed = true;
    });
  })();
}

/** Uncaught errors the page reported (for failure messages). */
export function errorsOf(page: Page): string[] {
  return pageErrors.get(page) ?? [];
}

// ---------------------------------------------------------------------------------------------------------
// A page server on 127.0.0.1 (a secure context for getUserMedia) with a strict CSP

export interface TestPageServer {
  /** e.g. http://127.0.0.1:41234/ */
  url: string;
  close(): Promise<void>;
}

export const STRICT_CSP = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'";

/** Serves one blank HTML page at every path, with `csp` (default STRICT_CSP). */
export async function serveTestPage(options: { csp?: string; html?: string } = {}): Promise<TestPageServer> {
  const html = options.html ?? '<!doctype html><html><head><meta charset="utf-8"><title>OpenVisit browser test</title></head><body></body></html>';
  const server = http.createServer((req, res) => {
    if (req.url === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': options.csp ?? STRICT_CSP, 'cache-control': 'no-store' });
    res.end(html);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Page-side probes: window.__ovProbe

/**
 * Defines window.__ovProbe in the page (idempotent):
 * `pc` is an RTCPeerConnection or the SDK's Room (anything with getStats()):
 *   framesDecoded(pc)            -> number    sum of inbound-rtp video framesDecoded
 *   audioPacketsReceived(pc)     -> number    sum of inbound-rtp audio packetsReceived
 *   firstFrame(pc, timeoutMs)    -> epoch ms  when framesDecoded first went above 0 (polls from the first call)
 *   selectedPair(pc)             -> { state, local: {address, port, protocol, candidateType}, remote: {...} } | null
 *   videoColour(src, timeoutMs)  -> { r, g, b, width, height }  mean of a patch below the moving box
 *   frameDiffers(src, gapMs)     -> { differs, fraction, width, height }  two grabs gapMs apart
 *   toneHz(audioTrack)           -> { hz, peakDb, medianDb, sampleRate }  dominant AnalyserNode bin
 *   release()                    -> drops the probes' elements and audio contexts (later calls make new ones)
 * `src` is a video MediaStreamTrack, a MediaStream or an HTMLVideoElement that is playing one.
 */
export const PROBE_SCRIPT = String.raw`(() => {
  if (window.__ovProbe) return true;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  let videos = new WeakMap();
  let audios = new WeakMap();
  const firsts = new WeakMap();
  const owned = [];

  const describe = (x) => x === null ? 'null' : x === undefined ? 'undefined' : (x.constructor && x.constructor.name) || typeof x;
  // An RTCPeerConnection, or anything that answers its statistics (the SDK's Room: getStats(), null without media).
  const needPc = (pc) => {
    if (!(pc instanceof RTCPeerConnection) && typeof (pc && pc.getStats) !== 'function') throw new Error('expected an RTCPeerConnection or a room with getStats(), got ' + describe(pc));
    return pc;
  };
  const stateOf = (pc) => pc.connectionState ?? pc.mediaState;
  async function inbound(pc, kind, field) {
    const report = await needPc(pc).getStats();
    let sum = 0;
    if (report) report.forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === kind) sum += s[field] || 0; });
    return sum;
  }

  function videoTrackOf(src) {
    if (src instanceof MediaStreamTrack) {
      if (src.kind !== 'video') throw new Error('expected a video track, got a ' + src.kind + ' track');
      return src;
    }
    if (src instanceof MediaStream) {
      const track = src.getVideoTracks()[0];
      if (!track) throw new Error('the MediaStream has no video track');
      return track;
    }
    throw new Error('expected an HTMLVideoElement, a MediaStream or a video MediaStreamTrack, got ' + describe(src));
  }
  async function videoElement(src, timeoutMs) {
    let el = src instanceof HTMLVideoElement ? src : undefined;
    let track;
    if (!el) {
      track = videoTrackOf(src);
      el = videos.get(track);
      if (!el) {
        el = document.createElement('video');
        el.muted = true;
        el.playsInline = true;
        el.autoplay = true;
        el.style.cssText = 'position:fixed;left:0;bottom:0;width:64px;height:48px;opacity:0.01;pointer-events:none';
        el.srcObject = new MediaStream([track]);
        document.body.appendChild(el);
        videos.set(track, el);
        owned.push(el);
      }
    }
    if (el.paused) el.play().catch(() => undefined);
    const deadline = performance.now() + timeoutMs;
    while (!(el.readyState >= 2 && el.videoWidth > 0 && el.videoHeight > 0)) {
      if (performance.now() > deadline) {
        const t = track || (el.srcObject instanceof MediaStream ? el.srcObject.getVideoTracks()[0] : undefined);
        throw new Error('no decoded video frame to draw within ' + timeoutMs + ' ms (video readyState ' + el.readyState +
          ', track ' + (t ? t.readyState + (t.muted ? ', muted' : ', unmuted') : 'none') + ')');
      }
      await sleep(20);
    }
    return el;
  }
  function grab(el) {
    const w = el.videoWidth, h = el.videoHeight;
    const canvas = document.createElement('canvas');
    canvas.width = w;
    canvas.height = h;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    ctx.drawImage(el, 0, 0, w, h);
    return ctx.getImageData(0, 0, w, h);
  }

  async function analyserFor(track) {
    let a = audios.get(track);
    if (!a) {
      const stream = new MediaStream([track]);
      // Chromium only pulls a remote WebRTC audio track into Web Audio while a media element plays it.
      const el = document.createElement('audio');
      el.muted = true;
      el.autoplay = true;
      el.srcObject = stream;
      document.body.appendChild(el);
      el.play().catch(() => undefined);
      const ctx = new AudioContext();
      const analyser = ctx.createAnalyser();
      analyser.fftSize = 8192;
      analyser.smoothingTimeConstant = 0;
      ctx.createMediaStreamSource(stream).connect(analyser);
      const silent = ctx.createGain();
      silent.gain.value = 0;
      analyser.connect(silent);
      silent.connect(ctx.destination);
      a = { ctx, analyser, el };
      audios.set(track, a);
      owned.push(a);
    }
    if (a.ctx.state !== 'running') await Promise.race([a.ctx.resume(), sleep(1000)]);
    return a;
  }

  window.__ovProbe = {
    framesDecoded: (pc) => inbound(pc, 'video', 'framesDecoded'),
    audioPacketsReceived: (pc) => inbound(pc, 'audio', 'packetsReceived'),
    firstFrame(pc, timeoutMs = 20000) {
      needPc(pc);
      let first = firsts.get(pc);
      if (!first) {
        first = (async () => {
          const deadline = Date.now() + timeoutMs;
          for (;;) {
            if ((await inbound(pc, 'video', 'framesDecoded')) > 0) return Date.now();
            if (Date.now() > deadline) throw new Error('no video frame decoded within ' + timeoutMs + ' ms (connection ' + stateOf(pc) + ')');
            await sleep(10);
          }
        })();
        first.catch(() => undefined);
        firsts.set(pc, first);
      }
      return first;
    },
    async selectedPair(pc) {
      const report = await needPc(pc).getStats();
      if (!report) return null;
      let pair;
      report.forEach((s) => { if (s.type === 'transport' && s.selectedCandidatePairId) pair = report.get(s.selectedCandidatePairId); });
      if (!pair) report.forEach((s) => { if (!pair && s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s; });
      if (!pair) return null;
      const side = (id) => {
        const c = report.get(id);
        return c ? { address: c.address || c.ip, port: c.port, protocol: c.protocol, candidateType: c.candidateType } : null;
      };
      return { state: pair.state, local: side(pair.localCandidateId), remote: side(pair.remoteCandidateId) };
    },
    async videoColour(src, timeoutMs = 5000) {
      const img = grab(await videoElement(src, timeoutMs));
      const w = img.width, h = img.height;
      // Below the box's band (y 40..120 of 480), away from the edges.
      const x0 = Math.floor(w * 0.3), x1 = Math.ceil(w * 0.7), y0 = Math.floor(h * 0.6), y1 = Math.ceil(h * 0.9);
      let r = 0, g = 0, b = 0, n = 0;
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const i = (y * w + x) * 4;
          r += img.data[i]; g += img.data[i + 1]; b += img.data[i + 2]; n++;
        }
      }
      return { r: Math.round(r / n), g: Math.round(g / n), b: Math.round(b / n), width: w, height: h };
    },
    async frameDiffers(src, gapMs = 300, timeoutMs = 5000) {
      const el = await videoElement(src, timeoutMs);
      const a = grab(el);
      await sleep(gapMs);
      const b = grab(el);
      if (a.width !== b.width || a.height !== b.height) return { differs: true, fraction: 1, width: b.width, height: b.height };
      let changed = 0;
      for (let i = 0; i < a.data.length; i += 4) {
        const d = Math.max(Math.abs(a.data[i] - b.data[i]), Math.abs(a.data[i + 1] - b.data[i + 1]), Math.abs(a.data[i + 2] - b.data[i + 2]));
        if (d > 48) changed++;
      }
      // The 80x80 box moving 60 px between grabs changes about 3 % of a 640x480 frame; codec noise, none.
      const fraction = changed / (a.width * a.height);
      return { differs: fraction > 0.002, fraction, width: a.width, height: a.height };
    },
    async toneHz(track) {
      if (!(track instanceof MediaStreamTrack) || track.kind !== 'audio') throw new Error('expected an audio MediaStreamTrack, got ' + (track instanceof MediaStreamTrack ? 'a ' + track.kind + ' track' : describe(track)));
      const a = await analyserFor(track);
      // A full analysis window of audio that arrived after this call.
      await sleep(Math.ceil((a.analyser.fftSize / a.ctx.sampleRate) * 1000) + 60);
      const bins = new Float32Array(a.analyser.frequencyBinCount);
      a.analyser.getFloatFrequencyData(bins);
      let peak = 1;
      for (let i = 2; i < bins.length - 1; i++) if (bins[i] > bins[peak]) peak = i;
      const l = bins[peak - 1], c = bins[peak], r = bins[peak + 1];
      const denom = l - 2 * c + r;
      const shift = Number.isFinite(denom) && denom !== 0 ? Math.max(-0.5, Math.min(0.5, (0.5 * (l - r)) / denom)) : 0;
      const sorted = Array.from(bins).filter(Number.isFinite).sort((x, y) => x - y);
      return {
        hz: ((peak + shift) * a.ctx.sampleRate) / a.analyser.fftSize,
        peakDb: Number.isFinite(c) ? c : -1000,
        medianDb: sorted.length ? sorted[Math.floor(sorted.length / 2)] : -1000,
        sampleRate: a.ctx.sampleRate,
        contextState: a.ctx.state,
      };
    },
    release() {
      videos = new WeakMap();
      audios = new WeakMap();
      for (const o of owned.splice(0)) {
        if (o instanceof HTMLMediaElement) { o.srcObject = null; o.remove(); }
        else { o.el.srcObject = null; o.el.remove(); o.ctx.close().catch(() => undefined); }
      }
    },
  };
  return true;
})()`;

/** Installs window.__ovProbe (idempotent; again after each navigation). Works under a strict CSP. */
export async function installProbes(page: Page): Promise<void> {
  await withTimeout(page.evaluate(PROBE_SCRIPT), EVALUATE_MS, 'installing the media probes');
}

/** Runs `window.__ovProbe.<call>` in the page, bounded. */
async function probe<T>(page: Page, call: string, ms = EVALUATE_MS): Promise<T> {
  await installProbes(page);
  return withTimeout(page.evaluate(`window.__ovProbe.${call}`) as Promise<T>, ms, `window.__ovProbe.${call}`);
}

export interface PollOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/** Polls `read` until `accept` holds; the error names `what`, the last value read or error, and page errors. */
async function pollUntil<T>(page: Page, what: string, read: () => Promise<T>, accept: (value: T) => boolean, options: PollOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? MEDIA_WAIT_MS;
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      last = await read();
      lastError = undefined;
      if (accept(last)) return last;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const seen = lastError ? `last error: ${(lastError instanceof Error ? lastError.message : String(lastError)).split('\n')[0]}` : `last seen: ${JSON.stringify(last)}`;
      const errors = errorsOf(page);
      throw new Error(`${what}: not within ${timeoutMs} ms (${seen})${errors.length > 0 ? `; errors on the page: ${errors.slice(-3).join(' | ')}` : ''}`);
    }
    await sleep(options.intervalMs ?? 200);
  }
}

export const framesDecoded = (page: Page, pcExpr: string) => probe<number>(page, `framesDecoded(${pcExpr})`);
export const audioPacketsReceived = (page: Page, pcExpr: string) => probe<number>(page, `audioPacketsReceived(${pcExpr})`);

/** Waits until the page has decoded `by` more video frames than when called; returns the counts. */
export async function waitForFramesGrowing(page: Page, pcExpr: string, options: PollOptions & { by?: number } = {}) {
  const from = await framesDecoded(page, pcExpr).catch(() => 0);
  const to = await pollUntil(page, `video frames decoded on ${pcExpr} growing by ${options.by ?? 10} from ${from}`, () => framesDecoded(page, pcExpr), (n) => n >= from + (options.by ?? 10), options);
  return { from, to };
}

/** Waits until the page has received `by` more audio packets than when called; returns the counts. */
export async function waitForAudioPacketsGrowing(page: Page, pcExpr: string, options: PollOptions & { by?: number } = {}) {
  const from = await audioPacketsReceived(page, pcExpr).catch(() => 0);
  const to = await pollUntil(page, `audio packets received on ${pcExpr} growing by ${options.by ?? 20} from ${from}`, () => audioPacketsReceived(page, pcExpr), (n) => n >= from + (options.by ?? 20), options);
  return { from, to };
}

/** Epoch ms of the first decoded video frame on `pcExpr` (start it early: polling begins on the first call). */
export function firstFrameAt(page: Page, pcExpr: string, timeoutMs = MEDIA_WAIT_MS): Promise<number> {
  return probe<number>(page, `firstFrame(${pcExpr}, ${timeoutMs})`, timeoutMs + 2000);
}

export interface ColourReading extends Rgb {
  width: number;
  height: number;
}

export const videoColour = (page: Page, videoExpr: string) => probe<ColourReading>(page, `videoColour(${videoExpr})`);

export function colourMatches(measured: Rgb, expected: Rgb, tolerance = COLOUR_TOLERANCE): boolean {
  return Math.abs(measured.r - expected.r) <= tolerance && Math.abs(measured.g - expected.g) <= tolerance && Math.abs(measured.b - expected.b) <= tolerance;
}

/** Waits until the decoded video of `videoExpr` shows `colour` (below the moving box); returns the reading. */
export function expectVideoFrom(page: Page, videoExpr: string, colour: Rgb = FAKE_COLOUR, options: PollOptions & { tolerance?: number } = {}) {
  return pollUntil(
    page,
    `video of ${videoExpr} showing rgb(${colour.r},${colour.g},${colour.b}) ±${options.tolerance ?? COLOUR_TOLERANCE}`,
    () => videoColour(page, videoExpr),
    (c) => colourMatches(c, colour, options.tolerance),
    options,
  );
}

export interface DiffReading {
  differs: boolean;
  fraction: number;
  width: number;
  height: number;
}

/** Waits until two grabs of `videoExpr` taken `gapMs` apart differ (the moving box: frames are live). */
export function expectFramesDiffer(page: Page, videoExpr: string, options: PollOptions & { gapMs?: number } = {}) {
  return pollUntil(page, `two grabs of ${videoExpr} differing (live video)`, () => probe<DiffReading>(page, `frameDiffers(${videoExpr}, ${options.gapMs ?? 300})`), (d) => d.differs, options);
}

export interface ToneReading {
  hz: number;
  peakDb: number;
  medianDb: number;
  sampleRate: number;
  contextState: string;
}

export const toneOf = (page: Page, audioExpr: string) => probe<ToneReading>(page, `toneHz(${audioExpr})`);

/**
 * A clear tone at `hz`: the dominant bin within `toleranceHz`, audible, and far above the median bin. Measured
 * P2P with getUserMedia's default processing: the peak settles from -38 to -51 dB within 2 s (AGC and noise
 * suppression at work), the median bin stays near -145 dB; silence reads -1000 (no finite bin).
 */
export function toneMatches(reading: ToneReading, hz: number, toleranceHz = TONE_TOLERANCE_HZ): boolean {
  return Math.abs(reading.hz - hz) <= toleranceHz && reading.peakDb > -75 && reading.peakDb - reading.medianDb > 30;
}

/** Waits until the received audio of `audioExpr` peaks at `hz`; returns the reading. */
export function expectTone(page: Page, audioExpr: string, hz = FAKE_TONE_HZ, options: PollOptions & { toleranceHz?: number } = {}) {
  return pollUntil(page, `a ${hz} Hz tone on ${audioExpr}`, () => toneOf(page, audioExpr), (t) => toneMatches(t, hz, options.toleranceHz), options);
}

export interface SelectedPair {
  state: string;
  local: { address: string; port: number; protocol: string; candidateType: string } | null;
  remote: { address: string; port: number; protocol: string; candidateType: string } | null;
}

/** Waits until `pcExpr` has a selected candidate pair on 127.0.0.1 at both ends; returns it. */
export async function expectLoopbackPair(page: Page, pcExpr: string, options: PollOptions = {}): Promise<SelectedPair> {
  const pair = await pollUntil(
    page,
    `a selected ICE candidate pair on 127.0.0.1 for ${pcExpr}`,
    () => probe<SelectedPair | null>(page, `selectedPair(${pcExpr})`),
    (p) => p?.local?.address === '127.0.0.1' && p.remote?.address === '127.0.0.1',
    options,
  );
  return pair as SelectedPair;
}

// ---------------------------------------------------------------------------------------------------------
// Two pages connected peer to peer (SDP exchanged through Playwright; only 127.0.0.1 candidates)

/**
 * window.__ovP2P: start() (getUserMedia audio+video, an RTCPeerConnection with no ICE servers, remote tracks
 * kept in remote.audio / remote.video), offer(), answer(offerSdp), accept(answerSdp), close(). Offers and
 * answers wait for ICE gathering and keep only the 127.0.0.1 UDP candidates.
 */
const P2P_SCRIPT = String.raw`(() => {
  if (window.__ovP2P) return true;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const p2p = {
    pc: null,
    local: null,
    remote: { audio: null, video: null },
    async start() {
      this.local = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
      const pc = new RTCPeerConnection({ iceServers: [] });
      for (const track of this.local.getTracks()) pc.addTrack(track, this.local);
      pc.ontrack = (e) => { this.remote[e.track.kind] = e.track; };
      this.pc = pc;
      return this.local.getTracks().map((t) => t.kind + ':' + t.label);
    },
    async localSdp() {
      const pc = this.pc;
      const deadline = performance.now() + 5000;
      while (pc.iceGatheringState !== 'complete' && performance.now() < deadline) await sleep(5);
      const sdp = pc.localDescription.sdp;
      const lines = sdp.split('\r\n');
      const kept = lines.filter((l) => !l.startsWith('a=candidate:') || / udp /i.test(l) && / 127\.0\.0\.1 /.test(l));
      if (!kept.some((l) => l.startsWith('a=candidate:'))) {
        throw new Error('no 127.0.0.1 UDP ICE candidate gathered (is --allow-loopback-in-peer-connection set?); gathered: ' +
          lines.filter((l) => l.startsWith('a=candidate:')).join(' | '));
      }
      return kept.join('\r\n');
    },
    async offer() {
      await this.pc.setLocalDescription(await this.pc.createOffer());
      return this.localSdp();
    },
    async answer(sdp) {
      await this.pc.setRemoteDescription({ type: 'offer', sdp });
      await this.pc.setLocalDescription(await this.pc.createAnswer());
      return this.localSdp();
    },
    async accept(sdp) {
      await this.pc.setRemoteDescription({ type: 'answer', sdp });
      return true;
    },
    close() {
      if (this.pc) this.pc.close();
      if (this.local) for (const t of this.local.getTracks()) t.stop();
      return true;
    },
  };
  window.__ovP2P = p2p;
  return true;
})()`;

export const P2P = {
  pc: 'window.__ovP2P.pc',
  remoteVideo: 'window.__ovP2P.remote.video',
  remoteAudio: 'window.__ovP2P.remote.audio',
} as const;

export interface P2PPair {
  /** The page already waiting (answers). */
  a: Page;
  /** The page that joins (offers). */
  b: Page;
  /** From B's page ready (before its getUserMedia and offer) to the first decoded video frame on both A and B. */
  joinToFirstFrameMs: number;
  close(): Promise<void>;
}

async function p2pPage(browser: Browser, baseUrl: string): Promise<Page> {
  const page = await newMediaPage(browser);
  await page.goto(baseUrl, { waitUntil: 'load' });
  await installProbes(page);
  await withTimeout(page.evaluate(P2P_SCRIPT), EVALUATE_MS, 'installing the P2P script');
  return page;
}

const p2pCall = <T>(page: Page, call: string, what: string) => withTimeout(page.evaluate(`window.__ovP2P.${call}`) as Promise<T>, EVALUATE_MS, what);

/**
 * Opens page A (getUserMedia, peer connection) and then page B, which joins: getUserMedia, offer to A, A's
 * answer, ICE/DTLS on 127.0.0.1, until both decode a video frame. `baseUrl` serves a blank page on 127.0.0.1
 * (serveTestPage). The caller closes the pair.
 */
export async function connectP2P(browser: Browser, baseUrl: string, timeoutMs = MEDIA_WAIT_MS): Promise<P2PPair> {
  const pages: Page[] = [];
  const close = async () => {
    for (const page of pages) {
      await withTimeout(page.evaluate('window.__ovP2P && window.__ovP2P.close()'), 5000, 'closing a peer connection').catch(() => undefined);
      await withTimeout(page.context().close(), 10_000, 'closing a page').catch(() => undefined);
    }
  };
  try {
    const a = await p2pPage(browser, baseUrl);
    pages.push(a);
    await p2pCall(a, 'start()', 'getUserMedia on page A');
    const firstA = firstFrameAt(a, P2P.pc, timeoutMs);
    firstA.catch(() => undefined);
    const b = await p2pPage(browser, baseUrl);
    pages.push(b);
    const t0 = Date.now();
    await p2pCall(b, 'start()', 'getUserMedia on page B');
    const firstB = firstFrameAt(b, P2P.pc, timeoutMs);
    firstB.catch(() => undefined);
    const offer = await p2pCall<string>(b, 'offer()', 'the offer from page B');
    const answer = await p2pCall<string>(a, `answer(${JSON.stringify(offer)})`, 'the answer from page A');
    await p2pCall(b, `accept(${JSON.stringify(answer)})`, 'page B accepting the answer');
    const [atA, atB] = await Promise.all([
      firstA.catch((err: Error) => Promise.reject(new Error(`page A (receiving B): ${err.message}`))),
      firstB.catch((err: Error) => Promise.reject(new Error(`page B (receiving A): ${err.message}`))),
    ]);
    return { a, b, joinToFirstFrameMs: Math.max(atA, atB) - t0, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** One measurement for benchmarks: connects two fresh pages, returns join-to-first-frame ms, closes them. */
export async function p2pJoinToFirstFrame(browser: Browser, baseUrl: string): Promise<number> {
  const pair = await connectP2P(browser, baseUrl);
  try {
    return pair.joinToFirstFrameMs;
  } finally {
    await pair.close();
  }
}

/** Where the browser tests' screenshots go (git-ignored; docs/screenshots/ holds chosen copies). */
export const SCREENSHOTS = path.resolve('test-results/screenshots');

/** A screenshot of what the window shows (`fullPage`: the whole page) as SCREENSHOTS/`name`.png. */
export async function screenshot(page: Page, name: string, options: { fullPage?: boolean } = {}): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: options.fullPage ?? false });
}

/** Signs a staff member in to the console at `base` and waits for its navigation. */
export async function signInToConsole(page: Page, base: string, email: string, password: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('link', { name: 'Patients' }).waitFor();
}

/** The page is no wider than the window: nothing scrolls sideways. */
export async function assertNoSidewaysScroll(page: Page, what: string): Promise<void> {
  const [scrollWidth, innerWidth] = (await page.evaluate('[document.documentElement.scrollWidth, window.innerWidth]')) as [number, number];
  assert.ok(scrollWidth <= innerWidth, `${what}: the page scrolls sideways (${scrollWidth} > ${innerWidth})`);
}

export interface FrameReading {
  objectFit: string;
  videoWidth: number;
  videoHeight: number;
  /** The screenshot of the element's box (CSS px at device scale 1) and where the known picture is in it. */
  width: number;
  height: number;
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/**
 * Where the known picture is inside the displayed box of `selector`'s video: a screenshot of the element (what the
 * person sees, overlays included), decoded in the page, scanned along rows and columns through the middle for pixels
 * of FAKE_COLOUR (`mask`: a selector of what else shows the same picture over it, masked out). Cropped (object-fit: cover) the picture fills the box;
 * shown whole it fills it in one direction only and keeps the video's proportions.
 */
export async function frameInBox(page: Page, selector: string, mask?: string): Promise<FrameReading> {
  const video = page.locator(selector);
  const meta = (await page.evaluate(
    `(() => { const el = document.querySelector(${JSON.stringify(selector)}); return { objectFit: getComputedStyle(el).objectFit, videoWidth: el.videoWidth, videoHeight: el.videoHeight }; })()`,
  )) as {
    objectFit: string;
    videoWidth: number;
    videoHeight: number;
  };
  // Whatever else shows the same known picture over the video (a self view) is masked out, in black.
  const png = (await video.screenshot({ animations: 'disabled', ...(mask ? { mask: [page.locator(mask)], maskColor: '#000000' } : {}) })).toString('base64');
  const found = (await page.evaluate(
    `(async () => {
      const img = new Image();
      img.src = 'data:image/png;base64,${png}';
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const g = canvas.getContext('2d', { willReadFrequently: true });
      g.drawImage(img, 0, 0);
      const W = canvas.width, H = canvas.height;
      const data = g.getImageData(0, 0, W, H).data;
      const c = ${JSON.stringify(FAKE_COLOUR)};
      const ours = (x, y) => { const i = (y * W + x) * 4; return Math.abs(data[i] - c.r) <= 40 && Math.abs(data[i + 1] - c.g) <= 40 && Math.abs(data[i + 2] - c.b) <= 40; };
      let top = H, bottom = -1, left = W, right = -1;
      for (const f of [0.3, 0.4, 0.5, 0.6, 0.7]) {
        const x = Math.round(f * (W - 1));
        for (let y = 0; y < H; y++) if (ours(x, y)) { top = Math.min(top, y); bottom = Math.max(bottom, y); }
      }
      for (const f of [0.4, 0.5, 0.6, 0.7]) {
        const y = Math.round(f * (H - 1));
        for (let x = 0; x < W; x++) if (ours(x, y)) { left = Math.min(left, x); right = Math.max(right, x); }
      }
      return { width: W, height: H, top, bottom, left, right };
    })()`,
  )) as Omit<FrameReading, 'objectFit' | 'videoWidth' | 'videoHeight'>;
  return { ...meta, ...found };
}

/**
 * The main video shows the whole picture: contain, and the picture found in the element's displayed box has the
 * video's proportions and the contain size, centred, with bars on two sides when the box has another shape (a box
 * of the video's own shape shows it edge to edge: all four edges are then in view). Returns the reading and
 * whether the box's shape could tell whole from cropped at all.
 */
export async function expectWholePicture(page: Page, selector: string, what: string, mask?: string): Promise<FrameReading & { telling: boolean }> {
  const r = await frameInBox(page, selector, mask);
  const detail = `${what}: ${JSON.stringify(r)}`;
  assert.equal(r.objectFit, 'contain', detail);
  assert.ok(r.videoWidth > 0 && r.videoHeight > 0, detail);
  assert.ok(r.right > r.left && r.bottom > r.top, `${detail} (the known picture was not found)`);
  const videoAspect = r.videoWidth / r.videoHeight;
  const boxAspect = r.width / r.height;
  // Only a box of another shape than the video can tell whole from cropped (cover crops nothing in its own shape).
  const telling = Math.abs(boxAspect / videoAspect - 1) > 0.1;
  const shown = { w: r.right - r.left + 1, h: r.bottom - r.top + 1 };
  const fit = boxAspect > videoAspect ? { w: r.height * videoAspect, h: r.height } : { w: r.width, h: r.width / videoAspect };
  // The picture keeps its proportions (cropping to the box would give the box's) and has the contain size...
  assert.ok(Math.abs(shown.w / shown.h / videoAspect - 1) < 0.04, `${detail} (the picture shown is ${shown.w}x${shown.h}, not in the video's proportions)`);
  assert.ok(Math.abs(shown.w / fit.w - 1) < 0.03 && Math.abs(shown.h / fit.h - 1) < 0.03, `${detail} (expected the picture at ${Math.round(fit.w)}x${Math.round(fit.h)})`);
  // ...centred, with bars on the two other sides (its edges are inside the box, so nothing of it is cut), or edge to
  // edge in a box of its own shape.
  if (!telling) assert.ok(r.left <= 4 && r.top <= 4 && r.width - 1 - r.right <= 4 && r.height - 1 - r.bottom <= 4, `${detail} (not edge to edge)`);
  else if (boxAspect > videoAspect) assert.ok(r.left > 10 && r.width - 1 - r.right > 10 && Math.abs(r.left - (r.width - 1 - r.right)) <= 4, `${detail} (not centred between side bars)`);
  else assert.ok(r.top > 10 && r.height - 1 - r.bottom > 10 && Math.abs(r.top - (r.height - 1 - r.bottom)) <= 4, `${detail} (not centred between top and bottom bars)`);
  return { ...r, telling };
}

export interface Geometry {
  innerWidth: number;
  innerHeight: number;
  scrollWidth: number;
  scrollHeight: number;
  scrollX: number;
  scrollY: number;
}
export const geometry = (page: Page) =>
  page.evaluate(
    `({ innerWidth, innerHeight, scrollX, scrollY, scrollWidth: document.documentElement.scrollWidth, scrollHeight: document.documentElement.scrollHeight })`,
  ) as Promise<Geometry>;

/** Each control is wholly inside the window as it is (no scrolling); nothing is wider than the window. */
export async function expectInView(
  page: Page,
  what: string,
  controls: { name: string | RegExp; role?: 'button' | 'heading' | 'link' | 'timer' }[],
  opts: { noVerticalScroll: boolean; onOverflow?: (page: Page, name: string) => Promise<unknown> },
) {
  const g = await geometry(page);
  assert.equal(g.scrollX, 0, `${what}: scrolled sideways`);
  assert.equal(g.scrollY, 0, `${what}: scrolled down`);
  assert.ok(g.scrollWidth <= g.innerWidth, `${what}: the page is ${g.scrollWidth} px wide in a ${g.innerWidth} px window (sideways scrolling)`);
  if (opts.noVerticalScroll && g.scrollHeight > g.innerHeight) {
    await opts.onOverflow?.(page, `failed-${what.replace(/[^a-z0-9]+/gi, '-')}`);
    const below = await page.evaluate(
      `[...document.querySelectorAll('body *')].filter((el) => el.getBoundingClientRect().bottom > innerHeight).slice(0, 6).map((el) => el.tagName + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().bottom)).join(', ')`,
    );
    assert.fail(`${what}: the page is ${g.scrollHeight} px tall in a ${g.innerHeight} px window (scrolling needed; reaching below: ${String(below)})`);
  }
  for (const c of controls) {
    const locator = page.getByRole(c.role ?? 'button', { name: c.name });
    assert.equal(await locator.count(), 1, `${what}: expected one ${c.role ?? 'button'} ${String(c.name)}`);
    assert.ok(await locator.isVisible(), `${what}: ${String(c.name)} is not visible`);
    const box = await locator.boundingBox();
    assert.ok(box, `${what}: ${String(c.name)} has no box`);
    const inside = box.x >= 0 && box.y >= 0 && box.x + box.width <= g.innerWidth + 0.5 && box.y + box.height <= g.innerHeight + 0.5;
    assert.ok(inside, `${what}: ${String(c.name)} at ${JSON.stringify(box)} is not inside the ${g.innerWidth}x${g.innerHeight} window`);
  }
}
