/**
 * `npm run bench:checkins` — issue 16's benchmark: how precisely a check-in call ends at its time limit when the
 * server ends it (the check-ins service's timer: the rooms layer's deadline), beside the way seed 003 did it (a timer
 * in each client). A script, not a test: it prints a table, the target's verdict (the call ends within 250 ms of its
 * limit at p99), and one JSON line of every figure.
 *
 * Each case runs BENCH_CALLS (50) concurrent calls of BENCH_LIMIT_SECONDS (15 s), two headless participants each:
 * werift peers on the builtin media plane's real signaling (test/helpers/rtc.ts's RtcClient), each publishing a
 * synthetic Opus-like microphone track (50 packets/s) and receiving the other's.
 *
 *   baseline  seed 003: bare rooms-layer rooms (POST /rooms, POST /tokens); each client, once its own connect
 *             resolved, sets setTimeout(limit), then leaves (hangs up) and asks the server to complete the room
 *             (POST /api/v1/rooms/:name/end, as seed 003's /complete). Its configured end: the later join + limit.
 *   checkins  the product: one care circle per call (a patient, its recipient member and a family caregiver, made by
 *             the host app's API key), the call made with POST /api/v1/checkins (caller the caregiver, callee the
 *             recipient, durationSeconds = the limit), the callee's ring acknowledged, both parties' tokens from
 *             POST /api/v1/checkins/:id/token (the API key naming each memberId). The server makes the call active
 *             when both are connected (started_at) and ends it at started_at + the limit. Its configured end:
 *             the call's startedAt + the limit.
 *
 * Figures per case, in ms after the configured end (negative: early), p50 / p99 / max and min over the calls:
 * `room end` is the server's record of the end (the call's completedAt = its room's ended_at, when the media was
 * cut; the room's ended_at for the baseline); `media end` is when the later of the call's two participants saw its
 * connection end (this process's clock, the same machine's); for the check-in calls also `durationMs − limit`
 * (GET /checkins/:id, read after the run). And the server's CPU over the case (process.cpuUsage in the server
 * process, from the first call created to the last one ended).
 *
 * Processes: the server in its own child (bench/checkins-server.ts: the builtin media plane and PGlite); the peers
 * in this process. Environment: BENCH_CALLS (50), BENCH_LIMIT_SECONDS (15), BENCH_CONNECT_CONCURRENCY (10),
 * BENCH_CASES (baseline,checkins), BENCH_LOG_LEVEL. Exit code 1 when a call did not connect or end, or the checkins
 * case misses the target.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RtcClient } from '../test/helpers/rtc.js';
import { busyBeforeStart, envNumber, gitCommit, installCleanups, runBench, startBenchChild, type BenchChild } from './common.js';

const SERVER = fileURLToPath(new URL('./checkins-server.ts', import.meta.url));
const CALLS = envNumber('BENCH_CALLS', 50, 1, 500);
const LIMIT_MS = envNumber('BENCH_LIMIT_SECONDS', 15, 1, 600) * 1000;
const CONCURRENCY = envNumber('BENCH_CONNECT_CONCURRENCY', 10, 1, 200);
const CASES = (process.env.BENCH_CASES ?? 'baseline,checkins').split(',').map((c) => c.trim()) as Case[];
/** The target: a room ends within this of its limit, at p99. */
const TARGET_MS = 250;

type Case = 'baseline' | 'checkins';
const cleanups = installCleanups();

interface Peer {
  call: number;
  identity: string;
  client: RtcClient | null;
  connectedAt: number | null;
  /** When its connection ended (the server closed it, or it left). */
  endedAt: number | null;
}

interface RoomReport {
  name: string;
  startedAt: number | null;
  endedAt: number | null;
  endReason: string | null;
  joins: number;
}

interface CallReport {
  id: string;
  status: string;
  startedAt: number | null;
  completedAt: number | null;
  durationMs: number | null;
  endReason: string | null;
  /** The call's room's deadline and end. */
  endsAt: number | null;
  roomEndedAt: number | null;
}

interface Stats {
  p50: number;
  p99: number;
  max: number;
  min: number;
}

