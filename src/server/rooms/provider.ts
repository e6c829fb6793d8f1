import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * The media provider seam. The rooms layer (service.ts) is the only caller; features (visits, breakouts,
 * check-ins) go through the rooms layer and never see a provider. Adapters live beside this file
 * (builtin/, later twilio/) and are chosen by MEDIA_PROVIDER.
 */

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

/** One recorded file: a participant's camera and microphone, or their screen, for one stretch of time. */
export interface RecordingFile {
  /** The provider's id for it (builtin: the file path relative to RECORDINGS_DIR). Unique. */
  ref: string;
  content: 'camera' | 'screen';
  /** Relative to RECORDINGS_DIR when the file is local; null when the provider keeps it. */
  file: string | null;
  startedAt: Date;
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

/** What an in-process provider may need from the HTTP server (the builtin provider's `/rtc` socket). */
export interface ProviderHost {
  registerUpgrade(path: string, handler: (request: IncomingMessage, socket: Duplex, head: Buffer) => void): void;
}

export interface MediaProvider {
  readonly name: 'builtin' | 'twilio';
  createRoom(spec: ProviderRoomSpec): Promise<ProviderRoom>;
  /**
   * After a restart: the rooms layer still has this room in progress. The provider takes it up again (builtin:
   * re-opens it, empty; a hosted provider checks it still exists). Resolves false when it cannot.
   */
  restoreRoom(spec: ProviderRoomSpec & { providerRoomId: string }): Promise<boolean>;
  /** Ends the room for everyone; idempotent. */
  endRoom(providerRoomId: string, reason: string): Promise<void>;
  listParticipants(providerRoomId: string): Promise<ProviderParticipant[]>;
  /** Disconnects one participant; resolves false when they were not connected. */
  removeParticipant(providerRoomId: string, identity: string, reason: string): Promise<boolean>;
  mintToken(input: MintTokenInput): Promise<MintedToken>;
  /**
   * Server-authoritative routing; may be set before the participant connects. Resolves the resulting state and
   * whether it changed, null when the room is not live.
   */
  setRouting(providerRoomId: string, identity: string, update: RoutingUpdate): Promise<{ state: RoutingState; changed: boolean } | null>;
  /** A per-pair override: whether `subscriber` receives `publisher`'s media of `kind` ('*': all); null removes it. */
  setSubscription(providerRoomId: string, subscriber: string, publisher: string, kind: 'audio' | 'video' | '*', allow: boolean | null): Promise<boolean>;
  /** Records everyone in the room (and whoever joins) whose routing says `recorded`, until stopped; false when the room is not live. */
  startRecording(providerRoomId: string): Promise<boolean>;
  /** Stops recording; the files are final when it resolves (recording.completed events). */
  stopRecording(providerRoomId: string): Promise<boolean>;
  /**
   * The identity's tokens issued at or before `issuedBefore` no longer let it into the room (a denied or removed
   * participant still holding one). Resolves false when the room is not live. Does not disconnect anyone.
   */
  revokeTokens(providerRoomId: string, identity: string, issuedBefore: Date): Promise<boolean>;
  /** A data message from the server to participants (all when `to` is absent), e.g. a chat message; resolves how many received it. */
  sendData(providerRoomId: string, payload: string, to?: readonly string[]): Promise<number>;
  /** A server notice shown to participants (all when `to` is absent); resolves how many received it. */
  notify(providerRoomId: string, notice: { code: string; message: string }, to?: readonly string[]): Promise<number>;
  /** Normalised events; the rooms layer persists them and fans them out. Returns an unsubscribe function. */
  onEvent(listener: (event: RoomEvent) => void): () => void;
  /** In-process providers register their endpoints here (called once by the app). */
  attach?(host: ProviderHost): void;
  /** The server is stopping: tell connected clients to come back later (called before the HTTP server closes). */
  shutdown?(): Promise<void>;
  close(): Promise<void>;
}
