// Patient messaging in the web app, in Debian Chromium against the real server (in-process, PGlite, the outbox
// provider: nothing leaves the machine). A clinician signs in, opens a patient's profile → Chat, presses Enter:
// the message shows ✓ then ✓✓ (the outbox reports it delivered), the Outbox page lists it, a reply typed there
// "as the patient" appears live in the Chat tab; a patient without SMS consent gets the reason and no Send. With
// the outbox's own delivery report off, the Outbox page marks a text Undelivered (30006) and the Chat tab shows ⚠
// with the carrier's reason. The intake flow: a form built and sent by SMS from the Intake tab, opened from the
// link in that text in a fresh browser (a phone), filled in, submitted; the staff tab shows it submitted with the
// answers. Screenshots go to test-results/screenshots/ (git-ignored).
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import type { Browser, Locator, Page } from 'playwright-core';
import { intakeRequests } from '../src/server/db/schema.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { TEST_PASSWORD, createTestOrg, type TestOrg } from './helpers/builders.js';
import { closeBrowser, errorsOf, launchChromium, newMediaPage, screenshot } from './helpers/browser.js';

const shot = (page: Page, name: string) => screenshot(page, `messaging-${name}`, { fullPage: true });

/** The web app must be built from the current sources (npm test builds first; a direct run needs `node scripts/build.js`). */
function assertWebBuilt(): void {
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((m, e) => Math.max(m, e.isDirectory() ? newest(path.join(dir, e.name)) : statSync(path.join(dir, e.name)).mtimeMs), 0);
  let built = 0;
  try {
    built = statSync('dist/web/index.html').mtimeMs;
  } catch {
    throw new Error('dist/web is missing: run `node scripts/build.js` first (npm test does).');
  }
  if (newest('src/web') > built) throw new Error('dist/web is older than src/web: run `node scripts/build.js` first (npm test does).');
}

const ENV = { LOGIN_RATE_LIMIT_PER_MINUTE: '1000', MESSAGING_QUIET_HOURS: '' };
const REASON_30006 = 'The number is a landline or the carrier cannot deliver texts to it.';

/**
 * Records, for every message bubble of the Chat tab, each status mark it showed (data-status and text), in order:
 * a ✓ shown for 300 ms is seen even if no poll of the test happens to land in it.
 */
const STATUS_RECORDER = String.raw`(() => {
  if (window.__ovStatusLog) return true;
  const log = (window.__ovStatusLog = []);
  const last = new Map();
  const record = () => {
    for (const li of document.querySelectorAll('li.chat-msg[data-message-id]')) {
      const mark = li.querySelector('.msg-status');
      if (!mark) continue;
      const entry = { id: li.getAttribute('data-message-id'), status: mark.getAttribute('data-status'), text: mark.textContent.replace(/\s+/g, ' ').trim() };
      const key = entry.status + '|' + entry.text;
      if (last.get(entry.id) === key) continue;
      last.set(entry.id, key);
      log.push(entry);
    }
  };
  new MutationObserver(record).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
  record();
  return true;
})()`;

interface StatusEntry {
  id: string;
  status: string;
  text: string;
}

