/**
 * A local fake of Twilio's Video REST API (video.twilio.com/v1) and of its media plane, for contract tests of
 * OpenVisit's Twilio Video provider. The REST side speaks what Twilio speaks (form-encoded bodies, Basic auth with
 * the account's token or an API key, snake_case JSON, lists with `meta`, Twilio's error bodies) and checks every
 * request it receives and every response it serves against Twilio's OpenAPI document (twilio-oai,
 * test/fixtures/twilio/twilio_video_v1.json), recording mismatches in `problems`. The media side stands in for
 * twilio-video clients: `connect(token)` verifies the AccessToken as Twilio does, then the participant publishes
 * and subscribes per the room's Track Subscription rules, which is what the tests assert (who could see or hear
 * whom, and whether anyone could, even for a moment). Recording Rules drive per-track Recordings, and
 * Compositions stitch a completed room's; their media is served through a time-limited redirect as Twilio's is.
 * Status callbacks are signed as Twilio signs them and delivered in order per room, with knobs for delays,
 * duplicates and reordering.
 */
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import type * as TwilioHttpResponse from 'twilio/lib/http/response.js';
import {
  all,
  first,
  getSpec,
  matchOperation,
  moreInfo,
  parseForm,
  requestProblems,
  responseProblems,
  type FormParams,
  type LoadedSpec,
  type Operation,
} from './twilio-spec.js';

const DEFAULT_SPEC = fileURLToPath(new URL('../fixtures/twilio/twilio_video_v1.json', import.meta.url));
/** The host the SDK addresses; resource URLs and list pages name it, as Twilio's do. */
export const TWILIO_VIDEO_ORIGIN = 'https://video.twilio.com';

// ---------------------------------------------------------------------------------------------------------
// Public types

export type { FormParams } from './twilio-spec.js';
export type TrackKind = 'audio' | 'video';

export interface FakeTwilioVideoOptions {
  accountSid: string;
  authToken: string;
  apiKeySid: string;
  apiKeySecret: string;
  /** The OpenAPI 3 document to check against; defaults to the vendored twilio_video_v1.json. */
  specPath?: string;
  /**
   * Multiplies Twilio's own timers: MaxParticipantDuration (participant dropped with 53216), UnusedRoomTimeout and
   * EmptyRoomTimeout (room ended). Default 1 (real time); 0.001 makes Twilio's 10-minute minimum 600 ms.
   */
  timeScale?: number;
  /**
   * How a track matched by both an include and an exclude rule is resolved. Twilio's docs say rules refine one
   * another in order (so the last matching rule decides: the default) without stating the conflict case outright;
   * 'exclude-wins' lets a test prove its rules mean the same under the other reading.
   */
  ruleConflicts?: 'last-match' | 'exclude-wins';
}

export interface RecordedVideoRequest {
  method: string;
  path: string;
  query: FormParams;
  /** The parsed form body (repeated keys become arrays). */
  params: FormParams;
  /** The Basic auth user (`AC…` or `SK…`), whether or not its secret was right; null without Basic auth. */
  authUser: string | null;
  /** The spec operation the request matched (e.g. 'CreateRoom'), if any. */
  operationId: string | null;
  /** The HTTP status answered; null while held or when the socket was destroyed without an answer. */
  status: number | null;
}

/**
 * A Track Subscription rule (https://www.twilio.com/docs/video/api/track-subscriptions#specifying-sr): `type`
 * plus filters; a rule matches a track when every filter it names matches. `all` must be true and alone.
 */
export interface SubscribeRule {
  type: 'include' | 'exclude';
  all?: true;
  /** The publisher's identity (or its participant SID). */
  publisher?: string;
  /** The track's name (or its SID). */
  track?: string;
  kind?: 'audio' | 'video' | 'data';
  priority?: 'low' | 'standard' | 'high';
}

/** A Recording Rule (https://www.twilio.com/docs/video/api/recording-rules): as a subscribe rule, without priority. */
export type RecordingRule = Omit<SubscribeRule, 'priority' | 'kind'> & { kind?: TrackKind };

export interface FakeVideoFailure {
  /** Upper-case HTTP method; any when absent. */
  method?: string;
  path: RegExp;
  /** How many matching requests fail (default 1). */
  times?: number;
  /** Answer this status with a Twilio error body instead of applying the request (default 500 when nothing else is set). */
  status?: number;
  /** The error body's code (default: 20404, 20429, 20500, 20503… after the status). */
  code?: number;
  /** Retry-After header, in seconds. */
  retryAfter?: number;
  /** Apply the request, then hold its answer this long (a client that times out and retries must not double it). */
  timeoutMs?: number;
  /** Apply the request, then destroy the socket without an answer. */
  destroy?: boolean;
}

export interface SentVideoCallback {
  url: string;
  method: 'GET' | 'POST';
  /** StatusCallbackEvent, e.g. 'participant-connected'. */
  event: string;
  params: Record<string, string>;
  /** X-Twilio-Signature sent. */
  signature: string;
  /** The receiver's HTTP status, or null when it could not be reached. */
  status: number | null;
  error?: string;
}

export interface CallbackKnobs {
  /** Wait before each batch of callbacks is delivered (events arriving meanwhile join the batch). */
  delayMs: number;
  /** Deliver every callback twice (the same parameters and signature), as Twilio's retries can. */
  duplicate: boolean;
  /** Deliver each batch in reverse order of occurrence. */
  reverse: boolean;
}

export interface FakeVideoTrack {
  sid: string;
  kind: TrackKind;
  name: string;
  publishedAt: Date;
  unpublishedAt: Date | null;
}

export interface FakeVideoRecording {
  sid: string;
  roomSid: string;
  participantSid: string;
  participantIdentity: string;
  trackSid: string;
  trackName: string;
  kind: TrackKind;
  status: 'processing' | 'completed' | 'deleted';
  container: 'mka' | 'mkv';
  codec: 'OPUS' | 'VP8';
  startedAt: Date;
  completedAt: Date | null;
  /** Seconds (at least 1), once completed. */
  duration: number | null;
  /** Bytes, once completed. */
  size: number | null;
}

export interface FakeVideoComposition {
  sid: string;
  roomSid: string;
  status: 'enqueued' | 'processing' | 'completed' | 'deleted' | 'failed';
  format: 'mp4' | 'webm';
  /** The create request's form. */
  options: FormParams;
  duration: number;
  size: number | null;
}

export interface FakeVideoParticipantView {
  sid: string;
  identity: string;
  status: 'connected' | 'disconnected';
  connectedAt: Date;
  disconnectedAt: Date | null;
  /** Tracks published now. */
  tracks: FakeVideoTrack[];
  /** The rules last set through the REST API; null while none were (Twilio's default: everything). */
  subscribeRules: SubscribeRule[] | null;
}

export interface FakeVideoRoom {
  sid: string;
  uniqueName: string;
  status: 'in-progress' | 'completed';
  type: string;
  createdAt: Date;
  endedAt: Date | null;
  /** The create request's form, as received. */
  options: FormParams;
  /** Every participant that connected, in order (reconnects are new participants, as on Twilio). */
  participants: FakeVideoParticipantView[];
  /** By identity: the rules of the latest participant with that identity. */
  subscribeRules: Record<string, SubscribeRule[] | null>;
  /** The rules last set (at creation or since); null while none were (RecordParticipantsOnConnect decides). */
  recordingRules: RecordingRule[] | null;
  recordings: FakeVideoRecording[];
}

/** Why Twilio ended a client's connection: twilio-video's `disconnected` error, or null for none (a REST removal). */
export interface DisconnectReason {
  code: number | null;
  reason: string;
}

export interface FakeVideoParticipant {
  readonly sid: string;
  readonly identity: string;
  readonly roomSid: string;
  /** Per its current subscribe rules (none: everything): is it receiving `publisher`'s track of this kind now? */
  subscribed(publisher: string, kind: TrackKind): boolean;
  /** Was it receiving that track at any moment since it connected (the window before its rules landed counts)? */
  everSubscribed(publisher: string, kind: TrackKind): boolean;
  publish(kind: TrackKind): void;
  unpublish(kind: TrackKind): void;
  /** The client hangs up. */
  disconnect(): Promise<void>;
  /** Resolves when Twilio ends the connection (REST removal, room completed, duplicate identity). */
  readonly disconnected: Promise<DisconnectReason>;
}

export interface FakeTwilioVideo {
  /** http://127.0.0.1:PORT: stands in for https://video.twilio.com. */
  readonly url: string;
  readonly requests: RecordedVideoRequest[];
  /** Spec violations: "request: …" for what clients sent, "response: …" for what the fake served. */
  readonly problems: string[];
  readonly callbacks: CallbackKnobs;
  readonly sentCallbacks: SentVideoCallback[];
  /** A simulated twilio-video client joins with this AccessToken (rejects with a TwilioVideoError as Twilio would). */
  connect(token: string, options?: { publish?: TrackKind[]; room?: string }): Promise<FakeVideoParticipant>;
  /** A read-only snapshot of a room, by SID or by the UniqueName of an in-progress (else the latest) room. */
  room(sidOrUniqueName: string): FakeVideoRoom | undefined;
  rooms(): FakeVideoRoom[];
  compositions(): FakeVideoComposition[];
  fail(rule: FakeVideoFailure): void;
  /** Twilio itself ends the room (timeouts, limits): everyone disconnected (53118), recordings completed, room-ended. */
  endRoomAsTwilio(sid: string): Promise<void>;
  /** Resolves once every callback queued so far has been delivered (or failed) and compositions have settled. */
  settled(): Promise<void>;
  assertNoProblems(): void;
  close(): Promise<void>;
}

