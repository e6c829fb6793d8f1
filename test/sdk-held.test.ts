// A participant the server holds out of the media (token answer `held: true`, src/sdk/types.ts): the Room is
// connected with its local tracks and the participant channel only, and joins the media when the server says `join`
// on the channel (or when the channel comes back after a drop), with the token answer getToken() then gives. Here in
// node with a stand-in channel server (the protocol of src/shared/channel.ts) and the Twilio adapter over the
// twilio-video stand-in.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { CHANNEL_CLOSE } from '../src/shared/channel.js';
import { createTestApp } from './helpers/app.js';
import { caller, createTestOrg } from './helpers/builders.js';
import { FakeTrack, record, sdk, waitFor, type SdkRoom } from './helpers/sdk-node.js';
import { ChannelStandIn } from './helpers/sdk-servers.js';
import { RemoteParticipant, newRoom, standIn } from './helpers/twilio-video-standin.js';

let server: ChannelStandIn;
beforeEach(async () => {
  standIn.reset();
  server = new ChannelStandIn();
  await server.ready;
});
afterEach(async () => {
  standIn.reset();
  await server.close();
});

const heldAnswer = (channelToken = 'ch-1') => ({ provider: 'twilio', url: '', token: '', held: true, channel: { url: server.url, token: channelToken } });
const joinAnswer = (channelToken = 'ch-2') => ({ provider: 'twilio', url: 'wss://global.vss.twilio.com/signaling', token: 'tw-admitted', channel: { url: server.url, token: channelToken } });

/** A held Room; `answers` are what getToken gives, in order (the last one again when they run out). */
async function heldRoom(...answers: object[]) {
  const mic = new FakeTrack('audio');
  const camera = new FakeTrack('video');
  const asked: number[] = [];
  const room = new sdk.Room({
    tracks: [mic, camera],
    getToken: async () => {
      asked.push(Date.now());
      return answers[Math.min(asked.length - 1, answers.length - 1)];
    },
  });
  const seen = record(room);
  await room.connect(heldAnswer());
  return { room, seen, mic, camera, asked };
}

