import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { and, eq, sql } from 'drizzle-orm';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import twilio from 'twilio';
import { newSecret, PARTICIPANT_SESSION_PREFIX, SESSION_COOKIE, sha256Hex } from '../src/server/auth/secrets.js';
import { messages, participantSessions, patientConsents, roomRecordings, sessions, webhookDeliveries } from '../src/server/db/schema.js';
import type { Message } from '../src/shared/api/messaging.js';
import { createTestApp, freePort, type TestApp } from './helpers/app.js';
import { createTestOrg, errorOf, sessionFor, type TestOrg } from './helpers/builders.js';
import { DB_KINDS } from './helpers/db.js';
import { apiOperations, takesInput, type JsonSchema, type Operation } from './helpers/openapi.js';
import { conversation, messageOf, newPatient, send, waitFor } from './helpers/messaging.js';
import { startFakeTwilio, type FakeTwilio } from './helpers/twilio-fake.js';

/**
 * Tenancy: every operation in /api/openapi.json, called by organisation A (a staff session, an API key, and a
 * patient's participant session in one of A's visits) with
 * organisation B's ids in the path and B's ids and values (phone numbers, emails, names, numbers) in the body and
 * the query. Each call is paired with a twin that carries values nobody has (fresh uuids, numbers, emails): the two
 * answers must be the same (status and code), a path naming B's record is never answered 2xx, no answer carries B's
 * ids, names, numbers or emails, and nothing of B changes (every row of B in every table, its audit chain and its
 * webhook deliveries, compared before and after). The operations come from the document, so a new route is covered
 * without editing this file; a path parameter or an id field this file cannot fill fails the test, naming it.
 */

const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
/** Whether a schema takes an id (a uuid, or a list or choice of them). */
const isUuid = (s: JsonSchema | undefined): boolean => !!s && (s.format === 'uuid' || s.pattern === UUID_PATTERN || isUuid(s.items) || (s.anyOf ?? []).some(isUuid));

/** One organisation's seeded records and the values that identify them. */
interface Seeded {
  org: TestOrg;
  orgName: string;
  patientId: string;
  givenName: string;
  familyName: string;
  phone: string;
  email: string;
  appointmentId: string;
  visitId: string;
  participantId: string;
  linkId: string;
  linkToken: string;
  chatMessageId: string;
  roomName: string;
  roomId: string;
  identity: string;
  recordingId: string;
  outboundMessageId: string;
  inboundMessageId: string;
  unmatchedMessageId: string;
  strangerPhone: string;
  templateId: string;
  formId: string;
  intakeRequestId: string;
  webhookId: string;
  webhookUrl: string;
  deliveryId: string;
  adminSessionId: string;
  consentTextVersion: string;
  smsNumber: string;
  messagingServiceSid: string;
  careMemberId: string;
  recipientMemberId: string;
  checkinId: string;
  scheduleId: string;
}

let numberSeq = 0;
const numberBase = 1_000_000 + Math.floor(Math.random() * 7_000_000);
/** A (fictional, +1 555) number nobody else in this run has. */
const freshPhone = () => `+1555${numberBase + ++numberSeq}`;
const freshEmail = () => `nobody-${randomBytes(5).toString('hex')}@example.test`;
const freshService = () => `MG${randomBytes(16).toString('hex')}`;
const freshName = () => `n${randomBytes(6).toString('hex')}`;

function ok(res: LightMyRequestResponse, what: string, status = 201): Record<string, unknown> {
  assert.equal(res.statusCode, status, `${what}: ${res.body}`);
  return res.statusCode === 204 ? {} : (res.json() as Record<string, unknown>);
}

