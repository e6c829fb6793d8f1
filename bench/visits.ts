/**
 * `npm run bench:visits` — issue 4's benchmark of telehealth visits. A script, not a test: it prints its tables,
 * compares each figure with a baseline measured in the same run, and ends with one JSON line of every figure.
 *
 * 1. Waiting-room notification latency. A clinician, signed in over HTTP, holds the realtime hub socket
 *    (/api/v1/events, session cookie) as the dashboard does. For each sample a patient opens a fresh join link
 *    (POST /join), accepts the telehealth consent and asks for the media token (POST /visits/:id/token: the call
 *    that puts them in the waiting room and publishes `visit.participant_waiting`); the figure is the time from
 *    the start of that token request to the clinician's socket receiving the event. Baseline, interleaved sample
 *    by sample: an audited write of the same patient (PATCH /patients/:id) to its `patient.updated` event.
 * 2. Token issuance throughput. autocannon on POST /visits/:id/token, as an admitted patient (participant session
 *    bearer) and as the host (staff session cookie), beside the rooms layer's bare token endpoint
 *    (POST /tokens, the same staff session), in the same server process.
 * 3. Concurrent 1:1 visits until the server's CPU saturates. Each visit: a host and an admitted patient, headless
 *    werift participants on loopback publishing real VP8 + Opus (test/helpers/replay.ts) and receiving each
 *    other's through the builtin SFU. Steps add visits (1, 2, 4, 8, …) and measure the server's CPU, what was
 *    forwarded and what each participant received of the other's media. Baseline: the same number of 1:1 pairs
 *    in bare rooms-layer rooms (POST /rooms + POST /tokens, no visit), measured in the same server beforehand,
 *    and the idle server.
 *
 * Processes: the server (bench/visits-server.ts: the app with its embedded SFU, PGlite in its thread) runs alone
 * in a child process; the media participants in two more (bench/visits-peers.ts); this process signs in, drives
 * the REST API, holds the hub socket and runs autocannon. Media stays on 127.0.0.1.
 *
 * Environment: BENCH_DB (pglite; or postgres, a fresh database on TEST_DATABASE_URL's server), BENCH_SECONDS (5:
 * each autocannon case and each media measurement), BENCH_CONNECTIONS (10), BENCH_WARMUP_SECONDS (1: autocannon),
 * BENCH_VISITS_SAMPLES (200), BENCH_VISITS_LATENCY_SECONDS (30: part 1 stops there), BENCH_VISITS_STEPS
 * (1,2,4,8,12,16,24,32,48,64, cut at BENCH_VISITS_MAX), BENCH_VISITS_MAX (64), BENCH_VISITS_BASELINE_PAIRS (8), BENCH_VISITS_CPU_LIMIT (90),
 * BENCH_VISITS_VIDEO_KBPS (950), BENCH_VISITS_PEER_PROCESSES (2), BENCH_VISITS_RUN_SECONDS (180), BENCH_VISITS_PARTS
 * (latency,tokens,media), BENCH_LOG_LEVEL, BENCH_NODE_ARGS (extra node flags for the server process).
 * Exit code 1 on any failed request, missed hub event or media step that could not be set up (not for a
 * saturation: that is the finding).
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { WebSocket } from 'ws';
import { SESSION_COOKIE } from '../src/server/auth/secrets.js';
import type { HubMessage } from '../src/shared/events.js';
import { createTestDatabase } from '../test/helpers/db.js';
import { busyBeforeStart, busyPct, envNumber, gitCommit, installCleanups, machineTicks, ROOT, runBench, startBenchChild } from './common.js';
import { isChildMessage, Requester, type ProcessSample } from './media-ipc.js';
import type { PeerCounters, PeerSpec } from './visits-peers.js';

const SERVER = fileURLToPath(new URL('./visits-server.ts', import.meta.url));
const PEERS = fileURLToPath(new URL('./visits-peers.ts', import.meta.url));


const DB = (process.env.BENCH_DB ?? 'pglite') as 'pglite' | 'postgres';
if (DB !== 'pglite' && DB !== 'postgres') throw new Error(`BENCH_DB must be pglite or postgres (got "${String(DB)}")`);
const SECONDS = envNumber('BENCH_SECONDS', 5, 1);
const CONNECTIONS = envNumber('BENCH_CONNECTIONS', 10, 1);
const WARMUP_SECONDS = envNumber('BENCH_WARMUP_SECONDS', 1, 0);
const SAMPLES = envNumber('BENCH_VISITS_SAMPLES', 200, 1);
const LATENCY_SECONDS = envNumber('BENCH_VISITS_LATENCY_SECONDS', 30, 1);
const MAX_VISITS = envNumber('BENCH_VISITS_MAX', 64, 1);
const STEPS = (process.env.BENCH_VISITS_STEPS ?? '1,2,4,8,12,16,24,32,48,64')
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => n <= MAX_VISITS);
if (STEPS.length === 0 || STEPS.some((n, i) => !Number.isInteger(n) || n < 1 || (i > 0 && n <= STEPS[i - 1]!))) {
  throw new Error('BENCH_VISITS_STEPS must be ascending integers ≥ 1 (and at least one ≤ BENCH_VISITS_MAX)');
}
const BASELINE_PAIRS = envNumber('BENCH_VISITS_BASELINE_PAIRS', 8, 0);
const CPU_LIMIT_PCT = envNumber('BENCH_VISITS_CPU_LIMIT', 90, 1);
const VIDEO_KBPS = envNumber('BENCH_VISITS_VIDEO_KBPS', 950, 50);
/** Processes for the media participants: one core's worth of werift each (hosts in one, patients in the other). */
const PEER_PROCESSES = envNumber('BENCH_VISITS_PEER_PROCESSES', 2, 1);
const PARTS = new Set((process.env.BENCH_VISITS_PARTS ?? 'latency,tokens,media').split(',').map((s) => s.trim()));
for (const p of PARTS) if (!['latency', 'tokens', 'media'].includes(p)) throw new Error(`BENCH_VISITS_PARTS: unknown part "${p}" (latency, tokens, media)`);

/** One loop of the replayed capture (the same capture bench:media uses, so the ffmpeg cache is shared). */
const CLIP_SECONDS = 10;
const MEDIA_WARMUP_S = 2;
/** A participant receives the other's media "at the sent rate" when it gets at least this share of each kind. */
const DELIVERY_MIN = 0.97;
/** Below this share of the capture's rate, the publishers (the load generator) fell behind. */
const PUBLISH_MIN = 0.97;
/** Joining one step's new participants must finish within this. */
const CONNECT_LIMIT_MS = 40_000;
/** The whole run: no part or step starts that cannot finish before it; a watchdog stops everything after it. */
const RUN_LIMIT_MS = envNumber('BENCH_VISITS_RUN_SECONDS', 180, 30) * 1000;
const TEARDOWN_RESERVE_MS = 12_000;
const EVENT_TIMEOUT_MS = 5000;

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------------
// Cleanup: everything acquired registers its release here; it runs on success, failure, Ctrl-C and timeout.

