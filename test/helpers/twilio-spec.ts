/**
 * Twilio's OpenAPI documents (twilio-oai) as a checker for the contract tests' fakes of Twilio (Messaging in
 * twilio-fake.ts, Video in twilio-video-fake.ts): loads a document once per process, finds the operation a request
 * addresses, and describes every way a request (path, query, form body, auth header) or a JSON response departs
 * from it. Twilio's form bodies are text, so request schemas coerce ("5" → 5); responses are checked exactly, with
 * every declared property required (Twilio serialises every field of a resource, so the fakes must too).
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** A form body or query string: repeated keys become arrays. */
export type FormParams = Record<string, string | string[]>;

export const moreInfo = (code: number): string => `https://www.twilio.com/docs/errors/${code}`;

/** Twilio's documented error body; the spec declares no error responses, so this is checked instead. */
export const ERROR_SCHEMA = {
  type: 'object',
  properties: {
    code: { type: 'integer' },
    message: { type: 'string' },
    more_info: { type: 'string', format: 'uri' },
    status: { type: 'integer' },
  },
  required: ['code', 'message', 'more_info', 'status'],
  additionalProperties: false,
};

// ---------------------------------------------------------------------------------------------------------
// Spec loading and schema conversion (OpenAPI 3.0 → JSON Schema for Ajv)

export type Schema = Record<string, unknown>;
type Mode = 'request' | 'response';

export interface OpenApiParameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: Schema;
}

export interface OpenApiOperation {
  operationId?: string;
  parameters?: OpenApiParameter[];
  requestBody?: { content?: Record<string, { schema?: Schema }> };
  responses?: Record<string, { content?: Record<string, { schema?: Schema }> }>;
  'x-twilio'?: { conditional?: string[][] };
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, Schema> };
}

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

export interface Operation {
  id: string;
  method: string;
  template: string;
  raw: OpenApiOperation;
}

export interface Route {
  template: string;
  regex: RegExp;
  names: string[];
  /** Literal characters in the template: a more literal template wins over a more generic one. */
  weight: number;
  operations: Map<string, Operation>;
}

export interface Validators {
  path: ValidateFunction;
  query: ValidateFunction;
  form: ValidateFunction | null;
  responses: Map<string, ValidateFunction>;
}

export interface LoadedSpec {
  doc: OpenApiDocument;
  routes: Route[];
  validators(op: Operation): Validators;
  errorBody: ValidateFunction;
}

export const isObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Inlines `#/components/schemas/…` references and rewrites OpenAPI 3.0 idioms for Ajv: `nullable: true`
 * becomes a type union (or `null` in the enum, or an anyOf around a $ref). In response mode every listed
 * property is required and no other is allowed (Twilio always serialises every field; the fake must too),
 * `format: uri` accepts relative references (Twilio's list URIs are paths), and `uri-map` objects must map
 * names to strings.
 */
export function convertSchema(node: unknown, doc: OpenApiDocument, mode: Mode, refs: string[] = []): Schema {
  if (!isObject(node)) return {};
  if (typeof node.$ref === 'string') {
    const ref = node.$ref;
    const prefix = '#/components/schemas/';
    if (!ref.startsWith(prefix)) throw new Error(`twilio-spec: unsupported $ref ${ref}`);
    if (refs.includes(ref)) throw new Error(`twilio-spec: recursive $ref ${ref}`);
    const target = doc.components.schemas[ref.slice(prefix.length)];
    if (!target) throw new Error(`twilio-spec: dangling $ref ${ref}`);
    const inner = convertSchema(target, doc, mode, [...refs, ref]);
    return node.nullable === true ? { anyOf: [inner, { type: 'null' }] } : inner;
  }
  const out: Schema = {};
  for (const [key, value] of Object.entries(node)) {
    if (['nullable', 'description', 'title', 'example', 'examples'].includes(key) || key.startsWith('x-')) continue;
    if (key === 'properties' && isObject(value)) {
      out.properties = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, convertSchema(v, doc, mode, refs)]));
    } else if ((key === 'items' || key === 'additionalProperties' || key === 'not') && isObject(value)) {
      out[key] = convertSchema(value, doc, mode, refs);
    } else if ((key === 'allOf' || key === 'anyOf' || key === 'oneOf') && Array.isArray(value)) {
      out[key] = value.map((v) => convertSchema(v, doc, mode, refs));
    } else {
      out[key] = value;
    }
  }
  const xTwilio = node['x-twilio'];
  if (isObject(xTwilio) && xTwilio.ignoreFormat === true) delete out.format;
  if (out.format === 'uri-map') {
    delete out.format;
    out.additionalProperties = { type: 'string' };
  }
  if (mode === 'response') {
    if (out.format === 'uri') out.format = 'uri-reference';
    if (isObject(out.properties)) {
      // Typed objects (Video's subscribe-rule and recording-rule formats) carry only the filters that were set:
      // Twilio serialises them without nulls (the spec's x-class-extra-annotation says JsonInclude NON_NULL).
      if (typeof out.format !== 'string') out.required = Object.keys(out.properties);
      out.additionalProperties ??= false;
    }
  }
  if (node.nullable === true) {
    if (typeof out.type === 'string') out.type = [out.type, 'null'];
    if (Array.isArray(out.enum)) out.enum = [...(out.enum as unknown[]), null];
  }
  return out;
}

