// Check-in calls (src/server/checkins): through the HTTP API on both databases and both media providers (SETUPS),
// with real media participants (t.media.join): who may get a token, every state transition (the server's timer at a
// 5 s limit, ended early by either party, declined, cancelled, missed, failed no_connection / provider_error), a
// party dropping and coming back, both gone, a restart in the middle of a call and one past its limit, the text
// fallback (not online → a text with a link; online → none; quiet hours → none), history, stats, tenancy, webhooks
// and the audit trail. On Twilio the fake's room is asserted `completed` by the server at the limit.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { and, eq } from 'drizzle-orm';
import { careMembers, checkinCalls, messages } from '../src/server/db/schema.js';
import { roomTimes } from '../src/server/rooms/queries.js';
import type { MediaProvider } from '../src/server/rooms/provider.js';
import type { Checkin } from '../src/shared/api/checkins.js';
import { createTestApp, freePort, SETUPS, type TestApp, type TestParticipant } from './helpers/app.js';
import { auditActions } from './helpers/audit.js';
import { caller, createTestOrg, expectStatus, type Caller, type TestOrg } from './helpers/builders.js';
import { newTwilioCredentials, startTwilioFake } from './helpers/twilio-media.js';
import { createTestDatabase } from './helpers/db.js';
import { getCall, json, newCircle, untilCall, type Circle } from './helpers/checkins.js';
import { waitFor } from './helpers/messaging.js';

const LIMIT_S = 5;
const ENV = { CHECKIN_TEXT_AFTER_SECONDS: '1', CHECKIN_RECONNECT_SECONDS: '5', LOGIN_RATE_LIMIT_PER_MINUTE: '10000', TOKEN_RATE_LIMIT_PER_MINUTE: '100000' };

interface Token {
  token: string;
  identity: string;
  room: string;
  provider: string;
  held: boolean;
  expiresIn: number;
  checkin: Checkin;
}

