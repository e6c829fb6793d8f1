// Headless room members in processes of their own (test/helpers/headless-member.ts), for browser tests that need more
// people in a room than Chromium pages this machine can run.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ensureSimulcastCapture } from './simulcast.js';

const SCRIPT = fileURLToPath(new URL('./headless-member.ts', import.meta.url));

export interface HeadlessMember {
  readonly identity: string;
  /** The end of what the member wrote on stderr (its connection's events). */
  log(): string;
  /** Leaves the room and ends the process (killed after 10 s). */
  close(): Promise<void>;
}

/** Starts a member that joins `url` (ws://…/rtc) with `token` and publishes; resolves once it is connected. */
export async function spawnHeadlessMember(url: string, token: string, identity: string, timeoutMs = 60_000): Promise<HeadlessMember> {
  await ensureSimulcastCapture(); // made here once, not by several children at a time
  const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, url, token, identity], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const close = async () => {
    child.stdin.end();
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
  };
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`headless member ${identity}: not connected within ${timeoutMs} ms`)), timeoutMs);
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (line === 'ready') {
          clearTimeout(timer);
          resolve();
        }
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`headless member ${identity} exited before connecting: ${stderr.trim()}`));
      });
    });
  } catch (err) {
    await close();
    throw err;
  }
  return { identity, close, log: () => stderr };
}
