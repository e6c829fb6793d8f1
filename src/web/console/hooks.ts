import { useEffect, useState } from 'react';

/** The current time, refreshed every `intervalMs` (for "waited 4 min" and the like). */
export function useNow(intervalMs = 15_000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(id);
  }, [intervalMs]);
  return now;
}

/** Sets the tab title while mounted: "(2) OpenVisit" when two people wait, "OpenVisit" otherwise. */
export function useWaitingTitle(count: number): void {
  useEffect(() => {
    document.title = count > 0 ? `(${count}) OpenVisit` : 'OpenVisit';
  }, [count]);
  useEffect(
    () => () => {
      document.title = 'OpenVisit';
    },
    [],
  );
}
