/**
 * `npm run bench:media` — what the embedded SFU (src/server/rooms/builtin/sfu) costs to forward media. A script,
 * not a test: it prints a table and a summary line, and writes every figure to bench/results/media.json.
 *
 * Headless forwarding: one publisher (audio + video) and N subscribers, N = 0, 1, 2, 4, 8, 16, 32, 64, all in one
 * room, so the SFU forwards N audio+video stream pairs (2N tracks). Each step adds subscribers to the ones already
 * connected, waits until every one receives audio and video, warms up, then measures: the SFU process's CPU (% of
 * one core, process.cpuUsage deltas) and RSS, and what the subscribers received (RTP packets/s and Mbit/s, RTP
 * header + payload, without SRTP/UDP/IP overhead). The baseline, measured in the same run, is N = 0 (the
 * publisher alone: receive, decrypt, REMB and stats timers). The cost of forwarding is then
 *   CPU per forwarded 1 Mbps stream = (CPU(N) − CPU(0)) / (forwarded Mbit/s at N)
 * and the target (issue 3) is at most 0.5 % of one core.
 *
 * Processes: the SFU runs alone in a child (bench/media-sfu.ts); the publisher and the subscribers are werift
 * peers in two more children (bench/media-peers.ts), so neither the load generators nor this coordinator are
 * counted as SFU CPU, and the publisher's real-time pacing does not compete with 64 subscribers' decryption.
 * Signaling is relayed over Node's IPC channels by this process (bench/media-ipc.ts). Media stays on 127.0.0.1.
 *
 * Bounded: a fixed list of steps, a time limit per step, a watchdog on the whole run, and every child is stopped
 * (by its own pid) on success, failure, Ctrl-C and timeout. Children also exit when this process goes away.
 *
 * Environment: BENCH_MEDIA_STEPS (comma-separated subscriber counts, ascending, starting at 0; default
 * 0,1,2,4,8,16,32,64), BENCH_MEDIA_SECONDS (5), BENCH_MEDIA_WARMUP_SECONDS (2), BENCH_MEDIA_VIDEO_KBPS (950: the
 * publisher's VP8 target; Opus adds 48 kbit/s), BENCH_NODE_ARGS (extra node flags for the SFU process, e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof`).
 * Exit code 1 if a step failed to run (not for a missed target: that is a finding, printed as MISS).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { formatDistribution, JOIN_TARGET_RATIO, measureJoinTimes } from './media-join.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Requester, isChildMessage, type Message, type ProcessSample } from './media-ipc.js';
import { busyBeforeStart, busyPct, envNumber, gitCommit, machineTicks, ROOT, runBench } from './common.js';

const RESULTS = fileURLToPath(new URL('./results/media.json', import.meta.url));


const STEPS = (process.env.BENCH_MEDIA_STEPS ?? '0,1,2,4,8,16,32,64').split(',').map((s) => Number(s.trim()));
if (STEPS[0] !== 0 || STEPS.some((n, i) => !Number.isInteger(n) || n < 0 || n > 64 || (i > 0 && n <= STEPS[i - 1]!))) {
  throw new Error('BENCH_MEDIA_STEPS must be ascending integers from 0 to at most 64, starting with 0 (the baseline)');
}
const MEASURE_S = envNumber('BENCH_MEDIA_SECONDS', 5, 1);
const WARMUP_S = envNumber('BENCH_MEDIA_WARMUP_SECONDS', 2, 0);
/** The publisher's video target: with 48 kbit/s of Opus, about 1 Mbps per audio+video stream. */
const VIDEO_KBPS = envNumber('BENCH_MEDIA_VIDEO_KBPS', 950, 50);
/** One loop of the replayed capture. */
const CLIP_SECONDS = 10;
/** Issue 3: the SFU may spend at most this much of one core per forwarded 1 Mbps audio+video stream. */
const TARGET_PCT_PER_STREAM = 0.5;
/** A step is clean when packets into and out of the SFU match what was sent to within this. */
const CLEAN_TOLERANCE_PCT = 2;
/** Joining a step's new subscribers (ICE, DTLS, first keyframe) must finish within this. */
const JOIN_LIMIT_MS = 45_000;
/** The whole run, start-up and teardown included; a watchdog stops everything after it. */
const RUN_LIMIT_MS = 240_000;
/** No step starts unless it can finish (join, warm-up, measurement) before the run limit, with this margin. */
const TEARDOWN_RESERVE_MS = 15_000;

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------------------
// Cleanup: every child process is stopped (by its own pid) on success, failure, Ctrl-C and timeout.

