// The Twilio adapter's pure parts and its callback route, without a Twilio: the routing → subscribe / recording rules
// encoding, the access token's format, and the status-callback route's signature checks. The adapter against a fake of
// Twilio's API is test/twilio-video.test.ts.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, test } from 'node:test';
import Fastify from 'fastify';
import twilio from 'twilio';
import { DEFAULT_GRANTS, type RoutingState } from '../src/server/rooms/provider.js';
import { allowedKinds, MAX_RULES, recordingRules, RulesLimitError, subscribeRules, type RoutingView } from '../src/server/rooms/twilio/rules.js';
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

  test("a routing over Twilio's 20 rules in every form is refused whole, naming the limit", () => {
    // 22 in the main group and 22 in a breakout: `include all` needs 22 excludes, an allow-list 21 includes.
    const routing: Record<string, RoutingState> = {};
    for (let i = 0; i < 22; i++) routing[`m${String(i).padStart(2, '0')}`] = routed('main');
    for (let i = 0; i < 22; i++) routing[`b${String(i).padStart(2, '0')}`] = routed('breakout-1');
    const v = view(routing, Object.keys(routing));
    assert.throws(() => subscribeRules(v, 'm00'), (err: unknown) => err instanceof RulesLimitError && err.count === 21 && /20 rules/.test(err.message), 'the shortest form, 21 rules');
    assert.throws(() => subscribeRules(v, 'b00'), (err: unknown) => err instanceof RulesLimitError && err.count === 21, 'an allow-list of 21 publishers');
    // 20 in a group is the most one subscriber's allow-list names (itself left out: 21 people).
    const fits = Object.fromEntries(Array.from({ length: 21 }, (_, i) => [`b${i}`, routed('breakout-1')]));
    assert.equal(subscribeRules(view(fits, Object.keys(fits)), 'b0').length, MAX_RULES);
    // A main-group subscriber with 25 people elsewhere and nobody beside it: it receives nobody, in one rule.
    const apart = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`b${i}`, routed('breakout-1')]));
    assert.deepEqual(subscribeRules(view({ ...apart, main: routed('main') }, [...Object.keys(apart), 'main']), 'main'), [{ type: 'exclude', all: true }]);
  });

  test('a group of 50 muted by its host (server mute), 3 sent back, fits: video open, audio named', () => {
    const routing: Record<string, RoutingState> = { host: routed('main'), cohost: routed('main') };
    const clients = Array.from({ length: 50 }, (_, i) => `c${String(i).padStart(2, '0')}`);
    for (const c of clients) routing[c] = routed('main', { audioMuted: c !== 'c07' });
    for (const w of ['w0', 'w1', 'w2']) routing[w] = routed(`waiting-${w}`, { recorded: false });
    // 20 more waiting, held (no token): routed, never named.
    for (let i = 0; i < 20; i++) routing[`held${i}`] = routed(`waiting-held${i}`, { recorded: false });
    const publishers = ['host', 'cohost', ...clients, 'w0', 'w1', 'w2'];
    const v = view(routing, publishers);
    const expected = [
      { type: 'include', kind: 'video' },
      { type: 'include', publisher: 'c07', kind: 'audio' },
      { type: 'include', publisher: 'cohost', kind: 'audio' },
      { type: 'include', publisher: 'host', kind: 'audio' },
      { type: 'exclude', publisher: 'w0' },
      { type: 'exclude', publisher: 'w1' },
      { type: 'exclude', publisher: 'w2' },
    ];
    assert.deepEqual(subscribeRules(v, 'c00'), expected);
    assert.deepEqual(subscribeRules(v, 'host'), expected.filter((r) => r.publisher !== 'host'));
    for (const s of publishers) assert.ok(subscribeRules(v, s).length <= MAX_RULES, s);
    assertExact(v, publishers);
    // The same group not muted: `include all` and the three sent back, whoever asks.
    const open = view(Object.fromEntries(Object.entries(routing).map(([k, r]) => [k, { ...r, audioMuted: false }])), publishers);
    assert.deepEqual(subscribeRules(open, 'c00'), [{ type: 'include', all: true }, { type: 'exclude', publisher: 'w0' }, { type: 'exclude', publisher: 'w1' }, { type: 'exclude', publisher: 'w2' }]);
  });

  test('whatever the routing, the rules say exactly it for every named publisher, read either way (last match, exclude wins)', () => {
    let seed = 17;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648);
    for (let round = 0; round < 120; round++) {
      const n = 2 + Math.floor(random() * 45);
      const routing: Record<string, RoutingState> = {};
      const ids = Array.from({ length: n }, (_, i) => `p${String(i).padStart(2, '0')}`);
      for (const id of ids) {
        const r = random();
        routing[id] = routed(r < 0.7 ? 'main' : r < 0.85 ? `waiting-${id}` : 'breakout-1', { audioMuted: random() < (round % 3) / 3, videoMuted: random() < 0.1 });
      }
      const overrides = new Map([[ids[0]!, new Map([[ids[1]!, { video: random() < 0.5 }]])]]);
      const v = view(routing, ids, { overrides });
      assertExact(v, ids);
    }
  });
});

/** Whether `rules` give `subscriber` the track, with conflicts resolved by the last matching rule or by "exclude wins". */
function receives(rules: ReturnType<typeof subscribeRules>, publisher: string, kind: 'audio' | 'video', reading: 'last-match' | 'exclude-wins'): boolean {
  const matching = rules.filter((r) => r.all || ((r.publisher === undefined || r.publisher === publisher) && (r.kind === undefined || r.kind === kind)));
  if (matching.length === 0) return false;
  if (reading === 'exclude-wins') return !matching.some((r) => r.type === 'exclude');
  return matching.at(-1)!.type === 'include';
}

/** Every subscriber's rules (those that fit) against allowedKinds, for every named publisher and kind, both readings. */
function assertExact(v: RoutingView, ids: string[]): void {
  for (const s of ids) {
    let rules;
    try {
      rules = subscribeRules(v, s);
    } catch (err) {
      assert.ok(err instanceof RulesLimitError && err.count > MAX_RULES, String(err));
      continue;
    }
    assert.ok(rules.length <= MAX_RULES);
    const firstExclude = rules.findIndex((r) => r.type === 'exclude');
    assert.ok(firstExclude === -1 || rules.slice(firstExclude).every((r) => r.type === 'exclude'), 'includes first, then excludes');
    for (const p of ids) {
      if (p === s) continue;
      const allowed = allowedKinds(v, s, p);
      for (const kind of ['audio', 'video'] as const) {
        for (const reading of ['last-match', 'exclude-wins'] as const) assert.equal(receives(rules, p, kind, reading), allowed[kind], `${s} ← ${p} ${kind} (${reading}): ${JSON.stringify(rules)}`);
      }
    }
  }
}

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
