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

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: {
      req(req: FastifyRequest) {
        const url = req.url ?? '';
        const q = url.indexOf('?');
        return { method: req.method, url: q === -1 ? url : url.slice(0, q), requestId: req.id, remoteAddress: req.ip };
      },
    },
  };
}
