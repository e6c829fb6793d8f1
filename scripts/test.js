#!/usr/bin/env node
// `npm test`: checks what the suite needs (the Debian packages chromium and ffmpeg, PostgreSQL, Redis), then
// runs every test/**/*.test.ts with Node's test runner (TypeScript through tsx), printing the spec report and a
// closing "N passed, N failed" line. Arguments narrow the run: `npm test -- test/patients.test.ts`.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { build } from './build.js';

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) out.push(...findTests(file));
    else if (name.endsWith('.test.ts')) out.push(file);
  }
  return out;
}

function reachable(host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port, timeout: 2000 });
    socket.once('connect', () => (socket.destroy(), resolve(true)));
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => (socket.destroy(), resolve(false)));
  });
}

function executable(file) {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

const onPath = (command) => (process.env.PATH ?? '').split(path.delimiter).some((dir) => dir && executable(path.join(dir, command)));

/** Debian packages the browser tests need; installed when we can (root with apt-get), otherwise the exact command is printed. */
const packages = [
  { name: 'chromium', present: () => executable('/usr/bin/chromium') },
  { name: 'ffmpeg', present: () => onPath('ffmpeg') },
];

let missing = packages.filter((p) => !p.present());
if (missing.length > 0 && process.getuid?.() === 0 && onPath('apt-get')) {
  const names = missing.map((p) => p.name).join(' ');
  console.error(`Installing the Debian packages the test suite needs: ${names}`);
  const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // Once per run, and only for what is missing; a failed update still lets install try the cached lists.
  spawnSync('apt-get', ['update'], { stdio: 'inherit', env: aptEnv });
  spawnSync('apt-get', ['install', '-y', ...missing.map((p) => p.name)], { stdio: 'inherit', env: aptEnv });
  missing = packages.filter((p) => !p.present());
}
if (missing.length > 0) {
  const names = missing.map((p) => p.name).join(' ');
  console.error(`The test suite needs the Debian package(s) ${names} (the browser tests run /usr/bin/chromium and ffmpeg). Install them with:\n  sudo apt-get install -y chromium ffmpeg`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}

/** Services the suite needs; started when we can (root on Debian), otherwise the exact command is printed. */
const services = [
  {
    name: 'PostgreSQL',
    host: '127.0.0.1',
    port: 5432,
    start: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql | head -n1) main start',
  },
  {
    name: 'Redis',
    host: '127.0.0.1',
    port: 6379,
    start: 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
  },
];

const needed = process.env.TEST_DB === 'pglite' ? services.filter((s) => s.name !== 'PostgreSQL') : services;
for (const service of needed) {
  if (await reachable(service.host, service.port)) continue;
  if (process.getuid?.() === 0) {
    spawnSync('bash', ['-c', service.start], { stdio: 'inherit' });
    for (let i = 0; i < 20 && !(await reachable(service.host, service.port)); i++) await new Promise((r) => setTimeout(r, 250));
  }
  if (!(await reachable(service.host, service.port))) {
    console.error(`${service.name} is not reachable on ${service.host}:${service.port}; the test suite needs it. Start it with:\n  ${service.start}`);
    console.log('0 passed, 1 failed');
    process.exit(1);
  }
}

// The CLI tests run the compiled `openvisit` command and the browser tests load the SDK bundle: bring the
// build up to date first (incremental).
if (!(await build())) {
  console.error('The build failed; see the errors above.');
  console.log('0 passed, 1 failed');
  process.exit(1);
}

const args = process.argv.slice(2);
const files = args.length > 0 ? args : findTests('test');
// Suites that drive Chromium run after the others, one at a time: two of them at once on 2 cores starve each
// other's decoders (frames stop arriving), which says nothing about the code under test.
const usesBrowser = (file) => readFileSync(file, 'utf8').includes('helpers/browser.js');
const phases = [
  { files: files.filter((f) => !usesBrowser(f)), concurrency: process.env.TEST_CONCURRENCY ?? 2 },
  { files: files.filter(usesBrowser), concurrency: 1 },
].filter((p) => p.files.length > 0);

// Each phase writes its closing "N passed, N failed" line to a file; the sum is printed last, after the spec report.
const summaryDir = mkdtempSync(path.join(os.tmpdir(), 'openvisit-test-'));
let passed = 0;
let failed = 0;
let skipped = 0;
let status = 0;
for (const [i, phase] of phases.entries()) {
  const summaryFile = path.join(summaryDir, `summary-${i}.txt`);
  const result = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      `--test-concurrency=${phase.concurrency}`,
      '--test-reporter=spec',
      '--test-reporter-destination=stdout',
      '--test-reporter=./scripts/summary-reporter.js',
      `--test-reporter-destination=${summaryFile}`,
      ...phase.files,
    ],
    { stdio: 'inherit', env: { ...process.env, NODE_ENV: 'test' } },
  );
  if (result.status !== 0) status = result.status ?? 1;
  let line = '';
  try {
    line = readFileSync(summaryFile, 'utf8').trim();
  } catch {
    line = '';
  }
  const m = /^(\d+) passed, (\d+) failed(?:, (\d+) skipped)?$/.exec(line);
  if (!m) {
    failed++;
    status ||= 1;
    continue;
  }
  passed += Number(m[1]);
  failed += Number(m[2]);
  skipped += Number(m[3] ?? 0);
}
rmSync(summaryDir, { recursive: true, force: true });
// Skipped tests (the live Twilio suite without credentials) are said, with their reasons in the report above, on a
// line of their own: the last line stays exactly `N passed, N failed`.
if (skipped) console.log(`\n${skipped} skipped (see the reasons marked # above)`);
console.log(`\n${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? status || 1 : status);
