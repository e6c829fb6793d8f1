// The patient's pages in Debian Chromium (fake camera and microphone), against the real server, on a 390x844 phone
// and a 1280x800 laptop: the device check's Continue, the consent's answer and the waiting room's Leave are in view
// without scrolling (and nothing scrolls sideways); each pre-call page shows the clinic's name and logo, the
// clinician and the visit's time in the clinic's zone; a note sent from the clinician's waiting-room panel reaches
// the waiting patient within a second (in a live region), and only them; the console warns that join links only
// work on this computer when PUBLIC_URL is unset and the clinician reached it by another address; /favicon.ico is
// an icon. Screenshots go to test-results/screenshots/ (git-ignored).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Locator, Page } from 'playwright-core';
import { createTestApp, type TestApp } from './helpers/app.js';
import { TEST_PASSWORD, createTestOrg, type TestOrg } from './helpers/builders.js';
import { assertNoSidewaysScroll, closeBrowser, launchChromium, newMediaPage, screenshot, signInToConsole } from './helpers/browser.js';

// What the screen shows (not the whole page): the point is what is in view.
const shot = (page: Page, name: string) => screenshot(page, name);

const PHONE = { width: 390, height: 844 };
const LAPTOP = { width: 1280, height: 800 };
const CLINIC = 'Riverside Family Clinic';
const ZONE = 'America/New_York';
/** A logo with a known size (the page must load it: naturalWidth 120). */
const LOGO = `data:image/svg+xml;base64,${Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40" viewBox="0 0 120 40"><rect width="120" height="40" rx="8" fill="#0b6e4f"/><circle cx="20" cy="20" r="10" fill="#fff"/><rect x="38" y="14" width="70" height="12" rx="6" fill="#fff"/></svg>',
).toString('base64')}`;

/** Asserts `locator` is wholly inside the viewport as the page stands (nothing scrolled). */
async function assertInView(page: Page, locator: Locator, what: string): Promise<void> {
  await locator.waitFor({ state: 'visible' });
  const box = await locator.boundingBox();
  const view = page.viewportSize()!;
  assert.ok(box, `${what}: no box`);
  const scroll = (await page.evaluate('[window.scrollX, window.scrollY]')) as [number, number];
  assert.deepEqual(scroll, [0, 0], `${what}: the page was scrolled`);
  assert.ok(box.y >= 0 && box.y + box.height <= view.height && box.x >= 0 && box.x + box.width <= view.width, `${what} at ${view.width}x${view.height} is out of view: ${JSON.stringify(box)}`);
  // Not covered or cut off by anything (a scrolling box above it, a bar over it): its middle is itself.
  for (const [fx, fy] of [[0.5, 0.5], [0.5, 0.1], [0.5, 0.9]] as const) {
    const hit = await locator.evaluate(
      (el, [x, y]) => {
        const doc = (el as unknown as { ownerDocument: { elementFromPoint(x: number, y: number): unknown } }).ownerDocument;
        const found = doc.elementFromPoint(x, y);
        return found === el || (el as unknown as { contains(o: unknown): boolean }).contains(found);
      },
      [box.x + box.width * fx, box.y + box.height * fy] as const,
    );
    assert.ok(hit, `${what} at ${view.width}x${view.height} is covered or clipped at (${fx}, ${fy}) of its box`);
  }
}

/** The visit's start as the page should show it (en-US, the clinic's zone, with its abbreviation). */
function expectedTime(iso: string): { text: string; zone: string } {
  const format = new Intl.DateTimeFormat('en-US', { timeZone: ZONE, weekday: 'long', month: 'long', day: 'numeric', hour: 'numeric', minute: '2-digit', timeZoneName: 'short' });
  const zone = format.formatToParts(new Date(iso)).find((p) => p.type === 'timeZoneName')!.value;
  return { text: format.format(new Date(iso)).replace(/\s+/g, ' '), zone };
}

