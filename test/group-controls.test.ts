// Group controls (src/server/visits/controls.ts, docs/groups.md "Group controls") through the HTTP API on both media
// providers (SETUPS): raised hands and their queue, the spotlight (the room's media policy), mute all with ask to
// unmute (notices on the channel; the server's mute through routing, for newcomers too), the group's settings while it
// runs, a host's private message to anyone in the visit; their audit, hub events (ids only) and webhooks; tenancy
// and bad input. On Twilio, a group of 50 muted by its host with 20 waiting fits Twilio's 20 subscribe rules.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { OrgEvent } from '../src/shared/events.js';
import { createTestApp, SETUPS, type TestApp, type TestParticipant } from './helpers/app.js';
import { auditActions } from './helpers/audit.js';
import { caller, createTestOrg, detailPaths, errorOf, expectStatus, type Caller, type TestOrg } from './helpers/builders.js';
import { ChannelClient } from './helpers/channel.js';

const ENV = {
  LINK_SIGNING_SECRET: 'test-link-secret-'.repeat(3),
  TOKEN_SIGNING_SECRET: 'test-token-secret-'.repeat(3),
  LOGIN_RATE_LIMIT_PER_MINUTE: '10000',
  TOKEN_RATE_LIMIT_PER_MINUTE: '100000',
  WEBHOOK_MAX_ATTEMPTS: '1',
  WEBHOOK_TIMEOUT_SECONDS: '1',
};

