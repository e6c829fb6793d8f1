import { and, desc, eq, isNull, sql, type SQL } from 'drizzle-orm';
import Type from 'typebox';
import type { ApiKey } from '../../shared/api/staff.js';
import { recordAudit } from '../audit/service.js';
import type { Actor } from '../context.js';
import type { Db } from '../db/index.js';
import { apiKeys } from '../db/schema.js';
import { API_KEY_PREFIX, newSecret, sha256Hex } from '../auth/secrets.js';
import { AppError } from '../http/errors.js';
import { decodeCursor, encodeCursor, page } from '../http/pagination.js';

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

interface Meta {
  actor: Actor;
  requestId?: string | null;
  ip?: string | null;
}

/** Creates a key for one organisation. The key is returned once; only its sha256 is stored. */
export async function createApiKey(db: Db, orgId: string, name: string, meta: Meta): Promise<{ apiKey: ApiKeyDto; key: string }> {
  const key = newSecret(API_KEY_PREFIX);
  const row = await db.transaction(async (tx) => {
    const [inserted] = await tx
      .insert(apiKeys)
      .values({ orgId, name: name.trim(), prefix: key.slice(0, API_KEY_PREFIX.length + 6), keyHash: sha256Hex(key), createdByUserId: meta.actor.type === 'user' ? meta.actor.id : null })
      .returning();
    await recordAudit(tx, { orgId, actor: meta.actor, action: 'api_key.created', target: { type: 'api_key', id: inserted!.id }, requestId: meta.requestId, ip: meta.ip });
    return inserted!;
  });
  return { apiKey: toApiKeyDto(row), key };
}

export async function revokeApiKey(db: Db, orgId: string, id: string, meta: Meta): Promise<ApiKeyDto> {
  return db.transaction(async (tx) => {
    const [current] = await tx.select().from(apiKeys).where(and(eq(apiKeys.orgId, orgId), eq(apiKeys.id, id))).limit(1);
    if (!current) throw new AppError('not_found', 'There is no such API key.');
    if (current.revokedAt) return toApiKeyDto(current);
    const [row] = await tx.update(apiKeys).set({ revokedAt: new Date() }).where(eq(apiKeys.id, id)).returning();
    await recordAudit(tx, { orgId, actor: meta.actor, action: 'api_key.revoked', target: { type: 'api_key', id }, requestId: meta.requestId, ip: meta.ip });
    return toApiKeyDto(row!);
  });
}

export async function listApiKeys(db: Db, orgId: string, q: { includeRevoked: boolean; cursor?: string | undefined; limit: number }) {
  const where: SQL[] = [eq(apiKeys.orgId, orgId)];
  if (!q.includeRevoked) where.push(isNull(apiKeys.revokedAt));
  if (q.cursor) {
    const [at, id] = decodeCursor(q.cursor, ['string', 'string']) as [string, string];
    const time = new Date(at);
    if (Number.isNaN(time.getTime())) throw new AppError('invalid_cursor');
    where.push(sql`(${apiKeys.createdAt}, ${apiKeys.id}) < (${time.toISOString()}::timestamptz, ${id}::uuid)`);
  }
  const rows = await db.select().from(apiKeys).where(and(...where)).orderBy(desc(apiKeys.createdAt), desc(apiKeys.id)).limit(q.limit + 1);
  const result = page(rows, q.limit, (r) => encodeCursor([r.createdAt.toISOString(), r.id]));
  return { data: result.data.map(toApiKeyDto), nextCursor: result.nextCursor };
}