process.on('uncaughtException', (err) => {
  console.error('\nBENCHMARK FAILED (uncaught):', err);
  void stopChildren().then(() => process.exit(1));
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    console.error(`\n${signal}: stopping the child processes…`);
    void stopChildren().then(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------------------
// Child processes and the signaling relay.

type ChildName = 'sfu' | 'pub' | 'subs';

interface Child {
  name: ChildName;
  proc: ChildProcess;
  pid: number;
  /** Requests from this process to the child. */
  rpc: Requester;
  /** Idempotent: asks the child to close its peers, then SIGTERM, then SIGKILL, each bounded. */
  stop(): Promise<void>;
}

const children = new Map<ChildName, Child>();

/** Stops every child still running: subscribers and publisher first, then the SFU. */
async function stopChildren(): Promise<void> {
  const order: ChildName[] = ['subs', 'pub', 'sfu'];
  for (const name of order) {
    const child = children.get(name);
    if (!child) continue;
    try {
      await child.stop();
    } catch (err) {
      console.error(`stopping ${name} (pid ${child.pid}) failed:`, (err as Error).message);
    }
    children.delete(name);
  }
}

function send(name: ChildName, message: Message): void {
  const child = children.get(name);
  if (child?.proc.connected) child.proc.send(message);
}

async function startChild(name: ChildName, script: string, args: string[]): Promise<Child> {
  // Extra node flags for the SFU process only, e.g. BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = name === 'sfu' ? (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean) : [];
  const proc = fork(fileURLToPath(new URL(script, import.meta.url)), args, {
    cwd: ROOT,
    execArgv: [...nodeArgs, '--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env },
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => proc.once('exit', () => ((exited = true), resolve())));
  proc.on('error', (err) => console.error(`${name} process (pid ${proc.pid}):`, err.message)); // e.g. a send after it died
  const rpc = new Requester('main', { send: (m) => (proc.connected ? proc.send(m) : undefined) }, name);
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (exited) return;
      await rpc.request('close', {}, 5000).catch(() => undefined);
      if (proc.connected) proc.disconnect(); // the child exits on disconnect
      const term = setTimeout(() => proc.kill('SIGTERM'), 2000);
      const kill = setTimeout(() => proc.kill('SIGKILL'), 4000);
      await exit;
      clearTimeout(term);
      clearTimeout(kill);
    })());
  const child: Child = { name, proc, pid: proc.pid!, rpc, stop };
  children.set(name, child);
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} process did not start within 30 s`)), 30_000);
    proc.on('message', (raw) => {
      if (!isChildMessage(raw)) return;
      if (raw.kind === 'ready') return void (clearTimeout(timer), resolve());
      relay(name, raw);
    });
    void exit.then(() => {
      clearTimeout(timer);
      rpc.failAll('process exited');
      reject(new Error(`${name} process exited before it was ready`));
    });
  });
  await ready;
  return child;
}

/** Routes one message from a child: peers' requests go to the SFU; the SFU's answers and events go back. */
function relay(from: ChildName, message: Message): void {
  if (message.kind === 'res') {
    if (message.to === 'main') children.get(from)?.rpc.settle(message);
    else send(message.to, message);
  } else if (message.kind === 'req' && from !== 'sfu') {
    send('sfu', message);
  } else if (message.kind === 'evt') {
    if (message.to !== 'main') send(message.to, message);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Machine load (Linux /proc; null elsewhere): the figures are only comparable when nothing else ran.


// ---------------------------------------------------------------------------------------------------------
// Section: headless forwarding cost.

interface SfuSample extends ProcessSample {
  participants: number;
  connected: number;
  slots: number;
  packetsSent: number;
  packetsReceived: number;
}
interface PubSample extends ProcessSample {
  packetsSent: number;
  bytesSent: number;
  /** Keyframe rewinds the replayed video did for PLIs (cumulative). */
  rewinds: number;
}
interface SubsSample extends ProcessSample {
  subscribers: number;
  packets: number;
  bytes: number;
  perSubscriberPackets: number[];
}

interface Step {
  /** Subscribers = forwarded audio+video stream pairs. */
  subscribers: number;
  tracks: number;
  joinMs: number | null;
  seconds: number;
  sfuCpuPct: number;
  sfuRssMB: number;
  /** What the publisher sent (its replay sources' counters): the input of every forwarded stream. */
  publisherPacketsPerSec: number;
  publisherMbps: number;
  /** What the SFU received from the publisher and handed to its senders (its own counters; retransmissions included). */
  sfuInPacketsPerSec: number;
  sfuForwardedPacketsPerSec: number;
  forwardedPacketsPerSec: number;
  forwardedMbps: number;
  /** Packets the SFU received ÷ packets the publisher sent: below 100 % lost upstream, above it retransmitted (NACK). */
  upstreamPct: number | null;
  /** Packets the subscribers received ÷ packets the SFU handed to its senders: the same, downstream. */
  downstreamPct: number | null;
  /** Both within ±2 %: nothing was dropped or repaired in bulk, so the CPU figure is of plain forwarding. */
  clean: boolean;
  /** The slowest subscriber's share of the mean, to spot one starved peer. */
  minSubscriberShare: number | null;
  /** (CPU(N) − CPU(0)) / forwarded Mbit/s; null at N = 0. */
  cpuPctPerMbps: number | null;
  publisherCpuPct: number;
  subscribersCpuPct: number;
  machineBusyPct: number | null;
}

/** The replayed publisher media (test/helpers/replay.ts), as encoded: RTP header + payload rates over the clip. */
interface Capture {
  dir: string;
  seconds: number;
  videoKbps: number;
  audioKbps: number;
  captureMs: number;
}

interface ForwardingResult {
  capture: Capture;
  steps: Step[];
  /** Steps not run: after a failure, or when the run limit was near. */
  skipped: number[];
  /** The step that could not be measured (the run exits 1). */
  failure: { subscribers: number; error: string } | null;
  targetPctPerMbps: number;
  /** The figure judged against the target: the largest clean N (the most signal over the noise). */
  headline: { subscribers: number; cpuPctPerMbps: number; clean: boolean } | null;
  /** Least-squares slope of SFU CPU % over forwarded Mbit/s across the clean steps (N = 0 included). */
  slopePctPerMbps: number | null;
  verdict: 'PASS' | 'MISS' | 'n/a';
}

const cpuPct = (a: ProcessSample, b: ProcessSample) => ((b.cpuMs - a.cpuMs) / (b.atMs - a.atMs)) * 100;

async function forwardingSection(deadline: number): Promise<ForwardingResult> {
  const sfu = await startChild('sfu', './media-sfu.ts', []);
  const pub = await startChild('pub', './media-peers.ts', ['pub']);
  const subs = await startChild('subs', './media-peers.ts', ['subs']);
  // The first run encodes the capture with ffmpeg (cached in the OS temp directory afterwards).
  const published = await pub.rpc.request<{ capture: Capture }>('publish', { videoKbps: VIDEO_KBPS, clipSeconds: CLIP_SECONDS }, 120_000);
  const capture = published.capture;
  process.stderr.write(`publisher connected: capture ${capture.videoKbps} kbit/s VP8 + ${capture.audioKbps} kbit/s Opus (RTP), ${capture.dir}${capture.captureMs > 1000 ? `, made in ${(capture.captureMs / 1000).toFixed(1)} s` : ''}\n`);

  const steps: Step[] = [];
  const skipped: number[] = [];
  let failure: { subscribers: number; error: string } | null = null;
  /** One step: bring the subscribers up to n, warm up, measure. Throws when a step cannot be measured. */
  const runStep = async (n: number): Promise<Step> => {
    let joinMs: number | null = null;
    if (n > 0) {
      const joined = await subs.rpc.request<{ ms: number; joined: number }>('subscribe', { count: n, concurrency: 8, timeoutMs: JOIN_LIMIT_MS }, JOIN_LIMIT_MS + 5000);
      joinMs = joined.ms;
      process.stderr.write(`${joined.joined} joined in ${(joined.ms / 1000).toFixed(1)} s, `);
    }
    await sleep(WARMUP_S * 1000);
    const sample = () =>
      Promise.all([
        sfu.rpc.request<SfuSample>('sample'),
        pub.rpc.request<PubSample>('sample'),
        subs.rpc.request<SubsSample>('sample'),
        Promise.resolve(machineTicks()),
      ] as const);
    const [s0, p0, r0, m0] = await sample();
    await sleep(MEASURE_S * 1000);
    const [s1, p1, r1, m1] = await sample();

    const seconds = (r1.atMs - r0.atMs) / 1000;
    const pubSeconds = (p1.atMs - p0.atMs) / 1000;
    const sfuSeconds = (s1.atMs - s0.atMs) / 1000;
    const publisherPacketsPerSec = (p1.packetsSent - p0.packetsSent) / pubSeconds;
    const sfuInPacketsPerSec = (s1.packetsReceived - s0.packetsReceived) / sfuSeconds;
    const forwardedPacketsPerSec = (r1.packets - r0.packets) / seconds;
    const perSub = r1.perSubscriberPackets.map((v, i) => v - (r0.perSubscriberPackets[i] ?? 0));
    const meanPerSub = perSub.length > 0 ? perSub.reduce((a, b) => a + b, 0) / perSub.length : 0;
    const step: Step = {
      subscribers: n,
      tracks: 2 * n,
      joinMs,
      seconds: round(seconds, 2),
      sfuCpuPct: round(cpuPct(s0, s1), 2),
      sfuRssMB: round(s1.rssMB, 0),
      publisherPacketsPerSec: round(publisherPacketsPerSec, 0),
      publisherMbps: round(((p1.bytesSent - p0.bytesSent) * 8) / pubSeconds / 1e6, 3),
      sfuInPacketsPerSec: round(sfuInPacketsPerSec, 0),
      sfuForwardedPacketsPerSec: round((s1.packetsSent - s0.packetsSent) / sfuSeconds, 0),
      forwardedPacketsPerSec: round(forwardedPacketsPerSec, 0),
      forwardedMbps: round(((r1.bytes - r0.bytes) * 8) / seconds / 1e6, 3),
      upstreamPct: publisherPacketsPerSec > 0 ? round((sfuInPacketsPerSec / publisherPacketsPerSec) * 100, 1) : null,
      downstreamPct: s1.packetsSent > s0.packetsSent ? round(((r1.packets - r0.packets) / (s1.packetsSent - s0.packetsSent)) * 100, 1) : null,
      clean: false,
      minSubscriberShare: perSub.length > 0 && meanPerSub > 0 ? round(Math.min(...perSub) / meanPerSub, 2) : null,
      cpuPctPerMbps: null,
      publisherCpuPct: round(cpuPct(p0, p1), 1),
      subscribersCpuPct: round(cpuPct(r0, r1), 1),
      machineBusyPct: busyPct(m0, m1),
    };
    if (r1.subscribers !== n || s1.connected !== n + 1) throw new Error(`N=${n}: ${r1.subscribers} subscribers, ${s1.connected} SFU sessions connected (expected ${n} and ${n + 1})`);
    const near100 = (v: number | null) => v !== null && Math.abs(v - 100) <= CLEAN_TOLERANCE_PCT;
    step.clean = near100(step.upstreamPct) && (n === 0 || near100(step.downstreamPct));
    const base = steps[0];
    if (n > 0 && base && step.forwardedMbps > 0) step.cpuPctPerMbps = round((step.sfuCpuPct - base.sfuCpuPct) / step.forwardedMbps, 3);
    process.stderr.write(`SFU ${step.sfuCpuPct.toFixed(1)} % CPU, ${step.forwardedMbps.toFixed(1)} Mbit/s forwarded\n`);
    return step;
  };

  for (const n of STEPS) {
    const stepBudget = JOIN_LIMIT_MS + (WARMUP_S + MEASURE_S) * 1000;
    if (Date.now() + stepBudget + TEARDOWN_RESERVE_MS > deadline && steps.length > 0) {
      // Count only what is sure to finish: the rest is reported as skipped, never guessed.
      skipped.push(...STEPS.slice(STEPS.indexOf(n)));
      break;
    }
    process.stderr.write(`N=${n}: `);
    try {
      steps.push(await runStep(n));
    } catch (error) {
      // Keep what was measured: the table and the JSON still show the steps before, and the run exits 1.
      failure = { subscribers: n, error: error instanceof Error ? error.message : String(error) };
      process.stderr.write(`FAILED\n`);
      skipped.push(...STEPS.slice(STEPS.indexOf(n) + 1));
      break;
    }
  }

  // Judge the largest N that forwarded cleanly; a step with bulk loss or retransmission measured a starved SFU
  // (or machine), not forwarding. Only when no step was clean is the largest one used, and said so.
  const measured = steps.filter((s) => s.cpuPctPerMbps !== null);
  const cleanSteps = steps.filter((s) => s.clean);
  const judged = measured.filter((s) => s.clean).at(-1) ?? measured.at(-1);
  const headline = judged ? { subscribers: judged.subscribers, cpuPctPerMbps: judged.cpuPctPerMbps!, clean: judged.clean } : null;
  return {
    capture,
    steps,
    skipped,
    failure,
    targetPctPerMbps: TARGET_PCT_PER_STREAM,
    headline,
    slopePctPerMbps: slope((cleanSteps.length >= 2 ? cleanSteps : steps).map((s) => [s.forwardedMbps, s.sfuCpuPct])),
    verdict: headline ? (headline.cpuPctPerMbps <= TARGET_PCT_PER_STREAM ? 'PASS' : 'MISS') : 'n/a',
  };
}

function slope(points: [number, number][]): number | null {
  if (points.length < 2) return null;
  const mx = points.reduce((a, [x]) => a + x, 0) / points.length;
  const my = points.reduce((a, [, y]) => a + y, 0) / points.length;
  const sxx = points.reduce((a, [x]) => a + (x - mx) ** 2, 0);
  return sxx > 0 ? round(points.reduce((a, [x, y]) => a + (x - mx) * (y - my), 0) / sxx, 3) : null;
}

function printForwarding(result: ForwardingResult): void {
  const header = ['N (pairs)', 'tracks', 'SFU CPU', 'SFU RSS MB', 'fwd pkt/s', 'fwd Mbit/s', 'up', 'down', 'CPU/Mbps', 'pub Mbit/s', 'pub CPU', 'subs CPU', 'machine'];
  const pct = (n: number | null, digits = 1) => (n === null ? '–' : `${n.toFixed(digits)} %`);
  const rows = result.steps.map((s) => [
    String(s.subscribers),
    String(s.tracks),
    pct(s.sfuCpuPct),
    String(s.sfuRssMB),
    s.forwardedPacketsPerSec.toLocaleString('en-US'),
    s.forwardedMbps.toFixed(2),
    pct(s.upstreamPct),
    pct(s.downstreamPct),
    s.cpuPctPerMbps === null ? 'baseline' : pct(s.cpuPctPerMbps, 3),
    s.publisherMbps.toFixed(2),
    pct(s.publisherCpuPct),
    pct(s.subscribersCpuPct),
    s.machineBusyPct === null ? '–' : `${s.machineBusyPct} %`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i]!)).join('  ');
  console.log('Headless forwarding: 1 publisher (audio+video) → N subscribers through the SFU (werift peers, loopback)');
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows) console.log(line(row));
  console.log(
    '(CPU: % of one core, per process. CPU/Mbps = (SFU CPU(N) − SFU CPU(0)) ÷ forwarded Mbit/s, i.e. per forwarded 1 Mbps stream;\n' +
      ' Mbit/s: RTP header + payload as received; up = packets into the SFU ÷ packets the publisher sent, down = packets the subscribers\n' +
      ' received ÷ packets the SFU sent: under 100 % lost, over 100 % retransmitted after NACKs; machine: % of all cores)',
  );
  const base = result.steps[0];
  if (base) console.log(`Baseline (N = 0, publisher only): SFU ${base.sfuCpuPct.toFixed(1)} % of one core, ${base.sfuRssMB} MB RSS, publisher ${base.publisherMbps.toFixed(2)} Mbit/s.`);
  for (const s of result.steps.filter((x) => !x.clean)) {
    console.log(
      `N = ${s.subscribers} is not clean (up ${pct(s.upstreamPct)}, down ${pct(s.downstreamPct)}, machine ${s.machineBusyPct ?? '–'} % busy): ` +
        'packets were lost or retransmitted in bulk, so the SFU or the machine was saturated; not used for the verdict unless no step was clean.',
    );
  }
  if (result.failure) console.log(`FAILED at N = ${result.failure.subscribers}: ${result.failure.error}`);
  if (result.skipped.length > 0) console.log(`Not run${result.failure ? '' : ' (run time limit)'}: N = ${result.skipped.join(', ')}`);
}

// ---------------------------------------------------------------------------------------------------------


/** Chromium join-to-first-frame samples per path (SFU, P2P). */
const JOIN_RUNS = Number(process.env.BENCH_JOIN_RUNS ?? 7);

async function main(): Promise<number> {
  const started = Date.now();
  const deadline = started + RUN_LIMIT_MS;
  console.error(`OpenVisit media benchmark: N = ${STEPS.join(', ')}; warm-up ${WARMUP_S} s, ${MEASURE_S} s per step; ${os.cpus().length} cores, Node ${process.version}`);

  const { busyBeforePct, warnings } = await busyBeforeStart();

  // Sections run one after the other, each starting and stopping its own processes, and each adds its figures
  // to `sections` (the JSON file) and one clause to `summary` (the last line printed).
  const sections: Record<string, unknown> = {};
  const summary: string[] = [];

  // Chromium join-to-first-frame through the SFU beside peer-to-peer, alternating in the same run (first, on a
  // quiet machine: the forwarding section leaves 64 peers' teardown behind).
  if (JOIN_RUNS > 0) {
    const joins = await measureJoinTimes(JOIN_RUNS);
    sections.firstFrame = joins;
    console.log(`Chromium join → first frame on both pages (${joins.runs} runs each, alternating; ms):`);
    console.log(`  through the SFU  ${joins.sfuMs.join(', ')}  ${formatDistribution(joins.sfu)}`);
    console.log(`  peer-to-peer     ${joins.p2pMs.join(', ')}  ${formatDistribution(joins.p2p)}  (baseline)`);
    console.log(`  SFU / P2P        median ${joins.ratio.toFixed(2)}x, p95 ${(joins.sfu.p95Ms / joins.p2p.p95Ms).toFixed(2)}x, max ${joins.maxRatio.toFixed(2)}x`);
    console.log(`Joining page through the SFU (its own clock, ms):`);
    console.log(`  connect() resolved (socket, join, offer answered)  ${joins.sfuJoinedMs.join(', ')}  ${formatDistribution(joins.sfuJoined)}`);
    console.log(`  peer connection connected                          ${joins.sfuConnectedMs.join(', ')}  ${formatDistribution(joins.sfuConnected)}`);
    summary.push(
      `join to first frame: SFU ${joins.sfuMedianMs} ms (p95 ${joins.sfu.p95Ms}, max ${joins.sfu.maxMs}) vs P2P ${joins.p2pMedianMs} ms (p95 ${joins.p2p.p95Ms}, max ${joins.p2p.maxMs}) = ${joins.ratio.toFixed(2)}x, target ≤ ${JOIN_TARGET_RATIO}x: ${joins.verdict}`,
    );
  } else {
    summary.push('join to first frame: not measured (BENCH_JOIN_RUNS=0)');
  }


  const forwarding = await forwardingSection(deadline);
  await stopChildren(); // the SFU and the peers stop before anything else runs
  sections.forwarding = forwarding;
  console.log('');
  printForwarding(forwarding);
  summary.push(
    forwarding.headline
      ? `SFU forwarding: ${forwarding.headline.cpuPctPerMbps.toFixed(3)} % of one core per forwarded 1 Mbps stream at N = ${forwarding.headline.subscribers}` +
          `${forwarding.headline.clean ? '' : ' (NOT clean: packets lost or retransmitted)'}` +
          ` (slope over ${forwarding.headline.clean ? 'clean' : 'all'} steps ${forwarding.slopePctPerMbps?.toFixed(3) ?? '–'} %), target ≤ ${TARGET_PCT_PER_STREAM} %: ${forwarding.verdict}`
      : 'SFU forwarding: no step beyond the baseline was measured',
  );
  if (forwarding.failure) summary.push(`step N = ${forwarding.failure.subscribers} FAILED (see above)`);

  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  const cpu = os.cpus();
  const report = {
    bench: 'media',
    version: 1,
    date: new Date().toISOString(),
    commit: gitCommit(),
    machine: { cores: cpu.length, cpu: cpu[0]?.model ?? null, memGiB: round(os.totalmem() / 2 ** 30, 1), platform: `${os.platform()} ${os.release()}`, node: process.version },
    settings: { steps: STEPS, warmupSeconds: WARMUP_S, measureSeconds: MEASURE_S, videoKbps: VIDEO_KBPS, clipSeconds: CLIP_SECONDS },
    warnings,
    machineBusyBeforePct: busyBeforePct,
    loadAverage1m: round(os.loadavg()[0]!, 2),
    wallSeconds: round((Date.now() - started) / 1000, 1),
    sections,
    summary: summary.join('; '),
  };
  writeFileSync(RESULTS, `${JSON.stringify(report, null, 2)}\n`);
  for (const w of warnings) console.log(`WARNING: ${w}`);
  console.log(`Figures written to ${RESULTS.slice(ROOT.length)} (${report.wallSeconds} s run).`);
  console.log(summary.join('; '));
  return forwarding.failure ? 1 : 0;
}

const watchdog = setTimeout(() => {
  console.error(`\nBENCHMARK FAILED: still running after ${RUN_LIMIT_MS / 1000} s; stopping everything`);
  void stopChildren().then(() => process.exit(1));
}, RUN_LIMIT_MS + 20_000);
watchdog.unref();

await runBench(main, stopChildren);