interface Client {
  id: string;
  who: Caller;
  token: { token: string; identity: string; held?: boolean; admission: string; channel: { token: string } };
  channel?: ChannelClient;
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const setup of SETUPS) {
  describe(`group controls on ${setup.label}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;
    let base: string;
    const published: { orgId: string; event: OrgEvent }[] = [];

    before(async () => {
      t = await createTestApp(setup.db, { env: ENV, media: setup.media });
      base = await t.listen();
      t.app.realtime.observe((orgId, event) => void published.push({ orgId, event }));
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
    });
    after(() => t.close());

    async function patient(org: TestOrg, givenName: string): Promise<string> {
      const res = await org.clinician.post('/api/v1/patients', { givenName, familyName: 'Group' });
      assert.equal(res.statusCode, 201, res.body);
      return res.json().id;
    }

    async function groupVisit(org: TestOrg, names: string[], kind = 'group'): Promise<{ id: string; patients: string[] }> {
      const patients = [];
      for (const n of names) patients.push(await patient(org, n));
      const res = await org.clinician.post('/api/v1/visits', { kind, patientIds: patients, start: true });
      assert.equal(res.statusCode, 201, res.body);
      return { id: res.json().id, patients };
    }

    /** A patient through the link, the consent and a token: in the waiting room (held on Twilio), channel open. */
    async function enter(visitId: string, patientId: string, org: TestOrg = a): Promise<Client> {
      const link = (await org.clinician.post(`/api/v1/visits/${visitId}/invites`, { role: 'patient', patientId })).json();
      const joined = await org.anonymous.post('/api/v1/join', { token: link.token });
      assert.equal(joined.statusCode, 200, joined.body);
      const who = caller(t.app, { authorization: `Bearer ${joined.json().session}` });
      const version = joined.json().consentsRequired[0].version;
      assert.equal((await who.post(`/api/v1/visits/${visitId}/consents`, { kind: 'telehealth', version })).statusCode, 201);
      const token = await who.post(`/api/v1/visits/${visitId}/token`);
      assert.equal(token.statusCode, 200, token.body);
      const body = token.json();
      return { id: body.identity, who, token: body, channel: await ChannelClient.connect(base, body.channel, body.identity) };
    }

    async function admit(visitId: string, c: Client): Promise<void> {
      const res = await a.clinician.post(`/api/v1/visits/${visitId}/participants/${c.id}/admit`);
      assert.equal(res.statusCode, 200, res.body);
    }

    /** An admitted client's media (Twilio: its token asked again once admitted, as the SDK does on `join`). */
    async function connect(visitId: string, c: Client): Promise<TestParticipant> {
      const answer = setup.media === 'twilio' ? (await c.who.post(`/api/v1/visits/${visitId}/token`)).json() : c.token;
      return t.media.join(answer);
    }

    const hands = async (visitId: string) => {
      const res = await a.clinician.get(`/api/v1/visits/${visitId}/hands`);
      assert.equal(res.statusCode, 200, res.body);
      return (res.json() as { id: string }[]).map((p) => p.id);
    };

    const eventsOf = (visitId: string, type: string) => published.filter((p) => p.event.type === type && p.event.data.visitId === visitId).map((p) => p.event.data);

    test('hands: raised by the participant in the visit, queued oldest first for hosts, lowered by a host (told) or by being sent back; audited, on the hub and webhooks', async () => {
      const hook = (await a.admin.post('/api/v1/webhooks', { url: 'https://hooks.example.org/ov', events: ['participant.hand_raised', 'participant.hand_lowered'] })).json();
      const v = await groupVisit(a, ['Ana', 'Ben', 'Cy']);
      const [p1, p2, p3] = [await enter(v.id, v.patients[0]!), await enter(v.id, v.patients[1]!), await enter(v.id, v.patients[2]!)];
      await admit(v.id, p1);
      await admit(v.id, p2);

      // Someone waiting cannot; staff have no hand; the body is checked.
      expectStatus(await p3.who.post(`/api/v1/visits/${v.id}/hand`, { raised: true }), 403, 'not_admitted');
      expectStatus(await a.clinician.post(`/api/v1/visits/${v.id}/hand`, { raised: true }), 403, 'forbidden');
      const bad = await p1.who.post(`/api/v1/visits/${v.id}/hand`, { raised: 'yes' });
      expectStatus(bad, 400, 'validation_failed');
      assert.deepEqual(detailPaths(bad), ['body/raised']);

      const raised1 = await p1.who.post(`/api/v1/visits/${v.id}/hand`, { raised: true });
      assert.equal(raised1.statusCode, 200, raised1.body);
      assert.ok(raised1.json().handRaisedAt);
      await new Promise((r) => setTimeout(r, 5));
      assert.equal((await p2.who.post(`/api/v1/visits/${v.id}/hand`, { raised: true })).statusCode, 200);
      // Raising again keeps its place in the queue.
      assert.equal((await p1.who.post(`/api/v1/visits/${v.id}/hand`, { raised: true })).json().handRaisedAt, raised1.json().handRaisedAt);
      assert.deepEqual(await hands(v.id), [p1.id, p2.id]);
      // The queue is for hosts; the visit shows each participant's handRaisedAt.
      expectStatus(await p1.who.get(`/api/v1/visits/${v.id}/hands`), 403, 'forbidden');
      expectStatus(await b.admin.get(`/api/v1/visits/${v.id}/hands`), 404, 'not_found');

      // A host lowers a hand (only lowers); the participant is told.
      const raiseOther = await a.clinician.post(`/api/v1/visits/${v.id}/participants/${p1.id}/hand`, { raised: true });
      expectStatus(raiseOther, 400, 'validation_failed');
      assert.deepEqual(detailPaths(raiseOther), ['body/raised']);
      const lowered = await a.clinician.post(`/api/v1/visits/${v.id}/participants/${p1.id}/hand`, { raised: false });
      assert.equal(lowered.statusCode, 200, lowered.body);
      assert.equal(lowered.json().handRaisedAt, null);
      await p1.channel!.next('notice', (m) => m.code === 'hand_lowered');
      assert.ok(!p2.channel!.told('hand_lowered'), 'only the one whose hand it was');
      assert.deepEqual(await hands(v.id), [p2.id]);
      expectStatus(await b.admin.post(`/api/v1/visits/${v.id}/participants/${p2.id}/hand`, { raised: false }), 404, 'not_found');

      // Sent back to the waiting room: the hand comes down with it.
      assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/participants/${p2.id}/return`)).statusCode, 200);
      assert.deepEqual(await hands(v.id), []);
      const people = (await a.clinician.get(`/api/v1/visits/${v.id}`)).json().participants as { id: string; handRaisedAt: string | null }[];
      assert.equal(people.find((p) => p.id === p2.id)!.handRaisedAt, null);
      // Their own lowering.
      assert.equal((await p1.who.post(`/api/v1/visits/${v.id}/hand`, { raised: true })).statusCode, 200);
      assert.equal((await p1.who.post(`/api/v1/visits/${v.id}/hand`, { raised: false })).json().handRaisedAt, null);

      const actions = await auditActions(t, a.orgId, v.id);
      assert.equal(actions.filter((x) => x === 'visit.hand_raised').length, 3);
      assert.equal(actions.filter((x) => x === 'visit.hand_lowered').length, 3);
      // Hub: ids only, one per change.
      const raisedEvents = eventsOf(v.id, 'visit.participant_hand_raised');
      assert.deepEqual(raisedEvents, [{ visitId: v.id, participantId: p1.id }, { visitId: v.id, participantId: p2.id }, { visitId: v.id, participantId: p1.id }]);
      assert.equal(eventsOf(v.id, 'visit.participant_hand_lowered').length, 3);
      assert.ok(!published.some((p) => p.orgId === b.orgId && p.event.data.visitId === v.id));
      // Webhooks carry them as participant.hand_raised / participant.hand_lowered.
      const types = await until('webhook deliveries', async () => {
        const list = (await a.admin.get(`/api/v1/webhooks/${hook.webhook.id}/deliveries?limit=50`)).json().data as { eventType: string; payload: { data: Record<string, unknown> } }[];
        const mine = list.filter((d) => d.payload.data.visitId === v.id);
        return mine.length >= 6 ? mine.map((d) => d.eventType).sort() : undefined;
      });
      assert.deepEqual(types, ['participant.hand_lowered', 'participant.hand_lowered', 'participant.hand_lowered', 'participant.hand_raised', 'participant.hand_raised', 'participant.hand_raised']);
      await a.admin.request('DELETE', `/api/v1/webhooks/${hook.webhook.id}`);
      for (const c of [p1, p2, p3]) c.channel!.ws.close();
    });

    test('leaving the room lowers the hand and takes the spotlight off them', async () => {
      const v = await groupVisit(a, ['Dee']);
      const p = await enter(v.id, v.patients[0]!);
      await admit(v.id, p);
      const media = await connect(v.id, p);
      await t.media.settle();
      assert.equal((await p.who.post(`/api/v1/visits/${v.id}/hand`, { raised: true })).statusCode, 200);
      assert.deepEqual(await hands(v.id), [p.id]);
      assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/spotlight`, { participantId: p.id })).statusCode, 200);
      await media.leave();
      await t.media.settle();
      await until('the hand lowered', async () => ((await hands(v.id)).length === 0 ? true : undefined));
      await until('out of the spotlight', async () => ((await a.clinician.get(`/api/v1/visits/${v.id}`)).json().spotlightParticipantId === null ? true : undefined));
      assert.ok(eventsOf(v.id, 'visit.spotlight_changed').some((d) => d.participantId === null));
      assert.ok(eventsOf(v.id, 'visit.participant_hand_lowered').some((d) => d.participantId === p.id));
      p.channel!.ws.close();
    });

    test('mute all: everyone told; with selfUnmute false the server stops their audio (newcomers too) until asked to unmute; lifted', async () => {
      const hook = (await a.admin.post('/api/v1/webhooks', { url: 'https://hooks.example.org/ov', events: ['visit.muted_all', 'participant.unmute_requested'] })).json();
      const v = await groupVisit(a, ['Eve', 'Fay', 'Gus']);
      const [p1, p2, p3] = [await enter(v.id, v.patients[0]!), await enter(v.id, v.patients[1]!), await enter(v.id, v.patients[2]!)];
      await admit(v.id, p1);
      await admit(v.id, p2);
      const hostToken = (await a.clinician.post(`/api/v1/visits/${v.id}/token`)).json();
      const host = await t.media.join(hostToken);
      const m1 = await connect(v.id, p1);
      const m2 = await connect(v.id, p2);
      let m3: TestParticipant | undefined;
      try {
        await Promise.all([host.receives(p1.id, 'audio'), host.receives(p2.id, 'audio')]);

        // Bad input, another organisation.
        expectStatus(await a.clinician.post(`/api/v1/visits/${v.id}/mute-all`, {}), 400, 'validation_failed');
        const stray = await a.clinician.post(`/api/v1/visits/${v.id}/mute-all`, { muted: false, selfUnmute: false });
        expectStatus(stray, 400, 'validation_failed');
        assert.deepEqual(detailPaths(stray), ['body/selfUnmute']);
        expectStatus(await b.admin.post(`/api/v1/visits/${v.id}/mute-all`, { muted: true }), 404, 'not_found');
        expectStatus(await p1.who.post(`/api/v1/visits/${v.id}/mute-all`, { muted: true }), 403, 'forbidden');

        // Soft: told to mute (their SDK turns the microphone off); the server does not stop their audio.
        const soft = await a.clinician.post(`/api/v1/visits/${v.id}/mute-all`, { muted: true });
        assert.equal(soft.statusCode, 200, soft.body);
        assert.deepEqual([soft.json().mutedAll, soft.json().selfUnmute], [true, true]);
        await Promise.all([p1.channel!.next('notice', (m) => m.code === 'muted_by_host'), p2.channel!.next('notice', (m) => m.code === 'muted_by_host')]);
        assert.ok(!p3.channel!.told('muted_by_host'), 'someone waiting is not in the visit');
        await host.receives(p1.id, 'audio');

        // Hard: the server stops their audio; video flows.
        const hard = await a.clinician.post(`/api/v1/visits/${v.id}/mute-all`, { muted: true, selfUnmute: false });
        assert.deepEqual([hard.json().mutedAll, hard.json().selfUnmute], [true, false]);
        await Promise.all([host.receivesNothingOf(p1.id, ['audio']), host.receivesNothingOf(p2.id, ['audio']), m1.receivesNothingOf(p2.id, ['audio'])]);
        await host.receives(p1.id, 'video');
        await m1.receives(hostToken.identity, 'audio');

        // Admitted while it holds: told, and muted from the start.
        await admit(v.id, p3);
        await p3.channel!.next('notice', (m) => m.code === 'muted_by_host');
        m3 = await connect(v.id, p3);
        await host.receives(p3.id, 'video');
        await host.receivesNothingOf(p3.id, ['audio']);

        // Ask to unmute: their server mute lifted, they are asked; only admitted clients can be.
        expectStatus(await a.clinician.post(`/api/v1/visits/${v.id}/participants/${hostToken.identity}/ask-unmute`), 409, 'invalid_state');
        const asked = await a.clinician.post(`/api/v1/visits/${v.id}/participants/${p1.id}/ask-unmute`);
        assert.equal(asked.statusCode, 200, asked.body);
        await p1.channel!.next('notice', (m) => m.code === 'unmute_requested');
        await host.receives(p1.id, 'audio');
        await host.receivesNothingOf(p2.id, ['audio']);
        expectStatus(await b.admin.post(`/api/v1/visits/${v.id}/participants/${p1.id}/ask-unmute`), 404, 'not_found');

        // Lifted: the server's mutes go (nobody's microphone is turned on for them: no notice).
        const lifted = await a.clinician.post(`/api/v1/visits/${v.id}/mute-all`, { muted: false });
        assert.deepEqual([lifted.json().mutedAll, lifted.json().selfUnmute], [false, true]);
        await Promise.all([host.receives(p2.id, 'audio'), host.receives(p3.id, 'audio')]);
        assert.ok(!p2.channel!.told('unmute_requested'));

        // Sent back, then admitted with it lifted: not muted.
        const actions = await auditActions(t, a.orgId, v.id);
        assert.equal(actions.filter((x) => x === 'visit.muted_all').length, 2);
        assert.equal(actions.filter((x) => x === 'visit.unmuted_all').length, 1);
        assert.equal(actions.filter((x) => x === 'visit.unmute_requested').length, 1);
        assert.deepEqual(eventsOf(v.id, 'visit.muted_all'), [
          { visitId: v.id, muted: true, selfUnmute: true },
          { visitId: v.id, muted: true, selfUnmute: false },
          { visitId: v.id, muted: false, selfUnmute: true },
        ]);
        assert.deepEqual(eventsOf(v.id, 'visit.participant_unmute_requested'), [{ visitId: v.id, participantId: p1.id }]);
        const types = await until('webhook deliveries', async () => {
          const list = (await a.admin.get(`/api/v1/webhooks/${hook.webhook.id}/deliveries?limit=50`)).json().data as { eventType: string; payload: { data: Record<string, unknown> } }[];
          const mine = list.filter((d) => d.payload.data.visitId === v.id);
          return mine.length >= 4 ? mine.map((d) => d.eventType).sort() : undefined;
        });
        assert.deepEqual(types, ['participant.unmute_requested', 'visit.muted_all', 'visit.muted_all', 'visit.muted_all']);
      } finally {
        await a.admin.request('DELETE', `/api/v1/webhooks/${hook.webhook.id}`);
        for (const m of [host, m1, m2, m3]) await m?.close();
        for (const c of [p1, p2, p3]) c.channel!.ws.close();
      }
    });

    test('spotlight: an admitted participant or a host, for everyone through the room’s media policy; cleared when sent back; the mode and limit while it runs', async () => {
      const hook = (await a.admin.post('/api/v1/webhooks', { url: 'https://hooks.example.org/ov', events: ['visit.spotlight_changed'] })).json();
      const v = await groupVisit(a, ['Jo', 'Kim', 'Lu']);
      const [p1, p2, p3] = [await enter(v.id, v.patients[0]!), await enter(v.id, v.patients[1]!), await enter(v.id, v.patients[2]!)];
      await admit(v.id, p1);
      await admit(v.id, p2);
      const hostId: string = (await a.clinician.get(`/api/v1/visits/${v.id}`)).json().participants.find((p: { role: string }) => p.role === 'host').id;
      const spot = (participantId: string | null, who: Caller = a.clinician) => who.post(`/api/v1/visits/${v.id}/spotlight`, { participantId });

      const on = await spot(p1.id);
      assert.equal(on.statusCode, 200, on.body);
      assert.equal(on.json().spotlightParticipantId, p1.id);
      await p2.channel!.next('media', (m) => m.policy.spotlight === p1.id);
      await p1.channel!.next('media', (m) => m.policy.spotlight === p1.id);
      // Someone waiting cannot be; a host can; the body, the caller and the organisation are checked.
      const waiting = await spot(p3.id);
      expectStatus(waiting, 409, 'invalid_state');
      assert.equal((await spot(hostId)).json().spotlightParticipantId, hostId);
      await p2.channel!.next('media', (m) => m.policy.spotlight === hostId);
      const bad = await a.clinician.post(`/api/v1/visits/${v.id}/spotlight`, { participantId: 'nope' });
      expectStatus(bad, 400, 'validation_failed');
      assert.deepEqual(detailPaths(bad), ['body/participantId']);
      expectStatus(await a.clinician.post(`/api/v1/visits/${v.id}/spotlight`, {}), 400, 'validation_failed');
      expectStatus(await spot(p1.id, p1.who), 403, 'forbidden');
      expectStatus(await spot(p1.id, b.admin), 404, 'not_found');
      expectStatus(await spot(a.orgId), 404, 'not_found');
      const single = (await a.clinician.post('/api/v1/visits', { patientIds: [await patient(a, 'Solo')], start: true })).json();
      expectStatus(await a.clinician.post(`/api/v1/visits/${single.id}/spotlight`, { participantId: null }), 409, 'invalid_state');

      // Sent back: out of the spotlight, for everyone.
      assert.equal((await spot(p1.id)).statusCode, 200);
      await p2.channel!.next('media', (m) => m.policy.spotlight === p1.id);
      const heard = p2.channel!.messages.length;
      assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/participants/${p1.id}/return`)).statusCode, 200);
      assert.equal((await a.clinician.get(`/api/v1/visits/${v.id}`)).json().spotlightParticipantId, null);
      await until('the cleared policy', async () => (p2.channel!.messages.slice(heard).some((m) => m.type === 'media' && m.policy.spotlight === null) ? true : undefined));
      assert.deepEqual(eventsOf(v.id, 'visit.spotlight_changed'), [
        { visitId: v.id, participantId: p1.id },
        { visitId: v.id, participantId: hostId },
        { visitId: v.id, participantId: p1.id },
        { visitId: v.id, participantId: null },
      ]);
      const actions = await auditActions(t, a.orgId, v.id);
      assert.equal(actions.filter((x) => x === 'visit.spotlight_set').length, 4);

      // The mode, at once for everyone; the limit, never below those admitted now.
      const grid = await a.clinician.request('PATCH', `/api/v1/visits/${v.id}/group`, { mediaMode: 'grid' });
      assert.equal(grid.statusCode, 200, grid.body);
      assert.equal(grid.json().mediaMode, 'grid');
      await p2.channel!.next('media', (m) => m.policy.mode === 'grid');
      await admit(v.id, p3);
      const below = await a.clinician.request('PATCH', `/api/v1/visits/${v.id}/group`, { maxParticipants: 1 });
      expectStatus(below, 409, 'visit_full');
      assert.deepEqual(errorOf(below).details, { admitted: 2 });
      assert.notEqual((await a.clinician.get(`/api/v1/visits/${v.id}`)).json().maxParticipants, 1);
      const two = await a.clinician.request('PATCH', `/api/v1/visits/${v.id}/group`, { maxParticipants: 2 });
      assert.equal(two.statusCode, 200, two.body);
      assert.equal(two.json().maxParticipants, 2);
      expectStatus(await a.clinician.request('PATCH', `/api/v1/visits/${v.id}/group`, {}), 400, 'validation_failed');
      expectStatus(await a.clinician.request('PATCH', `/api/v1/visits/${v.id}/group`, { maxParticipants: 51 }), 400, 'validation_failed');
      expectStatus(await a.clinician.request('PATCH', `/api/v1/visits/${v.id}/group`, { mediaMode: 'theatre' }), 400, 'validation_failed');
      expectStatus(await b.admin.request('PATCH', `/api/v1/visits/${v.id}/group`, { mediaMode: 'grid' }), 404, 'not_found');
      expectStatus(await a.clinician.request('PATCH', `/api/v1/visits/${single.id}/group`, { mediaMode: 'grid' }), 409, 'invalid_state');
      assert.equal((await auditActions(t, a.orgId, v.id)).filter((x) => x === 'visit.group_updated').length, 2);
      assert.ok(eventsOf(v.id, 'visit.updated').length >= 2);

      const types = await until('webhook deliveries', async () => {
        const list = (await a.admin.get(`/api/v1/webhooks/${hook.webhook.id}/deliveries?limit=50`)).json().data as { eventType: string; payload: { data: Record<string, unknown> } }[];
        const mine = list.filter((d) => d.payload.data.visitId === v.id);
        return mine.length >= 4 ? mine.map((d) => d.eventType) : undefined;
      });
      assert.deepEqual(types, ['visit.spotlight_changed', 'visit.spotlight_changed', 'visit.spotlight_changed', 'visit.spotlight_changed']);
      await a.admin.request('DELETE', `/api/v1/webhooks/${hook.webhook.id}`);
      for (const c of [p1, p2, p3]) c.channel!.ws.close();
    });

    test('a host’s private message reaches one participant in the visit, listed only to them and staff', async () => {
      const v = await groupVisit(a, ['Hal', 'Ivy']);
      const [p1, p2] = [await enter(v.id, v.patients[0]!), await enter(v.id, v.patients[1]!)];
      await admit(v.id, p1);
      await admit(v.id, p2);
      const sent = await a.clinician.post(`/api/v1/visits/${v.id}/participants/${p1.id}/note`, { body: 'Stay a minute after, please.' });
      assert.equal(sent.statusCode, 201, sent.body);
      assert.equal(sent.json().toParticipantId, p1.id);
      const data = await p1.channel!.next('data', (m) => m.payload.includes('Stay a minute'));
      assert.equal(JSON.parse(data.payload).type, 'note');
      const listed = (who: Caller) => who.get(`/api/v1/visits/${v.id}/messages`).then((r) => (r.json().data as { body: string }[]).map((m) => m.body));
      assert.deepEqual(await listed(p1.who), ['Stay a minute after, please.']);
      assert.deepEqual(await listed(p2.who), [], 'not to the others');
      assert.deepEqual(await listed(a.admin), ['Stay a minute after, please.']);
      assert.ok(!p2.channel!.data.some((d) => d.payload.includes('Stay a minute')));
      // Not to a host; another organisation's visit is not found.
      const hostId = (await a.clinician.get(`/api/v1/visits/${v.id}`)).json().participants.find((p: { role: string }) => p.role === 'host').id;
      expectStatus(await a.clinician.post(`/api/v1/visits/${v.id}/participants/${hostId}/note`, { body: 'x' }), 409, 'invalid_state');
      expectStatus(await b.admin.post(`/api/v1/visits/${v.id}/participants/${p1.id}/note`, { body: 'x' }), 404, 'not_found');
      for (const c of [p1, p2]) c.channel!.ws.close();
    });
  });
}

