// A group visit in Debian Chromium against the real server on the embedded SFU: a clinician (console, 1280x800) and
// two patients (join links; one on a 390x844 phone) whose fake cameras are 1280x720, so Chromium publishes its three
// simulcast layers, plus three headless members (werift peers publishing real simulcast, each in a process of its own:
// test/helpers/headless.ts) that come in through the same API as any patient (invite, join, consent, token). (A fourth
// Chromium page at 720p saturated this 2-core machine: the pages' encoders and the SFU starved each other.)
// Shown here, as people use it:
//   - the host admits everyone at once from the group console; each page decodes the others' video (the known
//     colour of the fake camera and of the headless members' capture);
//   - the host's gallery pages at 4 tiles a page (5 others: 2 pages; the fifth's video arrives when its page is
//     shown), the phone's gallery holds 4 by itself with the clinician first;
//   - a spotlight puts that person large for everyone (the whole picture, letterboxed); removed, everyone it moved is
//     back in the gallery;
//   - a raised hand reaches the host within seconds, with the participants panel closed (a notice, the tile, the
//     Participants button) and in it (the ordered queue); the host lowers it and the patient is told;
//   - mute all turns microphones off and says so, and "ask to unmute" brings the prompt;
//   - every primary control is in view without scrolling, on the laptop and the phone.
// Screenshots go to test-results/screenshots/ (git-ignored; docs/screenshots/group-*.png are copies).
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { createTestApp, type TestApp } from './helpers/app.js';
import { caller, TEST_PASSWORD, createTestOrg, type TestOrg } from './helpers/builders.js';
import { closeBrowser, errorsOf, expectInView, expectVideoFrom, expectWholePicture, installProbes, launchChromium, newMediaPage, screenshot, SCREENSHOTS, signInToConsole } from './helpers/browser.js';
import { spawnHeadlessMember, type HeadlessMember } from './helpers/headless.js';

const shot = (page: Page, name: string) => screenshot(page, name);

const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
const videoOf = (identity: string) => `document.querySelector('figure.ov-tile--camera[data-identity="${identity}"] video')`;
const tile = (page: Page, identity: string) => page.locator(`figure.ov-tile--camera[data-identity="${identity}"]`);

interface Member {
  givenName: string;
  patientId: string;
  /** The visit participant's id: the media identity. */
  id: string;
  /** The browser page (null: a headless member). */
  page: Page | null;
  peer: HeadlessMember | null;
}

