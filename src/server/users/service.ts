import { and, asc, eq, gt, ilike, isNull, ne, or, sql, type SQL } from 'drizzle-orm';
import type { User } from '../../shared/api/staff.js';
import { audit } from '../audit/service.js';
import type { Ctx } from '../context.js';
import { sqlState, type Db } from '../db/index.js';
import { sessions, users, type UserRole } from '../db/schema.js';
import { hashPassword } from '../auth/passwords.js';
import { AppError } from '../http/errors.js';
import { decodeCursor, encodeCursor, page } from '../http/pagination.js';
import { assertPrintable } from '../http/validators.js';
import type { OrgEvents } from '../realtime/events.js';

type UserRow = typeof users.$inferSelect;

/** What the staff-user functions need: the database, and the hub they announce changes (and sign-outs) on. */
export interface UserDeps {
  db: Db;
  hub: OrgEvents;
}

export function toUserDto(row: UserRow): User {
  return {
    id: row.id,
    orgId: row.orgId,
    email: row.email,
    name: row.name,
    role: row.role,
    disabled: row.disabledAt !== null,
    lastLoginAt: row.lastLoginAt?.toISOString() ?? null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export function normaliseEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** Names are stored trimmed: one of spaces only would be stored empty. */
function assertNotBlank(value: string, path: string): void {
  if (value.trim() === '') throw new AppError('validation_failed', undefined, [{ path, message: 'must not be blank' }]);
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface NewUser {
  email: string;
  name: string;
  role: UserRole;
  password: string;
}

/** Creates a staff user in the caller's organisation (the system's context for the CLI and demo data). */
export async function createUser(deps: UserDeps, ctx: Ctx, input: NewUser): Promise<User> {
  assertPrintable(input.name, 'body/name');
  assertNotBlank(input.name, 'body/name');
  const passwordHash = await hashPassword(input.password);
  let user: User;
  try {
    user = await deps.db.transaction(async (tx) => {
      const [row] = await tx
        .insert(users)
        .values({ orgId: ctx.orgId, email: normaliseEmail(input.email), name: input.name.trim(), role: input.role, passwordHash })
        .returning();
      await audit(tx, ctx, 'user.created', { type: 'user', id: row!.id }, { role: input.role });
      return toUserDto(row!);
    });
  } catch (err) {
    if (sqlState(err) === '23505') throw new AppError('already_exists', 'A user with this email already exists.', [{ path: 'body/email', message: 'is already in use' }]);
    throw err;
  }
  await deps.hub.publish(ctx.orgId, 'user.created', { userId: user.id });
  return user;
}

export async function getUser(deps: UserDeps, ctx: Ctx, id: string): Promise<User> {
  return toUserDto(await getUserRow(deps.db, ctx.orgId, id));
}

/** The row, for services that need more than the DTO (auth) or read inside their transaction. */
export async function getUserRow(db: Db, orgId: string, id: string): Promise<UserRow> {
  const [row] = await db.select().from(users).where(and(eq(users.orgId, orgId), eq(users.id, id))).limit(1);
  if (!row) throw new AppError('not_found', 'There is no such user.');
  return row;
}

export async function listUsers(deps: UserDeps, ctx: Ctx, q: { role?: UserRole | undefined; q?: string | undefined; cursor?: string | undefined; limit: number }) {
  const where: SQL[] = [eq(users.orgId, ctx.orgId)];
  if (q.role) where.push(eq(users.role, q.role));
  if (q.q) {
    const pattern = `%${q.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    where.push(or(ilike(users.name, pattern), ilike(users.email, pattern))!);
  }
  if (q.cursor) {
    const [name, id] = decodeCursor(q.cursor, ['string', 'uuid']);
    if (!UUID.test(id)) throw new AppError('invalid_cursor');
    where.push(sql`(${users.name}, ${users.id}) > (${name}, ${id}::uuid)`);
  }
  const rows = await deps.db.select().from(users).where(and(...where)).orderBy(asc(users.name), asc(users.id)).limit(q.limit + 1);
  const result = page(rows, q.limit, (r) => encodeCursor([r.name, r.id]));
  return { data: result.data.map(toUserDto), nextCursor: result.nextCursor };
}

async function activeAdminCount(db: Db, orgId: string, except: string): Promise<number> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(users)
    .where(and(eq(users.orgId, orgId), eq(users.role, 'admin'), isNull(users.disabledAt), ne(users.id, except)));
  return row?.n ?? 0;
}

export async function updateUser(
  deps: UserDeps,
  ctx: Ctx,
  id: string,
  patch: { name?: string | undefined; role?: UserRole | undefined; disabled?: boolean | undefined; password?: string | undefined },
): Promise<User> {
  if (patch.name !== undefined) {
    assertPrintable(patch.name, 'body/name');
    assertNotBlank(patch.name, 'body/name');
  }
  const passwordHash = patch.password !== undefined ? await hashPassword(patch.password) : undefined;
  const result = await deps.db.transaction(async (tx) => {
    // One admin change at a time per organisation, so two admins demoting each other at once cannot
    // both pass the last-admin check below (each would still count the other).
    await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${`users:${ctx.orgId}`}, 0))`);
    const current = await getUserRow(tx, ctx.orgId, id);
    const losesAdmin = current.role === 'admin' && current.disabledAt === null && ((patch.role !== undefined && patch.role !== 'admin') || patch.disabled === true);
    if (losesAdmin && (await activeAdminCount(tx, ctx.orgId, id)) === 0) {
      throw new AppError('invalid_state', 'This is the organisation’s last active admin: make another admin first.');
    }
    const now = new Date();
    const disabledAt = patch.disabled === undefined ? current.disabledAt : patch.disabled ? (current.disabledAt ?? now) : null;
    const [row] = await tx
      .update(users)
      .set({
        ...(patch.name !== undefined ? { name: patch.name.trim() } : {}),
        ...(patch.role !== undefined ? { role: patch.role } : {}),
        ...(passwordHash !== undefined ? { passwordHash } : {}),
        disabledAt,
        updatedAt: now,
      })
      .where(and(eq(users.orgId, ctx.orgId), eq(users.id, id)))
      .returning();
    const signOut = (patch.disabled === true && current.disabledAt === null) || passwordHash !== undefined;
    if (signOut) {
      await tx.update(sessions).set({ revokedAt: now }).where(and(eq(sessions.orgId, ctx.orgId), eq(sessions.userId, id), isNull(sessions.revokedAt)));
    }
    const changed = Object.keys(patch).sort().join(',');
    if (patch.disabled === true && current.disabledAt === null) await audit(tx, ctx, 'user.disabled', { type: 'user', id });
    else if (patch.disabled === false && current.disabledAt !== null) await audit(tx, ctx, 'user.enabled', { type: 'user', id });
    await audit(tx, ctx, 'user.updated', { type: 'user', id }, { fields: changed, ...(patch.role ? { role: patch.role } : {}), signedOut: signOut });
    return { user: toUserDto(row!), signOut };
  });
  if (result.signOut) await deps.hub.revoke(ctx.orgId, { userIds: [id] });
  await deps.hub.publish(ctx.orgId, 'user.updated', { userId: id });
  return result.user;
}

/** Signs a user out everywhere. */
export async function revokeUserSessions(deps: UserDeps, ctx: Ctx, userId: string): Promise<number> {
  const count = await deps.db.transaction(async (tx) => {
    await getUserRow(tx, ctx.orgId, userId);
    const revoked = await tx
      .update(sessions)
      .set({ revokedAt: new Date() })
      .where(and(eq(sessions.orgId, ctx.orgId), eq(sessions.userId, userId), isNull(sessions.revokedAt), gt(sessions.expiresAt, new Date())))
      .returning({ id: sessions.id });
    await audit(tx, ctx, 'auth.session_revoked', { type: 'user', id: userId }, { sessions: revoked.length, scope: 'all' });
    return revoked.length;
  });
  await deps.hub.revoke(ctx.orgId, { userIds: [userId] });
  return count;
}
