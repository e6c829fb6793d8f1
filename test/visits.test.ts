// Telehealth visits (src/server/visits): the state machine and join links as pure units, then every rule
// through the HTTP API on both databases and both media providers (SETUPS): creation, transitions (illegal ones are
// 409 with the state), join links (signed, expiring, revocable, windowed), consent before the waiting room, the
// waiting room and the host's controls, who may do what, and the audit trail. On Twilio the waiting room, admission,
// send back, host mute and removal are also asserted as the subscribe rules they write at Twilio (its fake).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { eq } from 'drizzle-orm';
import { patientConsents, visitLinks } from '../src/server/db/schema.js';
import { createLinkSigner, LINK_PREFIX } from '../src/server/visits/links.js';
import { VISIT_EVENTS, VISIT_TRANSITIONS, nextVisitStatus } from '../src/server/visits/state.js';
import { VISIT_STATUSES } from '../src/server/db/schema.js';
import { createTestApp, freePort, SETUPS, type TestApp, type TestParticipant } from './helpers/app.js';
import { auditActions } from './helpers/audit.js';
import { caller, createTestOrg, detailPaths, errorOf, expectStatus, type Caller, type TestOrg } from './helpers/builders.js';
import { RTC_CLOSE } from '../src/shared/rtc.js';
import { CHANNEL_CLOSE } from '../src/shared/channel.js';
import { ChannelClient } from './helpers/channel.js';
import WebSocket from 'ws';

describe('visit state machine and join links (pure)', () => {
  test('every (state, event) pair: exactly the drawn transitions are legal', () => {
    const legal = new Map<string, string>([
      ['scheduled/open', 'open'],
      ['scheduled/cancel', 'cancelled'],
      ['scheduled/no_show', 'no_show'],
      ['open/begin', 'in_progress'],
      ['open/end', 'ended'],
      ['open/cancel', 'cancelled'],
      ['open/no_show', 'no_show'],
      ['in_progress/end', 'ended'],
    ]);
    let pairs = 0;
    for (const status of VISIT_STATUSES) {
      for (const event of VISIT_EVENTS) {
        assert.equal(nextVisitStatus(status, event), legal.get(`${status}/${event}`), `${status} --${event}-->`);
        pairs++;
      }
    }
    assert.equal(pairs, 30);
    assert.ok(Object.isFrozen(VISIT_TRANSITIONS));
  });

  test('links: round trip; any changed character, another key or another prefix is refused', () => {
    const signer = createLinkSigner('k'.repeat(40));
    const id = '0b9d6f2e-3c4a-4e8b-9f10-1a2b3c4d5e6f';
    const token = signer.sign(id);
    assert.ok(token.startsWith(LINK_PREFIX));
    assert.equal(signer.verify(token), id);
    assert.equal(createLinkSigner('x'.repeat(40)).verify(token), undefined);
    for (let i = LINK_PREFIX.length; i < token.length; i++) {
      const c = token[i] === 'A' ? 'B' : 'A';
      const changed = token.slice(0, i) + c + token.slice(i + 1);
      // base64url's last character carries unused bits: a change there may decode to the same bytes.
      if (Buffer.from(changed.slice(4), 'base64url').equals(Buffer.from(token.slice(4), 'base64url'))) continue;
      assert.equal(signer.verify(changed), undefined, `changed at ${i}`);
    }
    for (const bad of ['', 'ovj_', 'ovk_' + token.slice(4), token + 'A', token.slice(0, -2), 'ovj_' + 'A'.repeat(500)]) assert.equal(signer.verify(bad), undefined, bad);
  });
});

const ENV = { LINK_SIGNING_SECRET: 'test-link-secret-'.repeat(3), TOKEN_SIGNING_SECRET: 'test-token-secret-'.repeat(3), LOGIN_RATE_LIMIT_PER_MINUTE: '1000' };

