import type { FastifyBaseLogger } from 'fastify';
import {
  ProviderRoomEndedError,
  type Grants,
  type MediaCapability,
  type MediaProvider,
  type MintedToken,
  type MintTokenInput,
  type ProviderHost,
  type ProviderParticipant,
  type ProviderRoom,
  type ProviderRoomSpec,
  type RecordingFile,
  type RoomEvent,
  type RoutingState,
  type RoutingUpdate,
} from '../provider.js';
import { TwilioRequestError, type TwilioVideoApi } from './api.js';
import { TwilioRecordingStore } from './recordings.js';
import { DEFAULT_ROUTING, recordingRules, subscribeRules, type RoutingView, type TwilioRule } from './rules.js';
import type { TwilioTokenMinter } from './tokens.js';
import { TWILIO_VIDEO_CALLBACK_PATH, twilioVideoCallbackRoutes, type VideoCallback } from './webhook.js';

/** Twilio's bounds for a room's limits (Rooms resource): the rooms layer's own timer enforces anything shorter. */
const MIN_PARTICIPANT_DURATION_S = 600;
const MAX_PARTICIPANT_DURATION_S = 86_400;
const MAX_ROOM_TIMEOUT_MIN = 60;
/** Group rooms hold 50 participants at most. */
const MAX_PARTICIPANTS = 50;
/** twilio-video's default signaling endpoint: informational (the SDK connects where its token and options say). */
const SIGNALING_URL = 'wss://global.vss.twilio.com/signaling';
/** Rule writes to Twilio at once when routing changes for many subscribers. */
const RULE_WRITES_AT_ONCE = 8;
/** A room Twilio has not shown us live for this long is fetched before its next token. */
const CONFIRM_EVERY_MS = 30_000;
/** Callback deliveries remembered to drop Twilio's retries of the same one. */
const SEEN_LIMIT = 20_000;

export interface TwilioProviderOptions {
  api: TwilioVideoApi;
  minter: TwilioTokenMinter;
  /** PUBLIC_URL: status callbacks come to `${publicUrl}/webhooks/twilio/video`, signed over that URL. */
  publicUrl: string;
  authToken: string;
  /** Compose each recorded room into one file when it ends. */
  compositions: boolean;
  /** How long Twilio's word that a room is live stands before a token checks again (default 30 s). */
  confirmEveryMs?: number;
  log?: Pick<FastifyBaseLogger, 'warn' | 'info'>;
}

const clamp = (n: number, min: number, max: number) => Math.min(max, Math.max(min, n));

interface LiveRoom {
  sid: string;
  uniqueName: string;
  createdAt: number;
  /** The room's own timeouts (ms), to tell which one Twilio ended it by. */
  emptyTimeoutMs: number;
  unusedTimeoutMs: number;
  /** When the last participant left (ms), 0 while someone is in or nobody came. */
  lastLeftAt: number;
  /** When Twilio last showed us the room live (ms): made, restored, fetched, or a callback about it. */
  confirmedAt: number;
  routing: Map<string, RoutingState>;
  overrides: Map<string, Map<string, { audio?: boolean; video?: boolean }>>;
  grants: Map<string, Grants>;
  /** identity → when its latest token was minted (ms), in this process. */
  minted: Map<string, number>;
  /** identity → tokens minted at or before this instant (ms) no longer get in. */
  revoked: Map<string, number>;
  /** Taken up again after a restart: tokens minted before it are not in `minted`. */
  restored: boolean;
  /** identity → its connection now. */
  connected: Map<string, { sid: string; since: Date }>;
  /** participant SID → the rules last written for it (JSON). */
  applied: Map<string, string>;
  recording: boolean;
  appliedRecording: string | null;
  /** Recordings were made (a composition is due when the room ends). */
  recorded: boolean;
  /** Why we ended or removed: said when Twilio reports it. */
  endReason: string | null;
  removedBecause: Map<string, string>;
  /** Twilio's participant SIDs whose stay is over (or was refused): later events about them are stale. */
  gone: Set<string>;
  tracksGone: Set<string>;
  /** participant SIDs whose join was reported. */
  announced: Set<string>;
  /** Track SID → whose and what, for recordings that name only their source track. */
  tracks: Map<string, { identity: string; kind: 'audio' | 'video'; source: 'microphone' | 'camera' | 'screen' }>;
  /** Routing writes and callbacks of one room, one at a time. */
  queue: Promise<unknown>;
}

