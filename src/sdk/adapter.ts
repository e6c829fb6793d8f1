/**
 * The seam between the provider-neutral Room (room.ts) and one media provider's adapter (builtin/, later twilio/).
 * The Room owns what the application sees (participants, local tracks and their capture, events); an adapter owns
 * the connection to its provider and reports what happens there through the RoomSink. Nothing here is exported to
 * applications: they meet only the Room.
 */
import type { ConnectionState } from './state.js';
import type { ConnectOptions, DisconnectReason, Grants, MediaState, PublishedTrack, RemoteParticipant, TokenResponse, TrackKind, TrackSource } from './types.js';

/** A remote participant as an adapter reports it. */
export interface ParticipantInfo {
  identity: string;
  joinedAt: Date;
  published: readonly PublishedTrack[];
  networkQuality: number | null;
}

/** Who we are in the room, and who else is there, after a join (first join, resume or rejoin). */
export interface JoinedInfo {
  identity: string;
  roomName: string;
  roomSid: string;
  grants: Grants;
  participants: readonly ParticipantInfo[];
}

/** A remote track reaching us. */
export interface SubscribedTrack {
  sid: string;
  kind: TrackKind;
  source: TrackSource;
  mediaStreamTrack: MediaStreamTrack;
}

/** How an adapter tells the Room what happened. Calls for an unknown identity are ignored. */
export interface RoomSink {
  /** Remote participants as the Room holds them (an adapter compares what reaches us with them). */
  readonly participants: ReadonlyMap<string, RemoteParticipant>;
  /** The local tracks to publish (again, on a new media connection). */
  readonly localTracks: ReadonlyMap<TrackSource, MediaStreamTrack>;
  stateChanged(state: ConnectionState): void;
  /** Replaces the participant list with the one the join gave: newcomers connect, the missing leave. */
  joined(info: JoinedInfo): void;
  participantJoined(info: ParticipantInfo): void;
  participantUpdated(info: ParticipantInfo): void;
  participantLeft(identity: string, reason: string): void;
  trackSubscribed(identity: string, track: SubscribedTrack): void;
  trackUnsubscribed(identity: string, source: TrackSource): void;
  /** The local participant's when `identity` is ours. */
  networkQuality(identity: string, level: number): void;
  dominantSpeaker(identity: string | null): void;
  /** `from` null: the server sent it. */
  data(payload: string, from: string | null): void;
  notice(notice: { code: string; message: string }): void;
  reconnecting(cause: 'signal' | 'media'): void;
  reconnected(): void;
  /** The session is over for good: the Room stops local tracks, lets everyone leave and says why. */
  disconnected(reason: DisconnectReason, message: string): void;
}

/** One provider's connection, driven by the Room. */
export interface MediaAdapter {
  readonly state: ConnectionState;
  /** How many times the connection recovered. */
  readonly reconnects: number;
  readonly mediaState: MediaState | null;
  /**
   * Joins and publishes `sink.localTracks`. `prepare` (capturing the local tracks) runs once connecting has begun,
   * so that a leave during capture is heard. Rejects with ConnectError (or what `prepare` threw).
   */
  connect(prepare: () => Promise<void>): Promise<void>;
  /** Sends `track` for `source`, replacing the one sent before; null keeps the publication but sends nothing (a camera turned off). */
  publish(source: TrackSource, track: MediaStreamTrack | null): Promise<void>;
  /** Ends the publication of `source` (a screen share stopped). */
  unpublish(source: TrackSource): Promise<void>;
  /** Tells the others the publisher turned `source` off or on. */
  setMuted(source: TrackSource, muted: boolean): void;
  sendData(payload: string, to?: string[]): void;
  /** WebRTC statistics of the media connection (diagnostics), null when there is none. */
  getStats(): Promise<RTCStatsReport | null>;
  disconnect(): Promise<void>;
}

export type AdapterFactory = (token: TokenResponse, options: ConnectOptions, sink: RoomSink) => MediaAdapter;

/** The media token in what `ConnectOptions.getToken` gave: a bare token, or a full token answer. */
export function tokenOf(answer: string | TokenResponse): string {
  return typeof answer === 'string' ? answer : answer.token;
}
