/** A participant's waiting room, on the stage beside their self view: who was told they are here, for how long. */
import { useEffect, useState, type ReactNode } from 'react';
import type { ServerClock } from '../time.js';

/** `children`: what the page adds (the clinic, clinician and time; the host's notes). */
export function WaitingCard({ clinician, since, clock, children }: { clinician: string | null; since: number; clock: ServerClock; children?: ReactNode }) {
  // Read on every render (the server's time, as well as it is known by then), and again every 15 s.
  const [, tick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => tick((n) => n + 1), 15_000);
    return () => clearInterval(timer);
  }, []);
  const minutes = Math.max(0, Math.floor((clock.now() - since) / 60_000));
  return (
    <div className="ov-call__center ov-card ov-waiting">
      {children}
      <h2>Waiting for the clinician to let you in</h2>
      <p>{clinician ? `${clinician} has been notified that you are here.` : 'Your clinician has been notified that you are here.'}</p>
      <p className="muted">
        {minutes < 1 ? 'You just arrived.' : `You have been waiting ${minutes} minute${minutes === 1 ? '' : 's'}.`} Please keep this page open; you will join the visit automatically.
      </p>
    </div>
  );
}
