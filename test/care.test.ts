import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { and, asc, eq } from 'drizzle-orm';
import type { LightMyRequestResponse } from 'fastify';
import { WebSocket } from 'ws';
import { MEMBER_COOKIE } from '../src/server/auth/secrets.js';
import { createCareLink, memberDisplayNames, membersOfPrincipal } from '../src/server/checkins/care.js';
import { systemCtx, type Ctx } from '../src/server/context.js';
import { auditEvents, careLinks, careMembers, memberSessions, users } from '../src/server/db/schema.js';
import { seedDemo } from '../src/server/demo/seed.js';
import { EVENTS_PATH } from '../src/server/realtime/hub.js';
import { linkSigningSecret } from '../src/server/secrets.js';
import { createLinkSigner } from '../src/server/visits/links.js';
import type { CareLink, CareMe, CareMember, CareSession } from '../src/shared/api/checkins.js';
import { HUB_CLOSE, type HubMessage, type OrgEvent } from '../src/shared/events.js';
import { createTestApp, SETUPS, type TestApp } from './helpers/app.js';
import { addStaff, caller, createTestOrg, detailPaths, errorOf, expectStatus, type Caller, type TestOrg } from './helpers/builders.js';

/**
 * Care circles and member sessions (docs/checkins.md, "Care circles"). Care does not touch the media provider (no
 * room, no token: those are the calls'), so the suite runs on both databases with the builtin provider only; the
 * Twilio setups would repeat the same queries.
 */
const CARE_SETUPS = SETUPS.filter((s) => s.media === 'builtin');

const WAIT_MS = 5000;

