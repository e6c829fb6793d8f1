import Type from 'typebox';
import { isDateTime } from '../../shared/dates.js';
import { AppError } from './errors.js';

/**
 * Opaque cursors: base64url of a JSON array of the sort key of the last row served. Lists answer
 * `{ data, nextCursor }`; `nextCursor` is null on the last page.
 */
export function encodeCursor(values: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

/**
 * `instant`: a date-time, returned as an ISO string to the millisecond. `time`: a UTC date-time to the
 * microsecond (`YYYY-MM-DDTHH:MM:SS.ffffffZ`, as `to_char` writes a timestamptz), returned as sent, for lists
 * whose rows may share a millisecond. Both are checked against the one date range (src/shared/dates.ts),
 * so a forged date is `invalid_cursor`, never a database error or a date moved by a century.
 */
type CursorPart = 'string' | 'number' | 'uuid' | 'instant' | 'time';
type CursorValue<P extends CursorPart> = P extends 'number' ? number : string;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MICROSECOND_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z$/;

function partOk(part: CursorPart, value: unknown): boolean {
  switch (part) {
    case 'string':
      // No row yields a NUL (PostgreSQL text cannot hold one); a forged one would fail in the query.
      return typeof value === 'string' && !value.includes('\u0000');
    case 'number':
      return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
    case 'uuid':
      return typeof value === 'string' && UUID.test(value);
    case 'instant':
      return typeof value === 'string' && isDateTime(value);
    case 'time':
      return typeof value === 'string' && MICROSECOND_TIME.test(value) && isDateTime(value);
  }
}

/**
 * Decodes a cursor and checks every part, so a forged cursor is a 400 `invalid_cursor`, never a
 * database error. `instant` parts come back as ISO strings.
 */
export function decodeCursor<const S extends readonly CursorPart[]>(cursor: string, shape: S): { [K in keyof S]: CursorValue<S[K]> } {
  try {
    const values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(values) && values.length === shape.length && values.every((v, i) => partOk(shape[i]!, v))) {
      return values.map((v, i) => (shape[i] === 'instant' ? new Date(v as string).toISOString() : v)) as { [K in keyof S]: CursorValue<S[K]> };
    }
  } catch {
    // fall through
  }
  throw new AppError('invalid_cursor');
}

export const PageQuery = {
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'The nextCursor of the previous page.' })),
  limit: Type.Integer({ minimum: 1, maximum: 200, default: 50, description: 'Page size (1 to 200).' }),
};

export function page<T, K>(rows: T[], limit: number, keyOf: (row: T) => K): { data: T[]; nextCursor: K | null } {
  const more = rows.length > limit;
  const data = more ? rows.slice(0, limit) : rows;
  return { data, nextCursor: more && data.length > 0 ? keyOf(data[data.length - 1]!) : null };
}
