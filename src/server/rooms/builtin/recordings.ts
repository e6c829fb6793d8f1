import { open, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { RecordingMedia, RecordingStore, StoredRecording } from '../provider.js';

/** What the SFU's recorder writes (sfu/recorder.ts): VP8 + Opus in WebM. */
const MEDIA_TYPES: Readonly<Record<string, string>> = { '.webm': 'video/webm' };

/**
 * The builtin provider's recordings: local files under RECORDINGS_DIR, named by the recording's `file` (relative to
 * it). A path that resolves outside the directory (a tampered row, `..`) is treated as absent, never opened or
 * deleted.
 */
export class LocalRecordingStore implements RecordingStore {
  readonly #dir: string;

  constructor(recordingsDir: string) {
    this.#dir = path.resolve(recordingsDir);
  }

  /** The file's absolute path, or null when the recording has none here. */
  #pathOf(recording: StoredRecording): string | null {
    if (!recording.file) return null;
    const file = path.resolve(this.#dir, recording.file);
    return file.startsWith(this.#dir + path.sep) ? file : null;
  }

  async open(recording: StoredRecording): Promise<RecordingMedia | null> {
    const file = this.#pathOf(recording);
    if (!file) return null;
    // One handle for the size and the stream: what is measured is what is sent.
    let handle;
    try {
      handle = await open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) {
        await handle.close();
        return null;
      }
      return { stream: handle.createReadStream(), bytes: stats.size, contentType: MEDIA_TYPES[path.extname(file)] ?? 'application/octet-stream' };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async delete(recording: StoredRecording): Promise<void> {
    const file = this.#pathOf(recording);
    if (!file) return;
    try {
      await unlink(file);
    } catch (err) {
      // Gone already, or a directory (never a recording of ours: left alone).
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'EISDIR') throw err;
    }
  }
}