/** A full set of records in one organisation, made through the API as a clinic would. */
async function seed(t: TestApp, org: TestOrg, tag: string): Promise<Seeded> {
  const r = randomBytes(3).toString('hex');
  const givenName = `Given${tag}${r}`;
  const familyName = `Family${tag}${r}`;
  const phone = freshPhone();
  const email = `patient-${tag.toLowerCase()}-${r}@example.test`;
  const patient = ok(await org.clinician.post('/api/v1/patients', { givenName, familyName, phone, email, dateOfBirth: '1980-02-03' }), 'patient');
  const patientId = patient.id as string;
  ok(await org.clinician.post(`/api/v1/patients/${patientId}/consents`, { kind: 'sms', status: 'granted', method: 'verbal' }), 'sms consent');
  ok(await org.clinician.post(`/api/v1/patients/${patientId}/consents`, { kind: 'email', status: 'granted', method: 'verbal' }), 'email consent');
  const appointment = ok(
    await org.admin.post('/api/v1/appointments', { kind: 'video', clinicianId: org.clinician.user.id, patientIds: [patientId], startsAt: new Date(Date.now() + 10 * 86_400_000).toISOString(), durationMinutes: 30 }),
    'appointment',
  );
  const visit = ok(await org.clinician.post('/api/v1/visits', { appointmentId: appointment.id }), 'visit');
  const invite = ok(await org.clinician.post(`/api/v1/visits/${visit.id as string}/invites`, { role: 'patient', patientId }), 'invite');
  const chat = ok(await org.clinician.post(`/api/v1/visits/${visit.id as string}/messages`, { body: `Chat of ${tag} ${r}` }), 'visit chat');
  const roomName = `room-${tag.toLowerCase()}-${r}`;
  const room = ok(await org.admin.post('/api/v1/rooms', { name: roomName, emptyRoomTimeoutSeconds: 86_400, unusedRoomTimeoutSeconds: 86_400 }), 'room');
  const identity = `ident-${tag.toLowerCase()}-${r}`;
  ok(await org.admin.post('/api/v1/tokens', { room: roomName, identity }), 'token');
  const [recording] = await t.database.db
    .insert(roomRecordings)
    .values({ orgId: org.orgId, roomId: room.id as string, identity, content: 'camera', status: 'completed', providerRef: `ten-${randomUUID()}`, file: 'tenancy/missing.webm', mediaType: 'video/webm', startedAt: new Date(), endedAt: new Date(), bytes: 0 })
    .returning();
  const outbound = ok(await org.clinician.post(`/api/v1/patients/${patientId}/messages`, { body: `Hello ${givenName}` }), 'text');
  const inbound = ok(await org.clinician.post('/api/v1/outbox/inbound', { from: phone, body: 'Thanks, see you then' }), 'reply');
  assert.equal(inbound.patientId, patientId, 'the reply is filed under the patient');
  const strangerPhone = freshPhone();
  const unmatched = ok(await org.clinician.post('/api/v1/outbox/inbound', { from: strangerPhone, body: 'Who is this?' }), 'stranger');
  assert.equal(unmatched.patientId, null);
  const template = ok(await org.admin.post('/api/v1/templates', { name: `Template ${tag}${r}`, purpose: 'custom', channel: 'sms', body: 'Hello from {{orgName}}' }), 'template');
  const form = ok(await org.clinician.post('/api/v1/intake-forms', { name: `Form ${tag}${r}`, fields: [{ id: 'q', label: 'Question', type: 'text', required: false }] }), 'form');
  const intake = ok(await org.clinician.post(`/api/v1/intake-forms/${form.id as string}/send`, { patientId, delivery: 'email_sms' }), 'intake');
  const consentTextVersion = `v-${tag.toLowerCase()}-${r}`;
  ok(await org.admin.post('/api/v1/consent-texts', { kind: 'telehealth', version: consentTextVersion, body: `Consent text of ${tag} ${r}: video visits are private.` }), 'consent text');
  const smsNumber = freshPhone();
  const messagingServiceSid = freshService();
  ok(await org.admin.patch('/api/v1/messaging/settings', { smsNumber, messagingServiceSid }), 'settings', 200);
  const orgName = `Clinic ${tag} ${r}`;
  ok(await org.admin.patch('/api/v1/organization', { name: orgName }), 'org name', 200);
  // The organisation's texts settle (the outbox stores them; with no delivery delay nothing changes after).
  await waitFor('texts sent', async () => {
    const pending = await t.database.db.select({ id: messages.id }).from(messages).where(and(eq(messages.orgId, org.orgId), sql`${messages.status} in ('queued', 'sending')`));
    return pending.length === 0;
  });
  // A care circle: the patient's own member and a family member.
  const careMember = ok(await org.clinician.post(`/api/v1/care/recipients/${patientId}/caregivers`, { displayName: `Family ${tag}${r}`, relationship: 'Daughter', phone: freshPhone() }), 'care member');
  const circle = (await org.clinician.get(`/api/v1/care/recipients/${patientId}/members`)).json() as { id: string; kind: string }[];
  const recipientMemberId = circle.find((m) => m.kind === 'recipient')!.id;
  // A check-in call ringing the family member (no fallback text: only a recipient callee is texted; rung for the
  // longest window, so the sweep leaves it alone during the run) and a schedule.
  const checkin = ok(await org.apiKey.post('/api/v1/checkins', { callerMemberId: recipientMemberId, calleeMemberId: careMember.id, ringSeconds: 600 }), 'check-in call');
  const schedule = ok(await org.clinician.post(`/api/v1/care/recipients/${patientId}/schedules`, { callerMemberId: recipientMemberId, calleeMemberId: careMember.id, frequency: 'once', at: new Date(Date.now() + 30 * 86_400_000).toISOString() }), 'check-in schedule');
  // Last: an active webhook (a closed port), so any event of this organisation during the run leaves a delivery.
  const webhookUrl = `http://127.0.0.1:9/hook-${tag.toLowerCase()}-${r}`;
  const webhook = ok(await org.admin.post('/api/v1/webhooks', { url: webhookUrl, events: ['*'], active: true }), 'webhook');
  const webhookId = (webhook.webhook as { id: string }).id;
  const [delivery] = await t.database.db
    .insert(webhookDeliveries)
    .values({ orgId: org.orgId, subscriptionId: webhookId, messageId: `msg_ten${randomUUID().slice(0, 8)}`, eventType: 'webhook.test', payload: { type: 'webhook.test', timestamp: new Date().toISOString(), data: {} }, status: 'failed' })
    .returning();
  const [adminSession] = await t.database.db.select({ id: sessions.id }).from(sessions).where(eq(sessions.userId, org.admin.user.id)).limit(1);
  const participant = invite.participant as { id: string };
  return {
    org,
    orgName,
    patientId,
    givenName,
    familyName,
    phone,
    email,
    appointmentId: appointment.id as string,
    visitId: visit.id as string,
    participantId: participant.id,
    linkId: invite.linkId as string,
    linkToken: invite.token as string,
    chatMessageId: chat.id as string,
    roomName,
    roomId: room.id as string,
    identity,
    recordingId: recording!.id,
    outboundMessageId: outbound.id as string,
    inboundMessageId: inbound.id as string,
    unmatchedMessageId: unmatched.id as string,
    strangerPhone,
    templateId: template.id as string,
    formId: form.id as string,
    intakeRequestId: intake.id as string,
    webhookId,
    webhookUrl,
    deliveryId: delivery!.id,
    adminSessionId: adminSession!.id,
    consentTextVersion,
    smsNumber,
    messagingServiceSid,
    careMemberId: careMember.id as string,
    recipientMemberId,
    checkinId: checkin.id as string,
    scheduleId: schedule.id as string,
  };
}

/**
 * B's values that organisation A may legitimately come to hold itself during the run (a patient of A created with
 * the same phone number or email, a room of the same name): an answer may carry them when they are A's own.
 */
function valuesOf(s: Seeded): string[] {
  return [s.phone, s.email, s.strangerPhone, s.roomName, s.identity, s.givenName, s.familyName, s.smsNumber, s.messagingServiceSid];
}

