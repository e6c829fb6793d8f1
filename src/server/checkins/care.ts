/**
 * Care circles (docs/checkins.md): a care recipient (a patient record) and its members. The recipient member (kind
 * `recipient`, one live per patient) is made on first use; caregivers are staff users with the caregiver role
 * (`user_id`) or family members (a name, a relationship, a phone) who sign in with a care link (`ovc_`). A link
 * exchanged becomes a member session (`ovm_`: the `ov_member` cookie or a bearer token), the member principal.
 * Every change is audited in its transaction and published after commit (`care.*`, ids only).
 */
import { and, asc, desc, eq, inArray, isNull, sql, type SQL } from 'drizzle-orm';
import type { AddCaregiverBody, CareLink, CareMe, CareMember, CareSession, UpdateCareMemberBody } from '../../shared/api/checkins.js';
import { audit } from '../audit/service.js';
import { MEMBER_SESSION_PREFIX, newSecret, sha256Hex } from '../auth/secrets.js';
import type { Ctx } from '../context.js';
import { sqlState, type Db } from '../db/index.js';
import { careLinks, careMembers, memberSessions, organizations, patients, users } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { toE164 } from '../http/phone.js';
import { assertPrintable } from '../http/validators.js';
import type { CheckinDeps } from './deps.js';

/** What the care functions use of the feature's deps (the demo seed passes only these). */
export type CareDeps = Pick<CheckinDeps, 'db' | 'hub' | 'careLinks' | 'publicUrl' | 'config' | 'defaultPhoneRegion'>;

export type CareMemberRow = typeof careMembers.$inferSelect;

/** Who opened a care link (kept on the member session and in the audit log). */
export interface CareClient {
  ip: string | null;
  userAgent: string | null;
  requestId: string | null;
}

const NO_MEMBER = 'There is no such member of a care circle.';

// ---- reading ---------------------------------------------------------------------------------------------------

/** A member with what its name comes from: the patient record (recipient), the user (staff) or its own row. */
const named = {
  member: careMembers,
  userName: users.name,
  userDisabledAt: users.disabledAt,
  givenName: patients.givenName,
  familyName: patients.familyName,
  timeZone: patients.timeZone,
};
interface NamedRow {
  member: CareMemberRow;
  userName: string | null;
  userDisabledAt: Date | null;
  givenName: string;
  familyName: string;
  timeZone: string;
}

function nameOf(row: { member: Pick<CareMemberRow, 'kind' | 'userId' | 'displayName'>; userName: string | null; givenName: string; familyName: string }): string {
  if (row.member.kind === 'recipient') return `${row.givenName} ${row.familyName}`.trim();
  if (row.member.userId) return row.userName ?? '';
  return row.member.displayName ?? '';
}

async function namedMembers(db: Db, orgId: string, where: SQL | undefined): Promise<NamedRow[]> {
  return db
    .select(named)
    .from(careMembers)
    .innerJoin(patients, and(eq(patients.orgId, careMembers.orgId), eq(patients.id, careMembers.recipientId)))
    .leftJoin(users, and(eq(users.orgId, careMembers.orgId), eq(users.id, careMembers.userId)))
    .where(and(eq(careMembers.orgId, orgId), where))
    .orderBy(desc(sql`${careMembers.kind} = 'recipient'`), asc(careMembers.createdAt), asc(careMembers.id));
}

export function toCareMemberDto(row: NamedRow): CareMember {
  const m = row.member;
  return {
    id: m.id,
    recipientId: m.recipientId,
    kind: m.kind,
    userId: m.userId,
    displayName: nameOf(row),
    relationship: m.relationship,
    canStart: m.canStart,
    canReceive: m.canReceive,
    createdAt: m.createdAt.toISOString(),
    removed: m.removedAt !== null,
  };
}

/** One member of the caller's organisation (removed ones too), as the API shows it. */
export async function getCareMember(db: Db, orgId: string, memberId: string): Promise<CareMember> {
  const [row] = await namedMembers(db, orgId, eq(careMembers.id, memberId));
  if (!row) throw new AppError('not_found', NO_MEMBER);
  return toCareMemberDto(row);
}

