import Type from 'typebox';
import { AppError } from './errors.js';

/**
 * Opaque cursors: base64url of a JSON array of the sort key of the last row served. Lists answer
 * `{ data, nextCursor }`; `nextCursor` is null on the last page.
 */
export function encodeCursor(values: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

export function decodeCursor(cursor: string, shape: readonly ('string' | 'number')[]): (string | number)[] {
  try {
    const values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(values) && values.length === shape.length && values.every((v, i) => typeof v === shape[i])) {
      return values as (string | number)[];
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
