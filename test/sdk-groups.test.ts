// The browser SDK in group rooms (token answers with `media`), in node: the media policy from the token answer and
// the participant channel, the camera asked at the group's size, the hosts' notices, and on each provider what it
// does with them. Builtin: the camera published in three simulcast layers and the microphone capped (on the stand-in
// peer connection), adaptive stream as `subscription` messages (debounced, the whole list) to a stand-in `/rtc`
// server, whose `streamStates` become each track's stream state. Twilio: seed 002's group connect options, and
// adaptive stream as switchOn / switchOff / render dimensions / priority on the twilio-video stand-in's tracks, with
// last-N by spotlight, pins and speakers, and switchedOff / switchedOn as stream states.
// Browser APIs (elements, observers, visibility) are test/helpers/sdk-dom.ts's; the SDK is its source, as it is.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { TokenMedia } from '../src/shared/api/rooms.js';
import { dom, installDom, type FakeVideoElement } from './helpers/sdk-dom.js';
import { FakeTrack, record, sdk, setMediaDevices, waitFor, type SdkRoom } from './helpers/sdk-node.js';
import { ChannelStandIn, FakePeerConnection, RtcStandIn, installPeerConnection } from './helpers/sdk-servers.js';
import { RemoteParticipant, RemoteTrack, RemoteTrackPublication, newRoom, standIn, type Room as TwilioRoom } from './helpers/twilio-video-standin.js';

/** A token answer's `media` as the server's contract has it (src/shared/api/rooms.ts TokenMedia: checked below). */
const MEDIA = { simulcast: true, mode: 'collaboration', spotlight: null, lastN: 9, audioBitrateBps: 16_000, video: { width: 1280, height: 720, frameRate: 24 } } as const;
test('the media of these answers has the fields of the server’s TokenMedia', () => {
  assert.deepEqual(Object.keys(MEDIA).sort(), Object.keys(TokenMedia.properties).sort());
  assert.deepEqual(Object.keys(MEDIA.video).sort(), Object.keys(TokenMedia.properties.video.properties).sort());
});
const DEBOUNCE_WAIT = 450;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Policy {
  simulcast: boolean;
  mode: string;
  spotlight: string | null;
  lastN: number;
}
interface StreamState {
  state: string;
  layer: string | null;
  reason: string | null;
}
interface GroupTrack {
  source: string;
  kind: string;
  streamState: StreamState;
  attach(el?: object): object;
  detach(el?: object): void;
}
type GroupRoom = Omit<SdkRoom, 'participants' | 'localParticipant'> & {
  localParticipant: SdkRoom['localParticipant'] & { microphoneEnabled: boolean };
  mediaPolicy: Policy | null;
  activeSpeakers: { identity: string }[];
  setPinned(identity: string, source?: string, pinned?: boolean): void;
  participants: Map<string, { identity: string; tracks: Map<string, GroupTrack> }>;
};

/** The group events a room emits, as short strings (beside record()'s). */
function recordGroup(room: GroupRoom): string[] {
  const seen: string[] = [];
  room.on('mediaPolicyChanged', ((p: Policy) => seen.push(`policy:${p.mode}:${p.spotlight}:${p.lastN}:${p.simulcast}`)) as never);
  room.on('trackStreamStateChanged', ((t: GroupTrack, p: { identity: string }, s: StreamState) => seen.push(`stream:${p.identity}:${t.source}:${s.state}:${s.layer}:${s.reason}`)) as never);
  room.on('notice', ((n: { code: string }) => seen.push(`notice:${n.code}`)) as never);
  for (const name of ['mutedByHost', 'unmuteRequested', 'handLowered']) room.on(name, (() => seen.push(name)) as never);
  return seen;
}

