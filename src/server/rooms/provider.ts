/**
 * The media provider seam. The rooms layer (service.ts) is the only caller; features (visits, breakouts,
 * check-ins) go through the rooms layer and never see a provider. Adapters live beside this file
 * (builtin/, later twilio/) and are chosen by MEDIA_PROVIDER.
 */

export interface Grants {
  /** May send audio, camera and screen share. */
  publish: boolean;
  /** May receive others' media (still subject to server-side routing). */
  subscribe: boolean;
  /** May send and receive data messages (chat). */
  data: boolean;
  /** Host rights inside the media session (e.g. see everyone's network quality). */
  admin: boolean;
}

export const DEFAULT_GRANTS: Readonly<Grants> = Object.freeze({ publish: true, subscribe: true, data: true, admin: false });

export interface ProviderRoomSpec {
  /** Our room id (uuid); the provider may keep its own id too. */
  roomId: string;
  orgId: string;
  name: string;
  maxParticipants: number;
}

export interface ProviderRoom {
  /** The provider's id for the room (Twilio: RM…; builtin: our room id). */
  providerRoomId: string;
  providerData?: Record<string, unknown>;
}

export interface MintTokenInput {
  roomId: string;
  roomName: string;
  providerRoomId: string;
  orgId: string;
  identity: string;
  grants: Grants;
  ttlSeconds: number;
}

export interface MintedToken {
  token: string;
  expiresAt: Date;
  /** Where the client connects (builtin: the signaling WebSocket URL). */
  url: string;
}

export interface ProviderParticipant {
  identity: string;
  connectedAt: Date;
}

/** Normalised room events, whatever the provider. */
export type RoomEvent =
  | { type: 'room.started'; roomId: string; at: Date }
  | { type: 'room.ended'; roomId: string; at: Date; reason: string }
  | { type: 'participant.joined'; roomId: string; identity: string; at: Date }
  | { type: 'participant.left'; roomId: string; identity: string; at: Date; reason: string }
  | { type: 'track.published'; roomId: string; identity: string; kind: 'audio' | 'video'; source: 'microphone' | 'camera' | 'screen'; at: Date }
  | { type: 'track.unpublished'; roomId: string; identity: string; kind: 'audio' | 'video'; source: 'microphone' | 'camera' | 'screen'; at: Date }
  | { type: 'recording.started'; roomId: string; identity: string; at: Date }
  | { type: 'recording.completed'; roomId: string; identity: string; at: Date; file: string };

export interface MediaProvider {
  readonly name: 'builtin' | 'twilio';
  createRoom(spec: ProviderRoomSpec): Promise<ProviderRoom>;
  /** Ends the room for everyone; idempotent. */
  endRoom(providerRoomId: string, reason: string): Promise<void>;
  listParticipants(providerRoomId: string): Promise<ProviderParticipant[]>;
  /** Disconnects one participant; resolves false when they were not connected. */
  removeParticipant(providerRoomId: string, identity: string, reason: string): Promise<boolean>;
  mintToken(input: MintTokenInput): Promise<MintedToken>;
  /** Normalised events; the rooms layer persists them and fans them out. Returns an unsubscribe function. */
  onEvent(listener: (event: RoomEvent) => void): () => void;
  close(): Promise<void>;
}
