// The call screen at the sizes people use: a clinician on a 1280x800 laptop and a patient on a 390x844 phone, in
// Debian Chromium with the fake camera (a known picture: solid FAKE_COLOUR, a white box moving along its top band)
// and microphone, against the real server. Asserted on both sides: every primary control is inside the window with
// nothing to scroll (down or sideways); the main video is shown whole (object-fit contain, and the known picture's
// edges found inside the displayed box, letterboxed, in the video's own proportions); a chat message with the panel
// closed shows a notice (and the unread count on a visible control); the session timer never goes back across the
// admission and shows the time since the visit started on the server's clock although both browsers' clocks are off
// (the clinician's 2 minutes slow, the patient's 5 minutes fast); chat times follow the one rule (the clinic's time
// zone in the console, equal to the summary's; the device's zone on the patient's page; both with the zone's name),
// with each browser in a time zone other than the clinic's; Leave and End visit are told apart. Screenshots go to
// test-results/screenshots/ (call-*.png).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { createTestApp, type TestApp } from './helpers/app.js';
import { TEST_PASSWORD, createTestOrg, type TestOrg } from './helpers/builders.js';
import { closeBrowser, expectInView, expectVideoFrom, expectWholePicture, installProbes, launchChromium, newMediaPage, screenshot } from './helpers/browser.js';

/** The self view floats over the stage and shows the same known picture (one fake camera): masked out of frame readings. */
const SELF_VIEW = '.ov-self';

const shot = (page: Page, name: string) => screenshot(page, name, { fullPage: true });

const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const CLINIC_ZONE = 'America/New_York';
const CLINICIAN_DEVICE_ZONE = 'Asia/Tokyo';
const PATIENT_DEVICE_ZONE = 'Europe/Paris';
const CLINICIAN_CLOCK_SKEW_MS = -120_000;
const PATIENT_CLOCK_SKEW_MS = 300_000;

const videoOf = (identity: string) => `document.querySelector('figure.ov-tile--camera[data-identity="${identity}"] video')`;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The page's clock off by `ms` (Date and Date.now; performance.now is the machine's), from before any script runs. */
const skewClock = (ms: number) => `(() => {
  const RealDate = Date;
  const shift = ${ms};
  function SkewedDate(...args) {
    if (!new.target) return new RealDate(RealDate.now() + shift).toString();
    return args.length > 0 ? new RealDate(...args) : new RealDate(RealDate.now() + shift);
  }
  SkewedDate.prototype = RealDate.prototype;
  SkewedDate.now = () => RealDate.now() + shift;
  SkewedDate.parse = RealDate.parse;
  SkewedDate.UTC = RealDate.UTC;
  globalThis.Date = SkewedDate;
})()`;

/** Records every value the session timer shows (seconds; -1 for "Not started"), in order, every 100 ms. */
const RECORD_TIMER = `(() => {
  if (window.__timerLog) return true;
  const log = (window.__timerLog = []);
  setInterval(() => {
    const el = document.querySelector('[role="timer"] .ov-timer__elapsed');
    if (!el) return;
    const value = el.dataset.seconds === undefined ? -1 : Number(el.dataset.seconds);
    if (log.length === 0 || log[log.length - 1] !== value) log.push(value);
  }, 100);
  return true;
})()`;
const timerLog = (page: Page) => page.evaluate('window.__timerLog') as Promise<number[]>;
const timerSeconds = (page: Page) =>
  page.evaluate(`(() => { const el = document.querySelector('[role="timer"] .ov-timer__elapsed'); return el && el.dataset.seconds !== undefined ? Number(el.dataset.seconds) : null; })()`) as Promise<number | null>;

