/**
 * One participant's media session: a single werift RTCPeerConnection (BUNDLE) that carries what the
 * participant publishes, what the SFU forwards to it, and its data channel.
 *
 * Negotiation rules (the signaling layer relays; it does not need to understand SDP):
 * - First negotiation: either the client offers (`createAnswer(offer)`), or the server does (`createOffer()`,
 *   then `setRemoteDescription(answer)`). The data channel must be part of it: a client offer must contain one
 *   (werift does not start SCTP added by a later renegotiation); a server offer always creates one.
 * - Later, the client offers to publish or stop tracks (`createAnswer(offer, { sources })`), and the server
 *   offers when what it forwards needs new m-lines (`needsNegotiation` event; answer with `setRemoteDescription`).
 * - Operations are serialised. The server is the impolite peer: a client offer that arrives while the
 *   server's own offer is outstanding is refused with SfuError('glare'); the client (polite) rolls back,
 *   answers the server's offer and offers again.
 * - Local ICE candidates are held until the SDP they belong with has been handed over and the remote
 *   description is set (pitfall 7), then emitted through `iceCandidate` (null = end of candidates).
 * - Remote ICE candidates never hold up a negotiation: those that arrive before the client's description is
 *   applied are kept here and added after it (werift would otherwise keep them itself and make
 *   setRemoteDescription wait for each one), and mDNS host candidates (`….local`) are not added at all
 *   (werift resolves them by multicast with a fixed 10 s timeout; see `addIceCandidate`).
 */
import {
  MediaStream,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RTCRtpHeaderExtensionParameters,
  RTP_EXTENSION_URI,
  ReceiverEstimatedMaxBitrate,
  RtcpPayloadSpecificFeedback,
  type PeerConfig,
  type RTCDataChannel,
  type RTCDtlsTransport,
  type RtcpSrPacket,
  type RTCIceCandidate,
  type RTCRtpTransceiver,
} from 'werift';
import { TypedEmitter } from './emitter.js';
import { Publication, Slot } from './media.js';
import { chooseExtensionId, choosePayloadType, parseMediaSections, remoteSends, type CodecInUse, type ExtensionInUse, type MediaSection } from './negotiation.js';
import type { QualitySample } from './quality.js';
import { isMdnsCandidate, prepareDtls, suppressDefaultStun, withoutMdnsCandidates } from './werift.js';
import {
  SfuError,
  type ConnectionState,
  type ForwardedTrack,
  type IceCandidateInit,
  type PublishedTrack,
  type SfuLogger,
  type TrackKind,
  type TrackSource,
  type VideoLayer,
  type VideoLayerChoice,
} from './types.js';

export const DATA_CHANNEL_LABEL = 'openvisit';
/** How long a client's renegotiation offer waits for the first connection attempt to finish. */
const CONNECT_WAIT_MS = 15_000;
/** Sender reports per compound RTCP packet (28 bytes each: 20 stay well inside one UDP datagram). */
const SR_PER_PACKET = 20;

export interface ParticipantEvents {
  /** A local ICE candidate for the client; null = end of candidates. */
  iceCandidate: (candidate: IceCandidateInit | null) => void;
  /** The server offers: deliver to the client, then pass its answer to `setRemoteDescription`. */
  needsNegotiation: (offerSdp: string, routes: ForwardedTrack[]) => void;
  /** What the subscriber's m-lines carry changed without a renegotiation (slot reuse). */
  routesChanged: (routes: ForwardedTrack[]) => void;
  trackPublished: (track: PublishedTrack) => void;
  trackUnpublished: (track: PublishedTrack) => void;
  connectionState: (state: ConnectionState) => void;
  data: (payload: string | Buffer) => void;
  networkQuality: (level: number) => void;
}

/** What a session needs from the SFU that owns it. */
export interface SessionHost {
  readonly log: SfuLogger;
  publicationsChanged(session: SfuParticipant, added: Publication[], removed: Publication[]): void;
  connectionStateChanged(session: SfuParticipant, state: ConnectionState): void;
  dataReceived(session: SfuParticipant, payload: string | Buffer): void;
  sessionClosed(session: SfuParticipant): void;
}

/** The codecs the SFU forwards, with the payload types it prefers (Chrome's usual numbers). */
const CODECS: Record<TrackKind, { mimeType: string; clockRate: number; channels?: number; preferred: number; parameters?: string }> = {
  audio: { mimeType: 'audio/opus', clockRate: 48_000, channels: 2, preferred: 111, parameters: 'minptime=10;useinbandfec=1' },
  video: { mimeType: 'video/VP8', clockRate: 90_000, preferred: 96 },
};

