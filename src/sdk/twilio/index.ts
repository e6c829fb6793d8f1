/**
 * Twilio Video's entry in the adapter list (adapters.ts): all it holds is how to load the adapter (room.ts) and
 * twilio-video when a room on Twilio connects, so that pages joining builtin rooms fetch neither.
 */
import type { AdapterFactory } from '../adapter.js';
import { DeferredAdapter } from '../deferred.js';
import type { TwilioVideoLoader } from './room.js';

/** The adapter factory; `load` gives twilio-video (default: its dynamic import, room.ts's loadTwilioVideo). */
export function createTwilioAdapter(load?: TwilioVideoLoader): AdapterFactory {
  return (token, options, sink) =>
    new DeferredAdapter(async () => {
      const { TwilioRoom, loadTwilioVideo } = await import('./room.js');
      return new TwilioRoom(load ?? loadTwilioVideo, token, options, sink);
    }, sink);
}
