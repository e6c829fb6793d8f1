// The console's Settings page in Debian Chromium against the real server: an admin at 1280x800 changes the clinic's
// name, time zone and logo (a data: PNG, previewed) and the organisation's SMS number; an invalid logo URL and an
// invalid number show the API's errors next to their fields; after a reload the saved values are there, and a
// patient's device check shows the new name and logo. A clinician sees no Settings link and, at the URL, the
// "only administrators" notice. The group sessions section (names in groups, own names, the largest group) saves and
// says a bad size by its field. In the call, the host's private note to a waiting patient is labelled
// "Private note to <name>" in the clinician's chat and "Private note to you" in the patient's.
// Screenshots: test-results/screenshots/settings-*.png (git-ignored).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { createTestApp, type TestApp } from './helpers/app.js';
import { TEST_PASSWORD, createTestOrg, type TestOrg } from './helpers/builders.js';
import { assertNoSidewaysScroll, closeBrowser, launchChromium, newMediaPage, screenshot, signInToConsole } from './helpers/browser.js';

const shot = (page: Page, name: string) => screenshot(page, `settings-${name}`, { fullPage: true });

const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
/** A 1x1 PNG (its bytes are a PNG: the API checks). */
const LOGO = 'data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

describe('web app in Chromium: the console’s Settings page and private notes in the call’s chat', () => {
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

  test('an admin changes the clinic and the SMS number; errors by their fields; saved across a reload; the patient sees the clinic', async () => {
    const page = await newMediaPage(browser, { viewport: LAPTOP });
    await signInToConsole(page, base, org.admin.user.email, TEST_PASSWORD);
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
    await page.getByRole('heading', { name: 'Settings', level: 1 }).waitFor();
    const name = page.getByLabel('Clinic name');
    await name.waitFor();
    assert.equal(await name.inputValue(), ((await org.admin.get('/api/v1/organization')).json() as { name: string }).name);

    // An invalid logo URL (http): the API's reason, next to the field; nothing saved.
    const logo = page.getByLabel('Logo URL');
    await logo.fill('http://example.com/logo.png');
    await page.getByRole('button', { name: 'Save clinic settings' }).click();
    const logoError = page.locator('.settings-field', { has: logo }).locator('.field-error');
    await logoError.waitFor();
    assert.match((await logoError.textContent()) ?? '', /^Logo URL .+/);
    assert.equal(await logo.getAttribute('aria-invalid'), 'true');
    assert.equal(((await org.admin.get('/api/v1/organization')).json() as { logoUrl: string | null }).logoUrl, null, 'nothing saved');
    await shot(page, 'logo-error');

    // The real change: name, zone, a data: PNG logo (previewed before saving).
    await name.fill('Harbour Health');
    await page.getByLabel('Time zone').selectOption('Europe/Lisbon');
    await logo.fill(LOGO);
    const preview = page.getByRole('img', { name: 'Logo preview' });
    await preview.waitFor();
    assert.equal(await preview.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth), 1, 'the preview loaded the image');
    await page.getByRole('button', { name: 'Save clinic settings' }).click();
    await page.getByRole('status').filter({ hasText: 'Clinic settings saved.' }).waitFor();
    assert.equal(await logoError.count(), 0, 'the error went with the fix');
    // The header's name follows.
    await page.locator('.console-header .brand').filter({ hasText: 'Harbour Health' }).waitFor();

    // An invalid number: the API's error by the field; then a valid one.
    const sms = page.getByLabel('SMS number');
    assert.equal(await sms.inputValue(), '');
    assert.match((await sms.getAttribute('placeholder')) ?? '', /TWILIO_FROM_NUMBER/);
    await sms.fill('555-0142');
    await page.getByRole('button', { name: 'Save messaging settings' }).click();
    const smsError = page.locator('.settings-field', { has: sms }).locator('.field-error');
    await smsError.waitFor();
    assert.match((await smsError.textContent()) ?? '', /^SMS number must start with \+ and the country code/);
    assert.equal(await sms.getAttribute('aria-invalid'), 'true');
    await assertNoSidewaysScroll(page, 'settings with errors (1280x800)');
    await shot(page, 'sms-error');
    await sms.fill('+15555550142');
    await page.getByRole('button', { name: 'Save messaging settings' }).click();
    await page.getByRole('status').filter({ hasText: 'Messaging settings saved.' }).waitFor();
    assert.equal(await smsError.count(), 0);

    // What the API holds, and what the page shows after a reload.
    const saved = (await org.admin.get('/api/v1/organization')).json() as { name: string; timeZone: string; logoUrl: string | null };
    assert.deepEqual(saved, { ...saved, name: 'Harbour Health', timeZone: 'Europe/Lisbon', logoUrl: LOGO });
    const messaging = (await org.admin.get('/api/v1/messaging/settings')).json() as { smsNumber: string | null; helpText: string; defaults: { reminderOffsetsMinutes: number[] } };
    assert.equal(messaging.smsNumber, '+15555550142');
    assert.match(messaging.helpText, /Harbour Health/, 'the HELP reply was not pinned: it still follows the clinic’s name (only changed fields are sent)');
    await page.reload();
    await page.getByLabel('Clinic name').waitFor();
    await page.getByLabel('SMS number').waitFor();
    assert.equal(await page.getByLabel('Clinic name').inputValue(), 'Harbour Health');
    assert.equal(await page.getByLabel('Time zone').inputValue(), 'Europe/Lisbon');
    assert.equal(await page.getByLabel('Logo URL').inputValue(), LOGO);
    assert.equal(await page.getByLabel('SMS number').inputValue(), '+15555550142');
    // Fields at their defaults are empty, the default (the API's `defaults`) their placeholder.
    const help = page.getByLabel('HELP reply');
    assert.equal(await help.inputValue(), '');
    assert.match((await help.getAttribute('placeholder')) ?? '', /^Harbour Health: .*STOP/);
    assert.equal(await page.getByLabel('Reminder times (minutes before)').getAttribute('placeholder'), messaging.defaults.reminderOffsetsMinutes.join(', '));
    await assertNoSidewaysScroll(page, 'settings (1280x800)');
    await shot(page, 'saved-1280');

    // A phone's width: one column, nothing sideways.
    await page.setViewportSize(PHONE);
    await assertNoSidewaysScroll(page, 'settings (390x844)');
    await shot(page, 'saved-390');

    // The patient's device check: the new name and logo.
    const patientId = (await org.clinician.post('/api/v1/patients', { givenName: 'Nora', familyName: 'Settings' })).json().id as string;
    const visit = (await org.clinician.post('/api/v1/visits', { patientIds: [patientId], start: true })).json() as { id: string };
    const invite = (await org.clinician.post(`/api/v1/visits/${visit.id}/invites`, { role: 'patient', patientId })).json() as { url: string };
    const patient = await newMediaPage(browser, { viewport: PHONE });
    await patient.goto(invite.url.replace(/^https?:\/\/[^/]+/, base));
    await patient.getByRole('heading', { name: 'Check your camera and microphone' }).waitFor();
    const header = patient.locator('.join-header');
    await header.locator('.clinic-name').filter({ hasText: 'Harbour Health' }).waitFor();
    assert.equal(await header.locator('img.clinic-logo').getAttribute('src'), LOGO);
    await shot(patient, 'patient-device-check');
    await patient.context().close();
    await page.context().close();
  });

  test('an admin sets the group sessions: names in groups, own names, the largest group (a bad size said by its field); saved and shown after a reload', async () => {
    const page = await newMediaPage(browser, { viewport: LAPTOP });
    await signInToConsole(page, base, org.admin.user.email, TEST_PASSWORD);
    await page.goto(`${base}/settings`);
    await page.getByRole('heading', { name: 'Group sessions' }).waitFor();
    const policy = page.getByLabel('Names in groups');
    assert.equal(await policy.inputValue(), 'first_initial');
    await policy.selectOption('participant_n');
    await page.getByLabel('Let patients choose the name others in the group see').check();
    const size = page.getByLabel('Largest group');
    await size.fill('60');
    await page.getByRole('button', { name: 'Save group settings' }).click();
    await page.getByText('Largest group takes a whole number from 2 to 50.').waitFor();
    assert.equal(await size.getAttribute('aria-invalid'), 'true');
    await size.fill('12');
    await page.getByRole('button', { name: 'Save group settings' }).click();
    await page.getByRole('status').filter({ hasText: 'Group settings saved.' }).waitFor();
    const saved = (await org.admin.get('/api/v1/organization')).json() as { groupNamePolicy: string; groupSelfNames: boolean; groupMaxParticipants: number };
    assert.deepEqual([saved.groupNamePolicy, saved.groupSelfNames, saved.groupMaxParticipants], ['participant_n', true, 12]);
    await page.reload();
    await page.getByLabel('Names in groups').waitFor();
    assert.equal(await page.getByLabel('Names in groups').inputValue(), 'participant_n');
    assert.equal(await page.getByLabel('Largest group').inputValue(), '12');
    assert.equal(await page.getByLabel('Let patients choose the name others in the group see').isChecked(), true);
    await assertNoSidewaysScroll(page, 'settings with group sessions (1280x800)');
    await shot(page, 'groups-1280');
    await page.context().close();
  });

  test('a clinician sees no Settings link; at the URL, the administrators-only notice', async () => {
    const page = await newMediaPage(browser, { viewport: LAPTOP });
    await signInToConsole(page, base, org.clinician.user.email, TEST_PASSWORD);
    assert.equal(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).count(), 0);
    await page.goto(`${base}/settings`);
    await page.getByText('Only administrators can change the clinic’s settings.').waitFor();
    assert.equal(await page.getByLabel('Clinic name').count(), 0, 'no form');
    await shot(page, 'clinician-notice');
    await page.context().close();
  });

  test('in the call, a private note reads "Private note to <name>" for the clinician and "Private note to you" for the patient', async () => {
    const patientId = (await org.clinician.post('/api/v1/patients', { givenName: 'Pia', familyName: 'Private' })).json().id as string;
    const visit = (await org.clinician.post('/api/v1/visits', { patientIds: [patientId], start: true })).json() as { id: string };
    const invite = (await org.clinician.post(`/api/v1/visits/${visit.id}/invites`, { role: 'patient', patientId })).json() as { url: string };

    const clinician = await newMediaPage(browser, { viewport: LAPTOP });
    await signInToConsole(clinician, base, org.clinician.user.email, TEST_PASSWORD);
    await clinician.goto(`${base}/visits/${visit.id}`);
    await clinician.getByText('Your patient will appear here once you admit them').waitFor({ timeout: 15_000 });

    const patient = await newMediaPage(browser, { viewport: PHONE });
    await patient.goto(invite.url.replace(/^https?:\/\/[^/]+/, base));
    await patient.getByRole('button', { name: 'Continue' }).click();
    await patient.getByLabel('I have read this and I agree').check();
    await patient.getByRole('button', { name: 'Accept and continue' }).click();
    await patient.getByRole('heading', { name: 'Waiting for the clinician to let you in' }).waitFor();

    const pia = ((await org.clinician.get(`/api/v1/visits/${visit.id}`)).json() as { participants: { id: string; role: string }[] }).participants.find((p) => p.role === 'patient')!;
    const note = await org.clinician.post(`/api/v1/visits/${visit.id}/participants/${pia.id}/note`, { body: 'Please find a quiet room' });
    assert.equal(note.statusCode, 201, note.body);
    await clinician.getByRole('button', { name: 'Admit Pia Private' }).click();

    await clinician.getByRole('button', { name: /^Chat/ }).click();
    const log = clinician.getByRole('log', { name: 'Chat history' });
    const item = log.locator('li', { hasText: 'Please find a quiet room' });
    await item.waitFor({ timeout: 15_000 });
    assert.equal((await item.locator('.ov-chat__private').textContent())?.trim(), 'Private note to Pia Private');
    assert.match((await item.getAttribute('class')) ?? '', /\bis-private\b/);
    await clinician.getByLabel('Message').fill('Hello everyone');
    await clinician.getByRole('button', { name: 'Send' }).click();
    const open = log.locator('li', { hasText: 'Hello everyone' });
    await open.waitFor();
    assert.equal(await open.locator('.ov-chat__private').count(), 0, 'a message to everyone carries no private label');
    await shot(clinician, 'call-chat-private-note');

    await patient.getByRole('button', { name: /^Chat/ }).click();
    const mine = patient.getByRole('log', { name: 'Chat history' }).locator('li', { hasText: 'Please find a quiet room' });
    await mine.waitFor({ timeout: 15_000 });
    assert.equal((await mine.locator('.ov-chat__private').textContent())?.trim(), 'Private note to you');
    await shot(patient, 'call-chat-note-to-you');
    await patient.context().close();
    await clinician.context().close();
  });
});
