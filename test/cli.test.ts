import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { sql } from 'drizzle-orm';
import { openPglite } from '../src/server/db/index.js';
import { createTestDatabase } from './helpers/db.js';

/**
 * The real processes: `npm start` on a fresh data directory, the data-directory lock, graceful shutdown,
 * and every CLI command, as an operator would run them.
 */

const ROOT = path.resolve(import.meta.dirname, '..');
const BIN = path.join(ROOT, 'bin/openvisit.js');

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', ...extra };
  return env;
}

function cli(args: string[], env: Record<string, string>) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: ROOT, env: cleanEnv(env), encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Starts a long-running process and resolves once `pattern` shows on stdout. */
function startUntil(command: string[], env: Record<string, string>, pattern: RegExp, timeoutMs = 90_000): Promise<{ child: ChildProcess; match: RegExpMatchArray; output: () => string }> {
  const child = spawn(command[0]!, command.slice(1), { cwd: ROOT, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${pattern}; output:\n${out}`)), timeoutMs);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const match = out.match(pattern);
      if (match) {
        clearTimeout(timer);
        resolve({ child, match, output: () => out });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before ${pattern}; output:\n${out}`));
    });
  });
}

function exited(child: ChildProcess, timeoutMs = 15_000): Promise<number | null> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('process did not exit')), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