/** Polls `check` (page.evaluate-based: the app's CSP refuses waitForFunction's string predicates) until it holds. */
async function waitUntil(page: Page, what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (${page.url()})`);
    await sleep(200);
  }
}

/** The self view (floating over the stage) covers none of the main picture (its contain box inside the element). */
async function expectSelfViewClear(page: Page, selector: string, what: string): Promise<void> {
  const r = (await page.evaluate(`(() => {
    const el = document.querySelector(${JSON.stringify(selector)});
    const b = el.getBoundingClientRect();
    const scale = Math.min(b.width / el.videoWidth, b.height / el.videoHeight);
    const w = el.videoWidth * scale, h = el.videoHeight * scale;
    const left = b.left + (b.width - w) / 2, top = b.top + (b.height - h) / 2;
    const s = document.querySelector('.ov-self').getBoundingClientRect();
    return { objectFit: getComputedStyle(el).objectFit, picture: { left, top, right: left + w, bottom: top + h }, self: { left: s.left, top: s.top, right: s.right, bottom: s.bottom } };
  })()`)) as { objectFit: string; picture: Record<'left' | 'top' | 'right' | 'bottom', number>; self: Record<'left' | 'top' | 'right' | 'bottom', number> };
  assert.equal(r.objectFit, 'contain', what);
  const apart = r.self.left >= r.picture.right - 0.5 || r.self.right <= r.picture.left + 0.5 || r.self.top >= r.picture.bottom - 0.5 || r.self.bottom <= r.picture.top + 0.5;
  assert.ok(apart, `${what}: the self view covers part of the main picture: ${JSON.stringify(r)}`);
}

const zoneTime = (iso: string, timeZone: string) =>
  new Intl.DateTimeFormat('en-US', { hour: 'numeric', minute: '2-digit', timeZoneName: 'short', timeZone }).format(new Date(iso));
const flat = (text: string) => text.replace(/\s+/g, ' ').trim();

describe('web app in Chromium: the call screen on a 1280x800 laptop and a 390x844 phone', () => {
  let t: TestApp;
  let org: TestOrg;
  let base: string;
  let browser: Browser;

  before(async () => {
    t = await createTestApp('pglite', { env: { LOGIN_RATE_LIMIT_PER_MINUTE: '1000' } });
    org = await createTestOrg(t.app);
    base = await t.listen();
    browser = await launchChromium();
  });
  after(async () => {
    await closeBrowser(browser);
    await t.close();
  });

  test('every primary control in view, the main video whole, chat notices, a monotonic timer on the server clock, one rule for chat times', async () => {
    assert.equal((await org.admin.request('PATCH', '/api/v1/organization', { timeZone: CLINIC_ZONE })).statusCode, 200);
    const patientId = (await org.clinician.post('/api/v1/patients', { givenName: 'Rosa', familyName: 'Layout' })).json().id as string;
    const visit = (await org.clinician.post('/api/v1/visits', { patientIds: [patientId], start: true })).json() as { id: string };
    const invite = (await org.clinician.post(`/api/v1/visits/${visit.id}/invites`, { role: 'patient', patientId })).json() as { url: string };
    const participants = () => org.clinician.get(`/api/v1/visits/${visit.id}`).then((r) => r.json() as { startedAt: string | null; participants: { id: string; role: string; displayName: string }[] });
    const host = (await participants()).participants.find((p) => p.role === 'host')!;

    // The clinician: a laptop in Tokyo whose clock is 2 minutes slow; the clinic is in New York.
    const clinician = await newMediaPage(browser, { viewport: LAPTOP, timezoneId: CLINICIAN_DEVICE_ZONE, locale: 'en-US' });
    await clinician.addInitScript(skewClock(CLINICIAN_CLOCK_SKEW_MS));
    await clinician.goto(`${base}/`);
    await clinician.getByLabel('Email').fill(org.clinician.user.email);
    await clinician.getByLabel('Password').fill(TEST_PASSWORD);
    await clinician.getByRole('button', { name: 'Sign in' }).click();
    await clinician.getByRole('link', { name: 'Patients' }).waitFor();
    await clinician.goto(`${base}/visits/${visit.id}`);
    await clinician.getByText('Your patient will appear here once you admit them').waitFor({ timeout: 15_000 });
    await clinician.evaluate(RECORD_TIMER);
    await clinician.getByRole('timer', { name: 'Time in the visit' }).getByText('Not started').waitFor();

    // The patient: a phone in Paris whose clock is 5 minutes fast.
    const patient = await newMediaPage(browser, { viewport: PHONE, timezoneId: PATIENT_DEVICE_ZONE, locale: 'en-US' });
    await patient.addInitScript(skewClock(PATIENT_CLOCK_SKEW_MS));
    await patient.goto(invite.url.replace(/^https?:\/\/[^/]+/, base));
    await patient.getByRole('button', { name: 'Continue' }).click();
    await patient.getByLabel('I have read this and I agree').check();
    await patient.getByRole('button', { name: 'Accept and continue' }).click();
    await patient.getByRole('heading', { name: 'Waiting for the clinician to let you in' }).waitFor();
    // How long they have waited is on the server's clock too (the phone's, 5 minutes fast, would say 5 minutes).
    await sleep(1000);
    await patient.getByText('You just arrived.').waitFor();
    await patient.evaluate(RECORD_TIMER);
    await expectInView(patient, 'patient waiting (390x844)', [{ name: /^(Mute|Unmute) microphone$/ }, { name: /^Turn camera (off|on)$/ }, { name: 'Leave' }], { noVerticalScroll: true, onOverflow: shot });

    // Admitted: both see each other.
    await sleep(1500); // the clinician's timer keeps saying "Not started" meanwhile (recorded)
    await clinician.getByRole('button', { name: 'Admit Rosa Layout' }).click();
    const rosa = (await participants()).participants.find((p) => p.role === 'patient')!;
    await Promise.all([installProbes(clinician), installProbes(patient)]);
    await expectVideoFrom(patient, videoOf(host.id));
    await expectVideoFrom(clinician, videoOf(rosa.id));

    // Every primary action in view, nothing to scroll, on both.
    const clinicianControls = [
      { name: /^(Mute|Unmute) microphone$/ },
      { name: /^Turn camera (off|on)$/ },
      { name: 'Share screen' },
      { name: /^Switch to (speaker|gallery) view$/ },
      { name: /^Participants/ },
      { name: /^Chat/ },
      { name: /^(Record|Stop recording)$/ },
      { name: 'Leave' },
      { name: 'End visit for everyone' },
    ];
    const context = [{ name: /Rosa Layout/, role: 'heading' as const }, { name: '← Today', role: 'link' as const }, { name: /Test clinic/, role: 'link' as const }, { name: 'Time in the visit', role: 'timer' as const }];
    await expectInView(clinician, 'clinician in the call (1280x800)', [...clinicianControls, ...context], { noVerticalScroll: true, onOverflow: shot });
    const patientControls = [{ name: /^(Mute|Unmute) microphone$/ }, { name: /^Turn camera (off|on)$/ }, { name: /^Participants/ }, { name: /^Chat/ }, { name: 'Leave' }, { name: /^Switch to (speaker|gallery) view$/ }];
    await expectInView(patient, 'patient in the call (390x844)', [...patientControls, { name: 'Time in the visit', role: 'timer' }], { noVerticalScroll: true, onOverflow: shot });
    assert.equal(await patient.getByRole('button', { name: 'End visit for everyone' }).count(), 0);

    // The main video whole on both (the patient sees the clinician's whole picture on the phone, and vice versa).
    const onPhone = await expectWholePicture(patient, `figure.ov-tile--camera[data-identity="${host.id}"] video`, 'patient (390x844) seeing the clinician', SELF_VIEW);
    await expectWholePicture(clinician, `figure.ov-tile--camera[data-identity="${rosa.id}"] video`, 'clinician (1280x800) seeing the patient', SELF_VIEW);
    assert.ok(onPhone.telling && onPhone.height > onPhone.bottom - onPhone.top + 20, 'the phone letterboxes (bars above and below)');
    await expectSelfViewClear(patient, `figure.ov-tile--camera[data-identity="${host.id}"] video`, 'patient (390x844)');
    await expectSelfViewClear(clinician, `figure.ov-tile--camera[data-identity="${rosa.id}"] video`, 'clinician (1280x800)');

    // The timer: from the visit's start on the server's clock, whatever the devices' clocks say; never back.
    await Promise.all([clinician, patient].map((page) => waitUntil(page, 'the timer at 3 s or more', async () => ((await timerSeconds(page)) ?? 0) >= 3)));
    const startedAt = (await participants()).startedAt;
    assert.ok(startedAt, 'the visit started on admission');
    for (const [page, who] of [[clinician, 'clinician'], [patient, 'patient']] as const) {
      const shown = await timerSeconds(page);
      const truth = (Date.now() - Date.parse(startedAt)) / 1000;
      assert.ok(shown !== null && Math.abs(shown - truth) <= 2, `${who}'s timer shows ${shown} s; the visit started ${truth.toFixed(1)} s ago on the server's clock`);
      const log = await timerLog(page);
      for (let i = 1; i < log.length; i++) assert.ok(log[i]! >= log[i - 1]!, `${who}'s timer went back: ${log.join(' → ')}`);
    }
    const clinicianLog = await timerLog(clinician);
    assert.equal(clinicianLog[0], -1, `the clinician's timer said "Not started" before admission: ${clinicianLog.join(' → ')}`);
    assert.ok(clinicianLog.includes(0) || clinicianLog.includes(1), `the clinician's timer started from the visit's start: ${clinicianLog.join(' → ')}`);

    await shot(clinician, 'call-clinician-1280x800');
    await shot(patient, 'call-patient-390x844');

    // The clinician writes while the patient's chat is closed: a notice on the phone, in view, and the count on "Chat".
    const first = (await org.clinician.post(`/api/v1/visits/${visit.id}/messages`, { body: 'Please hold your arm up to the camera so that I can see the whole rash, including its edges near the elbow.' })).json() as {
      createdAt: string;
    };
    const patientNotice = patient.getByRole('status').filter({ hasText: `New message from ${host.displayName}` });
    await patientNotice.waitFor({ timeout: 15_000 });
    // The sender and the first words (cut at a word, about 90 characters).
    assert.equal(flat(await patientNotice.locator('p').innerText()), `New message from ${host.displayName} Please hold your arm up to the camera so that I can see the whole rash, including its…`);
    await expectInView(patient, 'patient with the message notice (390x844)', [...patientControls, { name: 'Open chat' }, { name: 'Chat (1 unread)' }], { noVerticalScroll: true, onOverflow: shot });
    await shot(patient, 'call-patient-390x844-chat-notice');
    await patient.getByRole('button', { name: 'Open chat' }).click();
    await patient.getByRole('log', { name: 'Chat history' }).getByText('Please hold your arm up').waitFor();
    assert.equal(await patient.getByRole('button', { name: 'Open chat' }).count(), 0, 'the notice goes once the chat is open');
    // The chat covers the video on the phone, never the controls.
    await expectInView(patient, 'patient with the chat open (390x844)', [...patientControls, { name: 'Send' }, { name: 'Close chat' }], { noVerticalScroll: true, onOverflow: shot });
    await shot(patient, 'call-patient-390x844-chat');
    // The patient's page shows times in the device's zone, named.
    const patientTime = flat(await patient.getByRole('log', { name: 'Chat history' }).locator('li', { hasText: 'Please hold your arm up' }).locator('time').innerText());
    assert.equal(patientTime, flat(zoneTime(first.createdAt, PATIENT_DEVICE_ZONE)));
    await patient.getByLabel('Message').fill('Like this? The rash goes right to the edge of my elbow.');
    await patient.getByRole('button', { name: 'Send' }).click();
    await patient.getByRole('button', { name: 'Close chat' }).click();

    // ...and the patient's answer reaches the clinician with the panel closed: the notice, in view.
    const clinicianNotice = clinician.getByRole('status').filter({ hasText: 'New message from Rosa Layout' });
    await clinicianNotice.waitFor({ timeout: 15_000 });
    assert.match(flat(await clinicianNotice.innerText()), /Like this\? The rash goes right to the edge of my elbow\./);
    await expectInView(clinician, 'clinician with the message notice (1280x800)', [...clinicianControls, { name: 'Open chat' }, { name: 'Chat (1 unread)' }], { noVerticalScroll: true, onOverflow: shot });
    await shot(clinician, 'call-clinician-1280x800-chat-notice');
    await clinician.getByRole('button', { name: 'Open chat' }).click();
    const reply = clinician.getByRole('log', { name: 'Chat history' }).locator('li', { hasText: 'Like this?' });
    await reply.waitFor();
    const replyAt = (await org.clinician.get(`/api/v1/visits/${visit.id}/messages`)).json().data.find((m: { body: string }) => m.body.startsWith('Like this?')).createdAt as string;
    const inCallTime = flat(await reply.locator('time').innerText());
    // The console shows the clinic's zone (New York), not the computer's (Tokyo), named.
    assert.equal(inCallTime, flat(zoneTime(replyAt, CLINIC_ZONE)));
    await expectInView(clinician, 'clinician with the chat open (1280x800)', clinicianControls, { noVerticalScroll: true, onOverflow: shot });
    await expectSelfViewClear(clinician, `figure.ov-tile--camera[data-identity="${rosa.id}"] video`, 'clinician with the chat open (1280x800)');
    await shot(clinician, 'call-clinician-1280x800-chat');

    // The other sizes: the clinician on a phone, the patient on a laptop (the page may scroll below the call, not the
    // controls out of view).
    await clinician.getByRole('button', { name: 'Close chat' }).click();
    await clinician.setViewportSize(PHONE);
    await sleep(300);
    await expectInView(clinician, 'clinician in the call (390x844)', clinicianControls, { noVerticalScroll: false, onOverflow: shot });
    await expectSelfViewClear(clinician, `figure.ov-tile--camera[data-identity="${rosa.id}"] video`, 'clinician (390x844)');
    assert.ok((await expectWholePicture(clinician, `figure.ov-tile--camera[data-identity="${rosa.id}"] video`, 'clinician (390x844) seeing the patient', SELF_VIEW)).telling);
    await shot(clinician, 'call-clinician-390x844');
    await clinician.setViewportSize(LAPTOP);
    await patient.setViewportSize(LAPTOP);
    await sleep(300);
    await expectInView(patient, 'patient in the call (1280x800)', patientControls, { noVerticalScroll: true, onOverflow: shot });
    assert.ok((await expectWholePicture(patient, `figure.ov-tile--camera[data-identity="${host.id}"] video`, 'patient (1280x800) seeing the clinician', SELF_VIEW)).telling);
    await expectSelfViewClear(patient, `figure.ov-tile--camera[data-identity="${host.id}"] video`, 'patient (1280x800)');
    await patient.setViewportSize(PHONE);

    // Leave is an ordinary control; End visit stands apart, red, and its confirmation says what happens.
    const style = (selector: string) =>
      clinician.evaluate(
        `(() => { const el = document.querySelector(${JSON.stringify(selector)}); const s = getComputedStyle(el); const r = el.getBoundingClientRect(); return { label: el.getAttribute('aria-label') || el.innerText, background: s.backgroundColor, left: r.left, right: r.right, text: el.innerText }; })()`,
      ) as Promise<{
        label: string;
        background: string;
        left: number;
        right: number;
        text: string;
      }>;
    const leave = await style('.ov-controls .ov-ctl--leave');
    const end = await style('.ov-controls .ov-ctl--end');
    assert.equal(flat(leave.label), 'Leave');
    assert.equal(end.label, 'End visit for everyone');
    const red = (rgb: string) => {
      const [r, g, b] = (rgb.match(/\d+/g) ?? []).map(Number) as [number, number, number];
      return r > 150 && g < 80 && b < 80;
    };
    assert.ok(red(end.background), `End visit is red: ${end.background}`);
    assert.ok(!red(leave.background), `Leave is not red: ${leave.background}`);
    assert.ok(end.left - leave.right >= 24, `End visit is set apart from Leave (${end.left - leave.right} px)`);
    assert.match(flat(end.text), /End visit for all/);
    await clinician.getByRole('button', { name: 'End visit for everyone' }).click();
    const dialog = clinician.getByRole('dialog', { name: 'End the visit for everyone?' });
    await dialog.waitFor();
    assert.match(flat(await dialog.innerText()), /Everyone is disconnected.*cannot be undone.*choose Leave instead/);
    await shot(clinician, 'call-clinician-1280x800-end-confirm');
    await dialog.getByRole('button', { name: 'Yes, end visit' }).click();

    // The summary shows the same message at the same time as the call did.
    await clinician.getByRole('heading', { name: 'Visit summary' }).waitFor({ timeout: 15_000 });
    const summaryTime = flat(await clinician.locator('.transcript li', { hasText: 'Like this?' }).locator('.transcript-time').innerText());
    assert.equal(summaryTime, inCallTime);
    await Promise.all([clinician.context().close(), patient.context().close()]);
  });
});