function layerKey(publisherId: string, source: TrackSource): string {
  return `${publisherId}\n${source}`;
}

function defaultSource(kind: TrackKind): TrackSource {
  return kind === 'audio' ? 'microphone' : 'camera';
}

/** An msid stream id from a participant id (RFC 8830 token characters, at most 64). */
function msidToken(id: string): string {
  const token = id.replace(/[^A-Za-z0-9!#$%&'*+\-.^_`{|}~]/g, '_').slice(0, 64);
  return token.length > 0 ? token : 'participant';
}

export class SfuParticipant extends TypedEmitter<ParticipantEvents> {
  readonly pc: RTCPeerConnection;
  #group: string;
  #closed = false;
  #negotiated = false;
  #queue: Promise<unknown> = Promise.resolve();
  #offerTimer: NodeJS.Immediate | undefined;
  #flushTimer: NodeJS.Immediate | undefined;
  /** Local ICE candidates held back until the client can use them. */
  #candidateGateOpen = false;
  readonly #heldCandidates: (IceCandidateInit | null)[] = [];
  /** Remote ICE candidates that arrived before the client's first description was applied. */
  readonly #earlyRemoteCandidates: IceCandidateInit[] = [];
  readonly #sources = new Map<string, TrackSource>();
  readonly #publications = new Map<string, Publication>();
  readonly #slots: Slot[] = [];
  /** Octets sent on all slots at the last downlinkReport (the rate between two reports). */
  #sentSample: { octets: number; atMs: number } | undefined;
  /** Publications routed to this subscriber: attached to a slot, or waiting for one (needs an offer). */
  readonly #attached = new Map<string, Slot>();
  readonly #pending = new Map<string, Publication>();
  /** Layer choices other than the default 'high', by `${publisherId}\n${source}` (see setVideoLayer). */
  readonly #layerChoices = new Map<string, VideoLayerChoice>();
  readonly #channels: RTCDataChannel[] = [];
  readonly #connectionWaiters: ((state: ConnectionState) => void)[] = [];
  #connectionState: ConnectionState = 'new';
  #connectedOnce = false;
  /** Previous cumulative inbound counters per SSRC, for loss over the last interval. */
  readonly #inboundCounters = new Map<number, { lost: number; received: number }>();
  networkQuality: number | undefined;
  /** @internal whether anything is routed to this participant (Sfu.setReceiving). */
  receives = true;

  constructor(
    readonly roomId: string,
    readonly id: string,
    group: string,
    config: Partial<PeerConfig>,
    private readonly host: SessionHost,
  ) {
    super((event, error) => host.log.error({ err: error, event, participantId: id }, 'sfu: event listener threw'));
    this.#group = group;
    this.pc = new RTCPeerConnection(config);
    this.pc.onIceCandidate.subscribe((candidate) => this.#onLocalCandidate(candidate));
    this.pc.onDataChannel.subscribe((channel) => this.#adoptChannel(channel));
    // werift may reuse an m-line that went inactive for a later addTransceiver; never let it take a publisher's.
    this.pc.onRemoteTransceiverAdded.subscribe((t) => {
      t.usedForSender = true;
    });
    this.pc.connectionStateChange.subscribe((state) => this.#onConnectionState(state));
  }

  get group(): string {
    return this.#group;
  }

  /** @internal the SFU changes groups through Sfu.setGroup, which also re-routes. */
  setGroupInternal(group: string): void {
    this.#group = group;
  }

  get connectionState(): ConnectionState {
    return this.#connectionState;
  }

  /** Whether the media connection has been up at least once (before that, there is no quality to measure). */
  get connectedOnce(): boolean {
    return this.#connectedOnce;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The tracks this participant publishes. */
  publications(): PublishedTrack[] {
    return [...this.#publications.values()].map((p) => p.info);
  }

  /** @internal */
  publicationObjects(): Publication[] {
    return [...this.#publications.values()];
  }

  /** What each of the participant's receiving m-lines carries (idle slots have publisherId null). */
  routes(): ForwardedTrack[] {
    return this.#slots.map((s) => s.describe()).filter((r): r is ForwardedTrack => r !== undefined);
  }

  /** Counts for tests and diagnostics. */
  counters(): { slots: number; packetsSent: number; packetsReceived: number } {
    return {
      slots: this.#slots.length,
      packetsSent: this.#slots.reduce((n, s) => n + s.packetsSent, 0),
      packetsReceived: [...this.#publications.values()].reduce((n, p) => n + p.packetsReceived, 0),
    };
  }

  // ---- negotiation -------------------------------------------------------------------------------------

  #enqueue<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => {
      if (this.#closed) throw new SfuError('closed', 'participant session closed');
      return operation();
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Applies a client offer and returns the answer. `sources` names what each of the client's sending m-lines
   * carries (by mid); unnamed audio is 'microphone', unnamed video 'camera'.
   */
  createAnswer(offerSdp: string, options: { sources?: Record<string, TrackSource> } = {}): Promise<string> {
    return this.#enqueue(async () => {
      if (this.pc.signalingState === 'have-local-offer') throw new SfuError('glare', 'an offer from the server is outstanding');
      if (this.pc.signalingState !== 'stable') throw new SfuError('invalid_state', `cannot take an offer in ${this.pc.signalingState}`);
      if (this.#negotiated) await this.#untilConnected();
      const sections = parseMediaSections(offerSdp);
      for (const [mid, source] of Object.entries(options.sources ?? {})) this.#sources.set(mid, source);
      // A browser's addTrack reuses a transceiver that only received so far, which may be one of our sending
      // slots: the m-line becomes sendrecv. Open our side for receiving too, or werift ignores its packets.
      for (const section of sections) {
        if (!section.mid || !remoteSends(section)) continue;
        const transceiver = this.#transceiverByMid(section.mid);
        if (transceiver && transceiver.direction === 'sendonly') transceiver.setDirection('sendrecv');
      }
      try {
        await this.pc.setRemoteDescription({ type: 'offer', sdp: withoutMdnsCandidates(offerSdp) });
        this.#addEarlyRemoteCandidates();
        if (!this.#negotiated) prepareDtls(this.pc);
        const created = await this.pc.createAnswer();
        suppressDefaultStun(this.pc);
        await this.pc.setLocalDescription(created);
      } catch (error) {
        throw new SfuError('negotiation_failed', error instanceof Error ? error.message : String(error));
      }
      const answer = this.pc.localDescription?.sdp;
      if (!answer) throw new SfuError('negotiation_failed', 'no local description');
      this.#negotiated = true;
      this.#afterNegotiation(sections);
      this.#openCandidateGate();
      return answer;
    });
  }

  /**
   * An offer from the server now (first negotiation when the server offers; also usable any time the
   * session is stable). Deliver it to the client and pass the answer to `setRemoteDescription`. While an offer
   * is outstanding this returns that same offer again (for a signaling layer re-delivering after a reconnect).
   */
  createOffer(): Promise<string> {
    return this.#enqueue(async () => {
      const outstanding = this.pc.signalingState === 'have-local-offer' ? this.pc.localDescription?.sdp : undefined;
      return outstanding ?? this.#makeOffer();
    });
  }

  /** The client's answer to the server's latest offer. */
  setRemoteDescription(answerSdp: string): Promise<void> {
    return this.#enqueue(async () => {
      if (this.pc.signalingState !== 'have-local-offer') throw new SfuError('invalid_state', 'no offer from the server is outstanding');
      try {
        await this.pc.setRemoteDescription({ type: 'answer', sdp: withoutMdnsCandidates(answerSdp) });
        this.#addEarlyRemoteCandidates();
      } catch (error) {
        throw new SfuError('negotiation_failed', error instanceof Error ? error.message : String(error));
      }
      this.#negotiated = true;
      this.#afterNegotiation(parseMediaSections(answerSdp));
      this.#openCandidateGate();
    });
  }

  /**
   * A remote ICE candidate (null = end of candidates). Never waits on a negotiation, and a negotiation never
   * waits on it:
   * - Before the client's description is applied, the candidate is kept here and added right after it. werift
   *   would keep it in a list of its own, and its setRemoteDescription awaits each kept candidate before it
   *   returns (measured: a first answer 10 s late when an mDNS candidate came in the same socket read as the offer).
   * - mDNS host candidates are not added (see isMdnsCandidate): werift would wait 10 s on each.
   * - End of candidates is not passed on: werift ends its ICE checks as failed at once when the candidates
   *   have ended and none of them is usable, without waiting for the client's own checks, which is how it
   *   learns the address of a client that announced only mDNS names (a peer-reflexive candidate).
   */
  async addIceCandidate(candidate: IceCandidateInit | null): Promise<void> {
    if (this.#closed) throw new SfuError('closed', 'participant session closed');
    if (candidate === null) return;
    if (isMdnsCandidate(candidate.candidate)) {
      this.host.log.debug({ participantId: this.id }, 'sfu: mDNS ICE candidate skipped (learnt from its checks instead)');
      return;
    }
    if (!this.pc.remoteDescription) {
      this.#earlyRemoteCandidates.push(candidate);
      return;
    }
    await this.#addRemoteCandidate(candidate);
  }

  async #addRemoteCandidate(candidate: IceCandidateInit): Promise<void> {
    try {
      await this.pc.addIceCandidate({ ...candidate, sdpMid: candidate.sdpMid ?? undefined, sdpMLineIndex: candidate.sdpMLineIndex ?? undefined, usernameFragment: candidate.usernameFragment ?? undefined });
    } catch (error) {
      this.host.log.debug({ err: error, participantId: this.id }, 'sfu: remote ICE candidate refused');
    }
  }

  /** Adds the candidates that came before the client's description, in order, without waiting for them. */
  #addEarlyRemoteCandidates(): void {
    const early = this.#earlyRemoteCandidates.splice(0);
    if (early.length === 0) return;
    void early.reduce<Promise<void>>((previous, candidate) => previous.then(() => this.#addRemoteCandidate(candidate)), Promise.resolve());
  }

  async #makeOffer(): Promise<string> {
    if (this.pc.signalingState !== 'stable') throw new SfuError('invalid_state', `cannot offer in ${this.pc.signalingState}`);
    if (!this.#negotiated && !this.pc.sctpTransport) this.#adoptChannel(this.pc.createDataChannel(DATA_CHANNEL_LABEL));
    for (const publication of [...this.#pending.values()]) {
      this.#pending.delete(publication.info.trackId);
      const slot = this.#idleSlot(publication) ?? this.#newSlot(publication.info.kind, publication.info.participantId);
      this.#assign(slot, publication);
    }
    try {
      const created = await this.pc.createOffer();
      suppressDefaultStun(this.pc);
      await this.pc.setLocalDescription(created);
      if (!this.#negotiated) prepareDtls(this.pc);
    } catch (error) {
      throw new SfuError('negotiation_failed', error instanceof Error ? error.message : String(error));
    }
    const offer = this.pc.localDescription?.sdp;
    if (!offer) throw new SfuError('negotiation_failed', 'no local description');
    return offer;
  }

  /** Sends a server offer soon if forwarded tracks wait for new m-lines (batched: one offer for a burst of changes). */
  #scheduleOffer(): void {
    if (this.#offerTimer || this.#closed) return;
    this.#offerTimer = setImmediate(() => {
      this.#offerTimer = undefined;
      this.#enqueue(async () => {
        // Renegotiating while ICE/DTLS is still connecting makes werift start them a second time and the
        // connection never completes: wait for 'connected' (#onConnectionState schedules the offer then).
        if (!this.#negotiated || this.#connectionState !== 'connected' || this.pc.signalingState !== 'stable' || this.#pending.size === 0) return;
        const offer = await this.#makeOffer();
        this.emit('needsNegotiation', offer, this.routes());
      }).catch((error: unknown) => {
        if (!(error instanceof SfuError && error.code === 'closed')) this.host.log.warn({ err: error, participantId: this.id }, 'sfu: server offer failed');
      });
    });
  }

  /**
   * Waits (inside the negotiation queue) until the first connection attempt has finished: a client offer taken
   * while werift is still connecting would start ICE/DTLS a second time. Bounded by CONNECT_WAIT_MS.
   */
  async #untilConnected(): Promise<void> {
    if (this.#connectionState === 'connected') return;
    const state = await new Promise<ConnectionState | 'timeout'>((resolve) => {
      const timer = setTimeout(() => {
        const index = this.#connectionWaiters.indexOf(done);
        if (index >= 0) this.#connectionWaiters.splice(index, 1);
        resolve('timeout');
      }, CONNECT_WAIT_MS);
      const done = (s: ConnectionState) => {
        if (s === 'connecting' || s === 'new') {
          this.#connectionWaiters.push(done);
          return;
        }
        clearTimeout(timer);
        resolve(s);
      };
      this.#connectionWaiters.push(done);
    });
    if (state !== 'connected') throw new SfuError('invalid_state', `cannot renegotiate: connection ${state}`);
  }

  #transceiverByMid(mid: string): RTCRtpTransceiver | undefined {
    return this.pc.getTransceivers().find((t) => t.mid === mid);
  }

  /** After a description from the client is applied: publications, slot readiness, pending work. */
  #afterNegotiation(sections: MediaSection[]): void {
    const added: Publication[] = [];
    const removed: Publication[] = [];
    const seen = new Set<string>();
    for (const section of sections) {
      if ((section.kind !== 'audio' && section.kind !== 'video') || !section.mid) continue;
      const transceiver = this.#transceiverByMid(section.mid);
      const existing = this.#publications.get(section.mid);
      const receiving =
        transceiver !== undefined && remoteSends(section) && (transceiver.direction === 'recvonly' || transceiver.direction === 'sendrecv');
      if (!receiving || !transceiver) continue;
      seen.add(section.mid);
      const kind = section.kind;
      const source = this.#sources.get(section.mid) ?? defaultSource(kind);
      if (existing && existing.info.source === source && existing.transceiver === transceiver) {
        existing.refreshTracks();
        continue;
      }
      if (existing) {
        this.#publications.delete(section.mid);
        removed.push(existing);
      }
      const publication = new Publication(
        { trackId: `${this.id}:${section.mid}`, participantId: this.id, roomId: this.roomId, kind, source, mid: section.mid },
        transceiver,
        this.host.log,
      );
      this.#publications.set(section.mid, publication);
      added.push(publication);
    }
    for (const [mid, publication] of this.#publications) {
      if (seen.has(mid) || added.includes(publication)) continue;
      this.#publications.delete(mid);
      removed.push(publication);
    }
    for (const publication of removed) publication.close();
    if (added.length > 0 || removed.length > 0) this.host.publicationsChanged(this, added, removed);
    for (const publication of removed) this.emit('trackUnpublished', publication.info);
    for (const publication of added) this.emit('trackPublished', publication.info);
    // Slots that just became usable need a keyframe from what they carry.
    this.#requestKeyframesForWaitingSlots();
    if (this.#pending.size > 0) this.#scheduleOffer();
  }

  #requestKeyframesForWaitingSlots(): void {
    for (const slot of this.#slots) if (slot.ready && slot.waitingForKeyframe) slot.requestKeyframe();
  }

  // ---- routing (called by the SFU) ----------------------------------------------------------------------

  /** @internal Starts forwarding a publication to this participant. */
  attach(publication: Publication): void {
    const trackId = publication.info.trackId;
    if (this.#closed || this.#attached.has(trackId) || this.#pending.has(trackId)) return;
    const slot = this.#idleSlot(publication);
    if (!slot) {
      this.#pending.set(trackId, publication);
      this.#scheduleOffer();
      return;
    }
    this.#assign(slot, publication);
    if (slot.ready) slot.requestKeyframe();
    this.emit('routesChanged', this.routes());
  }

  /** @internal Stops forwarding a publication to this participant. */
  detach(trackId: string): void {
    if (this.#pending.delete(trackId)) return;
    const slot = this.#attached.get(trackId);
    if (!slot) return;
    this.#attached.delete(trackId);
    if (slot.publication?.info.trackId === trackId) slot.unassign();
    if (!this.#closed) this.emit('routesChanged', this.routes());
  }

  #assign(slot: Slot, publication: Publication): void {
    slot.setLayer(this.#layerChoices.get(layerKey(publication.info.participantId, publication.info.source)) ?? 'high');
    slot.assign(publication);
    this.#attached.set(publication.info.trackId, slot);
  }

  /**
   * @internal Which layer of a publisher's camera or screen this participant receives (kept while the publisher
   * republishes; 'high', the best available, when never set). Applies at once to a slot carrying it.
   */
  setVideoLayer(publisherId: string, source: TrackSource, choice: VideoLayerChoice): void {
    const key = layerKey(publisherId, source);
    if (choice === 'high') this.#layerChoices.delete(key);
    else this.#layerChoices.set(key, choice);
    for (const slot of this.#slots) {
      const info = slot.publication?.info;
      if (slot.kind === 'video' && info?.participantId === publisherId && info.source === source) slot.setLayer(choice);
    }
  }

  /** @internal What this participant receives of a publisher's video source: the choice, and the layer flowing now. */
  videoLayerState(publisherId: string, source: TrackSource): { choice: VideoLayerChoice; current: VideoLayer | null } {
    for (const slot of this.#slots) {
      const info = slot.publication?.info;
      if (slot.kind === 'video' && info?.participantId === publisherId && info.source === source) return slot.layerState;
    }
    return { choice: this.#layerChoices.get(layerKey(publisherId, source)) ?? 'high', current: null };
  }

  /** @internal The publisher left the room: its layer choices go. */
  forgetPublisher(publisherId: string): void {
    for (const source of ['camera', 'screen'] as const) this.#layerChoices.delete(layerKey(publisherId, source));
  }

  /** An idle negotiated slot of the right kind, preferring the one that carried this track before. */
  #idleSlot(publication: Publication): Slot | undefined {
    const idle = this.#slots.filter((s) => !s.publication && s.kind === publication.info.kind && s.negotiated);
    return idle.find((s) => s.lastTrackId === publication.info.trackId) ?? idle[0];
  }

  #newSlot(kind: TrackKind, publisherId: string): Slot {
    const transceivers = this.pc.getTransceivers();
    const codecsInUse: CodecInUse[] = transceivers.flatMap((t) => t.codecs);
    const extensionsInUse: ExtensionInUse[] = transceivers.flatMap((t) => t.headerExtensions);
    const transceiver = this.pc.addTransceiver(kind, { direction: 'sendonly', streams: [new MediaStream({ id: msidToken(publisherId) })] });
    const spec = CODECS[kind];
    const payloadType = choosePayloadType(codecsInUse, spec, spec.preferred);
    transceiver.codecs = [
      new RTCRtpCodecParameters({
        mimeType: spec.mimeType,
        clockRate: spec.clockRate,
        channels: spec.channels,
        payloadType,
        parameters: spec.parameters,
        rtcpFeedback: kind === 'video' ? [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'goog-remb' }] : [],
      }),
    ];
    transceiver.headerExtensions = [
      new RTCRtpHeaderExtensionParameters({ uri: RTP_EXTENSION_URI.sdesMid, id: chooseExtensionId(extensionsInUse, RTP_EXTENSION_URI.sdesMid) }),
    ];
    const slot = new Slot(transceiver, kind, this.host.log);
    this.#slots.push(slot);
    return slot;
  }

  // ---- media control -------------------------------------------------------------------------------------

  /**
   * @internal Caps the publisher's send rate: one REMB covering every SSRC it sends (pitfall 5). A simulcast
   * publisher is allowed `bitrate` for each layer it declared (the sum), or its encoder would drop its top layers
   * to fit a single stream's budget (declared, not sent now: a layer dropped for a tight budget must be able to
   * come back).
   */
  sendRemb(bitrate: number): void {
    // Video first: werift hands a REMB to the sender of its first SSRC only (libwebrtc applies it to the whole transport).
    const publications = [...this.#publications.values()].sort((x, y) => (x.info.kind === y.info.kind ? 0 : x.info.kind === 'video' ? -1 : 1));
    const ssrcs = publications.flatMap((p) => p.ssrcs());
    const first = publications[0];
    if (!first || ssrcs.length === 0) return;
    const dtls = first.transceiver.receiver.dtlsTransport;
    if (dtls?.state !== 'connected') return;
    const extraLayers = publications.reduce((n, p) => n + (p.simulcast ? p.layerCount - 1 : 0), 0);
    const packet = rembPacket(first.transceiver.receiver.rtcpSsrc, ssrcs, bitrate * (1 + extraLayers));
    dtls.sendRtcp([packet]).catch((error: unknown) => this.host.log.debug({ err: error, participantId: this.id }, 'sfu: REMB failed'));
  }

  /**
   * @internal RTCP sender reports for every slot that has sent media (the slots write their packets themselves,
   * so werift's per-sender report loop never runs; see Slot). At most SR_PER_PACKET per compound packet.
   */
  sendSenderReports(nowMs = Date.now()): void {
    const byTransport = new Map<RTCDtlsTransport, RtcpSrPacket[]>();
    for (const slot of this.#slots) {
      const transport = slot.transceiver.sender.dtlsTransport;
      if (transport?.state !== 'connected') continue;
      const report = slot.senderReport(nowMs);
      if (!report) continue;
      const reports = byTransport.get(transport) ?? [];
      reports.push(report);
      byTransport.set(transport, reports);
    }
    for (const [transport, reports] of byTransport) {
      for (let i = 0; i < reports.length; i += SR_PER_PACKET) {
        transport
          .sendRtcp(reports.slice(i, i + SR_PER_PACKET))
          .catch((error: unknown) => this.host.log.debug({ err: error, participantId: this.id }, 'sfu: sender report failed'));
      }
    }
  }

  // ---- data channel --------------------------------------------------------------------------------------

  #adoptChannel(channel: RTCDataChannel): void {
    this.#channels.push(channel);
    channel.onMessage.subscribe((payload) => {
      if (this.#closed) return;
      this.emit('data', payload);
      this.host.dataReceived(this, payload);
    });
    channel.stateChanged.subscribe((state) => {
      if (state === 'closed') {
        const index = this.#channels.indexOf(channel);
        if (index >= 0) this.#channels.splice(index, 1);
      }
    });
  }

  /** Whether a data channel to the participant is open. */
  get dataOpen(): boolean {
    return this.#channels.some((c) => c.readyState === 'open');
  }

  /** Sends on the participant's data channel; false when none is open. The SFU does not interpret payloads. */
  sendData(payload: string | Buffer): boolean {
    const channel = this.#channels.find((c) => c.readyState === 'open');
    if (!channel || this.#closed) return false;
    channel.send(payload);
    return true;
  }

  // ---- ICE and connection state --------------------------------------------------------------------------

  #onLocalCandidate(candidate: RTCIceCandidate | undefined): void {
    const init: IceCandidateInit | null = candidate ? candidate.toJSON() : null;
    if (this.#candidateGateOpen) this.emit('iceCandidate', init);
    else this.#heldCandidates.push(init);
  }

  /** Releases held candidates once the SDP they go with has been returned to the caller (next macrotask). */
  #openCandidateGate(): void {
    if (this.#candidateGateOpen || this.#flushTimer) return;
    this.#flushTimer = setImmediate(() => {
      this.#flushTimer = undefined;
      if (this.#closed) return;
      this.#candidateGateOpen = true;
      for (const candidate of this.#heldCandidates.splice(0)) this.emit('iceCandidate', candidate);
    });
  }

  #onConnectionState(state: ConnectionState): void {
    if (this.#closed) return;
    this.#connectionState = state;
    if (state === 'connected') {
      this.#connectedOnce = true;
      this.#requestKeyframesForWaitingSlots();
      if (this.#pending.size > 0) this.#scheduleOffer();
    }
    for (const waiter of this.#connectionWaiters.splice(0)) waiter(state);
    this.emit('connectionState', state);
    this.host.connectionStateChanged(this, state);
  }

  // ---- stats --------------------------------------------------------------------------------------------

  /**
   * @internal One quality sample from RTCP: loss since the last sample (upstream from our receiver statistics,
   * downstream from the participant's receiver reports), round trip, jitter. Forwarded streams keep the
   * publisher's sequence gaps, so a subscriber's reported loss includes the publisher's upstream loss; that
   * part is subtracted so a subscriber is not blamed for the publisher's network.
   */
  async sampleQuality(): Promise<QualitySample> {
    if (this.#connectionState !== 'connected') return { connected: false };
    const report = await this.pc.getStats();
    const publicationBySsrc = new Map<number, Publication>();
    for (const publication of this.#publications.values()) for (const ssrc of publication.ssrcs()) publicationBySsrc.set(ssrc, publication);
    let lostDelta = 0;
    let expectedDelta = 0;
    let rttMs: number | undefined;
    let jitterMs: number | undefined;
    for (const stat of report.values()) {
      const s = stat as unknown as Record<string, unknown>;
      if (s.type === 'inbound-rtp' && typeof s.ssrc === 'number') {
        const lost = typeof s.packetsLost === 'number' ? s.packetsLost : 0;
        const received = typeof s.packetsReceived === 'number' ? s.packetsReceived : 0;
        const previous = this.#inboundCounters.get(s.ssrc) ?? { lost: 0, received: 0 };
        this.#inboundCounters.set(s.ssrc, { lost, received });
        const dLost = Math.max(0, lost - previous.lost);
        const dExpected = dLost + Math.max(0, received - previous.received);
        lostDelta += dLost;
        expectedDelta += dExpected;
        const publication = publicationBySsrc.get(s.ssrc);
        if (publication && dExpected > 0) publication.lossFraction = dLost / dExpected;
        if (typeof s.jitter === 'number' && received > 0) jitterMs = Math.max(jitterMs ?? 0, s.jitter * 1000);
      } else if (s.type === 'remote-inbound-rtp' && typeof s.roundTripTime === 'number') {
        rttMs = Math.max(rttMs ?? 0, s.roundTripTime * 1000);
      }
    }
    let downstreamLoss: number | undefined;
    for (const slot of this.#slots) {
      if (!slot.publication) continue;
      if (slot.remoteFractionLost !== undefined) {
        const own = Math.max(0, slot.remoteFractionLost - (slot.publication.lossFraction ?? 0));
        downstreamLoss = Math.max(downstreamLoss ?? 0, own);
      }
      if (slot.remoteJitterMs !== undefined) jitterMs = Math.max(jitterMs ?? 0, slot.remoteJitterMs);
      if (slot.rttMs !== undefined) rttMs = Math.max(rttMs ?? 0, slot.rttMs);
    }
    const upstreamLoss = expectedDelta > 0 ? lostDelta / expectedDelta : undefined;
    const lossFraction = upstreamLoss === undefined && downstreamLoss === undefined ? undefined : Math.max(upstreamLoss ?? 0, downstreamLoss ?? 0);
    return { connected: true, lossFraction, rttMs, jitterMs };
  }

  /**
   * What the participant's own RTCP says of its downlink (the selection's downlink estimate, downlink.ts): its
   * newest REMB, and the worst loss its receiver reports give on what the SFU forwards, less each publisher's own
   * upstream loss (forwarded streams keep the publisher's gaps), from receiver reports newer than `sinceMs`.
   */
  downlinkReport(sinceMs: number): { remb: { bps: number; atMs: number } | undefined; lossFraction: number | undefined; sentBps: number | undefined } {
    let remb: { bps: number; atMs: number } | undefined;
    let lossFraction: number | undefined;
    // What the SFU sent this participant since the last report: a REMB is read against it (downlink.ts).
    const now = Date.now();
    let octets = 0;
    for (const slot of this.#slots) octets += slot.octetsSent;
    const last = this.#sentSample;
    this.#sentSample = { octets, atMs: now };
    const sentBps = last && now > last.atMs ? ((octets - last.octets) * 8 * 1000) / (now - last.atMs) : undefined;
    for (const slot of this.#slots) {
      if (slot.remb && (!remb || slot.remb.atMs > remb.atMs)) remb = slot.remb;
      if (!slot.publication || slot.remoteFractionLost === undefined || slot.remoteReportAtMs <= sinceMs) continue;
      lossFraction = Math.max(lossFraction ?? 0, slot.remoteFractionLost - (slot.publication.lossFraction ?? 0));
    }
    return { remb, lossFraction, sentBps };
  }

  /** @internal The SFU computed a new network quality level for this participant. */
  reportNetworkQuality(level: number): void {
    this.emit('networkQuality', level);
  }

  // ---- teardown -----------------------------------------------------------------------------------------

  /** @internal Closes the peer connection and forgets everything; the SFU re-routes the room afterwards. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#offerTimer) clearImmediate(this.#offerTimer);
    if (this.#flushTimer) clearImmediate(this.#flushTimer);
    this.#offerTimer = undefined;
    this.#flushTimer = undefined;
    this.#heldCandidates.length = 0;
    this.#earlyRemoteCandidates.length = 0;
    for (const waiter of this.#connectionWaiters.splice(0)) waiter('closed');
    const publications = [...this.#publications.values()];
    this.#publications.clear();
    for (const publication of publications) publication.close();
    for (const slot of this.#slots) slot.close();
    this.#attached.clear();
    this.#pending.clear();
    if (publications.length > 0) this.host.publicationsChanged(this, [], publications);
    for (const publication of publications) this.emit('trackUnpublished', publication.info);
    this.#connectionState = 'closed';
    this.emit('connectionState', 'closed');
    this.host.connectionStateChanged(this, 'closed');
    this.host.sessionClosed(this);
    try {
      await this.pc.close();
    } catch (error) {
      this.host.log.debug({ err: error, participantId: this.id }, 'sfu: peer connection close failed');
    }
    this.removeAllListeners();
  }
}

/** REMB's bitrate field: an 18-bit mantissa and a 6-bit exponent (rounded down). */
/** A REMB from `senderSsrc` saying "`bitrate` bits per second in all" about `ssrcs`. */
export function rembPacket(senderSsrc: number, ssrcs: number[], bitrate: number): RtcpPayloadSpecificFeedback {
  const { exponent, mantissa } = rembFields(bitrate);
  return new RtcpPayloadSpecificFeedback({
    feedback: new ReceiverEstimatedMaxBitrate({
      senderSsrc,
      mediaSsrc: 0,
      ssrcNum: ssrcs.length,
      brExp: exponent,
      brMantissa: mantissa,
      bitrate: BigInt(mantissa) << BigInt(exponent),
      ssrcFeedbacks: ssrcs,
    }),
  });
}

export function rembFields(bitrate: number): { exponent: number; mantissa: number } {
  let value = Math.max(0, Math.floor(bitrate));
  let exponent = 0;
  while (value >= 1 << 18) {
    value = Math.floor(value / 2);
    exponent++;
  }
  return { exponent, mantissa: value };
}