/** What must never appear in an answer to another organisation: its ids, names, numbers and emails. */
function markersOf(s: Seeded): string[] {
  const o = s.org;
  return [
    o.orgId,
    o.slug,
    s.orgName,
    o.admin.user.id,
    o.clinician.user.id,
    o.caregiver.user.id,
    o.admin.user.email,
    o.clinician.user.email,
    o.caregiver.user.email,
    o.apiKey.id,
    s.patientId,
    s.givenName,
    s.familyName,
    s.phone,
    s.email,
    s.appointmentId,
    s.visitId,
    s.participantId,
    s.linkId,
    s.linkToken,
    s.chatMessageId,
    s.roomName,
    s.roomId,
    s.identity,
    s.recordingId,
    s.outboundMessageId,
    s.inboundMessageId,
    s.unmatchedMessageId,
    s.strangerPhone,
    s.templateId,
    s.formId,
    s.intakeRequestId,
    s.webhookId,
    s.webhookUrl,
    s.deliveryId,
    s.adminSessionId,
    s.consentTextVersion,
    s.smsNumber,
    s.messagingServiceSid,
    s.careMemberId,
    s.recipientMemberId,
    s.checkinId,
    s.scheduleId,
  ];
}

/**
 * Every row of one organisation in every table (and its organisation row), as text. `deliveriesById`: webhook
 * deliveries by id and event only, attempts left out (an organisation whose own events are being delivered to a
 * closed port keeps retrying them in the background).
 */
async function snapshot(t: TestApp, orgId: string, deliveriesById = false): Promise<Record<string, string[]>> {
  const db = t.database.db;
  const tables = (await db.execute<{ table_name: string }>(sql`select table_name from information_schema.columns where table_schema = 'public' and column_name = 'org_id' order by table_name`)) as unknown as {
    rows: { table_name: string }[];
  };
  const out: Record<string, string[]> = {};
  for (const { table_name } of tables.rows) {
    if (deliveriesById && table_name === 'webhook_attempts') continue;
    const row = deliveriesById && table_name === 'webhook_deliveries' ? sql`jsonb_build_object('id', t.id, 'event', t.event_type)::text` : sql`to_jsonb(t)::text`;
    const rows = (await db.execute<{ r: string }>(sql`select ${row} as r from ${sql.identifier(table_name)} t where t.org_id = ${orgId} order by 1`)) as unknown as { rows: { r: string }[] };
    out[table_name] = rows.rows.map((x) => x.r);
  }
  const org = (await db.execute<{ r: string }>(sql`select to_jsonb(o)::text as r from organizations o where o.id = ${orgId}`)) as unknown as { rows: { r: string }[] };
  out.organizations = org.rows.map((x) => x.r);
  return out;
}

function assertSame(before: Record<string, string[]>, afterwards: Record<string, string[]>, what: string) {
  for (const table of Object.keys(before)) {
    const was = new Set(before[table]);
    const now = new Set(afterwards[table]);
    const added = afterwards[table]!.filter((r) => !was.has(r));
    const removed = before[table]!.filter((r) => !now.has(r));
    assert.deepEqual({ table, added, removed }, { table, added: [], removed: [] }, `${what}: ${table} changed`);
  }
}

function encodePath(template: string, values: Record<string, string>): string {
  return template.replace(/\{([^}]+)\}/g, (_m, name: string) => encodeURIComponent(values[name]!));
}

