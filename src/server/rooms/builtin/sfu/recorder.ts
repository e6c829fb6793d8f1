/**
 * Recording: each participant's published media written to WebM files, built from werift's own pieces
 * (`werift/nonstandard`: JitterBufferCallback → DepacketizeCallback → LipsyncCallback → WebmCallback). No
 * transcoding: the VP8 and Opus frames the participant sent are stored as they are.
 *
 * - One file ("segment") holds one audio and one video publication: the microphone and camera, or the screen
 *   share (its own `-screen` file). When what the participant publishes changes while recording (unpublish,
 *   republish, a new source on an m-line), the segment is closed and a new one starts.
 * - Packets come from a tap on the Publication (after forwarding, on a cloned header) and RTP timestamps are
 *   turned into wall time anchored at each track's first packet; werift's lipsync interleaves audio and video
 *   by that time before the WebM writer. Sender reports are not needed (Chrome sends the first audio SR only
 *   after ~5 s).
 * - Output is batched (one write per 256 KB or per second); at the end werift's Cues are appended and the
 *   Duration and Segment size in the header are patched at werift's fixed positions.
 * - werift/nonstandard (a second bundle of werift) is loaded on the first recording only.
 */
import { createHash } from 'node:crypto';
import { open, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { RtpPacket } from 'werift';
import type { Publication } from './media.js';
import type { SfuLogger, TrackKind } from './types.js';

type Nonstandard = typeof import('werift/nonstandard');
type WebmCallback = InstanceType<Nonstandard['WebmCallback']>;
type LipsyncCallback = InstanceType<Nonstandard['LipsyncCallback']>;
type WebmOutput = Parameters<Parameters<WebmCallback['pipe']>[0]>[0];
interface Frame {
  data: Buffer;
  isKeyframe: boolean;
  time: number;
}
interface FrameInput {
  frame?: Frame;
  eol?: boolean;
}

let nonstandard: Promise<Nonstandard> | undefined;

/** Loads werift's WebM pieces (once). */
export function loadRecorderModule(): Promise<Nonstandard> {
  nonstandard ??= import('werift/nonstandard').catch((error: unknown) => {
    nonstandard = undefined;
    throw error;
  });
  return nonstandard;
}

/** What a recording segment file holds: 'camera' = microphone + camera, 'screen' = the screen share. */
export type RecordingContent = 'camera' | 'screen';

export interface RecordingInfo {
  participantId: string;
  roomId: string;
  /** Absolute path of the WebM file. */
  file: string;
  content: RecordingContent;
  startedAt: Date;
  /** null while the segment is being written. */
  endedAt: Date | null;
  /** Bytes written so far (final file size once ended). */
  bytes: number;
  /** The kinds of media in the file. */
  tracks: TrackKind[];
  /** Set when writing failed (disk full, directory removed…); the file may be incomplete. */
  error?: string;
}

const FLUSH_BYTES = 256 * 1024;
const FLUSH_MS = 1000;
/** How long a segment holds its first frames waiting for a video keyframe (to take the picture size from it). */
const KEYFRAME_WAIT_MS = 3000;
const FINISH_TIMEOUT_MS = 10_000;
const CLOCK_RATE: Record<TrackKind, number> = { audio: 48_000, video: 90_000 };
/** Cluster (0x1F43B675) and Segment ids are 4 bytes; werift follows them with an 8-byte size field. */
const EBML_ID_LENGTH = 4;

/** An EBML element size as an 8-byte vint (the width of the unknown-size marker werift leaves). */
function ebmlSize8(size: number): Buffer {
  const out = Buffer.alloc(8);
  out[0] = 0x01;
  out.writeUIntBE(size, 2, 6);
  return out;
}

/** A file name component from a participant id: safe characters only; a hash keeps altered ids distinct. */
export function safeFileId(id: string): string {
  const safe = id.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 64);
  if (safe === id && safe.length > 0) return safe;
  return `${safe}-${createHash('sha256').update(id).digest('hex').slice(0, 8)}`;
}

/** The picture size from a VP8 keyframe (RFC 6386 9.1). */
export function vp8KeyframeSize(frame: Buffer): { width: number; height: number } | undefined {
  if (frame.length < 10 || (frame[0]! & 1) !== 0 || frame[3] !== 0x9d || frame[4] !== 0x01 || frame[5] !== 0x2a) return undefined;
  const width = frame.readUInt16LE(6) & 0x3fff;
  const height = frame.readUInt16LE(8) & 0x3fff;
  return width > 0 && height > 0 ? { width, height } : undefined;
}

