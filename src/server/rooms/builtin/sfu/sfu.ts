/**
 * The embedded SFU: rooms of participants, each with one werift peer connection; media routed
 * server-authoritatively (groups, host mutes, per-pair overrides; see routing.ts). No global state: every
 * Sfu owns its rooms, timers and sockets, and close() releases them all.
 *
 * Signaling (WebSocket), tokens and persistence are not here: the signaling layer calls join/createAnswer/…
 * and relays the session's events (iceCandidate, needsNegotiation, routesChanged) to the client.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { useAudioLevelIndication, useOPUS, useRepairedRtpStreamId, useSdesMid, useSdesRTPStreamId, useVP8, type PeerConfig } from 'werift';
import { TypedEmitter } from './emitter.js';
import type { Publication } from './media.js';
import { SfuParticipant, type SessionHost } from './participant.js';
import { networkQuality } from './quality.js';
import { ParticipantRecording, loadRecorderModule, type RecordingInfo } from './recorder.js';
import { computeEdges, diffEdges, overrideKey, type Edge, type RouteOverride } from './routing.js';
import { pickDominantSpeaker, type SpeakerLevel } from './speaker.js';
import {
  SfuError,
  silentLogger,
  type ConnectionState,
  type PublishedTrack,
  type SfuLogger,
  type TrackKind,
  type VideoLayer,
  type VideoLayerChoice,
  type VideoLayerInfo,
} from './types.js';

const VIDEO_SOURCES = new Set(['camera', 'screen']);
const LAYER_CHOICES = new Set(['low', 'medium', 'high', 'off']);

export interface SfuOptions {
  /** Extra host addresses announced as ICE candidates (tests: ['127.0.0.1']; werift skips loopback otherwise). Default []. */
  iceAdditionalHostAddresses?: string[];
  /** false: announce only iceAdditionalHostAddresses, not the machine's interfaces (tests keep media on loopback). Default true. */
  iceUseInterfaceAddresses?: boolean;
  /** UDP port range for ICE sockets, [min, max] with min < max. */
  iceUdpPortRange?: [number, number];
  /** STUN/TURN servers for the SFU's own candidates. Default [] (werift's default is a public STUN server: never used). */
  iceServers?: { urls: string | string[]; username?: string; credential?: string }[];
  /** The send rate each publisher is capped at through REMB, sent every second. Default 1.5 Mbps. */
  rembBps?: number;
  /** How often RTCP stats are turned into network quality. Default 2000 ms. */
  statsIntervalMs?: number;
  /** The dominant-speaker evaluation window. Default 500 ms. */
  speakerIntervalMs?: number;
  log?: SfuLogger;
}

export interface SfuEvents {
  trackPublished: (track: PublishedTrack) => void;
  trackUnpublished: (track: PublishedTrack) => void;
  connectionState: (participantId: string, state: ConnectionState) => void;
  /** 0..5, see quality.ts; emitted when a participant's level changes. */
  networkQuality: (participantId: string, level: number) => void;
  /** The loudest speaker of a group changed (null: nobody has spoken yet, or the speaker left or was muted). */
  dominantSpeaker: (roomId: string, group: string, participantId: string | null) => void;
  /** A participant sent a data-channel message; the SFU does not interpret it. */
  data: (participantId: string, payload: string | Buffer) => void;
  participantLeft: (participantId: string, roomId: string) => void;
  /** The layers a publisher's camera or screen is available in changed (see videoLayers). */
  videoLayers: (publisherId: string, source: 'camera' | 'screen', layers: VideoLayerInfo[]) => void;
  /** A recording segment file was opened (see startRecording). */
  recordingStarted: (info: RecordingInfo) => void;
  /** A recording segment file is final (stopRecording, a change of published tracks, leave, close). */
  recordingCompleted: (info: RecordingInfo) => void;
}

export interface RecordingOptions {
  /** Where the WebM files go (created with mode 0700 if missing). */
  directory: string;
}

interface Room {
  readonly id: string;
  readonly participants: Map<string, SfuParticipant>;
  readonly muted: Map<string, Set<TrackKind>>;
  readonly overrides: Map<string, RouteOverride>;
  edges: Map<string, Edge>;
  readonly speakers: Map<string, string | null>;
}

