import type { FastifyInstance } from 'fastify';

/** The parts of a JSON Schema (as the OpenAPI document carries them) that the route-walking tests read. */
export interface JsonSchema {
  type?: string | string[];
  format?: string;
  pattern?: string;
  const?: unknown;
  enum?: unknown[];
  anyOf?: JsonSchema[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  minItems?: number;
  minLength?: number;
  minimum?: number;
  minProperties?: number;
  trim?: boolean;
}

/** One operation of /api/openapi.json. */
export interface Operation {
  method: string;
  path: string;
  params: { in: string; name: string; schema: JsonSchema }[];
  /** The JSON body's schema, where the operation takes one. */
  body?: JsonSchema;
  /** Needs no credentials (`security: []`). */
  public: boolean;
  tags: string[];
}

export interface Spec {
  paths: Record<
    string,
    Record<string, { tags?: string[]; parameters?: Operation['params']; requestBody?: { content: Record<string, { schema: JsonSchema }> }; security?: unknown[]; responses?: Record<string, unknown> }>
  >;
}

/**
 * Every operation the app documents, read from its own /api/openapi.json: the tests that walk every route (fuzz,
 * tenancy, input) take them from here, so a new route is covered without editing them.
 */
export async function apiOperations(app: FastifyInstance): Promise<{ spec: Spec; operations: Operation[] }> {
  const spec = (await app.inject({ method: 'GET', url: '/api/openapi.json' })).json() as Spec;
  const operations = Object.entries(spec.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => {
      const body = op.requestBody?.content['application/json']?.schema;
      return { method: method.toUpperCase(), path, params: op.parameters ?? [], public: op.security?.length === 0, tags: op.tags ?? [], ...(body ? { body } : {}) };
    }),
  );
  return { spec, operations };
}

/** The web app's pages, icons and the SDK bundle take no input and hold no organisation's data: the same file for anyone. */
export const takesInput = (op: Operation): boolean => !op.tags.includes('web');
