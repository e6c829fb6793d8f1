/**
 * The call's view of the SDK room, as useCallRoom.ts hands it over: the parts of the call screen take these types
 * from the hook's answer, so they follow whatever room it connects without naming the SDK's classes themselves.
 */
import type { VisitToken } from '../../shared/api/visits.js';
import type { useCallRoom } from './useCallRoom.js';

/** What useCallRoom answers for a visit: the room, the token, the phase, the speakers, retry and leave. */
export type CallConnection = ReturnType<typeof useCallRoom<VisitToken>>;
export type CallRoom = NonNullable<CallConnection['room']>;
export type LocalPeer = CallRoom['localParticipant'];
export type RemotePeer = CallRoom['participants'] extends ReadonlyMap<string, infer P> ? P : never;
export type CallToken = NonNullable<CallConnection['token']>['value'];

/**
 * Runs a control's action once at a time (`key` is busy meanwhile); a failure becomes the problem banner's text
 * (`describe` answers null for what is not worth telling, e.g. closing the screen picker). See useActions.ts.
 */
export type Run = (key: string, action: () => Promise<void>, describe: (error: unknown) => string | null) => Promise<void>;
