// The embedded SFU (src/server/rooms/builtin/sfu): pure routing / quality / speaker functions against their
// full tables, then headless werift participants on loopback only (no STUN, only 127.0.0.1 announced) that send
// synthetic VP8/Opus RTP. Every packet carries its origin ("publisher/source") at the end of its payload, so
// what a subscriber counts cannot come from the wrong publisher by accident.
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import { describe, test } from 'node:test';
import {
  GenericNack,
  MediaStreamTrack,
  RTCPeerConnection,
  RtcpSrPacket,
  RtcpTransportLayerFeedback,
  RtpPacket,
  type RTCDataChannel,
} from 'werift';
import { rembFields, type SfuParticipant } from '../src/server/rooms/builtin/sfu/participant.js';
import type { Sfu } from '../src/server/rooms/builtin/sfu/sfu.js';
import { chooseExtensionId, choosePayloadType, parseMediaSections, remoteSends } from '../src/server/rooms/builtin/sfu/negotiation.js';
import { QUALITY_THRESHOLDS, levelFor, networkQuality } from '../src/server/rooms/builtin/sfu/quality.js';
import { StreamRewriter, isVp8KeyframeStart, seqNewer } from '../src/server/rooms/builtin/sfu/rewrite.js';
import { computeEdges, decideEdge, diffEdges, edgeKey } from '../src/server/rooms/builtin/sfu/routing.js';
import { LevelMeter, pickDominantSpeaker } from '../src/server/rooms/builtin/sfu/speaker.js';
import { SfuError, type TrackSource } from '../src/server/rooms/builtin/sfu/types.js';
import { suppressDefaultStun } from '../src/server/rooms/builtin/sfu/werift.js';
import { ABSENCE_MS, LOOPBACK_ONLY, SyntheticSource, WAIT_MS, newSfu, sleep, tagOf, waitFor } from './helpers/media.js';

const NTP_UNIX_OFFSET_MS = 2_208_988_800_000;

// Every UDP destination this process sends to (werift's ICE, DTLS, SRTP and any STUN query go through dgram).
const udpDestinations = new Set<string>();
const originalSend = dgram.Socket.prototype.send;
dgram.Socket.prototype.send = function (this: dgram.Socket, ...args: unknown[]) {
  const address = args.find((a): a is string => typeof a === 'string');
  udpDestinations.add(address ?? '(connected socket)');
  return (originalSend as (...a: unknown[]) => void).apply(this, args);
} as typeof dgram.Socket.prototype.send;

// ---------------------------------------------------------------------------------------------------------
// Pure functions
// ---------------------------------------------------------------------------------------------------------

describe('SFU routing (pure)', () => {
  test('decideEdge: every combination of mute, kind override, any-kind override and group', () => {
    const overrideValues = [undefined, true, false] as const;
    let rows = 0;
    for (const publisherMuted of [false, true]) {
      for (const kindOverride of overrideValues) {
        for (const anyKindOverride of overrideValues) {
          for (const sameGroup of [false, true]) {
            const expected = publisherMuted ? false : kindOverride !== undefined ? kindOverride : anyKindOverride !== undefined ? anyKindOverride : sameGroup;
            assert.equal(
              decideEdge({ sameGroup, publisherMuted, kindOverride, anyKindOverride }),
              expected,
              JSON.stringify({ sameGroup, publisherMuted, kindOverride, anyKindOverride }),
            );
            rows++;
          }
        }
      }
    }
    assert.equal(rows, 36);
  });

  test('computeEdges: groups, self, mutes, overrides, unknown publishers; diffEdges', () => {
    const participants = [
      { id: 'clin', group: 'visit' },
      { id: 'pat', group: 'visit' },
      { id: 'wait', group: 'lobby' },
      { id: 'sup', group: 'observers' },
    ];
    const tracks = [
      { trackId: 'clin:a', publisherId: 'clin', kind: 'audio' as const },
      { trackId: 'clin:v', publisherId: 'clin', kind: 'video' as const },
      { trackId: 'pat:a', publisherId: 'pat', kind: 'audio' as const },
      { trackId: 'pat:v', publisherId: 'pat', kind: 'video' as const },
      { trackId: 'wait:a', publisherId: 'wait', kind: 'audio' as const },
      { trackId: 'ghost:a', publisherId: 'ghost', kind: 'audio' as const },
    ];
    const base = computeEdges({ participants, tracks, muted: [], overrides: [] });
    assert.deepEqual([...base.keys()].sort(), [edgeKey('clin:a', 'pat'), edgeKey('clin:v', 'pat'), edgeKey('pat:a', 'clin'), edgeKey('pat:v', 'clin')].sort());

    // The supervisor listens to everyone in the visit (any kind), but not the patient's video; the clinician is
    // host-muted for audio, which beats the supervisor's override; the waiting patient hears nobody.
    const next = computeEdges({
      participants,
      tracks,
      muted: [{ participantId: 'clin', kind: 'audio' }],
      overrides: [
        { subscriberId: 'sup', publisherId: 'clin', kind: '*', allow: true },
        { subscriberId: 'sup', publisherId: 'pat', kind: '*', allow: true },
        { subscriberId: 'sup', publisherId: 'pat', kind: 'video', allow: false },
        { subscriberId: 'pat', publisherId: 'clin', kind: 'video', allow: false },
      ],
    });
    assert.deepEqual(
      [...next.values()].map((e) => `${e.trackId}->${e.subscriberId}`).sort(),
      ['clin:v->sup', 'pat:a->clin', 'pat:a->sup', 'pat:v->clin'].sort(),
    );
    const { added, removed } = diffEdges(base, next);
    assert.deepEqual(added.map((e) => `${e.trackId}->${e.subscriberId}`).sort(), ['clin:v->sup', 'pat:a->sup']);
    assert.deepEqual(removed.map((e) => `${e.trackId}->${e.subscriberId}`).sort(), ['clin:a->pat', 'clin:v->pat']);
    assert.deepEqual(diffEdges(next, next), { added: [], removed: [] });
  });

  test('computeEdges: a participant that does not receive gets nothing, even through an override; it still publishes', () => {
    const edges = computeEdges({
      participants: [
        { id: 'host', group: 'g' },
        { id: 'viewer', group: 'g', receives: false },
      ],
      tracks: [
        { trackId: 'host:v', publisherId: 'host', kind: 'video' },
        { trackId: 'viewer:v', publisherId: 'viewer', kind: 'video' },
      ],
      muted: [],
      overrides: [{ subscriberId: 'viewer', publisherId: 'host', kind: '*', allow: true }],
    });
    assert.deepEqual([...edges.values()].map((e) => `${e.trackId}->${e.subscriberId}`), ['viewer:v->host']);
  });
});