for (const setup of SETUPS) {
  describe(`visits API on ${setup.label}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;

    before(async () => {
      t = await createTestApp(setup.db, { env: ENV, media: setup.media });
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
    });
    after(() => t.close());

    async function patient(org: TestOrg, givenName = 'Pat'): Promise<string> {
      const res = await org.clinician.post('/api/v1/patients', { givenName, familyName: 'Visit' });
      assert.equal(res.statusCode, 201, res.body);
      return res.json().id;
    }

    async function appointment(org: TestOrg, patientIds: string[], startsAt = new Date(Date.now() + 10 * 60_000)): Promise<string> {
      const res = await org.clinician.post('/api/v1/appointments', { kind: 'video', clinicianId: org.clinician.user.id, patientIds, startsAt: startsAt.toISOString(), durationMinutes: 45 });
      assert.equal(res.statusCode, 201, res.body);
      return res.json().id;
    }

    /** A participant's caller from a join link. */
    async function join(token: string, ua = 'TestBrowser/1.0'): Promise<{ who: Caller; body: Record<string, unknown> }> {
      const res = await a.anonymous.request('POST', '/api/v1/join', { token }, { 'user-agent': ua });
      assert.equal(res.statusCode, 200, res.body);
      const body = res.json();
      return { who: caller(t.app, { authorization: `Bearer ${body.session}` }), body };
    }

    test('a visit of an appointment takes its host, patients and times; one visit per appointment; audited', async () => {
      const p1 = await patient(a);
      const p2 = await patient(a, 'Second');
      const apptId = await appointment(a, [p1, p2]);
      const res = await a.clinician.post('/api/v1/visits', { appointmentId: apptId });
      assert.equal(res.statusCode, 201, res.body);
      const v = res.json();
      assert.equal(v.status, 'scheduled');
      assert.equal(v.hostUserId, a.clinician.user.id);
      assert.equal(v.durationMinutes, 45);
      assert.equal(v.roomName, null);
      assert.deepEqual(v.participants.map((p: { role: string; admission: string }) => `${p.role}:${p.admission}`).sort(), ['host:admitted', 'patient:invited', 'patient:invited']);
      assert.equal(Date.parse(v.joinOpensAt), Date.parse(v.scheduledStart) - 30 * 60_000);
      assert.equal(Date.parse(v.joinClosesAt), Date.parse(v.scheduledStart) + 120 * 60_000);
      expectStatus(await a.clinician.post('/api/v1/visits', { appointmentId: apptId }), 409, 'already_exists');
      const mixed = await a.clinician.post('/api/v1/visits', { appointmentId: apptId, durationMinutes: 10, kind: 'group' });
      expectStatus(mixed, 400, 'validation_failed');
      assert.deepEqual(detailPaths(mixed).sort(), ['body/durationMinutes', 'body/kind']);
      assert.deepEqual(await auditActions(t, a.orgId, v.id), ['visit.created']);

      // Another organisation cannot see it (404, like a missing one); a caregiver can look but not create.
      expectStatus(await b.admin.get(`/api/v1/visits/${v.id}`), 404, 'not_found');
      assert.equal((await a.caregiver.get(`/api/v1/visits/${v.id}`)).statusCode, 200);
      expectStatus(await a.caregiver.post('/api/v1/visits', { appointmentId: apptId }), 403, 'forbidden');
    });

    test('illegal transitions are 409 with the current state; repeats are no-ops; another clinician cannot run it', async () => {
      const created = (await a.clinician.post('/api/v1/visits', { patientIds: [await patient(a)] })).json();
      const other = (await a.admin.post('/api/v1/users', { email: `other-${Date.now()}@example.test`, name: 'Other Clinician', role: 'clinician', password: 'correct horse battery staple' })).json();
      assert.ok(other.id);
      expectStatus(await a.clinician.post(`/api/v1/visits/${created.id}/end`), 409, 'invalid_state');
      assert.deepEqual(errorOf(await a.clinician.post(`/api/v1/visits/${created.id}/end`)).details, { status: 'scheduled' });

      const opened = await a.clinician.post(`/api/v1/visits/${created.id}/start`);
      assert.equal(opened.statusCode, 200, opened.body);
      assert.equal(opened.json().status, 'open');
      assert.equal(opened.json().roomName, `visit-${created.id}`);
      assert.equal((await a.clinician.get(`/api/v1/rooms/visit-${created.id}`)).json().status, 'in-progress');
      assert.equal((await a.clinician.post(`/api/v1/visits/${created.id}/start`)).json().status, 'open', 'starting again is a no-op');

      const ended = await a.admin.post(`/api/v1/visits/${created.id}/end`);
      assert.equal(ended.statusCode, 200, ended.body);
      assert.equal(ended.json().status, 'ended');
      assert.equal(ended.json().endReason, 'ended_by_host');
      assert.equal((await a.clinician.get(`/api/v1/rooms/visit-${created.id}`)).json().status, 'completed');
      assert.equal((await a.clinician.post(`/api/v1/visits/${created.id}/end`)).json().status, 'ended', 'ending again is a no-op');
      for (const action of ['start', 'cancel', 'no-show']) {
        const res = await a.clinician.post(`/api/v1/visits/${created.id}/${action}`);
        expectStatus(res, 409, 'invalid_state', action);
        assert.deepEqual(errorOf(res).details, { status: 'ended' });
      }
      expectStatus(await a.clinician.post(`/api/v1/visits/${created.id}/extend`, { minutes: 10 }), 409, 'invalid_state');
      assert.deepEqual(await auditActions(t, a.orgId, created.id), ['visit.created', 'visit.opened', 'visit.ended']);

      // A clinician who is not the host may look but not act; an admin and the host app may.
      const v2 = (await a.admin.post('/api/v1/visits', { hostUserId: other.id })).json();
      expectStatus(await a.clinician.post(`/api/v1/visits/${v2.id}/start`), 403, 'forbidden');
      assert.equal((await a.apiKey.post(`/api/v1/visits/${v2.id}/cancel`)).json().status, 'cancelled');
    });

    test('instant visit, lock and extend', async () => {
      const res = await a.clinician.post('/api/v1/visits', { start: true, durationMinutes: 20 });
      assert.equal(res.statusCode, 201, res.body);
      const v = res.json();
      assert.equal(v.status, 'open');
      assert.ok(Math.abs(Date.parse(v.scheduledStart) - Date.now()) < 5000);
      const extended = (await a.clinician.post(`/api/v1/visits/${v.id}/extend`, { minutes: 15 })).json();
      assert.equal(extended.extendedMinutes, 15);
      assert.equal(Date.parse(extended.endsAt), Date.parse(v.scheduledStart) + 35 * 60_000);
      assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/lock`, { locked: true })).json().locked, true);
      assert.deepEqual((await auditActions(t, a.orgId, v.id)).slice(-2), ['visit.extended', 'visit.locked']);
    });

    test('join links: consent before the waiting room; admit, send back, deny, remove; the patient’s view; audit', async () => {
      const p1 = await patient(a);
      const p2 = await patient(a, 'Other');
      const v = (await a.clinician.post('/api/v1/visits', { appointmentId: await appointment(a, [p1, p2]) })).json();
      const invite1 = await a.clinician.post(`/api/v1/visits/${v.id}/invites`, { role: 'patient', patientId: p1 });
      assert.equal(invite1.statusCode, 201, invite1.body);
      const link1 = invite1.json();
      assert.ok(link1.url.endsWith(`/join#${link1.token}`), 'the token is in the fragment: browsers never send it');
      const link2 = (await a.clinician.post(`/api/v1/visits/${v.id}/invites`, { role: 'patient', patientId: p2 })).json();
      const guest = await a.clinician.post(`/api/v1/visits/${v.id}/invites`, { role: 'interpreter' });
      expectStatus(guest, 400, 'validation_failed');
      assert.deepEqual(detailPaths(guest), ['body/displayName']);

      const { who: pat1, body: joined } = await join(link1.token);
      assert.equal((joined.participant as { id: string }).id, link1.participant.id);
      const required = joined.consentsRequired as { kind: string; version: string }[];
      assert.deepEqual(required.map((c) => c.kind), ['telehealth']);

      // A participant is not staff: no patient lists, no admitting, no hub.
      expectStatus(await pat1.get('/api/v1/patients'), 403, 'forbidden');
      expectStatus(await pat1.post(`/api/v1/visits/${v.id}/participants/${link2.participant.id}/admit`), 403, 'forbidden');
      expectStatus(await pat1.get(`/api/v1/visits/${crypto.randomUUID()}`), 404, 'not_found');

      // No token before the telehealth consent; a stale text version is refused.
      expectStatus(await pat1.post(`/api/v1/visits/${v.id}/token`), 403, 'consent_required');
      const stale = await pat1.post(`/api/v1/visits/${v.id}/consents`, { kind: 'telehealth', version: 'v0' });
      expectStatus(stale, 409, 'invalid_state');
      assert.deepEqual(errorOf(stale).details, { currentVersion: required[0]!.version });
      const accepted = await pat1.request('POST', `/api/v1/visits/${v.id}/consents`, { kind: 'telehealth', version: required[0]!.version }, { 'user-agent': 'TestBrowser/2.0' });
      assert.equal(accepted.statusCode, 201, accepted.body);
      assert.equal(accepted.json().userAgent, 'TestBrowser/2.0');
      const onRecord = await t.database.db.select().from(patientConsents).where(eq(patientConsents.patientId, p1));
      assert.deepEqual(onRecord.map((c) => [c.kind, c.status, c.method, c.textVersion]), [['telehealth', 'granted', 'web', required[0]!.version]]);

      // The token puts the patient in the waiting room (the visit is not even started: the room opens for them).
      const tok = await pat1.post(`/api/v1/visits/${v.id}/token`);
      assert.equal(tok.statusCode, 200, tok.body);
      assert.equal(tok.json().admission, 'waiting');
      assert.equal(tok.json().identity, link1.participant.id);
      assert.equal(tok.json().room, `visit-${v.id}`);
      // On Twilio, which routes a newcomer only once it is connected, a waiting patient holds no media token at all.
      assert.equal(tok.json().held, setup.media === 'twilio');
      assert.equal(tok.json().token === '', setup.media === 'twilio');
      assert.deepEqual((await a.clinician.get(`/api/v1/visits/${v.id}/waiting-room`)).json().map((p: { id: string }) => p.id), [link1.participant.id]);
      // The host starting the visit does not admit anyone.
      await a.clinician.post(`/api/v1/visits/${v.id}/start`);
      assert.equal((await a.clinician.get(`/api/v1/visits/${v.id}/waiting-room`)).json().length, 1);

      // The second patient waits too, but each sees only themselves and the host.
      const { who: pat2 } = await join(link2.token);
      await pat2.post(`/api/v1/visits/${v.id}/consents`, { kind: 'telehealth', version: required[0]!.version });
      assert.equal((await pat2.post(`/api/v1/visits/${v.id}/token`)).json().admission, 'waiting');
      const seenBy2 = (await pat2.get(`/api/v1/visits/${v.id}`)).json();
      assert.deepEqual(seenBy2.participants.map((p: { role: string }) => p.role).sort(), ['host', 'patient']);
      assert.equal(seenBy2.participants.find((p: { role: string }) => p.role === 'patient').id, link2.participant.id);

      // Admit, send back, admit again; the admitted patient's next token says so.
      const admitted = await a.clinician.post(`/api/v1/visits/${v.id}/participants/${link1.participant.id}/admit`);
      assert.equal(admitted.statusCode, 200, admitted.body);
      assert.equal(admitted.json().admission, 'admitted');
      const admittedToken = (await pat1.post(`/api/v1/visits/${v.id}/token`)).json();
      assert.deepEqual([admittedToken.admission, admittedToken.held], ['admitted', false]);
      assert.ok(admittedToken.token, 'admitted: a media token on every provider');
      assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/participants/${link1.participant.id}/return`)).json().admission, 'waiting');
      assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/participants/${link1.participant.id}/return`)).json().admission, 'waiting', 'sending back again is a no-op');
      expectStatus(await a.clinician.post(`/api/v1/visits/${v.id}/participants/${v.participants.find((p: { role: string }) => p.role === 'host').id}/remove`), 409, 'invalid_state');
      assert.deepEqual((await a.clinician.post(`/api/v1/visits/${v.id}/waiting-room/admit-all`)).json().map((p: { admission: string }) => p.admission), ['admitted', 'admitted']);

      // Deny the second (after sending them back): their session ends, their link no longer works.
      await a.clinician.post(`/api/v1/visits/${v.id}/participants/${link2.participant.id}/return`);
      const denied = await a.clinician.post(`/api/v1/visits/${v.id}/participants/${link2.participant.id}/deny`, { message: 'Please call the clinic.' });
      assert.equal(denied.json().admission, 'denied');
      expectStatus(await pat2.post(`/api/v1/visits/${v.id}/token`), 401, 'unauthenticated');
      expectStatus(await a.anonymous.post('/api/v1/join', { token: link2.token }), 410, 'link_revoked');

      // Mute (routing) and remove.
      assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/participants/${link1.participant.id}/mute`, { audio: true })).statusCode, 200);
      assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/participants/${link1.participant.id}/remove`)).json().admission, 'removed');
      expectStatus(await pat1.get(`/api/v1/visits/${v.id}`), 401, 'unauthenticated');

      const actions = await auditActions(t, a.orgId, v.id);
      for (const expected of [
        'visit.invite_created',
        'visit.link_used',
        'consent.recorded',
        'visit.participant_waiting',
        'visit.opened',
        'visit.participant_admitted',
        'visit.participant_returned',
        'visit.participant_denied',
        'visit.participant_muted',
        'visit.participant_removed',
      ]) {
        assert.ok(actions.includes(expected), `${expected} in ${actions.join(', ')}`);
      }
      // Nothing a participant typed or was called reaches the logs.
      const logs = t.logs.join('');
      assert.ok(!logs.includes(link1.token) && !logs.includes(String(joined.session)), 'no link or session in the logs');
      assert.ok(!logs.includes('Please call the clinic.'));
    });

    test('links: invalid, expired, revoked, outside the join window, locked visit, ended visit', async () => {
      const p1 = await patient(a);
      expectStatus(await a.anonymous.post('/api/v1/join', { token: 'ovj_nonsense' }), 404, 'link_invalid');
      expectStatus(await a.anonymous.post('/api/v1/join', { token: 'x'.repeat(200) }), 400, 'validation_failed');

      // Tomorrow's visit: too early to join; the error says when to come back.
      const later = (await a.clinician.post('/api/v1/visits', { appointmentId: await appointment(a, [p1], new Date(Date.now() + 86_400_000)) })).json();
      const early = (await a.clinician.post(`/api/v1/visits/${later.id}/invites`, { role: 'patient', patientId: p1 })).json();
      const tooEarly = await a.anonymous.post('/api/v1/join', { token: early.token });
      expectStatus(tooEarly, 403, 'outside_join_window');
      assert.deepEqual(errorOf(tooEarly).details, { opensAt: later.joinOpensAt, closesAt: later.joinClosesAt });

      const v = (await a.clinician.post('/api/v1/visits', { patientIds: [p1], start: true })).json();
      const link = (await a.clinician.post(`/api/v1/visits/${v.id}/invites`, { role: 'patient', patientId: p1 })).json();
      await t.database.db.update(visitLinks).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(visitLinks.id, link.linkId));
      expectStatus(await a.anonymous.post('/api/v1/join', { token: link.token }), 410, 'link_expired');

      const fresh = (await a.clinician.post(`/api/v1/visits/${v.id}/invites`, { role: 'guest', displayName: 'Aunt May' })).json();
      expectStatus(await b.admin.post(`/api/v1/visits/${v.id}/invites/${fresh.linkId}/revoke`), 404, 'not_found');
      assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/invites/${fresh.linkId}/revoke`)).statusCode, 204);
      expectStatus(await a.anonymous.post('/api/v1/join', { token: fresh.token }), 410, 'link_revoked');

      // Locked: a new participant may open their link but gets no token.
      const guest = (await a.clinician.post(`/api/v1/visits/${v.id}/invites`, { role: 'guest', displayName: 'Friend' })).json();
      await a.clinician.post(`/api/v1/visits/${v.id}/lock`, { locked: true });
      expectStatus(await a.anonymous.post('/api/v1/join', { token: guest.token }), 403, 'visit_locked');
      await a.clinician.post(`/api/v1/visits/${v.id}/lock`, { locked: false });
      const { who } = await join(guest.token);

      // Ended: every link and session is revoked.
      await a.clinician.post(`/api/v1/visits/${v.id}/end`);
      expectStatus(await a.anonymous.post('/api/v1/join', { token: guest.token }), 410, 'link_revoked');
      expectStatus(await who.get(`/api/v1/visits/${v.id}`), 401, 'unauthenticated');
    });

    test('visit tokens: the host gets admin grants; an API key and a caregiver cannot; list by day and clinician', async () => {
      const v = (await a.clinician.post('/api/v1/visits', { start: true })).json();
      const host = await a.clinician.post(`/api/v1/visits/${v.id}/token`);
      assert.equal(host.statusCode, 200, host.body);
      assert.equal(host.json().admission, 'admitted');
      expectStatus(await a.apiKey.post(`/api/v1/visits/${v.id}/token`), 403, 'forbidden');
      expectStatus(await a.caregiver.post(`/api/v1/visits/${v.id}/token`), 403, 'forbidden');

      const today = new Date().toISOString().slice(0, 10);
      const listed = (await a.admin.get(`/api/v1/visits?day=${today}&hostUserId=${a.clinician.user.id}`)).json();
      assert.ok(listed.data.some((x: { id: string }) => x.id === v.id));
      const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
      assert.ok(!(await a.admin.get(`/api/v1/visits?day=${yesterday}`)).json().data.some((x: { id: string }) => x.id === v.id));
      assert.equal((await b.admin.get(`/api/v1/visits?day=${today}`)).json().data.length, 0);
      for (const day of ['2026-02-30', '2026-13-01', '2026-00-10']) {
        const bad = await a.admin.get(`/api/v1/visits?day=${day}`);
        expectStatus(bad, 400, 'validation_failed', day);
        assert.deepEqual(detailPaths(bad), ['querystring/day']);
      }
    });

    test('media: a waiting patient receives nothing and sends to nobody; admitted, both ways; sent back, it stops', async () => {
      const p1 = await patient(a);
      const v = (await a.clinician.post('/api/v1/visits', { patientIds: [p1], start: true })).json();
      const link = (await a.clinician.post(`/api/v1/visits/${v.id}/invites`, { role: 'patient', patientId: p1 })).json();
      const { who, body } = await join(link.token);
      const version = (body.consentsRequired as { version: string }[])[0]!.version;
      await who.post(`/api/v1/visits/${v.id}/consents`, { kind: 'telehealth', version });
      const hostToken = (await a.clinician.post(`/api/v1/visits/${v.id}/token`)).json();
      const patientToken = (await who.post(`/api/v1/visits/${v.id}/token`)).json();
      assert.equal(patientToken.admission, 'waiting');
      const base = await t.listen();
      const roomId: string = (await a.clinician.get(`/api/v1/rooms/visit-${v.id}`)).json().id;
      const [hostId, patId] = [hostToken.identity as string, patientToken.identity as string];
      // The server's notices come on the participant channel (issued with the media token), whatever the provider;
      // connected before the media, as the SDK does: on Twilio it is all a waiting patient has.
      const patChannel = await ChannelClient.connect(base, patientToken.channel, patId);
      const host = await t.media.join(hostToken);
      // Twilio's side (its fake): the rules the server wrote, by identity.
      const fake = t.media.twilio?.fake;
      const twilioRoom = () => fake!.room(roomId)!;
      const stays = () => twilioRoom().participants.filter((p) => p.identity === patId);
      let pat: TestParticipant | undefined;
      let admittedToken: { token: string; identity: string; held: boolean; admission: string } | undefined;
      try {
        if (setup.media === 'builtin') {
          pat = await t.media.join(patientToken);
          await Promise.all([pat.receivesNothingOf(hostId), host.receivesNothingOf(patId)]);
          assert.equal(pat.rtc!.participants.has(hostId), false, 'a waiting patient does not even see the host');
        } else {
          // Held: Twilio would let a fresh connection receive everything until its rules land, so there is no media
          // token to connect with, only the channel; the patient is not in Twilio's room at all.
          assert.deepEqual([patientToken.held, patientToken.token, patientToken.url], [true, '', '']);
          await host.receivesNothingOf(patId);
          assert.deepEqual(stays(), [], "the waiting patient is not in Twilio's room");
          assert.deepEqual(twilioRoom().subscribeRules[hostId], [{ type: 'include', all: true }]);
          assert.equal(patChannel.messages.some((m) => m.type === 'join'), false, 'not asked to join while waiting');
        }

        assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/participants/${patId}/admit`)).statusCode, 200);
        if (setup.media === 'twilio') {
          // Told on the channel to ask again: now a media token, and its rules are written before it is announced.
          await patChannel.next('join');
          admittedToken = (await who.post(`/api/v1/visits/${v.id}/token`)).json();
          assert.deepEqual([admittedToken!.held, admittedToken!.admission, admittedToken!.identity], [false, 'admitted', patId]);
          assert.ok(admittedToken!.token);
          pat = await t.media.join(admittedToken!);
          assert.deepEqual(twilioRoom().subscribeRules[patId], [{ type: 'include', all: true }]);
          assert.deepEqual(twilioRoom().subscribeRules[hostId], [{ type: 'include', all: true }]);
        }
        await Promise.all([pat!.receives(hostId, 'video'), host.receives(patId, 'video'), host.receives(patId, 'audio')]);
        const told = (code: string) => patChannel.told(code);
        assert.ok(told('admitted'), 'the patient is told they are in');
        // The host and an admitted patient are both in: the visit is under way.
        await t.media.settle();
        const deadline = Date.now() + 5000;
        let status = '';
        while (Date.now() < deadline && (status = (await a.clinician.get(`/api/v1/visits/${v.id}`)).json().status) !== 'in_progress') await new Promise((r) => setTimeout(r, 50));
        assert.equal(status, 'in_progress');

        // Host mute: nobody receives the patient's audio, the video still flows; unmuted, the audio is back.
        assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/participants/${patId}/mute`, { audio: true })).statusCode, 200);
        await host.receivesNothingOf(patId, ['audio']);
        await host.receives(patId, 'video');
        if (fake) assert.deepEqual(twilioRoom().subscribeRules[hostId], [{ type: 'include', all: true }, { type: 'exclude', publisher: patId, kind: 'audio' }]);
        assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/participants/${patId}/mute`, { audio: false })).statusCode, 200);
        await host.receives(patId, 'audio');
        if (fake) assert.deepEqual(twilioRoom().subscribeRules[hostId], [{ type: 'include', all: true }]);

        assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/participants/${patId}/return`)).statusCode, 200);
        await Promise.all([pat!.receivesNothingOf(hostId), host.receivesNothingOf(patId)]);
        assert.ok(told('returned_to_waiting_room'));
        if (fake) {
          // Sent back while connected: it stays connected, isolated by rules (it receives nobody, nobody receives it).
          assert.deepEqual(stays().map((p) => p.status), ['connected']);
          assert.deepEqual(twilioRoom().subscribeRules[patId], [{ type: 'exclude', all: true }]);
          assert.deepEqual(twilioRoom().subscribeRules[hostId], [{ type: 'include', all: true }, { type: 'exclude', publisher: patId }]);
        }

        // Removed: disconnected, and the media token they still hold no longer gets them in.
        assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/participants/${patId}/remove`)).statusCode, 200);
        if (setup.media === 'builtin') assert.equal(await pat!.endCode(), RTC_CLOSE.removed);
        else await pat!.disconnected();
        assert.ok(told('removed'), 'told before the channel closed');
        assert.equal(await patChannel.closed(), CHANNEL_CLOSE.removed);
        if (setup.media === 'builtin') {
          const ws = new WebSocket(`${base.replace('http', 'ws')}/rtc`);
          await new Promise((resolve) => ws.once('open', resolve));
          ws.send(JSON.stringify({ type: 'join', token: patientToken.token }));
          assert.equal(await new Promise((resolve) => ws.once('close', (code) => resolve(code))), RTC_CLOSE.removed);
        } else {
          // Twilio's REST removal of its connection; everyone's rules exclude it from then on.
          const [removed] = stays();
          assert.ok(fake!.requests.some((r) => r.method === 'POST' && r.path.endsWith(`/Participants/${removed!.sid}`) && r.params.Status === 'disconnected'));
          assert.deepEqual(twilioRoom().subscribeRules[hostId], [{ type: 'include', all: true }, { type: 'exclude', publisher: patId }]);
          // Twilio cannot revoke the token it still holds: it gets in, and the server throws that connection out.
          await assert.rejects(t.media.join(admittedToken!), /thrown out of the room/);
          const [, again] = stays();
          assert.equal(again?.status, 'disconnected');
          assert.ok(fake!.requests.some((r) => r.method === 'POST' && r.path.endsWith(`/Participants/${again!.sid}`) && r.params.Status === 'disconnected'));
          await host.receivesNothingOf(patId);
        }
        assert.ok((await auditActions(t, a.orgId, roomId)).includes('room.tokens_revoked'));
      } finally {
        await Promise.all([host.close(), pat?.close(), patChannel.close()]);
      }
    });

    test('restart: the visit, its waiting list and routing survive; a waiting patient who reconnects still sees nobody', async () => {
      if (setup.media === 'twilio') return restartOnTwilio();
      const p1 = await patient(a);
      const v = (await a.clinician.post('/api/v1/visits', { patientIds: [p1], start: true })).json();
      const link = (await a.clinician.post(`/api/v1/visits/${v.id}/invites`, { role: 'patient', patientId: p1 })).json();
      const { who, body } = await join(link.token);
      await who.post(`/api/v1/visits/${v.id}/consents`, { kind: 'telehealth', version: (body.consentsRequired as { version: string }[])[0]!.version });
      const patientToken = (await who.post(`/api/v1/visits/${v.id}/token`)).json();
      const hostToken = (await a.clinician.post(`/api/v1/visits/${v.id}/token`)).json();
      await t.media.settle();

      // A second process on the same database (the first one's media plane is gone with it for these clients).
      const restarted = await createTestApp(setup.db, { database: t.database, media: setup.media, env: ENV });
      try {
        const again = (await a.clinician.get(`/api/v1/visits/${v.id}`)).json();
        assert.equal(again.status, 'open');
        assert.deepEqual(again.participants.map((p: { role: string; admission: string }) => `${p.role}:${p.admission}`).sort(), ['host:admitted', 'patient:waiting']);
        // Both reconnect with the tokens they had: the patient is still in the waiting room.
        const host = await restarted.media.join(hostToken, { publish: ['video'] });
        const pat = await restarted.media.join(patientToken, { publish: ['video'] });
        try {
          await Promise.all([pat.receivesNothingOf(hostToken.identity, ['video']), host.receivesNothingOf(patientToken.identity, ['video'])]);
          const admitted = await caller(restarted.app, a.clinician.headers).post(`/api/v1/visits/${v.id}/participants/${patientToken.identity}/admit`);
          assert.equal(admitted.statusCode, 200, admitted.body);
          await Promise.all([pat.receives(hostToken.identity, 'video'), host.receives(patientToken.identity, 'video')]);
        } finally {
          await Promise.all([host.close(), pat.close()]);
        }
      } finally {
        await restarted.close();
      }
    });

    /**
     * The restart on Twilio: the call is Twilio's, not the process's (the room and the host's connection stay there), and
     * a restarted process takes over the first one's address, where Twilio's callbacks go (PUBLIC_URL). So the first
     * process is an app of its own on this suite's database and fake, closed before the second starts on its port.
     */
    async function restartOnTwilio(): Promise<void> {
      // One deployment's processes share the channel key (the setting, or DATA_DIR's), as they share the token key.
      const env = { ...ENV, CHANNEL_SIGNING_SECRET: 'test-channel-secret-'.repeat(3) };
      const shared = { database: t.database, media: setup.media, twilio: t.media.twilio!, env };
      const port = await freePort();
      const first = await createTestApp(setup.db, { ...shared, port });
      let firstOpen = true;
      const fake = t.media.twilio!.fake;
      const p1 = await patient(a);
      const clinician = caller(first.app, a.clinician.headers);
      const v = (await clinician.post('/api/v1/visits', { patientIds: [p1], start: true })).json();
      const link = (await clinician.post(`/api/v1/visits/${v.id}/invites`, { role: 'patient', patientId: p1 })).json();
      const { who, body } = await join(link.token);
      await who.post(`/api/v1/visits/${v.id}/consents`, { kind: 'telehealth', version: (body.consentsRequired as { version: string }[])[0]!.version });
      const patientToken = (await caller(first.app, who.headers).post(`/api/v1/visits/${v.id}/token`)).json();
      assert.deepEqual([patientToken.held, patientToken.token], [true, '']);
      const hostToken = (await clinician.post(`/api/v1/visits/${v.id}/token`)).json();
      const [hostId, patId] = [hostToken.identity as string, patientToken.identity as string];
      const roomId: string = (await clinician.get(`/api/v1/rooms/visit-${v.id}`)).json().id;
      const twilioRoom = () => fake.room(roomId)!;
      const host = await first.media.join(hostToken);
      const base = await first.listen();
      let patChannel = await ChannelClient.connect(base, patientToken.channel, patId);
      let pat: TestParticipant | undefined;
      let restarted: TestApp | undefined;
      try {
        await first.media.settle();
        // The first process stops (the patient's channel drops with it); Twilio keeps the room and the host.
        await first.close();
        firstOpen = false;
        await patChannel.closed();
        restarted = await createTestApp(setup.db, { ...shared, port });
        assert.equal(await restarted.listen(), base);
        const again = (await caller(restarted.app, a.clinician.headers).get(`/api/v1/visits/${v.id}`)).json();
        assert.equal(again.status, 'open');
        assert.deepEqual(again.participants.map((p: { role: string; admission: string }) => `${p.role}:${p.admission}`).sort(), ['host:admitted', 'patient:waiting']);
        assert.deepEqual(twilioRoom().participants.map((p) => `${p.identity}:${p.status}`), [`${hostId}:connected`], 'Twilio kept the host; the patient never was in its room');

        // The patient's page reconnects its channel and asks again: still waiting, still held, still out of the room.
        patChannel = await ChannelClient.connect(base, patientToken.channel, patId);
        const patient = caller(restarted.app, who.headers);
        const held = (await patient.post(`/api/v1/visits/${v.id}/token`)).json();
        assert.deepEqual([held.admission, held.held, held.token], ['waiting', true, '']);
        await host.receivesNothingOf(patId);
        assert.equal(twilioRoom().participants.some((p) => p.identity === patId), false);

        // Admission through the restarted process: told to join, a media token, both ways.
        const admitted = await caller(restarted.app, a.clinician.headers).post(`/api/v1/visits/${v.id}/participants/${patId}/admit`);
        assert.equal(admitted.statusCode, 200, admitted.body);
        await patChannel.next('join');
        const admittedToken = (await patient.post(`/api/v1/visits/${v.id}/token`)).json();
        assert.deepEqual([admittedToken.admission, admittedToken.held], ['admitted', false]);
        pat = await restarted.media.join(admittedToken);
        await Promise.all([pat.receives(hostId, 'video'), host.receives(patId, 'video'), host.receives(patId, 'audio')]);
        assert.deepEqual(twilioRoom().subscribeRules[patId], [{ type: 'include', all: true }]);
        assert.deepEqual(twilioRoom().subscribeRules[hostId], [{ type: 'include', all: true }]);
      } finally {
        await Promise.all([host.close(), pat?.close(), patChannel.close()]);
        if (firstOpen) await first.close();
        await restarted?.close();
      }
    }

    test('post-visit survey: each patient gets their own link at the end; one answer, shown in the summary', async () => {
      const p1 = await patient(a);
      const v = (await a.clinician.post('/api/v1/visits', { patientIds: [p1], start: true })).json();
      const link = (await a.clinician.post(`/api/v1/visits/${v.id}/invites`, { role: 'patient', patientId: p1 })).json();
      const { who, body } = await join(link.token);
      await who.post(`/api/v1/visits/${v.id}/consents`, { kind: 'telehealth', version: (body.consentsRequired as { version: string }[])[0]!.version });
      const patToken = (await who.post(`/api/v1/visits/${v.id}/token`)).json();
      await a.clinician.post(`/api/v1/visits/${v.id}/participants/${patToken.identity}/admit`);
      const base = await t.listen();
      const pat = await ChannelClient.connect(base, patToken.channel, patToken.identity);
      let url: string;
      try {
        // Not before the end: a survey link of a visit still on is refused.
        const early = createLinkSigner(ENV.LINK_SIGNING_SECRET, 'survey').sign(patToken.identity);
        expectStatus(await a.anonymous.post('/api/v1/survey', { token: early }), 404, 'link_invalid');
        assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/end`)).statusCode, 200);
        const deadline = Date.now() + 5000;
        let found: { type: string; url: string } | undefined;
        while (!(found = pat.data.map((d) => JSON.parse(d.payload) as { type: string; url: string }).find((x) => x.type === 'survey')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.ok(found, 'the survey link reached the patient');
        url = found.url;
      } finally {
        await pat.close();
      }
      assert.match(url, /\/survey#ovs_[A-Za-z0-9_-]+$/);
      const token = url.split('#')[1]!;
      const info = await a.anonymous.post('/api/v1/survey', { token });
      assert.equal(info.statusCode, 200, info.body);
      assert.equal(info.json().visitId, v.id);
      assert.equal(info.json().answered, false);
      assert.equal(info.json().clinicianName, a.clinician.user.name);
      expectStatus(await a.anonymous.post('/api/v1/survey/answer', { token, rating: 6 }), 400, 'validation_failed');
      const answer = await a.anonymous.post('/api/v1/survey/answer', { token, rating: 5, comment: '  Easy to join.  ' });
      assert.equal(answer.statusCode, 201, answer.body);
      assert.equal(answer.json().comment, 'Easy to join.');
      expectStatus(await a.anonymous.post('/api/v1/survey/answer', { token, rating: 1 }), 409, 'already_exists');
      assert.equal((await a.anonymous.post('/api/v1/survey', { token })).json().answered, true);
      // A join link is not a survey link, nor is a changed one.
      expectStatus(await a.anonymous.post('/api/v1/survey', { token: link.token }), 404, 'link_invalid');
      expectStatus(await a.anonymous.post('/api/v1/survey', { token: token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA') }), 404, 'link_invalid');
      const summary = (await a.clinician.get(`/api/v1/visits/${v.id}/summary`)).json();
      assert.deepEqual(summary.surveys.map((x: { participantId: string; rating: number }) => [x.participantId, x.rating]), [[patToken.identity, 5]]);
      assert.ok((await auditActions(t, a.orgId, v.id)).includes('visit.survey_answered'));
    });

    test('consent texts: versioned per organisation, never edited; admins publish', async () => {
      const texts = (await a.clinician.get('/api/v1/consent-texts')).json();
      assert.deepEqual(texts.map((x: { kind: string }) => x.kind), ['telehealth', 'recording']);
      const body = { kind: 'telehealth', version: 'clinic-2026-1', body: 'Our clinic’s own telehealth consent text, long enough.' };
      expectStatus(await a.clinician.post('/api/v1/consent-texts', body), 403, 'forbidden');
      assert.equal((await a.admin.post('/api/v1/consent-texts', body)).statusCode, 201);
      expectStatus(await a.admin.post('/api/v1/consent-texts', body), 409, 'already_exists');
      assert.equal((await a.clinician.get('/api/v1/consent-texts')).json()[0].version, 'clinic-2026-1');
      assert.equal((await b.clinician.get('/api/v1/consent-texts')).json()[0].version, 'openvisit-default-1');
    });
  });
}