for (const kind of DB_KINDS) {
  describe(`tenancy: every operation with another organisation's ids and values (${kind})`, () => {
    let t: TestApp;
    let A: Seeded;
    let B: Seeded;
    /** A third organisation: its number, service and emails are "held elsewhere" too. */
    let C: Seeded;
    let operations: Operation[];

    before(async () => {
      t = await createTestApp(kind, {
        env: { OUTBOX_DELIVERY_DELAY_MS: '0', MESSAGING_QUIET_HOURS: '', LOGIN_RATE_LIMIT_PER_MINUTE: '10000', TOKEN_RATE_LIMIT_PER_MINUTE: '100000', CHAT_RATE_LIMIT_PER_MINUTE: '100000' },
      });
      const [oa, ob, oc] = [await createTestOrg(t.app), await createTestOrg(t.app), await createTestOrg(t.app)];
      A = await seed(t, oa, 'A');
      B = await seed(t, ob, 'B');
      C = await seed(t, oc, 'C');
      operations = (await apiOperations(t.app)).operations.filter(takesInput);
    });
    after(() => t?.close());

    /** A path parameter's value in an organisation (by the parameter and the resource it follows). */
    const pathValue = (s: Seeded, path: string, name: string): string | undefined => {
      if (name === 'name') return s.roomName;
      if (name === 'identity') return s.identity;
      if (name === 'linkId') return s.linkId;
      if (name === 'pid') return s.participantId;
      // A co-host is a staff user of the visit's organisation (DELETE /visits/{id}/cohosts/{userId}).
      if (name === 'userId') return s.org.clinician.user.id;
      if (name === 'recordingId') return s.recordingId;
      if (name === 'deliveryId') return s.deliveryId;
      if (name === 'patientId') return s.patientId;
      if (name !== 'id') return undefined;
      if (path.startsWith('/api/v1/auth/sessions/')) return s.adminSessionId;
      if (path.startsWith('/api/v1/outbox/messages/')) return s.outboundMessageId;
      if (path.startsWith('/api/v1/messages/')) return s.unmatchedMessageId;
      if (path.startsWith('/api/v1/care/members/')) return s.careMemberId;
      const resource = /^\/api\/v1\/([a-z-]+)\//.exec(path)?.[1];
      const byResource: Record<string, string> = {
        patients: s.patientId,
        appointments: s.appointmentId,
        users: s.org.clinician.user.id,
        'api-keys': s.org.apiKey.id,
        visits: s.visitId,
        webhooks: s.webhookId,
        templates: s.templateId,
        'intake-forms': s.formId,
        'intake-requests': s.intakeRequestId,
        recordings: s.recordingId,
        checkins: s.checkinId,
        'checkin-schedules': s.scheduleId,
      };
      return resource ? byResource[resource] : undefined;
    };
    /** The same parameter pointing at nothing. */
    const missingPathValue = (param: { name: string }): string => (param.name === 'name' || param.name === 'identity' ? freshName() : randomUUID());

    /**
     * Body and query fields that carry an organisation's ids or values: each gets its own case with B's value
     * (and a twin with a value nobody holds). `held`: values unique across the installation, whose twin is a
     * value another organisation holds (the answer must not tell which one).
     */
    const FIELDS: Record<string, { of: (s: Seeded, op: Operation) => unknown; missing: () => unknown; held?: (op: Operation) => boolean }> = {
      patientId: { of: (s) => s.patientId, missing: () => randomUUID() },
      patientIds: { of: (s) => [s.patientId], missing: () => [randomUUID()] },
      clinicianId: { of: (s) => s.org.clinician.user.id, missing: () => randomUUID() },
      hostUserId: { of: (s) => s.org.clinician.user.id, missing: () => randomUUID() },
      actorId: { of: (s) => s.org.admin.user.id, missing: () => randomUUID() },
      targetId: { of: (s) => s.patientId, missing: () => randomUUID() },
      appointmentId: { of: (s) => s.appointmentId, missing: () => randomUUID() },
      templateId: { of: (s) => s.templateId, missing: () => randomUUID() },
      after: { of: (s) => s.chatMessageId, missing: () => randomUUID() },
      // Names an id field may take as routes grow (a private chat message to one participant, …).
      participantId: { of: (s) => s.participantId, missing: () => randomUUID() },
      toParticipantId: { of: (s) => s.participantId, missing: () => randomUUID() },
      userId: { of: (s) => s.org.clinician.user.id, missing: () => randomUUID() },
      visitId: { of: (s) => s.visitId, missing: () => randomUUID() },
      formId: { of: (s) => s.formId, missing: () => randomUUID() },
      roomId: { of: (s) => s.roomId, missing: () => randomUUID() },
      linkId: { of: (s) => s.linkId, missing: () => randomUUID() },
      messageId: { of: (s) => s.outboundMessageId, missing: () => randomUUID() },
      recordingId: { of: (s) => s.recordingId, missing: () => randomUUID() },
      webhookId: { of: (s) => s.webhookId, missing: () => randomUUID() },
      recipientId: { of: (s) => s.patientId, missing: () => randomUUID() },
      memberId: { of: (s) => s.careMemberId, missing: () => randomUUID() },
      callerMemberId: { of: (s) => s.recipientMemberId, missing: () => randomUUID() },
      calleeMemberId: { of: (s) => s.careMemberId, missing: () => randomUUID() },
      phone: { of: (s) => s.phone, missing: freshPhone },
      from: { of: (s) => s.phone, missing: freshPhone },
      email: { of: (s, op) => (op.path.startsWith('/api/v1/users') ? s.org.clinician.user.email : s.email), missing: freshEmail, held: (op) => op.path.startsWith('/api/v1/users') },
      smsNumber: { of: (s) => s.smsNumber, missing: freshPhone, held: () => true },
      messagingServiceSid: { of: (s) => s.messagingServiceSid, missing: freshService, held: () => true },
      room: { of: (s) => s.roomName, missing: freshName },
      q: { of: (s, op) => (op.path.startsWith('/api/v1/users') ? s.org.admin.user.email : s.familyName), missing: freshName },
    };
    /** uuid fields that name nothing of another organisation's (none today): listed so a new id field fails until it is mapped. */
    const NOT_AN_ORG_ID = new Set<string>([]);

    /** A value the schema accepts; ids and values from `own` (the caller's organisation) where the name says which. */
    const synth = (schema: JsonSchema, name: string, own: Seeded, op: Operation): unknown => {
      if (schema.anyOf) return synth(schema.anyOf.find((s) => s.type !== 'null') ?? schema.anyOf[0]!, name, own, op);
      if (schema.const !== undefined) return schema.const;
      if (schema.enum) return schema.enum[0];
      switch (schema.type) {
        case 'object': {
          const out: Record<string, unknown> = {};
          for (const key of schema.required ?? []) out[key] = synth(schema.properties![key]!, key, own, op);
          return out;
        }
        case 'array':
          return Array.from({ length: Math.max(schema.minItems ?? 1, 1) }, () => synth(schema.items!, name.replace(/s$/, ''), own, op));
        case 'integer':
        case 'number':
          return Math.max(schema.minimum ?? 1, 1);
        case 'boolean':
          return false;
        default: {
          if (isUuid(schema)) {
            const field = FIELDS[name] ?? FIELDS[`${name}s`];
            const v = field?.of(own, op);
            return Array.isArray(v) ? v[0] : (v ?? randomUUID());
          }
          if (schema.format === 'date-time') return new Date(Date.now() + 7 * 86_400_000).toISOString();
          if (schema.format === 'date') return '1980-01-01';
          if (schema.format === 'email') return freshEmail();
          if (name === 'phone' || name === 'from') return freshPhone();
          if (name === 'room') return own.roomName;
          if (name === 'timeZone') return 'UTC';
          // Unique, so that a pair of creates never collides on a name.
          return `t${randomBytes(6).toString('hex')}`.padEnd(Math.max(schema.minLength ?? 1, 10), 'z');
        }
      }
    };

    /** Optional fields a body of optional fields only gets (the first the schema has). */
    const HARMLESS = ['description', 'name', 'givenName', 'reminderOffsetsMinutes', 'subject', 'body', 'locked', 'audioMuted', 'audio', 'group', 'active', 'timeZone', 'durationMinutes', 'startsAt'];

    /** A's admin (a session cookie), A's API key, and A's patient in a visit of A's (a participant session). */
    type Caller = 'session' | 'apiKey' | 'participant';

    interface Variant {
      label: string;
      method: string;
      /** With B's values, and its twin with values nobody (or another organisation) holds. */
      b: { url: string; body?: unknown };
      twin: { url: string; body?: unknown };
      /** The path names B's record: never 2xx. */
      pathNamesB: boolean;
      /** B's values sent in this request (an answer may echo what the caller sent). */
      sent: string[];
      /** Installation-wide unique values: the twin is held by another organisation, and the messages match too. */
      held: boolean;
    }

    const variantsFor = (op: Operation): Variant[] => {
      const name = `${op.method} ${op.path}`;
      const pathParams = op.params.filter((p) => p.in === 'path');
      const queryParams = op.params.filter((p) => p.in === 'query');
      const ownPath: Record<string, string> = {};
      const bPath: Record<string, string> = {};
      const missingPath: Record<string, string> = {};
      for (const p of pathParams) {
        const own = pathValue(A, op.path, p.name);
        const theirs = pathValue(B, op.path, p.name);
        assert.ok(own && theirs, `${name}: no case for the path parameter {${p.name}} (add it to pathValue)`);
        ownPath[p.name] = own;
        bPath[p.name] = theirs;
        missingPath[p.name] = missingPathValue(p);
      }
      /** A valid body with the caller's own ids (fresh names each time, so a pair of creates never collides). */
      const requiredBody = () => (op.body ? (synth(op.body, 'body', A, op) as Record<string, unknown>) : undefined);
      const baseBody = () => {
        if (!op.body) return undefined;
        const body = requiredBody()!;
        // A body of optional fields only (a PATCH): one harmless field, so the call reaches its lookup.
        if (Object.keys(body).length === 0) {
          const [key, schema] = Object.entries(op.body.properties ?? {}).find(([k]) => HARMLESS.includes(k)) ?? [];
          if (key && schema) body[key] = synth(schema, key, A, op);
        }
        return body;
      };
      const withBody = (body: Record<string, unknown> | undefined) => (body ? { body } : {});
      // An id field this file does not know fails the test: it may hold another organisation's id.
      const idFields = [
        ...Object.entries(op.body?.properties ?? {}).map(([k, s]) => [k, s] as const),
        ...queryParams.map((p) => [p.name, p.schema] as const),
      ].filter(([k, s]) => isUuid(s) && !FIELDS[k] && !NOT_AN_ORG_ID.has(k));
      assert.deepEqual(idFields.map(([k]) => k), [], `${name}: id fields with no case (add them to FIELDS)`);

      const variants: Variant[] = [];
      const sentOf = (v: unknown) => (Array.isArray(v) ? v.map(String) : [String(v)]);
      // 1. B's record in the path (the body otherwise valid, with the caller's own ids).
      variants.push({
        label: `${name} [path]`,
        method: op.method,
        b: { url: encodePath(op.path, bPath), ...withBody(baseBody()) },
        twin: { url: encodePath(op.path, missingPath), ...withBody(baseBody()) },
        pathNamesB: pathParams.length > 0,
        sent: Object.values(bPath),
        held: false,
      });
      // 1b. With several path parameters, each alone B's, the others the caller's own (A's visit, B's participant).
      if (pathParams.length > 1) {
        for (const p of pathParams) {
          variants.push({
            label: `${name} [path ${p.name}]`,
            method: op.method,
            b: { url: encodePath(op.path, { ...ownPath, [p.name]: bPath[p.name]! }), ...withBody(baseBody()) },
            twin: { url: encodePath(op.path, { ...ownPath, [p.name]: missingPath[p.name]! }), ...withBody(baseBody()) },
            // An identity in the caller's own room is a name the caller chooses (routing may be set before anyone
            // joins): the same string as B's names nothing of B's.
            pathNamesB: p.name !== 'identity',
            sent: [bPath[p.name]!],
            held: false,
          });
        }
      }
      if (op.public) return variants; // sign-in/out: not the caller's organisation at all (a failed sign-in is the account's own audit)
      // 2. Each body field that can carry B's value, on the caller's own record.
      for (const [key, schema] of Object.entries(op.body?.properties ?? {})) {
        const field = FIELDS[key];
        if (!field) continue;
        const theirs = field.of(B, op);
        const held = field.held?.(op) ?? false;
        const twinValue = held ? field.of(C, op) : field.missing();
        const body = (v: unknown) => ({ ...requiredBody(), [key]: v });
        void schema;
        variants.push({ label: `${name} [body ${key}]`, method: op.method, b: { url: encodePath(op.path, ownPath), body: body(theirs) }, twin: { url: encodePath(op.path, ownPath), body: body(twinValue) }, pathNamesB: false, sent: sentOf(theirs), held });
      }
      // 3. Each query field that can.
      for (const p of queryParams) {
        const field = FIELDS[p.name];
        if (!field) continue;
        const theirs = field.of(B, op);
        const q = (v: unknown) => `${encodePath(op.path, ownPath)}?${p.name}=${encodeURIComponent(String(Array.isArray(v) ? v[0] : v))}`;
        variants.push({ label: `${name} [query ${p.name}]`, method: op.method, b: { url: q(theirs) }, twin: { url: q(field.missing()) }, pathNamesB: false, sent: sentOf(theirs), held: false });
      }
      if (op.path === '/api/v1/patients' && op.method === 'GET') {
        // The list's search matches names, numbers and emails.
        for (const value of [B.givenName, B.phone, B.email]) {
          variants.push({ label: `${name} [query q=${value === B.phone ? 'phone' : value === B.email ? 'email' : 'name'}]`, method: op.method, b: { url: `${op.path}?q=${encodeURIComponent(value)}` }, twin: { url: `${op.path}?q=${freshName()}` }, pathNamesB: false, sent: [value], held: false });
        }
      }
      return variants;
    };

    /** A's patient in A's visit, signed in as POST /join does (without waiting for the visit's join window). */
    const participantSession = async (): Promise<string> => {
      const token = newSecret(PARTICIPANT_SESSION_PREFIX);
      await t.database.db.insert(participantSessions).values({ orgId: A.org.orgId, visitId: A.visitId, participantId: A.participantId, tokenHash: sha256Hex(token), linkId: A.linkId, expiresAt: new Date(Date.now() + 3600_000) });
      return token;
    };

    const send = async (who: Caller, method: string, url: string, body: unknown): Promise<LightMyRequestResponse> => {
      // A fresh session per call: sign-out and session revocation are among the operations.
      const headers =
        who === 'session'
          ? { cookie: `${SESSION_COOKIE}=${await sessionFor(t.database, A.org.admin.user)}` }
          : who === 'participant'
            ? { authorization: `Bearer ${await participantSession()}` }
            : A.org.apiKey.headers;
      return t.app.inject({
        method: method as InjectOptions['method'],
        url,
        headers: { ...headers, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { payload: JSON.stringify(body) } : {}),
      });
    };

    const codeOf = (res: LightMyRequestResponse): string => {
      if (res.statusCode < 400) return '';
      try {
        return errorOf(res).code;
      } catch {
        return `not the error shape: ${res.body.slice(0, 80)}`;
      }
    };

    test('A with B’s ids and values: the answer a missing record gets, none of B’s data, nothing of B changed', { timeout: 240_000 }, async () => {
      assert.ok(operations.length >= 100, `the document lists ${operations.length} operations`);
      const markers = markersOf(B);
      const before = await snapshot(t, B.org.orgId);
      assert.ok(before.patients!.length > 0 && before.messages!.length >= 3 && before.audit_events!.length > 10 && before.webhook_deliveries!.length === 1, 'B has a full set of data');
      const problems: string[] = [];
      const leaks: { label: string; leaked: string[] }[] = [];
      const covered = new Set<string>();
      let sent = 0;
      for (const op of operations) {
        const variants = variantsFor(op);
        assert.ok(variants.length > 0, `${op.method} ${op.path} has no case`);
        for (const who of ['session', 'apiKey', 'participant'] as const) {
          if (who !== 'session' && op.public) continue;
          for (const v of variants) {
            const theirs = await send(who, v.method, v.b.url, v.b.body);
            const twin = await send(who, v.method, v.twin.url, v.twin.body);
            sent += 2;
            const label = `[${who}] ${v.label}`;
            if (theirs.statusCode >= 500) problems.push(`${label}: ${theirs.statusCode} ${theirs.body.slice(0, 160)}`);
            if (v.pathNamesB && theirs.statusCode < 300) problems.push(`${label}: ${theirs.statusCode} for B's record ${theirs.body.slice(0, 160)}`);
            if (theirs.statusCode !== twin.statusCode || codeOf(theirs) !== codeOf(twin)) {
              problems.push(`${label}: ${theirs.statusCode} ${codeOf(theirs)} with B's value, ${twin.statusCode} ${codeOf(twin)} without (${theirs.body.slice(0, 160)})`);
            } else if (v.held && theirs.statusCode >= 400 && errorOf(theirs).message !== errorOf(twin).message) {
              problems.push(`${label}: the refusal differs by who holds the value: "${errorOf(theirs).message}" / "${errorOf(twin).message}"`);
            }
            const leaked = markers.filter((m) => !v.sent.includes(m) && theirs.body.includes(m));
            if (leaked.length > 0) leaks.push({ label, leaked });
            covered.add(`${op.method} ${op.path}`);
            if (process.env.TENANCY_DEBUG) console.log(`${label}: ${theirs.statusCode} ${codeOf(theirs)} / ${twin.statusCode} ${codeOf(twin)}${theirs.statusCode === 400 ? ` ${JSON.stringify(v.b.body)} ${theirs.body.slice(0, 300)}` : ''}`);
          }
        }
      }
      // A value of B's that A now holds itself (the cases above created A's records with B's numbers and emails)
      // may appear in A's answers; B's ids never.
      const aHolds = JSON.stringify(await snapshot(t, A.org.orgId));
      for (const { label, leaked } of leaks) {
        const really = leaked.filter((m) => !(valuesOf(B).includes(m) && aHolds.includes(m)));
        if (really.length > 0) problems.push(`${label}: the answer carries B's ${really.join(', ')}`);
      }
      console.log(`tenancy ${kind}: ${operations.length} operations, ${sent} requests`);
      for (const p of problems) console.log(`  ${p.slice(0, 400)}`);
      assert.deepEqual(problems, []);
      assert.deepEqual(
        operations.map((o) => `${o.method} ${o.path}`).filter((o) => !covered.has(o)),
        [],
        'every operation was called',
      );
      assertSame(before, await snapshot(t, B.org.orgId), 'B after every operation');
    });

    test('the outbox’s inbound text belongs to the caller’s organisation, both ways, and answers the same for any number', async () => {
      const bBefore = await snapshot(t, B.org.orgId);
      // A's clinician texts STOP "from" B's patient's number: filed in A's unmatched inbox; B's consent, conversation,
      // webhook and patient untouched.
      const stop = await A.org.clinician.post('/api/v1/outbox/inbound', { from: B.phone, body: 'STOP' });
      const unknown = await A.org.clinician.post('/api/v1/outbox/inbound', { from: freshPhone(), body: 'STOP' });
      assert.equal(stop.statusCode, 201, stop.body);
      assert.equal(unknown.statusCode, 201, unknown.body);
      const m = stop.json() as Message;
      assert.equal(m.patientId, null);
      assert.deepEqual(Object.keys(m).sort(), Object.keys(unknown.json() as Message).sort());
      const inbox = (await A.org.clinician.get('/api/v1/messages?unmatched=true&limit=100')).json() as { data: Message[] };
      assert.ok(inbox.data.some((x) => x.id === m.id), 'in A’s unmatched inbox');
      const [stored] = await t.database.db.select().from(messages).where(eq(messages.id, m.id));
      assert.equal(stored!.orgId, A.org.orgId);
      await waitFor('A’s keyword reply settled', async () => {
        const pending = await t.database.db.select({ id: messages.id }).from(messages).where(and(eq(messages.orgId, A.org.orgId), sql`${messages.status} in ('queued', 'sending')`));
        return pending.length === 0;
      });
      assertSame(bBefore, await snapshot(t, B.org.orgId), 'B after A texted STOP from B’s patient’s number');
      const bConsents = await t.database.db.select().from(patientConsents).where(and(eq(patientConsents.orgId, B.org.orgId), eq(patientConsents.patientId, B.patientId), eq(patientConsents.kind, 'sms')));
      assert.deepEqual(bConsents.map((c) => c.status), ['granted']);

      // The other way: B's clinician texts "from" A's patient's number: B's unmatched inbox, A untouched.
      const aBefore = await snapshot(t, A.org.orgId, true);
      const reverse = await B.org.clinician.post('/api/v1/outbox/inbound', { from: A.phone, body: 'Is this the clinic?' });
      assert.equal(reverse.statusCode, 201, reverse.body);
      assert.equal((reverse.json() as Message).patientId, null);
      const [r] = await t.database.db.select().from(messages).where(eq(messages.id, (reverse.json() as Message).id));
      assert.equal(r!.orgId, B.org.orgId);
      assertSame(aBefore, await snapshot(t, A.org.orgId, true), 'A after B texted from A’s patient’s number');
      // A conversation of its own still matches: A's patient's number texted in A lands in A's conversation.
      const mine = ok(await A.org.clinician.post('/api/v1/patients', { givenName: 'Own', familyName: 'Patient', phone: freshPhone() }), 'own patient');
      const own = await A.org.clinician.post('/api/v1/outbox/inbound', { from: mine.phone, body: 'Running late' });
      assert.equal((own.json() as Message).patientId, mine.id);
    });

    test('messaging settings: an SMS number or messaging service another organisation holds is refused alike, naming no one', async () => {
      const number = await A.org.admin.patch('/api/v1/messaging/settings', { smsNumber: B.smsNumber });
      const other = await A.org.admin.patch('/api/v1/messaging/settings', { smsNumber: C.smsNumber });
      for (const res of [number, other]) {
        assert.equal(res.statusCode, 409, res.body);
        assert.equal(errorOf(res).code, 'already_exists');
        assert.deepEqual((errorOf(res).details as { path: string }[]).map((d) => d.path), ['body/smsNumber']);
        assert.ok(!res.body.includes(B.org.orgId) && !res.body.includes(B.orgName) && !res.body.includes(C.orgName));
      }
      assert.equal(errorOf(number).message, errorOf(other).message);
      const service = await A.org.admin.patch('/api/v1/messaging/settings', { messagingServiceSid: B.messagingServiceSid.replace(/[a-f]/g, (c) => c.toUpperCase()) });
      assert.equal(service.statusCode, 409, service.body);
      assert.deepEqual((errorOf(service).details as { path: string }[]).map((d) => d.path), ['body/messagingServiceSid']);
      const settings = (await A.org.admin.get('/api/v1/messaging/settings')).json() as { smsNumber: string; messagingServiceSid: string };
      assert.equal(settings.smsNumber, A.smsNumber, 'unchanged by the refusals');
      assert.equal(settings.messagingServiceSid, A.messagingServiceSid);
      for (const [field, value] of [
        ['smsNumber', '5555550100'],
        ['smsNumber', '+1'],
        ['messagingServiceSid', 'MG123'],
        ['messagingServiceSid', `AC${'0'.repeat(32)}`],
      ] as const) {
        const bad = await A.org.admin.patch('/api/v1/messaging/settings', { [field]: value });
        assert.equal(bad.statusCode, 400, `${field}=${value}: ${bad.body}`);
        assert.ok(['validation_failed', 'invalid_phone_number'].includes(errorOf(bad).code));
      }
    });
  });
}