/** Appends to a file in batches, then patches werift's WebM header (duration, segment size) at the end. */
class WebmFile {
  bytes = 0;
  error: Error | undefined;
  readonly #handle: Promise<FileHandle | undefined>;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();

  constructor(
    readonly file: string,
    private readonly log: SfuLogger,
  ) {
    this.#handle = open(file, 'wx', 0o600).catch((error: unknown) => {
      this.#fail(error);
      return undefined;
    });
  }

  #fail(error: unknown): void {
    if (this.error) return;
    this.error = error instanceof Error ? error : new Error(String(error));
    this.log.error({ err: this.error, file: this.file }, 'sfu: recording write failed');
  }

  write(chunk: Buffer): void {
    if (this.error) return;
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    this.bytes += chunk.length;
    if (this.#pendingBytes >= FLUSH_BYTES) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), FLUSH_MS);
  }

  #flush(): Promise<void> {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    const chunks = this.#pending;
    this.#pending = [];
    this.#pendingBytes = 0;
    if (chunks.length === 0) return this.#chain;
    this.#chain = this.#chain.then(async () => {
      const handle = await this.#handle;
      if (!handle || this.error) return;
      try {
        await handle.writev(chunks);
      } catch (error) {
        this.#fail(error);
      }
    });
    return this.#chain;
  }

  /** Flushes, applies the header patches (position → bytes), closes; returns the file size. */
  async finish(patches: { position: number; data: Uint8Array }[]): Promise<number> {
    await this.#flush();
    const handle = await this.#handle;
    if (!handle) return 0;
    try {
      if (!this.error) for (const { position, data } of patches) await handle.write(data, 0, data.length, position);
    } catch (error) {
      this.#fail(error);
    }
    await handle.close().catch((error: unknown) => this.#fail(error));
    return (await stat(this.file).catch(() => undefined))?.size ?? this.bytes;
  }
}

interface JitterInput {
  input(input: { rtp?: RtpPacket; eol?: boolean }): void;
}

/** One publication's path into a segment: clone → (video) jitter buffer → wall time → depacketizer → lipsync. */
class TrackInput {
  #ssrc: number | undefined;
  #anchorMs = 0;
  #lastTs = 0;
  #elapsedTs = 0;
  readonly #clockRate: number;
  readonly #jitter: JitterInput | undefined;
  readonly #depacketizer: InstanceType<Nonstandard['DepacketizeCallback']>;

