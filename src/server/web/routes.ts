import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import Type from 'typebox';
import { ErrorResponse } from '../../shared/api/common.js';
import type { App } from '../context.js';
import { AppError } from '../http/errors.js';
import { FAVICON_SVG, faviconIco } from './favicon.js';

/** The web app (src/web, built by Vite into dist/web): its page for every client route, its hashed assets. */
const WEB_DIR = fileURLToPath(new URL('../../../dist/web/', import.meta.url));

/** Paths the web app answers (client-side routes): the console, the patient's join flow, survey and intake form, the check-in app. */
export const WEB_ROUTES = ['/', '/join', '/survey', '/intake', '/care', '/patients', '/patients/:id', '/outbox', '/settings', '/visits/:id', '/visits/:id/summary'] as const;

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>OpenVisit</title></head>
<body><main><h1>OpenVisit</h1><p>The web app is not built: run <code>npm run build</code>. The API reference is at
<a href="/api/docs">/api/docs</a>.</p></main></body></html>
`;

/** The browser SDK bundle (scripts/build.js writes it to dist/sdk), read once at start-up. */
const SDK_DIR = fileURLToPath(new URL('../../../dist/sdk/', import.meta.url));

function readSdk(file: string): Buffer | null {
  try {
    return readFileSync(path.join(SDK_DIR, file));
  } catch {
    return null;
  }
}

/** The chunks the bundle loads when needed (dist/sdk/chunks: twilio-video for rooms on Twilio), by file name. */
function readSdkChunks(): Map<string, Buffer> {
  const chunks = new Map<string, Buffer>();
  let names: string[];
  try {
    names = readdirSync(path.join(SDK_DIR, 'chunks'));
  } catch {
    return chunks;
  }
  for (const name of names) if (/^[\w-]+\.js(\.map)?$/.test(name)) chunks.set(name, readFileSync(path.join(SDK_DIR, 'chunks', name)));
  return chunks;
}

export async function webRoutes(app: App): Promise<void> {
  let page: Buffer | null = null;
  try {
    page = readFileSync(path.join(WEB_DIR, 'index.html'));
  } catch {
    page = null;
  }
  for (const route of WEB_ROUTES) {
    app.get(route, { schema: { tags: ['web'], summary: `The web app's page (${route})`, security: [], produces: ['text/html'], response: { 200: Type.Unsafe<Buffer | string>({ type: 'string', description: 'The web app (HTML); it signs in and routes in the browser.' }) } } }, async (_request, reply) =>
      reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(page ?? NOT_BUILT),
    );
  }
  if (page) {
    // Hashed file names: cached for good. Only the built assets folder is served, nothing else of dist/.
    await app.register(fastifyStatic, { root: path.join(WEB_DIR, 'assets'), prefix: '/assets/', immutable: true, maxAge: '365d', index: false, list: false, wildcard: true });
  }

  // The icon (index.html links the SVG; /favicon.ico is what browsers and tools ask for by default).
  const icons = { '/favicon.svg': { type: 'image/svg+xml', body: Buffer.from(FAVICON_SVG) }, '/favicon.ico': { type: 'image/x-icon', body: faviconIco() } } as const;
  for (const [route, icon] of Object.entries(icons)) {
    const schema = {
      tags: ['web'],
      summary: `The web app's icon (${icon.type})`,
      security: [],
      produces: [icon.type],
      response: { 200: Type.Unsafe<Buffer>({ type: 'string', format: 'binary', description: icon.type }) },
    };
    app.get(route, { schema }, async (_request, reply) => reply.type(icon.type).header('cache-control', 'public, max-age=86400').send(icon.body));
  }

  const files = { 'openvisit.js': 'text/javascript; charset=utf-8', 'openvisit.js.map': 'application/json; charset=utf-8' } as const;
  for (const [file, type] of Object.entries(files)) {
    const body = readSdk(file);
    const schema = {
      tags: ['web'],
      summary: file.endsWith('.map') ? 'The browser SDK’s source map' : 'The browser SDK (an ES module for host apps’ pages; docs/API.md)',
      security: [],
      produces: [type.split(';')[0]!],
      response: { 200: Type.Unsafe<Buffer>({ type: 'string', description: file }), 404: ErrorResponse },
    };
    app.get(`/sdk/${file}`, { schema }, async (request, reply) => {
      if (!body) throw new AppError('route_not_found', 'The SDK bundle is not built: run npm run build.');
      // Host apps load it from their own pages (another origin).
      return reply.type(type).header('cache-control', 'no-cache').header('access-control-allow-origin', '*').header('cross-origin-resource-policy', 'cross-origin').send(body);
    });
  }

  // Hashed names (a new build, new names): cached for good. Host apps' pages import them across origins, as the bundle.
  const chunks = readSdkChunks();
  const chunkSchema = {
    tags: ['web'],
    summary: 'A part of the browser SDK loaded when needed (e.g. Twilio Video’s client, for rooms on Twilio)',
    security: [],
    params: Type.Object({ file: Type.String({ pattern: '^[\\w-]+\\.js(\\.map)?$' }) }),
    produces: ['text/javascript'],
    response: { 200: Type.Unsafe<Buffer>({ type: 'string', description: 'an ES module (or its source map)' }), 404: ErrorResponse },
  };
  app.get<{ Params: { file: string } }>('/sdk/chunks/:file', { schema: chunkSchema }, async (request, reply) => {
    const body = chunks.get(request.params.file);
    if (!body) throw new AppError('route_not_found', `There is no SDK chunk ${request.params.file}.`);
    const type = request.params.file.endsWith('.map') ? 'application/json; charset=utf-8' : 'text/javascript; charset=utf-8';
    return reply.type(type).header('cache-control', 'public, max-age=31536000, immutable').header('access-control-allow-origin', '*').header('cross-origin-resource-policy', 'cross-origin').send(body);
  });
}
