/**
 * The builtin media plane's signaling protocol on `WS /rtc`: JSON text frames, one message each, a
 * discriminated union on `type` in each direction. The server (src/server/rooms/builtin/signaling.ts) and the
 * browser SDK (src/sdk/) both compile against this file; `parseClientMessage` is the server's only way in.
 *
 * A session:
 *   client → join{token}                      server → joined{sessionId, participants, iceServers, …}
 *   client → offer{sdp, sources}              server → answer{sdp}              (client publishes)
 *   server → offer{sdp, routes}               client → answer{sdp}              (server forwards more tracks)
 *   both   → candidate{…}                     server → routes{…}                (what each receiving mid carries)
 *   server → participantJoined / participantUpdated / participantLeft / networkQuality / dominantSpeaker
 *   client → data{payload, to?}               server → data{from, payload}      (in-call chat, routed by group)
 *   client → subscription{tracks}             server → streamStates{states}     (adaptive stream, simulcast layers, last-N)
 *   server → notice{code, message}                                              (server notices)
 *   client → leave                            server → bye{reason}, then closes the socket
 * Reconnecting: a new socket sends join{token, sessionId}; if the server still holds the session (within the
 * grace period) it answers joined{resumed: true} and the peer connection carries on untouched. A join for an
 * identity already in the room without that session id (a new peer connection after ICE failed, a second tab)
 * takes the identity over: the old socket gets bye{replaced}, and the participant is not announced again.
 */

export const RTC_PROTOCOL_VERSION = 1;
export const RTC_PATH = '/rtc';

export type TrackKind = 'audio' | 'video';
export type TrackSource = 'microphone' | 'camera' | 'screen';