describe('SFU network quality (pure)', () => {
  test('levelFor: each threshold boundary of each metric', () => {
    for (const [metric, thresholds] of Object.entries(QUALITY_THRESHOLDS)) {
      const [t5, t4, t3, t2] = thresholds;
      const table: [number, number][] = [
        [0, 5],
        [t5 - 1e-9, 5],
        [t5, 4],
        [t4 - 1e-9, 4],
        [t4, 3],
        [t3 - 1e-9, 3],
        [t3, 2],
        [t2 - 1e-9, 2],
        [t2, 1],
        [t2 * 10, 1],
      ];
      for (const [value, level] of table) assert.equal(levelFor(value, thresholds), level, `${metric}=${value}`);
    }
  });

  test('networkQuality: disconnected, nothing measured, single metrics, the worst metric wins', () => {
    const table: [Parameters<typeof networkQuality>[0], number][] = [
      [{ connected: false }, 0],
      [{ connected: false, lossFraction: 0, rttMs: 1, jitterMs: 1 }, 0],
      [{ connected: true }, 5],
      [{ connected: true, lossFraction: 0 }, 5],
      [{ connected: true, lossFraction: 0.02 }, 4],
      [{ connected: true, lossFraction: 0.05 }, 3],
      [{ connected: true, lossFraction: 0.1 }, 2],
      [{ connected: true, lossFraction: 0.25 }, 1],
      [{ connected: true, rttMs: 100 }, 5],
      [{ connected: true, rttMs: 200 }, 4],
      [{ connected: true, rttMs: 300 }, 3],
      [{ connected: true, rttMs: 500 }, 2],
      [{ connected: true, rttMs: 1000 }, 1],
      [{ connected: true, jitterMs: 10 }, 5],
      [{ connected: true, jitterMs: 30 }, 4],
      [{ connected: true, jitterMs: 50 }, 3],
      [{ connected: true, jitterMs: 80 }, 2],
      [{ connected: true, jitterMs: 150 }, 1],
      [{ connected: true, lossFraction: 0, rttMs: 500, jitterMs: 10 }, 2],
      [{ connected: true, lossFraction: 0.05, rttMs: 200, jitterMs: 80 }, 2],
      [{ connected: true, lossFraction: 0.2, rttMs: 10, jitterMs: 1 }, 1],
      [{ connected: true, lossFraction: Number.NaN, rttMs: 10 }, 5],
    ];
    for (const [sample, level] of table) assert.equal(networkQuality(sample), level, JSON.stringify(sample));
  });
});

