/**
 * Routing preferences → what each peer receives and whom it sees. The rooms layer sets a participant's group,
 * host mutes and `recorded` (setRouting) and per-pair overrides (setSubscription); this module keeps them on the
 * live room, hands the media part to the SFU (which decides edges with the pure rule in sfu/routing.ts) and
 * keeps each client's participant list true: a viewer sees the participants of its own group, an admin sees
 * everyone, and a change of group announces arrivals and departures (`moved`) to those concerned.
 */
import type { RtcParticipantInfo, RtcRoute, TrackKind } from '../../../shared/rtc.js';
import type { RoutingState, RoutingUpdate } from '../provider.js';
import { groupOf, prefOf, type LiveRoom, type LiveRooms, type Peer, type RoutingPreference } from './rooms.js';
import type { ForwardedTrack, Sfu, SfuParticipant } from './sfu/index.js';
import { overrideKey } from './sfu/routing.js';
import { send } from './socket.js';

export function routingStateOf(pref: RoutingPreference): RoutingState {
  return { group: pref.group, audioMuted: pref.hostMuted.has('audio'), videoMuted: pref.hostMuted.has('video'), recorded: pref.recorded };
}

/**
 * Sets where a participant's media goes; works before the participant connects (its preference is applied on
 * join). `onRecordedChange` runs when `recorded` changed, for a connected participant (recording-control.ts
 * starts or finalises its files). `changed` is false when the update changed nothing (nobody is told).
 */
export function setRouting(
  sfu: Sfu,
  room: LiveRoom,
  identity: string,
  update: RoutingUpdate,
  onRecordedChange: (peer: Peer) => void,
): { state: RoutingState; changed: boolean } {
  const pref = prefOf(room, identity);
  const peer = room.peers.get(identity);
  const before = routingStateOf(pref);
  if (update.group !== undefined) pref.group = update.group;
  for (const [kind, muted] of [['audio', update.audioMuted], ['video', update.videoMuted]] as const) {
    if (muted === undefined) continue;
    if (muted) pref.hostMuted.add(kind);
    else pref.hostMuted.delete(kind);
  }
  if (update.recorded !== undefined && update.recorded !== pref.recorded) {
    pref.recorded = update.recorded;
    if (peer) onRecordedChange(peer);
  }
  const state = routingStateOf(pref);
  const changed = state.group !== before.group || state.audioMuted !== before.audioMuted || state.videoMuted !== before.videoMuted || state.recorded !== before.recorded;
  if (!changed) return { state, changed };
  if (peer?.session) applyRouting(sfu, peer, peer.session);
  if (peer) {
    syncVisibility(room);
    broadcastUpdate(peer);
  }
  return { state, changed };
}

/** Per-pair override of the group rule (null removes it); a host mute still wins (sfu/routing.ts). */
export function setSubscription(sfu: Sfu, room: LiveRoom, subscriber: string, publisher: string, kind: TrackKind | '*', allow: boolean | null): void {
  const key = overrideKey(subscriber, publisher, kind);
  if (allow === null) room.overrides.delete(key);
  else room.overrides.set(key, { subscriber, publisher, kind, allow });
  const sub = room.peers.get(subscriber);
  const pub = room.peers.get(publisher);
  if (sub?.session && pub?.session) sfu.setRoute(sub.session.id, pub.session.id, kind, allow);
}

/** Gives a peer's (new) SFU session its group and mutes. */
export function applyRouting(sfu: Sfu, peer: Peer, session: SfuParticipant): void {
  const pref = prefOf(peer.room, peer.identity);
  sfu.setGroup(session.id, pref.group);
  for (const kind of ['audio', 'video'] as const) {
    // Without the publish grant nothing a participant sends reaches anyone (enforced by routing too).
    sfu.setMuted(session.id, kind, pref.hostMuted.has(kind) || !peer.grants.publish);
  }
}

