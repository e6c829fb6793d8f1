// The media provider contract: one set of tests written against the MediaProvider interface alone (rooms, tokens,
// participants, routing, subscriptions, token revocation, recording and its store, normalised events). Each provider
// runs it with a harness that supplies the provider and a way to connect a participant with a token the provider
// minted: the builtin provider with headless werift clients over its real `/rtc` (test/media-provider.test.ts), the
// Twilio provider against a fake of Twilio's API. Nothing here may assume one provider: optional parts run when the
// provider declares the capability and are skipped, saying so, when it does not.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test, type TestContext } from 'node:test';
import {
  CAPABILITY_MEMBERS,
  DEFAULT_GRANTS,
  hasCapability,
  MEDIA_CAPABILITIES,
  type Grants,
  type MediaCapability,
  type MediaProvider,
  type MintedToken,
  type ProviderRoomSpec,
  type ProviderWith,
  type RoomEvent,
} from '../../src/server/rooms/provider.js';

export type MediaKind = 'audio' | 'video';

/** A participant the harness connected (camera and microphone published unless told otherwise). */
export interface ContractParticipant {
  readonly identity: string;
  /** Resolves once it receives (more) media of `kind` from `publisher`; rejects after the harness's wait. */
  receives(publisher: string, kind: MediaKind): Promise<void>;
  /** Watches for a while and fails if any media of `kinds` from `publisher` arrives meanwhile. */
  receivesNothingOf(publisher: string, kinds?: readonly MediaKind[]): Promise<void>;
  /** Resolves once the provider has ended its connection (removed, the room ended). */
  disconnected(): Promise<void>;
  /** Hangs up, as a client leaving the room does. */
  leave(): Promise<void>;
  /** Releases whatever the harness holds for it; safe after leave() or a disconnect. */
  close(): Promise<void>;
}

export interface MediaProviderHarness {
  provider: MediaProvider;
  /**
   * Joins the room the token is for, as the token's identity, publishing `publish` (default both kinds). Resolves
   * once connected (media flowing when something is published); rejects when the provider refuses the token.
   */
  connect(token: MintedToken, identity: string, options?: { publish?: readonly MediaKind[] }): Promise<ContractParticipant>;
  close(): Promise<void>;
}

/** How long the contract waits for something that should happen (providers on loopback or a local fake). */
const WAIT_MS = 10_000;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, ms = WAIT_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

type EventOf<T extends RoomEvent['type']> = Extract<RoomEvent, { type: T }>;