export class Sfu extends TypedEmitter<SfuEvents> {
  readonly log: SfuLogger;
  readonly #options: Required<Omit<SfuOptions, 'iceUdpPortRange' | 'log'>> & Pick<SfuOptions, 'iceUdpPortRange'>;
  readonly #rooms = new Map<string, Room>();
  readonly #participants = new Map<string, SfuParticipant>();
  readonly #publications = new Map<string, Publication>();
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #recordings = new Map<string, ParticipantRecording>();
  /** Recordings being finalised after their participant left (leave/closeRoom/close wait for them). */
  readonly #finishing = new Map<string, Promise<RecordingInfo[]>>();
  #sampling = false;
  #closed = false;
  readonly #host: SessionHost;

  constructor(options: SfuOptions = {}) {
    const log = options.log ?? silentLogger;
    super((event, error) => log.error({ err: error, event }, 'sfu: event listener threw'));
    this.log = log;
    this.#options = {
      iceAdditionalHostAddresses: options.iceAdditionalHostAddresses ?? [],
      iceUseInterfaceAddresses: options.iceUseInterfaceAddresses ?? true,
      iceUdpPortRange: options.iceUdpPortRange,
      iceServers: options.iceServers ?? [],
      rembBps: options.rembBps ?? 1_500_000,
      statsIntervalMs: options.statsIntervalMs ?? 2000,
      speakerIntervalMs: options.speakerIntervalMs ?? 500,
    };
    if (!this.#options.iceUseInterfaceAddresses && this.#options.iceAdditionalHostAddresses.length === 0) {
      throw new RangeError('iceUseInterfaceAddresses false needs iceAdditionalHostAddresses, or no candidate is announced');
    }
    if (this.#options.iceUdpPortRange) {
      const [min, max] = this.#options.iceUdpPortRange;
      if (!(Number.isInteger(min) && Number.isInteger(max) && min > 0 && min < max && max <= 65535)) {
        throw new RangeError('iceUdpPortRange must be [min, max] with 0 < min < max <= 65535');
      }
    }
    this.#host = {
      log,
      publicationsChanged: (session, added, removed) => this.#publicationsChanged(session, added, removed),
      connectionStateChanged: (session, state) => this.#connectionStateChanged(session, state),
      dataReceived: (session, payload) => this.emit('data', session.id, payload),
      sessionClosed: (session) => this.#sessionClosed(session),
    };
  }

  #peerConfig(): Partial<PeerConfig> {
    const o = this.#options;
    return {
      iceServers: o.iceServers.map((s) => ({ ...s })),
      iceAdditionalHostAddresses: [...o.iceAdditionalHostAddresses],
      ...(o.iceUseInterfaceAddresses ? {} : { iceUseIpv4: false, iceUseIpv6: false }),
      ...(o.iceUdpPortRange ? { icePortRange: [...o.iceUdpPortRange] as [number, number] } : {}),
      bundlePolicy: 'max-bundle',
      // Fresh objects per peer connection: werift numbers them in place.
      codecs: {
        audio: [useOPUS({ payloadType: 111, parameters: 'minptime=10;useinbandfec=1' })],
        video: [useVP8({ payloadType: 96 })],
      },
      // The rid extensions let a publisher send simulcast (a browser sends its layers only when they are negotiated).
      headerExtensions: { audio: [useSdesMid(), useAudioLevelIndication()], video: [useSdesMid(), useSdesRTPStreamId(), useRepairedRtpStreamId()] },
    };
  }

  // ---- participants -------------------------------------------------------------------------------------

  /**
   * Adds a participant to a room (created on first join) in a routing group. participantId must be unique in
   * this Sfu (compose it from room and identity if identities repeat across rooms).
   */
  async join(roomId: string, participantId: string, group: string, options: { receives?: boolean } = {}): Promise<SfuParticipant> {
    if (this.#closed) throw new SfuError('closed', 'sfu closed');
    if (this.#participants.has(participantId)) throw new SfuError('participant_exists', `participant ${participantId} already joined`);
    let room = this.#rooms.get(roomId);
    if (!room) {
      room = { id: roomId, participants: new Map(), muted: new Map(), overrides: new Map(), edges: new Map(), speakers: new Map() };
      this.#rooms.set(roomId, room);
    }
    const session = new SfuParticipant(roomId, participantId, group, this.#peerConfig(), this.#host);
    session.receives = options.receives ?? true;
    room.participants.set(participantId, session);
    this.#participants.set(participantId, session);
    this.#startTimers();
    this.#reroute(room);
    this.log.debug({ roomId, participantId, group }, 'sfu: joined');
    return session;
  }

  participant(participantId: string): SfuParticipant | undefined {
    return this.#participants.get(participantId);
  }

  #session(participantId: string): { session: SfuParticipant; room: Room } {
    const session = this.#participants.get(participantId);
    const room = session && this.#rooms.get(session.roomId);
    if (!session || !room) throw new SfuError('participant_not_found', `participant ${participantId} not found`);
    return { session, room };
  }

  /** Moves a participant to another group; media is re-routed on the existing connections (no reconnect). */
  setGroup(participantId: string, group: string): void {
    const { session, room } = this.#session(participantId);
    if (session.group === group) return;
    session.setGroupInternal(group);
    this.#reroute(room);
  }

  /** Whether the participant receives anyone's media (false: nothing is routed to it, whatever its group). */
  setReceiving(participantId: string, receives: boolean): void {
    const { session, room } = this.#session(participantId);
    if (session.receives === receives) return;
    session.receives = receives;
    this.#reroute(room);
  }

  /** Host mute: while muted, nobody receives the participant's tracks of this kind (enforced by routing). */
  setMuted(participantId: string, kind: TrackKind, muted: boolean): void {
    const { room } = this.#session(participantId);
    const kinds = room.muted.get(participantId) ?? new Set<TrackKind>();
    if (muted) kinds.add(kind);
    else kinds.delete(kind);
    if (kinds.size > 0) room.muted.set(participantId, kinds);
    else room.muted.delete(participantId);
    this.#reroute(room);
  }

  isMuted(participantId: string, kind: TrackKind): boolean {
    const session = this.#participants.get(participantId);
    return session ? (this.#rooms.get(session.roomId)?.muted.get(participantId)?.has(kind) ?? false) : false;
  }

  /**
   * A per-pair override of the group rule: whether `subscriberId` receives `publisherId`'s tracks of `kind`
   * ('*': all kinds), regardless of groups. null removes the override. A host mute still wins.
   */
  setRoute(subscriberId: string, publisherId: string, kind: TrackKind | '*', allow: boolean | null): void {
    const { room } = this.#session(subscriberId);
    const publisher = this.#session(publisherId);
    if (publisher.room !== room) throw new SfuError('not_same_room', 'subscriber and publisher are in different rooms');
    const key = overrideKey(subscriberId, publisherId, kind);
    if (allow === null) room.overrides.delete(key);
    else room.overrides.set(key, { subscriberId, publisherId, kind, allow });
    this.#reroute(room);
  }

  /**
   * Which layer of `publisherId`'s camera or screen `subscriberId` receives: 'low', 'medium', 'high' (the
   * nearest available when the publisher does not send that layer now, lower on a tie), or 'off' (nothing; the
   * slot stays assigned, so turning it back on needs no renegotiation). Without a call: 'high', the best
   * available (a publisher without simulcast has only 'high'). A switch waits for the new layer's keyframe
   * while the old one keeps flowing; sequence numbers, timestamps and VP8 picture ids stay continuous. The
   * choice is kept while the publisher republishes, and applies whenever routing forwards that video.
   */
  setVideoLayer(subscriberId: string, publisherId: string, source: 'camera' | 'screen', layer: VideoLayerChoice): void {
    if (!VIDEO_SOURCES.has(source)) throw new RangeError(`setVideoLayer: source must be camera or screen, not ${String(source)}`);
    if (!LAYER_CHOICES.has(layer)) throw new RangeError(`setVideoLayer: layer must be low, medium, high or off, not ${String(layer)}`);
    const { session, room } = this.#session(subscriberId);
    const publisher = this.#session(publisherId);
    if (publisher.room !== room) throw new SfuError('not_same_room', 'subscriber and publisher are in different rooms');
    session.setVideoLayer(publisherId, source, layer);
  }

  /** What `subscriberId` receives of a publisher's camera or screen: its choice, and the layer flowing now (null: none). */
  videoLayerState(subscriberId: string, publisherId: string, source: 'camera' | 'screen'): { choice: VideoLayerChoice; current: VideoLayer | null } {
    return this.#session(subscriberId).session.videoLayerState(publisherId, source);
  }

  /**
   * The layers a publisher sends its camera or screen in now, lowest first, with their rid (null without
   * simulcast), SSRC, measured bit rate and the picture size of their last keyframe. [] when it publishes no such
   * video (or before its first packets).
   */
  videoLayers(publisherId: string, source: 'camera' | 'screen'): VideoLayerInfo[] {
    const { session } = this.#session(publisherId);
    const publication = session.publicationObjects().find((p) => p.info.kind === 'video' && p.info.source === source);
    return publication?.videoLayers() ?? [];
  }

  /** The current routing edges of a room (publisher track → subscriber). */
  routing(roomId: string): Edge[] {
    return [...(this.#rooms.get(roomId)?.edges.values() ?? [])];
  }

  /** Sends a data-channel message to a participant; false when it has no open channel. */
  sendData(participantId: string, payload: string | Buffer): boolean {
    return this.#participants.get(participantId)?.sendData(payload) ?? false;
  }

  /** Removes a participant; its recording (if any) is finalised before this resolves. */
  async leave(participantId: string): Promise<void> {
    const session = this.#participants.get(participantId);
    if (session) await session.close();
    await this.#finishing.get(participantId);
  }

  async closeRoom(roomId: string): Promise<void> {
    const room = this.#rooms.get(roomId);
    if (!room) return;
    const ids = [...room.participants.keys()];
    await Promise.all([...room.participants.values()].map((s) => s.close()));
    this.#rooms.delete(roomId);
    await Promise.all(ids.map((id) => this.#finishing.get(id)));
  }

  /** Closes every room (finalising recordings) and stops every timer; the Sfu cannot be used afterwards. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all([...this.#rooms.keys()].map((id) => this.closeRoom(id)));
    await Promise.all([...this.#finishing.values()]);
    this.#stopTimers();
    this.removeAllListeners();
  }

  // ---- recording ---------------------------------------------------------------------------------------

  /**
   * Records a participant's microphone + camera into WebM files under `directory` (and a screen share into
   * separate `-screen` files), as published now and as long as recording runs: each change of what is
   * published closes the current file and starts a new segment. Resolves with the camera segment (or the
   * screen segment when only a screen is shared). Already recording: resolves with the current segment and
   * ignores `options`. Throws SfuError('invalid_state') when the participant publishes nothing.
   */
  async startRecording(participantId: string, options: RecordingOptions): Promise<RecordingInfo> {
    if (this.#closed) throw new SfuError('closed', 'sfu closed');
    const existing = this.#recordings.get(participantId);
    if (existing) return this.#currentSegment(existing);
    this.#session(participantId);
    const directory = path.resolve(options.directory);
    const ns = await loadRecorderModule();
    await mkdir(directory, { recursive: true, mode: 0o700 });
    // Re-check after the awaits: the participant may have left, or another call started a recording.
    const again = this.#recordings.get(participantId);
    if (again) return this.#currentSegment(again);
    const { session } = this.#session(participantId);
    const publications = session.publicationObjects();
    if (ParticipantRecording.choose(publications).size === 0) {
      throw new SfuError('invalid_state', `participant ${participantId} publishes nothing to record`);
    }
    const recording = new ParticipantRecording(ns, participantId, session.roomId, directory, this.log, {
      started: (info) => this.emit('recordingStarted', info),
      completed: (info) => this.emit('recordingCompleted', info),
    });
    this.#recordings.set(participantId, recording);
    recording.update(publications);
    if (recording.current().length === 0) {
      // The segment could not be set up (logged by the recording).
      this.#recordings.delete(participantId);
      await recording.stop();
      throw new SfuError('invalid_state', `recording ${participantId} could not start`);
    }
    return this.#currentSegment(recording);
  }

  #currentSegment(recording: ParticipantRecording): RecordingInfo {
    const current = recording.current();
    const segment = current.find((s) => s.content === 'camera') ?? current[0] ?? recording.segments().at(-1);
    if (!segment) throw new SfuError('invalid_state', 'recording has no segment');
    return segment;
  }

  /**
   * Stops a participant's recording; resolves once every file is final, with every segment of that recording
   * (in order). Not recording (never started, already stopped, unknown participant): resolves [] (a no-op).
   * Stopping right after the participant left resolves with the segments being finalised.
   */
  async stopRecording(participantId: string): Promise<RecordingInfo[]> {
    const recording = this.#recordings.get(participantId);
    if (!recording) return (await this.#finishing.get(participantId)) ?? [];
    this.#recordings.delete(participantId);
    return recording.stop();
  }

  /** The segments being written for a participant now ([] when not recording). */
  recordings(participantId: string): RecordingInfo[] {
    return this.#recordings.get(participantId)?.current() ?? [];
  }

  // ---- routing -----------------------------------------------------------------------------------------

  #reroute(room: Room): void {
    const participants = [...room.participants.values()];
    const next = computeEdges({
      participants: participants.map((p) => ({ id: p.id, group: p.group, receives: p.receives })),
      tracks: participants.flatMap((p) => p.publications().map((t) => ({ trackId: t.trackId, publisherId: t.participantId, kind: t.kind }))),
      muted: [...room.muted].flatMap(([participantId, kinds]) => [...kinds].map((kind) => ({ participantId, kind }))),
      overrides: room.overrides.values(),
    });
    const { added, removed } = diffEdges(room.edges, next);
    room.edges = next;
    for (const edge of removed) room.participants.get(edge.subscriberId)?.detach(edge.trackId);
    for (const edge of added) {
      const publication = this.#publications.get(edge.trackId);
      if (publication) room.participants.get(edge.subscriberId)?.attach(publication);
    }
  }

  #publicationsChanged(session: SfuParticipant, added: Publication[], removed: Publication[]): void {
    const room = this.#rooms.get(session.roomId);
    for (const publication of removed) {
      const { trackId } = publication.info;
      if (this.#publications.get(trackId) === publication) this.#publications.delete(trackId);
      // Detach explicitly: a replacement publication may reuse the same trackId (same mid, new source).
      if (room) {
        for (const [key, edge] of room.edges) {
          if (edge.trackId !== trackId) continue;
          room.edges.delete(key);
          room.participants.get(edge.subscriberId)?.detach(trackId);
        }
      }
    }
    for (const publication of added) {
      this.#publications.set(publication.info.trackId, publication);
      const { kind, source, participantId } = publication.info;
      if (kind === 'video' && source !== 'microphone') {
        publication.onLayersChanged = () => this.emit('videoLayers', participantId, source, publication.videoLayers());
      }
    }
    if (room) this.#reroute(room);
    this.#recordings.get(session.id)?.update(session.publicationObjects());
    for (const publication of removed) this.emit('trackUnpublished', publication.info);
    for (const publication of added) this.emit('trackPublished', publication.info);
  }

  #connectionStateChanged(session: SfuParticipant, state: ConnectionState): void {
    this.emit('connectionState', session.id, state);
    // Quality describes the media connection while it exists: nothing before it first comes up (joining is not
    // a bad connection), 5 as it comes up (no evidence of a problem yet; the next sample measures), 0 when it drops.
    if (!session.connectedOnce) return;
    if (state === 'connected') this.#setQuality(session, networkQuality({ connected: true }));
    else if (state !== 'new' && state !== 'connecting') this.#setQuality(session, 0);
  }

  #sessionClosed(session: SfuParticipant): void {
    const room = this.#rooms.get(session.roomId);
    if (this.#participants.get(session.id) === session) this.#participants.delete(session.id);
    if (room && room.participants.get(session.id) === session) {
      room.participants.delete(session.id);
      room.muted.delete(session.id);
      for (const [key, o] of room.overrides) if (o.subscriberId === session.id || o.publisherId === session.id) room.overrides.delete(key);
      for (const [key, edge] of room.edges) if (edge.subscriberId === session.id) room.edges.delete(key);
      for (const other of room.participants.values()) other.forgetPublisher(session.id);
      this.#reroute(room);
      this.#evaluateSpeakers(room, false);
      if (room.participants.size === 0) this.#rooms.delete(room.id);
    }
    const recording = this.#recordings.get(session.id);
    if (recording) {
      this.#recordings.delete(session.id);
      const finishing = recording.stop().finally(() => {
        if (this.#finishing.get(session.id) === finishing) this.#finishing.delete(session.id);
      });
      this.#finishing.set(session.id, finishing);
    }
    this.emit('participantLeft', session.id, session.roomId);
    if (this.#participants.size === 0) this.#stopTimers();
  }

  // ---- periodic work -----------------------------------------------------------------------------------

  #startTimers(): void {
    if (this.#timers.length > 0) return;
    const every = (ms: number, fn: () => void) => {
      this.#timers.push(setInterval(fn, ms));
    };
    every(1000, () => {
      const now = Date.now();
      for (const session of this.#participants.values()) {
        session.sendRemb(this.#options.rembBps);
        session.sendSenderReports(now);
        // A layer the publisher stopped sending becomes unavailable: its subscribers fall back to another.
        for (const publication of session.publicationObjects()) if (publication.info.kind === 'video') publication.checkLayers();
      }
    });
    every(this.#options.statsIntervalMs, () => void this.#sampleQuality());
    every(this.#options.speakerIntervalMs, () => {
      for (const room of this.#rooms.values()) this.#evaluateSpeakers(room, true);
    });
  }

  #stopTimers(): void {
    for (const timer of this.#timers.splice(0)) clearInterval(timer);
  }

  async #sampleQuality(): Promise<void> {
    if (this.#sampling) return;
    this.#sampling = true;
    try {
      for (const session of [...this.#participants.values()]) {
        if (session.closed || !session.connectedOnce) continue;
        try {
          this.#setQuality(session, networkQuality(await session.sampleQuality()));
        } catch (error) {
          this.log.debug({ err: error, participantId: session.id }, 'sfu: stats failed');
        }
      }
    } finally {
      this.#sampling = false;
    }
  }

  #setQuality(session: SfuParticipant, level: number): void {
    if (session.closed || session.networkQuality === level) return;
    session.networkQuality = level;
    session.reportNetworkQuality(level);
    this.emit('networkQuality', session.id, level);
  }

  /** One dominant-speaker evaluation per group; `takeLevels` false re-evaluates without consuming the window. */
  #evaluateSpeakers(room: Room, takeLevels: boolean): void {
    const levelsByGroup = new Map<string, SpeakerLevel[]>();
    for (const session of room.participants.values()) {
      const list = levelsByGroup.get(session.group) ?? [];
      levelsByGroup.set(session.group, list);
      const audio = session.publicationObjects().filter((p) => p.info.kind === 'audio');
      const levels = takeLevels ? audio.map((p) => ({ p, level: p.meter.take() })) : [];
      if (room.muted.get(session.id)?.has('audio')) continue;
      const measured = levels.filter((l) => l.p.hasLevels);
      if (takeLevels && measured.length > 0) list.push({ participantId: session.id, level: Math.min(...measured.map((l) => l.level)) });
    }
    if (!takeLevels) {
      // Only drop speakers who are gone or muted.
      for (const [group, current] of room.speakers) {
        const session = current === null ? undefined : room.participants.get(current);
        const stillThere = session !== undefined && session.group === group && !room.muted.get(session.id)?.has('audio');
        if (current !== null && !stillThere) {
          room.speakers.set(group, null);
          this.emit('dominantSpeaker', room.id, group, null);
        }
      }
      return;
    }
    for (const [group, levels] of levelsByGroup) {
      const current = room.speakers.get(group) ?? null;
      const next = pickDominantSpeaker(current, levels);
      if (next !== current) {
        room.speakers.set(group, next);
        this.emit('dominantSpeaker', room.id, group, next);
      }
    }
    for (const [group, current] of room.speakers) {
      if (levelsByGroup.has(group)) continue;
      room.speakers.delete(group);
      if (current !== null) this.emit('dominantSpeaker', room.id, group, null);
    }
  }
}
