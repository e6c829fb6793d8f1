import { randomUUID } from 'node:crypto';
import cookie from '@fastify/cookie';
import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import { ERRORS } from '../shared/errors.js';
import { apiKeyRoutes } from './apikeys/routes.js';
import { appointmentRoutes } from './appointments/routes.js';
import { auditRoutes } from './audit/routes.js';
import { createPrincipalResolver, credentialsOf } from './auth/principal.js';
import { authRoutes } from './auth/routes.js';
import checkins from './checkins/plugin.js';
import { API_PREFIX, type App } from './context.js';
import type { AppDeps, RegisteredRoute } from './fastify.js';
import { AppError, errorBody, handleClientError, handleError, handleFrameworkError } from './http/errors.js';
import { loggerOptions } from './http/logging.js';
import { originAllowed } from './http/origin.js';
import { createValidatorCompiler } from './http/validation.js';
import jobs from './jobs/plugin.js';
import { messaging, reminders } from './messaging/plugin.js';
import { opsRoutes } from './ops/routes.js';
import { orgRoutes } from './orgs/routes.js';
import { patientRoutes } from './patients/routes.js';
import realtime from './realtime/plugin.js';
import { mediaClientConnectSources } from './rooms/loader.js';
import rooms from './rooms/plugin.js';
import { userRoutes } from './users/routes.js';
import visits from './visits/plugin.js';
import { webRoutes } from './web/routes.js';
import webhooks from './webhooks/plugin.js';

// The CLI, tests and benches build apps from here; features take these from context.ts and fastify.ts.
export type { App } from './context.js';
export type { AppDeps, RegisteredRoute } from './fastify.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