/** The names to show for members (recipient: the patient's given + family name; staff: the user's; family: theirs). */
export async function memberDisplayNames(db: Db, orgId: string, memberIds: readonly string[]): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  if (memberIds.length === 0) return names;
  const rows = await db
    .select({ kind: careMembers.kind, id: careMembers.id, userId: careMembers.userId, displayName: careMembers.displayName, userName: users.name, givenName: patients.givenName, familyName: patients.familyName })
    .from(careMembers)
    .innerJoin(patients, and(eq(patients.orgId, careMembers.orgId), eq(patients.id, careMembers.recipientId)))
    .leftJoin(users, and(eq(users.orgId, careMembers.orgId), eq(users.id, careMembers.userId)))
    .where(and(eq(careMembers.orgId, orgId), inArray(careMembers.id, [...new Set(memberIds)])));
  for (const r of rows) names.set(r.id, nameOf({ member: r, userName: r.userName, givenName: r.givenName, familyName: r.familyName }));
  return names;
}

/** A member row of the organisation (404 otherwise); `live` refuses a removed one (409). */
export async function careMemberRow(db: Db, orgId: string, memberId: string, options: { live?: boolean; forUpdate?: boolean } = {}): Promise<CareMemberRow> {
  const query = db.select().from(careMembers).where(and(eq(careMembers.orgId, orgId), eq(careMembers.id, memberId))).limit(1);
  const [row] = options.forUpdate ? await query.for('update') : await query;
  if (!row) throw new AppError('not_found', NO_MEMBER);
  if (options.live && row.removedAt) throw new AppError('invalid_state', 'This member was removed from the care circle.');
  return row;
}

/**
 * The member rows the caller acts as: a member session's own member; a staff user's live memberships (a staff
 * caregiver may be in several circles); nobody else's (an API key acts for the organisation, not as a member).
 */
export async function membersOfPrincipal(deps: Pick<CareDeps, 'db'>, ctx: Ctx): Promise<CareMemberRow[]> {
  const p = ctx.principal;
  if (p.kind === 'member') {
    return deps.db
      .select()
      .from(careMembers)
      .where(and(eq(careMembers.orgId, ctx.orgId), eq(careMembers.id, p.memberId), isNull(careMembers.removedAt)));
  }
  if (p.kind === 'user') {
    return deps.db
      .select()
      .from(careMembers)
      .where(and(eq(careMembers.orgId, ctx.orgId), eq(careMembers.userId, p.userId), isNull(careMembers.removedAt)))
      .orderBy(asc(careMembers.createdAt), asc(careMembers.id));
  }
  return [];
}

async function patientFor(db: Db, orgId: string, patientId: string, forChange: boolean) {
  const [row] = await db
    .select({ id: patients.id, archivedAt: patients.archivedAt })
    .from(patients)
    .where(and(eq(patients.orgId, orgId), eq(patients.id, patientId)))
    .limit(1);
  if (!row) throw new AppError('not_found', 'There is no such patient.');
  if (forChange && row.archivedAt) throw new AppError('invalid_state', 'The patient is archived; restore them before changing their care circle.');
  return row;
}

/** The circle of a care recipient: its live members, the recipient first (creates nothing). */
export async function listCircle(deps: Pick<CareDeps, 'db'>, ctx: Ctx, patientId: string): Promise<CareMember[]> {
  await patientFor(deps.db, ctx.orgId, patientId, false);
  const rows = await namedMembers(deps.db, ctx.orgId, and(eq(careMembers.recipientId, patientId), isNull(careMembers.removedAt)));
  return rows.map(toCareMemberDto);
}

// ---- changing the circle ---------------------------------------------------------------------------------------

type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];