/** A refusal the simulated client gets, with Twilio's error code (twilio-video's TwilioError codes). */
export class TwilioVideoError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'TwilioVideoError';
  }
}

// ---------------------------------------------------------------------------------------------------------
// Twilio's numbers

/** Group room limits (https://www.twilio.com/docs/video/programmable-video-limits and the spec's descriptions). */
const MAX_PARTICIPANTS = 50;
const MIN_PARTICIPANT_DURATION = 600;
const MAX_PARTICIPANT_DURATION = 86_400;
const DEFAULT_PARTICIPANT_DURATION = 14_400;
/** EmptyRoomTimeout / UnusedRoomTimeout: minutes, 1 to 60 per the spec, 5 by default. */
const MIN_ROOM_TIMEOUT = 1;
const MAX_ROOM_TIMEOUT = 60;
const DEFAULT_ROOM_TIMEOUT = 5;
const MAX_RULES = 20;
/** How long a media redirect's URL stays valid (Twilio's signed media URLs last 600 s). */
const MEDIA_URL_TTL_MS = 600_000;
/** Bytes per second of media: ~32 kbit/s Opus, ~500 kbit/s VP8, ~400 kbit/s composition. */
const BYTES_PER_SECOND = { audio: 4_000, video: 62_500, composition: 50_000 } as const;

/**
 * The code Twilio answers for a parameter it does not take or cannot parse is not documented for Video; the fake
 * uses 20001 with a message naming the parameter (tests should assert the 400 and the problem, not this code).
 */
const INVALID_PARAMETER = 20001;

const STATUS_CODES: Record<number, [code: number, message: string]> = {
  400: [INVALID_PARAMETER, 'Invalid parameter'],
  401: [20003, 'Authenticate'],
  404: [20404, 'The requested resource was not found'],
  429: [20429, 'Too Many Requests'],
  500: [20500, 'Internal Server Error'],
  502: [20502, 'Bad Gateway'],
  503: [20503, 'Service Unavailable'],
};

// ---------------------------------------------------------------------------------------------------------
// Small utilities

const newSid = (prefix: string): string => prefix + randomBytes(16).toString('hex');
const iso = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const seconds = (from: Date, to: Date): number => Math.max(0, Math.round((to.getTime() - from.getTime()) / 1000));
/** Twilio gives sub-second tracks a duration of 1 s. */
const mediaSeconds = (from: Date, to: Date): number => Math.max(1, seconds(from, to));
const b64url = (s: string): Buffer => Buffer.from(s.replace(/-/g, '+').replace(/_/g, '/'), 'base64');

/** Matroska files start with the EBML magic; MP4 with an ftyp box; WebM is Matroska too. */
const MAGIC: Record<string, Buffer> = {
  mka: Buffer.from([0x1a, 0x45, 0xdf, 0xa3]),
  mkv: Buffer.from([0x1a, 0x45, 0xdf, 0xa3]),
  webm: Buffer.from([0x1a, 0x45, 0xdf, 0xa3]),
  mp4: Buffer.from([0x00, 0x00, 0x00, 0x18, 0x66, 0x74, 0x79, 0x70, 0x69, 0x73, 0x6f, 0x6d]),
};

/** The bytes the fake serves for a recording or composition: its container's magic, then a SHA-256 stream of its SID. */
export function fakeMediaBytes(sid: string, size: number, container: 'mka' | 'mkv' | 'mp4' | 'webm'): Buffer {
  const out = Buffer.alloc(size);
  const magic = MAGIC[container]!;
  magic.copy(out, 0, 0, Math.min(magic.length, size));
  let offset = Math.min(magic.length, size);
  for (let i = 0; offset < size; i++) {
    const block = createHash('sha256').update(`${sid}:${i}`).digest();
    offset += block.copy(out, offset, 0, Math.min(block.length, size - offset));
  }
  return out;
}

const CONTENT_TYPES: Record<string, string> = {
  mka: 'audio/x-matroska',
  mkv: 'video/x-matroska',
  mp4: 'video/mp4',
  webm: 'video/webm',
};

/**
 * Validates a Rules form value as Twilio does (errors 53215 for subscribe rules, 53120 for recording rules: a
 * non-empty JSON array of at most 20 rules, each with a `type` of include or exclude, `all` true and alone, `kind`
 * among the allowed ones, no other keys). Returns the rules, or the reason they are invalid.
 */
function parseRules(text: string | undefined, recording: boolean): { rules: SubscribeRule[] } | { error: string } {
  if (text === undefined) return { error: 'Rules is required' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { error: 'Rules is not valid JSON' };
  }
  if (!Array.isArray(parsed)) return { error: 'Rules must be a JSON array' };
  if (parsed.length === 0) return { error: 'An empty set of rules [] is not allowed' };
  if (parsed.length > MAX_RULES) return { error: `A maximum of ${MAX_RULES} rules are allowed` };
  const keys = recording ? ['type', 'all', 'publisher', 'track', 'kind'] : ['type', 'all', 'publisher', 'track', 'kind', 'priority'];
  const kinds = recording ? ['audio', 'video'] : ['audio', 'video', 'data'];
  const rules: SubscribeRule[] = [];
  for (const raw of parsed as unknown[]) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { error: 'Each rule must be an object' };
    const r = raw as Record<string, unknown>;
    const unknown = Object.keys(r).find((k) => !keys.includes(k));
    if (unknown) return { error: `Unknown rule field "${unknown}"` };
    if (r.type !== 'include' && r.type !== 'exclude') return { error: 'A rule must contain a type field (include or exclude)' };
    const rule: SubscribeRule = { type: r.type };
    if ('all' in r) {
      if (r.all !== true || Object.keys(r).length !== 2) return { error: 'A rule containing all must have a value of true and no other expression' };
      rule.all = true;
    }
    for (const k of ['publisher', 'track'] as const) {
      if (k in r) {
        if (typeof r[k] !== 'string' || r[k] === '') return { error: `${k} must be a non-empty string` };
        rule[k] = r[k] as string;
      }
    }
    if ('kind' in r) {
      if (typeof r.kind !== 'string' || !kinds.includes(r.kind)) return { error: `kind must be one of ${kinds.join(', ')}` };
      rule.kind = r.kind as SubscribeRule['kind'];
    }
    if ('priority' in r) {
      if (r.priority !== 'low' && r.priority !== 'standard' && r.priority !== 'high') return { error: 'priority must be low, standard or high' };
      rule.priority = r.priority;
    }
    if (!rule.all && rule.publisher === undefined && rule.track === undefined && rule.kind === undefined && rule.priority === undefined) {
      return { error: 'A rule must contain at least one filter' };
    }
    rules.push(rule);
  }
  return { rules };
}

/**
 * CreateRoom's RecordingRules: the spec's example sends a bare array, Twilio's Recording Rules guide an object
 * `{"rules": [...]}`; both are taken.
 */
function unwrapRules(text: string): string {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && 'rules' in parsed) return JSON.stringify(parsed.rules);
  } catch {
    // parseRules reports it
  }
  return text;
}

// ---------------------------------------------------------------------------------------------------------
// State

interface Track extends FakeVideoTrack {
  /** twilio-video publishes with priority 'standard' unless told otherwise. */
  priority: 'standard';
}

interface Participant {
  sid: string;
  identity: string;
  room: Room;
  status: 'connected' | 'disconnected';
  createdAt: Date;
  updatedAt: Date;
  endTime: Date | null;
  tracks: Track[];
  rules: SubscribeRule[] | null;
  rulesCreated: Date | null;
  rulesUpdated: Date | null;
  /** `${publisher identity}\n${kind}` of every track it was ever subscribed to. */
  ever: Set<string>;
  resolveDisconnected: (reason: DisconnectReason) => void;
  disconnected: Promise<DisconnectReason>;
  /** MaxParticipantDuration's timer. */
  limit: NodeJS.Timeout | null;
}

interface Recording {
  sid: string;
  room: Room;
  participant: Participant;
  track: Track;
  status: 'processing' | 'completed' | 'deleted';
  createdAt: Date;
  completedAt: Date | null;
  duration: number | null;
  size: number | null;
}

interface Room {
  sid: string;
  uniqueName: string;
  status: 'in-progress' | 'completed';
  type: string;
  createdAt: Date;
  updatedAt: Date;
  endTime: Date | null;
  options: FormParams;
  maxParticipants: number;
  maxParticipantDuration: number;
  emptyRoomTimeout: number;
  unusedRoomTimeout: number;
  statusCallback: string | null;
  statusCallbackMethod: 'GET' | 'POST';
  recordParticipantsOnConnect: boolean;
  videoCodecs: string[];
  mediaRegion: string;
  audioOnly: boolean;
  participants: Participant[];
  recordingRules: RecordingRule[] | null;
  recordingRulesCreated: Date | null;
  recordingRulesUpdated: Date | null;
  recordings: Recording[];
  queue: CallbackQueue;
  sequence: number;
  lastTimestamp: number;
  /** UnusedRoomTimeout's timer until someone connects, then EmptyRoomTimeout's whenever the room is empty. */
  idle: NodeJS.Timeout | null;
}