export async function buildApp(deps: AppDeps): Promise<App> {
  const { config } = deps;
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger as FastifyBaseLogger } : { logger: loggerOptions(config.logLevel) }),
    bodyLimit: config.bodyLimitBytes,
    trustProxy: config.trustProxy,
    // false: with a header name, Fastify would use the incoming value verbatim and never call genReqId.
    requestIdHeader: false,
    genReqId: (req) => {
      const incoming = req.headers['x-request-id'];
      return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
    },
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 200 },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    frameworkErrors: handleFrameworkError,
    clientErrorHandler: handleClientError,
  }).withTypeProvider<TypeBoxTypeProvider>();

  // JSON only: Fastify's default text/plain parser would let a text body reach handlers (415 instead).
  app.removeContentTypeParser('text/plain');
  // An empty body sent as application/json is no body (many HTTP clients send the header on every request):
  // a body-less action succeeds, and a route that needs a body answers validation_failed naming it.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') done(null, undefined);
    else parseJson(request, body as string, done);
  });

  // Every route, as registered (tests check that each is in the OpenAPI document or on a justified list).
  const registeredRoutes: RegisteredRoute[] = [];
  app.decorate('registeredRoutes', registeredRoutes);
  app.addHook('onRoute', (route) => {
    for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
      registeredRoutes.push({ method, url: route.url, hidden: (route.schema as { hide?: boolean } | undefined)?.hide === true });
    }
  });

  app.setValidatorCompiler(createValidatorCompiler());
  app.decorate('deps', deps);
  app.decorate('principals', createPrincipalResolver(deps.database.db));
  app.decorateRequest('principal', null);
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send(errorBody('route_not_found', request.id, `There is no route ${request.method} ${request.url.split('?')[0]}.`));
  });

  app.addHook('onRequest', async (request, reply) => {
    void reply.header('x-request-id', request.id);
  });

  await app.register(cookie);
  await app.register(helmet, {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        // https: an organisation's logo (an https URL of its choosing; data: for an uploaded one).
        imgSrc: ["'self'", 'data:', 'blob:', 'https:'],
        mediaSrc: ["'self'", 'blob:'],
        // The media provider's client may connect elsewhere too (twilio-video to Twilio's signaling).
        connectSrc: ["'self'", ...mediaClientConnectSources(config)],
        fontSrc: ["'self'"],
        objectSrc: ["'none'"],
        baseUri: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
      },
    },
    strictTransportSecurity: config.publicUrl.startsWith('https:'),
    crossOriginEmbedderPolicy: false,
  });
  await app.register(cors, {
    origin: config.corsOrigins.length > 0 ? [...config.corsOrigins] : false,
    credentials: true,
    methods: ['GET', 'HEAD', 'POST', 'PATCH', 'PUT', 'DELETE'],
    exposedHeaders: ['x-request-id', 'retry-after'],
    maxAge: 600,
  });
  await app.register(rateLimit, {
    global: false,
    ...(deps.redis ? { redis: deps.redis, nameSpace: 'openvisit-rl:' } : {}),
    errorResponseBuilder: (_request, context) => new AppError('rate_limited', `Too many requests. Try again in ${Math.ceil(context.ttl / 1000)} s.`),
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'OpenVisit API',
        version: '1',
        description:
          'Telehealth visits, rooms, group sessions, check-in calls and patient messaging. ' +
          'Authenticate with a staff session cookie or `Authorization: Bearer <API key>`. ' +
          `Errors: { "error": { "code", "message", "requestId", "details"? } }; codes: ${Object.keys(ERRORS).join(', ')}.`,
      },
      servers: [{ url: config.publicUrl }],
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'An API key created with `openvisit apikey create`.' },
          session: { type: 'apiKey', in: 'cookie', name: 'ov_session' },
        },
      },
      security: [{ apiKey: [] }, { session: [] }],
    },
  });
  // The reference page gets its own policy: the plugin's default adds an outside validator badge and
  // upgrade-insecure-requests, which breaks it on plain-http localhost.
  await app.register(swaggerUi, {
    routePrefix: '/api/docs',
    staticCSP: "default-src 'self'; base-uri 'self'; img-src 'self' data:; object-src 'none'; script-src 'self'; script-src-attr 'none'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
    uiConfig: { deepLinking: false, validatorUrl: null },
  });
  app.get('/api/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  // Authentication happens before the body is read, so an anonymous caller cannot make us parse 1 MiB.
  app.addHook('onRequest', async (request) => {
    const url = request.routeOptions.url;
    const options = request.routeOptions.config;
    if (!url?.startsWith('/api/v1/') || options.auth === 'public') return;
    const credentials = credentialsOf(request);
    if (!credentials) throw new AppError('unauthenticated');
    if (credentials.kind === 'malformed') throw new AppError('unauthenticated', 'The Authorization header must be "Bearer <API key>".');
    const principal = await app.principals.resolve(credentials);
    if (!principal) {
      throw new AppError(
        'unauthenticated',
        credentials.kind === 'api_key'
          ? 'The API key is not valid.'
          : credentials.kind === 'participant'
            ? 'Your visit session has ended. Open your visit link again.'
            : credentials.kind === 'member'
              ? 'Your check-in link has ended. Ask for a new one.'
              : 'Your session has ended. Sign in again.',
      );
    }
    if (principal.kind === 'api_key' && options.apiKeys === false) throw new AppError('forbidden', 'This route is for signed-in staff, not API keys.');
    if (principal.kind === 'participant' && options.participants !== true) throw new AppError('forbidden', 'This route is for staff and host apps, not visit participants.');
    if (principal.kind === 'member' && options.members !== true) throw new AppError('forbidden', 'This route is for staff and host apps, not check-in links.');
    if (principal.kind === 'user' && options.roles && !options.roles.includes(principal.role)) throw new AppError('forbidden');
    const viaCookie = principal.kind === 'user' || ((credentials.kind === 'participant' || credentials.kind === 'member') && credentials.fromCookie);
    if (viaCookie && !isSafeMethod(request.method) && !originAllowed(request.headers.origin, request, config)) {
      throw new AppError('origin_not_allowed');
    }
    request.principal = principal;
  });

  // The features, in dependency order: each is a Fastify plugin that wires its own routes, workers, hooks and
  // observers (<feature>/plugin.ts; a feature that is only routes registers its routes.ts under the API prefix).
  // A feature uses what those before it offer (decorations declared in fastify.ts), never a later one's.
  await app.register(jobs);
  await app.register(realtime);
  await app.register(webhooks);
  await app.register(opsRoutes);
  await app.register(webRoutes);
  const api = { prefix: API_PREFIX };
  await app.register(authRoutes, api);
  await app.register(orgRoutes, api);
  await app.register(userRoutes, api);
  await app.register(apiKeyRoutes, api);
  await app.register(patientRoutes, api);
  await app.register(appointmentRoutes, api);
  await app.register(auditRoutes, api);
  await app.register(messaging);
  await app.register(rooms);
  await app.register(visits);
  await app.register(checkins);
  await app.register(reminders);

  return app;
}

function isSafeMethod(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
}
