// The browser SDK's Twilio Video adapter (src/sdk/twilio/) under the neutral Room, in node: `import('twilio-video')`
// gets a stand-in (test/helpers/twilio-video-standin.ts) that emits twilio-video's documented events, and each test
// checks what the application sees of them: participants, tracks named by source, network quality, the dominant
// speaker, reconnecting / reconnected, the disconnect codes, and a fresh token after 20104.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { FakeTrack, record, sdk, setMediaDevices, waitFor } from './helpers/sdk-node.js';
import { LocalVideoTrack, RemoteParticipant, RemoteTrack, RemoteTrackPublication, newRoom, standIn, twilioError, type Room as TwilioRoom } from './helpers/twilio-video-standin.js';

const answer = { provider: 'twilio', url: 'wss://global.vss.twilio.com/signaling', token: 'tw-token-1' };

/** A remote participant in the stand-in room, with publications (name → kind) and, for `subscribed`, their tracks. */
function remote(identity: string, tracks: Record<string, string> = {}, subscribed = false): RemoteParticipant {
  const p = new RemoteParticipant(identity, `PA-${identity}`);
  for (const [name, kind] of Object.entries(tracks)) {
    const publication = new RemoteTrackPublication(`MT-${identity}-${name}`, name, kind);
    if (subscribed) publication.track = new RemoteTrack(kind, publication.trackSid, new FakeTrack(kind as 'audio' | 'video'));
    p.tracks.set(publication.trackSid, publication);
  }
  return p;
}

function publicationOf(p: RemoteParticipant, name: string): RemoteTrackPublication {
  const found = [...p.tracks.values()].find((t) => t.trackName === name);
  assert.ok(found, `${p.identity} publishes ${name}`);
  return found;
}

/** The stand-in subscribes us to one of `p`'s tracks (as the server's subscribe rules would). */
function subscribe(room: TwilioRoom, p: RemoteParticipant, name: string): RemoteTrack {
  const publication = publicationOf(p, name);
  publication.track = new RemoteTrack(publication.kind, publication.trackSid, new FakeTrack(publication.kind as 'audio' | 'video'));
  room.emit('trackSubscribed', publication.track, publication, p);
  return publication.track;
}

/** A Room connected through the stand-in with a microphone and a camera. */
async function connected(options: object = {}, ...next: (typeof standIn.next)[number][]) {
  const mic = new FakeTrack('audio');
  const camera = new FakeTrack('video');
  const room = new sdk.Room({ tracks: [mic, camera], ...options });
  const seen = record(room);
  standIn.next.push(...next);
  await room.connect(answer);
  return { room, seen, mic, camera, twilio: standIn.room };
}

beforeEach(() => standIn.reset());
afterEach(() => standIn.reset());

