/**
 * The server side of `bench/checkins.ts`, run in its own process so that its CPU is the server's alone. Not meant to
 * be run by hand.
 *
 *   node --import tsx bench/checkins-server.ts <data dir>     (a fresh, empty directory: PGlite)
 *
 * It starts the app the way `openvisit serve` does (loadConfig → openDatabase → migrate → memory pub/sub →
 * createMediaProvider → buildApp → listen) with the builtin media plane and PGlite in this process, and creates one
 * organisation and an API key. Everything else goes through the HTTP API: the check-in calls are the product's own
 * (POST /api/v1/checkins: the check-ins service makes the room, marks the call active when both parties are
 * connected and sets the room's deadline); the baseline's rooms are bare rooms-layer rooms (`ck-baseline-…`).
 *
 * Lines on stdin (each answered with one `@@bench` line on stdout):
 *   cpu       this process's CPU time (µs, user + system) since it started, and the time (ms)
 *   report    every check-in call (its started_at, its room's ends_at / ended_at, completed_at, duration, end
 *             reason) and every `ck-` room (its start = the later join, ended_at, end reason): read from the
 *             database, so that polling costs the server one query each, not an HTTP request per call
 *   stop      close everything and exit 0 (closing stdin does too)
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { eq, like, sql } from 'drizzle-orm';
import { createApiKey } from '../src/server/apikeys/service.js';
import { buildApp } from '../src/server/app.js';
import { loadConfig } from '../src/server/config.js';
import { systemCtx } from '../src/server/context.js';
import { openDatabase } from '../src/server/db/index.js';
import { checkinCalls, roomParticipants, rooms } from '../src/server/db/schema.js';
import { createOrganization } from '../src/server/orgs/service.js';
import { createMemoryPubSub } from '../src/server/pubsub/memory.js';
import { createMediaProvider } from '../src/server/rooms/loader.js';
import { benchSay, runBenchChild } from './common.js';

const dataDir = process.argv[2];
if (!dataDir) {
  console.error('usage: bench/checkins-server.ts <data dir>');
  process.exit(2);
}

let app: Awaited<ReturnType<typeof buildApp>> | undefined;
let database: Awaited<ReturnType<typeof openDatabase>> | undefined;

async function start(onClose: (close: () => Promise<void>) => void): Promise<void> {
  const config = loadConfig(
    {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent',
      DATA_DIR: dataDir!,
      TOKEN_RATE_LIMIT_PER_MINUTE: '100000',
      LINK_SIGNING_SECRET: randomBytes(36).toString('base64'),
      TOKEN_SIGNING_SECRET: randomBytes(36).toString('base64'),
      // Media stays on loopback (../shared/notes/media.md): the SFU announces 127.0.0.1 only.
      RTC_ANNOUNCED_ADDRESSES: '127.0.0.1',
      RTC_USE_INTERFACE_ADDRESSES: 'false',
    },
    {},
  );
  database = await openDatabase(config.database, { command: 'bench/checkins-server.ts' });
  const db = database;
  const pubsub = createMemoryPubSub();
  const media = createMediaProvider(config);
  onClose(async () => {
    try {
      await app?.close();
      await media.close();
      await pubsub.close();
    } finally {
      await db.close();
    }
  });
  await db.migrate();
  const system = { type: 'system' as const, id: null };
  const org = await createOrganization(db.db, { slug: `bench-checkins-${process.pid}`, name: 'Benchmark care' }, system);
  app = await buildApp({ config, database: db, pubsub, media });
  const built = app;
  const { key } = await createApiKey({ db: db.db, hub: built.realtime }, systemCtx(org.id), 'benchmark');
  await built.listen({ host: config.host, port: 0 });
  benchSay({ ready: true, port: (built.server.address() as AddressInfo).port, apiKey: key });
}

async function report(): Promise<void> {
  const db = database!.db;
  const calls = await db
    .select({
      id: checkinCalls.id,
      status: checkinCalls.status,
      startedAt: checkinCalls.startedAt,
      completedAt: checkinCalls.completedAt,
      durationMs: checkinCalls.durationMs,
      endReason: checkinCalls.endReason,
      endsAt: rooms.endsAt,
      roomEndedAt: rooms.endedAt,
      roomEndReason: rooms.endReason,
    })
    .from(checkinCalls)
    .leftJoin(rooms, eq(rooms.id, checkinCalls.roomId))
    .limit(10_000);
  const rows = await db.select({ id: rooms.id, name: rooms.name, endedAt: rooms.endedAt, endReason: rooms.endReason }).from(rooms).where(like(rooms.name, 'ck-%')).limit(10_000);
  const stays = await db
    .select({ roomId: roomParticipants.roomId, started: sql<string>`max(${roomParticipants.joinedAt})`, joins: sql<number>`count(*)::int` })
    .from(roomParticipants)
    .innerJoin(rooms, eq(rooms.id, roomParticipants.roomId))
    .where(like(rooms.name, 'ck-%'))
    .groupBy(roomParticipants.roomId);
  const byRoom = new Map(stays.map((s) => [s.roomId, s]));
  const ms = (d: Date | null) => d?.getTime() ?? null;
  benchSay({
    calls: calls.map((c) => ({ ...c, startedAt: ms(c.startedAt), completedAt: ms(c.completedAt), endsAt: ms(c.endsAt), roomEndedAt: ms(c.roomEndedAt) })),
    rooms: rows.map((r) => {
      const s = byRoom.get(r.id);
      return { name: r.name, startedAt: s ? new Date(s.started).getTime() : null, endedAt: ms(r.endedAt), endReason: r.endReason, joins: Number(s?.joins ?? 0) };
    }),
  });
}

runBenchChild(start, {
  cpu: () => {
    const { user, system } = process.cpuUsage();
    benchSay({ cpuUs: user + system, at: Date.now() });
  },
  report: () => void report().catch((err: unknown) => benchSay({ error: String(err) })),
});