  constructor(
    ns: Nonstandard,
    readonly publication: Publication,
    lipsync: LipsyncCallback,
  ) {
    const kind = publication.info.kind;
    this.#clockRate = CLOCK_RATE[kind];
    if (kind === 'video') {
      this.#depacketizer = new ns.DepacketizeCallback('VP8', { isFinalPacketInSequence: (h) => h.marker });
      // Loss that breaks a frame: ask the publisher for a keyframe (rate-limited by the publication).
      this.#depacketizer.onNeedKeyFrame.subscribe(() => publication.requestKeyframe());
      const jitter = new ns.JitterBufferCallback(this.#clockRate, { latency: 200 });
      jitter.pipe((output) => {
        if (output.rtp) this.#timed(output.rtp);
        else if (output.eol) this.#depacketizer.input({ eol: true });
      });
      this.#jitter = jitter as unknown as JitterInput;
      this.#depacketizer.pipe((output) => lipsync.inputVideo(output));
    } else {
      this.#depacketizer = new ns.DepacketizeCallback('OPUS');
      this.#depacketizer.pipe((output) => lipsync.inputAudio(output));
    }
  }

  push(rtp: RtpPacket): void {
    const ssrc = rtp.header.ssrc;
    this.#ssrc ??= ssrc;
    if (ssrc !== this.#ssrc) return; // one SSRC per track (no simulcast)
    // werift's depacketizer clears the payload of packets it consumed: never hand it the SFU's object.
    const copy = rtp.clone();
    if (this.#jitter) this.#jitter.input({ rtp: copy });
    else this.#timed(copy);
  }

  /** RTP time → wall-clock ms, anchored at this track's first packet (unwrapped, tolerant of reordering). */
  #timed(rtp: RtpPacket): void {
    const ts = rtp.header.timestamp;
    if (this.#anchorMs === 0) {
      this.#anchorMs = Date.now();
      this.#lastTs = ts;
    }
    this.#elapsedTs += (ts - this.#lastTs) | 0;
    this.#lastTs = ts;
    const time = Math.round(this.#anchorMs + (this.#elapsedTs * 1000) / this.#clockRate);
    this.#depacketizer.input({ rtp, time });
  }

  end(): void {
    if (this.#jitter) this.#jitter.input({ eol: true });
    else this.#depacketizer.input({ eol: true });
  }
}

export interface SegmentSpec {
  participantId: string;
  roomId: string;
  content: RecordingContent;
  file: string;
  audio: Publication | undefined;
  video: Publication | undefined;
}

/** One WebM file of one participant: from construction to stop(). */
export class RecordingSegment {
  readonly info: RecordingInfo;
  readonly audio: Publication | undefined;
  readonly video: Publication | undefined;
  readonly #ns: Nonstandard;
  readonly #log: SfuLogger;
  readonly #file: WebmFile;
  readonly #lipsync: LipsyncCallback;
  readonly #inputs: { input: TrackInput; tap: (rtp: RtpPacket) => void }[] = [];
  #webm: WebmCallback | undefined;
  /** Frames held until the first video keyframe gives the picture size. */
  #held: { kind: TrackKind; input: FrameInput }[] = [];
  #heldSince = 0;
  /** File offsets of each Cluster werift wrote, then of the Cues (which follow the last Cluster). */
  readonly #boundaries: number[] = [];
  #eol: Promise<{ position: number; data: Uint8Array }[]>;
  #resolveEol!: (patches: { position: number; data: Uint8Array }[]) => void;
  #stopping: Promise<RecordingInfo> | undefined;
  #tapFailed = false;

  constructor(ns: Nonstandard, spec: SegmentSpec, log: SfuLogger) {
    this.#ns = ns;
    this.#log = log;
    this.audio = spec.audio;
    this.video = spec.video;
    this.info = {
      participantId: spec.participantId,
      roomId: spec.roomId,
      file: spec.file,
      content: spec.content,
      startedAt: new Date(),
      endedAt: null,
      bytes: 0,
      tracks: [...(spec.audio ? (['audio'] as const) : []), ...(spec.video ? (['video'] as const) : [])],
    };
    this.#eol = new Promise((resolve) => (this.#resolveEol = resolve));
    this.#file = new WebmFile(spec.file, log);
    this.#lipsync = new ns.LipsyncCallback({ syncInterval: 500, bufferLength: 10 });
    this.#lipsync.pipeAudio((output) => this.#frame('audio', output));
    this.#lipsync.pipeVideo((output) => this.#frame('video', output));
    if (!spec.video) this.#createWebm(undefined);
    for (const publication of [spec.audio, spec.video]) {
      if (!publication) continue;
      const input = new TrackInput(ns, publication, this.#lipsync);
      const tap = (rtp: RtpPacket) => this.#tap(input, rtp);
      this.#inputs.push({ input, tap });
      publication.recorderTap = tap;
    }
    spec.video?.requestKeyframe();
  }

  #tap(input: TrackInput, rtp: RtpPacket): void {
    try {
      input.push(rtp);
    } catch (error) {
      if (!this.#tapFailed) this.#log.error({ err: error, file: this.info.file }, 'sfu: recording failed to take a packet');
      this.#tapFailed = true;
    }
  }

  /** Live view (bytes so far). */
  snapshot(): RecordingInfo {
    return { ...this.info, bytes: this.#stopping ? this.info.bytes : this.#file.bytes, tracks: [...this.info.tracks] };
  }

  #createWebm(size: { width: number; height: number } | undefined): void {
    const tracks: ConstructorParameters<Nonstandard['WebmCallback']>[0] = [];
    if (this.video) tracks.push({ kind: 'video', codec: 'VP8', clockRate: 90_000, trackNumber: tracks.length + 1, width: size?.width ?? 640, height: size?.height ?? 480 });
    if (this.audio) tracks.push({ kind: 'audio', codec: 'OPUS', clockRate: 48_000, trackNumber: tracks.length + 1 });
    // The Duration placeholder must be present: werift patches it at its fixed position at the end.
    const webm = new this.#ns.WebmCallback(tracks, { duration: 1000 * 60 * 60 * 24 });
    webm.pipe(async (output: WebmOutput) => this.#output(output));
    this.#webm = webm;
  }

  #output(output: WebmOutput): void {
    try {
      this.#write(output);
    } catch (error) {
      this.#log.error({ err: error, file: this.info.file }, 'sfu: recording failed to write');
    }
  }

  #write(output: WebmOutput): void {
    if (output.saveToFile) {
      if (output.kind === 'cluster' || output.kind === 'cuePoints') this.#boundaries.push(this.#file.bytes);
      this.#file.write(output.saveToFile);
    } else if (output.eol) {
      // werift writes the Segment and every Cluster with an unknown size; with a known Segment size ffmpeg
      // rejects unknown-sized Clusters inside it. Patch them all to their real sizes (8-byte EBML sizes in place
      // of werift's 8-byte "unknown"), and the Duration werift built.
      const sizes: { position: number; data: Uint8Array }[] = [];
      for (let i = 0; i + 1 < this.#boundaries.length; i++) {
        const start = this.#boundaries[i]!;
        sizes.push({ position: start + EBML_ID_LENGTH, data: ebmlSize8(this.#boundaries[i + 1]! - start - EBML_ID_LENGTH - 8) });
      }
      const segmentDataStart = this.#ns.SegmentSizePosition + 8;
      this.#resolveEol([
        { position: this.#ns.DurationPosition, data: output.eol.durationElement },
        { position: this.#ns.SegmentSizePosition, data: ebmlSize8(this.#file.bytes - segmentDataStart) },
        ...sizes,
      ]);
    }
  }

  #frame(kind: TrackKind, input: FrameInput): void {
    try {
      if (!this.#webm) {
        const size = kind === 'video' && input.frame?.isKeyframe ? vp8KeyframeSize(input.frame.data) : undefined;
        if (!size && !input.eol) {
          const time = input.frame?.time ?? 0;
          if (this.#held.length === 0) this.#heldSince = time;
          this.#held.push({ kind, input });
          if (time - this.#heldSince < KEYFRAME_WAIT_MS) return;
        }
        this.#createWebm(size);
        const held = this.#held;
        this.#held = [];
        for (const h of held) this.#feed(h.kind, h.input);
        if (!size && !input.eol) return; // the last held frame was this one
      }
      this.#feed(kind, input);
    } catch (error) {
      this.#log.error({ err: error, file: this.info.file }, 'sfu: recording failed to write a frame');
    }
  }

  #feed(kind: TrackKind, input: FrameInput): void {
    if (kind === 'audio') this.#webm!.inputAudio(input);
    else this.#webm!.inputVideo(input);
  }

  /** Stops taking packets, writes what is buffered, finalises the file. Idempotent. */
  stop(): Promise<RecordingInfo> {
    this.#stopping ??= this.#stop();
    return this.#stopping;
  }

  async #stop(): Promise<RecordingInfo> {
    const endedAt = new Date();
    for (const { input, tap } of this.#inputs) {
      if (input.publication.recorderTap === tap) input.publication.recorderTap = undefined;
    }
    try {
      // werift's lipsync drops what it still buffers (up to ~0.75 s) at end of stream: release it first.
      const lipsync = this.#lipsync as unknown as { executeTask?: () => void; bufferLength?: number };
      if (typeof lipsync.executeTask === 'function') {
        for (let i = 0; i < (lipsync.bufferLength ?? 20); i++) lipsync.executeTask();
      }
      for (const { input } of this.#inputs) input.end();
      if (!this.#webm) this.#frame('video', { eol: true });
      const webm = this.#webm as unknown as { stopped?: boolean; stop?: () => void } | undefined;
      if (webm && !webm.stopped) webm.stop?.();
    } catch (error) {
      this.#log.error({ err: error, file: this.info.file }, 'sfu: recording failed to end its streams');
    }
    let timer: NodeJS.Timeout | undefined;
    const patches = await Promise.race([
      this.#eol,
      new Promise<[]>((resolve) => {
        timer = setTimeout(() => {
          this.#log.warn({ file: this.info.file }, 'sfu: recording did not finish in time; its header is not patched');
          resolve([]);
        }, FINISH_TIMEOUT_MS);
      }),
    ]);
    clearTimeout(timer);
    this.info.bytes = await this.#file.finish(patches);
    this.info.endedAt = endedAt;
    if (this.#file.error) this.info.error = this.#file.error.message;
    (this.#webm as unknown as { destroy?: () => void } | undefined)?.destroy?.();
    return this.snapshot();
  }
}

export interface RecordingHooks {
  started(info: RecordingInfo): void;
  completed(info: RecordingInfo): void;
}

/**
 * A participant's recording from start to stop: one segment per content ('camera', 'screen') at a time,
 * replaced whenever the publications it should hold change.
 */
export class ParticipantRecording {
  readonly #segments: RecordingSegment[] = [];
  readonly #current = new Map<RecordingContent, RecordingSegment>();
  readonly #finished: Promise<RecordingInfo>[] = [];
  #n = 0;
  #stopped = false;

  constructor(
    private readonly ns: Nonstandard,
    readonly participantId: string,
    readonly roomId: string,
    /** Absolute. */
    readonly directory: string,
    private readonly log: SfuLogger,
    private readonly hooks: RecordingHooks,
  ) {}

  /** What each content would record from these publications (first audio and first video by mid). */
  static choose(publications: readonly Publication[]): Map<RecordingContent, { audio?: Publication; video?: Publication }> {
    const chosen = new Map<RecordingContent, { audio?: Publication; video?: Publication }>();
    const byMid = [...publications].sort((a, b) => a.info.mid.localeCompare(b.info.mid, 'en', { numeric: true }));
    for (const publication of byMid) {
      const content: RecordingContent = publication.info.source === 'screen' ? 'screen' : 'camera';
      const entry = chosen.get(content) ?? {};
      chosen.set(content, entry);
      entry[publication.info.kind] ??= publication;
    }
    return chosen;
  }

  /** Called whenever the participant's publications change (and once at start). Never throws. */
  update(publications: readonly Publication[]): void {
    if (this.#stopped) return;
    const chosen = ParticipantRecording.choose(publications);
    for (const content of ['camera', 'screen'] as const) {
      try {
        const want = chosen.get(content);
        const current = this.#current.get(content);
        if (current && want && current.audio === want.audio && current.video === want.video) continue;
        if (current) this.#end(content, current);
        if (want && (want.audio || want.video)) this.#begin(content, want);
      } catch (error) {
        this.log.error({ err: error, participantId: this.participantId, content }, 'sfu: recording segment change failed');
      }
    }
  }

  #begin(content: RecordingContent, want: { audio?: Publication; video?: Publication }): void {
    const n = ++this.#n;
    const time = new Date().toISOString().replace(/:/g, '');
    const name = `${safeFileId(this.participantId)}-${time}-${n}${content === 'screen' ? '-screen' : ''}.webm`;
    const segment = new RecordingSegment(
      this.ns,
      { participantId: this.participantId, roomId: this.roomId, content, file: path.join(this.directory, name), audio: want.audio, video: want.video },
      this.log,
    );
    this.#segments.push(segment);
    this.#current.set(content, segment);
    this.log.info({ participantId: this.participantId, file: segment.info.file, tracks: segment.info.tracks }, 'sfu: recording segment started');
    this.hooks.started(segment.snapshot());
  }

  #end(content: RecordingContent, segment: RecordingSegment): void {
    this.#current.delete(content);
    const done = segment
      .stop()
      .catch((error: unknown) => {
        this.log.error({ err: error, file: segment.info.file }, 'sfu: recording segment failed to finish');
        return { ...segment.snapshot(), endedAt: segment.info.endedAt ?? new Date(), error: error instanceof Error ? error.message : String(error) };
      })
      .then((info) => {
        this.log.info({ participantId: this.participantId, file: info.file, bytes: info.bytes }, 'sfu: recording segment completed');
        this.hooks.completed(info);
        return info;
      });
    this.#finished.push(done);
  }

  /** The segments being written now. */
  current(): RecordingInfo[] {
    return [...this.#current.values()].map((s) => s.snapshot());
  }

  /** Every segment of this recording, finished or not. */
  segments(): RecordingInfo[] {
    return this.#segments.map((s) => s.snapshot());
  }

  /** Ends the current segments; resolves with every segment of this recording (in start order) once all are final. */
  async stop(): Promise<RecordingInfo[]> {
    if (!this.#stopped) {
      this.#stopped = true;
      for (const [content, segment] of [...this.#current]) this.#end(content, segment);
    }
    // recordingCompleted has been emitted for each once these resolve; they are in end order.
    const finished = await Promise.all(this.#finished);
    return this.#segments.map((s) => finished.find((info) => info.file === s.info.file) ?? s.snapshot());
  }
}
