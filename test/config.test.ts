import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, loadConfig, readDotEnv, type Config } from '../src/server/config.js';

const ACCOUNT_SID = `AC${'a1'.repeat(16)}`;
const API_KEY_SID = `SK${'b2'.repeat(16)}`;
const MESSAGING_SID = `MG${'c3'.repeat(16)}`;
const AUTH_TOKEN = 'd4'.repeat(16);

/** Every setting loadConfig reads; the .env test clears them from process.env while it runs. */
const SETTINGS = [
  'NODE_ENV',
  'HOST',
  'PORT',
  'PUBLIC_URL',
  'DATA_DIR',
  'DATABASE_URL',
  'DATABASE_POOL_SIZE',
  'REDIS_URL',
  'LOG_LEVEL',
  'TRUST_PROXY',
  'CORS_ORIGINS',
  'BODY_LIMIT_BYTES',
  'WS_MAX_PAYLOAD_BYTES',
  'SESSION_TTL_HOURS',
  'LOGIN_RATE_LIMIT_PER_MINUTE',
  'DEFAULT_PHONE_REGION',
  'MEDIA_PROVIDER',
  'MESSAGING_PROVIDER',
  'TWILIO_ACCOUNT_SID',
  'TWILIO_AUTH_TOKEN',
  'TWILIO_API_KEY_SID',
  'TWILIO_API_KEY_SECRET',
  'TWILIO_MESSAGING_SERVICE_SID',
  'TWILIO_FROM_NUMBER',
  'TWILIO_API_BASE_URL',
  'TWILIO_VIDEO_API_BASE_URL',
  'TWILIO_VIDEO_COMPOSITIONS',
  'TWILIO_REQUEST_TIMEOUT_SECONDS',
];

const tmpDirs: string[] = [];
function tmpDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ovt-config-'));
  tmpDirs.push(dir);
  return dir;
}
after(() => {
  for (const dir of tmpDirs) rmSync(dir, { recursive: true, force: true });
});

/** The problems a ConfigError lists, failing the test when loadConfig does not throw one. */
function problemsOf(env: Record<string, string | undefined>, overrides?: Record<string, string | undefined>): readonly string[] {
  try {
    loadConfig(env, overrides);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.name, 'ConfigError');
    for (const p of err.problems) assert.ok(err.message.includes(p), 'the message lists every problem');
    return err.problems;
  }
  assert.fail(`loadConfig accepted ${JSON.stringify(env)}`);
}

/** The setting each problem names (its first word). */
function settingsNamed(problems: readonly string[]): string[] {
  return problems.map((p) => p.split(' ')[0]!).sort();
}

