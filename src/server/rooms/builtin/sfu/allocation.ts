/**
 * Selection at group size as a pure function: for ONE subscriber, which layer of each remote video it receives,
 * or none and why. Inputs: what the subscriber shows (its `subscription` view), the room's media policy, who spoke
 * most recently, each publisher's simulcast layers with their bitrates, and the subscriber's downlink estimate.
 * The rooms' selection (../selection.ts) calls it when one of those changes and applies the result with
 * Sfu.setVideoLayer; nothing here touches media. Audio is never selected here: only host mutes and routing cut it.
 *
 * The rules, in order:
 *   1. hidden: a video the view does not list, or lists as not visible, is off (reason `hidden`). No view yet:
 *      everything is visible and large.
 *   2. last-N: at most `lastN` cameras are forwarded (screen shares come on top and never count), chosen by the
 *      spotlight, then pins, then speaker recency (most recent first), then join order; cameras the publisher
 *      turned off go last. The rest are off (reason `last_n`).
 *   3. layer: from the tile's width in device pixels (≤ 320 → low, ≤ 640 → medium, else high); grid mode caps
 *      cameras at medium; presentation mode gives screen shares the high layer and cameras the low one; the
 *      spotlight gets the high layer (outside presentation and grid). The layer is then the nearest one the
 *      publisher sends (lower first).
 *   4. bandwidth: while the total exceeds the budget (the downlink estimate less the audio the subscriber
 *      receives), the least important stream that can go down a layer does; when none can, the least important
 *      one still forwarded is turned off (reason `bandwidth`), down to the most important one: that one stays on
 *      at its lowest layer whatever the budget (a client on a poor or overloaded connection still sees the
 *      therapist, or whoever is spotlit or speaking, small, rather than a wall of name cards).
 * Importance (most first): in presentation mode the screen shares, then the spotlight, pins, speaker recency,
 * join order, with screen shares ahead of cameras in the other modes too.
 */
import type { TrackSource } from './types.js';

export type VideoLayer = 'low' | 'medium' | 'high';
export type VideoSource = Extract<TrackSource, 'camera' | 'screen'>;
export type MediaMode = 'collaboration' | 'presentation' | 'grid';
export type PauseReason = 'hidden' | 'last_n' | 'bandwidth';

export const LAYERS: readonly VideoLayer[] = ['low', 'medium', 'high'];
/** Tile widths (device pixels) up to which the low and the medium layers suffice. */
export const LOW_MAX_WIDTH = 320;
export const MEDIUM_MAX_WIDTH = 640;
/**
 * What a layer is assumed to cost before its bitrate has been measured (a publisher that just started, or a
 * layer that paused): roughly what Chromium sends for 180p, 360p and 720p VP8.
 */
export const ASSUMED_BPS: Readonly<Record<VideoLayer, number>> = { low: 150_000, medium: 500_000, high: 1_500_000 };

export interface AllocationPolicy {
  mode: MediaMode;
  /** The identity everyone's view puts first; null: none. */
  spotlight: string | null;
  /** At most this many cameras forwarded to one subscriber. */
  lastN: number;
}

/** How the subscriber shows one remote video (the `subscription` message's RtcTrackView). */
export interface TileView {
  visible: boolean;
  /** Device pixels (0 when hidden). */
  width: number;
  height: number;
  pinned: boolean;
}

export interface LayerOffer {
  layer: VideoLayer;
  /** Measured send rate; 0 = not measured yet (ASSUMED_BPS is used). */
  bitrateBps: number;
}

/** One remote video routed to the subscriber. */
export interface RemoteVideo {
  identity: string;
  source: VideoSource;
  /** Join order (smaller = earlier). */
  joinedAt: number;
  /** The layers the publisher sends now (empty: not known yet; treated as all three at the assumed rates). */
  layers: readonly LayerOffer[];
  /** The publisher turned the camera off (it still holds a place, but last). */
  muted?: boolean;
}

export interface AllocationInput {
  policy: AllocationPolicy;
  /** viewKey(identity, source) → the tile; null: the subscriber has not reported a view (all visible, large). */
  view: ReadonlyMap<string, TileView> | null;
  videos: readonly RemoteVideo[];
  /** Identities, the most recent speaker first. */
  speakers: readonly string[];
  /** What the subscriber's video may take in all (downlink estimate, capped, less its audio), bits per second. */
  budgetBps: number;
}

export interface StreamAllocation {
  identity: string;
  source: VideoSource;
  /** null: not forwarded. */
  layer: VideoLayer | null;
  reason: PauseReason | null;
  /** What the chosen layer is expected to cost (0 when off). */
  bitrateBps: number;
}

export function viewKey(identity: string, source: VideoSource): string {
  return `${identity}\u0000${source}`;
}

/** The layer a tile of this width needs. */
export function layerForWidth(width: number): VideoLayer {
  if (width <= LOW_MAX_WIDTH) return 'low';
  if (width <= MEDIUM_MAX_WIDTH) return 'medium';
  return 'high';
}

function rank(layer: VideoLayer): number {
  return LAYERS.indexOf(layer);
}

function minLayer(a: VideoLayer, b: VideoLayer): VideoLayer {
  return rank(a) <= rank(b) ? a : b;
}