/** The recipient's own member, made (and audited) on first use; `created` says whether this call made it. */
async function ensureRecipient(tx: Tx, ctx: Ctx, patientId: string): Promise<{ row: CareMemberRow; created: boolean }> {
  const live = () =>
    tx
      .select()
      .from(careMembers)
      .where(and(eq(careMembers.orgId, ctx.orgId), eq(careMembers.recipientId, patientId), eq(careMembers.kind, 'recipient'), isNull(careMembers.removedAt)))
      .limit(1);
  const [existing] = await live();
  if (existing) return { row: existing, created: false };
  // A concurrent first use made it: the partial unique index turns ours into nothing, and the row is read back.
  const [inserted] = await tx.insert(careMembers).values({ orgId: ctx.orgId, recipientId: patientId, kind: 'recipient' }).onConflictDoNothing().returning();
  if (!inserted) {
    const [theirs] = await live();
    if (!theirs) throw new Error('the recipient member vanished');
    return { row: theirs, created: false };
  }
  await audit(tx, ctx, 'care.member_added', { type: 'care_member', id: inserted.id }, { recipientId: patientId, kind: 'recipient' });
  return { row: inserted, created: true };
}

async function publishMember(deps: Pick<CareDeps, 'hub'>, ctx: Ctx, type: 'care.member_added' | 'care.member_updated' | 'care.member_removed', row: CareMemberRow): Promise<void> {
  await deps.hub.publish(ctx.orgId, type, { memberId: row.id, recipientId: row.recipientId, kind: row.kind });
}

/**
 * Adds a caregiver to a recipient's circle: a staff user with the caregiver role (`userId`), or a family member
 * (`displayName`, optional `relationship` and `phone`). The recipient's own member is made with the first one.
 */
export async function addCaregiver(deps: Pick<CareDeps, 'db' | 'hub' | 'defaultPhoneRegion'>, ctx: Ctx, patientId: string, body: AddCaregiverBody): Promise<CareMember> {
  if (body.userId !== undefined && body.displayName !== undefined) {
    throw new AppError('validation_failed', 'Give either userId (a staff caregiver) or displayName (a family member), not both.', [{ path: 'body/displayName', message: 'must not be given with userId' }]);
  }
  if (body.userId === undefined && body.displayName === undefined) {
    throw new AppError('validation_failed', 'Give userId (a staff caregiver) or displayName (a family member).', [{ path: 'body', message: 'must have userId or displayName' }]);
  }
  if (body.userId !== undefined && body.phone !== undefined) {
    throw new AppError('validation_failed', 'A staff caregiver signs in with their account; a phone is for a family member’s invitation.', [{ path: 'body/phone', message: 'is for a family member only' }]);
  }
  if (body.displayName !== undefined) assertPrintable(body.displayName, 'body/displayName');
  if (body.relationship !== undefined) assertPrintable(body.relationship, 'body/relationship');
  const phone = body.phone !== undefined ? toE164(body.phone, deps.defaultPhoneRegion, 'body/phone') : null;
  let result: { member: CareMemberRow; recipient: { row: CareMemberRow; created: boolean } };
  try {
    result = await deps.db.transaction(async (tx) => {
      await patientFor(tx, ctx.orgId, patientId, true);
      if (body.userId !== undefined) {
        const [user] = await tx
          .select({ role: users.role, disabledAt: users.disabledAt })
          .from(users)
          .where(and(eq(users.orgId, ctx.orgId), eq(users.id, body.userId)))
          .limit(1);
        if (!user) throw new AppError('not_found', 'There is no such user.');
        if (user.role !== 'caregiver') {
          throw new AppError('validation_failed', 'Only a staff user with the caregiver role can join a care circle.', [{ path: 'body/userId', message: 'is not a caregiver' }]);
        }
        if (user.disabledAt) throw new AppError('validation_failed', 'This staff user is disabled.', [{ path: 'body/userId', message: 'is disabled' }]);
      }
      const recipient = await ensureRecipient(tx, ctx, patientId);
      const [member] = await tx
        .insert(careMembers)
        .values({
          orgId: ctx.orgId,
          recipientId: patientId,
          kind: 'caregiver',
          userId: body.userId ?? null,
          displayName: body.displayName ?? null,
          relationship: body.relationship ?? null,
          phone,
          canStart: body.canStart ?? true,
          canReceive: body.canReceive ?? true,
        })
        .returning();
      await audit(tx, ctx, 'care.member_added', { type: 'care_member', id: member!.id }, { recipientId: patientId, kind: 'caregiver', staff: body.userId !== undefined, phone: phone !== null });
      return { member: member!, recipient };
    });
  } catch (err) {
    if (sqlState(err) === '23505') throw new AppError('already_exists', 'This staff caregiver is already in the care circle.', [{ path: 'body/userId', message: 'is already a member' }]);
    throw err;
  }
  if (result.recipient.created) await publishMember(deps, ctx, 'care.member_added', result.recipient.row);
  await publishMember(deps, ctx, 'care.member_added', result.member);
  return getCareMember(deps.db, ctx.orgId, result.member.id);
}

