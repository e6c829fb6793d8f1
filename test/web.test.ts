// The web app in Debian Chromium (fake camera and microphone fed a known picture and a 440 Hz tone), against the
// real server: a clinician (console) and a patient (join link) complete a whole visit in two browser contexts —
// sign-in, invite, device check, consent, waiting room, admission, both see and hear each other (decoded frames,
// the known colour, the tone), chat both ways, a screen share seen by the other side, a dropped socket that
// reconnects, send back to the waiting room, end for everyone, the summary, the survey. Then: a denied patient,
// an expired link, a refused camera. Screenshots of each screen go to test-results/screenshots/ (git-ignored).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import type { Browser, Page, WebSocketRoute } from 'playwright-core';
import { visitLinks } from '../src/server/db/schema.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { TEST_PASSWORD, createTestOrg, type TestOrg } from './helpers/builders.js';
import { closeBrowser, expectFramesDiffer, expectTone, expectVideoFrom, installProbes, launchChromium, newMediaPage, screenshot, signInToConsole } from './helpers/browser.js';

const shot = (page: Page, name: string) => screenshot(page, name, { fullPage: true });

/** The remote camera of `identity` and its audio track, as page expressions for the probes. */
const videoOf = (identity: string) => `document.querySelector('figure.ov-tile--camera[data-identity="${identity}"] video')`;
const audioOf = (identity: string) => `document.querySelector('audio[data-identity="${identity}"]')?.srcObject?.getAudioTracks()[0]`;

/** Routes a page's /rtc WebSockets through Playwright so the test can cut the current one, as a network drop would. */
async function cuttableSockets(page: Page): Promise<{ drop(): Promise<void> }> {
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
  };
}

