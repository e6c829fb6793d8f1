import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import twilio from 'twilio';
import Type from 'typebox';
import { ErrorResponse } from '../../../shared/api/common.js';
import { errorBody } from '../../http/errors.js';
import { addFormParser } from '../../http/forms.js';

/** Where Twilio posts the rooms' and compositions' status callbacks (each room's and composition's StatusCallback). */
export const TWILIO_VIDEO_CALLBACK_PATH = '/webhooks/twilio/video';

/** One status callback in our words: what the provider needs of Twilio's form fields, typed. */
export interface VideoCallback {
  event: string;
  /** Twilio's Timestamp: when it happened (the order of events, not SequenceNumber). */
  timestamp: Date;
  sequenceNumber: string | null;
  roomSid: string | null;
  participantSid: string | null;
  participantIdentity: string | null;
  /** Seconds the participant was connected (participant-disconnected). */
  participantDuration: number | null;
  trackSid: string | null;
  trackKind: string | null;
  trackName: string | null;
  recordingSid: string | null;
  /** The track a recording is of. */
  sourceSid: string | null;
  container: string | null;
  compositionSid: string | null;
  format: string | null;
  duration: number | null;
  size: number | null;
  failure: string | null;
}

const text = (v: string | undefined) => (v === undefined || v === '' ? null : v);
const num = (v: string | undefined) => {
  const n = v === undefined || v === '' ? NaN : Number(v);
  return Number.isFinite(n) ? n : null;
};

/** Twilio's form as a VideoCallback; null without an event or a valid Timestamp (nothing to order it by). */
export function parseVideoCallback(p: Record<string, string>): VideoCallback | null {
  const event = p.StatusCallbackEvent;
  const timestamp = p.Timestamp ? new Date(p.Timestamp) : null;
  if (!event || !timestamp || Number.isNaN(timestamp.getTime())) return null;
  return {
    event,
    timestamp,
    sequenceNumber: text(p.SequenceNumber),
    roomSid: text(p.RoomSid),
    participantSid: text(p.ParticipantSid),
    participantIdentity: text(p.ParticipantIdentity),
    participantDuration: num(p.ParticipantDuration),
    trackSid: text(p.TrackSid),
    trackKind: text(p.TrackKind),
    trackName: text(p.TrackName),
    recordingSid: text(p.RecordingSid),
    sourceSid: text(p.SourceSid),
    container: text(p.Container),
    compositionSid: text(p.CompositionSid),
    format: text(p.Format),
    duration: num(p.Duration ?? p.RecordingDuration),
    size: num(p.Size ?? p.RecordingSize),
    failure: text(p.FailedOperation ?? p.ErrorMessage ?? p.ErrorCode),
  };
}

/**
 * The status-callback route. Signed (X-Twilio-Signature, HMAC-SHA1 keyed by the auth token) over the exact URL Twilio
 * called, which is PUBLIC_URL plus the path: behind a proxy the URL this server sees differs, so it is never rebuilt
 * from the request. Unsigned, altered or mis-addressed requests are refused (403) and change nothing.
 */
export function twilioVideoCallbackRoutes(options: { authToken: string; publicUrl: string; handle(callback: VideoCallback): Promise<void> }): FastifyPluginAsync {
  return async (app: FastifyInstance) => {
    addFormParser(app);
    const field = (description: string) => Type.Optional(Type.String({ description }));
    app.post(
      TWILIO_VIDEO_CALLBACK_PATH,
      {
        schema: {
          tags: ['twilio'],
          summary: 'Twilio Video’s status callbacks (rooms and compositions; the StatusCallback of the rooms and compositions this server creates)',
          description: 'Form-encoded, as Twilio posts it. Events are applied once each and in order per participant, track, recording and composition; unknown events are acknowledged and ignored.',
          security: [],
          consumes: ['application/x-www-form-urlencoded'],
          headers: Type.Object({
            'x-twilio-signature': Type.Optional(Type.String({ description: 'Twilio’s HMAC-SHA1 signature of PUBLIC_URL + path and the form fields, keyed by TWILIO_AUTH_TOKEN. Required: without a valid one the answer is 403 signature_invalid.' })),
          }),
          body: Type.Object(
            {
              StatusCallbackEvent: field('room-created, room-ended, participant-connected, participant-disconnected, track-added, track-removed, recording-started, recording-completed, recording-failed, composition-*…'),
              Timestamp: field('When it happened (ISO 8601): events are ordered by it.'),
              RoomSid: field('The room (RM…).'),
              ParticipantSid: field('The participant (PA…).'),
              ParticipantIdentity: field('The participant’s identity: the OpenVisit identity.'),
            },
            { additionalProperties: Type.String() },
          ),
          response: { 204: Type.Unsafe<void>({ type: 'null', description: 'Recorded (or ignored).' }), 400: ErrorResponse, 403: ErrorResponse },
        },
      },
      async (request, reply) => {
        const fields = typeof request.body === 'object' && request.body !== null ? (request.body as Record<string, string>) : null;
        const signature = request.headers['x-twilio-signature'];
        if (!fields || typeof signature !== 'string' || !twilio.validateRequest(options.authToken, signature, `${options.publicUrl}${request.url}`, fields)) {
          return reply.status(403).send(errorBody('signature_invalid', request.id));
        }
        const callback = parseVideoCallback(fields);
        if (!callback) return reply.status(400).send(errorBody('bad_request', request.id, 'StatusCallbackEvent and a valid Timestamp are required.'));
        await options.handle(callback);
        return reply.status(204).send();
      },
    );
  };
}
