/**
 * `npm run bench:api` — HTTP throughput and latency of OpenVisit's API, against a bare Fastify route measured
 * in the same run. A script, not a test: it prints a table and, last, one JSON line to diff between runs.
 *
 * Cases (each: a warm-up, then BENCH_SECONDS of load from BENCH_CONNECTIONS keep-alive connections):
 *   bare      GET  /bare                  a plain Fastify() answering a small JSON object: the baseline
 *   pglite    GET  /api/v1/patients/:id   API key auth + one patient read (embedded PGlite, file-backed, fresh temp dir)
 *             PATCH /api/v1/patients/:id  API key auth + update + hash-chained audit event, in one transaction
 *   postgres  the same two routes on PostgreSQL (a fresh database on 127.0.0.1:5432, dropped afterwards)
 *
 * Why a child process per server, and autocannon here: the load generator must not share an event loop
 * with the server, or each steals the other's time and the figures measure neither. A worker thread would
 * separate the loops but keep one process (one heap's worth of GC pressure and one OS scheduling unit
 * sharing the server's libuv pool); a separate process is what production looks like (one `openvisit serve`).
 * On a 2-core machine that gives roughly one core to the server and one to autocannon — the best split
 * available, but not a clean one: with PostgreSQL, its backends compete for the same two cores, and the
 * bare route can be limited by the load generator rather than by Fastify. The table therefore also shows
 * the CPU the server process and the load generator used, and how busy the whole machine was: a server
 * near 100% of a core is server-bound; a load generator near 100% means the figure is a floor.
 * Each server gets its own process (bare, pglite, postgres), so one case's heap and JIT state do not
 * colour the next. The child runs TypeScript through tsx's loader: that costs load time only.
 *
 * Environment: BENCH_SECONDS (5), BENCH_CONNECTIONS (10), BENCH_WARMUP_SECONDS (1),
 * BENCH_DB=pglite|postgres (only that one), BENCH_LOG_LEVEL (silent), TEST_DATABASE_URL (as for tests),
 * BENCH_NODE_ARGS (extra node flags for the server processes, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 * Exit code 1 if any request failed or returned non-2xx, or a post-run check failed.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { createTestDatabase } from '../test/helpers/db.js';
import { busyBeforeStart, envNumber, gitCommit, installCleanups, machineTicks, runBench, startBenchChild } from './common.js';

const SERVER = fileURLToPath(new URL('./server.ts', import.meta.url));


const SECONDS = envNumber('BENCH_SECONDS', 5, 1);
const CONNECTIONS = envNumber('BENCH_CONNECTIONS', 10, 1);
const WARMUP_SECONDS = envNumber('BENCH_WARMUP_SECONDS', 1, 0);
const DB_KINDS = (process.env.BENCH_DB ? [process.env.BENCH_DB] : ['pglite', 'postgres']) as Array<'pglite' | 'postgres'>;
for (const kind of DB_KINDS) if (kind !== 'pglite' && kind !== 'postgres') throw new Error(`BENCH_DB must be pglite or postgres (got "${kind}")`);

// ---------------------------------------------------------------------------------------------------------
// Cleanup: everything acquired registers its release here; it runs on success, failure and Ctrl-C.

const cleanups = installCleanups();
const cleanUp = cleanups.run;

// ---------------------------------------------------------------------------------------------------------
// The server child process.

interface Server {
  port: number;
  apiKey: string;
  pid: number;
  /** Sends a command and resolves with the child's next `@@bench` reply. */
  command(line: string): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

async function startServer(mode: 'bare' | 'pglite' | 'postgres', target?: string): Promise<Server> {
  const child = await startBenchChild(mode, SERVER, [mode, ...(target ? [target] : [])], cleanups);
  return { port: child.ready.port as number, apiKey: (child.ready.apiKey as string | undefined) ?? '', pid: child.pid, command: child.command, stop: child.stop };
}