function percentile(xs: readonly number[], p: number): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
const stats = (xs: readonly number[]): Stats => ({ p50: percentile(xs, 50), p99: percentile(xs, 99), max: Math.max(...xs), min: Math.min(...xs) });

/** Runs `tasks` with at most `n` at a time. */
async function limited<T>(n: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await tasks[i]!();
      }
    }),
  );
  return out;
}

type Api = (method: string, url: string, body?: unknown) => Promise<Record<string, unknown>>;

/** One call to connect: its name in the logs, its id (the check-in's, or the baseline's room name) and both tokens. */
interface CallSetup {
  name: string;
  id: string;
  tokens: { identity: string; token: string }[];
}

/** A care circle per call, through the care API (the host app's API key): a patient, a family caregiver (which makes the recipient's member). */
async function circles(api: Api, which: Case): Promise<{ caller: string; callee: string }[]> {
  return limited(
    CONCURRENCY,
    Array.from({ length: CALLS }, (_, i) => async () => {
      const patient = await api('POST', '/api/v1/patients', { givenName: 'Bench', familyName: `Recipient ${which} ${i}` });
      const base = `/api/v1/care/recipients/${String(patient.id)}`;
      const caregiver = await api('POST', `${base}/caregivers`, { displayName: `Caregiver ${i}`, relationship: 'daughter' });
      const members = (await api('GET', `${base}/members`)) as unknown as { id: string; kind: string }[];
      const recipient = members.find((m) => m.kind === 'recipient');
      if (!recipient) throw new Error(`${base}: no recipient member`);
      return { caller: String(caregiver.id), callee: recipient.id };
    }),
  );
}

