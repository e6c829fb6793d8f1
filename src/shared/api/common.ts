import Type from 'typebox';

/** A canonical UUID (ajv's `uuid` format would also admit a `urn:uuid:` prefix, which the database refuses). */
export const Uuid = Type.String({ pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$', description: 'UUID' });
export const IsoDateTime = Type.String({ format: 'date-time' });
/** A calendar date, YYYY-MM-DD (1900-01-01 to 9999-12-31; src/shared/dates.ts). */
export const IsoDate = Type.String({ format: 'date', description: 'YYYY-MM-DD' });

/**
 * Free text a person types (names, labels, message bodies): the validator trims it (the `trim` keyword,
 * src/server/http/validation.ts) and refuses what is shorter than minLength (at least 1) after trimming,
 * so "   " is never stored as a name.
 */
export function Text(options: { maxLength: number; minLength?: number; description?: string }) {
  return Type.String({ minLength: 1, ...options, trim: true });
}
export const IdParams = Type.Object({ id: Uuid });

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String(),
      message: Type.String(),
      requestId: Type.String(),
      details: Type.Optional(Type.Unknown()),
    }),
  },
  { $id: 'ErrorResponse', description: 'Every error: a stable code from the catalogue, a message for people, the request id.' },
);

export function Page<T extends Type.TSchema>(item: T) {
  return Type.Object({ data: Type.Array(item), nextCursor: Type.Union([Type.String(), Type.Null()]) });
}
