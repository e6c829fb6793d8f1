import { eq } from 'drizzle-orm';
import { Organization, UpdateOrganizationBody } from '../../shared/api/staff.js';
import { ctxOf, type App } from '../context.js';
import { audit } from '../audit/service.js';
import { organizations } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { authErrors } from '../http/schemas.js';
import { assertTimeZone } from '../http/validators.js';
import { checkLogoUrl } from './logo.js';
import { getOrganization, toOrganizationDto } from './service.js';

export async function orgRoutes(app: App): Promise<void> {
  const db = app.deps.database.db;
  const tags = ['organization'];

  app.get(
    '/organization',
    { schema: { tags, summary: "The caller's organisation", response: { 200: Organization, ...authErrors } } },
    async (request) => toOrganizationDto(await getOrganization(db, ctxOf(request).orgId)),
  );

  app.patch(
    '/organization',
    { config: { roles: ['admin'] }, schema: { tags, summary: "Rename the organisation, change its time zone or set its logo (an https URL or a data: URL of a PNG, JPEG, SVG or WebP image up to 100 KB; null removes it)", body: UpdateOrganizationBody, response: { 200: Organization, ...authErrors } } },
    async (request) => {
      const ctx = ctxOf(request);
      if (request.body.timeZone !== undefined) assertTimeZone(request.body.timeZone, 'body/timeZone');
      // Stored trimmed: a name of spaces only would be stored empty.
      if (request.body.name !== undefined && request.body.name.trim() === '') {
        throw new AppError('validation_failed', undefined, [{ path: 'body/name', message: 'must not be blank' }]);
      }
      const logoUrl = request.body.logoUrl === undefined || request.body.logoUrl === null ? request.body.logoUrl : checkLogoUrl(request.body.logoUrl);
      const row = await db.transaction(async (tx) => {
        const [updated] = await tx
          .update(organizations)
          .set({
            ...(request.body.name !== undefined ? { name: request.body.name.trim() } : {}),
            ...(request.body.timeZone !== undefined ? { timeZone: request.body.timeZone } : {}),
            ...(logoUrl !== undefined ? { logoUrl } : {}),
          })
          .where(eq(organizations.id, ctx.orgId))
          .returning();
        await audit(tx, ctx, 'org.updated', { type: 'organization', id: ctx.orgId }, { fields: Object.keys(request.body).sort().join(',') });
        return updated!;
      });
      return toOrganizationDto(row);
    },
  );
}
