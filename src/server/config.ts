import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isIP } from 'node:net';
import { parseEnv } from 'node:util';
import { z } from 'zod';

/**
 * Configuration: read from the environment (and `.env`), validated once, reported all at once, frozen.
 * Every setting is documented in `.env.example`; keep the two in step.
 */

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'use true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

// Digits only: Number() would read "" and "  " as 0 (PORT= would silently mean "any port") and accept "0x10" or "1e3".
const int = (min: number, max: number) =>
  z.preprocess(
    (v) => (typeof v === 'string' && !/^\s*-?\d+\s*$/.test(v) ? Number.NaN : v),
    z.coerce
      .number({ message: 'must be a whole number' })
      .int({ message: 'must be a whole number' })
      .min(min, { message: `must be at least ${min}` })
      .max(max, { message: `must be at most ${max}` }),
  );

// A money rate such as 0.004: decimal digits only (no exponent, no hex), never negative.
const rate = z.preprocess(
  (v) => (typeof v === 'string' && !/^\s*\d+(\.\d+)?\s*$/.test(v) ? Number.NaN : v),
  z.coerce.number({ message: 'must be a decimal number such as 0.004' }).min(0).max(1000),
);

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const url = (protocols: string[], hint: string) =>
  z
    .string()
    .trim()
    .refine(
      (v) => {
        try {
          return protocols.includes(new URL(v).protocol);
        } catch {
          return false;
        }
      },
      { message: hint },
    );

const EnvSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    HOST: z.string().trim().min(1).default('127.0.0.1'),
    PORT: int(0, 65535).default(3000),
    PUBLIC_URL: url(['http:', 'https:'], 'must be an http(s) URL such as https://visits.example.org').optional(),
    DATA_DIR: z.string().trim().min(1).default('./data'),
    DATABASE_URL: url(['postgres:', 'postgresql:'], 'must be a postgres:// URL (leave it unset for the embedded database)').optional(),
    DATABASE_POOL_SIZE: int(1, 200).default(10),
    REDIS_URL: url(['redis:', 'rediss:'], 'must be a redis:// URL (leave it unset for in-process events)').optional(),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    TRUST_PROXY: bool.default(false),
    CORS_ORIGINS: z.string().default(''),
    BODY_LIMIT_BYTES: int(1024, 50 * 1024 * 1024).default(1024 * 1024),
    WS_MAX_PAYLOAD_BYTES: int(1024, 16 * 1024 * 1024).default(64 * 1024),
    SESSION_TTL_HOURS: int(1, 24 * 90).default(12),
    LOGIN_RATE_LIMIT_PER_MINUTE: int(1, 10_000).default(10),
    TOKEN_RATE_LIMIT_PER_MINUTE: int(1, 100_000).default(120),
    CHAT_RATE_LIMIT_PER_MINUTE: int(1, 100_000).default(60),
    TOKEN_SIGNING_SECRET: optionalString,
    CHANNEL_SIGNING_SECRET: optionalString,
    ROOM_MAX_PARTICIPANTS: int(1, 500).default(50),
    ROOM_MAX_PARTICIPANT_DURATION_SECONDS: int(10, 86_400).default(14_400),
    ROOM_EMPTY_TIMEOUT_SECONDS: int(1, 86_400).default(300),
    ROOM_UNUSED_TIMEOUT_SECONDS: int(1, 86_400).default(300),
    RTC_ANNOUNCED_ADDRESSES: z.string().default(''),
    RTC_USE_INTERFACE_ADDRESSES: bool.default(true),
    RTC_UDP_PORT_MIN: int(1024, 65535).optional(),
    RTC_UDP_PORT_MAX: int(1024, 65535).optional(),
    RTC_RECONNECT_GRACE_SECONDS: int(1, 600).default(15),
    RTC_MAX_BITRATE_BPS: int(100_000, 50_000_000).default(1_500_000),
    STUN_URLS: z.string().default(''),
    TURN_URLS: z.string().default(''),
    TURN_SECRET: optionalString,
    TURN_CREDENTIAL_TTL_SECONDS: int(60, 7 * 86_400).default(86_400),
    RECORDINGS_DIR: optionalString,
    GROUP_MAX_PARTICIPANTS: int(2, 50).default(50),
    GROUP_LAST_N: int(1, 49).default(9),
    GROUP_DOWNLINK_BPS: int(100_000, 100_000_000).default(2_500_000),
    GROUP_AUDIO_BITRATE_BPS: int(6_000, 510_000).default(16_000),
    GROUP_VIDEO_WIDTH: int(160, 3840).default(1280),
    GROUP_VIDEO_HEIGHT: int(120, 2160).default(720),
    GROUP_VIDEO_FRAME_RATE: int(5, 60).default(24),
    VISIT_JOIN_WINDOW_BEFORE_MINUTES: int(0, 7 * 24 * 60).default(30),
    VISIT_JOIN_WINDOW_AFTER_MINUTES: int(0, 7 * 24 * 60).default(120),
    VISIT_LINK_TTL_HOURS: int(1, 90 * 24).default(7 * 24),
    LINK_SIGNING_SECRET: optionalString,
    VISIT_SURVEY_URL: url(['http:', 'https:'], 'must be an http(s) URL; {visitId} in it is replaced').optional(),
    RECORDING_RETENTION_DAYS: int(0, 36_500).default(0),
    CHECKIN_RING_SECONDS: int(15, 600).default(120),
    CHECKIN_TEXT_AFTER_SECONDS: int(0, 300).default(10),
    CHECKIN_RECONNECT_SECONDS: int(5, 600).default(30),
    CARE_LINK_TTL_DAYS: int(1, 365).default(30),
    CARE_SESSION_DAYS: int(1, 365).default(90),
    USAGE_PARTICIPANT_MINUTE_RATE: rate.default(0.004),
    USAGE_RECORDING_MINUTE_RATE: rate.default(0.004),
    // Seed 000's "Composition (multi-party recording): $0.020/min", per composed minute; the other two rates are
    // that seed's too. Set your contract's rates: Twilio's pricing page is the authority.
    USAGE_COMPOSITION_MINUTE_RATE: rate.default(0.02),
    USAGE_CURRENCY: z.string().trim().regex(/^[A-Z]{3}$/, { message: 'must be a three-letter currency code such as USD' }).default('USD'),
    WEBHOOK_TIMEOUT_SECONDS: int(1, 60).default(10),
    WEBHOOK_MAX_ATTEMPTS: int(1, 20).default(8),
    WEBHOOK_RETRY_DELAY_SECONDS: int(1, 3600).default(10),
    DEFAULT_PHONE_REGION: z
      .string()
      .trim()
      .regex(/^[A-Z]{2}$/, { message: 'must be a two-letter ISO country code such as US or GB' })
      .default('US'),
    MEDIA_PROVIDER: z.enum(['builtin', 'twilio'], { message: 'must be builtin or twilio' }).default('builtin'),
    MESSAGING_PROVIDER: z.enum(['outbox', 'twilio'], { message: 'must be outbox or twilio' }).default('outbox'),
    TWILIO_ACCOUNT_SID: optionalString,
    TWILIO_AUTH_TOKEN: optionalString,
    TWILIO_API_KEY_SID: optionalString,
    TWILIO_API_KEY_SECRET: optionalString,
    TWILIO_MESSAGING_SERVICE_SID: optionalString,
    TWILIO_FROM_NUMBER: optionalString,
    TWILIO_API_BASE_URL: url(['http:', 'https:'], 'must be an http(s) URL (Twilio\'s API host, or a proxy in front of it)').default('https://api.twilio.com'),
    TWILIO_VIDEO_API_BASE_URL: url(['http:', 'https:'], 'must be an http(s) URL (Twilio Video\'s API host, or a proxy in front of it)').default('https://video.twilio.com'),
    TWILIO_VIDEO_COMPOSITIONS: bool.default(true),
    TWILIO_REQUEST_TIMEOUT_SECONDS: int(1, 120).default(10),
    EMAIL_PROVIDER: z.enum(['outbox', 'smtp'], { message: 'must be outbox or smtp' }).default('outbox'),
    SMTP_URL: url(['smtp:', 'smtps:'], 'must be an smtp:// or smtps:// URL such as smtps://user:pass@mail.example.org').optional(),
    EMAIL_FROM: z.string().trim().min(3).default('OpenVisit <no-reply@localhost>'),
    MESSAGE_ENCRYPTION_KEY: optionalString,
    SMS_SEGMENT_PRICE: rate.default(0.0079),
    SMS_SENDER_RATE_PER_SECOND: int(1, 10_000).default(1),
    MESSAGING_QUIET_HOURS: z
      .string()
      .trim()
      .regex(/^(([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d)?$/, { message: 'must be HH:MM-HH:MM such as 21:00-08:00, or empty for none' })
      .default('21:00-08:00'),
    REMINDER_OFFSETS_MINUTES: z
      .string()
      .trim()
      .regex(/^(\d{1,5}(\s*,\s*\d{1,5})*)?$/, { message: 'must be minutes before the appointment, comma-separated, such as 1440,15' })
      .default('1440,15'),
    MESSAGING_MAX_ATTEMPTS: int(1, 50).default(8),
    MESSAGING_RETRY_DELAY_SECONDS: int(1, 3600).default(2),
    MESSAGING_CONCURRENCY: int(1, 64).default(4),
    MESSAGING_SEND_TIMEOUT_SECONDS: int(1, 120).default(15),
    OUTBOX_DELIVERY_DELAY_MS: int(0, 600_000).default(1500),
    INTAKE_LINK_TTL_HOURS: int(1, 90 * 24).default(7 * 24),
  })
  .superRefine((env, ctx) => {
    const issue = (key: string, message: string) => ctx.addIssue({ code: 'custom', path: [key], message });
    const sid = (key: keyof typeof env, prefix: string, what: string) => {
      const value = env[key];
      if (typeof value === 'string' && !new RegExp(`^${prefix}[0-9a-fA-F]{32}$`).test(value)) {
        issue(key, `must be a ${what} (${prefix} followed by 32 hex characters); check you did not paste another credential here`);
      }
    };
    sid('TWILIO_ACCOUNT_SID', 'AC', 'Twilio account SID');
    sid('TWILIO_API_KEY_SID', 'SK', 'Twilio API key SID');
    sid('TWILIO_MESSAGING_SERVICE_SID', 'MG', 'Twilio messaging service SID');
    const twilioUsed = env.MEDIA_PROVIDER === 'twilio' || env.MESSAGING_PROVIDER === 'twilio';
    if (twilioUsed && !env.TWILIO_ACCOUNT_SID) {
      issue('TWILIO_ACCOUNT_SID', 'is required when MEDIA_PROVIDER or MESSAGING_PROVIDER is twilio');
    }
    if (env.MEDIA_PROVIDER === 'twilio') {
      if (!env.TWILIO_API_KEY_SID) issue('TWILIO_API_KEY_SID', 'is required when MEDIA_PROVIDER=twilio (create an API key in the Twilio console)');
      if (!env.TWILIO_API_KEY_SECRET) issue('TWILIO_API_KEY_SECRET', 'is required when MEDIA_PROVIDER=twilio');
    }
    if (twilioUsed && !env.TWILIO_AUTH_TOKEN) {
      issue('TWILIO_AUTH_TOKEN', `is required when ${env.MEDIA_PROVIDER === 'twilio' ? 'MEDIA_PROVIDER=twilio (it validates the rooms\' status callbacks)' : 'MESSAGING_PROVIDER=twilio (it validates inbound webhooks)'}`);
    }
    if (env.MESSAGING_PROVIDER === 'twilio') {
      if (!env.TWILIO_FROM_NUMBER && !env.TWILIO_MESSAGING_SERVICE_SID) {
        issue('TWILIO_FROM_NUMBER', 'set TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID when MESSAGING_PROVIDER=twilio');
      }
    }
    if (env.EMAIL_PROVIDER === 'smtp' && !env.SMTP_URL) issue('SMTP_URL', 'is required when EMAIL_PROVIDER=smtp');
    if (typeof env.MESSAGE_ENCRYPTION_KEY === 'string' && Buffer.from(env.MESSAGE_ENCRYPTION_KEY, 'base64').length !== 32) {
      issue('MESSAGE_ENCRYPTION_KEY', 'must be 32 bytes in base64 (e.g. the output of: openssl rand -base64 32)');
    }
    if (typeof env.LINK_SIGNING_SECRET === 'string' && env.LINK_SIGNING_SECRET.trim().length > 0 && env.LINK_SIGNING_SECRET.trim().length < 32) {
      issue('LINK_SIGNING_SECRET', 'must be at least 32 characters (e.g. the output of: openssl rand -base64 48)');
    }
    if (typeof env.TOKEN_SIGNING_SECRET === 'string' && env.TOKEN_SIGNING_SECRET.trim().length > 0 && env.TOKEN_SIGNING_SECRET.trim().length < 32) {
      issue('TOKEN_SIGNING_SECRET', 'must be at least 32 characters (e.g. the output of: openssl rand -base64 48)');
    }
    if (typeof env.CHANNEL_SIGNING_SECRET === 'string' && env.CHANNEL_SIGNING_SECRET.trim().length > 0 && env.CHANNEL_SIGNING_SECRET.trim().length < 32) {
      issue('CHANNEL_SIGNING_SECRET', 'must be at least 32 characters (e.g. the output of: openssl rand -base64 48)');
    }
    if (env.TWILIO_AUTH_TOKEN && !/^[0-9a-fA-F]{32}$/.test(env.TWILIO_AUTH_TOKEN)) {
      issue('TWILIO_AUTH_TOKEN', 'must be 32 hex characters (the auth token, not the account SID or an API key)');
    }
    for (const address of splitList(String(env.RTC_ANNOUNCED_ADDRESSES ?? ''))) {
      if (isIP(address) === 0) issue('RTC_ANNOUNCED_ADDRESSES', `"${address}" is not an IP address (list the addresses browsers reach this server at, comma-separated)`);
    }
    if (env.RTC_USE_INTERFACE_ADDRESSES === false && splitList(String(env.RTC_ANNOUNCED_ADDRESSES ?? '')).length === 0) {
      issue('RTC_ANNOUNCED_ADDRESSES', 'is required when RTC_USE_INTERFACE_ADDRESSES=false (otherwise no address is announced and no call connects)');
    }
    if ((env.RTC_UDP_PORT_MIN === undefined) !== (env.RTC_UDP_PORT_MAX === undefined)) {
      issue('RTC_UDP_PORT_MAX', 'set both RTC_UDP_PORT_MIN and RTC_UDP_PORT_MAX, or neither');
    } else if (typeof env.RTC_UDP_PORT_MIN === 'number' && typeof env.RTC_UDP_PORT_MAX === 'number' && env.RTC_UDP_PORT_MIN >= env.RTC_UDP_PORT_MAX) {
      issue('RTC_UDP_PORT_MAX', 'must be greater than RTC_UDP_PORT_MIN');
    }
    for (const [key, schemes] of [['STUN_URLS', ['stun:', 'stuns:']], ['TURN_URLS', ['turn:', 'turns:']]] as const) {
      for (const u of splitList(String(env[key] ?? ''))) {
        if (!(schemes as readonly string[]).some((s) => u.startsWith(s))) issue(key, `"${u}" must start with ${schemes.join(' or ')}`);
      }
    }
    if (splitList(String(env.TURN_URLS ?? '')).length > 0 && !env.TURN_SECRET) {
      issue('TURN_SECRET', "is required with TURN_URLS (the shared secret of coturn's use-auth-secret / static-auth-secret)");
    }
    for (const origin of splitList(String(env.CORS_ORIGINS ?? ''))) {
      if (!isOrigin(origin)) issue('CORS_ORIGINS', `"${origin}" is not an origin such as https://ehr.example.org (scheme, host and optional port, no path)`);
    }
    // Run these checks even when a field failed, so every problem is reported at once.
  }, { when: () => true });