// ---------------------------------------------------------------------------------------------------------
// CPU accounting (Linux /proc; null elsewhere), to tell a server-bound figure from a client-bound one.

const TICK_MS = 10; // USER_HZ is 100 on every Linux we run on.

function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime, stime (fields 14 and 15)
  } catch {
    return null;
  }
}


// ---------------------------------------------------------------------------------------------------------
// One case.

interface CaseResult {
  name: string;
  db: 'none' | 'pglite' | 'postgres';
  method: string;
  route: string;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  requests: number;
  ok2xx: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  /** Errors, timeouts and non-2xx during the warm-up (they fail the run too). */
  warmupFailures: number;
  /** Per status code, when anything but 2xx came back. */
  statusCodes: Record<string, number>;
  ratioToBare: number | null;
  /** Percent of one core. */
  serverCpuPct: number | null;
  loadgenCpuPct: number | null;
  /** Percent of all cores. */
  machineBusyPct: number | null;
  /** 2xx answers, warm-up included (the PATCH audit check counts on it). */
  ok2xxWithWarmup: number;
}

interface Load {
  method: 'GET' | 'PATCH';
  path: string;
  headers?: Record<string, string>;
  bodies?: string[];
}

interface Shot {
  result: autocannon.Result;
  /** Every 2xx response time in ms, unrounded (autocannon's own histogram keeps whole milliseconds). */
  latencies: Float64Array;
}