// Twilio's Group rooms hold 50 connections: the host, 46 clients in the group and 3 sent back (still connected,
// isolated by rules), with 20 more waiting, held (no media token, not in Twilio's room); a 51st is refused at
// admission (visit_full, the provider's roomCapacity). Muting them all on the
// server would be `include all` and 48 excludes per participant under the old encoding (refused, 501); it is
// `include kind:video`, the host's audio and the 3 sent back, written once per participant.
if (SETUPS.some((s) => s.media === 'twilio')) {
  describe('group controls at 50 on Twilio (its fake)', () => {
    let t: TestApp;
    let a: TestOrg;

    before(async () => {
      t = await createTestApp('pglite', { env: ENV, media: 'twilio' });
      a = await createTestOrg(t.app);
    });
    after(() => t.close());

    test('a group of 50 with 20 waiting, muted by the server, fits Twilio’s 20 rules; asked to unmute, one more; nobody waiting is named', async () => {
      const patientIds: string[] = [];
      for (let i = 0; i < 69; i++) patientIds.push((await a.clinician.post('/api/v1/patients', { givenName: `P${i}`, familyName: 'Large' })).json().id);
      const v = (await a.clinician.post('/api/v1/visits', { kind: 'group', patientIds: patientIds.slice(0, 49), start: true })).json();
      assert.ok(v.id);
      const enter = async (patientId: string) => {
        const link = (await a.clinician.post(`/api/v1/visits/${v.id}/invites`, { role: 'patient', patientId })).json();
        const joined = (await a.anonymous.post('/api/v1/join', { token: link.token })).json();
        const who = caller(t.app, { authorization: `Bearer ${joined.session}` });
        await who.post(`/api/v1/visits/${v.id}/consents`, { kind: 'telehealth', version: joined.consentsRequired[0].version });
        const token = (await who.post(`/api/v1/visits/${v.id}/token`)).json();
        assert.equal(token.held, true, 'waiting on Twilio: held');
        return { id: token.identity as string, who };
      };
      const hostToken = (await a.clinician.post(`/api/v1/visits/${v.id}/token`)).json();
      const host = await t.media.join(hostToken);
      const clients: { id: string; who: Caller; media?: TestParticipant }[] = [];
      for (const p of patientIds.slice(0, 49)) clients.push(await enter(p));
      const waiting: string[] = [];
      for (const p of patientIds.slice(49)) waiting.push((await enter(p)).id);
      try {
        for (const c of clients) {
          assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/participants/${c.id}/admit`)).statusCode, 200);
          c.media = await t.media.join((await c.who.post(`/api/v1/visits/${v.id}/token`)).json());
        }
        const sentBack = clients.slice(46).map((c) => c.id);
        for (const id of sentBack) assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/participants/${id}/return`)).statusCode, 200);
        // Two of those waiting denied: revoked, but they never held a token, so still never named.
        for (const id of waiting.slice(0, 2)) assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/participants/${id}/deny`)).statusCode, 200);
        await t.media.settle();
        const fake = t.media.twilio!.fake;
        const roomId: string = (await a.clinician.get(`/api/v1/rooms/visit-${v.id}`)).json().id;
        const room = () => fake.room(roomId)!;
        assert.equal(room().participants.filter((p) => p.status === 'connected').length, 50);
        // Twilio's room is full (the group's own limit, 50 clients, is not reached: 46 admitted): someone held is
        // refused before they connect, in words that say why; someone sent back, still connected, is not.
        const full = await a.clinician.post(`/api/v1/visits/${v.id}/participants/${waiting[2]}/admit`);
        expectStatus(full, 409, 'visit_full');
        assert.deepEqual(errorOf(full).details, { capacity: 50, connected: 50 });
        assert.match(errorOf(full).message, /holds 50 people in one room/);
        assert.equal((await a.clinician.get(`/api/v1/visits/${v.id}`)).json().participants.find((p: { id: string }) => p.id === waiting[2]).admission, 'waiting');
        assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/participants/${sentBack[2]}/admit`)).statusCode, 200, 'connected already: no new seat');
        assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/participants/${sentBack[2]}/return`)).statusCode, 200);
        await t.media.settle();

        const writesBefore = fake.requests.filter((r) => r.path.endsWith('/SubscribeRules')).length;
        const muted = await a.clinician.post(`/api/v1/visits/${v.id}/mute-all`, { muted: true, selfUnmute: false });
        assert.equal(muted.statusCode, 200, muted.body);
        await t.media.settle();
        const writes = fake.requests.filter((r) => r.path.endsWith('/SubscribeRules')).length - writesBefore;
        assert.ok(writes <= 50, `one rewrite per connected participant at most, not one per muted person (${writes})`);

        const [c0, c1, c2] = clients;
        const excluded = sentBack.slice().sort().map((publisher) => ({ type: 'exclude', publisher }));
        assert.deepEqual(room().subscribeRules[c0!.id], [{ type: 'include', kind: 'video' }, { type: 'include', publisher: hostToken.identity, kind: 'audio' }, ...excluded]);
        assert.deepEqual(room().subscribeRules[hostToken.identity], [{ type: 'include', kind: 'video' }, ...excluded]);
        for (const [identity, rules] of Object.entries(room().subscribeRules)) {
          assert.ok(rules && rules.length <= 20, `${identity}: ${rules?.length}`);
          for (const w of waiting) assert.ok(!JSON.stringify(rules).includes(w), 'nobody waiting (held) is named');
        }
        await c0!.media!.receives(hostToken.identity, 'audio');
        await c0!.media!.receives(c1!.id, 'video');
        await Promise.all([c0!.media!.receivesNothingOf(c1!.id, ['audio']), host.receivesNothingOf(c2!.id, ['audio']), c0!.media!.receivesNothingOf(sentBack[0]!)]);

        // Asked to unmute: one audio include more, at everyone.
        assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/participants/${c1!.id}/ask-unmute`)).statusCode, 200);
        await t.media.settle();
        const withC1 = [{ type: 'include', publisher: c1!.id, kind: 'audio' }, { type: 'include', publisher: hostToken.identity, kind: 'audio' }].sort((x, y) => x.publisher.localeCompare(y.publisher));
        assert.deepEqual(room().subscribeRules[c0!.id], [{ type: 'include', kind: 'video' }, ...withC1, ...excluded]);
        await Promise.all([c0!.media!.receives(c1!.id, 'audio'), host.receives(c1!.id, 'audio')]);

        // Lifted: `include all` and the three sent back again.
        assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/mute-all`, { muted: false })).statusCode, 200);
        await t.media.settle();
        assert.deepEqual(room().subscribeRules[c0!.id], [{ type: 'include', all: true }, ...excluded]);
        await c0!.media!.receives(c2!.id, 'audio');
      } finally {
        await host.close();
        for (const c of clients) await c.media?.close();
      }
    });
  });
}
