// The Twilio webhook receiver (src/server/messaging/providers/twilio-webhooks.ts) on its own, without an app or a
// database: the signature check over PUBLIC_URL (valid, tampered, signed over another URL, unsigned), parsing an
// incoming text and a status callback into the neutral shapes, and Twilio's status words mapped onto ours.
// The same receiver behind its HTTP routes is tested end to end in messaging-twilio.test.ts and tenancy.test.ts.
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import twilio from 'twilio';
import { createTwilioWebhookReceiver, statusFromTwilio, TWILIO_INBOUND_PATH, TWILIO_STATUS_PATH } from '../src/server/messaging/providers/twilio-webhooks.js';

const AUTH_TOKEN = randomBytes(16).toString('hex');
const PUBLIC_URL = 'https://visits.example.org';
const receiver = createTwilioWebhookReceiver({ authToken: AUTH_TOKEN, publicUrl: PUBLIC_URL });

const SID = `SM${randomBytes(16).toString('hex')}`;
const SERVICE = `MG${randomBytes(16).toString('hex')}`;
const inboundFields = { MessageSid: SID, SmsSid: SID, AccountSid: `AC${'1'.repeat(32)}`, From: '+15555550100', To: '+15005550006', Body: 'Running late', NumMedia: '0' };

/** A request as Twilio sends it: signed with `token` over `signedUrl` (by default PUBLIC_URL + the path it posts to). */
function signed(url: string, body: Record<string, string>, options: { token?: string; signedUrl?: string } = {}) {
  const signature = twilio.getExpectedTwilioSignature(options.token ?? AUTH_TOKEN, options.signedUrl ?? `${PUBLIC_URL}${url}`, body);
  return { url, headers: { 'x-twilio-signature': signature, 'content-type': 'application/x-www-form-urlencoded' }, body };
}

describe('Twilio webhook receiver: signatures', () => {
  test('a request signed over PUBLIC_URL + path and its fields verifies', () => {
    assert.equal(receiver.verify(signed(TWILIO_INBOUND_PATH, inboundFields)), true);
    const url = `${TWILIO_STATUS_PATH}?m=${randomUUID()}`;
    assert.equal(receiver.verify(signed(url, { MessageSid: SID, MessageStatus: 'delivered' })), true, 'the query is part of what is signed');
  });

  test('tampered: a field changed after signing, an added field, or another auth token', () => {
    const request = signed(TWILIO_INBOUND_PATH, inboundFields);
    assert.equal(receiver.verify({ ...request, body: { ...inboundFields, Body: 'Something else' } }), false);
    assert.equal(receiver.verify({ ...request, body: { ...inboundFields, Extra: 'x' } }), false);
    assert.equal(receiver.verify(signed(TWILIO_INBOUND_PATH, inboundFields, { token: randomBytes(16).toString('hex') })), false);
  });

  test('wrong URL: signed over the URL this server sees behind a proxy, another path, or without the query', () => {
    assert.equal(receiver.verify(signed(TWILIO_INBOUND_PATH, inboundFields, { signedUrl: `http://proxy.internal${TWILIO_INBOUND_PATH}` })), false);
    assert.equal(receiver.verify(signed(TWILIO_INBOUND_PATH, inboundFields, { signedUrl: `${PUBLIC_URL}${TWILIO_STATUS_PATH}` })), false);
    const url = `${TWILIO_STATUS_PATH}?m=${randomUUID()}`;
    assert.equal(receiver.verify(signed(url, { MessageSid: SID, MessageStatus: 'delivered' }, { signedUrl: `${PUBLIC_URL}${TWILIO_STATUS_PATH}` })), false);
  });

  test('unsigned: no header, an empty one, several, or no form body', () => {
    assert.equal(receiver.verify({ url: TWILIO_INBOUND_PATH, headers: {}, body: inboundFields }), false);
    assert.equal(receiver.verify({ url: TWILIO_INBOUND_PATH, headers: { 'x-twilio-signature': '' }, body: inboundFields }), false);
    const { headers } = signed(TWILIO_INBOUND_PATH, inboundFields);
    assert.equal(receiver.verify({ url: TWILIO_INBOUND_PATH, headers: { 'x-twilio-signature': [headers['x-twilio-signature'], headers['x-twilio-signature']] }, body: inboundFields }), false);
    assert.equal(receiver.verify({ url: TWILIO_INBOUND_PATH, headers, body: undefined }), false);
    assert.equal(receiver.verify({ url: TWILIO_INBOUND_PATH, headers, body: null }), false);
  });
});

