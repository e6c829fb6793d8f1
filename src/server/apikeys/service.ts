import { and, desc, eq, getTableColumns, isNull, sql, type SQL } from 'drizzle-orm';
import Type from 'typebox';
import type { ApiKey } from '../../shared/api/staff.js';
import { audit } from '../audit/service.js';
import type { Ctx } from '../context.js';
import type { Db } from '../db/index.js';
import { apiKeys } from '../db/schema.js';
import { API_KEY_PREFIX, newSecret, sha256Hex } from '../auth/secrets.js';
import { AppError } from '../http/errors.js';
import { decodeCursor, encodeCursor, page } from '../http/pagination.js';
import type { OrgEvents } from '../realtime/events.js';

type ApiKeyRow = typeof apiKeys.$inferSelect;
export type ApiKeyDto = Type.Static<typeof ApiKey>;

export function toApiKeyDto(row: ApiKeyRow): ApiKeyDto {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    createdAt: row.createdAt.toISOString(),
    lastUsedAt: row.lastUsedAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
  };
}

/** What the API-key functions need: the database, and the hub that closes a revoked key's connections. */
export interface ApiKeyDeps {
  db: Db;
  hub: OrgEvents;
}

/** Creates a key for the caller's organisation. The key is returned once; only its sha256 is stored. */
export async function createApiKey(deps: ApiKeyDeps, ctx: Ctx, name: string): Promise<{ apiKey: ApiKeyDto; key: string }> {
  // Stored trimmed: a name of spaces only would be stored empty.
  if (name.trim() === '') throw new AppError('validation_failed', undefined, [{ path: 'body/name', message: 'must not be blank' }]);
  const key = newSecret(API_KEY_PREFIX);
  const row = await deps.db.transaction(async (tx) => {
    const [inserted] = await tx
      .insert(apiKeys)
      .values({ orgId: ctx.orgId, name: name.trim(), prefix: key.slice(0, API_KEY_PREFIX.length + 6), keyHash: sha256Hex(key), createdByUserId: ctx.actor.type === 'user' ? ctx.actor.id : null })
      .returning();
    await audit(tx, ctx, 'api_key.created', { type: 'api_key', id: inserted!.id });
    return inserted!;
  });
  return { apiKey: toApiKeyDto(row), key };
}

/** Revokes a key; after commit, its hub connections (on every server) are closed. */
export async function revokeApiKey(deps: ApiKeyDeps, ctx: Ctx, id: string): Promise<ApiKeyDto> {
  const key = await deps.db.transaction(async (tx) => {
    const [current] = await tx.select().from(apiKeys).where(and(eq(apiKeys.orgId, ctx.orgId), eq(apiKeys.id, id))).limit(1);
    if (!current) throw new AppError('not_found', 'There is no such API key.');
    if (current.revokedAt) return toApiKeyDto(current);
    const [row] = await tx.update(apiKeys).set({ revokedAt: new Date() }).where(eq(apiKeys.id, id)).returning();
    await audit(tx, ctx, 'api_key.revoked', { type: 'api_key', id });
    return toApiKeyDto(row!);
  });
  await deps.hub.revoke(ctx.orgId, { apiKeyIds: [key.id] });
  return key;
}

/**
 * created_at to the microsecond, for cursors: a JS Date keeps milliseconds only, and a cursor cut to the
 * millisecond would skip the keys created later in that same millisecond than the page's last one.
 */
const exactCreatedAt = sql<string>`to_char(${apiKeys.createdAt} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export async function listApiKeys(deps: Pick<ApiKeyDeps, 'db'>, ctx: Ctx, q: { includeRevoked: boolean; cursor?: string | undefined; limit: number }) {
  const where: SQL[] = [eq(apiKeys.orgId, ctx.orgId)];
  if (!q.includeRevoked) where.push(isNull(apiKeys.revokedAt));
  if (q.cursor) {
    // A microsecond `time` (an `instant` would cut it to milliseconds), checked by decodeCursor.
    const [at, id] = decodeCursor(q.cursor, ['time', 'uuid']);
    where.push(sql`(${apiKeys.createdAt}, ${apiKeys.id}) < (${at}::timestamptz, ${id}::uuid)`);
  }
  const rows = await deps.db
    .select({ ...getTableColumns(apiKeys), exactCreatedAt })
    .from(apiKeys)
    .where(and(...where))
    .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id))
    .limit(q.limit + 1);
  const result = page(rows, q.limit, (r) => encodeCursor([r.exactCreatedAt, r.id]));
  return { data: result.data.map(toApiKeyDto), nextCursor: result.nextCursor };
}

