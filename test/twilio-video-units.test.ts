// The Twilio adapter's pure parts and its callback route, without a Twilio: the routing → subscribe / recording rules
// encoding, the access token's format, and the status-callback route's signature checks. The adapter against a fake of
// Twilio's API is test/twilio-video.test.ts.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import twilio from 'twilio';
import { DEFAULT_GRANTS, type RoutingState } from '../src/server/rooms/provider.js';
import { MAX_RULES, recordingRules, RulesLimitError, subscribeRules, type RoutingView } from '../src/server/rooms/twilio/rules.js';
import { TwilioTokenMinter } from '../src/server/rooms/twilio/tokens.js';
import { parseVideoCallback, TWILIO_VIDEO_CALLBACK_PATH, twilioVideoCallbackRoutes, type VideoCallback } from '../src/server/rooms/twilio/webhook.js';

const ACCOUNT_SID = `AC${'a1'.repeat(16)}`;
const API_KEY_SID = `SK${'b2'.repeat(16)}`;
const AUTH_TOKEN = 'd4'.repeat(16);

const routed = (group: string, extra: Partial<RoutingState> = {}): RoutingState => ({ group, audioMuted: false, videoMuted: false, recorded: true, ...extra });

function view(routing: Record<string, RoutingState>, publishers: string[], more: Partial<RoutingView> = {}): RoutingView {
  return { routing: new Map(Object.entries(routing)), overrides: new Map(), grants: new Map(), publishers: new Set(publishers), ...more };
}

describe('Twilio rules from routing (pure)', () => {
  test('a waiting participant subscribes to nobody, and the visit excludes it; admitted, both ways', () => {
    const waiting = view({ host: routed('main'), pat: routed('waiting-pat', { recorded: false }) }, ['host', 'pat']);
    assert.deepEqual(subscribeRules(waiting, 'pat'), [{ type: 'exclude', all: true }]);
    assert.deepEqual(subscribeRules(waiting, 'host'), [{ type: 'include', all: true }, { type: 'exclude', publisher: 'pat' }]);
    const admitted = view({ host: routed('main'), pat: routed('main') }, ['host', 'pat']);
    assert.deepEqual(subscribeRules(admitted, 'pat'), [{ type: 'include', all: true }]);
    assert.deepEqual(subscribeRules(admitted, 'host'), [{ type: 'include', all: true }]);
  });

  test('a host mute stops one kind at everyone, in the main group and in another group alike', () => {
    const main = view({ host: routed('main'), pat: routed('main', { audioMuted: true }) }, ['host', 'pat']);
    assert.deepEqual(subscribeRules(main, 'host'), [{ type: 'include', all: true }, { type: 'exclude', publisher: 'pat', kind: 'audio' }]);
    const breakout = view({ a: routed('breakout-1'), b: routed('breakout-1', { videoMuted: true }), c: routed('breakout-1', { audioMuted: true, videoMuted: true }), d: routed('main') }, ['a', 'b', 'c', 'd']);
    assert.deepEqual(subscribeRules(breakout, 'a'), [{ type: 'include', publisher: 'b', kind: 'audio' }], 'c is muted both ways, d is elsewhere');
    assert.deepEqual(subscribeRules(breakout, 'd'), [{ type: 'include', all: true }, { type: 'exclude', publisher: 'a' }, { type: 'exclude', publisher: 'b' }, { type: 'exclude', publisher: 'c' }]);
  });

  test('per-pair overrides, grants, and publishers not let in yet', () => {
    const overrides = new Map([['host', new Map([['pat', { video: false }]])]]);
    const v = view({ host: routed('main'), pat: routed('main') }, ['host', 'pat'], { overrides });
    assert.deepEqual(subscribeRules(v, 'host'), [{ type: 'include', all: true }, { type: 'exclude', publisher: 'pat', kind: 'video' }]);
    const allowAcross = new Map([['pat', new Map([['host', { audio: true }]])]]);
    assert.deepEqual(subscribeRules(view({ host: routed('main'), pat: routed('waiting-pat') }, ['host', 'pat'], { overrides: allowAcross }), 'pat'), [{ type: 'include', publisher: 'host', kind: 'audio' }]);
    const grants = new Map([
      ['observer', { ...DEFAULT_GRANTS, publish: false }],
      ['listener', { ...DEFAULT_GRANTS, subscribe: false }],
    ]);
    const g = view({}, ['host', 'observer', 'listener'], { grants });
    assert.deepEqual(subscribeRules(g, 'host'), [{ type: 'include', all: true }, { type: 'exclude', publisher: 'observer' }]);
    assert.deepEqual(subscribeRules(g, 'listener'), [{ type: 'exclude', all: true }]);
    // Placed but holding no token (held in a waiting room): not named, it cannot publish.
    assert.deepEqual(subscribeRules(view({ host: routed('main'), pat: routed('waiting-pat') }, ['host']), 'host'), [{ type: 'include', all: true }]);
  });

  test('recording rules: nothing unless recording; an allow-list of consenting publishers; an empty set excludes all', () => {
    const v = view({ host: routed('main'), yes: routed('main'), no: routed('main', { recorded: false }) }, ['host', 'yes', 'no']);
    assert.deepEqual(recordingRules(v, false), [{ type: 'exclude', all: true }]);
    assert.deepEqual(recordingRules(v, true), [{ type: 'include', publisher: 'host' }, { type: 'include', publisher: 'yes' }]);
    assert.deepEqual(recordingRules(view({ no: routed('main', { recorded: false }) }, ['no']), true), [{ type: 'exclude', all: true }]);
    // Over the limit as an allow-list: everyone but those kept out.
    const many = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`p${String(i).padStart(2, '0')}`, routed('main', { recorded: i !== 7 })]));
    const rules = recordingRules(view(many, Object.keys(many)), true);
    assert.deepEqual(rules, [{ type: 'include', all: true }, { type: 'exclude', publisher: 'p07' }]);
  });

  test("a routing over Twilio's 20 rules is refused whole, naming the limit", () => {
    const routing = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`b${i}`, routed('breakout-1')]));
    routing.main = routed('main');
    const v = view(routing, Object.keys(routing));
    assert.throws(() => subscribeRules(v, 'main'), (err: unknown) => err instanceof RulesLimitError && err.count === 26 && /20 rules/.test(err.message));
    assert.throws(() => subscribeRules(v, 'b0'), (err: unknown) => err instanceof RulesLimitError && err.count === 24, 'an allow-list of 24 publishers');
    // 20 in a group is the most one subscriber's allow-list names (itself left out: 21 people).
    const fits = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`b${i}`, routed('breakout-1')]));
    assert.equal(subscribeRules(view(fits, Object.keys(fits)), 'b0').length, MAX_RULES);
  });
});

