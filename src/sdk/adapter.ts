/**
 * The seam between the provider-neutral Room (room.ts) and one media provider's adapter (builtin/, later twilio/).
 * The Room owns what the application sees (participants, local tracks and their capture, events); an adapter owns
 * the connection to its provider and reports what happens there through the RoomSink. Nothing here is exported to
 * applications: they meet only the Room.
 */
import type { ConnectionState } from './state.js';
import type { RtcTrackView } from '../shared/rtc.js';
import type { ConnectOptions, DisconnectReason, Grants, MediaPolicy, MediaState, PublishedTrack, RemoteParticipant, StreamState, TokenMedia, TokenResponse, TrackKind, TrackSource } from './types.js';

/**
 * One remote video as the application shows it (adaptive stream, from the elements its track is attached to):
 * visible or not, its size in device pixels, pinned by the application. The same shape as the builtin provider's
 * `subscription` message (src/shared/rtc.ts).
 */
export type VideoView = RtcTrackView & { pinned: boolean };

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
  /** The room's media policy as last told (token answer, then the channel); null in rooms without one (1:1). */
  readonly mediaPolicy: MediaPolicy | null;
  /** What to publish in a room with a media policy (the token answer's `media`): layers, audio bitrate. */
  readonly publishing: TokenMedia | null;
  /**
   * Adaptive stream: what the application shows of each remote video, the whole list (a video not in it is shown
   * nowhere); null while the Room does not report views (rooms without a media policy, or `adaptiveStream: false`).
   */
  readonly videoViews: readonly VideoView[] | null;
  /** The identities of the remote participants who spoke, most recent first. */
  readonly activeSpeakers: readonly string[];
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
  /** What reaches us of a remote video (its track may not be there yet: the state is kept for it). */
  streamState(identity: string, source: TrackSource, state: StreamState): void;
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
  /** `sink.videoViews` changed (debounced by the Room): apply it (builtin: `subscription`; Twilio: switch on/off, sizes). */
  videoViewsChanged(): void;
  /** `sink.mediaPolicy` changed (the channel's `media`): apply what can change in a live connection. */
  mediaPolicyChanged(): void;
  disconnect(): Promise<void>;
}

export type AdapterFactory = (token: TokenResponse, options: ConnectOptions, sink: RoomSink) => MediaAdapter;

/** The media token in what `ConnectOptions.getToken` gave: a bare token, or a full token answer. */
export function tokenOf(answer: string | TokenResponse): string {
  return typeof answer === 'string' ? answer : answer.token;
}
