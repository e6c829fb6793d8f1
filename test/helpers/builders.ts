import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import type { App } from '../../src/server/app.js';
import { createApiKey } from '../../src/server/apikeys/service.js';
import { newSecret, SESSION_COOKIE, sha256Hex } from '../../src/server/auth/secrets.js';
import { systemCtx } from '../../src/server/context.js';
import type { Database } from '../../src/server/db/index.js';
import { sessions, type UserRole } from '../../src/server/db/schema.js';
import { createOrganization } from '../../src/server/orgs/service.js';
import { createUser } from '../../src/server/users/service.js';
import type { User } from '../../src/shared/api/staff.js';

export const TEST_PASSWORD = 'correct horse battery staple';

export interface Caller {
  /** Extra headers identifying the caller (cookie or bearer key). */
  headers: Record<string, string>;
  request(method: InjectOptions['method'], url: string, body?: unknown, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
  get(url: string): Promise<LightMyRequestResponse>;
  post(url: string, body?: unknown): Promise<LightMyRequestResponse>;
  patch(url: string, body?: unknown): Promise<LightMyRequestResponse>;
}

export function caller(app: App, headers: Record<string, string> = {}): Caller {
  const request: Caller['request'] = (method, url, body, extra = {}) =>
    app.inject({
      method,
      url,
      headers: { ...headers, ...extra },
      ...(body === undefined ? {} : { payload: body as InjectOptions['payload'] }),
    });
  return {
    headers,
    request,
    get: (url) => request('GET', url),
    post: (url, body) => request('POST', url, body ?? {}),
    patch: (url, body) => request('PATCH', url, body ?? {}),
  };
}

export interface StaffMember extends Caller {
  user: User;
  sessionToken: string;
}

export interface TestOrg {
  orgId: string;
  slug: string;
  admin: StaffMember;
  clinician: StaffMember;
  caregiver: StaffMember;
  apiKey: Caller & { id: string; key: string };
  anonymous: Caller;
}

/** Signs a user in by writing a session row, exactly as POST /auth/login does (without spending scrypt). */
export async function sessionFor(database: Database, user: User): Promise<string> {
  const token = newSecret();
  await database.db.insert(sessions).values({ orgId: user.orgId, userId: user.id, tokenHash: sha256Hex(token), expiresAt: new Date(Date.now() + 3600_000) });
  return token;
}

export async function addStaff(app: App, orgId: string, role: UserRole, email?: string): Promise<StaffMember> {
  const database = app.deps.database;
  const user = await createUser({ db: database.db, hub: app.realtime }, systemCtx(orgId), { email: email ?? `${role}-${randomBytes(5).toString('hex')}@example.test`, name: `Test ${role}`, role, password: TEST_PASSWORD });
  const sessionToken = await sessionFor(database, user);
  return { ...caller(app, { cookie: `${SESSION_COOKIE}=${sessionToken}` }), user, sessionToken };
}

/** An isolated organisation with an admin, a clinician, a caregiver and an API key (Medplum's createTestProject). */
export async function createTestOrg(app: App): Promise<TestOrg> {
  const database = app.deps.database;
  const slug = `org-${randomBytes(5).toString('hex')}`;
  const org = await createOrganization(database.db, { slug, name: `Test clinic ${slug}` }, { type: 'system', id: null });
  const [admin, clinician, caregiver] = await Promise.all([addStaff(app, org.id, 'admin'), addStaff(app, org.id, 'clinician'), addStaff(app, org.id, 'caregiver')]);
  const created = await createApiKey({ db: database.db, hub: app.realtime }, systemCtx(org.id), 'test key');
  return {
    orgId: org.id,
    slug,
    admin,
    clinician,
    caregiver,
    apiKey: { ...caller(app, { authorization: `Bearer ${created.key}` }), id: created.apiKey.id, key: created.key },
    anonymous: caller(app),
  };
}

/** Asserts the catalogue's error shape and returns the code. */
export function errorOf(response: LightMyRequestResponse): { code: string; message: string; requestId: string; details?: unknown } {
  const body = response.json() as { error?: { code?: unknown; message?: unknown; requestId?: unknown } };
  if (!body.error || typeof body.error.code !== 'string' || typeof body.error.message !== 'string' || typeof body.error.requestId !== 'string') {
    throw new Error(`not an error body (status ${response.statusCode}): ${response.body.slice(0, 300)}`);
  }
  return body.error as { code: string; message: string; requestId: string };
}

/** Asserts the status and the catalogue code of an error answer. */
export function expectStatus(res: LightMyRequestResponse, status: number, code: string, what = ''): void {
  assert.equal(res.statusCode, status, `${what} ${res.body}`);
  assert.equal(errorOf(res).code, code, what);
}

/** The `path` of each validation detail, in the order the server gave them. */
export function detailPaths(res: LightMyRequestResponse): string[] {
  return ((errorOf(res).details ?? []) as { path?: string }[]).map((d) => d.path ?? '');
}
