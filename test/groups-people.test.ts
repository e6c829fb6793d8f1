// Group visits, the people side (docs/groups.md), on both databases and both media providers (SETUPS): a group visit
// (instant or from a group appointment with many patients, one added late) opens its room with the group media
// policy; its limit (the visit's or the organisation's) holds at admission (visit_full; admit-all admits in arrival
// order as many as fit; staff never count); co-hosts have the host's rights and lose them (and their connection)
// when removed; privacy between clients: a patient's view of the participant list, the chat, the channel and the hub
// never carries another client's full name, phone or email (patients with distinctive ones, searched in the raw
// bodies); the name policies and self-chosen names; attendance in the summary for a group of four.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import type { OrgEvent } from '../src/shared/events.js';
import { CHANNEL_CLOSE } from '../src/shared/channel.js';
import { policyName, clientNumbers } from '../src/server/visits/privacy.js';
import { createTestApp, SETUPS, type TestApp, type TestParticipant } from './helpers/app.js';
import { auditActions } from './helpers/audit.js';
import { addStaff, caller, createTestOrg, detailPaths, errorOf, expectStatus, type Caller, type TestOrg } from './helpers/builders.js';
import { ChannelClient } from './helpers/channel.js';
import { sleep } from './helpers/media.js';

const ENV = {
  LINK_SIGNING_SECRET: 'test-link-secret-'.repeat(3),
  TOKEN_SIGNING_SECRET: 'test-token-secret-'.repeat(3),
  LOGIN_RATE_LIMIT_PER_MINUTE: '5000',
  TOKEN_RATE_LIMIT_PER_MINUTE: '5000',
  CHAT_RATE_LIMIT_PER_MINUTE: '5000',
  GROUP_LAST_N: '7',
};

describe('privacy rules (pure)', () => {
  test('names by policy: first_initial, first, full, participant_n; odd names stay whole', () => {
    assert.equal(policyName('first_initial', 'Maria Garcia', 3), 'Maria G.');
    assert.equal(policyName('first_initial', '  Maria   de la   Garcia ', 3), 'Maria G.');
    assert.equal(policyName('first_initial', 'Zoë élodie', 1), 'Zoë É.');
    assert.equal(policyName('first_initial', 'Cher', 1), 'Cher');
    assert.equal(policyName('first', 'Maria Garcia', 3), 'Maria');
    assert.equal(policyName('full', 'Maria Garcia', 3), 'Maria Garcia');
    assert.equal(policyName('participant_n', 'Maria Garcia', 3), 'Participant 3');
    assert.equal(policyName('first_initial', '   ', 4), 'Participant 4');
  });
  test('participant numbers follow arrival among clients, staff left out; stable', () => {
    const at = (s: number) => new Date(1_700_000_000_000 + s * 1000);
    const people = [
      { id: 'h', role: 'host' as const, arrivedAt: null, createdAt: at(0) },
      { id: 'b', role: 'patient' as const, arrivedAt: at(20), createdAt: at(1) },
      { id: 'a', role: 'patient' as const, arrivedAt: at(10), createdAt: at(2) },
      { id: 'c', role: 'guest' as const, arrivedAt: null, createdAt: at(3) },
      { id: 'k', role: 'cohost' as const, arrivedAt: null, createdAt: at(4) },
    ];
    assert.deepEqual([...clientNumbers(people)], [['a', 1], ['b', 2], ['c', 3]]);
  });
});

interface Person {
  id: string;
  givenName: string;
  familyName: string;
  phone: string;
  email: string;
}

interface Joined {
  who: Caller;
  participantId: string;
  session: string;
}

