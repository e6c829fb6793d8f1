/**
 * `npm run bench:messaging` — patient messaging (src/server/messaging): how many messages the API accepts, how
 * many the outbox pipeline sends end to end, and how many status reports it applies, each against a bare
 * database write of the same rows measured in the same run on the same database. A script, not a test: it prints
 * a table, one ratio line per database and, last, one JSON line to diff between runs.
 *
 * Per database (PGlite, file-backed in a fresh temp directory; PostgreSQL, a fresh database on
 * TEST_DATABASE_URL's server, dropped afterwards), in one app built in this process as test/helpers/app.ts
 * builds it (buildApp, listening on 127.0.0.1, MESSAGING_QUIET_HOURS='' and OUTBOX_DELIVERY_DELAY_MS=0, so the
 * outbox provider reports "sent" and nothing more), with one organisation, its API key and BENCH_MESSAGING_PATIENTS
 * patients with a phone number and SMS consent (granted, verbal), made through the API:
 *
 *   api accept   POST /api/v1/patients/:id/messages {body} with the API key, BENCH_MESSAGES messages round-robin
 *                over the patients, from BENCH_CONNECTIONS concurrent keep-alive HTTP clients. The clients run in
 *                a worker thread (fetch), so the load generator does not share the server's event loop. The app's
 *                outbox worker sends while the API accepts, as in production.
 *   pipeline     the same messages, from the start of the first POST until every one is `sent` in the database
 *                (polled: count of rows with status sent/delivered): consent + address checks, the row committed
 *                with its audit event and its AES-GCM body, claimed by the worker (FOR UPDATE SKIP LOCKED),
 *                "sent" by the outbox provider and recorded with its audit event.
 *   status       applyStatus() (status.ts, what a provider's callback calls) with `delivered` for every one of
 *                those messages, from BENCH_CONNECTIONS concurrent callers in this process.
 *   bare insert  baseline: the rows the pipeline wrote (every column, the body already encrypted, a new id and
 *                provider id), inserted again with Drizzle, one row per statement, BENCH_CONNECTIONS at a time.
 *   bare update  baseline: one single-row UPDATE by id per inserted row (status delivered, rank, timestamps),
 *                BENCH_CONNECTIONS at a time.
 *
 * Each measured phase follows a warm-up of BENCH_MESSAGING_WARMUP messages (or rows) through the same path.
 * Every loop is bounded in count and in time (BENCH_MESSAGING_SECONDS per phase, BENCH_MESSAGING_DRAIN_SECONDS
 * for the worker to finish after the last POST, a watchdog on the whole run).
 *
 * Environment: BENCH_DB (pglite or postgres; both by default), BENCH_MESSAGES (2000), BENCH_CONNECTIONS (10),
 * BENCH_MESSAGING_PATIENTS (20), BENCH_MESSAGING_WARMUP (50), BENCH_MESSAGING_SECONDS (20),
 * BENCH_MESSAGING_DRAIN_SECONDS (60), BENCH_MESSAGING_RUN_SECONDS (180), BENCH_LOG_LEVEL (silent),
 * TEST_DATABASE_URL (as for tests).
 * Exit code 1 on any failed request or call, a message not sent in time, audit events that do not match the
 * messages, or an audit chain that does not verify.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { and, count, eq, inArray } from 'drizzle-orm';
import { createApiKey } from '../src/server/apikeys/service.js';
import { systemCtx } from '../src/server/context.js';
import { buildApp, type App } from '../src/server/app.js';
import { verifyAuditChains } from '../src/server/audit/service.js';
import { loadConfig } from '../src/server/config.js';
import { openPglite, type Database } from '../src/server/db/index.js';
import { auditEvents, messages } from '../src/server/db/schema.js';
import { STATUS_RANK } from '../src/server/messaging/messages.js';
import { applyStatus } from '../src/server/messaging/status.js';
import { createOrganization } from '../src/server/orgs/service.js';
import { createMemoryPubSub } from '../src/server/pubsub/memory.js';
import { createMediaProvider } from '../src/server/rooms/loader.js';
import { createTestDatabase } from '../test/helpers/db.js';
import { busyBeforeStart, busyPct, envNumber, gitCommit, installCleanups, machineTicks, runBench } from './common.js';


type DbKind = 'pglite' | 'postgres';
const DB_KINDS = (process.env.BENCH_DB ? [process.env.BENCH_DB] : ['pglite', 'postgres']) as DbKind[];
for (const kind of DB_KINDS) if (kind !== 'pglite' && kind !== 'postgres') throw new Error(`BENCH_DB must be pglite or postgres (got "${kind}")`);
const MESSAGES = Math.floor(envNumber('BENCH_MESSAGES', 2000, 1, 100_000));
const CONNECTIONS = Math.floor(envNumber('BENCH_CONNECTIONS', 10, 1, 200));
const PATIENTS = Math.floor(envNumber('BENCH_MESSAGING_PATIENTS', 20, 1, 100));
const WARMUP = Math.floor(envNumber('BENCH_MESSAGING_WARMUP', 50, 0, 10_000));
const PHASE_MS = envNumber('BENCH_MESSAGING_SECONDS', 20, 1) * 1000;
const DRAIN_MS = envNumber('BENCH_MESSAGING_DRAIN_SECONDS', 60, 1) * 1000;
/** The whole run: phases are cut short to end before it (less a reserve to tear down); a watchdog stops everything after it. */
const RUN_LIMIT_MS = envNumber('BENCH_MESSAGING_RUN_SECONDS', 180, 30) * 1000;
const TEARDOWN_RESERVE_MS = 10_000;
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'silent';
/** How often the database is asked how many messages are sent, once the last POST is answered. */
const POLL_MS = 20;

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** Wall-clock milliseconds, comparable between threads (each thread's performance.now() has its own origin). */
const clock = () => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------------------------------------
// Cleanup: everything acquired registers its release here; it runs on success, failure, Ctrl-C and timeout.

const cleanups = installCleanups();
const cleanUp = cleanups.run;

/** A release that runs at most once, whether the benchmark calls it early or the cleanup registry does. */
function once(run: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= run());
}

