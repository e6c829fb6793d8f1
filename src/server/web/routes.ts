import type { App } from '../app.js';

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

export async function webRoutes(app: App): Promise<void> {
  app.get('/', { schema: { hide: true } }, async (_request, reply) => reply.type('text/html; charset=utf-8').send(PAGE));
}
