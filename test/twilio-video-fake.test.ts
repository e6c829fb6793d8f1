/**
 * The Twilio Video fake itself, driven through the official `twilio` SDK as the server adapter drives it: it must
 * behave like Twilio's Video API (rooms, participants, subscribe and recording rules, recordings, compositions,
 * signed status callbacks), stand in for twilio-video clients, and report any request or response that departs
 * from Twilio's OpenAPI document.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import twilio from 'twilio';
import {
  FakeTwilioVideoRequestClient,
  fakeMediaBytes,
  startFakeTwilioVideo,
  TwilioVideoError,
  type FakeTwilioVideo,
  type SentVideoCallback,
} from './helpers/twilio-video-fake.js';

const ACCOUNT_SID = `AC${randomBytes(16).toString('hex')}`;
const AUTH_TOKEN = randomBytes(16).toString('hex');
const API_KEY = `SK${randomBytes(16).toString('hex')}`;
const API_SECRET = randomBytes(16).toString('hex');

const { AccessToken } = twilio.jwt;
const { VideoGrant } = AccessToken;

function token(identity: string, room: string | undefined, opts: { ttl?: number; secret?: string; keySid?: string } = {}): string {
  const t = new AccessToken(ACCOUNT_SID, opts.keySid ?? API_KEY, opts.secret ?? API_SECRET, { identity, ttl: opts.ttl ?? 3600 });
  t.addGrant(new VideoGrant(room === undefined ? {} : { room }));
  return t.toJwt();
}

const basic = (user: string, secret: string): string => `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;

/** A status-callback receiver: records what arrives, answers 204. */
interface Receiver {
  url: string;
  received: { params: Record<string, string>; signature: string }[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: Receiver['received'] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ params: Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))), signature: String(req.headers['x-twilio-signature'] ?? '') });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/webhooks/twilio/video`;
  return {
    url,
    received,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('twilio video fake', () => {
  let fake: FakeTwilioVideo;
  let receiver: Receiver;
  let client: twilio.Twilio;

  before(async () => {
    receiver = await startReceiver();
  });
  after(async () => {
    await receiver.close();
  });
  beforeEach(async () => {
    fake = await startFakeTwilioVideo({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiKeySid: API_KEY, apiKeySecret: API_SECRET });
    client = twilio(API_KEY, API_SECRET, { accountSid: ACCOUNT_SID, httpClient: new FakeTwilioVideoRequestClient(fake.url, { timeout: 2000 }) });
    receiver.received.length = 0;
  });
  afterEach(async () => {
    await fake.close();
  });

  const createRoom = (uniqueName: string, extra: Record<string, unknown> = {}) =>
    client.video.v1.rooms.create({
      type: 'group',
      uniqueName,
      statusCallback: receiver.url,
      statusCallbackMethod: 'POST',
      maxParticipants: 10,
      maxParticipantDuration: 3600,
      emptyRoomTimeout: 1,
      unusedRoomTimeout: 2,
      ...extra,
    });

  const events = (): string[] => fake.sentCallbacks.map((c) => c.event);

  describe('rooms', () => {
    test('create, fetch by SID and UniqueName, list, end idempotently; every request and answer as the spec says', async () => {
      const room = await createRoom('visit-1');
      assert.match(room.sid, /^RM[0-9a-f]{32}$/);
      assert.equal(room.status, 'in-progress');
      assert.equal(room.uniqueName, 'visit-1');
      assert.equal(room.maxParticipants, 10);
      assert.equal(room.maxParticipantDuration, 3600);
      assert.equal(room.emptyRoomTimeout, 1);
      assert.equal(room.unusedRoomTimeout, 2);
      const sent = fake.requests[0]!;
      assert.equal(sent.authUser, API_KEY);
      assert.deepEqual(sent.params, {
        Type: 'group', UniqueName: 'visit-1', StatusCallback: receiver.url, StatusCallbackMethod: 'POST', MaxParticipants: '10',
        MaxParticipantDuration: '3600', EmptyRoomTimeout: '1', UnusedRoomTimeout: '2',
      });

      assert.equal((await client.video.v1.rooms(room.sid).fetch()).sid, room.sid);
      assert.equal((await client.video.v1.rooms('visit-1').fetch()).sid, room.sid);
      assert.deepEqual((await client.video.v1.rooms.list({ status: 'in-progress' })).map((r) => r.sid), [room.sid]);
      assert.deepEqual(fake.room('visit-1')?.options.MaxParticipants, '10');

      const ended = await client.video.v1.rooms(room.sid).update({ status: 'completed' });
      assert.equal(ended.status, 'completed');
      assert.equal((await client.video.v1.rooms(room.sid).update({ status: 'completed' })).status, 'completed');
      // A completed room's UniqueName no longer addresses it, and a new room may take the name.
      await assert.rejects(client.video.v1.rooms('visit-1').fetch(), (e: { status?: number }) => e.status === 404);
      const again = await createRoom('visit-1');
      assert.notEqual(again.sid, room.sid);
      assert.deepEqual((await client.video.v1.rooms.list({ status: 'completed' })).map((r) => r.sid), [room.sid]);

      await fake.settled();
      assert.deepEqual(events(), ['room-created', 'room-ended', 'room-created']);
      assert.deepEqual(fake.problems, []);
    });

    test('refuses what Twilio refuses: a taken UniqueName, legacy types, out-of-range limits', async () => {
      await createRoom('taken');
      const code = (e: unknown): number | undefined => (e as { code?: number }).code;
      await assert.rejects(createRoom('taken'), (e) => code(e) === 53113);
      await assert.rejects(createRoom('p2p', { type: 'peer-to-peer' }), (e) => code(e) === 53126);
      await assert.rejects(createRoom('big', { maxParticipants: 51 }), (e) => code(e) === 53107);
      await assert.rejects(createRoom('short', { maxParticipantDuration: 60 }), (e) => code(e) === 53123);
      await assert.rejects(createRoom('long', { maxParticipantDuration: 86_401 }), (e) => code(e) === 53123);
      await assert.rejects(createRoom('empty', { emptyRoomTimeout: 0 }), (e) => code(e) === 53109);
      await assert.rejects(createRoom('unused', { unusedRoomTimeout: 61 }), (e) => code(e) === 53109);
      assert.deepEqual(fake.problems, []);
    });

    test('wrong credentials answer 401 with Twilio error 20003; the account token works too', async () => {
      const wrong = twilio(API_KEY, 'not-the-secret', { accountSid: ACCOUNT_SID, httpClient: new FakeTwilioVideoRequestClient(fake.url) });
      await assert.rejects(wrong.video.v1.rooms.create({ uniqueName: 'x' }), (e: { status?: number; code?: number }) => e.status === 401 && e.code === 20003);
      const res = await fetch(`${fake.url}/v1/Rooms`, { headers: { Authorization: basic('someone', 'else') } });
      assert.equal(res.status, 401);
      assert.deepEqual(await res.json(), { code: 20003, message: 'Authenticate', more_info: 'https://www.twilio.com/docs/errors/20003', status: 401 });
      const byAccount = twilio(ACCOUNT_SID, AUTH_TOKEN, { httpClient: new FakeTwilioVideoRequestClient(fake.url) });
      assert.equal((await byAccount.video.v1.rooms.create({ uniqueName: 'acct' })).uniqueName, 'acct');
      assert.deepEqual(fake.problems, []);
    });

    test('an undeclared form field is refused with 400 and reported', async () => {
      const res = await fetch(`${fake.url}/v1/Rooms`, {
        method: 'POST',
        headers: { Authorization: basic(API_KEY, API_SECRET), 'Content-Type': 'application/x-www-form-urlencoded' },
        body: 'UniqueName=x&Colour=blue',
      });
      assert.equal(res.status, 400);
      assert.equal(((await res.json()) as { status: number }).status, 400);
      assert.equal(fake.problems.length, 1);
      assert.match(fake.problems[0]!, /CreateRoom .*undeclared parameter "Colour"/);
      assert.equal(fake.rooms().length, 0);
    });
  });

  describe('participants (simulated twilio-video clients)', () => {
    test('connect verifies the AccessToken as Twilio does', async () => {
      const room = await createRoom('tokens', { maxParticipants: 2 });
      const code = (c: number) => (e: unknown) => e instanceof TwilioVideoError && e.code === c;
      await assert.rejects(fake.connect(token('a', 'tokens', { secret: 'wrong' })), code(20107));
      await assert.rejects(fake.connect(token('a', 'tokens', { keySid: `SK${'0'.repeat(32)}` })), code(20103));
      await assert.rejects(fake.connect(token('a', 'tokens', { ttl: -10 })), code(20104));
      await assert.rejects(fake.connect(token('a', 'elsewhere')), code(53106));
      await assert.rejects(fake.connect('not.a.jwt')); // malformed
      const a = await fake.connect(token('a', room.sid)); // the SID works as the grant's room too
      assert.match(a.sid, /^PA[0-9a-f]{32}$/);
      await fake.connect(token('b', 'tokens'));
      await assert.rejects(fake.connect(token('c', 'tokens')), code(53105));
    });

    test('callbacks on connect, publish, REST removal; a second connect with the same identity drops the first', async () => {
      const room = await createRoom('people');
      const host = await fake.connect(token('host', 'people'));
      const patient = await fake.connect(token('patient', 'people'), { publish: ['audio'] });
      patient.publish('video');
      patient.unpublish('audio');

      const listed = await client.video.v1.rooms(room.sid).participants.list({ status: 'connected' });
      assert.deepEqual(listed.map((p) => p.identity).sort(), ['host', 'patient']);
      assert.equal((await client.video.v1.rooms(room.sid).participants('patient').fetch()).sid, patient.sid);
      const published = await client.video.v1.rooms(room.sid).participants(patient.sid).publishedTracks.list();
      assert.deepEqual(published.map((t) => t.kind), ['video']);

      const removed = await client.video.v1.rooms(room.sid).participants(patient.sid).update({ status: 'disconnected' });
      assert.equal(removed.status, 'disconnected');
      assert.deepEqual(await patient.disconnected, { code: null, reason: 'Participant removed through the REST API' });

      const again = await fake.connect(token('host', 'people'));
      assert.equal((await host.disconnected).code, 53205);
      assert.notEqual(again.sid, host.sid);

      await fake.settled();
      const sent = fake.sentCallbacks;
      assert.deepEqual(events(), [
        'room-created',
        'participant-connected', 'track-added', 'track-added', // host: audio, video
        'participant-connected', 'track-added', // patient: audio
        'track-added', 'track-removed', // patient: video on, audio off
        'track-removed', 'participant-disconnected', // REST removal
        'track-removed', 'track-removed', 'participant-disconnected', // the first host, replaced
        'participant-connected', 'track-added', 'track-added',
      ]);
      const sequence = sent.map((c) => Number(c.params.SequenceNumber));
      assert.deepEqual(sequence, sequence.map((_, i) => i));
      const stamps = sent.map((c) => Date.parse(c.params.Timestamp!));
      assert.ok(stamps.every((t, i) => i === 0 || t > stamps[i - 1]!), 'timestamps strictly increase');
      const trackAdded = sent.find((c) => c.event === 'track-added')!;
      assert.equal(trackAdded.params.ParticipantIdentity, 'host');
      assert.equal(trackAdded.params.TrackKind, 'audio');
      assert.match(trackAdded.params.TrackSid!, /^MT[0-9a-f]{32}$/);
      assert.ok(trackAdded.params.TrackName);
      const left = sent.find((c) => c.event === 'participant-disconnected')!;
      assert.equal(left.params.ParticipantStatus, 'disconnected');
      assert.ok(left.params.ParticipantDuration !== undefined);
      assert.deepEqual(fake.problems, []);
    });

    test('ending the room disconnects everyone with 53118; Twilio ending it does the same', async () => {
      const a = await createRoom('end-rest');
      const p = await fake.connect(token('p', 'end-rest'));
      await client.video.v1.rooms(a.sid).update({ status: 'completed' });
      assert.deepEqual(await p.disconnected, { code: 53118, reason: 'Room completed' });

      const b = await createRoom('end-twilio');
      const q = await fake.connect(token('q', 'end-twilio'));
      await fake.endRoomAsTwilio(b.sid);
      assert.equal((await q.disconnected).code, 53118);
      assert.equal(fake.room(b.sid)?.status, 'completed');
      await fake.settled();
      const ended = fake.sentCallbacks.filter((c) => c.event === 'room-ended');
      assert.equal(ended.length, 2);
      assert.equal(ended[1]!.params.RoomStatus, 'completed');
      assert.ok(ended[1]!.params.RoomDuration !== undefined);
    });
  });

  test("Twilio's own timers (scaled): unused and empty rooms end, a participant is dropped at MaxParticipantDuration", async () => {
    const fast = await startFakeTwilioVideo({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiKeySid: API_KEY, apiKeySecret: API_SECRET, timeScale: 0.0002 });
    try {
      const c = twilio(API_KEY, API_SECRET, { accountSid: ACCOUNT_SID, httpClient: new FakeTwilioVideoRequestClient(fast.url) });
      // UnusedRoomTimeout 1 min → 12 ms; EmptyRoomTimeout 5 min → 60 ms; MaxParticipantDuration 600 s → 120 ms.
      const unused = await c.video.v1.rooms.create({ uniqueName: 'unused', unusedRoomTimeout: 1 });
      const busy = await c.video.v1.rooms.create({ uniqueName: 'busy', unusedRoomTimeout: 60, maxParticipantDuration: 600 });
      const p = await fast.connect(token('p', 'busy'));
      assert.deepEqual(await p.disconnected, { code: 53216, reason: 'Participant session length exceeded' });
      assert.equal(fast.room(unused.sid)?.status, 'completed');
      assert.equal(fast.room(busy.sid)?.status, 'in-progress');
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.equal(fast.room(busy.sid)?.status, 'completed');
      assert.deepEqual(fast.problems, []);
    } finally {
      await fast.close();
    }
  });

  describe('subscribe rules', () => {
    test('Twilio default is everything: a participant receives all before its rules land (everSubscribed remembers)', async () => {
      const room = await createRoom('waiting');
      const host = await fake.connect(token('host', 'waiting'));
      const patient = await fake.connect(token('patient', 'waiting'));
      assert.equal(patient.subscribed('host', 'video'), true);
      await client.video.v1.rooms(room.sid).participants(patient.sid).subscribeRules.update({ rules: [{ type: 'exclude', all: true }] });
      await client.video.v1.rooms(room.sid).participants(host.sid).subscribeRules.update({ rules: [{ type: 'exclude', publisher: 'patient' }, { type: 'include', kind: 'audio' }] });
      assert.equal(patient.subscribed('host', 'video'), false);
      assert.equal(patient.subscribed('host', 'audio'), false);
      assert.equal(patient.everSubscribed('host', 'video'), true, 'the connect window counts');
      // host: the later include of audio overrides the earlier exclude of the patient; video matches only the exclude.
      assert.equal(host.subscribed('patient', 'audio'), true);
      assert.equal(host.subscribed('patient', 'video'), false);
      assert.equal(host.everSubscribed('patient', 'video'), true);

      const fetched = await client.video.v1.rooms(room.sid).participants(host.sid).subscribeRules.fetch();
      assert.deepEqual(JSON.parse(JSON.stringify(fetched.rules)), [{ type: 'exclude', publisher: 'patient' }, { type: 'include', kind: 'audio' }]);
      const subscribed = await client.video.v1.rooms(room.sid).participants(host.sid).subscribedTracks.list();
      assert.deepEqual(subscribed.map((t) => t.kind), ['audio']);
      assert.deepEqual(fake.room('waiting')?.subscribeRules.patient, [{ type: 'exclude', all: true }]);
      assert.deepEqual(fake.problems, []);
    });

    test('a newcomer is excluded from others at once by their allow-list rules, but receives everything itself', async () => {
      const room = await createRoom('allow');
      const host = await fake.connect(token('host', 'allow'));
      await client.video.v1.rooms(room.sid).participants(host.sid).subscribeRules.update({ rules: [{ type: 'include', publisher: 'clinician' }] });
      const patient = await fake.connect(token('patient', 'allow'));
      assert.equal(host.everSubscribed('patient', 'audio'), false);
      assert.equal(patient.everSubscribed('host', 'audio'), true);
      // No rules at all: an unrelated publisher is seen; an empty rule list or a bad one is refused (53215).
      const code = (e: unknown): number | undefined => (e as { code?: number }).code;
      await assert.rejects(client.video.v1.rooms(room.sid).participants(host.sid).subscribeRules.update({ rules: [] }), (e) => code(e) === 53215);
      await assert.rejects(
        client.video.v1.rooms(room.sid).participants(host.sid).subscribeRules.update({ rules: [{ type: 'include', all: true, kind: 'audio' }] }),
        (e) => code(e) === 53215,
      );
      await assert.rejects(client.video.v1.rooms(room.sid).participants(host.sid).subscribeRules.update({ rules: [{ kind: 'audio' }] }), (e) => code(e) === 53215);
      assert.deepEqual(fake.problems, []);
    });
  });

  test("ruleConflicts 'exclude-wins': the other reading of overlapping rules", async () => {
    const strict = await startFakeTwilioVideo({ accountSid: ACCOUNT_SID, authToken: AUTH_TOKEN, apiKeySid: API_KEY, apiKeySecret: API_SECRET, ruleConflicts: 'exclude-wins' });
    try {
      const c = twilio(API_KEY, API_SECRET, { accountSid: ACCOUNT_SID, httpClient: new FakeTwilioVideoRequestClient(strict.url) });
      const room = await c.video.v1.rooms.create({ uniqueName: 'overlap' });
      const host = await strict.connect(token('host', 'overlap'));
      await strict.connect(token('patient', 'overlap'));
      await c.video.v1.rooms(room.sid).participants(host.sid).subscribeRules.update({ rules: [{ type: 'exclude', publisher: 'patient' }, { type: 'include', kind: 'audio' }] });
      assert.equal(host.subscribed('patient', 'audio'), false);
      await c.video.v1.rooms(room.sid).participants(host.sid).subscribeRules.update({ rules: [{ type: 'include', all: true }, { type: 'exclude', publisher: 'patient', kind: 'video' }] });
      assert.equal(host.subscribed('patient', 'audio'), true);
      assert.equal(host.subscribed('patient', 'video'), false);
    } finally {
      await strict.close();
    }
  });

  describe('recordings and compositions', () => {
    test('recording rules start and complete per-track recordings; media downloads through the redirect', async () => {
      const room = await createRoom('rec');
      const host = await fake.connect(token('host', 'rec'));
      const patient = await fake.connect(token('patient', 'rec'));
      assert.deepEqual((await client.video.v1.rooms(room.sid).recordingRules.fetch()).rules, []);
      await client.video.v1.rooms(room.sid).recordingRules.update({ rules: [{ type: 'include', publisher: 'host' }] });
      let recs = fake.room(room.sid)!.recordings;
      assert.deepEqual(recs.map((r) => [r.participantIdentity, r.kind, r.status]), [['host', 'audio', 'processing'], ['host', 'video', 'processing']]);
      // The patient consents to audio only: their audio track starts recording.
      await client.video.v1.rooms(room.sid).recordingRules.update({ rules: [{ type: 'include', publisher: 'host' }, { type: 'include', publisher: 'patient', kind: 'audio' }] });
      host.unpublish('video');
      recs = fake.room(room.sid)!.recordings;
      assert.deepEqual(recs.map((r) => [r.participantIdentity, r.kind, r.status]), [
        ['host', 'audio', 'processing'], ['host', 'video', 'completed'], ['patient', 'audio', 'processing'],
      ]);
      await patient.disconnect();
      await client.video.v1.rooms(room.sid).update({ status: 'completed' });
      recs = fake.room(room.sid)!.recordings;
      assert.ok(recs.every((r) => r.status === 'completed' && r.duration === 1));

      const listed = await client.video.v1.recordings.list({ groupingSid: [room.sid] });
      assert.equal(listed.length, 3);
      const audio = listed.find((r) => r.type === 'audio' && r.trackName === recs[0]!.trackName)!;
      assert.equal(audio.containerFormat, 'mka');
      assert.equal(audio.codec, 'OPUS');
      assert.equal((await client.video.v1.rooms(room.sid).recordings.list()).length, 3);

      const media = await fetch(`${fake.url}/v1/Recordings/${audio.sid}/Media`, { headers: { Authorization: basic(API_KEY, API_SECRET) }, redirect: 'manual' });
      assert.equal(media.status, 302);
      const location = media.headers.get('location')!;
      assert.deepEqual(await media.json(), { redirect_to: location });
      const file = await fetch(location); // no auth, as Twilio's storage URLs
      assert.equal(file.headers.get('content-type'), 'audio/x-matroska');
      assert.equal(Number(file.headers.get('content-length')), audio.size);
      assert.deepEqual(Buffer.from(await file.arrayBuffer()), fakeMediaBytes(audio.sid, Number(audio.size), 'mka'));

      await client.video.v1.recordings(audio.sid).remove();
      assert.equal((await client.video.v1.recordings.list({ groupingSid: [room.sid] })).length, 2);

      await fake.settled();
      const completed = fake.sentCallbacks.filter((c) => c.event === 'recording-completed');
      assert.equal(completed.length, 3);
      for (const c of completed) {
        assert.match(c.params.RecordingSid!, /^RT/);
        assert.ok(c.params.Size && c.params.Duration && c.params.Container && c.params.Codec && c.params.MediaUri);
      }
      assert.equal(fake.sentCallbacks.filter((c) => c.event === 'recording-started').length, 3);
      assert.deepEqual(fake.problems, []);
    });

    test('RecordingRules given at creation apply from the first connect', async () => {
      const room = await createRoom('rules-at-create', { recordingRules: { rules: [{ type: 'include', kind: 'audio' }] } });
      await fake.connect(token('a', 'rules-at-create'));
      assert.deepEqual(fake.room(room.sid)!.recordings.map((r) => r.kind), ['audio']);
      assert.deepEqual(JSON.parse(JSON.stringify((await client.video.v1.rooms(room.sid).recordingRules.fetch()).rules)), [{ type: 'include', kind: 'audio' }]);
      assert.deepEqual(fake.problems, []);
    });

    test('RecordParticipantsOnConnect records everyone without rules; a composition is enqueued, started, available', async () => {
      const room = await createRoom('comp', { recordParticipantsOnConnect: true });
      await fake.connect(token('a', 'comp'));
      assert.equal(fake.room(room.sid)!.recordings.length, 2);
      await client.video.v1.rooms(room.sid).update({ status: 'completed' });
      await assert.rejects(client.video.v1.compositions.create({ roomSid: `RM${'0'.repeat(32)}`, audioSources: ['*'] }), (e: { status?: number }) => e.status === 404);
      const created = await client.video.v1.compositions.create({
        roomSid: room.sid,
        audioSources: ['*'],
        videoLayout: { grid: { video_sources: ['*'] } },
        format: 'mp4',
        statusCallback: receiver.url,
      });
      assert.equal(created.status, 'enqueued');
      await fake.settled();
      const done = await client.video.v1.compositions(created.sid).fetch();
      assert.equal(done.status, 'completed');
      assert.deepEqual((await client.video.v1.compositions.list({ roomSid: room.sid })).map((c) => c.sid), [created.sid]);
      const file = await fetch(`${fake.url}/v1/Compositions/${created.sid}/Media`, { headers: { Authorization: basic(API_KEY, API_SECRET) } });
      assert.equal(file.headers.get('content-type'), 'video/mp4');
      assert.equal((await file.arrayBuffer()).byteLength, done.size);
      const compositionEvents = fake.sentCallbacks.filter((c) => c.params.CompositionSid).map((c) => c.event);
      assert.deepEqual(compositionEvents, ['composition-enqueued', 'composition-started', 'composition-available']);
      await client.video.v1.compositions(created.sid).remove();
      assert.equal(fake.compositions()[0]!.status, 'deleted');
      assert.deepEqual(fake.problems, []);
    });
  });

  describe('status callbacks', () => {
    test('signed as Twilio signs them (twilio.validateRequest), in order by default', async () => {
      await createRoom('signed');
      await fake.connect(token('a', 'signed'));
      await fake.settled();
      assert.equal(receiver.received.length, 4);
      for (const r of receiver.received) assert.ok(twilio.validateRequest(AUTH_TOKEN, r.signature, receiver.url, r.params));
      assert.equal(twilio.validateRequest(AUTH_TOKEN, receiver.received[0]!.signature, `${receiver.url}?x=1`, receiver.received[0]!.params), false);
      assert.deepEqual(receiver.received.map((r) => r.params.StatusCallbackEvent), ['room-created', 'participant-connected', 'track-added', 'track-added']);
      assert.ok(fake.sentCallbacks.every((c: SentVideoCallback) => c.status === 204));
      const first = receiver.received[1]!.params;
      for (const name of ['AccountSid', 'RoomName', 'RoomSid', 'RoomStatus', 'RoomType', 'StatusCallbackEvent', 'Timestamp', 'SequenceNumber', 'ParticipantSid', 'ParticipantIdentity', 'ParticipantStatus']) {
        assert.ok(first[name] !== undefined, name);
      }
      assert.match(first.Timestamp!, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    });

    test('StatusCallbackMethod GET: parameters in the query string, signed over the whole URL', async () => {
      await createRoom('get', { statusCallbackMethod: 'GET' });
      await fake.settled();
      const sent = fake.sentCallbacks[0]!;
      assert.equal(sent.method, 'GET');
      const url = `${receiver.url}?${new URLSearchParams(sent.params).toString()}`;
      assert.ok(twilio.validateRequest(AUTH_TOKEN, sent.signature, url, {}));
      assert.equal(sent.status, 204);
    });

    test('knobs: duplicates and a batch delivered in reverse', async () => {
      fake.callbacks.duplicate = true;
      fake.callbacks.reverse = true;
      fake.callbacks.delayMs = 20;
      await createRoom('knobs');
      await fake.connect(token('a', 'knobs'));
      await fake.settled();
      const got = receiver.received.map((r) => r.params.SequenceNumber);
      assert.deepEqual(got, ['3', '3', '2', '2', '1', '1', '0', '0']);
    });
  });

  describe('failure injection', () => {
    test('status failures answer a Twilio error without applying the request', async () => {
      fake.fail({ method: 'POST', path: /^\/v1\/Rooms$/, status: 429, retryAfter: 2 });
      await assert.rejects(createRoom('busy'), (e: { status?: number; code?: number }) => e.status === 429 && e.code === 20429);
      assert.equal(fake.rooms().length, 0);
      fake.fail({ path: /^\/v1\/Rooms$/, times: 2, status: 503 });
      await assert.rejects(createRoom('busy'), (e: { status?: number }) => e.status === 503);
      await assert.rejects(createRoom('busy'), (e: { status?: number }) => e.status === 503);
      assert.equal((await createRoom('busy')).uniqueName, 'busy');
      assert.deepEqual(fake.requests.map((r) => r.status), [429, 503, 503, 201]);
      const res = await fetch(`${fake.url}/v1/Rooms/nope`, { headers: { Authorization: basic(API_KEY, API_SECRET) } });
      assert.equal(res.status, 404);
      assert.deepEqual(fake.problems, []);
    });

    test('a held answer is applied first: the client times out, its retry meets the room it already made', async () => {
      const impatient = twilio(API_KEY, API_SECRET, { accountSid: ACCOUNT_SID, httpClient: new FakeTwilioVideoRequestClient(fake.url, { timeout: 100 }) });
      fake.fail({ method: 'POST', path: /^\/v1\/Rooms$/, timeoutMs: 400 });
      await assert.rejects(impatient.video.v1.rooms.create({ uniqueName: 'slow' }));
      assert.equal(fake.rooms().length, 1);
      await assert.rejects(impatient.video.v1.rooms.create({ uniqueName: 'slow' }), (e: { code?: number }) => e.code === 53113);
      fake.fail({ method: 'POST', path: /^\/v1\/Rooms\/RM/, destroy: true });
      await assert.rejects(impatient.video.v1.rooms(fake.rooms()[0]!.sid).update({ status: 'completed' }));
      assert.equal(fake.rooms()[0]!.status, 'completed');
    });
  });
});