describe('SDK Twilio adapter: connecting', () => {
  test('connects with the token, publishes the local tracks named by source, subscribes to nothing by itself, with the seed bandwidth profile and codecs', async () => {
    const { room, seen, mic, camera, twilio } = await connected();
    assert.equal(standIn.calls.length, 1);
    const { token, options } = standIn.calls[0]!;
    assert.equal(token, 'tw-token-1');
    assert.equal(options.automaticSubscription, false);
    assert.deepEqual(options.networkQuality, { local: 1, remote: 1 });
    assert.equal(options.dominantSpeaker, true);
    assert.deepEqual(options.bandwidthProfile, { video: { mode: 'collaboration', dominantSpeakerPriority: 'standard', clientTrackSwitchOffControl: 'manual', contentPreferencesMode: 'manual' } });
    assert.deepEqual(options.preferredVideoCodecs, ['VP8', 'H264']);
    assert.equal(options.maxAudioBitrate, 16_000);
    assert.deepEqual(
      options.tracks.map((t) => [t.constructor.name, t.name, 'mediaStreamTrack' in t ? t.mediaStreamTrack : null]),
      [
        ['LocalAudioTrack', 'microphone', mic],
        ['LocalVideoTrack', 'camera', camera],
        ['LocalDataTrack', 'data', null],
      ],
    );
    assert.deepEqual(seen, ['state:connecting', 'state:connected']);
    assert.deepEqual([room.state, room.name, room.sid, room.localParticipant.identity, room.held], ['connected', 'visit-1', twilio.sid, 'me', false]);
    assert.equal(room.mediaState, 'connected');
    assert.equal(await room.getStats(), null, "twilio-video's StatsReport is not an RTCStatsReport");
  });

  test('settings in ConnectOptions.twilio go over the defaults (the bandwidth profile field by field)', async () => {
    await connected({ twilio: { bandwidthProfile: { video: { mode: 'grid' } }, preferredVideoCodecs: ['H264'], region: 'de1' } });
    const { options } = standIn.calls[0]!;
    assert.deepEqual(options.bandwidthProfile, { video: { mode: 'grid', dominantSpeakerPriority: 'standard', clientTrackSwitchOffControl: 'manual', contentPreferencesMode: 'manual' } });
    assert.deepEqual(options.preferredVideoCodecs, ['H264']);
    assert.equal(options.region, 'de1');
    assert.equal(options.automaticSubscription, false, 'what the adapter owns cannot be overridden');
  });

  test('who is there at the join, with the tracks already reaching us, is reported', async () => {
    const doctor = remote('doctor', { microphone: 'audio', camera: 'video', data: 'data' }, true);
    doctor.networkQualityLevel = 4;
    const { room, seen } = await connected({}, () => {
      const r = newRoom();
      r.participants.set(doctor.sid, doctor);
      return r;
    });
    assert.deepEqual(seen, ['state:connecting', 'joined:doctor', 'subscribed:doctor:microphone', 'subscribed:doctor:camera', 'state:connected']);
    const p = room.participants.get('doctor')!;
    assert.deepEqual(
      p.published.map((t) => `${t.kind}:${t.source}`),
      ['audio:microphone', 'video:camera'],
      'the data track is not a media publication',
    );
    assert.equal(p.networkQuality, 4);
    assert.deepEqual([...p.tracks.keys()], ['microphone', 'camera']);
    assert.equal(p.tracks.get('camera')!.sid, 'MT-doctor-camera');
  });

  test('a refused connect rejects with the reason its code says, and stops the local tracks', async () => {
    for (const [code, reason] of [
      [20101, 'invalid_token'],
      [20104, 'token_expired'],
      [53105, 'room_full'],
      [53106, 'room_not_found'],
      [53118, 'room_ended'],
      [53000, 'join_failed'],
      [53405, 'join_failed'],
    ] as const) {
      standIn.reset();
      const mic = new FakeTrack('audio');
      const room = new sdk.Room({ tracks: [mic], video: false });
      standIn.next.push(() => twilioError(code));
      await assert.rejects(room.connect(answer), { name: 'ConnectError', reason }, `code ${code}`);
      assert.equal(room.state, 'disconnected');
      assert.equal(mic.readyState, 'ended');
    }
  });
});