const applyRouting = (before: RoutingState, update: RoutingUpdate): RoutingState => ({
  group: update.group ?? before.group,
  audioMuted: update.audioMuted ?? before.audioMuted,
  videoMuted: update.videoMuted ?? before.videoMuted,
  recorded: update.recorded ?? before.recorded,
});
const sameRouting = (a: RoutingState, b: RoutingState) => a.group === b.group && a.audioMuted === b.audioMuted && a.videoMuted === b.videoMuted && a.recorded === b.recorded;

const sourceOf = (kind: 'audio' | 'video', name: string): 'microphone' | 'camera' | 'screen' =>
  name === 'screen' || name === 'microphone' || name === 'camera' ? name : kind === 'audio' ? 'microphone' : 'camera';

/**
 * Twilio Video (Group rooms) as a MediaProvider. Rooms, participants and tokens map one to one (the room's UniqueName
 * is our room id, so no name or PHI reaches Twilio); routing is each participant's subscribe rules and recording the
 * room's recording rules (rules.ts); token revocation, which Twilio lacks, is the adapter's: a connection made with
 * a token minted before the revocation is disconnected as soon as its callback arrives. Events come from Twilio's
 * status callbacks (webhook.ts), checked, de-duplicated and put in order per participant, track and recording.
 *
 * Twilio applies a participant's subscribe rules only once it is connected, until then it receives everything
 * (`routingAtConnect` false): the rooms layer therefore gives someone to be kept apart (a waiting room) no media
 * token at all until released. Routing state lives in this process, restored from the rooms layer's store at start.
 */
export class TwilioProvider implements MediaProvider {
  readonly name = 'twilio';
  readonly capabilities: readonly MediaCapability[] = ['routing', 'subscriptions', 'recording', 'tokenRevocation'];
  readonly roomCapacity = MAX_PARTICIPANTS;
  readonly routingAtConnect = false;
  readonly recordings: TwilioRecordingStore;
  readonly #options: TwilioProviderOptions;
  readonly #rooms = new Map<string, LiveRoom>();
  readonly #listeners = new Set<(event: RoomEvent) => void>();
  readonly #seen = new Set<string>();
  #closed = false;

  constructor(options: TwilioProviderOptions) {
    this.#options = options;
    this.recordings = new TwilioRecordingStore(options.api);
  }

  get callbackUrl(): string {
    return `${this.#options.publicUrl}${TWILIO_VIDEO_CALLBACK_PATH}`;
  }

  #emit(event: RoomEvent): void {
    for (const listener of this.#listeners) listener(event);
  }

