/**
 * The server side of `bench/api.ts`, run in its own process (see api.ts for why). Not meant to be run by hand.
 *
 *   node --import tsx bench/server.ts bare
 *   node --import tsx bench/server.ts pglite   <data dir>       (a fresh, empty directory)
 *   node --import tsx bench/server.ts postgres <database url>   (a fresh, migrated database)
 *
 * It listens on 127.0.0.1 on a free port and talks to its parent in lines:
 *   stdout  `@@bench {"ready":true,"port":…,"apiKey":…}` once serving, and replies to commands;
 *   stdin   `verify` (audit checks, after the load), `stop` (close everything and exit 0).
 * Closing stdin (the parent died) also stops it, so no server outlives a benchmark.
 * The OpenVisit modes start the app the way `openvisit serve` does: loadConfig → openDatabase → migrate →
 * memory pub/sub → buildApp (its own logger, from LOG_LEVEL) → listen.
 */
import type { AddressInfo } from 'node:net';
import { count, eq } from 'drizzle-orm';
import Fastify from 'fastify';
import { createApiKey } from '../src/server/apikeys/service.js';
import { systemCtx } from '../src/server/context.js';
import { createOrgEvents } from '../src/server/realtime/events.js';
import { buildApp } from '../src/server/app.js';
import { verifyAuditChains } from '../src/server/audit/service.js';
import { loadConfig } from '../src/server/config.js';
import { openDatabase, type Database } from '../src/server/db/index.js';
import { auditEvents } from '../src/server/db/schema.js';
import { createOrganization } from '../src/server/orgs/service.js';
import { createMemoryPubSub } from '../src/server/pubsub/memory.js';
import { createMediaProvider } from '../src/server/rooms/loader.js';
import { benchSay, runBenchChild, scratchDir } from './common.js';

const say = benchSay;

type Mode = 'bare' | 'pglite' | 'postgres';
const mode = process.argv[2] as Mode;
const target = process.argv[3];
if (!['bare', 'pglite', 'postgres'].includes(mode) || (mode !== 'bare' && !target)) {
  console.error('usage: bench/server.ts bare | pglite <data dir> | postgres <database url>');
  process.exit(2);
}

let database: Database | undefined;


async function start(onClose: (close: () => Promise<void>) => void): Promise<void> {
  if (mode === 'bare') {
    // The baseline: a plain Fastify instance, defaults only (no logger, no plugins, no hooks).
    const app = Fastify();
    app.get('/bare', async () => ({ hello: 'world', ok: true }));
    onClose(() => app.close());
    await app.listen({ host: '127.0.0.1', port: 0 });
    say({ ready: true, port: (app.server.address() as AddressInfo).port });
    return;
  }

  const config = loadConfig(
    {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: '0',
      // Silent by default: a terminal (or our stdout pipe) receiving a line per request would dominate.
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent',
      // PostgreSQL: the files the server keeps (generated secrets) go to a directory removed on exit, not the checkout.
      DATA_DIR: mode === 'pglite' ? target! : scratchDir(onClose),
      ...(mode === 'postgres' ? { DATABASE_URL: target! } : {}),
    },
    {},
  );
  const db = await openDatabase(config.database, { command: 'bench/server.ts' });
  database = db;
  const pubsub = createMemoryPubSub();
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  onClose(async () => {
    try {
      await app?.close();
      await pubsub.close();
    } finally {
      await db.close();
    }
  });
  await db.migrate();

  const system = { type: 'system' as const, id: null };
  const org = await createOrganization(db.db, { slug: `bench-${process.pid}`, name: 'Benchmark clinic' }, system);
  const { key } = await createApiKey({ db: db.db, hub: createOrgEvents(pubsub, console) }, systemCtx(org.id), 'benchmark');

  app = await buildApp({ config, database: db, pubsub, media: createMediaProvider(config) });
  await app.listen({ host: config.host, port: 0 });
  say({ ready: true, port: (app.server.address() as AddressInfo).port, apiKey: key, orgId: org.id });
}

async function verify(): Promise<void> {
  if (!database) return say({ verify: true });
  const [row] = await database.db.select({ n: count() }).from(auditEvents).where(eq(auditEvents.action, 'patient.updated'));
  const chain = await verifyAuditChains(database.db);
  say({ verify: true, patientUpdatedEvents: row?.n ?? 0, chain });
}

runBenchChild(start, {
  verify: () => void verify().catch((err: unknown) => say({ verify: true, error: String((err as Error)?.stack ?? err) })),
});