/** A hub socket recording what it receives and its close. */
class HubSocket {
  readonly messages: HubMessage[] = [];
  closed: number | undefined;
  readonly #waiters = new Set<() => void>();
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => (this.messages.push(JSON.parse(String(data)) as HubMessage), this.#poke()));
    ws.on('close', (code) => ((this.closed = code), this.#poke()));
  }
  #poke(): void {
    for (const w of [...this.#waiters]) w();
  }
  until<T>(what: string, check: () => T | undefined, ms = WAIT_MS): Promise<T> {
    return new Promise((resolve, reject) => {
      const done = () => {
        const v = check();
        if (v === undefined) return;
        clearTimeout(timer);
        this.#waiters.delete(done);
        resolve(v);
      };
      const timer = setTimeout(() => (this.#waiters.delete(done), reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(this.messages)}`))), ms);
      this.#waiters.add(done);
      done();
    });
  }
  events(): OrgEvent[] {
    return this.messages.flatMap((m) => (m.type === 'event' ? [m.event] : []));
  }
  close(): void {
    this.ws.terminate();
  }
}

async function hubConnect(base: string, headers: Record<string, string>, origin?: string): Promise<HubSocket | { refused: number }> {
  const ws = new WebSocket(`${base.replace('http', 'ws')}${EVENTS_PATH}`, { headers, ...(origin ? { origin } : {}) });
  const socket = new HubSocket(ws);
  const outcome = await new Promise<'open' | number>((resolve, reject) => {
    ws.once('open', () => resolve('open'));
    ws.once('unexpected-response', (req, res) => (req.destroy(), resolve(res.statusCode ?? 0)));
    ws.once('error', reject);
  });
  if (outcome !== 'open') {
    ws.on('error', () => {});
    ws.terminate();
    return { refused: outcome };
  }
  await socket.until('hello', () => socket.messages.find((m) => m.type === 'hello'));
  return socket;
}

function cookieOf(res: LightMyRequestResponse): { value: string; attributes: string } {
  const header = ([] as string[]).concat(res.headers['set-cookie'] ?? []).find((c) => c.startsWith(`${MEMBER_COOKIE}=`));
  assert.ok(header, `an ${MEMBER_COOKIE} cookie is set: ${JSON.stringify(res.headers['set-cookie'])}`);
  return { value: header.split(';')[0]!.slice(MEMBER_COOKIE.length + 1), attributes: header };
}

const tokenOf = (link: CareLink) => new URL(link.url).searchParams.get('t')!;

for (const setup of CARE_SETUPS) {
  describe(`care circles and member sessions on ${setup.label}`, () => {
    let t: TestApp;
    let a: TestOrg;
    let b: TestOrg;
    let base: string;
    const published: { orgId: string; event: OrgEvent }[] = [];
    const sockets: HubSocket[] = [];

    before(async () => {
      t = await createTestApp(setup.db, { media: setup.media, env: { LOGIN_RATE_LIMIT_PER_MINUTE: '10000' } });
      base = await t.listen();
      t.app.realtime.observe((orgId, event) => void published.push({ orgId, event }));
      [a, b] = await Promise.all([createTestOrg(t.app), createTestOrg(t.app)]);
    });
    after(async () => {
      for (const s of sockets) s.close();
      await t.close();
    });

    const newPatient = async (org: TestOrg, givenName = 'Rose', familyName = 'Whitfield'): Promise<string> => {
      const res = await org.clinician.post('/api/v1/patients', { givenName, familyName });
      assert.equal(res.statusCode, 201, res.body);
      return res.json().id as string;
    };
    const addFamily = async (org: TestOrg, patientId: string, body: Record<string, unknown> = {}): Promise<CareMember> => {
      const res = await org.clinician.post(`/api/v1/care/recipients/${patientId}/caregivers`, { displayName: 'Dana Whitfield', relationship: 'Granddaughter', ...body });
      assert.equal(res.statusCode, 201, res.body);
      return res.json() as CareMember;
    };
    const linkFor = async (org: TestOrg, memberId: string): Promise<CareLink> => {
      const res = await org.admin.post(`/api/v1/care/members/${memberId}/link`);
      assert.equal(res.statusCode, 201, res.body);
      return res.json() as CareLink;
    };
    const exchange = (token: string) => a.anonymous.post('/api/v1/care/session', { token });
    /** A member's session through the API; the bearer caller and the answer. */
    const signIn = async (org: TestOrg, memberId: string): Promise<{ session: CareSession; bearer: Caller; cookie: string }> => {
      const res = await org.anonymous.post('/api/v1/care/session', { token: tokenOf(await linkFor(org, memberId)) });
      assert.equal(res.statusCode, 200, res.body);
      const session = res.json() as CareSession;
      return { session, bearer: caller(t.app, { authorization: `Bearer ${session.session}` }), cookie: `${MEMBER_COOKIE}=${cookieOf(res).value}` };
    };
    const auditOf = (orgId: string, action: string) =>
      t.database.db.select().from(auditEvents).where(and(eq(auditEvents.orgId, orgId), eq(auditEvents.action, action))).orderBy(asc(auditEvents.seq));

    test('a circle: the recipient made with the first caregiver, a family member and a staff caregiver, changed and removed; audited and published', async () => {
      const patientId = await newPatient(a);
      const empty = await a.caregiver.get(`/api/v1/care/recipients/${patientId}/members`);
      assert.equal(empty.statusCode, 200, empty.body);
      assert.deepEqual(empty.json(), [], 'reading a circle creates nothing');

      const family = await addFamily(a, patientId, { phone: '(555) 555-0142', canReceive: false });
      assert.equal(family.kind, 'caregiver');
      assert.equal(family.userId, null);
      assert.equal(family.displayName, 'Dana Whitfield');
      assert.equal(family.relationship, 'Granddaughter');
      assert.equal(family.canStart, true);
      assert.equal(family.canReceive, false);
      assert.equal(family.removed, false);
      const [stored] = await t.database.db.select({ phone: careMembers.phone }).from(careMembers).where(eq(careMembers.id, family.id));
      assert.equal(stored!.phone, '+15555550142', 'the phone is stored as E.164');

      const staffRes = await a.apiKey.post(`/api/v1/care/recipients/${patientId}/caregivers`, { userId: a.caregiver.user.id, relationship: 'Home care aide' });
      assert.equal(staffRes.statusCode, 201, staffRes.body);
      const staff = staffRes.json() as CareMember;
      assert.equal(staff.userId, a.caregiver.user.id);
      assert.equal(staff.displayName, a.caregiver.user.name);
      expectStatus(await a.admin.post(`/api/v1/care/recipients/${patientId}/caregivers`, { userId: a.caregiver.user.id }), 409, 'already_exists', 'the same staff caregiver twice');

      const circle = (await a.clinician.get(`/api/v1/care/recipients/${patientId}/members`)).json() as CareMember[];
      assert.deepEqual(circle.map((m) => m.kind), ['recipient', 'caregiver', 'caregiver']);
      assert.equal(circle[0]!.displayName, 'Rose Whitfield', "the recipient's name is the patient's");
      assert.deepEqual(circle.slice(1).map((m) => m.id), [family.id, staff.id]);
      const recipientId = circle[0]!.id;

      const patched = await a.clinician.patch(`/api/v1/care/members/${family.id}`, { canReceive: true, canStart: false, relationship: null });
      assert.equal(patched.statusCode, 200, patched.body);
      assert.deepEqual([patched.json().canStart, patched.json().canReceive, patched.json().relationship], [false, true, null]);

      const removed = await a.admin.request('DELETE', `/api/v1/care/members/${staff.id}`);
      assert.equal(removed.statusCode, 204, removed.body);
      assert.deepEqual(((await a.clinician.get(`/api/v1/care/recipients/${patientId}/members`)).json() as CareMember[]).map((m) => m.id), [recipientId, family.id]);
      expectStatus(await a.admin.request('DELETE', `/api/v1/care/members/${staff.id}`), 409, 'invalid_state', 'removed twice');
      expectStatus(await a.admin.patch(`/api/v1/care/members/${staff.id}`, { canStart: true }), 409, 'invalid_state', 'a removed member changed');
      // Removed, the staff caregiver can be added again (a new membership).
      assert.equal((await a.admin.post(`/api/v1/care/recipients/${patientId}/caregivers`, { userId: a.caregiver.user.id })).statusCode, 201);

      const added = (await auditOf(a.orgId, 'care.member_added')).filter((e) => e.details?.recipientId === patientId);
      assert.deepEqual(added.map((e) => e.details?.kind), ['recipient', 'caregiver', 'caregiver', 'caregiver']);
      assert.deepEqual(added.map((e) => e.targetId).slice(0, 3), [recipientId, family.id, staff.id]);
      assert.equal(added[2]!.actorType, 'api_key');
      const [updated] = (await auditOf(a.orgId, 'care.member_updated')).filter((e) => e.targetId === family.id);
      assert.equal(updated!.details?.fields, 'relationship,canStart,canReceive');
      const [removal] = (await auditOf(a.orgId, 'care.member_removed')).filter((e) => e.targetId === staff.id);
      assert.equal(removal!.details?.kind, 'caregiver');
      for (const e of [...added, updated!, removal!]) {
        const text = JSON.stringify(e.details);
        assert.ok(!/Dana|Whitfield|555|Granddaughter|aide/.test(text), `audit details carry ids and codes only: ${text}`);
      }
      const mine = published.filter((p) => p.orgId === a.orgId && p.event.data.recipientId === patientId).map((p) => [p.event.type, p.event.data.memberId, p.event.data.kind]);
      assert.deepEqual(mine.slice(0, 5), [
        ['care.member_added', recipientId, 'recipient'],
        ['care.member_added', family.id, 'caregiver'],
        ['care.member_added', staff.id, 'caregiver'],
        ['care.member_updated', family.id, 'caregiver'],
        ['care.member_removed', staff.id, 'caregiver'],
      ]);
    });

    test('who may manage a circle: admins, clinicians and API keys; staff caregivers read; members neither', async () => {
      const patientId = await newPatient(a);
      const family = await addFamily(a, patientId);
      expectStatus(await a.caregiver.post(`/api/v1/care/recipients/${patientId}/caregivers`, { displayName: 'Someone' }), 403, 'forbidden');
      expectStatus(await a.caregiver.patch(`/api/v1/care/members/${family.id}`, { canStart: false }), 403, 'forbidden');
      expectStatus(await a.caregiver.request('DELETE', `/api/v1/care/members/${family.id}`), 403, 'forbidden');
      expectStatus(await a.caregiver.post(`/api/v1/care/members/${family.id}/link`), 403, 'forbidden');
      assert.equal((await a.caregiver.get(`/api/v1/care/recipients/${patientId}/members`)).statusCode, 200);
      assert.equal((await a.apiKey.patch(`/api/v1/care/members/${family.id}`, { canStart: false })).statusCode, 200);
      assert.equal((await a.apiKey.post(`/api/v1/care/members/${family.id}/link`)).statusCode, 201);

      const { bearer } = await signIn(a, family.id);
      // A member session reaches only the routes that say `members: true`: staff routes refuse it.
      for (const [method, url, body] of [
        ['GET', `/api/v1/care/recipients/${patientId}/members`, undefined],
        ['POST', `/api/v1/care/recipients/${patientId}/caregivers`, { displayName: 'Intruder' }],
        ['POST', `/api/v1/care/members/${family.id}/link`, undefined],
        ['GET', '/api/v1/patients', undefined],
        ['GET', `/api/v1/patients/${patientId}`, undefined],
        ['POST', '/api/v1/patients', { givenName: 'New', familyName: 'Patient' }],
        ['GET', '/api/v1/visits', undefined],
        ['GET', '/api/v1/auth/me', undefined],
        ['GET', '/api/v1/audit', undefined],
      ] as const) {
        expectStatus(await bearer.request(method, url, body), 403, 'forbidden', `${method} ${url} as a member`);
      }
    });

    test('input errors answer the one error shape', async () => {
      const patientId = await newPatient(a);
      const family = await addFamily(a, patientId);
      const bad = await a.admin.get('/api/v1/care/recipients/not-a-uuid/members');
      expectStatus(bad, 400, 'validation_failed');
      assert.deepEqual(detailPaths(bad), ['params/patientId']);
      expectStatus(await a.admin.patch('/api/v1/care/members/not-a-uuid', { canStart: true }), 400, 'validation_failed');
      const none = await a.admin.post(`/api/v1/care/recipients/${patientId}/caregivers`, {});
      expectStatus(none, 400, 'validation_failed', 'neither userId nor displayName');
      assert.deepEqual(detailPaths(none), ['body']);
      const noBody = await a.admin.request('POST', `/api/v1/care/recipients/${patientId}/caregivers`, '', { 'content-type': 'application/json' });
      expectStatus(noBody, 400, 'validation_failed', 'no body');
      const unknown = await a.admin.post(`/api/v1/care/recipients/${patientId}/caregivers`, { displayName: 'Dana', nickname: 'D' });
      expectStatus(unknown, 400, 'validation_failed');
      assert.deepEqual(detailPaths(unknown), ['body/nickname']);
      const both = await a.admin.post(`/api/v1/care/recipients/${patientId}/caregivers`, { displayName: 'Dana', userId: a.caregiver.user.id });
      expectStatus(both, 400, 'validation_failed');
      assert.deepEqual(detailPaths(both), ['body/displayName']);
      const clinician = await a.admin.post(`/api/v1/care/recipients/${patientId}/caregivers`, { userId: a.clinician.user.id });
      expectStatus(clinician, 400, 'validation_failed', 'a clinician is not a caregiver');
      assert.deepEqual(detailPaths(clinician), ['body/userId']);
      const staffPhone = await a.admin.post(`/api/v1/care/recipients/${patientId}/caregivers`, { userId: a.caregiver.user.id, phone: '+15555550100' });
      expectStatus(staffPhone, 400, 'validation_failed');
      assert.deepEqual(detailPaths(staffPhone), ['body/phone']);
      const phone = await a.admin.post(`/api/v1/care/recipients/${patientId}/caregivers`, { displayName: 'Dana', phone: 'call me maybe' });
      expectStatus(phone, 400, 'invalid_phone_number');
      assert.deepEqual(detailPaths(phone), ['body/phone']);
      expectStatus(await a.admin.post(`/api/v1/care/recipients/${patientId}/caregivers`, { displayName: '   ' }), 400, 'validation_failed', 'a blank name');
      expectStatus(await a.admin.post(`/api/v1/care/recipients/${patientId}/caregivers`, { displayName: 'Dana', canStart: 'yes' }), 400, 'validation_failed', 'no coercion');
      expectStatus(await a.admin.patch(`/api/v1/care/members/${family.id}`, {}), 400, 'validation_failed', 'an empty patch');
      expectStatus(await a.admin.post(`/api/v1/care/recipients/${patientId}/caregivers`, { userId: randomUUID() }), 404, 'not_found', 'no such user');
      expectStatus(await exchange(''), 400, 'validation_failed', 'an empty token');
      expectStatus(await a.anonymous.post('/api/v1/care/session', {}), 400, 'validation_failed', 'no token');
      // An archived patient's circle does not change.
      assert.equal((await a.admin.post(`/api/v1/patients/${patientId}/archive`)).statusCode, 200);
      expectStatus(await a.admin.post(`/api/v1/care/recipients/${patientId}/caregivers`, { displayName: 'Late' }), 409, 'invalid_state');
      expectStatus(await a.admin.post(`/api/v1/care/recipients/${patientId}/recipient-link`), 409, 'invalid_state');
      assert.equal((await a.admin.get(`/api/v1/care/recipients/${patientId}/members`)).statusCode, 200, 'an archived patient’s circle still reads');
    });

    test("another organisation's patients, members and users answer 404, and nothing of theirs changes", async () => {
      const theirPatient = await newPatient(b);
      const theirMember = await addFamily(b, theirPatient);
      const ours = await newPatient(a);
      expectStatus(await a.admin.get(`/api/v1/care/recipients/${theirPatient}/members`), 404, 'not_found');
      expectStatus(await a.admin.post(`/api/v1/care/recipients/${theirPatient}/caregivers`, { displayName: 'X' }), 404, 'not_found');
      expectStatus(await a.apiKey.post(`/api/v1/care/recipients/${theirPatient}/recipient-link`), 404, 'not_found');
      expectStatus(await a.admin.patch(`/api/v1/care/members/${theirMember.id}`, { canStart: false }), 404, 'not_found');
      expectStatus(await a.admin.request('DELETE', `/api/v1/care/members/${theirMember.id}`), 404, 'not_found');
      expectStatus(await a.apiKey.post(`/api/v1/care/members/${theirMember.id}/link`), 404, 'not_found');
      expectStatus(await a.admin.post(`/api/v1/care/recipients/${ours}/caregivers`, { userId: b.caregiver.user.id }), 404, 'not_found', "another organisation's caregiver");
      const circle = (await b.admin.get(`/api/v1/care/recipients/${theirPatient}/members`)).json() as CareMember[];
      assert.deepEqual(circle.map((m) => [m.id === theirMember.id || m.kind === 'recipient', m.canStart, m.removed]), [[true, true, false], [true, true, false]]);
      // A member session of B sees its own organisation only.
      const { bearer } = await signIn(b, theirMember.id);
      const me = (await bearer.get('/api/v1/care/me')).json() as CareMe;
      assert.equal(me.members.length, 1);
      assert.equal(me.members[0]!.recipient.id, theirPatient);
      assert.ok(!JSON.stringify(me).includes(a.orgId));
    });

    test('care links: the recipient’s device and a family member, not a staff caregiver; invalid, expired and revoked ones refused', async () => {
      const patientId = await newPatient(a, 'Walter', 'Grant');
      // The recipient's link makes its member on first use, once.
      const recipientLink = await a.admin.post(`/api/v1/care/recipients/${patientId}/recipient-link`);
      assert.equal(recipientLink.statusCode, 201, recipientLink.body);
      const link = recipientLink.json() as CareLink;
      assert.ok(link.url.startsWith(`${t.config.publicUrl}/care?t=ovc_`), link.url);
      assert.ok(Date.parse(link.expiresAt) - Date.now() > t.config.checkins.careLinkTtlMs - 60_000, 'it lasts CARE_LINK_TTL_DAYS');
      assert.equal((await a.admin.post(`/api/v1/care/recipients/${patientId}/recipient-link`)).statusCode, 201);
      const circle = (await a.admin.get(`/api/v1/care/recipients/${patientId}/members`)).json() as CareMember[];
      assert.deepEqual(circle.map((m) => m.kind), ['recipient']);
      assert.equal(link.memberId, circle[0]!.id);

      const staff = await a.admin.post(`/api/v1/care/recipients/${patientId}/caregivers`, { userId: a.caregiver.user.id });
      expectStatus(await a.admin.post(`/api/v1/care/members/${staff.json().id as string}/link`), 409, 'invalid_state', 'a staff caregiver signs in with their account');

      // Exchanging: the recipient's session; its contacts are the staff caregiver (can receive).
      const res = await exchange(tokenOf(link));
      assert.equal(res.statusCode, 200, res.body);
      const session = res.json() as CareSession;
      assert.equal(session.me.members[0]!.member.kind, 'recipient');
      assert.deepEqual(session.me.members[0]!.contacts.map((c) => c.id), [staff.json().id]);
      assert.equal(session.checkinId, undefined);

      expectStatus(await exchange('ovc_not-a-link'), 404, 'care_link_invalid');
      expectStatus(await exchange(tokenOf(link).replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))), 404, 'care_link_invalid', 'a tampered link');
      const signer = createLinkSigner(linkSigningSecret(t.config), 'care');
      expectStatus(await exchange(signer.sign(randomUUID())), 404, 'care_link_invalid', 'a well-made link to nothing');
      const joinSigner = createLinkSigner(linkSigningSecret(t.config), 'join');
      expectStatus(await exchange(joinSigner.sign(link.memberId)), 404, 'care_link_invalid', 'a join link never passes as a care link');

      const family = await addFamily(a, patientId);
      const expiring = await linkFor(a, family.id);
      await t.database.db.update(careLinks).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(careLinks.memberId, family.id));
      expectStatus(await exchange(tokenOf(expiring)), 410, 'care_link_expired');

      // A call's link (made by the calls through createCareLink) answers the call's id too.
      const ctx: Ctx = systemCtx(a.orgId);
      const callId = randomUUID();
      const deps = { db: t.database.db, careLinks: signer, publicUrl: t.config.publicUrl, config: t.config.checkins };
      const callLink = await createCareLink(deps, ctx, link.memberId, { expiresAt: new Date(Date.now() + 120_000), callId });
      const viaCall = await exchange(tokenOf(callLink));
      assert.equal(viaCall.statusCode, 200, viaCall.body);
      assert.equal(viaCall.json().checkinId, callId);

      const links = await auditOf(a.orgId, 'care.link_created');
      assert.ok(links.some((e) => e.targetId === link.memberId && e.details?.callId === callId));
      const used = (await auditOf(a.orgId, 'care.link_used')).filter((e) => e.targetId === link.memberId);
      assert.equal(used.length, 2);
      assert.deepEqual([used[0]!.actorType, used[0]!.actorId], ['member', link.memberId]);
    });

    test('a member session by cookie and by bearer: /care/me, sign-out, Origin on cookie writes', async () => {
      const patientId = await newPatient(a, 'Ada', 'Lovell');
      const family = await addFamily(a, patientId);
      const staffRes = await a.admin.post(`/api/v1/care/recipients/${patientId}/caregivers`, { userId: a.caregiver.user.id, canReceive: false });
      const cousin = await addFamily(a, patientId, { displayName: 'Cousin Vinny', relationship: 'Cousin' });
      const res = await exchange(tokenOf(await linkFor(a, family.id)));
      assert.equal(res.statusCode, 200, res.body);
      const cookie = cookieOf(res);
      assert.match(cookie.attributes, /HttpOnly/i);
      assert.match(cookie.attributes, /SameSite=Lax/i);
      assert.doesNotMatch(cookie.attributes, /Secure/i, 'not Secure on an http PUBLIC_URL');
      const session = res.json() as CareSession;
      assert.ok(session.session.startsWith('ovm_'));
      assert.equal(cookie.value, session.session);
      assert.ok(Date.parse(session.expiresAt) - Date.now() > t.config.checkins.careSessionMs - 60_000);

      const byCookie = caller(t.app, { cookie: `${MEMBER_COOKIE}=${cookie.value}` });
      const byBearer = caller(t.app, { authorization: `Bearer ${session.session}` });
      for (const who of [byCookie, byBearer]) {
        const me = await who.get('/api/v1/care/me');
        assert.equal(me.statusCode, 200, me.body);
        const body = me.json() as CareMe;
        assert.equal(body.org.name, (await a.admin.get('/api/v1/organization')).json().name);
        assert.equal(body.members.length, 1);
        const [m] = body.members;
        assert.equal(m!.member.id, family.id);
        assert.deepEqual(m!.recipient, { id: patientId, displayName: 'Ada Lovell', timeZone: m!.recipient.timeZone });
        // The people Dana can call: the recipient and her cousin (the staff caregiver does not receive calls).
        assert.deepEqual(m!.contacts.map((c) => c.id).sort(), [m!.contacts.find((c) => c.kind === 'recipient')!.id, cousin.id].sort());
        assert.ok(!m!.contacts.some((c) => c.id === staffRes.json().id));
      }
      // A staff caregiver who can receive is a contact, until their account is disabled.
      const aide = await addStaff(t.app, a.orgId, 'caregiver');
      const aideMember = (await a.admin.post(`/api/v1/care/recipients/${patientId}/caregivers`, { userId: aide.user.id })).json() as CareMember;
      const contactIds = async () => ((await byBearer.get('/api/v1/care/me')).json() as CareMe).members[0]!.contacts.map((c) => c.id);
      assert.ok((await contactIds()).includes(aideMember.id));
      assert.equal((await a.admin.patch(`/api/v1/users/${aide.user.id}`, { disabled: true })).statusCode, 200);
      assert.ok(!(await contactIds()).includes(aideMember.id), 'a disabled staff caregiver is not offered');
      assert.equal((await a.admin.request('DELETE', `/api/v1/care/members/${aideMember.id}`)).statusCode, 204);
      // Dana may no longer start calls: nobody to call.
      await a.admin.patch(`/api/v1/care/members/${family.id}`, { canStart: false });
      assert.deepEqual(((await byBearer.get('/api/v1/care/me')).json() as CareMe).members[0]!.contacts, []);

      // A staff caregiver sees their memberships; an admin none; an API key is not a person.
      const staffMe = (await a.caregiver.get('/api/v1/care/me')).json() as CareMe;
      const here = staffMe.members.find((m) => m.recipient.id === patientId);
      assert.ok(here, 'the staff caregiver is in this circle');
      assert.deepEqual(here.contacts.map((c) => c.id).sort(), [cousin.id, here.contacts.find((c) => c.kind === 'recipient')!.id, family.id].sort());
      assert.deepEqual(((await a.admin.get('/api/v1/care/me')).json() as CareMe).members, []);
      expectStatus(await a.apiKey.get('/api/v1/care/me'), 403, 'forbidden');
      // Signing out is public (a device whose session ended drops its cookie too): a staff session is left alone.
      assert.equal((await a.admin.request('DELETE', '/api/v1/care/session')).statusCode, 204);
      assert.equal((await a.admin.get('/api/v1/auth/me')).statusCode, 200);

      // The exported helpers the calls use.
      const principalCtx = (p: Ctx['principal']): Ctx => ({ ...systemCtx(a.orgId), principal: p });
      const asMember = await membersOfPrincipal({ db: t.database.db }, principalCtx({ kind: 'member', orgId: a.orgId, memberId: family.id, recipientId: patientId, sessionId: randomUUID() }));
      assert.deepEqual(asMember.map((m) => m.id), [family.id]);
      const asStaff = await membersOfPrincipal({ db: t.database.db }, principalCtx({ kind: 'user', orgId: a.orgId, userId: a.caregiver.user.id, role: 'caregiver', sessionId: randomUUID(), sessionExpiresAt: new Date() }));
      assert.ok(asStaff.some((m) => m.id === staffRes.json().id));
      assert.deepEqual(await membersOfPrincipal({ db: t.database.db }, principalCtx({ kind: 'api_key', orgId: a.orgId, apiKeyId: randomUUID() })), []);
      const names = await memberDisplayNames(t.database.db, a.orgId, [family.id, staffRes.json().id, here.contacts.find((c) => c.kind === 'recipient')!.id, randomUUID()]);
      const [caregiverRow] = await t.database.db.select({ name: users.name }).from(users).where(eq(users.id, a.caregiver.user.id));
      assert.deepEqual([...names.values()].sort(), ['Ada Lovell', 'Dana Whitfield', caregiverRow!.name].sort());
      assert.equal((await memberDisplayNames(t.database.db, b.orgId, [family.id])).size, 0, "another organisation's names are not read");

      // Cookie writes need an allowed Origin (a bearer needs none).
      expectStatus(await byCookie.request('DELETE', '/api/v1/care/session', undefined, { origin: 'https://evil.example' }), 403, 'origin_not_allowed');
      const out = await byCookie.request('DELETE', '/api/v1/care/session', undefined, { origin: new URL(t.config.publicUrl).origin });
      assert.equal(out.statusCode, 204, out.body);
      assert.match(String(out.headers['set-cookie']), new RegExp(`${MEMBER_COOKIE}=;`));
      const ended = await byCookie.get('/api/v1/care/me');
      expectStatus(ended, 401, 'unauthenticated');
      assert.equal(errorOf(ended).message, 'Your check-in link has ended. Ask for a new one.');
      expectStatus(await byBearer.get('/api/v1/care/me'), 401, 'unauthenticated', 'the same session by bearer');
      const again204 = await byCookie.request('DELETE', '/api/v1/care/session', undefined, { origin: new URL(t.config.publicUrl).origin });
      assert.equal(again204.statusCode, 204, 'an ended session still drops its cookie');
      assert.match(String(again204.headers['set-cookie']), new RegExp(`${MEMBER_COOKIE}=;`));
      const [logout] = (await auditOf(a.orgId, 'auth.logout')).filter((e) => e.actorId === family.id);
      assert.equal(logout!.actorType, 'member');

      // An expired session is refused too.
      const { bearer: again, session: second } = await signIn(a, family.id);
      assert.equal((await again.get('/api/v1/care/me')).statusCode, 200);
      await t.database.db.update(memberSessions).set({ expiresAt: new Date(Date.now() - 1000) }).where(eq(memberSessions.memberId, family.id));
      expectStatus(await again.get('/api/v1/care/me'), 401, 'unauthenticated');
      // An archived recipient's circle is closed: its members' sessions stop working, and work again once restored.
      const { bearer: third } = await signIn(a, cousin.id);
      assert.equal((await third.get('/api/v1/care/me')).statusCode, 200);
      assert.equal((await a.admin.post(`/api/v1/patients/${patientId}/archive`)).statusCode, 200);
      expectStatus(await third.get('/api/v1/care/me'), 401, 'unauthenticated');
      assert.equal((await a.admin.post(`/api/v1/patients/${patientId}/restore`)).statusCode, 200);
      assert.equal((await third.get('/api/v1/care/me')).statusCode, 200);
      // Nothing secret or personal reached the log.
      const logs = t.logs.join('\n');
      for (const secret of [session.session, second.session, 'Dana Whitfield', 'Ada', 'Lovell']) assert.ok(!logs.includes(secret), `the log holds ${secret}`);
    });

    test('the realtime hub: a member gets only the events addressed to it; removal closes its sockets and ends its session and links', async () => {
      const patientId = await newPatient(a);
      const family = await addFamily(a, patientId);
      const cousin = await addFamily(a, patientId, { displayName: 'Cousin Vinny' });
      const { cookie, bearer, session } = await signIn(a, family.id);
      const spare = await linkFor(a, family.id);
      const port = (t.app.server.address() as AddressInfo).port;
      const ownOrigin = `http://127.0.0.1:${port}`;

      const refused = await hubConnect(base, { cookie }, 'https://evil.example');
      assert.deepEqual(refused, { refused: 403 }, 'a member cookie from a foreign page is refused');
      const viaCookie = await hubConnect(base, { cookie }, ownOrigin);
      const viaBearer = await hubConnect(base, { authorization: bearer.headers.authorization! });
      const cousinSession = await signIn(a, cousin.id);
      const other = await hubConnect(base, { authorization: cousinSession.bearer.headers.authorization! });
      const staff = await hubConnect(base, { cookie: a.admin.headers.cookie! }, ownOrigin);
      const opened = (s: HubSocket | { refused: number }): HubSocket => {
        assert.ok(s instanceof HubSocket, `the hub connection opened: ${JSON.stringify(s)}`);
        sockets.push(s);
        return s;
      };
      const [mc, mb, oc, st] = [opened(viaCookie), opened(viaBearer), opened(other), opened(staff)];

      const checkinId = randomUUID();
      await t.app.realtime.publish(a.orgId, 'checkin.ringing', { checkinId, recipientId: patientId, callerMemberId: cousin.id, calleeMemberId: family.id, status: 'ringing', memberIds: [cousin.id, family.id] });
      const elsewhere = randomUUID();
      await t.app.realtime.publish(a.orgId, 'checkin.missed', { checkinId: elsewhere, memberIds: [cousin.id, randomUUID()] });
      const created = await a.clinician.post('/api/v1/patients', { givenName: 'Not', familyName: 'Yours' });
      assert.equal(created.statusCode, 201);
      const marker = randomUUID();
      await t.app.realtime.publish(a.orgId, 'checkin.cancelled', { checkinId: marker, memberIds: [family.id] });

      for (const s of [mc, mb]) {
        await s.until('the marker', () => s.events().find((e) => e.data.checkinId === marker));
        assert.deepEqual(s.events().map((e) => [e.type, e.data.checkinId]), [['checkin.ringing', checkinId], ['checkin.cancelled', marker]], 'only what names this member, nothing else of the organisation');
      }
      await oc.until('the cousin’s missed call', () => oc.events().find((e) => e.data.checkinId === elsewhere));
      assert.deepEqual(oc.events().map((e) => e.type), ['checkin.ringing', 'checkin.missed']);
      await st.until('the patient event', () => st.events().find((e) => e.type === 'patient.created'));
      await st.until('the marker', () => st.events().find((e) => e.data.checkinId === marker));
      assert.ok(st.events().some((e) => e.data.checkinId === elsewhere), 'staff sockets get the organisation’s events');

      // Removing the member closes its sockets (not the others'), ends its sessions and links.
      const removed = await a.admin.request('DELETE', `/api/v1/care/members/${family.id}`);
      assert.equal(removed.statusCode, 204, removed.body);
      assert.equal(await mc.until('close', () => mc.closed), HUB_CLOSE.sessionEnded);
      assert.equal(await mb.until('close', () => mb.closed), HUB_CLOSE.sessionEnded);
      assert.ok(!(await oc.until('nothing', () => oc.closed, 300).catch(() => undefined)), 'the cousin stays connected');
      const ended = await bearer.get('/api/v1/care/me');
      expectStatus(ended, 401, 'unauthenticated');
      assert.ok(session.session);
      expectStatus(await exchange(tokenOf(spare)), 410, 'care_link_expired');
      assert.deepEqual(await hubConnect(base, { authorization: bearer.headers.authorization! }), { refused: 401 });
      const [removal] = (await auditOf(a.orgId, 'care.member_removed')).filter((e) => e.targetId === family.id);
      assert.ok(Number(removal!.details?.sessions) >= 1 && Number(removal!.details?.links) >= 1, JSON.stringify(removal!.details));
    });
  });
}

describe('care sessions behind an https PUBLIC_URL', () => {
  test('the member cookie is Secure; a bearer signs out without an Origin', async () => {
    const t = await createTestApp(CARE_SETUPS[0]!.db, { env: { PUBLIC_URL: 'https://care.example.test' } });
    try {
      const a = await createTestOrg(t.app);
      const patient = await a.admin.post('/api/v1/patients', { givenName: 'Secure', familyName: 'Cookie' });
      const link = await a.admin.post(`/api/v1/care/recipients/${patient.json().id as string}/recipient-link`);
      assert.ok((link.json() as CareLink).url.startsWith('https://care.example.test/care?t=ovc_'));
      const res = await a.anonymous.post('/api/v1/care/session', { token: tokenOf(link.json() as CareLink) });
      assert.equal(res.statusCode, 200, res.body);
      const cookie = cookieOf(res);
      assert.match(cookie.attributes, /; Secure/i);
      assert.match(cookie.attributes, /HttpOnly/i);
      const bearer = caller(t.app, { authorization: `Bearer ${(res.json() as CareSession).session}` });
      assert.equal((await bearer.get('/api/v1/care/me')).statusCode, 200);
      assert.equal((await bearer.request('DELETE', '/api/v1/care/session', undefined, { origin: 'https://elsewhere.example' })).statusCode, 204, 'a bearer is not ambient: no Origin check');
      expectStatus(await bearer.get('/api/v1/care/me'), 401, 'unauthenticated');
    } finally {
      await t.close();
    }
  });
});

describe('care circles in the demo data', () => {
  test('the demo seeds Rose’s circle: Carla (staff caregiver) and her granddaughter', async () => {
    const t = await createTestApp(CARE_SETUPS[0]!.db);
    try {
      const summary = await seedDemo(t.database.db, t.app.realtime);
      const rows = await t.database.db.select().from(careMembers).where(eq(careMembers.orgId, summary.orgId)).orderBy(asc(careMembers.createdAt));
      assert.deepEqual(rows.map((r) => [r.kind, r.userId !== null, r.displayName]), [
        ['recipient', false, null],
        ['caregiver', true, null],
        ['caregiver', false, 'Dana Whitfield'],
      ]);
      const names = await memberDisplayNames(t.database.db, summary.orgId, rows.map((r) => r.id));
      assert.deepEqual(rows.map((r) => names.get(r.id)), ['Rose Whitfield', 'Carla Nguyen', 'Dana Whitfield']);
      assert.equal(summary.familyMemberId, rows[2]!.id, 'the CLI prints a care link for Dana when it seeds');
    } finally {
      await t.close();
    }
  });
});
