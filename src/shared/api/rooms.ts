import Type from 'typebox';
import { IsoDateTime, Uuid } from './common.js';

/** Letters, digits, `-` and `_`, 1 to 128 characters. */
export const RoomName = Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$', description: 'Letters, digits, - and _ (1 to 128).' });
/** An opaque id chosen by the host app (never a name or an email: it reaches logs and the audit trail). */
export const Identity = Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$', description: 'Letters, digits, _ . : - (1 to 128). Use ids, not names.' });

export const Room = Type.Object({
  id: Uuid,
  name: Type.String(),
  status: Type.Union([Type.Literal('in-progress'), Type.Literal('completed')]),
  provider: Type.String(),
  maxParticipants: Type.Integer(),
  maxParticipantDurationSeconds: Type.Integer(),
  emptyRoomTimeoutSeconds: Type.Integer(),
  unusedRoomTimeoutSeconds: Type.Integer(),
  createdAt: IsoDateTime,
  endedAt: Type.Union([IsoDateTime, Type.Null()]),
  endReason: Type.Union([Type.String(), Type.Null()]),
});
export type Room = Type.Static<typeof Room>;

export const CreateRoomBody = Type.Object(
  {
    name: RoomName,
    maxParticipants: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
    maxParticipantDurationSeconds: Type.Optional(Type.Integer({ minimum: 10, maximum: 86_400 })),
    emptyRoomTimeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
    unusedRoomTimeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
  },
  { additionalProperties: false },
);
export type CreateRoomBody = Type.Static<typeof CreateRoomBody>;

export const RoomParams = Type.Object({ name: RoomName });
export const ParticipantParams = Type.Object({ name: RoomName, identity: Identity });

export const RoomParticipant = Type.Object({
  identity: Type.String(),
  status: Type.Union([Type.Literal('connected'), Type.Literal('disconnected')]),
  joinedAt: IsoDateTime,
  leftAt: Type.Union([IsoDateTime, Type.Null()]),
  durationSeconds: Type.Union([Type.Integer(), Type.Null()]),
});

export const GrantsBody = Type.Object(
  {
    publish: Type.Optional(Type.Boolean()),
    subscribe: Type.Optional(Type.Boolean()),
    data: Type.Optional(Type.Boolean()),
    admin: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const TokenBody = Type.Object(
  {
    room: RoomName,
    identity: Identity,
    ttlSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: 86_400, description: 'Default 14400 (4 h): a live connection cannot be re-tokened.' })),
    grants: Type.Optional(GrantsBody),
  },
  { additionalProperties: false },
);
export type TokenBody = Type.Static<typeof TokenBody>;

/** The participant channel: the server's own socket for notices and server messages, whatever the provider. */
export const ChannelAccess = Type.Object(
  {
    url: Type.String({ description: 'The channel WebSocket (`/api/v1/channel`).' }),
    token: Type.String({ description: 'Sent in the first message (`{"type":"auth","token"}`), never in the URL; lives as long as the media token.' }),
  },
  { description: "The participant channel: server notices (admission, recording) and server messages (chat, the survey link) reach the participant here, whatever the media provider. The SDK connects it with the room." },
);
export type ChannelAccess = Type.Static<typeof ChannelAccess>;

/**
 * How the room shares media out, and what the SDK publishes: present on rooms with a media policy (group visits).
 * The same policy (without the publishing settings) also comes on the channel (`media`) whenever it changes.
 */
export const TokenMedia = Type.Object({
  /** Publish the camera in three layers (simulcast) so the server (or Twilio) can send each viewer the one it needs. */
  simulcast: Type.Boolean(),
  mode: Type.Union([Type.Literal('collaboration'), Type.Literal('presentation'), Type.Literal('grid')]),
  /** The identity everyone shows first; null: none. */
  spotlight: Type.Union([Type.String(), Type.Null()]),
  /** At most this many remote videos are received at once (Twilio: the bandwidth profile's maxTracks). */
  lastN: Type.Integer({ minimum: 1 }),
  /** Opus bitrate cap (seed 002: 16 kbps). */
  audioBitrateBps: Type.Integer(),
  /** The camera to ask for (ideal). */
  video: Type.Object({ width: Type.Integer(), height: Type.Integer(), frameRate: Type.Integer() }),
});
export type TokenMedia = Type.Static<typeof TokenMedia>;

export const TokenResponse = Type.Object({
  token: Type.String(),
  room: Type.String(),
  identity: Type.String(),
  expiresIn: Type.Integer({ description: 'Seconds.' }),
  provider: Type.String(),
  url: Type.String({ description: 'Where the SDK connects.' }),
  channel: ChannelAccess,
  media: Type.Optional(TokenMedia),
});

/** Where a participant's media goes (server-authoritative); may be set before the participant joins. */
export const ParticipantRoutingBody = Type.Object(
  {
    group: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'Participants receive the media of their own group only. Default "main".' })),
    audioMuted: Type.Optional(Type.Boolean({ description: 'Host mute: nobody receives this participant’s audio.' })),
    videoMuted: Type.Optional(Type.Boolean({ description: 'Nobody receives this participant’s video.' })),
    recorded: Type.Optional(Type.Boolean({ description: 'Whether this participant is recorded while the room is being recorded (default true).' })),
  },
  { additionalProperties: false, minProperties: 1 },
);
export type ParticipantRoutingBody = Type.Static<typeof ParticipantRoutingBody>;

export const ParticipantRouting = Type.Object({
  identity: Type.String(),
  group: Type.String(),
  audioMuted: Type.Boolean(),
  videoMuted: Type.Boolean(),
  recorded: Type.Boolean(),
});
export type ParticipantRouting = Type.Static<typeof ParticipantRouting>;

export const Recording = Type.Object({
  id: Uuid,
  identity: Type.String(),
  content: Type.Union([Type.Literal('camera'), Type.Literal('microphone'), Type.Literal('screen'), Type.Literal('composition')], {
    description:
      'camera: the camera (builtin: with the microphone); microphone: the microphone alone (Twilio records each track apart); screen: the screen share; composition: the whole room in one file (identity empty).',
  }),
  status: Type.Union([Type.Literal('recording'), Type.Literal('completed'), Type.Literal('failed')]),
  startedAt: IsoDateTime,
  endedAt: Type.Union([IsoDateTime, Type.Null()]),
  durationSeconds: Type.Union([Type.Number(), Type.Null()]),
  bytes: Type.Union([Type.Integer(), Type.Null()]),
  mediaType: Type.String({ description: 'The file’s media type, as the media provider recorded it (the builtin provider: video/webm); the download is served with it.' }),
  error: Type.Union([Type.String(), Type.Null()]),
  deletedAt: Type.Union([IsoDateTime, Type.Null()], { description: 'When the file was deleted (retention period); the record stays.' }),
});
export type Recording = Type.Static<typeof Recording>;

/** A recording's bytes, as its provider stored them (the Content-Type is the recording's mediaType). */
export const RecordingMediaResponse = Type.Unsafe<unknown>({ type: 'string', format: 'binary', description: 'The recording’s file, in its mediaType (builtin provider: video/webm).' });

export const RecordingState = Type.Object({ room: Type.String(), recording: Type.Boolean() });
export const RecordingParams = Type.Object({ id: Uuid });