describe('npm start and the CLI on the embedded database', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ovt-cli-'));
  const env = { DATA_DIR: dataDir, PORT: '0', HOST: '127.0.0.1' };
  let server: ChildProcess | undefined;
  let baseUrl = '';

  before(async () => {
    const started = await startUntil(['node', 'scripts/start.js'], env, /running at (http:\/\/localhost:\d+)[\s\S]*carla@demo\.test/);
    server = started.child;
    baseUrl = started.match[1]!.replace('localhost', '127.0.0.1');
    assert.match(started.output(), /admin@demo\.test/);
    assert.match(started.output(), /demo-password/);
  });
  after(() => {
    if (server && server.exitCode === null) server.kill('SIGKILL');
  });

  test('npm start serves the app with demo data on a fresh data directory', async () => {
    assert.equal((await fetch(`${baseUrl}/readyz`)).status, 200);
    const home = await fetch(`${baseUrl}/`);
    assert.equal(home.status, 200);
    assert.match(await home.text(), /OpenVisit/);
    const login = await fetch(`${baseUrl}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'admin@demo.test', password: 'demo-password' }),
    });
    assert.equal(login.status, 200);
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const patients = (await (await fetch(`${baseUrl}/api/v1/patients`, { headers: { cookie } })).json()) as { data: unknown[] };
    assert.equal(patients.data.length, 6);
    const appointments = (await (await fetch(`${baseUrl}/api/v1/appointments`, { headers: { cookie } })).json()) as { data: { kind: string }[] };
    assert.deepEqual(appointments.data.map((a) => a.kind).sort(), ['checkin', 'group', 'video', 'video', 'video']);
    const users = (await (await fetch(`${baseUrl}/api/v1/users`, { headers: { cookie } })).json()) as { data: { role: string }[] };
    assert.deepEqual(users.data.map((u) => u.role).sort(), ['admin', 'caregiver', 'clinician', 'clinician']);
  });

  test('a second process on the same data directory is refused with a clear error', () => {
    const second = cli(['serve'], env);
    assert.equal(second.status, 1);
    assert.match(second.stderr, /data directory .* is in use by another OpenVisit process \(pid \d+/);
    assert.match(second.stderr, /stop that process first, or point DATABASE_URL at PostgreSQL/);
    const key = cli(['apikey', 'create', '--org', 'demo'], env);
    assert.equal(key.status, 1);
    assert.match(key.stderr, /in use by another OpenVisit process/);
  });

  test('SIGTERM shuts down gracefully and releases the data directory', async () => {
    server!.kill('SIGTERM');
    assert.equal(await exited(server!), 0);
    assert.equal(existsSync(path.join(dataDir, 'db', 'openvisit.lock')), false);
  });

  test('operator commands: migrate, org add, user add, apikey create/list/revoke, demo', () => {
    const migrate = cli(['migrate'], env);
    assert.equal(migrate.status, 0, migrate.stderr);
    assert.match(migrate.stdout, /up to date/);

    const org = cli(['org', 'add', 'northside', '--name', 'Northside Therapy'], env);
    assert.equal(org.status, 0, org.stderr);
    const dupOrg = cli(['org', 'add', 'northside', '--name', 'Again'], env);
    assert.equal(dupOrg.status, 1);
    assert.match(dupOrg.stderr, /already exists/);
    const badSlug = cli(['org', 'add', 'Bad Slug!', '--name', 'x'], env);
    assert.equal(badSlug.status, 1);
    assert.match(badSlug.stderr, /slug/);

    const user = cli(['user', 'add', '--email', 'kim@northside.test', '--role', 'clinician', '--org', 'northside'], env);
    assert.equal(user.status, 0, user.stderr);
    assert.match(user.stdout, /Password \(shown once\): \S{10,}/);
    const badRole = cli(['user', 'add', '--email', 'x@northside.test', '--role', 'wizard', '--org', 'northside'], env);
    assert.notEqual(badRole.status, 0);
    assert.match(badRole.stderr, /admin, clinician, caregiver/);
    const noOrg = cli(['user', 'add', '--email', 'y@x.test', '--role', 'admin', '--org', 'nowhere'], env);
    assert.equal(noOrg.status, 1);
    assert.match(noOrg.stderr, /no organisation "nowhere"/);

    const created = cli(['apikey', 'create', '--org', 'northside', '--name', 'EHR'], env);
    assert.equal(created.status, 0, created.stderr);
    const lines = created.stdout.trim().split('\n');
    const key = lines[lines.length - 1]!;
    assert.match(key, /^ovk_[A-Za-z0-9_-]{43}$/, 'the key alone on the last line');
    const list = cli(['apikey', 'list', '--org', 'northside'], env);
    assert.match(list.stdout, new RegExp(key.slice(0, 10)));
    assert.ok(!list.stdout.includes(key), 'the list never shows the key');
    const id = list.stdout.split(/\s+/)[0]!;
    const revoked = cli(['apikey', 'revoke', id, '--org', 'northside'], env);
    assert.equal(revoked.status, 0, revoked.stderr);
    assert.match(cli(['apikey', 'list', '--org', 'northside'], env).stdout, /No API keys/);

    const demoAgain = cli(['demo'], env);
    assert.equal(demoAgain.status, 1);
    assert.match(demoAgain.stderr, /demo organisation already exists/);
  });

  test('a configuration mistake names the setting and exits 2', () => {
    const r = cli(['migrate'], { ...env, PORT: 'abc', TWILIO_ACCOUNT_SID: 'SK123' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /PORT must be a whole number/);
    assert.match(r.stderr, /TWILIO_ACCOUNT_SID must be a Twilio account SID/);
  });

  test('audit verify passes on the chain, then catches a tampered row', async () => {
    const ok = cli(['audit', 'verify'], env);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /Audit log intact: \d+ events in \d+ chains/);

    const database = await openPglite({ dataDir: path.join(dataDir, 'db') });
    try {
      // Bypass the append-only trigger as a superuser would, and change one event.
      await database.db.execute(sql`alter table audit_events disable trigger user`);
      await database.db.execute(sql`update audit_events set action = 'patient.updated' where id = (select min(id) + 3 from audit_events)`);
      await database.db.execute(sql`alter table audit_events enable trigger user`);
    } finally {
      await database.close();
    }
    const broken = cli(['audit', 'verify'], env);
    assert.equal(broken.status, 1);
    assert.match(broken.stdout, /Audit log BROKEN at chain \S+, event #\d+ \(row id \d+\): the event was altered/);
  });
});

describe('the CLI on PostgreSQL', () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  before(async () => {
    database = await createTestDatabase('postgres');
  });
  after(() => database.close());

  test('demo, apikey create and audit verify work against DATABASE_URL', () => {
    const env = { DATABASE_URL: database.url!, DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'ovt-cli-pg-')) };
    const demo = cli(['demo'], env);
    assert.equal(demo.status, 0, demo.stderr);
    assert.match(demo.stdout, /Seeded the demo organisation: 4 staff, 6 patients, 5 appointments/);
    const key = cli(['apikey', 'create', '--org', 'demo'], env);
    assert.equal(key.status, 0, key.stderr);
    assert.match(key.stdout.trim().split('\n').at(-1)!, /^ovk_/);
    const verify = cli(['audit', 'verify'], env);
    assert.equal(verify.status, 0, verify.stderr);
    assert.match(verify.stdout, /intact/);
  });
});
