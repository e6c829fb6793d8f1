import type { IncomingMessage } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import type { FastifyPluginAsync } from 'fastify';
import type { MediaPolicyRow } from '../db/schema.js';

/**
 * The media provider seam. The rooms layer (service.ts) is the only caller; features (visits, breakouts,
 * check-ins) go through the rooms layer and never see a provider. Adapters live beside this file
 * (builtin/, later twilio/) and are chosen by MEDIA_PROVIDER.
 *
 * Rooms, participants, tokens and events are what every provider offers. The rest is optional, declared in
 * `capabilities` (the methods that go with one are then present): the rooms layer checks before calling and
 * answers `capability_unavailable` naming the capability and the provider when it is missing.
 */

/**
 * What a provider may lack, and what goes with each (CAPABILITY_MEMBERS):
 * - `routing`: server-side routing groups, host mutes and the per-participant `recorded` flag (setRouting). The
 *   waiting room and breakouts rest on it. Builtin: the SFU's routing; Twilio Group rooms: each participant's
 *   Track Subscription rules; a peer-to-peer room (Twilio Go / P2P) cannot.
 * - `subscriptions`: per-pair overrides of the group rule (setSubscription). Twilio: a subscribe rule naming the publisher.
 * - `recording`: server-side recording of the participants whose routing says `recorded` (start/stop) and a
 *   RecordingStore for the files. Builtin: local WebM files; Twilio: Recording Rules and its media URLs.
 * - `tokenRevocation`: tokens issued before a moment no longer let an identity in (a denied or removed participant
 *   still holding one). Builtin: checked at join; Twilio cannot revoke a token, so its adapter supplies this by
 *   disconnecting such a participant as soon as its status callback reports the connection.
 */
export const MEDIA_CAPABILITIES = ['routing', 'subscriptions', 'recording', 'tokenRevocation'] as const;
export type MediaCapability = (typeof MEDIA_CAPABILITIES)[number];

/** What people are told a missing capability is (in `capability_unavailable` messages). */
export const CAPABILITY_LABELS: Readonly<Record<MediaCapability, string>> = {
  routing: 'server-side routing (groups, host mutes)',
  subscriptions: 'per-participant subscriptions',
  recording: 'recording',
  tokenRevocation: 'token revocation',
};

export interface Grants {
  /** May send audio, camera and screen share. */
  publish: boolean;
  /** May receive others' media (still subject to server-side routing). */
  subscribe: boolean;
  /** May send and receive data messages (chat). */
  data: boolean;
  /** Host rights inside the media session (e.g. see everyone's network quality). */
  admin: boolean;
}

export const DEFAULT_GRANTS: Readonly<Grants> = Object.freeze({ publish: true, subscribe: true, data: true, admin: false });

export interface ProviderRoomSpec {
  /** Our room id (uuid); the provider may keep its own id too. */
  roomId: string;
  orgId: string;
  name: string;
  maxParticipants: number;
  /** The room's media policy, if it has one (restoreRoom: as stored). */
  media?: MediaPolicy | null;
  /**
   * The room's limits (seconds). The rooms layer enforces them itself (lifecycle.ts sweeps them from the database),
   * whatever the provider; a hosted provider may pass them on as a backstop within its own bounds (Twilio: 600 s at least).
   */
  maxParticipantDurationS: number;
  emptyTimeoutS: number;
  unusedTimeoutS: number;
}

export interface ProviderRoom {
  /** The provider's id for the room (Twilio: RM…; builtin: our room id). */
  providerRoomId: string;
  providerData?: Record<string, unknown>;
}

export interface MintTokenInput {
  roomId: string;
  roomName: string;
  providerRoomId: string;
  orgId: string;
  identity: string;
  grants: Grants;
  ttlSeconds: number;
}

export interface MintedToken {
  token: string;
  expiresAt: Date;
  /** Where the client connects (builtin: the signaling WebSocket URL). */
  url: string;
}