/** Changes what a member may do (start, receive calls) or their relationship. */
export async function updateCareMember(deps: Pick<CareDeps, 'db' | 'hub'>, ctx: Ctx, memberId: string, body: UpdateCareMemberBody): Promise<CareMember> {
  if (typeof body.relationship === 'string') assertPrintable(body.relationship, 'body/relationship');
  const row = await deps.db.transaction(async (tx) => {
    const current = await careMemberRow(tx, ctx.orgId, memberId, { live: true, forUpdate: true });
    const patch: Partial<typeof careMembers.$inferInsert> = { updatedAt: new Date() };
    const fields: string[] = [];
    if (body.relationship !== undefined) (patch.relationship = body.relationship), fields.push('relationship');
    if (body.canStart !== undefined) (patch.canStart = body.canStart), fields.push('canStart');
    if (body.canReceive !== undefined) (patch.canReceive = body.canReceive), fields.push('canReceive');
    const [updated] = await tx.update(careMembers).set(patch).where(and(eq(careMembers.orgId, ctx.orgId), eq(careMembers.id, current.id))).returning();
    await audit(tx, ctx, 'care.member_updated', { type: 'care_member', id: memberId }, { recipientId: current.recipientId, fields: fields.join(','), canStart: updated!.canStart, canReceive: updated!.canReceive });
    return updated!;
  });
  await publishMember(deps, ctx, 'care.member_updated', row);
  return getCareMember(deps.db, ctx.orgId, memberId);
}

/** Removes a member: its row stays (history names it); its sessions and links are revoked, its hub sockets closed. */
export async function removeCareMember(deps: Pick<CareDeps, 'db' | 'hub'>, ctx: Ctx, memberId: string): Promise<void> {
  const { row, sessionIds } = await deps.db.transaction(async (tx) => {
    const current = await careMemberRow(tx, ctx.orgId, memberId, { live: true, forUpdate: true });
    const now = new Date();
    const [removed] = await tx
      .update(careMembers)
      .set({ removedAt: now, updatedAt: now })
      .where(and(eq(careMembers.orgId, ctx.orgId), eq(careMembers.id, memberId)))
      .returning();
    const sessions = await tx
      .update(memberSessions)
      .set({ revokedAt: now })
      .where(and(eq(memberSessions.orgId, ctx.orgId), eq(memberSessions.memberId, memberId), isNull(memberSessions.revokedAt)))
      .returning({ id: memberSessions.id });
    const links = await tx
      .update(careLinks)
      .set({ revokedAt: now })
      .where(and(eq(careLinks.orgId, ctx.orgId), eq(careLinks.memberId, memberId), isNull(careLinks.revokedAt)))
      .returning({ id: careLinks.id });
    await audit(tx, ctx, 'care.member_removed', { type: 'care_member', id: memberId }, { recipientId: current.recipientId, kind: current.kind, sessions: sessions.length, links: links.length });
    return { row: removed!, sessionIds: sessions.map((s) => s.id) };
  });
  await deps.hub.revoke(ctx.orgId, { memberIds: [memberId], memberSessionIds: sessionIds });
  await publishMember(deps, ctx, 'care.member_removed', row);
}

// ---- care links and member sessions ----------------------------------------------------------------------------