describe('SFU helpers (pure)', () => {
  test('pickDominantSpeaker: silence, first speaker, hysteresis, ties, departures', () => {
    const L = (participantId: string, level: number) => ({ participantId, level });
    const table: [string | null, ReturnType<typeof L>[], string | null][] = [
      [null, [], null],
      [null, [L('a', 127), L('b', 100)], null], // nobody loud enough
      [null, [L('a', 40), L('b', 30)], 'b'], // loudest (lower dBov) wins
      [null, [L('b', 30), L('a', 30)], 'a'], // tie: smaller id
      ['a', [L('a', 127), L('b', 127)], 'a'], // silence keeps the last speaker
      ['a', [L('b', 127)], null], // the last speaker is gone
      ['a', [L('a', 40), L('b', 36)], 'a'], // challenger not louder by the margin
      ['a', [L('a', 40), L('b', 34)], 'b'], // louder by the margin (6 dB)
      ['a', [L('a', 90), L('b', 55)], 'b'], // current stopped speaking
      ['a', [L('a', 30), L('b', 127)], 'a'],
    ];
    for (const [current, levels, expected] of table) assert.equal(pickDominantSpeaker(current, levels), expected, JSON.stringify({ current, levels }));
    const meter = new LevelMeter();
    assert.equal(meter.take(), 127);
    meter.add(20);
    meter.add(40);
    meter.add(500);
    assert.equal(meter.take(), (20 + 40 + 127) / 3);
    assert.equal(meter.take(), 127);
  });

  test('payload types and header-extension ids agree with what the session already uses', () => {
    const vp8 = { mimeType: 'video/VP8', clockRate: 90000 };
    const opus = { mimeType: 'audio/opus', clockRate: 48000, channels: 2 };
    assert.equal(choosePayloadType([], vp8, 96), 96);
    assert.equal(choosePayloadType([{ payloadType: 120, mimeType: 'video/vp8', clockRate: 90000 }], vp8, 96), 120);
    assert.equal(choosePayloadType([{ payloadType: 96, mimeType: 'video/VP8', clockRate: 90000 }], opus, 96), 97);
    assert.equal(choosePayloadType([{ payloadType: 111, mimeType: 'audio/opus', clockRate: 48000, channels: 2 }], opus, 96), 111);
    const all = Array.from({ length: 32 }, (_, i) => ({ payloadType: 96 + i, mimeType: `x/${i}`, clockRate: 1 }));
    assert.equal(choosePayloadType(all, vp8, 96), 35);
    assert.equal(chooseExtensionId([], 'urn:x'), 1);
    assert.equal(chooseExtensionId([{ id: 4, uri: 'urn:ietf:params:rtp-hdrext:sdes:mid' }], 'urn:ietf:params:rtp-hdrext:sdes:mid'), 4);
    assert.equal(chooseExtensionId([{ id: 1, uri: 'a' }, { id: 2, uri: 'b' }, { id: 4, uri: 'c' }], 'd'), 3);
    assert.throws(() => chooseExtensionId(Array.from({ length: 14 }, (_, i) => ({ id: i + 1, uri: `u${i}` })), 'z'));
  });

  test('parseMediaSections and remoteSends', () => {
    const sdp = ['v=0', 'a=sendonly', 'm=audio 9 UDP/TLS/RTP/SAVPF 111', 'a=mid:0', 'm=video 9 UDP/TLS/RTP/SAVPF 96', 'a=mid:1', 'a=recvonly', 'm=video 0 UDP/TLS/RTP/SAVPF 96', 'a=mid:2', 'a=sendrecv', 'm=application 9 UDP/DTLS/SCTP webrtc-datachannel', 'a=mid:3', ''].join('\r\n');
    const sections = parseMediaSections(sdp);
    assert.deepEqual(sections, [
      { kind: 'audio', mid: '0', direction: 'sendonly', rejected: false },
      { kind: 'video', mid: '1', direction: 'recvonly', rejected: false },
      { kind: 'video', mid: '2', direction: 'sendrecv', rejected: true },
      { kind: 'application', mid: '3', direction: 'sendonly', rejected: false },
    ]);
    assert.deepEqual(sections.map(remoteSends), [true, false, false, true]);
  });

  test('StreamRewriter continues sequence numbers and timestamps across sources; VP8 keyframes; REMB fields', () => {
    const r = new StreamRewriter(90000);
    assert.deepEqual(r.rewrite(1000, 5000, 0), { seq: 1000, ts: 5000 });
    assert.deepEqual(r.rewrite(1001, 8000, 33), { seq: 1001, ts: 8000 });
    r.rebaseNext();
    // A new source 100 ms later: the sequence continues at 1002, the timestamp advances by 100 ms of 90 kHz.
    assert.deepEqual(r.rewrite(65535, 1, 133), { seq: 1002, ts: 8000 + 9000 });
    assert.deepEqual(r.rewrite(0, 3001, 166), { seq: 1003, ts: 8000 + 9000 + 3000 });
    // An older (reordered) packet keeps its place and does not move the reference.
    assert.deepEqual(r.rewrite(65534, 1, 170), { seq: 1001, ts: 8000 + 9000 - 0 });
    assert.equal(seqNewer(1, 65535), true);
    assert.equal(seqNewer(65535, 1), false);
    assert.equal(seqNewer(5, 5), false);

    assert.equal(isVp8KeyframeStart(Buffer.from([0x10, 0x10, 0, 0, 0x9d, 0x01, 0x2a])), true);
    assert.equal(isVp8KeyframeStart(Buffer.from([0x10, 0x11, 0, 0])), false); // interframe
    assert.equal(isVp8KeyframeStart(Buffer.from([0x00, 0x10, 0, 0])), false); // not a partition start
    // Extended descriptor: X, I with a 15-bit picture id, L, T/K.
    assert.equal(isVp8KeyframeStart(Buffer.from([0x90, 0xe0, 0x81, 0x23, 0x05, 0x40, 0x10, 0, 0])), true);
    assert.equal(isVp8KeyframeStart(Buffer.from([0x90, 0x80, 0x05, 0x11])), false);
    assert.equal(isVp8KeyframeStart(Buffer.alloc(0)), false);

    assert.deepEqual(rembFields(1_500_000), { exponent: 3, mantissa: 187_500 });
    assert.deepEqual(rembFields(100_000), { exponent: 0, mantissa: 100_000 });
    const { exponent, mantissa } = rembFields(123_456_789);
    assert.ok(mantissa < 1 << 18 && mantissa * 2 ** exponent <= 123_456_789 && (mantissa + 1) * 2 ** exponent > 123_456_789);
  });
});

// ---------------------------------------------------------------------------------------------------------
// Headless werift participants
// ---------------------------------------------------------------------------------------------------------

interface Arrival {
  count: number;
  firstAt: number;
  firstIsKeyframe: boolean;
  lastSeq: number;
  lastSsrc: number;
  mid: string | null;
}

