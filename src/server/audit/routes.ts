import Type from 'typebox';
import { IsoDateTime, Page } from '../../shared/api/common.js';
import { ctxOf, type App } from '../context.js';
import { AppError } from '../http/errors.js';
import { decodeCursor, encodeCursor, page } from '../http/pagination.js';
import { authErrors } from '../http/schemas.js';
import { parseInstant } from '../http/validators.js';
import { AUDIT_ACTIONS } from './catalogue.js';
import { listAuditEvents, type AuditDeps } from './service.js';

const AuditEvent = Type.Object({
  id: Type.Integer(),
  seq: Type.Integer({ description: 'Position in the organisation’s hash chain.' }),
  at: IsoDateTime,
  actor: Type.Object({ type: Type.String(), id: Type.Union([Type.String(), Type.Null()]) }),
  action: Type.String(),
  target: Type.Union([Type.Object({ type: Type.String(), id: Type.Union([Type.String(), Type.Null()]) }), Type.Null()]),
  requestId: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  outcome: Type.Union([Type.Literal('success'), Type.Literal('failure')]),
  details: Type.Union([Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()])), Type.Null()]),
  hash: Type.String(),
  prevHash: Type.String(),
});

const AuditQuery = Type.Object({
  action: Type.Optional(Type.Union(AUDIT_ACTIONS.map((a) => Type.Literal(a)))),
  actorType: Type.Optional(Type.Union(['user', 'api_key', 'system', 'anonymous', 'participant'].map((a) => Type.Literal(a)))),
  actorId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  targetType: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  targetId: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  outcome: Type.Optional(Type.Union([Type.Literal('success'), Type.Literal('failure')])),
  from: Type.Optional(IsoDateTime),
  to: Type.Optional(IsoDateTime),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 100 }),
});

/** The audit log, read-only, newest first. Admins (and the organisation's API keys) only. */
export async function auditRoutes(app: App): Promise<void> {
  const deps: AuditDeps = { db: app.deps.database.db };

  app.get(
    '/audit',
    { config: { roles: ['admin'] }, schema: { tags: ['audit'], summary: 'Search the audit log', querystring: AuditQuery, response: { 200: Page(AuditEvent), ...authErrors } } },
    async (request) => {
      const ctx = ctxOf(request);
      const q = request.query;
      const from = q.from ? parseInstant(q.from, 'querystring/from') : undefined;
      const to = q.to ? parseInstant(q.to, 'querystring/to') : undefined;
      if (from && to && from > to) throw new AppError('validation_failed', undefined, [{ path: 'querystring/from', message: 'must not be after "to"' }]);
      const beforeId = q.cursor ? decodeCursor(q.cursor, ['number'])[0] : undefined;
      // The cursor is a bigint id: anything else would reach the database as an invalid bigint.
      const rows = await listAuditEvents(deps, ctx, { ...q, from, to, beforeId, limit: q.limit + 1 });
      const result = page(rows, q.limit, (r) => encodeCursor([r.id]));
      return {
        data: result.data.map((r) => ({
          id: r.id,
          seq: r.seq,
          at: r.at.toISOString(),
          actor: { type: r.actorType, id: r.actorId },
          action: r.action,
          target: r.targetType ? { type: r.targetType, id: r.targetId } : null,
          requestId: r.requestId,
          ip: r.ip,
          outcome: r.outcome,
          details: r.details ?? null,
          hash: r.hash,
          prevHash: r.prevHash,
        })),
        nextCursor: result.nextCursor,
      };
    },
  );
}
