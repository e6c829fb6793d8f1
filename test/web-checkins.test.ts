// One 15-second check-in call end to end in Debian Chromium, against the real server (builtin media provider: the
// embedded SFU), with the fake camera (a known picture: solid FAKE_COLOUR, a white box moving along its top band) and
// microphone. A family caregiver (a care link session, a 390x844 phone) calls the care recipient (the recipient's own
// device link, another browser context, a phone); the recipient's screen rings ("<name> (<relationship>) is calling",
// the clinic named); Answer; both see each other (decoded frames of the known colour); the countdown shows the server's
// deadline and goes down; the server ends the call at 15 s (no browser timer decides it): both screens say "Call
// ended", the server's recorded duration is within 1 s of 15 s; the caregiver's history shows it completed. Layout:
// every primary action in view without scrolling at 390x844 (and the call at 1280x800), the other person's video
// shown whole (object-fit: contain, the known picture letterboxed in its own proportions), the clinic and the
// caller's name visible. A staff caregiver signed in to the console reaches the same screen from its navigation.
// Screenshots go to test-results/screenshots/ (care-*.png).
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestOrg, TEST_PASSWORD, type TestOrg } from './helpers/builders.js';
import { closeBrowser, expectInView, expectVideoFrom, expectWholePicture, installProbes, launchChromium, newMediaPage, screenshot, signInToConsole } from './helpers/browser.js';

const shot = (page: Page, name: string) => screenshot(page, name);

const PHONE = { width: 390, height: 844 };
const LAPTOP = { width: 1280, height: 800 };
const LIMIT_MS = 15_000;
const REMOTE_VIDEO = 'video.care-call__remote';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const flat = (text: string) => text.replace(/\s+/g, ' ').trim();

/** Polls `check` (page.evaluate-based: the app's CSP refuses waitForFunction's string predicates) until it holds. */
async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(150);
  }
}

/** The seconds the countdown shows (null: none yet). */
const countdown = (page: Page) =>
  page.evaluate(`(() => { const el = document.querySelector('[role="timer"] .care-countdown__value'); return el && el.dataset.seconds !== undefined ? Number(el.dataset.seconds) : null; })()`) as Promise<number | null>;

/** `text` is on screen, inside the window. */
async function expectVisibleText(page: Page, what: string, text: string | RegExp) {
  const locator = page.getByText(text).first();
  assert.ok(await locator.isVisible(), `${what}: ${String(text)} is not visible`);
  const box = await locator.boundingBox();
  const size = page.viewportSize()!;
  assert.ok(box && box.y >= 0 && box.y + box.height <= size.height && box.x >= 0 && box.x + box.width <= size.width + 0.5, `${what}: ${String(text)} at ${JSON.stringify(box)} is outside the window`);
}

interface CheckinDto {
  id: string;
  status: string;
  startedAt: string | null;
  completedAt: string | null;
  durationMs: number | null;
  endReason: string | null;
  caller: { memberId: string };
  callee: { memberId: string };
}