let channel: ChannelStandIn;
let rtc: RtcStandIn;
let captured: { audio: unknown; video: unknown }[];
beforeEach(async () => {
  standIn.reset();
  installDom(2);
  installPeerConnection();
  channel = new ChannelStandIn();
  rtc = new RtcStandIn();
  await Promise.all([channel.ready, rtc.ready]);
  captured = [];
  setMediaDevices({
    getUserMedia: async (constraints: { audio: unknown; video: unknown }) => {
      captured.push(constraints);
      const tracks = [...(constraints.audio ? [new FakeTrack('audio')] : []), ...(constraints.video ? [new FakeTrack('video')] : [])];
      return { getTracks: () => tracks, getVideoTracks: () => tracks.filter((t) => t.kind === 'video'), getAudioTracks: () => tracks.filter((t) => t.kind === 'audio') };
    },
    getDisplayMedia: async () => ({ getVideoTracks: () => [new FakeTrack('video')] }),
  });
});
afterEach(async () => {
  for (const room of rooms.splice(0)) await room.disconnect();
  standIn.reset();
  await Promise.all([channel.close(), rtc.close()]);
});

const twilioAnswer = (media: object | null = MEDIA) => ({
  provider: 'twilio',
  url: 'wss://global.vss.twilio.com/signaling',
  token: 'tw-group',
  channel: { url: channel.url, token: 'ch-1' },
  ...(media ? { media } : {}),
});
const builtinAnswer = (media: object | null = MEDIA) => ({ provider: 'builtin', url: rtc.url, token: 'rtc-token', channel: { url: channel.url, token: 'ch-1' }, ...(media ? { media } : {}) });

/** Every room a test made (left after it, so that no channel keeps knocking on a closed server). */
const rooms: GroupRoom[] = [];
async function join(answer: object, options: object = {}) {
  const room = new sdk.Room(options) as unknown as GroupRoom;
  rooms.push(room);
  const seen = record(room as unknown as SdkRoom);
  const group = recordGroup(room);
  await room.connect(answer);
  return { room, seen, group };
}

describe('SDK groups: the media policy and the hosts’ notices', () => {
  test('a token answer with media: the policy (and its event), the camera asked at the group size; the channel changes it; 1:1 has none', async () => {
    const { room, group } = await join(twilioAnswer());
    assert.deepEqual(room.mediaPolicy, { simulcast: true, mode: 'collaboration', spotlight: null, lastN: 9 });
    assert.deepEqual(group, ['policy:collaboration:null:9:true']);
    assert.deepEqual(captured, [{ audio: true, video: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 24 } } }]);

    channel.send({ type: 'media', policy: { simulcast: true, mode: 'presentation', spotlight: 'therapist', lastN: 4 } });
    await waitFor(() => room.mediaPolicy?.mode === 'presentation');
    // The same policy again, and one this protocol does not have, change nothing.
    channel.send({ type: 'media', policy: { simulcast: true, mode: 'presentation', spotlight: 'therapist', lastN: 4 } });
    channel.send({ type: 'media', policy: { simulcast: true, mode: 'theatre', spotlight: null, lastN: 0 } as never });
    await sleep(100);
    assert.deepEqual(room.mediaPolicy, { simulcast: true, mode: 'presentation', spotlight: 'therapist', lastN: 4 });
    assert.deepEqual(group, ['policy:collaboration:null:9:true', 'policy:presentation:therapist:4:true']);

    // The camera turned on again later is asked the same.
    await room.localParticipant.setCameraEnabled(false);
    await room.localParticipant.setCameraEnabled(true);
    assert.deepEqual(captured.at(-1), { video: { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 24 } } });
    await room.disconnect();

    const oneToOne = await join(twilioAnswer(null));
    assert.equal(oneToOne.room.mediaPolicy, null);
    assert.deepEqual(oneToOne.group, []);
    assert.deepEqual(captured.at(-1), { audio: true, video: true });
    await oneToOne.room.disconnect();

    // An application's own camera constraints win over the group's.
    const own = await join(twilioAnswer(), { video: { width: 640 } });
    assert.deepEqual(captured.at(-1), { audio: true, video: { width: 640 } });
    await own.room.disconnect();
  });

  test('muted_by_host turns the microphone off (the others see it muted) and says so; unmute_requested and hand_lowered are only told', async () => {
    const { room, group } = await join(twilioAnswer());
    const published = standIn.room.localParticipant.tracks.get('microphone') as unknown as { isEnabled: boolean };
    assert.equal(published.isEnabled, true);
    channel.send({ type: 'notice', code: 'muted_by_host', message: 'The host muted everyone.' });
    await waitFor(() => group.includes('mutedByHost'));
    assert.equal(room.localParticipant.microphoneEnabled, false);
    assert.equal(published.isEnabled, false, 'the publication is disabled: the others see the microphone muted');

    // Asked to unmute: nothing changes by itself.
    channel.send({ type: 'notice', code: 'unmute_requested', message: 'The host asks you to unmute.' });
    channel.send({ type: 'notice', code: 'hand_lowered', message: 'The host lowered your hand.' });
    await waitFor(() => group.includes('handLowered'));
    assert.equal(room.localParticipant.microphoneEnabled, false);
    assert.deepEqual(group.slice(1), ['notice:muted_by_host', 'mutedByHost', 'notice:unmute_requested', 'unmuteRequested', 'notice:hand_lowered', 'handLowered']);
    await room.disconnect();
  });
});

