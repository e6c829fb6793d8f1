import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { buildApp, type App } from '../../src/server/app.js';
import { loadConfig, type Config } from '../../src/server/config.js';
import type { Database } from '../../src/server/db/index.js';
import { loggerOptions } from '../../src/server/http/logging.js';
import { createMemoryPubSub } from '../../src/server/pubsub/memory.js';
import { createMediaProvider } from '../../src/server/rooms/loader.js';
import type { BuiltinProvider } from '../../src/server/rooms/builtin/provider.js';
import type { MediaProvider } from '../../src/server/rooms/provider.js';
import type { PubSub } from '../../src/server/pubsub/index.js';
import { createTestDatabase, DB_KINDS, type DbKind } from './db.js';
import { RtcClient } from './rtc.js';
import { joinTwilio, newTwilioCredentials, startTwilioFake, twilioMediaEnv, type TwilioCredentials } from './twilio-media.js';
import type { FakeTwilioVideo } from './twilio-video-fake.js';

/** The media providers every feature suite runs on (TEST_MEDIA=builtin|twilio narrows it while developing). */
export type MediaKind = 'builtin' | 'twilio';
export const MEDIA_KINDS: MediaKind[] = process.env.TEST_MEDIA ? [process.env.TEST_MEDIA as MediaKind] : ['builtin', 'twilio'];

/**
 * The one switch for a feature suite: each database with the builtin provider, and Twilio (against the fake of its
 * API) on PGlite. `for (const setup of SETUPS) describe(\`… on ${setup.label}\`, …)`, then
 * `createTestApp(setup.db, { media: setup.media })`. TEST_DB and TEST_MEDIA narrow it; TEST_MATRIX=full runs Twilio on
 * both databases too.
 */
export interface Setup {
  db: DbKind;
  media: MediaKind;
  label: string;
}
export const SETUPS: Setup[] = DB_KINDS.flatMap((db) =>
  MEDIA_KINDS.filter((media) => media === 'builtin' || process.env.TEST_MATRIX === 'full' || db === 'pglite' || DB_KINDS.length === 1).map((media) => ({
    db,
    media,
    label: media === 'builtin' ? db : `${db} with ${media}`,
  })),
);

/** A participant in a room, whatever the provider: media as the provider routes it. */
export interface TestParticipant {
  readonly identity: string;
  /** Resolves once it receives `publisher`'s media of `kind` (builtin: packets; Twilio: a subscription). */
  receives(publisher: string, kind: 'audio' | 'video'): Promise<void>;
  /** Watches for a while; fails if any of `publisher`'s media of `kinds` reaches it. */
  receivesNothingOf(publisher: string, kinds?: readonly ('audio' | 'video')[]): Promise<void>;
  /** Resolves once the provider has ended its connection. */
  disconnected(): Promise<void>;
  /** Hangs up as a client leaving does. */
  leave(): Promise<void>;
  /** How the provider ended the connection: builtin, the `/rtc` socket's close code; Twilio, its error code (null: none). */
  endCode(): Promise<number | null>;
  close(): Promise<void>;
  /** Builtin only: the `/rtc` client underneath, for what only the builtin plane shows (its participant list). */
  readonly rtc?: RtcClient;
}

export interface TestMedia {
  kind: MediaKind;
  /** Joins with a token answer the API gave (builtin: over `/rtc` on this app; Twilio: a simulated twilio-video client). */
  join(answer: { token: string; identity: string }, options?: { publish?: readonly ('audio' | 'video')[] }): Promise<TestParticipant>;
  /** Twilio's side, when the provider is Twilio: the fake and the credentials the app uses. */
  twilio?: { fake: FakeTwilioVideo; credentials: TwilioCredentials };
  /** Whether the provider holds the room (by our room id) live. */
  isLive(roomId: string): boolean;
  /** Resolves once what happened so far is recorded: the provider's events (Twilio: its callbacks delivered first). */
  settle(): Promise<void>;
}

export interface TestApp {
  app: App;
  media: TestMedia;
  config: Config;
  database: Database;
  pubsub: PubSub;
  /** Every log line the app wrote, as text (tests check nothing sensitive reaches it). */
  logs: string[];
  /** Starts listening on 127.0.0.1 (an ephemeral port unless given) for clients that need a socket; resolves the base URL. */
  listen(port?: number): Promise<string>;
  close(): Promise<void>;
}