describe('SDK Twilio adapter: the room', () => {
  test('participants and their tracks: connected, published, subscribed (source from the track name), disabled, unsubscribed, disconnected', async () => {
    const { room, seen, twilio } = await connected();
    seen.length = 0;
    const patient = remote('patient');
    twilio.participants.set(patient.sid, patient);
    twilio.emit('participantConnected', patient);
    for (const [name, kind] of [
      ['microphone', 'audio'],
      ['screen', 'video'],
    ] as const) {
      const publication = new RemoteTrackPublication(`MT-${name}`, name, kind);
      patient.tracks.set(publication.trackSid, publication);
      twilio.emit('trackPublished', publication, patient);
    }
    const screen = subscribe(twilio, patient, 'screen');
    subscribe(twilio, patient, 'microphone');
    const mic = publicationOf(patient, 'microphone');
    mic.isTrackEnabled = false;
    twilio.emit('trackDisabled', mic, patient);
    assert.equal(room.participants.get('patient')!.tracks.get('microphone')!.muted, true);
    mic.isTrackEnabled = true;
    twilio.emit('trackEnabled', mic, patient);
    const screenPublication = publicationOf(patient, 'screen');
    twilio.emit('trackUnsubscribed', screen, screenPublication, patient);
    patient.tracks.delete(screenPublication.trackSid);
    twilio.emit('trackUnpublished', screenPublication, patient);
    const view = room.participants.get('patient')!;
    assert.equal(view.tracks.get('screen'), undefined);
    assert.equal(view.tracks.get('microphone')!.mediaStreamTrack, mic.track!.mediaStreamTrack);
    twilio.participants.delete(patient.sid);
    twilio.emit('participantDisconnected', patient);
    assert.deepEqual(seen, [
      'joined:patient',
      'updated:patient:microphone',
      'updated:patient:microphone,screen',
      'subscribed:patient:screen',
      'subscribed:patient:microphone',
      'updated:patient:microphone(muted),screen',
      'updated:patient:microphone,screen',
      'unsubscribed:patient:screen',
      'updated:patient:microphone',
      'unsubscribed:patient:microphone',
      'left:patient:left',
    ]);
    assert.equal(room.participants.size, 0);
  });

  test('a track whose name is not a source (or not of its kind) is not shown', async () => {
    const { room, seen, twilio } = await connected();
    seen.length = 0;
    const odd = remote('odd', { whiteboard: 'video', microphone: 'video' });
    twilio.participants.set(odd.sid, odd);
    twilio.emit('participantConnected', odd);
    subscribe(twilio, odd, 'whiteboard');
    subscribe(twilio, odd, 'microphone');
    assert.deepEqual(seen, ['joined:odd']);
    assert.deepEqual(room.participants.get('odd')!.published, []);
  });

  test('network quality (ours and the others), the dominant speaker, data', async () => {
    const doctor = remote('doctor');
    const { room, seen, twilio } = await connected({}, () => {
      const r = newRoom();
      r.participants.set(doctor.sid, doctor);
      return r;
    });
    seen.length = 0;
    twilio.localParticipant.emit('networkQualityLevelChanged', 3, { level: 3 });
    doctor.networkQualityLevel = 1;
    doctor.emit('networkQualityLevelChanged', 1, { level: 1 });
    twilio.emit('dominantSpeakerChanged', doctor);
    twilio.emit('dominantSpeakerChanged', null);
    twilio.emit('trackMessage', 'hello', {}, doctor);
    assert.deepEqual(seen, ['quality:null:3', 'quality:doctor:1', 'speaker:doctor', 'speaker:null', 'data:doctor:hello']);
    assert.equal(room.localParticipant.networkQuality, 3);
    assert.equal(room.participants.get('doctor')!.networkQuality, 1);
  });

  test('reconnecting (53001: signal, 53405: media), then reconnected', async () => {
    const { room, seen, twilio } = await connected();
    seen.length = 0;
    twilio.state = 'reconnecting';
    twilio.emit('reconnecting', twilioError(53001));
    assert.equal(room.state, 'reconnecting');
    assert.equal(room.mediaState, 'disconnected');
    twilio.state = 'connected';
    twilio.emit('reconnected');
    twilio.emit('reconnecting', twilioError(53405));
    twilio.emit('reconnected');
    assert.deepEqual(seen, ['state:reconnecting', 'reconnecting:signal', 'state:connected', 'reconnected', 'state:reconnecting', 'reconnecting:media', 'state:connected', 'reconnected']);
    assert.equal(room.reconnects, 2);
  });

  test("disconnected: Twilio's codes become the SDK's reasons; local tracks stop, everyone leaves", async () => {
    for (const [code, reason] of [
      [53118, 'room_ended'],
      [53205, 'replaced'],
      [null, 'removed'],
      [53216, 'duration_exceeded'],
      [53000, 'connection_lost'],
      [53001, 'connection_lost'],
      [53405, 'connection_lost'],
      [20101, 'invalid_token'],
      [20104, 'token_expired'],
      [99999, 'connection_lost'],
    ] as const) {
      standIn.reset();
      const doctor = remote('doctor');
      const { room, seen, mic, camera, twilio } = await connected({}, () => {
        const r = newRoom();
        r.participants.set(doctor.sid, doctor);
        return r;
      });
      seen.length = 0;
      twilio.state = 'disconnected';
      twilio.emit('disconnected', twilio, code === null ? undefined : twilioError(code));
      assert.deepEqual(seen, ['state:disconnected', `left:doctor:${reason}`, `disconnected:${reason}`], `code ${code}`);
      assert.deepEqual([mic.readyState, camera.readyState], ['ended', 'ended']);
      assert.equal(room.mediaState, null);
    }
  });

  test('20104 (token expired) during a call: a fresh token, the same identity, the tracks published again, reconnecting → connected', async () => {
    const tokens: string[] = [];
    // The same people in each room, as twilio-video's objects of that connection.
    const doctors: RemoteParticipant[] = [];
    const withDoctor = () => {
      const r = newRoom('me');
      const doctor = remote('doctor', { camera: 'video' });
      doctors.push(doctor);
      r.participants.set(doctor.sid, doctor);
      return r;
    };
    const { room, seen, mic, camera, twilio } = await connected(
      {
        getToken: async () => {
          tokens.push('asked');
          // A full token answer, as the web app gives (a bare token works too).
          return { ...answer, token: 'tw-token-2' };
        },
      },
      withDoctor,
      withDoctor,
    );
    subscribe(twilio, doctors[0]!, 'camera');
    await room.localParticipant.setMicrophoneEnabled(false);
    seen.length = 0;
    // twilio-video tries to reconnect with the old token and is refused.
    twilio.state = 'reconnecting';
    twilio.emit('reconnecting', twilioError(53001));
    twilio.state = 'disconnected';
    twilio.emit('disconnected', twilio, twilioError(20104));
    await waitFor(() => standIn.calls.length === 2 && room.state === 'connected');
    assert.deepEqual(tokens, ['asked']);
    const second = standIn.calls[1]!;
    assert.equal(second.token, 'tw-token-2');
    assert.deepEqual(
      second.options.tracks.map((t) => [t.name, 'mediaStreamTrack' in t ? t.mediaStreamTrack : null]),
      [
        ['microphone', mic],
        ['camera', camera],
        ['data', null],
      ],
    );
    assert.equal(mic.enabled, false, 'still muted on the new connection');
    assert.equal(camera.readyState, 'live');
    subscribe(standIn.room, doctors[1]!, 'camera');
    assert.deepEqual(seen, ['state:reconnecting', 'reconnecting:signal', 'state:reconnecting', 'unsubscribed:doctor:camera', 'state:connected', 'reconnected', 'subscribed:doctor:camera']);
    assert.equal(room.participants.get('doctor')!.tracks.size, 1);
    assert.equal(room.reconnects, 1);
    // The old room's events are no longer heard.
    twilio.emit('participantDisconnected', doctors[0]);
    assert.equal(room.participants.has('doctor'), true);
  });

  test('20104 without getToken, or when the fresh token cannot be had, ends the call: token_expired', async () => {
    const first = await connected();
    first.twilio.emit('disconnected', first.twilio, twilioError(20104));
    assert.deepEqual(first.seen.slice(-1), ['disconnected:token_expired']);
    standIn.reset();
    const second = await connected({ getToken: () => Promise.reject(new Error('offline')) });
    second.twilio.emit('disconnected', second.twilio, twilioError(20104));
    await waitFor(() => second.room.state === 'disconnected');
    assert.deepEqual(second.seen.slice(-1), ['disconnected:token_expired']);
  });
});

