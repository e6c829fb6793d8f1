// Selection at group size over the real `/rtc` protocol (src/server/rooms/builtin/selection.ts): the app in-process,
// a room with a media policy (as a group visit has), headless werift participants publishing tagged synthetic
// media on loopback. What each subscriber is told (`streamStates`) is checked against what it actually receives:
// a hidden tile gets no video, last-N follows the speaker, the spotlight is always forwarded, a room without a
// policy is left as it was, and `subscription` is limited to what the subscriber may see and to a rate.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { RtcStreamState, RtcTrackView } from '../src/shared/rtc.js';
import { systemCtx } from '../src/server/context.js';
import { BuiltinProvider } from '../src/server/rooms/builtin/provider.js';
import type { MediaPolicy } from '../src/server/rooms/provider.js';
import { createRoom, setRoomMediaPolicy } from '../src/server/rooms/service.js';
import { createTestApp, type TestApp } from './helpers/app.js';
import { createTestOrg, type TestOrg } from './helpers/builders.js';
import { sleep, waitFor, WAIT_MS } from './helpers/media.js';
import { joinRoom, type RtcClient } from './helpers/rtc.js';
import { RtcPeer } from './helpers/rtc-peer.js';
import { ensureSimulcastCapture, SimulcastPublisher } from './helpers/simulcast.js';

const GROUP: MediaPolicy = { simulcast: true, mode: 'collaboration', spotlight: null, lastN: 9 };
const LOUD = 10; // RFC 6464: 10 dBov below full scale

type States = Map<string, RtcStreamState>;
const statesOf = (states: RtcStreamState[]): States => new Map(states.map((s) => [`${s.identity}/${s.source}`, s]));
const summary = (s: RtcStreamState | undefined) => (s ? (s.state === 'active' ? `active:${s.layer}` : `paused:${s.reason}`) : 'none');