export interface TestAppOptions {
  env?: Record<string, string>;
  /** Reuse a database (several apps sharing one, as several processes would). */
  database?: Database;
  pubsub?: PubSub;
  /** The media provider, made from the app's configuration (default: the one MEDIA_PROVIDER names, as the CLI does). */
  media?: MediaKind | ((config: Config) => MediaProvider);
  /** Twilio: use this fake (and its credentials) instead of starting one, as a second process would share Twilio. */
  twilio?: { fake: FakeTwilioVideo; credentials: TwilioCredentials };
  /** Listen on this port (Twilio: PUBLIC_URL names it, so a restarted app can take over the first one's callbacks). */
  port?: number;
  /** Wraps the provider the app is given (a test tapping the rooms layer's listeners); `t.media` drives the one underneath. */
  wrap?: (provider: MediaProvider) => MediaProvider;
}

/** A TCP port free on 127.0.0.1 right now (for a PUBLIC_URL that must be known before the app listens). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The real app, in-process, on a real database; configuration is built from `env` alone. */
export async function createTestApp(kind: DbKind, options: TestAppOptions = {}): Promise<TestApp> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ovt-data-'));
  const mediaKind: MediaKind = typeof options.media === 'string' ? options.media : 'builtin';
  // Twilio posts status callbacks to PUBLIC_URL: the app listens there from the start.
  const twilioSide = mediaKind === 'twilio' ? (options.twilio ?? (await (async () => {
    const credentials = newTwilioCredentials();
    return { credentials, fake: await startTwilioFake(credentials) };
  })())) : undefined;
  const port = options.port ?? (twilioSide ? await freePort() : undefined);
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    // Media stays on loopback: the SFU announces 127.0.0.1 only.
    RTC_ANNOUNCED_ADDRESSES: '127.0.0.1',
    RTC_USE_INTERFACE_ADDRESSES: 'false',
    ...(port !== undefined ? { PUBLIC_URL: `http://127.0.0.1:${port}` } : {}),
    ...(twilioSide ? twilioMediaEnv(twilioSide.credentials, twilioSide.fake) : {}),
    ...options.env,
  });
  const database = options.database ?? (await createTestDatabase(kind));
  const pubsub = options.pubsub ?? createMemoryPubSub();
  const logs: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const logger = pino(loggerOptions(config.logLevel), stream);
  const media = typeof options.media === 'function' ? options.media(config) : createMediaProvider(config, logger);
  const app = await buildApp({ config, database, pubsub, media: options.wrap ? options.wrap(media) : media, logger });
  await app.ready();
  const listen = async (at = port ?? 0) => {
    if (!app.server.listening) await app.listen({ host: '127.0.0.1', port: at });
    const address = app.server.address();
    if (!address || typeof address === 'string') throw new Error('not listening on a TCP port');
    return `http://127.0.0.1:${address.port}`;
  };
  if (twilioSide) await listen();
  const testMedia: TestMedia = {
    kind: mediaKind,
    ...(twilioSide ? { twilio: twilioSide } : {}),
    async settle() {
      await twilioSide?.fake.settled();
      await app.roomEvents.idle();
    },
    isLive: (roomId) => (twilioSide ? twilioSide.fake.room(roomId)?.status === 'in-progress' : (media as BuiltinProvider).isLive(roomId)),
    async join(answer, joinOptions = {}) {
      const publish = joinOptions.publish ?? ['audio', 'video'];
      if (twilioSide) {
        const p = await joinTwilio(twilioSide.fake, media, answer.token, { publish });
        return { ...p, endCode: async () => (await p.client.disconnected).code };
      }
      const client = await RtcClient.connect(await listen(), answer.token, answer.identity, { publish: publish.map((k) => (k === 'audio' ? 'microphone' : 'camera')), media: publish.length > 0 });
      const tag = (publisher: string, kind: 'audio' | 'video') => `${publisher}/${kind === 'audio' ? 'microphone' : 'camera'}`;
      return {
        identity: answer.identity,
        rtc: client,
        receives: (publisher, kind) => client.receives(tag(publisher, kind)),
        receivesNothingOf: (publisher, kinds = ['audio', 'video']) => client.receivesNothingOf(...kinds.map((k) => tag(publisher, k))),
        disconnected: async () => {
          await client.closed();
        },
        endCode: () => client.closed(),
        leave: async () => {
          client.send({ type: 'leave' });
          await client.closed();
          await client.close();
        },
        close: () => client.close(),
      };
    },
  };
  return {
    app,
    media: testMedia,
    config,
    database,
    pubsub,
    logs,
    listen,
    async close() {
      // Twilio's last callbacks reach the app before it stops listening.
      await twilioSide?.fake.settled();
      await app.close();
      await media.close();
      if (twilioSide && !options.twilio) {
        twilioSide.fake.assertNoProblems();
        await twilioSide.fake.close();
      }
      if (!options.pubsub) await pubsub.close();
      if (!options.database) await database.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
