/**
 * The SDK room behind the call screen: gets a token, connects, follows the connection and the participants, and
 * tears everything down on unmount. The SDK's participant objects are mutable, so every event that changes them
 * bumps a counter and the screen re-reads `room.participants` (one source of truth, never a stale copy).
 */
import { useEffect, useEffectEvent, useReducer, useRef, useState } from 'react';
import { ConnectError, Room, type RemoteParticipant, type TokenResponse } from '../../sdk/index.js';
import { ApiError } from '../api.js';

declare global {
  interface Window {
    /** The call's live room, for browser tests (e.g. `room.getStats()`, `room.reconnects`). */
    ovCall?: { room: Room };
  }
}

export type CallPhase = 'connecting' | 'connected' | 'reconnecting' | 'failed' | 'ended';

/** Joining failed in a way worth retrying (network, server, devices). */
export interface JoinFailure {
  message: string;
  /** The camera or microphone could not be started: offer to join without the camera. */
  media: boolean;
}

export interface Capture {
  audio: boolean;
  video: boolean;
}

export interface CallRoomEvents {
  /** A data message (from the server when `from` is null: chat, survey). */
  onData(payload: string, from: RemoteParticipant | null): void;
  onNotice(notice: { code: string; message: string }): void;
  /** A remote participant arrived, left or was moved: who is where may have changed. */
  onRemotesChanged(): void;
  onReconnected(): void;
  /** The room's media policy changed (a group visit's spotlight, mode): the visit is worth reading again. */
  onMediaPolicy?(): void;
  /** The call is over for good (disconnected, or joining was refused). Called at most once. */
  onEnd(reason: string, message: string): void;
}

/** Join refusals that retrying cannot fix: the page is told the call is over. */
const FINAL_JOIN_REASONS: ReadonlySet<string> = new Set(['unknown_provider', 'invalid_token', 'token_expired', 'room_not_found', 'room_ended', 'room_full', 'removed', 'replaced', 'duration_exceeded']);

/** What a token answer gives the call (a visit's token, a check-in's): the SDK's answer and our identity in the room. */
export type CallTokenAnswer = TokenResponse & { identity: string };

