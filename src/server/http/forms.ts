import type { FastifyInstance } from 'fastify';

/**
 * Parses `application/x-www-form-urlencoded` bodies into an object of strings (the last value of a repeated field
 * wins), in the scope of `app`: what a provider's webhooks (Twilio's) post. Signatures are checked over these exact
 * fields, so nothing is coerced or dropped.
 */
export function addFormParser(app: FastifyInstance, bodyLimit = 64 * 1024): void {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit }, (_request, body, done) => {
    const params: Record<string, string> = {};
    for (const [k, v] of new URLSearchParams(body as string)) params[k] = v;
    done(null, params);
  });
}
