/**
 * The server side of `bench/visits.ts`, run in its own process (see bench/api.ts for why). Not meant to be run by hand.
 *
 *   node --import tsx bench/visits-server.ts pglite   <data dir>       (a fresh, empty directory)
 *   node --import tsx bench/visits-server.ts postgres <database url>   (a fresh, migrated database)
 *
 * It starts the app the way `openvisit serve` does (loadConfig → openDatabase → migrate → memory pub/sub →
 * createMediaProvider → buildApp → listen), with the builtin media plane in this process, so the process's CPU
 * is the whole server's: HTTP, database (PGlite runs in this thread), realtime hub and SFU. Media stays on
 * loopback: the SFU announces 127.0.0.1 only. Rate limits are raised so the load is not refused.
 *
 * It creates one organisation and a clinician with a password (the coordinator signs in over HTTP, as a
 * clinician's browser does), listens on 127.0.0.1 on a free port and talks to its parent in lines:
 *   stdout  `@@bench {"ready":true,"port":…,"email":…,"password":…}` once serving;
 *   stdin   `stop` (close everything and exit 0). Closing stdin (the parent died) also stops it.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../src/server/app.js';
import { loadConfig } from '../src/server/config.js';
import { openDatabase } from '../src/server/db/index.js';
import { createOrganization } from '../src/server/orgs/service.js';
import { createMemoryPubSub } from '../src/server/pubsub/memory.js';
import { createMediaProvider } from '../src/server/rooms/loader.js';
import { createUser } from '../src/server/users/service.js';
import { systemCtx } from '../src/server/context.js';
import { createOrgEvents } from '../src/server/realtime/events.js';
import { benchSay, runBenchChild, scratchDir } from './common.js';

const say = benchSay;

const mode = process.argv[2];
const target = process.argv[3];
if ((mode !== 'pglite' && mode !== 'postgres') || !target) {
  console.error('usage: bench/visits-server.ts pglite <data dir> | postgres <database url>');
  process.exit(2);
}


async function start(onClose: (close: () => Promise<void>) => void): Promise<void> {
  const config = loadConfig(
    {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: '0',
      // Silent by default: a line per request to our stdout pipe would dominate.
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent',
      // PostgreSQL: the files the server keeps (generated secrets) go to a directory removed on exit, not the checkout.
      DATA_DIR: mode === 'pglite' ? target! : scratchDir(onClose),
      ...(mode === 'postgres' ? { DATABASE_URL: target! } : {}),
      // The benchmark is the only client: the limits would otherwise refuse most of the load.
      LOGIN_RATE_LIMIT_PER_MINUTE: '10000',
      TOKEN_RATE_LIMIT_PER_MINUTE: '100000',
      LINK_SIGNING_SECRET: randomBytes(36).toString('base64'),
      TOKEN_SIGNING_SECRET: randomBytes(36).toString('base64'),
      // Media stays on loopback (../shared/notes/media.md): the SFU announces 127.0.0.1 only.
      RTC_ANNOUNCED_ADDRESSES: '127.0.0.1',
      RTC_USE_INTERFACE_ADDRESSES: 'false',
    },
    {},
  );
  const database = await openDatabase(config.database, { command: 'bench/visits-server.ts' });
  const pubsub = createMemoryPubSub();
  const media = createMediaProvider(config);
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  onClose(async () => {
    try {
      await app?.close();
      await media.close();
      await pubsub.close();
    } finally {
      await database.close();
    }
  });
  await database.migrate();

  const system = { type: 'system' as const, id: null };
  const org = await createOrganization(database.db, { slug: `bench-visits-${process.pid}`, name: 'Benchmark clinic' }, system);
  const email = `clinician-${process.pid}@bench.example`;
  const password = randomBytes(18).toString('base64url');
  await createUser({ db: database.db, hub: createOrgEvents(pubsub, console) }, systemCtx(org.id), { email, name: 'Bench Clinician', role: 'clinician', password });

  app = await buildApp({ config, database, pubsub, media });
  await app.listen({ host: config.host, port: 0 });
  say({ ready: true, port: (app.server.address() as AddressInfo).port, orgId: org.id, email, password });
}

runBenchChild(start);
