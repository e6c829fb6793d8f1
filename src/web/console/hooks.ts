import { useCallback, useEffect, useRef, useState, type Dispatch, type SetStateAction } from 'react';
import { ApiError } from '../api.js';
import { staffApi } from './auth.js';
import { errorText, isAbort } from './format.js';

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

export interface StaffResource<T> {
  /** null until loaded (and again while another path loads). */
  data: T | null;
  setData: Dispatch<SetStateAction<T | null>>;
  /** Why the last load failed, in words; '' when it did not. */
  error: string;
  /** Whether trying again can help (not for a 404 or a 403). */
  retryable: boolean;
  reload: (signal?: AbortSignal) => Promise<void>;
  /** Reloads after `delayMs`, once for a burst of calls (hub events often come in twos and threes). */
  reloadSoon: () => void;
}

/** A page's record, read with GET `path` when the path changes (the previous request aborted), reloadable. */
export function useStaffResource<T>(path: string, reloadDelayMs = 200): StaffResource<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState('');
  const [retryable, setRetryable] = useState(true);
  const reload = useCallback(
    async (signal?: AbortSignal) => {
      try {
        setData(await staffApi<T>('GET', path, undefined, signal));
        setError('');
      } catch (err) {
        if (isAbort(err)) return;
        setError(errorText(err));
        setRetryable(!(err instanceof ApiError && (err.status === 404 || err.status === 403)));
      }
    },
    [path],
  );
  useEffect(() => {
    const controller = new AbortController();
    setData(null);
    void reload(controller.signal);
    return () => controller.abort();
  }, [reload]);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  const reloadSoon = useCallback(() => {
    clearTimeout(timer.current);
    timer.current = setTimeout(() => void reload(), reloadDelayMs);
  }, [reload, reloadDelayMs]);
  return { data, setData, error, retryable, reload, reloadSoon };
}