const ACCOUNT = `AC${'b2'.repeat(16)}`;
const TOKEN = '0123456789abcdef'.repeat(2);
const FROM = '+15005550006';

for (const kind of DB_KINDS) {
  describe(`tenancy: a real inbound text belongs to the organisation that received it (${kind})`, () => {
    let fake: FakeTwilio;
    let t: TestApp;
    let base: string;
    /** The oldest organisation: texts from the configured number, no number of its own. */
    let first: TestOrg;
    /** Its own SMS number. */
    let numbered: TestOrg;
    /** Its own messaging service. */
    let serviced: TestOrg;
    /** Texts from the configured number too. */
    let other: TestOrg;
    const ownNumber = freshPhone();
    const ownService = freshService();
    const shared = freshPhone(); // a family's phone: a patient in every organisation

    before(async () => {
      fake = await startFakeTwilio({ accountSid: ACCOUNT, authToken: TOKEN, messagingServiceFrom: '+15005550077' });
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      t = await createTestApp(kind, {
        env: { MESSAGING_PROVIDER: 'twilio', TWILIO_ACCOUNT_SID: ACCOUNT, TWILIO_AUTH_TOKEN: TOKEN, TWILIO_FROM_NUMBER: FROM, TWILIO_API_BASE_URL: fake.url, PUBLIC_URL: base, SMS_SENDER_RATE_PER_SECOND: '1000', MESSAGING_QUIET_HOURS: '' },
      });
      await t.listen(port);
      first = await createTestOrg(t.app);
      numbered = await createTestOrg(t.app);
      serviced = await createTestOrg(t.app);
      other = await createTestOrg(t.app);
      ok(await numbered.admin.patch('/api/v1/messaging/settings', { smsNumber: ownNumber }), 'own number', 200);
      ok(await serviced.admin.patch('/api/v1/messaging/settings', { messagingServiceSid: ownService }), 'own service', 200);
    });
    after(async () => {
      await t?.close();
      await fake?.close();
    });

    const inbound = (params: Record<string, string>) => fake.inbound(`${base}/webhooks/twilio/sms`, params as { From: string; To: string; Body: string });
    const inboundOf = async (org: TestOrg, sid: string) => {
      const [row] = await t.database.db.select().from(messages).where(and(eq(messages.providerMessageId, sid), eq(messages.direction, 'inbound')));
      assert.ok(row, 'stored');
      assert.equal(row.orgId, org.orgId);
      return row;
    };

    test('settings show the organisation’s own number and service; sends go out from them, else from the configured number', async () => {
      const settings = (await numbered.admin.get('/api/v1/messaging/settings')).json() as { smsNumber: string | null; messagingServiceSid: string | null };
      assert.deepEqual([settings.smsNumber, settings.messagingServiceSid], [ownNumber, null]);
      for (const [org, phone] of [
        [first, freshPhone()],
        [numbered, freshPhone()],
        [serviced, freshPhone()],
      ] as const) {
        const p = await newPatient(org, { phone });
        const m = (await send(org.clinician, p.id, { body: 'Your visit is at 10:00.' })).json() as Message;
        await waitFor('sent to Twilio', async () => (await messageOf(org.clinician, m.id)).providerMessageId);
        const [created] = fake.sendsTo(phone);
        if (org === numbered) assert.deepEqual([created!.from, created!.messagingServiceSid], [ownNumber, null]);
        else if (org === serviced) assert.deepEqual([created!.from === null || created!.from === '+15005550077', created!.messagingServiceSid], [true, ownService]);
        else assert.deepEqual([created!.from, created!.messagingServiceSid], [FROM, null]);
      }
      fake.assertNoViolations();
    });

    test('To an organisation’s own number or service: that organisation, whichever organisations know the sender', async () => {
      const patients = {
        first: await newPatient(first, { phone: shared }),
        numbered: await newPatient(numbered, { phone: shared }),
        serviced: await newPatient(serviced, { phone: shared }),
      };
      const firstBefore = await snapshot(t, first.orgId, true);
      const toNumber = await inbound({ From: shared, To: ownNumber, Body: 'STOP' });
      assert.equal(toNumber.status, 200, toNumber.body);
      const row = await inboundOf(numbered, toNumber.params.MessageSid!);
      assert.equal(row.patientId, patients.numbered.id);
      const consent = (id: string, org: TestOrg) => org.clinician.get(`/api/v1/patients/${id}`).then((r) => (r.json() as { consents: { kind: string; status: string }[] }).consents.find((c) => c.kind === 'sms')?.status);
      assert.equal(await consent(patients.numbered.id, numbered), 'revoked', 'STOP applies where it was received');
      assert.equal(await consent(patients.first.id, first), 'granted', 'and nowhere else');
      assert.equal(await consent(patients.serviced.id, serviced), 'granted');
      assertSame(firstBefore, await snapshot(t, first.orgId, true), 'the oldest organisation after a text to another’s number');

      const toService = await inbound({ From: shared, To: '+15005550077', MessagingServiceSid: ownService, Body: 'Running late' });
      assert.equal(toService.status, 200, toService.body);
      assert.equal((await inboundOf(serviced, toService.params.MessageSid!)).patientId, patients.serviced.id);
    });

    test('To the configured number: the organisation that last texted the sender from it, else the oldest; never a patient match elsewhere', async () => {
      const phone = freshPhone();
      // `other` texted this number from the configured number; `first` merely has a patient with it.
      const theirs = await newPatient(other, { phone });
      const mine = await newPatient(first, { phone });
      const m = (await send(other.clinician, theirs.id, { body: 'See you tomorrow' })).json() as Message;
      await waitFor('sent', async () => (await messageOf(other.clinician, m.id)).providerMessageId);
      const reply = await inbound({ From: phone, To: FROM, Body: 'Thanks' });
      assert.equal((await inboundOf(other, reply.params.MessageSid!)).patientId, theirs.id);
      assert.ok(!(await conversation(first.clinician, mine.id)).some((x) => x.direction === 'inbound'));

      // Nobody texted this sender: the oldest organisation's unmatched inbox, even though `other` has a patient with it.
      const stranger = freshPhone();
      await newPatient(other, { phone: stranger });
      const cold = await inbound({ From: stranger, To: FROM, Body: 'Hello?' });
      const row = await inboundOf(first, cold.params.MessageSid!);
      assert.equal(row.patientId, null);
      // `numbered` texts from its own number: its conversations do not claim texts to the configured number.
      const p = await newPatient(numbered, { phone: freshPhone() });
      const sent = (await send(numbered.clinician, p.id, { body: 'From our own number' })).json() as Message;
      await waitFor('sent', async () => (await messageOf(numbered.clinician, sent.id)).providerMessageId);
      const misdirected = await inbound({ From: p.phone!, To: FROM, Body: 'Wrong number' });
      assert.equal((await inboundOf(first, misdirected.params.MessageSid!)).patientId, null);
    });

    test('a status callback only touches the message it names', async () => {
      const a = await newPatient(first, { phone: freshPhone() });
      const b = await newPatient(other, { phone: freshPhone() });
      const ma = (await send(first.clinician, a.id, { body: 'Message A' })).json() as Message;
      const sidA = await waitFor('A sent', async () => (await messageOf(first.clinician, ma.id)).providerMessageId);
      // Another organisation's text whose send is still in flight (no Twilio sid recorded yet), and one sent
      // through the outbox before the provider changed.
      const inFlight = { orgId: other.orgId, patientId: b.id, direction: 'outbound' as const, channel: 'sms' as const, toAddress: b.phone!, bodyEnc: 'x', status: 'sending' as const, statusRank: 1, lockedUntil: new Date(Date.now() + 3600_000) };
      const [mb] = await t.database.db.insert(messages).values({ ...inFlight, provider: 'twilio' }).returning();
      const [mo] = await t.database.db.insert(messages).values({ ...inFlight, provider: 'outbox' }).returning();
      const callback = async (m: string, sid: string) => {
        const url = `${base}/webhooks/twilio/sms-status?m=${m}`;
        const params = { MessageSid: sid, SmsSid: sid, MessageStatus: 'delivered', AccountSid: ACCOUNT, To: a.phone!, From: FROM };
        const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(TOKEN, url, params) }, body: new URLSearchParams(params).toString() });
        return res.status;
      };
      // Signed callbacks naming B's message (?m=) with A's sid, or naming a message that never went through
      // Twilio: nothing moves, and no 5xx.
      assert.equal(await callback(mb!.id, sidA), 204);
      assert.equal(await callback(mo!.id, `SM${randomBytes(16).toString('hex')}`), 204);
      assert.equal((await messageOf(first.clinician, ma.id)).status, 'sending');
      for (const row of [mb!, mo!]) {
        const [now] = await t.database.db.select().from(messages).where(eq(messages.id, row.id));
        assert.deepEqual([now!.status, now!.providerMessageId], ['sending', null]);
      }
      // The callback of its own sid still lands.
      const own = `SM${randomBytes(16).toString('hex')}`;
      assert.equal(await callback(mb!.id, own), 204);
      const [landed] = await t.database.db.select().from(messages).where(eq(messages.id, mb!.id));
      assert.deepEqual([landed!.status, landed!.providerMessageId], ['delivered', own]);
    });
  });
}
