/**
 * The builtin provider's transport: one RTCPeerConnection to the SFU, sending our tracks (one sendonly transceiver
 * per source) and receiving the m-lines the server routes to us. Negotiation runs one step at a time; on glare we
 * are the polite side (answer the server's offer, then offer again). A failed connection is reported, never
 * repaired here: the engine replaces the whole transport. Nothing outside builtin/ sees the peer connection.
 */
import type { ClientMessage, TrackSource } from '../../shared/rtc.js';
import type { MediaState } from '../types.js';

const MEDIA_FAIL_MS = 4000;

/**
 * The camera's simulcast layers in a group room, lowest first, with the rids the SFU knows them by (src/shared/rtc.ts
 * VideoLayer: q low, h medium, f high): of a 1280x720 camera, 320x180, 640x360 and 1280x720, each capped so that the
 * three together stay under 2 Mbit/s up.
 */
export const SIMULCAST_LAYERS: readonly RTCRtpEncodingParameters[] = Object.freeze([
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_200_000 },
]);

export interface TransportHandlers {
  send(message: ClientMessage): void;
  /** Receivers may have changed (a track arrived, an offer was answered): match them to participants again. */
  onTracks(): void;
  /** The media connection failed (or stayed disconnected): rebuild it. */
  onFailed(): void;
  /** How to send a source (simulcast layers, a bitrate cap), fixed when its sender is made; undefined: one plain encoding. */
  encodings(source: TrackSource): RTCRtpEncodingParameters[] | undefined;
}

export class Transport {
  readonly #pc: RTCPeerConnection;
  readonly #handlers: TransportHandlers;
  readonly #senders = new Map<TrackSource, RTCRtpTransceiver>();
  readonly #pendingCandidates: RTCIceCandidateInit[] = [];
  #queue: Promise<unknown> = Promise.resolve();
  #needsOffer = false;
  /** Settles the offer in flight: the server's answer, null (glare: answer the server's offer, offer again) or the server's refusal. */
  #answerWaiter: ((answer: string | null | Error) => void) | null = null;
  #failTimer: ReturnType<typeof setTimeout> | null = null;
  #closed = false;