  onEvent(listener: (event: RoomEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  attach(host: ProviderHost): void {
    host.registerRoutes(twilioVideoCallbackRoutes({ authToken: this.#options.authToken, publicUrl: this.#options.publicUrl, handle: (c) => this.handleCallback(c) }));
  }

  #newRoom(sid: string, spec: ProviderRoomSpec): LiveRoom {
    const room: LiveRoom = {
      sid,
      uniqueName: spec.roomId,
      createdAt: Date.now(),
      // As Twilio runs them: whole minutes (createRoom rounds up).
      emptyTimeoutMs: clamp(Math.ceil(spec.emptyTimeoutS / 60), 1, MAX_ROOM_TIMEOUT_MIN) * 60_000,
      unusedTimeoutMs: clamp(Math.ceil(spec.unusedTimeoutS / 60), 1, MAX_ROOM_TIMEOUT_MIN) * 60_000,
      lastLeftAt: 0,
      confirmedAt: Date.now(),
      routing: new Map(),
      overrides: new Map(),
      grants: new Map(),
      minted: new Map(),
      revoked: new Map(),
      restored: false,
      connected: new Map(),
      applied: new Map(),
      recording: false,
      appliedRecording: null,
      recorded: false,
      endReason: null,
      removedBecause: new Map(),
      gone: new Set(),
      tracksGone: new Set(),
      announced: new Set(),
      tracks: new Map(),
      queue: Promise.resolve(),
    };
    this.#rooms.set(sid, room);
    return room;
  }

  /** Runs `fn` after everything queued for the room (routing writes and callbacks apply one at a time). */
  #serial<T>(room: LiveRoom, fn: () => Promise<T>): Promise<T> {
    const run = room.queue.then(fn, fn);
    room.queue = run.catch(() => undefined);
    return run;
  }

  async createRoom(spec: ProviderRoomSpec): Promise<ProviderRoom> {
    const options = {
      type: 'group' as const,
      uniqueName: spec.roomId,
      statusCallback: this.callbackUrl,
      statusCallbackMethod: 'POST',
      maxParticipants: clamp(spec.maxParticipants, 1, MAX_PARTICIPANTS),
      maxParticipantDuration: clamp(spec.maxParticipantDurationS, MIN_PARTICIPANT_DURATION_S, MAX_PARTICIPANT_DURATION_S),
      emptyRoomTimeout: clamp(Math.ceil(spec.emptyTimeoutS / 60), 1, MAX_ROOM_TIMEOUT_MIN),
      unusedRoomTimeout: clamp(Math.ceil(spec.unusedTimeoutS / 60), 1, MAX_ROOM_TIMEOUT_MIN),
      recordParticipantsOnConnect: false,
    };
    // Safe to repeat: a creation that timed out but happened answers 53113 (the name is taken) the second time, and
    // the room made the first time is the one we take.
    const created = await this.#options.api.call(async (client) => {
      try {
        return await client.video.v1.rooms.create(options);
      } catch (err) {
        if ((err as { code?: unknown }).code === 53113) return client.video.v1.rooms(spec.roomId).fetch();
        throw err;
      }
    });
    // Created again (a retried call): the live room's state stays as it is.
    if (!this.#rooms.has(created.sid)) {
      this.#newRoom(created.sid, spec);
      this.#emit({ type: 'room.started', roomId: created.sid, at: new Date() });
    }
    return { providerRoomId: created.sid, providerData: { uniqueName: spec.roomId } };
  }

  async restoreRoom(spec: ProviderRoomSpec & { providerRoomId: string }): Promise<boolean> {
    let status: string;
    try {
      status = (await this.#options.api.call((client) => client.video.v1.rooms(spec.providerRoomId).fetch())).status;
    } catch (err) {
      if (err instanceof TwilioRequestError && err.status === 404) return false;
      throw err;
    }
    if (status !== 'in-progress') return false;
    const room = this.#rooms.get(spec.providerRoomId) ?? this.#newRoom(spec.providerRoomId, spec);
    room.restored = true;
    const participants = await this.#options.api.call((client) => client.video.v1.rooms(spec.providerRoomId).participants.list({ status: 'connected', limit: 1000 }));
    for (const p of participants) {
      room.connected.set(p.identity, { sid: p.sid, since: p.startTime ?? p.dateCreated });
      room.announced.add(p.sid);
    }
    return true;
  }

  async endRoom(providerRoomId: string, reason: string): Promise<void> {
    const room = this.#rooms.get(providerRoomId);
    if (room) room.endReason ??= reason;
    try {
      await this.#options.api.call((client) => client.video.v1.rooms(providerRoomId).update({ status: 'completed' }));
    } catch (err) {
      // Gone, or completed already (Twilio refuses to complete a completed room): ended either way.
      if (!(err instanceof TwilioRequestError)) throw err;
    }
  }

  async listParticipants(providerRoomId: string): Promise<ProviderParticipant[]> {
    try {
      const list = await this.#options.api.call((client) => client.video.v1.rooms(providerRoomId).participants.list({ status: 'connected', limit: 1000 }));
      return list.map((p) => ({ identity: p.identity, connectedAt: p.startTime ?? p.dateCreated }));
    } catch (err) {
      if (err instanceof TwilioRequestError && err.status === 404) return [];
      throw err;
    }
  }

  async removeParticipant(providerRoomId: string, identity: string, reason: string): Promise<boolean> {
    const room = this.#rooms.get(providerRoomId);
    // Twilio's own list, not our callbacks' view (which may lag): is this identity connected now, and as which participant?
    let sid: string | undefined;
    try {
      const [connected] = await this.#options.api.call((client) => client.video.v1.rooms(providerRoomId).participants.list({ identity, status: 'connected', limit: 1 }));
      sid = connected?.sid;
    } catch (err) {
      if (err instanceof TwilioRequestError && err.status === 404) return false;
      throw err;
    }
    if (!sid) return false;
    room?.removedBecause.set(identity, reason);
    try {
      await this.#options.api.call((client) => client.video.v1.rooms(providerRoomId).participants(sid).update({ status: 'disconnected' }));
      return true;
    } catch (err) {
      if (err instanceof TwilioRequestError && err.status === 404) {
        room?.removedBecause.delete(identity);
        return false;
      }
      throw err;
    }
  }

  async mintToken(input: MintTokenInput): Promise<MintedToken> {
    const room = this.#rooms.get(input.providerRoomId);
    const now = Date.now();
    if (room) {
      await this.#confirmLive(room);
      await this.#serial(room, async () => {
        const before = { grants: room.grants.get(input.identity), minted: room.minted.get(input.identity) };
        room.grants.set(input.identity, { ...input.grants });
        // Strictly after any revocation made in the same millisecond: a fresh token after a denial is a new decision.
        room.minted.set(input.identity, Math.max(Date.now(), (room.revoked.get(input.identity) ?? 0) + 1));
        // The new publisher enters the others' rules before it can connect (a main-group subscriber must exclude
        // someone placed elsewhere from the start); a write Twilio refuses fails the token, not the room.
        try {
          await this.#sync(room);
        } catch (err) {
          // No token was issued: what stood before stands. Above all a revocation, which the newer mint time would
          // otherwise lift for the tokens it covers; the next sync rewrites whatever part of the rules did land.
          if (before.grants) room.grants.set(input.identity, before.grants);
          else room.grants.delete(input.identity);
          if (before.minted !== undefined) room.minted.set(input.identity, before.minted);
          else room.minted.delete(input.identity);
          throw err;
        }
      });
    }
    const ttl = Math.min(86_400, input.ttlSeconds);
    return { token: this.#options.minter.mint(input.identity, room?.uniqueName ?? input.roomId, ttl), expiresAt: new Date(now + ttl * 1000), url: SIGNALING_URL };
  }

  /**
   * A token is for a room Twilio still has, with credentials Twilio still takes: when Twilio has not shown us the room
   * for a while (CONFIRM_EVERY_MS), one fetch checks both, so a token request while Twilio is unreachable or refuses
   * the credentials answers 503 here rather than failing in the patient's browser, and a room Twilio ended by itself
   * (before its callback came) gets no more tokens.
   */
  async #confirmLive(room: LiveRoom): Promise<void> {
    if (Date.now() - room.confirmedAt < (this.#options.confirmEveryMs ?? CONFIRM_EVERY_MS)) return;
    const fetched = await this.#options.api.call((client) => client.video.v1.rooms(room.sid).fetch()).catch((err: unknown) => {
      if (err instanceof TwilioRequestError && err.status === 404) return null;
      throw err;
    });
    if (!fetched || fetched.status !== 'in-progress') throw new ProviderRoomEndedError('Twilio has ended this room.');
    room.confirmedAt = Date.now();
  }