describe('web app in Chromium: a group visit, a clinician, two patients in Chromium and three headless members', { timeout: 300_000 }, () => {
  let t: TestApp;
  let org: TestOrg;
  let base: string;
  let browser: Browser;
  let visitId: string;
  let host: Page;
  let hostId: string;
  const members: Member[] = [];

  before(async () => {
    t = await createTestApp('pglite', { env: { LOGIN_RATE_LIMIT_PER_MINUTE: '1000' } });
    org = await createTestOrg(t.app);
    base = await t.listen();
    // 5 fps keeps four pages encoding three layers each (and decoding the others) within this machine's two cores.
    browser = await launchChromium({ fakeVideo: { width: 1280, height: 720, fps: 5 } });
  });
  after(async () => {
    // The server's log (pino, info and up) beside the screenshots, for reading a failure.
    mkdirSync(SCREENSHOTS, { recursive: true });
    writeFileSync(path.join(path.dirname(SCREENSHOTS), 'web-groups-server.log'), t.logs.join(''));
    for (const m of members) if (m.peer) writeFileSync(path.join(path.dirname(SCREENSHOTS), `web-groups-${m.givenName}.log`), m.peer.log());
    await Promise.all(members.map((m) => m.peer?.close().catch(() => undefined)));
    await closeBrowser(browser);
    await t.close();
  });

  const byName = (givenName: string) => members.find((m) => m.givenName === givenName)!;
  const pages = () => members.filter((m): m is Member & { page: Page } => m.page !== null);

  /** A patient's page from their link: device check, consent, then the waiting room. */
  async function arrive(url: string, viewport: { width: number; height: number }): Promise<Page> {
    const page = await newMediaPage(browser, { viewport });
    await page.goto(url.replace(/^https?:\/\/[^/]+/, base));
    await page.getByRole('heading', { name: 'Check your camera and microphone' }).waitFor();
    const next = page.getByRole('button', { name: 'Continue' });
    await page.waitForFunction(() => {
      const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): Iterable<{ textContent: string; disabled: boolean }> } }).document;
      return [...doc.querySelectorAll('button')].some((b) => b.textContent === 'Continue' && !b.disabled);
    });
    await next.click();
    await page.getByRole('heading', { name: 'Consent to a video visit' }).waitFor();
    await page.getByLabel('I have read this and I agree').check();
    await page.getByRole('button', { name: 'Accept and continue' }).click();
    await page.getByRole('heading', { name: 'Waiting for the clinician to let you in' }).waitFor();
    return page;
  }

  /** A headless member through the API a patient's page uses (invite → join → consent → token), then /rtc. */
  async function headless(token: string): Promise<HeadlessMember> {
    const joined = await caller(t.app).post('/api/v1/join', { token });
    assert.equal(joined.statusCode, 200, joined.body);
    const body = joined.json() as { session: string; participant: { id: string }; consentsRequired: { kind: string; version: string }[] };
    const who = caller(t.app, { authorization: `Bearer ${body.session}` });
    for (const c of body.consentsRequired) assert.equal((await who.post(`/api/v1/visits/${visitId}/consents`, { kind: c.kind, version: c.version })).statusCode, 201);
    const answer = await who.post(`/api/v1/visits/${visitId}/token`);
    assert.equal(answer.statusCode, 200, answer.body);
    const { token: rtcToken, url: rtcUrl } = answer.json() as { token: string; url: string };
    const ws = new URL(rtcUrl, base);
    ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
    ws.host = new URL(base).host;
    // In a process of its own, showing nobody's video (as a member whose gallery is on another page): werift
    // decrypting every camera beside the server would only load the machine.
    return spawnHeadlessMember(ws.href, rtcToken, body.participant.id);
  }

  test('five patients wait; the host admits all from the group console; every page decodes the others', async () => {
    const names = ['Ana', 'Ben', 'Cleo', 'Dev', 'Eli'];
    const ids: string[] = [];
    for (const givenName of names) {
      const res = await org.clinician.post('/api/v1/patients', { givenName, familyName: 'Grove', phone: `+120255501${ids.length}0`, email: `${givenName.toLowerCase()}@example.test` });
      assert.equal(res.statusCode, 201, res.body);
      ids.push(res.json().id);
    }
    const visit = await org.clinician.post('/api/v1/visits', { kind: 'group', patientIds: ids, start: true });
    assert.equal(visit.statusCode, 201, visit.body);
    visitId = visit.json().id;

    host = await newMediaPage(browser, { viewport: LAPTOP });
    await signInToConsole(host, base, org.clinician.user.email, TEST_PASSWORD);
    await host.goto(`${base}/visits/${visitId}`);
    await host.getByRole('heading', { name: 'Nobody else is here yet' }).waitFor({ timeout: 20_000 });

    for (const [i, givenName] of names.entries()) {
      const invite = await org.clinician.post(`/api/v1/visits/${visitId}/invites`, { role: 'patient', patientId: ids[i] });
      assert.equal(invite.statusCode, 201, invite.body);
      const { url, token, participant } = invite.json() as { url: string; token: string; participant: { id: string } };
      const member: Member = { givenName, patientId: ids[i]!, id: participant.id, page: null, peer: null };
      if (i < 2) member.page = await arrive(url, i === 0 ? PHONE : { width: 800, height: 600 });
      else member.peer = await headless(token);
      members.push(member);
    }
    hostId = ((await org.clinician.get(`/api/v1/visits/${visitId}`)).json() as { participants: { id: string; role: string }[] }).participants.find((p) => p.role === 'host')!.id;

    // The host's group console: five in the waiting room (full names: the host sees them), admitted at once.
    // (The console's own waiting-room panel beside the call has the same list; this is the call's side panel.)
    await host.getByRole('button', { name: /^Participants/ }).click();
    const panel = host.getByRole('complementary', { name: 'Participants' });
    const waitingList = panel.getByRole('list', { name: 'In the waiting room' });
    for (const m of members) await waitingList.getByText(`${m.givenName} Grove`).waitFor({ timeout: 30_000 });
    assert.equal(await waitingList.getByRole('listitem').count(), 5);
    await panel.getByRole('button', { name: 'Admit all' }).click();
    await waitingList.waitFor({ state: 'detached', timeout: 15_000 });
    await host.getByRole('button', { name: 'Close participants' }).click();

    // Every page decodes the others: the host all five; each patient the host and the others on its first page.
    await Promise.all([host, ...pages().map((m) => m.page)].map((p) => installProbes(p)));
    for (const m of members) await expectVideoFrom(host, videoOf(m.id), undefined, { timeoutMs: 30_000 });
    const [ana, ben] = [byName('Ana'), byName('Ben')];
    // The phone's first page: the clinician, Ben, Cleo and Dev; Ben's window (9 a page) holds everyone.
    for (const [viewer, others] of [
      [ana, [hostId, ben.id, byName('Cleo').id]],
      [ben, [hostId, ana.id, byName('Dev').id, byName('Eli').id]],
    ] as const) {
      for (const id of others) await expectVideoFrom(viewer.page!, videoOf(id), undefined, { timeoutMs: 30_000 });
    }
    // Another client is seen by first name and initial (the default policy), never by full name.
    await tile(ana.page!, ben.id).getByText('Ben G.').waitFor();
    assert.equal(await ana.page!.getByText('Ben Grove').count(), 0);
    for (const m of pages()) assert.deepEqual(errorsOf(m.page), [], `${m.givenName}: page errors`);
  });

  test("pagination: the host's gallery at 4 a page is 2 pages, the fifth's video arrives on page 2; the phone holds 4 with the clinician first", async () => {
    // The phone: 4 tiles a page by itself (390 px wide), 5 others → 2 pages, the clinician on page 1 first.
    const ana = byName('Ana').page!;
    await ana.getByRole('status').filter({ hasText: 'Page 1 of 2' }).waitFor();
    assert.equal(await ana.locator('.ov-gallery figure.ov-tile--camera').count(), 4);
    assert.equal(await ana.locator('.ov-gallery figure.ov-tile--camera').first().getAttribute('data-identity'), hostId, 'the clinician comes first');

    await host.getByLabel('Tiles per page').selectOption('4');
    await host.getByRole('status').filter({ hasText: 'Page 1 of 2' }).waitFor();
    const shown = () => host.locator('.ov-gallery figure.ov-tile--camera').evaluateAll((els) => els.map((e) => e.getAttribute('data-identity')));
    const first = await shown();
    assert.equal(first.length, 4);
    const rest = members.map((m) => m.id).filter((id) => !first.includes(id));
    assert.equal(rest.length, 1);
    await expectInView(host, 'the host at 1280x800, gallery paged', [{ name: 'Next page' }, { name: 'Previous page' }, { name: /^Participants/ }, { name: /^Chat/ }, { name: 'End visit for everyone' }], { noVerticalScroll: true });
    await host.getByRole('button', { name: 'Next page' }).click();
    await host.getByRole('status').filter({ hasText: 'Page 2 of 2' }).waitFor();
    assert.deepEqual(await shown(), rest);
    // A page's tiles are attached only when shown: the fifth's video is sent again and decoded.
    await expectVideoFrom(host, videoOf(rest[0]!), undefined, { timeoutMs: 20_000 }).catch(async (e: unknown) => {
      const who = members.find((m) => m.id === rest[0])?.givenName;
      const html = await tile(host, rest[0]!).evaluate((el) => el.outerHTML).catch(() => '(no tile)');
      const sfu = (t.app.deps.media as unknown as { sfu?: { videoLayerState(s: string, p: string, src: string): unknown; videoLayers(p: string, src: string): unknown } }).sfu;
      const state = sfu ? JSON.stringify({ state: sfu.videoLayerState(hostId, rest[0]!, 'camera'), layers: sfu.videoLayers(rest[0]!, 'camera') }) : '(no sfu)';
      throw new Error(`${String(e)}\n${who}'s tile on page 2: ${html}\nthe SFU: ${state}`);
    });
    await host.getByRole('button', { name: 'Previous page' }).click();
    await host.getByRole('status').filter({ hasText: 'Page 1 of 2' }).waitFor();
    assert.deepEqual(await shown(), first);
  });

  test('spotlight: the host puts Ben in the spotlight; everyone sees him large, whole, with the label; removed, back to the gallery', async () => {
    const ben = byName('Ben');
    await host.getByRole('button', { name: /^Participants/ }).click();
    const row = host.locator(`li.ov-person[data-identity="${ben.id}"]`);
    await row.getByRole('button', { name: 'Spotlight' }).click();
    await row.getByRole('button', { name: 'Remove spotlight' }).waitFor();
    for (const viewer of [byName('Ana').page!, host]) {
      const main = viewer.locator(`.ov-speaker__main figure[data-identity="${ben.id}"]`);
      await main.waitFor({ timeout: 15_000 });
      await main.getByText('Spotlight', { exact: true }).waitFor();
      await expectVideoFrom(viewer, `document.querySelector('.ov-speaker__main video')`, undefined, { timeoutMs: 20_000 });
    }
    // On the phone the spotlit picture is whole (16:9 in a tall box: bars above and below), the self view masked.
    const ana = byName('Ana').page!;
    await expectWholePicture(ana, '.ov-speaker__main video', 'the spotlight on the phone', '.ov-self');
    await expectInView(ana, 'the phone in the spotlight', [{ name: 'Raise hand' }, { name: /^Participants/ }, { name: /^Chat/ }, { name: /microphone$/ }, { name: /^Turn camera/ }], { noVerticalScroll: true });
    await shot(ana, 'group-patient-spotlight-phone');

    await row.getByRole('button', { name: 'Remove spotlight' }).click();
    await row.getByRole('button', { name: 'Spotlight' }).waitFor();
    // Everyone the spotlight moved goes back to the gallery they had.
    for (const viewer of [ana, host]) await viewer.locator('.ov-call[data-layout="gallery"] .ov-gallery').waitFor({ timeout: 15_000 });
    assert.equal(await ana.locator('.ov-tile__spotlight').count(), 0);
    await host.getByRole('button', { name: 'Close participants' }).click();
  });

  test('a raised hand reaches the host with the panel closed (notice, tile, button) and in the queue; the host lowers it and the patient is told', async () => {
    const ana = byName('Ana');
    const page = ana.page!;
    const notice = host.getByText('Ana Grove raised their hand.').waitFor({ timeout: 10_000 });
    const posted = page.waitForResponse((r) => r.url().endsWith('/hand') && r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Raise hand' }).click();
    assert.equal((await posted).status(), 200);
    const raisedAt = performance.now();
    await notice;
    console.log(`web groups: from the raise-hand request's answer to the host's notice: ${Math.round(performance.now() - raisedAt)} ms`);
    await page.getByRole('button', { name: 'Lower hand' }).waitFor();
    await host
      .getByRole('button', { name: /^Participants \(6\), 1 hand raised$/ })
      .waitFor()
      .catch(async (e: unknown) => {
        throw new Error(`${String(e)}\nthe button says: ${await host.getByRole('button', { name: /^Participants/ }).getAttribute('aria-label')}`);
      });
    await tile(host, ana.id).getByText('Hand raised').waitFor();
    await host.getByRole('button', { name: /^Participants/ }).click();
    const queue = host.getByRole('list', { name: 'Raised hands (1)' });
    await queue.getByText('Ana Grove').waitFor();
    await shot(host, 'group-host');
    await expectInView(host, 'the host at 1280x800 with the group console open', [{ name: 'Mute all' }, { name: 'Lower hand of Ana Grove' }, { name: 'Close participants' }, { name: 'End visit for everyone' }], { noVerticalScroll: true });

    const told = page.getByText('The host lowered your hand.').waitFor({ timeout: 10_000 });
    await host.getByRole('button', { name: 'Lower hand of Ana Grove' }).click();
    await told;
    await page.getByRole('button', { name: 'Raise hand' }).waitFor();
    await queue.waitFor({ state: 'detached' });
    assert.equal(await tile(host, ana.id).getByText('Hand raised').count(), 0);
    await shot(page, 'group-patient-phone');
  });

  test('mute all turns the patients’ microphones off and tells them; "ask to unmute" brings the prompt, and Unmute turns it on', async () => {
    const ben = byName('Ben');
    const page = ben.page!;
    await page.getByRole('button', { name: 'Mute microphone' }).waitFor();
    if ((await host.getByRole('complementary', { name: 'Participants' }).count()) === 0) await host.getByRole('button', { name: /^Participants/ }).click();
    const told = page.getByText('The host muted your microphone.').waitFor({ timeout: 10_000 });
    await host.getByRole('button', { name: 'Mute all' }).click();
    await told;
    await page.getByRole('button', { name: 'Unmute microphone' }).waitFor();
    await byName('Ana').page!.getByRole('button', { name: 'Unmute microphone' }).waitFor();
    await host.getByText('Everyone is muted; they may unmute themselves.').waitFor();

    const row = host.locator(`li.ov-person[data-identity="${ben.id}"]`);
    await row.getByRole('button', { name: 'Ask to unmute' }).click();
    const ask = page.getByRole('alertdialog', { name: 'The host asks you to unmute' });
    await ask.waitFor({ timeout: 10_000 });
    await ask.getByRole('button', { name: 'Unmute' }).click();
    await page.getByRole('button', { name: 'Mute microphone' }).waitFor();
    await host.getByRole('button', { name: 'Lift mute all' }).click();
    await host.getByRole('button', { name: 'Mute all' }).waitFor();
    for (const m of pages()) assert.deepEqual(errorsOf(m.page), [], `${m.givenName}: page errors`);
  });
});
