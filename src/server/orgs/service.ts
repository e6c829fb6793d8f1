import { eq } from 'drizzle-orm';
import type { Organization } from '../../shared/api/staff.js';
import type { UpdateOrganizationBody } from '../../shared/api/staff.js';
import { audit, recordAudit } from '../audit/service.js';
import type { Actor, Ctx } from '../context.js';
import { sqlState, type Db } from '../db/index.js';
import { organizations } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { assertTimeZone } from '../http/validators.js';
import { checkLogoUrl } from './logo.js';

/** What the organisation functions need. */
export interface OrgDeps {
  db: Db;
}

export const ORG_SLUG = /^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$/;

export function toOrganizationDto(row: typeof organizations.$inferSelect): Organization {
  return {
    id: row.id,
    slug: row.slug,
    name: row.name,
    timeZone: row.timeZone,
    logoUrl: row.logoUrl,
    groupNamePolicy: row.groupNamePolicy,
    groupSelfNames: row.groupSelfNames,
    groupMaxParticipants: row.groupMaxParticipants,
    createdAt: row.createdAt.toISOString(),
  };
}

/** A new tenant, made by an operator (CLI) or the demo seed: there is no organisation's context yet, only an actor. */
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

/** The row, for services that read an organisation outside its own context (sign-in). */
export async function organizationRow(db: Db, id: string) {
  const [row] = await db.select().from(organizations).where(eq(organizations.id, id)).limit(1);
  if (!row) throw new AppError('not_found', 'The organisation does not exist.');
  return row;
}

/** The caller's organisation. */
export async function getOrganization(deps: OrgDeps, ctx: Ctx): Promise<Organization> {
  return toOrganizationDto(await organizationRow(deps.db, ctx.orgId));
}

/**
 * Renames the caller's organisation, changes its time zone, sets its logo (checked: logo.ts) or its group settings
 * (how clients see each other in a group, whether they may choose their own name, the default size limit).
 */
export async function updateOrganization(deps: OrgDeps, ctx: Ctx, body: UpdateOrganizationBody): Promise<Organization> {
  if (body.timeZone !== undefined) assertTimeZone(body.timeZone, 'body/timeZone');
  // Stored trimmed: a name of spaces only would be stored empty.
  if (body.name !== undefined && body.name.trim() === '') {
    throw new AppError('validation_failed', undefined, [{ path: 'body/name', message: 'must not be blank' }]);
  }
  const logoUrl = body.logoUrl === undefined || body.logoUrl === null ? body.logoUrl : checkLogoUrl(body.logoUrl);
  const row = await deps.db.transaction(async (tx) => {
    const [updated] = await tx
      .update(organizations)
      .set({
        ...(body.name !== undefined ? { name: body.name.trim() } : {}),
        ...(body.timeZone !== undefined ? { timeZone: body.timeZone } : {}),
        ...(logoUrl !== undefined ? { logoUrl } : {}),
        ...(body.groupNamePolicy !== undefined ? { groupNamePolicy: body.groupNamePolicy } : {}),
        ...(body.groupSelfNames !== undefined ? { groupSelfNames: body.groupSelfNames } : {}),
        ...(body.groupMaxParticipants !== undefined ? { groupMaxParticipants: body.groupMaxParticipants } : {}),
      })
      .where(eq(organizations.id, ctx.orgId))
      .returning();
    await audit(tx, ctx, 'org.updated', { type: 'organization', id: ctx.orgId }, { fields: Object.keys(body).sort().join(',') });
    return updated!;
  });
  return toOrganizationDto(row);
}
