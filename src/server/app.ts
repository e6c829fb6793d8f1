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
import { authRoutes } from './auth/routes.js';
import { createPrincipalResolver, credentialsOf } from './auth/principal.js';
import type { Config } from './config.js';
import type { App } from './context.js';
import type { AppDeps, RegisteredRoute } from './fastify.js';
import type { Database } from './db/index.js';
import { AppError, errorBody, handleClientError, handleError, handleFrameworkError } from './http/errors.js';
import { loggerOptions } from './http/logging.js';
import { originAllowed } from './http/origin.js';
import { createValidatorCompiler } from './http/validation.js';
import { opsRoutes } from './ops/routes.js';
import { orgRoutes } from './orgs/routes.js';
import { patientRoutes } from './patients/routes.js';
import type { OrgEvent } from '../shared/events.js';
import { roomRoutes } from './rooms/routes.js';
import { startRoomSweeper } from './rooms/lifecycle.js';
import { recordRoomEvents, restoreRooms, type RoomDeps } from './rooms/service.js';
import { createJobs } from './jobs/index.js';
import { createRealtimeHub } from './realtime/hub.js';
import { realtimeRoutes } from './realtime/routes.js';
import { userRoutes } from './users/routes.js';
import { loadOrCreateSecret } from './secrets.js';
import { visitRoomListener } from './visits/events.js';
import { createLinkSigner } from './visits/links.js';
import { visitRoutes } from './visits/routes.js';
import { joinLinkForAppointment, type VisitDeps } from './visits/service.js';
import { webRoutes } from './web/routes.js';
import { createCipher } from './messaging/crypto.js';
import type { IntakeDeps } from './messaging/intake.js';
import { loadMessagingProviders } from './messaging/providers/loader.js';
import { reconcileReminders, reminderObserver, startReminderWorkers, type ReminderDeps } from './messaging/reminders.js';
import { messagingRoutes } from './messaging/routes.js';
import { applyStatus, messagingWebhookRoutes, patientNotifier } from './messaging/service.js';
import { startOutboxWorker, type OutboxWorker } from './messaging/worker.js';
import { startDeliveryWorkers } from './webhooks/deliver.js';
import { webhookRoutes } from './webhooks/routes.js';
import { enqueueEvent, type WebhookDeps } from './webhooks/service.js';

// The CLI, tests and benches build apps from here; features take these from context.ts and fastify.ts.
export type { App } from './context.js';
export type { AppDeps, RegisteredRoute } from './fastify.js';

