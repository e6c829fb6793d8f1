/** Time in the visit and time left before its scheduled end (a warning in its last minutes). */
import { useEffect, useState } from 'react';

const WARN_MS = 5 * 60_000;

export function SessionTimer({ startedAt, endsAt }: { startedAt: number; endsAt: number | null }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const elapsed = Math.max(0, now - startedAt);
  const remaining = endsAt === null ? null : endsAt - now;
  const warn = remaining !== null && remaining < WARN_MS;
  return (
    <div className={warn ? 'ov-timer is-warn' : 'ov-timer'} role="timer" aria-label="Session time">
      <span>
        <span className="visually-hidden">Elapsed: </span>
        {clock(elapsed)}
      </span>
      {remaining !== null ? <span className="ov-timer__left">{left(remaining)}</span> : null}
      {/* Announced once, when the last minutes begin (not every second). */}
      <span className="visually-hidden" role="status">
        {warn ? (remaining > 0 ? 'Less than 5 minutes left in this visit.' : 'The scheduled time for this visit is over.') : ''}
      </span>
    </div>
  );
}

function clock(ms: number): string {
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

function left(ms: number): string {
  if (ms <= 0) return `${Math.max(1, Math.floor(-ms / 60_000))} min over time`;
  if (ms < WARN_MS) return `${clock(ms)} left`;
  return `${Math.ceil(ms / 60_000)} min left`;
}
