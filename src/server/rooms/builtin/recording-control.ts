/**
 * Recording a live room: while it is recorded, each of its participants whose routing says `recorded` is
 * recorded by the SFU (per-participant WebM segments, sfu/recorder.ts) from its first published track on, in
 * <recordingsDir>/<orgId>/<roomId>/. The SFU's recording events become the provider's `recording.started` and
 * `recording.completed`, named by participant identity and by a file path relative to recordingsDir.
 */
import path from 'node:path';
import type { RoomEvent } from '../provider.js';
import { prefOf, type LiveRoom, type LiveRooms, type Peer } from './rooms.js';
import type { Sfu, SfuLogger } from './sfu/index.js';

export interface RecordingControlOptions {
  rooms: LiveRooms;
  sfu: Sfu;
  /** Recordings go to <recordingsDir>/<orgId>/<roomId>/. */
  recordingsDir: string;
  emit(event: RoomEvent): void;
  log: SfuLogger;
}

export class RecordingControl {
  readonly #o: RecordingControlOptions;

  constructor(options: RecordingControlOptions) {
    this.#o = options;
    const { sfu, rooms } = options;
    sfu.on('recordingStarted', (info) => {
      const owner = rooms.ownerOf(info.participantId);
      if (owner) this.#o.emit({ type: 'recording.started', roomId: owner.roomId, identity: owner.identity, at: info.startedAt, recording: this.#recordingFile(info) });
    });
    sfu.on('recordingCompleted', (info) => {
      const owner = rooms.ownerOf(info.participantId);
      if (!owner) return;
      const endedAt = info.endedAt ?? new Date();
      this.#o.emit({
        type: 'recording.completed',
        roomId: owner.roomId,
        identity: owner.identity,
        at: endedAt,
        recording: { ...this.#recordingFile(info), endedAt, bytes: info.bytes, ...(info.error ? { error: info.error } : {}) },
      });
    });
  }

  /** Records every participant of the room, and whoever joins or publishes later, until stop. */
  async start(room: LiveRoom): Promise<void> {
    room.recording ??= path.join(this.#o.recordingsDir, room.orgId, room.id);
    await Promise.all([...room.peers.values()].map((peer) => this.record(peer)));
  }

  /** Stops recording the room: every participant's files are finalised. */
  async stop(room: LiveRoom): Promise<void> {
    room.recording = null;
    await Promise.all([...room.peers.values()].map((peer) => (peer.session ? this.#o.sfu.stopRecording(peer.session.id) : [])));
  }

  /** Starts recording a peer's current session if its room is being recorded and it publishes something. */
  async record(peer: Peer): Promise<void> {
    const directory = peer.room.recording;
    const session = peer.session;
    if (!directory || !session || peer.tracks.size === 0 || !prefOf(peer.room, peer.identity).recorded) return;
    try {
      await this.#o.sfu.startRecording(session.id, { directory });
    } catch (err) {
      this.#o.log.warn({ err, roomId: peer.room.id }, 'rtc: recording did not start');
    }
  }

  /** A peer published a track: in a recorded room, it is recorded from its first track on (the SFU follows later changes). */
  trackPublished(peer: Peer): void {
    const session = peer.session;
    if (session && peer.room.recording && this.#o.sfu.recordings(session.id).length === 0) void this.record(peer);
  }

  /** The peer's `recorded` routing changed: leaving the recording finalises its files now; joining it starts new ones. */
  followPreference(peer: Peer): void {
    if (!peer.session || !peer.room.recording) return;
    if (prefOf(peer.room, peer.identity).recorded) void this.record(peer);
    else void this.#o.sfu.stopRecording(peer.session.id);
  }

  #recordingFile(info: { file: string; content: 'camera' | 'screen'; startedAt: Date }) {
    const relative = path.relative(this.#o.recordingsDir, info.file);
    // The SFU's recorder writes WebM (VP8 + Opus), an audio-only file too.
    return { ref: relative, content: info.content, file: relative, mediaType: 'video/webm', startedAt: info.startedAt };
  }
}