for (const setup of SETUPS) {
  describe(`check-in calls on ${setup.label}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;
    let circle: Circle;
    /** Set to make the provider refuse the next room. */
    let refuseRooms = false;

    before(async () => {
      t = await createTestApp(setup.db, {
        env: ENV,
        media: setup.media,
        wrap: (provider) =>
          new Proxy(provider, {
            get(target, prop) {
              if (prop === 'createRoom' && refuseRooms) return () => Promise.reject(new Error('the provider refused the room'));
              const value = Reflect.get(target, prop, target) as unknown;
              return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
            },
          }) as MediaProvider,
      });
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
      circle = await newCircle(t, a);
    });
    after(() => t.close());

    /** The staff caregiver calls the recipient now (they have answered: only the recipient rings). */
    async function ring(durationSeconds = LIMIT_S, c: Circle = circle): Promise<Checkin> {
      return json<Checkin>(await c.caregiver.staff.post('/api/v1/checkins', { calleeMemberId: c.recipient.memberId, durationSeconds }), 201);
    }
    /** The caregiver's token (their staff session); the recipient's through the host app's API key naming it. */
    async function callerToken(id: string, c: Circle = circle): Promise<Token> {
      return json<Token>(await c.caregiver.staff.post(`/api/v1/checkins/${id}/token`, {}));
    }
    /** The recipient answers on its own device (its member session). */
    async function calleeToken(id: string, c: Circle = circle): Promise<Token> {
      return json<Token>(await c.recipient.session.post(`/api/v1/checkins/${id}/token`, {}));
    }
    async function roomIdOf(id: string): Promise<string> {
      const [row] = await t.database.db.select({ roomId: checkinCalls.roomId }).from(checkinCalls).where(eq(checkinCalls.id, id));
      return row!.roomId!;
    }
    /** A call both parties joined with media: active. */
    async function activeCall(durationSeconds = LIMIT_S, c: Circle = circle): Promise<{ call: Checkin; caller: TestParticipant; callee: TestParticipant }> {
      const created = await ring(durationSeconds, c);
      const [ct, rt] = await Promise.all([callerToken(created.id, c), calleeToken(created.id, c)]);
      const [caller, callee] = await Promise.all([t.media.join(ct), t.media.join(rt)]);
      const call = await untilCall(a.admin, created.id, (x) => x.status === 'active', 'active');
      return { call, caller, callee };
    }

    test('access: the two parties get a token (identity = member id); a third member, staff who are not parties, another org cannot', async () => {
      const call = await ring();
      assert.equal(call.status, 'ringing');
      assert.ok(call.caller.answeredAt, 'the caller who asks has answered');
      assert.equal(call.callee.answeredAt, null);
      assert.equal(call.caller.memberId, circle.caregiver.memberId);
      assert.equal(call.callee.kind, 'recipient');
      assert.equal(call.callee.displayName, 'Mia Texter');
      const mine = await callerToken(call.id);
      assert.equal(mine.identity, circle.caregiver.memberId);
      assert.equal(mine.held, false);
      assert.equal(mine.provider, setup.media);
      assert.ok(mine.expiresIn >= LIMIT_S + 60, 'mine.expiresIn >= LIMIT_S + 60');
      // The family member (a third member of the circle), signed in or named by the host app: not a party.
      expectStatus(await circle.family.session.post(`/api/v1/checkins/${call.id}/token`, {}), 403, 'checkin_not_party');
      expectStatus(await circle.family.session.post(`/api/v1/checkins/${call.id}/token`, { memberId: circle.recipient.memberId }), 403, 'checkin_not_party');
      expectStatus(await a.apiKey.post(`/api/v1/checkins/${call.id}/token`, { memberId: circle.family.memberId }), 403, 'checkin_not_party');
      // A member session sees the calls it is a party to (the recipient's device: its circle's); the family member not this one.
      expectStatus(await circle.family.session.get(`/api/v1/checkins/${call.id}`), 404, 'not_found');
      assert.equal(json<{ data: Checkin[] }>(await circle.family.session.get('/api/v1/checkins')).data.length, 0);
      assert.equal(json<Checkin>(await circle.recipient.session.get(`/api/v1/checkins/${call.id}`)).id, call.id);
      // A member session is refused on staff routes.
      expectStatus(await circle.recipient.session.get(`/api/v1/care/recipients/${circle.recipientId}/schedules`), 403, 'forbidden');
      // Staff who are not parties never get a media token, whatever their role.
      expectStatus(await a.admin.post(`/api/v1/checkins/${call.id}/token`, {}), 403, 'checkin_not_party');
      expectStatus(await a.clinician.post(`/api/v1/checkins/${call.id}/token`, {}), 403, 'checkin_not_party');
      expectStatus(await a.caregiver.post(`/api/v1/checkins/${call.id}/token`, {}), 403, 'checkin_not_party');
      // An API key must name the party.
      expectStatus(await a.apiKey.post(`/api/v1/checkins/${call.id}/token`, {}), 400, 'validation_failed');
      // Another organisation does not see the call at all.
      expectStatus(await b.admin.post(`/api/v1/checkins/${call.id}/token`, {}), 404, 'not_found');
      expectStatus(await b.apiKey.post(`/api/v1/checkins/${call.id}/token`, { memberId: circle.recipient.memberId }), 404, 'not_found');
      // The host app's key, naming a party, gets that party's token; so does the recipient's own device.
      const byKey = json<Token>(await a.apiKey.post(`/api/v1/checkins/${call.id}/token`, { memberId: circle.recipient.memberId }));
      assert.equal(byKey.identity, circle.recipient.memberId);
      const theirs = await calleeToken(call.id);
      assert.equal(theirs.identity, circle.recipient.memberId);
      assert.ok(theirs.checkin.callee.answeredAt, 'theirs.checkin.callee.answeredAt');
      // A call in a final state: 410 checkin_over with its status.
      json(await circle.caregiver.staff.post(`/api/v1/checkins/${call.id}/end`, {}));
      const res = await circle.caregiver.staff.post(`/api/v1/checkins/${call.id}/token`, {});
      expectStatus(res, 410, 'checkin_over');
      assert.deepEqual(res.json().error.details, { status: 'cancelled' });
    });

    test('ringing → active → completed by the server’s timer at the limit; media flowed; audited; the room ended (Twilio: completed)', async () => {
      const { call, caller, callee } = await activeCall();
      await Promise.all([caller.receives(circle.recipient.memberId, 'video'), callee.receives(circle.caregiver.memberId, 'audio')]);
      assert.ok(call.startedAt, 'call.startedAt');
      assert.ok(call.caller.joinedAt && call.callee.joinedAt, 'call.caller.joinedAt && call.callee.joinedAt');
      assert.equal(Date.parse(call.endsAt!), Date.parse(call.startedAt) + LIMIT_S * 1000);
      const roomId = await roomIdOf(call.id);
      const deadline = await roomTimes(t.app.rooms, { orgId: a.orgId }, roomId);
      assert.equal(deadline?.deadlineReason, 'time_limit');
      assert.equal(deadline?.endsAt?.toISOString(), call.endsAt);
      const done = await untilCall(a.admin, call.id, (x) => x.status === 'completed', 'completed', 15_000);
      assert.equal(done.endReason, 'time_limit');
      near(done.durationMs, LIMIT_S * 1000);
      assert.equal(Date.parse(done.completedAt!) - Date.parse(done.startedAt!), done.durationMs);
      await Promise.all([caller.disconnected(), callee.disconnected()]);
      if (t.media.twilio) assert.equal(t.media.twilio.fake.room(roomId)?.status, 'completed', 'the server completed the Twilio room');
      else assert.equal(t.media.isLive(roomId), false);
      const actions = await auditActions(t, a.orgId, call.id);
      assert.deepEqual(actions.filter((x) => x !== 'checkin.token_issued'), ['checkin.requested', 'checkin.ringing', 'checkin.answered', 'checkin.active', 'checkin.completed']);
      assert.equal(actions.filter((x) => x === 'checkin.token_issued').length, 2);
      await Promise.all([caller.close(), callee.close()]);
    });

    test('ended early by either party: completed ended_early, by whom; the room ends for both', async () => {
      const first = await activeCall(60);
      const byCallee = json<Checkin>(await circle.recipient.session.post(`/api/v1/checkins/${first.call.id}/end`, {}));
      assert.equal(byCallee.status, 'completed');
      assert.equal(byCallee.endReason, 'ended_early');
      assert.equal(byCallee.endedByMemberId, circle.recipient.memberId);
      assert.ok(byCallee.durationMs !== null && byCallee.durationMs < 10_000, 'byCallee.durationMs !== null && byCallee.durationMs < 10_000');
      await Promise.all([first.caller.disconnected(), first.callee.disconnected()]);
      const second = await activeCall(60);
      const byCaller = json<Checkin>(await circle.caregiver.staff.post(`/api/v1/checkins/${second.call.id}/end`, {}));
      assert.equal(byCaller.endReason, 'ended_early');
      assert.equal(byCaller.endedByMemberId, circle.caregiver.memberId);
      expectStatus(await circle.caregiver.staff.post(`/api/v1/checkins/${second.call.id}/end`, {}), 410, 'checkin_over');
      await Promise.all([second.caller.disconnected(), second.callee.disconnected()]);
      await Promise.all([first.caller.close(), first.callee.close(), second.caller.close(), second.callee.close()]);
    });

    test('declined (by the callee: decline, or end before active), cancelled (by the caller, or staff); the room ends with it', async () => {
      const d1 = await ring();
      const declined = json<Checkin>(await circle.recipient.session.post(`/api/v1/checkins/${d1.id}/decline`, {}));
      assert.equal(declined.status, 'declined');
      assert.equal(declined.endReason, 'declined');
      assert.equal(declined.endedByMemberId, circle.recipient.memberId);
      const room = await roomTimes(t.app.rooms, { orgId: a.orgId }, await roomIdOf(d1.id));
      assert.equal(room?.status, 'completed');
      const d2 = await ring();
      assert.equal(json<Checkin>(await a.apiKey.post(`/api/v1/checkins/${d2.id}/end`, { memberId: circle.recipient.memberId })).status, 'declined');
      const c1 = await ring();
      const cancelled = json<Checkin>(await circle.caregiver.staff.post(`/api/v1/checkins/${c1.id}/end`, {}));
      assert.equal(cancelled.status, 'cancelled');
      assert.equal(cancelled.endReason, 'cancelled');
      const c2 = await ring();
      const byStaff = json<Checkin>(await a.clinician.post(`/api/v1/checkins/${c2.id}/end`, {}));
      assert.equal(byStaff.status, 'cancelled');
      assert.equal(byStaff.endedByMemberId, null);
      // Only a party declines; a decided call cannot be declined again.
      expectStatus(await a.admin.post(`/api/v1/checkins/${c1.id}/decline`, {}), 403, 'checkin_not_party');
      expectStatus(await a.apiKey.post(`/api/v1/checkins/${d1.id}/decline`, { memberId: circle.recipient.memberId }), 410, 'checkin_over');
      assert.deepEqual(await auditActions(t, a.orgId, d1.id), ['checkin.requested', 'checkin.ringing', 'checkin.declined']);
      assert.deepEqual(await auditActions(t, a.orgId, c2.id), ['checkin.requested', 'checkin.ringing', 'checkin.cancelled']);
    });

    test('missed when the ring window passes unanswered (the caller is told); failed no_connection when both answered but never connected', async () => {
      const missed = await ring();
      const answered = await ring();
      await Promise.all([callerToken(answered.id), calleeToken(answered.id)]);
      // The windows pass (rows moved back in time: the running sweep decides).
      await t.database.db.update(checkinCalls).set({ ringExpiresAt: new Date(Date.now() - 1000) }).where(eq(checkinCalls.id, missed.id));
      const token = await a.apiKey.post(`/api/v1/checkins/${missed.id}/token`, { memberId: circle.recipient.memberId });
      expectStatus(token, 410, 'checkin_over');
      const m = await untilCall(a.admin, missed.id, (x) => x.status === 'missed', 'missed', 5000);
      assert.equal(m.endReason, 'no_answer');
      const missedRoom = await roomIdOf(missed.id);
      await waitFor('the missed call’s room to end', async () => ((await roomTimes(t.app.rooms, { orgId: a.orgId }, missedRoom))?.status === 'completed' ? true : undefined));
      // Both answered: failed only after the connect grace (60 s) past the window.
      await t.database.db.update(checkinCalls).set({ ringExpiresAt: new Date(Date.now() - 30_000) }).where(eq(checkinCalls.id, answered.id));
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await getCall(a.admin, answered.id)).status, 'ringing');
      await t.database.db.update(checkinCalls).set({ ringExpiresAt: new Date(Date.now() - 61_000) }).where(eq(checkinCalls.id, answered.id));
      const f = await untilCall(a.admin, answered.id, (x) => x.status === 'failed', 'failed', 5000);
      assert.equal(f.endReason, 'no_connection');
      assert.deepEqual(await auditActions(t, a.orgId, missed.id), ['checkin.requested', 'checkin.ringing', 'checkin.missed']);
    });

    test('failed provider_error: the provider refuses the room (answered as the rooms layer maps it)', async () => {
      refuseRooms = true;
      let res;
      try {
        res = await circle.caregiver.staff.post('/api/v1/checkins', { calleeMemberId: circle.recipient.memberId, durationSeconds: LIMIT_S });
      } finally {
        refuseRooms = false;
      }
      expectStatus(res, 502, 'provider_error');
      const list = json<{ data: Checkin[] }>(await a.admin.get(`/api/v1/checkins?status=failed&recipientId=${circle.recipientId}`));
      const failed = list.data.find((c) => c.endReason === 'provider_error');
      assert.ok(failed, 'the call is recorded failed');
      assert.deepEqual(await auditActions(t, a.orgId, failed.id), ['checkin.requested', 'checkin.failed']);
    });

    test('a party who drops and comes back continues the same call; both gone ends it `disconnected` after the grace', async () => {
      const c2 = await newCircle(t, a);
      // Drop and return: the same call, the same start, completed at its limit.
      const one = await activeCall(LIMIT_S, c2);
      await one.callee.leave();
      await t.media.settle();
      const back = await t.media.join(await calleeToken(one.call.id, c2));
      await back.receives(c2.caregiver.memberId, 'audio');
      const still = await getCall(a.admin, one.call.id);
      assert.equal(still.status, 'active');
      assert.equal(still.startedAt, one.call.startedAt);
      const done = await untilCall(a.admin, one.call.id, (x) => x.status === 'completed', 'completed', 15_000);
      assert.equal(done.endReason, 'time_limit');
      near(done.durationMs, LIMIT_S * 1000);
      await Promise.all([one.caller.close(), one.callee.close(), back.close()]);

      // Both gone: the deadline moves to now + the grace (5 s), `disconnected`; one back restores the limit.
      const two = await activeCall(60, c2);
      await Promise.all([two.caller.leave(), two.callee.leave()]);
      await t.media.settle();
      const roomId = await roomIdOf(two.call.id);
      const moved = await waitFor('the deadline to move', async () => {
        const r = await roomTimes(t.app.rooms, { orgId: a.orgId }, roomId);
        return r?.deadlineReason === 'disconnected' ? r : undefined;
      });
      assert.ok(moved.endsAt!.getTime() < Date.parse(two.call.endsAt!), 'moved.endsAt!.getTime() < Date.parse(two.call.endsAt!)');
      const returned = await t.media.join(await callerToken(two.call.id, c2));
      await t.media.settle();
      const restored = await waitFor('the limit to stand again', async () => {
        const r = await roomTimes(t.app.rooms, { orgId: a.orgId }, roomId);
        return r?.deadlineReason === 'time_limit' ? r : undefined;
      });
      assert.equal(restored.endsAt!.toISOString(), two.call.endsAt);
      await returned.leave();
      await t.media.settle();
      const gone = await untilCall(a.admin, two.call.id, (x) => x.status === 'completed', 'completed', 15_000);
      assert.equal(gone.endReason, 'disconnected');
      assert.ok(gone.durationMs! < 60_000, 'gone.durationMs! < 60_000');
      await Promise.all([two.caller.close(), two.callee.close(), returned.close()]);
    });

    test('the text fallback: a recipient not online gets a text with the call’s link; one whose app rang gets none', async () => {
      // The default quiet hours (21:00–08:00 in the patient's zone, UTC here) would hold the text past the ring window
      // when this runs at night (the next test covers that); this one is about the text, so they are set away from now.
      const hm = (d: Date) => d.toISOString().slice(11, 16);
      const now = Date.now();
      json(await a.admin.request('PATCH', '/api/v1/messaging/settings', { quietHours: { start: hm(new Date(now + 6 * 3600_000)), end: hm(new Date(now + 7 * 3600_000)) } }));
      const c3 = await newCircle(t, a, { phone: '+15555550111' });
      const offline = await ring(LIMIT_S, c3);
      const online = await ring(LIMIT_S, c3);
      json(await c3.recipient.session.post(`/api/v1/checkins/${online.id}/ring`, {}));
      const texted = await untilCall(a.admin, offline.id, (x) => x.textSent, 'texted', 10_000);
      assert.equal(texted.status, 'ringing');
      const [row] = await t.database.db.select().from(checkinCalls).where(eq(checkinCalls.id, offline.id));
      const res = await a.admin.get(`/api/v1/messages/${row!.textMessageId}`);
      const message = json<{ purpose: string; body: string; patientId: string }>(res);
      assert.equal(message.purpose, 'checkin_notice');
      assert.equal(message.patientId, c3.recipientId);
      assert.match(message.body, /is calling you now/);
      assert.match(message.body, /\/care\?t=ovc_/);
      await new Promise((r) => setTimeout(r, 1500));
      assert.equal((await getCall(a.admin, online.id)).textSent, false);
      const sent = await t.database.db.select().from(messages).where(and(eq(messages.orgId, a.orgId), eq(messages.patientId, c3.recipientId)));
      assert.equal(sent.length, 1, 'one text for the call not shown, none for the one that rang');
      assert.ok((await auditActions(t, a.orgId, offline.id)).includes('checkin.text_queued'), '(await auditActions(t, a.orgId, offline.id)).includes(checki');
      assert.ok((await auditActions(t, a.orgId, online.id)).includes('checkin.alerted'), '(await auditActions(t, a.orgId, online.id)).includes(checkin');
      await Promise.all([offline, online].map((c) => c3.caregiver.staff.post(`/api/v1/checkins/${c.id}/end`, {})));
    });

    test('the text fallback in quiet hours is not sent (it could not go within the ring window)', async () => {
      const c = await createTestOrg(t.app);
      const now = new Date();
      const hm = (d: Date) => d.toISOString().slice(11, 16);
      json(await c.admin.request('PATCH', '/api/v1/messaging/settings', { quietHours: { start: hm(new Date(now.getTime() - 3600_000)), end: hm(new Date(now.getTime() + 3600_000)) } }));
      const c4 = await newCircle(t, c);
      const call = json<Checkin>(await c4.caregiver.staff.post('/api/v1/checkins', { calleeMemberId: c4.recipient.memberId, durationSeconds: LIMIT_S }), 201);
      await waitFor('the text to be considered', async () => ((await t.database.db.select().from(checkinCalls).where(eq(checkinCalls.id, call.id)))[0]!.textQueuedAt ? true : undefined));
      assert.equal((await getCall(c.admin, call.id)).textSent, false);
      const sent = await t.database.db.select().from(messages).where(eq(messages.orgId, c.orgId));
      assert.equal(sent.length, 0);
      json(await c4.caregiver.staff.post(`/api/v1/checkins/${call.id}/end`, {}));
    });

    test('history: filters, pagination, stats; a caregiver sees the org’s; another org sees none', async () => {
      const c5 = await newCircle(t, a);
      const made: Checkin[] = [];
      for (let i = 0; i < 5; i++) made.push(await ring(LIMIT_S, c5));
      json(await c5.caregiver.staff.post(`/api/v1/checkins/${made[0]!.id}/end`, {}));
      json(await a.apiKey.post(`/api/v1/checkins/${made[1]!.id}/decline`, { memberId: c5.recipient.memberId }));
      await t.database.db.update(checkinCalls).set({ status: 'completed', endReason: 'time_limit', durationMs: 5000, startedAt: new Date(), completedAt: new Date() }).where(eq(checkinCalls.id, made[2]!.id));
      await t.database.db.update(checkinCalls).set({ status: 'completed', endReason: 'time_limit', durationMs: 7000, startedAt: new Date(), completedAt: new Date() }).where(eq(checkinCalls.id, made[3]!.id));
      json(await c5.caregiver.staff.post(`/api/v1/checkins/${made[4]!.id}/end`, {}));

      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page: { data: Checkin[]; nextCursor: string | null } = json(await a.admin.get(`/api/v1/checkins?recipientId=${c5.recipientId}&limit=2${cursor ? `&cursor=${cursor}` : ''}`));
        assert.ok(page.data.length <= 2, 'page.data.length <= 2');
        seen.push(...page.data.map((c) => c.id));
        cursor = page.nextCursor;
      } while (cursor);
      assert.deepEqual(seen, made.map((c) => c.id).reverse(), 'newest first, each once');
      const completed = json<{ data: Checkin[] }>(await a.admin.get(`/api/v1/checkins?recipientId=${c5.recipientId}&status=completed`));
      assert.deepEqual(completed.data.map((c) => c.id).sort(), [made[2]!.id, made[3]!.id].sort());
      const byMember = json<{ data: Checkin[] }>(await a.apiKey.get(`/api/v1/checkins?memberId=${c5.caregiver.memberId}`));
      assert.equal(byMember.data.length, 5);
      const today = new Date().toISOString().slice(0, 10);
      assert.equal(json<{ data: Checkin[] }>(await a.admin.get(`/api/v1/checkins?recipientId=${c5.recipientId}&from=${today}&to=${today}`)).data.length, 5);
      assert.equal(json<{ data: Checkin[] }>(await a.admin.get(`/api/v1/checkins?recipientId=${c5.recipientId}&to=2020-01-01`)).data.length, 0);
      expectStatus(await a.admin.get('/api/v1/checkins?cursor=bogus'), 400, 'invalid_cursor');

      const stats = json<{ total: number; byStatus: Record<string, number>; completionRate: number; averageDurationMs: number }>(await a.caregiver.get(`/api/v1/checkins/stats?recipientId=${c5.recipientId}`));
      assert.equal(stats.total, 5);
      assert.deepEqual(stats.byStatus, { cancelled: 2, declined: 1, completed: 2 });
      assert.equal(stats.completionRate, 2 / 3);
      assert.equal(stats.averageDurationMs, 6000);

      // Another organisation: nothing of a's.
      expectStatus(await b.admin.get(`/api/v1/checkins/${made[0]!.id}`), 404, 'not_found');
      assert.equal(json<{ data: Checkin[] }>(await b.admin.get(`/api/v1/checkins?recipientId=${c5.recipientId}`)).data.length, 0);
      assert.equal(json<{ total: number }>(await b.apiKey.get('/api/v1/checkins/stats')).total, 0);
      // Nor can it call a's members.
      expectStatus(await b.apiKey.post('/api/v1/checkins', { callerMemberId: c5.caregiver.memberId, calleeMemberId: c5.recipient.memberId }), 404, 'not_found');
    });

    test('requests: permissions (can start / can receive), the same circle, staff caregivers only as themselves', async () => {
      const c6 = await newCircle(t, a);
      const other = await newCircle(t, a);
      expectStatus(await a.apiKey.post('/api/v1/checkins', { callerMemberId: c6.caregiver.memberId, calleeMemberId: other.recipient.memberId }), 400, 'validation_failed');
      expectStatus(await a.apiKey.post('/api/v1/checkins', { callerMemberId: c6.caregiver.memberId, calleeMemberId: c6.caregiver.memberId }), 400, 'validation_failed');
      expectStatus(await a.apiKey.post('/api/v1/checkins', { calleeMemberId: c6.recipient.memberId }), 400, 'validation_failed');
      // A staff caregiver of another circle cannot call as someone else.
      expectStatus(await other.caregiver.staff.post('/api/v1/checkins', { callerMemberId: c6.caregiver.memberId, calleeMemberId: c6.recipient.memberId }), 403, 'care_permission');
      await t.database.db.update(careMembers).set({ canReceive: false }).where(eq(careMembers.id, c6.family.memberId));
      const refused = await a.apiKey.post('/api/v1/checkins', { callerMemberId: c6.recipient.memberId, calleeMemberId: c6.family.memberId });
      expectStatus(refused, 403, 'care_permission');
      // A host app's call rings both parties; staff (admin) may request one between two members.
      const byKey = json<Checkin>(await a.apiKey.post('/api/v1/checkins', { callerMemberId: c6.recipient.memberId, calleeMemberId: c6.caregiver.memberId, durationSeconds: 600, ringSeconds: 15 }), 201);
      assert.equal(byKey.caller.answeredAt, null);
      assert.equal(byKey.durationLimitSeconds, 600);
      assert.ok(Date.parse(byKey.ringExpiresAt) - Date.parse(byKey.createdAt) <= 16_000, 'Date.parse(byKey.ringExpiresAt) - Date.parse(byKey.createdAt');
      json(await a.admin.post(`/api/v1/checkins/${byKey.id}/end`, {}));
      expectStatus(await a.apiKey.post('/api/v1/checkins', { callerMemberId: c6.recipient.memberId, calleeMemberId: c6.caregiver.memberId, durationSeconds: 4 }), 400, 'validation_failed');
    });

    test('ringing on the hub: the parties’ member sockets get the call’s events (missed too), nobody else’s member socket does', async () => {
      const base = await t.listen();
      const c7 = await newCircle(t, a);
      const other = await newCircle(t, a);
      const open = async (who: Caller) => {
        const ws = new WebSocket(`${base.replace('http', 'ws')}/api/v1/events`, { headers: who.headers });
        const got: { type: string; data: Record<string, unknown> }[] = [];
        ws.on('message', (raw) => {
          const m = JSON.parse(String(raw)) as { type: string; event?: { type: string; data: Record<string, unknown> } };
          if (m.type === 'event' && m.event) got.push(m.event);
        });
        await new Promise<void>((resolve, reject) => {
          ws.once('message', () => resolve());
          ws.once('error', reject);
        });
        return { ws, got };
      };
      const [recipient, family, stranger] = await Promise.all([open(c7.recipient.session), open(c7.family.session), open(other.recipient.session)]);
      try {
        const call = await ring(LIMIT_S, c7);
        await waitFor('the ring', () => recipient.got.some((e) => e.type === 'checkin.ringing' && e.data.checkinId === call.id) || undefined);
        const ringing = recipient.got.find((e) => e.type === 'checkin.ringing')!;
        assert.deepEqual(ringing.data.memberIds, [c7.caregiver.memberId, c7.recipient.memberId]);
        await t.database.db.update(checkinCalls).set({ ringExpiresAt: new Date(Date.now() - 1000) }).where(eq(checkinCalls.id, call.id));
        await waitFor('the missed call', () => recipient.got.some((e) => e.type === 'checkin.missed' && e.data.checkinId === call.id) || undefined);
        assert.deepEqual(family.got, [], 'the circle’s third member hears nothing of a call it is not in');
        assert.deepEqual(stranger.got, [], 'another circle hears nothing');
        assert.ok(recipient.got.every((e) => e.type.startsWith('checkin.')), 'only the call’s events');
      } finally {
        for (const s of [recipient, family, stranger]) s.ws.terminate();
      }
    });

    test('webhooks: a checkin.* subscription gets the call’s events (ids only)', async () => {
      const got: { type: string; data: Record<string, unknown> }[] = [];
      const server: Server = createServer((req, res) => {
        let body = '';
        req.on('data', (c) => (body += c));
        req.on('end', () => {
          got.push(JSON.parse(body));
          res.writeHead(200).end('ok');
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
        json(await a.admin.post('/api/v1/webhooks', { url, events: ['checkin.*'] }), 201);
        const call = await ring();
        json(await circle.caregiver.staff.post(`/api/v1/checkins/${call.id}/end`, {}));
        const events = await waitFor('the deliveries', () => {
          const mine = got.filter((e) => e.data.checkinId === call.id).map((e) => e.type);
          return mine.length >= 3 ? mine : undefined;
        });
        assert.deepEqual(events.sort(), ['checkin.cancelled', 'checkin.requested', 'checkin.ringing']);
        const sample = got.find((e) => e.data.checkinId === call.id)!;
        assert.deepEqual(Object.keys(sample.data).sort(), ['calleeMemberId', 'callerMemberId', 'checkinId', 'endReason', 'memberIds', 'recipientId', 'status']);
        assert.ok(!got.some((e) => !e.type.startsWith('checkin.')), 'only checkin.* events');
      } finally {
        await new Promise<void>((r) => server.close(() => r()));
      }
    });
  });

  describe(`check-in calls across a restart on ${setup.label}`, () => {
    test('a call in progress completes at its limit under the new app; one past its limit is ended at once with its true duration', async () => {
      const database = await createTestDatabase(setup.db);
      const port = setup.media === 'twilio' ? await freePort() : undefined;
      // Twilio outlives the restart: one fake for both apps.
      const credentials = newTwilioCredentials();
      const twilio = setup.media === 'twilio' ? { credentials, fake: await startTwilioFake(credentials) } : undefined;
      const shared = { env: ENV, media: setup.media, database, ...(port ? { port } : {}), ...(twilio ? { twilio } : {}) };
      const first = await createTestApp(setup.db, shared);
      let second: TestApp | undefined;
      const people: TestParticipant[] = [];
      try {
        const a = await createTestOrg(first.app);
        const circle = await newCircle(first, a);
        const start = async (durationSeconds: number) => {
          const call = json<Checkin>(await circle.caregiver.staff.post('/api/v1/checkins', { calleeMemberId: circle.recipient.memberId, durationSeconds }), 201);
          const ct = json<Token>(await circle.caregiver.staff.post(`/api/v1/checkins/${call.id}/token`, {}));
          const rt = json<Token>(await circle.recipient.session.post(`/api/v1/checkins/${call.id}/token`, {}));
          const people = await Promise.all([first.media.join(ct), first.media.join(rt)]);
          return { call: await untilCall(a.admin, call.id, (x) => x.status === 'active', 'active'), people };
        };
        const late = await start(LIMIT_S);
        const onTime = await start(10);
        people.push(...late.people, ...onTime.people);
        await first.close();
        // Down past the short call's limit.
        const lateEnd = Date.parse(late.call.startedAt!) + LIMIT_S * 1000;
        await new Promise((r) => setTimeout(r, Math.max(0, lateEnd - Date.now()) + 1500));
        second = await createTestApp(setup.db, shared);
        const restartedAt = Date.now();
        const admin = caller(second.app, a.admin.headers);
        const ended = await untilCall(admin, late.call.id, (x) => x.status === 'completed', 'completed after the restart', 5000);
        assert.equal(ended.endReason, 'time_limit');
        assert.ok(ended.durationMs! > LIMIT_S * 1000 + 1000, `its true, longer duration: ${ended.durationMs}`);
        near(Date.parse(ended.completedAt!), restartedAt, 2000);
        const done = await untilCall(admin, onTime.call.id, (x) => x.status === 'completed', 'completed at its limit', 15_000);
        assert.equal(done.endReason, 'time_limit');
        near(done.durationMs, 10_000);
      } finally {
        await Promise.all(people.map((p) => p.close().catch(() => {})));
        await second?.close();
        if (second === undefined) await first.close().catch(() => {});
        await database.close();
        await twilio?.fake.close();
      }
    });
  });
}

function near(actual: number | null, expected: number, slack = 1000): void {
  assert.ok(actual !== null && Math.abs(actual - expected) <= slack, `${actual} within ${slack} ms of ${expected}`);
}