describe('loadConfig', () => {
  test('defaults: port 3000, built-in media, outbox messaging, the embedded database under DATA_DIR/db', () => {
    const dataDir = tmpDir();
    const config = loadConfig({ DATA_DIR: dataDir });
    assert.equal(config.env, 'development');
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 3000);
    assert.equal(config.publicUrl, 'http://localhost:3000');
    assert.equal(config.dataDir, dataDir);
    assert.deepEqual(config.database, { kind: 'pglite', dataDir: path.join(dataDir, 'db') });
    assert.equal(config.mediaProvider, 'builtin');
    assert.equal(config.messagingProvider, 'outbox');
    assert.equal(config.redisUrl, undefined);
    assert.equal(config.logLevel, 'info');
    assert.equal(config.trustProxy, false);
    assert.deepEqual(config.corsOrigins, []);
    assert.equal(config.bodyLimitBytes, 1024 * 1024);
    assert.equal(config.wsMaxPayloadBytes, 64 * 1024);
    assert.equal(config.sessionTtlMs, 12 * 3600_000);
    assert.deepEqual(config.rateLimits, { loginPerMinute: 10, tokenPerMinute: 120, chatPerMinute: 60 });
    assert.equal(config.tokenSigningSecret, undefined);
    assert.deepEqual(config.rooms, { maxParticipants: 50, maxParticipantDurationS: 14_400, emptyTimeoutS: 300, unusedTimeoutS: 300, recordingRetentionDays: 0 });
    assert.equal(config.defaultPhoneRegion, 'US');
    assert.deepEqual(config.twilio, { accountSid: undefined, authToken: undefined, apiKeySid: undefined, apiKeySecret: undefined, messagingServiceSid: undefined, fromNumber: undefined, apiBaseUrl: 'https://api.twilio.com', videoApiBaseUrl: 'https://video.twilio.com', videoCompositions: true, requestTimeoutMs: 10_000 });

    // With nothing set at all, the data directory is ./data, made absolute.
    const bare = loadConfig({});
    assert.equal(bare.dataDir, path.resolve('data'));
    assert.deepEqual(bare.database, { kind: 'pglite', dataDir: path.resolve('data', 'db') });
  });

  test('settings are read and converted', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      HOST: ' 0.0.0.0 ',
      PORT: '8080',
      PUBLIC_URL: 'https://visits.example.org//',
      REDIS_URL: 'redis://127.0.0.1:6379',
      LOG_LEVEL: 'warn',
      TRUST_PROXY: 'yes',
      BODY_LIMIT_BYTES: '2048',
      SESSION_TTL_HOURS: '2',
      LOGIN_RATE_LIMIT_PER_MINUTE: '3',
      DEFAULT_PHONE_REGION: 'GB',
    });
    assert.equal(config.env, 'production');
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.port, 8080);
    assert.equal(config.publicUrl, 'https://visits.example.org', 'trailing slashes are dropped');
    assert.equal(config.redisUrl, 'redis://127.0.0.1:6379');
    assert.equal(config.logLevel, 'warn');
    assert.equal(config.trustProxy, true);
    assert.equal(config.bodyLimitBytes, 2048);
    assert.equal(config.sessionTtlMs, 2 * 3600_000);
    assert.equal(config.rateLimits.loginPerMinute, 3);
    assert.equal(config.defaultPhoneRegion, 'GB');
    // Without PUBLIC_URL it follows the port.
    assert.equal(loadConfig({ PORT: '4100' }).publicUrl, 'http://localhost:4100');
    for (const [value, expected] of [['true', true], ['1', true], ['false', false], ['0', false], ['no', false]] as const) {
      assert.equal(loadConfig({ TRUST_PROXY: value }).trustProxy, expected, value);
    }
  });

  test('DATABASE_URL switches to PostgreSQL', () => {
    const config = loadConfig({ DATABASE_URL: 'postgres://app:secret@db.internal:5432/openvisit', DATA_DIR: tmpDir() });
    assert.deepEqual(config.database, { kind: 'postgres', url: 'postgres://app:secret@db.internal:5432/openvisit', poolSize: 10 });
    const sized = loadConfig({ DATABASE_URL: 'postgresql://db.internal/openvisit', DATABASE_POOL_SIZE: '25' });
    assert.deepEqual(sized.database, { kind: 'postgres', url: 'postgresql://db.internal/openvisit', poolSize: 25 });
  });

  test('every problem is reported at once, each naming its setting', () => {
    const problems = problemsOf({ PORT: 'abc', LOG_LEVEL: 'loud', DATABASE_URL: 'mysql://db.internal/openvisit' });
    assert.equal(problems.length, 3, problems.join('\n'));
    assert.deepEqual(settingsNamed(problems), ['DATABASE_URL', 'LOG_LEVEL', 'PORT']);
    assert.match(problems.find((p) => p.startsWith('PORT'))!, /whole number/);
    assert.match(problems.find((p) => p.startsWith('DATABASE_URL'))!, /postgres:\/\//);

    // Problems of the cross-setting checks come together with the plain ones.
    const mixed = problemsOf({
      PORT: '70000',
      SESSION_TTL_HOURS: '0',
      TRUST_PROXY: 'maybe',
      PUBLIC_URL: 'visits.example.org',
      REDIS_URL: 'http://cache',
      NODE_ENV: 'staging',
      DEFAULT_PHONE_REGION: 'usa',
      MEDIA_PROVIDER: 'zoom',
      TWILIO_ACCOUNT_SID: 'nope',
      CORS_ORIGINS: 'https://ehr.example.org/app',
    });
    assert.deepEqual(settingsNamed(mixed), [
      'CORS_ORIGINS',
      'DEFAULT_PHONE_REGION',
      'MEDIA_PROVIDER',
      'NODE_ENV',
      'PORT',
      'PUBLIC_URL',
      'REDIS_URL',
      'SESSION_TTL_HOURS',
      'TRUST_PROXY',
      'TWILIO_ACCOUNT_SID',
    ]);
    assert.ok(mixed.includes('PORT must be at most 65535'));
    assert.ok(mixed.includes('SESSION_TTL_HOURS must be at least 1'));
    assert.ok(mixed.includes('MEDIA_PROVIDER must be builtin or twilio'));
  });

  test('numbers must be written as whole numbers; an empty value is not 0', () => {
    for (const value of ['', '  ', 'abc', '80.5', '0x50', '1e3', '3000abc']) {
      assert.deepEqual(problemsOf({ PORT: value }), ['PORT must be a whole number'], JSON.stringify(value));
    }
    assert.deepEqual(problemsOf({ PORT: '-1' }), ['PORT must be at least 0']);
    assert.deepEqual(problemsOf({ DATABASE_POOL_SIZE: '' }), ['DATABASE_POOL_SIZE must be a whole number']);
    assert.equal(loadConfig({ PORT: ' 8081 ' }).port, 8081);
    assert.equal(loadConfig({ PORT: '0' }).port, 0, 'an explicit 0 still means "any free port"');
  });

  test('Twilio SIDs must have the right prefix, naming the setting', () => {
    assert.deepEqual(settingsNamed(problemsOf({ TWILIO_ACCOUNT_SID: `SK${'a1'.repeat(16)}` })), ['TWILIO_ACCOUNT_SID']);
    assert.deepEqual(settingsNamed(problemsOf({ TWILIO_API_KEY_SID: `AC${'a1'.repeat(16)}` })), ['TWILIO_API_KEY_SID']);
    assert.deepEqual(settingsNamed(problemsOf({ TWILIO_MESSAGING_SERVICE_SID: ACCOUNT_SID })), ['TWILIO_MESSAGING_SERVICE_SID']);
    assert.deepEqual(settingsNamed(problemsOf({ TWILIO_ACCOUNT_SID: `AC${'a1'.repeat(15)}` })), ['TWILIO_ACCOUNT_SID'], 'too short');
    assert.deepEqual(settingsNamed(problemsOf({ TWILIO_ACCOUNT_SID: `AC${'zz'.repeat(16)}` })), ['TWILIO_ACCOUNT_SID'], 'not hex');
    assert.deepEqual(settingsNamed(problemsOf({ TWILIO_AUTH_TOKEN: ACCOUNT_SID })), ['TWILIO_AUTH_TOKEN']);
    const both = problemsOf({ TWILIO_ACCOUNT_SID: API_KEY_SID, TWILIO_API_KEY_SID: ACCOUNT_SID });
    assert.deepEqual(settingsNamed(both), ['TWILIO_ACCOUNT_SID', 'TWILIO_API_KEY_SID'], 'swapped SIDs are both reported');
    assert.ok(both.every((p) => /check you did not paste another credential/.test(p)));
    // Well-formed values are accepted (and trimmed) even while Twilio is not in use; empty ones count as unset.
    const ok = loadConfig({ TWILIO_ACCOUNT_SID: ` ${ACCOUNT_SID} `, TWILIO_API_KEY_SID: API_KEY_SID, TWILIO_AUTH_TOKEN: '', TWILIO_FROM_NUMBER: '  ' });
    assert.equal(ok.twilio.accountSid, ACCOUNT_SID);
    assert.equal(ok.twilio.apiKeySid, API_KEY_SID);
    assert.equal(ok.twilio.authToken, undefined);
    assert.equal(ok.twilio.fromNumber, undefined);
  });

  test('choosing Twilio without its credentials names each missing setting', () => {
    const media = problemsOf({ MEDIA_PROVIDER: 'twilio' });
    assert.deepEqual(settingsNamed(media), ['TWILIO_ACCOUNT_SID', 'TWILIO_API_KEY_SECRET', 'TWILIO_API_KEY_SID', 'TWILIO_AUTH_TOKEN']);
    assert.ok(media.every((p) => p.includes('required')));
    const partly = problemsOf({ MEDIA_PROVIDER: 'twilio', TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_API_KEY_SECRET: '   ' });
    assert.deepEqual(settingsNamed(partly), ['TWILIO_API_KEY_SECRET', 'TWILIO_API_KEY_SID', 'TWILIO_AUTH_TOKEN']);
    const messaging = problemsOf({ MESSAGING_PROVIDER: 'twilio' });
    assert.deepEqual(settingsNamed(messaging), ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM_NUMBER']);
    const both = problemsOf({ MEDIA_PROVIDER: 'twilio', MESSAGING_PROVIDER: 'twilio' });
    assert.deepEqual(settingsNamed(both), ['TWILIO_ACCOUNT_SID', 'TWILIO_API_KEY_SECRET', 'TWILIO_API_KEY_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_FROM_NUMBER'], 'each setting once');

    const config = loadConfig({
      MEDIA_PROVIDER: 'twilio',
      MESSAGING_PROVIDER: 'twilio',
      TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      TWILIO_API_KEY_SID: API_KEY_SID,
      TWILIO_API_KEY_SECRET: 'key-secret',
      TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      TWILIO_MESSAGING_SERVICE_SID: MESSAGING_SID,
    });
    assert.equal(config.mediaProvider, 'twilio');
    assert.equal(config.messagingProvider, 'twilio');
    assert.deepEqual(config.twilio, { accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiKeySid: API_KEY_SID, apiKeySecret: 'key-secret', messagingServiceSid: MESSAGING_SID, fromNumber: undefined, apiBaseUrl: 'https://api.twilio.com', videoApiBaseUrl: 'https://video.twilio.com', videoCompositions: true, requestTimeoutMs: 10_000 });
    // A from-number stands in for the messaging service.
    assert.equal(loadConfig({ MESSAGING_PROVIDER: 'twilio', TWILIO_ACCOUNT_SID: ACCOUNT_SID, TWILIO_AUTH_TOKEN: AUTH_TOKEN, TWILIO_FROM_NUMBER: '+15555550100' }).twilio.fromNumber, '+15555550100');
  });

  test('CORS_ORIGINS entries must be origins', () => {
    const config = loadConfig({ CORS_ORIGINS: ' https://ehr.example.org , http://localhost:5173/ ,, https://portal.example.org:8443' });
    assert.deepEqual(config.corsOrigins, ['https://ehr.example.org', 'http://localhost:5173', 'https://portal.example.org:8443']);
    for (const bad of ['https://ehr.example.org/app', '*', 'ehr.example.org', 'ftp://files.example.org', 'https://ehr.example.org?x=1', 'https://user:pw@ehr.example.org', 'null']) {
      const problems = problemsOf({ CORS_ORIGINS: `https://fine.example.org,${bad}` });
      assert.equal(problems.length, 1, `${bad}: ${problems.join('\n')}`);
      assert.ok(problems[0]!.startsWith('CORS_ORIGINS '), problems[0]);
      assert.ok(problems[0]!.includes(`"${bad}"`), 'the offending entry is quoted');
    }
    assert.deepEqual(settingsNamed(problemsOf({ CORS_ORIGINS: '*, https://a.example.org/x' })), ['CORS_ORIGINS', 'CORS_ORIGINS'], 'every bad entry is reported');
  });

  test('webhook deliveries: timeout, attempts and retry delay, with their bounds', () => {
    assert.deepEqual(loadConfig({}).webhooks, { timeoutMs: 10_000, maxAttempts: 8, retryDelayS: 10 });
    assert.deepEqual(loadConfig({ WEBHOOK_TIMEOUT_SECONDS: '3', WEBHOOK_MAX_ATTEMPTS: '1', WEBHOOK_RETRY_DELAY_SECONDS: '1' }).webhooks, { timeoutMs: 3000, maxAttempts: 1, retryDelayS: 1 });
    const problems = problemsOf({ WEBHOOK_TIMEOUT_SECONDS: '0', WEBHOOK_MAX_ATTEMPTS: '21', WEBHOOK_RETRY_DELAY_SECONDS: '1.5' });
    assert.deepEqual(settingsNamed(problems), ['WEBHOOK_MAX_ATTEMPTS', 'WEBHOOK_RETRY_DELAY_SECONDS', 'WEBHOOK_TIMEOUT_SECONDS']);
  });

  test('usage rates, the survey link and recording retention', () => {
    const defaults = loadConfig({});
    assert.deepEqual(defaults.usage, { participantMinuteRate: 0.004, recordingMinuteRate: 0.004, compositionMinuteRate: 0.02, currency: 'USD' });
    assert.equal(defaults.visits.surveyUrl, undefined);
    const set = loadConfig({ USAGE_PARTICIPANT_MINUTE_RATE: '0.0015', USAGE_RECORDING_MINUTE_RATE: '0', USAGE_COMPOSITION_MINUTE_RATE: '0.01', USAGE_CURRENCY: 'EUR', VISIT_SURVEY_URL: 'https://s.example.org/?v={visitId}', RECORDING_RETENTION_DAYS: '90' });
    assert.deepEqual(set.usage, { participantMinuteRate: 0.0015, recordingMinuteRate: 0, compositionMinuteRate: 0.01, currency: 'EUR' });
    assert.equal(set.visits.surveyUrl, 'https://s.example.org/?v={visitId}');
    assert.equal(set.rooms.recordingRetentionDays, 90);
    const problems = problemsOf({ USAGE_PARTICIPANT_MINUTE_RATE: '4e-3', USAGE_RECORDING_MINUTE_RATE: '-1', USAGE_COMPOSITION_MINUTE_RATE: 'x', USAGE_CURRENCY: 'usd', VISIT_SURVEY_URL: 'ftp://x', RECORDING_RETENTION_DAYS: '1.5' });
    assert.deepEqual(settingsNamed(problems), ['RECORDING_RETENTION_DAYS', 'USAGE_COMPOSITION_MINUTE_RATE', 'USAGE_CURRENCY', 'USAGE_PARTICIPANT_MINUTE_RATE', 'USAGE_RECORDING_MINUTE_RATE', 'VISIT_SURVEY_URL']);
  });

  test('messaging: providers, quiet hours, reminders, the encryption key, the outbox worker', () => {
    const d = loadConfig({}).messaging;
    assert.equal(d.smsProvider, 'outbox');
    assert.equal(d.emailProvider, 'outbox');
    assert.deepEqual(d.quietHours, { start: 21 * 60, end: 8 * 60 });
    assert.deepEqual(d.reminderOffsetsMinutes, [1440, 15]);
    assert.equal(d.encryptionKey, undefined);
    assert.equal(d.segmentPrice, 0.0079);
    assert.equal(d.senderRatePerSecond, 1);
    assert.deepEqual([d.maxAttempts, d.retryDelayMs, d.concurrency, d.sendTimeoutMs, d.outboxDeliveryDelayMs, d.intakeLinkTtlMs], [8, 2000, 4, 15_000, 1500, 7 * 24 * 3600_000]);
    const key = Buffer.alloc(32, 7).toString('base64');
    const set = loadConfig({
      EMAIL_PROVIDER: 'smtp',
      SMTP_URL: 'smtps://u:p@mail.example.org:465',
      MESSAGING_QUIET_HOURS: '',
      REMINDER_OFFSETS_MINUTES: '15, 60,1440,60',
      MESSAGE_ENCRYPTION_KEY: key,
      TWILIO_API_BASE_URL: 'http://127.0.0.1:9999/',
    });
    assert.equal(set.messaging.emailProvider, 'smtp');
    assert.equal(set.messaging.quietHours, null);
    assert.deepEqual(set.messaging.reminderOffsetsMinutes, [1440, 60, 15]);
    assert.equal(set.messaging.encryptionKey, key);
    assert.equal(set.twilio.apiBaseUrl, 'http://127.0.0.1:9999');
    const problems = problemsOf({ EMAIL_PROVIDER: 'smtp', MESSAGING_QUIET_HOURS: '9pm-8am', REMINDER_OFFSETS_MINUTES: '1 day', MESSAGE_ENCRYPTION_KEY: 'c2hvcnQ=', SMS_SENDER_RATE_PER_SECOND: '0' });
    assert.deepEqual(settingsNamed(problems), ['MESSAGE_ENCRYPTION_KEY', 'MESSAGING_QUIET_HOURS', 'REMINDER_OFFSETS_MINUTES', 'SMS_SENDER_RATE_PER_SECOND', 'SMTP_URL']);
  });

  test('the configuration is deeply frozen', () => {
    const config = loadConfig({ CORS_ORIGINS: 'https://ehr.example.org', DATABASE_URL: 'postgres://db.internal/openvisit' });
    for (const part of [config, config.database, config.twilio, config.rateLimits, config.corsOrigins]) {
      assert.ok(Object.isFrozen(part), JSON.stringify(part));
    }
    const mutable = config as unknown as { port: number; database: { url: string }; twilio: { accountSid: string }; rateLimits: { loginPerMinute: number }; corsOrigins: string[] };
    // Test files are ES modules, so strict mode: writing to a frozen object throws.
    assert.throws(() => {
      mutable.port = 1;
    }, TypeError);
    assert.throws(() => {
      mutable.database.url = 'postgres://evil/db';
    }, TypeError);
    assert.throws(() => {
      mutable.twilio.accountSid = ACCOUNT_SID;
    }, TypeError);
    assert.throws(() => {
      mutable.rateLimits.loginPerMinute = 1e6;
    }, TypeError);
    assert.throws(() => mutable.corsOrigins.push('https://evil.example.org'), TypeError);
    assert.equal(config.port, 3000);
    assert.equal((config.database as Extract<Config['database'], { kind: 'postgres' }>).url, 'postgres://db.internal/openvisit');
    assert.deepEqual(config.corsOrigins, ['https://ehr.example.org']);
  });

  test('overrides win over the environment', () => {
    const config = loadConfig({ PORT: '4000', LOG_LEVEL: 'debug', DATABASE_URL: 'postgres://db.internal/x' }, { PORT: '5000', DATABASE_URL: undefined });
    assert.equal(config.port, 5000);
    assert.equal(config.logLevel, 'debug');
    assert.equal(config.database.kind, 'pglite', 'an undefined override unsets the setting');
    assert.deepEqual(settingsNamed(problemsOf({ PORT: '4000' }, { PORT: 'x' })), ['PORT']);
  });
});

