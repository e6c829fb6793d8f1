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
import type { MediaProvider } from '../../src/server/rooms/provider.js';
import type { PubSub } from '../../src/server/pubsub/index.js';
import { createTestDatabase, type DbKind } from './db.js';

export interface TestApp {
  app: App;
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
  media?: (config: Config) => MediaProvider;
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
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    // Media stays on loopback: the SFU announces 127.0.0.1 only.
    RTC_ANNOUNCED_ADDRESSES: '127.0.0.1',
    RTC_USE_INTERFACE_ADDRESSES: 'false',
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
  const media = options.media?.(config) ?? createMediaProvider(config, logger);
  const app = await buildApp({ config, database, pubsub, media, logger });
  await app.ready();
  return {
    app,
    config,
    database,
    pubsub,
    logs,
    async listen(port = 0) {
      if (!app.server.listening) await app.listen({ host: '127.0.0.1', port });
      const address = app.server.address();
      if (!address || typeof address === 'string') throw new Error('not listening on a TCP port');
      return `http://127.0.0.1:${address.port}`;
    },
    async close() {
      await app.close();
      await media.close();
      if (!options.pubsub) await pubsub.close();
      if (!options.database) await database.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
