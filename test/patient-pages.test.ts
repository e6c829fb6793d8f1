// What the patient's pages need from the server, on both databases: the organisation's logo (validated: an https
// URL or a real PNG/JPEG/SVG/WebP data: URL under the size limit; allowed by the CSP), the visit's context for the
// join pages (clinic, clinician, time; nothing about anyone else), the host's private note to a waiting
// participant (stored with the visit, audited, delivered at once to that participant only, refused to anyone but
// the host / an admin / the host app and for a participant of another visit or organisation), the chat list that
// hides private notes from everyone but sender, recipient and staff, where join links point (GET /auth/me), and
// the favicon.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { and, eq } from 'drizzle-orm';
import { auditEvents, visitMessages } from '../src/server/db/schema.js';
import { checkLogoUrl } from '../src/server/orgs/logo.js';
import { faviconIco, faviconPng } from '../src/server/web/favicon.js';
import { createLinkSigner, isLoopbackHost, linkOrigin } from '../src/server/visits/links.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { auditActions } from './helpers/audit.js';
import { addStaff, caller, createTestOrg, detailPaths, errorOf, expectStatus, type Caller, type TestOrg } from './helpers/builders.js';
import { DB_KINDS } from './helpers/db.js';
import { ChannelClient } from './helpers/channel.js';

const PNG_1x1 = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';
const SVG = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 10 10"><rect width="10" height="10" fill="#2458d6"/></svg>').toString('base64');
const WEBP = Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WEBPVP8 '), Buffer.alloc(16)]).toString('base64');
const JPEG = Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(16)]).toString('base64');

describe('logo values, link origins and the favicon (pure)', () => {
  test('logo: https URLs and real PNG/JPEG/SVG/WebP data: URLs pass; everything else names why', () => {
    assert.equal(checkLogoUrl('  https://cdn.example.org/logo.png '), 'https://cdn.example.org/logo.png');
    for (const [type, data] of [['png', PNG_1x1], ['jpeg', JPEG], ['svg+xml', SVG], ['webp', WEBP]] as const) {
      assert.equal(checkLogoUrl(`data:image/${type};base64,${data}`), `data:image/${type};base64,${data}`);
    }
    assert.equal(checkLogoUrl(`DATA:IMAGE/PNG;base64,${PNG_1x1}`), `data:image/png;base64,${PNG_1x1}`);
    const refused = (value: string, words: RegExp) => {
      assert.throws(() => checkLogoUrl(value), (err: { code?: string; message?: string; details?: unknown }) => {
        assert.equal(err.code, 'validation_failed', value.slice(0, 60));
        assert.match(err.message ?? '', words, value.slice(0, 60));
        assert.deepEqual((err.details as { path: string }[]).map((d) => d.path), ['body/logoUrl']);
        return true;
      });
    };
    refused('http://cdn.example.org/logo.png', /https/);
    refused('javascript:alert(1)', /must use https/);
    refused('not a url', /https URL or a data: URL/);
    refused('https://user:secret@cdn.example.org/logo.png', /user name or password/);
    refused(`https://cdn.example.org/${'a'.repeat(2100)}`, /longer than 2048/);
    refused(`data:image/gif;base64,${PNG_1x1}`, /PNG, JPEG, SVG or WebP/);
    refused(`data:text/html;base64,${PNG_1x1}`, /PNG, JPEG, SVG or WebP/);
    refused('data:image/png,rawbytes', /base64 data: URL/);
    refused('data:image/png;base64,abc', /not valid base64/);
    refused('data:image/png;base64,', /empty/);
    refused(`data:image/png;base64,${JPEG}`, /not a image\/png image/);
    refused(`data:image/svg+xml;base64,${Buffer.from('<html><script>1</script></html>').toString('base64')}`, /not a image\/svg\+xml image/);
    const big = Buffer.concat([Buffer.from(PNG_1x1, 'base64'), Buffer.alloc(101 * 1024)]).toString('base64');
    refused(`data:image/png;base64,${big}`, /larger than 100 KB/);
  });

  test('link origins: loopback names, the default PUBLIC_URL, secure origins', () => {
    for (const host of ['localhost', 'LOCALHOST', 'app.localhost', '127.0.0.1', '127.1.2.3', '[::1]', '::1']) assert.equal(isLoopbackHost(host), true, host);
    for (const host of ['192.168.1.20', 'clinic.example.org', 'localhost.example.org', '10.0.0.1', '128.0.0.1']) assert.equal(isLoopbackHost(host), false, host);
    assert.deepEqual(linkOrigin({ publicUrl: 'http://localhost:3000', port: 3000 }), { publicUrl: 'http://localhost:3000', configured: false, loopback: true, secure: true });
    assert.deepEqual(linkOrigin({ publicUrl: 'http://127.0.0.1:8080', port: 3000 }), { publicUrl: 'http://127.0.0.1:8080', configured: true, loopback: true, secure: true });
    assert.deepEqual(linkOrigin({ publicUrl: 'http://192.168.1.20:3000', port: 3000 }), { publicUrl: 'http://192.168.1.20:3000', configured: true, loopback: false, secure: false });
    assert.deepEqual(linkOrigin({ publicUrl: 'https://visits.example.org', port: 3000 }), { publicUrl: 'https://visits.example.org', configured: true, loopback: false, secure: true });
  });

  test('favicon: an ICO of PNG images at 16, 32 and 48 px, coloured like the SVG', () => {
    const ico = faviconIco();
    assert.deepEqual([ico.readUInt16LE(0), ico.readUInt16LE(2), ico.readUInt16LE(4)], [0, 1, 3]);
    for (let i = 0; i < 3; i++) {
      const entry = 6 + 16 * i;
      const size = [16, 32, 48][i]!;
      assert.equal(ico[entry], size);
      const png = ico.subarray(ico.readUInt32LE(entry + 12), ico.readUInt32LE(entry + 12) + ico.readUInt32LE(entry + 8));
      assert.ok(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])));
      assert.equal(png.readUInt32BE(16), size);
    }
    assert.ok(faviconPng(32).length > 100);
  });
});

