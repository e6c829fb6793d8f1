/**
 * Selection at group size: in a room with a media policy (group visits), what each subscriber receives of each
 * remote video, decided by the pure rule in sfu/allocation.ts and applied with Sfu.setVideoLayer; the subscriber
 * is told (`streamStates`) whenever its result changes. A room without a policy (1:1) is left alone: every video
 * as published, no streamStates.
 *
 * A subscriber's result is recomputed when something it depends on changes: its view (`subscription`), the
 * room's policy, the dominant speaker, what is published or routed, and every REFRESH_MS its downlink estimate
 * (sfu/downlink.ts) and the publishers' measured layer rates. Work is bounded: changes only mark the room (or one
 * peer) dirty, and a room is recomputed at most once per DEBOUNCE_MS, whatever the packet or event rate (a room of
 * 50 is 50 allocations over at most 49 videos each, well under a millisecond).
 */
import type { RtcStreamState, RtcTrackView } from '../../../shared/rtc.js';
import type { MediaPolicy } from '../provider.js';
import type { LiveRoom, LiveRooms, Peer } from './rooms.js';
import { allocate, viewKey, type LayerOffer, type RemoteVideo, type StreamAllocation, type TileView, type VideoLayer, type VideoSource } from './sfu/allocation.js';
import { DownlinkEstimator } from './sfu/downlink.js';
import type { Sfu, SfuLogger } from './sfu/index.js';
import { send } from './socket.js';

/** A room's recomputation waits this long after the first change, gathering the others. */
export const DEBOUNCE_MS = 100;
/** Downlink estimates and layer rates are refreshed this often (and the rooms with a policy recomputed). */
export const REFRESH_MS = 2000;
/** `subscription` messages per peer per second (a resizing window sends a burst; a flood is refused). */
export const VIEWS_PER_SECOND = 10;
/** An estimate moving by more than this fraction recomputes its subscriber before the next refresh. */
const ESTIMATE_CHANGE = 0.1;

/** What the selection needs of the SFU (Sfu has it all). */
export type SelectionSfu = Pick<Sfu, 'on' | 'off' | 'routing' | 'setVideoLayer' | 'videoLayers'>;

export interface SelectionOptions {
  sfu: SelectionSfu;
  rooms: LiveRooms;
  /** The most a subscriber is sent in all (config.groups.downlinkBps). */
  downlinkBps: number;
  /** What one audio stream is reckoned at (config.groups.audioBitrateBps): audio is never cut, video fits around it. */
  audioBitrateBps: number;
  log: SfuLogger;
  debounceMs?: number;
  refreshMs?: number;
}

export class MediaSelection {
  readonly #o: Required<SelectionOptions>;
  readonly #refresh: NodeJS.Timeout;
  #speakerClock = 0;
  readonly #listeners: (() => void)[] = [];

  constructor(options: SelectionOptions) {
    this.#o = { debounceMs: DEBOUNCE_MS, refreshMs: REFRESH_MS, ...options };
    const { sfu, rooms } = this.#o;
    const roomOf = (roomId: string) => rooms.get(roomId);
    const onSpeaker = (roomId: string, _group: string, sfuId: string | null) => {
      const room = roomOf(roomId);
      const identity = sfuId === null ? undefined : rooms.peerOf(sfuId)?.identity;
      if (!room || identity === undefined) return;
      room.spoke.set(identity, ++this.#speakerClock);
      this.invalidate(room);
    };
    const onTrack = (track: { roomId: string }) => {
      const room = roomOf(track.roomId);
      if (room) this.invalidate(room);
    };
    const onLeft = (_id: string, roomId: string) => {
      const room = roomOf(roomId);
      if (room) this.invalidate(room);
    };
    // A publisher's layers came or went (it started simulcast, or dropped a layer for its own bandwidth).
    const onLayers = (publisherId: string) => {
      const room = rooms.peerOf(publisherId)?.room;
      if (room) this.invalidate(room);
    };
    sfu.on('dominantSpeaker', onSpeaker);
    sfu.on('trackPublished', onTrack);
    sfu.on('trackUnpublished', onTrack);
    sfu.on('participantLeft', onLeft);
    sfu.on('videoLayers', onLayers);
    this.#listeners.push(
      () => sfu.off('dominantSpeaker', onSpeaker),
      () => sfu.off('trackPublished', onTrack),
      () => sfu.off('trackUnpublished', onTrack),
      () => sfu.off('participantLeft', onLeft),
      () => sfu.off('videoLayers', onLayers),
    );
    this.#refresh = setInterval(() => this.#refreshAll(), this.#o.refreshMs);
    this.#refresh.unref();
  }

