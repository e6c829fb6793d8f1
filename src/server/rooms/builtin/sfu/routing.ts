/**
 * Server-authoritative routing as a pure function: (participants and their groups, published tracks, host
 * mutes, per-pair overrides) → the set of edges "publisher track → subscriber". The SFU keeps the last
 * result per room and applies the diff; nothing here touches media.
 *
 * The rule for a track T (kind K) of publisher P and a subscriber S ≠ P, first match wins:
 *   0. S does not receive media at all (`receives: false`, e.g. a token without the subscribe grant) → no edge
 *   1. P is host-muted for K                      → no edge (a host mute beats every override)
 *   2. an override (S, P, K) exists               → its allow value
 *   3. an override (S, P, '*') exists             → its allow value
 *   4. otherwise                                  → edge iff S and P are in the same group
 * Nobody receives their own tracks.
 */
import type { TrackKind } from './types.js';

export interface RoutingParticipant {
  readonly id: string;
  readonly group: string;
  /** false: receives nothing, whatever the groups and overrides say. Default true. */
  readonly receives?: boolean;
}

export interface RoutingTrack {
  readonly trackId: string;
  readonly publisherId: string;
  readonly kind: TrackKind;
}

export interface RouteOverride {
  readonly subscriberId: string;
  readonly publisherId: string;
  /** `'*'`: every kind, unless a kind-specific override for the same pair exists. */
  readonly kind: TrackKind | '*';
  readonly allow: boolean;
}

export interface RoutingInput {
  readonly participants: Iterable<RoutingParticipant>;
  readonly tracks: Iterable<RoutingTrack>;
  readonly muted: Iterable<{ readonly participantId: string; readonly kind: TrackKind }>;
  readonly overrides: Iterable<RouteOverride>;
}

export interface Edge {
  readonly trackId: string;
  readonly publisherId: string;
  readonly subscriberId: string;
  readonly kind: TrackKind;
}

/** The decision for one (track, subscriber) pair; `undefined` override = none set. */
export function decideEdge(input: {
  sameGroup: boolean;
  publisherMuted: boolean;
  kindOverride: boolean | undefined;
  anyKindOverride: boolean | undefined;
}): boolean {
  if (input.publisherMuted) return false;
  if (input.kindOverride !== undefined) return input.kindOverride;
  if (input.anyKindOverride !== undefined) return input.anyKindOverride;
  return input.sameGroup;
}

export function edgeKey(trackId: string, subscriberId: string): string {
  return `${trackId}\u0000${subscriberId}`;
}

export function overrideKey(subscriberId: string, publisherId: string, kind: TrackKind | '*'): string {
  return `${subscriberId}\u0000${publisherId}\u0000${kind}`;
}

/** Every edge the rules allow, keyed by `edgeKey`. */
export function computeEdges(input: RoutingInput): Map<string, Edge> {
  const groups = new Map<string, string>();
  const deaf = new Set<string>();
  for (const p of input.participants) {
    groups.set(p.id, p.group);
    if (p.receives === false) deaf.add(p.id);
  }
  const muted = new Set<string>();
  for (const m of input.muted) muted.add(`${m.participantId}\u0000${m.kind}`);
  const overrides = new Map<string, boolean>();
  for (const o of input.overrides) overrides.set(overrideKey(o.subscriberId, o.publisherId, o.kind), o.allow);

  const edges = new Map<string, Edge>();
  for (const track of input.tracks) {
    const publisherGroup = groups.get(track.publisherId);
    if (publisherGroup === undefined) continue;
    const publisherMuted = muted.has(`${track.publisherId}\u0000${track.kind}`);
    for (const [subscriberId, subscriberGroup] of groups) {
      if (subscriberId === track.publisherId || deaf.has(subscriberId)) continue;
      const allowed = decideEdge({
        sameGroup: subscriberGroup === publisherGroup,
        publisherMuted,
        kindOverride: overrides.get(overrideKey(subscriberId, track.publisherId, track.kind)),
        anyKindOverride: overrides.get(overrideKey(subscriberId, track.publisherId, '*')),
      });
      if (allowed) {
        edges.set(edgeKey(track.trackId, subscriberId), {
          trackId: track.trackId,
          publisherId: track.publisherId,
          subscriberId,
          kind: track.kind,
        });
      }
    }
  }
  return edges;
}

export function diffEdges(previous: ReadonlyMap<string, Edge>, next: ReadonlyMap<string, Edge>): { added: Edge[]; removed: Edge[] } {
  const added: Edge[] = [];
  const removed: Edge[] = [];
  for (const [key, edge] of next) if (!previous.has(key)) added.push(edge);
  for (const [key, edge] of previous) if (!next.has(key)) removed.push(edge);
  return { added, removed };
}