/**
 * The publisher's layers, lowest first. Layers not known (none measured yet, or all stalled for a moment) are taken
 * as the whole ladder at the assumed rates: the SFU sends the nearest layer it has, and reckoning an unknown video
 * as one expensive high layer would pause it for bandwidth while its layers are merely being learnt.
 */
function offered(video: RemoteVideo): LayerOffer[] {
  const layers = video.layers.length > 0 ? [...video.layers] : LAYERS.map((layer) => ({ layer, bitrateBps: 0 }));
  return layers.sort((a, b) => rank(a.layer) - rank(b.layer));
}

/** The offered layer nearest to `wanted`: the highest at or below it, else the lowest above it. */
export function nearestLayer(layers: readonly LayerOffer[], wanted: VideoLayer): LayerOffer {
  let below: LayerOffer | undefined;
  let above: LayerOffer | undefined;
  for (const l of layers) {
    if (rank(l.layer) <= rank(wanted)) {
      if (!below || rank(l.layer) > rank(below.layer)) below = l;
    } else if (!above || rank(l.layer) < rank(above.layer)) {
      above = l;
    }
  }
  const chosen = below ?? above;
  if (!chosen) throw new RangeError('a video offers no layer');
  return chosen;
}

function costOf(offer: LayerOffer): number {
  return offer.bitrateBps > 0 ? offer.bitrateBps : ASSUMED_BPS[offer.layer];
}

interface Candidate {
  video: RemoteVideo;
  layers: LayerOffer[];
  index: number;
  chosen: LayerOffer | null;
  reason: PauseReason | null;
}

export function allocate(input: AllocationInput): StreamAllocation[] {
  const { policy, view } = input;
  const spoke = new Map<string, number>();
  input.speakers.forEach((identity, i) => {
    if (!spoke.has(identity)) spoke.set(identity, i);
  });
  const tile = (v: RemoteVideo): TileView | undefined =>
    view === null ? { visible: true, width: Number.MAX_SAFE_INTEGER, height: Number.MAX_SAFE_INTEGER, pinned: false } : view.get(viewKey(v.identity, v.source));
  const pinned = (v: RemoteVideo) => tile(v)?.pinned === true;

  // Importance, most important first. Deterministic: identity and source break the last ties.
  const importance = (a: RemoteVideo, b: RemoteVideo): number => {
    const screenFirst = (v: RemoteVideo) => (v.source === 'screen' ? 0 : 1);
    const keys = (v: RemoteVideo): number[] => [
      screenFirst(v),
      v.muted ? 1 : 0,
      v.identity === policy.spotlight ? 0 : 1,
      pinned(v) ? 0 : 1,
      spoke.get(v.identity) ?? Number.MAX_SAFE_INTEGER,
      v.joinedAt,
    ];
    const ka = keys(a);
    const kb = keys(b);
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i]! - kb[i]!;
    if (a.identity !== b.identity) return a.identity < b.identity ? -1 : 1;
    return a.source < b.source ? -1 : a.source > b.source ? 1 : 0;
  };
  const ordered = [...input.videos].sort(importance);
  const candidates: Candidate[] = ordered.map((video, index) => ({ video, layers: offered(video), index, chosen: null, reason: null }));

  let cameras = 0;
  for (const c of candidates) {
    const t = tile(c.video);
    if (!t || !t.visible) {
      c.reason = 'hidden';
      continue;
    }
    if (c.video.source === 'camera') {
      if (cameras >= Math.max(0, policy.lastN)) {
        c.reason = 'last_n';
        continue;
      }
      cameras++;
    }
    let wanted = layerForWidth(t.width);
    if (c.video.source === 'screen') {
      if (policy.mode === 'presentation') wanted = 'high';
    } else if (policy.mode === 'presentation') {
      wanted = 'low';
    } else {
      if (c.video.identity === policy.spotlight) wanted = 'high';
      if (policy.mode === 'grid') wanted = minLayer(wanted, 'medium');
    }
    c.chosen = nearestLayer(c.layers, wanted);
  }

  // Fit the budget: step the least important down a layer; when nothing can step down, turn the least important off.
  const total = () => candidates.reduce((sum, c) => sum + (c.chosen ? costOf(c.chosen) : 0), 0);
  let spent = total();
  const budget = Math.max(0, input.budgetBps);
  while (spent > budget) {
    let stepped = false;
    for (let i = candidates.length - 1; i >= 0; i--) {
      const c = candidates[i]!;
      if (!c.chosen) continue;
      const lower = c.layers.filter((l) => rank(l.layer) < rank(c.chosen!.layer)).at(-1);
      if (!lower) continue;
      spent += costOf(lower) - costOf(c.chosen);
      c.chosen = lower;
      stepped = true;
      break;
    }
    if (stepped) continue;
    const last = candidates.findLast((c) => c.chosen !== null);
    if (!last || last === candidates.find((c) => c.chosen !== null)) break;
    spent -= costOf(last.chosen!);
    last.chosen = null;
    last.reason = 'bandwidth';
  }

  return candidates.map((c) => ({
    identity: c.video.identity,
    source: c.video.source,
    layer: c.chosen?.layer ?? null,
    reason: c.chosen ? null : c.reason,
    bitrateBps: c.chosen ? costOf(c.chosen) : 0,
  }));
}
