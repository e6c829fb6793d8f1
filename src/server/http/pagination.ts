import Type from 'typebox';
import { AppError } from './errors.js';

/**
 * Opaque cursors: base64url of a JSON array of the sort key of the last row served. Lists answer
 * `{ data, nextCursor }`; `nextCursor` is null on the last page.
 */
export function encodeCursor(values: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

type CursorPart = 'string' | 'number' | 'uuid' | 'instant';
type CursorValue<P extends CursorPart> = P extends 'number' ? number : string;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MIN_INSTANT = new Date('0001-01-01T00:00:00Z').getTime();
const MAX_INSTANT = new Date('9999-12-31T23:59:59.999Z').getTime();

function partOk(part: CursorPart, value: unknown): boolean {
  switch (part) {
    case 'string':
      // No row yields a NUL (PostgreSQL text cannot hold one); a forged one would fail in the query.
      return typeof value === 'string' && !value.includes('\u0000');
    case 'number':
      return typeof value === 'number' && Number.isSafeInteger(value) && value > 0;
    case 'uuid':
      return typeof value === 'string' && UUID.test(value);
    case 'instant': {
      if (typeof value !== 'string') return false;
      const ms = new Date(value).getTime();
      return ms >= MIN_INSTANT && ms <= MAX_INSTANT;
    }
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