for (const setup of SETUPS) {
  describe(`group visits, people, on ${setup.label}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;
    let base: string;
    const events: OrgEvent[] = [];
    let serial = 0;

    before(async () => {
      t = await createTestApp(setup.db, { env: ENV, media: setup.media });
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
      base = await t.listen();
      t.app.realtime.observe(async (orgId, event) => {
        if (orgId === a.orgId) events.push(event);
      });
    });
    after(() => t.close());

    /** A patient whose name, phone and email appear nowhere else (searched for in raw bodies). */
    async function patient(org: TestOrg = a): Promise<Person> {
      serial++;
      const letters = 'QWXZJKVY';
      const givenName = `Xan${letters[serial % 8]}thippe${serial}`;
      const familyName = `Quorrington${serial}Vale`;
      const phone = `+1202555${String(1000 + serial).slice(-4)}`;
      const email = `xq${serial}.private@example.test`;
      const res = await org.clinician.post('/api/v1/patients', { givenName, familyName, phone, email });
      assert.equal(res.statusCode, 201, res.body);
      return { id: res.json().id, givenName, familyName, phone, email };
    }

    async function groupVisit(patients: Person[], extra: Record<string, unknown> = {}) {
      const res = await a.clinician.post('/api/v1/visits', { kind: 'group', patientIds: patients.map((p) => p.id), start: true, ...extra });
      assert.equal(res.statusCode, 201, res.body);
      return res.json() as { id: string; maxParticipants: number | null; participants: { id: string; role: string; patientId: string | null }[] };
    }

    /** Invite → link → session → telehealth consent → token (the waiting room). */
    async function arrive(visitId: string, p: Person): Promise<Joined> {
      const invite = await a.clinician.post(`/api/v1/visits/${visitId}/invites`, { role: 'patient', patientId: p.id });
      assert.equal(invite.statusCode, 201, invite.body);
      const joined = await a.anonymous.post('/api/v1/join', { token: invite.json().token });
      assert.equal(joined.statusCode, 200, joined.body);
      const body = joined.json();
      const who = caller(t.app, { authorization: `Bearer ${body.session}` });
      const consent = body.consentsRequired[0] as { kind: string; version: string };
      assert.equal((await who.post(`/api/v1/visits/${visitId}/consents`, { kind: consent.kind, version: consent.version })).statusCode, 201);
      const token = await who.post(`/api/v1/visits/${visitId}/token`);
      assert.equal(token.statusCode, 200, token.body);
      assert.equal(token.json().admission, 'waiting');
      return { who, participantId: body.participant.id, session: body.session };
    }

    const admit = (visitId: string, pid: string, by: Caller = a.clinician) => by.post(`/api/v1/visits/${visitId}/participants/${pid}/admit`);

    test('a group visit: the effective limit in the DTO, the room made with the group media policy and seats; 1:1 unchanged', async () => {
      const [p1, p2] = [await patient(), await patient()];
      const v = await groupVisit([p1!, p2!], { maxParticipants: 12, mediaMode: 'grid' });
      assert.equal(v.maxParticipants, 12);
      const byOrg = await groupVisit([p1!]);
      assert.equal(byOrg.maxParticipants, 50, "the organisation's limit");
      await a.admin.patch('/api/v1/organization', { groupMaxParticipants: 20 });
      assert.equal((await a.clinician.get(`/api/v1/visits/${byOrg.id}`)).json().maxParticipants, 20, 'follows the organisation');
      await a.admin.patch('/api/v1/organization', { groupMaxParticipants: 50 });
      const oneToOne = (await a.clinician.post('/api/v1/visits', { patientIds: [p1!.id] })).json();
      assert.equal(oneToOne.maxParticipants, null);
      const bad = await a.clinician.post('/api/v1/visits', { kind: 'video', maxParticipants: 5, mediaMode: 'grid' });
      expectStatus(bad, 400, 'validation_failed');
      assert.deepEqual(detailPaths(bad).sort(), ['body/maxParticipants', 'body/mediaMode']);

      const room = (await a.clinician.get(`/api/v1/rooms/visit-${v.id}`)).json();
      assert.equal(room.maxParticipants, 110, 'the most a group admits, as many waiting, and its staff');
      const host = await a.clinician.post(`/api/v1/visits/${v.id}/token`);
      assert.equal(host.statusCode, 200, host.body);
      assert.deepEqual(host.json().media, { simulcast: true, mode: 'grid', spotlight: null, lastN: 7, audioBitrateBps: 16000, video: { width: 1280, height: 720, frameRate: 24 } });
      const channel = await ChannelClient.connect(base, host.json().channel, 'host');
      assert.deepEqual((await channel.next('media')).policy, { simulcast: true, mode: 'grid', spotlight: null, lastN: 7 });
      channel.ws.close();
      // A 1:1 visit's room has no policy: its tokens carry none.
      await a.clinician.post(`/api/v1/visits/${oneToOne.id}/start`);
      assert.equal('media' in (await a.clinician.post(`/api/v1/visits/${oneToOne.id}/token`)).json(), false);
    });

    test('a group appointment lists its patients; its visit invites them all; a patient added late gets a link', async () => {
      const six = [await patient(), await patient(), await patient(), await patient(), await patient(), await patient()];
      const appt = await a.clinician.post('/api/v1/appointments', {
        kind: 'group',
        clinicianId: a.clinician.user.id,
        patientIds: six.slice(0, 5).map((p) => p.id),
        startsAt: new Date(Date.now() + 5 * 60_000).toISOString(),
        durationMinutes: 90,
      });
      assert.equal(appt.statusCode, 201, appt.body);
      assert.deepEqual(appt.json().patientIds.slice().sort(), six.slice(0, 5).map((p) => p.id).sort());
      const v = await a.clinician.post('/api/v1/visits', { appointmentId: appt.json().id, maxParticipants: 8 });
      assert.equal(v.statusCode, 201, v.body);
      assert.equal(v.json().kind, 'group');
      assert.equal(v.json().maxParticipants, 8);
      assert.deepEqual(v.json().participants.filter((p: { role: string }) => p.role === 'patient').map((p: { patientId: string }) => p.patientId).sort(), six.slice(0, 5).map((p) => p.id).sort());
      // The sixth, added late: the invite adds them and gives them a link that works.
      const late = await arrive(v.json().id, six[5]!);
      const seen = (await a.clinician.get(`/api/v1/visits/${v.json().id}`)).json();
      assert.ok(seen.participants.some((p: { id: string; patientId: string }) => p.id === late.participantId && p.patientId === six[5]!.id));
      assert.equal((await admit(v.json().id, late.participantId)).json().admission, 'admitted');
    });

    test('capacity: admitting beyond the limit is 409 visit_full; admit-all admits in arrival order what fits; staff never count; the limit is lowered only to those admitted', async () => {
      const five = [await patient(), await patient(), await patient(), await patient(), await patient()];
      const v = await groupVisit(five, { maxParticipants: 3 });
      const joined: Joined[] = [];
      for (const p of five) joined.push(await arrive(v.id, p));
      // A co-host (staff) in the visit does not take a seat.
      const co = await addStaff(t.app, a.orgId, 'clinician');
      assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/cohosts`, { userId: co.user.id })).statusCode, 201);

      assert.equal((await admit(v.id, joined[4]!.participantId)).json().admission, 'admitted');
      const all = await a.clinician.post(`/api/v1/visits/${v.id}/waiting-room/admit-all`);
      assert.equal(all.statusCode, 200, all.body);
      assert.deepEqual(all.json().map((p: { id: string }) => p.id), [joined[0]!.participantId, joined[1]!.participantId], 'in arrival order, as many as fit');
      assert.deepEqual((await a.clinician.get(`/api/v1/visits/${v.id}/waiting-room`)).json().map((p: { id: string }) => p.id), [joined[2]!.participantId, joined[3]!.participantId], 'the rest wait');

      const full = await admit(v.id, joined[2]!.participantId);
      expectStatus(full, 409, 'visit_full');
      assert.deepEqual(errorOf(full).details, { limit: 3, admitted: 3 });
      assert.equal((await joined[2]!.who.post(`/api/v1/visits/${v.id}/token`)).json().admission, 'waiting');
      // A seat freed (one sent back) is a seat to fill.
      await a.clinician.post(`/api/v1/visits/${v.id}/participants/${joined[0]!.participantId}/return`);
      assert.equal((await admit(v.id, joined[2]!.participantId)).json().admission, 'admitted');

      // The visit's own limit: not below the three admitted now (the group update's rule); raised, a seat opens.
      expectStatus(await a.clinician.patch(`/api/v1/visits/${v.id}/group`, { maxParticipants: 2 }), 409, 'visit_full');
      assert.equal((await a.clinician.patch(`/api/v1/visits/${v.id}/group`, { maxParticipants: 4 })).json().maxParticipants, 4);
      assert.equal((await admit(v.id, joined[3]!.participantId)).json().admission, 'admitted');
      // A 1:1 visit has no limit to admit against.
      const one = (await a.clinician.post('/api/v1/visits', { patientIds: [five[0]!.id], start: true })).json();
      const solo = await arrive(one.id, five[0]!);
      assert.equal((await admit(one.id, solo.participantId)).statusCode, 200);
    });

    test('co-hosts: host rights (admit, waiting room, token as themselves, recorded), audited and on the hub; removed: rights, tokens and connection gone', async () => {
      const [p1, p2] = [await patient(), await patient()];
      const v = await groupVisit([p1!, p2!]);
      const co = await addStaff(t.app, a.orgId, 'clinician');
      const bystander = await addStaff(t.app, a.orgId, 'clinician');
      const pat1 = await arrive(v.id, p1!);
      const pat2 = await arrive(v.id, p2!);

      // Before: another clinician may look, not act.
      expectStatus(await admit(v.id, pat1.participantId, co), 403, 'forbidden');
      expectStatus(await co.post(`/api/v1/visits/${v.id}/token`), 403, 'forbidden');
      // Who may be one: staff of the organisation, not the host, not a caregiver; added by the host (or a co-host, an admin).
      for (const [userId, what] of [[a.caregiver.user.id, 'caregiver'], [a.clinician.user.id, 'host'], [b.clinician.user.id, 'other org'], [crypto.randomUUID(), 'nobody']] as const) {
        const res = await a.clinician.post(`/api/v1/visits/${v.id}/cohosts`, { userId });
        expectStatus(res, 400, 'validation_failed', what);
        assert.deepEqual(detailPaths(res), ['body/userId'], what);
      }
      expectStatus(await bystander.post(`/api/v1/visits/${v.id}/cohosts`, { userId: co.user.id }), 403, 'forbidden');
      expectStatus(await pat1.who.post(`/api/v1/visits/${v.id}/cohosts`, { userId: co.user.id }), 403, 'forbidden');
      expectStatus(await b.admin.post(`/api/v1/visits/${v.id}/cohosts`, { userId: co.user.id }), 404, 'not_found');

      const added = await a.clinician.post(`/api/v1/visits/${v.id}/cohosts`, { userId: co.user.id });
      assert.equal(added.statusCode, 201, added.body);
      const cohost = added.json();
      assert.deepEqual([cohost.role, cohost.userId, cohost.admission, cohost.displayName], ['cohost', co.user.id, 'admitted', co.user.name]);
      assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/cohosts`, { userId: co.user.id })).json().id, cohost.id, 'adding again: the same row');
      assert.ok(events.some((e) => e.type === 'visit.cohost_added' && e.data.visitId === v.id && e.data.participantId === cohost.id));

      // Host rights: the waiting room, admitting, a token as themselves (admin grants, in the visit at once).
      assert.equal((await co.get(`/api/v1/visits/${v.id}/waiting-room`)).json().length, 2);
      assert.equal((await admit(v.id, pat1.participantId, co)).json().admission, 'admitted');
      const token = await co.post(`/api/v1/visits/${v.id}/token`);
      assert.equal(token.statusCode, 200, token.body);
      assert.deepEqual([token.json().identity, token.json().admission, token.json().held], [cohost.id, 'admitted', false]);
      assert.ok(token.json().media, 'the group media policy');
      const channel = await ChannelClient.connect(base, token.json().channel, 'cohost');
      let media: TestParticipant | undefined = await t.media.join(token.json(), { publish: [] });
      // Patients see a co-host by name, as staff.
      const seen = (await pat1.who.get(`/api/v1/visits/${v.id}`)).json();
      assert.equal(seen.participants.find((p: { id: string }) => p.id === cohost.id)?.displayName, co.user.name);

      const removed = await a.clinician.request('DELETE', `/api/v1/visits/${v.id}/cohosts/${co.user.id}`);
      assert.equal(removed.statusCode, 204, removed.body);
      assert.equal(await channel.closed(), CHANNEL_CLOSE.removed);
      await media.disconnected();
      await media.close();
      media = undefined;
      expectStatus(await admit(v.id, pat2.participantId, co), 403, 'forbidden');
      expectStatus(await co.post(`/api/v1/visits/${v.id}/token`), 403, 'forbidden');
      expectStatus(await a.clinician.request('DELETE', `/api/v1/visits/${v.id}/cohosts/${co.user.id}`), 404, 'not_found');
      assert.ok(events.some((e) => e.type === 'visit.cohost_removed' && e.data.visitId === v.id && e.data.participantId === cohost.id));
      assert.ok(!(await pat1.who.get(`/api/v1/visits/${v.id}`)).json().participants.some((p: { id: string }) => p.id === cohost.id), 'gone from the list');
      // Made a co-host again: the same row, admitted.
      assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/cohosts`, { userId: co.user.id })).json().id, cohost.id);
      const actions = await auditActions(t, a.orgId, v.id);
      assert.deepEqual(actions.filter((x) => x.startsWith('visit.cohost')), ['visit.cohost_added', 'visit.cohost_removed', 'visit.cohost_added']);
    });

    test('privacy: a patient sees the others by "Maria G." (never their full names, phones, emails, ids, consents or who waits): list, chat, channel, hub; hosts see all', async () => {
      const people = [await patient(), await patient(), await patient(), await patient(), await patient()];
      const v = await groupVisit(people);
      const joined: Joined[] = [];
      for (const p of people) joined.push(await arrive(v.id, p));
      for (const j of joined.slice(0, 4)) assert.equal((await admit(v.id, j.participantId)).statusCode, 200);
      const [me, ...others] = joined;
      const secrets = people.slice(1).flatMap((p) => [p.familyName, `${p.givenName} ${p.familyName}`, p.phone, p.phone.slice(2), p.email, p.id]);
      const assertClean = (raw: string, where: string) => {
        for (const s of secrets) assert.ok(!raw.includes(s), `${where} carries "${s}"`);
      };

      const view = await me!.who.get(`/api/v1/visits/${v.id}`);
      assert.equal(view.statusCode, 200);
      assertClean(view.body, 'GET /visits/:id');
      const list = view.json().participants as { id: string; role: string; displayName: string; patientId: string | null; telehealthConsentAt: string | null; arrivedAt: string | null }[];
      assert.deepEqual(list.map((p) => p.id).sort(), [joined[0]!.participantId, joined[1]!.participantId, joined[2]!.participantId, joined[3]!.participantId, v.participants.find((p) => p.role === 'host')!.id].sort(), 'not the one still waiting');
      for (const [i, other] of others.slice(0, 3).entries()) {
        const row = list.find((p) => p.id === other.participantId)!;
        assert.equal(row.displayName, `${people[i + 1]!.givenName} ${people[i + 1]!.familyName[0]}.`);
        assert.deepEqual([row.patientId, row.telehealthConsentAt, row.arrivedAt], [null, null, null]);
      }
      assert.equal(list.find((p) => p.id === me!.participantId)!.patientId, people[0]!.id, 'themselves as they are');
      assert.equal(list.find((p) => p.role === 'host')!.displayName, a.clinician.user.name, 'staff by their names');
      assertClean((await me!.who.get(`/api/v1/visits/${v.id}/context`)).body, '/context');
      expectStatus(await me!.who.get(`/api/v1/visits/${v.id}/summary`), 403, 'forbidden');
      expectStatus(await me!.who.get(`/api/v1/visits/${v.id}/waiting-room`), 403, 'forbidden');

      // Staff see everyone as they are.
      const hostView = (await a.clinician.get(`/api/v1/visits/${v.id}`)).json();
      assert.equal(hostView.participants.find((p: { id: string }) => p.id === others[0]!.participantId).displayName, `${people[1]!.givenName} ${people[1]!.familyName}`);
      assert.equal(hostView.participants.length, 6);

      // The chat: what the channel delivers and what the transcript lists carry the policy's name for clients.
      const myToken = (await me!.who.post(`/api/v1/visits/${v.id}/token`)).json();
      const myChannel = await ChannelClient.connect(base, myToken.channel, 'me');
      const hostToken = (await a.clinician.post(`/api/v1/visits/${v.id}/token`)).json();
      const hostChannel = await ChannelClient.connect(base, hostToken.channel, 'host');
      const said = await others[0]!.who.post(`/api/v1/visits/${v.id}/messages`, { body: 'hello group' });
      assert.equal(said.statusCode, 201, said.body);
      const heard = await myChannel.next('data', (m) => m.payload.includes('hello group'));
      assert.equal(JSON.parse(heard.payload).message.displayName, `${people[1]!.givenName} ${people[1]!.familyName[0]}.`);
      const hostHeard = await hostChannel.next('data', (m) => m.payload.includes('hello group'));
      assert.equal(JSON.parse(hostHeard.payload).message.displayName, `${people[1]!.givenName} ${people[1]!.familyName}`);
      const transcript = await me!.who.get(`/api/v1/visits/${v.id}/messages`);
      assert.equal(transcript.statusCode, 200);
      assertClean(transcript.body, 'the transcript');
      assert.ok(transcript.body.includes(`${people[1]!.givenName} ${people[1]!.familyName[0]}.`));
      // Everything the channel gave the patient (chat, notices, media policy) is clean too.
      await sleep(200);
      assertClean(JSON.stringify(myChannel.messages), 'the channel');
      myChannel.ws.close();
      hostChannel.ws.close();

      // The hub is not for participants at all.
      const status = await new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/api/v1/events`, { headers: { authorization: `Bearer ${me!.session}` } });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => reject(new Error('a participant opened the hub')));
        ws.on('error', () => undefined);
      });
      assert.equal(status, 403);
      // What the hub carries for staff: ids only (patients' too: staff may know them), never a name, phone or email.
      const hub = JSON.stringify(events);
      for (const s of people.flatMap((p) => [p.givenName, p.familyName, p.phone, p.phone.slice(2), p.email])) assert.ok(!hub.includes(s), `the hub carries "${s}"`);
    });

    test('name policies: participant_n by arrival, first, full; self-chosen names only when allowed (403 display_name_not_allowed), audited, seen by clients, hosts see both', async () => {
      const people = [await patient(), await patient(), await patient()];
      const v = await groupVisit(people);
      const joined: Joined[] = [];
      for (const p of [people[2]!, people[0]!, people[1]!]) joined.push(await arrive(v.id, p));
      for (const j of joined) await admit(v.id, j.participantId);
      const nameOf = async (viewer: Joined, pid: string) => ((await viewer.who.get(`/api/v1/visits/${v.id}`)).json().participants as { id: string; displayName: string }[]).find((p) => p.id === pid)?.displayName;

      await a.admin.patch('/api/v1/organization', { groupNamePolicy: 'participant_n' });
      assert.equal(await nameOf(joined[0]!, joined[1]!.participantId), 'Participant 2');
      assert.equal(await nameOf(joined[0]!, joined[2]!.participantId), 'Participant 3');
      assert.equal(await nameOf(joined[1]!, joined[0]!.participantId), 'Participant 1');
      await a.admin.patch('/api/v1/organization', { groupNamePolicy: 'first' });
      assert.equal(await nameOf(joined[0]!, joined[1]!.participantId), people[0]!.givenName);
      await a.admin.patch('/api/v1/organization', { groupNamePolicy: 'full' });
      assert.equal(await nameOf(joined[0]!, joined[1]!.participantId), `${people[0]!.givenName} ${people[0]!.familyName}`);
      await a.admin.patch('/api/v1/organization', { groupNamePolicy: 'first_initial' });

      const refused = await joined[0]!.who.request('PUT', `/api/v1/visits/${v.id}/me/display-name`, { displayName: 'Sunny' });
      expectStatus(refused, 403, 'display_name_not_allowed');
      await a.admin.patch('/api/v1/organization', { groupSelfNames: true });
      const named = await joined[0]!.who.request('PUT', `/api/v1/visits/${v.id}/me/display-name`, { displayName: '  Sunny   Day ' });
      assert.equal(named.statusCode, 200, named.body);
      assert.equal(named.json().chosenName, 'Sunny Day');
      assert.equal(await nameOf(joined[1]!, joined[0]!.participantId), 'Sunny Day');
      const hostSees = ((await a.clinician.get(`/api/v1/visits/${v.id}`)).json().participants as { id: string; displayName: string; chosenName: string | null }[]).find((p) => p.id === joined[0]!.participantId)!;
      assert.deepEqual([hostSees.displayName, hostSees.chosenName], [`${people[2]!.givenName} ${people[2]!.familyName}`, 'Sunny Day']);
      assert.ok(events.some((e) => e.type === 'visit.participant_renamed' && e.data.participantId === joined[0]!.participantId));
      assert.ok((await auditActions(t, a.orgId, v.id)).includes('visit.participant_renamed'));
      expectStatus(await joined[0]!.who.request('PUT', `/api/v1/visits/${v.id}/me/display-name`, { displayName: '   ' }), 400, 'validation_failed');
      expectStatus(await a.clinician.request('PUT', `/api/v1/visits/${v.id}/me/display-name`, { displayName: 'Doc' }), 403, 'forbidden');
      // The name never reaches a log.
      assert.ok(!t.logs.join('').includes('Sunny Day'));
      await a.admin.patch('/api/v1/organization', { groupSelfNames: false });
      assert.equal(await nameOf(joined[1]!, joined[0]!.participantId), `${people[2]!.givenName} ${people[2]!.familyName[0]}.`, 'not allowed any more: the policy name again');
    });

    test('attendance: the summary lists every client of a group of four with first join, last leave and seconds', async () => {
      const four = [await patient(), await patient(), await patient(), await patient()];
      const v = await groupVisit(four);
      const joined: Joined[] = [];
      for (const p of four) joined.push(await arrive(v.id, p));
      for (const j of joined) await admit(v.id, j.participantId);
      const media: TestParticipant[] = [];
      for (const j of joined) media.push(await t.media.join((await j.who.post(`/api/v1/visits/${v.id}/token`)).json(), { publish: [] }));
      await t.media.settle();
      await sleep(1200);
      for (const m of media) await m.leave();
      await t.media.settle();
      await a.clinician.post(`/api/v1/visits/${v.id}/end`);
      await t.media.settle();
      const summary = await a.clinician.get(`/api/v1/visits/${v.id}/summary`);
      assert.equal(summary.statusCode, 200, summary.body);
      const rows = summary.json().participants as { id: string; role: string; displayName: string; firstJoinedAt: string | null; lastLeftAt: string | null; secondsInVisit: number; stays: unknown[] }[];
      for (const [i, j] of joined.entries()) {
        const r = rows.find((x) => x.id === j.participantId)!;
        assert.equal(r.displayName, `${four[i]!.givenName} ${four[i]!.familyName}`, 'staff see full names');
        assert.ok(r.firstJoinedAt && r.lastLeftAt, JSON.stringify(r));
        assert.ok(Date.parse(r.lastLeftAt) - Date.parse(r.firstJoinedAt) >= 1000, JSON.stringify(r));
        assert.ok(r.secondsInVisit >= 0 && r.stays.length >= 1);
      }
      const host = rows.find((x) => x.role === 'host')!;
      assert.deepEqual([host.firstJoinedAt, host.lastLeftAt], [null, null], 'the host never connected here');
    });
  });
}