// ---------------------------------------------------------------------------------------------------------
// CPU: the server's thread (this process's main thread: the app, the outbox worker, PGlite), the whole process
// (plus the load-generator thread and libuv's pool) and the machine (PostgreSQL's backends included).

const TICK_MS = 10; // USER_HZ is 100 on every Linux we run on.

function threadCpuMs(tid: number): number | null {
  try {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime, stime
  } catch {
    return null;
  }
}


interface CpuFigures {
  /** % of one core: the main thread (on Linux its thread id is the pid). */
  serverThreadCpuPct: number | null;
  /** % of one core: the whole process. */
  processCpuPct: number;
  /** % of all cores. */
  machineBusyPct: number | null;
}

function meter(): () => CpuFigures {
  const thread0 = threadCpuMs(process.pid);
  const process0 = process.cpuUsage();
  const machine0 = machineTicks();
  const t0 = performance.now();
  return () => {
    const wallMs = Math.max(1, performance.now() - t0);
    const thread1 = threadCpuMs(process.pid);
    const used = process.cpuUsage(process0);
    return {
      serverThreadCpuPct: thread0 !== null && thread1 !== null ? round(((thread1 - thread0) / wallMs) * 100, 0) : null,
      processCpuPct: round(((used.user + used.system) / 1000 / wallMs) * 100, 0),
      machineBusyPct: busyPct(machine0, machineTicks()),
    };
  };
}

// ---------------------------------------------------------------------------------------------------------
// The app, in this process, on a fresh database.

interface Stack {
  kind: DbKind;
  app: App;
  database: Database;
  base: string;
  orgId: string;
  apiKey: string;
  close(): Promise<void>;
}

async function startStack(kind: DbKind, tmp: string): Promise<Stack> {
  let database: Database & { url?: string };
  if (kind === 'pglite') {
    // The production default: file-backed PGlite in a data directory (here a fresh temp one), migrated.
    const pgliteDir = mkdtempSync(path.join(tmp, 'pglite-'));
    database = await openPglite({ dataDir: pgliteDir, command: 'bench/messaging.ts' });
    cleanups.add('PGlite database', once(() => database.close()));
    await database.migrate();
  } else {
    database = await createTestDatabase('postgres'); // migrated; close() drops it
    cleanups.add('PostgreSQL benchmark database', once(() => database.close()));
  }
  const config = loadConfig(
    {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL,
      DATA_DIR: mkdtempSync(path.join(tmp, `data-${kind}-`)),
      RTC_ANNOUNCED_ADDRESSES: '127.0.0.1',
      RTC_USE_INTERFACE_ADDRESSES: 'false',
      MESSAGING_QUIET_HOURS: '',
      OUTBOX_DELIVERY_DELAY_MS: '0',
      ...(database.url ? { DATABASE_URL: database.url } : {}),
    },
    {},
  );
  const pubsub = createMemoryPubSub();
  const media = createMediaProvider(config);
  const app = await buildApp({ config, database, pubsub, media });
  const closeApp = once(async () => {
    try {
      await app.close(); // stops the outbox worker
      await media.close();
      await pubsub.close();
    } finally {
      await database.close();
    }
  });
  cleanups.add(`${kind} app`, closeApp);
  await app.listen({ host: '127.0.0.1', port: 0 }); // ready: the outbox worker starts
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;

  const system = { type: 'system' as const, id: null };
  const org = await createOrganization(database.db, { slug: `bench-msg-${randomBytes(4).toString('hex')}`, name: 'Benchmark clinic' }, system);
  const { key } = await createApiKey({ db: database.db, hub: app.realtime }, systemCtx(org.id), 'benchmark');
  return { kind, app, database, base, orgId: org.id, apiKey: key, close: closeApp };
}