const cleanups = installCleanups();
const cleanUp = cleanups.run;

// ---------------------------------------------------------------------------------------------------------
// CPU and memory of a process (Linux /proc; null elsewhere) and of the machine.

const TICK_MS = 10; // USER_HZ is 100 on every Linux we run on.

function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * TICK_MS; // utime, stime
  } catch {
    return null;
  }
}

function processRssMB(pid: number): number | null {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? round(Number(match[1]) / 1024, 0) : null;
  } catch {
    return null;
  }
}


/** Measures `pid`'s CPU (% of one core) and the machine's (% of all cores) over what `during` does. */
async function cpuDuring<T>(pid: number, during: () => Promise<T>): Promise<{ value: T; serverCpuPct: number | null; selfCpuPct: number; machineBusyPct: number | null; wallMs: number }> {
  const server0 = processCpuMs(pid);
  const self0 = process.cpuUsage();
  const machine0 = machineTicks();
  const t0 = performance.now();
  const value = await during();
  const wallMs = performance.now() - t0;
  const server1 = processCpuMs(pid);
  const self = process.cpuUsage(self0);
  return {
    value,
    serverCpuPct: server0 !== null && server1 !== null ? round(((server1 - server0) / wallMs) * 100, 1) : null,
    selfCpuPct: round(((self.user + self.system) / 1000 / wallMs) * 100, 1),
    machineBusyPct: busyPct(machine0, machineTicks()),
    wallMs,
  };
}

// ---------------------------------------------------------------------------------------------------------
// The server child process (bench/visits-server.ts).

interface Server {
  port: number;
  pid: number;
  base: string;
  email: string;
  password: string;
  stop(): Promise<void>;
}

async function startServer(label: string, args: string[]): Promise<Server> {
  const { ready, pid, stop } = await startBenchChild(label, SERVER, args, cleanups);
  const port = ready.port as number;
  return { port, pid, base: `http://127.0.0.1:${port}`, email: ready.email as string, password: ready.password as string, stop };
}

async function startServerFor(label: string, tmp: string): Promise<Server> {
  if (DB === 'pglite') return startServer(label, ['pglite', mkdtempSync(path.join(tmp, `${label}-`))]);
  const database = await createTestDatabase('postgres');
  cleanups.add(`PostgreSQL database (${label})`, () => database.close());
  return startServer(label, ['postgres', database.url!]);
}

// ---------------------------------------------------------------------------------------------------------
// The REST API, as the clinician's browser (session cookie) and the patient's page (participant bearer) call it.

type Auth = { cookie: string } | { bearer: string } | null;

function headersOf(auth: Auth): Record<string, string> {
  if (!auth) return {};
  return 'cookie' in auth ? { cookie: auth.cookie } : { authorization: `Bearer ${auth.bearer}` };
}

async function call(server: Server, auth: Auth, method: string, url: string, body?: unknown, expect?: number): Promise<Record<string, unknown>> {
  const response = await fetch(`${server.base}${url}`, {
    method,
    headers: { ...headersOf(auth), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (expect !== undefined ? response.status !== expect : response.status >= 300) {
    throw new Error(`${method} ${url} answered ${response.status}: ${text.slice(0, 300)}`);
  }
  return text ? (JSON.parse(text) as Record<string, unknown>) : {};
}

/** Signs the clinician in as the web app does (POST /auth/login); returns the session cookie. */
async function signIn(server: Server): Promise<{ cookie: string }> {
  const response = await fetch(`${server.base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: server.email, password: server.password }),
  });
  if (response.status !== 200) throw new Error(`login answered ${response.status}: ${await response.text()}`);
  const set = response.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  if (!set) throw new Error('login set no session cookie');
  await response.arrayBuffer();
  return { cookie: set.split(';')[0]! };
}

interface VisitSetup {
  visitId: string;
  patientId: string;
  participantId: string;
  linkToken: string;
}

/** A started (instant) 1:1 visit with one new patient, and the patient's join link. */
async function newVisit(server: Server, clinician: Auth, n: number): Promise<VisitSetup> {
  const patient = await call(server, clinician, 'POST', '/api/v1/patients', { givenName: 'Bench', familyName: `Patient ${n}`, timeZone: 'Europe/London' }, 201);
  const visit = await call(server, clinician, 'POST', '/api/v1/visits', { patientIds: [patient.id], start: true }, 201);
  const invite = await call(server, clinician, 'POST', `/api/v1/visits/${String(visit.id)}/invites`, { role: 'patient', patientId: patient.id }, 201);
  return { visitId: visit.id as string, patientId: patient.id as string, participantId: (invite.participant as { id: string }).id, linkToken: invite.token as string };
}

/** The patient's page: open the link, accept the telehealth consent. Returns the participant session. */
async function joinAndConsent(server: Server, setup: VisitSetup): Promise<{ bearer: string }> {
  const joined = await call(server, null, 'POST', '/api/v1/join', { token: setup.linkToken }, 200);
  const session = { bearer: joined.session as string };
  for (const consent of joined.consentsRequired as { kind: string; version: string }[]) {
    await call(server, session, 'POST', `/api/v1/visits/${setup.visitId}/consents`, { kind: consent.kind, version: consent.version }, 201);
  }
  return session;
}

// ---------------------------------------------------------------------------------------------------------
// The clinician's hub socket.

interface Hub {
  /** Resolves with the arrival time (performance.now()) of the next event of `type` about `id` (its participantId or patientId). */
  expect(type: string, id: string): Promise<number>;
  close(): void;
}

async function openHub(server: Server, auth: { cookie: string }): Promise<Hub> {
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/api/v1/events`, { headers: { cookie: auth.cookie } });
  const waiting = new Map<string, { resolve: (at: number) => void; timer: NodeJS.Timeout }>();
  cleanups.add('hub socket', () => ws.terminate());
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the hub sent no hello within 10 s')), 10_000);
    ws.on('message', (raw) => {
      const at = performance.now(); // arrival, before anything else runs
      const message = JSON.parse(String(raw)) as HubMessage;
      if (message.type === 'hello') return void (clearTimeout(timer), resolve());
      if (message.type !== 'event') return;
      for (const key of ['participantId', 'patientId']) {
        const id = message.event.data[key];
        const entry = typeof id === 'string' ? waiting.get(`${message.event.type}/${id}`) : undefined;
        if (!entry) continue;
        waiting.delete(`${message.event.type}/${String(id)}`);
        clearTimeout(entry.timer);
        entry.resolve(at);
      }
    });
    ws.once('error', (err) => (clearTimeout(timer), reject(err)));
    ws.once('close', (code) => (clearTimeout(timer), reject(new Error(`the hub closed with ${code}`))));
  });
  return {
    expect(type, id) {
      const arrival = new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiting.delete(`${type}/${id}`);
          reject(new Error(`no ${type} for ${id} on the hub within ${EVENT_TIMEOUT_MS} ms`));
        }, EVENT_TIMEOUT_MS);
        waiting.set(`${type}/${id}`, { resolve, timer });
      });
      arrival.catch(() => undefined); // a sample whose request failed never awaits it: not an unhandled rejection
      return arrival;
    },
    close: () => ws.close(),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Part 1: waiting-room notification latency.

