/**
 * The embedded SFU's side of the rooms layer: one object BuiltinProvider (provider.ts) drives, over
 *   rooms.ts             the live rooms of this process and their per-room state (peers, routing preferences,
 *                        overrides, revoked tokens, recording)
 *   visibility.ts        routing preferences → what each peer receives (SFU routing) and whom it sees
 *   signaling.ts         `WS /rtc` sessions: token auth, client messages, resume / takeover / ghost removal
 *   recording-control.ts recording a room: start / stop, files, recording events
 *   selection.ts         group rooms: which layer of each video each subscriber receives (policy, view, speakers, downlink)
 *   data.ts              data between participants, server data and notices
 *   media-stats.ts       media and network quality over a participant's stay (for participant.left)
 *   socket.ts            writing to a client's socket
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RtcIceServer, TrackKind } from '../../../shared/rtc.js';
import type { MediaPolicy, RoomEvent, RoutingState, RoutingUpdate } from '../provider.js';
import { RecordingControl } from './recording-control.js';
import { LiveRooms, type RoomSpec } from './rooms.js';
import { MediaSelection } from './selection.js';
import { Signaling } from './signaling.js';
import type { Sfu, SfuLogger } from './sfu/index.js';
import { endReasonFor } from './socket.js';
import type { TokenSigner } from './tokens.js';
import * as visibility from './visibility.js';

export { DEFAULT_GROUP } from './rooms.js';

export interface RtcServerOptions {
  sfu: Sfu;
  signer: TokenSigner;
  /** How long a participant whose socket dropped (or whose media failed) keeps its place. */
  reconnectGraceMs: number;
  iceServersFor(identity: string): RtcIceServer[];
  emit(event: RoomEvent): void;
  log: SfuLogger;
  maxPayloadBytes: number;
  /** Recordings go to <recordingsDir>/<orgId>/<roomId>/. */
  recordingsDir: string;
  /** WebSocket ping interval; a socket that misses two pongs is dropped. Default 5000. */
  heartbeatMs?: number;
  /** A socket must send `join` within this long. Default 10000. */
  joinTimeoutMs?: number;
  /** Group rooms (config.groups): the most a subscriber is sent, and what one audio stream is reckoned at. */
  selection: { downlinkBps: number; audioBitrateBps: number; debounceMs?: number; refreshMs?: number };
}

export class RtcServer {
  readonly #sfu: Sfu;
  readonly #rooms = new LiveRooms();
  readonly #recording: RecordingControl;
  readonly #signaling: Signaling;
  readonly #selection: MediaSelection;

  constructor(options: RtcServerOptions) {
    const { sfu, recordingsDir, emit, log } = options;
    this.#sfu = sfu;
    this.#recording = new RecordingControl({ rooms: this.#rooms, sfu, recordingsDir, emit, log });
    this.#selection = new MediaSelection({ sfu, rooms: this.#rooms, log, ...options.selection });
    this.#signaling = new Signaling({
      rooms: this.#rooms,
      sfu,
      recording: this.#recording,
      selection: this.#selection,
      signer: options.signer,
      reconnectGraceMs: options.reconnectGraceMs,
      iceServersFor: options.iceServersFor,
      emit,
      log,
      maxPayloadBytes: options.maxPayloadBytes,
      heartbeatMs: options.heartbeatMs ?? 5000,
      joinTimeoutMs: options.joinTimeoutMs ?? 10_000,
    });
  }

  // ---- rooms ---------------------------------------------------------------------------------------------

  openRoom(spec: RoomSpec): boolean {
    return this.#rooms.open(spec);
  }

  /** The room's media policy changed (null: every video to everyone, as published); false when not live. */
  setMediaPolicy(roomId: string, policy: MediaPolicy | null): boolean {
    const room = this.#rooms.get(roomId);
    if (!room) return false;
    this.#selection.setPolicy(room, policy);
    return true;
  }

  isLive(roomId: string): boolean {
    return this.#rooms.has(roomId);
  }

  /** Closes a live room: when its participants were cut off (told and their sockets closed), or null if not live. */
  async closeRoom(roomId: string): Promise<Date | null> {
    const room = this.#rooms.delete(roomId);
    if (!room) return null;
    room.recording = null;
    this.#selection.forget(room);
    // Each removal tells its participant and closes its socket at once; the media sessions' teardown follows.
    const removals = [...room.peers.values()].map((peer) => this.#signaling.remove(peer, 'room_ended', 'room_ended'));
    const cut = new Date();
    await Promise.all(removals);
    await this.#sfu.closeRoom(roomId);
    this.#rooms.forgetOwners(roomId);
    return cut;
  }

  participants(roomId: string): { identity: string; connectedAt: Date }[] {
    return [...(this.#rooms.get(roomId)?.peers.values() ?? [])].map((p) => ({ identity: p.identity, connectedAt: p.joinedAt }));
  }

  async removeParticipant(roomId: string, identity: string, reason: string): Promise<boolean> {
    const peer = this.#rooms.get(roomId)?.peers.get(identity);
    if (!peer) return false;
    await this.#signaling.remove(peer, endReasonFor(reason), reason);
    return true;
  }

  /** Tokens of `identity` issued at or before `issuedBefore` no longer join this room (nor resume in it). */
  revokeTokens(roomId: string, identity: string, issuedBefore: Date): boolean {
    const room = this.#rooms.get(roomId);
    if (!room) return false;
    room.revoked.set(identity, Math.max(room.revoked.get(identity) ?? 0, issuedBefore.getTime()));
    return true;
  }

  // ---- routing -------------------------------------------------------------------------------------------

  /** Sets where a participant's media goes; works before the participant connects (applied on join). */
  setRouting(roomId: string, identity: string, update: RoutingUpdate): { state: RoutingState; changed: boolean } | null {
    const room = this.#rooms.get(roomId);
    if (!room) return null;
    const result = visibility.setRouting(this.#sfu, room, identity, update, (peer) => this.#recording.followPreference(peer));
    if (result.changed) this.#selection.invalidate(room);
    return result;
  }

  /** Per-pair override of the group rule (null removes it); a host mute still wins. */
  setSubscription(roomId: string, subscriber: string, publisher: string, kind: TrackKind | '*', allow: boolean | null): boolean {
    const room = this.#rooms.get(roomId);
    if (!room) return false;
    visibility.setSubscription(this.#sfu, room, subscriber, publisher, kind, allow);
    this.#selection.invalidate(room);
    return true;
  }

  // ---- recording -----------------------------------------------------------------------------------------

  /** Records every participant of the room, and whoever joins or publishes later, until stopRecording. */
  async startRecording(roomId: string): Promise<boolean> {
    const room = this.#rooms.get(roomId);
    if (!room) return false;
    await this.#recording.start(room);
    return true;
  }

  async stopRecording(roomId: string): Promise<boolean> {
    const room = this.#rooms.get(roomId);
    if (!room) return false;
    await this.#recording.stop(room);
    return true;
  }

  // ---- sockets and shutdown ------------------------------------------------------------------------------

  handleUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => this.#signaling.handleUpgrade(request, socket, head);

  /** Tells every client the server is going away (they reconnect later), then closes the sockets. */
  async shutdown(): Promise<void> {
    if (!(await this.#signaling.disconnectAll())) return;
    // Finalise recordings now, while the rooms layer still records their completion.
    await Promise.all([...this.#rooms.values()].filter((r) => r.recording).map((r) => this.#recording.stop(r)));
    this.#signaling.closeServer();
  }

  async close(): Promise<void> {
    await this.shutdown();
    this.#selection.close();
    this.#rooms.clear();
    await this.#sfu.close();
  }
}
