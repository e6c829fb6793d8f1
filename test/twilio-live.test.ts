// The Twilio Video provider against Twilio itself. Runs only when real credentials are in the environment
// (TWILIO_ACCOUNT_SID, TWILIO_API_KEY_SID, TWILIO_API_KEY_SECRET; TWILIO_AUTH_TOKEN for the callback check), and reports
// itself skipped, saying why, otherwise: CI has no Twilio account. It makes real rooms (Group rooms, a few seconds
// each, ended at once: a few participant-free room-minutes at most) and checks what the fake of Twilio's API
// (test/twilio-video.test.ts) stands in for: room creation with our options, Twilio refusing a second room of the
// same UniqueName (what makes a retried create safe), recording rules accepted, ending, a token Twilio's
// signature check accepts (fetching the room with it is not possible: tokens are for clients), and the error a
// wrong secret gets. Participants and subscribe rules need a twilio-video client (a browser): the latency of a
// rule change is measured there by hand, see docs/twilio.md.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import { TwilioRequestError, TwilioVideoApi } from '../src/server/rooms/twilio/api.js';
import { MediaUnavailableError } from '../src/server/rooms/provider.js';
import { TwilioProvider } from '../src/server/rooms/twilio/provider.js';
import { TwilioTokenMinter } from '../src/server/rooms/twilio/tokens.js';

const env = process.env;
const missing = ['TWILIO_ACCOUNT_SID', 'TWILIO_API_KEY_SID', 'TWILIO_API_KEY_SECRET'].filter((name) => !env[name]);
const skip = missing.length > 0 ? `no Twilio account: set ${missing.join(', ')} to run the live suite` : false;

describe('Twilio Video, live', { timeout: 120_000 }, () => {
  const api = () =>
    new TwilioVideoApi({ accountSid: env.TWILIO_ACCOUNT_SID!, apiKeySid: env.TWILIO_API_KEY_SID!, apiKeySecret: env.TWILIO_API_KEY_SECRET!, baseUrl: 'https://video.twilio.com', timeoutMs: 10_000 });
  const provider = () =>
    new TwilioProvider({
      api: api(),
      minter: new TwilioTokenMinter(env.TWILIO_ACCOUNT_SID!, env.TWILIO_API_KEY_SID!, env.TWILIO_API_KEY_SECRET!),
      publicUrl: 'https://openvisit.invalid',
      authToken: env.TWILIO_AUTH_TOKEN ?? '0'.repeat(32),
      compositions: false,
    });
  const spec = () => ({ roomId: randomUUID(), orgId: randomUUID(), name: 'live', maxParticipants: 2, maxParticipantDurationS: 15, emptyTimeoutS: 60, unusedTimeoutS: 60 });

  test('a Group room with our options, created once under its UniqueName, recording rules set, ended', { skip }, async (t) => {
    const p = provider();
    const s = spec();
    const started = Date.now();
    const { providerRoomId } = await p.createRoom(s);
    t.diagnostic(`room created in ${Date.now() - started} ms`);
    try {
      const room = await api().call((c) => c.video.v1.rooms(providerRoomId).fetch());
      assert.equal(room.uniqueName, s.roomId);
      assert.equal(room.type, 'group');
      assert.equal(room.maxParticipantDuration, 600);
      assert.equal(room.status, 'in-progress');
      // A retried create takes the same room (Twilio refuses the name with 53113 first).
      assert.equal((await p.createRoom(s)).providerRoomId, providerRoomId);
      const t0 = Date.now();
      assert.equal(await p.startRecording(providerRoomId), true);
      t.diagnostic(`recording rules written in ${Date.now() - t0} ms`);
      // Nobody holds a token yet: recording includes nobody.
      const rules = await api().call((c) => c.video.v1.rooms(providerRoomId).recordingRules.fetch());
      assert.equal(rules.rules?.length, 1);
      assert.equal((rules.rules![0] as { type: string }).type, 'exclude');
      assert.deepEqual(await p.listParticipants(providerRoomId), []);
      const token = await p.mintToken({ roomId: s.roomId, roomName: s.name, providerRoomId, orgId: s.orgId, identity: 'live-check', grants: { publish: true, subscribe: true, data: false, admin: false }, ttlSeconds: 600 });
      assert.equal(JSON.parse(Buffer.from(token.token.split('.')[0]!, 'base64url').toString()).cty, 'twilio-fpa;v=1');
    } finally {
      await p.endRoom(providerRoomId, 'live_test_done');
      await p.close();
    }
    const ended = await api().call((c) => c.video.v1.rooms(providerRoomId).fetch());
    assert.equal(ended.status, 'completed');
  });

  test('a wrong API key secret is refused as credentials, not retried; a missing room is a 404', { skip }, async () => {
    const wrong = new TwilioVideoApi({ accountSid: env.TWILIO_ACCOUNT_SID!, apiKeySid: env.TWILIO_API_KEY_SID!, apiKeySecret: 'not-the-secret', baseUrl: 'https://video.twilio.com', timeoutMs: 10_000 });
    await assert.rejects(wrong.call((c) => c.video.v1.rooms.list({ limit: 1 })), (err: unknown) => err instanceof MediaUnavailableError && err.reason === 'credentials_refused');
    await assert.rejects(api().call((c) => c.video.v1.rooms(`RM${'0'.repeat(32)}`).fetch()), (err: unknown) => err instanceof TwilioRequestError && err.status === 404);
  });
});