describe('web app in Chromium: a whole visit, clinician and patient', () => {
  let t: TestApp;
  let org: TestOrg;
  let base: string;
  let browser: Browser;

  before(async () => {
    t = await createTestApp('pglite', { env: { LOGIN_RATE_LIMIT_PER_MINUTE: '1000', RTC_RECONNECT_GRACE_SECONDS: '15' } });
    org = await createTestOrg(t.app);
    base = await t.listen();
    browser = await launchChromium({ args: ['--auto-select-desktop-capture-source=Entire screen', '--auto-accept-this-tab-capture'] });
  });
  after(async () => {
    await closeBrowser(browser);
    await t.close();
  });

  async function newPatient(givenName: string): Promise<string> {
    const res = await org.clinician.post('/api/v1/patients', { givenName, familyName: 'Browser' });
    assert.equal(res.statusCode, 201, res.body);
    return res.json().id;
  }

  /** The patient's page from a join link: device check and consent done; resolves on the waiting screen. */
  async function patientArrives(link: string, name = 'patient', before?: (page: Page) => Promise<void>): Promise<Page> {
    const page = await newMediaPage(browser);
    await before?.(page);
    await page.goto(link.replace(/^https?:\/\/[^/]+/, base));
    await page.getByRole('heading', { name: 'Check your camera and microphone' }).waitFor();
    await page.getByRole('button', { name: 'Continue' }).waitFor();
    await shot(page, `${name}-1-device-check`);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.getByRole('heading', { name: 'Consent to a video visit' }).waitFor();
    await shot(page, `${name}-2-consent`);
    await page.getByLabel('I have read this and I agree').check();
    await page.getByRole('button', { name: 'Accept and continue' }).click();
    await page.getByRole('heading', { name: 'Waiting for the clinician to let you in' }).waitFor();
    await shot(page, `${name}-3-waiting`);
    return page;
  }

  test('link → device check → consent → waiting → admitted → see and hear, chat, share, reconnect, send back, end → summary and survey', async () => {
    const patientId = await newPatient('Paula');
    const visit = (await org.clinician.post('/api/v1/visits', { patientIds: [patientId], start: true })).json() as { id: string };
    const clinician = await newMediaPage(browser);
    await signInToConsole(clinician, base, org.clinician.user.email, TEST_PASSWORD);
    await shot(clinician, 'clinician-1-today');
    await clinician.goto(`${base}/visits/${visit.id}`);

    // The clinician invites the patient: the link is shown to copy.
    await clinician.getByRole('button', { name: 'Invite' }).click();
    await clinician.getByRole('button', { name: 'Create link' }).click();
    const link = await clinician.getByLabel('Join link').inputValue();
    assert.match(link, /\/join#ovj_/);

    let sockets!: Awaited<ReturnType<typeof cuttableSockets>>;
    const patient = await patientArrives(link, 'patient', async (page) => {
      sockets = await cuttableSockets(page);
    });
    // The waiting room panel shows the arrival (live, from the hub) and the tab title counts it.
    const admit = clinician.getByRole('button', { name: 'Admit Paula Browser' });
    await admit.waitFor({ timeout: 15_000 });
    await clinician.waitForFunction(() => (globalThis as unknown as { document: { title: string } }).document.title.startsWith('(1)'));
    await shot(clinician, 'clinician-2-waiting-room');
    await admit.click();

    // Both see and hear each other.
    const hostId = (await org.clinician.get(`/api/v1/visits/${visit.id}`)).json().participants.find((p: { role: string }) => p.role === 'host').id as string;
    const patientIdentityId = await patientIdentity(visit.id);
    await Promise.all([installProbes(clinician), installProbes(patient)]);
    await expectVideoFrom(patient, videoOf(hostId));
    await expectVideoFrom(clinician, videoOf(patientIdentityId));
    await expectFramesDiffer(patient, videoOf(hostId));
    await expectTone(patient, audioOf(hostId));
    await expectTone(clinician, audioOf(patientIdentityId));
    await shot(clinician, 'clinician-3-call');
    await shot(patient, 'patient-4-call');

    // Chat both ways (stored, then delivered by the server).
    await clinician.getByRole('button', { name: /^Chat/ }).click();
    await clinician.getByLabel('Message').fill('Hello Paula, can you hear me?');
    await clinician.getByRole('button', { name: 'Send' }).click();
    await patient.getByRole('button', { name: /^Chat \(1 unread\)/ }).click();
    await patient.getByText('Hello Paula, can you hear me?').waitFor();
    await patient.getByLabel('Message').fill('Yes, clearly.');
    await patient.getByRole('button', { name: 'Send' }).click();
    await clinician.getByText('Yes, clearly.').waitFor();
    await shot(patient, 'patient-5-chat');

    // The clinician shares their screen; the patient sees it.
    await clinician.getByRole('button', { name: 'Share screen' }).click();
    await patient.locator(`figure.ov-tile--screen[data-identity="${hostId}"] video`).waitFor({ timeout: 15_000 });
    await shot(patient, 'patient-6-screen-share');
    await clinician.getByRole('button', { name: 'Stop sharing' }).click();

    // The patient's signaling socket drops: "Reconnecting…", then back, media still flowing.
    const reconnects = () => patient.evaluate(() => (globalThis as unknown as { ovCall: { room: { reconnects: number } } }).ovCall.room.reconnects);
    assert.equal(await reconnects(), 0);
    await sockets.drop();
    await patient.waitForFunction(() => (globalThis as unknown as { ovCall: { room: { reconnects: number } } }).ovCall.room.reconnects === 1, undefined, { timeout: 20_000 });
    await patient.getByText('Reconnecting').waitFor({ state: 'detached', timeout: 20_000 });
    await expectFramesDiffer(patient, videoOf(hostId));
    assert.equal(await reconnects(), 1);

    // Sent back to the waiting room: the patient sees the waiting screen again, then is admitted again.
    assert.equal((await org.clinician.post(`/api/v1/visits/${visit.id}/participants/${patientIdentityId}/return`)).statusCode, 200);
    await patient.getByRole('heading', { name: 'Waiting for the clinician to let you in' }).waitFor({ timeout: 15_000 });
    await clinician.getByRole('button', { name: 'Admit Paula Browser' }).click();
    await expectVideoFrom(patient, videoOf(hostId));

    // End for everyone: the clinician lands on the summary; the patient on the survey.
    await clinician.getByRole('button', { name: 'End visit for everyone' }).click();
    await clinician.getByRole('button', { name: 'Yes, end visit' }).click();
    await clinician.getByRole('heading', { name: /Summary|summary/ }).first().waitFor({ timeout: 15_000 });
    await clinician.getByText('Hello Paula, can you hear me?').waitFor();
    await shot(clinician, 'clinician-4-summary');
    await patient.getByRole('heading', { name: /How was your visit/ }).waitFor({ timeout: 15_000 });
    await shot(patient, 'patient-7-survey');
    await patient.getByLabel('Excellent').check();
    await patient.getByLabel(/Anything you would like to tell/).fill('Easy.');
    await patient.getByRole('button', { name: 'Send' }).click();
    await patient.getByRole('heading', { name: 'Thank you' }).waitFor();
    const summary = (await org.clinician.get(`/api/v1/visits/${visit.id}/summary`)).json();
    assert.deepEqual(summary.surveys.map((s: { rating: number; comment: string }) => [s.rating, s.comment]), [[5, 'Easy.']]);
    assert.deepEqual(summary.chat.map((m: { body: string }) => m.body), ['Hello Paula, can you hear me?', 'Yes, clearly.']);
    await Promise.all([clinician.context().close(), patient.context().close()]);
  });

  async function patientIdentity(visitId: string): Promise<string> {
    const v = (await org.clinician.get(`/api/v1/visits/${visitId}`)).json() as { participants: { id: string; role: string }[] };
    return v.participants.find((p) => p.role === 'patient')!.id;
  }

  test('on a phone, a denied patient is told why; an expired link and a refused camera get clear help', async () => {
    const patientId = await newPatient('Dora');
    const visit = (await org.clinician.post('/api/v1/visits', { patientIds: [patientId], start: true })).json() as { id: string };
    const invite = (await org.clinician.post(`/api/v1/visits/${visit.id}/invites`, { role: 'patient', patientId })).json() as { url: string; linkId: string };
    // This one on a phone: nothing wider than the screen, at each step.
    const patient = await patientArrives(invite.url, 'phone', (page) => page.setViewportSize({ width: 390, height: 844 }));
    const pageWidth = () => patient.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth);
    assert.ok((await pageWidth()) <= 390, `the waiting screen is ${await pageWidth()} px wide on a 390 px phone`);
    const pid = await patientIdentity(visit.id);
    assert.equal((await org.clinician.post(`/api/v1/visits/${visit.id}/participants/${pid}/deny`, { message: 'Please call the front desk to reschedule.' })).statusCode, 200);
    await patient.getByText('Please call the front desk to reschedule.').waitFor({ timeout: 15_000 });
    await shot(patient, 'phone-denied');
    assert.ok((await pageWidth()) <= 390);
    await patient.context().close();

    // An expired link.
    const other = await newPatient('Ezra');
    const v2 = (await org.clinician.post('/api/v1/visits', { patientIds: [other], start: true })).json() as { id: string };
    const late = (await org.clinician.post(`/api/v1/visits/${v2.id}/invites`, { role: 'patient', patientId: other })).json() as { url: string; linkId: string };
    await t.database.db.update(visitLinks).set({ expiresAt: new Date(Date.now() - 60_000) }).where(eq(visitLinks.id, late.linkId));
    const expired = await newMediaPage(browser);
    await expired.goto(late.url.replace(/^https?:\/\/[^/]+/, base));
    await expired.getByRole('heading', { name: 'This link has expired' }).waitFor();
    await shot(expired, 'link-expired');
    await expired.context().close();

    // The camera refused: the device check says how to allow it, and "Try again".
    const v3Patient = await newPatient('Fay');
    const v3 = (await org.clinician.post('/api/v1/visits', { patientIds: [v3Patient], start: true })).json() as { id: string };
    const third = (await org.clinician.post(`/api/v1/visits/${v3.id}/invites`, { role: 'patient', patientId: v3Patient })).json() as { url: string };
    const refused = await newMediaPage(browser);
    await refused.addInitScript(() => {
      const g = globalThis as unknown as { navigator: { mediaDevices: { getUserMedia: () => Promise<never> } }; DOMException: new (m: string, n: string) => Error };
      g.navigator.mediaDevices.getUserMedia = () => Promise.reject(new g.DOMException('Permission denied', 'NotAllowedError'));
    });
    await refused.goto(third.url.replace(/^https?:\/\/[^/]+/, base));
    await refused.getByText(/was not allowed to use your camera and microphone/).waitFor();
    assert.equal(await refused.getByRole('button', { name: 'Continue' }).isDisabled(), true);
    await refused.getByRole('button', { name: 'Try again' }).waitFor();
    await shot(refused, 'permission-denied');
    await refused.context().close();
  });
});