async function runCase(server: BenchChild, base: string, apiKey: string, which: Case) {
  const api: Api = async (method, url, body) => {
    const res = await fetch(`${base}${url}`, {
      method,
      headers: { authorization: `Bearer ${apiKey}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${url} answered ${res.status}: ${text.slice(0, 200)}`);
    return text ? (JSON.parse(text) as Record<string, unknown>) : {};
  };
  const parties = which === 'checkins' ? await circles(api, which) : [];
  const cpu0 = await server.command('cpu');
  // Each call and one token per party: a check-in call (it rings; the callee's app acknowledges; each party answers
  // with its token), or the baseline's bare room (a check-in call's shape: two people, a ring window).
  const setups: CallSetup[] = await limited(
    CONCURRENCY,
    Array.from({ length: CALLS }, (_, i) => async (): Promise<CallSetup> => {
      if (which === 'checkins') {
        const { caller, callee } = parties[i]!;
        const call = await api('POST', '/api/v1/checkins', { callerMemberId: caller, calleeMemberId: callee, durationSeconds: LIMIT_MS / 1000 });
        const id = String(call.id);
        await api('POST', `/api/v1/checkins/${id}/ring`, { memberId: callee });
        const tokens = await Promise.all(
          [caller, callee].map(async (memberId) => ({ identity: memberId, token: String((await api('POST', `/api/v1/checkins/${id}/token`, { memberId })).token) })),
        );
        return { name: `checkin-${i}`, id, tokens };
      }
      const name = `ck-${which}-${i}`;
      await api('POST', '/api/v1/rooms', { name, maxParticipants: 2, unusedRoomTimeoutSeconds: 180, emptyRoomTimeoutSeconds: 60 });
      const tokens = await Promise.all(['caller', 'callee'].map(async (identity) => ({ identity, token: String((await api('POST', '/api/v1/tokens', { room: name, identity })).token) })));
      return { name, id: name, tokens };
    }),
  );
  const peers: Peer[] = setups.flatMap((setup, call) => setup.tokens.map(({ identity }) => ({ call, identity, client: null, connectedAt: null, endedAt: null })));
  const timers: NodeJS.Timeout[] = [];
  let failures = 0;
  // Every participant connects as soon as it can (all calls at once, CONCURRENCY handshakes at a time).
  await limited(
    CONCURRENCY,
    peers.map((peer) => async () => {
      const setup = setups[peer.call]!;
      const token = setup.tokens.find((t) => t.identity === peer.identity)!.token;
      try {
        const client = await RtcClient.connect(base, token, `${setup.name}/${peer.identity.slice(0, 8)}`, { publish: ['microphone'] });
        peer.client = client;
        peer.connectedAt = Date.now();
        // The end as the participant meets it: the server's `bye` (the SDK leaves on it), or the socket closing.
        client.ws.on('message', (raw) => {
          if (peer.endedAt === null && String(raw).startsWith('{"type":"bye"')) peer.endedAt = Date.now();
        });
        client.ws.once('close', () => (peer.endedAt ??= Date.now()));
        if (which === 'baseline') {
          // Seed 003: `setTimeout(() => { room.disconnect(); fetch('/complete') }, 15000)` once connected.
          timers.push(
            setTimeout(() => {
              client.send({ type: 'leave' });
              peer.endedAt ??= Date.now();
              void api('POST', `/api/v1/rooms/${setup.name}/end`).catch((err: unknown) => (failures++, console.error(String(err))));
            }, LIMIT_MS),
          );
        }
      } catch (err) {
        failures++;
        console.error(`${setup.name}/${peer.identity} did not connect: ${(err as Error).message}`);
      }
    }),
  );
  const connectedBy = Date.now();
  // Until every call has ended (or the limit plus 30 s from the last connect).
  const giveUp = connectedBy + LIMIT_MS + 30_000;
  const ids = new Set(setups.map((c) => c.id));
  let rooms: RoomReport[] = [];
  let calls: CallReport[] = [];
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const r = await server.command('report');
    rooms = (r.rooms as RoomReport[]).filter((x) => ids.has(x.name));
    calls = (r.calls as CallReport[]).filter((x) => ids.has(x.id));
    const ended = which === 'checkins' ? calls.length === CALLS && calls.every((c) => c.completedAt !== null) : rooms.length === CALLS && rooms.every((x) => x.endedAt !== null);
    if ((ended && peers.every((p) => p.endedAt !== null || p.client === null)) || Date.now() > giveUp) break;
  }
  const cpu1 = await server.command('cpu');
  for (const t of timers) clearTimeout(t);
  await Promise.all(peers.map((p) => p.client?.close()));

  const roomLate: number[] = [];
  const mediaLate: number[] = [];
  const durationLate: number[] = [];
  const reasons = new Map<string, number>();
  for (const [call, setup] of setups.entries()) {
    const pair = peers.filter((p) => p.call === call);
    let configured: number | null;
    let ended: number | null;
    let reason: string | null;
    if (which === 'checkins') {
      const c = calls.find((x) => x.id === setup.id);
      configured = c?.startedAt != null ? c.startedAt + LIMIT_MS : null;
      ended = c?.completedAt ?? null;
      reason = c?.endReason ?? c?.status ?? null;
      if (c && configured !== null && c.endsAt !== configured) console.error(`${setup.name}: the room's deadline ${c.endsAt} is not startedAt + the limit ${configured}`);
    } else {
      const room = rooms.find((x) => x.name === setup.id);
      configured = room?.startedAt != null && room.joins >= 2 ? room.startedAt + LIMIT_MS : null;
      ended = room?.endedAt ?? null;
      reason = room?.endReason ?? null;
    }
    if (configured === null) {
      failures++;
      console.error(`${setup.name}: the call never started`);
      continue;
    }
    if (ended === null || pair.some((p) => p.endedAt === null)) {
      failures++;
      console.error(`${setup.name}: the call did not end`);
      continue;
    }
    reasons.set(reason ?? '?', (reasons.get(reason ?? '?') ?? 0) + 1);
    roomLate.push(ended - configured);
    mediaLate.push(Math.max(...pair.map((p) => p.endedAt!)) - configured);
  }
  if (which === 'checkins') {
    // The call's record as the API answers it (after the run: no extra load while measuring).
    for (const setup of setups) {
      const c = await api('GET', `/api/v1/checkins/${setup.id}`);
      if (typeof c.durationMs === 'number') durationLate.push(c.durationMs - LIMIT_MS);
    }
  }
  const cpuMs = (Number(cpu1.cpuUs) - Number(cpu0.cpuUs)) / 1000;
  const wallMs = Number(cpu1.at) - Number(cpu0.at);
  return {
    case: which,
    calls: roomLate.length,
    room: roomLate.length ? stats(roomLate) : null,
    media: mediaLate.length ? stats(mediaLate) : null,
    duration: durationLate.length ? stats(durationLate) : null,
    endReasons: Object.fromEntries(reasons),
    serverCpuMs: Math.round(cpuMs),
    serverCpuPct: Math.round((cpuMs / wallMs) * 1000) / 10,
    wallMs,
    failures,
  };
}

async function main(): Promise<number> {
  const { busyBeforePct } = await busyBeforeStart();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'openvisit-bench-checkins-'));
  cleanups.add('data', async () => rmSync(dir, { recursive: true, force: true }));
  const server = await startBenchChild('checkins', SERVER, [dir], cleanups);
  const base = `http://127.0.0.1:${Number(server.ready.port)}`;
  const apiKey = String(server.ready.apiKey);
  console.log(`${CALLS} concurrent calls of ${LIMIT_MS / 1000} s, two headless media participants each (audio), builtin media, PGlite; commit ${gitCommit() ?? '?'}`);
  const results = [];
  for (const which of CASES) {
    console.error(`… ${which}`);
    results.push(await runCase(server, base, apiKey, which));
  }
  const fmt = (n: number | undefined) => (n === undefined ? '–' : String(Math.round(n))).padStart(7);
  console.log('\nEnd time minus the configured limit (ms; negative: early), over the calls');
  console.log(`${'case'.padEnd(10)} ${'calls'.padStart(5)} │ ${'room end: p50'.padStart(13)} ${'p99'.padStart(7)} ${'max'.padStart(7)} ${'min'.padStart(7)} │ ${'media end: p50'.padStart(14)} ${'p99'.padStart(7)} ${'max'.padStart(7)} ${'min'.padStart(7)} │ server CPU`);
  for (const r of results) {
    console.log(
      `${r.case.padEnd(10)} ${String(r.calls).padStart(5)} │ ${fmt(r.room?.p50).padStart(13)} ${fmt(r.room?.p99)} ${fmt(r.room?.max)} ${fmt(r.room?.min)} │ ${fmt(r.media?.p50).padStart(14)} ${fmt(r.media?.p99)} ${fmt(r.media?.max)} ${fmt(r.media?.min)} │ ${r.serverCpuMs} ms (${r.serverCpuPct} % of a core over ${(r.wallMs / 1000).toFixed(1)} s)`,
    );
  }
  for (const r of results.filter((x) => x.duration)) {
    console.log(`${r.case}: durationMs − limit (GET /checkins/:id): p50 ${r.duration!.p50} p99 ${r.duration!.p99} max ${r.duration!.max} min ${r.duration!.min}`);
  }
  console.log(`end reasons: ${results.map((r) => `${r.case} ${JSON.stringify(r.endReasons)}`).join('; ')}`);
  let failed = results.reduce((n, r) => n + r.failures, 0);
  for (const r of results.filter((x) => x.case !== 'baseline')) {
    const worst = Math.max(r.room?.p99 ?? Infinity, r.media?.p99 ?? Infinity);
    const early = Math.min(r.room?.min ?? -Infinity, r.media?.min ?? -Infinity);
    const ok = worst <= TARGET_MS && early >= 0;
    console.log(`target (${r.case}): the call ends within ${TARGET_MS} ms of its limit at p99, never before it: ${ok ? 'MET' : 'MISSED'} (p99 ${Math.round(worst)} ms late, earliest ${Math.round(early)} ms)`);
    if (!ok) failed++;
  }
  console.log(JSON.stringify({ bench: 'checkins', commit: gitCommit(), busyBeforePct, calls: CALLS, limitMs: LIMIT_MS, targetMs: TARGET_MS, results }));
  return failed === 0 ? 0 : 1;
}

await runBench(main, cleanups.run, 600_000);