/** A headless participant: a werift peer wired to its SFU session through in-process "signaling". */
class TestPeer {
  readonly pc = new RTCPeerConnection(LOOPBACK_ONLY);
  readonly arrivals = new Map<string, Arrival>();
  /** seq numbers seen per receiving mid, to spot retransmissions. */
  readonly seen = new Map<string, Map<number, number>>();
  readonly sources = new Map<TrackSource, SyntheticSource>();
  readonly data: string[] = [];
  readonly offersFromServer: number[] = [];
  readonly states: string[] = [];
  /** Signaling milestones and local candidates from the SFU, in order (candidates must follow the SDP). */
  readonly order: string[] = [];
  readonly channel: RTCDataChannel | undefined;
  channels: RTCDataChannel[] = [];
  /** Every answer the SFU gave to this peer's offers. */
  readonly answers: string[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  readonly #sourceByMid = new Map<string, TrackSource>();
  readonly #tracks = new Set<string>();

  private constructor(
    readonly id: string,
    readonly session: SfuParticipant,
    options: { dataChannel: boolean },
  ) {
    session.on('iceCandidate', (candidate) => {
      this.order.push(candidate ? 'candidate' : 'end-of-candidates');
      if (candidate) this.pc.addIceCandidate(candidate).catch(() => undefined);
    });
    this.pc.onIceCandidate.subscribe((candidate) => {
      if (candidate) session.addIceCandidate(candidate.toJSON()).catch(() => undefined);
    });
    session.on('needsNegotiation', (offer) => {
      this.offersFromServer.push(Date.now());
      void this.#enqueue(() => this.#answer(offer));
    });
    session.on('connectionState', (state) => this.states.push(state));
    this.pc.onTrack.subscribe((track) => {
      if (this.#tracks.has(track.uuid)) return;
      this.#tracks.add(track.uuid);
      const transceiver = this.pc.getTransceivers().find((t) => t.receiver.tracks.includes(track) || t.receiver.track === track);
      track.onReceiveRtp.subscribe((rtp) => this.#record(rtp, transceiver?.mid ?? null));
    });
    if (options.dataChannel) {
      this.channel = this.pc.createDataChannel('chat');
      this.#listen(this.channel);
    }
    this.pc.onDataChannel.subscribe((channel) => this.#listen(channel));
  }

  #listen(channel: RTCDataChannel): void {
    this.channels.push(channel);
    channel.onMessage.subscribe((message) => this.data.push(String(message)));
  }

  /** Joins and negotiates: the client offers (default) or the server does (`serverOffers`). */
  static async join(
    sfu: Sfu,
    room: string,
    id: string,
    group: string,
    options: { publish?: TrackSource[]; serverOffers?: boolean; skipEvery?: number } = {},
  ): Promise<TestPeer> {
    const session = await sfu.join(room, id, group);
    const peer = new TestPeer(id, session, { dataChannel: !options.serverOffers });
    for (const source of options.publish ?? []) peer.#addSource(source, options.skipEvery ?? 0);
    if (options.serverOffers) {
      await peer.#enqueue(async () => {
        const offer = await session.createOffer();
        peer.order.push('server-offer');
        await peer.#answer(offer);
      });
    } else {
      await peer.#enqueue(() => peer.#offer());
    }
    await waitFor(`${id} to connect`, () => session.connectionState === 'connected');
    return peer;
  }

  #enqueue<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(operation);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #addSource(source: TrackSource, skipEvery: number): void {
    const kind = source === 'microphone' ? 'audio' : 'video';
    const transceiver = this.pc.addTransceiver(new MediaStreamTrack({ kind }), { direction: 'sendonly' });
    this.sources.set(source, new SyntheticSource(`${this.id}/${source}`, kind, transceiver, skipEvery));
  }

  /** Publishes another track after joining (client-initiated renegotiation). */
  publish(source: TrackSource): Promise<void> {
    this.#addSource(source, 0);
    return this.#enqueue(() => this.#offer());
  }