describe('web app in Chromium: patient messaging', () => {
  let browser: Browser;
  before(async () => {
    assertWebBuilt();
    browser = await launchChromium({ fakeMedia: false });
  });
  after(async () => {
    await closeBrowser(browser);
  });

  /** A server, an organisation and a signed-in clinician page of its own. */
  function setup(env: Record<string, string>) {
    const s = {} as { t: TestApp; org: TestOrg; base: string };
    before(async () => {
      s.t = await createTestApp('pglite', { env: { ...ENV, ...env } });
      s.org = await createTestOrg(s.t.app);
      s.base = await s.t.listen();
    });
    after(async () => {
      await s.t?.close();
    });
    return s;
  }

  async function signIn(s: { org: TestOrg; base: string }): Promise<Page> {
    const page = await newMediaPage(browser);
    await page.setViewportSize({ width: 1200, height: 900 });
    await page.goto(`${s.base}/`);
    await page.getByLabel('Email').fill(s.org.clinician.user.email);
    await page.getByLabel('Password').fill(TEST_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Patients', exact: true }).waitFor();
    return page;
  }

  async function newPatient(org: TestOrg, givenName: string, phone: string | null, smsConsent: boolean): Promise<string> {
    const res = await org.clinician.post('/api/v1/patients', { givenName, familyName: 'Texter', ...(phone ? { phone } : {}) });
    assert.equal(res.statusCode, 201, res.body);
    const id = res.json().id as string;
    if (smsConsent) {
      const c = await org.clinician.post(`/api/v1/patients/${id}/consents`, { kind: 'sms', status: 'granted', method: 'verbal' });
      assert.equal(c.statusCode, 201, c.body);
    }
    return id;
  }

  /** The bubble of the Chat tab holding `text`. */
  const bubble = (page: Page, text: string): Locator => page.locator('li.chat-msg', { hasText: text });

  /** Opens the Outbox page in a second tab of the clinician's browser (same session), from the header's link. */
  async function openOutbox(clinic: Page): Promise<Page> {
    const outbox = await clinic.context().newPage();
    const errors: string[] = [];
    outbox.on('pageerror', (err) => errors.push(String(err)));
    outboxErrors.set(outbox, errors);
    await outbox.setViewportSize({ width: 1200, height: 900 });
    await outbox.goto(clinic.url());
    await outbox.getByRole('link', { name: 'Outbox', exact: true }).click();
    await outbox.getByRole('heading', { name: 'Outbox', level: 1 }).waitFor();
    assert.equal(new URL(outbox.url()).pathname, '/outbox');
    return outbox;
  }
  const outboxErrors = new WeakMap<Page, string[]>();

  describe('with the outbox reporting delivery after 300 ms', () => {
    const s = setup({ OUTBOX_DELIVERY_DELAY_MS: '300' });

    test('Chat: Enter sends, ✓ then ✓✓; the Outbox lists it; a reply typed there arrives live; no SMS consent, no Send', async () => {
      const { org, base } = s;
      const phone = '+15005550101';
      const patientId = await newPatient(org, 'Carla', phone, true);
      const clinic = await signIn(s);

      // From the patients list to the profile, then the Chat tab.
      await clinic.getByRole('link', { name: 'Patients', exact: true }).click();
      await clinic.getByRole('link', { name: 'Carla Texter' }).click();
      await clinic.getByRole('heading', { name: 'Carla Texter', level: 1 }).waitFor();
      assert.equal(new URL(clinic.url()).pathname, `/patients/${patientId}`);
      await clinic.getByRole('tab', { name: 'Chat' }).click();
      // The tab switch goes through a search-params update: wait for it rather than read the attribute once.
      await clinic.locator('[role="tab"][aria-selected="true"]', { hasText: 'Chat' }).waitFor();
      await clinic.getByText('No messages yet').waitFor();
      await clinic.evaluate(STATUS_RECORDER);
      await clinic.evaluate('window.__ovNotReloaded = true');

      // Type and press Enter: the live preview counts the segment first, then Enter sends.
      const text = 'Hello Carla, your visit is confirmed for Tuesday at 10.';
      const box = clinic.getByLabel('Message', { exact: true });
      await box.fill(text);
      await clinic.getByText(/^1 segment · GSM-7 · est\. .*0[.,]0079/).waitFor();
      await box.press('Enter');
      const sent = bubble(clinic, text);
      await sent.getByText('Delivered').waitFor();
      assert.equal(await box.inputValue(), '', 'the composer is emptied after the send');
      const messageId = await sent.getAttribute('data-message-id');
      assert.ok(messageId);
      const marks = ((await clinic.evaluate('window.__ovStatusLog')) as StatusEntry[]).filter((e) => e.id === messageId);
      const sentAt = marks.findIndex((e) => e.status === 'sent' && e.text === '✓ Sent');
      const deliveredAt = marks.findIndex((e) => e.status === 'delivered' && e.text === '✓✓ Delivered');
      assert.ok(sentAt >= 0, `✓ was never shown: ${JSON.stringify(marks)}`);
      assert.ok(deliveredAt > sentAt, `✓✓ did not follow ✓: ${JSON.stringify(marks)}`);
      assert.equal(await sent.locator('.msg-status').getAttribute('title'), 'Delivered');
      // What the page shows is what the server holds.
      const stored = (await org.clinician.get(`/api/v1/patients/${patientId}/messages`)).json().data as { id: string; status: string; body: string; direction: string }[];
      assert.equal(stored.length, 1);
      assert.equal(stored[0]!.id, messageId);
      assert.equal(stored[0]!.status, 'delivered');
      assert.ok(stored[0]!.body.startsWith(text), stored[0]!.body);
      await shot(clinic, 'chat-delivered');

      // The Outbox page (a second tab, from the header link) lists it, delivered.
      const outbox = await openOutbox(clinic);
      const row = outbox.locator('li.outbox-item', { hasText: text });
      await row.waitFor();
      assert.equal(await row.getAttribute('data-message-id'), messageId);
      assert.match((await row.locator('.outbox-title').innerText()).trim(), new RegExp(`^To \\${phone}`));
      assert.equal(await row.locator('.msg-status').getAttribute('data-status'), 'delivered');
      await row.getByRole('link', { name: 'Carla Texter' }).waitFor();
      // Delivered is final: the carrier buttons are gone from it.
      assert.equal(await row.getByRole('button', { name: 'Undelivered (30006)' }).count(), 0);

      // "Reply as patient", from the patient's number (filled in by the row's shortcut): live in the Chat tab.
      await row.getByRole('button', { name: 'Reply as this patient' }).click();
      assert.equal(await outbox.getByLabel('From number').inputValue(), phone);
      await outbox.getByLabel('Text', { exact: true }).fill('Thanks, see you on Tuesday!');
      await outbox.getByRole('button', { name: 'Send reply' }).click();
      await outbox.getByText(`Received from ${phone}.`).waitFor();
      const reply = bubble(clinic, 'Thanks, see you on Tuesday!');
      await reply.waitFor({ timeout: 10_000 });
      assert.match((await reply.getAttribute('class')) ?? '', /\bis-in\b/, 'a reply sits on the patient’s side');
      assert.match((await sent.getAttribute('class')) ?? '', /\bis-out\b/);
      assert.equal(await clinic.evaluate('window.__ovNotReloaded === true'), true, 'the Chat tab was not reloaded');
      // Oldest first: the reply is below the sent message.
      const order = await clinic.locator('li.chat-msg').evaluateAll((els) => els.map((el) => el.getAttribute('data-message-id')));
      assert.equal(order.length, 2);
      assert.equal(order[0], messageId);
      await shot(clinic, 'chat-reply');
      await shot(outbox, 'outbox');

      // A text from a number no patient has lands in Unmatched; "Assign to patient" files it under Carla.
      await outbox.getByLabel('From number').fill('+15005550199');
      await outbox.getByLabel('Text', { exact: true }).fill('This is Carla on my other phone');
      await outbox.getByRole('button', { name: 'Send reply' }).click();
      const unmatched = outbox.getByRole('list', { name: 'Unmatched messages' }).locator('li', { hasText: 'This is Carla on my other phone' });
      await unmatched.waitFor();
      await unmatched.getByRole('button', { name: 'Assign to patient' }).click();
      await unmatched.getByRole('checkbox', { name: 'Carla Texter' }).check();
      await unmatched.getByRole('button', { name: 'Assign to Carla Texter' }).click();
      await unmatched.waitFor({ state: 'detached' });
      await bubble(clinic, 'This is Carla on my other phone').waitFor({ timeout: 10_000 });

      // A patient who never agreed to texts: the reason, "Record SMS consent", and Send disabled until it is recorded.
      const unconsented = await newPatient(org, 'Nina', '+15005550102', false);
      await clinic.goto(`${base}/patients/${unconsented}?tab=chat`);
      const blocked = clinic.getByText('The patient has not agreed to texts — record SMS consent first.');
      await blocked.waitFor();
      await clinic.getByLabel('Message', { exact: true }).fill('Hello Nina');
      const send = clinic.getByRole('button', { name: 'Send', exact: true });
      // The preview runs again for the typed text; Send stays disabled.
      await clinic.getByText(/1 segment · GSM-7/).waitFor();
      assert.equal(await send.isDisabled(), true, 'Send is disabled while the patient has not agreed to texts');
      await shot(clinic, 'chat-blocked');
      await clinic.getByRole('button', { name: 'Record SMS consent' }).click();
      await clinic.getByLabel('agrees to receive text messages').check();
      await clinic.getByRole('button', { name: 'Save consent' }).click();
      await blocked.waitFor({ state: 'detached' });
      await clinic.getByRole('button', { name: 'Send', exact: true, disabled: false }).waitFor();
      const consents = (await org.clinician.get(`/api/v1/patients/${unconsented}`)).json().consents as { kind: string; status: string }[];
      assert.deepEqual(consents.filter((c) => c.kind === 'sms').map((c) => c.status), ['granted']);

      assert.deepEqual(errorsOf(clinic), []);
      assert.deepEqual(outboxErrors.get(outbox), []);
      await clinic.context().close();
    });

    test('Intake: a form built and sent by SMS from the Intake tab, filled in on a phone; the tab shows it submitted with the answers', async () => {
      const { t, org, base } = s;
      const patientId = await newPatient(org, 'Ivan', '+15005550103', true);
      const clinic = await signIn(s);
      await clinic.goto(`${base}/patients/${patientId}`);
      await clinic.getByRole('tab', { name: 'Intake' }).click();
      await clinic.getByText('No intake forms have been sent to this patient yet.').waitFor();

      // No forms yet: the tab offers one, built here.
      await clinic.getByRole('button', { name: 'New form' }).click();
      await clinic.getByLabel('Form name').fill('Before your visit');
      await clinic.getByLabel('Question 1 text').fill('Any allergies?');
      await clinic.getByLabel('Question 1 answer type').selectOption({ label: 'Long answer' });
      await clinic.getByLabel('Question 1 is required').check();
      await clinic.getByRole('button', { name: 'Add question' }).click();
      await clinic.getByLabel('Question 2 text').fill('Do you smoke?');
      await clinic.getByLabel('Question 2 answer type').selectOption({ label: 'Yes / no' });
      await clinic.getByLabel('Question 2 is required').check();
      await clinic.getByRole('button', { name: 'Add question' }).click();
      await clinic.getByLabel('Question 3 text').fill('Preferred pharmacy');
      await clinic.getByLabel('Question 3 answer type').selectOption({ label: 'One of a list' });
      await clinic.getByLabel('Question 3 choices (one per line)').fill('Main Street\nHospital');
      await clinic.getByRole('button', { name: 'Save form' }).click();

      // Send it, "SMS only".
      const form = clinic.getByLabel('Form', { exact: true });
      await form.waitFor();
      assert.equal(await form.locator('option:checked').textContent(), 'Before your visit (3 questions)');
      await clinic.getByLabel('SMS only').check();
      await clinic.getByRole('button', { name: 'Send form' }).click();
      await clinic.getByText('“Before your visit” was sent (SMS only).').waitFor();
      const sentList = clinic.getByRole('list', { name: 'Intake forms sent' });
      const item = sentList.locator('li', { hasText: 'Before your visit' });
      await item.waitFor();
      assert.equal(await item.getAttribute('data-status'), 'sent');
      await shot(clinic, 'intake-sent');

      // The link, as the patient got it: in the text the outbox carried.
      const texts = (await org.clinician.get(`/api/v1/patients/${patientId}/messages`)).json().data as { purpose: string; channel: string; body: string }[];
      const sms = texts.filter((m) => m.purpose === 'intake_form');
      assert.equal(sms.length, 1);
      assert.equal(sms[0]!.channel, 'sms');
      const link = /https?:\/\/\S+\/intake#\S+/.exec(sms[0]!.body)?.[0];
      assert.ok(link, `no intake link in the text: ${sms[0]!.body}`);
      const url = link.replace(/^https?:\/\/[^/]+/, base);
      // The staff page shows the same link to copy.
      assert.equal(await clinic.getByLabel('The patient’s link').inputValue(), link);

      // The patient, on a phone, in a browser of their own.
      const phone = await newMediaPage(browser);
      await phone.setViewportSize({ width: 390, height: 844 });
      await phone.goto(url);
      await phone.getByRole('heading', { name: 'Before your visit' }).waitFor();
      assert.equal(new URL(phone.url()).hash, '', 'the token is removed from the address bar');
      assert.equal(new URL(phone.url()).pathname, '/intake');
      // Required questions are checked before anything is sent.
      await phone.getByRole('button', { name: 'Send my answers' }).click();
      await phone.getByText('Please answer the 2 required questions marked below.').waitFor();
      assert.equal(await phone.getByLabel('Any allergies?').getAttribute('aria-invalid'), 'true');
      await shot(phone, 'intake-phone-required');
      await phone.getByLabel('Any allergies?').fill('Penicillin');
      await phone.getByRole('radiogroup', { name: 'Do you smoke?' }).getByLabel('No').check();
      await phone.getByLabel(/Preferred pharmacy/).selectOption('Hospital');
      const width = await phone.evaluate(() => (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document.documentElement.scrollWidth);
      assert.ok(width <= 390, `the form is ${width} px wide on a 390 px phone`);
      await shot(phone, 'intake-phone-form');
      await phone.getByRole('button', { name: 'Send my answers' }).click();
      await phone.getByRole('heading', { name: 'Thank you' }).waitFor();
      await shot(phone, 'intake-phone-thanks');

      // The staff tab, without a reload: submitted (live, from the hub), with the answers.
      await item.locator('.badge', { hasText: 'Submitted' }).waitFor({ timeout: 10_000 });
      assert.equal(await item.getAttribute('data-status'), 'submitted');
      await item.getByRole('button', { name: 'View answers' }).click();
      const answers = clinic.getByRole('definition');
      await answers.first().waitFor();
      const shown = await clinic.locator('.answers .answer').evaluateAll((els) => els.map((el) => [el.querySelector('dt')?.textContent, el.querySelector('dd')?.textContent]));
      assert.deepEqual(shown, [
        ['Any allergies?', 'Penicillin'],
        ['Do you smoke?', 'No'],
        ['Preferred pharmacy', 'Hospital'],
      ]);
      await shot(clinic, 'intake-answers');

      // The same link again: already submitted. A link that is not one, and an expired one, say so.
      await phone.goto(url);
      await phone.getByRole('heading', { name: 'This form was already sent' }).waitFor();
      await phone.goto(`${base}/intake#ovi_not-a-real-token-at-all`);
      await phone.getByRole('heading', { name: 'This link does not work' }).waitFor();
      const forms = (await org.clinician.get('/api/v1/intake-forms')).json() as { id: string }[];
      const again = await org.clinician.post(`/api/v1/intake-forms/${forms[0]!.id}/send`, { patientId, delivery: 'sms' });
      assert.equal(again.statusCode, 201, again.body);
      await t.database.db.update(intakeRequests).set({ expiresAt: new Date(Date.now() - 60_000) }).where(eq(intakeRequests.id, again.json().id));
      await phone.goto((again.json().link as string).replace(/^https?:\/\/[^/]+/, base));
      await phone.getByRole('heading', { name: 'This link has expired' }).waitFor();

      assert.deepEqual(errorsOf(clinic), []);
      assert.deepEqual(errorsOf(phone), []);
      await Promise.all([clinic.context().close(), phone.context().close()]);
    });
  });

  describe('with the outbox’s own delivery report off (the Outbox page plays the carrier)', () => {
    // A final status never changes (delivered cannot become undelivered), so the carrier's part is played here.
    const s = setup({ OUTBOX_DELIVERY_DELAY_MS: '0' });

    test('Undelivered (30006) on the Outbox page: ⚠ with the reason in the Chat tab, live', async () => {
      const { org, base } = s;
      const patientId = await newPatient(org, 'Lena', '+15005550104', true);
      const clinic = await signIn(s);
      await clinic.goto(`${base}/patients/${patientId}?tab=chat`);
      await clinic.getByText('No messages yet').waitFor();
      const text = 'Please call the clinic when you can.';
      await clinic.getByLabel('Message', { exact: true }).fill(text);
      await clinic.getByRole('button', { name: 'Send', exact: true }).click();
      const sent = bubble(clinic, text);
      await sent.locator('.msg-status[data-status="sent"]').waitFor();
      assert.equal((await sent.locator('.msg-status').innerText()).replace(/\s+/g, ' ').trim(), '✓ Sent');

      const outbox = await openOutbox(clinic);
      const row = outbox.locator('li.outbox-item', { hasText: text });
      await row.getByRole('button', { name: 'Undelivered (30006)' }).click();
      await row.locator('.msg-status[data-status="undelivered"]').waitFor();

      const mark = sent.locator('.msg-status');
      await sent.locator('.msg-status[data-status="undelivered"]').waitFor({ timeout: 10_000 });
      assert.equal((await mark.innerText()).replace(/\s+/g, ' ').trim(), `⚠ Not delivered: ${REASON_30006}`);
      assert.equal(await mark.getAttribute('title'), REASON_30006);
      const stored = (await org.clinician.get(`/api/v1/patients/${patientId}/messages`)).json().data as { status: string; errorCode: string }[];
      assert.deepEqual(stored.map((m) => [m.status, m.errorCode]), [['undelivered', '30006']]);
      await shot(clinic, 'chat-undelivered');
      assert.deepEqual(errorsOf(clinic), []);
      assert.deepEqual(outboxErrors.get(outbox), []);
      await clinic.context().close();
    });
  });
});