interface Distribution {
  n: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

function distribution(samples: number[]): Distribution {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => (sorted.length === 0 ? 0 : round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!, 2));
  return { n: sorted.length, p50Ms: at(50), p99Ms: at(99), maxMs: round(sorted.at(-1) ?? 0, 2), meanMs: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length), 2) };
}

interface LatencyResult {
  samples: number;
  warmupSamples: number;
  stoppedBy: 'samples' | 'time';
  seconds: number;
  /** Token request start → the hub event arrives (the headline). */
  waitingEvent: Distribution;
  /** Token request start → its HTTP response. */
  waitingResponse: Distribution;
  /** The patient opens the link (POST /join) → the event: join + consent + token. */
  joinToEvent: Distribution;
  /** Baseline: PATCH /patients/:id start → `patient.updated` arrives. */
  baselineEvent: Distribution;
  baselineResponse: Distribution;
  /** waitingEvent p50 − baselineEvent p50: what the waiting-room path adds to a plain audited write. */
  addedP50Ms: number;
  ratioP50: number | null;
  serverCpuPct: number | null;
  machineBusyPct: number | null;
  failures: string[];
}

async function latencyPart(server: Server, clinician: { cookie: string }, deadline: number): Promise<LatencyResult> {
  const hub = await openHub(server, clinician);
  const warmup = Math.min(10, Math.ceil(SAMPLES / 10));
  const waitingEvent: number[] = [];
  const waitingResponse: number[] = [];
  const joinToEvent: number[] = [];
  const baselineEvent: number[] = [];
  const baselineResponse: number[] = [];
  const failures: string[] = [];
  const stopAt = Math.min(deadline, Date.now() + LATENCY_SECONDS * 1000);
  let stoppedBy: LatencyResult['stoppedBy'] = 'samples';
  process.stderr.write(`latency: ${warmup} warm-up + up to ${SAMPLES} samples (at most ${LATENCY_SECONDS} s)… `);
  const run = await cpuDuring(server.pid, async () => {
    for (let i = 0; i < warmup + SAMPLES; i++) {
      if (Date.now() > stopAt) {
        stoppedBy = 'time';
        break;
      }
      const keep = i >= warmup;
      try {
        // Untimed: a started visit with a new patient, and the patient's link.
        const setup = await newVisit(server, clinician, i);
        // The patient opens the link and consents; then the token request puts them in the waiting room.
        const t0 = performance.now();
        const session = await joinAndConsent(server, setup);
        const arrived = hub.expect('visit.participant_waiting', setup.participantId);
        const t1 = performance.now();
        const token = await call(server, session, 'POST', `/api/v1/visits/${setup.visitId}/token`, undefined, 200);
        const t2 = performance.now();
        const t3 = await arrived;
        if (token.admission !== 'waiting') throw new Error(`the token answered admission ${String(token.admission)}, not waiting`);
        // Baseline: a plain audited write of the same organisation, to its hub event.
        const updated = hub.expect('patient.updated', setup.patientId);
        const b1 = performance.now();
        await call(server, clinician, 'PATCH', `/api/v1/patients/${setup.patientId}`, { givenName: i % 2 === 0 ? 'Ada' : 'Grace' }, 200);
        const b2 = performance.now();
        const b3 = await updated;
        if (!keep) continue;
        waitingEvent.push(t3 - t1);
        waitingResponse.push(t2 - t1);
        joinToEvent.push(t3 - t0);
        baselineEvent.push(b3 - b1);
        baselineResponse.push(b2 - b1);
      } catch (err) {
        failures.push((err as Error).message);
        if (failures.length >= 5) break;
      }
    }
  });
  hub.close();
  const w = distribution(waitingEvent);
  const b = distribution(baselineEvent);
  process.stderr.write(`${w.n} samples, p50 ${w.p50Ms} ms (baseline ${b.p50Ms} ms)\n`);
  return {
    samples: w.n,
    warmupSamples: warmup,
    stoppedBy,
    seconds: round(run.wallMs / 1000, 1),
    waitingEvent: w,
    waitingResponse: distribution(waitingResponse),
    joinToEvent: distribution(joinToEvent),
    baselineEvent: b,
    baselineResponse: distribution(baselineResponse),
    addedP50Ms: round(w.p50Ms - b.p50Ms, 2),
    ratioP50: b.p50Ms > 0 ? round(w.p50Ms / b.p50Ms, 2) : null,
    serverCpuPct: run.serverCpuPct,
    machineBusyPct: run.machineBusyPct,
    failures,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Part 2: token issuance throughput (autocannon, as bench/api.ts).

interface TokenCase {
  name: string;
  route: string;
  caller: string;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  warmupFailures: number;
  statusCodes: Record<string, number>;
  ratioToRooms: number | null;
  serverCpuPct: number | null;
  loadgenCpuPct: number;
  machineBusyPct: number | null;
}

interface Load {
  path: string;
  headers: Record<string, string>;
  body?: string;
}

function cannon(server: Server, load: Load, seconds: number): Promise<{ result: autocannon.Result; latencies: number[] }> {
  const latencies: number[] = [];
  return new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: server.base,
        connections: CONNECTIONS,
        pipelining: 1,
        duration: seconds,
        timeout: 10,
        headers: load.headers,
        requests: [
          {
            method: 'POST',
            path: load.path,
            ...(load.body === undefined ? {} : { body: load.body, headers: { ...load.headers, 'content-type': 'application/json' } }),
          },
        ],
      },
      (err, result) => (err ? reject(err as Error) : resolve({ result, latencies })),
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode >= 200 && statusCode <= 299) latencies.push(responseTime);
    });
  });
}