export const E164 = /^\+[1-9]\d{1,14}$/;
export const CHANNEL_ADDRESS = /^[a-z][a-z-]*:\S+$/; // whatsapp:+1555…, messenger:…, rcs:…
export const SHORT_CODE = /^\d{3,8}$/;
export const ALPHANUMERIC_SENDER = /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/;
export const RFC2822 = /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4}$/;
export const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
export const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

export const isPhoneNumber = (s: string): boolean =>
  E164.test(s) || CHANNEL_ADDRESS.test(s) || SHORT_CODE.test(s) || ALPHANUMERIC_SENDER.test(s);

export function makeAjv(coerce: boolean): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true, coerceTypes: coerce ? 'array' : false });
  addFormats(ajv);
  // Twilio's own formats (from the spec's x-twilio vocabulary).
  ajv.addFormat('phone-number', isPhoneNumber);
  ajv.addFormat('date-time-rfc-2822', RFC2822);
  ajv.addFormat('currency', /^[A-Z]{3}$/);
  ajv.addFormat('http-method', /^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS)$/);
  // Names of object shapes, not string formats (Ajv applies formats to strings only): declared so Ajv knows them.
  ajv.addFormat('subscribe-rule', true);
  ajv.addFormat('recording-rule', true);
  // Date filters in query strings: the descriptions document YYYY-MM-DD and the examples use RFC 2822 too.
  ajv.addFormat('twilio-date-filter', (s: string) => ISO_DATE.test(s) || RFC3339.test(s) || RFC2822.test(s));
  return ajv;
}