export interface Config {
  readonly env: 'development' | 'production' | 'test';
  readonly host: string;
  readonly port: number;
  /** The URL people and webhooks reach this server at, without a trailing slash. */
  readonly publicUrl: string;
  readonly dataDir: string;
  readonly database: { readonly kind: 'pglite'; readonly dataDir: string } | { readonly kind: 'postgres'; readonly url: string; readonly poolSize: number };
  readonly redisUrl: string | undefined;
  readonly logLevel: string;
  readonly trustProxy: boolean;
  readonly corsOrigins: readonly string[];
  readonly bodyLimitBytes: number;
  readonly wsMaxPayloadBytes: number;
  readonly sessionTtlMs: number;
  readonly rateLimits: { readonly loginPerMinute: number; readonly tokenPerMinute: number; readonly chatPerMinute: number };
  /** Signs builtin media access tokens; absent = a key generated once under DATA_DIR/secrets. */
  readonly tokenSigningSecret: string | undefined;
  /** Signs participant channel tokens (whatever the media provider); absent = a key generated once under DATA_DIR/secrets. */
  readonly channelSigningSecret: string | undefined;
  /** Defaults for new rooms (a request may set its own within limits). */
  readonly rooms: {
    readonly maxParticipants: number;
    readonly maxParticipantDurationS: number;
    readonly emptyTimeoutS: number;
    readonly unusedTimeoutS: number;
    /** Recording files older than this many days are deleted (the record stays); 0 = kept. */
    readonly recordingRetentionDays: number;
  };
  /** The builtin media plane's network settings. */
  readonly rtc: {
    /** Addresses announced as ICE host candidates (what browsers reach the SFU at). */
    readonly announcedAddresses: readonly string[];
    /** Also announce the machine's own interface addresses. */
    readonly useInterfaceAddresses: boolean;
    readonly udpPortRange: readonly [number, number] | undefined;
    readonly reconnectGraceMs: number;
    /** The send rate each publisher is capped at (REMB). */
    readonly maxBitrateBps: number;
    readonly stunUrls: readonly string[];
    readonly turnUrls: readonly string[];
    readonly turnSecret: string | undefined;
    readonly turnCredentialTtlS: number;
    readonly recordingsDir: string;
  };
  /** Visits: when join links work (around the scheduled start), how long a link lives, what signs links. */
  readonly visits: {
    readonly joinWindowBeforeMs: number;
    readonly joinWindowAfterMs: number;
    readonly linkTtlMs: number;
    /** Absent = a key generated once under DATA_DIR/secrets. */
    readonly linkSigningSecret: string | undefined;
    /** The post-visit survey offered to patients (`{visitId}` replaced); absent = none. */
    readonly surveyUrl: string | undefined;
  };
  /**
   * Group visits (docs/groups.md): the default size limit of a new organisation's groups, and how media is shared out
   * at group size (seed 002's defaults): last-N, the downlink a subscriber gets at most, the audio bitrate and the
   * camera constraints the SDK asks for.
   */
  readonly groups: {
    readonly maxParticipants: number;
    readonly lastN: number;
    readonly downlinkBps: number;
    readonly audioBitrateBps: number;
    readonly video: { readonly width: number; readonly height: number; readonly frameRate: number };
  };
  /** Check-in calls (docs/checkins.md): how long a call rings, when the fallback text goes, care links and sessions. */
  readonly checkins: {
    /** Unanswered this long, a call is missed (default 2 minutes). */
    readonly ringMs: number;
    /** A callee whose open app has not shown the ring this long gets a text with the call's link (the recipient: patient messaging). */
    readonly textAfterMs: number;
    /** Both parties gone this long during a call, it ends as `disconnected` (or at its limit, if sooner). */
    readonly reconnectMs: number;
    readonly careLinkTtlMs: number;
    readonly careSessionMs: number;
  };
  /** Usage metering: the rates an estimate of cost uses (the seeds' Twilio rates by default). */
  readonly usage: {
    /** Per participant-minute (Group rooms). */
    readonly participantMinuteRate: number;
    /** Per recorded participant-minute (however many tracks a participant's recording has). */
    readonly recordingMinuteRate: number;
    /** Per composed minute (a room's composition, one playable file). */
    readonly compositionMinuteRate: number;
    readonly currency: string;
  };
  /** Deliveries to host apps' webhook endpoints (Standard Webhooks), retried by the job queue. */
  readonly webhooks: {
    /** How long one delivery attempt may take (connect to the end of the answer's headers). */
    readonly timeoutMs: number;
    /** Attempts per delivery, the first included; after the last one the delivery is `failed`. */
    readonly maxAttempts: number;
    /** Before the first retry; each later retry waits about twice as long (exponential backoff with jitter). */
    readonly retryDelayS: number;
  };
  readonly defaultPhoneRegion: string;
  /** Patient messaging: providers, the outbox worker, quiet hours, reminders, encryption at rest. */
  readonly messaging: {
    readonly smsProvider: 'outbox' | 'twilio';
    readonly emailProvider: 'outbox' | 'smtp';
    readonly smtpUrl: string | undefined;
    readonly emailFrom: string;
    /** 32 bytes in base64; absent = a key generated once under DATA_DIR/secrets. */
    readonly encryptionKey: string | undefined;
    readonly segmentPrice: number;
    readonly currency: string;
    /** SMS segments per second per sender (a long code sends about 1, toll-free 3). */
    readonly senderRatePerSecond: number;
    /** Minutes after midnight [start, end); null = no quiet hours. */
    readonly quietHours: { readonly start: number; readonly end: number } | null;
    readonly reminderOffsetsMinutes: readonly number[];
    readonly maxAttempts: number;
    readonly retryDelayMs: number;
    readonly concurrency: number;
    readonly sendTimeoutMs: number;
    readonly outboxDeliveryDelayMs: number;
    readonly intakeLinkTtlMs: number;
  };
  readonly mediaProvider: 'builtin' | 'twilio';
  readonly messagingProvider: 'outbox' | 'twilio';
  readonly twilio: {
    readonly accountSid: string | undefined;
    readonly authToken: string | undefined;
    readonly apiKeySid: string | undefined;
    readonly apiKeySecret: string | undefined;
    readonly messagingServiceSid: string | undefined;
    readonly fromNumber: string | undefined;
    readonly apiBaseUrl: string;
    /** Twilio Video's REST API (https://video.twilio.com, or a proxy / local fake). */
    readonly videoApiBaseUrl: string;
    /** Compose each recorded room into one file when it ends. */
    readonly videoCompositions: boolean;
    readonly requestTimeoutMs: number;
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}\nSee .env.example for every setting.`);
    this.name = 'ConfigError';
  }
}

function splitList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}

function isOrigin(value: string): boolean {
  try {
    const u = new URL(value);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === value.replace(/\/$/, '');
  } catch {
    return false;
  }
}

/** Reads `.env` in `cwd` if present. Values already in the environment win. */
export function readDotEnv(cwd: string): Record<string, string> {
  const file = path.join(cwd, '.env');
  if (!existsSync(file)) return {};
  return parseEnv(readFileSync(file, 'utf8')) as Record<string, string>;
}

/**
 * Parses and validates configuration. Throws ConfigError listing every problem at once.
 * `overrides` (used by tests and the CLI) win over the environment.
 */
export function loadConfig(
  env: Record<string, string | undefined> = { ...readDotEnv(process.cwd()), ...process.env },
  overrides: Record<string, string | undefined> = {},
): Config {
  const merged = { ...env, ...overrides };
  const parsed = EnvSchema.safeParse(merged);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || 'config'} ${i.message}`));
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.DATA_DIR);
  const publicUrl = (e.PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, '');
  const config: Config = {
    env: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    publicUrl,
    dataDir,
    database: e.DATABASE_URL
      ? { kind: 'postgres', url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE }
      : { kind: 'pglite', dataDir: path.join(dataDir, 'db') },
    redisUrl: e.REDIS_URL,
    logLevel: e.LOG_LEVEL,
    trustProxy: e.TRUST_PROXY,
    corsOrigins: splitList(e.CORS_ORIGINS).map((o) => o.replace(/\/$/, '')),
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    wsMaxPayloadBytes: e.WS_MAX_PAYLOAD_BYTES,
    sessionTtlMs: e.SESSION_TTL_HOURS * 3600_000,
    rateLimits: { loginPerMinute: e.LOGIN_RATE_LIMIT_PER_MINUTE, tokenPerMinute: e.TOKEN_RATE_LIMIT_PER_MINUTE, chatPerMinute: e.CHAT_RATE_LIMIT_PER_MINUTE },
    tokenSigningSecret: e.TOKEN_SIGNING_SECRET,
    channelSigningSecret: e.CHANNEL_SIGNING_SECRET,
    rooms: {
      maxParticipants: e.ROOM_MAX_PARTICIPANTS,
      maxParticipantDurationS: e.ROOM_MAX_PARTICIPANT_DURATION_SECONDS,
      emptyTimeoutS: e.ROOM_EMPTY_TIMEOUT_SECONDS,
      unusedTimeoutS: e.ROOM_UNUSED_TIMEOUT_SECONDS,
      recordingRetentionDays: e.RECORDING_RETENTION_DAYS,
    },
    rtc: {
      announcedAddresses: splitList(e.RTC_ANNOUNCED_ADDRESSES),
      useInterfaceAddresses: e.RTC_USE_INTERFACE_ADDRESSES,
      udpPortRange: e.RTC_UDP_PORT_MIN !== undefined && e.RTC_UDP_PORT_MAX !== undefined ? [e.RTC_UDP_PORT_MIN, e.RTC_UDP_PORT_MAX] : undefined,
      reconnectGraceMs: e.RTC_RECONNECT_GRACE_SECONDS * 1000,
      maxBitrateBps: e.RTC_MAX_BITRATE_BPS,
      stunUrls: splitList(e.STUN_URLS),
      turnUrls: splitList(e.TURN_URLS),
      turnSecret: e.TURN_SECRET,
      turnCredentialTtlS: e.TURN_CREDENTIAL_TTL_SECONDS,
      recordingsDir: path.resolve(e.RECORDINGS_DIR ?? path.join(dataDir, 'recordings')),
    },
    visits: {
      joinWindowBeforeMs: e.VISIT_JOIN_WINDOW_BEFORE_MINUTES * 60_000,
      joinWindowAfterMs: e.VISIT_JOIN_WINDOW_AFTER_MINUTES * 60_000,
      linkTtlMs: e.VISIT_LINK_TTL_HOURS * 3600_000,
      linkSigningSecret: e.LINK_SIGNING_SECRET,
      surveyUrl: e.VISIT_SURVEY_URL,
    },
    groups: {
      maxParticipants: e.GROUP_MAX_PARTICIPANTS,
      lastN: e.GROUP_LAST_N,
      downlinkBps: e.GROUP_DOWNLINK_BPS,
      audioBitrateBps: e.GROUP_AUDIO_BITRATE_BPS,
      video: { width: e.GROUP_VIDEO_WIDTH, height: e.GROUP_VIDEO_HEIGHT, frameRate: e.GROUP_VIDEO_FRAME_RATE },
    },
    checkins: {
      ringMs: e.CHECKIN_RING_SECONDS * 1000,
      textAfterMs: e.CHECKIN_TEXT_AFTER_SECONDS * 1000,
      reconnectMs: e.CHECKIN_RECONNECT_SECONDS * 1000,
      careLinkTtlMs: e.CARE_LINK_TTL_DAYS * 86_400_000,
      careSessionMs: e.CARE_SESSION_DAYS * 86_400_000,
    },
    usage: {
      participantMinuteRate: e.USAGE_PARTICIPANT_MINUTE_RATE,
      recordingMinuteRate: e.USAGE_RECORDING_MINUTE_RATE,
      compositionMinuteRate: e.USAGE_COMPOSITION_MINUTE_RATE,
      currency: e.USAGE_CURRENCY,
    },
    webhooks: {
      timeoutMs: e.WEBHOOK_TIMEOUT_SECONDS * 1000,
      maxAttempts: e.WEBHOOK_MAX_ATTEMPTS,
      retryDelayS: e.WEBHOOK_RETRY_DELAY_SECONDS,
    },
    defaultPhoneRegion: e.DEFAULT_PHONE_REGION,
    messaging: {
      smsProvider: e.MESSAGING_PROVIDER,
      emailProvider: e.EMAIL_PROVIDER,
      smtpUrl: e.SMTP_URL,
      emailFrom: e.EMAIL_FROM,
      encryptionKey: e.MESSAGE_ENCRYPTION_KEY,
      segmentPrice: e.SMS_SEGMENT_PRICE,
      currency: e.USAGE_CURRENCY,
      senderRatePerSecond: e.SMS_SENDER_RATE_PER_SECOND,
      quietHours: parseQuietHours(e.MESSAGING_QUIET_HOURS),
      reminderOffsetsMinutes: [...new Set(splitList(e.REMINDER_OFFSETS_MINUTES).map(Number))].sort((a, b) => b - a),
      maxAttempts: e.MESSAGING_MAX_ATTEMPTS,
      retryDelayMs: e.MESSAGING_RETRY_DELAY_SECONDS * 1000,
      concurrency: e.MESSAGING_CONCURRENCY,
      sendTimeoutMs: e.MESSAGING_SEND_TIMEOUT_SECONDS * 1000,
      outboxDeliveryDelayMs: e.OUTBOX_DELIVERY_DELAY_MS,
      intakeLinkTtlMs: e.INTAKE_LINK_TTL_HOURS * 3600_000,
    },
    mediaProvider: e.MEDIA_PROVIDER,
    messagingProvider: e.MESSAGING_PROVIDER,
    twilio: {
      accountSid: e.TWILIO_ACCOUNT_SID,
      authToken: e.TWILIO_AUTH_TOKEN,
      apiKeySid: e.TWILIO_API_KEY_SID,
      apiKeySecret: e.TWILIO_API_KEY_SECRET,
      messagingServiceSid: e.TWILIO_MESSAGING_SERVICE_SID,
      fromNumber: e.TWILIO_FROM_NUMBER,
      apiBaseUrl: e.TWILIO_API_BASE_URL.replace(/\/+$/, ''),
      videoApiBaseUrl: e.TWILIO_VIDEO_API_BASE_URL.replace(/\/+$/, ''),
      videoCompositions: e.TWILIO_VIDEO_COMPOSITIONS,
      requestTimeoutMs: e.TWILIO_REQUEST_TIMEOUT_SECONDS * 1000,
    },
  };
  return deepFreeze(config);
}

/** "21:00-08:00" → minutes after midnight; "" → none. */
export function parseQuietHours(value: string): { start: number; end: number } | null {
  const m = /^(\d\d):(\d\d)-(\d\d):(\d\d)$/.exec(value.trim());
  if (!m) return null;
  const start = Number(m[1]) * 60 + Number(m[2]);
  const end = Number(m[3]) * 60 + Number(m[4]);
  return start === end ? null : { start, end };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