async function tokenCase(server: Server, name: string, route: string, who: string, load: Load): Promise<TokenCase> {
  process.stderr.write(`  ${name}: warm-up ${WARMUP_SECONDS} s, then ${SECONDS} s × ${CONNECTIONS} connections… `);
  const warm = WARMUP_SECONDS > 0 ? (await cannon(server, load, WARMUP_SECONDS)).result : undefined;
  const run = await cpuDuring(server.pid, () => cannon(server, load, SECONDS));
  const { result: r, latencies } = run.value;
  const d = distribution(latencies);
  const statusCodes: Record<string, number> = {};
  for (const [code, stat] of Object.entries(r.statusCodeStats ?? {})) statusCodes[code] = stat.count ?? 0;
  const result: TokenCase = {
    name,
    route,
    caller: who,
    reqPerSec: round(r.requests.average, 1),
    p50Ms: d.p50Ms,
    p99Ms: d.p99Ms,
    requests: r.requests.total,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    warmupFailures: warm ? warm.errors + warm.timeouts + warm.non2xx : 0,
    statusCodes,
    ratioToRooms: null,
    serverCpuPct: run.serverCpuPct === null ? null : round(run.serverCpuPct, 0),
    loadgenCpuPct: round(run.selfCpuPct, 0),
    machineBusyPct: run.machineBusyPct,
  };
  const failed = tokenFailures(result);
  process.stderr.write(`${Math.round(result.reqPerSec)} req/s${failed ? `, ${failed} FAILED` : ''}\n`);
  return result;
}

const tokenFailures = (r: TokenCase) => r.errors + r.timeouts + r.non2xx + r.warmupFailures;

async function tokensPart(server: Server, clinician: { cookie: string }): Promise<TokenCase[]> {
  // The rooms layer's own token endpoint: a room created by the clinician, tokens for one identity in it.
  await call(server, clinician, 'POST', '/api/v1/rooms', { name: 'bench-tokens' }, 201);
  // A started visit whose patient is admitted (joined, consented, waited, admitted).
  const setup = await newVisit(server, clinician, 0);
  const patient = await joinAndConsent(server, setup);
  await call(server, patient, 'POST', `/api/v1/visits/${setup.visitId}/token`, undefined, 200);
  await call(server, clinician, 'POST', `/api/v1/visits/${setup.visitId}/participants/${setup.participantId}/admit`, {}, 200);
  const checked = await call(server, patient, 'POST', `/api/v1/visits/${setup.visitId}/token`, undefined, 200);
  if (checked.admission !== 'admitted') throw new Error(`the admitted patient's token says ${String(checked.admission)}`);
  await call(server, clinician, 'POST', '/api/v1/tokens', { room: 'bench-tokens', identity: 'bench-identity' }, 201);

  const visitPath = `/api/v1/visits/${setup.visitId}/token`;
  const cases = [
    await tokenCase(server, 'rooms token (baseline)', 'POST /api/v1/tokens', 'staff session', {
      path: '/api/v1/tokens',
      headers: headersOf(clinician),
      body: JSON.stringify({ room: 'bench-tokens', identity: 'bench-identity' }),
    }),
    await tokenCase(server, 'visit token, patient', 'POST /api/v1/visits/:id/token', 'participant bearer', { path: visitPath, headers: headersOf(patient) }),
    await tokenCase(server, 'visit token, host', 'POST /api/v1/visits/:id/token', 'staff session', { path: visitPath, headers: headersOf(clinician) }),
  ];
  const base = cases[0]!.reqPerSec;
  for (const c of cases.slice(1)) c.ratioToRooms = base > 0 ? round(c.reqPerSec / base, 2) : null;
  return cases;
}

// ---------------------------------------------------------------------------------------------------------
// Part 3: concurrent 1:1 visits with real media.

interface PeerProc {
  rpc: Requester;
  pid: number;
  stop(): Promise<void>;
}

type PeerSample = ProcessSample & { peers: PeerCounters[] };

/** The participants' processes: each new participant goes to the next one in turn (hosts to one, patients to the other). */
interface Peers {
  procs: PeerProc[];
  prepare(): Promise<CaptureInfo>;
  /** Connects the participants; resolves with the time until every one received the other side's audio and video. */
  connect(base: string, specs: PeerSpec[]): Promise<number>;
  sample(): Promise<PeerSample[]>;
  close(group?: string): Promise<void>;
  stop(): Promise<void>;
}

async function startPeers(count: number): Promise<Peers> {
  const procs: PeerProc[] = [];
  for (let i = 0; i < count; i++) procs.push(await startPeerProc(i));
  return {
    procs,
    async prepare() {
      // One after the other: the first one may have to encode the capture; the others then load it from the cache.
      let info: CaptureInfo | undefined;
      for (const p of procs) info = await p.rpc.request<CaptureInfo>('prepare', { videoKbps: VIDEO_KBPS, clipSeconds: CLIP_SECONDS }, 120_000);
      return info!;
    },
    async connect(base, specs) {
      const started = performance.now();
      await Promise.all(
        procs.map((p, i) => {
          const mine = specs.filter((_, j) => j % procs.length === i);
          return mine.length === 0
            ? undefined
            : p.rpc.request('connect', { base, participants: mine, concurrency: 4, timeoutMs: CONNECT_LIMIT_MS }, CONNECT_LIMIT_MS + 10_000);
        }),
      );
      return round(performance.now() - started, 0);
    },
    sample: () => Promise.all(procs.map((p) => p.rpc.request<PeerSample>('sample'))),
    async close(group) {
      await Promise.all(procs.map((p) => p.rpc.request('close', group === undefined ? {} : { group }, 10_000).catch(() => undefined)));
    },
    async stop() {
      await Promise.all(procs.map((p) => p.stop()));
    },
  };
}

async function startPeerProc(index: number): Promise<PeerProc> {
  const proc = fork(PEERS, [], { cwd: ROOT, execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], env: { ...process.env } });
  let exited = false;
  const exit = new Promise<void>((resolve) => proc.once('exit', () => ((exited = true), resolve())));
  proc.on('error', (err) => console.error(`peers process (pid ${proc.pid}):`, err.message));
  const rpc = new Requester('main', { send: (m) => (proc.connected ? proc.send(m) : undefined) }, `peers ${index}`);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (exited) return;
      await rpc.request('close', {}, 8000).catch(() => undefined);
      if (proc.connected) proc.disconnect(); // the child exits on disconnect
      const term = setTimeout(() => proc.kill('SIGTERM'), 3000);
      const kill = setTimeout(() => proc.kill('SIGKILL'), 6000);
      await exit;
      clearTimeout(term);
      clearTimeout(kill);
    })());
  cleanups.add(`peers process (pid ${proc.pid})`, stop);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the peers process did not start within 30 s')), 30_000);
    proc.on('message', (raw) => {
      if (!isChildMessage(raw)) return;
      if (raw.kind === 'ready') return void (clearTimeout(timer), resolve());
      if (raw.kind === 'res') rpc.settle(raw);
    });
    void exit.then(() => (clearTimeout(timer), rpc.failAll('process exited'), reject(new Error('the peers process exited'))));
  });
  return { rpc, pid: proc.pid!, stop };
}

