import twilio from 'twilio';
import type { App } from '../app.js';
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

  const schema = { hide: true } as const;

  app.post('/webhooks/twilio/sms', { schema }, async (request, reply) => {
    if (!verified(request)) return reply.status(403).send(errorBody('signature_invalid', request.id));
    const p = request.body as Record<string, string>;
    if (!p.MessageSid || !p.From || p.Body === undefined) return reply.status(400).send(errorBody('bad_request', request.id, 'MessageSid, From and Body are required.'));
    // The organisation is the one that received the text (its number or messaging service), never a patient match.
    const orgId = await inboundOrgOf(deps, { to: p.To ?? '', messagingServiceSid: p.MessagingServiceSid, from: p.From });
    await receiveInbound(deps, orgId, { provider: 'twilio', providerMessageId: p.MessageSid, from: p.From, to: p.To ?? '', body: p.Body });
    return reply.type('text/xml').send(EMPTY_TWIML);
  });

  app.post('/webhooks/twilio/sms-status', { schema }, async (request, reply) => {
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
