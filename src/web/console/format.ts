/** Time helpers for the console. "Today" is a day in the organisation's time zone: the server reads `day` so. */
import { ApiError } from '../api.js';
import { visitFullText } from '../call/useActions.js';

function partsIn(date: Date, timeZone: string): { y: number; m: number; d: number; h: number; min: number; s: number } {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(date);
  const get = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  return { y: get('year'), m: get('month'), d: get('day'), h: get('hour') % 24, min: get('minute'), s: get('second') };
}

/** The calendar day (YYYY-MM-DD) of `date` in `timeZone`. */
export function dayIn(date: Date, timeZone: string): string {
  const { y, m, d } = partsIn(date, timeZone);
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

/** How far `timeZone` is ahead of UTC at `ms`, in milliseconds. */
function offsetAt(ms: number, timeZone: string): number {
  const p = partsIn(new Date(ms), timeZone);
  return Date.UTC(p.y, p.m - 1, p.d, p.h, p.min, p.s) - Math.floor(ms / 1000) * 1000;
}

/** The instant a wall-clock time (YYYY-MM-DD, HH:MM) happens in `timeZone`. */
export function zonedTime(day: string, time: string, timeZone: string, addDays = 0): Date {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  const [h, min] = time.split(':').map(Number) as [number, number];
  const guess = Date.UTC(y, m - 1, d + addDays, h, min);
  let t = guess - offsetAt(guess, timeZone);
  t = guess - offsetAt(t, timeZone);
  return new Date(t);
}

/** The instant a calendar day starts in `timeZone` (midnight there). */
export function startOfDay(day: string, timeZone: string, addDays = 0): Date {
  return zonedTime(day, '00:00', timeZone, addDays);
}

/** HH:MM of `date` in `timeZone`. */
export function timeIn(date: Date, timeZone: string): string {
  const { h, min } = partsIn(date, timeZone);
  return `${String(h).padStart(2, '0')}:${String(min).padStart(2, '0')}`;
}

export function browserTimeZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

export function formatTime(iso: string, timeZone?: string): string {
  return new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit', ...(timeZone ? { timeZone } : {}) }).format(new Date(iso));
}

export function formatDateTime(iso: string, timeZone?: string): string {
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short', ...(timeZone ? { timeZone } : {}) }).format(new Date(iso));
}

/** The time alone for today (in `timeZone`), else the date and time: for lists of messages. */
export function formatWhen(iso: string, timeZone: string, now = Date.now()): string {
  return dayIn(new Date(iso), timeZone) === dayIn(new Date(now), timeZone) ? formatTime(iso, timeZone) : formatDateTime(iso, timeZone);
}

export function formatDay(day: string): string {
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  return new Intl.DateTimeFormat(undefined, { weekday: 'long', month: 'long', day: 'numeric', timeZone: 'UTC' }).format(new Date(Date.UTC(y, m - 1, d)));
}

/** "3 min", "1 h 5 min", "45 s". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const minutes = Math.floor(s / 60);
  if (minutes < 60) return `${minutes} min`;
  const h = Math.floor(minutes / 60);
  const rest = minutes % 60;
  return rest ? `${h} h ${rest} min` : `${h} h`;
}

/** How long someone has waited, for people: "just arrived", "4 min". */
export function formatWaited(sinceIso: string | null, now: number): string {
  if (!sinceIso) return 'just arrived';
  const seconds = (now - Date.parse(sinceIso)) / 1000;
  if (seconds < 60) return 'just arrived';
  return formatDuration(seconds);
}

/** An amount of money, e.g. "$0.0079" (up to four decimals: SMS segments cost fractions of a cent). */
export function money(amount: number, currency: string): string {
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency, maximumFractionDigits: 4 }).format(amount);
  } catch {
    return `${amount} ${currency}`;
  }
}

/** Words for the user from any failure: the API's message, else a general one. */
export function errorText(err: unknown): string {
  if (err instanceof ApiError && err.code === 'visit_full') return visitFullText(err);
  if (err instanceof ApiError) return err.message;
  return 'Something went wrong. Please try again.';
}

export function isAbort(err: unknown): boolean {
  return err instanceof Error && err.name === 'AbortError';
}

export const ROLE_LABEL: Record<string, string> = {
  host: 'Clinician',
  cohost: 'Co-host',
  patient: 'Patient',
  guest: 'Guest',
  interpreter: 'Interpreter',
  caregiver: 'Caregiver',
};

export const VISIT_STATUS_LABEL: Record<string, string> = {
  scheduled: 'Scheduled',
  open: 'Open',
  in_progress: 'In progress',
  ended: 'Ended',
  cancelled: 'Cancelled',
  no_show: 'No-show',
};