  /** Publishes the way a browser's addTrack does: reusing an m-line that so far only received (one of the SFU's slots). */
  publishOnReceivingLine(source: TrackSource): Promise<string | null> {
    const kind = source === 'microphone' ? 'audio' : 'video';
    const sender = this.pc.addTrack(new MediaStreamTrack({ kind }));
    const transceiver = this.pc.getTransceivers().find((t) => t.sender === sender)!;
    this.sources.set(source, new SyntheticSource(`${this.id}/${source}`, kind, transceiver, 0));
    return this.#enqueue(async () => {
      await this.#offer();
      return transceiver.mid;
    });
  }

  /** Stops publishing a source (removeTrack and a new offer). */
  unpublish(source: TrackSource): Promise<void> {
    const synthetic = this.sources.get(source)!;
    synthetic.stop();
    this.sources.delete(source);
    this.pc.removeTrack(synthetic.transceiver.sender);
    return this.#enqueue(() => this.#offer());
  }

  async #offer(): Promise<void> {
    const offer = await this.pc.createOffer();
    suppressDefaultStun(this.pc);
    await this.pc.setLocalDescription(offer);
    const sources: Record<string, TrackSource> = {};
    for (const [source, synthetic] of this.sources) {
      const mid = synthetic.transceiver.mid;
      if (mid !== null) {
        sources[mid] = source;
        this.#sourceByMid.set(mid, source);
      }
    }
    try {
      const answer = await this.session.createAnswer(this.pc.localDescription!.sdp, { sources });
      this.answers.push(answer);
      this.order.push('server-answer');
      await this.pc.setRemoteDescription({ type: 'answer', sdp: answer });
    } catch (error) {
      if (!(error instanceof SfuError && error.code === 'glare')) throw error;
      // Polite side of a collision: roll back (werift keeps the mids it gave new transceivers; forget them as a
      // browser would), let the server's queued offer be answered, then offer again.
      await this.pc.setLocalDescription({ type: 'rollback' });
      for (const t of this.pc.getTransceivers()) {
        if (t.currentDirection === null) {
          t.mid = null;
          t.mLineIndex = undefined;
        }
      }
      void this.#enqueue(() => this.#offer());
    }
  }

  async #answer(offer: string): Promise<void> {
    await this.pc.setRemoteDescription({ type: 'offer', sdp: offer });
    const answer = await this.pc.createAnswer();
    suppressDefaultStun(this.pc);
    await this.pc.setLocalDescription(answer);
    await this.session.setRemoteDescription(this.pc.localDescription!.sdp);
    this.order.push('answer-applied');
  }

  #record(rtp: RtpPacket, mid: string | null): void {
    const tag = tagOf(rtp.payload);
    const key = mid ?? '?';
    const seen = this.seen.get(key) ?? new Map<number, number>();
    this.seen.set(key, seen);
    seen.set(rtp.header.sequenceNumber, (seen.get(rtp.header.sequenceNumber) ?? 0) + 1);
    if (seen.size > 2000) seen.delete(seen.keys().next().value!);
    const arrival = this.arrivals.get(tag);
    if (arrival) {
      arrival.count++;
      arrival.lastSeq = rtp.header.sequenceNumber;
      arrival.lastSsrc = rtp.header.ssrc;
      arrival.mid = mid;
    } else {
      this.arrivals.set(tag, {
        count: 1,
        firstAt: performance.now(),
        firstIsKeyframe: isVp8KeyframeStart(rtp.payload),
        lastSeq: rtp.header.sequenceNumber,
        lastSsrc: rtp.header.ssrc,
        mid,
      });
    }
  }

  count(tag: string): number {
    return this.arrivals.get(tag)?.count ?? 0;
  }

  /** Resolves when `tag` has at least `n` more packets than now. */
  async receives(tag: string, n = 5, ms = WAIT_MS): Promise<void> {
    const start = this.count(tag);
    await waitFor(`${this.id} to receive ${tag}`, () => this.count(tag) >= start + n, ms);
  }

  /** Asserts the tags stop arriving: lets in-flight packets land, then watches ABSENCE_MS. */
  async receivesNothingOf(...tags: string[]): Promise<void> {
    await sleep(150);
    const before = tags.map((tag) => this.count(tag));
    await sleep(ABSENCE_MS);
    assert.deepEqual(tags.map((tag) => this.count(tag)), before, `${this.id} still receives ${tags.join(', ')}`);
  }

  /** Sends from the client over its data channel. */
  send(text: string): void {
    const channel = this.channels.find((c) => c.readyState === 'open');
    assert.ok(channel, `${this.id} has no open data channel`);
    channel.send(text);
  }

  async close(): Promise<void> {
    for (const source of this.sources.values()) source.stop();
    await this.pc.close();
  }
}

async function closeAll(sfu: Sfu, peers: TestPeer[]): Promise<void> {
  await sfu.close();
  await Promise.all(peers.map((p) => p.close()));
}

