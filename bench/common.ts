// Helpers every benchmark script shares: machine load from /proc and the commit being measured.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
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