/** A remote participant in the Twilio stand-in with a microphone and camera (and a screen), all reaching us. */
function twilioRemote(identity: string, screen = false): RemoteParticipant {
  const p = new RemoteParticipant(identity, `PA-${identity}`);
  const names: [string, 'audio' | 'video'][] = [['microphone', 'audio'], ['camera', 'video'], ...(screen ? [['screen', 'video'] as [string, 'video']] : [])];
  for (const [name, kind] of names) {
    const publication = new RemoteTrackPublication(`MT-${identity}-${name}`, name, kind);
    publication.track = new RemoteTrack(kind, publication.trackSid, new FakeTrack(kind));
    p.tracks.set(publication.trackSid, publication);
  }
  return p;
}
const videoOf = (p: RemoteParticipant, name = 'camera') => [...p.tracks.values()].find((t) => t.trackName === name)!.track!;

describe('SDK groups on Twilio', () => {
  test('a group token connects with seed 002’s group settings; simulcast off keeps VP8 then H.264; an application’s maxTracks takes the controls back', async () => {
    await join(twilioAnswer({ ...MEDIA, mode: 'presentation', lastN: 6 }));
    const { options } = standIn.calls[0]!;
    assert.deepEqual(options.bandwidthProfile, { video: { mode: 'presentation', dominantSpeakerPriority: 'high', clientTrackSwitchOffControl: 'manual', contentPreferencesMode: 'manual' } });
    assert.deepEqual(options.preferredVideoCodecs, [{ codec: 'VP8', simulcast: true }, 'H264']);
    assert.equal(options.maxAudioBitrate, 16_000);
    assert.deepEqual(options.networkQuality, { local: 1, remote: 2 });
    assert.equal(options.automaticSubscription, false);

    standIn.reset();
    await join(twilioAnswer({ ...MEDIA, simulcast: false, mode: 'grid', audioBitrateBps: 24_000 }));
    assert.deepEqual(standIn.calls[0]!.options.bandwidthProfile, { video: { mode: 'grid', dominantSpeakerPriority: 'standard', clientTrackSwitchOffControl: 'manual', contentPreferencesMode: 'manual' } });
    assert.deepEqual(standIn.calls[0]!.options.preferredVideoCodecs, ['VP8', 'H264']);
    assert.equal(standIn.calls[0]!.options.maxAudioBitrate, 24_000);

    // maxTracks (deprecated) from the application: twilio-video then switches tracks itself, and the adapter leaves
    // them alone (the stand-in, like twilio-video, throws on a manual control it was not given).
    standIn.reset();
    const doctor = twilioRemote('doctor');
    const { room } = await join(twilioAnswer(), { twilio: { bandwidthProfile: { video: { maxTracks: 3 } } } });
    assert.deepEqual(standIn.calls[0]!.options.bandwidthProfile, { video: { mode: 'collaboration', dominantSpeakerPriority: 'standard', contentPreferencesMode: 'manual', maxTracks: 3 } });
    const twilio = standIn.room;
    twilio.participants.set(doctor.sid, doctor);
    twilio.emit('participantConnected', doctor);
    for (const publication of doctor.tracks.values()) twilio.emit('trackSubscribed', publication.track, publication, doctor);
    room.participants.get('doctor')!.tracks.get('camera')!.attach(dom.video(320, 180));
    await sleep(DEBOUNCE_WAIT);
    assert.deepEqual(videoOf(doctor).calls, []);
  });

  test('adaptive stream: hidden videos off, shown ones on at their device-pixel size, at most last-N cameras (spotlight, pins, speakers first), switch-offs as stream states', async () => {
    const [a, b, c] = [twilioRemote('a', true), twilioRemote('b'), twilioRemote('c')];
    const { room, group } = await join(twilioAnswer({ ...MEDIA, lastN: 2 }), {});
    const twilio: TwilioRoom = standIn.room;
    for (const p of [a, b, c]) {
      twilio.participants.set(p.sid, p);
      twilio.emit('participantConnected', p);
      for (const publication of p.tracks.values()) twilio.emit('trackSubscribed', publication.track, publication, p);
    }
    const calls = () => Object.fromEntries([['a', videoOf(a)], ['a-screen', videoOf(a, 'screen')], ['b', videoOf(b)], ['c', videoOf(c)]].map(([k, t]) => [k, (t as RemoteTrack).calls.splice(0)]));
    // Nothing shown yet: every video switched off.
    await waitFor(() => videoOf(c).calls.length > 0);
    assert.deepEqual(calls(), { a: ['off'], 'a-screen': ['off'], b: ['off'], c: ['off'] });
    // Twilio confirms one: paused, hidden (our choice).
    videoOf(b).switched(true);
    assert.deepEqual(room.participants.get('b')!.tracks.get('camera')!.streamState, { state: 'paused', layer: null, reason: 'hidden' });
    assert.equal(group.at(-1), 'stream:b:camera:paused:null:hidden');

    // a's camera and screen in tiles (device pixels: ×2), then b and c: last-N 2 keeps c off.
    const tiles = new Map<string, FakeVideoElement>();
    const show = (identity: string, source: string, width: number, height: number) => {
      const el = dom.video(width, height);
      tiles.set(`${identity}/${source}`, el);
      room.participants.get(identity)!.tracks.get(source)!.attach(el);
      return el;
    };
    show('a', 'camera', 320, 180);
    show('a', 'screen', 960, 540);
    await waitFor(() => videoOf(a).calls.length > 0);
    assert.deepEqual(calls(), { a: ['on', 'size:640x360'], 'a-screen': ['on', 'size:1920x1080'], b: [], c: [] });
    show('b', 'camera', 320, 180);
    show('c', 'camera', 320, 180);
    await waitFor(() => videoOf(b).calls.length > 0);
    assert.deepEqual(calls(), { a: [], 'a-screen': [], b: ['on', 'size:640x360'], c: [] });
    videoOf(b).switched(false);
    videoOf(c).switched(true);
    assert.deepEqual(room.participants.get('c')!.tracks.get('camera')!.streamState, { state: 'paused', layer: null, reason: 'last_n' });

    // c speaks: c comes on in place of b (a keeps its place: the page's order among those who have not spoken).
    twilio.emit('dominantSpeakerChanged', c);
    assert.deepEqual(room.activeSpeakers.map((p) => p.identity), ['c']);
    assert.deepEqual(calls(), { a: [], 'a-screen': [], b: ['off'], c: ['on', 'size:640x360'] });
    // b pinned: b and c (the latest speaker) on, a off; b at high priority.
    room.setPinned('b', 'camera', true);
    await waitFor(() => videoOf(b).calls.length > 0);
    assert.deepEqual(calls(), { a: ['off'], 'a-screen': [], b: ['on', 'priority:high'], c: [] });
    // The spotlight (the channel's policy) on a: a and b (pinned) on, c off; a's videos at high priority.
    channel.send({ type: 'media', policy: { simulcast: true, mode: 'collaboration', spotlight: 'a', lastN: 2 } });
    await waitFor(() => videoOf(a).calls.length > 0);
    assert.deepEqual(calls(), { a: ['on', 'priority:high'], 'a-screen': ['priority:high'], b: [], c: ['off'] });

    // a's tile grows, b's scrolls out of view, the screen tile is detached: sizes follow, hidden ones go off.
    dom.resize(tiles.get('a/camera')!, 640, 360);
    dom.intersect(tiles.get('b/camera')!, false);
    room.participants.get('a')!.tracks.get('screen')!.detach();
    await waitFor(() => videoOf(b).calls.length > 0);
    assert.deepEqual(calls(), { a: ['size:1280x720'], 'a-screen': ['off'], b: ['off'], c: ['on'] });
    // The page hidden: everything off; shown again: back as it was.
    dom.setHidden(true);
    await waitFor(() => videoOf(a).calls.length > 0);
    assert.deepEqual(calls(), { a: ['off'], 'a-screen': [], b: [], c: ['off'] });
    dom.setHidden(false);
    await waitFor(() => videoOf(a).calls.length > 0);
    assert.deepEqual(calls(), { a: ['on'], 'a-screen': [], b: [], c: ['on'] });
    await room.disconnect();
  });

  test('a 1:1 room (no media) never touches the tracks, attached or not', async () => {
    const doctor = twilioRemote('doctor');
    const { room } = await join(twilioAnswer(null));
    const twilio = standIn.room;
    twilio.participants.set(doctor.sid, doctor);
    twilio.emit('participantConnected', doctor);
    for (const publication of doctor.tracks.values()) twilio.emit('trackSubscribed', publication.track, publication, doctor);
    room.participants.get('doctor')!.tracks.get('camera')!.attach(dom.video(320, 180));
    await sleep(DEBOUNCE_WAIT);
    assert.deepEqual(videoOf(doctor).calls, []);
    await room.disconnect();
  });
});