const ENV = { LINK_SIGNING_SECRET: 'test-link-secret-'.repeat(3), TOKEN_SIGNING_SECRET: 'test-token-secret-'.repeat(3), LOGIN_RATE_LIMIT_PER_MINUTE: '1000' };

for (const kind of DB_KINDS) {
  describe(`patient pages API on ${kind}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;
    let base: string;

    before(async () => {
      t = await createTestApp(kind, { env: ENV });
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
      base = await t.listen();
    });
    after(() => t.close());

    async function newPatient(org: TestOrg, givenName: string): Promise<string> {
      const res = await org.clinician.post('/api/v1/patients', { givenName, familyName: 'Pages' });
      assert.equal(res.statusCode, 201, res.body);
      return res.json().id;
    }

    /** A started visit of `org`'s clinician with one patient, who has joined, consented and is waiting. */
    async function waitingPatient(org: TestOrg, givenName = 'Wanda'): Promise<{ visitId: string; participantId: string; who: Caller; joined: Record<string, unknown>; token: { token: string; identity: string; channel: { url: string; token: string } } }> {
      const patientId = await newPatient(org, givenName);
      const visit = (await org.clinician.post('/api/v1/visits', { patientIds: [patientId], start: true })).json() as { id: string };
      const link = (await org.clinician.post(`/api/v1/visits/${visit.id}/invites`, { role: 'patient', patientId })).json() as { token: string };
      const joinRes = await org.anonymous.post('/api/v1/join', { token: link.token });
      assert.equal(joinRes.statusCode, 200, joinRes.body);
      const joined = joinRes.json();
      const who = caller(t.app, { authorization: `Bearer ${joined.session}` });
      const consent = await who.post(`/api/v1/visits/${visit.id}/consents`, { kind: 'telehealth', version: joined.consentsRequired[0].version });
      assert.equal(consent.statusCode, 201, consent.body);
      const token = await who.post(`/api/v1/visits/${visit.id}/token`);
      assert.equal(token.json().admission, 'waiting', token.body);
      return { visitId: visit.id, participantId: joined.participant.id, who, joined, token: token.json() };
    }

    test('logo: admins set and clear it (validated, audited); everyone reads it; the CSP allows https and data: images only', async () => {
      const org = await createTestOrg(t.app);
      const logo = `data:image/png;base64,${PNG_1x1}`;
      const set = await org.admin.patch('/api/v1/organization', { logoUrl: logo });
      assert.equal(set.statusCode, 200, set.body);
      assert.equal(set.json().logoUrl, logo);
      assert.equal((await org.clinician.get('/api/v1/organization')).json().logoUrl, logo);
      assert.equal((await b.admin.get('/api/v1/organization')).json().logoUrl, null, 'another organisation is untouched');
      const https = await org.apiKey.patch('/api/v1/organization', { logoUrl: 'https://cdn.example.org/clinic.svg' });
      assert.equal(https.statusCode, 200, https.body);
      assert.equal(https.json().logoUrl, 'https://cdn.example.org/clinic.svg');

      const refused = await org.admin.patch('/api/v1/organization', { logoUrl: 'http://cdn.example.org/clinic.svg' });
      expectStatus(refused, 400, 'validation_failed');
      assert.deepEqual(detailPaths(refused), ['body/logoUrl']);
      expectStatus(await org.admin.patch('/api/v1/organization', { logoUrl: `data:image/png;base64,${JPEG}` }), 400, 'validation_failed');
      expectStatus(await org.admin.patch('/api/v1/organization', { logoUrl: 'x'.repeat(200_000) }), 400, 'validation_failed');
      expectStatus(await org.admin.patch('/api/v1/organization', { logoUrl: 42 }), 400, 'validation_failed');
      expectStatus(await org.clinician.patch('/api/v1/organization', { logoUrl: logo }), 403, 'forbidden');
      assert.equal((await org.admin.get('/api/v1/organization')).json().logoUrl, 'https://cdn.example.org/clinic.svg', 'refused values change nothing');

      const cleared = await org.admin.patch('/api/v1/organization', { logoUrl: null });
      assert.equal(cleared.statusCode, 200, cleared.body);
      assert.equal(cleared.json().logoUrl, null);
      const audits = await t.database.db.select().from(auditEvents).where(and(eq(auditEvents.orgId, org.orgId), eq(auditEvents.action, 'org.updated')));
      assert.equal(audits.length, 3);
      assert.ok(audits.every((e) => e.details && (e.details as { fields: string }).fields === 'logoUrl'));
      assert.ok(!JSON.stringify(audits).includes('cdn.example.org'), 'the audit names the field, not the value');

      const page = await org.anonymous.get('/join');
      const csp = String(page.headers['content-security-policy']);
      assert.match(csp, /img-src 'self' data: blob: https:(;|$)/);
      assert.match(csp, /script-src 'self'(;|$)/);
      assert.match(csp, /connect-src 'self'(;|$)/);
    });

    test('join context: the clinic (name, logo, time zone), the clinician and the time; nothing about anyone else', async () => {
      const org = await createTestOrg(t.app);
      await org.admin.patch('/api/v1/organization', { name: 'Riverside Family Clinic', timeZone: 'America/New_York', logoUrl: `data:image/svg+xml;base64,${SVG}` });
      const p1 = await newPatient(org, 'Carla');
      const p2 = await newPatient(org, 'Otherpatient');
      const visit = (await org.clinician.post('/api/v1/visits', { patientIds: [p1, p2], start: true })).json() as { id: string; scheduledStart: string; endsAt: string };
      const link = (await org.clinician.post(`/api/v1/visits/${visit.id}/invites`, { role: 'patient', patientId: p1 })).json() as { token: string };
      const joined = (await org.anonymous.post('/api/v1/join', { token: link.token })).json();
      const expected = {
        clinic: { name: 'Riverside Family Clinic', logoUrl: `data:image/svg+xml;base64,${SVG}`, timeZone: 'America/New_York' },
        clinicianName: org.clinician.user.name,
        scheduledStart: visit.scheduledStart,
        endsAt: visit.endsAt,
      };
      assert.deepEqual(joined.context, expected);
      const who = caller(t.app, { authorization: `Bearer ${joined.session}` });
      const again = await who.get(`/api/v1/visits/${visit.id}/context`);
      assert.equal(again.statusCode, 200, again.body);
      assert.deepEqual(again.json(), expected);
      assert.ok(!again.body.includes('Otherpatient') && !JSON.stringify(joined).includes('Otherpatient'), 'no other patient in what the patient receives');
      assert.deepEqual((await org.clinician.get(`/api/v1/visits/${visit.id}/context`)).json(), expected);

      // Another visit (of the same organisation, or of another) is not this participant's: 404.
      const other = (await org.clinician.post('/api/v1/visits', { patientIds: [p2] })).json() as { id: string };
      expectStatus(await who.get(`/api/v1/visits/${other.id}/context`), 404, 'not_found');
      expectStatus(await b.clinician.get(`/api/v1/visits/${visit.id}/context`), 404, 'not_found');
      expectStatus(await org.anonymous.get(`/api/v1/visits/${visit.id}/context`), 401, 'unauthenticated');
    });

    test('the post-visit survey names the clinic (name and logo) too', async () => {
      const org = await createTestOrg(t.app);
      await org.admin.patch('/api/v1/organization', { name: 'Hillside Practice', logoUrl: 'https://cdn.example.org/hillside.png' });
      const w = await waitingPatient(org, 'Survey');
      assert.equal((await org.clinician.post(`/api/v1/visits/${w.visitId}/end`)).statusCode, 200);
      const token = createLinkSigner(ENV.LINK_SIGNING_SECRET, 'survey').sign(w.participantId);
      const info = await org.anonymous.post('/api/v1/survey', { token });
      assert.equal(info.statusCode, 200, info.body);
      assert.deepEqual(info.json().clinic, { name: 'Hillside Practice', logoUrl: 'https://cdn.example.org/hillside.png' });
      assert.equal(info.json().clinicianName, org.clinician.user.name);
    });

    test('a note to a waiting patient: stored privately, audited, delivered at once to them alone', async () => {
      const w = await waitingPatient(a);
      // Someone else waiting in the same visit, connected too: they must not receive it.
      const guestLink = (await a.clinician.post(`/api/v1/visits/${w.visitId}/invites`, { role: 'guest', displayName: 'Gus Guest' })).json() as { token: string };
      const guestJoined = (await a.anonymous.post('/api/v1/join', { token: guestLink.token })).json();
      const guest = caller(t.app, { authorization: `Bearer ${guestJoined.session}` });
      await guest.post(`/api/v1/visits/${w.visitId}/consents`, { kind: 'telehealth', version: guestJoined.consentsRequired[0].version });
      const guestToken = (await guest.post(`/api/v1/visits/${w.visitId}/token`)).json();
      // Server messages come on the participant channel (issued with the media token), whatever the provider.
      const pat = await ChannelClient.connect(base, w.token.channel, w.token.identity);
      const other = await ChannelClient.connect(base, guestToken.channel, guestToken.identity);
      try {
        const sentAt = Date.now();
        const res = await a.clinician.post(`/api/v1/visits/${w.visitId}/participants/${w.participantId}/note`, { body: '  Running 5 minutes late  ' });
        assert.equal(res.statusCode, 201, res.body);
        const note = res.json();
        assert.equal(note.body, 'Running 5 minutes late');
        assert.equal(note.toParticipantId, w.participantId);
        assert.equal(note.role, 'host');
        assert.equal(note.displayName, a.clinician.user.name);

        let delivered: { type: string; visitId: string; message: { id: string; body: string } } | undefined;
        while (!(delivered = pat.data.map((d) => JSON.parse(d.payload)).find((x) => x.type === 'note')) && Date.now() - sentAt < 1000) await new Promise((r) => setTimeout(r, 10));
        assert.ok(delivered, 'the note reached the waiting patient within a second');
        assert.equal(delivered.visitId, w.visitId);
        assert.equal(delivered.message.id, note.id);
        assert.equal(delivered.message.body, 'Running 5 minutes late');
        await new Promise((r) => setTimeout(r, 200));
        assert.ok(!other.data.some((d) => d.payload.includes('Running 5 minutes late')), 'the other waiting participant got nothing');
      } finally {
        await pat.close();
        await other.close();
      }

      const [row] = await t.database.db.select().from(visitMessages).where(eq(visitMessages.visitId, w.visitId));
      assert.equal(row!.toParticipantId, w.participantId);
      assert.equal(row!.body, 'Running 5 minutes late');
      const audits = await t.database.db.select().from(auditEvents).where(and(eq(auditEvents.orgId, a.orgId), eq(auditEvents.action, 'visit.note_sent')));
      const mine = audits.filter((e) => e.targetId === w.visitId);
      assert.equal(mine.length, 1);
      assert.deepEqual(mine[0]!.details, { messageId: row!.id, participantId: w.participantId, chars: 22 });
      assert.equal(mine[0]!.actorId, a.clinician.user.id);
      assert.ok((await auditActions(t, a.orgId, w.visitId)).includes('visit.note_sent'));
      assert.ok(!t.logs.join('\n').includes('Running 5 minutes late'), 'the words never reach the log');

      // The waiting patient reads their notes (and nothing else); the other waiting participant reads none.
      const mineNow = await w.who.get(`/api/v1/visits/${w.visitId}/messages`);
      assert.equal(mineNow.statusCode, 200, mineNow.body);
      assert.deepEqual(mineNow.json().data.map((m: { id: string }) => m.id), [row!.id]);
      const guestNow = await guest.get(`/api/v1/visits/${w.visitId}/messages`);
      assert.equal(guestNow.statusCode, 200, guestNow.body);
      assert.deepEqual(guestNow.json().data, []);
    });

    test('a note is refused for non-hosts, another visit’s or organisation’s participant, and anyone not waiting', async () => {
      const w = await waitingPatient(a, 'Refusal');
      const path = `/api/v1/visits/${w.visitId}/participants/${w.participantId}/note`;
      const note = { body: 'Running late' };
      const otherClinician = await addStaff(t.app, a.orgId, 'clinician');
      expectStatus(await otherClinician.post(path, note), 403, 'forbidden');
      expectStatus(await a.caregiver.post(path, note), 403, 'forbidden');
      expectStatus(await w.who.post(path, note), 403, 'forbidden');
      expectStatus(await a.anonymous.post(path, note), 401, 'unauthenticated');
      expectStatus(await b.admin.post(path, note), 404, 'not_found');
      expectStatus(await b.apiKey.post(path, note), 404, 'not_found');

      // Another visit's waiting participant, through this visit's URL (same organisation), and across organisations.
      const other = await waitingPatient(a, 'Elsewhere');
      expectStatus(await a.clinician.post(`/api/v1/visits/${w.visitId}/participants/${other.participantId}/note`, note), 404, 'not_found');
      const foreign = await waitingPatient(b, 'Foreign');
      expectStatus(await a.admin.post(`/api/v1/visits/${w.visitId}/participants/${foreign.participantId}/note`, note), 404, 'not_found');
      expectStatus(await a.admin.post(`/api/v1/visits/${foreign.visitId}/participants/${foreign.participantId}/note`, note), 404, 'not_found');

      // Bad bodies.
      expectStatus(await a.clinician.post(path, { body: '   ' }), 400, 'validation_failed');
      expectStatus(await a.clinician.post(path, { body: 'x'.repeat(501) }), 400, 'validation_failed');
      expectStatus(await a.clinician.post(path, {}), 400, 'validation_failed');
      expectStatus(await a.clinician.post(path, { body: 'hi', to: 'all' }), 400, 'validation_failed');

      // Not to the host (the visit's own participant); to someone admitted, yes (a word to one person in the visit);
      // to someone removed, no.
      const visit = (await a.clinician.get(`/api/v1/visits/${w.visitId}`)).json() as { participants: { id: string; role: string }[] };
      const hostId = visit.participants.find((p) => p.role === 'host')!.id;
      const toHost = await a.clinician.post(`/api/v1/visits/${w.visitId}/participants/${hostId}/note`, note);
      expectStatus(toHost, 409, 'invalid_state');
      await a.clinician.post(`/api/v1/visits/${w.visitId}/participants/${w.participantId}/admit`);
      const toAdmitted = await a.clinician.post(path, note);
      assert.equal(toAdmitted.statusCode, 201, toAdmitted.body);
      await a.clinician.post(`/api/v1/visits/${w.visitId}/participants/${w.participantId}/remove`);
      const toRemoved = await a.clinician.post(path, note);
      expectStatus(toRemoved, 409, 'invalid_state');
      assert.deepEqual(errorOf(toRemoved).details, { admission: 'removed' });

      // An admin and the host app may send one (in the host's name; the audit names who did).
      const x = await waitingPatient(a, 'Admin');
      const byAdmin = await a.admin.post(`/api/v1/visits/${x.visitId}/participants/${x.participantId}/note`, note);
      assert.equal(byAdmin.statusCode, 201, byAdmin.body);
      assert.equal(byAdmin.json().displayName, a.clinician.user.name);
      const byKey = await a.apiKey.post(`/api/v1/visits/${x.visitId}/participants/${x.participantId}/note`, note);
      assert.equal(byKey.statusCode, 201, byKey.body);
      const actors = (await t.database.db.select().from(auditEvents).where(and(eq(auditEvents.targetId, x.visitId), eq(auditEvents.action, 'visit.note_sent')))).map((e) => e.actorType).sort();
      assert.deepEqual(actors, ['api_key', 'user']);
      // An ended visit takes no notes.
      await a.clinician.post(`/api/v1/visits/${x.visitId}/end`);
      expectStatus(await a.clinician.post(`/api/v1/visits/${x.visitId}/participants/${x.participantId}/note`, note), 409, 'invalid_state');
    });

    test('the chat list hides a private note from everyone but its sender, its recipient and the staff', async () => {
      const w = await waitingPatient(a, 'Recipient');
      const noted = (await a.clinician.post(`/api/v1/visits/${w.visitId}/participants/${w.participantId}/note`, { body: 'The doctor is on another call' })).json() as { id: string };
      // Another participant, admitted with the recipient: the chat is open to both.
      const guestLink = (await a.clinician.post(`/api/v1/visits/${w.visitId}/invites`, { role: 'interpreter', displayName: 'Ines Interpreter' })).json() as { token: string };
      const guestJoined = (await a.anonymous.post('/api/v1/join', { token: guestLink.token })).json();
      const guest = caller(t.app, { authorization: `Bearer ${guestJoined.session}` });
      await guest.post(`/api/v1/visits/${w.visitId}/consents`, { kind: 'telehealth', version: guestJoined.consentsRequired[0].version });
      await guest.post(`/api/v1/visits/${w.visitId}/token`);
      assert.equal((await a.clinician.post(`/api/v1/visits/${w.visitId}/waiting-room/admit-all`)).statusCode, 200);
      const said = await w.who.post(`/api/v1/visits/${w.visitId}/messages`, { body: 'Hello everyone' });
      assert.equal(said.statusCode, 201, said.body);
      assert.equal(said.json().toParticipantId, null);

      const ids = async (who: Caller, after?: string) => {
        const res = await who.get(`/api/v1/visits/${w.visitId}/messages${after ? `?after=${after}` : ''}`);
        assert.equal(res.statusCode, 200, res.body);
        return res.json().data.map((m: { id: string }) => m.id) as string[];
      };
      assert.deepEqual(await ids(w.who), [noted.id, said.json().id], 'the recipient');
      assert.deepEqual(await ids(guest), [said.json().id], 'another participant');
      assert.ok(!(await guest.get(`/api/v1/visits/${w.visitId}/messages`)).body.includes('another call'));
      for (const staff of [a.clinician, a.admin, a.apiKey]) assert.deepEqual(await ids(staff), [noted.id, said.json().id]);
      // The note's id as a cursor is not the other participant's to use.
      expectStatus(await guest.get(`/api/v1/visits/${w.visitId}/messages?after=${noted.id}`), 400, 'validation_failed');
      assert.deepEqual(await ids(w.who, noted.id), [said.json().id]);
      // The summary (staff) keeps it, marked private.
      const summary = (await a.clinician.get(`/api/v1/visits/${w.visitId}/summary`)).json() as { chat: { id: string; toParticipantId: string | null }[] };
      assert.deepEqual(summary.chat.map((m) => [m.id, m.toParticipantId]), [
        [noted.id, w.participantId],
        [said.json().id, null],
      ]);
    });

    test('GET /auth/me says where join links point; the favicon answers an icon, cached', async () => {
      const me = await a.clinician.get('/api/v1/auth/me');
      assert.equal(me.statusCode, 200, me.body);
      assert.deepEqual(me.json().links, linkOrigin(t.config));
      assert.equal(me.json().links.publicUrl, t.config.publicUrl);
      assert.equal(me.json().organization.logoUrl, null);

      for (const [path, type] of [['/favicon.ico', 'image/x-icon'], ['/favicon.svg', 'image/svg+xml']] as const) {
        const res = await a.anonymous.get(path);
        assert.equal(res.statusCode, 200, path);
        assert.equal(res.headers['content-type'], type);
        assert.match(String(res.headers['cache-control']), /max-age=86400/);
        assert.ok(res.rawPayload.length > 100);
      }
      assert.ok((await a.anonymous.get('/favicon.ico')).rawPayload.equals(faviconIco()));
      assert.match((await a.anonymous.get('/favicon.svg')).body, /^<svg [^>]*viewBox="0 0 64 64"/);
    });
  });
}