interface Composition {
  sid: string;
  room: Room;
  status: FakeVideoComposition['status'];
  createdAt: Date;
  completedAt: Date | null;
  deletedAt: Date | null;
  options: FormParams;
  audioSources: string[];
  audioSourcesExcluded: string[];
  videoLayout: unknown;
  resolution: string;
  trim: boolean;
  format: 'mp4' | 'webm';
  statusCallback: string | null;
  statusCallbackMethod: 'GET' | 'POST';
  duration: number;
  size: number | null;
  queue: CallbackQueue;
  lastTimestamp: number;
}

interface MediaLink {
  sid: string;
  container: 'mka' | 'mkv' | 'mp4' | 'webm';
  size: number;
  expiresAt: number;
}

interface Outgoing {
  url: string;
  method: 'GET' | 'POST';
  params: Record<string, string>;
}

/** What a handler answers; written (and checked against the spec) by the server loop. */
interface Answer {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Raw bytes instead of JSON (media). */
  raw?: Buffer;
}

/**
 * Delivers one room's (or composition's) callbacks one at a time in order of occurrence, as Twilio does per room;
 * the knobs make a batch late, doubled or reversed.
 */
class CallbackQueue {
  private pending: Outgoing[] = [];
  private running: Promise<void> | null = null;

  constructor(private readonly fake: FakeTwilioVideoServer) {}

  push(o: Outgoing): void {
    this.pending.push(o);
    if (!this.running) {
      this.running = this.drain().finally(() => {
        this.running = null;
      });
      this.fake.track(this.running);
    }
  }