describe('SDK held participants', () => {
  test('a held answer: connected and held, local tracks kept, the channel up, no media connection', async () => {
    const { room, seen, mic, camera, asked } = await heldRoom(heldAnswer());
    assert.deepEqual(seen, ['state:connecting', 'held:true', 'state:connected']);
    assert.deepEqual([room.state, room.held, room.participants.size, room.mediaState, await room.getStats()], ['connected', true, 0, null, null]);
    assert.deepEqual([mic.readyState, camera.readyState], ['live', 'live']);
    assert.deepEqual(server.auths, ['ch-1']);
    assert.equal(standIn.calls.length, 0, 'no media connection');
    assert.equal(asked.length, 0);
    // The device controls work while held (nothing to publish yet).
    await room.localParticipant.setMicrophoneEnabled(false);
    assert.equal(mic.enabled, false);
    await room.disconnect();
  });

  test('`join` on the channel: ask for a token; still held, wait; then join the media with the new answer, publishing the local tracks', async () => {
    const { room, seen, mic, camera, asked } = await heldRoom(heldAnswer(), joinAnswer());
    await room.localParticipant.setMicrophoneEnabled(false);
    seen.length = 0;
    server.send({ type: 'join' });
    await waitFor(() => asked.length === 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual([room.held, standIn.calls.length], [true, 0], 'still held');

    const doctor = new RemoteParticipant('doctor', 'PA-doctor');
    standIn.next.push(() => {
      const r = newRoom('patient');
      r.participants.set(doctor.sid, doctor);
      return r;
    });
    server.send({ type: 'join' });
    await waitFor(() => room.held === false);
    assert.equal(asked.length, 2);
    assert.equal(standIn.calls.length, 1);
    const { token, options } = standIn.calls[0]!;
    assert.equal(token, 'tw-admitted');
    assert.equal(options.automaticSubscription, false);
    assert.deepEqual(
      options.tracks.map((t) => [t.name, 'mediaStreamTrack' in t ? t.mediaStreamTrack : null]),
      [
        ['microphone', mic],
        ['camera', camera],
        ['data', null],
      ],
    );
    assert.equal(mic.enabled, false, 'muted while waiting, muted in the call');
    // The Room stayed connected throughout: the adapter's connecting is not shown.
    assert.deepEqual(seen, ['joined:doctor', 'held:false']);
    assert.deepEqual([room.state, room.localParticipant.identity, [...room.participants.keys()]], ['connected', 'patient', ['doctor']]);

    // Joined: a later `join` changes nothing; the channel now authenticates with the newer answer's token.
    server.send({ type: 'join' });
    server.closeAll(CHANNEL_CLOSE.serverRestart);
    await waitFor(() => server.auths.length === 2, 3000);
    assert.equal(server.auths[1], 'ch-2');
    assert.equal(asked.length, 2);
    assert.equal(standIn.calls.length, 1);
    await room.disconnect();
    assert.equal(seen.at(-1), 'disconnected:left');
  });

  test('a channel that comes back after a drop while held asks again (a `join` may have been missed)', async () => {
    const { room, asked } = await heldRoom(joinAnswer());
    server.closeAll(CHANNEL_CLOSE.serverRestart);
    await waitFor(() => room.held === false, 3000);
    assert.equal(asked.length, 1);
    assert.equal(server.auths.length, 2);
    assert.equal(standIn.calls.length, 1);
    await room.disconnect();
  });

  test('removed (or the room ended) while held: disconnected with the reason, local tracks stopped', async () => {
    for (const [code, reason] of [
      [CHANNEL_CLOSE.removed, 'removed'],
      [CHANNEL_CLOSE.roomEnded, 'room_ended'],
    ] as const) {
      const { room, seen, mic, camera } = await heldRoom(heldAnswer());
      server.closeAll(code);
      await waitFor(() => room.state === 'disconnected');
      assert.equal(seen.at(-1), `disconnected:${reason}`);
      assert.deepEqual([mic.readyState, camera.readyState], ['ended', 'ended']);
    }
    assert.equal(standIn.calls.length, 0);
  });

  test('leaving while held closes the channel; a held answer needs getToken and a channel', async () => {
    const { room, seen } = await heldRoom(heldAnswer());
    await room.disconnect();
    assert.deepEqual(seen.slice(-2), ['state:disconnected', 'disconnected:left']);
    await waitFor(() => server.sockets.size === 0);

    await assert.rejects(new sdk.Room({ tracks: [new FakeTrack('audio')] }).connect(heldAnswer()), { name: 'ConnectError', reason: 'join_failed', message: /getToken/ });
    const { channel: _, ...noChannel } = heldAnswer();
    await assert.rejects(new sdk.Room({ tracks: [new FakeTrack('audio')], getToken: async () => '' }).connect(noChannel), { name: 'ConnectError', reason: 'join_failed', message: /channel/ });
  });
});

describe('SDK held participants against the server (Twilio against the fake of its API)', () => {
  test('a waiting patient is held (no Twilio token), sees the preview, and joins the media when the host admits them', { timeout: 60_000 }, async () => {
    const t = await createTestApp('pglite', { media: 'twilio', env: { LINK_SIGNING_SECRET: 'held-link-secret-'.repeat(3) } });
    const org = await createTestOrg(t.app);
    let room: SdkRoom | null = null;
    try {
      const patientId = (await org.clinician.post('/api/v1/patients', { givenName: 'Pat', familyName: 'Held' })).json().id as string;
      const visit = (await org.clinician.post('/api/v1/visits', { patientIds: [patientId], start: true })).json() as { id: string };
      const invite = (await org.clinician.post(`/api/v1/visits/${visit.id}/invites`, { role: 'patient', patientId })).json() as { token: string; participant: { id: string } };
      const joined = await org.anonymous.post('/api/v1/join', { token: invite.token });
      assert.equal(joined.statusCode, 200, joined.body);
      const patient = caller(t.app, { authorization: `Bearer ${joined.json().session}` });
      const consent = (joined.json().consentsRequired as { kind: string; version: string }[])[0]!;
      assert.equal((await patient.post(`/api/v1/visits/${visit.id}/consents`, { kind: consent.kind, version: consent.version })).statusCode, 201);
      const answers: { held: boolean; admission: string; token: string }[] = [];
      const getToken = async () => {
        const res = await patient.post(`/api/v1/visits/${visit.id}/token`);
        assert.equal(res.statusCode, 200, res.body);
        answers.push(res.json());
        return res.json() as object;
      };

      const first = (await getToken()) as { held: boolean; token: string; url: string; provider: string };
      assert.deepEqual([first.provider, first.held, first.token, first.url], ['twilio', true, '', '']);
      const mic = new FakeTrack('audio');
      room = new sdk.Room({ tracks: [mic, new FakeTrack('video')], getToken });
      const seen = record(room);
      await room.connect(first);
      assert.deepEqual([room.state, room.held, standIn.calls.length], ['connected', true, 0]);

      standIn.next.push(() => newRoom(invite.participant.id, `visit-${visit.id}`));
      const admitted = await org.clinician.post(`/api/v1/visits/${visit.id}/participants/${invite.participant.id}/admit`);
      assert.equal(admitted.statusCode, 200, admitted.body);
      await waitFor(() => room!.held === false, 10_000);
      const last = answers.at(-1)!;
      assert.deepEqual([last.held, last.admission], [false, 'admitted']);
      assert.equal(standIn.calls.length, 1);
      assert.equal(standIn.calls[0]!.token, last.token, "Twilio is joined with the admitted answer's token");
      assert.deepEqual([room.state, room.localParticipant.identity], ['connected', invite.participant.id]);
      assert.deepEqual(seen.filter((e) => e.startsWith('held:') || e.startsWith('state:')), ['state:connecting', 'held:true', 'state:connected', 'held:false']);
      assert.equal(mic.readyState, 'live');
    } finally {
      await room?.disconnect();
      await t.close();
    }
  });
});