  /** The room's policy changed (null: back to every video as published). */
  setPolicy(room: LiveRoom, policy: MediaPolicy | null): void {
    const had = room.media !== null;
    room.media = policy;
    if (policy === null && had) {
      this.#cancel(room);
      for (const peer of room.peers.values()) this.#release(peer);
      return;
    }
    this.invalidate(room);
  }

  /**
   * The client's `subscription`: what it shows of each remote video. Only identities the peer may see count (others
   * are dropped: it could be racing a departure); at most VIEWS_PER_SECOND, or the client is told `rate_limited`.
   */
  setView(peer: Peer, tracks: readonly RtcTrackView[]): void {
    const now = Date.now();
    const state = peer.selection;
    if (now - state.viewWindow.start >= 1000) state.viewWindow = { start: now, count: 0 };
    if (++state.viewWindow.count > VIEWS_PER_SECOND) {
      send(peer, { type: 'error', code: 'rate_limited', message: `At most ${VIEWS_PER_SECOND} subscription messages per second.`, ref: 'subscription' });
      return;
    }
    const view = new Map<string, TileView>();
    for (const t of tracks) {
      if (t.identity === peer.identity || !peer.known.has(t.identity)) continue;
      view.set(viewKey(t.identity, t.source), { visible: t.visible, width: t.visible ? t.width : 0, height: t.visible ? t.height : 0, pinned: t.pinned === true });
    }
    state.view = view;
    this.invalidate(peer.room, peer);
  }

  /** The peer's client starts afresh (joined, resumed): it is told its stream states again. */
  resend(peer: Peer): void {
    peer.selection.told = '';
    this.invalidate(peer.room, peer);
  }

