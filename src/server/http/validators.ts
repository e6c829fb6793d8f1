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

// Date.UTC maps years 0 to 99 to 1900 to 1999, so the year 1 is set explicitly.
const EARLIEST = new Date('0001-01-01T00:00:00Z').getTime();
const LATEST = Date.UTC(10000, 0, 1) - 1;

/**
 * A date-time the database can store. The `date-time` format admits instants (leap seconds, the year
 * 0000, year 10000 once in UTC) that JavaScript or PostgreSQL cannot represent: those are a 400, not a 500.
 */
export function parseInstant(value: string, path: string): Date {
  const at = new Date(value);
  const ms = at.getTime();
  if (Number.isNaN(ms) || ms < EARLIEST || ms > LATEST) {
    throw new AppError('validation_failed', undefined, [{ path, message: 'must be a real date-time between the years 1 and 9999' }]);
  }
  return at;
}
