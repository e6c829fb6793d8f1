// Helpers every benchmark script shares: machine load from /proc and the commit being measured.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Cumulative CPU ticks of the whole machine (Linux /proc/stat; null elsewhere). */
export function machineTicks(): { busy: number; total: number } | null {
  try {
    const [, ...values] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/);
    const n = values.map(Number);
    const total = n.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - (n[3] ?? 0) - (n[4] ?? 0), total };
  } catch {
    return null;
  }
}

/** % of the machine's CPU used between two readings of machineTicks(), or null when unknown. */
export function busyPct(before: ReturnType<typeof machineTicks>, after: ReturnType<typeof machineTicks>): number | null {
  return before && after && after.total > before.total ? Math.round(((after.busy - before.busy) / (after.total - before.total)) * 100) : null;
}

/**
 * Other work on the machine (a test suite, a build) skews every figure: measures the machine for a second before a
 * benchmark starts and, above 15 % busy, prints a warning (returned too, for the summary).
 */
export async function busyBeforeStart(): Promise<{ busyBeforePct: number | null; warnings: string[] }> {
  const before = machineTicks();
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const busyBeforePct = busyPct(before, machineTicks());
  const warnings: string[] = [];
  if (busyBeforePct !== null && busyBeforePct > 15) {
    warnings.push(`the machine was ${busyBeforePct}% busy before the benchmark started (load average ${os.loadavg()[0]!.toFixed(1)}): figures are not comparable`);
  }
  for (const w of warnings) console.error(`WARNING: ${w}`);
  return { busyBeforePct, warnings };
}

/** The short hash of HEAD, or null outside a git checkout. */
export function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/**
 * Runs a benchmark's `main` (its exit code), always runs `cleanUp`, reports a failure, and exits the process. With
 * `limitMs`, a watchdog stops everything (exit 1) if the run is still going 30 s after that.
 */
export async function runBench(main: () => Promise<number>, cleanUp: () => Promise<void>, limitMs?: number): Promise<never> {
  if (limitMs !== undefined) {
    const watchdog = setTimeout(() => {
      console.error(`\nBENCHMARK FAILED: still running after ${limitMs / 1000 + 30} s; stopping everything`);
      void cleanUp().then(() => process.exit(1));
    }, limitMs + 30_000);
    watchdog.unref();
  }
  let code = 1;
  try {
    code = await main();
  } catch (err) {
    console.error('\nBENCHMARK FAILED:', err instanceof Error ? (err.stack ?? err.message) : err);
    code = 1;
  } finally {
    await cleanUp();
  }
  process.exit(code);
}

/** Releases a benchmark acquired (servers, databases, temp dirs), run in reverse order, each at most once in all. */
export interface Cleanups {
  /** Registers a release; it runs on success, failure, Ctrl-C and uncaught errors. */
  add(what: string, run: () => Promise<void> | void): void;
  /** Runs every release (later calls get the same promise); a failing one is reported and the rest still run. */
  run(): Promise<void>;
}

/** A benchmark's cleanup registry, with the process handlers that run it on Ctrl-C and uncaught errors. */
export function installCleanups(): Cleanups {
  const entries: Array<{ what: string; run: () => Promise<void> | void }> = [];
  let running: Promise<void> | undefined;
  const run = () =>
    (running ??= (async () => {
      for (const { what, run: release } of entries.reverse()) {
        try {
          await release();
        } catch (err) {
          console.error(`cleanup (${what}) failed:`, (err as Error).message);
        }
      }
    })());
  process.on('uncaughtException', (err) => {
    console.error('\nBENCHMARK FAILED (uncaught):', err);
    void run().then(() => process.exit(1));
  });
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (!running) console.error(`\n${signal}: cleaning up…`);
      void run().then(() => process.exit(130));
    });
  }
  return { add: (what, release) => void entries.push({ what, run: release }), run };
}

