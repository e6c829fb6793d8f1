// The server's Fastify types: what buildApp is given (AppDeps) and what the app carries (decorations, route
// config, the request's principal). Types only, so any module may import it without a runtime edge; the
// request helpers (ctxOf, the App type) are in context.ts.
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { PrincipalResolver } from './auth/principal.js';
import type { Config } from './config.js';
import type { Principal } from './context.js';
import type { Database } from './db/index.js';
import type { UserRole } from './db/schema.js';
import type { Jobs } from './jobs/index.js';
import type { MessagingDeps, PatientNotifier } from './messaging/service.js';
import type { PubSub } from './pubsub/index.js';
import type { RealtimeHub } from './realtime/hub.js';
import type { MediaProvider } from './rooms/provider.js';
import type { RoomDeps, RoomEventListener } from './rooms/service.js';

/** Everything the server runs on, created by the caller (CLI or test) and passed in: nothing global. */
export interface AppDeps {
  config: Config;
  database: Database;
  pubsub: PubSub;
  /** The media provider chosen by MEDIA_PROVIDER (rooms/loader.ts). */
  media: MediaProvider;
  /** Shares rate-limit counters between processes when Redis is configured. */
  redis?: Redis | undefined;
  /** A ready logger (tests pass one writing to memory); otherwise one is made from config. */
  logger?: Logger | undefined;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `public`: no credentials needed. Routes under /api/v1 are authenticated otherwise. */
    auth?: 'public';
    /** Staff roles allowed; absent = any signed-in staff user. */
    roles?: readonly UserRole[];
    /** Whether an API key may call this route (default true). */
    apiKeys?: boolean;
    /** Whether a visit participant (join-link session) may call this route (default false). */
    participants?: boolean;
    /** Whether a care member (care-link session: a family caregiver, the recipient's device) may call this route (default false). */
    members?: boolean;
  }
  // Set by the core (app.ts) and by the feature plugins, each before the plugins listed after it use it.
  interface FastifyInstance {
    deps: AppDeps;
    principals: PrincipalResolver;
    /** Every route registered (method, URL, hidden from the OpenAPI document or not), in registration order. */
    registeredRoutes: readonly RegisteredRoute[];
    /** Background jobs (pg-boss on the app's database): webhook deliveries and their retries, reminders (jobs/plugin.ts). */
    jobs: Jobs;
    /** The event hub; features add their observers with `realtime.observe` (realtime/plugin.ts). */
    realtime: RealtimeHub;
    /** Patient messaging for the features built on it (messaging/plugin.ts). */
    messaging: { deps: MessagingDeps; notifier: PatientNotifier };
    /** The outbox worker of this process (started when the app is ready). */
    outbox: { idle(): Promise<void> };
    /** The rooms layer's dependencies, shared by its routes, event recorder and lifecycle sweeper (rooms/plugin.ts). */
    rooms: RoomDeps;
    /**
     * Persists the media provider's events; `idle()` resolves once every event so far is recorded. Features
     * built on rooms (visits) hear each recorded event through `listen`, added while the app is built.
     */
    roomEvents: { idle(): Promise<void>; listen(listener: RoomEventListener): void };
    /** What visits offer the features after them (visits/plugin.ts): a video appointment's join link, for reminders. */
    visits: { joinLinkFor(orgId: string, appointmentId: string, patientId: string): Promise<string | null> };
  }
  interface FastifyRequest {
    principal: Principal | null;
  }
}

export interface RegisteredRoute {
  method: string;
  url: string;
  hidden: boolean;
}