/** How often idle job workers look for due jobs (retries, jobs sent by other processes); pg-boss's minimum. */
const JOBS_POLLING_INTERVAL_S = 0.5;

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
        connectSrc: ["'self'"],
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
        credentials.kind === 'api_key' ? 'The API key is not valid.' : credentials.kind === 'participant' ? 'Your visit session has ended. Open your visit link again.' : 'Your session has ended. Sign in again.',
      );
    }
    if (principal.kind === 'api_key' && options.apiKeys === false) throw new AppError('forbidden', 'This route is for signed-in staff, not API keys.');
    if (principal.kind === 'participant' && options.participants !== true) throw new AppError('forbidden', 'This route is for staff and host apps, not visit participants.');
    if (principal.kind === 'user' && options.roles && !options.roles.includes(principal.role)) throw new AppError('forbidden');
    const viaCookie = principal.kind === 'user' || (credentials.kind === 'participant' && credentials.fromCookie);
    if (viaCookie && !isSafeMethod(request.method) && !originAllowed(request.headers.origin, request, config)) {
      throw new AppError('origin_not_allowed');
    }
    request.principal = principal;
  });

  // Jobs start when the app is ready if this database has used them before, else on the first job sent
  // (an app that never sends one skips pg-boss's schema and pollers); they stop on close, below.
  const jobs = createJobs(deps.database, app.log, { pollingIntervalSeconds: JOBS_POLLING_INTERVAL_S });
  app.decorate('jobs', jobs);
  const webhooks: WebhookDeps = { db: deps.database.db, jobs, config: config.webhooks, log: app.log };
  await startDeliveryWorkers(webhooks);
  app.addHook('onReady', async () => {
    await jobs.startIfUsed();
  });
  // Webhooks hear the events this process publishes (once per event, whichever server publishes it); so do
  // appointment reminders (an appointment created, moved or cancelled), set up with messaging below.
  let observeAppointments: ((orgId: string, event: OrgEvent) => Promise<void>) | undefined;
  app.decorate(
    'realtime',
    createRealtimeHub(app, deps, {
      observe: async (orgId, event) => {
        await enqueueEvent(webhooks, orgId, event);
        await observeAppointments?.(orgId, event);
      },
    }),
  );
  // Patient messaging: the outbox provider reports through the same status path as a provider's webhook.
  const providers = loadMessagingProviders(config, async (provider, providerMessageId, status, messageId) => {
    await applyStatus({ db: deps.database.db, hub: app.realtime }, { provider, providerMessageId, messageId, status });
  });
  const messagingKey = config.messaging.encryptionKey ? Buffer.from(config.messaging.encryptionKey, 'base64') : loadOrCreateSecret(config.dataDir, 'message-encryption', 32);
  const rooms: RoomDeps = { db: deps.database.db, hub: app.realtime, media: deps.media, defaults: config.rooms };
  app.decorate('rooms', rooms);
  const linkSecret = config.visits.linkSigningSecret ?? loadOrCreateSecret(config.dataDir, 'join-links');
  const visits: VisitDeps = {
    db: deps.database.db,
    hub: app.realtime,
    rooms,
    config: config.visits,
    links: createLinkSigner(linkSecret, 'join'),
    surveys: createLinkSigner(linkSecret, 'survey'),
    publicUrl: config.publicUrl,
    usage: config.usage,
  };
  let outbox: OutboxWorker | undefined;
  const messaging: ReminderDeps & IntakeDeps = {
    db: deps.database.db,
    hub: app.realtime,
    config: config.messaging,
    publicUrl: config.publicUrl,
    defaultPhoneRegion: config.defaultPhoneRegion,
    cipher: createCipher(messagingKey),
    sms: providers.sms,
    email: providers.email,
    kick: () => outbox?.kick(),
    jobs,
    log: app.log,
    intakeLinks: createLinkSigner(linkSecret, 'intake'),
  };
  visits.notifier = patientNotifier(messaging);
  // A video appointment's reminder carries the patient's join link (a new invite for its visit, if it has one).
  messaging.joinLinkFor = (orgId, appointmentId, patientId) => joinLinkForAppointment(visits, orgId, appointmentId, patientId);
  observeAppointments = reminderObserver(messaging);
  await startReminderWorkers(messaging);
  app.decorate('outbox', { idle: () => outbox?.idle() ?? Promise.resolve() });
  app.addHook('onReady', async () => {
    outbox = startOutboxWorker(messaging, app.log);
    await reconcileReminders(messaging).catch((err: unknown) => app.log.warn({ err }, 'reminder reconciliation failed'));
  });
  app.addHook('preClose', async () => {
    await outbox?.stop();
    await providers.sms.close?.();
    await providers.email.close?.();
  });
  const roomEvents = recordRoomEvents(rooms, app.log, [visitRoomListener(visits)]);
  app.decorate('roomEvents', roomEvents);
  // The provider's endpoints: WebSocket upgrades, and HTTP routes (status callbacks) in their own scope outside /api/v1.
  deps.media.attach?.({ registerUpgrade: (path, handler) => app.realtime.upgrades.register(path, handler), registerRoutes: (plugin) => void app.register(plugin) });
  app.addHook('preClose', async () => {
    await deps.media.shutdown?.();
  });
  await restoreRooms(rooms, app.log);
  const sweeper = startRoomSweeper(rooms, app.log);
  app.addHook('onClose', async () => {
    await sweeper.stop();
    roomEvents.stop();
    await roomEvents.idle();
    // Last: events recorded while closing still queue their webhooks.
    await jobs.stop();
  });

  await app.register(opsRoutes);
  await app.register(webRoutes);
  await messagingWebhookRoutes(app, messaging);
  await app.register(
    async (api) => {
      await api.register(authRoutes);
      await api.register(orgRoutes);
      await api.register(userRoutes);
      await api.register(apiKeyRoutes);
      await api.register(patientRoutes);
      await api.register(appointmentRoutes);
      await api.register(auditRoutes);
      await api.register(roomRoutes);
      await api.register(async (scope) => visitRoutes(scope as App, visits));
      await api.register(realtimeRoutes);
      await api.register(async (scope) => webhookRoutes(scope as App, webhooks));
      await api.register(async (scope) => messagingRoutes(scope as App, messaging));
    },
    { prefix: '/api/v1' },
  );

  return app;
}

function isSafeMethod(method: string): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS';
}