  constructor(iceServers: RTCIceServer[], handlers: TransportHandlers) {
    this.#handlers = handlers;
    const pc = new RTCPeerConnection({ iceServers, bundlePolicy: 'max-bundle', rtcpMuxPolicy: 'require' });
    this.#pc = pc;
    pc.onicecandidate = (event) => {
      if (!this.#closed) handlers.send({ type: 'candidate', candidate: event.candidate ? { ...event.candidate.toJSON(), candidate: event.candidate.candidate } : null });
    };
    pc.ontrack = () => {
      if (!this.#closed) handlers.onTracks();
    };
    pc.onconnectionstatechange = () => {
      if (this.#closed) return;
      if (this.#failTimer) clearTimeout(this.#failTimer);
      this.#failTimer = null;
      if (pc.connectionState === 'failed') handlers.onFailed();
      else if (pc.connectionState === 'disconnected') {
        // 'disconnected' often heals by itself; give it a moment before rebuilding.
        this.#failTimer = setTimeout(() => !this.#closed && pc.connectionState !== 'connected' && handlers.onFailed(), MEDIA_FAIL_MS);
      }
    };
  }

  get state(): MediaState {
    return this.#pc.connectionState;
  }

  getStats(): Promise<RTCStatsReport> {
    return this.#pc.getStats();
  }

  /** Adds a sender for `source` (no negotiation: the caller negotiates once for all it adds). */
  addSender(source: TrackSource, track: MediaStreamTrack): void {
    const sendEncodings = this.#handlers.encodings(source);
    const transceiver = this.#pc.addTransceiver(track, { direction: 'sendonly', streams: [new MediaStream([track])], ...(sendEncodings ? { sendEncodings } : {}) });
    this.#senders.set(source, transceiver);
  }

  /** Sends `track` for `source`: on its existing sender (null: sends nothing, keeps the slot), else on a new one, negotiated. */
  async publish(source: TrackSource, track: MediaStreamTrack | null): Promise<void> {
    const transceiver = this.#senders.get(source);
    if (transceiver) return transceiver.sender.replaceTrack(track);
    if (!track) return;
    this.addSender(source, track);
    await this.negotiate();
  }

  /** Removes the sender of `source` and negotiates the change. */
  async unpublish(source: TrackSource): Promise<void> {
    const transceiver = this.#senders.get(source);
    this.#senders.delete(source);
    if (!transceiver || this.#closed) return;
    this.#pc.removeTrack(transceiver.sender);
    await this.negotiate();
  }

  /** Offers what we send (queued behind any negotiation under way). Rejects when the server refuses the offer. */
  negotiate(): Promise<void> {
    return this.#enqueue(() => this.#offer());
  }

  /** Answers the server's offer (queued). */
  receiveOffer(sdp: string): Promise<void> {
    return this.#enqueue(() => this.#answer(sdp));
  }

  receiveAnswer(sdp: string): void {
    this.#answerWaiter?.(sdp);
  }

  /** The server refused our offer: on glare we answer its own offer and offer again; otherwise negotiation failed. */
  offerRefused(glare: boolean, message: string): void {
    this.#answerWaiter?.(glare ? null : new Error(`The server refused the offer: ${message}`));
  }

  addCandidate(candidate: RTCIceCandidateInit): void {
    if (this.#pc.remoteDescription) void this.#pc.addIceCandidate(candidate).catch(() => undefined);
    else this.#pendingCandidates.push(candidate);
  }

  /** The track received on the m-line `mid`, if any. */
  receiverTrack(mid: string): MediaStreamTrack | null {
    return this.#pc.getTransceivers().find((t) => t.mid === mid)?.receiver.track ?? null;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#failTimer) clearTimeout(this.#failTimer);
    this.#failTimer = null;
    // An offer still awaiting its answer gives up (it sees the transport closed and returns).
    this.#answerWaiter?.(null);
    this.#answerWaiter = null;
    this.#pc.close();
  }

  #enqueue<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(operation);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /** Offers what we publish; on glare the server's offer is answered first and we offer again after. */
  async #offer(): Promise<void> {
    const pc = this.#pc;
    if (this.#closed || pc.signalingState !== 'stable') {
      this.#needsOffer = true;
      return;
    }
    this.#needsOffer = false;
    await pc.setLocalDescription(await pc.createOffer());
    const sources: Record<string, TrackSource> = {};
    for (const [source, transceiver] of this.#senders) if (transceiver.mid) sources[transceiver.mid] = source;
    const answered = new Promise<string | null | Error>((resolve) => (this.#answerWaiter = resolve));
    this.#handlers.send({ type: 'offer', sdp: pc.localDescription!.sdp, sources });
    const sdp = await answered;
    this.#answerWaiter = null;
    if (this.#closed) return;
    if (sdp instanceof Error) {
      // Refused (negotiation failed, not joined): nothing will answer it. Joining fails rather than waiting forever.
      if ((pc.signalingState as RTCSignalingState) === 'have-local-offer') await pc.setLocalDescription({ type: 'rollback' });
      throw sdp;
    }
    if (sdp === null) {
      // The state may have moved while the answer was awaited (TypeScript still narrows it to the earlier check).
      if ((pc.signalingState as RTCSignalingState) === 'have-local-offer') await pc.setLocalDescription({ type: 'rollback' });
      this.#needsOffer = true;
      return;
    }
    await pc.setRemoteDescription({ type: 'answer', sdp });
    await this.#flushCandidates();
  }

  async #answer(sdp: string): Promise<void> {
    const pc = this.#pc;
    if (this.#closed) return;
    if (pc.signalingState === 'have-local-offer') {
      // Glare: we are the polite side.
      this.#answerWaiter?.(null);
      await pc.setLocalDescription({ type: 'rollback' });
    }
    await pc.setRemoteDescription({ type: 'offer', sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    this.#handlers.send({ type: 'answer', sdp: pc.localDescription!.sdp });
    await this.#flushCandidates();
    this.#handlers.onTracks();
    if (this.#needsOffer) await this.#offer();
  }

  async #flushCandidates(): Promise<void> {
    const pc = this.#pc;
    if (!pc.remoteDescription) return;
    for (const candidate of this.#pendingCandidates.splice(0)) await pc.addIceCandidate(candidate).catch(() => undefined);
  }
}
