/**
 * An adapter whose code is loaded when it connects: the factory in adapters.ts stays a few lines, and the adapter
 * (with its provider's client library) is a chunk of its own, fetched only by a page that joins a room on that
 * provider. Until the code is there, this stands in for it: idle, then connecting; a leave meanwhile ends it here.
 */
import type { MediaAdapter, RoomSink } from './adapter.js';
import { ConnectError } from './errors.js';
import type { ConnectionState } from './state.js';
import type { MediaState, TrackSource } from './types.js';

export class DeferredAdapter implements MediaAdapter {
  readonly #load: () => Promise<MediaAdapter>;
  readonly #sink: RoomSink;
  #real: MediaAdapter | null = null;
  #state: ConnectionState = 'idle';

  /** `load` makes the real adapter (over the same sink); it runs once, on connect. */
  constructor(load: () => Promise<MediaAdapter>, sink: RoomSink) {
    this.#load = load;
    this.#sink = sink;
  }

  get state(): ConnectionState {
    return this.#real?.state ?? this.#state;
  }
  get reconnects(): number {
    return this.#real?.reconnects ?? 0;
  }
  get mediaState(): MediaState | null {
    return this.#real?.mediaState ?? null;
  }

  async connect(prepare: () => Promise<void>): Promise<void> {
    if (this.#state !== 'idle') throw new ConnectError(this.#state === 'disconnected' ? 'left' : 'join_failed', this.#state === 'disconnected' ? 'You left the room.' : 'This room has already been connected.');
    this.#state = 'connecting';
    let real: MediaAdapter;
    try {
      real = await this.#load();
    } catch (error) {
      if (this.#state === 'connecting') {
        this.#state = 'disconnected';
        this.#sink.stateChanged('disconnected');
      }
      throw new ConnectError('join_failed', `The media provider's code could not be loaded: ${error instanceof Error ? error.message : String(error)}`);
    }
    // Left while it was loading: disconnect() has ended the room already.
    if (this.#state !== 'connecting') throw new ConnectError('left', 'You left the room.');
    this.#real = real;
    return real.connect(prepare);
  }

  async publish(source: TrackSource, track: MediaStreamTrack | null): Promise<void> {
    await this.#real?.publish(source, track);
  }
  async unpublish(source: TrackSource): Promise<void> {
    await this.#real?.unpublish(source);
  }
  setMuted(source: TrackSource, muted: boolean): void {
    this.#real?.setMuted(source, muted);
  }
  sendData(payload: string, to?: string[]): void {
    this.#real?.sendData(payload, to);
  }
  getStats(): Promise<RTCStatsReport | null> {
    return this.#real?.getStats() ?? Promise.resolve(null);
  }
  // Until the real adapter is there, nothing to apply: it reads the sink's views and policy as it joins.
  videoViewsChanged(): void {
    this.#real?.videoViewsChanged();
  }
  mediaPolicyChanged(): void {
    this.#real?.mediaPolicyChanged();
  }

  async disconnect(): Promise<void> {
    if (this.#real) return this.#real.disconnect();
    if (this.#state === 'disconnected') return;
    this.#state = 'disconnected';
    this.#sink.stateChanged('disconnected');
    this.#sink.disconnected('left', 'You left the room.');
  }
}
