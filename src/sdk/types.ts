/**
 * The SDK's public vocabulary, the same whatever media provider serves the room: what a token answer must carry,
 * the options of connect(), participants and tracks as the application sees them, and the room's events. Nothing
 * here names a peer connection or a wire protocol; adapters (builtin/, later twilio/) translate theirs into these.
 */
import type { ChannelMediaPolicy } from '../shared/channel.js';
import type { RtcEndReason, TrackKind, TrackSource, VideoLayer } from '../shared/rtc.js';
import type { ConnectionState } from './state.js';
import type { TwilioOptions } from './twilio/options.js';

export type { ConnectionState, TrackKind, TrackSource, TwilioOptions, VideoLayer };

/** How a group room shares video out (seed 002's bandwidth modes): equal quality, screen share first, or a grid of many. */
export type MediaMode = ChannelMediaPolicy['mode'];

/**
 * How the room shares media out, as the server says (group visits; null in 1:1 rooms): whether cameras are published
 * in three layers, the mode, the identity everyone shows first (`spotlight`), and at most how many remote videos
 * one participant receives at once (`lastN`). `room.mediaPolicy`, event `mediaPolicyChanged`.
 */
export interface MediaPolicy {
  simulcast: boolean;
  mode: MediaMode;
  spotlight: string | null;
  lastN: number;
}

/** The media part of a token answer (rooms with a media policy): the policy, and what to publish. */
export interface TokenMedia extends MediaPolicy {
  /** The microphone's Opus bitrate cap (bits/s). */
  audioBitrateBps: number;
  /** The camera to ask for (ideal values; an application's own `video` constraints win). */
  video: { width: number; height: number; frameRate: number };
}

/**
 * What reaches us of one remote video: `active` (on the builtin provider with the simulcast `layer` the server sends,
 * null when it does not say), or `paused`, with why: `hidden` (not shown, or too small to matter), `last_n` (beyond
 * the room's last-N), `bandwidth` (over what our connection carries). A paused tile should show a name card, not a
 * frozen picture. Audio is always `active`.
 */
export interface StreamState {
  state: 'active' | 'paused';
  layer: VideoLayer | null;
  reason: 'hidden' | 'last_n' | 'bandwidth' | null;
}

/** Why the room was left for good. */
export type DisconnectReason = RtcEndReason | 'join_failed';

/**
 * What the SDK needs from the server's token answer (`POST /api/v1/tokens`, a visit's token): the answer can be
 * passed as it is. `provider` picks the adapter, `url` and `token` are that provider's to read.
 */
export interface TokenResponse {
  provider: string;
  url: string;
  token: string;
  /** The participant channel (the server's own notices and messages, whatever the provider); the server's answers carry it. */
  channel?: { url: string; token: string };
  /**
   * The server holds this participant out of the media for now (a waiting room on a provider that cannot keep a
   * newcomer apart from its first moment in the room): `token` and `url` are empty, only `channel` is to connect.
   * The Room asks `getToken()` again when the server says so on the channel (see Room.held).
   */
  held?: boolean;
  /** The room's media policy and publishing settings (group visits); absent in 1:1 rooms, which publish as before. */
  media?: TokenMedia;
}

export interface ConnectOptions {
  /** Capture the microphone (true, constraints) or not. Default true. Ignored for sources given in `tracks`. */
  audio?: boolean | MediaTrackConstraints;
  /** Capture the camera. Default true. */
  video?: boolean | MediaTrackConstraints;
  /** Tracks already captured (e.g. by a device check): published instead of capturing again. */
  tracks?: MediaStreamTrack[];
  /**
   * A fresh token answer for the same identity: when the old token expired during a reconnect, and, for a held
   * participant, when the server says it may join (then only a full answer, not a bare token, can lift the hold).
   * Required to connect with a held answer.
   */
  getToken?: () => Promise<string | TokenResponse>;
  /** How long reconnection keeps trying before giving up. Default: the server's grace period + 15 s. */
  reconnectTimeoutMs?: number;
  /** Extra ICE servers, added to the server's. */
  iceServers?: RTCIceServer[];
  /**
   * The origin this page reaches the OpenVisit server on (e.g. `location.origin`). A provider whose media plane is
   * that server itself (the builtin one) connects there rather than to the token's URL, which names the server's
   * PUBLIC_URL: another name for the same server, not always reachable from the page. Hosted providers ignore it.
   */
  apiOrigin?: string;
  /** Settings of the Twilio Video adapter (bandwidth profile, codecs), over its defaults; other providers ignore them. */
  twilio?: TwilioOptions;
  /**
   * Adaptive stream, in rooms with a media policy (group visits): each remote video receives what the elements it is
   * attached to show (visible or not, their size in device pixels), so a hidden tile gets no video and a small one a
   * small layer. Default true. False: every video the room lets through arrives at its highest quality (and
   * `setPinned` has no effect).
   */
  adaptiveStream?: boolean;
}

