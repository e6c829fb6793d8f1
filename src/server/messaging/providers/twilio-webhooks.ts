import twilio from 'twilio';
import Type from 'typebox';
import type { FastifyInstance } from 'fastify';
import { ErrorResponse } from '../../../shared/api/common.js';
import { errorBody } from '../../http/errors.js';
import { addFormParser } from '../../http/forms.js';
import type { MessagingWebhookReceiver, ReportedStatus, StatusUpdate, WebhookRequest } from '../provider.js';
import { TWILIO_OPTED_OUT, twilioErrorReason } from './twilio-errors.js';

/** Where Twilio posts incoming texts (set as the number's or messaging service's "A message comes in" URL). */
export const TWILIO_INBOUND_PATH = '/webhooks/twilio/sms';
/** Where Twilio reports the status of the messages we send (each send's StatusCallback, with ?m=<our id>). */
export const TWILIO_STATUS_PATH = '/webhooks/twilio/sms-status';

/** The StatusCallback of one of our messages: our id in the query, so a report may beat the send's own answer. */
export function twilioStatusCallbackUrl(publicUrl: string, messageId: string): string {
  return `${publicUrl}${TWILIO_STATUS_PATH}?m=${messageId}`;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';

/** Twilio's status word as ours (queued/accepted/scheduled are still on their way); null for a word not known. */
export function statusFromTwilio(word: string): ReportedStatus | null {
  switch (word) {
    case 'accepted':
    case 'queued':
    case 'scheduled':
    case 'sending':
      return 'sending';
    case 'sent':
      return 'sent';
    case 'delivered':
    case 'read':
      return 'delivered';
    case 'undelivered':
      return 'undelivered';
    case 'failed':
      return 'failed';
    case 'canceled':
      return 'canceled';
    default:
      return null;
  }
}

/** The form fields of a parsed request (the routes' parser makes an object of strings), or null. */
function fieldsOf(request: WebhookRequest): Record<string, string> | null {
  return typeof request.body === 'object' && request.body !== null ? (request.body as Record<string, string>) : null;
}

/**
 * Twilio's webhooks: incoming texts and message status callbacks. Both are form posts signed (X-Twilio-Signature,
 * HMAC-SHA1 keyed by the account's auth token) over the exact URL Twilio called, which is PUBLIC_URL plus the path
 * (and query): behind a proxy the URL this server sees differs, so it is never rebuilt from the request. An
 * unsigned or altered request is refused (403) and changes nothing.
 */
export function createTwilioWebhookReceiver(options: { authToken: string; publicUrl: string }): MessagingWebhookReceiver {
  const receiver: MessagingWebhookReceiver = {
    verify(request) {
      const signature = request.headers['x-twilio-signature'];
      const fields = fieldsOf(request);
      if (typeof signature !== 'string' || !fields) return false;
      return twilio.validateRequest(options.authToken, signature, `${options.publicUrl}${request.url}`, fields);
    },

    parseInbound(request) {
      const p = fieldsOf(request);
      if (!p?.MessageSid || !p.From || p.Body === undefined) return null;
      // What received the text routes it to an organisation (its number, else its messaging service).
      return { providerMessageId: p.MessageSid, from: p.From, to: p.To ?? '', body: p.Body, service: p.MessagingServiceSid || undefined };
    },

    parseStatus(request) {
      const p = fieldsOf(request);
      const sid = p?.MessageSid ?? p?.SmsSid;
      if (!p || !sid) return null;
      const m = new URL(request.url, 'http://callback.invalid').searchParams.get('m');
      const errorCode = p.ErrorCode || null;
      const update: StatusUpdate = {
        providerMessageId: sid,
        messageId: m && UUID.test(m) ? m : undefined,
        status: statusFromTwilio(p.MessageStatus ?? p.SmsStatus ?? ''),
        errorCode,
        errorReason: twilioErrorReason(errorCode),
        optedOut: errorCode === TWILIO_OPTED_OUT,
      };
      return update;
    },

    async routes(app: FastifyInstance, handlers) {
      addFormParser(app);

      // What Twilio posts (form-encoded, Twilio's field names). Every field is optional here and others pass: the
      // signature is checked over the exact fields Twilio sent before anything else, and the handler names what is missing.
      const field = (description: string) => Type.Optional(Type.String({ description }));
      const twilioCommon = {
        MessageSid: field('The message’s SID (SM…).'),
        SmsSid: field('The same SID, under its older name.'),
        AccountSid: field('The Twilio account (AC…).'),
        MessagingServiceSid: field('The messaging service (MG…), when the number belongs to one.'),
        From: field('The sender, E.164.'),
        To: field('The recipient, E.164.'),
      };
      const signatureHeader = Type.Object({
        'x-twilio-signature': Type.Optional(Type.String({ description: 'Twilio’s HMAC-SHA1 signature of PUBLIC_URL + path (and query) and the form fields, keyed by TWILIO_AUTH_TOKEN. Required: without a valid one the answer is 403 signature_invalid and nothing changes.' })),
      });
      // 400 bad_request: a required field is missing; 403 signature_invalid: the signature is missing or does not match.
      const twilioErrors = { 400: ErrorResponse, 403: ErrorResponse };
      const smsSchema = {
        tags: ['twilio'],
        summary: 'Twilio’s incoming-text webhook (set as the number’s or messaging service’s “A message comes in” URL)',
        description: 'Form-encoded, as Twilio posts it. Answers an empty TwiML response (no automatic reply is sent by Twilio).',
        security: [],
        consumes: ['application/x-www-form-urlencoded'],
        produces: ['text/xml'],
        headers: signatureHeader,
        body: Type.Object({ ...twilioCommon, Body: field('The text of the message.'), NumMedia: field('How many media files are attached.'), NumSegments: field('How many segments it arrived in.') }, { additionalProperties: Type.String() }),
        response: { 200: Type.String({ description: 'An empty TwiML document: <Response></Response>.' }), ...twilioErrors },
      };
      const statusSchema = {
        tags: ['twilio'],
        summary: 'Twilio’s message status callback (the StatusCallback of messages this server sends)',
        description: 'Form-encoded, as Twilio posts it. An unknown status word is acknowledged and ignored.',
        security: [],
        consumes: ['application/x-www-form-urlencoded'],
        headers: signatureHeader,
        querystring: Type.Object({ m: Type.Optional(Type.String({ description: 'The OpenVisit message id, set by this server in the callback URL.' })) }, { additionalProperties: Type.String() }),
        body: Type.Object(
          { ...twilioCommon, MessageStatus: field('queued, sending, sent, delivered, undelivered, failed, read, …'), SmsStatus: field('The same status, under its older name.'), ErrorCode: field('Twilio’s error code, when it failed.') },
          { additionalProperties: Type.String() },
        ),
        response: { 204: Type.Unsafe<void>({ type: 'null', description: 'Recorded (or ignored).' }), ...twilioErrors },
      };

      app.post(TWILIO_INBOUND_PATH, { schema: smsSchema }, async (request, reply) => {
        if (!receiver.verify(request)) return reply.status(403).send(errorBody('signature_invalid', request.id));
        const text = receiver.parseInbound(request);
        if (!text) return reply.status(400).send(errorBody('bad_request', request.id, 'MessageSid, From and Body are required.'));
        await handlers.inbound(text);
        return reply.type('text/xml').send(EMPTY_TWIML);
      });

      app.post(TWILIO_STATUS_PATH, { schema: statusSchema }, async (request, reply) => {
        if (!receiver.verify(request)) return reply.status(403).send(errorBody('signature_invalid', request.id));
        const update = receiver.parseStatus(request);
        if (!update) return reply.status(400).send(errorBody('bad_request', request.id, 'MessageSid is required.'));
        // An unknown status word (Twilio adds some now and then) is acknowledged and ignored.
        if (update.status) await handlers.status(update);
        return reply.status(204).send();
      });
    },
  };
  return receiver;
}