describe('web app in Chromium: a 15-second check-in call between a caregiver and the care recipient, on phones', () => {
  let t: TestApp;
  let org: TestOrg;
  let base: string;
  let browser: Browser;

  before(async () => {
    t = await createTestApp('pglite');
    org = await createTestOrg(t.app);
    base = await t.listen();
    browser = await launchChromium();
  });
  after(async () => {
    await closeBrowser(browser);
    await t.close();
  });

  test('ring, answer, both see each other, the countdown, the server ends it at 15 s, both screens say so, the history shows it completed', async (ctx) => {
    // The clinic's name and logo (an SVG data: URL), shown on every check-in screen.
    const logo = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40"><circle cx="20" cy="20" r="18" fill="#e8590c"/><path d="M12 21l6 6 11-13" stroke="#fff" stroke-width="4" fill="none"/></svg>`;
    const renamed = await org.admin.request('PATCH', '/api/v1/organization', { name: 'Sunrise Home Care', logoUrl: `data:image/svg+xml;base64,${Buffer.from(logo).toString('base64')}` });
    assert.equal(renamed.statusCode, 200, renamed.body);
    const clinic = 'Sunrise Home Care';
    const patientId = (await org.clinician.post('/api/v1/patients', { givenName: 'Rosa', familyName: 'Checkin' })).json().id as string;
    const added = await org.admin.post(`/api/v1/care/recipients/${patientId}/caregivers`, { displayName: 'Ann Checkin', relationship: 'Daughter' });
    assert.equal(added.statusCode, 201, added.body);
    const ann = added.json() as { id: string };
    const annLink = await org.admin.post(`/api/v1/care/members/${ann.id}/link`, {});
    assert.equal(annLink.statusCode, 201, annLink.body);
    // A staff caregiver in the same circle (they reach /care from the console).
    const staffMember = await org.admin.post(`/api/v1/care/recipients/${patientId}/caregivers`, { userId: org.caregiver.user.id });
    assert.equal(staffMember.statusCode, 201, staffMember.body);
    const rosaLink = await org.admin.post(`/api/v1/care/recipients/${patientId}/recipient-link`, {});
    assert.equal(rosaLink.statusCode, 201, rosaLink.body);
    const local = (url: string) => url.replace(/^https?:\/\/[^/]+/, base);

    // The caregiver's phone: the link signs it in and leaves the address bar.
    const caregiver = await newMediaPage(browser, { viewport: PHONE, locale: 'en-US' });
    await caregiver.goto(local((annLink.json() as { url: string }).url));
    const callRosa = caregiver.getByRole('button', { name: /Call Rosa Checkin/ });
    await callRosa.waitFor();
    assert.equal(new URL(caregiver.url()).pathname, '/care');
    assert.equal(new URL(caregiver.url()).searchParams.get('t'), null, 'the link token left the address bar');
    await expectVisibleText(caregiver, 'caregiver home (390x844)', clinic);
    await expectVisibleText(caregiver, 'caregiver home (390x844)', 'Ann Checkin');
    await expectInView(caregiver, 'caregiver home (390x844)', [{ name: /Call Rosa Checkin/ }], { noVerticalScroll: false });
    await caregiver.getByRole('heading', { name: 'Recent calls' }).waitFor();
    await shot(caregiver, 'care-caregiver-home-390x844');

    // The recipient's phone: the simple screen.
    const recipient = await newMediaPage(browser, { viewport: PHONE, locale: 'en-US' });
    await recipient.goto(local((rosaLink.json() as { url: string }).url));
    await recipient.getByRole('heading', { name: 'Hello, Rosa' }).waitFor();
    assert.equal(new URL(recipient.url()).searchParams.get('t'), null, 'the link token left the address bar');
    await expectVisibleText(recipient, 'recipient home (390x844)', clinic);
    await shot(recipient, 'care-recipient-home-390x844');
    // Both devices' hub sockets are up before the call (the page also finds ringing calls when it loads).
    await sleep(500);

    // The caregiver calls.
    await callRosa.click();
    await caregiver.getByText('Calling Rosa Checkin…').waitFor();
    await expectInView(caregiver, 'caregiver calling (390x844)', [{ name: 'Cancel call' }, { name: /Rosa Checkin/, role: 'heading' }], { noVerticalScroll: true });
    const listed = (await org.apiKey.get(`/api/v1/checkins?recipientId=${patientId}`)).json() as { data: CheckinDto[] };
    assert.equal(listed.data.length, 1);
    const callId = listed.data[0]!.id;
    assert.equal(listed.data[0]!.status, 'ringing');

    // The recipient's screen rings: who is calling (name and relationship), the clinic, Answer and Decline in view.
    const ringing = recipient.getByRole('alertdialog');
    await ringing.waitFor({ timeout: 10_000 });
    await recipient.getByRole('heading', { name: 'Ann Checkin (Daughter) is calling' }).waitFor();
    assert.match(flat(await ringing.innerText()), new RegExp(clinic));
    await expectInView(recipient, 'recipient ringing (390x844)', [{ name: 'Answer' }, { name: 'Decline' }, { name: 'Ann Checkin (Daughter) is calling', role: 'heading' }], { noVerticalScroll: true });
    await expectVisibleText(recipient, 'recipient ringing (390x844)', clinic);
    assert.equal(await ringing.getAttribute('data-ring'), 'sounding', 'the ring plays (the browser allows sound)');
    await shot(recipient, 'care-recipient-ringing-390x844');

    // Answer: both see each other.
    await recipient.getByRole('button', { name: 'Answer' }).click();
    await Promise.all([installProbes(caregiver), installProbes(recipient)]);
    await Promise.all([expectVideoFrom(caregiver, `document.querySelector('${REMOTE_VIDEO}')`), expectVideoFrom(recipient, `document.querySelector('${REMOTE_VIDEO}')`)]);
    const active = (await org.apiKey.get(`/api/v1/checkins/${callId}`)).json() as CheckinDto;
    assert.equal(active.status, 'active');
    assert.ok(active.startedAt);
    const startedAt = Date.parse(active.startedAt);

    // The countdown: the server's deadline, going down, on both.
    for (const [page, who] of [[caregiver, 'caregiver'], [recipient, 'recipient']] as const) {
      await waitUntil(`the ${who}'s countdown`, async () => (await countdown(page)) !== null, 5000);
    }
    const first = await Promise.all([countdown(caregiver), countdown(recipient)]);
    const truth = (startedAt + LIMIT_MS - Date.now()) / 1000;
    for (const s of first) assert.ok(s !== null && s <= 15 && Math.abs(s - truth) <= 1.5, `the countdown shows ${s} s; the server's end is in ${truth.toFixed(1)} s`);
    await sleep(1200);
    const later = await Promise.all([countdown(caregiver), countdown(recipient)]);
    assert.ok(later[0]! < first[0]! && later[1]! < first[1]!, `the countdown goes down: ${JSON.stringify(first)} → ${JSON.stringify(later)}`);

    // Layout in the call: every action in view, the other person whole, who it is and the clinic named.
    await expectInView(caregiver, 'caregiver in the call (390x844)', [{ name: 'End call' }, { name: 'Time left in the call', role: 'timer' }, { name: /Rosa Checkin/, role: 'heading' }], { noVerticalScroll: true });
    await expectInView(recipient, 'recipient in the call (390x844)', [{ name: 'End call' }, { name: 'Time left in the call', role: 'timer' }, { name: /Ann Checkin \(Daughter\)/, role: 'heading' }], { noVerticalScroll: true });
    await expectVisibleText(recipient, 'recipient in the call (390x844)', clinic);
    await expectVisibleText(caregiver, 'caregiver in the call (390x844)', clinic);
    await expectWholePicture(recipient, REMOTE_VIDEO, 'recipient (390x844) seeing the caregiver');
    await expectWholePicture(caregiver, REMOTE_VIDEO, 'caregiver (390x844) seeing the recipient');
    await shot(caregiver, 'care-caregiver-call-390x844');
    await shot(recipient, 'care-recipient-call-390x844');
    // The same call on a laptop.
    await caregiver.setViewportSize(LAPTOP);
    await sleep(300);
    await expectInView(caregiver, 'caregiver in the call (1280x800)', [{ name: 'End call' }, { name: 'Time left in the call', role: 'timer' }, { name: /Rosa Checkin/, role: 'heading' }], { noVerticalScroll: true });
    await expectWholePicture(caregiver, REMOTE_VIDEO, 'caregiver (1280x800) seeing the recipient');
    await shot(caregiver, 'care-caregiver-call-1280x800');
    await caregiver.setViewportSize(PHONE);
    const checksDoneIn = Date.now() - startedAt;
    ctx.diagnostic(`in-call checks done ${(checksDoneIn / 1000).toFixed(1)} s after the call started`);
    assert.ok(checksDoneIn < LIMIT_MS - 500, `the in-call checks ran inside the call (${checksDoneIn} ms)`);

    // The server ends it at 15 s: both screens say so.
    await Promise.all([
      caregiver.getByRole('heading', { name: 'Call ended' }).waitFor({ timeout: LIMIT_MS + 5000 }),
      recipient.getByRole('heading', { name: 'Call ended' }).waitFor({ timeout: LIMIT_MS + 5000 }),
    ]);
    const seenEndedAt = Date.now();
    const done = (await org.apiKey.get(`/api/v1/checkins/${callId}`)).json() as CheckinDto;
    assert.equal(done.status, 'completed');
    assert.equal(done.endReason, 'time_limit');
    assert.ok(done.durationMs !== null && Math.abs(done.durationMs - LIMIT_MS) <= 1000, `the recorded duration ${done.durationMs} ms is within 1 s of ${LIMIT_MS} ms`);
    ctx.diagnostic(`recorded duration ${done.durationMs} ms; both screens showed the end ${seenEndedAt - Date.parse(done.completedAt!)} ms after the server's end`);
    for (const [page, who] of [[caregiver, 'caregiver'], [recipient, 'recipient']] as const) {
      // The length is the server's record (it comes a moment after the room's end).
      await page.locator('.care-ended__length').waitFor({ timeout: 5000 });
      const text = flat(await page.locator('.care-ended__body').innerText());
      assert.match(text, /Call ended/, who);
      assert.match(text, /0:15/, `${who} sees the length: ${text}`);
      assert.match(text, /The time was up\./, `${who} sees why: ${text}`);
      await expectInView(page, `${who} call ended (390x844)`, [{ name: 'Done' }, { name: 'Call ended', role: 'heading' }], { noVerticalScroll: true });
    }
    await shot(caregiver, 'care-caregiver-ended-390x844');
    await shot(recipient, 'care-recipient-ended-390x844');

    // The caregiver's history: the call, completed, 0:15, and the completion rate.
    await caregiver.getByRole('button', { name: 'Done' }).click();
    const item = caregiver.locator(`.care-history__item[data-checkin="${callId}"]`);
    await item.waitFor();
    assert.equal(await item.getAttribute('data-status'), 'completed');
    assert.match(flat(await item.innerText()), /Rosa Checkin.*Completed.*0:15/);
    assert.match(flat(await caregiver.locator('.care-history__rate').innerText()), /100% completed/);
    await expectInView(caregiver, 'caregiver home after the call (390x844)', [{ name: /Call Rosa Checkin/ }], { noVerticalScroll: false });
    await shot(caregiver, 'care-caregiver-history-390x844');
    await Promise.all([caregiver.context().close(), recipient.context().close()]);

    // A staff caregiver signed in to the console reaches the same screen from its navigation, with their own session.
    const staff = await newMediaPage(browser, { viewport: LAPTOP, locale: 'en-US' });
    await signInToConsole(staff, base, org.caregiver.user.email, TEST_PASSWORD);
    await staff.getByRole('link', { name: 'Check-ins' }).click();
    await staff.getByRole('button', { name: /Call Rosa Checkin/ }).waitFor();
    assert.equal(new URL(staff.url()).pathname, '/care');
    await expectVisibleText(staff, 'staff caregiver (1280x800)', clinic);
    await expectInView(staff, 'staff caregiver (1280x800)', [{ name: /Call Rosa Checkin/ }], { noVerticalScroll: false });
    await staff.context().close();
  });
});
