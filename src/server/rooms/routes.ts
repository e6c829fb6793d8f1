import Type from 'typebox';
import {
  CreateRoomBody,
  ParticipantParams,
  ParticipantRouting,
  ParticipantRoutingBody,
  Recording,
  RecordingMediaResponse,
  RecordingParams,
  RecordingState,
  Room,
  RoomParams,
  RoomParticipant,
  TokenBody,
  TokenResponse,
} from '../../shared/api/rooms.js';
import { callerKey, ctxOf, type App } from '../context.js';
import { AppError } from '../http/errors.js';
import { authErrors } from '../http/schemas.js';
import { ErrorResponse } from '../../shared/api/common.js';
import {
  createRoom,
  endRoom,
  getRoomByName,
  issueToken,
  listRoomParticipants,
  listRoomRecordings,
  openRecording,
  removeRoomParticipant,
  routeParticipant,
  setRoomRecording,
} from './service.js';

const WRITERS = ['admin', 'clinician'] as const;

/** The rooms API for host apps (API key) and staff: the seeds' token service, done properly. */
export async function roomRoutes(app: App): Promise<void> {
  const { config } = app.deps;
  const deps = app.rooms;
  const tags = ['rooms'];

  app.post(
    '/rooms',
    { config: { roles: WRITERS }, schema: { tags, summary: 'Create a room', body: CreateRoomBody, response: { 201: Room, ...authErrors, 502: ErrorResponse } } },
    async (request, reply) => reply.status(201).send(await createRoom(deps, ctxOf(request), request.body)),
  );

  app.get(
    '/rooms/:name',
    { schema: { tags, summary: 'Get a room (the one in progress, else the latest of that name)', params: RoomParams, response: { 200: Room, ...authErrors } } },
    async (request) => getRoomByName(deps, ctxOf(request), request.params.name),
  );

  app.post(
    '/rooms/:name/end',
    { config: { roles: WRITERS }, schema: { tags, summary: 'End a room for everyone', params: RoomParams, response: { 200: Room, ...authErrors } } },
    async (request) => endRoom(deps, ctxOf(request), request.params.name),
  );

  app.get(
    '/rooms/:name/participants',
    {
      schema: { tags, summary: "A room's participants, connected and past", params: RoomParams, response: { 200: Type.Object({ data: Type.Array(RoomParticipant) }), ...authErrors } },
    },
    async (request) => ({ data: await listRoomParticipants(deps, ctxOf(request), request.params.name) }),
  );

  app.post(
    '/rooms/:name/participants/:identity/remove',
    { config: { roles: WRITERS }, schema: { tags, summary: 'Disconnect a participant', params: ParticipantParams, response: { 204: Type.Null(), ...authErrors } } },
    async (request, reply) => {
      await removeRoomParticipant(deps, ctxOf(request), request.params.name, request.params.identity);
      return reply.status(204).send(null);
    },
  );

  app.patch(
    '/rooms/:name/participants/:identity',
    {
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: "Set where a participant's media goes (group, host mute); works before they join",
        params: ParticipantParams,
        body: ParticipantRoutingBody,
        response: { 200: ParticipantRouting, ...authErrors, 501: ErrorResponse, 502: ErrorResponse },
      },
    },
    async (request) => routeParticipant(deps, ctxOf(request), request.params.name, request.params.identity, request.body),
  );

  for (const [action, on] of [['start', true], ['stop', false]] as const) {
    app.post(
      `/rooms/:name/recording/${action}`,
      {
        config: { roles: WRITERS },
        schema: {
          tags,
          summary: on ? 'Start recording everyone in the room (and whoever joins)' : 'Stop recording; the files are final when this answers',
          params: RoomParams,
          response: { 200: RecordingState, ...authErrors, 501: ErrorResponse, 502: ErrorResponse },
        },
      },
      async (request) => setRoomRecording(deps, ctxOf(request), request.params.name, on),
    );
  }

  app.get(
    '/rooms/:name/recordings',
    { schema: { tags, summary: "A room's recordings (one file per participant and stretch)", params: RoomParams, response: { 200: Type.Object({ data: Type.Array(Recording) }), ...authErrors } } },
    async (request) => ({ data: await listRoomRecordings(deps, ctxOf(request), request.params.name) }),
  );

  app.get(
    '/recordings/:id/media',
    {
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: 'Download a finished recording (in its mediaType); audited',
        params: RecordingParams,
        response: { 200: RecordingMediaResponse, ...authErrors, 501: ErrorResponse },
      },
    },
    async (request, reply) => {
      const opened = await openRecording(deps, ctxOf(request), request.params.id);
      return reply
        .type(opened.contentType)
        .header('content-length', opened.bytes)
        .header('content-disposition', `attachment; filename="recording-${opened.recording.id}.${opened.extension}"`)
        .header('cache-control', 'no-store')
        .send(opened.stream);
    },
  );

  // Documents the participant channel in the OpenAPI reference. The WebSocket itself is served by the upgrade
  // router (channel.ts); a plain HTTP GET reaching this route is told to upgrade.
  app.get(
    '/channel',
    {
      config: { auth: 'public' },
      schema: {
        tags,
        summary: "A participant's channel: server notices and messages in a room (WebSocket)",
        description:
          'Open with a WebSocket client, then send `{"type":"auth","token"}` with the `channel.token` of a token answer (never in the URL). ' +
          'Answers `{"type":"ready","room","identity","heartbeatSeconds"}`, then `{"type":"data","from":null,"payload"}` (chat, the survey link) ' +
          'and `{"type":"notice","code","message"}` (admission, recording) as the server sends them, the same whatever the media provider; ' +
          '`{"type":"ping"}` is answered `{"type":"pong"}`, and `{"type":"reconnect","retryAfterMs"}` comes before a restart (close code 1012). ' +
          'Close codes: 4000 removed or denied, 4001 invalid token, 4002 token expired, 4003 room ended, 4004 room not found, 4400 protocol error. ' +
          'A plain HTTP GET answers 426.',
        security: [],
        response: { 101: Type.Null({ description: 'Switching Protocols: the WebSocket is open.' }), 426: ErrorResponse },
      },
    },
    async () => {
      throw new AppError('upgrade_required');
    },
  );

  app.post(
    '/tokens',
    {
      config: {
        roles: WRITERS,
        // Per caller, not per IP: a host app mints tokens for all its users from one address.
        rateLimit: {
          max: config.rateLimits.tokenPerMinute,
          timeWindow: '1 minute',
          keyGenerator: (request) => callerKey(request.principal, request.ip),
        },
      },
      schema: { tags, summary: 'Mint an access token for one identity in one room', body: TokenBody, response: { 201: TokenResponse, ...authErrors, 429: ErrorResponse } },
    },
    async (request, reply) => reply.status(201).send(await issueToken(deps, ctxOf(request), request.body)),
  );
}