/** Gives a peer's (new) SFU session the overrides it takes part in, with the peers connected now. */
export function applyOverrides(sfu: Sfu, peer: Peer): void {
  const room = peer.room;
  for (const o of room.overrides.values()) {
    if (o.subscriber !== peer.identity && o.publisher !== peer.identity) continue;
    const sub = room.peers.get(o.subscriber)?.session;
    const pub = room.peers.get(o.publisher)?.session;
    if (sub && pub) sfu.setRoute(sub.id, pub.id, o.kind, o.allow);
  }
}

/** Who appears in whose participant list: the same group, and admins see everyone. */
export function visible(viewer: Peer, subject: Peer): boolean {
  return viewer.grants.admin || groupOf(viewer) === groupOf(subject);
}

/** Tells each viewer about the participants it now sees and no longer sees (after a change of group). */
export function syncVisibility(room: LiveRoom): void {
  for (const viewer of room.peers.values()) {
    for (const subject of room.peers.values()) {
      if (subject === viewer) continue;
      const isVisible = visible(viewer, subject);
      const known = viewer.known.has(subject.identity);
      if (isVisible && !known) {
        viewer.known.add(subject.identity);
        send(viewer, { type: 'participantJoined', participant: participantInfo(subject) });
      } else if (!isVisible && known) {
        viewer.known.delete(subject.identity);
        send(viewer, { type: 'participantLeft', identity: subject.identity, reason: 'moved' });
      }
    }
  }
}

/** The participant list starting afresh (joined, resumed): whom the peer sees now, and remembers it told. */
export function knownParticipants(peer: Peer): RtcParticipantInfo[] {
  peer.known.clear();
  const participants: RtcParticipantInfo[] = [];
  for (const other of peer.room.peers.values()) {
    if (other === peer || !visible(peer, other)) continue;
    peer.known.add(other.identity);
    participants.push(participantInfo(other));
  }
  return participants;
}

/** A participant as others' lists show it: tracks with local and host mutes, network quality. */
export function participantInfo(peer: Peer): RtcParticipantInfo {
  const hostMuted = prefOf(peer.room, peer.identity).hostMuted;
  return {
    identity: peer.identity,
    joinedAt: peer.joinedAt.toISOString(),
    tracks: [...peer.tracks.values()].map((t) => ({ source: t.source, kind: t.kind, muted: peer.localMuted.has(t.source), hostMuted: hostMuted.has(t.kind) || !peer.grants.publish })),
    networkQuality: peer.quality,
  };
}

/** The peer changed (tracks, mutes): everyone who knows it, and the peer itself, get its new info. */
export function broadcastUpdate(peer: Peer): void {
  const participant = participantInfo(peer);
  for (const viewer of peer.room.peers.values()) {
    if (viewer === peer || viewer.known.has(peer.identity)) send(viewer, { type: 'participantUpdated', participant });
  }
}

/** A network quality level, to the peer itself and everyone who knows it. */
export function broadcastQuality(peer: Peer, level: number): void {
  for (const viewer of peer.room.peers.values()) {
    if (viewer === peer || viewer.known.has(peer.identity)) send(viewer, { type: 'networkQuality', identity: peer.identity, level });
  }
}

/** The SFU's dominant speaker of a group (null: nobody speaks), to the peers of that group. */
export function announceDominantSpeaker(room: LiveRoom, group: string, identity: string | null): void {
  for (const peer of room.peers.values()) if (groupOf(peer) === group) send(peer, { type: 'dominantSpeaker', identity });
}

/** What a subscriber's receiving m-lines carry, by identity (the client never sees SFU session ids). */
export function rtcRoutes(rooms: LiveRooms, routes: ForwardedTrack[]): RtcRoute[] {
  return routes.map((r) => ({
    mid: r.mid,
    kind: r.kind,
    identity: r.publisherId === null ? null : (rooms.peerOf(r.publisherId)?.identity ?? null),
    source: r.source,
  }));
}
