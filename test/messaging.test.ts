// Patient messaging through the default outbox provider (src/server/messaging): consent and address checks,
// the outbox worker, simulated delivery, encryption at rest, carrier keywords end to end, quiet hours, templates
// and their PHI guard, idempotency, out-of-order status reports, the unmatched inbox, intake forms and reminders.
// Every test runs on PGlite and PostgreSQL.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { and, eq, sql } from 'drizzle-orm';
import { appointmentReminders, auditEvents, messages } from '../src/server/db/schema.js';
import { keywordOf } from '../src/server/messaging/keywords.js';
import { inQuietHours, nextSendTime } from '../src/server/messaging/quiet-hours.js';
import { segmentsOf } from '../src/server/messaging/segments.js';
import { checkTemplate } from '../src/server/messaging/templates.js';
import type { Message } from '../src/shared/api/messaging.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { auditActions } from './helpers/audit.js';
import { createTestOrg, detailPaths, expectStatus, type TestOrg } from './helpers/builders.js';
import { DB_KINDS } from './helpers/db.js';
import { conversation, messageOf, newPatient, send, untilStatus, waitFor } from './helpers/messaging.js';

describe('messaging building blocks', () => {
  test('SMS segments: GSM-7 160/153, extension characters count twice, anything else is UCS-2 70/67', () => {
    assert.deepEqual(segmentsOf('a'.repeat(160)), { encoding: 'GSM-7', units: 160, segments: 1 });
    assert.deepEqual(segmentsOf('a'.repeat(161)), { encoding: 'GSM-7', units: 161, segments: 2 });
    assert.deepEqual(segmentsOf('a'.repeat(306)), { encoding: 'GSM-7', units: 306, segments: 2 });
    assert.deepEqual(segmentsOf('a'.repeat(307)), { encoding: 'GSM-7', units: 307, segments: 3 });
    assert.deepEqual(segmentsOf('€'.repeat(80)), { encoding: 'GSM-7', units: 160, segments: 1 });
    assert.deepEqual(segmentsOf('€'.repeat(81)), { encoding: 'GSM-7', units: 162, segments: 2 });
    assert.deepEqual(segmentsOf('é'.repeat(70)), { encoding: 'GSM-7', units: 70, segments: 1 });
    assert.deepEqual(segmentsOf('ê'.repeat(70)), { encoding: 'UCS-2', units: 70, segments: 1 });
    assert.deepEqual(segmentsOf('ê'.repeat(71)), { encoding: 'UCS-2', units: 71, segments: 2 });
    assert.deepEqual(segmentsOf('Hi 👋'), { encoding: 'UCS-2', units: 5, segments: 1 });
  });

  test('keywords: the single word alone, any case, punctuation ignored', () => {
    for (const w of ['STOP', 'stop', ' Stop! ', 'UNSUBSCRIBE', 'end', 'quit', 'STOPALL', 'revoke', 'optout', 'Cancel']) assert.equal(keywordOf(w), 'opt_out', w);
    for (const w of ['START', 'yes', 'Unstop.']) assert.equal(keywordOf(w), 'opt_in', w);
    for (const w of ['HELP', 'info?']) assert.equal(keywordOf(w), 'help', w);
    for (const w of ['please stop texting me', 'stopp', 'yes please', 'help me']) assert.equal(keywordOf(w), null, w);
  });

  test('quiet hours are read in the patient’s time zone and end at the first minute after them', () => {
    const quiet = { start: 21 * 60, end: 8 * 60 };
    // 02:30 UTC = 21:30 in New York (EST, UTC-5) in January: quiet; it ends at 08:00 New York = 13:00 UTC.
    const at = new Date('2027-01-15T02:30:00Z');
    assert.equal(inQuietHours(at, 'America/New_York', quiet), true);
    assert.equal(nextSendTime(at, 'America/New_York', quiet).toISOString(), '2027-01-15T13:00:00.000Z');
    // The same instant is 03:30 in Paris (quiet) and 11:30 in Tokyo (not quiet).
    assert.equal(nextSendTime(at, 'Europe/Paris', quiet).toISOString(), '2027-01-15T07:00:00.000Z');
    assert.equal(nextSendTime(at, 'Asia/Tokyo', quiet).getTime(), at.getTime());
    // Across the spring-forward night in New York (2027-03-14): 21:30 EST → 08:00 EDT (12:00 UTC).
    assert.equal(nextSendTime(new Date('2027-03-14T02:30:00Z'), 'America/New_York', quiet).toISOString(), '2027-03-14T12:00:00.000Z');
    assert.equal(nextSendTime(at, 'America/New_York', null).getTime(), at.getTime());
  });

  test('templates: unknown placeholders and clinical details are refused', () => {
    assert.deepEqual(checkTemplate('{{orgName}}: your visit {{link}}', null), []);
    assert.match(checkTemplate('Hi {{patientFirstName}}, your {{diagnosis}}', null)[0]!.message, /not a template variable/);
    assert.match(checkTemplate('Your lab results are ready', null)[0]!.message, /clinical details \(lab results\)/);
    assert.match(checkTemplate('{{orgName}}', 'About your HIV test')[0]!.message, /hiv/);
    assert.deepEqual(checkTemplate('Reminder from {{orgName}} about tomorrow', 'Your appointment'), []);
  });
});

