import type { Config } from '../config.js';

/**
 * Cookie-authenticated writes (and hub connections) must come from our own pages or an allowed origin:
 * defence in depth beside SameSite cookies. Requests without an Origin header (curl, servers) pass.
 */
export function originAllowed(origin: string | undefined, request: { protocol: string; host: string }, config: Config): boolean {
  if (origin === undefined) return true;
  if (origin === new URL(config.publicUrl).origin) return true;
  if (config.corsOrigins.includes(origin)) return true;
  return origin === `${request.protocol}://${request.host}`;
}