describe('readDotEnv', () => {
  test('reads .env from a directory; a missing file is no settings', () => {
    const dir = tmpDir();
    assert.deepEqual(readDotEnv(dir), {});
    writeFileSync(
      path.join(dir, '.env'),
      ['# a comment', 'PORT=4123', '', 'LOG_LEVEL="debug"', "PUBLIC_URL='https://visits.example.org'", 'CORS_ORIGINS=https://a.example.org,https://b.example.org # trailing comment', 'EMPTY='].join('\n'),
    );
    const values = readDotEnv(dir);
    assert.equal(values.PORT, '4123');
    assert.equal(values.LOG_LEVEL, 'debug');
    assert.equal(values.PUBLIC_URL, 'https://visits.example.org');
    assert.equal(values.CORS_ORIGINS, 'https://a.example.org,https://b.example.org');
    assert.equal(values.EMPTY, '');
    assert.ok(!('# a comment' in values));
    const config = loadConfig(values);
    assert.equal(config.port, 4123);
    assert.equal(config.publicUrl, 'https://visits.example.org');
    assert.deepEqual(config.corsOrigins, ['https://a.example.org', 'https://b.example.org']);
  });

  test('loadConfig() reads .env from the working directory, and the environment wins over it', () => {
    const dir = tmpDir();
    writeFileSync(path.join(dir, '.env'), ['PORT=4123', 'LOG_LEVEL=debug', `DATA_DIR=${path.join(dir, 'from-dotenv')}`, 'DEFAULT_PHONE_REGION=GB'].join('\n'));
    const savedCwd = process.cwd();
    const savedEnv = Object.fromEntries(SETTINGS.map((k) => [k, process.env[k]]));
    try {
      for (const k of SETTINGS) delete process.env[k];
      process.chdir(dir);
      process.env.LOG_LEVEL = 'error';
      process.env.DEFAULT_PHONE_REGION = 'FR';
      const config = loadConfig();
      assert.equal(config.port, 4123, 'from .env');
      assert.equal(config.dataDir, path.join(dir, 'from-dotenv'), 'from .env');
      assert.equal(config.logLevel, 'error', 'the environment wins');
      assert.equal(config.defaultPhoneRegion, 'FR', 'the environment wins');

      // A bad value in .env is reported like any other.
      writeFileSync(path.join(dir, '.env'), 'PORT=eighty\n');
      assert.throws(() => loadConfig(), (err) => err instanceof ConfigError && err.problems.length === 1 && err.problems[0]!.startsWith('PORT '));
      // ...unless the environment overrides it.
      process.env.PORT = '8088';
      assert.equal(loadConfig().port, 8088);
    } finally {
      process.chdir(savedCwd);
      for (const k of SETTINGS) {
        if (savedEnv[k] === undefined) delete process.env[k];
        else process.env[k] = savedEnv[k];
      }
    }
  });
});