async function call(stack: Stack, method: string, url: string, body: unknown, expect: number): Promise<Record<string, unknown>> {
  const response = await fetch(`${stack.base}${url}`, {
    method,
    headers: { authorization: `Bearer ${stack.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  if (response.status !== expect) throw new Error(`${method} ${url} answered ${response.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as Record<string, unknown>;
}

/** Patients with a phone number and SMS consent, made through the API as a host app would. */
async function makePatients(stack: Stack): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < PATIENTS; i++) {
    const patient = await call(stack, 'POST', '/api/v1/patients', { givenName: 'Mia', familyName: `Texter ${i}`, phone: `55555503${String(i).padStart(2, '0')}`, timeZone: 'Europe/London' }, 201);
    const id = patient.id as string;
    await call(stack, 'POST', `/api/v1/patients/${id}/consents`, { kind: 'sms', status: 'granted', method: 'verbal' }, 201);
    ids.push(id);
  }
  return ids;
}

// ---------------------------------------------------------------------------------------------------------
// The load generator: BENCH_CONNECTIONS fetch clients in a worker thread (plain JavaScript: nothing to compile).

const CLIENT_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { base, apiKey, patientIds, first, total, concurrency, stopAfterMs } = workerData;
const headers = { authorization: 'Bearer ' + apiKey, 'content-type': 'application/json' };
const clock = () => performance.timeOrigin + performance.now();
async function run() {
  const latencies = [];
  const ids = [];
  const failures = [];
  let next = 0;
  let firstStart = null;
  let lastEnd = null;
  let stoppedBy = 'count';
  const stopAt = performance.now() + stopAfterMs;
  async function client() {
    while (next < total) {
      if (performance.now() > stopAt) {
        stoppedBy = 'time';
        return;
      }
      const n = first + next++;
      if (firstStart === null) firstStart = clock();
      const t0 = performance.now();
      try {
        const res = await fetch(base + '/api/v1/patients/' + patientIds[n % patientIds.length] + '/messages', {
          method: 'POST',
          headers,
          body: JSON.stringify({ body: 'Bench message ' + n + ': see you on Tuesday at 10:00.' }),
          signal: AbortSignal.timeout(15000),
        });
        const text = await res.text();
        const ms = performance.now() - t0;
        lastEnd = clock();
        if (res.status === 201) {
          latencies.push(ms);
          ids.push(JSON.parse(text).id);
        } else failures.push('HTTP ' + res.status + ': ' + text.slice(0, 200));
      } catch (err) {
        lastEnd = clock();
        failures.push(String((err && err.message) || err));
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, client));
  return { latencies, ids, failures, firstStart, lastEnd, stoppedBy };
}
run().then(
  (result) => parentPort.postMessage(result),
  (err) => parentPort.postMessage({ error: String((err && err.stack) || err) }),
);
`;

interface PostResult {
  latencies: number[];
  ids: string[];
  failures: string[];
  /** clock() at the first request's start and the last response's end. */
  firstStart: number | null;
  lastEnd: number | null;
  stoppedBy: 'count' | 'time';
}

/** Posts `total` messages (numbered from `first`) from the client thread; resolves when every client is done. */
function postMessages(stack: Stack, patientIds: string[], first: number, total: number, stopAfterMs: number): Promise<PostResult> {
  const worker = new Worker(CLIENT_SOURCE, { eval: true, workerData: { base: stack.base, apiKey: stack.apiKey, patientIds, first, total, concurrency: CONNECTIONS, stopAfterMs } });
  const terminate = once(async () => void (await worker.terminate()));
  cleanups.add('load-generator thread', terminate);
  return new Promise<PostResult>((resolve, reject) => {
    // Each request times out after 15 s, so the clients end within stopAfterMs + 15 s; this is the backstop.
    const timer = setTimeout(() => reject(new Error(`the load generator did not finish within ${(stopAfterMs + 30_000) / 1000} s`)), stopAfterMs + 30_000);
    worker.once('message', (message: PostResult & { error?: string }) => {
      clearTimeout(timer);
      if (message.error) reject(new Error(`load generator: ${message.error}`));
      else resolve(message);
    });
    worker.once('error', (err) => (clearTimeout(timer), reject(err)));
    worker.once('exit', (code) => (clearTimeout(timer), reject(new Error(`the load generator exited (code ${code}) without a result`))));
  }).finally(() => void terminate());
}

// ---------------------------------------------------------------------------------------------------------
// A bounded pool of concurrent callers in this process.

interface PoolResult {
  done: number;
  failures: string[];
  latencies: number[];
  stoppedBy: 'count' | 'time';
  wallMs: number;
}

async function pool<T>(items: T[], stopAt: number, each: (item: T) => Promise<void>): Promise<PoolResult> {
  const latencies: number[] = [];
  const failures: string[] = [];
  let next = 0;
  let stoppedBy: PoolResult['stoppedBy'] = 'count';
  const t0 = performance.now();
  const caller = async () => {
    while (next < items.length) {
      if (Date.now() > stopAt) {
        stoppedBy = 'time';
        return;
      }
      const item = items[next++]!;
      const started = performance.now();
      try {
        await each(item);
        latencies.push(performance.now() - started);
      } catch (err) {
        failures.push((err as Error).message ?? String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONNECTIONS, Math.max(1, items.length)) }, caller));
  return { done: latencies.length, failures, latencies, stoppedBy, wallMs: performance.now() - t0 };
}

interface Distribution {
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
}

function distribution(samples: number[]): Distribution {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => (sorted.length === 0 ? 0 : round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!, 2));
  return { p50Ms: at(50), p99Ms: at(99), meanMs: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length), 2) };
}

// ---------------------------------------------------------------------------------------------------------
// The database, read directly.

async function sentCount(stack: Stack): Promise<number> {
  const [row] = await stack.database.db
    .select({ n: count() })
    .from(messages)
    .where(and(eq(messages.orgId, stack.orgId), eq(messages.direction, 'outbound'), inArray(messages.status, ['sent', 'delivered'])));
  return Number(row?.n ?? 0);
}

async function countWhere(stack: Stack, ids: string[], status: 'sent' | 'delivered'): Promise<number> {
  let n = 0;
  for (let i = 0; i < ids.length; i += 1000) {
    const [row] = await stack.database.db
      .select({ n: count() })
      .from(messages)
      .where(and(inArray(messages.id, ids.slice(i, i + 1000)), eq(messages.status, status)));
    n += Number(row?.n ?? 0);
  }
  return n;
}

type MessageRow = typeof messages.$inferSelect;

async function rowsOf(stack: Stack, ids: string[]): Promise<MessageRow[]> {
  const rows: MessageRow[] = [];
  for (let i = 0; i < ids.length; i += 1000) rows.push(...(await stack.database.db.select().from(messages).where(inArray(messages.id, ids.slice(i, i + 1000)))));
  return rows;
}

async function auditCount(stack: Stack, action: 'message.queued' | 'message.status_changed'): Promise<number> {
  const [row] = await stack.database.db
    .select({ n: count() })
    .from(auditEvents)
    .where(and(eq(auditEvents.orgId, stack.orgId), eq(auditEvents.action, action)));
  return Number(row?.n ?? 0);
}

// ---------------------------------------------------------------------------------------------------------
// One database.

interface CaseResult {
  name: string;
  what: string;
  unit: 'msg/s' | 'reports/s' | 'rows/s';
  count: number;
  seconds: number;
  perSecond: number;
  p50Ms: number | null;
  p99Ms: number | null;
  failures: number;
  stoppedBy: 'count' | 'time';
  baseline: 'bare insert' | 'bare update' | null;
  ratio: number | null;
  cpu: CpuFigures;
}

interface DbResult {
  db: DbKind;
  cases: CaseResult[];
  /** Pipeline details: rows still to send when the last POST was answered, and the time from then to the last one sent. */
  backlogAtLastAccept: number;
  drainSeconds: number;
  setupSeconds: number;
}

async function benchDb(kind: DbKind, tmp: string, deadline: number, problems: string[], notes: string[]): Promise<DbResult> {
  const setupStarted = performance.now();
  process.stderr.write(`${kind}: starting the app, ${PATIENTS} patients… `);
  const stack = await startStack(kind, tmp);
  const patientIds = await makePatients(stack);
  const setupSeconds = round((performance.now() - setupStarted) / 1000, 1);
  process.stderr.write(`${setupSeconds} s\n`);
  const phaseEnd = () => Math.min(Date.now() + PHASE_MS, deadline);

  /** Waits until `target` outbound messages of the organisation are sent (or delivered); the clock() when seen. */
  const untilSent = async (target: number, limitMs: number): Promise<{ at: number; sent: number }> => {
    const stopAt = Math.min(Date.now() + limitMs, deadline);
    for (;;) {
      const sent = await sentCount(stack);
      if (sent >= target) return { at: clock(), sent };
      if (Date.now() > stopAt) return { at: Number.NaN, sent };
      await sleep(POLL_MS);
    }
  };

  // Warm-up of the whole path (JIT, prepared statements, the first text to each number with its opt-out notice).
  if (WARMUP > 0) {
    process.stderr.write(`${kind}: warm-up, ${WARMUP} messages… `);
    const warm = await postMessages(stack, patientIds, 0, WARMUP, PHASE_MS);
    if (warm.failures.length > 0) problems.push(`${kind} warm-up: ${warm.failures.length} failed POSTs (first: ${warm.failures[0]})`);
    const drained = await untilSent(warm.ids.length, DRAIN_MS);
    if (Number.isNaN(drained.at)) throw new Error(`${kind} warm-up: only ${drained.sent} of ${warm.ids.length} messages sent within ${DRAIN_MS / 1000} s`);
    await stack.app.outbox.idle();
    const warmRows = await rowsOf(stack, warm.ids);
    const deps = { db: stack.database.db, hub: stack.app.realtime };
    for (const row of warmRows) {
      if (!(await applyStatus(deps, { provider: 'outbox', providerMessageId: row.providerMessageId!, status: 'delivered' }))) problems.push(`${kind} warm-up: applyStatus moved nothing`);
    }
    process.stderr.write('done\n');
  }
  const warmed = await sentCount(stack);

  // 1 + 2. The API accepts the messages while the worker sends them; the pipeline ends when the last one is sent.
  process.stderr.write(`${kind}: ${MESSAGES} messages, ${CONNECTIONS} clients (at most ${PHASE_MS / 1000} s to post them)… `);
  const apiMeter = meter();
  const pipelineMeter = meter();
  const api = await postMessages(stack, patientIds, WARMUP, MESSAGES, Math.max(1000, phaseEnd() - Date.now()));
  const apiCpu = apiMeter();
  const accepted = api.ids.length;
  const sentAtLastAccept = await sentCount(stack);
  const drain = await untilSent(warmed + accepted, DRAIN_MS);
  const pipelineCpu = pipelineMeter();
  if (api.failures.length > 0) problems.push(`${kind} API: ${api.failures.length} failed POSTs (first: ${api.failures[0]})`);
  if (accepted === 0 || api.firstStart === null || api.lastEnd === null) throw new Error(`${kind}: the API accepted no message`);
  if (Number.isNaN(drain.at)) problems.push(`${kind} pipeline: ${drain.sent - warmed} of ${accepted} messages sent within ${DRAIN_MS / 1000} s of the last POST`);
  const apiSeconds = (api.lastEnd - api.firstStart) / 1000;
  const pipelineSeconds = ((Number.isNaN(drain.at) ? clock() : drain.at) - api.firstStart) / 1000;
  await stack.app.outbox.idle();
  const sentRows = await rowsOf(stack, api.ids); // as the pipeline left them, for the baseline
  const notSent = sentRows.filter((r) => r.status !== 'sent');
  if (notSent.length > 0) problems.push(`${kind} pipeline: ${notSent.length} messages not sent (first: ${notSent[0]!.status} ${notSent[0]!.errorCode ?? ''})`);
  process.stderr.write(`${Math.round(accepted / apiSeconds)} msg/s accepted, ${Math.round(accepted / pipelineSeconds)} msg/s sent\n`);

  // 3. Status reports: applyStatus(delivered) for every sent message, BENCH_CONNECTIONS callers.
  process.stderr.write(`${kind}: applyStatus for ${sentRows.length} messages… `);
  const deps = { db: stack.database.db, hub: stack.app.realtime };
  const statusMeter = meter();
  const status = await pool(sentRows, phaseEnd(), async (row) => {
    const moved = await applyStatus(deps, { provider: 'outbox', providerMessageId: row.providerMessageId!, status: 'delivered' });
    if (!moved) throw new Error(`applyStatus moved nothing for message ${row.id}`);
  });
  const statusCpu = statusMeter();
  if (status.failures.length > 0) problems.push(`${kind} status: ${status.failures.length} failed calls (first: ${status.failures[0]})`);
  const delivered = await countWhere(stack, api.ids, 'delivered');
  if (delivered !== status.done) problems.push(`${kind} status: ${delivered} messages delivered for ${status.done} successful reports`);
  process.stderr.write(`${Math.round(status.done / (status.wallMs / 1000))} reports/s\n`);

  // 4. Baselines: the same rows, inserted bare (one per statement) and updated bare (one per statement by id).
  process.stderr.write(`${kind}: bare insert and update of ${sentRows.length} rows… `);
  const copy = (row: MessageRow): typeof messages.$inferInsert => {
    const { id: _id, providerMessageId: _pid, createdAt: _created, updatedAt: _updated, ...rest } = row;
    return { ...rest, id: randomUUID(), providerMessageId: `OB${randomBytes(16).toString('hex')}` };
  };
  const db = stack.database.db;
  const insert = async (values: typeof messages.$inferInsert) => void (await db.insert(messages).values(values));
  const update = async (id: string) => {
    const now = new Date();
    await db.update(messages).set({ status: 'delivered', statusRank: STATUS_RANK.delivered, deliveredAt: now, updatedAt: now }).where(eq(messages.id, id));
  };
  if (WARMUP > 0) {
    const warmCopies = sentRows.slice(0, WARMUP).map(copy);
    await pool(warmCopies, phaseEnd(), insert);
    await pool(warmCopies.map((c) => c.id!), phaseEnd(), update);
  }
  const copies = sentRows.map(copy);
  const insertMeter = meter();
  const bareInsert = await pool(copies, phaseEnd(), insert);
  const insertCpu = insertMeter();
  const insertedIds = copies.slice(0, bareInsert.done + bareInsert.failures.length).map((c) => c.id!);
  // The same number of single-row updates as applyStatus made.
  const updateIds = insertedIds.slice(0, status.done);
  const updateMeter = meter();
  const bareUpdate = await pool(updateIds, phaseEnd(), update);
  const updateCpu = updateMeter();
  for (const [name, r] of [['bare insert', bareInsert], ['bare update', bareUpdate]] as const) {
    if (r.failures.length > 0) problems.push(`${kind} ${name}: ${r.failures.length} failed statements (first: ${r.failures[0]})`);
  }
  if ((await countWhere(stack, insertedIds, 'sent')) + (await countWhere(stack, insertedIds, 'delivered')) !== bareInsert.done) problems.push(`${kind} bare insert: the rows in the table do not match the statements`);
  if ((await countWhere(stack, updateIds, 'delivered')) !== bareUpdate.done) problems.push(`${kind} bare update: the rows delivered do not match the statements`);
  const insertRate = bareInsert.done / (bareInsert.wallMs / 1000);
  const updateRate = bareUpdate.done / (bareUpdate.wallMs / 1000);
  process.stderr.write(`${Math.round(insertRate)} / ${Math.round(updateRate)} rows/s\n`);

  // The pipeline's audit trail: one message.queued per message, a status_changed for each sent and each delivered.
  const messagesInAll = WARMUP + accepted; // the warm-up's ids all succeeded, or a problem was recorded
  const queued = await auditCount(stack, 'message.queued');
  const changed = await auditCount(stack, 'message.status_changed');
  if (queued !== messagesInAll) problems.push(`${kind} audit: ${queued} message.queued events for ${messagesInAll} messages`);
  const expectedChanged = messagesInAll + WARMUP + status.done;
  if (changed !== expectedChanged) problems.push(`${kind} audit: ${changed} message.status_changed events, expected ${expectedChanged} (sent + delivered)`);
  const chain = await verifyAuditChains(stack.database.db);
  if (!chain.ok) problems.push(`${kind} audit: the chain does not verify after the run: ${JSON.stringify(chain.broken)}`);

  await stack.close();

  const apiLatency = distribution(api.latencies);
  const statusLatency = distribution(status.latencies);
  const insertLatency = distribution(bareInsert.latencies);
  const updateLatency = distribution(bareUpdate.latencies);
  const ratio = (rate: number, base: number) => (base > 0 ? round(rate / base, 3) : null);
  const cases: CaseResult[] = [
    {
      name: `${kind} api accept`,
      what: 'POST /patients/:id/messages',
      unit: 'msg/s',
      count: accepted,
      seconds: round(apiSeconds, 2),
      perSecond: round(accepted / apiSeconds, 1),
      p50Ms: apiLatency.p50Ms,
      p99Ms: apiLatency.p99Ms,
      failures: api.failures.length,
      stoppedBy: api.stoppedBy,
      baseline: 'bare insert',
      ratio: ratio(accepted / apiSeconds, insertRate),
      cpu: apiCpu,
    },
    {
      name: `${kind} pipeline`,
      what: 'first POST → all sent',
      unit: 'msg/s',
      count: accepted,
      seconds: round(pipelineSeconds, 2),
      perSecond: round(accepted / pipelineSeconds, 1),
      p50Ms: null,
      p99Ms: null,
      failures: notSent.length,
      stoppedBy: api.stoppedBy,
      baseline: 'bare insert',
      ratio: ratio(accepted / pipelineSeconds, insertRate),
      cpu: pipelineCpu,
    },
    {
      name: `${kind} status`,
      what: 'applyStatus delivered',
      unit: 'reports/s',
      count: status.done,
      seconds: round(status.wallMs / 1000, 2),
      perSecond: round(status.done / (status.wallMs / 1000), 1),
      p50Ms: statusLatency.p50Ms,
      p99Ms: statusLatency.p99Ms,
      failures: status.failures.length,
      stoppedBy: status.stoppedBy,
      baseline: 'bare update',
      ratio: ratio(status.done / (status.wallMs / 1000), updateRate),
      cpu: statusCpu,
    },
    {
      name: `${kind} bare insert`,
      what: 'INSERT messages, 1 row',
      unit: 'rows/s',
      count: bareInsert.done,
      seconds: round(bareInsert.wallMs / 1000, 2),
      perSecond: round(insertRate, 1),
      p50Ms: insertLatency.p50Ms,
      p99Ms: insertLatency.p99Ms,
      failures: bareInsert.failures.length,
      stoppedBy: bareInsert.stoppedBy,
      baseline: null,
      ratio: null,
      cpu: insertCpu,
    },
    {
      name: `${kind} bare update`,
      what: 'UPDATE messages by id',
      unit: 'rows/s',
      count: bareUpdate.done,
      seconds: round(bareUpdate.wallMs / 1000, 2),
      perSecond: round(updateRate, 1),
      p50Ms: updateLatency.p50Ms,
      p99Ms: updateLatency.p99Ms,
      failures: bareUpdate.failures.length,
      stoppedBy: bareUpdate.stoppedBy,
      baseline: null,
      ratio: null,
      cpu: updateCpu,
    },
  ];
  if (api.stoppedBy === 'time') notes.push(`${kind}: ${accepted} of ${MESSAGES} messages posted within the ${PHASE_MS / 1000} s limit; api, pipeline, status and the baselines cover those`);
  for (const c of cases.slice(2)) if (c.stoppedBy === 'time') notes.push(`${c.name}: stopped by its time limit after ${c.count} (the figures cover those)`);
  return { db: kind, cases, backlogAtLastAccept: warmed + accepted - sentAtLastAccept, drainSeconds: round(pipelineSeconds - apiSeconds, 2), setupSeconds };
}

// ---------------------------------------------------------------------------------------------------------
// Report.

function printTable(results: DbResult[]): void {
  const header = ['case', 'what', 'count', 's', 'per s', 'unit', 'p50 ms', 'p99 ms', 'failed', '× baseline', 'server thread', 'process', 'machine'];
  const pct = (n: number | null) => (n === null ? '–' : `${n}%`);
  const rows = results.flatMap((r) =>
    r.cases.map((c) => [
      c.name,
      c.what,
      String(c.count),
      c.seconds.toFixed(2),
      Math.round(c.perSecond).toLocaleString('en-US'),
      c.unit,
      c.p50Ms === null ? '–' : c.p50Ms.toFixed(2),
      c.p99Ms === null ? '–' : c.p99Ms.toFixed(2),
      String(c.failures),
      c.ratio === null ? '–' : `${c.ratio.toFixed(3)}x ${c.baseline}`,
      pct(c.cpu.serverThreadCpuPct),
      pct(c.cpu.processCpuPct),
      pct(c.cpu.machineBusyPct),
    ]),
  );
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const left = new Set([0, 1, 5, 9]);
  const line = (cells: string[]) => cells.map((c, i) => (left.has(i) ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  console.log('(CPU: % of one core for the server thread (app, outbox worker, PGlite) and this whole process (+ the load-generator thread); machine: % of all cores, PostgreSQL included)');
}

function summaryLine(r: DbResult): string {
  const [api, pipeline, status, insert, update] = r.cases as [CaseResult, CaseResult, CaseResult, CaseResult, CaseResult];
  const rate = (c: CaseResult) => Math.round(c.perSecond).toLocaleString('en-US');
  return (
    `${r.db}: api ${rate(api)} msg/s (p50 ${api.p50Ms} ms, p99 ${api.p99Ms} ms) = ${api.ratio}x bare insert; ` +
    `pipeline ${rate(pipeline)} msg/s = ${pipeline.ratio}x bare insert (${r.backlogAtLastAccept} still to send at the last accept, sent ${r.drainSeconds} s later); ` +
    `status ${rate(status)} reports/s = ${status.ratio}x bare update; baselines: bare insert ${rate(insert)} rows/s, bare update ${rate(update)} rows/s`
  );
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const started = Date.now();
  const deadline = started + RUN_LIMIT_MS - TEARDOWN_RESERVE_MS;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'openvisit-bench-messaging-'));
  cleanups.add(`temp dir ${tmp}`, () => rmSync(tmp, { recursive: true, force: true }));
  const commit = gitCommit();
  console.error(
    `OpenVisit messaging benchmark: ${MESSAGES} messages, ${CONNECTIONS} concurrent clients, ${PATIENTS} patients, warm-up ${WARMUP}; ` +
      `${DB_KINDS.join(' + ')}; commit ${commit ?? 'unknown'}; ${os.cpus().length} cores, Node ${process.version}`,
  );

  const { busyBeforePct, warnings } = await busyBeforeStart();

  const problems: string[] = [];
  /** Bounds that cut a phase short: not failures (the figures cover what ran), but said. */
  const notes: string[] = [];
  const results: DbResult[] = [];
  for (const kind of DB_KINDS) {
    if (Date.now() > deadline - 20_000) {
      problems.push(`${kind}: skipped, not enough of the ${RUN_LIMIT_MS / 1000} s run limit left`);
      continue;
    }
    results.push(await benchDb(kind, tmp, deadline, problems, notes));
  }

  console.log('');
  printTable(results);
  console.log('');
  for (const r of results) console.log(summaryLine(r));
  for (const n of notes) console.log(`NOTE: ${n}`);
  for (const w of warnings) console.log(`WARNING: ${w}`);
  if (problems.length > 0) {
    console.error('\nBENCHMARK FAILED:');
    for (const p of problems) console.error(`  - ${p}`);
  }
  const cpu = os.cpus();
  console.log(
    JSON.stringify({
      bench: 'messaging',
      version: 1,
      date: new Date().toISOString(),
      commit,
      machine: { cores: cpu.length, cpu: cpu[0]?.model ?? null, memGiB: round(os.totalmem() / 2 ** 30, 1), platform: `${os.platform()} ${os.release()}`, node: process.version },
      settings: { messages: MESSAGES, connections: CONNECTIONS, patients: PATIENTS, warmup: WARMUP, phaseSeconds: PHASE_MS / 1000, drainSeconds: DRAIN_MS / 1000, dbs: DB_KINDS },
      ok: problems.length === 0,
      problems,
      notes,
      warnings,
      machineBusyBeforePct: busyBeforePct,
      loadAverage1m: round(os.loadavg()[0]!, 2),
      wallSeconds: round((Date.now() - started) / 1000, 1),
      results: Object.fromEntries(results.map((r) => [r.db, { ...r, cases: Object.fromEntries(r.cases.map((c) => [c.name.split(' ').slice(1).join('.'), c])) }])),
    }),
  );
  return problems.length === 0 ? 0 : 1;
}

await runBench(main, cleanUp, RUN_LIMIT_MS);
