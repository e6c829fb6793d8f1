// What a visit leaves behind, on both databases and both media providers (SETUPS): recording only with everyone's
// consent (and nobody recorded who has not agreed; on Twilio, the room's recording rules as an allow-list of the
// consenting), the recordings' retention, the in-call chat (stored, then delivered by the server, for the visit's
// people only), the post-visit summary with its survey link, and usage metering.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { randomUUID } from 'node:crypto';
import { and, eq } from 'drizzle-orm';
import { auditEvents, roomRecordings, rooms } from '../src/server/db/schema.js';
import { deleteExpiredRecordings } from '../src/server/rooms/lifecycle.js';
import type { MediaProvider, RoomEvent } from '../src/server/rooms/provider.js';
import { createTestApp, SETUPS, type TestApp } from './helpers/app.js';
import { auditActions } from './helpers/audit.js';
import { caller, createTestOrg, errorOf, expectStatus, type Caller, type TestOrg } from './helpers/builders.js';
import { sleep, waitFor } from './helpers/media.js';
import { RtcClient } from './helpers/rtc.js';
import { ChannelClient } from './helpers/channel.js';

const SURVEY = 'https://survey.example.test/after-visit?v={visitId}';
const ENV = {
  LINK_SIGNING_SECRET: 'test-link-secret-'.repeat(3),
  TOKEN_SIGNING_SECRET: 'test-token-secret-'.repeat(3),
  LOGIN_RATE_LIMIT_PER_MINUTE: '1000',
  VISIT_SURVEY_URL: SURVEY,
  USAGE_PARTICIPANT_MINUTE_RATE: '0.004',
  USAGE_RECORDING_MINUTE_RATE: '0.01',
};

interface Token {
  token: string;
  channel: { url: string; token: string };
  identity: string;
  admission: string;
  /** No media token yet (a provider that routes a newcomer only once connected, while the participant waits). */
  held: boolean;
  recording: boolean;
  consentsRequired: { kind: string; version: string }[];
}

