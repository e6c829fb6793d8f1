/**
 * `npm run bench:twilio` — issue 15's benchmark of the Twilio Video provider. A script, not a test: it prints its
 * tables, compares each figure with a baseline measured in the same run, and ends with one JSON line of every figure.
 *
 * 1. Token requests per second through the HTTP endpoint (POST /api/v1/tokens, API key, one room, one identity) on a
 *    server whose MEDIA_PROVIDER is twilio, against the same on a server with the builtin provider (the baseline).
 *    A Twilio token is signed locally (no call to Twilio): the figure is the endpoint's cost with Twilio's signer.
 * 2. From a Twilio status callback's arrival to the host app's webhook: this process plays Twilio, posting a signed
 *    `participant-connected` callback to /webhooks/twilio/video for a room made through the API, and times it until
 *    the webhook receiver here gets `room.participant_joined`. Baseline, interleaved sample by sample: a plain hub
 *    event, an audited patient update (PATCH /patients/:id) to its `patient.updated` webhook. Both go through the
 *    same webhook queue (pg-boss): the difference is what the callback adds (signature, ordering, the rooms layer).
 *
 * Processes: each server in its own child (bench/twilio-server.ts, PGlite); Twilio's REST API is the test fake
 * (test/helpers/twilio-video-fake.ts) in this process, as are autocannon and the webhook receiver. All on 127.0.0.1.
 * Environment: BENCH_SECONDS (5), BENCH_CONNECTIONS (10), BENCH_WARMUP_SECONDS (1), BENCH_TWILIO_SAMPLES (40),
 * BENCH_LOG_LEVEL. Exit code 1 on any failed request or a webhook that never came.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import twilio from 'twilio';
import { freePort } from '../test/helpers/app.js';
import { newTwilioCredentials, startTwilioFake } from '../test/helpers/twilio-media.js';
import { type BenchChild, busyBeforeStart, envNumber, gitCommit, installCleanups, runBench, startBenchChild } from './common.js';

const SERVER = fileURLToPath(new URL('./twilio-server.ts', import.meta.url));

const SECONDS = envNumber('BENCH_SECONDS', 5, 1);
const CONNECTIONS = envNumber('BENCH_CONNECTIONS', 10, 1);
const WARMUP_SECONDS = envNumber('BENCH_WARMUP_SECONDS', 1, 0);
const SAMPLES = envNumber('BENCH_TWILIO_SAMPLES', 40, 1);

const cleanups = installCleanups();
let failures = 0;

interface Server {
  child: BenchChild;
  base: string;
  apiKey: string;
  call(method: string, url: string, body?: unknown, expect?: number): Promise<Record<string, unknown>>;
}

async function startServer(mode: 'builtin' | 'twilio', extra: string[] = []): Promise<Server> {
  const dir = mkdtempSync(path.join(os.tmpdir(), `openvisit-bench-${mode}-`));
  cleanups.add(`${mode} data`, async () => rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const child = await startBenchChild(mode, SERVER, [mode, dir, String(port), ...extra], cleanups);
  const base = `http://127.0.0.1:${port}`;
  const apiKey = child.ready.apiKey as string;
  return {
    child,
    base,
    apiKey,
    async call(method, url, body, expect) {
      const res = await fetch(`${base}${url}`, {
        method,
        headers: { authorization: `Bearer ${apiKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await res.text();
      if (expect !== undefined && res.status !== expect) throw new Error(`${method} ${url}: ${res.status} ${text.slice(0, 300)}`);
      return text ? (JSON.parse(text) as Record<string, unknown>) : {};
    },
  };
}

function cannon(server: Server, body: string): Promise<autocannon.Result> {
  const run = (duration: number) =>
    new Promise<autocannon.Result>((resolve, reject) => {
      autocannon(
        { url: `${server.base}/api/v1/tokens`, method: 'POST', connections: CONNECTIONS, duration, headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' }, body },
        (err, result) => (err ? reject(err) : resolve(result)),
      );
    });
  return (WARMUP_SECONDS > 0 ? run(WARMUP_SECONDS) : Promise.resolve(null)).then(() => run(SECONDS));
}

interface TokenFigures {
  provider: string;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  non2xx: number;
  errors: number;
}

async function tokens(server: Server, provider: string): Promise<TokenFigures> {
  await server.call('POST', '/api/v1/rooms', { name: 'bench-tokens' }, 201);
  const answer = await server.call('POST', '/api/v1/tokens', { room: 'bench-tokens', identity: 'bench-identity' }, 201);
  if (answer.provider !== provider) throw new Error(`expected a ${provider} token, got ${String(answer.provider)}`);
  const result = await cannon(server, JSON.stringify({ room: 'bench-tokens', identity: 'bench-identity' }));
  failures += result.non2xx + result.errors + result.timeouts;
  return { provider, reqPerSec: result.requests.average, p50Ms: result.latency.p50, p99Ms: result.latency.p99, non2xx: result.non2xx, errors: result.errors + result.timeouts };
}

/** The host app's webhook endpoint: resolves the wait registered for each event type as it arrives. */
async function startReceiver(): Promise<{ url: string; next(type: string, match: (data: Record<string, unknown>) => boolean): Promise<number> }> {
  const waits: { type: string; match: (d: Record<string, unknown>) => boolean; resolve: (at: number) => void }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = performance.now();
      res.writeHead(204).end();
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { type: string; data: Record<string, unknown> };
      const i = waits.findIndex((w) => w.type === body.type && w.match(body.data));
      if (i >= 0) waits.splice(i, 1)[0]!.resolve(at);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.add('webhook receiver', () => new Promise((resolve) => server.close(() => resolve())));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    next: (type, match) =>
      new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${type} webhook within 30 s`)), 30_000);
        waits.push({ type, match, resolve: (at) => (clearTimeout(timer), resolve(at)) });
      }),
  };
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};

async function main(): Promise<number> {
  const { busyBeforePct, warnings } = await busyBeforeStart();
  for (const w of warnings) console.warn(w);
  const credentials = newTwilioCredentials();
  const fake = await startTwilioFake(credentials);
  cleanups.add('Twilio fake', () => fake.close());

  // Part 1: tokens, each server alone.
  const builtin = await startServer('builtin');
  const builtinTokens = await tokens(builtin, 'builtin');
  await builtin.child.stop();
  const tw = await startServer('twilio', [fake.url, JSON.stringify(credentials)]);
  const twilioTokens = await tokens(tw, 'twilio');
  console.log('\nToken requests per second, POST /api/v1/tokens (API key), %d connections, %d s', CONNECTIONS, SECONDS);
  console.log('provider   req/s     p50 ms  p99 ms  failed');
  for (const f of [builtinTokens, twilioTokens]) console.log(`${f.provider.padEnd(9)} ${f.reqPerSec.toFixed(0).padStart(7)} ${String(f.p50Ms).padStart(8)} ${String(f.p99Ms).padStart(7)} ${String(f.non2xx + f.errors).padStart(7)}`);
  console.log(`twilio / builtin: ${(twilioTokens.reqPerSec / builtinTokens.reqPerSec).toFixed(2)}x`);

  // Part 2: a status callback to the host app's webhook, beside a plain hub event.
  const receiver = await startReceiver();
  await tw.call('POST', '/api/v1/webhooks', { url: receiver.url, events: ['room.participant_joined', 'patient.updated'] }, 201);
  const room = await tw.call('POST', '/api/v1/rooms', { name: 'bench-callbacks' }, 201);
  const roomSid = fake.room(String(room.id))?.sid;
  if (!roomSid) throw new Error('the room is not on the fake');
  const patient = await tw.call('POST', '/api/v1/patients', { givenName: 'Bench', familyName: 'Patient' }, 201);
  const callbackUrl = `${tw.base}/webhooks/twilio/video`;
  const viaCallback: number[] = [];
  const viaHub: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const identity = `bench-${i}-${randomUUID().slice(0, 8)}`;
    const params: Record<string, string> = {
      AccountSid: credentials.accountSid,
      RoomSid: roomSid,
      RoomName: String(room.id),
      RoomStatus: 'in-progress',
      RoomType: 'group',
      StatusCallbackEvent: 'participant-connected',
      Timestamp: new Date().toISOString(),
      SequenceNumber: String(i + 1),
      ParticipantSid: `PA${randomUUID().replaceAll('-', '')}`,
      ParticipantIdentity: identity,
      ParticipantStatus: 'connected',
    };
    const arrived = receiver.next('room.participant_joined', (d) => d.identity === identity);
    const t0 = performance.now();
    const res = await fetch(callbackUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': twilio.getExpectedTwilioSignature(credentials.authToken, callbackUrl, params) },
      body: new URLSearchParams(params).toString(),
    });
    if (res.status !== 204) (failures++, console.error(`callback answered ${res.status}`));
    viaCallback.push((await arrived) - t0);

    const updated = receiver.next('patient.updated', (d) => d.patientId === patient.id || d.id === patient.id);
    const t1 = performance.now();
    await tw.call('PATCH', `/api/v1/patients/${String(patient.id)}`, { givenName: `Bench${i}` }, 200);
    viaHub.push((await updated) - t1);
  }
  const row = (name: string, xs: number[]) => `${name.padEnd(44)} ${percentile(xs, 50).toFixed(1).padStart(8)} ${percentile(xs, 95).toFixed(1).padStart(8)} ${Math.max(...xs).toFixed(1).padStart(8)}`;
  console.log(`\nTo the host app's webhook, ${SAMPLES} samples each, interleaved (ms)`);
  console.log(`${''.padEnd(44)}      p50      p95      max`);
  console.log(row('Twilio participant-connected → webhook', viaCallback));
  console.log(row('baseline: PATCH /patients → webhook', viaHub));
  console.log(`callback / baseline (p50): ${(percentile(viaCallback, 50) / percentile(viaHub, 50)).toFixed(2)}x`);
  fake.assertNoProblems();

  console.log(
    JSON.stringify({
      bench: 'twilio',
      commit: gitCommit(),
      busyBeforePct,
      tokens: { builtin: builtinTokens, twilio: twilioTokens, ratio: twilioTokens.reqPerSec / builtinTokens.reqPerSec },
      webhookMs: { callback: { p50: percentile(viaCallback, 50), p95: percentile(viaCallback, 95) }, hub: { p50: percentile(viaHub, 50), p95: percentile(viaHub, 95) } },
      failures,
    }),
  );
  return failures === 0 ? 0 : 1;
}

await runBench(main, cleanups.run, 600_000);