export function loadSpec(specPath: string): LoadedSpec {
  const doc = JSON.parse(readFileSync(specPath, 'utf8')) as OpenApiDocument;
  const requestAjv = makeAjv(true); // form bodies, paths and queries are text: coerce "5" → 5, "x" → ["x"]
  const responseAjv = makeAjv(false); // JSON bodies: exact types ("1" is not 1)

  const routes: Route[] = Object.entries(doc.paths).map(([template, item]) => {
    const names: string[] = [];
    const pattern = template
      .split(/(\{[^}]+\})/)
      .map((part) => {
        const m = /^\{([^}]+)\}$/.exec(part);
        if (!m) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
        names.push(m[1]!);
        return '([^/]+?)';
      })
      .join('');
    const operations = new Map<string, Operation>();
    for (const method of METHODS) {
      const raw = item[method];
      if (!isObject(raw)) continue;
      const op = raw as OpenApiOperation;
      operations.set(method.toUpperCase(), { id: op.operationId ?? `${method} ${template}`, method: method.toUpperCase(), template, raw: op });
    }
    return { template, regex: new RegExp(`^${pattern}$`), names, weight: template.replace(/\{[^}]+\}/g, '').length, operations };
  });
  routes.sort((a, b) => b.weight - a.weight);

  const compiled = new Map<string, Validators>();
  const paramsSchema = (op: OpenApiOperation, where: 'path' | 'query'): Schema => {
    const params = (op.parameters ?? []).filter((p) => p.in === where);
    const properties: Record<string, Schema> = {};
    for (const p of params) {
      const s = convertSchema(p.schema, doc, 'request');
      if (where === 'query' && s.format === 'date-time') s.format = 'twilio-date-filter';
      properties[p.name] = s;
    }
    const required = params.filter((p) => p.required).map((p) => p.name);
    return { type: 'object', properties, required, additionalProperties: false };
  };

  return {
    doc,
    routes,
    errorBody: responseAjv.compile(ERROR_SCHEMA),
    validators(op) {
      let v = compiled.get(op.id);
      if (!v) {
        const formSchema = op.raw.requestBody?.content?.['application/x-www-form-urlencoded']?.schema;
        const form = formSchema ? { ...convertSchema(formSchema, doc, 'request'), additionalProperties: false } : null;
        const responses = new Map<string, ValidateFunction>();
        for (const [status, response] of Object.entries(op.raw.responses ?? {})) {
          const schema = response.content?.['application/json']?.schema;
          responses.set(status, responseAjv.compile(schema ? convertSchema(schema, doc, 'response') : {}));
        }
        v = {
          path: requestAjv.compile(paramsSchema(op.raw, 'path')),
          query: requestAjv.compile(paramsSchema(op.raw, 'query')),
          form: form ? requestAjv.compile(form) : null,
          responses,
        };
        compiled.set(op.id, v);
      }
      return v;
    },
  };
}

/** The spec is ~2 MB: parse and compile it once per process (per path). */
const specCache = new Map<string, LoadedSpec>();
export function getSpec(specPath: string): LoadedSpec {
  let spec = specCache.get(specPath);
  if (!spec) {
    spec = loadSpec(specPath);
    specCache.set(specPath, spec);
  }
  return spec;
}

export function describeErrors(errors: ErrorObject[] | null | undefined, noun: string): string[] {
  return (errors ?? []).map((e) => {
    const at = e.instancePath || '(root)';
    const params = e.params as Record<string, unknown>;
    if (e.keyword === 'additionalProperties') return `undeclared ${noun} "${String(params.additionalProperty)}" at ${at}`;
    if (e.keyword === 'required') return `missing required ${noun} "${String(params.missingProperty)}" at ${at}`;
    if (e.keyword === 'enum') return `${at} ${e.message} (${(params.allowedValues as unknown[]).map(String).join(', ')})`;
    return `${at} ${e.message ?? e.keyword}`;
  });
}

// ---------------------------------------------------------------------------------------------------------
// Form helpers

export function parseForm(text: string): FormParams {
  const out: FormParams = {};
  for (const [key, value] of new URLSearchParams(text)) {
    const prev = out[key];
    out[key] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
  }
  return out;
}

export const first = (params: FormParams, name: string): string | undefined => {
  const v = params[name];
  return Array.isArray(v) ? v[0] : v;
};
export const all = (params: FormParams, name: string): string[] => {
  const v = params[name];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
};

/** snake_case names from x-twilio.conditional → the PascalCase form parameter names. */
export const pascal = (snake: string): string => snake.split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('');

// ---------------------------------------------------------------------------------------------------------
// Checking requests and responses

export interface MatchedOperation {
  /** Some path template of the spec matches (whatever the method). */
  pathKnown: boolean;
  operation: Operation | null;
  pathParams: Record<string, string>;
}

