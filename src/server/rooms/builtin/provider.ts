import { EventEmitter } from 'node:events';
import { RTC_PATH, type RtcIceServer } from '../../../shared/rtc.js';
import type { Grants, MediaCapability, MediaPolicy, MediaProvider, MintedToken, MintTokenInput, ProviderHost, ProviderRoomSpec, RoomEvent, RoutingUpdate } from '../provider.js';
import { LocalRecordingStore } from './recordings.js';
import { RtcServer } from './rtc-server.js';
import { Sfu, type SfuLogger, type SfuOptions } from './sfu/index.js';
import type { TokenSigner } from './tokens.js';

export interface BuiltinProviderOptions {
  signer: TokenSigner;
  /** The signaling WebSocket URL clients connect to, e.g. ws://localhost:3000/rtc. */
  rtcUrl: string;
  sfu: SfuOptions;
  reconnectGraceMs: number;
  iceServersFor(identity: string): RtcIceServer[];
  maxPayloadBytes: number;
  /** Where recordings are written (one directory per organisation and room below it). */
  recordingsDir: string;
  /** Group rooms (config.groups): the most a subscriber is sent in all, and what one audio stream is reckoned at. */
  groups: { downlinkBps: number; audioBitrateBps: number };
  log?: SfuLogger;
}

/**
 * The embedded provider: rooms, the werift SFU and its signaling (`/rtc`) live in this process. A restart
 * forgets live media sessions; the rooms layer restores in-progress rooms (empty) and clients rejoin.
 */
export class BuiltinProvider implements MediaProvider {
  readonly name = 'builtin';
  readonly capabilities: readonly MediaCapability[] = ['routing', 'subscriptions', 'recording', 'tokenRevocation'];
  /** The SFU routes by the state set before a participant connects from its first packet. */
  readonly routingAtConnect = true;
  readonly recordings: LocalRecordingStore;
  readonly signer: TokenSigner;
  readonly sfu: Sfu;
  readonly rtc: RtcServer;
  readonly #rtcUrl: string;
  readonly #events = new EventEmitter();

  constructor(options: BuiltinProviderOptions) {
    this.signer = options.signer;
    this.#rtcUrl = options.rtcUrl;
    this.recordings = new LocalRecordingStore(options.recordingsDir);
    this.sfu = new Sfu({ ...options.sfu, ...(options.log ? { log: options.log } : {}) });
    this.rtc = new RtcServer({
      sfu: this.sfu,
      signer: options.signer,
      reconnectGraceMs: options.reconnectGraceMs,
      iceServersFor: options.iceServersFor,
      emit: (event) => this.#emit(event),
      log: options.log ?? this.sfu.log,
      maxPayloadBytes: options.maxPayloadBytes,
      recordingsDir: options.recordingsDir,
      selection: { downlinkBps: options.groups.downlinkBps, audioBitrateBps: options.groups.audioBitrateBps },
    });
  }

  #emit(event: RoomEvent): void {
    this.#events.emit('event', event);
  }

  attach(host: ProviderHost): void {
    host.registerUpgrade(RTC_PATH, this.rtc.handleUpgrade);
  }

  async createRoom(spec: ProviderRoomSpec) {
    this.rtc.openRoom(spec);
    this.#emit({ type: 'room.started', roomId: spec.roomId, at: new Date() });
    return { providerRoomId: spec.roomId };
  }

  async restoreRoom(spec: ProviderRoomSpec & { providerRoomId: string }) {
    this.rtc.openRoom({ ...spec, roomId: spec.providerRoomId });
    return true;
  }

  /** A group room's policy: the SFU selects what each subscriber receives by it (selection.ts). */
  async setMediaPolicy(providerRoomId: string, policy: MediaPolicy | null): Promise<void> {
    this.rtc.setMediaPolicy(providerRoomId, policy);
  }

  async endRoom(providerRoomId: string, reason: string): Promise<Date | void> {
    const cut = await this.rtc.closeRoom(providerRoomId);
    if (!cut) return;
    this.#emit({ type: 'room.ended', roomId: providerRoomId, at: cut, reason });
    return cut;
  }

  /** Whether the room is live in this process. */
  isLive(providerRoomId: string): boolean {
    return this.rtc.isLive(providerRoomId);
  }

  async listParticipants(providerRoomId: string) {
    return this.rtc.participants(providerRoomId);
  }

  async removeParticipant(providerRoomId: string, identity: string, reason: string) {
    return this.rtc.removeParticipant(providerRoomId, identity, reason);
  }

  async setRouting(providerRoomId: string, identity: string, update: RoutingUpdate) {
    return this.rtc.setRouting(providerRoomId, identity, update);
  }

  async setSubscription(providerRoomId: string, subscriber: string, publisher: string, kind: 'audio' | 'video' | '*', allow: boolean | null) {
    return this.rtc.setSubscription(providerRoomId, subscriber, publisher, kind, allow);
  }

  async startRecording(providerRoomId: string) {
    return this.rtc.startRecording(providerRoomId);
  }

  async stopRecording(providerRoomId: string) {
    return this.rtc.stopRecording(providerRoomId);
  }

  async revokeTokens(providerRoomId: string, identity: string, issuedBefore: Date) {
    return this.rtc.revokeTokens(providerRoomId, identity, issuedBefore);
  }

  async mintToken(input: MintTokenInput): Promise<MintedToken> {
    const grants: Grants = { ...input.grants };
    const { token, claims } = await this.signer.sign(
      { orgId: input.orgId, roomId: input.providerRoomId, roomName: input.roomName, identity: input.identity, grants },
      input.ttlSeconds,
    );
    return { token, expiresAt: claims.expiresAt, url: this.#rtcUrl };
  }

  onEvent(listener: (event: RoomEvent) => void): () => void {
    this.#events.on('event', listener);
    return () => this.#events.off('event', listener);
  }

  async shutdown() {
    await this.rtc.shutdown();
  }

  async close() {
    await this.rtc.close();
    this.#events.removeAllListeners();
  }
}
