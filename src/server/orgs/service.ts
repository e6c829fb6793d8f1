import { eq } from 'drizzle-orm';
import type { Organization } from '../../shared/api/staff.js';
import { recordAudit } from '../audit/service.js';
import type { Actor } from '../context.js';
import { sqlState, type Db } from '../db/index.js';
import { organizations } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { assertTimeZone } from '../http/validators.js';

export const ORG_SLUG = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

export function toOrganizationDto(row: typeof organizations.$inferSelect): Organization {
  return { id: row.id, slug: row.slug, name: row.name, timeZone: row.timeZone, logoUrl: row.logoUrl, createdAt: row.createdAt.toISOString() };
}

export async function createOrganization(
  db: Db,
  input: { slug: string; name: string; timeZone?: string },
  actor: Actor = { type: 'system', id: null },
): Promise<Organization> {
  if (!ORG_SLUG.test(input.slug)) {
    throw new AppError('validation_failed', 'The slug must be lower-case letters, digits and dashes (1 to 64).', [{ path: 'body/slug', message: 'is not a valid slug' }]);
  }
  if (input.name.trim() === '') throw new AppError('validation_failed', undefined, [{ path: 'body/name', message: 'is required' }]);
  if (input.timeZone) assertTimeZone(input.timeZone, 'body/timeZone');
  try {
    return await db.transaction(async (tx) => {
      const [row] = await tx
        .insert(organizations)
        .values({ slug: input.slug, name: input.name.trim(), timeZone: input.timeZone ?? 'UTC' })
        .returning();
      await recordAudit(tx, { orgId: row!.id, actor, action: 'org.created', target: { type: 'organization', id: row!.id } });
      return toOrganizationDto(row!);
    });
  } catch (err) {
    if (sqlState(err) === '23505') throw new AppError('already_exists', `An organisation with the slug "${input.slug}" already exists.`);
    throw err;
  }
}

export async function findOrganizationBySlug(db: Db, slug: string) {
  const [row] = await db.select().from(organizations).where(eq(organizations.slug, slug)).limit(1);
  return row;
}

export async function getOrganization(db: Db, id: string) {
  const [row] = await db.select().from(organizations).where(eq(organizations.id, id)).limit(1);
  if (!row) throw new AppError('not_found', 'The organisation does not exist.');
  return row;
}
