import { DATE_TIME_RULE, parseDateTime } from '../../shared/dates.js';
import { AppError } from './errors.js';

/** IANA time zones as this Node knows them (plus UTC). */
export function isTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: value });
    return value.length > 0 && value.length <= 64;
  } catch {
    return false;
  }
}

export function assertTimeZone(value: string, path: string): void {
  if (!isTimeZone(value)) throw new AppError('invalid_time_zone', `"${value}" is not a known time zone (use an IANA name such as America/New_York).`, [{ path, message: 'is not a known time zone' }]);
}

/** Throws a 400 naming the field when a free-text value has control characters (they break logs and UIs). */
export function assertPrintable(value: string, path: string): void {
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(value)) {
    throw new AppError('validation_failed', undefined, [{ path, message: 'must not contain control characters' }]);
  }
}

/**
 * A date-time from a body or query as a Date. The schema's `date-time` format has already checked it
 * (src/shared/dates.ts: RFC 3339, 1900 to 9999); this refuses the same, for values that reach a service
 * another way, with the same rule in the error.
 */
export function parseInstant(value: string, path: string): Date {
  const ms = parseDateTime(value);
  if (ms === undefined) throw new AppError('validation_failed', undefined, [{ path, message: DATE_TIME_RULE }]);
  return new Date(ms);
}