function cannon(server: Server, load: Load, seconds: number): Promise<Shot> {
  let latencies = new Float64Array(1 << 16);
  let n = 0;
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${server.port}`,
        connections: CONNECTIONS,
        pipelining: 1,
        duration: seconds,
        timeout: 10,
        headers: load.headers ?? {},
        // Each connection cycles through these: PATCH alternates its body so every request really changes the row.
        requests: (load.bodies ?? [undefined]).map((body) => ({
          method: load.method,
          path: load.path,
          ...(body === undefined ? {} : { body, headers: { ...load.headers, 'content-type': 'application/json' } }),
        })),
      },
      (err, result) => (err ? reject(err as Error) : resolve({ result, latencies: latencies.subarray(0, n) })),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode < 200 || statusCode > 299) return;
      if (n === latencies.length) {
        const bigger = new Float64Array(latencies.length * 2);
        bigger.set(latencies);
        latencies = bigger;
      }
      latencies[n++] = responseTime;
    });
  });
}

/** The p-th percentile (nearest rank) of the samples, in ms to the microsecond. */
function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!, 3);
}

async function runCase(name: string, db: CaseResult['db'], server: Server, load: Load): Promise<CaseResult> {
  process.stderr.write(`  ${name}: warm-up ${WARMUP_SECONDS} s, then ${SECONDS} s × ${CONNECTIONS} connections… `);
  const warm = WARMUP_SECONDS > 0 ? (await cannon(server, load, WARMUP_SECONDS)).result : undefined;

  const serverBefore = processCpuMs(server.pid);
  const selfBefore = process.cpuUsage();
  const machineBefore = machineTicks();
  const wallBefore = performance.now();
  const { result: r, latencies } = await cannon(server, load, SECONDS);
  const wallMs = performance.now() - wallBefore;
  const serverAfter = processCpuMs(server.pid);
  const self = process.cpuUsage(selfBefore);
  const machineAfter = machineTicks();

  const sorted = latencies.slice().sort();
  const statusCodes: Record<string, number> = {};
  for (const [code, stat] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = stat.count ?? 0;
  const warmFailures = warm ? warm.errors + warm.timeouts + warm.non2xx : 0;
  const result: CaseResult = {
    name,
    db,
    method: load.method,
    route: load.path.replace(/[0-9a-f]{8}-[0-9a-f-]{27}/, ':id'),
    reqPerSec: round(r.requests.average, 1),
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    meanMs: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length), 3),
    requests: r.requests.total,
    ok2xx: r['2xx'],
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    warmupFailures: warmFailures,
    statusCodes,
    ratioToBare: null,
    serverCpuPct: serverBefore !== null && serverAfter !== null ? round(((serverAfter - serverBefore) / wallMs) * 100, 0) : null,
    loadgenCpuPct: round(((self.user + self.system) / 1000 / wallMs) * 100, 0),
    machineBusyPct:
      machineBefore && machineAfter && machineAfter.total > machineBefore.total
        ? round(((machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total)) * 100, 0)
        : null,
    ok2xxWithWarmup: r['2xx'] + (warm?.['2xx'] ?? 0),
  };
  process.stderr.write(`${Math.round(result.reqPerSec)} req/s${failures(result) ? `, ${failures(result)} FAILED` : ''}\n`);
  return result;
}

const failures = (r: CaseResult) => r.errors + r.timeouts + r.non2xx + r.warmupFailures;
const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

// ---------------------------------------------------------------------------------------------------------
// OpenVisit: one patient to read and update, checked once by hand before the load.

async function http(server: Server, method: string, url: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${server.port}${url}`, {
    method,
    headers: { authorization: `Bearer ${server.apiKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: response.status, json: (await response.json()) as Record<string, unknown> };
}

async function benchOpenVisit(db: 'pglite' | 'postgres', server: Server, checks: string[]): Promise<CaseResult[]> {
  const created = await http(server, 'POST', '/api/v1/patients', { givenName: 'Ada', familyName: 'Benchmark', timeZone: 'Europe/London' });
  if (created.status !== 201) throw new Error(`${db}: creating the patient answered ${created.status}: ${JSON.stringify(created.json)}`);
  const id = created.json.id as string;
  const read = await http(server, 'GET', `/api/v1/patients/${id}`);
  if (read.status !== 200 || read.json.id !== id) throw new Error(`${db}: GET patient answered ${read.status}: ${JSON.stringify(read.json)}`);
  const patched = await http(server, 'PATCH', `/api/v1/patients/${id}`, { givenName: 'Grace' });
  if (patched.status !== 200 || patched.json.givenName !== 'Grace') throw new Error(`${db}: PATCH patient answered ${patched.status}: ${JSON.stringify(patched.json)}`);

  const headers = { authorization: `Bearer ${server.apiKey}` };
  const get = await runCase(`${db} GET patient`, db, server, { method: 'GET', path: `/api/v1/patients/${id}`, headers });
  const patch = await runCase(`${db} PATCH patient`, db, server, {
    method: 'PATCH',
    path: `/api/v1/patients/${id}`,
    headers,
    bodies: [JSON.stringify({ givenName: 'Ada' }), JSON.stringify({ givenName: 'Grace' })],
  });

  // After the load: every 2xx PATCH must have left exactly one audit event, and the chain must verify.
  const verify = await server.command('verify');
  if (verify.error) checks.push(`${db}: audit verification failed: ${String(verify.error)}`);
  else {
    // autocannon stops counting when its time is up, with up to one request per connection still in flight
    // (warm-up and measured run): the server completes those, so a few more events than counted 2xx is right.
    const counted = patch.ok2xxWithWarmup + 1; // + the hand-made PATCH above
    const inFlight = (WARMUP_SECONDS > 0 ? 2 : 1) * CONNECTIONS;
    const events = Number(verify.patientUpdatedEvents);
    if (events < counted || events > counted + inFlight) {
      checks.push(`${db}: ${events} patient.updated audit events for ${counted} successful PATCHes (expected ${counted} to ${counted + inFlight})`);
    }
    const chain = verify.chain as { ok: boolean; events: number; broken?: unknown };
    if (!chain.ok) checks.push(`${db}: the audit chain does not verify after the load: ${JSON.stringify(chain.broken)}`);
  }
  return [get, patch];
}

// ---------------------------------------------------------------------------------------------------------
// Report.

function printTable(results: CaseResult[]): void {
  const header = ['case', 'route', 'req/s', 'p50 ms', 'p99 ms', 'errors/non-2xx', '× bare', 'server CPU', 'loadgen CPU', 'machine busy'];
  const pct = (n: number | null) => (n === null ? '–' : `${n}%`);
  const rows = results.map((r) => [
    r.name,
    `${r.method} ${r.route}`,
    Math.round(r.reqPerSec).toLocaleString('en-US'),
    r.p50Ms.toFixed(2),
    r.p99Ms.toFixed(2),
    String(failures(r)),
    r.ratioToBare === null ? '–' : r.ratioToBare.toFixed(3),
    pct(r.serverCpuPct),
    pct(r.loadgenCpuPct),
    pct(r.machineBusyPct),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  console.log('(CPU: % of one core for the server process and the load generator; machine: % of all cores, PostgreSQL included)');
}


// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const started = Date.now();
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'openvisit-bench-'));
  cleanups.add(`temp dir ${tmp}`, () => rmSync(tmp, { recursive: true, force: true }));
  console.error(`OpenVisit API benchmark: ${SECONDS} s per case, ${CONNECTIONS} connections, warm-up ${WARMUP_SECONDS} s; ${os.cpus().length} cores, Node ${process.version}`);

  const { busyBeforePct, warnings } = await busyBeforeStart();

  const results: CaseResult[] = [];
  const checks: string[] = [];

  const bare = await startServer('bare');
  results.push(await runCase('bare', 'none', bare, { method: 'GET', path: '/bare' }));
  await bare.stop();

  for (const db of DB_KINDS) {
    let server: Server;
    if (db === 'pglite') {
      // The production default: file-backed PGlite in a data directory (here a fresh temp one).
      server = await startServer('pglite', path.join(tmp, 'pglite'));
    } else {
      const database = await createTestDatabase('postgres');
      cleanups.add('PostgreSQL benchmark database', () => database.close());
      server = await startServer('postgres', database.url!);
    }
    results.push(...(await benchOpenVisit(db, server, checks)));
    await server.stop();
  }

  const baseline = results[0]!.reqPerSec;
  for (const r of results.slice(1)) r.ratioToBare = baseline > 0 ? round(r.reqPerSec / baseline, 3) : null;

  console.log('');
  printTable(results);
  const failed = results.filter((r) => failures(r) > 0);
  for (const r of failed) checks.push(`${r.name}: ${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx, ${r.warmupFailures} in the warm-up (status codes ${JSON.stringify(r.statusCodes)})`);
  for (const w of warnings) console.log(`WARNING: ${w}`);
  if (checks.length > 0) {
    console.error('\nBENCHMARK FAILED:');
    for (const c of checks) console.error(`  - ${c}`);
  }
  const cpu = os.cpus();
  console.log(
    JSON.stringify({
      bench: 'api',
      version: 1,
      date: new Date().toISOString(),
      commit: gitCommit(),
      machine: { cores: cpu.length, cpu: cpu[0]?.model ?? null, memGiB: round(os.totalmem() / 2 ** 30, 1), platform: `${os.platform()} ${os.release()}`, node: process.version },
      settings: { seconds: SECONDS, connections: CONNECTIONS, warmupSeconds: WARMUP_SECONDS },
      ok: checks.length === 0,
      problems: checks,
      warnings,
      machineBusyBeforePct: busyBeforePct,
      loadAverage1m: round(os.loadavg()[0]!, 2),
      wallSeconds: round((Date.now() - started) / 1000, 1),
      cases: Object.fromEntries(results.map(({ ok2xxWithWarmup: _omit, ...r }) => [r.name.replace(/ /g, '.'), r])),
    }),
  );
  return checks.length === 0 ? 0 : 1;
}

await runBench(main, cleanUp);
