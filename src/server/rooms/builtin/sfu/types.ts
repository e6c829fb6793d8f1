/** Types shared by the SFU's files. Nothing here depends on werift. */

export type TrackKind = 'audio' | 'video';
export type TrackSource = 'camera' | 'microphone' | 'screen';
/** A simulcast layer of a camera or screen (rids q, h, f). A publisher without simulcast sends one layer: 'high'. */
export type VideoLayer = 'low' | 'medium' | 'high';
/** What a subscriber asks to receive of one publisher's video: a layer, or nothing ('off': the slot stays assigned). */
export type VideoLayerChoice = VideoLayer | 'off';

/** One layer a publisher sends now (Sfu.videoLayers). */
export interface VideoLayerInfo {
  readonly layer: VideoLayer;
  /** The rid of the layer (null: the publisher does not use simulcast). */
  readonly rid: string | null;
  readonly ssrc: number;
  /** Payload bit rate over the last second or so. */
  readonly bitrateBps: number;
  /** From the layer's last VP8 keyframe. */
  readonly width?: number;
  readonly height?: number;
}

export type ConnectionState = 'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

/** A track a participant publishes (one transceiver on which the participant sends). */
export interface PublishedTrack {
  /** `${participantId}:${mid}`: unique in the SFU while the publication lasts. */
  readonly trackId: string;
  readonly participantId: string;
  readonly roomId: string;
  readonly kind: TrackKind;
  readonly source: TrackSource;
  /** The publisher's m-line that carries it. */
  readonly mid: string;
}

/**
 * One of a subscriber's outgoing m-lines and what it currently carries. Slots are reused: when a route is
 * removed the slot goes idle (publisherId null) and a later route of the same kind may take it over without
 * renegotiation, so the browser must identify what it receives by mid through this map, not by msid.
 */
export interface ForwardedTrack {
  readonly mid: string;
  readonly kind: TrackKind;
  readonly publisherId: string | null;
  readonly trackId: string | null;
  readonly source: TrackSource | null;
}

/** An ICE candidate as it crosses the signaling channel (the browser's RTCIceCandidateInit shape). */
export interface IceCandidateInit {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

/** What the SFU logs through: a subset of pino's Logger. */
export interface SfuLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: SfuLogger = { debug() {}, info() {}, warn() {}, error() {} };

export type SfuErrorCode =
  | 'closed'
  | 'participant_exists'
  | 'participant_not_found'
  | 'not_same_room'
  /** A client offer arrived while the server's own offer is outstanding; the server is the impolite peer. */
  | 'glare'
  | 'invalid_state'
  | 'negotiation_failed';

export class SfuError extends Error {
  constructor(
    readonly code: SfuErrorCode,
    message?: string,
  ) {
    super(message ?? code);
    this.name = 'SfuError';
  }
}
