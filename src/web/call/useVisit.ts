/**
 * The visit as the API sees it (names, admission, recording, scheduled end), kept fresh while the call is open:
 * refreshed when someone arrives, leaves or is moved, and polled (quickly while waiting to be let in). The host
 * also gets the recording state (who is not recorded), which is host-only. Each answer about the visit also sets
 * `clock` (the server's time, for the session timer).
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { Visit, VisitRecordingState } from '../../shared/api/visits.js';
import type { ServerClock } from '../time.js';
import { visitPath, type Requester } from './request.js';

export function useVisit(request: Requester, visitId: string, host: boolean, active: boolean, pollMs: number, clock: ServerClock) {
  /** With when it was asked for: a notice newer than that wins over it. */
  const [visit, setVisit] = useState<{ value: Visit; at: number } | null>(null);
  const [recordingState, setRecordingState] = useState<{ value: VisitRecordingState; at: number } | null>(null);
  const inFlight = useRef(false);
  const again = useRef(false);
  const mounted = useRef(true);
  const debounce = useRef<ReturnType<typeof setTimeout> | null>(null);

  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
      if (debounce.current) clearTimeout(debounce.current);
    };
  }, []);

  const refresh = useCallback(async (): Promise<void> => {
    if (inFlight.current) {
      again.current = true;
      return;
    }
    inFlight.current = true;
    try {
      do {
        again.current = false;
        const at = Date.now();
        const sentAt = performance.now();
        const onResponse = (res: Response) => clock.sample(res.headers.get('date'), sentAt, performance.now());
        const [v, r] = await Promise.all([
          request<Visit>('GET', visitPath(visitId), undefined, { onResponse }).catch(() => null),
          host ? request<VisitRecordingState>('GET', visitPath(visitId, '/recording')).catch(() => null) : Promise.resolve(null),
        ]);
        if (!mounted.current) return;
        // A failed read keeps what we had (the call goes on; the next poll tries again).
        if (v) setVisit({ value: v, at });
        if (r) setRecordingState({ value: r, at });
      } while (again.current && mounted.current);
    } finally {
      inFlight.current = false;
    }
  }, [request, visitId, host, clock]);

  /** Refresh soon (events come in bursts: several participants moved at once). */
  const refreshSoon = useCallback(() => {
    if (debounce.current) clearTimeout(debounce.current);
    debounce.current = setTimeout(() => {
      debounce.current = null;
      void refresh();
    }, 250);
  }, [refresh]);

  useEffect(() => {
    if (!active) return;
    void refresh();
    const timer = setInterval(() => void refresh(), pollMs);
    return () => clearInterval(timer);
  }, [active, pollMs, refresh]);

  return { visit, recordingState, refresh, refreshSoon };
}
