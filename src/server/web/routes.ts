import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { App } from '../app.js';
import { AppError } from '../http/errors.js';

/**
 * The browser app's entry point. Until the web console lands (clinician console and patient join flow),
 * `/` is a plain page that says what is running and where the API lives. No script, no inline style:
 * it passes the strict Content-Security-Policy as is.
 */
const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>OpenVisit</title>
</head>
<body>
<main>
<h1>OpenVisit</h1>
<p>The OpenVisit server is running.</p>
<ul>
<li><a href="/api/docs">API reference</a> (OpenAPI: <a href="/api/openapi.json">/api/openapi.json</a>)</li>
<li><a href="/readyz">Readiness</a></li>
</ul>
<p>Sign in through <code>POST /api/v1/auth/login</code>, or call the API with a key from <code>openvisit apikey create</code>.</p>
</main>
</body>
</html>
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

export async function webRoutes(app: App): Promise<void> {
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.type('text/html; charset=utf-8').send(PAGE));

  const files = { 'openvisit.js': 'text/javascript; charset=utf-8', 'openvisit.js.map': 'application/json; charset=utf-8' } as const;
  for (const [file, type] of Object.entries(files)) {
    const body = readSdk(file);
    app.get(`/sdk/${file}`, { schema: { hide: true } }, async (request, reply) => {
      if (!body) throw new AppError('route_not_found', 'The SDK bundle is not built: run npm run build.');
      // Host apps load it from their own pages (another origin).
      return reply.type(type).header('cache-control', 'no-cache').header('access-control-allow-origin', '*').header('cross-origin-resource-policy', 'cross-origin').send(body);
    });
  }
}
