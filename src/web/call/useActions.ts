/**
 * The call's controls act through `run`: one action per key at a time (the key is busy meanwhile, its button
 * disabled), a failure shown once in the problem banner (the newest wins), and the room re-read afterwards (`settled`:
 * the SDK's participant objects changed under us).
 */
import { useState } from 'react';
import { ApiError } from '../api.js';
import type { Run } from './room.js';

export function useActions(settled: () => void) {
  const [busy, setBusy] = useState<ReadonlySet<string>>(() => new Set());
  const [problem, setProblem] = useState<string | null>(null);

  const run: Run = async (key, action, describe) => {
    if (busy.has(key)) return;
    setBusy((s) => new Set(s).add(key));
    try {
      await action();
    } catch (error) {
      const text = describe(error);
      if (text) setProblem(text);
    } finally {
      setBusy((s) => {
        const next = new Set(s);
        next.delete(key);
        return next;
      });
      settled();
    }
  };

  return { busy, problem, dismissProblem: () => setProblem(null), run };
}

/** What an API call's failure says to the user: the server's words, else the error's, else `fallback`. */
export function apiText(e: unknown, fallback: string): string {
  if (e instanceof ApiError && e.code === 'visit_full') return visitFullText(e);
  return e instanceof ApiError ? e.message : e instanceof Error && e.message ? e.message : fallback;
}

/** Admitting into a group that has reached its limit (409 visit_full), said plainly. */
export const VISIT_FULL_TEXT = 'The group is full: nobody else can be let in. Remove someone, or raise the group’s limit, to admit more people.';

/** visit_full in words: the group's limit (VISIT_FULL_TEXT), or the video service's room size (`details.capacity`). */
export function visitFullText(e: ApiError): string {
  const capacity = (e.details as { capacity?: unknown } | undefined)?.capacity;
  return typeof capacity === 'number' ? `The video room is full: it holds ${capacity} people, sent-back people included. Remove someone to admit more.` : VISIT_FULL_TEXT;
}
