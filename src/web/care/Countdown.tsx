/**
 * The time left in a check-in call. It counts down to the server's end of the call (the room's deadline, announced on
 * the participant channel and exposed by the SDK's Room), read on the server's clock (ServerClock): it only shows
 * the time, it never ends anything. The server ends the room at its deadline and the screen hears that.
 */
import { useEffect, useState } from 'react';
import type { ServerClock } from '../time.js';
import { callLength } from './careApi.js';

export function Countdown({ endsAt, clock, size = 'large' }: { endsAt: number | null; clock: ServerClock; size?: 'large' | 'huge' }) {
  const [now, setNow] = useState(() => clock.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(clock.now()), 200);
    return () => clearInterval(timer);
  }, [clock]);
  const seconds = endsAt === null ? null : Math.max(0, Math.ceil((endsAt - now) / 1000));
  return (
    <div className={`care-countdown care-countdown--${size}${seconds !== null && seconds <= 5 ? ' is-ending' : ''}`} role="timer" aria-label="Time left in the call">
      <span className="care-countdown__value" data-seconds={seconds ?? undefined}>
        {seconds === null ? (
          '–:––'
        ) : (
          <>
            <span className="visually-hidden">Time left: </span>
            {callLength(seconds * 1000)}
          </>
        )}
      </span>
      <span className="care-countdown__label" aria-hidden="true">
        {seconds === null ? 'starting' : 'left'}
      </span>
    </div>
  );
}
