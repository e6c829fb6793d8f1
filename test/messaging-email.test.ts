// Email through a real SMTP server (the `smtp-server` package on 127.0.0.1): what arrives (envelope, headers,
// subject and text), a temporary refusal retried with backoff, a permanent refusal failed with the server's reason.
// Runs on both databases.
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { SMTPServer } from 'smtp-server';
import type { Message } from '../src/shared/api/messaging.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestOrg, type TestOrg } from './helpers/builders.js';
import { DB_KINDS } from './helpers/db.js';
import { newPatient, send, untilStatus } from './helpers/messaging.js';

interface Mail {
  from: string;
  to: string[];
  raw: string;
}

async function startSmtp(answer: (rcpt: string, n: number) => 'ok' | { code: number; message: string }) {
  const mails: Mail[] = [];
  const counts = new Map<string, number>();
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const to = session.envelope.rcptTo.map((r) => r.address);
        const n = (counts.get(to[0]!) ?? 0) + 1;
        counts.set(to[0]!, n);
        const verdict = answer(to[0]!, n);
        if (verdict !== 'ok') {
          const err = new Error(verdict.message) as Error & { responseCode: number };
          err.responseCode = verdict.code;
          callback(err);
          return;
        }
        mails.push({ from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '', to, raw: Buffer.concat(chunks).toString('utf8') });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as AddressInfo;
  return { url: `smtp://127.0.0.1:${port}`, mails, close: () => new Promise<void>((r) => server.close(() => r())) };
}

for (const kind of DB_KINDS) {
  describe(`email through SMTP (${kind})`, () => {
    let t: TestApp;
    let org: TestOrg;
    let smtp: Awaited<ReturnType<typeof startSmtp>>;
    before(async () => {
      smtp = await startSmtp((rcpt, n) => {
        if (rcpt === 'gone@example.test') return { code: 550, message: 'No such user here' };
        if (rcpt === 'busy@example.test' && n === 1) return { code: 451, message: 'Try again later' };
        return 'ok';
      });
      t = await createTestApp(kind, {
        env: { EMAIL_PROVIDER: 'smtp', SMTP_URL: smtp.url, EMAIL_FROM: 'Clinic <no-reply@clinic.example.test>', MESSAGING_QUIET_HOURS: '', MESSAGING_RETRY_DELAY_SECONDS: '1' },
      });
      org = await createTestOrg(t.app);
    });
    after(async () => {
      await t?.close();
      await smtp?.close();
    });

    test('a message arrives with our sender, the patient as recipient, its subject, its text and a Message-ID from its id', async () => {
      const p = await newPatient(org, { email: 'mia@example.test', sms: null });
      const res = await send(org.clinician, p.id, { channel: 'email', subject: 'Your visit tomorrow', body: 'Hello Mia,\nsee you at 10:00.' });
      assert.equal(res.statusCode, 201, res.body);
      const queued = res.json() as Message;
      const sent = await untilStatus(org.clinician, queued.id, 'sent');
      assert.equal(sent.provider, 'smtp');
      assert.equal(sent.from, 'Clinic <no-reply@clinic.example.test>');
      const mail = smtp.mails.find((m) => m.to.includes('mia@example.test'));
      assert.ok(mail, 'the SMTP server received it');
      assert.equal(mail.from, 'no-reply@clinic.example.test');
      assert.match(mail.raw, /^Subject: Your visit tomorrow\r?$/m);
      assert.match(mail.raw, /^From: Clinic <no-reply@clinic\.example\.test>\r?$/m);
      assert.match(mail.raw, /Hello Mia,\r?\nsee you at 10:00\./);
      assert.ok(mail.raw.includes(`Message-ID: <${queued.id}@clinic.example.test>`), 'the Message-ID comes from our id');
      assert.ok(!/Reply STOP/.test(mail.raw), 'the SMS opt-out notice is for texts only');
    });

    test('a temporary refusal (451) is retried; a permanent one (550) fails with the server’s reason', async () => {
      const busy = await newPatient(org, { email: 'busy@example.test', sms: null });
      const m1 = (await send(org.clinician, busy.id, { channel: 'email', body: 'Retry me' })).json() as Message;
      const sent = await untilStatus(org.clinician, m1.id, 'sent', 20_000);
      assert.equal(sent.attempts, 2);
      assert.equal(smtp.mails.filter((m) => m.to.includes('busy@example.test')).length, 1);
      const gone = await newPatient(org, { email: 'gone@example.test', sms: null });
      const m2 = (await send(org.clinician, gone.id, { channel: 'email', body: 'Nobody home' })).json() as Message;
      const failed = await untilStatus(org.clinician, m2.id, 'failed');
      assert.equal(failed.errorCode, 'smtp_550');
      assert.match(failed.errorReason ?? '', /No such user here/);
      assert.equal(failed.attempts, 1, 'a permanent refusal is not retried');
    });

    test('an email opt-out (revoked consent) refuses the send', async () => {
      const p = await newPatient(org, { email: 'out@example.test', sms: null });
      await org.clinician.post(`/api/v1/patients/${p.id}/consents`, { kind: 'email', status: 'revoked', method: 'written' });
      const res = await send(org.clinician, p.id, { channel: 'email', body: 'x' });
      assert.equal(res.statusCode, 409);
      assert.equal((res.json() as { error: { code: string } }).error.code, 'recipient_opted_out');
    });
  });
}