export function useCallRoom<T extends CallTokenAnswer>(getToken: () => Promise<T>, tracks: MediaStreamTrack[] | undefined, events: CallRoomEvents) {
  const [room, setRoom] = useState<Room | null>(null);
  /** The latest token answer and when it came (its `recording` is as of then). */
  const [token, setToken] = useState<{ value: T; at: number } | null>(null);
  const [phase, setPhase] = useState<CallPhase>('connecting');
  const [failure, setFailure] = useState<JoinFailure | null>(null);
  /** The remote participant speaking now (null: nobody, or ourselves). */
  const [speaking, setSpeaking] = useState<string | null>(null);
  /** The last remote participant who was the dominant speaker (the speaker layout stays on them). */
  const [lastSpeaker, setLastSpeaker] = useState<string | null>(null);
  const [version, bump] = useReducer((n: number) => n + 1, 0);
  const [attempt, setAttempt] = useState<{ n: number; capture: Capture | null }>({ n: 0, capture: null });
  const endedRef = useRef(false);
  /** The room whose events we hear (none after a failed join): leaving it is heard as `disconnected`. */
  const listening = useRef<Room | null>(null);

  const fetchToken = useEffectEvent(() => getToken());
  const emit = useEffectEvent(<K extends Exclude<keyof CallRoomEvents, 'onMediaPolicy'>>(name: K, ...args: Parameters<CallRoomEvents[K]>) => {
    (events[name] as (...a: Parameters<CallRoomEvents[K]>) => void)(...args);
  });
  const initialTracks = useEffectEvent(() => tracks);
  const mediaPolicyChanged = useEffectEvent(() => events.onMediaPolicy?.());

  const end = useEffectEvent((reason: string, message: string) => {
    if (endedRef.current) return;
    endedRef.current = true;
    setPhase('ended');
    emit('onEnd', reason, message);
  });

  useEffect(() => {
    let cancelled = false;
    let current: Room | null = null;
    const offs: (() => void)[] = [];

    const fail = (error: unknown) => {
      if (cancelled || endedRef.current) return;
      const classified = classify(error);
      if (classified.final) return end(classified.reason, classified.message);
      setPhase('failed');
      setFailure({ message: classified.message, media: classified.media });
    };

    const start = async () => {
      let first: T;
      try {
        first = await fetchToken();
      } catch (error) {
        return fail(error);
      }
      if (cancelled || endedRef.current) return;
      // Tracks from the device check still running (a failed join stops them: a retry captures anew). With some,
      // publish those only (the user turns the other device on later); with none, capture both.
      const live = (initialTracks() ?? []).filter((t) => t.readyState === 'live');
      const given = live.length > 0 ? { audio: live.some((t) => t.kind === 'audio'), video: live.some((t) => t.kind === 'video') } : { audio: true, video: true };
      const capture = attempt.capture ?? given;
      // The page reaches this server on its own origin; a provider served by it joins there (the SDK decides).
      const r = new Room({
        apiOrigin: window.location.origin,
        ...(live.length > 0 ? { tracks: live } : {}),
        audio: capture.audio,
        video: capture.video,
        // The whole answer: a participant the server held (waiting, on a provider such as Twilio) joins with it
        // once admitted; its `admission` drives the waiting card as before.
        getToken: async () => {
          const fresh = await fetchToken();
          if (!cancelled) setToken({ value: fresh, at: Date.now() });
          return fresh;
        },
      });
      current = r;
      const changed = () => {
        bump();
        emit('onRemotesChanged');
      };
      offs.push(
        r.on('stateChanged', (state) => {
          if (state === 'connected') setPhase('connected');
          else if (state === 'reconnecting') setPhase('reconnecting');
        }),
        r.on('participantConnected', changed),
        r.on('participantDisconnected', changed),
        r.on('participantUpdated', changed),
        r.on('trackSubscribed', bump),
        r.on('trackUnsubscribed', bump),
        r.on('localTrackChanged', bump),
        r.on('networkQuality', bump),
        // Group visits: the room's media policy (the spotlight), what reaches us of each video, our microphone turned
        // off by a host's mute all.
        r.on('mediaPolicyChanged', () => {
          bump();
          mediaPolicyChanged();
        }),
        r.on('trackStreamStateChanged', bump),
        r.on('mutedByHost', bump),
        r.on('dominantSpeaker', (p) => {
          setSpeaking(p?.identity ?? null);
          if (p) setLastSpeaker(p.identity);
        }),
        r.on('reconnected', () => {
          bump();
          emit('onReconnected');
        }),
        r.on('dataReceived', (payload, from) => emit('onData', payload, from)),
        r.on('notice', (notice) => emit('onNotice', notice)),
        r.on('disconnected', (reason, message) => end(reason, message)),
      );
      listening.current = r;
      window.ovCall = { room: r };
      setToken({ value: first, at: Date.now() });
      setRoom(r);
      try {
        await r.connect(first);
      } catch (error) {
        for (const off of offs.splice(0)) off();
        if (listening.current === r) listening.current = null;
        return fail(error);
      }
      if (cancelled) return;
      if (endedRef.current) {
        void r.disconnect();
        return;
      }
      setPhase(r.state === 'reconnecting' ? 'reconnecting' : 'connected');
      bump();
    };

    // Deferred a tick: React's development double mount cancels the first run before it captures or connects.
    const timer = setTimeout(() => void start(), 0);
    return () => {
      cancelled = true;
      clearTimeout(timer);
      for (const off of offs.splice(0)) off();
      if (listening.current === current) listening.current = null;
      if (current) {
        void current.disconnect();
        if (window.ovCall?.room === current) delete window.ovCall;
      }
    };
  }, [attempt]);

  /** Tries joining again (after a failure), optionally capturing less (e.g. no camera). */
  const retry = (capture: Capture | null = null) => {
    setFailure(null);
    setPhase('connecting');
    setRoom(null);
    setAttempt((a) => ({ n: a.n + 1, capture }));
  };

  /** Leaves the call (the page hears `onEnd('left', …)`). */
  const leave = () => {
    const r = listening.current;
    if (r && r.state !== 'disconnected' && r.state !== 'idle') {
      void r.disconnect();
      return;
    }
    if (endedRef.current) return;
    // Not connected (still joining, or joining failed): there is no room to hear it from. A join still under way
    // sees `endedRef` and stops.
    endedRef.current = true;
    setPhase('ended');
    events.onEnd('left', 'You left the visit.');
  };

  return { room, token, phase, failure, speaking, lastSpeaker, version, bump, retry, leave };
}

function classify(error: unknown): { final: boolean; reason: string; message: string; media: boolean } {
  if (error instanceof ApiError) {
    const retryable = error.status === 0 || error.status === 429 || error.status >= 500;
    return { final: !retryable, reason: error.code, message: error.message, media: false };
  }
  if (error instanceof ConnectError) {
    return { final: FINAL_JOIN_REASONS.has(error.reason), reason: error.reason, message: connectMessage(error), media: false };
  }
  if (error instanceof Error && /^(NotAllowed|NotFound|NotReadable|Overconstrained|Security|Abort)Error$/.test(error.name)) {
    // getUserMedia refused (the SDK captures before it joins).
    return { final: false, reason: 'media_error', message: mediaMessage(error), media: true };
  }
  return { final: false, reason: 'join_failed', message: error instanceof Error ? error.message : String(error), media: false };
}

function connectMessage(error: ConnectError): string {
  if (error.reason === 'join_failed' || error.reason === 'connection_lost') return 'We could not connect to the visit. Check your internet connection and try again.';
  return error.message;
}

export function mediaMessage(error: Error): string {
  switch (error.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return 'Your browser did not allow the camera or microphone. Allow them in the address bar (the camera icon), then try again.';
    case 'NotFoundError':
    case 'OverconstrainedError':
      return 'No camera or microphone was found. Plug one in, then try again.';
    case 'NotReadableError':
    case 'AbortError':
      return 'Your camera or microphone is in use by another app. Close that app, then try again.';
    default:
      return error.message || 'Your camera or microphone could not be started.';
  }
}