describe('SDK groups on the builtin provider', () => {
  test('a group answer publishes the camera in three layers q/h/f and caps the microphone; a 1:1 answer publishes plainly', async () => {
    const { room } = await join(builtinAnswer());
    const pc = FakePeerConnection.last;
    const sent = pc.transceivers.filter((t) => t.direction === 'sendonly').map((t) => [(t.sender.track as FakeTrack).kind, t.sendEncodings]);
    assert.deepEqual(sent, [
      ['audio', [{ maxBitrate: 16_000 }]],
      [
        'video',
        [
          { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
          { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
          { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_200_000 },
        ],
      ],
    ]);
    // A screen share is one layer.
    await room.localParticipant.startScreenShare();
    assert.equal(pc.transceivers.at(-1)!.sendEncodings, undefined);
    await room.disconnect();

    const plain = await join(builtinAnswer({ ...MEDIA, simulcast: false }));
    assert.deepEqual(
      FakePeerConnection.last.transceivers.map((t) => t.sendEncodings),
      [[{ maxBitrate: 16_000 }], undefined],
      'no simulcast in the policy: one camera layer',
    );
    await plain.room.disconnect();

    rtc.messages.length = 0;
    const oneToOne = await join(builtinAnswer(null));
    assert.deepEqual(
      FakePeerConnection.last.transceivers.map((t) => t.sendEncodings),
      [undefined, undefined],
    );
    await sleep(DEBOUNCE_WAIT);
    assert.deepEqual(rtc.of('subscription'), [], 'a 1:1 room never sends a subscription');
    await oneToOne.room.disconnect();
  });

  test('adaptive stream: one `subscription` per burst of changes, the whole list; resent on a new session', async () => {
    rtc.participants = [
      {
        identity: 'doctor',
        joinedAt: new Date().toISOString(),
        tracks: [
          { source: 'microphone', kind: 'audio', muted: false, hostMuted: false },
          { source: 'camera', kind: 'video', muted: false, hostMuted: false },
        ],
        networkQuality: null,
      },
      { identity: 'nurse', joinedAt: new Date().toISOString(), tracks: [{ source: 'camera', kind: 'video', muted: false, hostMuted: false }], networkQuality: null },
    ];
    const { room, seen } = await join(builtinAnswer());
    // Nothing shown yet: an empty list (once), so that the SFU sends no video.
    await waitFor(() => rtc.of('subscription').length === 1);
    await sleep(DEBOUNCE_WAIT);
    assert.deepEqual(rtc.of('subscription'), [{ type: 'subscription', tracks: [] }]);

    rtc.offer([
      { mid: '2', kind: 'audio', identity: 'doctor', source: 'microphone' },
      { mid: '3', kind: 'video', identity: 'doctor', source: 'camera' },
      { mid: '4', kind: 'video', identity: 'nurse', source: 'camera' },
    ]);
    await waitFor(() => seen.includes('subscribed:nurse:camera'));
    const doctor = room.participants.get('doctor')!.tracks.get('camera')!;
    const nurse = room.participants.get('nurse')!.tracks.get('camera')!;
    // A burst: two tiles attached, one resized, one pinned, within the debounce: one message with the end state.
    const before = rtc.of('subscription').length;
    const started = Date.now();
    const tile = dom.video(400, 225);
    doctor.attach(tile);
    nurse.attach(dom.video(160, 90));
    dom.resize(tile, 480, 270);
    room.setPinned('nurse');
    await waitFor(() => rtc.of('subscription').length > before);
    const took = Date.now() - started;
    await sleep(DEBOUNCE_WAIT);
    assert.equal(rtc.of('subscription').length, before + 1, 'one message for the burst');
    assert.ok(took >= 150, `sent after the debounce (${took} ms)`);
    assert.deepEqual(rtc.of('subscription').at(-1), {
      type: 'subscription',
      tracks: [
        { identity: 'doctor', source: 'camera', visible: true, width: 960, height: 540, pinned: false },
        { identity: 'nurse', source: 'camera', visible: true, width: 320, height: 180, pinned: true },
      ],
    });
    // Out of view, then detached: hidden (0 x 0), then not listed at all.
    dom.intersect(tile, false);
    await waitFor(() => rtc.of('subscription').length === before + 2);
    assert.deepEqual(rtc.of('subscription').at(-1)!.tracks[0], { identity: 'doctor', source: 'camera', visible: false, width: 0, height: 0, pinned: false });
    nurse.detach();
    await waitFor(() => rtc.of('subscription').length === before + 3);
    assert.deepEqual(rtc.of('subscription').at(-1)!.tracks.map((t) => t.identity), ['doctor']);
    // Nothing changed: nothing sent.
    dom.resize(tile, 480, 270);
    await sleep(DEBOUNCE_WAIT);
    assert.equal(rtc.of('subscription').length, before + 3);

    // The socket drops and the session is joined again: the list goes with it.
    rtc.closeAll(1012);
    await waitFor(() => rtc.of('join').length === 2, 5000);
    await waitFor(() => rtc.of('subscription').length === before + 4, 3000);
    assert.deepEqual(rtc.of('subscription').at(-1), rtc.of('subscription').at(-2));
    await room.disconnect();
  });

  test('an element the application reuses for another video, or empties without detaching, no longer shows the first', async () => {
    rtc.participants = ['doctor', 'nurse'].map((identity) => ({ identity, joinedAt: new Date().toISOString(), tracks: [{ source: 'camera', kind: 'video', muted: false, hostMuted: false }], networkQuality: null }));
    const { room, seen } = await join(builtinAnswer());
    rtc.offer([
      { mid: '2', kind: 'video', identity: 'doctor', source: 'camera' },
      { mid: '3', kind: 'video', identity: 'nurse', source: 'camera' },
    ]);
    await waitFor(() => seen.includes('subscribed:nurse:camera'));
    const tile = dom.video(400, 225);
    room.participants.get('doctor')!.tracks.get('camera')!.attach(tile);
    const last = () => rtc.of('subscription').at(-1)!.tracks.map((t) => `${t.identity}:${t.visible}:${t.width}x${t.height}`);
    await waitFor(() => last().join() === 'doctor:true:800x450');
    // The same element now plays the nurse's camera (a tile reused by the page).
    room.participants.get('nurse')!.tracks.get('camera')!.attach(tile);
    await waitFor(() => last().length === 2);
    assert.deepEqual(last(), ['doctor:false:0x0', 'nurse:true:800x450']);
    // Emptied by the page (srcObject = null, as a component's cleanup may do), then laid out again.
    tile.srcObject = null;
    dom.resize(tile, 200, 112);
    await waitFor(() => last().includes('nurse:false:0x0'));
    await room.disconnect();
  });

  test('streamStates: each video’s stream state and its event (kept for a track not there yet); the speakers’ order', async () => {
    rtc.participants = ['a', 'b'].map((identity) => ({ identity, joinedAt: new Date().toISOString(), tracks: [{ source: 'camera', kind: 'video', muted: false, hostMuted: false }], networkQuality: null }));
    const { room, seen, group } = await join(builtinAnswer());
    rtc.offer([{ mid: '2', kind: 'video', identity: 'a', source: 'camera' }]);
    await waitFor(() => seen.includes('subscribed:a:camera'));
    const a = room.participants.get('a')!.tracks.get('camera')!;
    assert.deepEqual(a.streamState, { state: 'active', layer: null, reason: null });
    rtc.send({
      type: 'streamStates',
      states: [
        { identity: 'a', source: 'camera', state: 'active', layer: 'low', reason: null },
        { identity: 'b', source: 'camera', state: 'paused', layer: null, reason: 'last_n' },
      ],
    });
    await waitFor(() => a.streamState.layer === 'low');
    rtc.send({ type: 'streamStates', states: [{ identity: 'a', source: 'camera', state: 'active', layer: 'low', reason: null }] });
    rtc.send({ type: 'streamStates', states: [{ identity: 'a', source: 'camera', state: 'paused', layer: null, reason: 'hidden' }] });
    await waitFor(() => a.streamState.state === 'paused');
    // b's camera arrives later: its state was kept (no event: it was not there to change).
    rtc.offer([{ mid: '3', kind: 'video', identity: 'b', source: 'camera' }]);
    await waitFor(() => seen.includes('subscribed:b:camera'));
    assert.deepEqual(room.participants.get('b')!.tracks.get('camera')!.streamState, { state: 'paused', layer: null, reason: 'last_n' });
    assert.deepEqual(
      group.filter((e) => e.startsWith('stream:')),
      ['stream:a:camera:active:low:null', 'stream:a:camera:paused:null:hidden'],
    );

    rtc.send({ type: 'dominantSpeaker', identity: 'a' });
    rtc.send({ type: 'dominantSpeaker', identity: 'b' });
    rtc.send({ type: 'dominantSpeaker', identity: null });
    await waitFor(() => seen.includes('speaker:null'));
    assert.deepEqual(room.activeSpeakers.map((p) => p.identity), ['b', 'a']);
    rtc.send({ type: 'participantLeft', identity: 'b', reason: 'left' });
    await waitFor(() => !room.participants.has('b'));
    assert.deepEqual(room.activeSpeakers.map((p) => p.identity), ['a']);
    // The builtin socket's own notices are the same as the channel's.
    rtc.send({ type: 'notice', code: 'hand_lowered', message: 'Your hand was lowered.' });
    await waitFor(() => group.includes('handLowered'));
    await room.disconnect();
  });

  test('adaptiveStream: false sends no subscription, even in a group room', async () => {
    const { room } = await join(builtinAnswer(), { adaptiveStream: false });
    await sleep(DEBOUNCE_WAIT);
    assert.deepEqual(rtc.of('subscription'), []);
    assert.ok(room.mediaPolicy);
    await room.disconnect();
  });
});