interface CaptureInfo {
  dir: string;
  seconds: number;
  videoKbps: number;
  audioKbps: number;
  packetsPerSec: number;
  fps: number;
  captureMs: number;
}

interface MediaStep {
  kind: 'idle' | 'bare rooms' | 'visits';
  /** 1:1 pairs (visits, or bare rooms); participants = 2 × pairs. */
  pairs: number;
  participants: number;
  /** Setting up the new pairs over REST, and joining them until each received the other's audio and video. */
  setupMs: number | null;
  connectMs: number | null;
  seconds: number;
  serverCpuPct: number | null;
  serverRssMB: number | null;
  /** (server CPU − idle server CPU) ÷ pairs. */
  cpuPctPerPair: number | null;
  /** What the publishers sent, as a share of the capture's real-time rate (under 100 %: the load generator lagged). */
  publishPct: number | null;
  /** What all participants received together. */
  forwardedPacketsPerSec: number;
  forwardedMbps: number;
  /** Of every participant, the smallest share of the other side's sent audio and video packets it received. */
  minDeliveryPct: number | null;
  meanDeliveryPct: number | null;
  /** Video frames received per second: the slowest participant, and the mean. */
  minFps: number | null;
  meanFps: number | null;
  /** Every participant connected and received at least 97 % of each kind the other side sent. */
  clean: boolean;
  peersCpuPct: number | null;
  machineBusyPct: number | null;
}

interface MediaResult {
  capture: CaptureInfo;
  idle: MediaStep;
  baseline: MediaStep | null;
  steps: MediaStep[];
  /** The largest visit count where every participant still received the other's media at the sent rate. */
  largestClean: number | null;
  stoppedBy: string;
  /** What ended the ramp: the server's core (the answer sought), the machine (delivery or the load generator gave
   *  out while the server had CPU to spare), the run time, the list of steps, or a failure. */
  limitedBy: 'server CPU' | 'machine' | 'time' | 'steps' | 'failure';
  /** Least-squares slope of server CPU (% of a core) over visits, idle server and clean steps. */
  slopePctPerVisit: number | null;
  /** (CPU limit − idle) ÷ slope: how many visits one core would carry at that cost (an extrapolation when limitedBy ≠ server CPU). */
  visitsPerCoreEstimate: number | null;
  skipped: number[];
  failure: string | null;
  /** At the baseline's pair count (when the ramp reached it): visits' server CPU ÷ bare rooms'. */
  visitsVsBare: { pairs: number; visitsCpuPct: number; bareCpuPct: number; ratio: number } | null;
}

async function sampleAll(server: Server, peers: Peers) {
  const procs = await peers.sample();
  return { at: performance.now(), serverCpuMs: processCpuMs(server.pid), machine: machineTicks(), procs, peers: procs.flatMap((p) => p.peers) };
}

/** Warms up, then measures one window of everything connected. */
async function measure(server: Server, peers: Peers, step: Pick<MediaStep, 'kind' | 'pairs' | 'setupMs' | 'connectMs'>, capture: CaptureInfo, idleCpu: number | null, warmupS: number): Promise<MediaStep> {
  await sleep(warmupS * 1000);
  const s0 = await sampleAll(server, peers);
  await sleep(SECONDS * 1000);
  const s1 = await sampleAll(server, peers);
  const seconds = (s1.at - s0.at) / 1000;
  const before = new Map(s0.peers.map((p) => [p.name, p]));
  const after = new Map(s1.peers.map((p) => [p.name, p]));
  const delta = (name: string, key: keyof Omit<PeerCounters, 'name' | 'partner' | 'connected'>) => (after.get(name)?.[key] ?? 0) - (before.get(name)?.[key] ?? 0);
  const ratios: number[] = [];
  const fps: number[] = [];
  let sent = 0;
  let received = 0;
  let bytes = 0;
  let connected = true;
  for (const p of s1.peers) {
    connected &&= p.connected;
    sent += delta(p.name, 'sentAudioPackets') + delta(p.name, 'sentVideoPackets');
    received += delta(p.name, 'audioPackets') + delta(p.name, 'videoPackets');
    bytes += delta(p.name, 'bytes');
    const audio = delta(p.partner, 'sentAudioPackets');
    const video = delta(p.partner, 'sentVideoPackets');
    ratios.push(Math.min(audio > 0 ? delta(p.name, 'audioPackets') / audio : 0, video > 0 ? delta(p.name, 'videoPackets') / video : 0));
    fps.push(delta(p.name, 'videoFrames') / seconds);
  }
  const participants = s1.peers.length;
  const serverCpuPct = s0.serverCpuMs !== null && s1.serverCpuMs !== null ? round(((s1.serverCpuMs - s0.serverCpuMs) / (s1.at - s0.at)) * 100, 1) : null;
  const minDelivery = ratios.length > 0 ? Math.min(...ratios) : null;
  const result: MediaStep = {
    ...step,
    participants,
    seconds: round(seconds, 2),
    serverCpuPct,
    serverRssMB: processRssMB(server.pid),
    cpuPctPerPair: step.pairs > 0 && serverCpuPct !== null && idleCpu !== null ? round((serverCpuPct - idleCpu) / step.pairs, 2) : null,
    publishPct: participants > 0 ? round((sent / seconds / (participants * capture.packetsPerSec)) * 100, 1) : null,
    forwardedPacketsPerSec: round(received / seconds, 0),
    forwardedMbps: round((bytes * 8) / seconds / 1e6, 2),
    minDeliveryPct: minDelivery === null ? null : round(minDelivery * 100, 1),
    meanDeliveryPct: ratios.length > 0 ? round((ratios.reduce((a, b) => a + b, 0) / ratios.length) * 100, 1) : null,
    minFps: fps.length > 0 ? round(Math.min(...fps), 1) : null,
    meanFps: fps.length > 0 ? round(fps.reduce((a, b) => a + b, 0) / fps.length, 1) : null,
    clean: false,
    peersCpuPct: round(s1.procs.reduce((sum, p, i) => sum + ((p.cpuMs - s0.procs[i]!.cpuMs) / (p.atMs - s0.procs[i]!.atMs)) * 100, 0), 1),
    machineBusyPct: busyPct(s0.machine, s1.machine),
  };
  result.clean = participants === 2 * step.pairs && connected && minDelivery !== null && minDelivery >= DELIVERY_MIN;
  if (step.pairs === 0) result.clean = true;
  return result;
}

