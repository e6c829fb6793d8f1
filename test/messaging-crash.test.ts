// The outbox survives a crash: a real `openvisit serve` process sends a burst of 500 texts to the Twilio fake, is
// killed with SIGKILL in the middle (with sends in flight that Twilio accepted but the process never recorded),
// and a new process finishes the job. Every message must reach Twilio exactly once: none lost, none doubled.
// PostgreSQL only: the test process reads the database while the server runs, which an embedded PGlite directory
// does not allow (the same outbox code runs on PGlite in the other messaging suites).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { and, eq, isNotNull, sql } from 'drizzle-orm';
import { auditEvents, messages } from '../src/server/db/schema.js';
import type { Message } from '../src/shared/api/messaging.js';
import { createTestApp, freePort } from './helpers/app.js';
import { createTestOrg } from './helpers/builders.js';
import { createTestDatabase } from './helpers/db.js';
import { newPatient, waitFor } from './helpers/messaging.js';
import { startFakeTwilio, type FakeTwilio } from './helpers/twilio-fake.js';

const ROOT = path.resolve(import.meta.dirname, '..');
const ACCOUNT = `AC${'c3'.repeat(16)}`;
const TOKEN = '0123456789abcdef'.repeat(2);
const TOTAL = 500;
const PATIENTS = 10;

function serve(env: Record<string, string>): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [path.join(ROOT, 'bin/openvisit.js'), 'serve'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not start:\n${out}`)), 60_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      if (/running at/.test(out)) {
        clearTimeout(timer);
        resolve({ child, output: () => out });
      }
    });
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}) before it started:\n${out}`));
    });
  });
}

describe('the outbox across a crash (postgres)', () => {
  let fake: FakeTwilio;
  let database: Awaited<ReturnType<typeof createTestDatabase>>;
  let dataDir: string;
  let child: ChildProcess | undefined;
  before(async () => {
    fake = await startFakeTwilio({ accountSid: ACCOUNT, authToken: TOKEN });
    database = await createTestDatabase('postgres');
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'ovt-crash-'));
  });
  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await fake?.close();
    await database?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('SIGKILL in the middle of 500 sends, restart: every message sent exactly once', { timeout: 180_000 }, async () => {
    // The organisation, its API key and patients with SMS consent, written through the app on the same database.
    const setup = await createTestApp('postgres', { database });
    const org = await createTestOrg(setup.app);
    const patients: { id: string }[] = [];
    for (let i = 0; i < PATIENTS; i++) patients.push(await newPatient(org, { phone: `55555502${String(i).padStart(2, '0')}` }));
    await setup.close();

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = {
      DATABASE_URL: database.url!,
      DATA_DIR: dataDir,
      HOST: '127.0.0.1',
      PORT: String(port),
      PUBLIC_URL: base,
      RTC_ANNOUNCED_ADDRESSES: '127.0.0.1',
      RTC_USE_INTERFACE_ADDRESSES: 'false',
      MESSAGING_PROVIDER: 'twilio',
      TWILIO_ACCOUNT_SID: ACCOUNT,
      TWILIO_AUTH_TOKEN: TOKEN,
      TWILIO_FROM_NUMBER: '+15005550006',
      TWILIO_API_BASE_URL: fake.url,
      MESSAGING_QUIET_HOURS: '',
      MESSAGING_CONCURRENCY: '8',
      MESSAGING_SEND_TIMEOUT_SECONDS: '2',
      SMS_SENDER_RATE_PER_SECOND: '10000',
    };
    // Every create answers after 150 ms: at any moment about eight sends are in flight, accepted by Twilio but
    // not yet recorded, which is what the crash must not turn into duplicates.
    fake.failNext(TOTAL * 2, { hangMs: 150 });
    const first = await serve(env);
    child = first.child;

    const auth = { authorization: `Bearer ${org.apiKey.key}`, 'content-type': 'application/json' };
    const ids: string[] = [];
    let next = 0;
    await Promise.all(
      Array.from({ length: 10 }, async () => {
        while (next < TOTAL) {
          const i = next++;
          const res = await fetch(`${base}/api/v1/patients/${patients[i % PATIENTS]!.id}/messages`, { method: 'POST', headers: auth, body: JSON.stringify({ body: `Burst message #${i}` }) });
          const text = await res.text();
          assert.equal(res.status, 201, text);
          ids.push((JSON.parse(text) as Message).id);
        }
      }),
    );
    assert.equal(ids.length, TOTAL);
    await waitFor('a third of the burst at Twilio', () => fake.created.length >= TOTAL / 3, 60_000, 5);
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    const atKill = fake.created.length;
    assert.ok(atKill < TOTAL, `the crash came mid-burst (${atKill} of ${TOTAL} created)`);
    const [{ n: unrecorded }] = (await database.db
      .select({ n: sql<number>`count(*)::int` })
      .from(messages)
      .where(and(eq(messages.orgId, org.orgId), eq(messages.status, 'sending'), sql`${messages.providerMessageId} is null`))) as [{ n: number }];

    const second = await serve(env);
    child = second.child;
    await waitFor(
      'every message recorded with its Twilio id',
      async () => {
        const [row] = (await database.db
          .select({ n: sql<number>`count(*)::int` })
          .from(messages)
          .where(and(eq(messages.orgId, org.orgId), isNotNull(messages.providerMessageId)))) as [{ n: number }];
        return row.n === TOTAL;
      },
      120_000,
      200,
    );

    // Exactly once at Twilio: 500 creates, one per message body, and each row holds its own message's sid.
    assert.equal(fake.created.length, TOTAL, `Twilio received ${fake.created.length} creates`);
    const perBody = new Map<string, number>();
    for (const c of fake.created) {
      const key = c.body.split('\n')[0]!;
      perBody.set(key, (perBody.get(key) ?? 0) + 1);
    }
    assert.equal(perBody.size, TOTAL);
    assert.ok([...perBody.values()].every((n) => n === 1));
    const rows = await database.db.select({ id: messages.id, sid: messages.providerMessageId }).from(messages).where(eq(messages.orgId, org.orgId));
    const sidToBody = new Map(fake.created.map((c) => [c.sid, c.body]));
    assert.equal(new Set(rows.map((r) => r.sid)).size, TOTAL);
    for (const r of rows) assert.ok(sidToBody.has(r.sid!), `row ${r.id} holds a sid Twilio issued`);
    // The in-flight sends the crash left in doubt were found at Twilio, not sent again.
    const recovered = await database.db
      .select({ id: auditEvents.id })
      .from(auditEvents)
      .where(and(eq(auditEvents.orgId, org.orgId), eq(auditEvents.action, 'message.status_changed'), sql`${auditEvents.details}->>'recovered' = 'true'`));
    assert.ok(unrecorded > 0, 'the kill left sends in doubt');
    assert.ok(recovered.length > 0 && recovered.length <= unrecorded, `recovered ${recovered.length} of ${unrecorded} in doubt`);
    child.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));
    fake.assertNoViolations();
  });
});
