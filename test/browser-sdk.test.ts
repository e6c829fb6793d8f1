// The browser SDK in Debian Chromium through the embedded SFU: two pages (separate contexts, fake camera and
// microphone fed a known picture and a 440 Hz tone) load /sdk/openvisit.js from the app under its strict CSP,
// join one room with tokens from the REST API, and each proves the other's media arrived: decoded frames grow,
// the picture has the known colour, two grabs differ, the audio peaks at 440 Hz. Then the signaling socket of
// one page is dropped and media is shown to resume on the same session, and a token that expired meanwhile is
// replaced through the SDK's getToken (same identity, nobody sees a leave).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page, WebSocketRoute } from 'playwright-core';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestOrg, type TestOrg } from './helpers/builders.js';
import { createTokenSigner } from '../src/server/rooms/builtin/tokens.js';
import {
  closeBrowser,
  expectFramesDiffer,
  expectTone,
  expectVideoFrom,
  framesDecoded,
  installProbes,
  launchChromium,
  newMediaPage,
  waitForAudioPacketsGrowing,
  waitForFramesGrowing,
  withTimeout,
} from './helpers/browser.js';

/** The room itself: the probes read its media statistics (getStats), the SDK exposes no peer connection. */
const PC = 'window.ov.room';
const SECRET = 'browser-sdk-token-secret-'.repeat(2);
const REMOTE_VIDEO = 'window.ov.remote.camera.el';
const REMOTE_AUDIO = 'window.ov.remote.microphone.track';

/** What the token API answers (the SDK takes it as it is). */
interface TokenAnswer {
  provider: string;
  url: string;
  token: string;
}

/**
 * Loads the SDK from the app into the page and connects; remote tracks land in window.ov.remote[source]. A token
 * answer given as a function is fetched once the page is loaded (a short-lived token then lives for the join only).
 */
async function joinInPage(page: Page, base: string, token: TokenAnswer | (() => Promise<TokenAnswer>), options: { refreshable?: boolean } = {}): Promise<{ identity: string; participants: string[] }> {
  await page.goto(`${base}/`);
  await installProbes(page);
  const answer = typeof token === 'function' ? await token() : token;
  return page.evaluate(
    async ({ answer, origin, refreshable }) => {
      const sdk = await import('/sdk/openvisit.js' as string);
      // `freshToken` is exposed by the test (page.exposeFunction): the page asks its server for a new token.
      const fresh = (globalThis as unknown as { freshToken?: () => Promise<string> }).freshToken;
      // The token names PUBLIC_URL; the page reaches the server on its own origin.
      const room = new sdk.Room({ apiOrigin: origin, ...(refreshable && fresh ? { getToken: fresh } : {}) });
      const ov = { room, remote: {} as Record<string, unknown>, events: [] as string[] };
      // Runs in the page (this test file is type-checked without the DOM library: page globals via globalThis).
      const page = globalThis as unknown as { ov: typeof ov; document: { body: { append(el: unknown): void } } };
      page.ov = ov;
      room.on('trackSubscribed', (track: { source: string; mediaStreamTrack: unknown; attach(): { muted: boolean } }, participant: { identity: string }) => {
        const el = track.attach();
        el.muted = true; // the probes read the track; nothing needs to play out loud
        page.document.body.append(el);
        ov.remote[track.source] = { track: track.mediaStreamTrack, el, from: participant.identity };
        ov.events.push(`subscribed:${participant.identity}/${track.source}`);
      });
      for (const name of ['participantConnected', 'participantDisconnected', 'reconnecting', 'reconnected', 'disconnected', 'stateChanged']) {
        room.on(name, (arg: unknown) => ov.events.push(`${name}:${typeof arg === 'object' && arg && 'identity' in arg ? (arg as { identity: string }).identity : String(arg)}`));
      }
      await room.connect(answer);
      return { identity: room.localParticipant.identity as string, participants: [...room.participants.keys()] as string[] };
    },
    { answer, origin: base, refreshable: options.refreshable ?? false },
  );
}