export interface ProviderParticipant {
  identity: string;
  connectedAt: Date;
}

/** Normalised room events, whatever the provider. */
export type RoomEvent =
  | { type: 'room.started'; roomId: string; at: Date }
  | { type: 'room.ended'; roomId: string; at: Date; reason: string }
  | { type: 'participant.joined'; roomId: string; identity: string; at: Date }
  | { type: 'participant.left'; roomId: string; identity: string; at: Date; reason: string; quality?: QualitySummary; media?: MediaSummary }
  | { type: 'track.published'; roomId: string; identity: string; kind: 'audio' | 'video'; source: 'microphone' | 'camera' | 'screen'; at: Date }
  | { type: 'track.unpublished'; roomId: string; identity: string; kind: 'audio' | 'video'; source: 'microphone' | 'camera' | 'screen'; at: Date }
  | { type: 'recording.started'; roomId: string; identity: string; at: Date; recording: RecordingFile }
  | { type: 'recording.completed'; roomId: string; identity: string; at: Date; recording: RecordingFile & { endedAt: Date; bytes: number; error?: string } };

/**
 * Network quality over a participant's stay, on the provider's 0–5 scale (5 best), measured only while its media
 * connection was up (never while joining): the time-weighted mean, and the worst level (0: the connection dropped).
 */
export interface QualitySummary {
  average: number;
  min: number;
}

/** The participant's media over a stay: when its connection first came up (null: never), and how long it was up in all. */
export interface MediaSummary {
  startedAt: Date | null;
  seconds: number;
}

/** One recorded file: a participant's track(s), or the whole room's composition, for one stretch of time. */
export interface RecordingFile {
  /** The provider's id for it (builtin: the file path relative to RECORDINGS_DIR). Unique. */
  ref: string;
  /**
   * camera: the camera (builtin: with the microphone); microphone: the microphone alone (providers that record each
   * track apart, as Twilio does); screen: a screen share; composition: the whole room in one file (identity '').
   * The completed event's `startedAt` and `endedAt` are the file's span, stored as such (for a 'composition': its
   * media, endedAt − startedAt = its duration, what Twilio bills per composed minute, not the time Twilio took to
   * make it): durations and the usage estimate read every recording that way.
   */
  content: 'camera' | 'microphone' | 'screen' | 'composition';
  /** Relative to RECORDINGS_DIR when the file is local; null when the provider keeps it. */
  file: string | null;
  /** The file's media type (builtin: video/webm; Twilio: video/x-matroska, audio/x-matroska, video/mp4…). */
  mediaType: string;
  startedAt: Date;
}

/** A recording as the rooms layer stored it from the provider's events: what the provider's store finds it by. */
export interface StoredRecording {
  /** RecordingFile.ref. */
  ref: string;
  /** RecordingFile.file. */
  file: string | null;
}

/** A recording's media, open for reading. */
export interface RecordingMedia {
  stream: Readable;
  bytes: number;
  contentType: string;
}

/**
 * Where a provider keeps its recordings (builtin: local files under RECORDINGS_DIR; a hosted provider: its media
 * URLs). The rooms layer, the retention sweep and the download routes reach recordings only through this.
 */
export interface RecordingStore {
  /** Opens the recording's media; null when it is not there (deleted, never written, or not this store's). */
  open(recording: StoredRecording): Promise<RecordingMedia | null>;
  /** Deletes the recording's media; resolves once it is gone. Deleting what is already gone is not an error. */
  delete(recording: StoredRecording): Promise<void>;
}

/** Where a participant's media goes, set by the rooms layer (waiting room, host mute, breakouts). */
export interface RoutingUpdate {
  /** Participants receive the media of their own group only (default group: "main"). */
  group?: string;
  /** Host mute: nobody receives this participant's audio / video while true. */
  audioMuted?: boolean;
  videoMuted?: boolean;
  /** Whether the participant's media is recorded while the room is being recorded (default true). */
  recorded?: boolean;
}