/** The provider, with the rooms layer's event listeners also kept in `listeners` (to emit a hosted provider's events). */
function tapped(inner: MediaProvider, listeners: ((event: RoomEvent) => void)[]): MediaProvider {
  return new Proxy(inner, {
    get(target, property) {
      if (property === 'onEvent') {
        return (listener: (event: RoomEvent) => void) => {
          listeners.push(listener);
          return target.onEvent(listener);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

for (const setup of SETUPS) {
  describe(`visit recording, chat, summary and usage on ${setup.label}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;
    let base: string;
    /** Hands a normalised event to the rooms layer as the provider would (a hosted provider's, here). */
    const listeners: ((event: RoomEvent) => void)[] = [];
    const emit = (event: RoomEvent) => listeners.forEach((l) => l(event));

    before(async () => {
      t = await createTestApp(setup.db, { env: ENV, media: setup.media, wrap: (provider) => tapped(provider, listeners) });
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
      base = await t.listen();
    });
    after(() => t.close());

    async function patient(givenName = 'Pat'): Promise<string> {
      const res = await a.clinician.post('/api/v1/patients', { givenName, familyName: 'Records' });
      assert.equal(res.statusCode, 201, res.body);
      return res.json().id;
    }

    /** An instant visit, started, with one patient. */
    async function openVisit(): Promise<{ id: string; patientId: string }> {
      const patientId = await patient();
      const res = await a.clinician.post('/api/v1/visits', { patientIds: [patientId], start: true });
      assert.equal(res.statusCode, 201, res.body);
      return { id: res.json().id, patientId };
    }

    /** Invites, joins with the link and accepts the telehealth consent: the participant's caller. */
    async function arrive(visitId: string, invite: Record<string, unknown>): Promise<Caller> {
      const link = await a.clinician.post(`/api/v1/visits/${visitId}/invites`, invite);
      assert.equal(link.statusCode, 201, link.body);
      const joined = await a.anonymous.post('/api/v1/join', { token: link.json().token });
      assert.equal(joined.statusCode, 200, joined.body);
      const who = caller(t.app, { authorization: `Bearer ${joined.json().session}` });
      const version = joined.json().consentsRequired[0].version;
      assert.equal((await who.post(`/api/v1/visits/${visitId}/consents`, { kind: 'telehealth', version })).statusCode, 201);
      return who;
    }

    async function token(who: Caller, visitId: string): Promise<Token> {
      const res = await who.post(`/api/v1/visits/${visitId}/token`);
      assert.equal(res.statusCode, 200, res.body);
      return res.json();
    }

    /**
     * The token to connect the media with, once admitted. A provider that routes a newcomer only once it is connected
     * (Twilio) held a participant who asked while waiting, with no media token; the client asks again (as the channel's
     * `join` tells it to). Elsewhere the token issued while waiting is the one.
     */
    async function mediaToken(who: Caller, visitId: string, issued: Token): Promise<Token> {
      assert.equal(issued.held, setup.media === 'twilio' && issued.admission === 'waiting');
      if (!issued.held) return issued;
      const again = await token(who, visitId);
      assert.deepEqual([again.held, again.admission, again.identity], [false, 'admitted', issued.identity]);
      return again;
    }

    /** A participant's media in a recorded visit: on the builtin plane real (replayed) media, so its recordings are real files. */
    async function connectMedia(answer: Token): Promise<{ close(): Promise<void> }> {
      if (setup.media === 'builtin') return RtcClient.connect(base, answer.token, answer.identity, { publish: ['microphone', 'camera'], replay: true });
      return t.media.join(answer);
    }

    async function admit(visitId: string, participantId: string): Promise<void> {
      const res = await a.clinician.post(`/api/v1/visits/${visitId}/participants/${participantId}/admit`);
      assert.equal(res.statusCode, 200, res.body);
    }

    /** Polls an async check until it holds (or fails after 10 s). */
    async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
      const deadline = Date.now() + ms;
      while (!(await check())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await sleep(50);
      }
    }

    // Server notices come on the participant channel, connected (as the SDK does) before the media connection.
    const notice = (client: ChannelClient, code: string) => waitFor(`${client.identity} to be told ${code}`, () => client.told(code));

    async function recordingsOf(visitId: string): Promise<{ id: string; identity: string; content: string; status: string; bytes: number | null; deletedAt: string | null }[]> {
      const res = await a.clinician.get(`/api/v1/visits/${visitId}/recordings`);
      assert.equal(res.statusCode, 200, res.body);
      return res.json().data;
    }

    test('recording starts only when everyone in the visit agreed; a later joiner is asked and not recorded until they agree', async () => {
      const v = await openVisit();
      const pat = await arrive(v.id, { role: 'patient', patientId: v.patientId });
      const hostToken = await token(a.clinician, v.id);
      const patToken = await token(pat, v.id);
      assert.deepEqual([patToken.recording, patToken.consentsRequired], [false, []]);
      await admit(v.id, patToken.identity);
      const hostChannel = await ChannelClient.connect(base, hostToken.channel, hostToken.identity);
      const patChannel = await ChannelClient.connect(base, patToken.channel, patToken.identity);
      const channels = [hostChannel, patChannel];
      const host = await connectMedia(hostToken);
      const patient = await connectMedia(await mediaToken(pat, v.id, patToken));
      const clients = [host, patient];
      // Twilio's side (its fake): the room's recording rules, an allow-list of the consenting publishers.
      const fake = t.media.twilio?.fake;
      const roomId: string = (await a.clinician.get(`/api/v1/rooms/visit-${v.id}`)).json().id;
      const twilioRoom = () => fake!.room(roomId)!;
      const allowList = (...identities: string[]) => identities.sort().map((publisher) => ({ type: 'include', publisher }));
      try {
        await until('both in the room', async () => (await a.clinician.get(`/api/v1/visits/${v.id}/recording`)).json().notRecorded.length === 1);
        const state = (await a.clinician.get(`/api/v1/visits/${v.id}/recording`)).json();
        assert.deepEqual(state, { recording: false, recordingSince: null, notRecorded: [patToken.identity] });

        // Who may start it: not the patient, not another organisation; and not while the patient has not agreed.
        expectStatus(await pat.post(`/api/v1/visits/${v.id}/recordings/start`), 403, 'forbidden');
        expectStatus(await b.admin.post(`/api/v1/visits/${v.id}/recordings/start`), 404, 'not_found');
        expectStatus(await a.caregiver.post(`/api/v1/visits/${v.id}/recordings/start`), 403, 'forbidden');
        const refused = await a.clinician.post(`/api/v1/visits/${v.id}/recordings/start`);
        expectStatus(refused, 409, 'recording_consent_missing');
        assert.deepEqual(errorOf(refused).details, { participantIds: [patToken.identity] });
        assert.equal((await a.clinician.get(`/api/v1/visits/${v.id}`)).json().recordingSince, null);
        if (fake) assert.deepEqual(twilioRoom().recordings, [], 'nothing recorded at Twilio');

        const texts = (await pat.get('/api/v1/consent-texts')).json() as { kind: string; version: string }[];
        const recordingText = texts.find((x) => x.kind === 'recording')!;
        assert.equal((await pat.post(`/api/v1/visits/${v.id}/consents`, { kind: 'recording', version: recordingText.version })).statusCode, 201);
        const started = await a.clinician.post(`/api/v1/visits/${v.id}/recordings/start`);
        assert.equal(started.statusCode, 200, started.body);
        assert.equal(started.json().recording, true);
        assert.deepEqual(started.json().notRecorded, []);
        assert.ok((await pat.get(`/api/v1/visits/${v.id}`)).json().recordingSince, 'the patient sees the recording indicator');
        await Promise.all([notice(hostChannel, 'recording_started'), notice(patChannel, 'recording_started')]);
        if (fake) assert.deepEqual(twilioRoom().recordingRules, allowList(hostToken.identity, patToken.identity));

        // An interpreter joins the recorded visit: asked first, and kept out of the recording until they agree.
        const interp = await arrive(v.id, { role: 'interpreter', displayName: 'Ivy Interpreter' });
        const interpToken = await token(interp, v.id);
        assert.equal(interpToken.recording, true);
        assert.deepEqual(interpToken.consentsRequired.map((c) => [c.kind, c.version]), [['recording', recordingText.version]]);
        await admit(v.id, interpToken.identity);
        const interpChannel = await ChannelClient.connect(base, interpToken.channel, interpToken.identity);
        channels.push(interpChannel);
        const interpreter = await connectMedia(await mediaToken(interp, v.id, interpToken));
        clients.push(interpreter);
        await notice(interpChannel, 'recording_consent_required');
        await until('host and patient recorded', async () => {
          const ids = new Set((await recordingsOf(v.id)).filter((r) => r.status === 'recording').map((r) => r.identity));
          return ids.has(hostToken.identity) && ids.has(patToken.identity);
        });
        await sleep(1500);
        assert.ok(!(await recordingsOf(v.id)).some((r) => r.identity === interpToken.identity), 'the interpreter is not recorded before agreeing');
        assert.deepEqual((await a.clinician.get(`/api/v1/visits/${v.id}/recording`)).json().notRecorded, [interpToken.identity]);
        if (fake) {
          // In the room and publishing, but not on the allow-list: Twilio records nothing of the interpreter.
          assert.ok(twilioRoom().participants.some((p) => p.identity === interpToken.identity && p.status === 'connected' && p.tracks.length === 2));
          assert.deepEqual(twilioRoom().recordingRules, allowList(hostToken.identity, patToken.identity));
          assert.ok(!twilioRoom().recordings.some((r) => r.participantIdentity === interpToken.identity));
        }

        assert.equal((await interp.post(`/api/v1/visits/${v.id}/consents`, { kind: 'recording', version: recordingText.version })).statusCode, 201);
        await until('the interpreter recorded', async () => (await recordingsOf(v.id)).some((r) => r.identity === interpToken.identity && r.status === 'recording'));
        // On Twilio: added to the allow-list once they agreed, so both of their tracks are recorded.
        if (fake) assert.deepEqual(twilioRoom().recordingRules, allowList(hostToken.identity, patToken.identity, interpToken.identity));
        await sleep(1000);

        const stopped = await a.clinician.post(`/api/v1/visits/${v.id}/recordings/stop`);
        assert.equal(stopped.statusCode, 200, stopped.body);
        assert.equal(stopped.json().recording, false);
        await notice(patChannel, 'recording_stopped');
        await t.media.settle();
        const files = await recordingsOf(v.id);
        assert.deepEqual(new Set(files.map((f) => f.identity)), new Set([hostToken.identity, patToken.identity, interpToken.identity]));
        for (const f of files) assert.equal(f.status, 'completed', JSON.stringify(f));
        if (fake) {
          // Twilio's files are per track: each participant's camera and microphone, all of them finished.
          assert.deepEqual(twilioRoom().recordingRules, [{ type: 'exclude', all: true }]);
          const atTwilio = twilioRoom().recordings;
          assert.equal(new Set(atTwilio.map((r) => `${r.participantIdentity}:${r.kind}`)).size, 6, 'three participants, two tracks each');
          assert.ok(atTwilio.every((r) => r.status === 'completed'));
          assert.equal(files.length, atTwilio.length);
          assert.deepEqual(new Set(files.map((f) => f.content)), new Set(['camera', 'microphone']));
        }

        // Download: the host gets the file (WebM; on Twilio the track's Matroska); nobody else's visit, organisation or role does.
        const download = await a.clinician.get(`/api/v1/visits/${v.id}/recordings/${files[0]!.id}/media`);
        assert.equal(download.statusCode, 200);
        if (setup.media === 'builtin') assert.equal(download.headers['content-type'], 'video/webm');
        else assert.equal(download.headers['content-type'], files[0]!.content === 'microphone' ? 'audio/x-matroska' : 'video/x-matroska');
        assert.equal(download.rawPayload.subarray(0, 4).toString('hex'), '1a45dfa3', 'an EBML (WebM, Matroska) file');
        assert.equal(Number(download.headers['content-length']), files[0]!.bytes);
        expectStatus(await a.caregiver.get(`/api/v1/visits/${v.id}/recordings/${files[0]!.id}/media`), 403, 'forbidden');
        expectStatus(await b.admin.get(`/api/v1/visits/${v.id}/recordings/${files[0]!.id}/media`), 404, 'not_found');
        expectStatus(await pat.get(`/api/v1/visits/${v.id}/recordings`), 403, 'forbidden');
        const otherVisit = await openVisit();
        expectStatus(await a.clinician.get(`/api/v1/visits/${otherVisit.id}/recordings/${files[0]!.id}/media`), 404, 'not_found');
        const actions = await auditActions(t, a.orgId, v.id);
        for (const action of ['visit.recording_started', 'visit.recording_stopped', 'visit.recording_downloaded']) assert.ok(actions.includes(action), action);

        // The end: quality over each stay reaches the summary.
        assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/end`)).statusCode, 200);
        await t.media.settle();
        if (setup.media === 'builtin') {
          const summary = (await a.clinician.get(`/api/v1/visits/${v.id}/summary`)).json();
          assert.equal(summary.recordings.length, files.length);
          assert.ok(typeof summary.quality.average === 'number' && summary.quality.average >= 0 && summary.quality.average <= 5, JSON.stringify(summary.quality));
          assert.ok(Number.isInteger(summary.quality.worst), JSON.stringify(summary.quality));
          assert.ok(summary.usage.recordedMinutes >= 3, JSON.stringify(summary.usage));
        } else {
          // Twilio composes the recorded room once it has ended: one more file, the whole room's (identity '').
          await until('the composition', async () => (await recordingsOf(v.id)).some((r) => r.identity === '' && r.status === 'completed'));
          const summary = (await a.clinician.get(`/api/v1/visits/${v.id}/summary`)).json();
          assert.equal(summary.recordings.length, files.length + 1);
          assert.deepEqual(summary.recordings.filter((r: { content: string }) => r.content === 'composition').map((r: { identity: string }) => r.identity), ['']);
          // Twilio's callbacks carry no connection quality: there is none to report, rather than a made-up one.
          assert.deepEqual([summary.quality.average, summary.quality.worst], [null, null], JSON.stringify(summary.quality));
          assert.ok(summary.usage.recordedMinutes >= 3, JSON.stringify(summary.usage));
          assert.ok(summary.usage.compositionMinutes >= 1, JSON.stringify(summary.usage));
        }

        // Retention: files past it are deleted from disk (on Twilio, at Twilio); the record of them stays, and says so.
        const paths = await t.database.db.select({ file: roomRecordings.file }).from(roomRecordings).where(eq(roomRecordings.orgId, a.orgId));
        assert.equal(await deleteExpiredRecordings(t.app.rooms, 30, new Date(Date.now() + 29 * 86_400_000)), 0, 'not yet');
        assert.ok((await deleteExpiredRecordings(t.app.rooms, 30, new Date(Date.now() + 31 * 86_400_000))) >= files.length);
        if (setup.media === 'builtin') for (const p of paths) assert.equal(existsSync(path.join(t.config.rtc.recordingsDir, p.file!)), false, p.file!);
        else {
          assert.ok(twilioRoom().recordings.every((r) => r.status === 'deleted'));
          assert.deepEqual(fake!.compositions().filter((c) => c.roomSid === twilioRoom().sid).map((c) => c.status), ['deleted']);
        }
        const after = await recordingsOf(v.id);
        assert.ok(after.every((f) => f.deletedAt !== null));
        const gone = await a.clinician.get(`/api/v1/visits/${v.id}/recordings/${files[0]!.id}/media`);
        expectStatus(gone, 404, 'not_found');
        assert.match(errorOf(gone).message, /retention/);
        const deletions = await t.database.db
          .select()
          .from(auditEvents)
          .where(and(eq(auditEvents.orgId, a.orgId), eq(auditEvents.action, 'room.recording_deleted')));
        assert.equal(deletions.length, after.length);
      } finally {
        await Promise.all([...clients.map((c) => c.close()), ...channels.map((c) => c.close())]);
      }
    });

    test('chat: stored, then delivered by the server to the people in the visit; nobody waiting or outside reads it', async () => {
      const v = await openVisit();
      const pat = await arrive(v.id, { role: 'patient', patientId: v.patientId });
      const patToken = await token(pat, v.id);
      // Waiting: writes nothing and reads nothing of the chat (only the host's notes to them: none here).
      expectStatus(await pat.post(`/api/v1/visits/${v.id}/messages`, { body: 'hello?' }), 403, 'not_admitted');
      const whileWaiting = await pat.get(`/api/v1/visits/${v.id}/messages`);
      assert.equal(whileWaiting.statusCode, 200, whileWaiting.body);
      assert.deepEqual(whileWaiting.json().data, []);
      await admit(v.id, patToken.identity);
      const patient = await ChannelClient.connect(base, patToken.channel, patToken.identity);
      try {
        const first = await a.clinician.post(`/api/v1/visits/${v.id}/messages`, { body: '  Can you hear me?  ' });
        assert.equal(first.statusCode, 201, first.body);
        assert.equal(first.json().body, 'Can you hear me?');
        assert.equal(first.json().role, 'host');
        const delivered = await waitFor('the chat message over the participant channel', () => patient.data.find((d) => d.from === null));
        assert.deepEqual(JSON.parse(delivered.payload), { type: 'chat', visitId: v.id, message: first.json() });

        const second = await pat.post(`/api/v1/visits/${v.id}/messages`, { body: 'Yes, loud and clear.' });
        assert.equal(second.statusCode, 201, second.body);
        assert.equal(second.json().participantId, patToken.identity);
        const transcript = (await a.clinician.get(`/api/v1/visits/${v.id}/messages`)).json().data as { id: string; body: string }[];
        assert.deepEqual(transcript.map((m) => m.body), ['Can you hear me?', 'Yes, loud and clear.']);
        assert.deepEqual((await pat.get(`/api/v1/visits/${v.id}/messages?after=${transcript[0]!.id}`)).json().data.map((m: { body: string }) => m.body), ['Yes, loud and clear.']);
        // The organisation's record: an admin and the host app read it; they do not write in it.
        assert.equal((await a.apiKey.get(`/api/v1/visits/${v.id}/messages`)).json().data.length, 2);
        assert.equal((await a.admin.get(`/api/v1/visits/${v.id}/messages`)).json().data.length, 2);
        expectStatus(await a.apiKey.post(`/api/v1/visits/${v.id}/messages`, { body: 'x' }), 403, 'forbidden');
        expectStatus(await a.admin.post(`/api/v1/visits/${v.id}/messages`, { body: 'x' }), 403, 'forbidden');
        expectStatus(await a.caregiver.get(`/api/v1/visits/${v.id}/messages`), 403, 'forbidden');
        expectStatus(await b.admin.get(`/api/v1/visits/${v.id}/messages`), 404, 'not_found');
        expectStatus(await a.clinician.post(`/api/v1/visits/${v.id}/messages`, { body: '   ' }), 400, 'validation_failed');
        expectStatus(await a.clinician.post(`/api/v1/visits/${v.id}/messages`, { body: 'x'.repeat(4001) }), 400, 'validation_failed');
        expectStatus(await a.clinician.get(`/api/v1/visits/${v.id}/messages?after=${v.id}`), 400, 'validation_failed');

        // Bodies are PHI: the audit has the message's id and size, never its words.
        const sent = await t.database.db.select().from(auditEvents).where(and(eq(auditEvents.orgId, a.orgId), eq(auditEvents.action, 'visit.message_sent')));
        assert.ok(sent.length >= 2);
        for (const e of sent) assert.doesNotMatch(JSON.stringify(e), /hear me|loud and clear/);

        // The end: the patient is handed the survey before the room closes; the chat is closed.
        assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/end`)).statusCode, 200);
        const survey = await waitFor('the survey link', () => patient.data.map((d) => JSON.parse(d.payload) as { type: string; url?: string }).find((p) => p.type === 'survey'));
        assert.equal(survey.url, SURVEY.replace('{visitId}', v.id));
        expectStatus(await a.clinician.post(`/api/v1/visits/${v.id}/messages`, { body: 'too late' }), 409, 'invalid_state');
        expectStatus(await pat.post(`/api/v1/visits/${v.id}/messages`, { body: 'too late' }), 401, 'unauthenticated');
      } finally {
        await patient.close();
      }
    });

    test('summary: attendance with reconnects, consents, chat, usage and the survey link; usage per month', async () => {
      const v = await openVisit();
      const pat = await arrive(v.id, { role: 'patient', patientId: v.patientId });
      const hostToken = await token(a.clinician, v.id);
      const patToken = await token(pat, v.id);
      await admit(v.id, patToken.identity);
      const host = await t.media.join(hostToken, { publish: [] });
      let patient = await t.media.join(await mediaToken(pat, v.id, patToken), { publish: [] });
      await a.clinician.post(`/api/v1/visits/${v.id}/messages`, { body: 'Welcome.' });
      // The patient's connection ends and they come back (a second stay, the same identity, no re-admission).
      await patient.leave();
      await t.media.settle();
      const again = await token(pat, v.id);
      assert.deepEqual([again.identity, again.admission, again.held], [patToken.identity, 'admitted', false]);
      patient = await t.media.join(again, { publish: [] });
      await t.media.settle();
      assert.equal((await a.clinician.get(`/api/v1/visits/${v.id}/summary`)).statusCode, 200, 'a summary while the visit is on');
      assert.equal((await a.clinician.post(`/api/v1/visits/${v.id}/end`)).statusCode, 200);
      await Promise.all([host.close(), patient.close()]);
      await t.media.settle();

      const res = await a.clinician.get(`/api/v1/visits/${v.id}/summary`);
      assert.equal(res.statusCode, 200, res.body);
      const s = res.json();
      assert.equal(s.visit.status, 'ended');
      assert.ok(s.durationSeconds >= 0);
      const byId = new Map((s.participants as { id: string; stays: { leftAt: string | null; leaveReason: string }[]; reconnects: number }[]).map((p) => [p.id, p]));
      assert.equal(byId.get(patToken.identity)!.stays.length, 2);
      assert.equal(byId.get(patToken.identity)!.reconnects, 1);
      assert.equal(byId.get(patToken.identity)!.stays[0]!.leaveReason, 'left');
      assert.equal(byId.get(hostToken.identity)!.stays.length, 1);
      assert.ok([...byId.values()].every((p) => p.stays.every((st) => st.leftAt !== null)));
      assert.equal(s.quality.reconnects, 1);
      assert.deepEqual(s.consents.map((c: { kind: string; participantId: string }) => [c.kind, c.participantId]), [['telehealth', patToken.identity]]);
      assert.deepEqual(s.chat.map((m: { body: string }) => m.body), ['Welcome.']);
      // Three stays of under a minute: three participant-minutes at 0.004 each.
      assert.deepEqual(s.usage, { participantMinutes: 3, recordedMinutes: 0, compositionMinutes: 0, estimatedCost: 0.012, costs: { participants: 0.012, recordings: 0, compositions: 0 }, currency: 'USD' });
      assert.equal(s.surveyUrl, SURVEY.replace('{visitId}', v.id));
      assert.equal(s.visit.surveyUrl, s.surveyUrl);
      assert.ok((await auditActions(t, a.orgId, v.id)).includes('visit.summary_viewed'));
      expectStatus(await a.caregiver.get(`/api/v1/visits/${v.id}/summary`), 403, 'forbidden');
      expectStatus(await b.admin.get(`/api/v1/visits/${v.id}/summary`), 404, 'not_found');
      assert.equal((await a.apiKey.get(`/api/v1/visits/${v.id}/summary`)).statusCode, 200);

      // Usage: this month holds the visit (and every other room of the organisation); other organisations' do not.
      const usage = await a.admin.get('/api/v1/usage');
      assert.equal(usage.statusCode, 200, usage.body);
      const u = usage.json();
      assert.match(u.month, /^\d{4}-\d{2}$/);
      const mine = (u.visits as { visitId: string; usage: unknown }[]).find((x) => x.visitId === v.id);
      assert.deepEqual(mine?.usage, { participantMinutes: 3, recordedMinutes: 0, compositionMinutes: 0, estimatedCost: 0.012, costs: { participants: 0.012, recordings: 0, compositions: 0 }, currency: 'USD' });
      assert.ok(u.total.participantMinutes >= 3);
      assert.ok(u.rooms >= 1);
      assert.equal((await b.admin.get('/api/v1/usage')).json().visits.length, 0);
      assert.deepEqual((await a.admin.get('/api/v1/usage?month=2020-01')).json().total, { participantMinutes: 0, recordedMinutes: 0, compositionMinutes: 0, estimatedCost: 0, costs: { participants: 0, recordings: 0, compositions: 0 }, currency: 'USD' });
      expectStatus(await a.admin.get('/api/v1/usage?month=2026-13'), 400, 'validation_failed');
      expectStatus(await a.clinician.get('/api/v1/usage'), 403, 'forbidden');
      assert.equal((await a.apiKey.get('/api/v1/usage')).statusCode, 200);
    });

    test('usage on per-track recordings (Twilio): recorded participant-minutes counted once per participant, compositions per composed minute', async () => {
      const v = await openVisit();
      const [room] = await t.database.db
        .select({ id: rooms.id })
        .from(rooms)
        .where(and(eq(rooms.orgId, a.orgId), eq(rooms.ownerKind, 'visit'), eq(rooms.ownerId, v.id)));
      assert.ok(room, "the visit's room");
      // Files as the Twilio provider reports them, in a month of their own (March 2021), so the figures are exact.
      const at = (offsetS: number) => new Date(Date.parse('2021-03-10T10:00:00Z') + offsetS * 1000);
      const file = (identity: string, content: 'camera' | 'microphone' | 'screen' | 'composition', from: number, to: number | null, mediaType = 'video/x-matroska') => ({
        orgId: a.orgId,
        roomId: room.id,
        identity,
        content,
        status: to === null ? ('recording' as const) : ('completed' as const),
        providerRef: `RT${randomUUID().replace(/-/g, '')}`,
        file: null,
        mediaType,
        startedAt: at(from),
        endedAt: to === null ? null : at(to),
        bytes: to === null ? null : 1000,
      });
      await t.database.db.insert(roomRecordings).values([
        // The host: camera and microphone for 10 minutes, a screen share inside them: 10 recorded minutes, not 22.
        file('host-1', 'camera', 0, 600),
        file('host-1', 'microphone', 0, 600, 'audio/x-matroska'),
        file('host-1', 'screen', 120, 240),
        // The patient: 5 min 30 s (6), then after a reconnect 2 minutes of audio alone (2); one still recording (none yet).
        file('patient-1', 'camera', 0, 330),
        file('patient-1', 'microphone', 1, 330, 'audio/x-matroska'),
        file('patient-1', 'microphone', 420, 540, 'audio/x-matroska'),
        file('patient-1', 'camera', 420, null),
        // Back-to-back segments (as the builtin provider writes them) are one stretch: 1 minute, not 2.
        file('interpreter-1', 'camera', 0, 30, 'video/webm'),
        file('interpreter-1', 'camera', 30, 60, 'video/webm'),
        // The room's composition (identity ''): 10 composed minutes.
        file('', 'composition', 0, 600, 'video/mp4'),
      ]);
      // And one file in April: another month's.
      await t.database.db.insert(roomRecordings).values({ ...file('host-1', 'camera', 0, 45), startedAt: new Date('2021-04-01T00:00:10Z'), endedAt: new Date('2021-04-01T00:00:55Z') });

      // Rates: participant 0.004 and recording 0.01 (ENV), composition the default 0.02 (seed 000).
      const march = (await a.admin.get('/api/v1/usage?month=2021-03')).json();
      // 10 (host) + 6 + 2 (patient) + 1 (interpreter) recorded participant-minutes.
      const expected = { participantMinutes: 0, recordedMinutes: 19, compositionMinutes: 10, estimatedCost: 0.39, costs: { participants: 0, recordings: 0.19, compositions: 0.2 }, currency: 'USD' };
      assert.deepEqual(march.total, expected);
      assert.equal(march.rooms, 0, 'no stay began in March');
      assert.deepEqual(march.visits.map((x: { visitId: string; usage: unknown }) => [x.visitId, x.usage]), [[v.id, expected]]);
      const april = (await a.admin.get('/api/v1/usage?month=2021-04')).json();
      assert.deepEqual([april.total.recordedMinutes, april.total.compositionMinutes, april.total.estimatedCost], [1, 0, 0.01]);
      assert.equal((await b.admin.get('/api/v1/usage?month=2021-03')).json().total.recordedMinutes, 0, "another organisation's usage");

      // The visit's summary counts the same way, over every month; it lists each kind, the composition as the room's.
      const summary = (await a.clinician.get(`/api/v1/visits/${v.id}/summary`)).json();
      assert.deepEqual(summary.usage, {
        participantMinutes: 0,
        recordedMinutes: 20,
        compositionMinutes: 10,
        estimatedCost: 0.4,
        costs: { participants: 0, recordings: 0.2, compositions: 0.2 },
        currency: 'USD',
      });
      const kinds = (summary.recordings as { identity: string; content: string }[]).map((r) => `${r.identity}:${r.content}`).sort();
      assert.deepEqual(kinds, [':composition', 'host-1:camera', 'host-1:camera', 'host-1:microphone', 'host-1:screen', 'interpreter-1:camera', 'interpreter-1:camera', 'patient-1:camera', 'patient-1:camera', 'patient-1:microphone', 'patient-1:microphone']);
      const composition = (summary.recordings as { content: string; durationSeconds: number; mediaType: string }[]).find((r) => r.content === 'composition');
      assert.deepEqual([composition?.durationSeconds, composition?.mediaType], [600, 'video/mp4']);
    });

    test("a composition's events: queued when the room ends, finished minutes later, its span is its media's (what is billed)", async () => {
      const v = await openVisit();
      const [room] = await t.database.db
        .select({ id: rooms.id, providerRoomId: rooms.providerRoomId })
        .from(rooms)
        .where(and(eq(rooms.orgId, a.orgId), eq(rooms.ownerKind, 'visit'), eq(rooms.ownerId, v.id)));
      assert.ok(room?.providerRoomId, "the visit's room");
      const ref = `CJ${randomUUID().replace(/-/g, '')}`;
      const file = { ref, content: 'composition' as const, file: null, mediaType: 'video/mp4' };
      // Twilio queues it when the room ends, and says it is available 7 minutes later with its Duration (12 min 30 s).
      const queued = new Date(Date.now() - 10 * 60_000);
      const available = new Date(queued.getTime() + 7 * 60_000);
      emit({ type: 'recording.started', roomId: room.providerRoomId, identity: '', at: queued, recording: { ...file, startedAt: queued } });
      await t.app.roomEvents.idle();
      const startedAt = new Date(available.getTime() - 750_000);
      emit({ type: 'recording.completed', roomId: room.providerRoomId, identity: '', at: available, recording: { ...file, startedAt, endedAt: available, bytes: 4096 } });
      await t.app.roomEvents.idle();

      const summary = (await a.clinician.get(`/api/v1/visits/${v.id}/summary`)).json();
      const [listed] = summary.recordings as { identity: string; content: string; status: string; startedAt: string; durationSeconds: number }[];
      assert.deepEqual(
        [listed?.identity, listed?.content, listed?.status, listed?.startedAt, listed?.durationSeconds],
        ['', 'composition', 'completed', startedAt.toISOString(), 750],
        'the span of the media, not the 7 minutes Twilio took',
      );
      assert.deepEqual([summary.usage.recordedMinutes, summary.usage.compositionMinutes, summary.usage.costs.compositions], [0, 13, 0.26]);
    });
  });
}
