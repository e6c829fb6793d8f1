/**
 * The visit's life, as a pure transition table. The service applies it inside a transaction holding the
 * visit's row, so two hosts (or a host and a room event) cannot both move it.
 *
 *   scheduled ──open──> open ──begin──> in_progress ──end──> ended
 *       │                 │  └─────────────end──────────────────┘
 *       ├──cancel / no_show
 *                         └──cancel / no_show
 *
 * `open`: the host started it (the room exists, patients may be admitted). `begin`: the host and a patient are
 * both in the room for the first time. Ended, cancelled and no-show are final.
 */
import type { VisitStatus } from '../db/schema.js';

export const VISIT_EVENTS = ['open', 'begin', 'end', 'cancel', 'no_show'] as const;
export type VisitEvent = (typeof VISIT_EVENTS)[number];

export const VISIT_TRANSITIONS: Readonly<Record<VisitStatus, Partial<Record<VisitEvent, VisitStatus>>>> = Object.freeze({
  scheduled: { open: 'open', cancel: 'cancelled', no_show: 'no_show' },
  open: { begin: 'in_progress', end: 'ended', cancel: 'cancelled', no_show: 'no_show' },
  in_progress: { end: 'ended' },
  ended: {},
  cancelled: {},
  no_show: {},
});

/** The state after `event`, or undefined when the transition is illegal. */
export function nextVisitStatus(current: VisitStatus, event: VisitEvent): VisitStatus | undefined {
  return VISIT_TRANSITIONS[current][event];
}

/** Final states: nothing happens to the visit any more (links and tokens are refused). */
export function isFinal(status: VisitStatus): boolean {
  return status === 'ended' || status === 'cancelled' || status === 'no_show';
}

/** States in which the visit's room exists. */
export function isLive(status: VisitStatus): boolean {
  return status === 'open' || status === 'in_progress';
}