  /** Something the room's results depend on changed (for one peer, or for everyone). */
  invalidate(room: LiveRoom, peer?: Peer): void {
    if (room.media === null) return;
    const s = room.selection;
    if (peer === undefined) s.dirty = 'all';
    else if (s.dirty !== 'all') s.dirty.add(peer);
    if (s.timer) return;
    s.timer = setTimeout(() => {
      s.timer = null;
      this.#recompute(room);
    }, this.#o.debounceMs);
    s.timer.unref();
  }

  /** The room closed: nothing pending for it. */
  forget(room: LiveRoom): void {
    this.#cancel(room);
  }

  close(): void {
    clearInterval(this.#refresh);
    for (const off of this.#listeners.splice(0)) off();
    for (const room of this.#o.rooms.values()) this.#cancel(room);
  }

  #cancel(room: LiveRoom): void {
    if (room.selection.timer) clearTimeout(room.selection.timer);
    room.selection = { timer: null, dirty: new Set() };
  }

  /** Back to the default (the highest layer) wherever this peer was given another, and nothing more is told. */
  #release(peer: Peer): void {
    const state = peer.selection;
    const session = peer.session;
    if (session && state.sessionId === session.id) {
      for (const [key, choice] of state.applied) {
        if (choice === 'high') continue;
        const [publisherId, source] = key.split('\u0000') as [string, VideoSource];
        this.#setLayer(session.id, publisherId, source, 'high');
      }
    }
    state.applied.clear();
    state.told = '';
  }

  #refreshAll(): void {
    const now = Date.now();
    for (const room of this.#o.rooms.values()) {
      if (room.media === null) continue;
      for (const peer of room.peers.values()) this.#sampleDownlink(peer, now);
      this.invalidate(room);
    }
  }

  #sampleDownlink(peer: Peer, now: number): void {
    const session = peer.session;
    if (!session || session.closed) return;
    const state = peer.selection;
    state.downlink ??= new DownlinkEstimator(this.#o.downlinkBps);
    const before = state.downlink.bps;
    const after = state.downlink.update({ nowMs: now, ...session.downlinkReport(now - this.#o.refreshMs) });
    if (Math.abs(after - before) > before * ESTIMATE_CHANGE) this.invalidate(peer.room, peer);
  }

  #recompute(room: LiveRoom): void {
    if (room.media === null || this.#o.rooms.get(room.id) !== room) return;
    const dirty = room.selection.dirty;
    room.selection.dirty = new Set();
    const targets = dirty === 'all' ? [...room.peers.values()] : [...dirty].filter((p) => room.peers.get(p.identity) === p);
    if (targets.length === 0) return;
    const { sfu, rooms } = this.#o;
    // The routed tracks per subscriber (routing decides who may receive what; selection only narrows video).
    const routed = new Map<string, { video: { publisherId: string; trackId: string }[]; audio: number }>();
    for (const edge of sfu.routing(room.id)) {
      const entry = routed.get(edge.subscriberId) ?? { video: [], audio: 0 };
      routed.set(edge.subscriberId, entry);
      if (edge.kind === 'audio') entry.audio++;
      else entry.video.push({ publisherId: edge.publisherId, trackId: edge.trackId });
    }
    const speakers = [...room.spoke.entries()].sort((a, b) => b[1] - a[1]).map(([identity]) => identity);
    const policy = room.media;
    const layersCache = new Map<string, LayerOffer[]>();
    for (const peer of targets) {
      const session = peer.session;
      if (!session || session.closed) continue;
      const state = peer.selection;
      if (state.sessionId !== session.id) {
        state.sessionId = session.id;
        state.applied.clear();
      }
      const mine = routed.get(session.id) ?? { video: [], audio: 0 };
      const videos: (RemoteVideo & { publisherId: string })[] = [];
      for (const { publisherId, trackId } of mine.video) {
        const publisher = rooms.peerOf(publisherId);
        const source = publisher?.tracks.get(trackId)?.source;
        if (!publisher || (source !== 'camera' && source !== 'screen')) continue;
        const cacheKey = `${publisherId}\u0000${source}`;
        let layers = layersCache.get(cacheKey);
        if (!layers) {
          layers = sfu.videoLayers(publisherId, source).map((l) => ({ layer: l.layer, bitrateBps: l.bitrateBps }));
          layersCache.set(cacheKey, layers);
        }
        videos.push({ identity: publisher.identity, source, joinedAt: publisher.joinedAt.getTime(), layers, muted: publisher.localMuted.has(source), publisherId });
      }
      const estimate = state.downlink?.bps ?? this.#o.downlinkBps;
      const result = allocate({
        policy: { mode: policy.mode, spotlight: policy.spotlight, lastN: policy.lastN },
        view: state.view,
        videos,
        speakers,
        budgetBps: estimate - mine.audio * this.#o.audioBitrateBps,
      });
      const publisherOf = new Map(videos.map((v) => [viewKey(v.identity, v.source), v.publisherId]));
      for (const r of result) {
        const publisherId = publisherOf.get(viewKey(r.identity, r.source))!;
        const choice = r.layer ?? 'off';
        const key = `${publisherId}\u0000${r.source}`;
        if (state.applied.get(key) === choice) continue;
        if (this.#setLayer(session.id, publisherId, r.source, choice)) state.applied.set(key, choice);
      }
      this.#tell(peer, result);
    }
  }

  #setLayer(subscriberId: string, publisherId: string, source: VideoSource, choice: VideoLayer | 'off'): boolean {
    try {
      this.#o.sfu.setVideoLayer(subscriberId, publisherId, source, choice);
      return true;
    } catch (err) {
      // A publisher or subscriber that left between the routing snapshot and now: the next recomputation settles it.
      this.#o.log.debug({ err }, 'rtc: setVideoLayer failed');
      return false;
    }
  }

  #tell(peer: Peer, result: readonly StreamAllocation[]): void {
    const states: RtcStreamState[] = result
      .map((r) => ({ identity: r.identity, source: r.source, state: r.layer ? ('active' as const) : ('paused' as const), layer: r.layer, reason: r.reason }))
      .sort((a, b) => (a.identity === b.identity ? a.source.localeCompare(b.source) : a.identity < b.identity ? -1 : 1));
    const told = JSON.stringify(states);
    if (told === peer.selection.told) return;
    if (send(peer, { type: 'streamStates', states })) peer.selection.told = told;
  }
}