describe('SFU media over loopback', () => {
  test('same group receives, other group does not; DTLS server role; data channel both ways; REMB; PLI; NACK; sender reports', async () => {
    const sfu = newSfu();
    const dataAtSfu: [string, string][] = [];
    sfu.on('data', (participantId, payload) => dataAtSfu.push([participantId, String(payload)]));
    const published: string[] = [];
    sfu.on('trackPublished', (t) => published.push(`${t.participantId}/${t.source}/${t.kind}`));
    const a = await TestPeer.join(sfu, 'r1', 'alice', 'visit', { publish: ['microphone', 'camera'] });
    const b = await TestPeer.join(sfu, 'r1', 'bob', 'visit');
    const c = await TestPeer.join(sfu, 'r1', 'carol', 'lobby');
    try {
      // The SFU answers a client's first offer (a=setup:actpass) as the DTLS server (prepareDtls in werift.ts).
      assert.match(a.answers[0]!, /^a=setup:passive\r?$/m);
      assert.doesNotMatch(a.answers[0]!, /^a=setup:(active|actpass)/m);
      assert.deepEqual(published.sort(), ['alice/camera/video', 'alice/microphone/audio']);
      await b.receives('alice/microphone');
      await b.receives('alice/camera');
      assert.equal(b.arrivals.get('alice/camera')?.firstIsKeyframe, true, 'the first video packet a subscriber gets is a keyframe');
      await c.receivesNothingOf('alice/microphone', 'alice/camera');
      assert.equal(c.count('alice/camera'), 0);
      assert.equal(c.count('alice/microphone'), 0);
      // Local candidates reach the client only after the SDP they belong with (pitfall 7).
      assert.equal(a.order[0], 'server-answer');
      assert.ok(a.order.includes('candidate'));
      assert.deepEqual(
        sfu.routing('r1').map((e) => `${e.trackId}->${e.subscriberId}`).sort(),
        a.session.publications().map((t) => `${t.trackId}->bob`).sort(),
      );
      const routes = b.session.routes();
      assert.deepEqual(routes.map((r) => `${r.publisherId}/${r.source}`).sort(), ['alice/camera', 'alice/microphone']);

      // Data: client → SFU event; SFU → client.
      a.send('hello from alice');
      await waitFor('the SFU to get alice’s message', () => dataAtSfu.some(([p, m]) => p === 'alice' && m === 'hello from alice'));
      assert.equal(sfu.sendData('bob', 'to bob'), true);
      await waitFor('bob to get the message', () => b.data.includes('to bob'));
      assert.equal(sfu.sendData('nobody', 'x'), false);

      // REMB caps the publisher at 1.5 Mbps (pitfall 5).
      const video = a.sources.get('camera')!;
      await waitFor('a REMB at the publisher', () => video.transceiver.sender.receiverEstimatedMaxBitrate === 1_500_000n, 4000);

      // A subscriber's PLI reaches the publisher (pitfall 8).
      await sleep(300);
      const plisBefore = video.plis;
      const bVideo = b.pc.getTransceivers().find((t) => t.mid === b.arrivals.get('alice/camera')?.mid)!;
      await bVideo.receiver.sendRtcpPLI(b.arrivals.get('alice/camera')!.lastSsrc);
      await waitFor('the PLI at the publisher', () => video.plis > plisBefore);

      // NACK: the SFU retransmits a forwarded packet from its own history when the subscriber asks.
      const arrival = b.arrivals.get('alice/camera')!;
      const seq = arrival.lastSeq;
      const seen = b.seen.get(arrival.mid!)!;
      assert.equal(seen.get(seq), 1);
      await bVideo.receiver.dtlsTransport.sendRtcp([
        new RtcpTransportLayerFeedback({ feedback: new GenericNack({ senderSsrc: bVideo.receiver.rtcpSsrc, mediaSourceSsrc: arrival.lastSsrc, lost: [seq] }) }),
      ]);
      await waitFor('the retransmission of a NACKed packet', () => (seen.get(seq) ?? 0) >= 2, 3000);

      // Sender reports: the SFU writes forwarded packets itself (Slot.send), so it also sends the RTCP SRs for
      // them: NTP time now, packet count matching what arrived, and the RTT from the subscriber's receiver reports.
      const reports: RtcpSrPacket[] = [];
      const watching = bVideo.receiver.onRtcp.subscribe((packet) => {
        if (packet instanceof RtcpSrPacket && packet.ssrc === arrival.lastSsrc) reports.push(packet);
      });
      try {
        await waitFor('a sender report for the forwarded video', () => reports.length > 0, 3000);
      } finally {
        watching.unSubscribe();
      }
      const info = reports[0]!.senderInfo;
      const ntpMs = Number(info.ntpTimestamp >> 32n) * 1000 - NTP_UNIX_OFFSET_MS + (Number(info.ntpTimestamp & 0xffff_ffffn) / 2 ** 32) * 1000;
      assert.ok(Math.abs(ntpMs - Date.now()) < 1500, `SR NTP time ${new Date(ntpMs).toISOString()} is now`);
      const received = [...seen.values()].reduce((n, times) => n + times, 0);
      assert.ok(info.packetCount > 0.8 * received - 50 && info.packetCount < 1.2 * received + 50, `SR packet count ${info.packetCount} ≈ ${received} received`);
      assert.ok(info.octetCount >= info.packetCount, `SR octet count ${info.octetCount} (every packet has a payload)`);
      // (werift's own senders never send a report here, so the round trip can only come from the slots' SRs.)
      let rttMs: number | undefined;
      for (const deadline = Date.now() + 5000; rttMs === undefined && Date.now() < deadline; await sleep(100)) {
        rttMs = (await b.session.sampleQuality()).rttMs;
      }
      assert.ok(rttMs !== undefined && rttMs >= 0 && rttMs < 200, `loopback RTT from bob’s receiver reports: ${rttMs} ms`);
    } finally {
      await closeAll(sfu, [a, b, c]);
    }
  });

  test('setGroup re-routes on the existing connections; time to first packet is measured', async () => {
    const sfu = newSfu();
    const a = await TestPeer.join(sfu, 'r2', 'alice', 'visit', { publish: ['microphone', 'camera'] });
    const b = await TestPeer.join(sfu, 'r2', 'bob', 'visit');
    const c = await TestPeer.join(sfu, 'r2', 'carol', 'lobby');
    try {
      await b.receives('alice/camera');
      await c.receivesNothingOf('alice/camera');
      const pcBefore = c.session.pc;

      // carol joins the visit: her connection gets new m-lines by a server offer.
      let t0 = performance.now();
      sfu.setGroup('carol', 'visit');
      await c.receives('alice/microphone', 1);
      await c.receives('alice/camera', 1);
      const audioMs = c.arrivals.get('alice/microphone')!.firstAt - t0;
      const videoMs = c.arrivals.get('alice/camera')!.firstAt - t0;
      assert.equal(c.arrivals.get('alice/camera')!.firstIsKeyframe, true);
      assert.equal(c.offersFromServer.length, 1, 'one server offer for the new m-lines');
      assert.equal(c.session.pc, pcBefore);
      assert.deepEqual(c.states, ['connecting', 'connected'], 'no reconnect');
      console.log(`sfu re-route (new m-lines, server offer + answer): first audio packet ${audioMs.toFixed(1)} ms, first video packet (keyframe after PLI) ${videoMs.toFixed(1)} ms after setGroup`);

      // bob leaves the visit for the lobby: he stops receiving alice, carol keeps receiving.
      sfu.setGroup('bob', 'lobby');
      await b.receivesNothingOf('alice/camera', 'alice/microphone');
      await c.receives('alice/camera');

      // bob comes back: his idle slots are reused, no renegotiation at all.
      const offersBefore = b.offersFromServer.length;
      b.arrivals.clear();
      t0 = performance.now();
      sfu.setGroup('bob', 'visit');
      await b.receives('alice/microphone', 1);
      await b.receives('alice/camera', 1);
      const reusedAudioMs = b.arrivals.get('alice/microphone')!.firstAt - t0;
      const reusedVideoMs = b.arrivals.get('alice/camera')!.firstAt - t0;
      assert.equal(b.offersFromServer.length, offersBefore, 'slot reuse needs no offer');
      assert.equal(b.arrivals.get('alice/camera')!.firstIsKeyframe, true);
      console.log(`sfu re-route (reused slots, no renegotiation): first audio packet ${reusedAudioMs.toFixed(1)} ms, first video packet ${reusedVideoMs.toFixed(1)} ms after setGroup`);
      assert.deepEqual(b.states, ['connecting', 'connected']);
    } finally {
      await closeAll(sfu, [a, b, c]);
    }
  });

  test('host mute stops the participant’s audio at subscribers, unmute resumes it, video is untouched', async () => {
    const sfu = newSfu();
    const a = await TestPeer.join(sfu, 'r3', 'alice', 'visit', { publish: ['microphone', 'camera'] });
    const b = await TestPeer.join(sfu, 'r3', 'bob', 'visit');
    try {
      await b.receives('alice/microphone');
      const micMid = b.session.routes().find((r) => r.source === 'microphone')!.mid;
      sfu.setMuted('alice', 'audio', true);
      assert.equal(sfu.isMuted('alice', 'audio'), true);
      await b.receivesNothingOf('alice/microphone');
      await b.receives('alice/camera');
      assert.equal(b.session.routes().find((r) => r.mid === micMid)?.publisherId, null, 'the slot is idle while muted');
      // An override cannot beat a host mute.
      sfu.setRoute('bob', 'alice', 'audio', true);
      await b.receivesNothingOf('alice/microphone');
      sfu.setRoute('bob', 'alice', 'audio', null);

      const offers = b.offersFromServer.length;
      sfu.setMuted('alice', 'audio', false);
      await b.receives('alice/microphone');
      assert.equal(b.session.routes().find((r) => r.mid === micMid)?.source, 'microphone', 'unmute takes the same slot back');
      assert.equal(b.offersFromServer.length, offers);

      // Overrides: bob stops receiving alice's video only.
      sfu.setRoute('bob', 'alice', 'video', false);
      await b.receivesNothingOf('alice/camera');
      await b.receives('alice/microphone');
      sfu.setRoute('bob', 'alice', 'video', null);
      await b.receives('alice/camera');
    } finally {
      await closeAll(sfu, [a, b]);
    }
  });

  test('publishing a screen share after joining reaches subscribers by a server offer; a server-first participant gets data', async () => {
    const sfu = newSfu();
    const events: string[] = [];
    sfu.on('trackPublished', (t) => events.push(`+${t.participantId}/${t.source}/${t.kind}`));
    const a = await TestPeer.join(sfu, 'r4', 'alice', 'visit', { publish: ['microphone'] });
    const b = await TestPeer.join(sfu, 'r4', 'bob', 'visit');
    // dan joins without publishing and lets the server offer first (its data channel comes from the server).
    const d = await TestPeer.join(sfu, 'r4', 'dan', 'visit', { serverOffers: true });
    try {
      await b.receives('alice/microphone');
      await d.receives('alice/microphone');
      await a.publish('screen');
      await b.receives('alice/screen');
      await d.receives('alice/screen');
      assert.ok(events.includes('+alice/screen/video'));
      assert.equal(b.session.routes().find((r) => r.source === 'screen')?.kind, 'video');

      assert.equal(d.order[0], 'server-offer');
      assert.ok(d.order.indexOf('candidate') > d.order.indexOf('answer-applied'), `candidates before the answer: ${d.order.join(' ')}`);
      await waitFor('dan’s server-created data channel to open', () => d.session.dataOpen);
      assert.equal(sfu.sendData('dan', 'welcome'), true);
      await waitFor('dan to get the message', () => d.data.includes('welcome'));

      // Glare: while the server's offer to a fresh participant is outstanding, a client offer is refused.
      const eve = await sfu.join('r4', 'eve', 'visit');
      const evePc = new RTCPeerConnection(LOOPBACK_ONLY);
      try {
        const eveOffer = await eve.createOffer();
        assert.equal(await eve.createOffer(), eveOffer, 'the outstanding offer is handed out again');
        evePc.createDataChannel('x');
        const offer = await evePc.createOffer();
        suppressDefaultStun(evePc);
        await evePc.setLocalDescription(offer);
        await assert.rejects(eve.createAnswer(evePc.localDescription!.sdp), (e: unknown) => e instanceof SfuError && e.code === 'glare');
        await assert.rejects(sfu.join('r4', 'eve', 'visit'), (e: unknown) => e instanceof SfuError && e.code === 'participant_exists');
      } finally {
        await evePc.close();
      }
    } finally {
      await closeAll(sfu, [a, b, d]);
    }
  });

  test('a subscriber that publishes on an m-line it receives on (browser addTrack) is heard; removeTrack unpublishes', async () => {
    const sfu = newSfu();
    const events: string[] = [];
    sfu.on('trackPublished', (t) => events.push(`+${t.participantId}/${t.source}@${t.mid}`));
    sfu.on('trackUnpublished', (t) => events.push(`-${t.participantId}/${t.source}@${t.mid}`));
    const a = await TestPeer.join(sfu, 'r7', 'alice', 'visit', { publish: ['camera'] });
    const b = await TestPeer.join(sfu, 'r7', 'bob', 'visit');
    try {
      await b.receives('alice/camera');
      const slotMid = b.session.routes().find((r) => r.publisherId === 'alice')!.mid;
      const mid = await b.publishOnReceivingLine('camera');
      assert.equal(mid, slotMid, 'werift, like a browser, reused the receiving m-line');
      await a.receives('bob/camera');
      await b.receives('alice/camera');
      assert.ok(events.includes(`+bob/camera@${slotMid}`));

      await b.unpublish('camera');
      assert.ok(events.includes(`-bob/camera@${slotMid}`));
      await a.receivesNothingOf('bob/camera');
      await b.receives('alice/camera');
      assert.deepEqual(b.session.publications(), []);
    } finally {
      await closeAll(sfu, [a, b]);
    }
  });

  test('leave() stops media and unpublishes; close() leaves no sockets or timers behind', async () => {
    const countOf = (list: string[], kind: string) => list.filter((r) => r === kind).length;
    // Earlier tests' sockets close asynchronously: start from none.
    await waitFor('earlier UDP sockets to close', () => countOf(process.getActiveResourcesInfo(), 'UDPWrap') === 0, 5000);
    const baseline = process.getActiveResourcesInfo();
    const sfu = newSfu();
    const unpublished: string[] = [];
    const left: string[] = [];
    sfu.on('trackUnpublished', (t) => unpublished.push(`${t.participantId}/${t.source}`));
    sfu.on('participantLeft', (id) => left.push(id));
    const a = await TestPeer.join(sfu, 'r5', 'alice', 'visit', { publish: ['microphone', 'camera'] });
    const b = await TestPeer.join(sfu, 'r5', 'bob', 'visit');
    try {
      await b.receives('alice/camera');
      await sfu.leave('alice');
      assert.deepEqual(unpublished.sort(), ['alice/camera', 'alice/microphone']);
      assert.deepEqual(left, ['alice']);
      assert.equal(sfu.participant('alice'), undefined);
      await b.receivesNothingOf('alice/camera', 'alice/microphone');
      assert.ok(b.session.routes().every((r) => r.publisherId === null));
      assert.deepEqual(sfu.routing('r5'), []);
      await sfu.closeRoom('r5');
      assert.equal(b.session.closed, true);
    } finally {
      await closeAll(sfu, [a, b]);
    }
    await waitFor(
      'UDP sockets and timers to be released',
      () => {
        const now = process.getActiveResourcesInfo();
        return countOf(now, 'UDPWrap') === 0 && countOf(now, 'Timeout') <= countOf(baseline, 'Timeout');
      },
      5000,
    ).catch(() => assert.fail(`resources left: ${JSON.stringify(process.getActiveResourcesInfo())} (before: ${JSON.stringify(baseline)})`));
  });

  test('network quality drops for a lossy publisher and not for its subscriber; dominant speaker follows the audio level', async () => {
    const sfu = newSfu();
    const quality = new Map<string, number[]>();
    sfu.on('networkQuality', (id, level) => quality.set(id, [...(quality.get(id) ?? []), level]));
    const speakers: (string | null)[] = [];
    sfu.on('dominantSpeaker', (room, group, id) => {
      if (room === 'r6' && group === 'visit') speakers.push(id);
    });
    // alice's packets have a 25 % gap in sequence numbers, as if her uplink lost them.
    const a = await TestPeer.join(sfu, 'r6', 'alice', 'visit', { publish: ['microphone', 'camera'], skipEvery: 4 });
    const b = await TestPeer.join(sfu, 'r6', 'bob', 'visit', { publish: ['microphone'] });
    try {
      await b.receives('alice/microphone');
      await waitFor('alice rated bad', () => (quality.get('alice') ?? []).some((l) => l <= 2));
      await sleep(2500);
      const bob = quality.get('bob') ?? [];
      assert.ok(bob.length > 0 && bob.at(-1)! >= 3, `bob (who only receives alice's gaps) is rated ${JSON.stringify(bob)}`);
      console.log(`sfu network quality: alice (25 % upstream loss) ${JSON.stringify(quality.get('alice'))}, bob ${JSON.stringify(bob)}`);

      a.sources.get('microphone')!.level = 20;
      b.sources.get('microphone')!.level = 100;
      await waitFor('alice as dominant speaker', () => speakers.at(-1) === 'alice');
      a.sources.get('microphone')!.level = 110;
      b.sources.get('microphone')!.level = 25;
      await waitFor('bob as dominant speaker', () => speakers.at(-1) === 'bob');
      sfu.setMuted('bob', 'audio', true);
      await waitFor('no dominant speaker once bob is muted and alice is quiet', () => speakers.at(-1) === null);
    } finally {
      await closeAll(sfu, [a, b]);
    }
  });

  test('every UDP packet of these tests went to 127.0.0.1 (no STUN server, no other interface)', () => {
    assert.ok(udpDestinations.size > 0);
    assert.deepEqual([...udpDestinations], ['127.0.0.1']);
  });
});
