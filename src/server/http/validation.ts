import { Ajv, type Options, type ValidateFunction } from 'ajv';
import type { DataValidateFunction } from 'ajv/dist/types/index.js';
import addFormatsModule from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import { isDate, isDateTime, isMonth } from '../../shared/dates.js';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/**
 * Bodies are validated strictly: no type coercion ("5" is not a number) and unknown fields are refused
 * (schemas set additionalProperties: false), so a typo in a field name is an error, not silently ignored.
 * Query strings and path params are text by nature, so they are coerced.
 */
function makeAjv(options: Options): Ajv {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, removeAdditional: false, strict: false, ...options });
  addFormats(ajv);
  // Dates, date-times and months the database can hold and a clinic can mean (src/shared/dates.ts), in
  // bodies and query filters alike; they replace ajv-formats' own, which admit the years 0 to 99 and 10000.
  ajv.addFormat('date-time', { type: 'string', validate: isDateTime });
  ajv.addFormat('date', { type: 'string', validate: isDate });
  ajv.addFormat('year-month', { type: 'string', validate: isMonth });
  ajv.addKeyword({
    keyword: 'trim',
    type: 'string',
    schemaType: 'boolean',
    modifying: true,
    errors: true,
    compile(enabled: boolean, parentSchema) {
      const min = Math.max(typeof parentSchema.minLength === 'number' ? parentSchema.minLength : 1, 1);
      const check: DataValidateFunction = (data: string, cxt) => {
        if (!enabled) return true;
        const trimmed = data.trim();
        if (cxt?.parentData !== undefined) (cxt.parentData as Record<string | number, unknown>)[cxt.parentDataProperty] = trimmed;
        if (trimmed.length >= min) return true;
        check.errors = [{ keyword: 'trim', message: min === 1 ? 'must not be empty or only spaces' : `must have at least ${min} characters besides leading and trailing spaces`, params: {} }];
        return false;
      };
      return check;
    },
  });
  return ajv;
}

export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const body = makeAjv({ coerceTypes: false });
  const text = makeAjv({ coerceTypes: 'array' });
  return ({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? body : text;
    return refusingNul(ajv.compile(schema as object)) as unknown as ReturnType<FastifySchemaCompiler<unknown>>;
  };
}

/** JSON pointers of the string values holding a NUL character. */
function nulPaths(value: unknown, path: string, out: string[]): string[] {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) out.push(path);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => nulPaths(v, `${path}/${i}`, out));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) nulPaths(v, `${path}/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`, out);
  }
  return out;
}

/**
 * PostgreSQL text cannot hold NUL (0x00): a string carrying one would fail in the database as a 500.
 * Every body, query and path value is refused here instead, naming the field.
 */
function refusingNul(validate: ValidateFunction): ValidateFunction {
  const guarded = ((data: unknown, dataCxt?: Parameters<ValidateFunction>[1]) => {
    const valid = validate(data, dataCxt);
    const nul = nulPaths(data, '', []).map((instancePath) => ({ instancePath, schemaPath: '#', keyword: 'nul', params: {}, message: 'must not contain NUL characters' }));
    guarded.errors = nul.length === 0 ? validate.errors : [...(validate.errors ?? []), ...nul];
    return valid && nul.length === 0;
  }) as ValidateFunction;
  // Fastify hands Ajv functions (recognised by schemaEnv) the parent object, so defaults and coercion can replace the root.
  return Object.assign(guarded, { schema: validate.schema, schemaEnv: validate.schemaEnv, errors: null });
}