describe('selection at group size over /rtc (builtin)', () => {
  let t: TestApp;
  let a: TestOrg;
  const clients: (RtcClient | RtcPeer)[] = [];
  const join = async (room: string, identity: string, publish: ('microphone' | 'camera')[] = ['microphone', 'camera']) => {
    const client = await joinRoom(t, a.apiKey, room, identity, { publish });
    clients.push(client);
    return client;
  };
  const groupRoom = (name: string, policy: MediaPolicy) => createRoom(t.app.rooms, systemCtx(a.orgId), { name }, undefined, { media: policy });
  /** The subscriber's next streamStates that satisfies `check` (the latest one already received counts). */
  const statesWhere = async (client: Pick<RtcClient, 'identity' | 'messages' | 'next'>, check: (s: States) => boolean, what: string, ms = 2.5 * WAIT_MS): Promise<States> => {
    const latest = [...client.messages].reverse().find((m) => m.type === 'streamStates');
    if (latest && latest.type === 'streamStates' && check(statesOf(latest.states))) return statesOf(latest.states);
    try {
      return statesOf((await client.next('streamStates', (m) => check(statesOf(m.states)), ms)).states);
    } catch (err) {
      const last = [...client.messages].reverse().find((m) => m.type === 'streamStates');
      throw new Error(`${client.identity}: ${what}; last streamStates ${JSON.stringify(last)}`, { cause: err });
    }
  };
  const view = (identity: string, width: number, extra: Partial<RtcTrackView> = {}): RtcTrackView => ({
    identity,
    source: 'camera',
    visible: width > 0,
    width,
    height: Math.round((width * 9) / 16),
    ...extra,
  });

  before(async () => {
    t = await createTestApp('pglite', { media: 'builtin' });
    a = await createTestOrg(t.app);
    assert.ok(t.app.deps.media instanceof BuiltinProvider);
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await t.close();
  });

  test('a hidden tile receives no video (audio goes on), a shown one does; streamStates says which and why', async () => {
    await groupRoom('sel-hidden', GROUP);
    const pub1 = await join('sel-hidden', 'pub-1');
    const pub2 = await join('sel-hidden', 'pub-2');
    const sub = await join('sel-hidden', 'sub', ['microphone']);
    // No view reported yet: everything visible, large.
    await statesWhere(sub, (s) => summary(s.get('pub-1/camera')) === 'active:high' && summary(s.get('pub-2/camera')) === 'active:high', 'both active before any view');
    await sub.receives('pub-1/camera');
    await sub.receives('pub-2/camera');
    // pub-1's tile is hidden, pub-2's not listed at all: neither is forwarded.
    sub.send({ type: 'subscription', tracks: [view('pub-1', 0)] });
    const hidden = await statesWhere(sub, (s) => summary(s.get('pub-1/camera')) === 'paused:hidden' && summary(s.get('pub-2/camera')) === 'paused:hidden', 'both hidden');
    assert.equal(hidden.size, 2, 'only the others’ cameras are described');
    await sub.receivesNothingOf('pub-1/camera', 'pub-2/camera');
    await sub.receives('pub-1/microphone');
    await sub.receives('pub-2/microphone');
    // Shown again (a large tile): forwarded again.
    sub.send({ type: 'subscription', tracks: [view('pub-1', 1280), view('pub-2', 0)] });
    await statesWhere(sub, (s) => summary(s.get('pub-1/camera')) === 'active:high' && summary(s.get('pub-2/camera')) === 'paused:hidden', 'pub-1 shown');
    await sub.receives('pub-1/camera');
    await sub.receivesNothingOf('pub-2/camera');
    // The publishers, who sent no view, receive everything.
    await pub1.receives('pub-2/camera');
    await pub2.receives('pub-1/camera');
  });

  test('last-N follows the speaker: a louder publisher becomes active, another goes paused (last_n); the spotlight is always forwarded', async () => {
    const room = await groupRoom('sel-lastn', { ...GROUP, lastN: 2 });
    await join('sel-lastn', 'x');
    const y = await join('sel-lastn', 'y');
    const z = await join('sel-lastn', 'z');
    const sub = await join('sel-lastn', 'sub', ['microphone']);
    // Nobody has spoken: the first two to join.
    await statesWhere(sub, (s) => ['x', 'y', 'z'].map((id) => summary(s.get(`${id}/camera`))).join() === 'active:high,active:high,paused:last_n', 'join order');
    await sub.receives('x/camera');
    await sub.receives('y/camera');
    await sub.receivesNothingOf('z/camera');
    // z speaks: z in, y (the later of the two silent ones) out.
    (z.sources.get('microphone') as { level: number }).level = LOUD;
    await statesWhere(sub, (s) => ['x', 'y', 'z'].map((id) => summary(s.get(`${id}/camera`))).join() === 'active:high,paused:last_n,active:high', 'z active, y paused');
    await sub.receives('z/camera');
    await sub.receivesNothingOf('y/camera');
    // Then y speaks (louder than z by far): the two most recent speakers, y and z; x out.
    (z.sources.get('microphone') as { level: number }).level = 127;
    (y.sources.get('microphone') as { level: number }).level = LOUD;
    await statesWhere(sub, (s) => ['x', 'y', 'z'].map((id) => summary(s.get(`${id}/camera`))).join() === 'paused:last_n,active:high,active:high', 'y and z active, x paused');
    await sub.receives('y/camera');
    await sub.receivesNothingOf('x/camera');
    // Audio from everyone all along.
    for (const id of ['x', 'y', 'z']) await sub.receives(`${id}/microphone`);

    // The spotlight on x, who is silent: x is forwarded whoever speaks; with lastN 1 nobody else is.
    await setRoomMediaPolicy(t.app.rooms, systemCtx(a.orgId), room.id, { ...GROUP, lastN: 1, spotlight: 'x' });
    await statesWhere(sub, (s) => ['x', 'y', 'z'].map((id) => summary(s.get(`${id}/camera`))).join() === 'active:high,paused:last_n,paused:last_n', 'only the spotlight');
    await sub.receives('x/camera');
    (y.sources.get('microphone') as { level: number }).level = 127;
    (z.sources.get('microphone') as { level: number }).level = LOUD;
    await sub.next('streamStates', () => true, 3000).catch(() => undefined);
    await sleep(1500);
    const latest = await statesWhere(sub, () => true, 'latest');
    assert.equal(summary(latest.get('x/camera')), 'active:high', 'the spotlight stays while z speaks');
    assert.equal(summary(latest.get('z/camera')), 'paused:last_n');
    await sub.receives('x/camera');
    await sub.receivesNothingOf('z/camera', 'y/camera');
  });

  test('simulcast publishers: a small tile gets the low layer (320x180), a large one the high layer (1280x720); a resize switches', async () => {
    await groupRoom('sel-layers', GROUP);
    const capture = await ensureSimulcastCapture();
    const url = `${(await t.listen()).replace(/^http/, 'ws')}/rtc`;
    const connect = async (identity: string, publish: boolean) => {
      const res = await a.apiKey.post('/api/v1/tokens', { room: 'sel-layers', identity });
      assert.equal(res.statusCode, 201, res.body);
      const peer = await RtcPeer.connect(url, (res.json() as { token: string }).token, identity, publish ? new SimulcastPublisher(capture) : null);
      clients.push(peer);
      return peer;
    };
    await connect('cam-a', true);
    await connect('cam-b', true);
    const sub = await connect('viewer', false);
    sub.send({ type: 'subscription', tracks: [view('cam-a', 320), view('cam-b', 1280)] });
    const layersAre = (x: string, y: string) => (s: States) => summary(s.get('cam-a/camera')) === `active:${x}` && summary(s.get('cam-b/camera')) === `active:${y}`;
    await statesWhere(sub, layersAre('low', 'high'), 'a low, b high');
    await waitFor('cam-a at 320x180 and cam-b at 1280x720', () => {
      const [ra, rb] = [sub.received('cam-a'), sub.received('cam-b')];
      return ra.width === 320 && ra.height === 180 && rb.width === 1280 && rb.height === 720;
    }, 15_000);
    // The tiles swap sizes: so do the layers, from the next keyframe of each.
    sub.send({ type: 'subscription', tracks: [view('cam-a', 1280), view('cam-b', 300)] });
    await statesWhere(sub, layersAre('high', 'low'), 'a high, b low');
    await waitFor('cam-a at 1280x720 and cam-b at 320x180', () => sub.received('cam-a').width === 1280 && sub.received('cam-b').width === 320, 15_000);
    // Hidden: nothing of cam-b any more.
    sub.send({ type: 'subscription', tracks: [view('cam-a', 1280)] });
    await statesWhere(sub, (s) => summary(s.get('cam-b/camera')) === 'paused:hidden', 'b hidden');
    await sleep(300);
    assert.equal(await sub.packetsOver('cam-b', 1000), 0, 'a hidden tile gets no packet');
    assert.ok((await sub.packetsOver('cam-a', 1000)) > 10, 'the shown one keeps coming');

    // The subscriber's REMB says 300 kbit/s: the two large tiles no longer fit; the later to join goes off for
    // bandwidth, the other steps down to its low layer. A REMB of 5 Mbit/s (capped at GROUP_DOWNLINK_BPS) brings
    // both back (at the layers the 2.5 Mbit/s cap allows for two large tiles on a loaded machine: not asserted).
    const bothActive = (s: States) => s.get('cam-a/camera')?.state === 'active' && s.get('cam-b/camera')?.state === 'active';
    sub.send({ type: 'subscription', tracks: [view('cam-a', 1280), view('cam-b', 1280)] });
    await statesWhere(sub, bothActive, 'both shown again');
    const remb = (bps: number) => setInterval(() => void sub.sendRemb(bps).catch(() => undefined), 500);
    let timer = remb(300_000);
    try {
      await statesWhere(sub, (s) => summary(s.get('cam-a/camera')) === 'active:low' && summary(s.get('cam-b/camera')) === 'paused:bandwidth', 'a low, b off for bandwidth', 15_000);
      await sleep(300);
      assert.equal(await sub.packetsOver('cam-b', 1000), 0);
      clearInterval(timer);
      timer = remb(5_000_000);
      await statesWhere(sub, bothActive, 'both forwarded with room to spare', 15_000);
      const before = sub.received('cam-b').packets;
      await waitFor('cam-b to flow again', () => sub.received('cam-b').packets > before, 15_000);
    } finally {
      clearInterval(timer);
    }
  });

  test('a room without a policy is left as it was: no streamStates, every video forwarded whatever the view', async () => {
    await createRoom(t.app.rooms, systemCtx(a.orgId), { name: 'sel-plain' });
    await join('sel-plain', 'p-1');
    const sub = await join('sel-plain', 'p-sub', ['microphone']);
    sub.send({ type: 'subscription', tracks: [view('p-1', 0)] });
    await sub.receives('p-1/camera');
    await sleep(500);
    assert.equal(sub.messages.some((m) => m.type === 'streamStates'), false);
    await sub.receives('p-1/camera');
  });

  test('subscription: identities the subscriber does not see are ignored; a flood is refused (rate_limited)', async () => {
    await groupRoom('sel-limits', GROUP);
    await join('sel-limits', 'l-1');
    const sub = await join('sel-limits', 'l-sub', ['microphone']);
    await statesWhere(sub, (s) => summary(s.get('l-1/camera')) === 'active:high', 'l-1 active');
    // A view naming someone who is not in the room (or not visible to it): no state for them.
    sub.send({ type: 'subscription', tracks: [view('l-1', 200), view('stranger', 1280)] });
    const s = await statesWhere(sub, (x) => summary(x.get('l-1/camera')) === 'active:high' && x.size === 1, 'only l-1 described');
    assert.equal(s.has('stranger/camera'), false);
    for (let i = 0; i < 15; i++) sub.send({ type: 'subscription', tracks: [view('l-1', 1280)] });
    const refused = await sub.next('error', (m) => m.code === 'rate_limited' && m.ref === 'subscription');
    assert.match(refused.message, /per second/);
  });
});