const events = (page: Page) => page.evaluate(() => (globalThis as unknown as { ov: { events: string[] } }).ov.events);

describe('browser SDK in Chromium through the embedded SFU', () => {
  let t: TestApp;
  let org: TestOrg;
  let base: string;
  let browser: Browser;
  const token = async (identity: string) => {
    const res = await org.apiKey.post('/api/v1/tokens', { room: 'browser-visit', identity });
    assert.equal(res.statusCode, 201, res.body);
    return res.json() as TokenAnswer;
  };

  before(async () => {
    t = await createTestApp('pglite', { env: { RTC_RECONNECT_GRACE_SECONDS: '15', TOKEN_SIGNING_SECRET: SECRET } });
    org = await createTestOrg(t.app);
    base = await t.listen();
    assert.equal((await org.apiKey.post('/api/v1/rooms', { name: 'browser-visit' })).statusCode, 201);
    // The screen share test captures the page itself (headless Chromium's "entire screen" is the page).
    browser = await launchChromium({ args: ['--auto-select-desktop-capture-source=Entire screen', '--auto-accept-this-tab-capture'] });
  });
  after(async () => {
    await closeBrowser(browser);
    await t.close();
  });

  let clinician: Page;
  let patient: Page;
  let patientSockets: Awaited<ReturnType<typeof cuttableSockets>>;

  test('two pages join one room and each sees and hears the other', async () => {
    clinician = await newMediaPage(browser);
    patient = await newMediaPage(browser);
    patientSockets = await cuttableSockets(patient);
    const c = await joinInPage(clinician, base, await token('clinician'));
    assert.deepEqual(c, { identity: 'clinician', participants: [] });
    const p = await joinInPage(patient, base, await token('patient'));
    assert.deepEqual(p, { identity: 'patient', participants: ['clinician'] });

    for (const [page, other] of [[clinician, 'patient'], [patient, 'clinician']] as const) {
      await until(`${other}'s camera and microphone subscribed`, async () => {
        const e = await events(page);
        return e.includes(`subscribed:${other}/camera`) && e.includes(`subscribed:${other}/microphone`);
      }).catch(async () => assert.fail(`subscriptions missing: ${JSON.stringify(await events(page))}`));
      await waitForFramesGrowing(page, PC, { by: 20 });
      await waitForAudioPacketsGrowing(page, PC, { by: 50 });
      const colour = await expectVideoFrom(page, REMOTE_VIDEO);
      await expectFramesDiffer(page, REMOTE_VIDEO);
      const tone = await expectTone(page, REMOTE_AUDIO);
      console.log(`# ${other} → seen as rgb(${colour.r},${colour.g},${colour.b}) at ${colour.width}x${colour.height}, heard at ${tone.hz.toFixed(0)} Hz`);
    }
  });

  test('a live room exposes no peer connection: none is reachable through its public properties, only statistics', async () => {
    // A string, not a function: tsx's helpers for named inner functions do not exist in the page.
    const found = await clinician.evaluate<{ hits: string[]; stats: string }>(String.raw`(async () => {
      // Walks what an application can reach: own and inherited properties, getters, map values.
      const seen = new Set();
      const hits = [];
      const walk = (value, path, depth) => {
        if (value === null || typeof value !== 'object' || seen.has(value) || depth > 5) return;
        seen.add(value);
        if (value instanceof RTCPeerConnection) hits.push(path);
        if (value instanceof Map) for (const [k, v] of value) walk(v, path + '.get(' + String(k) + ')', depth + 1);
        const names = new Set();
        for (let o = value; o && o !== Object.prototype && o !== Map.prototype; o = Object.getPrototypeOf(o)) {
          for (const name of Object.getOwnPropertyNames(o)) names.add(name);
        }
        for (const name of names) {
          if (/peer|^pc$|transport|engine|signal|adapter/i.test(name)) hits.push(path + '.' + name);
          let v;
          try { v = value[name]; } catch { continue; }
          walk(v, path + '.' + name, depth + 1);
        }
      };
      walk(window.ov.room, 'room', 0);
      const stats = await window.ov.room.getStats();
      return { hits, stats: Object.prototype.toString.call(stats) };
    })()`);
    assert.deepEqual(found.hits, []);
    assert.equal(found.stats, '[object RTCStatsReport]');
  });

  test('connect() refuses a token answer for a provider it has no adapter for, before capturing anything', async () => {
    const page = await newMediaPage(browser);
    await page.goto(`${base}/`);
    const outcome = await page.evaluate(async () => {
      const g = globalThis as unknown as { navigator: { mediaDevices: { getUserMedia: (...a: unknown[]) => Promise<unknown> } } };
      let captures = 0;
      const real = g.navigator.mediaDevices.getUserMedia.bind(g.navigator.mediaDevices);
      g.navigator.mediaDevices.getUserMedia = (...a: unknown[]) => (captures++, real(...a));
      const sdk = await import('/sdk/openvisit.js' as string);
      return sdk.connect({ provider: 'acme-video', url: 'wss://media.example/acme', token: 'x' }).then(
        () => ({ joined: true, captures }),
        (e: { name: string; reason: string; message: string }) => ({ name: e.name, reason: e.reason, message: e.message, captures }),
      );
    });
    assert.deepEqual(outcome, {
      name: 'ConnectError',
      reason: 'unknown_provider',
      message: 'This SDK cannot join rooms of the media provider "acme-video" (it supports: builtin, twilio).',
      captures: 0,
    });
    await page.context().close();
  });

  test('twilio-video is a chunk of its own, fetched only when a room on Twilio connects, and loads under the CSP', async () => {
    const page = await newMediaPage(browser);
    const fetched: string[] = [];
    page.on('request', (request) => fetched.push(new URL(request.url()).pathname));
    await page.goto(`${base}/`);
    await page.evaluate(async () => {
      const sdk = await import('/sdk/openvisit.js' as string);
      (globalThis as unknown as { ovSdk: unknown }).ovSdk = sdk;
    });
    const chunk = (paths: string[]) => paths.filter((p) => p.startsWith('/sdk/chunks/es5-'));
    assert.deepEqual(chunk(fetched), [], `loading the bundle fetches no Twilio code (${fetched.join(', ')})`);
    // A room on Twilio: the adapter imports twilio-video on connect. Left as soon as it is loaded (no Twilio here).
    const outcome = page.evaluate(async () => {
      const g = globalThis as unknown as { ovSdk: { Room: new (o: object) => { connect(a: object): Promise<void>; disconnect(): Promise<void> } }; ovTwilio?: { disconnect(): Promise<void> } };
      const room = new g.ovSdk.Room({ audio: false, video: false });
      g.ovTwilio = room;
      return room.connect({ provider: 'twilio', url: '', token: 'not-a-twilio-token' }).then(
        () => 'joined',
        (e: { name: string }) => e.name,
      );
    });
    await until('the Twilio chunk fetched', async () => chunk(fetched).length === 1);
    await page.evaluate(() => (globalThis as unknown as { ovTwilio: { disconnect(): Promise<void> } }).ovTwilio.disconnect());
    assert.equal(await outcome, 'ConnectError');
    const [path] = chunk(fetched);
    const res = await fetch(`${base}${path}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('cache-control') ?? '', /immutable/);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    // It runs in Chromium (no Node global it needs is missing): twilio-video says the browser is supported.
    const loaded = await page.evaluate(async (url) => {
      const m = (await import(url)) as { default?: { isSupported: boolean; connect: unknown }; isSupported?: boolean; connect?: unknown };
      const video = typeof m.connect === 'function' ? m : m.default!;
      return { supported: video.isSupported, connect: typeof video.connect };
    }, path!);
    assert.deepEqual(loaded, { supported: true, connect: 'function' });
    await page.context().close();
  });

  test('a dropped signaling socket reconnects on the same session and media resumes', async () => {
    const before = (await events(patient)).length;
    const framesBefore = await framesDecoded(clinician, PC);
    await patientSockets.drop();
    await until('the patient to report reconnected', async () => (await events(patient)).slice(before).includes('reconnected:undefined'), 20_000);
    const seen = (await events(patient)).slice(before);
    assert.ok(seen.includes('reconnecting:signal'), JSON.stringify(seen));
    assert.equal(seen.some((e) => e.startsWith('participantDisconnected')), false, 'nobody left');
    assert.equal(await patient.evaluate(() => (globalThis as unknown as { ov: { room: { reconnects: number } } }).ov.room.reconnects), 1);
    assert.equal(patientSockets.opened(), 2, 'the SDK opened a second socket');
    await waitForFramesGrowing(patient, PC, { by: 20 });
    await waitForFramesGrowing(clinician, PC, { by: 20 });
    assert.ok((await framesDecoded(clinician, PC)) > framesBefore);
    await expectFramesDiffer(clinician, REMOTE_VIDEO);
    await expectTone(clinician, REMOTE_AUDIO);
    assert.equal((await events(clinician)).some((e) => e.startsWith('participantDisconnected')), false, 'the clinician never saw the patient leave');
  });

  test('local controls: mute and camera are shown to others, the camera comes back, a screen share is seen, leave', async () => {
    type Ov = { ov: { room: { participants: Map<string, { published: { source: string; muted: boolean }[] }>; localParticipant: Record<string, (on?: boolean) => Promise<unknown>>; disconnect(): Promise<void> }; events: string[] } };
    const published = (page: Page, who: string) =>
      page.evaluate((identity) => (globalThis as unknown as Ov).ov.room.participants.get(identity)?.published.map((t) => `${t.source}:${t.muted}`).sort() ?? [], who);
    const local = (page: Page, method: string, arg?: boolean) => page.evaluate(([m, a]) => (globalThis as unknown as Ov).ov.room.localParticipant[m as string]!(a as boolean | undefined).then(() => true), [method, arg] as const);

    await local(patient, 'setMicrophoneEnabled', false);
    await until('the clinician to see the patient muted', async () => (await published(clinician, 'patient')).includes('microphone:true'));
    await local(patient, 'setMicrophoneEnabled', true);
    await until('…and unmuted', async () => (await published(clinician, 'patient')).includes('microphone:false'));

    await local(patient, 'setCameraEnabled', false);
    await until('the clinician to see the patient’s camera off', async () => (await published(clinician, 'patient')).includes('camera:true'));
    assert.equal(await patient.evaluate(() => (globalThis as unknown as { ov: { room: { localParticipant: { cameraEnabled: boolean } } } }).ov.room.localParticipant.cameraEnabled), false);
    await local(patient, 'setCameraEnabled', true);
    await until('…and on again', async () => (await published(clinician, 'patient')).includes('camera:false'));
    await expectVideoFrom(clinician, REMOTE_VIDEO);
    await expectFramesDiffer(clinician, REMOTE_VIDEO);

    // Screen share: headless Chromium shares its fake desktop (a green 800x450 picture), unlike the camera's
    // 640x480 rgb(200,50,100): the clinician receives it as a third track beside the camera.
    await local(patient, 'startScreenShare');
    await until('the clinician to subscribe to the patient’s screen', async () => (await events(clinician)).includes('subscribed:patient/screen'));
    const screen = await expectVideoFrom(clinician, 'window.ov.remote.screen.el', { r: 17, g: 163, b: 5 }, { tolerance: 30 });
    assert.notDeepEqual([screen.width, screen.height], [640, 480], 'the screen track is not the camera');
    console.log(`# screen share seen as rgb(${screen.r},${screen.g},${screen.b}) at ${screen.width}x${screen.height}`);
    await expectVideoFrom(clinician, REMOTE_VIDEO); // the camera goes on beside it
    await local(patient, 'stopScreenShare');
    await until('the screen to be unpublished', async () => !(await published(clinician, 'patient')).some((t) => t.startsWith('screen')));

    await patient.evaluate(() => (globalThis as unknown as Ov).ov.room.disconnect());
    await until('the clinician to see the patient leave', async () => (await events(clinician)).includes('participantDisconnected:patient'));
    assert.ok((await events(patient)).includes('disconnected:left'));
    await t.app.roomEvents.idle();
    const people = (await org.apiKey.get('/api/v1/rooms/browser-visit/participants')).json().data as { identity: string; status: string }[];
    assert.equal(people.find((p) => p.identity === 'patient')?.status, 'disconnected');
  });

  test('a token that expired while the socket was down: the SDK asks for a fresh one and resumes as the same identity', async () => {
    const guest = await newMediaPage(browser);
    const sockets = await cuttableSockets(guest);
    let refreshed = 0;
    await guest.exposeFunction('freshToken', async () => {
      refreshed++;
      return (await token('guest')).token;
    });
    // A token living 3 s (signed as the server signs them; the API's minimum is 60 s), signed once the page is loaded.
    const room = (await org.apiKey.get('/api/v1/rooms/browser-visit')).json() as { id: string };
    const shortLived = async () => {
      const short = await createTokenSigner(SECRET).sign({ orgId: org.orgId, roomId: room.id, roomName: 'browser-visit', identity: 'guest', grants: { publish: true, subscribe: true, data: true, admin: false } }, 3);
      return { provider: 'builtin', url: `${base.replace('http', 'ws')}/rtc`, token: short.token };
    };
    assert.equal((await joinInPage(guest, base, shortLived, { refreshable: true })).identity, 'guest');
    await new Promise((r) => setTimeout(r, 3500));
    await sockets.drop();
    await until('the guest to report reconnected', async () => (await events(guest)).includes('reconnected:undefined'), 20_000);
    assert.equal(refreshed, 1, 'one fresh token');
    assert.equal(await guest.evaluate(() => (globalThis as unknown as { ov: { room: { localParticipant: { identity: string } } } }).ov.room.localParticipant.identity), 'guest');
    assert.equal((await events(guest)).some((e) => e.startsWith('disconnected')), false);
    assert.equal((await events(clinician)).some((e) => e === 'participantDisconnected:guest'), false, 'the others never saw the guest leave');
    await guest.evaluate(() => (globalThis as unknown as { ov: { room: { disconnect(): Promise<void> } } }).ov.room.disconnect());
    await guest.context().close();
  });

  test('an offer the server refuses fails the join at once: no join waits for an answer that will never come', async () => {
    const page = await newMediaPage(browser);
    // The server's refusal of the offer (as it answers a negotiation that failed), given in its place.
    await page.routeWebSocket(/\/rtc$/, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((message) => {
        if ((JSON.parse(String(message)) as { type: string }).type !== 'offer') return server.send(message);
        ws.send(JSON.stringify({ type: 'error', code: 'negotiation_failed', message: 'refused by the test', ref: 'offer' }));
      });
    });
    const started = Date.now();
    const outcome = await withTimeout(
      joinInPage(page, base, await token('refused')).then(
        () => 'joined',
        (err: unknown) => String(err),
      ),
      10_000,
      'the join with a refused offer',
    );
    assert.match(outcome, /The server refused the offer: refused by the test/);
    assert.ok(Date.now() - started < 10_000);
    await page.context().close();
  });
});

/** Polls an async check until it is truthy; rejects after `ms`. */
async function until(what: string, check: () => Promise<unknown>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Routes a page's /rtc WebSockets through Playwright (to the real server) so a test can cut the current one at
 * both ends, as a network drop would: the page sees it close (1001), the server sees it vanish.
 */
async function cuttableSockets(page: Page): Promise<{ drop(): Promise<void>; opened(): number }> {
  const routes: { page: WebSocketRoute; server: WebSocketRoute }[] = [];
  await page.routeWebSocket(/\/rtc$/, (ws) => {
    routes.push({ page: ws, server: ws.connectToServer() });
  });
  return {
    async drop() {
      const current = routes.at(-1);
      assert.ok(current, 'no socket to drop');
      await Promise.all([current.server.close({ code: 1001, reason: 'cut' }), current.page.close({ code: 1001, reason: 'cut' })]);
    },
    opened: () => routes.length,
  };
}
