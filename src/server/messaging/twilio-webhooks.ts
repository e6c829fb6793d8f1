import twilio from 'twilio';
import Type from 'typebox';
import { ErrorResponse } from '../../shared/api/common.js';
import type { App } from '../context.js';
import { errorBody } from '../http/errors.js';
import { applyStatus, inboundOrgOf, receiveInbound, statusFromProvider, type MessagingDeps } from './service.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>';

/**
 * Twilio's webhooks: incoming texts (`/webhooks/twilio/sms`) and message status callbacks
 * (`/webhooks/twilio/sms-status`). Both are form posts signed with the account's auth token over the exact URL
 * Twilio called, which is PUBLIC_URL plus the path (and query): behind a proxy the URL this server sees differs,
 * so it is never rebuilt from the request. An unsigned or altered request gets 403 and changes nothing.
 */
export async function twilioWebhookRoutes(app: App, deps: MessagingDeps, authToken: string): Promise<void> {
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_request, body, done) => {
    const params: Record<string, string> = {};
    for (const [k, v] of new URLSearchParams(body as string)) params[k] = v;
    done(null, params);
  });

  const verified = (request: { headers: Record<string, string | string[] | undefined>; url: string; body: unknown; id: string }) => {
    const signature = request.headers['x-twilio-signature'];
    if (typeof signature !== 'string' || typeof request.body !== 'object' || request.body === null) return false;
    return twilio.validateRequest(authToken, signature, `${deps.publicUrl}${request.url}`, request.body as Record<string, string>);
  };

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

  app.post('/webhooks/twilio/sms', { schema: smsSchema }, async (request, reply) => {
    if (!verified(request)) return reply.status(403).send(errorBody('signature_invalid', request.id));
    const p = request.body as Record<string, string>;
    if (!p.MessageSid || !p.From || p.Body === undefined) return reply.status(400).send(errorBody('bad_request', request.id, 'MessageSid, From and Body are required.'));
    // The organisation is the one that received the text (its number or messaging service), never a patient match.
    const orgId = await inboundOrgOf(deps, { to: p.To ?? '', messagingServiceSid: p.MessagingServiceSid, from: p.From });
    await receiveInbound(deps, orgId, { provider: 'twilio', providerMessageId: p.MessageSid, from: p.From, to: p.To ?? '', body: p.Body });
    return reply.type('text/xml').send(EMPTY_TWIML);
  });

  app.post('/webhooks/twilio/sms-status', { schema: statusSchema }, async (request, reply) => {
    if (!verified(request)) return reply.status(403).send(errorBody('signature_invalid', request.id));
    const p = request.body as Record<string, string>;
    const status = statusFromProvider(p.MessageStatus ?? p.SmsStatus ?? '');
    const sid = p.MessageSid ?? p.SmsSid;
    if (!sid) return reply.status(400).send(errorBody('bad_request', request.id, 'MessageSid is required.'));
    // An unknown status word (Twilio adds some now and then) is acknowledged and ignored.
    if (status) {
      const m = (request.query as Record<string, string | undefined>).m;
      await applyStatus(deps, {
        provider: 'twilio',
        providerMessageId: sid,
        messageId: m && UUID.test(m) ? m : undefined,
        status,
        errorCode: p.ErrorCode || null,
        errorReason: null,
      });
    }
    return reply.status(204).send();
  });
}
