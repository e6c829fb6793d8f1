/**
 * Time in the visit and time left before its scheduled end (a warning in its last minutes).
 *
 * One rule: the timer shows the time since the visit started (`startedAt`: the server's timestamp of the moment the
 * host and an admitted patient were first both connected, the start the summary's duration counts from), on the
 * server's clock (`clock`), so a device whose clock is off shows the same. Until the visit has started it says so
 * instead of counting. What it shows never goes back: a later, better estimate of the server's clock only holds the
 * figure until time catches up.
 */
import { useEffect, useRef, useState } from 'react';
import type { ServerClock } from '../time.js';

const WARN_MS = 5 * 60_000;

export function SessionTimer({ startedAt, endsAt, clock }: { startedAt: number | null; endsAt: number | null; clock: ServerClock }) {
  const [now, setNow] = useState(() => clock.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(clock.now()), 250);
    return () => clearInterval(timer);
  }, [clock]);
  const shown = useRef<{ startedAt: number; seconds: number } | null>(null);
  let seconds: number | null = null;
  if (startedAt !== null) {
    seconds = Math.max(0, Math.floor((now - startedAt) / 1000));
    if (shown.current?.startedAt === startedAt) seconds = Math.max(seconds, shown.current.seconds);
    shown.current = { startedAt, seconds };
  }
  const remaining = endsAt === null ? null : endsAt - now;
  const warn = remaining !== null && remaining < WARN_MS;
  return (
    <div className={warn ? 'ov-timer is-warn' : 'ov-timer'} role="timer" aria-label="Time in the visit">
      <span className="ov-timer__elapsed" data-seconds={seconds ?? undefined}>
        {seconds === null ? (
          'Not started'
        ) : (
          <>
            <span className="visually-hidden">Elapsed: </span>
            {hms(seconds)}
          </>
        )}
      </span>
      {remaining !== null ? <span className="ov-timer__left">{left(remaining)}</span> : null}
      {/* Announced once, when the last minutes begin (not every second). */}
      <span className="visually-hidden" role="status">
        {warn ? (remaining > 0 ? 'Less than 5 minutes left in this visit.' : 'The scheduled time for this visit is over.') : ''}
      </span>
    </div>
  );
}

function hms(totalSeconds: number): string {
  const s = Math.floor(totalSeconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

function left(ms: number): string {
  if (ms <= 0) return `${Math.max(1, Math.floor(-ms / 60_000))} min over time`;
  if (ms < WARN_MS) return `${hms(Math.floor(ms / 1000))} left`;
  return `${Math.ceil(ms / 60_000)} min left`;
}