export interface RoutingState {
  group: string;
  audioMuted: boolean;
  videoMuted: boolean;
  recorded: boolean;
}

/**
 * How a room shares its media out (group visits; null on a room: a 1:1 room's defaults). The rooms layer stores it
 * (rooms.media_policy), hands it to the provider and sends it to the room's clients on the channel (`media`) and in
 * the token answer. A provider that selects media on the server (builtin: the SFU's simulcast layers and last-N)
 * applies it in setMediaPolicy; one whose clients select (Twilio: the SDK's bandwidth profile) needs no method.
 */
export type MediaPolicy = MediaPolicyRow;

/** What a provider may need from the HTTP server: the builtin provider's `/rtc` socket, a hosted provider's status callbacks. */
export interface ProviderHost {
  /** A WebSocket endpoint at an exact path (UpgradeRouter). */
  registerUpgrade(path: string, handler: (request: IncomingMessage, socket: Duplex, head: Buffer) => void): void;
  /**
   * HTTP routes, registered as an encapsulated Fastify plugin outside `/api/v1` (so the API's authentication
   * does not apply: a status callback checks its own signature), e.g. `POST /webhooks/twilio/video`. The plugin
   * may add its own content-type parsers (Twilio posts forms).
   */
  registerRoutes(plugin: FastifyPluginAsync): void;
}

