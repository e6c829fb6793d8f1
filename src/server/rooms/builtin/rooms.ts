/**
 * The live rooms of this process and what each holds: its peers (one per participant identity), the routing
 * preferences the rooms layer set (kept for identities not connected yet), per-pair subscription overrides,
 * revoked tokens and whether it is being recorded. Plain state: signaling.ts, visibility.ts and
 * recording-control.ts act on it.
 *
 * Identity is the participant's name in a room; the SFU session id is per connection (a takeover gets a new
 * one while the identity, its join time and its routing stay).
 */
import { randomUUID } from 'node:crypto';
import type { WebSocket } from 'ws';
import type { TrackKind, TrackSource } from '../../../shared/rtc.js';
import type { Grants, MediaPolicy } from '../provider.js';
import type { TileView, VideoLayer } from './sfu/allocation.js';
import type { DownlinkEstimator } from './sfu/downlink.js';
import type { SfuParticipant } from './sfu/index.js';
import { newMediaStats, type MediaStats } from './media-stats.js';

export const DEFAULT_GROUP = 'main';

export interface RoutingPreference {
  group: string;
  hostMuted: Set<TrackKind>;
  /** Whether the participant is recorded while the room is (default true). */
  recorded: boolean;
}

export interface SubscriptionOverride {
  subscriber: string;
  publisher: string;
  kind: TrackKind | '*';
  allow: boolean;
}

export interface LiveRoom {
  readonly id: string;
  readonly orgId: string;
  readonly name: string;
  readonly maxParticipants: number;
  readonly peers: Map<string, Peer>;
  readonly prefs: Map<string, RoutingPreference>;
  /** overrideKey(subscriber, publisher, kind) (sfu/routing.ts) → the override. */
  readonly overrides: Map<string, SubscriptionOverride>;
  /** identity → tokens issued at or before this time (ms) no longer join (a denied or removed participant). */
  readonly revoked: Map<string, number>;
  /** The directory recordings go to while the room is being recorded. */
  recording: string | null;
  /** How the room shares media out (group visits; selection.ts); null: every video to everyone, as published. */
  media: MediaPolicy | null;
  /** identity → when it last became a dominant speaker (a counter: larger = more recent), for last-N. */
  readonly spoke: Map<string, number>;
  /** The selection's pending recomputation (debounced) and for whom: everyone, or these peers. */
  selection: { timer: NodeJS.Timeout | null; dirty: Set<Peer> | 'all' };
}

/** What the selection (selection.ts) keeps per peer: its view, its downlink estimate, what it applied and told. */
export interface PeerSelection {
  /** viewKey(identity, source) → tile, from the client's `subscription`; null: none reported yet. */
  view: Map<string, TileView> | null;
  viewWindow: { start: number; count: number };
  /** The SFU session the applied layers belong to (a takeover starts afresh). */
  sessionId: string | null;
  /** `${publisher SFU id}\u0000${source}` → the layer asked of the SFU last. */
  readonly applied: Map<string, VideoLayer | 'off'>;
  downlink: DownlinkEstimator | null;
  /** The last streamStates sent (JSON), '' when none. */
  told: string;
}

export interface Peer extends MediaStats {
  readonly room: LiveRoom;
  readonly identity: string;
  readonly joinedAt: Date;
  grants: Grants;
  sessionId: string;
  socket: WebSocket | null;
  session: SfuParticipant | null;
  /** The publications of the current session: trackId → what it is. */
  readonly tracks: Map<string, { source: TrackSource; kind: TrackKind }>;
  readonly localMuted: Set<TrackSource>;
  grace: NodeJS.Timeout | null;
  /** The identities this peer's client has been told about. */
  readonly known: Set<string>;
  dataWindow: { start: number; count: number };
  readonly selection: PeerSelection;
}

export interface RoomSpec {
  roomId: string;
  orgId: string;
  name: string;
  maxParticipants: number;
  media?: MediaPolicy | null;
}

/** A participant that has just arrived: no socket or SFU session yet (signaling.ts attaches them). */
export function newPeer(room: LiveRoom, identity: string, grants: Grants): Peer {
  return {
    room,
    identity,
    joinedAt: new Date(),
    grants,
    sessionId: randomUUID(),
    socket: null,
    session: null,
    tracks: new Map(),
    localMuted: new Set(),
    ...newMediaStats(),
    grace: null,
    known: new Set(),
    dataWindow: { start: 0, count: 0 },
    selection: { view: null, viewWindow: { start: 0, count: 0 }, sessionId: null, applied: new Map(), downlink: null, told: '' },
  };
}

/** The identity's routing preference, created with the defaults (main group, unmuted, recorded) on first use. */
export function prefOf(room: LiveRoom, identity: string): RoutingPreference {
  let pref = room.prefs.get(identity);
  if (!pref) {
    pref = { group: DEFAULT_GROUP, hostMuted: new Set(), recorded: true };
    room.prefs.set(identity, pref);
  }
  return pref;
}

/** The peer's routing group, without creating a preference. */
export function groupOf(peer: Peer): string {
  return peer.room.prefs.get(peer.identity)?.group ?? DEFAULT_GROUP;
}

/** The live rooms of this process, and which peer each SFU session belongs to. */
export class LiveRooms {
  readonly #rooms = new Map<string, LiveRoom>();
  /** SFU participant id (one per connection) → peer. */
  readonly #bySfuId = new Map<string, Peer>();
  /** SFU participant id → whose it was (kept after the session ends, for its recordings' last events). */
  readonly #owners = new Map<string, { roomId: string; identity: string }>();

  /** Opens a room; false when it is already live. */
  open(spec: RoomSpec): boolean {
    if (this.#rooms.has(spec.roomId)) return false;
    this.#rooms.set(spec.roomId, {
      id: spec.roomId,
      orgId: spec.orgId,
      name: spec.name,
      maxParticipants: spec.maxParticipants,
      peers: new Map(),
      prefs: new Map(),
      overrides: new Map(),
      revoked: new Map(),
      recording: null,
      media: spec.media ?? null,
      spoke: new Map(),
      selection: { timer: null, dirty: new Set() },
    });
    return true;
  }

  get(roomId: string): LiveRoom | undefined {
    return this.#rooms.get(roomId);
  }

  has(roomId: string): boolean {
    return this.#rooms.has(roomId);
  }

  /** Takes the room out of the registry (its peers are removed by the caller). */
  delete(roomId: string): LiveRoom | undefined {
    const room = this.#rooms.get(roomId);
    this.#rooms.delete(roomId);
    return room;
  }

  values(): IterableIterator<LiveRoom> {
    return this.#rooms.values();
  }

  /** The peer's new SFU session: its events and routes now name this peer. */
  bindSession(sfuId: string, peer: Peer): void {
    this.#bySfuId.set(sfuId, peer);
    this.#owners.set(sfuId, { roomId: peer.room.id, identity: peer.identity });
  }

  /** The session ended: routes stop naming the peer, recordings still find their owner. */
  unbindSession(sfuId: string): void {
    this.#bySfuId.delete(sfuId);
  }

  peerOf(sfuId: string): Peer | undefined {
    return this.#bySfuId.get(sfuId);
  }

  ownerOf(sfuId: string): { roomId: string; identity: string } | undefined {
    return this.#owners.get(sfuId);
  }

  /** Forgets the owners of a closed room's sessions (their recordings have completed). */
  forgetOwners(roomId: string): void {
    for (const [sfuId, owner] of this.#owners) if (owner.roomId === roomId) this.#owners.delete(sfuId);
  }

  clear(): void {
    this.#rooms.clear();
    this.#bySfuId.clear();
  }
}