async function insertLink(
  tx: Tx,
  deps: Pick<CareDeps, 'careLinks' | 'publicUrl' | 'config'>,
  ctx: Ctx,
  member: CareMemberRow,
  options: { expiresAt?: Date | undefined; callId?: string | null | undefined },
): Promise<CareLink & { linkId: string }> {
  if (member.removedAt) throw new AppError('invalid_state', 'This member was removed from the care circle.');
  if (member.userId) throw new AppError('invalid_state', 'A staff caregiver signs in with their account; care links are for family members and the recipient’s own device.');
  const expiresAt = options.expiresAt ?? new Date(Date.now() + deps.config.careLinkTtlMs);
  const [link] = await tx
    .insert(careLinks)
    .values({ orgId: ctx.orgId, memberId: member.id, callId: options.callId ?? null, expiresAt })
    .returning({ id: careLinks.id });
  await audit(tx, ctx, 'care.link_created', { type: 'care_member', id: member.id }, { recipientId: member.recipientId, linkId: link!.id, callId: options.callId ?? null });
  return { memberId: member.id, url: `${deps.publicUrl}/care?t=${deps.careLinks.sign(link!.id)}`, expiresAt: expiresAt.toISOString(), linkId: link!.id };
}

/**
 * A care link (`${publicUrl}/care?t=ovc_…`) for a family member or the recipient's own device; not for a staff
 * caregiver (409). Expires after CARE_LINK_TTL_DAYS unless `expiresAt` says; `callId` binds it to one check-in call
 * (the calls' text to a callee who is not online: it expires with the ring window). Pass `{ ...deps, db: tx }` to make
 * it inside a transaction of your own.
 */
export async function createCareLink(
  deps: Pick<CareDeps, 'db' | 'careLinks' | 'publicUrl' | 'config'>,
  ctx: Ctx,
  memberId: string,
  options: { expiresAt?: Date | undefined; callId?: string | null | undefined } = {},
): Promise<CareLink & { linkId: string }> {
  return deps.db.transaction(async (tx) => insertLink(tx, deps, ctx, await careMemberRow(tx, ctx.orgId, memberId, { forUpdate: true }), options));
}

/** The recipient's own device link; makes the recipient member on first use. */
export async function createRecipientLink(deps: Pick<CareDeps, 'db' | 'hub' | 'careLinks' | 'publicUrl' | 'config'>, ctx: Ctx, patientId: string): Promise<CareLink & { linkId: string }> {
  const { link, recipient } = await deps.db.transaction(async (tx) => {
    await patientFor(tx, ctx.orgId, patientId, true);
    const recipient = await ensureRecipient(tx, ctx, patientId);
    return { link: await insertLink(tx, deps, ctx, recipient.row, {}), recipient };
  });
  if (recipient.created) await publishMember(deps, ctx, 'care.member_added', recipient.row);
  return link;
}

function memberCtx(orgId: string, member: CareMemberRow, sessionId: string, sessionExpiresAt: Date, client: CareClient): Ctx {
  return {
    orgId,
    actor: { type: 'member', id: member.id },
    principal: { kind: 'member', orgId, memberId: member.id, recipientId: member.recipientId, sessionId, sessionExpiresAt },
    requestId: client.requestId,
    ip: client.ip,
  };
}

/** Exchanges a care link for a member session. Invalid: 404 care_link_invalid; expired, revoked or removed: 410 care_link_expired. */
export async function exchangeCareLink(deps: CareDeps, token: string, client: CareClient, now = new Date()): Promise<CareSession> {
  const linkId = deps.careLinks.verify(token);
  if (!linkId) throw new AppError('care_link_invalid');
  const [found] = await deps.db
    .select({ link: careLinks, member: careMembers })
    .from(careLinks)
    .innerJoin(careMembers, and(eq(careMembers.orgId, careLinks.orgId), eq(careMembers.id, careLinks.memberId)))
    .where(eq(careLinks.id, linkId))
    .limit(1);
  if (!found || found.member.userId) throw new AppError('care_link_invalid');
  const { link, member } = found;
  if (link.revokedAt || member.removedAt) throw new AppError('care_link_expired', 'This check-in link no longer works. Ask for a new one.');
  if (link.expiresAt <= now) throw new AppError('care_link_expired');
  const session = newSecret(MEMBER_SESSION_PREFIX);
  const expiresAt = new Date(now.getTime() + deps.config.careSessionMs);
  const ctx = await deps.db.transaction(async (tx) => {
    const [row] = await tx
      .insert(memberSessions)
      .values({ orgId: link.orgId, memberId: member.id, tokenHash: sha256Hex(session), linkId: link.id, ip: client.ip, userAgent: client.userAgent, expiresAt })
      .returning({ id: memberSessions.id });
    await tx.update(careLinks).set({ lastUsedAt: now }).where(eq(careLinks.id, link.id));
    const ctx = memberCtx(link.orgId, member, row!.id, expiresAt, client);
    await audit(tx, ctx, 'care.link_used', { type: 'care_member', id: member.id }, { recipientId: member.recipientId, linkId: link.id, sessionId: row!.id, callId: link.callId });
    return ctx;
  });
  return { session, expiresAt: expiresAt.toISOString(), me: await careMe(deps, ctx), ...(link.callId ? { checkinId: link.callId } : {}) };
}