/** Rooms-layer pairs without visits: a room each, two tokens from POST /tokens. */
async function bareRoomPairs(server: Server, clinician: Auth, pairs: number): Promise<PeerSpec[]> {
  const specs: PeerSpec[] = [];
  for (let i = 0; i < pairs; i++) {
    const room = `bench-pair-${i}`;
    await call(server, clinician, 'POST', '/api/v1/rooms', { name: room }, 201);
    for (const side of ['a', 'b'] as const) {
      const token = await call(server, clinician, 'POST', '/api/v1/tokens', { room, identity: `pair-${i}-${side}` }, 201);
      specs.push({ name: `pair-${i}-${side}`, group: 'baseline', partner: `pair-${i}-${side === 'a' ? 'b' : 'a'}`, token: token.token as string });
    }
  }
  return specs;
}

/** One visit as it happens: created and started, the patient joins, consents, waits and is admitted; both get tokens. */
async function visitPair(server: Server, clinician: Auth, n: number): Promise<PeerSpec[]> {
  const setup = await newVisit(server, clinician, n);
  const patient = await joinAndConsent(server, setup);
  const waiting = await call(server, patient, 'POST', `/api/v1/visits/${setup.visitId}/token`, undefined, 200);
  if (waiting.admission !== 'waiting') throw new Error(`visit ${n}: the patient's token says ${String(waiting.admission)}`);
  const host = await call(server, clinician, 'POST', `/api/v1/visits/${setup.visitId}/token`, undefined, 200);
  await call(server, clinician, 'POST', `/api/v1/visits/${setup.visitId}/participants/${setup.participantId}/admit`, {}, 200);
  return [
    { name: `v${n}-host`, group: 'visits', partner: `v${n}-patient`, token: host.token as string },
    { name: `v${n}-patient`, group: 'visits', partner: `v${n}-host`, token: waiting.token as string },
  ];
}