describe('web app in Chromium: the patient’s pages, clinic context and the waiting-room note', () => {
  let t: TestApp;
  let org: TestOrg;
  let base: string;
  let browser: Browser;

  before(async () => {
    // No PUBLIC_URL: links point to http://localhost:PORT while the pages are opened at http://127.0.0.1:<port>.
    t = await createTestApp('pglite', { env: { LOGIN_RATE_LIMIT_PER_MINUTE: '1000' } });
    org = await createTestOrg(t.app);
    const named = await org.admin.patch('/api/v1/organization', { name: CLINIC, timeZone: ZONE, logoUrl: LOGO });
    assert.equal(named.statusCode, 200, named.body);
    base = await t.listen();
    browser = await launchChromium();
  });
  after(async () => {
    await closeBrowser(browser);
    await t.close();
  });

  /** The clinic, the clinician and the time, as the page at hand shows them (inside `scope`). */
  async function assertContext(page: Page, scope: Locator, scheduledStart: string, what: string): Promise<void> {
    const header = page.locator('.join-header');
    assert.equal((await header.locator('.clinic-name').textContent())?.trim(), CLINIC, `${what}: clinic name`);
    const logo = header.locator('img.clinic-logo');
    assert.equal(await logo.getAttribute('src'), LOGO, `${what}: logo`);
    assert.equal(await logo.evaluate((img) => (img as unknown as { complete: boolean; naturalWidth: number }).complete && (img as unknown as { naturalWidth: number }).naturalWidth), 120, `${what}: the logo loaded (CSP allows it)`);
    const when = scope.locator('.visit-when');
    await when.waitFor();
    assert.equal((await when.locator('.visit-clinician').textContent())?.trim(), org.clinician.user.name, `${what}: clinician`);
    const time = ((await when.locator('.visit-time').textContent()) ?? '').replace(/\s+/g, ' ');
    const expected = expectedTime(scheduledStart);
    assert.equal(time, expected.text, `${what}: the visit's time`);
    assert.match(time, new RegExp(`\\b${expected.zone}$`), `${what}: the clinic's zone abbreviation`);
  }

  /** A patient's page from `link` at `viewport`, through the device check and consent to the waiting room. */
  async function arrive(link: string, viewport: { width: number; height: number }, name: string, scheduledStart: string): Promise<Page> {
    const page = await newMediaPage(browser);
    await page.setViewportSize(viewport);
    await page.goto(link.replace(/^https?:\/\/[^/]+/, base));
    const check = page.locator('section.device-check');
    await page.getByRole('heading', { name: 'Check your camera and microphone' }).waitFor();
    const next = page.getByRole('button', { name: 'Continue' });
    await page.waitForFunction(() => {
      const button = [...(globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<{ textContent: string; disabled: boolean }> } }).document.querySelectorAll('button')].find((b) => b.textContent === 'Continue');
      return button && !button.disabled;
    });
    await assertContext(page, check, scheduledStart, `${name} device check`);
    await assertInView(page, next, `${name}: the device check's Continue`);
    await assertNoSidewaysScroll(page, `${name} device check`);
    await shot(page, `${name}-1-device-check`);
    await next.click();

    const consent = page.locator('section.consent');
    await page.getByRole('heading', { name: 'Consent to a video visit' }).waitFor();
    await assertContext(page, consent, scheduledStart, `${name} consent`);
    const agree = page.getByLabel('I have read this and I agree');
    const accept = page.getByRole('button', { name: 'Accept and continue' });
    await assertInView(page, agree, `${name}: the consent's checkbox`);
    await assertInView(page, accept, `${name}: the consent's Accept`);
    await assertNoSidewaysScroll(page, `${name} consent`);
    await shot(page, `${name}-2-consent`);
    await agree.check();
    await accept.click();

    await page.getByRole('heading', { name: 'Waiting for the clinician to let you in' }).waitFor();
    await assertContext(page, page.locator('.ov-waiting'), scheduledStart, `${name} waiting room`);
    await assertInView(page, page.getByRole('heading', { name: 'Waiting for the clinician to let you in' }), `${name}: the waiting message`);
    await assertInView(page, page.getByRole('button', { name: 'Leave' }), `${name}: the waiting room's Leave`);
    await assertNoSidewaysScroll(page, `${name} waiting room`);
    return page;
  }

  async function patientIdOf(visitId: string, givenName: string): Promise<string> {
    const visit = (await org.clinician.get(`/api/v1/visits/${visitId}`)).json() as { participants: { id: string; displayName: string }[] };
    return visit.participants.find((p) => p.displayName.startsWith(givenName))!.id;
  }

  test('phone and laptop: actions in view, clinic context on every page; a note reaches the waiting patient within a second, only them', async () => {
    const ids: string[] = [];
    for (const givenName of ['Phoebe', 'Larry']) {
      const res = await org.clinician.post('/api/v1/patients', { givenName, familyName: 'Patient' });
      assert.equal(res.statusCode, 201, res.body);
      ids.push(res.json().id);
    }
    const visit = (await org.clinician.post('/api/v1/visits', { patientIds: ids, start: true })).json() as { id: string; scheduledStart: string };
    const links = [];
    for (const patientId of ids) links.push((await org.clinician.post(`/api/v1/visits/${visit.id}/invites`, { role: 'patient', patientId })).json() as { url: string });
    assert.match(links[0]!.url, /^http:\/\/localhost:\d+\/join#/);

    const clinician = await newMediaPage(browser);
    await clinician.setViewportSize(LAPTOP);
    await signInToConsole(clinician, base, org.clinician.user.email, TEST_PASSWORD);
    // Today warns: links point to localhost, the console was opened at 127.0.0.1.
    const warning = clinician.locator('.today .link-notice');
    await warning.waitFor();
    const warned = (await warning.textContent()) ?? '';
    assert.match(warned, /Join links will only work on this computer/);
    assert.match(warned, /PUBLIC_URL/);
    assert.match(warned, /\.env/);
    assert.match(warned, /https/);
    assert.ok(warned.includes(base), 'names the address the console was opened at');
    assert.ok(warned.includes(t.config.publicUrl), 'names where links point');
    await shot(clinician, 'clinician-today-public-url-notice');

    const phone = await arrive(links[0]!.url, PHONE, 'patient-phone', visit.scheduledStart);
    await shot(phone, 'patient-phone-3-waiting');
    const laptop = await arrive(links[1]!.url, LAPTOP, 'patient-laptop', visit.scheduledStart);
    await shot(laptop, 'patient-laptop-3-waiting');

    // The clinician's waiting-room panel on the visit's page: a one-click note to the patient on the phone.
    await clinician.goto(`${base}/visits/${visit.id}`);
    const invite = clinician.getByRole('button', { name: 'Invite' });
    await invite.click();
    assert.match((await clinician.locator('.invite-panel .link-notice').textContent()) ?? '', /only work on this computer/, 'the invite panel warns too');
    await clinician.locator('.invite-panel').getByRole('button', { name: 'Cancel' }).click();
    await clinician.getByRole('button', { name: 'Send a note to Phoebe Patient' }).click();
    const preset = clinician.getByRole('button', { name: 'Running 5 minutes late' });
    await preset.waitFor();
    await shot(clinician, 'clinician-waiting-room-note-form');
    const liveNote = phone.locator('[aria-live] .waiting-note').filter({ hasText: 'Running 5 minutes late' });
    // Timed from the clinician's request leaving their browser to the note in the patient's page (a mutation
    // observer there stamps the moment), so the test's own polling does not count.
    await phone.evaluate(`window.__noteSeen = new Promise((resolve) => {
      const check = () => {
        const note = [...document.querySelectorAll('[aria-live] .waiting-note')].find((n) => n.textContent.includes('Running 5 minutes late'));
        if (note) { observer.disconnect(); resolve(Date.now()); }
      };
      const observer = new MutationObserver(check);
      observer.observe(document.body, { subtree: true, childList: true, characterData: true });
      check();
    }); true`);
    const phoebe = await patientIdOf(visit.id, 'Phoebe');
    const request = clinician.waitForRequest((r) => r.method() === 'POST' && r.url().endsWith(`/participants/${phoebe}/note`));
    await preset.click();
    const sent = await request;
    assert.equal((await sent.response())?.status(), 201);
    await liveNote.waitFor({ timeout: 5000 });
    const elapsed = ((await phone.evaluate('window.__noteSeen')) as number) - sent.timing().startTime;
    assert.ok(elapsed < 1000, `the note took ${elapsed} ms from the clinician's request to the patient's screen`);
    console.log(`note: the clinician's request to the patient's screen in ${Math.round(elapsed)} ms`);
    assert.match((await liveNote.textContent()) ?? '', new RegExp(`Message from ${org.clinician.user.name}`));
    await clinician.locator('.note-sent').filter({ hasText: 'Running 5 minutes late' }).waitFor();
    await assertInView(phone, liveNote, 'patient-phone: the note');
    await assertInView(phone, phone.locator('.ov-waiting .visit-when'), 'patient-phone: the waiting card’s top, with a note');

    // Free text too.
    await clinician.getByRole('button', { name: 'Send a note to Phoebe Patient' }).click();
    await clinician.getByLabel('Your own note to Phoebe Patient').fill('Please have your medication list ready');
    await clinician.getByRole('button', { name: 'Send note' }).click();
    await phone.locator('[aria-live] .waiting-note').filter({ hasText: 'Please have your medication list ready' }).waitFor({ timeout: 1000 });
    await assertInView(phone, phone.locator('.ov-waiting .visit-when'), 'patient-phone: the waiting card’s top, with two notes');
    await assertInView(phone, phone.getByRole('button', { name: 'Leave' }), 'patient-phone: Leave, with two notes');
    await shot(phone, 'patient-phone-4-waiting-with-note');
    await shot(clinician, 'clinician-waiting-room-note');

    // The other waiting patient saw none of it, even after a moment (nor does a reload of their page show it).
    await laptop.waitForTimeout(500);
    assert.equal(await laptop.locator('.waiting-note').count(), 0);
    // The phone, reloaded: the context again, and back in the waiting room its notes (read from the visit's record).
    await phone.reload();
    await phone.locator('.join-header .clinic-name').filter({ hasText: CLINIC }).waitFor();
    const again = phone.getByRole('button', { name: 'Continue' });
    await phone.waitForFunction(() => {
      const button = [...(globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<{ textContent: string; disabled: boolean }> } }).document.querySelectorAll('button')].find((b) => b.textContent === 'Continue');
      return button && !button.disabled;
    });
    await again.click();
    await phone.getByRole('heading', { name: 'Waiting for the clinician to let you in' }).waitFor();
    await phone.locator('.waiting-note').nth(1).waitFor();
    assert.deepEqual(
      (await phone.locator('.waiting-note__body').allTextContents()).map((x) => x.trim()),
      ['Please have your medication list ready', 'Running 5 minutes late'],
      'newest first',
    );

    for (const page of [clinician, phone, laptop]) await page.context().close();
  });

  test('/favicon.ico answers an icon; the page links the SVG icon', async () => {
    const page = await newMediaPage(browser);
    await page.goto(`${base}/`);
    const ico = await page.request.get(`${base}/favicon.ico`);
    assert.equal(ico.status(), 200);
    assert.match(ico.headers()['content-type'] ?? '', /^image\//);
    assert.match(ico.headers()['cache-control'] ?? '', /max-age=\d+/);
    const href = await page.locator('link[rel="icon"]').getAttribute('href');
    assert.equal(href, '/favicon.svg');
    const svg = await page.request.get(`${base}${href}`);
    assert.equal(svg.status(), 200);
    assert.equal(svg.headers()['content-type'], 'image/svg+xml');
    // The browser can draw it (an image the page loads under its own CSP).
    const width = await page.evaluate(
      `new Promise((resolve) => { const img = new Image(); img.onload = () => resolve(img.naturalWidth); img.onerror = () => resolve(-1); img.src = '/favicon.ico'; })`,
    );
    assert.ok((width as number) > 0, `the ICO decodes (${String(width)})`);
    await page.context().close();
  });
});