/** Signs a member's device out (its session revoked, its hub sockets closed). */
export async function signOutMember(deps: Pick<CareDeps, 'db' | 'hub'>, ctx: Ctx): Promise<void> {
  const p = ctx.principal;
  if (p.kind !== 'member') throw new AppError('forbidden', 'Only a care member’s session signs out here.');
  await deps.db.transaction(async (tx) => {
    await tx
      .update(memberSessions)
      .set({ revokedAt: new Date() })
      .where(and(eq(memberSessions.orgId, ctx.orgId), eq(memberSessions.id, p.sessionId), isNull(memberSessions.revokedAt)));
    await audit(tx, ctx, 'auth.logout', { type: 'member_session', id: p.sessionId }, { memberId: p.memberId });
  });
  await deps.hub.revoke(ctx.orgId, { memberSessionIds: [p.sessionId] });
}

/**
 * Who the caller is in the check-in app: the organisation (name, logo), their memberships, and for each the people
 * they may call (the other live members who can receive, when this member can start). A member session is one
 * membership; a staff user has one per circle they are a caregiver in (none for admins and clinicians).
 */
export async function careMe(deps: Pick<CareDeps, 'db'>, ctx: Ctx): Promise<CareMe> {
  if (ctx.principal.kind !== 'member' && ctx.principal.kind !== 'user') throw new AppError('forbidden', 'This is for a member of a care circle or a signed-in staff user.');
  const [org] = await deps.db.select({ name: organizations.name, logoUrl: organizations.logoUrl }).from(organizations).where(eq(organizations.id, ctx.orgId)).limit(1);
  if (!org) throw new AppError('not_found', 'The organisation does not exist.');
  const own = await membersOfPrincipal(deps, ctx);
  if (own.length === 0) return { org, members: [] };
  const circles = await namedMembers(deps.db, ctx.orgId, and(inArray(careMembers.recipientId, [...new Set(own.map((m) => m.recipientId))]), isNull(careMembers.removedAt)));
  const byId = new Map(circles.map((r) => [r.member.id, r]));
  return {
    org,
    members: own.flatMap((m) => {
      const row = byId.get(m.id);
      if (!row) return [];
      // Every row carries its circle's patient: the recipient's name and time zone.
      return [
        {
          member: toCareMemberDto(row),
          recipient: { id: m.recipientId, displayName: `${row.givenName} ${row.familyName}`.trim(), timeZone: row.timeZone },
          // A disabled staff caregiver cannot answer: not offered.
          contacts: m.canStart
            ? circles.filter((r) => r.member.recipientId === m.recipientId && r.member.id !== m.id && r.member.canReceive && r.userDisabledAt === null).map(toCareMemberDto)
            : [],
        },
      ];
    }),
  };
}

/** Another live member of the same circle (for the calls: a callee), or 404. */
export async function circleMember(db: Db, orgId: string, recipientId: string, memberId: string): Promise<CareMemberRow> {
  const [row] = await db
    .select()
    .from(careMembers)
    .where(and(eq(careMembers.orgId, orgId), eq(careMembers.id, memberId), eq(careMembers.recipientId, recipientId), isNull(careMembers.removedAt)))
    .limit(1);
  if (!row) throw new AppError('not_found', NO_MEMBER);
  return row;
}
