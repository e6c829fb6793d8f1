// A stand-in for twilio-video (2.x) in node tests: the classes the SDK's Twilio adapter uses, with the shapes and
// events twilio-video documents, and `standIn`, through which a test plays Twilio's side (what a connect gives,
// then the room's events). test/helpers/twilio-video-hook.mjs makes `import('twilio-video')` load this file.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Listener = (...args: any[]) => void;

/** What the adapter hands over: a MediaStreamTrack (the tests' own fake). */
export interface TrackLike {
  kind: string;
  enabled: boolean;
  stop(): void;
}

export class Emitting {
  readonly #listeners = new Map<string, Set<Listener>>();
  on(event: string, listener: Listener): this {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener);
    return this;
  }
  removeListener(event: string, listener: Listener): this {
    this.#listeners.get(event)?.delete(listener);
    return this;
  }
  emit(event: string, ...args: unknown[]): boolean {
    const set = this.#listeners.get(event);
    for (const listener of [...(set ?? [])]) listener(...args);
    return (set?.size ?? 0) > 0;
  }
  listenerCount(event: string): number {
    return this.#listeners.get(event)?.size ?? 0;
  }
}

class LocalMediaTrack extends Emitting {
  readonly kind: string;
  readonly name: string;
  constructor(
    readonly mediaStreamTrack: TrackLike,
    options: { name?: string } = {},
  ) {
    super();
    this.kind = mediaStreamTrack.kind;
    this.name = options.name ?? `track-${mediaStreamTrack.kind}`;
  }
  get isEnabled(): boolean {
    return this.mediaStreamTrack.enabled;
  }
  enable(enabled = true): this {
    this.mediaStreamTrack.enabled = enabled;
    this.emit(enabled ? 'enabled' : 'disabled', this);
    return this;
  }
  disable(): this {
    return this.enable(false);
  }
  stop(): this {
    this.mediaStreamTrack.stop();
    return this;
  }
}
export class LocalAudioTrack extends LocalMediaTrack {}
export class LocalVideoTrack extends LocalMediaTrack {}

export class LocalDataTrack extends Emitting {
  readonly kind = 'data';
  readonly name: string;
  readonly sent: string[] = [];
  constructor(options: { name?: string } = {}) {
    super();
    this.name = options.name ?? 'data';
  }
  send(data: string): void {
    this.sent.push(data);
  }
}

type LocalTrack = LocalAudioTrack | LocalVideoTrack | LocalDataTrack;

export class LocalParticipant extends Emitting {
  /** Published tracks by name (twilio-video refuses two of one name: 53304). */
  readonly tracks = new Map<string, LocalTrack>();
  readonly published: { name: string; kind: string; priority: string | undefined }[] = [];
  constructor(
    readonly identity: string,
    readonly sid: string,
  ) {
    super();
  }
  async publishTrack(track: LocalTrack, options: { priority?: string } = {}): Promise<{ trackName: string }> {
    if (this.tracks.has(track.name)) throw Object.assign(new Error('Track name is duplicated'), { code: 53304 });
    this.tracks.set(track.name, track);
    this.published.push({ name: track.name, kind: track.kind, priority: options.priority });
    return { trackName: track.name };
  }
  unpublishTrack(track: LocalTrack): null {
    if (this.tracks.get(track.name) === track) this.tracks.delete(track.name);
    return null;
  }
}

/** Whether the latest connect set this bandwidth profile control to 'manual'. */
function manual(control: 'clientTrackSwitchOffControl' | 'contentPreferencesMode'): boolean {
  const profile = standIn.calls.at(-1)?.options.bandwidthProfile as { video?: Record<string, unknown> } | undefined;
  return profile?.video?.[control] === 'manual';
}

/**
 * A remote track: a RemoteVideoTrack's manual controls (clientTrackSwitchOffControl / contentPreferencesMode
 * 'manual') are recorded in `calls` in order; twilio-video refuses them unless the connect set 'manual', and so does
 * this stand-in (from the latest connect's options). Its switchedOff / switchedOn events are the test's to emit (Twilio's
 * SFU confirms a switch later), with isSwitchedOff set first as twilio-video does.
 */