describe('Twilio access tokens', () => {
  test("decode to Twilio's format: cty twilio-fpa;v=1, iss the API key, sub the account, one identity in one room", () => {
    const minter = new TwilioTokenMinter(ACCOUNT_SID, API_KEY_SID, 'the-api-key-secret');
    const token = minter.mint('participant-1', 'room-unique-name', 14_400);
    const [header, payload] = token.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part!, 'base64url').toString('utf8')));
    assert.deepEqual(header, { alg: 'HS256', typ: 'JWT', cty: 'twilio-fpa;v=1' });
    assert.equal(payload.iss, API_KEY_SID);
    assert.equal(payload.sub, ACCOUNT_SID);
    assert.deepEqual(payload.grants, { identity: 'participant-1', video: { room: 'room-unique-name' } });
    assert.equal(payload.exp - payload.iat, 14_400);
    // Signed with the API key secret (HS256), as Twilio checks it.
    const [h, p, s] = token.split('.');
    assert.equal(createHmac('sha256', 'the-api-key-secret').update(`${h}.${p}`).digest('base64url'), s);
    // Twilio caps a token at 24 hours.
    const long = JSON.parse(Buffer.from(minter.mint('x', 'r', 7 * 86_400).split('.')[1]!, 'base64url').toString('utf8'));
    assert.equal(long.exp - long.iat, 86_400);
  });
});

describe('the status-callback route', () => {
  async function route() {
    const got: VideoCallback[] = [];
    const app = Fastify();
    const publicUrl = 'https://visits.example.org';
    await app.register(twilioVideoCallbackRoutes({ authToken: AUTH_TOKEN, publicUrl, handle: async (c) => void got.push(c) }));
    await app.ready();
    const post = (params: Record<string, string>, sign: { url?: string; token?: string; tamper?: boolean; omit?: boolean } = {}) => {
      const signature = twilio.getExpectedTwilioSignature(sign.token ?? AUTH_TOKEN, sign.url ?? `${publicUrl}${TWILIO_VIDEO_CALLBACK_PATH}`, params);
      const body = new URLSearchParams(sign.tamper ? { ...params, ParticipantIdentity: 'someone-else' } : params).toString();
      return app.inject({ method: 'POST', url: TWILIO_VIDEO_CALLBACK_PATH, headers: { 'content-type': 'application/x-www-form-urlencoded', ...(sign.omit ? {} : { 'x-twilio-signature': signature }) }, payload: body });
    };
    return { app, got, post };
  }
  const params = { StatusCallbackEvent: 'participant-connected', Timestamp: '2026-12-07T10:00:00.000Z', RoomSid: `RM${'1'.repeat(32)}`, ParticipantSid: `PA${'2'.repeat(32)}`, ParticipantIdentity: 'p-1', SequenceNumber: '3', AccountSid: ACCOUNT_SID };

  test('a valid signature over PUBLIC_URL is accepted; a tampered body, the wrong URL or key, or no header is refused with 403', async () => {
    const { app, got, post } = await route();
    try {
      assert.equal((await post(params)).statusCode, 204);
      assert.equal(got.length, 1);
      assert.equal(got[0]!.participantIdentity, 'p-1');
      for (const bad of [{ tamper: true }, { url: `http://127.0.0.1${TWILIO_VIDEO_CALLBACK_PATH}` }, { token: 'e5'.repeat(16) }, { omit: true }]) {
        const res = await post(params, bad);
        assert.equal(res.statusCode, 403, JSON.stringify(bad));
        assert.equal(res.json().error.code, 'signature_invalid');
      }
      assert.equal(got.length, 1, 'nothing refused reached the provider');
      const noEvent = await post({ ...params, StatusCallbackEvent: '' });
      assert.equal(noEvent.statusCode, 400);
    } finally {
      await app.close();
    }
  });

  test('parses Twilio fields into typed values; a missing or invalid Timestamp leaves nothing to order by', () => {
    const parsed = parseVideoCallback({ ...params, StatusCallbackEvent: 'participant-disconnected', ParticipantDuration: '75' });
    assert.equal(parsed?.participantDuration, 75);
    assert.equal(parsed?.timestamp.toISOString(), '2026-12-07T10:00:00.000Z');
    assert.equal(parseVideoCallback({ ...params, Timestamp: 'yesterday' }), null);
    assert.equal(parseVideoCallback({ StatusCallbackEvent: 'room-ended' }), null);
  });
});