  private async drain(): Promise<void> {
    // Bounded: each round takes the whole pending batch; new events only come from the test's own actions.
    for (let round = 0; this.pending.length > 0 && round < 10_000; round++) {
      await this.fake.sleep(this.fake.callbacks.delayMs);
      if (this.fake.closed) return;
      const batch = this.pending.splice(0);
      if (this.fake.callbacks.reverse) batch.reverse();
      for (const o of batch) {
        const copies = this.fake.callbacks.duplicate ? 2 : 1;
        for (let i = 0; i < copies; i++) await this.fake.deliver(o);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// The fake

class FakeTwilioVideoServer implements FakeTwilioVideo {
  readonly requests: RecordedVideoRequest[] = [];
  readonly problems: string[] = [];
  readonly sentCallbacks: SentVideoCallback[] = [];
  readonly callbacks: CallbackKnobs = { delayMs: 0, duplicate: false, reverse: false };
  url = '';
  closed = false;

  private readonly roomsBySid = new Map<string, Room>();
  private readonly recordingsBySid = new Map<string, Recording>();
  private readonly compositionsBySid = new Map<string, Composition>();
  private readonly media = new Map<string, MediaLink>();
  private readonly failures: (FakeVideoFailure & { left: number })[] = [];
  private readonly pending = new Set<Promise<unknown>>();
  /** Pending sleeps: close() wakes them so nothing waits on a closed fake. */
  private readonly sleeps = new Map<NodeJS.Timeout, () => void>();
  /** Twilio's own timers (room timeouts, participant limits): cleared on close. */
  private readonly twilioTimers = new Set<NodeJS.Timeout>();
  private readonly aborter = new AbortController();
  private readonly server: http.Server;

  constructor(
    private readonly options: FakeTwilioVideoOptions,
    private readonly spec: LoadedSpec,
  ) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.problems.push(`response: the fake crashed: ${err instanceof Error ? err.stack : String(err)}`);
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  // ---- plumbing shared with the callback queues ------------------------------------------------------

  track(p: Promise<unknown>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p)).catch(() => undefined);
  }

  sleep(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.sleeps.delete(t);
        resolve();
      }, ms);
      this.sleeps.set(t, resolve);
    });
  }

  /** Posts (or GETs) one callback exactly as Twilio's webhook sender does, signed with the account's auth token. */
  async deliver(o: Outgoing): Promise<void> {
    let target = o.url;
    let body: string | undefined;
    let signature: string;
    if (o.method === 'GET') {
      const u = new URL(o.url);
      for (const [k, v] of Object.entries(o.params)) u.searchParams.append(k, v);
      target = u.toString();
      signature = twilio.getExpectedTwilioSignature(this.options.authToken, target, {});
    } else {
      body = new URLSearchParams(o.params).toString();
      signature = twilio.getExpectedTwilioSignature(this.options.authToken, o.url, o.params);
    }
    const record: SentVideoCallback = { url: o.url, method: o.method, event: o.params.StatusCallbackEvent ?? '', params: o.params, signature, status: null };
    this.sentCallbacks.push(record);
    try {
      const res = await fetch(target, {
        method: o.method,
        headers: {
          ...(body !== undefined ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}),
          'User-Agent': 'TwilioProxy/1.1',
          Accept: '*/*',
          'X-Twilio-Signature': signature,
          'I-Twilio-Idempotency-Token': randomUUID(),
        },
        body,
        signal: AbortSignal.any([this.aborter.signal, AbortSignal.timeout(15_000)]),
      });
      record.status = res.status;
      await res.arrayBuffer();
    } catch (err) {
      record.error = err instanceof Error ? err.message : String(err);
    }
  }

  /** Runs `fn` after `ms` of Twilio's time (scaled by timeScale); unref'd so a forgotten fake never holds the process. */
  private twilioTimer(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.twilioTimers.delete(t);
      if (!this.closed) fn();
    }, ms * (this.options.timeScale ?? 1));
    t.unref();
    this.twilioTimers.add(t);
    return t;
  }

  private clearTwilioTimer(t: NodeJS.Timeout | null): null {
    if (t) {
      clearTimeout(t);
      this.twilioTimers.delete(t);
    }
    return null;
  }

  // ---- controls -------------------------------------------------------------------------------------

  fail(rule: FakeVideoFailure): void {
    this.failures.push({ ...rule, left: rule.times ?? 1 });
  }

  assertNoProblems(): void {
    if (this.problems.length > 0) throw new Error(`Twilio Video fake saw ${this.problems.length} problem(s):\n  ${this.problems.join('\n  ')}`);
  }

  async settled(): Promise<void> {
    for (let i = 0; i < 100 && this.pending.size > 0; i++) await Promise.allSettled([...this.pending]);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const [t, wake] of this.sleeps) {
      clearTimeout(t);
      wake();
    }
    this.sleeps.clear();
    for (const t of this.twilioTimers) clearTimeout(t);
    this.twilioTimers.clear();
    this.aborter.abort();
    await Promise.allSettled([...this.pending]);
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  room(sidOrUniqueName: string): FakeVideoRoom | undefined {
    const room = this.findRoom(sidOrUniqueName, true);
    return room && this.roomView(room);
  }

  rooms(): FakeVideoRoom[] {
    return [...this.roomsBySid.values()].map((r) => this.roomView(r));
  }

  compositions(): FakeVideoComposition[] {
    return [...this.compositionsBySid.values()].map((c) => ({
      sid: c.sid,
      roomSid: c.room.sid,
      status: c.status,
      format: c.format,
      options: structuredClone(c.options),
      duration: c.duration,
      size: c.size,
    }));
  }

  private roomView(room: Room): FakeVideoRoom {
    const subscribeRules: Record<string, SubscribeRule[] | null> = {};
    for (const p of room.participants) subscribeRules[p.identity] = p.rules && structuredClone(p.rules);
    return {
      sid: room.sid,
      uniqueName: room.uniqueName,
      status: room.status,
      type: room.type,
      createdAt: room.createdAt,
      endedAt: room.endTime,
      options: structuredClone(room.options),
      participants: room.participants.map((p) => ({
        sid: p.sid,
        identity: p.identity,
        status: p.status,
        connectedAt: p.createdAt,
        disconnectedAt: p.endTime,
        tracks: p.tracks.filter((t) => !t.unpublishedAt).map(({ priority: _priority, ...t }) => ({ ...t })),
        subscribeRules: p.rules && structuredClone(p.rules),
      })),
      subscribeRules,
      recordingRules: room.recordingRules && structuredClone(room.recordingRules),
      recordings: room.recordings.map((r) => this.recordingView(r)),
    };
  }

  private recordingView(r: Recording): FakeVideoRecording {
    return {
      sid: r.sid,
      roomSid: r.room.sid,
      participantSid: r.participant.sid,
      participantIdentity: r.participant.identity,
      trackSid: r.track.sid,
      trackName: r.track.name,
      kind: r.track.kind,
      status: r.status,
      container: r.track.kind === 'audio' ? 'mka' : 'mkv',
      codec: r.track.kind === 'audio' ? 'OPUS' : 'VP8',
      startedAt: r.createdAt,
      completedAt: r.completedAt,
      duration: r.duration,
      size: r.size,
    };
  }

  /**
   * A room by SID (any status), or by UniqueName: the in-progress one, as Twilio's REST API resolves names (only
   * while the room is in progress); `anyStatus` (the tests' read-only view) falls back to the latest with that name.
   */
  private findRoom(sidOrName: string, anyStatus = false): Room | undefined {
    const bySid = this.roomsBySid.get(sidOrName);
    if (bySid) return bySid;
    const named = [...this.roomsBySid.values()].filter((r) => r.uniqueName === sidOrName);
    return named.find((r) => r.status === 'in-progress') ?? (anyStatus ? named[named.length - 1] : undefined);
  }

  // ---- the media plane ------------------------------------------------------------------------------

  async connect(token: string, options: { publish?: TrackKind[]; room?: string } = {}): Promise<FakeVideoParticipant> {
    const { identity, roomName } = this.verifyToken(token, options.room);
    const room = this.findRoom(roomName);
    if (!room || room.status !== 'in-progress') throw new TwilioVideoError(53106, 'Room not found');
    const previous = room.participants.find((p) => p.status === 'connected' && p.identity === identity);
    // Twilio lets the newcomer in and drops the older connection with the same identity.
    if (previous) this.disconnectParticipant(previous, { code: 53205, reason: 'Participant disconnected because of duplicate identity' });
    if (room.participants.filter((p) => p.status === 'connected').length >= room.maxParticipants) {
      throw new TwilioVideoError(53105, 'Room contains too many Participants');
    }
    const now = new Date();
    let resolveDisconnected!: (reason: DisconnectReason) => void;
    const disconnected = new Promise<DisconnectReason>((resolve) => (resolveDisconnected = resolve));
    const p: Participant = {
      sid: newSid('PA'),
      identity,
      room,
      status: 'connected',
      createdAt: now,
      updatedAt: now,
      endTime: null,
      tracks: [],
      rules: null,
      rulesCreated: null,
      rulesUpdated: null,
      ever: new Set(),
      resolveDisconnected,
      disconnected,
      limit: null,
    };
    room.participants.push(p);
    room.idle = this.clearTwilioTimer(room.idle);
    p.limit = this.twilioTimer(room.maxParticipantDuration * 1000, () => {
      this.disconnectParticipant(p, { code: 53216, reason: 'Participant session length exceeded' });
      this.refresh(room);
    });
    room.updatedAt = now;
    this.roomEvent(room, 'participant-connected', p);
    for (const kind of new Set<TrackKind>(options.publish ?? ['audio', 'video'])) this.publish(p, kind);
    this.refresh(room);
    return this.handleFor(p);
  }

  /** Checks an AccessToken as Twilio's signaling does (twilio-video's 201xx errors). */
  private verifyToken(token: string, roomOption: string | undefined): { identity: string; roomName: string } {
    const parts = token.split('.');
    if (parts.length !== 3) throw new TwilioVideoError(20101, 'Invalid Access Token');
    const [h, p, s] = parts as [string, string, string];
    let header: Record<string, unknown>;
    let payload: Record<string, unknown>;
    try {
      header = JSON.parse(b64url(h).toString('utf8')) as Record<string, unknown>;
      payload = JSON.parse(b64url(p).toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new TwilioVideoError(20101, 'Invalid Access Token');
    }
    if (header.alg !== 'HS256' || header.cty !== 'twilio-fpa;v=1') throw new TwilioVideoError(20102, 'Invalid Access Token header');
    const expected = createHmac('sha256', this.options.apiKeySecret).update(`${h}.${p}`).digest();
    const given = b64url(s);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new TwilioVideoError(20107, 'Invalid Access Token signature');
    if (payload.iss !== this.options.apiKeySid || payload.sub !== this.options.accountSid) {
      throw new TwilioVideoError(20103, 'Invalid Access Token issuer/subject');
    }
    const nowSec = Date.now() / 1000;
    if (typeof payload.exp !== 'number' || payload.exp <= nowSec) throw new TwilioVideoError(20104, 'Access Token expired or expiration date invalid');
    // Twilio refuses tokens valid for more than 24 hours.
    if (typeof payload.iat === 'number' && payload.exp - payload.iat > 86_400) {
      throw new TwilioVideoError(20104, 'Access Token expired or expiration date invalid');
    }
    if (typeof payload.nbf === 'number' && payload.nbf > nowSec) throw new TwilioVideoError(20105, 'Access Token not yet valid');
    const grants = payload.grants as { identity?: unknown; video?: { room?: unknown } } | undefined;
    if (!grants || typeof grants.identity !== 'string' || grants.identity === '' || typeof grants.video !== 'object' || grants.video === null) {
      throw new TwilioVideoError(20106, 'Invalid Access Token grants');
    }
    if (grants.identity.length > 128) throw new TwilioVideoError(53201, 'Participant identity is too long');
    const granted = typeof grants.video.room === 'string' ? grants.video.room : undefined;
    // A grant for one room admits to that room only; without one, the client names the room itself.
    if (granted !== undefined && roomOption !== undefined && roomOption !== granted) throw new TwilioVideoError(20106, 'Invalid Access Token grants');
    const roomName = granted ?? roomOption;
    if (roomName === undefined) throw new TwilioVideoError(53106, 'Room not found');
    return { identity: grants.identity, roomName };
  }

  private handleFor(p: Participant): FakeVideoParticipant {
    return {
      sid: p.sid,
      identity: p.identity,
      roomSid: p.room.sid,
      subscribed: (publisher, kind) => {
        const pub = p.room.participants.find((q) => q.status === 'connected' && q.identity === publisher);
        const track = pub?.tracks.find((t) => t.kind === kind && !t.unpublishedAt);
        return !!pub && !!track && this.isSubscribed(p, pub, track);
      },
      everSubscribed: (publisher, kind) => p.ever.has(`${publisher}\n${kind}`),
      publish: (kind) => {
        if (p.status !== 'connected') throw new Error(`twilio-video-fake: ${p.identity} is not connected`);
        this.publish(p, kind);
        this.refresh(p.room);
      },
      unpublish: (kind) => {
        const track = p.tracks.find((t) => t.kind === kind && !t.unpublishedAt);
        if (!track || p.status !== 'connected') return;
        this.unpublish(p, track);
        this.refresh(p.room);
      },
      disconnect: async () => {
        if (p.status !== 'connected') return;
        this.disconnectParticipant(p, null);
        this.refresh(p.room);
      },
      disconnected: p.disconnected,
    };
  }

  private publish(p: Participant, kind: TrackKind): void {
    if (p.tracks.some((t) => t.kind === kind && !t.unpublishedAt)) return;
    if (kind === 'video' && p.room.audioOnly) throw new TwilioVideoError(53125, 'The track kind is not supported by the Room');
    // twilio-video names a LocalTrack after its MediaStreamTrack's id (a UUID) unless the app names it.
    const track: Track = { sid: newSid('MT'), kind, name: randomUUID(), publishedAt: new Date(), unpublishedAt: null, priority: 'standard' };
    p.tracks.push(track);
    this.roomEvent(p.room, 'track-added', p, { track });
  }

  private unpublish(p: Participant, track: Track): void {
    track.unpublishedAt = new Date();
    this.roomEvent(p.room, 'track-removed', p, { track });
  }

  /**
   * Ends a participant's connection: its tracks go (track-removed), participant-disconnected, and the client
   * learns why (`reason` null: it hung up itself, so nothing resolves... except with a reason of its own).
   */
  private disconnectParticipant(p: Participant, reason: DisconnectReason | null): void {
    if (p.status !== 'connected') return;
    for (const t of p.tracks) if (!t.unpublishedAt) this.unpublish(p, t);
    const now = new Date();
    p.status = 'disconnected';
    p.endTime = now;
    p.updatedAt = now;
    p.room.updatedAt = now;
    this.roomEvent(p.room, 'participant-disconnected', p);
    p.limit = this.clearTwilioTimer(p.limit);
    p.resolveDisconnected(reason ?? { code: null, reason: 'The client disconnected' });
    const room = p.room;
    if (room.status === 'in-progress' && !room.participants.some((q) => q.status === 'connected')) {
      room.idle = this.clearTwilioTimer(room.idle);
      room.idle = this.twilioTimer(room.emptyRoomTimeout * 60_000, () => this.endRoom(room));
    }
  }

  /** Evaluates the room's subscriptions and recordings after any change. */
  private refresh(room: Room): void {
    for (const sub of room.participants) {
      if (sub.status !== 'connected') continue;
      for (const pub of room.participants) {
        if (pub.status !== 'connected' || pub === sub) continue;
        for (const t of pub.tracks) if (!t.unpublishedAt && this.isSubscribed(sub, pub, t)) sub.ever.add(`${pub.identity}\n${t.kind}`);
      }
    }
    this.syncRecordings(room);
  }

  /**
   * Twilio's Track Subscription semantics (https://www.twilio.com/docs/video/api/track-subscriptions#specifying-sr):
   * with no rules set a participant subscribes to every track in the room; once rules are set, a track is
   * subscribed when the last rule matching it is an include (later rules refine earlier ones), and not when no
   * rule matches. A rule matches when all the filters it names match (`all` matches everything). The
   * `ruleConflicts: 'exclude-wins'` option swaps the last-match reading for "any matching exclude wins".
   */
  private isSubscribed(sub: Participant, pub: Participant, track: Track): boolean {
    if (sub.status !== 'connected' || pub.status !== 'connected' || sub === pub || track.unpublishedAt) return false;
    if (sub.rules === null) return true;
    return this.verdict(sub.rules, pub, track) === 'include';
  }

  /** Recording Rules (https://www.twilio.com/docs/video/api/recording-rules), evaluated as subscribe rules are. */
  private isRecorded(room: Room, pub: Participant, track: Track): boolean {
    if (room.status !== 'in-progress' || pub.status !== 'connected' || track.unpublishedAt) return false;
    const rules: RecordingRule[] = room.recordingRules ?? (room.recordParticipantsOnConnect ? [{ type: 'include', all: true }] : []);
    return this.verdict(rules, pub, track) === 'include';
  }

  private verdict(rules: SubscribeRule[], pub: Participant, track: Track): 'include' | 'exclude' | null {
    return this.options.ruleConflicts === 'exclude-wins' ? excludeWins(rules, pub, track) : lastMatch(rules, pub, track);
  }

  private syncRecordings(room: Room): void {
    for (const p of room.participants) {
      for (const track of p.tracks) {
        const active = room.recordings.find((r) => r.track === track && r.status === 'processing');
        const wanted = this.isRecorded(room, p, track);
        if (wanted && !active) {
          const rec: Recording = { sid: newSid('RT'), room, participant: p, track, status: 'processing', createdAt: new Date(), completedAt: null, duration: null, size: null };
          room.recordings.push(rec);
          this.recordingsBySid.set(rec.sid, rec);
          this.roomEvent(room, 'recording-started', p, { track, recording: rec });
        } else if (!wanted && active) {
          const now = new Date();
          active.status = 'completed';
          active.completedAt = now;
          active.duration = mediaSeconds(active.createdAt, now);
          active.size = active.duration * BYTES_PER_SECOND[track.kind];
          this.roomEvent(room, 'recording-completed', p, { track, recording: active });
        }
      }
    }
  }

  private endRoom(room: Room): void {
    if (room.status !== 'in-progress') return;
    room.idle = this.clearTwilioTimer(room.idle);
    for (const p of room.participants) if (p.status === 'connected') this.disconnectParticipant(p, { code: 53118, reason: 'Room completed' });
    const now = new Date();
    room.status = 'completed';
    room.endTime = now;
    room.updatedAt = now;
    this.syncRecordings(room);
    this.roomEvent(room, 'room-ended');
  }

  async endRoomAsTwilio(sid: string): Promise<void> {
    const room = this.findRoom(sid);
    if (!room) throw new Error(`twilio-video-fake: no in-progress room ${sid}`);
    this.endRoom(room);
  }

  // ---- status callbacks -----------------------------------------------------------------------------

  /** Strictly increasing per room: Twilio's events happen at distinct instants, and receivers order by Timestamp. */
  private timestamp(holder: { lastTimestamp: number }): string {
    const t = Math.max(Date.now(), holder.lastTimestamp + 1);
    holder.lastTimestamp = t;
    return new Date(t).toISOString();
  }

  /** Queues a Rooms status callback with the parameters Twilio documents (https://www.twilio.com/docs/video/api/status-callbacks). */
  private roomEvent(room: Room, event: string, p?: Participant, extra: { track?: Track; recording?: Recording } = {}): void {
    const sequence = room.sequence++;
    if (!room.statusCallback) return;
    const params: Record<string, string> = {
      AccountSid: this.options.accountSid,
      RoomName: room.uniqueName,
      RoomSid: room.sid,
      RoomStatus: room.status,
      RoomType: room.type,
      StatusCallbackEvent: event,
      Timestamp: this.timestamp(room),
      SequenceNumber: String(sequence),
    };
    if (event === 'room-ended' && room.endTime) params.RoomDuration = String(seconds(room.createdAt, room.endTime));
    if (p) {
      params.ParticipantSid = p.sid;
      params.ParticipantIdentity = p.identity;
      params.ParticipantStatus = p.status;
      if (event === 'participant-disconnected' && p.endTime) params.ParticipantDuration = String(seconds(p.createdAt, p.endTime));
    }
    const { track, recording } = extra;
    if (track) {
      params.TrackSid = track.sid;
      params.TrackKind = track.kind;
      params.TrackName = track.name;
    }
    if (recording) {
      const view = this.recordingView(recording);
      params.RecordingSid = recording.sid;
      params.RecordingUri = `/v1/Recordings/${recording.sid}`;
      params.SourceSid = recording.track.sid;
      params.Container = view.container;
      params.Codec = view.codec;
      if (recording.status === 'completed') {
        params.Duration = String(recording.duration);
        params.Size = String(recording.size);
        params.MediaUri = `/v1/Recordings/${recording.sid}/Media`;
      }
    }
    room.queue.push({ url: room.statusCallback, method: room.statusCallbackMethod, params });
  }

  private compositionEvent(c: Composition, event: string): void {
    if (!c.statusCallback) return;
    const params: Record<string, string> = {
      AccountSid: this.options.accountSid,
      RoomSid: c.room.sid,
      CompositionSid: c.sid,
      CompositionUri: `/v1/Compositions/${c.sid}`,
      StatusCallbackEvent: event,
      Timestamp: this.timestamp(c),
    };
    if (event === 'composition-available') {
      params.MediaUri = `/v1/Compositions/${c.sid}/Media`;
      params.Size = String(c.size);
      params.Duration = String(c.duration);
    }
    c.queue.push({ url: c.statusCallback, method: c.statusCallbackMethod, params });
  }

  // ---- HTTP -----------------------------------------------------------------------------------------

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = (req.method ?? 'GET').toUpperCase();
    const path = url.pathname;
    const query = parseForm(url.search.slice(1));
    const contentType = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    const params = contentType === 'application/x-www-form-urlencoded' ? parseForm(text) : {};
    const auth = this.authUser(req.headers.authorization);
    const record: RecordedVideoRequest = { method, path, query, params, authUser: auth.user, operationId: null, status: null };
    this.requests.push(record);

    // The signed media URL a Media redirect points to: no auth, as Twilio's storage URLs.
    const mediaMatch = /^\/media\/([0-9a-f]{48})$/.exec(path);
    if (mediaMatch && method === 'GET') return this.write(res, record, null, this.serveMedia(mediaMatch[1]!));

    const { pathKnown, operation, pathParams } = matchOperation(this.spec, method, path);
    record.operationId = operation?.id ?? null;
    // The Media sub-resources are documented by Twilio but not in the OpenAPI document.
    const mediaOf = /^\/v1\/(?:Recordings|Compositions|Rooms\/[^/]+\/Recordings)\/([A-Z]{2}[0-9a-f]{32})\/Media$/.exec(path);
    if (!pathKnown && !(mediaOf && method === 'GET')) {
      this.problems.push(`request: ${method} ${path} matches no path in the spec`);
      return this.write(res, record, null, this.error(404, 20404, `The requested resource ${path} was not found`));
    }
    if (pathKnown && !operation) {
      this.problems.push(`request: ${method} ${path}: the spec declares no ${method} operation on this path`);
      return this.write(res, record, null, this.error(405, 20004, 'Method not allowed'));
    }
    const requestIssues = operation
      ? requestProblems(this.spec, operation, { pathParams, query, params, rawBody: text, contentType, authorization: req.headers.authorization })
      : [];
    this.problems.push(...requestIssues);

    if (!auth.ok) {
      res.setHeader('WWW-Authenticate', 'Basic realm="Twilio API"');
      return this.write(res, record, operation, this.error(401, 20003, 'Authenticate'));
    }
    if (requestIssues.length > 0) {
      return this.write(res, record, operation, this.error(400, INVALID_PARAMETER, `Invalid request: ${requestIssues.map((i) => i.replace(/^request: /, '')).join('; ')}`));
    }

    const failure = this.failures.find((f) => f.left > 0 && (!f.method || f.method.toUpperCase() === method) && f.path.test(path));
    if (failure) failure.left -= 1;
    if (failure && failure.timeoutMs === undefined && !failure.destroy) {
      const status = failure.status ?? 500;
      const [code, message] = STATUS_CODES[status] ?? [status * 100, `HTTP ${status}`];
      const answer = this.error(status, failure.code ?? code, message);
      if (failure.retryAfter !== undefined) answer.headers = { ...answer.headers, 'Retry-After': String(failure.retryAfter) };
      return this.write(res, record, operation, answer);
    }

    const answer = mediaOf ? this.mediaRedirect(mediaOf[1]!, path) : this.dispatch(operation!, pathParams, query, params);
    if (failure?.destroy) {
      res.socket?.destroy();
      return;
    }
    if (failure?.timeoutMs !== undefined) {
      await this.sleep(failure.timeoutMs);
      if (res.destroyed || this.closed) return;
    }
    this.write(res, record, operation, answer);
  }

  private authUser(header: string | undefined): { user: string | null; ok: boolean } {
    const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
    if (!m) return { user: null, ok: false };
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return { user: null, ok: false };
    const user = decoded.slice(0, colon);
    const secret = decoded.slice(colon + 1);
    const ok =
      (user === this.options.accountSid && secret === this.options.authToken) ||
      (user === this.options.apiKeySid && secret === this.options.apiKeySecret);
    return { user, ok };
  }

  private write(res: http.ServerResponse, record: RecordedVideoRequest, op: Operation | null, answer: Answer): void {
    record.status = answer.status;
    if (answer.raw) {
      res.writeHead(answer.status, answer.headers);
      res.end(answer.raw);
      return;
    }
    if (answer.body === undefined) {
      if (op) this.problems.push(...this.statusProblems(op, answer.status));
      res.writeHead(answer.status, answer.headers);
      res.end();
      return;
    }
    if (op) this.problems.push(...responseProblems(this.spec, op, record.method, record.path, answer.status, answer.body));
    res.writeHead(answer.status, { 'Content-Type': 'application/json; charset=utf-8', ...answer.headers });
    res.end(JSON.stringify(answer.body));
  }

  private statusProblems(op: Operation, status: number): string[] {
    if (status >= 300) return [];
    return op.raw.responses?.[String(status)] ? [] : [`response: ${op.id} ${status}: status ${status} is not declared for this operation`];
  }

  private error(status: number, code: number, message: string): Answer {
    return { status, body: { code, message, more_info: moreInfo(code), status } };
  }

  private notFound(path: string): Answer {
    return this.error(404, 20404, `The requested resource ${path} was not found`);
  }

  /** The 2xx status the spec declares for an operation (Twilio answers 201 to creates, 202 to some updates). */
  private ok(op: Operation, body?: unknown): Answer {
    const status = Number(Object.keys(op.raw.responses ?? {}).find((s) => s.startsWith('2')) ?? 200);
    return body === undefined ? { status } : { status, body };
  }

  private dispatch(op: Operation, pathParams: Record<string, string>, query: FormParams, params: FormParams): Answer {
    const path = op.template;
    switch (op.id) {
      case 'CreateRoom':
        return this.createRoom(op, params);
      case 'FetchRoom': {
        const room = this.findRoom(pathParams.Sid!);
        return room ? this.ok(op, this.roomJson(room)) : this.notFound(path);
      }
      case 'ListRoom': {
        const status = first(query, 'Status');
        const name = first(query, 'UniqueName');
        const rooms = [...this.roomsBySid.values()]
          .reverse()
          .filter((r) => (status === undefined || r.status === status) && (name === undefined || r.uniqueName === name));
        return this.list(op, '/v1/Rooms', 'rooms', query, rooms.map((r) => this.roomJson(r)));
      }
      case 'UpdateRoom': {
        const room = this.findRoom(pathParams.Sid!);
        if (!room) return this.notFound(path);
        const status = first(params, 'Status');
        if (status !== 'completed') return this.error(400, 53112, 'Status is invalid');
        this.endRoom(room); // idempotent: a completed room stays as it ended
        return this.ok(op, this.roomJson(room));
      }
      case 'ListRoomParticipant': {
        const room = this.findRoom(pathParams.RoomSid!);
        if (!room) return this.notFound(path);
        const status = first(query, 'Status');
        const identity = first(query, 'Identity');
        const list = room.participants.filter((p) => (status === undefined || p.status === status) && (identity === undefined || p.identity === identity));
        return this.list(op, `/v1/Rooms/${room.sid}/Participants`, 'participants', query, list.map((p) => this.participantJson(p)));
      }
      case 'FetchRoomParticipant':
      case 'UpdateRoomParticipant': {
        const p = this.findParticipant(pathParams.RoomSid!, pathParams.Sid!);
        if (!p) return this.notFound(path);
        if (op.id === 'UpdateRoomParticipant') {
          const status = first(params, 'Status');
          if (status !== 'disconnected') return this.error(400, INVALID_PARAMETER, 'Status must be disconnected');
          if (p.status === 'connected') {
            // twilio-video ends the connection without an error when the REST API removes its participant.
            this.disconnectParticipant(p, { code: null, reason: 'Participant removed through the REST API' });
            this.refresh(p.room);
          }
        }
        return this.ok(op, this.participantJson(p));
      }
      case 'FetchRoomParticipantSubscribeRule':
      case 'UpdateRoomParticipantSubscribeRule': {
        const p = this.findParticipant(pathParams.RoomSid!, pathParams.ParticipantSid!);
        if (!p) return this.notFound(path);
        if (op.id === 'UpdateRoomParticipantSubscribeRule') {
          if (p.room.status !== 'in-progress' || p.status !== 'connected') return this.error(404, 53204, 'Participant not found');
          const parsed = parseRules(first(params, 'Rules'), false);
          if ('error' in parsed) return this.error(400, 53215, `Invalid Subscribe Rule(s): ${parsed.error}`);
          const now = new Date();
          p.rules = parsed.rules;
          p.rulesCreated ??= now;
          p.rulesUpdated = now;
          this.refresh(p.room);
        }
        return this.ok(op, {
          participant_sid: p.sid,
          room_sid: p.room.sid,
          rules: p.rules ?? [{ type: 'include', all: true }],
          date_created: p.rulesCreated && iso(p.rulesCreated),
          date_updated: p.rulesUpdated && iso(p.rulesUpdated),
        });
      }
      case 'ListRoomParticipantSubscribedTrack':
      case 'ListRoomParticipantPublishedTrack': {
        const p = this.findParticipant(pathParams.RoomSid!, pathParams.ParticipantSid!);
        if (!p) return this.notFound(path);
        const base = `/v1/Rooms/${p.room.sid}/Participants/${p.sid}`;
        if (op.id === 'ListRoomParticipantPublishedTrack') {
          const tracks = p.status === 'connected' ? p.tracks.filter((t) => !t.unpublishedAt) : [];
          return this.list(op, `${base}/PublishedTracks`, 'published_tracks', query, tracks.map((t) => this.publishedTrackJson(p, t)));
        }
        const subscribed: object[] = [];
        for (const pub of p.room.participants) {
          for (const t of pub.tracks) if (this.isSubscribed(p, pub, t)) subscribed.push(this.subscribedTrackJson(p, pub, t));
        }
        return this.list(op, `${base}/SubscribedTracks`, 'subscribed_tracks', query, subscribed);
      }
      case 'FetchRoomRecordingRule':
      case 'UpdateRoomRecordingRule': {
        const room = this.findRoom(pathParams.RoomSid!);
        if (!room) return this.notFound(path);
        if (op.id === 'UpdateRoomRecordingRule') {
          if (room.status !== 'in-progress') return this.error(400, 53118, 'Room completed');
          const parsed = parseRules(first(params, 'Rules'), true);
          if ('error' in parsed) return this.error(400, 53120, `Invalid Recording Rule(s): ${parsed.error}`);
          const now = new Date();
          room.recordingRules = parsed.rules as RecordingRule[];
          room.recordingRulesCreated ??= now;
          room.recordingRulesUpdated = now;
          this.refresh(room);
        }
        return this.ok(op, {
          room_sid: room.sid,
          rules: room.recordingRules ?? (room.recordParticipantsOnConnect ? [{ type: 'include', all: true }] : []),
          date_created: room.recordingRulesCreated && iso(room.recordingRulesCreated),
          date_updated: room.recordingRulesUpdated && iso(room.recordingRulesUpdated),
        });
      }
      case 'ListRecording': {
        const grouping = all(query, 'GroupingSid');
        const status = first(query, 'Status');
        const source = first(query, 'SourceSid');
        const mediaType = first(query, 'MediaType');
        const list = [...this.recordingsBySid.values()]
          .reverse()
          .filter((r) => r.status !== 'deleted' || status === 'deleted')
          .filter((r) => grouping.every((g) => g === r.room.sid || g === r.participant.sid))
          .filter((r) => (status === undefined || r.status === status) && (source === undefined || r.track.sid === source))
          .filter((r) => mediaType === undefined || r.track.kind === mediaType);
        return this.list(op, '/v1/Recordings', 'recordings', query, list.map((r) => this.recordingJson(r, false)));
      }
      case 'ListRoomRecording': {
        const room = this.findRoom(pathParams.RoomSid!);
        if (!room) return this.notFound(path);
        const status = first(query, 'Status');
        const source = first(query, 'SourceSid');
        const list = room.recordings
          .filter((r) => r.status !== 'deleted' || status === 'deleted')
          .filter((r) => (status === undefined || r.status === status) && (source === undefined || r.track.sid === source));
        return this.list(op, `/v1/Rooms/${room.sid}/Recordings`, 'recordings', query, list.map((r) => this.recordingJson(r, true)));
      }
      case 'FetchRecording':
      case 'FetchRoomRecording':
      case 'DeleteRecording':
      case 'DeleteRoomRecording': {
        const rec = this.recordingsBySid.get(pathParams.Sid!);
        const inRoom = op.id.includes('Room');
        if (!rec || (inRoom && rec.room !== this.findRoom(pathParams.RoomSid!))) return this.notFound(path);
        if (op.id.startsWith('Delete')) {
          if (rec.status === 'processing') return this.error(400, INVALID_PARAMETER, 'The Recording is still being captured and cannot be deleted');
          rec.status = 'deleted';
          return this.ok(op);
        }
        return this.ok(op, this.recordingJson(rec, inRoom));
      }
      case 'CreateComposition':
        return this.createComposition(op, params);
      case 'FetchComposition':
      case 'DeleteComposition': {
        const c = this.compositionsBySid.get(pathParams.Sid!);
        if (!c) return this.notFound(path);
        if (op.id === 'DeleteComposition') {
          c.status = 'deleted';
          c.deletedAt = new Date();
          return this.ok(op);
        }
        return this.ok(op, this.compositionJson(c));
      }
      case 'ListComposition': {
        const roomSid = first(query, 'RoomSid');
        const status = first(query, 'Status');
        const list = [...this.compositionsBySid.values()]
          .reverse()
          .filter((c) => (roomSid === undefined || c.room.sid === roomSid) && (status === undefined || c.status === status));
        return this.list(op, '/v1/Compositions', 'compositions', query, list.map((c) => this.compositionJson(c)));
      }
      default:
        // A real operation the fake does not implement.
        return this.notFound(path);
    }
  }

  private findParticipant(roomSidOrName: string, sidOrIdentity: string): Participant | undefined {
    const room = this.findRoom(roomSidOrName);
    if (!room) return undefined;
    const bySid = room.participants.find((p) => p.sid === sidOrIdentity);
    if (bySid) return bySid;
    // By identity: the connected one, else the latest.
    const named = room.participants.filter((p) => p.identity === sidOrIdentity);
    return named.find((p) => p.status === 'connected') ?? named[named.length - 1];
  }

  // ---- Rooms ----------------------------------------------------------------------------------------

  private createRoom(op: Operation, params: FormParams): Answer {
    const type = first(params, 'Type') ?? 'group';
    // Go, peer-to-peer and Small Group rooms are legacy: new accounts get Group rooms only.
    if (type !== 'group') return this.error(400, 53126, `Room type ${type} is not available for this account; use group`);
    const uniqueName = first(params, 'UniqueName');
    if (uniqueName !== undefined) {
      if (uniqueName.length > 128) return this.error(400, 53101, 'Room name is too long');
      if ([...this.roomsBySid.values()].some((r) => r.status === 'in-progress' && r.uniqueName === uniqueName)) {
        return this.error(400, 53113, 'Room exists');
      }
    }
    const int = (name: string, fallback: number): number => {
      const v = first(params, name);
      return v === undefined ? fallback : Number(v);
    };
    const maxParticipants = int('MaxParticipants', MAX_PARTICIPANTS);
    if (!Number.isInteger(maxParticipants) || maxParticipants < 1 || maxParticipants > MAX_PARTICIPANTS) {
      return this.error(400, 53107, 'MaxParticipants is out of range');
    }
    const maxParticipantDuration = int('MaxParticipantDuration', DEFAULT_PARTICIPANT_DURATION);
    if (!Number.isInteger(maxParticipantDuration) || maxParticipantDuration < MIN_PARTICIPANT_DURATION || maxParticipantDuration > MAX_PARTICIPANT_DURATION) {
      return this.error(400, 53123, 'MaxParticipantDuration is out of range');
    }
    const emptyRoomTimeout = int('EmptyRoomTimeout', DEFAULT_ROOM_TIMEOUT);
    const unusedRoomTimeout = int('UnusedRoomTimeout', DEFAULT_ROOM_TIMEOUT);
    for (const t of [emptyRoomTimeout, unusedRoomTimeout]) {
      if (!Number.isInteger(t) || t < MIN_ROOM_TIMEOUT || t > MAX_ROOM_TIMEOUT) return this.error(400, 53109, 'Timeout is out of range');
    }
    const statusCallback = first(params, 'StatusCallback') ?? null;
    if (statusCallback !== null && !/^https?:\/\//.test(statusCallback)) return this.error(400, 53111, 'StatusCallback is invalid');
    const method = (first(params, 'StatusCallbackMethod') ?? 'POST').toUpperCase();
    if (method !== 'GET' && method !== 'POST') return this.error(400, 53110, 'StatusCallbackMethod is invalid');
    let recordingRules: RecordingRule[] | null = null;
    const rulesText = first(params, 'RecordingRules');
    if (rulesText !== undefined) {
      const parsed = parseRules(unwrapRules(rulesText), true);
      if ('error' in parsed) return this.error(400, 53120, `Invalid Recording Rule(s): ${parsed.error}`);
      recordingRules = parsed.rules as RecordingRule[];
    }
    const now = new Date();
    const sid = newSid('RM');
    const room: Room = {
      sid,
      uniqueName: uniqueName ?? sid, // Twilio names an unnamed room after its SID
      status: 'in-progress',
      type,
      createdAt: now,
      updatedAt: now,
      endTime: null,
      options: structuredClone(params),
      maxParticipants,
      maxParticipantDuration,
      emptyRoomTimeout,
      unusedRoomTimeout,
      statusCallback,
      statusCallbackMethod: method,
      recordParticipantsOnConnect: first(params, 'RecordParticipantsOnConnect') === 'true',
      videoCodecs: all(params, 'VideoCodecs').length > 0 ? all(params, 'VideoCodecs') : ['VP8', 'H264'],
      mediaRegion: first(params, 'MediaRegion') ?? 'us1',
      audioOnly: first(params, 'AudioOnly') === 'true',
      participants: [],
      recordingRules,
      recordingRulesCreated: recordingRules ? now : null,
      recordingRulesUpdated: recordingRules ? now : null,
      recordings: [],
      queue: new CallbackQueue(this),
      sequence: 0,
      lastTimestamp: 0,
      idle: null,
    };
    room.idle = this.twilioTimer(unusedRoomTimeout * 60_000, () => this.endRoom(room));
    this.roomsBySid.set(sid, room);
    this.roomEvent(room, 'room-created');
    return this.ok(op, this.roomJson(room));
  }

  private roomJson(room: Room): object {
    const url = `${TWILIO_VIDEO_ORIGIN}/v1/Rooms/${room.sid}`;
    return {
      sid: room.sid,
      status: room.status,
      date_created: iso(room.createdAt),
      date_updated: iso(room.updatedAt),
      account_sid: this.options.accountSid,
      enable_turn: true,
      unique_name: room.uniqueName,
      status_callback: room.statusCallback,
      status_callback_method: room.statusCallbackMethod,
      end_time: room.endTime && iso(room.endTime),
      duration: room.endTime && seconds(room.createdAt, room.endTime),
      type: room.type,
      max_participants: room.maxParticipants,
      max_participant_duration: room.maxParticipantDuration,
      max_concurrent_published_tracks: 170,
      record_participants_on_connect: room.recordParticipantsOnConnect,
      video_codecs: room.videoCodecs,
      media_region: room.mediaRegion,
      audio_only: room.audioOnly,
      empty_room_timeout: room.emptyRoomTimeout,
      unused_room_timeout: room.unusedRoomTimeout,
      large_room: false,
      url,
      links: {
        participants: `${url}/Participants`,
        recordings: `${url}/Recordings`,
        transcriptions: `${url}/Transcriptions`,
        recording_rules: `${url}/RecordingRules`,
      },
    };
  }

  private participantJson(p: Participant): object {
    const url = `${TWILIO_VIDEO_ORIGIN}/v1/Rooms/${p.room.sid}/Participants/${p.sid}`;
    return {
      sid: p.sid,
      room_sid: p.room.sid,
      account_sid: this.options.accountSid,
      status: p.status,
      identity: p.identity,
      date_created: iso(p.createdAt),
      date_updated: iso(p.updatedAt),
      start_time: iso(p.createdAt),
      end_time: p.endTime && iso(p.endTime),
      duration: p.endTime && seconds(p.createdAt, p.endTime),
      url,
      links: {
        published_tracks: `${url}/PublishedTracks`,
        subscribed_tracks: `${url}/SubscribedTracks`,
        subscribe_rules: `${url}/SubscribeRules`,
        anonymize: `${url}/Anonymize`,
      },
    };
  }

  private publishedTrackJson(p: Participant, t: Track): object {
    return {
      sid: t.sid,
      participant_sid: p.sid,
      room_sid: p.room.sid,
      name: t.name,
      date_created: iso(t.publishedAt),
      date_updated: iso(t.publishedAt),
      enabled: true,
      kind: t.kind,
      url: `${TWILIO_VIDEO_ORIGIN}/v1/Rooms/${p.room.sid}/Participants/${p.sid}/PublishedTracks/${t.sid}`,
    };
  }

  private subscribedTrackJson(sub: Participant, pub: Participant, t: Track): object {
    return {
      sid: t.sid,
      participant_sid: sub.sid,
      publisher_sid: pub.sid,
      room_sid: sub.room.sid,
      name: t.name,
      date_created: iso(t.publishedAt),
      date_updated: iso(t.publishedAt),
      enabled: true,
      kind: t.kind,
      url: `${TWILIO_VIDEO_ORIGIN}/v1/Rooms/${sub.room.sid}/Participants/${sub.sid}/SubscribedTracks/${t.sid}`,
    };
  }

  // ---- Recordings and media -------------------------------------------------------------------------

  private recordingJson(r: Recording, inRoom: boolean): object {
    const view = this.recordingView(r);
    const base = inRoom ? `${TWILIO_VIDEO_ORIGIN}/v1/Rooms/${r.room.sid}/Recordings/${r.sid}` : `${TWILIO_VIDEO_ORIGIN}/v1/Recordings/${r.sid}`;
    const common = {
      account_sid: this.options.accountSid,
      status: r.status,
      date_created: iso(r.createdAt),
      sid: r.sid,
      source_sid: r.track.sid,
      size: r.size ?? 0,
      url: base,
      type: r.track.kind,
      duration: r.duration ?? 0,
      container_format: view.container,
      codec: view.codec,
      grouping_sids: { room_sid: r.room.sid, participant_sid: r.participant.sid },
      track_name: r.track.name,
      offset: r.createdAt.getTime() - r.room.createdAt.getTime(),
      media_external_location: null,
    };
    return inRoom
      ? { ...common, room_sid: r.room.sid, links: { media: `${base}/Media` } }
      : { ...common, status_callback: null, status_callback_method: null, links: { media: `${base}/Media` } };
  }

  /** GET …/Media: 302 to a short-lived URL of the bytes, with Twilio's `redirect_to` body. */
  private mediaRedirect(sid: string, path: string): Answer {
    let link: Omit<MediaLink, 'expiresAt'> | null = null;
    if (sid.startsWith('RT')) {
      const rec = this.recordingsBySid.get(sid);
      const roomPart = /^\/v1\/Rooms\/([^/]+)\//.exec(path)?.[1];
      if (rec && roomPart !== undefined && rec.room !== this.findRoom(roomPart)) return this.notFound(path);
      if (!rec || rec.status !== 'completed' || rec.size === null) return this.notFound(path);
      link = { sid, container: rec.track.kind === 'audio' ? 'mka' : 'mkv', size: rec.size };
    } else if (sid.startsWith('CJ') && path.startsWith('/v1/Compositions/')) {
      const c = this.compositionsBySid.get(sid);
      if (!c || c.status !== 'completed' || c.size === null) return this.notFound(path);
      link = { sid, container: c.format, size: c.size };
    }
    if (!link) return this.notFound(path);
    const token = randomBytes(24).toString('hex');
    this.media.set(token, { ...link, expiresAt: Date.now() + MEDIA_URL_TTL_MS });
    const location = `${this.url}/media/${token}`;
    return { status: 302, headers: { Location: location }, body: { redirect_to: location } };
  }

  private serveMedia(token: string): Answer {
    const link = this.media.get(token);
    if (!link || link.expiresAt < Date.now()) {
      return { status: 403, headers: { 'Content-Type': 'text/plain' }, raw: Buffer.from('Request has expired') };
    }
    const bytes = fakeMediaBytes(link.sid, link.size, link.container);
    return { status: 200, headers: { 'Content-Type': CONTENT_TYPES[link.container]!, 'Content-Length': String(bytes.length) }, raw: bytes };
  }

  // ---- Compositions ---------------------------------------------------------------------------------

  private createComposition(op: Operation, params: FormParams): Answer {
    const roomSid = first(params, 'RoomSid')!;
    const room = this.roomsBySid.get(roomSid);
    if (!room) return this.error(404, 20404, `The requested resource /v1/Rooms/${roomSid} was not found`);
    if (room.status !== 'completed') return this.error(400, INVALID_PARAMETER, 'A composition can only be created for a completed room');
    const audioSources = all(params, 'AudioSources');
    const layoutText = first(params, 'VideoLayout');
    if (audioSources.length === 0 && layoutText === undefined) {
      return this.error(400, INVALID_PARAMETER, 'Either VideoLayout or AudioSources must be provided');
    }
    let videoLayout: unknown = {};
    if (layoutText !== undefined) {
      try {
        videoLayout = JSON.parse(layoutText);
      } catch {
        return this.error(400, INVALID_PARAMETER, 'VideoLayout is not valid JSON');
      }
    }
    const format = (first(params, 'Format') ?? 'webm') as 'mp4' | 'webm';
    const method = (first(params, 'StatusCallbackMethod') ?? 'POST').toUpperCase() as 'GET' | 'POST';
    const duration = room.endTime ? mediaSeconds(room.createdAt, room.endTime) : 1;
    const c: Composition = {
      sid: newSid('CJ'),
      room,
      status: 'enqueued',
      createdAt: new Date(),
      completedAt: null,
      deletedAt: null,
      options: structuredClone(params),
      audioSources,
      audioSourcesExcluded: all(params, 'AudioSourcesExcluded'),
      videoLayout,
      resolution: first(params, 'Resolution') ?? '640x480',
      trim: first(params, 'Trim') !== 'false',
      format,
      statusCallback: first(params, 'StatusCallback') ?? null,
      statusCallbackMethod: method,
      duration,
      size: null,
      queue: new CallbackQueue(this),
      lastTimestamp: 0,
    };
    this.compositionsBySid.set(c.sid, c);
    this.compositionEvent(c, 'composition-enqueued');
    // Twilio composes in the background: started, then available, after short delays.
    const run = async (): Promise<void> => {
      await this.sleep(20);
      if (this.closed || c.status === 'deleted') return;
      c.status = 'processing';
      this.compositionEvent(c, 'composition-started');
      await this.sleep(30);
      if (this.closed || c.status !== 'processing') return;
      c.status = 'completed';
      c.completedAt = new Date();
      c.size = duration * BYTES_PER_SECOND.composition;
      this.compositionEvent(c, 'composition-available');
    };
    this.track(run());
    return this.ok(op, this.compositionJson(c));
  }

  private compositionJson(c: Composition): object {
    const url = `${TWILIO_VIDEO_ORIGIN}/v1/Compositions/${c.sid}`;
    return {
      account_sid: this.options.accountSid,
      status: c.status,
      date_created: iso(c.createdAt),
      date_completed: c.completedAt && iso(c.completedAt),
      date_deleted: c.deletedAt && iso(c.deletedAt),
      sid: c.sid,
      room_sid: c.room.sid,
      audio_sources: c.audioSources,
      audio_sources_excluded: c.audioSourcesExcluded,
      video_layout: c.videoLayout,
      resolution: c.resolution,
      trim: c.trim,
      format: c.format,
      bitrate: c.status === 'completed' ? BYTES_PER_SECOND.composition * 8 / 1000 : 0,
      size: c.size ?? 0,
      duration: c.status === 'completed' ? c.duration : 0,
      media_external_location: null,
      status_callback: c.statusCallback,
      status_callback_method: c.statusCallbackMethod,
      url,
      links: { media: `${url}/Media` },
    };
  }

  // ---- lists ----------------------------------------------------------------------------------------

  /** A page as Twilio serves lists: the items under `key` and `meta` with absolute page URLs keeping the filters. */
  private list(op: Operation, base: string, key: string, query: FormParams, items: object[]): Answer {
    const pageSize = Math.min(Math.max(Number(first(query, 'PageSize') ?? 50) || 50, 1), 1000);
    const page = Math.max(Number(first(query, 'Page') ?? 0) || 0, 0);
    const start = page * pageSize;
    const slice = items.slice(start, start + pageSize);
    const filters = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) {
      if (k === 'PageSize' || k === 'Page' || k === 'PageToken') continue;
      for (const value of Array.isArray(v) ? v : [v]) filters.append(k, value);
    }
    const pageUrl = (n: number, token?: string): string => {
      const q = new URLSearchParams(filters);
      q.set('PageSize', String(pageSize));
      q.set('Page', String(n));
      if (token) q.set('PageToken', token);
      return `${TWILIO_VIDEO_ORIGIN}${base}?${q.toString()}`;
    };
    return this.ok(op, {
      [key]: slice,
      meta: {
        page,
        page_size: pageSize,
        first_page_url: pageUrl(0),
        previous_page_url: page > 0 ? pageUrl(page - 1, `PB${page}`) : null,
        url: pageUrl(page),
        next_page_url: items.length > start + pageSize ? pageUrl(page + 1, `PA${page + 1}`) : null,
        key,
      },
    });
  }
}