export class RemoteTrack extends Emitting {
  isSwitchedOff = false;
  priority: string | null = null;
  readonly calls: string[] = [];
  constructor(
    readonly kind: string,
    readonly sid: string,
    readonly mediaStreamTrack: TrackLike,
  ) {
    super();
  }
  switchOn(): this {
    if (!manual('clientTrackSwitchOffControl')) throw new Error('switchOn requires clientTrackSwitchOffControl manual');
    this.calls.push('on');
    return this;
  }
  switchOff(): this {
    if (!manual('clientTrackSwitchOffControl')) throw new Error('switchOff requires clientTrackSwitchOffControl manual');
    this.calls.push('off');
    return this;
  }
  setContentPreferences(preferences: { renderDimensions?: { width: number; height: number } }): this {
    if (!manual('contentPreferencesMode')) throw new Error('setContentPreferences requires contentPreferencesMode manual');
    this.calls.push(`size:${preferences.renderDimensions?.width}x${preferences.renderDimensions?.height}`);
    return this;
  }
  setPriority(priority: string | null): this {
    this.priority = priority;
    this.calls.push(`priority:${priority}`);
    return this;
  }
  /** Twilio's SFU says the track is switched off (true) or on. */
  switched(off: boolean): void {
    this.isSwitchedOff = off;
    this.emit(off ? 'switchedOff' : 'switchedOn', this);
  }
}

export class RemoteTrackPublication extends Emitting {
  isTrackEnabled = true;
  track: RemoteTrack | null = null;
  constructor(
    readonly trackSid: string,
    readonly trackName: string,
    readonly kind: string,
  ) {
    super();
  }
}

export class RemoteParticipant extends Emitting {
  readonly tracks = new Map<string, RemoteTrackPublication>();
  networkQualityLevel: number | null = null;
  constructor(
    readonly identity: string,
    readonly sid: string,
  ) {
    super();
  }
}

export class Room extends Emitting {
  state = 'connected';
  readonly participants = new Map<string, RemoteParticipant>();
  disconnects = 0;
  constructor(
    readonly name: string,
    readonly sid: string,
    readonly localParticipant: LocalParticipant,
  ) {
    super();
  }
  disconnect(): this {
    this.disconnects++;
    if (this.state !== 'disconnected') {
      this.state = 'disconnected';
      this.emit('disconnected', this);
    }
    return this;
  }
}

/** A TwilioError: an Error with Twilio's code. */
export function twilioError(code: number, message = `Twilio error ${code}`): Error & { code: number } {
  return Object.assign(new Error(message), { code });
}

export interface ConnectCall {
  token: string;
  options: Record<string, unknown> & { tracks: LocalTrack[] };
  room: Room | null;
}

/** The test's side of Twilio: each connect is recorded; `next` says what the coming ones give. */
export const standIn = {
  calls: [] as ConnectCall[],
  /** Outcomes for the coming connects, in order (default: a room with nobody else, identity `me`). */
  next: [] as ((call: ConnectCall) => Room | Error)[],
  reset(): void {
    this.calls.length = 0;
    this.next.length = 0;
  },
  /** The room the latest connect gave. */
  get room(): Room {
    const room = this.calls.at(-1)?.room;
    if (!room) throw new Error('no room connected');
    return room;
  },
};

let sids = 0;
export function newRoom(identity = 'me', name = 'visit-1'): Room {
  return new Room(name, `RM${++sids}`, new LocalParticipant(identity, `PA${++sids}`));
}

export function connect(token: string, options: ConnectCall['options']): Promise<Room> & { cancel(): void } {
  const call: ConnectCall = { token, options, room: null };
  standIn.calls.push(call);
  const outcome = (standIn.next.shift() ?? (() => newRoom()))(call);
  let promise: Promise<Room>;
  if (outcome instanceof Error) promise = Promise.reject(outcome);
  else {
    call.room = outcome;
    for (const track of options.tracks) void outcome.localParticipant.publishTrack(track);
    promise = Promise.resolve(outcome);
  }
  return Object.assign(promise, { cancel() {} });
}
