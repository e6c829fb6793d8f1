import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * PGlite does not lock its data directory: a second process opening it silently loses writes
 * (measured, see shared/notes/platform.md). This lock file makes the second process fail loudly.
 * A lock left by a process that no longer runs on this host is taken over.
 */

export interface LockInfo {
  pid: number;
  hostname: string;
  command: string;
  startedAt: string;
}

export class DataDirLockedError extends Error {
  readonly code = 'DATA_DIR_LOCKED';
  constructor(
    readonly dataDir: string,
    readonly holder: LockInfo,
  ) {
    super(
      `The data directory ${dataDir} is in use by another OpenVisit process ` +
        `(pid ${holder.pid} on ${holder.hostname}, "${holder.command}", since ${holder.startedAt}). ` +
        `The embedded database allows one process at a time: stop that process first, ` +
        `or point DATABASE_URL at PostgreSQL to run several processes.`,
    );
    this.name = 'DataDirLockedError';
  }
}

export interface DataDirLock {
  readonly file: string;
  release(): void;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readHolder(file: string): LockInfo | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as LockInfo;
  } catch {
    return undefined;
  }
}

export function acquireDataDirLock(dataDir: string, command: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, 'openvisit.lock');
  const info: LockInfo = { pid: process.pid, hostname: os.hostname(), command, startedAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(file, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = readHolder(file);
      const stale = holder === undefined ? false : holder.hostname === os.hostname() && !isAlive(holder.pid);
      if (holder && !stale) throw new DataDirLockedError(dataDir, holder);
      if (!holder) {
        // Being written right now by a starting process, or a torn file: give it a moment.
        if (attempt < 2) {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 50);
          continue;
        }
      }
      rmSync(file, { force: true });
      continue;
    }
    writeSync(fd, JSON.stringify(info));
    closeSync(fd);
    let released = false;
    return {
      file,
      release() {
        if (released) return;
        released = true;
        const holder = readHolder(file);
        if (holder?.pid === process.pid) rmSync(file, { force: true });
      },
    };
  }
  throw new Error(`Could not take the lock ${file}; remove it if no OpenVisit process is running.`);
}