async function mediaPart(server: Server, clinician: { cookie: string }, deadline: number): Promise<MediaResult> {
  const peers = await startPeers(PEER_PROCESSES);
  const capture = await peers.prepare();
  process.stderr.write(
    `media: capture ${capture.videoKbps} kbit/s VP8 + ${capture.audioKbps} kbit/s Opus (RTP), ${round(capture.packetsPerSec, 0)} packets/s and ${round(capture.fps, 1)} fps per participant` +
      `${capture.captureMs > 1000 ? ` (made in ${(capture.captureMs / 1000).toFixed(1)} s)` : ''}\n`,
  );
  const connect = (specs: PeerSpec[]) => peers.connect(server.base, specs);

  // The idle server (nothing connected), then the baseline: bare rooms-layer pairs, then closed again.
  process.stderr.write('  idle server: ');
  const idle = await measure(server, peers, { kind: 'idle', pairs: 0, setupMs: null, connectMs: null }, capture, null, 1);
  process.stderr.write(`${idle.serverCpuPct ?? '–'} % CPU\n`);
  const idleCpu = idle.serverCpuPct;
  let baseline: MediaStep | null = null;
  const skipped: number[] = [];
  let failure: string | null = null;
  const stepBudgetMs = (pairs: number) => pairs * 400 + 8000 + (MEDIA_WARMUP_S + SECONDS) * 1000;
  if (BASELINE_PAIRS > 0 && Date.now() + stepBudgetMs(BASELINE_PAIRS) + TEARDOWN_RESERVE_MS < deadline) {
    process.stderr.write(`  bare rooms, ${BASELINE_PAIRS} pairs: `);
    try {
      const t0 = performance.now();
      const specs = await bareRoomPairs(server, clinician, BASELINE_PAIRS);
      const setupMs = performance.now() - t0;
      const connectMs = await connect(specs);
      baseline = await measure(server, peers, { kind: 'bare rooms', pairs: BASELINE_PAIRS, setupMs: round(setupMs, 0), connectMs }, capture, idleCpu, MEDIA_WARMUP_S);
      process.stderr.write(`${baseline.serverCpuPct ?? '–'} % CPU, delivery ≥ ${baseline.minDeliveryPct ?? '–'} %\n`);
    } catch (err) {
      failure = `bare rooms baseline: ${(err as Error).message}`;
      process.stderr.write('FAILED\n');
    }
    await peers.close('baseline');
    for (let i = 0; i < BASELINE_PAIRS; i++) await call(server, clinician, 'POST', `/api/v1/rooms/bench-pair-${i}/end`, {}).catch(() => undefined);
    await sleep(1000);
  }

  const steps: MediaStep[] = [];
  let stoppedBy = `the last step (${STEPS.at(-1)} visits) was measured`;
  let visits = 0;
  for (const [index, target] of STEPS.entries()) {
    if (failure) {
      skipped.push(...STEPS.slice(index));
      break;
    }
    if (Date.now() + stepBudgetMs(target - visits) + TEARDOWN_RESERVE_MS > deadline) {
      skipped.push(...STEPS.slice(index));
      stoppedBy = 'the run time limit was near';
      break;
    }
    process.stderr.write(`  ${target} visit${target === 1 ? '' : 's'}: `);
    try {
      const t0 = performance.now();
      const specs: PeerSpec[] = [];
      for (let n = visits; n < target; n++) specs.push(...(await visitPair(server, clinician, n)));
      const setupMs = performance.now() - t0;
      const connectMs = await connect(specs);
      visits = target;
      const step = await measure(server, peers, { kind: 'visits', pairs: target, setupMs: round(setupMs, 0), connectMs }, capture, idleCpu, MEDIA_WARMUP_S);
      steps.push(step);
      process.stderr.write(
        `set up ${(step.setupMs! / 1000).toFixed(1)} s, joined ${(connectMs / 1000).toFixed(1)} s; server ${step.serverCpuPct ?? '–'} % CPU, delivery ≥ ${step.minDeliveryPct ?? '–'} %, ` +
          `≥ ${step.minFps ?? '–'} fps, peers ${step.peersCpuPct ?? '–'} %, machine ${step.machineBusyPct ?? '–'} %\n`,
      );
      // Stop at saturation: the server's core, the delivery, or the load generator (the machine's load is reported, not
      // a reason by itself: other work on it shows up in these three when it matters).
      const reasons: string[] = [];
      if (step.serverCpuPct !== null && step.serverCpuPct >= CPU_LIMIT_PCT) reasons.push(`the server's CPU reached ${step.serverCpuPct} % of a core (limit ${CPU_LIMIT_PCT} %)`);
      if (!step.clean) reasons.push(`a participant received only ${step.minDeliveryPct ?? 0} % of the other's media (< ${DELIVERY_MIN * 100} %)`);
      if (step.publishPct !== null && step.publishPct < PUBLISH_MIN * 100) reasons.push(`the publishers (load generator) sent only ${step.publishPct} % of real time`);
      if (reasons.length > 0) {
        stoppedBy = reasons.join('; ');
        skipped.push(...STEPS.slice(index + 1));
        break;
      }
    } catch (err) {
      failure = `${target} visits: ${(err as Error).message}`;
      process.stderr.write('FAILED\n');
      skipped.push(...STEPS.slice(index + 1));
    }
  }
  await peers.stop();

  const largest = steps.filter((s) => s.clean).at(-1) ?? null;
  // Server CPU against visits over the clean steps (the idle server as 0): the per-visit cost, less noisy than one step.
  const points = [idle, ...steps.filter((s) => s.clean)].filter((s) => s.serverCpuPct !== null).map((s) => [s.pairs, s.serverCpuPct!] as const);
  let slope: number | null = null;
  if (points.length >= 3) {
    const mx = points.reduce((a, [x]) => a + x, 0) / points.length;
    const my = points.reduce((a, [, y]) => a + y, 0) / points.length;
    const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
    slope = sxx > 0 ? round(points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / sxx, 2) : null;
  }
  const lastStep = steps.at(-1);
  const limitedBy: MediaResult['limitedBy'] = failure
    ? 'failure'
    : lastStep && lastStep.serverCpuPct !== null && lastStep.serverCpuPct >= CPU_LIMIT_PCT
      ? 'server CPU'
      : lastStep && (!lastStep.clean || (lastStep.publishPct !== null && lastStep.publishPct < PUBLISH_MIN * 100))
        ? 'machine'
        : skipped.length > 0
          ? 'time'
          : 'steps';
  const same = baseline ? steps.find((s) => s.pairs === baseline.pairs) : undefined;
  return {
    capture,
    idle,
    baseline,
    steps,
    largestClean: largest?.pairs ?? null,
    stoppedBy: failure ? `a step failed (${failure})` : stoppedBy,
    limitedBy,
    slopePctPerVisit: slope,
    visitsPerCoreEstimate: slope !== null && slope > 0 ? Math.floor((CPU_LIMIT_PCT - (idle.serverCpuPct ?? 0)) / slope) : null,
    skipped,
    failure,
    visitsVsBare:
      baseline && same && same.serverCpuPct !== null && baseline.serverCpuPct !== null && baseline.serverCpuPct > 0
        ? { pairs: baseline.pairs, visitsCpuPct: same.serverCpuPct, bareCpuPct: baseline.serverCpuPct, ratio: round(same.serverCpuPct / baseline.serverCpuPct, 2) }
        : null,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Report.

function table(header: string[], rows: string[][], leftColumns = 1): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
}

const ms = (n: number) => n.toFixed(2);
const pct = (n: number | null, digits = 1) => (n === null ? '–' : `${n.toFixed(digits)} %`);

function printLatency(r: LatencyResult): void {
  console.log(`Waiting-room notification: ${r.samples} samples (after ${r.warmupSamples} warm-up), one at a time, ${r.seconds} s; server ${pct(r.serverCpuPct, 0)} CPU`);
  const row = (name: string, d: Distribution) => [name, String(d.n), ms(d.p50Ms), ms(d.p99Ms), ms(d.maxMs), ms(d.meanMs)];
  table(
    ['measured', 'n', 'p50 ms', 'p99 ms', 'max ms', 'mean ms'],
    [
      row('POST /visits/:id/token → visit.participant_waiting on the hub', r.waitingEvent),
      row('  (that request → its response)', r.waitingResponse),
      row('POST /join → consent → token → event (the patient’s whole arrival)', r.joinToEvent),
      row('baseline: PATCH /patients/:id → patient.updated on the hub', r.baselineEvent),
      row('  (that request → its response)', r.baselineResponse),
    ],
  );
  console.log(`The waiting-room path adds ${r.addedP50Ms} ms at p50 to a plain audited write's notification (${r.ratioP50 ?? '–'}x).`);
  for (const f of r.failures) console.log(`FAILED sample: ${f}`);
}

function printTokens(cases: TokenCase[]): void {
  console.log(`Token issuance: ${SECONDS} s × ${CONNECTIONS} connections after a ${WARMUP_SECONDS} s warm-up, autocannon on 127.0.0.1`);
  table(
    ['case', 'route', 'caller', 'req/s', 'p50 ms', 'p99 ms', 'errors/non-2xx', '× rooms', 'server CPU', 'loadgen CPU', 'machine'],
    cases.map((c) => [
      c.name,
      c.route,
      c.caller,
      Math.round(c.reqPerSec).toLocaleString('en-US'),
      ms(c.p50Ms),
      ms(c.p99Ms),
      String(tokenFailures(c)),
      c.ratioToRooms === null ? '–' : c.ratioToRooms.toFixed(2),
      c.serverCpuPct === null ? '–' : `${c.serverCpuPct} %`,
      `${c.loadgenCpuPct} %`,
      c.machineBusyPct === null ? '–' : `${c.machineBusyPct} %`,
    ]),
    3,
  );
}

function printMedia(r: MediaResult): void {
  console.log(
    `Concurrent 1:1 visits: each participant publishes ${r.capture.videoKbps} kbit/s VP8 + ${r.capture.audioKbps} kbit/s Opus (${round(r.capture.packetsPerSec, 0)} packets/s, ${round(r.capture.fps, 1)} fps) ` +
      `and receives the other's through the SFU; ${MEDIA_WARMUP_S} s warm-up, ${SECONDS} s per step`,
  );
  const rows = [r.idle, ...(r.baseline ? [r.baseline] : []), ...r.steps].map((s) => [
    s.kind,
    String(s.pairs),
    String(s.participants),
    pct(s.serverCpuPct),
    s.serverRssMB === null ? '–' : String(s.serverRssMB),
    s.cpuPctPerPair === null ? '–' : pct(s.cpuPctPerPair, 2),
    s.forwardedPacketsPerSec.toLocaleString('en-US'),
    s.forwardedMbps.toFixed(1),
    pct(s.publishPct),
    pct(s.minDeliveryPct),
    s.minFps === null ? '–' : s.minFps.toFixed(1),
    s.pairs === 0 ? '–' : s.clean ? 'yes' : 'NO',
    pct(s.peersCpuPct),
    s.machineBusyPct === null ? '–' : `${s.machineBusyPct} %`,
  ]);
  table(['kind', 'pairs', 'peers', 'server CPU', 'RSS MB', 'CPU/pair', 'fwd pkt/s', 'fwd Mbit/s', 'sent', 'min delivery', 'min fps', 'clean', 'peers CPU', 'machine'], rows);
  console.log(
    '(server CPU: % of one core, the whole server process (HTTP, database, hub, SFU); CPU/pair = (server CPU − idle) ÷ pairs; fwd: what all\n' +
      ' participants received, RTP header + payload; sent: publishers\' packets ÷ the capture\'s real-time rate; min delivery: the smallest share of\n' +
      ' the other side\'s audio and video packets any participant received; clean: every participant ≥ 97 %; peers CPU: the load generator\'s processes, summed)',
  );
  if (r.visitsVsBare) {
    console.log(`At ${r.visitsVsBare.pairs} pairs: visits ${r.visitsVsBare.visitsCpuPct} % vs bare rooms ${r.visitsVsBare.bareCpuPct} % of a core (${r.visitsVsBare.ratio}x).`);
  }
  console.log(`Stopped: ${r.stoppedBy}.${r.skipped.length > 0 ? ` Not run: ${r.skipped.join(', ')} visits.` : ''}`);
  console.log(
    `Largest clean step: ${r.largestClean ?? 'none'} concurrent visits. Server CPU per visit (slope over the clean steps): ${r.slopePctPerVisit ?? '–'} % of a core` +
      (r.visitsPerCoreEstimate === null ? '.' : `, so about ${r.visitsPerCoreEstimate} visits per core at ${CPU_LIMIT_PCT} %${r.limitedBy === 'server CPU' ? '' : ' (an extrapolation: the server did not reach that in this run)'}.`),
  );
  if (r.limitedBy === 'machine') {
    const last = r.steps.at(-1);
    console.log(
      `The limit here was the machine, not the server: at ${last?.pairs} visits the server used ${last?.serverCpuPct ?? '–'} % of a core while all ${os.cpus().length} cores were ` +
        `${last?.machineBusyPct ?? '–'} % busy (server, ${PEER_PROCESSES} load-generator processes at ${last?.peersCpuPct ?? '–'} % together, and anything else running).`,
    );
  }
  if (r.failure) console.log(`FAILED: ${r.failure}`);
}

// ---------------------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const started = Date.now();
  const deadline = started + RUN_LIMIT_MS;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'openvisit-bench-visits-'));
  cleanups.add(`temp dir ${tmp}`, () => rmSync(tmp, { recursive: true, force: true }));
  console.error(`OpenVisit visits benchmark (${DB}): parts ${[...PARTS].join(', ')}; ${os.cpus().length} cores, Node ${process.version}`);

  const { busyBeforePct, warnings } = await busyBeforeStart();

  const problems: string[] = [];
  let latency: LatencyResult | null = null;
  let tokens: TokenCase[] | null = null;
  let media: MediaResult | null = null;

  if (PARTS.has('latency') || PARTS.has('tokens')) {
    const server = await startServerFor('api', tmp);
    const clinician = await signIn(server);
    if (PARTS.has('latency')) {
      latency = await latencyPart(server, clinician, deadline);
      if (latency.failures.length > 0) problems.push(`waiting-room latency: ${latency.failures.length} failed samples (first: ${latency.failures[0]})`);
      if (latency.samples === 0) problems.push('waiting-room latency: no sample measured');
    }
    if (PARTS.has('tokens')) {
      tokens = await tokensPart(server, clinician);
      for (const c of tokens.filter((x) => tokenFailures(x) > 0)) {
        problems.push(`${c.name}: ${c.errors} errors, ${c.timeouts} timeouts, ${c.non2xx} non-2xx, ${c.warmupFailures} in the warm-up (status codes ${JSON.stringify(c.statusCodes)})`);
      }
    }
    await server.stop();
  }
  if (PARTS.has('media')) {
    // A fresh server: nothing left over from the load above (its rooms, its heap) colours the CPU figures.
    const server = await startServerFor('media', tmp);
    const clinician = await signIn(server);
    media = await mediaPart(server, clinician, deadline);
    if (media.failure) problems.push(`media: ${media.failure}`);
    await server.stop();
  }

  console.log('');
  if (latency) (printLatency(latency), console.log(''));
  if (tokens) (printTokens(tokens), console.log(''));
  if (media) (printMedia(media), console.log(''));

  const summary: string[] = [];
  if (latency) summary.push(`waiting-room event p50 ${latency.waitingEvent.p50Ms} ms / p99 ${latency.waitingEvent.p99Ms} ms (baseline audited write ${latency.baselineEvent.p50Ms} / ${latency.baselineEvent.p99Ms} ms)`);
  if (tokens) {
    const [rooms, patient, host] = tokens;
    summary.push(`visit tokens ${Math.round(patient!.reqPerSec)} req/s (patient), ${Math.round(host!.reqPerSec)} req/s (host) vs rooms tokens ${Math.round(rooms!.reqPerSec)} req/s (${patient!.ratioToRooms}x, ${host!.ratioToRooms}x)`);
  }
  if (media) {
    const last = media.steps.find((s) => s.pairs === media!.largestClean);
    summary.push(
      media.largestClean === null
        ? 'concurrent visits: no clean step'
        : `concurrent 1:1 visits: ${media.largestClean} clean (server ${last?.serverCpuPct ?? '–'} % of a core; ${media.slopePctPerVisit ?? '–'} % per visit` +
            `${media.baseline ? `, bare-room pair ${media.baseline.cpuPctPerPair ?? '–'} %` : ''}; limited by ${media.limitedBy})`,
    );
  }
  for (const w of warnings) console.log(`WARNING: ${w}`);
  if (problems.length > 0) {
    console.error('\nBENCHMARK FAILED:');
    for (const p of problems) console.error(`  - ${p}`);
  }
  console.log(summary.join('; '));
  const cpu = os.cpus();
  console.log(
    JSON.stringify({
      bench: 'visits',
      version: 1,
      date: new Date().toISOString(),
      commit: gitCommit(),
      machine: { cores: cpu.length, cpu: cpu[0]?.model ?? null, memGiB: round(os.totalmem() / 2 ** 30, 1), platform: `${os.platform()} ${os.release()}`, node: process.version },
      settings: {
        db: DB,
        seconds: SECONDS,
        connections: CONNECTIONS,
        warmupSeconds: WARMUP_SECONDS,
        samples: SAMPLES,
        latencySeconds: LATENCY_SECONDS,
        steps: STEPS,
        baselinePairs: BASELINE_PAIRS,
        cpuLimitPct: CPU_LIMIT_PCT,
        videoKbps: VIDEO_KBPS,
        peerProcesses: PEER_PROCESSES,
        parts: [...PARTS],
      },
      ok: problems.length === 0,
      problems,
      warnings,
      machineBusyBeforePct: busyBeforePct,
      loadAverage1m: round(os.loadavg()[0]!, 2),
      wallSeconds: round((Date.now() - started) / 1000, 1),
      latency,
      tokens: tokens ? Object.fromEntries(tokens.map((c) => [c.name, c])) : null,
      media,
    }),
  );
  return problems.length === 0 ? 0 : 1;
}

await runBench(main, cleanUp, RUN_LIMIT_MS);
