export { Sfu, type RecordingOptions, type SfuEvents, type SfuOptions } from './sfu.js';
export { safeFileId, type RecordingContent, type RecordingInfo } from './recorder.js';
export { SfuParticipant, DATA_CHANNEL_LABEL, type ParticipantEvents } from './participant.js';
export { computeEdges, decideEdge, diffEdges, type Edge, type RouteOverride, type RoutingInput } from './routing.js';
export { networkQuality, QUALITY_THRESHOLDS, type QualityLevel, type QualitySample } from './quality.js';
export { pickDominantSpeaker } from './speaker.js';
export { suppressDefaultStun } from './werift.js';
export {
  SfuError,
  type ConnectionState,
  type ForwardedTrack,
  type IceCandidateInit,
  type PublishedTrack,
  type SfuErrorCode,
  type SfuLogger,
  type TrackKind,
  type TrackSource,
} from './types.js';
