import { Organization, UpdateOrganizationBody } from '../../shared/api/staff.js';
import { ctxOf, type App } from '../context.js';
import { authErrors } from '../http/schemas.js';
import { getOrganization, updateOrganization, type OrgDeps } from './service.js';

export async function orgRoutes(app: App): Promise<void> {
  const deps: OrgDeps = { db: app.deps.database.db };
  const tags = ['organization'];

  app.get(
    '/organization',
    { schema: { tags, summary: "The caller's organisation", response: { 200: Organization, ...authErrors } } },
    async (request) => getOrganization(deps, ctxOf(request)),
  );

  app.patch(
    '/organization',
    { config: { roles: ['admin'] }, schema: { tags, summary: "Rename the organisation, change its time zone or set its logo (an https URL or a data: URL of a PNG, JPEG, SVG or WebP image up to 100 KB; null removes it)", body: UpdateOrganizationBody, response: { 200: Organization, ...authErrors } } },
    async (request) => updateOrganization(deps, ctxOf(request), request.body),
  );
}