  async setRouting(providerRoomId: string, identity: string, update: RoutingUpdate): Promise<{ state: RoutingState; changed: boolean } | null> {
    const room = this.#rooms.get(providerRoomId);
    if (!room) return null;
    return this.#serial(room, async () => {
      const before = room.routing.get(identity) ?? DEFAULT_ROUTING;
      const state = applyRouting(before, update);
      const changed = !sameRouting(before, state);
      room.routing.set(identity, state);
      try {
        await this.#sync(room);
      } catch (err) {
        // Not applied: the state stays as Twilio has it, so a retry writes the same again.
        room.routing.set(identity, before);
        throw err;
      }
      return { state, changed };
    });
  }

  /** Many identities' routing, then one rewrite of the rules (a group of 50 muted at once: 50 writes, not 2500). */
  async setRoutingMany(providerRoomId: string, updates: readonly { identity: string; update: RoutingUpdate }[]): Promise<{ state: RoutingState; changed: boolean }[] | null> {
    const room = this.#rooms.get(providerRoomId);
    if (!room) return null;
    return this.#serial(room, async () => {
      const before = new Map(room.routing);
      const results = updates.map(({ identity, update }) => {
        const prior = room.routing.get(identity) ?? DEFAULT_ROUTING;
        const state = applyRouting(prior, update);
        room.routing.set(identity, state);
        return { state, changed: !sameRouting(prior, state) };
      });
      try {
        await this.#sync(room);
      } catch (err) {
        // None of it applied: the states stay as Twilio has them.
        room.routing = before;
        throw err;
      }
      return results;
    });
  }

  async setSubscription(providerRoomId: string, subscriber: string, publisher: string, kind: 'audio' | 'video' | '*', allow: boolean | null): Promise<boolean> {
    const room = this.#rooms.get(providerRoomId);
    if (!room) return false;
    return this.#serial(room, async () => {
      const mine = room.overrides.get(subscriber) ?? new Map<string, { audio?: boolean; video?: boolean }>();
      const pair = { ...mine.get(publisher) };
      for (const k of kind === '*' ? (['audio', 'video'] as const) : [kind]) {
        if (allow === null) delete pair[k];
        else pair[k] = allow;
      }
      if (pair.audio === undefined && pair.video === undefined) mine.delete(publisher);
      else mine.set(publisher, pair);
      room.overrides.set(subscriber, mine);
      await this.#sync(room);
      return true;
    });
  }

  async revokeTokens(providerRoomId: string, identity: string, issuedBefore: Date): Promise<boolean> {
    const room = this.#rooms.get(providerRoomId);
    if (!room) return false;
    room.revoked.set(identity, Math.max(room.revoked.get(identity) ?? 0, issuedBefore.getTime()));
    // Nobody receives a revoked identity any more, should its old token get in for a moment.
    await this.#serial(room, () => this.#sync(room));
    return true;
  }

  startRecording(providerRoomId: string): Promise<boolean> {
    return this.#setRecording(providerRoomId, true);
  }

  stopRecording(providerRoomId: string): Promise<boolean> {
    return this.#setRecording(providerRoomId, false);
  }

  /** Recording on or off is the room's recording rules (rules.ts); false when the room is not live. */
  async #setRecording(providerRoomId: string, on: boolean): Promise<boolean> {
    const room = this.#rooms.get(providerRoomId);
    if (!room) return false;
    return this.#serial(room, async () => {
      room.recording = on;
      await this.#sync(room);
      return true;
    });
  }

  #view(room: LiveRoom): RoutingView {
    // Everyone who is connected or holds a token of ours; a revoked holder stays named, so everyone excludes it. A
    // revoked identity that never had a token cannot connect (a waiting patient denied while held: the rooms layer
    // gave them none), so it is left out and spends no rule, unless tokens from before a restart may be about.
    const mayHoldToken = (identity: string) => room.minted.has(identity) || room.connected.has(identity) || room.restored;
    const publishers = new Set<string>([...room.connected.keys(), ...room.minted.keys(), ...[...room.revoked.keys()].filter(mayHoldToken)]);
    const blocked = new Set([...room.revoked.keys()].filter((identity) => this.#isRevoked(room, identity)));
    return { routing: room.routing, overrides: room.overrides, grants: room.grants, publishers, blocked };
  }

  #isRevoked(room: LiveRoom, identity: string): boolean {
    const revoked = room.revoked.get(identity);
    return revoked !== undefined && (room.minted.get(identity) ?? 0) <= revoked;
  }

  /**
   * Writes the rules that differ from what Twilio holds: each connected participant's subscribe rules, then the
   * room's recording rules. Every rule set is computed before anything is written, so a routing Twilio could not
   * take (over its 20-rule limit) changes nothing.
   */
  async #sync(room: LiveRoom): Promise<void> {
    const view = this.#view(room);
    const subscribers = [...room.connected].map(([identity, { sid }]) => ({ sid, json: JSON.stringify(subscribeRules(view, identity)) }));
    const recording = JSON.stringify(recordingRules(view, room.recording));
    const due = subscribers.filter((s) => room.applied.get(s.sid) !== s.json);
    for (let i = 0; i < due.length; i += RULE_WRITES_AT_ONCE) {
      await Promise.all(
        due.slice(i, i + RULE_WRITES_AT_ONCE).map(async ({ sid, json }) => {
          try {
            await this.#options.api.call((client) => client.video.v1.rooms(room.sid).participants(sid).subscribeRules.update({ rules: json }));
            room.applied.set(sid, json);
          } catch (err) {
            // The participant left meanwhile (its disconnect callback is on its way): nothing to route.
            if (!(err instanceof TwilioRequestError && err.status === 404)) throw err;
          }
        }),
      );
    }
    if (room.appliedRecording !== recording && (room.recording || room.appliedRecording !== null)) {
      await this.#options.api.call((client) => client.video.v1.rooms(room.sid).recordingRules.update({ rules: recording }));
      room.appliedRecording = recording;
    }
  }

  /** What the subscribe rules of a participant are now, as written (tests, diagnostics). */
  appliedRules(providerRoomId: string, identity: string): TwilioRule[] | null {
    const room = this.#rooms.get(providerRoomId);
    const sid = room?.connected.get(identity)?.sid;
    const json = sid ? room?.applied.get(sid) : undefined;
    return json ? (JSON.parse(json) as TwilioRule[]) : null;
  }

  /**
   * One status callback, already verified. Twilio retries a callback it did not get a 2xx for and does not promise
   * order, so each delivery is applied once, and per participant, track, recording and composition only forward: an
   * event about something already over is stale and dropped; an end that arrives before its start brings the start.
   */
  async handleCallback(c: VideoCallback): Promise<void> {
    if (this.#closed) return;
    const key = [c.event, c.roomSid, c.participantSid, c.trackSid, c.recordingSid, c.compositionSid, c.sequenceNumber, c.timestamp.toISOString()].join('|');
    if (this.#seen.has(key)) return;
    this.#seen.add(key);
    if (this.#seen.size > SEEN_LIMIT) this.#seen.delete(this.#seen.values().next().value!);
    if (c.event.startsWith('composition-')) return this.#composition(c);
    const room = c.roomSid ? this.#rooms.get(c.roomSid) : undefined;
    if (!room) return;
    await this.#serial(room, () => this.#apply(room, c));
  }

  async #apply(room: LiveRoom, c: VideoCallback): Promise<void> {
    const at = c.timestamp;
    if (c.event !== 'room-ended') room.confirmedAt = Date.now();
    switch (c.event) {
      case 'participant-connected': {
        const sid = c.participantSid;
        const identity = c.participantIdentity;
        if (!sid || !identity || room.gone.has(sid) || room.announced.has(sid)) return;
        if (this.#isRevoked(room, identity)) {
          // A token minted before a denial or removal: out again before anyone routes anything to it.
          room.gone.add(sid);
          await this.#options.api.call((client) => client.video.v1.rooms(room.sid).participants(sid).update({ status: 'disconnected' })).catch((err: unknown) => {
            if (!(err instanceof TwilioRequestError)) throw err;
          });
          this.#options.log?.warn({ roomSid: room.sid }, 'a revoked token connected; disconnected');
          return;
        }
        // The same identity connecting again while its old connection lives (a page reload; Twilio drops the old
        // one with 53205): one stay goes on, and the old connection's disconnect will not end it.
        const takeover = room.connected.has(identity);
        room.connected.set(identity, { sid, since: at });
        room.announced.add(sid);
        // Its rules are written while the join is recorded (announcing it routes nothing): the host app hears of the
        // join one round trip to Twilio sooner.
        const rules = this.#sync(room);
        if (!takeover) this.#emit({ type: 'participant.joined', roomId: room.sid, identity, at });
        await rules;
        return;
      }
      case 'participant-disconnected': {
        const sid = c.participantSid;
        const identity = c.participantIdentity;
        if (!sid || !identity || room.gone.has(sid)) return;
        room.gone.add(sid);
        room.applied.delete(sid);
        const current = room.connected.get(identity);
        // An older connection of an identity that is connected again: its stay goes on.
        if (current && current.sid !== sid) return;
        room.connected.delete(identity);
        if (room.connected.size === 0) room.lastLeftAt = at.getTime();
        if (!room.announced.has(sid)) {
          // Its connect is late or lost: the stay still started ParticipantDuration before.
          const joined = c.participantDuration !== null ? new Date(at.getTime() - c.participantDuration * 1000) : at;
          room.announced.add(sid);
          this.#emit({ type: 'participant.joined', roomId: room.sid, identity, at: joined });
        }
        const reason = room.removedBecause.get(identity) ?? (room.endReason ? 'room_ended' : 'left');
        room.removedBecause.delete(identity);
        this.#emit({ type: 'participant.left', roomId: room.sid, identity, at, reason, ...(c.participantDuration !== null ? { media: { startedAt: null, seconds: c.participantDuration } } : {}) });
        return;
      }
      case 'track-added':
      case 'track-removed': {
        const trackSid = c.trackSid;
        const identity = c.participantIdentity;
        if (!trackSid || !identity || (c.trackKind !== 'audio' && c.trackKind !== 'video')) return;
        if (room.tracksGone.has(trackSid) || (c.participantSid && room.gone.has(c.participantSid) && c.event === 'track-added')) return;
        const source = sourceOf(c.trackKind, c.trackName ?? '');
        if (c.event === 'track-added') {
          room.tracks.set(trackSid, { identity, kind: c.trackKind, source });
          this.#emit({ type: 'track.published', roomId: room.sid, identity, kind: c.trackKind, source, at });
        } else {
          room.tracksGone.add(trackSid);
          this.#emit({ type: 'track.unpublished', roomId: room.sid, identity, kind: c.trackKind, source, at });
        }
        return;
      }
      case 'recording-started':
      case 'recording-completed':
      case 'recording-failed': {
        const sid = c.recordingSid;
        if (!sid) return;
        const track = c.sourceSid ? room.tracks.get(c.sourceSid) : undefined;
        const identity = c.participantIdentity ?? track?.identity ?? '';
        const audio = c.container === 'mka' || c.trackKind === 'audio' || track?.kind === 'audio';
        const content: RecordingFile['content'] = track?.source === 'screen' || c.trackName === 'screen' ? 'screen' : audio ? 'microphone' : 'camera';
        const file: RecordingFile = {
          ref: sid,
          content,
          file: null,
          mediaType: audio ? 'audio/x-matroska' : 'video/x-matroska',
          startedAt: c.event === 'recording-started' ? at : new Date(at.getTime() - (c.duration ?? 0) * 1000),
        };
        room.recorded = true;
        if (c.event === 'recording-started') {
          this.#emit({ type: 'recording.started', roomId: room.sid, identity, at, recording: file });
        } else {
          // The rooms layer keeps a completed file completed whatever arrives later, and takes a completion without its start.
          this.#emit({
            type: 'recording.completed',
            roomId: room.sid,
            identity,
            at,
            recording: { ...file, endedAt: at, bytes: c.size ?? 0, ...(c.event === 'recording-failed' ? { error: c.failure ?? 'recording_failed' } : {}) },
          });
        }
        return;
      }
      case 'room-ended': {
        if (!this.#rooms.has(room.sid)) return;
        this.#rooms.delete(room.sid);
        // Ours, or Twilio's own (its timeouts, account limits): which one it was is said as well as Twilio lets us.
        // Twilio does not say why; its timeouts are told apart by when they fell due (a few seconds' slack).
        const slack = 5_000;
        const reason =
          room.endReason ??
          (room.announced.size === 0 && at.getTime() >= room.createdAt + room.unusedTimeoutMs - slack
            ? 'unused_timeout'
            : room.connected.size === 0 && room.lastLeftAt > 0 && at.getTime() >= room.lastLeftAt + room.emptyTimeoutMs - slack
              ? 'empty_timeout'
              : 'ended_by_provider');
        this.#emit({ type: 'room.ended', roomId: room.sid, at, reason });
        if (room.recorded && this.#options.compositions) void this.#compose(room.sid).catch((err: unknown) => this.#options.log?.warn({ err, roomSid: room.sid }, 'composition not requested'));
        return;
      }
      default:
        return;
    }
  }

  /** One composition of a recorded room (grid, all audio, mp4), made once however often this is called. */
  async #compose(roomSid: string): Promise<void> {
    await this.#options.api.call(async (client) => {
      const existing = await client.video.v1.compositions.list({ roomSid, limit: 1 });
      if (existing.length > 0) return existing[0];
      return client.video.v1.compositions.create({
        roomSid,
        audioSources: ['*'],
        videoLayout: { grid: { video_sources: ['*'] } },
        format: 'mp4',
        statusCallback: this.callbackUrl,
        statusCallbackMethod: 'POST',
      });
    });
  }

  /**
   * Composition callbacks: the whole room's file, identity ''. Once available, its span is its media's (`Duration`
   * seconds ending now), not the time Twilio took to make it: the recording's length and the usage estimate (Twilio
   * bills per composed minute) read it from startedAt/endedAt.
   */
  #composition(c: VideoCallback): void {
    if (!c.compositionSid || !c.roomSid) return;
    const file: RecordingFile = { ref: c.compositionSid, content: 'composition', file: null, mediaType: c.format === 'webm' ? 'video/webm' : 'video/mp4', startedAt: c.timestamp };
    if (c.event === 'composition-enqueued') this.#emit({ type: 'recording.started', roomId: c.roomSid, identity: '', at: c.timestamp, recording: file });
    else if (c.event === 'composition-available' || c.event === 'composition-failed') {
      const startedAt = c.event === 'composition-available' && c.duration !== null ? new Date(c.timestamp.getTime() - c.duration * 1000) : c.timestamp;
      this.#emit({
        type: 'recording.completed',
        roomId: c.roomSid,
        identity: '',
        at: c.timestamp,
        recording: { ...file, startedAt, endedAt: c.timestamp, bytes: c.size ?? 0, ...(c.event === 'composition-failed' ? { error: c.failure ?? 'composition_failed' } : {}) },
      });
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#rooms.values()].map((room) => room.queue));
    this.#rooms.clear();
  }
}