/** What a participant may do, as its token grants. */
export interface Grants {
  publish: boolean;
  subscribe: boolean;
  data: boolean;
  admin: boolean;
}

/** A track a participant publishes, as the server describes it (whether or not it reaches us). */
export interface PublishedTrack {
  kind: TrackKind;
  source: TrackSource;
  /** The publisher turned it off. */
  muted: boolean;
  /** A host stopped it reaching anyone. */
  hostMuted: boolean;
}

export interface RemoteTrack {
  readonly sid: string;
  readonly kind: TrackKind;
  readonly source: TrackSource;
  readonly mediaStreamTrack: MediaStreamTrack;
  /** The publisher turned it off. */
  readonly muted: boolean;
  /** A host stopped it reaching anyone. */
  readonly hostMuted: boolean;
  /** What reaches us of it now (a video paused when hidden or beyond last-N; event `trackStreamStateChanged`). */
  readonly streamState: StreamState;
  /**
   * Creates (or fills) a media element playing this track. In a room with a media policy a video's element is
   * watched from then on (adaptive stream): what it shows, and how large, is what the server sends.
   */
  attach(element?: HTMLMediaElement): HTMLMediaElement;
  /** Stops playing the track in `element` (every element it was attached to, without one) and stops watching it. */
  detach(element?: HTMLMediaElement): void;
}

export interface RemoteParticipant {
  readonly identity: string;
  readonly joinedAt: Date;
  /** Published tracks as the server describes them (whether or not routed to us). */
  readonly published: readonly PublishedTrack[];
  /** Tracks routed to us, by source. */
  readonly tracks: ReadonlyMap<TrackSource, RemoteTrack>;
  readonly networkQuality: number | null;
}

/** The media connection's state (WebRTC's peer connection states; null before the first join and after leaving). */
export type MediaState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

export interface RoomEvents {
  stateChanged: (state: ConnectionState) => void;
  participantConnected: (participant: RemoteParticipant) => void;
  participantDisconnected: (participant: RemoteParticipant, reason: string) => void;
  participantUpdated: (participant: RemoteParticipant) => void;
  trackSubscribed: (track: RemoteTrack, participant: RemoteParticipant) => void;
  trackUnsubscribed: (track: RemoteTrack, participant: RemoteParticipant) => void;
  /** 0 (none) to 5 (excellent): the local participant's (participant null) or a remote one's. */
  networkQuality: (level: number, participant: RemoteParticipant | null) => void;
  /** The loudest participant of our group (null: the local participant or nobody). Also `room.activeSpeakers`. */
  dominantSpeaker: (participant: RemoteParticipant | null) => void;
  /** The room's media policy changed (spotlight, mode, last-N), or was first told. Also `room.mediaPolicy`. */
  mediaPolicyChanged: (policy: MediaPolicy) => void;
  /** What reaches us of a remote video changed (paused when hidden, beyond last-N or over bandwidth; its layer). */
  trackStreamStateChanged: (track: RemoteTrack, participant: RemoteParticipant, state: StreamState) => void;
  /** A host muted us (mute all): the SDK has turned the microphone off already. The `notice` with its words comes too. */
  mutedByHost: () => void;
  /** A host asks us to turn the microphone on: ask the person (the SDK never unmutes by itself). */
  unmuteRequested: () => void;
  /** A host lowered our raised hand. */
  handLowered: () => void;
  reconnecting: (cause: 'signal' | 'media') => void;
  reconnected: () => void;
  disconnected: (reason: DisconnectReason, message: string) => void;
  /** `participant` is null for a message from the server (a visit's chat message, stored before it is sent). */
  dataReceived: (payload: string, participant: RemoteParticipant | null) => void;
  notice: (notice: { code: string; message: string }) => void;
  /** A local publication changed (camera on/off, screen share started/stopped). */
  localTrackChanged: (source: TrackSource, track: MediaStreamTrack | null) => void;
  /** The server held us out of the media (true, from the join) or let us in (false, once joined). */
  heldChanged: (held: boolean) => void;
  /**
   * The room's deadline: it ends at `deadline` by the server's clock (a check-in call's time limit; `reason` e.g.
   * `time_limit`), or has none any more (null). Also `room.deadline`. Told when set or moved, and again whenever the
   * participant channel reconnects; a countdown is `deadline` minus the server's time.
   */
  deadlineChanged: (deadline: Date | null, reason: string | null) => void;
}