export function mediaProviderContract(name: string, makeHarness: () => Promise<MediaProviderHarness>): void {
  describe(`MediaProvider contract: ${name}`, { timeout: 120_000 }, () => {
    let harness: MediaProviderHarness;
    let provider: MediaProvider;
    let unsubscribe: () => void;
    const events: RoomEvent[] = [];
    const participants: ContractParticipant[] = [];

    before(async () => {
      harness = await makeHarness();
      provider = harness.provider;
      unsubscribe = provider.onEvent((event) => events.push(event));
    });
    after(async () => {
      await Promise.all(participants.map((p) => p.close()));
      unsubscribe?.();
      await harness?.close();
    });

    /** A new room (its own org and ids), created through the provider. */
    const newRoom = async (maxParticipants = 10) => {
      const spec: ProviderRoomSpec = { roomId: randomUUID(), orgId: randomUUID(), name: `contract-${randomUUID().slice(0, 8)}`, maxParticipants, maxParticipantDurationS: 3600, emptyTimeoutS: 300, unusedTimeoutS: 300 };
      const { providerRoomId } = await provider.createRoom(spec);
      return { spec, providerRoomId };
    };
    type Room = Awaited<ReturnType<typeof newRoom>>;
    const mint = (room: Room, identity: string, options: { ttlSeconds?: number; grants?: Partial<Grants> } = {}) =>
      provider.mintToken({
        roomId: room.spec.roomId,
        roomName: room.spec.name,
        providerRoomId: room.providerRoomId,
        orgId: room.spec.orgId,
        identity,
        grants: { ...DEFAULT_GRANTS, ...options.grants },
        ttlSeconds: options.ttlSeconds ?? 600,
      });
    const join = async (room: Room, identity: string, publish: readonly MediaKind[] = ['audio', 'video']) => {
      const participant = await harness.connect(await mint(room, identity), identity, { publish });
      participants.push(participant);
      return participant;
    };
    const event = <T extends RoomEvent['type']>(type: T, where: (e: EventOf<T>) => boolean, what: string): Promise<EventOf<T>> =>
      waitFor(what, () => events.find((e): e is EventOf<T> => e.type === type && where(e as EventOf<T>)));
    const eventsOf = <T extends RoomEvent['type']>(type: T, roomId: string) => events.filter((e): e is EventOf<T> => e.type === type && e.roomId === roomId);
    const identities = async (room: Room) => (await provider.listParticipants(room.providerRoomId)).map((p) => p.identity).sort();
    /**
     * The provider, when it declares `capability` (a declaration without its members fails the test); null when it
     * does not, and the test is reported as skipped, saying why.
     */
    const withCapability = <C extends MediaCapability>(t: TestContext, capability: C): ProviderWith<C> | null => {
      if (!provider.capabilities.includes(capability)) {
        t.skip(`${provider.name} does not declare the "${capability}" capability`);
        return null;
      }
      if (hasCapability(provider, capability)) return provider;
      assert.fail(`${provider.name} declares "${capability}" without ${CAPABILITY_MEMBERS[capability].join(', ')}`);
    };

    test('declares an open name and its capabilities, with the members of each', () => {
      assert.equal(typeof provider.name, 'string');
      assert.ok(provider.name.length > 0);
      assert.equal(new Set(provider.capabilities).size, provider.capabilities.length, 'no capability twice');
      for (const capability of provider.capabilities) {
        assert.ok((MEDIA_CAPABILITIES as readonly string[]).includes(capability), `${capability} is a known capability`);
        for (const member of CAPABILITY_MEMBERS[capability]) assert.notEqual(provider[member], undefined, `${capability} comes with ${member}`);
        assert.ok(hasCapability(provider, capability));
      }
      if (hasCapability(provider, 'recording')) {
        assert.equal(typeof provider.recordings.open, 'function');
        assert.equal(typeof provider.recordings.delete, 'function');
      }
    });

    test('rooms: created (room.started), created again and restored without losing anyone, ended once for everyone', async () => {
      const room = await newRoom();
      assert.equal(typeof room.providerRoomId, 'string');
      assert.ok(room.providerRoomId.length > 0);
      const started = await event('room.started', (e) => e.roomId === room.providerRoomId, 'room.started');
      assert.ok(started.at instanceof Date);

      const alice = await join(room, 'alice', []);
      await event('participant.joined', (e) => e.roomId === room.providerRoomId && e.identity === 'alice', 'alice to join');
      // A retried create (a call that timed out) and a restore at start-up take up the same live room.
      assert.equal((await provider.createRoom(room.spec)).providerRoomId, room.providerRoomId, 'creating again answers the same room');
      assert.equal(await provider.restoreRoom({ ...room.spec, providerRoomId: room.providerRoomId }), true);
      assert.equal(await provider.restoreRoom({ ...room.spec, providerRoomId: room.providerRoomId }), true, 'restoring twice is fine');
      assert.deepEqual(await identities(room), ['alice'], 'nobody was dropped');

      await provider.endRoom(room.providerRoomId, 'ended_by_api');
      const ended = await event('room.ended', (e) => e.roomId === room.providerRoomId, 'room.ended');
      assert.equal(ended.reason, 'ended_by_api');
      await alice.disconnected();
      await event('participant.left', (e) => e.roomId === room.providerRoomId && e.identity === 'alice', 'alice to be reported as left');
      assert.deepEqual(await identities(room), []);
      await provider.endRoom(room.providerRoomId, 'ended_by_api');
      await sleep(300);
      assert.equal(eventsOf('room.ended', room.providerRoomId).length, 1, 'ending again changes nothing');
      await assert.rejects(harness.connect(await mint(room, 'late'), 'late', { publish: [] }), 'an ended room cannot be joined');
    });

    test('tokens: a minted token joins its room as its identity; an expired token is refused', async () => {
      const room = await newRoom();
      const before = Date.now();
      const token = await mint(room, 'alice', { ttlSeconds: 600 });
      assert.ok(typeof token.token === 'string' && token.token.length > 0);
      assert.ok(typeof token.url === 'string' && token.url.length > 0, 'where to connect');
      assert.ok(Math.abs(token.expiresAt.getTime() - (before + 600_000)) < 5000, `expires with its TTL (${token.expiresAt.toISOString()})`);
      participants.push(await harness.connect(token, 'alice', { publish: [] }));
      const joined = await event('participant.joined', (e) => e.roomId === room.providerRoomId && e.identity === 'alice', 'alice to join');
      assert.ok(joined.at instanceof Date);
      const [listed] = await provider.listParticipants(room.providerRoomId);
      assert.ok(listed);
      assert.equal(listed.identity, 'alice');
      assert.ok(listed.connectedAt instanceof Date && Math.abs(listed.connectedAt.getTime() - joined.at.getTime()) < 5000);

      const short = await mint(room, 'bob', { ttlSeconds: 1 });
      await sleep(Math.max(0, short.expiresAt.getTime() - Date.now()) + 1100);
      await assert.rejects(harness.connect(short, 'bob', { publish: [] }), 'an expired token is refused');
      assert.deepEqual(await identities(room), ['alice']);
      await provider.endRoom(room.providerRoomId, 'test_done');
    });

    test('participants: listed while connected, removed with the reason reported, leaving reported; absent ones not removed', async () => {
      const room = await newRoom();
      const alice = await join(room, 'alice', []);
      const bob = await join(room, 'bob', []);
      const carol = await join(room, 'carol', []);
      await waitFor('three listed', async () => (await identities(room)).length === 3);
      assert.deepEqual(await identities(room), ['alice', 'bob', 'carol']);

      assert.equal(await provider.removeParticipant(room.providerRoomId, 'bob', 'removed_by_api'), true);
      await bob.disconnected();
      const left = await event('participant.left', (e) => e.roomId === room.providerRoomId && e.identity === 'bob', 'bob to be reported as left');
      assert.equal(left.reason, 'removed_by_api');
      assert.ok(left.at instanceof Date);
      assert.deepEqual(await identities(room), ['alice', 'carol']);
      assert.equal(await provider.removeParticipant(room.providerRoomId, 'bob', 'removed_by_api'), false, 'bob is gone already');
      assert.equal(await provider.removeParticipant(room.providerRoomId, 'nobody', 'removed_by_api'), false);

      await carol.leave();
      await event('participant.left', (e) => e.roomId === room.providerRoomId && e.identity === 'carol', 'carol to be reported as left');
      assert.deepEqual(await identities(room), ['alice']);
      await provider.endRoom(room.providerRoomId, 'test_done');
      await alice.disconnected();
    });

    test('events: tracks published with kind and source, unpublished when their participant leaves, in order', async () => {
      const room = await newRoom();
      const alice = await join(room, 'alice', ['audio', 'video']);
      const audio = await event('track.published', (e) => e.roomId === room.providerRoomId && e.identity === 'alice' && e.kind === 'audio', 'alice’s audio track');
      const video = await event('track.published', (e) => e.roomId === room.providerRoomId && e.identity === 'alice' && e.kind === 'video', 'alice’s video track');
      assert.equal(audio.source, 'microphone');
      assert.equal(video.source, 'camera');
      await alice.leave();
      await event('participant.left', (e) => e.roomId === room.providerRoomId && e.identity === 'alice', 'alice to be reported as left');
      const unpublished = eventsOf('track.unpublished', room.providerRoomId).filter((e) => e.identity === 'alice');
      assert.deepEqual(unpublished.map((e) => e.kind).sort(), ['audio', 'video']);
      // One room's events in the order they happened.
      const order = events.filter((e) => e.roomId === room.providerRoomId && 'identity' in e && e.identity === 'alice').map((e) => e.type);
      assert.equal(order[0], 'participant.joined');
      assert.equal(order.at(-1), 'participant.left');
      assert.ok(order.indexOf('track.published') < order.indexOf('track.unpublished'));
      await provider.endRoom(room.providerRoomId, 'test_done');
    });

    test('routing: groups keep media apart (set before joining too), host mutes stop one kind at everyone', async (t) => {
      const provider = withCapability(t, 'routing');
      if (!provider) return;
      const room = await newRoom();
      // Placed before connecting (a waiting room): from the first moment, nothing crosses.
      const placed = await provider.setRouting(room.providerRoomId, 'carol', { group: 'side' });
      assert.deepEqual(placed, { state: { group: 'side', audioMuted: false, videoMuted: false, recorded: true }, changed: true });
      assert.equal((await provider.setRouting(room.providerRoomId, 'carol', { group: 'side' }))?.changed, false, 'placing again changes nothing');
      const alice = await join(room, 'alice');
      const bob = await join(room, 'bob');
      const carol = await join(room, 'carol');
      await Promise.all([alice.receives('bob', 'audio'), alice.receives('bob', 'video'), bob.receives('alice', 'video')]);
      await Promise.all([carol.receivesNothingOf('alice'), carol.receivesNothingOf('bob'), alice.receivesNothingOf('carol'), bob.receivesNothingOf('carol')]);

      const muted = await provider.setRouting(room.providerRoomId, 'bob', { audioMuted: true });
      assert.deepEqual(muted?.state, { group: 'main', audioMuted: true, videoMuted: false, recorded: true });
      await alice.receivesNothingOf('bob', ['audio']);
      await alice.receives('bob', 'video');
      await provider.setRouting(room.providerRoomId, 'bob', { audioMuted: false });
      await alice.receives('bob', 'audio');

      // Moved into the main group without reconnecting.
      await provider.setRouting(room.providerRoomId, 'carol', { group: 'main' });
      await Promise.all([alice.receives('carol', 'video'), carol.receives('alice', 'audio')]);
      assert.equal(await provider.setRouting(randomUUID(), 'carol', { group: 'main' }), null, 'a room that is not live');
      await provider.endRoom(room.providerRoomId, 'test_done');
    });

    test('subscriptions: a per-pair override stops one kind from one publisher to one subscriber, and is removed', async (t) => {
      const provider = withCapability(t, 'subscriptions');
      if (!provider) return;
      const room = await newRoom();
      const alice = await join(room, 'alice');
      const bob = await join(room, 'bob');
      await Promise.all([alice.receives('bob', 'video'), bob.receives('alice', 'video')]);
      assert.equal(await provider.setSubscription(room.providerRoomId, 'alice', 'bob', 'video', false), true);
      await alice.receivesNothingOf('bob', ['video']);
      await Promise.all([alice.receives('bob', 'audio'), bob.receives('alice', 'video')]);
      assert.equal(await provider.setSubscription(room.providerRoomId, 'alice', 'bob', 'video', null), true);
      await alice.receives('bob', 'video');
      assert.equal(await provider.setSubscription(randomUUID(), 'alice', 'bob', '*', false), false, 'a room that is not live');
      await provider.endRoom(room.providerRoomId, 'test_done');
    });

    test('token revocation: tokens issued before the moment no longer join; a newer one does', async (t) => {
      const provider = withCapability(t, 'tokenRevocation');
      if (!provider) return;
      const room = await newRoom();
      const old = await mint(room, 'pat');
      assert.equal(await provider.revokeTokens(room.providerRoomId, 'pat', new Date()), true);
      await assert.rejects(harness.connect(old, 'pat', { publish: [] }), 'a revoked token is refused');
      assert.deepEqual(await identities(room), []);
      // Tokens carry whole seconds: one issued in a later second is newer than the revocation.
      await sleep(1100);
      participants.push(await harness.connect(await mint(room, 'pat'), 'pat', { publish: [] }));
      await waitFor('pat listed', async () => (await identities(room)).includes('pat'));
      assert.equal(await provider.revokeTokens(randomUUID(), 'pat', new Date()), false, 'a room that is not live');
      await provider.endRoom(room.providerRoomId, 'test_done');
    });

    test('recording: start and stop (events), only participants routed as recorded, files in the store with bytes and a content type', async (t) => {
      const provider = withCapability(t, 'recording');
      if (!provider) return;
      const room = await newRoom();
      const routing = hasCapability(provider, 'routing') ? provider : null;
      if (routing) await routing.setRouting(room.providerRoomId, 'bob', { recorded: false });
      const alice = await join(room, 'alice');
      const bob = await join(room, 'bob');
      await Promise.all([alice.receives('bob', 'video'), bob.receives('alice', 'video')]);
      assert.equal(await provider.startRecording(room.providerRoomId), true);
      // A provider may record each track apart (Twilio: the microphone alone too): the camera's is the one followed here.
      const started = await event('recording.started', (e) => e.roomId === room.providerRoomId && e.identity === 'alice' && e.recording.content === 'camera', 'alice’s camera recording to start');
      assert.equal(started.recording.content, 'camera');
      assert.ok(started.recording.ref.length > 0 && started.recording.mediaType.length > 0);
      await sleep(2000);
      assert.equal(await provider.stopRecording(room.providerRoomId), true);
      const done = await event('recording.completed', (e) => e.roomId === room.providerRoomId && e.recording.ref === started.recording.ref, 'alice’s recording to complete');
      assert.equal(done.identity, 'alice');
      assert.equal(done.recording.error, undefined);
      assert.ok(done.recording.bytes > 0, `${done.recording.bytes} bytes`);
      assert.ok(done.recording.endedAt.getTime() >= done.recording.startedAt.getTime());
      if (routing) assert.equal(eventsOf('recording.started', room.providerRoomId).filter((e) => e.identity === 'bob').length, 0, 'bob (routed as not recorded) is not recorded');
      else t.diagnostic(`${provider.name} has no routing: the per-participant "recorded" flag is not checked`);

      const media = await provider.recordings.open(done.recording);
      assert.ok(media, 'the store has the file');
      assert.equal(media.contentType, done.recording.mediaType);
      assert.equal(media.bytes, done.recording.bytes);
      let read = 0;
      for await (const chunk of media.stream) read += (chunk as Buffer).length;
      assert.equal(read, media.bytes, 'the stream has every byte');
      await provider.recordings.delete(done.recording);
      assert.equal(await provider.recordings.open(done.recording), null, 'deleted');
      await provider.recordings.delete(done.recording);
      assert.equal(await provider.startRecording(randomUUID()), false, 'a room that is not live');
      await provider.endRoom(room.providerRoomId, 'test_done');
    });
  });
}