/** The spec operation `method path` addresses; the most literal template wins (`/Rooms/{Sid}` vs a longer one). */
export function matchOperation(spec: LoadedSpec, method: string, path: string): MatchedOperation {
  for (const route of spec.routes) {
    const m = route.regex.exec(path);
    if (!m) continue;
    let pathParams: Record<string, string>;
    try {
      pathParams = Object.fromEntries(route.names.map((n, i) => [n, decodeURIComponent(m[i + 1]!)]));
    } catch {
      pathParams = Object.fromEntries(route.names.map((n, i) => [n, m[i + 1]!]));
    }
    return { pathKnown: true, operation: route.operations.get(method) ?? null, pathParams };
  }
  return { pathKnown: false, operation: null, pathParams: {} };
}

export interface RequestParts {
  pathParams: Record<string, string>;
  query: FormParams;
  /** The parsed form body ({} unless the content type is form-encoded). */
  params: FormParams;
  rawBody: string;
  /** Lower-case media type without parameters. */
  contentType: string;
  authorization: string | undefined;
}

/** Every way a request departs from its operation: path/query parameters, form body, content type, security. */
export function requestProblems(spec: LoadedSpec, op: Operation, req: RequestParts): string[] {
  const out: string[] = [];
  const where = `${op.id} (${op.method} ${op.template})`;
  const v = spec.validators(op);
  const report = (part: string, fn: ValidateFunction, data: unknown, noun: string): void => {
    if (!fn(structuredClone(data))) for (const e of describeErrors(fn.errors, noun)) out.push(`request: ${where} ${part}: ${e}`);
  };
  report('path', v.path, req.pathParams, 'path parameter');
  report('query', v.query, req.query, 'query parameter');
  if (v.form) {
    if (req.contentType !== 'application/x-www-form-urlencoded') {
      if (req.rawBody.length > 0 || req.contentType !== '') {
        out.push(`request: ${where} body: content type "${req.contentType}" is not application/x-www-form-urlencoded`);
      } else {
        report('body', v.form, {}, 'parameter');
      }
    } else {
      report('body', v.form, req.params, 'parameter');
      for (const group of op.raw['x-twilio']?.conditional ?? []) {
        const names = group.map(pascal);
        if (!names.some((n) => all(req.params, n).some((value) => value !== ''))) {
          out.push(`request: ${where} body: one of ${names.join(', ')} is required`);
        }
      }
    }
  } else if (req.rawBody.length > 0) {
    out.push(`request: ${where} body: the operation takes no request body`);
  }
  if (!/^Basic\s/i.test(req.authorization ?? '')) {
    out.push(`request: ${where}: no Basic Authorization header (spec security: accountSid_authToken)`);
  }
  return out;
}

/**
 * Every way a JSON response departs from the spec: the declared schema for its status, or (the specs declare no
 * error responses) Twilio's documented error body with `status` equal to the HTTP status.
 */
export function responseProblems(spec: LoadedSpec, op: Operation | null, method: string, path: string, status: number, body: unknown): string[] {
  const out: string[] = [];
  const where = op ? `${op.id} ${status}` : `${method} ${path} ${status}`;
  const declared = op ? spec.validators(op).responses.get(String(status)) : undefined;
  if (declared) {
    if (!declared(body)) for (const e of describeErrors(declared.errors, 'property')) out.push(`response: ${where}: ${e}`);
    return out;
  }
  if (status < 400) {
    out.push(`response: ${where}: status ${status} is not declared for this operation`);
    return out;
  }
  const validate = spec.errorBody;
  if (!validate(body)) for (const e of describeErrors(validate.errors, 'property')) out.push(`response: ${where} (error body): ${e}`);
  else if ((body as { status: number }).status !== status) {
    out.push(`response: ${where} (error body): "status" ${(body as { status: number }).status} differs from the HTTP status`);
  }
  return out;
}
