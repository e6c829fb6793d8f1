/**
 * The server side of `bench/checkins.ts`, run in its own process so that its CPU is the server's alone. Not meant to
 * be run by hand.
 *
 *   node --import tsx bench/checkins-server.ts <data dir> <limit ms>     (a fresh, empty directory: PGlite)
 *
 * It starts the app the way `openvisit serve` does (loadConfig → openDatabase → migrate → memory pub/sub →
 * createMediaProvider → buildApp → listen) with the builtin media plane and PGlite in this process, creates one
 * organisation and an API key, and plays the check-in feature's part over the rooms layer: when the second
 * participant of a room named `ck-…` joins (the call is active), it sets the room's deadline to that join's time +
 * the limit (`setRoomDeadline`, reason `time_limit`), as the check-ins service does. In `baseline` mode it sets none
 * (the clients end the calls by themselves, as seed 003 did). In `aligned` mode it waits for `align`, then gives
 * every active call the same deadline (the latest start + the limit): all the rooms due at one instant.
 *
 * Lines on stdin (each answered with one `@@bench` line on stdout):
 *   mode-deadline / mode-baseline / mode-aligned   what the next rooms get (default: deadline)
 *   align     (aligned mode) every active call's deadline: the latest start + the limit
 *   cpu       this process's CPU time (µs, user + system) since it started, and the time (ms)
 *   report    every `ck-` room: its call's start (the later join), ends_at, ended_at, end reason
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
import { roomParticipants, rooms } from '../src/server/db/schema.js';
import { createOrganization } from '../src/server/orgs/service.js';
import { createMemoryPubSub } from '../src/server/pubsub/memory.js';
import { createMediaProvider } from '../src/server/rooms/loader.js';
import { setRoomDeadline } from '../src/server/rooms/service.js';
import { benchSay, runBenchChild } from './common.js';

const dataDir = process.argv[2];
const limitMs = Number(process.argv[3]);
if (!dataDir || !Number.isFinite(limitMs) || limitMs <= 0) {
  console.error('usage: bench/checkins-server.ts <data dir> <limit ms>');
  process.exit(2);
}

let mode: 'deadline' | 'baseline' | 'aligned' = 'deadline';
/** Active calls (both parties joined) of aligned mode, waiting for `align`: room id → org id and start. */
const active = new Map<string, { orgId: string; startedAt: number }>();
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
  // The check-in feature's part: a call is active when both parties are connected; its deadline is then + the limit.
  const joined = new Map<string, Set<string>>();
  built.roomEvents.listen(async (room, event) => {
    if (event.type !== 'participant.joined' || !room.name.startsWith('ck-') || mode === 'baseline') return;
    const who = joined.get(room.id) ?? new Set<string>();
    joined.set(room.id, who);
    who.add(event.identity);
    if (who.size !== 2) return;
    if (mode === 'aligned') active.set(room.id, { orgId: room.orgId, startedAt: event.at.getTime() });
    else await setRoomDeadline(built.rooms, systemCtx(room.orgId), room.id, new Date(event.at.getTime() + limitMs), 'time_limit');
  });
  const { key } = await createApiKey({ db: db.db, hub: built.realtime }, systemCtx(org.id), 'benchmark');
  await built.listen({ host: config.host, port: 0 });
  benchSay({ ready: true, port: (built.server.address() as AddressInfo).port, apiKey: key });
}

async function report(): Promise<void> {
  const db = database!.db;
  const rows = await db.select({ id: rooms.id, name: rooms.name, endsAt: rooms.endsAt, endedAt: rooms.endedAt, endReason: rooms.endReason }).from(rooms).where(like(rooms.name, 'ck-%')).limit(10_000);
  const stays = await db
    .select({ roomId: roomParticipants.roomId, started: sql<string>`max(${roomParticipants.joinedAt})`, joins: sql<number>`count(*)::int` })
    .from(roomParticipants)
    .innerJoin(rooms, eq(rooms.id, roomParticipants.roomId))
    .where(like(rooms.name, 'ck-%'))
    .groupBy(roomParticipants.roomId);
  const byRoom = new Map(stays.map((s) => [s.roomId, s]));
  benchSay({
    rooms: rows.map((r) => {
      const s = byRoom.get(r.id);
      return {
        name: r.name,
        startedAt: s ? new Date(s.started).getTime() : null,
        endsAt: r.endsAt?.getTime() ?? null,
        endedAt: r.endedAt?.getTime() ?? null,
        endReason: r.endReason,
        joins: Number(s?.joins ?? 0),
      };
    }),
  });
}

runBenchChild(start, {
  'mode-deadline': () => {
    mode = 'deadline';
    benchSay({ mode });
  },
  'mode-baseline': () => {
    mode = 'baseline';
    benchSay({ mode });
  },
  'mode-aligned': () => {
    mode = 'aligned';
    benchSay({ mode });
  },
  align: () =>
    void (async () => {
      const calls = [...active.entries()];
      active.clear();
      const endsAt = new Date(Math.max(...calls.map(([, c]) => c.startedAt)) + limitMs);
      for (const [roomId, c] of calls) await setRoomDeadline(app!.rooms, systemCtx(c.orgId), roomId, endsAt, 'time_limit');
      benchSay({ aligned: calls.length, endsAt: endsAt.getTime() });
    })().catch((err: unknown) => benchSay({ error: String(err) })),
  cpu: () => {
    const { user, system } = process.cpuUsage();
    benchSay({ cpuUs: user + system, at: Date.now() });
  },
  report: () => void report().catch((err: unknown) => benchSay({ error: String(err) })),
});