export interface MediaProvider {
  /** Stored on each room row (a restart takes up only rooms of the provider it runs); e.g. builtin, twilio. */
  readonly name: string;
  /** The optional parts this provider offers; their methods are present exactly when declared. */
  readonly capabilities: readonly MediaCapability[];
  /**
   * Whether routing set for an identity before it connects holds from its first moment in the room (builtin: yes, the
   * SFU routes by the stored state from the first packet). False for a provider that applies its routing only once the
   * participant is connected (Twilio: a newcomer subscribes to everything until its subscribe rules land): there a
   * participant to be kept apart from everyone (a waiting room) must not hold a media token at all until released.
   */
  readonly routingAtConnect: boolean;
  /**
   * The most connections one of its rooms holds whatever a room asks for (Twilio's Group rooms: 50); absent: only the
   * room's own `maxParticipants`. Features that let people in (a group's admission) check it before they connect.
   */
  readonly roomCapacity?: number;
  createRoom(spec: ProviderRoomSpec): Promise<ProviderRoom>;
  /**
   * After a restart: the rooms layer still has this room in progress. The provider takes it up again (builtin:
   * re-opens it, empty; a hosted provider checks it still exists). Resolves false when it cannot.
   */
  restoreRoom(spec: ProviderRoomSpec & { providerRoomId: string }): Promise<boolean>;
  /**
   * Ends the room for everyone; idempotent. Resolves with the moment the media ended when the provider knows it
   * better than "when this call returned" (builtin: its connections are cut at once, their teardown comes after);
   * the rooms layer stores it as the room's ended_at at a deadline.
   */
  endRoom(providerRoomId: string, reason: string): Promise<Date | void>;
  listParticipants(providerRoomId: string): Promise<ProviderParticipant[]>;
  /** Disconnects one participant; resolves false when they were not connected. */
  removeParticipant(providerRoomId: string, identity: string, reason: string): Promise<boolean>;
  mintToken(input: MintTokenInput): Promise<MintedToken>;
  /**
   * `routing`: server-authoritative routing; may be set before the participant connects. Resolves the resulting
   * state and whether it changed, null when the room is not live.
   */
  setRouting?(providerRoomId: string, identity: string, update: RoutingUpdate): Promise<{ state: RoutingState; changed: boolean } | null>;
  /**
   * `routing`, optional: several identities' routing at once (a host muting a whole group), as `setRouting` each, in
   * order, applied together (Twilio: one rewrite of everyone's rules instead of one per identity). Resolves each
   * result, null when the room is not live. Without it the rooms layer calls setRouting per identity.
   */
  setRoutingMany?(providerRoomId: string, updates: readonly { identity: string; update: RoutingUpdate }[]): Promise<{ state: RoutingState; changed: boolean }[] | null>;
  /** `subscriptions`: whether `subscriber` receives `publisher`'s media of `kind` ('*': all); null removes the override. */
  setSubscription?(providerRoomId: string, subscriber: string, publisher: string, kind: 'audio' | 'video' | '*', allow: boolean | null): Promise<boolean>;
  /** `recording`: records everyone in the room (and whoever joins) whose routing says `recorded`, until stopped; false when the room is not live. */
  startRecording?(providerRoomId: string): Promise<boolean>;
  /** `recording`: stops recording; the files are final when it resolves (recording.completed events). */
  stopRecording?(providerRoomId: string): Promise<boolean>;
  /** `recording`: where the recorded files are. */
  readonly recordings?: RecordingStore;
  /**
   * `tokenRevocation`: the identity's tokens issued at or before `issuedBefore` no longer let it into the room (a
   * denied or removed participant still holding one). Resolves false when the room is not live. Does not
   * disconnect anyone.
   */
  revokeTokens?(providerRoomId: string, identity: string, issuedBefore: Date): Promise<boolean>;
  /** A room's media policy changed (or was set at creation): a provider that selects media on the server applies it. */
  setMediaPolicy?(providerRoomId: string, policy: MediaPolicy | null): Promise<void>;
  /** Normalised events; the rooms layer persists them and fans them out. Returns an unsubscribe function. */
  onEvent(listener: (event: RoomEvent) => void): () => void;
  /** In-process providers register their endpoints here (called once by the app). */
  attach?(host: ProviderHost): void;
  /** The server is stopping: tell connected clients to come back later (called before the HTTP server closes). */
  shutdown?(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The provider could not be reached, timed out after its retries, or refused this server's credentials: nothing the
 * caller did wrong, and nothing a retry right now is sure to fix. The API answers 503 `media_unavailable`.
 */
export class MediaUnavailableError extends Error {
  constructor(
    /** A stable word for what happened: unreachable, timeout, credentials_refused, overloaded. */
    readonly reason: 'unreachable' | 'timeout' | 'credentials_refused' | 'overloaded',
    message: string,
  ) {
    super(message);
    this.name = 'MediaUnavailableError';
  }
}

/**
 * The provider offers the capability, but not this far (Twilio: 20 subscribe rules per participant): the request is
 * refused whole, nothing applied. The API answers 501 `capability_unavailable` with the provider's words.
 */
export class ProviderLimitError extends Error {
  constructor(
    readonly capability: MediaCapability,
    readonly provider: string,
    message: string,
  ) {
    super(message);
    this.name = 'ProviderLimitError';
  }
}

/** The provider no longer has the room (it ended it itself: its timeouts, limits), before its event said so. */
export class ProviderRoomEndedError extends Error {
  constructor(message = 'The media provider has ended this room.') {
    super(message);
    this.name = 'ProviderRoomEndedError';
  }
}

/** The members that go with each capability. */
export const CAPABILITY_MEMBERS = {
  routing: ['setRouting'],
  subscriptions: ['setSubscription'],
  recording: ['startRecording', 'stopRecording', 'recordings'],
  tokenRevocation: ['revokeTokens'],
} as const satisfies Record<MediaCapability, readonly (keyof MediaProvider)[]>;

/** A provider known to offer `C`: its members for it are present. */
export type ProviderWith<C extends MediaCapability> = MediaProvider & Required<Pick<MediaProvider, (typeof CAPABILITY_MEMBERS)[C][number]>>;

/** Whether the provider declares `capability` and has its members (a declaration without them counts as missing). */
export function hasCapability<C extends MediaCapability>(provider: MediaProvider, capability: C): provider is ProviderWith<C> {
  return provider.capabilities.includes(capability) && CAPABILITY_MEMBERS[capability].every((member: keyof MediaProvider) => provider[member] !== undefined);
}