/** A rule matches a track when every filter it names matches (`all` matches everything). */
function matches(r: SubscribeRule, pub: { sid: string; identity: string }, track: Track): boolean {
  return (
    r.all === true ||
    ((r.publisher === undefined || r.publisher === pub.identity || r.publisher === pub.sid) &&
      (r.track === undefined || r.track === track.name || r.track === track.sid) &&
      (r.kind === undefined || r.kind === track.kind) &&
      (r.priority === undefined || r.priority === track.priority))
  );
}

/** include / exclude from the last rule matching the track, or null when none matches. */
function lastMatch(rules: SubscribeRule[], pub: { sid: string; identity: string }, track: Track): 'include' | 'exclude' | null {
  let verdict: 'include' | 'exclude' | null = null;
  for (const r of rules) if (matches(r, pub, track)) verdict = r.type;
  return verdict;
}

/** exclude when any matching rule excludes, else include when one includes, else null. */
function excludeWins(rules: SubscribeRule[], pub: { sid: string; identity: string }, track: Track): 'include' | 'exclude' | null {
  const hits = rules.filter((r) => matches(r, pub, track));
  if (hits.some((r) => r.type === 'exclude')) return 'exclude';
  return hits.length > 0 ? 'include' : null;
}

/** Starts the fake on 127.0.0.1 (an ephemeral port). */
export async function startFakeTwilioVideo(options: FakeTwilioVideoOptions): Promise<FakeTwilioVideo> {
  const fake = new FakeTwilioVideoServer(options, getSpec(options.specPath ?? DEFAULT_SPEC));
  await fake.listen();
  return fake;
}

/**
 * A `twilio` RequestClient that sends what the SDK addresses to https://video.twilio.com to the fake instead:
 * `twilio(apiKeySid, apiKeySecret, { accountSid, httpClient: new FakeTwilioVideoRequestClient(fake.url) })`.
 */
export class FakeTwilioVideoRequestClient extends twilio.RequestClient {
  constructor(
    private readonly baseUrl: string,
    options?: RequestClient.RequestClientOptions,
  ) {
    super(options);
  }

  override request<TData>(opts: RequestClient.RequestOptions<TData>): Promise<TwilioHttpResponse.default<TData>> {
    const uri = opts.uri.startsWith(TWILIO_VIDEO_ORIGIN) ? this.baseUrl + opts.uri.slice(TWILIO_VIDEO_ORIGIN.length) : opts.uri;
    return super.request({ ...opts, uri });
  }
}