/** An ICE candidate as the browser's RTCIceCandidateInit has it. */
export interface RtcIceCandidate {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

/** The browser's RTCIceServer. */
export interface RtcIceServer {
  urls: string[];
  username?: string;
  credential?: string;
}

export interface RtcGrants {
  publish: boolean;
  subscribe: boolean;
  data: boolean;
  admin: boolean;
}

export interface RtcTrackInfo {
  source: TrackSource;
  kind: TrackKind;
  /** The publisher turned it off (local mute). */
  muted: boolean;
  /** A host stopped it reaching anyone (server-side mute). */
  hostMuted: boolean;
}

export interface RtcParticipantInfo {
  identity: string;
  joinedAt: string;
  tracks: RtcTrackInfo[];
  /** 0 (no connection) to 5 (excellent); null until measured. */
  networkQuality: number | null;
}

/** What one of the subscriber's receiving m-lines carries right now (identity null: idle). */
export interface RtcRoute {
  mid: string;
  kind: TrackKind;
  identity: string | null;
  source: TrackSource | null;
}

/** A simulcast layer (rids q, h, f: a quarter, half and full resolution of the camera). */
export type VideoLayer = 'low' | 'medium' | 'high';

/** One remote video as the subscriber shows it (`subscription`). */
export interface RtcTrackView {
  identity: string;
  source: 'camera' | 'screen';
  visible: boolean;
  /** Device pixels of the element that shows it (0 when hidden). */
  width: number;
  height: number;
  pinned?: boolean;
}

/**
 * What the SFU forwards of one remote video to this subscriber: `active` (with the layer it sends), or `paused`
 * (not forwarded: hidden, beyond last-N, or over the subscriber's bandwidth) with the reason, so a tile can show a
 * name card instead of a frozen picture.
 */
export interface RtcStreamState {
  identity: string;
  source: 'camera' | 'screen';
  state: 'active' | 'paused';
  layer: VideoLayer | null;
  reason: 'hidden' | 'last_n' | 'bandwidth' | null;
}

/** Why a session ended; `bye.reason`, and the SDK's `disconnected` event. */
export type RtcEndReason =
  | 'left'
  | 'removed'
  | 'room_ended'
  | 'replaced'
  | 'duration_exceeded'
  | 'invalid_token'
  | 'token_expired'
  | 'room_full'
  | 'room_not_found'
  | 'connection_lost'
  | 'protocol_error'
  | 'server_shutdown'
  | 'server_error';

/** Close codes on the socket (1000 normal, 1012 restart, 4xxx ours). */
export const RTC_CLOSE: Record<RtcEndReason, number> = {
  left: 1000,
  server_shutdown: 1012,
  server_error: 1011,
  removed: 4000,
  invalid_token: 4001,
  token_expired: 4002,
  room_ended: 4003,
  room_not_found: 4004,
  room_full: 4005,
  replaced: 4006,
  duration_exceeded: 4007,
  connection_lost: 4008,
  protocol_error: 4400,
};

/** Errors answered to one message; the session goes on. */
export type RtcErrorCode =
  /** The server's own offer is outstanding: answer it (it was or will be sent), then offer again. */
  | 'glare'
  | 'invalid_message'
  | 'not_joined'
  | 'forbidden'
  | 'negotiation_failed'
  | 'too_large'
  | 'rate_limited';

export type ClientMessage =
  | { type: 'join'; token: string; sessionId?: string; protocol?: number }
  | { type: 'offer'; sdp: string; sources: Record<string, TrackSource> }
  | { type: 'answer'; sdp: string }
  | { type: 'candidate'; candidate: RtcIceCandidate | null }
  | { type: 'mute'; source: TrackSource; muted: boolean }
  /**
   * Adaptive stream: what this subscriber shows of each remote video now (the whole list each time it changes).
   * A track not listed, or `visible: false`, gets no video at all; `width`/`height` (CSS pixels × devicePixelRatio)
   * pick the layer; `pinned` puts it ahead of last-N's speaker order. A client that never sends this receives every
   * video it may see at the highest layer, subject to the room's last-N.
   */
  | { type: 'subscription'; tracks: RtcTrackView[] }
  | { type: 'data'; payload: string; to?: string[] }
  | { type: 'ping' }
  | { type: 'leave' };

export type ServerMessage =
  | {
      type: 'joined';
      sessionId: string;
      resumed: boolean;
      identity: string;
      room: { id: string; name: string };
      grants: RtcGrants;
      /** Everyone this participant can see (same group; admins see all), itself excluded. */
      participants: RtcParticipantInfo[];
      iceServers: RtcIceServer[];
      /** How long the server keeps the session after the socket drops. */
      reconnectGraceMs: number;
      /** Current routes (on resume). */
      routes: RtcRoute[];
    }
  | { type: 'answer'; sdp: string }
  | { type: 'offer'; sdp: string; routes: RtcRoute[] }
  | { type: 'routes'; routes: RtcRoute[] }
  | { type: 'candidate'; candidate: RtcIceCandidate | null }
  | { type: 'participantJoined'; participant: RtcParticipantInfo }
  | { type: 'participantUpdated'; participant: RtcParticipantInfo }
  | { type: 'participantLeft'; identity: string; reason: string }
  | { type: 'networkQuality'; identity: string; level: number }
  | { type: 'dominantSpeaker'; identity: string | null }
  /** What the SFU forwards of each remote video to this subscriber, whenever that changes (adaptive stream, last-N). */
  | { type: 'streamStates'; states: RtcStreamState[] }
  /** `from`: the sender's identity, or null for the server (e.g. a chat message it stored). */
  | { type: 'data'; from: string | null; payload: string }
  | { type: 'notice'; code: string; message: string }
  | { type: 'error'; code: RtcErrorCode; message: string; ref?: ClientMessage['type'] }
  | { type: 'pong' }
  | { type: 'bye'; reason: RtcEndReason; message: string };

/** Largest data message payload (characters). */
export const RTC_MAX_DATA_CHARS = 16 * 1024;
/** Largest SDP accepted (characters). */
export const RTC_MAX_SDP_CHARS = 64 * 1024;

const SOURCES: readonly TrackSource[] = ['microphone', 'camera', 'screen'];
const MID = /^[A-Za-z0-9_.-]{1,32}$/;
const IDENTITY = /^[A-Za-z0-9_.:-]{1,128}$/;

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function only(value: Record<string, unknown>, keys: readonly string[]): boolean {
  return Object.keys(value).every((k) => keys.includes(k));
}

function optionalString(value: unknown): boolean {
  return value === undefined || value === null || typeof value === 'string';
}

function isCandidate(value: unknown): value is RtcIceCandidate | null {
  if (value === null) return true;
  if (!isObject(value) || typeof value.candidate !== 'string' || value.candidate.length > 1024) return false;
  if (!only(value, ['candidate', 'sdpMid', 'sdpMLineIndex', 'usernameFragment'])) return false;
  const index = value.sdpMLineIndex;
  return optionalString(value.sdpMid) && optionalString(value.usernameFragment) && (index === undefined || index === null || (Number.isInteger(index) && (index as number) >= 0));
}

/**
 * Validates one client frame. Returns the message, or a reason it was refused (the server answers
 * `error{invalid_message}`); unknown fields are refused like the REST API refuses them.
 */
export function parseClientMessage(text: string): { ok: true; message: ClientMessage } | { ok: false; reason: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (!isObject(value) || typeof value.type !== 'string') return { ok: false, reason: 'a message is an object with a "type"' };
  const m = value;
  const bad = (reason: string) => ({ ok: false as const, reason: `${String(m.type)}: ${reason}` });
  switch (m.type) {
    case 'join':
      if (!only(m, ['type', 'token', 'sessionId', 'protocol'])) return bad('unknown field');
      if (typeof m.token !== 'string' || m.token.length === 0 || m.token.length > 4096) return bad('token must be a string');
      if (m.sessionId !== undefined && (typeof m.sessionId !== 'string' || m.sessionId.length > 64)) return bad('sessionId must be a string');
      if (m.protocol !== undefined && m.protocol !== RTC_PROTOCOL_VERSION) return bad(`protocol must be ${RTC_PROTOCOL_VERSION}`);
      return { ok: true, message: m as ClientMessage };
    case 'offer': {
      if (!only(m, ['type', 'sdp', 'sources'])) return bad('unknown field');
      if (typeof m.sdp !== 'string' || m.sdp.length === 0 || m.sdp.length > RTC_MAX_SDP_CHARS) return bad('sdp must be a string');
      const sources = m.sources ?? {};
      if (!isObject(sources)) return bad('sources must map mids to sources');
      for (const [mid, source] of Object.entries(sources)) {
        if (!MID.test(mid) || !SOURCES.includes(source as TrackSource)) return bad(`sources["${mid.slice(0, 32)}"] must be microphone, camera or screen`);
      }
      return { ok: true, message: { type: 'offer', sdp: m.sdp, sources: sources as Record<string, TrackSource> } };
    }
    case 'answer':
      if (!only(m, ['type', 'sdp'])) return bad('unknown field');
      if (typeof m.sdp !== 'string' || m.sdp.length === 0 || m.sdp.length > RTC_MAX_SDP_CHARS) return bad('sdp must be a string');
      return { ok: true, message: m as ClientMessage };
    case 'candidate':
      if (!only(m, ['type', 'candidate']) || !('candidate' in m) || !isCandidate(m.candidate)) return bad('candidate must be an RTCIceCandidateInit or null');
      return { ok: true, message: m as ClientMessage };
    case 'mute':
      if (!only(m, ['type', 'source', 'muted'])) return bad('unknown field');
      if (!SOURCES.includes(m.source as TrackSource) || typeof m.muted !== 'boolean') return bad('source and muted (boolean) are required');
      return { ok: true, message: m as ClientMessage };
    case 'subscription': {
      if (!only(m, ['type', 'tracks'])) return bad('unknown field');
      if (!Array.isArray(m.tracks) || m.tracks.length > 200) return bad('tracks must be a list of at most 200 views');
      for (const t of m.tracks as unknown[]) {
        if (!isObject(t) || !only(t, ['identity', 'source', 'visible', 'width', 'height', 'pinned'])) return bad('a view has identity, source, visible, width, height and pinned');
        if (typeof t.identity !== 'string' || !IDENTITY.test(t.identity)) return bad('identity must be an identity');
        if (t.source !== 'camera' && t.source !== 'screen') return bad('source must be camera or screen');
        if (typeof t.visible !== 'boolean' || (t.pinned !== undefined && typeof t.pinned !== 'boolean')) return bad('visible and pinned are booleans');
        for (const d of [t.width, t.height]) if (!Number.isInteger(d) || (d as number) < 0 || (d as number) > 16384) return bad('width and height are whole pixels (0 to 16384)');
      }
      return { ok: true, message: { type: 'subscription', tracks: m.tracks as RtcTrackView[] } };
    }
    case 'data':
      if (!only(m, ['type', 'payload', 'to'])) return bad('unknown field');
      if (typeof m.payload !== 'string') return bad('payload must be a string');
      if (m.to !== undefined && (!Array.isArray(m.to) || m.to.length > 500 || !m.to.every((t) => typeof t === 'string' && IDENTITY.test(t)))) {
        return bad('to must be a list of identities');
      }
      return { ok: true, message: m as ClientMessage };
    case 'ping':
    case 'leave':
      if (!only(m, ['type'])) return bad('unknown field');
      return { ok: true, message: m as ClientMessage };
    default:
      return { ok: false, reason: `unknown message type "${String(m.type).slice(0, 40)}"` };
  }
}