describe('SDK Twilio adapter: local controls', () => {
  test('mute (track disable), camera off (unpublished) and on again, screen share (published as "screen"), data, leave', async () => {
    const { room, seen, twilio } = await connected();
    const local = twilio.localParticipant;
    await room.localParticipant.setMicrophoneEnabled(false);
    assert.equal(local.tracks.get('microphone')!.kind, 'audio');
    assert.equal((local.tracks.get('microphone') as LocalVideoTrack).isEnabled, false);
    await room.localParticipant.setMicrophoneEnabled(true);
    assert.equal((local.tracks.get('microphone') as LocalVideoTrack).isEnabled, true);

    const devices = { camera: new FakeTrack('video'), screen: new FakeTrack('video') };
    setMediaDevices({ getUserMedia: async () => ({ getVideoTracks: () => [devices.camera], getAudioTracks: () => [] }), getDisplayMedia: async () => ({ getVideoTracks: () => [devices.screen] }) });
    await room.localParticipant.setCameraEnabled(false);
    assert.equal(local.tracks.has('camera'), false);
    await room.localParticipant.setCameraEnabled(true);
    assert.equal((local.tracks.get('camera') as LocalVideoTrack).mediaStreamTrack, devices.camera);
    await room.localParticipant.startScreenShare();
    assert.equal((local.tracks.get('screen') as LocalVideoTrack).mediaStreamTrack, devices.screen);
    assert.deepEqual(local.published.slice(-2), [
      { name: 'camera', kind: 'video', priority: 'standard' },
      { name: 'screen', kind: 'video', priority: 'high' },
    ]);
    await room.localParticipant.stopScreenShare();
    assert.equal(local.tracks.has('screen'), false);

    room.sendData('hi');
    assert.deepEqual((local.tracks.get('data') as unknown as { sent: string[] }).sent, ['hi']);
    assert.throws(() => room.sendData('private', ['doctor']), /cannot be sent to chosen participants/);

    seen.length = 0;
    await room.disconnect();
    assert.equal(twilio.disconnects, 1);
    assert.equal(twilio.listenerCount('participantConnected'), 0, 'the room is let go');
    assert.deepEqual(seen, ['state:disconnected', 'disconnected:left']);
  });

  test("the adapter's code not loading (a chunk that cannot be fetched) fails the connect with join_failed, before any capture", async () => {
    const { DeferredAdapter } = (await import('../src/sdk/deferred.ts' as string)) as {
      DeferredAdapter: new (load: () => Promise<unknown>, sink: object) => { state: string; connect(prepare: () => Promise<void>): Promise<void> };
    };
    const states: string[] = [];
    let captured = false;
    const adapter = new DeferredAdapter(() => Promise.reject(new Error('Failed to fetch dynamically imported module')), { stateChanged: (s: string) => states.push(s) });
    await assert.rejects(
      adapter.connect(async () => {
        captured = true;
      }),
      { name: 'ConnectError', reason: 'join_failed', message: /could not be loaded: Failed to fetch/ },
    );
    assert.deepEqual([adapter.state, states, captured], ['disconnected', ['disconnected'], false]);
  });

  test('a leave while connecting does not join', async () => {
    const room = new sdk.Room({ tracks: [new FakeTrack('audio')], video: false });
    const joining = room.connect(answer);
    await room.disconnect();
    await assert.rejects(joining, { name: 'ConnectError', reason: 'left' });
    assert.equal(room.state, 'disconnected');
    assert.equal(standIn.calls.length, 0);
  });
});