for (const kind of DB_KINDS) {
  describe(`messaging through the outbox (${kind})`, () => {
    let t: TestApp;
    let org: TestOrg;
    before(async () => {
      t = await createTestApp(kind, { env: { OUTBOX_DELIVERY_DELAY_MS: '100', MESSAGING_QUIET_HOURS: '' } });
      org = await createTestOrg(t.app);
    });
    after(async () => t?.close());

    test('consent, address and role checks answer with stable codes before anything is stored', async () => {
      const noConsent = await newPatient(org, { phone: '(555) 555-0101', sms: null });
      expectStatus(await send(org.clinician, noConsent.id, { body: 'Hello' }), 409, 'sms_consent_required');
      const noPhone = await newPatient(org, {});
      expectStatus(await send(org.clinician, noPhone.id, { body: 'Hello' }), 409, 'no_phone_number');
      expectStatus(await send(org.clinician, noPhone.id, { channel: 'email', body: 'Hello' }), 409, 'no_email_address');
      const revoked = await newPatient(org, { phone: '5555550102', sms: 'revoked' });
      expectStatus(await send(org.clinician, revoked.id, { body: 'Hello' }), 409, 'recipient_opted_out');
      const ok = await newPatient(org, { phone: '+1 555 555 0103' });
      expectStatus(await send(org.caregiver, ok.id, { body: 'Hello' }), 403, 'forbidden');
      const other = await createTestOrg(t.app);
      expectStatus(await send(other.clinician, ok.id, { body: 'Hello' }), 404, 'not_found');
      const empty = await send(org.clinician, ok.id, { body: '' });
      assert.equal(empty.statusCode, 400);
      assert.deepEqual(detailPaths(empty), ['body/body']);
      expectStatus(await send(org.clinician, ok.id, { body: 'x'.repeat(1601) }), 400, 'validation_failed');
      expectStatus(await send(org.clinician, ok.id, { body: 'Hi', bogus: 1 }), 400, 'validation_failed');
      const [{ n }] = (await t.database.db.select({ n: sql<number>`count(*)::int` }).from(messages).where(eq(messages.orgId, org.orgId))) as [{ n: number }];
      assert.equal(n, 0, 'nothing stored for refused sends');
    });

    test('a text is queued, sent by the worker, delivered by the outbox; encrypted at rest; audited without its body', async () => {
      const p = await newPatient(org, { phone: '(555) 555-0110' });
      assert.equal(p.phone, '+15555550110');
      const secret = 'Your visit is confirmed, Mia. Code PINEAPPLE-42';
      const res = await send(org.clinician, p.id, { body: secret });
      assert.equal(res.statusCode, 201, res.body);
      const queued = res.json() as Message;
      assert.equal(queued.to, '+15555550110');
      assert.equal(queued.body, `${secret}\nReply STOP to opt out.`, 'the first text carries the opt-out notice');
      assert.equal(queued.segments, 1);
      assert.equal(queued.estimatedCost, 0.0079);
      const delivered = await untilStatus(org.clinician, queued.id, 'delivered');
      assert.match(delivered.providerMessageId ?? '', /^OB[0-9a-f]{32}$/);
      assert.ok(delivered.sentAt && delivered.deliveredAt);
      const second = (await send(org.clinician, p.id, { body: 'Second text' })).json() as Message;
      assert.equal(second.body, 'Second text', 'only the first text carries the notice');
      // At rest: neither text nor phone number appear in the body column; audit and logs hold no body.
      const [raw] = await t.database.db.select({ body: messages.bodyEnc }).from(messages).where(eq(messages.id, queued.id));
      assert.match(raw!.body, /^v1\.[0-9a-f]{8}\./);
      assert.ok(!raw!.body.includes('PINEAPPLE'));
      const actions = await auditActions(t, org.orgId, p.id);
      assert.ok(actions.includes('message.queued') && actions.filter((a) => a === 'message.status_changed').length >= 2, actions.join(','));
      const audit = JSON.stringify(await t.database.db.select().from(auditEvents).where(eq(auditEvents.orgId, org.orgId)));
      assert.ok(!audit.includes('PINEAPPLE') && !audit.includes('5550110'));
      await untilStatus(org.clinician, second.id, 'delivered');
      assert.ok(!t.logs.join('').includes('PINEAPPLE') && !t.logs.join('').includes('5555550110'));
    });

    test('an Idempotency-Key makes a retried request return the first message', async () => {
      const p = await newPatient(org, { phone: '5555550111' });
      const first = await send(org.clinician, p.id, { body: 'Once only' }, { 'idempotency-key': 'retry-key-0001' });
      const again = await send(org.clinician, p.id, { body: 'Once only' }, { 'idempotency-key': 'retry-key-0001' });
      assert.equal(first.statusCode, 201);
      assert.equal(again.statusCode, 200);
      assert.equal((again.json() as Message).id, (first.json() as Message).id);
      assert.equal((await conversation(org.clinician, p.id)).length, 1);
      expectStatus(await send(org.clinician, p.id, { body: 'x' }, { 'idempotency-key': 'bad key' }), 400, 'validation_failed');
    });

    test('status reports never move a message backwards; duplicates change nothing', async () => {
      const p = await newPatient(org, { phone: '5555550112' });
      const m = (await send(org.clinician, p.id, { body: 'Order test' })).json() as Message;
      await untilStatus(org.clinician, m.id, 'delivered');
      const before = (await auditActions(t, org.orgId, p.id)).length;
      expectStatus(await org.clinician.post(`/api/v1/outbox/messages/${m.id}/status`, { status: 'sent' }), 409, 'invalid_state', 'a late "sent" after delivered');
      expectStatus(await org.clinician.post(`/api/v1/outbox/messages/${m.id}/status`, { status: 'delivered' }), 409, 'invalid_state', 'a duplicate delivered');
      assert.equal((await messageOf(org.clinician, m.id)).status, 'delivered');
      assert.equal((await auditActions(t, org.orgId, p.id)).length, before, 'nothing audited for reports that change nothing');
      // A failure report on a message still on its way wins, with the carrier's reason.
      const t2 = await createTestApp(kind, { database: t.database, env: { OUTBOX_DELIVERY_DELAY_MS: '0', MESSAGING_QUIET_HOURS: '' } });
      try {
        const org2 = await createTestOrg(t2.app);
        const p2 = await newPatient(org2, { phone: '5555550113' });
        const m2 = (await send(org2.clinician, p2.id, { body: 'Landline?' })).json() as Message;
        await untilStatus(org2.clinician, m2.id, 'sent');
        const und = await org2.clinician.post(`/api/v1/outbox/messages/${m2.id}/status`, { status: 'undelivered', errorCode: '30006' });
        const got = und.json() as Message;
        assert.equal(got.status, 'undelivered');
        assert.equal(got.errorCode, '30006');
        assert.match(got.errorReason ?? '', /landline/i);
        expectStatus(await org2.clinician.post(`/api/v1/outbox/messages/${m2.id}/status`, { status: 'delivered' }), 409, 'invalid_state');
        assert.equal((await messageOf(org2.clinician, m2.id)).status, 'undelivered');
      } finally {
        await t2.close();
      }
    });

    test('STOP, START and HELP end to end: consent ledger, cancelled queue, confirmations, help text', async () => {
      const p = await newPatient(org, { phone: '(555) 555-0120' });
      const m = (await send(org.clinician, p.id, { body: 'Before STOP' })).json() as Message;
      await untilStatus(org.clinician, m.id, 'delivered');
      // A reply that only mentions stopping is a message for staff, not an opt-out.
      const chat = await org.clinician.post('/api/v1/outbox/inbound', { from: '555-555-0120', body: 'please stop by tomorrow?' });
      assert.equal(chat.statusCode, 201, chat.body);
      assert.equal((chat.json() as Message).patientId, p.id);
      assert.equal((await send(org.clinician, p.id, { body: 'Still allowed' })).statusCode, 201);
      const stop = await org.clinician.post('/api/v1/outbox/inbound', { from: '+15555550120', body: 'Stop' });
      assert.equal(stop.statusCode, 201);
      const consents = (await org.clinician.get(`/api/v1/patients/${p.id}`)).json() as { consents: { kind: string; status: string }[] };
      assert.equal(consents.consents.find((c) => c.kind === 'sms')?.status, 'revoked');
      expectStatus(await send(org.clinician, p.id, { body: 'After STOP' }), 409, 'recipient_opted_out');
      const afterStop = await waitFor('the unsubscribe confirmation', async () => (await conversation(org.clinician, p.id)).find((x) => x.purpose === 'keyword_reply' && /unsubscribed/.test(x.body)));
      assert.equal(afterStop.direction, 'outbound');
      assert.equal((stop.json() as Message).purpose, 'keyword_reply');
      assert.ok((await auditActions(t, org.orgId, p.id)).includes('message.opted_out'));
      await org.clinician.post('/api/v1/outbox/inbound', { from: '5555550120', body: 'START' });
      const regranted = (await org.clinician.get(`/api/v1/patients/${p.id}`)).json() as { consents: { kind: string; status: string }[] };
      assert.equal(regranted.consents.find((c) => c.kind === 'sms')?.status, 'granted');
      assert.equal((await send(org.clinician, p.id, { body: 'Welcome back' })).statusCode, 201);
      await org.admin.patch('/api/v1/messaging/settings', { helpText: 'Clinic help: call 555-0100. Reply STOP to opt out.' });
      await org.clinician.post('/api/v1/outbox/inbound', { from: '5555550120', body: 'HELP' });
      await waitFor('the help reply', async () => (await conversation(org.clinician, p.id)).find((x) => x.direction === 'outbound' && x.body.startsWith('Clinic help: call 555-0100')));
      expectStatus(await org.admin.patch('/api/v1/messaging/settings', { helpText: 'No opt-out words here' }), 400, 'validation_failed');
    });

    test('STOP cancels texts still queued to that number', async () => {
      await org.admin.patch('/api/v1/messaging/settings', { quietHours: quietNow('America/Chicago') });
      try {
        const p = await newPatient(org, { phone: '5555550121', timeZone: 'America/Chicago' });
        const waiting = (await send(org.clinician, p.id, { body: 'Wait for morning' })).json() as Message;
        assert.equal(waiting.status, 'queued');
        await org.clinician.post('/api/v1/outbox/inbound', { from: '5555550121', body: 'STOP' });
        const m = await messageOf(org.clinician, waiting.id);
        assert.equal(m.status, 'canceled');
        assert.equal(m.errorCode, 'recipient_opted_out');
      } finally {
        await org.admin.patch('/api/v1/messaging/settings', { quietHours: null });
      }
    });

    test('quiet hours in the patient’s time zone hold non-urgent texts; urgent ones go', async () => {
      const zone = 'Pacific/Auckland';
      await org.admin.patch('/api/v1/messaging/settings', { quietHours: quietNow(zone) });
      try {
        const p = await newPatient(org, { phone: '5555550130', timeZone: zone });
        const preview = (await org.clinician.post(`/api/v1/patients/${p.id}/messages/preview`, { body: 'Later' })).json() as { deferredByQuietHours: boolean; sendAfter: string };
        assert.equal(preview.deferredByQuietHours, true);
        const later = (await send(org.clinician, p.id, { body: 'Later' })).json() as Message;
        assert.equal(later.status, 'queued');
        assert.ok(new Date(later.sendAfter).getTime() > Date.now() + 30 * 60_000, later.sendAfter);
        const now = (await send(org.clinician, p.id, { body: 'Your visit starts now', urgent: true })).json() as Message;
        await untilStatus(org.clinician, now.id, 'delivered');
        assert.equal((await messageOf(org.clinician, later.id)).status, 'queued', 'still waiting for morning');
        // A patient elsewhere is not in quiet hours.
        const away = await newPatient(org, { phone: '5555550131', timeZone: shiftedZone(zone) });
        const m = (await send(org.clinician, away.id, { body: 'Daytime there' })).json() as Message;
        await untilStatus(org.clinician, m.id, 'delivered');
        const cancel = await org.clinician.post(`/api/v1/messages/${later.id}/cancel`);
        assert.equal((cancel.json() as Message).status, 'canceled');
        expectStatus(await org.clinician.post(`/api/v1/messages/${m.id}/cancel`), 409, 'invalid_state');
      } finally {
        await org.admin.patch('/api/v1/messaging/settings', { quietHours: null });
      }
    });

    test('an unknown sender lands in the unmatched inbox; staff assign it', async () => {
      const stranger = await org.clinician.post('/api/v1/outbox/inbound', { from: '(555) 555-0199', body: 'Who is this?' });
      const msg = stranger.json() as Message;
      assert.equal(msg.patientId, null);
      const inbox = (await org.clinician.get('/api/v1/messages?unmatched=true')).json() as { data: Message[] };
      assert.ok(inbox.data.some((m) => m.id === msg.id));
      const p = await newPatient(org, { phone: '5555550199' });
      const assigned = await org.clinician.post(`/api/v1/messages/${msg.id}/assign`, { patientId: p.id });
      assert.equal((assigned.json() as Message).patientId, p.id);
      assert.ok((await conversation(org.clinician, p.id)).some((m) => m.id === msg.id));
      expectStatus(await org.clinician.post(`/api/v1/messages/${msg.id}/assign`, { patientId: p.id }), 409, 'invalid_state');
    });

    test('the outbox’s inbound text is the caller’s organisation’s, whoever else has a patient with that number', async () => {
      const other = await createTestOrg(t.app);
      const theirs = await newPatient(other, { phone: '5555550198' });
      const reply = await org.clinician.post('/api/v1/outbox/inbound', { from: '5555550198', body: 'STOP' });
      assert.equal(reply.statusCode, 201, reply.body);
      const msg = reply.json() as Message;
      assert.equal(msg.patientId, null, 'in the caller’s unmatched inbox');
      const inbox = (await org.clinician.get('/api/v1/messages?unmatched=true&limit=200')).json() as { data: Message[] };
      assert.ok(inbox.data.some((m) => m.id === msg.id));
      const patient = (await other.clinician.get(`/api/v1/patients/${theirs.id}`)).json() as { consents: { kind: string; status: string }[] };
      assert.equal(patient.consents.find((c) => c.kind === 'sms')?.status, 'granted', 'the other organisation’s consent is untouched');
      assert.equal((await conversation(other.clinician, theirs.id)).length, 0);
    });

    test('settings: the organisation’s own SMS number and messaging service (E.164, MG…), shown, cleared with null', async () => {
      type Settings = { smsNumber: string | null; messagingServiceSid: string | null; helpText: string; reminderOffsetsMinutes: number[]; defaults: { helpText: string; quietHours: unknown; reminderOffsetsMinutes: number[] } };
      const empty = (await org.clinician.get('/api/v1/messaging/settings')).json() as Settings;
      assert.deepEqual([empty.smsNumber, empty.messagingServiceSid], [null, null]);
      // The defaults (what null restores) are in the answer, and stay the defaults when the organisation sets its own.
      assert.deepEqual(empty.defaults.reminderOffsetsMinutes, t.config.messaging.reminderOffsetsMinutes);
      assert.match(empty.defaults.helpText, /STOP/);
      assert.equal((await org.admin.patch('/api/v1/messaging/settings', { helpText: 'Own help. Reply STOP to opt out.', reminderOffsetsMinutes: [60] })).statusCode, 200);
      const own = (await org.clinician.get('/api/v1/messaging/settings')).json() as Settings;
      assert.deepEqual([own.helpText, own.reminderOffsetsMinutes], ['Own help. Reply STOP to opt out.', [60]]);
      assert.deepEqual(own.defaults, empty.defaults);
      assert.equal((await org.admin.patch('/api/v1/messaging/settings', { helpText: null, reminderOffsetsMinutes: null })).statusCode, 200);
      const back = (await org.clinician.get('/api/v1/messaging/settings')).json() as Settings;
      assert.deepEqual([back.helpText, back.reminderOffsetsMinutes], [empty.defaults.helpText, empty.defaults.reminderOffsetsMinutes], 'null restores the defaults');
      const service = `MG${'AB12'.repeat(8)}`;
      const set = await org.admin.patch('/api/v1/messaging/settings', { smsNumber: '+15555550142', messagingServiceSid: service });
      assert.equal(set.statusCode, 200, set.body);
      assert.deepEqual([set.json().smsNumber, set.json().messagingServiceSid], ['+15555550142', `MG${'ab12'.repeat(8)}`]);
      expectStatus(await org.clinician.patch('/api/v1/messaging/settings', { smsNumber: '+15555550143' }), 403, 'forbidden');
      for (const bad of [{ smsNumber: '(555) 555-0142' }, { smsNumber: '+0555' }, { messagingServiceSid: 'MGxyz' }, { messagingServiceSid: `PN${'0'.repeat(32)}` }]) {
        const res = await org.admin.patch('/api/v1/messaging/settings', bad);
        assert.equal(res.statusCode, 400, JSON.stringify(bad));
        assert.equal(detailPaths(res)[0], `body/${Object.keys(bad)[0]}`);
      }
      const other = await createTestOrg(t.app);
      expectStatus(await other.admin.patch('/api/v1/messaging/settings', { smsNumber: '+15555550142' }), 409, 'already_exists');
      const cleared = await org.admin.patch('/api/v1/messaging/settings', { smsNumber: null, messagingServiceSid: null });
      assert.deepEqual([cleared.json().smsNumber, cleared.json().messagingServiceSid], [null, null]);
      assert.equal((await other.admin.patch('/api/v1/messaging/settings', { smsNumber: '+15555550142' })).statusCode, 200, 'free again once cleared');
    });

    test('templates: built-ins, rendering, the PHI guard, segments and cost before sending', async () => {
      const list = (await org.clinician.get('/api/v1/templates')).json() as { id: string; purpose: string; channel: string }[];
      assert.deepEqual([...new Set(list.map((x) => x.purpose))].sort(), ['appointment_reminder', 'checkin_notice', 'intake_form', 'visit_invite']);
      expectStatus(await org.admin.post('/api/v1/templates', { name: 'Bad', purpose: 'custom', channel: 'sms', body: 'Your biopsy results are in' }), 400, 'template_phi');
      expectStatus(await org.admin.post('/api/v1/templates', { name: 'Bad2', purpose: 'custom', channel: 'sms', body: 'Hi {{dateOfBirth}}' }), 400, 'template_invalid');
      expectStatus(await org.clinician.post('/api/v1/templates', { name: 'Nope', purpose: 'custom', channel: 'sms', body: 'Hi' }), 403, 'forbidden');
      const created = await org.admin.post('/api/v1/templates', { name: 'Portal note', purpose: 'custom', channel: 'sms', body: 'Hi {{patientFirstName}}, {{orgName}} left you a note in the portal: {{link}} 📋' });
      assert.equal(created.statusCode, 201, created.body);
      const tpl = created.json() as { id: string; encoding: string };
      assert.equal(tpl.encoding, 'UCS-2');
      const p = await newPatient(org, { phone: '5555550140', givenName: 'Noa' });
      const preview = (await org.clinician.post(`/api/v1/patients/${p.id}/messages/preview`, { templateId: tpl.id, values: { link: 'https://portal.example.test/n/1' } })).json() as {
        body: string;
        encoding: string;
        segments: number;
        estimatedCost: number;
        blockedBy: string | null;
      };
      assert.match(preview.body, /^Hi Noa, Test clinic org-[0-9a-f]+ left you a note in the portal: https:\/\/portal\.example\.test\/n\/1 📋\nReply STOP to opt out\.$/);
      assert.equal(preview.encoding, 'UCS-2');
      assert.equal(preview.segments, 2);
      assert.equal(preview.estimatedCost, 0.0158);
      assert.equal(preview.blockedBy, null);
      const warn = (await org.clinician.post(`/api/v1/patients/${p.id}/messages/preview`, { body: 'Your test results are back' })).json() as { phiWarnings: string[] };
      assert.deepEqual(warn.phiWarnings, ['test results']);
      const sent = await send(org.clinician, p.id, { templateId: tpl.id, values: { link: 'https://portal.example.test/n/1' } });
      assert.equal(sent.statusCode, 201, sent.body);
    });

    test('intake forms: sent by Email & SMS, opened and submitted once by the patient, read by staff', async () => {
      const form = await org.clinician.post('/api/v1/intake-forms', {
        name: 'New patient form',
        fields: [
          { id: 'reason', label: 'What would you like to discuss?', type: 'textarea', required: true },
          { id: 'insured', label: 'Do you have insurance?', type: 'yesno', required: true },
          { id: 'contact', label: 'Best time to call', type: 'choice', required: false, options: ['Morning', 'Afternoon'] },
        ],
      });
      assert.equal(form.statusCode, 201, form.body);
      const formId = (form.json() as { id: string }).id;
      const noEmail = await newPatient(org, { phone: '5555550150' });
      expectStatus(await org.clinician.post(`/api/v1/intake-forms/${formId}/send`, { patientId: noEmail.id, delivery: 'email_sms' }), 409, 'no_email_address');
      assert.equal((await conversation(org.clinician, noEmail.id)).length, 0, 'nothing sent when one channel cannot be used');
      const p = await newPatient(org, { phone: '5555550151', email: 'mia@example.test' });
      const sent = await org.clinician.post(`/api/v1/intake-forms/${formId}/send`, { patientId: p.id, delivery: 'email_sms' });
      assert.equal(sent.statusCode, 201, sent.body);
      const request = sent.json() as { id: string; link: string; messageIds: string[] };
      assert.equal(request.messageIds.length, 2);
      const texts = await conversation(org.clinician, p.id);
      assert.deepEqual(texts.map((m) => m.channel).sort(), ['email', 'sms']);
      for (const m of texts) assert.ok(m.body.includes(request.link), 'each message carries the link');
      const token = request.link.split('#')[1]!;
      expectStatus(await org.anonymous.post('/api/v1/intake/open', { token: token.slice(0, -2) + 'AA' }), 404, 'intake_link_invalid');
      const opened = await org.anonymous.post('/api/v1/intake/open', { token });
      assert.equal(opened.statusCode, 200, opened.body);
      assert.equal((opened.json() as { name: string }).name, 'New patient form');
      const bad = await org.anonymous.post('/api/v1/intake/submit', { token, answers: { insured: 'maybe', contact: 'Night', extra: 'x' } });
      assert.equal(bad.statusCode, 400);
      assert.deepEqual(detailPaths(bad).sort(), ['body/answers/contact', 'body/answers/extra', 'body/answers/insured', 'body/answers/reason']);
      const ok = await org.anonymous.post('/api/v1/intake/submit', { token, answers: { reason: 'Knee pain after running', insured: true, contact: 'Morning' } });
      assert.equal(ok.statusCode, 200, ok.body);
      expectStatus(await org.anonymous.post('/api/v1/intake/submit', { token, answers: { reason: 'again', insured: false } }), 409, 'intake_already_submitted');
      const read = (await org.clinician.get(`/api/v1/intake-requests/${request.id}`)).json() as { status: string; answers: Record<string, unknown> };
      assert.equal(read.status, 'submitted');
      assert.deepEqual(read.answers, { reason: 'Knee pain after running', insured: true, contact: 'Morning' });
      const actions = await auditActions(t, org.orgId, p.id);
      for (const a of ['intake_form.sent', 'intake_form.viewed', 'intake_form.submitted', 'intake_form.answers_viewed']) assert.ok(actions.includes(a), a);
      const audit = JSON.stringify(await t.database.db.select().from(auditEvents).where(eq(auditEvents.orgId, org.orgId)));
      assert.ok(!audit.includes('Knee pain'));
      const other = await createTestOrg(t.app);
      expectStatus(await other.clinician.get(`/api/v1/intake-requests/${request.id}`), 404, 'not_found');
    });

    test('a visit invite sends the join link by SMS and email with the visit-invite template', async () => {
      const p = await newPatient(org, { phone: '5555550165', email: 'joiner@example.test', givenName: 'Ada' });
      const visit = await org.clinician.post('/api/v1/visits', { patientIds: [p.id], durationMinutes: 30 });
      assert.equal(visit.statusCode, 201, visit.body);
      const visitId = (visit.json() as { id: string }).id;
      const invite = await org.clinician.post(`/api/v1/visits/${visitId}/invites`, { role: 'patient', patientId: p.id, sendVia: ['sms', 'email'] });
      assert.equal(invite.statusCode, 201, invite.body);
      const { url, messageIds } = invite.json() as { url: string; messageIds: string[] };
      assert.equal(messageIds.length, 2);
      const sms = await messageOf(org.clinician, messageIds[0]!);
      assert.equal(sms.purpose, 'visit_invite');
      assert.ok(sms.body.includes(url), 'the text carries the join link');
      assert.match(sms.body, /your video visit with Test clinician is ready/);
      const email = await messageOf(org.clinician, messageIds[1]!);
      assert.equal(email.channel, 'email');
      assert.match(email.subject ?? '', /^Your video visit with Test clinic/);
      assert.ok(email.body.startsWith('Hello Ada,'));
      await untilStatus(org.clinician, sms.id, 'delivered');
      const noPhone = await newPatient(org, { sms: null });
      const v2 = (await org.clinician.post('/api/v1/visits', { patientIds: [noPhone.id], durationMinutes: 30 })).json() as { id: string };
      expectStatus(await org.clinician.post(`/api/v1/visits/${v2.id}/invites`, { role: 'patient', patientId: noPhone.id, sendVia: ['sms'] }), 409, 'no_phone_number');
      const guest = await org.clinician.post(`/api/v1/visits/${v2.id}/invites`, { role: 'guest', displayName: 'Sam', sendVia: ['sms'] });
      expectStatus(guest, 400, 'validation_failed');
      assert.ok(!(await auditActions(t, org.orgId, v2.id)).includes('visit.invite_created'), 'no link made for a refused send');
    });

    test('host apps subscribed to message.* get the message events as Standard Webhooks', async () => {
      const received: { type: string; data: Record<string, unknown> }[] = [];
      const server = createServer((req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => (body += c.toString()));
        req.on('end', () => {
          received.push(JSON.parse(body) as { type: string; data: Record<string, unknown> });
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
        const hook = await org.admin.post('/api/v1/webhooks', { url, events: ['message.*'] });
        assert.equal(hook.statusCode, 201, hook.body);
        const p = await newPatient(org, { phone: '5555550166' });
        const m = (await send(org.clinician, p.id, { body: 'Webhook me' })).json() as Message;
        await org.clinician.post('/api/v1/outbox/inbound', { from: '5555550166', body: 'Got it' });
        await waitFor('created, delivered and received events', () =>
          received.some((e) => e.type === 'message.created' && e.data.messageId === m.id) &&
          received.some((e) => e.type === 'message.updated' && e.data.messageId === m.id && e.data.status === 'delivered') &&
          received.some((e) => e.type === 'message.received' && e.data.patientId === p.id),
        );
        assert.ok(!JSON.stringify(received).includes('Webhook me') && !JSON.stringify(received).includes('5550166'), 'ids and codes only');
        await org.admin.request('DELETE', `/api/v1/webhooks/${(hook.json() as { webhook: { id: string } }).webhook.id}`);
      } finally {
        server.close();
      }
    });

    test('appointment reminders are scheduled on the job queue, sent when due, cancelled with the appointment', async () => {
      const p = await newPatient(org, { phone: '5555550160' });
      const clinicianId = org.clinician.user.id;
      await org.admin.patch('/api/v1/messaging/settings', { reminderOffsetsMinutes: [1440, 15] });
      const far = await org.clinician.post('/api/v1/appointments', { kind: 'video', clinicianId, patientIds: [p.id], startsAt: new Date(Date.now() + 48 * 3600_000).toISOString(), durationMinutes: 30 });
      assert.equal(far.statusCode, 201, far.body);
      const farId = (far.json() as { id: string }).id;
      const rows = await waitFor('two reminders', async () => {
        const r = await t.database.db.select().from(appointmentReminders).where(eq(appointmentReminders.appointmentId, farId));
        return r.length === 2 && r.every((x) => x.jobId) ? r : undefined;
      });
      assert.deepEqual(rows.map((r) => r.offsetMinutes).sort((a, b) => a - b), [15, 1440]);
      const cancel = await org.clinician.post(`/api/v1/appointments/${farId}/cancel`, {});
      assert.ok(cancel.statusCode < 300, cancel.body);
      await waitFor('reminders cancelled', async () => {
        const r = await t.database.db.select().from(appointmentReminders).where(eq(appointmentReminders.appointmentId, farId));
        return r.every((x) => x.status === 'cancelled') ? r : undefined;
      });
      const jobs = await t.database.executeSql(`select state from pgboss.job where id = any($1::uuid[])`, [rows.map((r) => r.jobId)]);
      assert.deepEqual((jobs.rows as { state: string }[]).map((j) => j.state), ['cancelled', 'cancelled']);
      // A reminder due in two seconds: 15 minutes before an appointment starting in 15 min + 2 s.
      const soon = await org.clinician.post('/api/v1/appointments', { kind: 'video', clinicianId, patientIds: [p.id], startsAt: new Date(Date.now() + 15 * 60_000 + 2000).toISOString(), durationMinutes: 30 });
      const soonId = (soon.json() as { id: string }).id;
      const reminder = await waitFor('the reminder text', async () => (await conversation(org.clinician, p.id)).find((m) => m.purpose === 'appointment_reminder'), 20_000);
      assert.match(reminder.body, /reminder of your appointment on \w+day, \w+ \d+ at \d+:\d\d [AP]M/);
      // The text is committed first, then the reminder is marked (a moment later on a loaded machine).
      const row = await waitFor('the reminder marked', async () => {
        const [r] = await t.database.db.select().from(appointmentReminders).where(and(eq(appointmentReminders.appointmentId, soonId), eq(appointmentReminders.offsetMinutes, 15)));
        return r && r.status !== 'scheduled' ? r : undefined;
      });
      assert.equal(row.status, 'sent');
      assert.equal(row.messageId, reminder.id);
    });
  });
}

/** Quiet hours around the current minute in a zone (an hour either side). */
function quietNow(zone: string): { start: string; end: string } {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: zone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(new Date());
  const m = Number(parts.find((x) => x.type === 'hour')!.value) * 60 + Number(parts.find((x) => x.type === 'minute')!.value);
  const fmt = (v: number) => `${String(Math.floor(((v + 1440) % 1440) / 60)).padStart(2, '0')}:${String(((v + 1440) % 1440) % 60).padStart(2, '0')}`;
  return { start: fmt(m - 60), end: fmt(m + 60) };
}

/** A zone about twelve hours away from `zone` (outside its two-hour quiet window). */
function shiftedZone(zone: string): string {
  return zone === 'Pacific/Auckland' ? 'Europe/London' : 'Pacific/Auckland';
}
