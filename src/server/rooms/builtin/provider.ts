import { EventEmitter } from 'node:events';
import type { MediaProvider, MintedToken, ProviderParticipant, RoomEvent } from '../provider.js';
import type { TokenSigner } from './tokens.js';

export interface BuiltinProviderOptions {
  signer: TokenSigner;
  /** The signaling WebSocket URL clients connect to, e.g. ws://localhost:3000/rtc. */
  rtcUrl: string;
}

interface LiveRoom {
  orgId: string;
  participants: Map<string, ProviderParticipant>;
}

/**
 * The embedded provider: rooms live in this process. Media (the werift SFU and its signaling) attaches
 * to the live rooms kept here; this part owns the room registry, tokens and the event stream.
 */
export class BuiltinProvider implements MediaProvider {
  readonly name = 'builtin' as const;
  readonly signer: TokenSigner;
  readonly #rtcUrl: string;
  readonly #rooms = new Map<string, LiveRoom>();
  readonly #events = new EventEmitter();

  constructor(options: BuiltinProviderOptions) {
    this.signer = options.signer;
    this.#rtcUrl = options.rtcUrl;
  }

  #emit(event: RoomEvent): void {
    this.#events.emit('event', event);
  }

  async createRoom(spec: { roomId: string; orgId: string }) {
    this.#rooms.set(spec.roomId, { orgId: spec.orgId, participants: new Map() });
    this.#emit({ type: 'room.started', roomId: spec.roomId, at: new Date() });
    return { providerRoomId: spec.roomId };
  }

  async endRoom(providerRoomId: string, reason: string) {
    const room = this.#rooms.get(providerRoomId);
    if (!room) return;
    for (const identity of [...room.participants.keys()]) await this.removeParticipant(providerRoomId, identity, 'room_ended');
    this.#rooms.delete(providerRoomId);
    this.#emit({ type: 'room.ended', roomId: providerRoomId, at: new Date(), reason });
  }

  /** Whether the room is live in this process (a restart forgets media sessions; the rooms layer reconciles). */
  isLive(providerRoomId: string): boolean {
    return this.#rooms.has(providerRoomId);
  }

  async listParticipants(providerRoomId: string) {
    return [...(this.#rooms.get(providerRoomId)?.participants.values() ?? [])];
  }

  /** Called by the signaling layer when a participant's media session is established. */
  participantConnected(providerRoomId: string, identity: string): boolean {
    const room = this.#rooms.get(providerRoomId);
    if (!room) return false;
    if (!room.participants.has(identity)) {
      const connectedAt = new Date();
      room.participants.set(identity, { identity, connectedAt });
      this.#emit({ type: 'participant.joined', roomId: providerRoomId, identity, at: connectedAt });
    }
    return true;
  }

  async removeParticipant(providerRoomId: string, identity: string, reason: string) {
    const room = this.#rooms.get(providerRoomId);
    if (!room?.participants.delete(identity)) return false;
    this.#emit({ type: 'participant.left', roomId: providerRoomId, identity, at: new Date(), reason });
    return true;
  }

  async mintToken(input: { roomId: string; roomName: string; orgId: string; identity: string; grants: import('../provider.js').Grants; ttlSeconds: number }): Promise<MintedToken> {
    const { token, claims } = await this.signer.sign(
      { orgId: input.orgId, roomId: input.roomId, roomName: input.roomName, identity: input.identity, grants: input.grants },
      input.ttlSeconds,
    );
    return { token, expiresAt: claims.expiresAt, url: this.#rtcUrl };
  }

  onEvent(listener: (event: RoomEvent) => void): () => void {
    this.#events.on('event', listener);
    return () => this.#events.off('event', listener);
  }

  async close() {
    this.#rooms.clear();
    this.#events.removeAllListeners();
  }
}
