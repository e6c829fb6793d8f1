import type { FastifyRequest } from 'fastify';
import type { LoggerOptions } from 'pino';

/**
 * Structured logs carry ids and codes only. Request URLs are logged without their query string
 * (a patient search is `?q=<name>`), and anything that could hold a secret or PHI is censored.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.password',
  '*.currentPassword',
  '*.newPassword',
  '*.token',
  '*.key',
  '*.secret',
  '*.phone',
  '*.email',
  '*.name',
  '*.givenName',
  '*.familyName',
  '*.dateOfBirth',
  '*.body',
  '*.message.body',
];

const SQLSTATE = /^[0-9A-Z]{5}$/;
/** Marks what serializeError wrote, so passing it through again (the logger's serializer) keeps it as is. */
const SERIALIZED = Symbol('serializedError');
/** Names a database error may carry (schema names, never values): kept in the log. */
const DB_NAME_FIELDS = ['severity', 'schema', 'table', 'column', 'constraint', 'dataType', 'routine'] as const;

/** An error from the database or its driver: its message, detail and query text may hold the values sent. */
function isDatabaseError(e: Record<string, unknown>): boolean {
  if ('query' in e || 'params' in e) return true; // drizzle's DrizzleQueryError, PGlite's errors
  if (typeof e.message === 'string' && e.message.startsWith('Failed query:')) return true;
  return typeof e.code === 'string' && SQLSTATE.test(e.code) && ('severity' in e || 'routine' in e || 'sqlState' in e); // pg's DatabaseError, PGlite's
}

/**
 * How every logged error is written (the `err` and `error` keys, and any error passed through here): a
 * database error keeps its class, SQLSTATE and the names of what it is about (table, column, constraint),
 * never its message, detail, query text or parameters ("invalid input syntax for type uuid: \"…\"" and
 * "Key (email)=(…)" carry the values sent); other errors keep their message and stack. `cause` chains are
 * followed the same way.
 */
export function serializeError(err: unknown, depth = 0): unknown {
  if (err === null || typeof err !== 'object') return typeof err === 'string' ? { message: err } : err;
  if (SERIALIZED in err) return err;
  const e = err as Record<string, unknown>;
  // The class (DrizzleQueryError, DatabaseError) says more than `name`, unless a bundler shortened it.
  const ctor = (err as object).constructor?.name;
  const type = typeof e.type === 'string' ? e.type : ctor && ctor.length > 2 && ctor !== 'Object' ? ctor : e.name;
  const out: Record<string, unknown> = { type };
  Object.defineProperty(out, SERIALIZED, { value: true });
  if (isDatabaseError(e)) {
    const code = typeof e.sqlState === 'string' ? e.sqlState : typeof e.code === 'string' && SQLSTATE.test(e.code) ? e.code : undefined;
    if (code) out.sqlState = code;
    for (const field of DB_NAME_FIELDS) if (typeof e[field] === 'string') out[field] = e[field];
    out.message = code ? `database error ${code}` : 'database error';
  } else {
    if (typeof e.message === 'string') out.message = e.message;
    if (typeof e.code === 'string' || typeof e.code === 'number') out.code = e.code;
    if (typeof e.sqlState === 'string') out.sqlState = e.sqlState;
    if (typeof e.stack === 'string') out.stack = e.stack;
  }
  if (e.cause !== undefined && depth < 5) out.cause = serializeError(e.cause, depth + 1);
  return out;
}

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      err: (err: unknown) => serializeError(err),
      error: (err: unknown) => serializeError(err),
      req(req: FastifyRequest) {
        const url = req.url ?? '';
        const q = url.indexOf('?');
        return { method: req.method, url: q === -1 ? url : url.slice(0, q), requestId: req.id, remoteAddress: req.ip };
      },
    },
  };
}