describe('Twilio webhook receiver: parsing', () => {
  test('an incoming text, in our words: the messaging service is a routing hint', () => {
    assert.deepEqual(receiver.parseInbound(signed(TWILIO_INBOUND_PATH, inboundFields)), { providerMessageId: SID, from: '+15555550100', to: '+15005550006', body: 'Running late', service: undefined });
    assert.deepEqual(receiver.parseInbound(signed(TWILIO_INBOUND_PATH, { ...inboundFields, MessagingServiceSid: SERVICE, Body: '' })), {
      providerMessageId: SID,
      from: '+15555550100',
      to: '+15005550006',
      body: '',
      service: SERVICE,
    });
    const { To: _to, ...noTo } = inboundFields;
    assert.equal(receiver.parseInbound(signed(TWILIO_INBOUND_PATH, noTo))?.to, '', 'no To: an empty number (it claims no organisation)');
    for (const missing of ['MessageSid', 'From', 'Body'] as const) {
      const { [missing]: _gone, ...rest } = inboundFields;
      assert.equal(receiver.parseInbound(signed(TWILIO_INBOUND_PATH, rest)), null, `without ${missing}`);
    }
  });

  test('a status callback, in our words: our id from ?m=, the error said for people, an opt-out flagged', () => {
    const id = randomUUID();
    assert.deepEqual(receiver.parseStatus(signed(`${TWILIO_STATUS_PATH}?m=${id}`, { MessageSid: SID, MessageStatus: 'undelivered', ErrorCode: '30006' })), {
      providerMessageId: SID,
      messageId: id,
      status: 'undelivered',
      errorCode: '30006',
      errorReason: 'The number is a landline or the carrier cannot deliver texts to it.',
      optedOut: false,
    });
    const optedOut = receiver.parseStatus(signed(TWILIO_STATUS_PATH, { MessageSid: SID, MessageStatus: 'failed', ErrorCode: '21610' }));
    assert.equal(optedOut?.optedOut, true);
    assert.equal(optedOut?.messageId, undefined);
    assert.equal(receiver.parseStatus(signed(TWILIO_STATUS_PATH, { MessageSid: SID, MessageStatus: 'failed', ErrorCode: '12345' }))?.errorReason, null, 'an unlisted code: no reason here (status.ts says "Provider error")');
    assert.equal(receiver.parseStatus(signed(`${TWILIO_STATUS_PATH}?m=not-a-uuid`, { MessageSid: SID, MessageStatus: 'sent' }))?.messageId, undefined, 'a malformed id is ignored');
    assert.deepEqual(receiver.parseStatus(signed(TWILIO_STATUS_PATH, { SmsSid: SID, SmsStatus: 'delivered', ErrorCode: '' })), {
      providerMessageId: SID,
      messageId: undefined,
      status: 'delivered',
      errorCode: null,
      errorReason: null,
      optedOut: false,
    });
    assert.equal(receiver.parseStatus(signed(TWILIO_STATUS_PATH, { MessageSid: SID, MessageStatus: 'teleported' }))?.status, null, 'an unknown word: ignored');
    assert.equal(receiver.parseStatus(signed(TWILIO_STATUS_PATH, { MessageStatus: 'delivered' })), null, 'no MessageSid');
  });

  test("Twilio's status words mapped onto ours", () => {
    const expected: Record<string, string | null> = {
      accepted: 'sending',
      queued: 'sending',
      scheduled: 'sending',
      sending: 'sending',
      sent: 'sent',
      delivered: 'delivered',
      read: 'delivered',
      undelivered: 'undelivered',
      failed: 'failed',
      canceled: 'canceled',
      received: null,
      receiving: null,
      partially_delivered: null,
      '': null,
      DELIVERED: null,
    };
    for (const [word, ours] of Object.entries(expected)) assert.equal(statusFromTwilio(word), ours, word);
  });
});