/** A benchmark's server in a child process, speaking `@@bench <json>` lines on stdout and commands on stdin. */
export interface BenchChild {
  pid: number;
  /** The child's first `@@bench` message (it is ready). */
  ready: Record<string, unknown>;
  /** Sends a command line and resolves with the child's next `@@bench` reply. */
  command(line: string): Promise<Record<string, unknown>>;
  /** Asks it to stop ("stop" on stdin), SIGKILL after 15 s; safe to call twice. Registered with the cleanups. */
  stop(): Promise<void>;
}

/**
 * Starts `script` (TypeScript, through tsx) with `args`, waits for its first `@@bench` message (120 s at most) and
 * registers its stop. Other output lines are passed to stderr prefixed with the label. BENCH_NODE_ARGS adds
 * Node options (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof).
 */
export async function startBenchChild(label: string, script: string, args: string[], cleanups: Cleanups): Promise<BenchChild> {
  const nodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script, ...args], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'inherit'],
    env: { ...process.env },
  });
  let exited = false;
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = true;
      resolve(code ?? (signal ? 128 : null));
    }),
  );
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      if (exited) return;
      child.stdin?.write('stop\n');
      child.stdin?.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exit;
      clearTimeout(killer);
    })());
  cleanups.add(`${label} server (pid ${child.pid})`, stop);

  const waiting: Array<(message: Record<string, unknown>) => void> = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.startsWith('@@bench ')) return void process.stderr.write(`[${label} server] ${line}\n`);
    waiting.shift()?.(JSON.parse(line.slice('@@bench '.length)) as Record<string, unknown>);
  });
  const next = (timeoutMs: number, what: string) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${label} server: no answer to "${what}" within ${timeoutMs / 1000} s`)), timeoutMs);
      waiting.push((message) => (clearTimeout(timer), resolve(message)));
      void exit.then((code) => (clearTimeout(timer), reject(new Error(`${label} server exited (code ${code}) before answering "${what}"`))));
    });
  const ready = await next(120_000, 'start');
  return {
    pid: child.pid!,
    ready,
    command: (line) => {
      const reply = next(120_000, line);
      child.stdin!.write(`${line}\n`);
      return reply;
    },
    stop,
  };
}

/** The child side of startBenchChild: one `@@bench <json>` line on stdout (the parent reads it). */
export function benchSay(message: Record<string, unknown>): void {
  process.stdout.write(`@@bench ${JSON.stringify(message)}\n`);
}

/**
 * Runs a benchmark's server process: `start` sets up (registering releases with `onClose`; they run last first)
 * and says it is ready; "stop" on stdin, stdin closing, SIGINT or SIGTERM release it and exit (1 if a release
 * failed or `start` threw); other command lines go to `commands`.
 */
export function runBenchChild(start: (onClose: (close: () => Promise<void>) => void) => Promise<void>, commands: Record<string, () => void> = {}): void {
  const releases: (() => Promise<void>)[] = [];
  let stopping: Promise<void> | undefined;
  const stop = (code = 0) =>
    (stopping ??= (async () => {
      for (const release of releases.reverse()) {
        try {
          await release();
        } catch (err) {
          console.error('bench server: error while closing:', err);
          code = code || 1;
        }
      }
      process.exit(code);
    })());
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    const command = line.trim();
    if (command === 'stop') void stop(0);
    else commands[command]?.();
  });
  lines.on('close', () => void stop(0));
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void stop(0));
  start((release) => void releases.push(release)).catch((err: unknown) => {
    console.error('bench server: failed to start:', err);
    void stop(1);
  });
}

/** A temporary directory for a benchmark server's files, removed when it is released (see runBenchChild). */
export function scratchDir(onClose: (close: () => Promise<void>) => void): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'openvisit-bench-data-'));
  onClose(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A number from the environment (`fallback` when unset or blank); anything else than a number in range stops the bench. */
export function envNumber(name: string, fallback: number, min: number, max = Number.POSITIVE_INFINITY): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new Error(max === Number.POSITIVE_INFINITY ? `${name} must be a number ≥ ${min} (got "${raw}")` : `${name} must be a number from ${min} to ${max} (got "${raw}")`);
  }
  return n;
}
