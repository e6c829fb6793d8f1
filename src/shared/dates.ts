/**
 * The dates OpenVisit accepts, in one place: every date-time, date and month that enters (request bodies,
 * query filters, pagination cursors) is checked here, by the validator's formats and by the cursor decoder.
 *
 * A clinic means nothing before 1900 or after 9999; outside that range JavaScript and PostgreSQL disagree
 * (years 0 to 99 are read as 1900 to 1999, the year 0 and the year 10000 cannot be stored or sent), so a
 * value there would be moved or fail in the database. It is refused with a 400 that says the range.
 */
export const EARLIEST_YEAR = 1900;
export const LATEST_YEAR = 9999;

const EARLIEST_MS = Date.UTC(EARLIEST_YEAR, 0, 1);
// Date.UTC maps the years 0 to 99 into the 1900s; 9999 and 10000 are safe.
const LATEST_MS = Date.UTC(LATEST_YEAR + 1, 0, 1) - 1;

export const DATE_TIME_RULE = `must be an RFC 3339 date-time with a time zone (e.g. 2030-01-31T09:00:00Z) between ${EARLIEST_YEAR}-01-01T00:00:00Z and ${LATEST_YEAR}-12-31T23:59:59Z`;
export const DATE_RULE = `must be a calendar date YYYY-MM-DD between ${EARLIEST_YEAR}-01-01 and ${LATEST_YEAR}-12-31`;
export const MONTH_RULE = `must be a month YYYY-MM between ${EARLIEST_YEAR}-01 and ${LATEST_YEAR}-12`;
export const BIRTH_DATE_RULE = `must be a real date of birth YYYY-MM-DD, from ${EARLIEST_YEAR}-01-01 and not in the future`;

/** Whether an instant (milliseconds since the epoch) lies in the accepted range. */
export function instantInRange(ms: number): boolean {
  return Number.isFinite(ms) && ms >= EARLIEST_MS && ms <= LATEST_MS;
}

// RFC 3339 date-time; the fraction may carry microseconds (PostgreSQL's precision) or more.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?([Zz]|[+-](\d{2}):(\d{2}))$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const MONTH = /^(\d{4})-(\d{2})$/;

function daysIn(year: number, month: number): number {
  return month === 2 ? (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
}

function realDate(year: number, month: number, day: number): boolean {
  return month >= 1 && month <= 12 && day >= 1 && day <= daysIn(year, month);
}

/**
 * The instant a date-time names, in milliseconds, or undefined when it is not a real RFC 3339 date-time
 * in the range (no leap seconds: neither JavaScript nor PostgreSQL keeps them).
 */
export function parseDateTime(value: string): number | undefined {
  const m = DATE_TIME.exec(value);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (!realDate(year, month, day) || hour > 23 || minute > 59 || second > 59) return undefined;
  if (m[9] !== undefined && (Number(m[9]) > 23 || Number(m[10]) > 59)) return undefined;
  const ms = Date.parse(value.toUpperCase());
  return instantInRange(ms) ? ms : undefined;
}

export function isDateTime(value: string): boolean {
  return parseDateTime(value) !== undefined;
}

/** A real calendar date, YYYY-MM-DD, in the range. */
export function isDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  const [year, month, day] = m.slice(1, 4).map(Number) as [number, number, number];
  return year >= EARLIEST_YEAR && year <= LATEST_YEAR && realDate(year, month, day);
}

/** A month, YYYY-MM, in the range. */
export function isMonth(value: string): boolean {
  const m = MONTH.exec(value);
  if (!m) return false;
  const [year, month] = [Number(m[1]), Number(m[2])];
  return year >= EARLIEST_YEAR && year <= LATEST_YEAR && month >= 1 && month <= 12;
}

/** A date of birth: a real date from 1900 to `today` (YYYY-MM-DD, the caller's notion of today). */
export function isBirthDate(value: string, today: string): boolean {
  return isDate(value) && value <= today;
}

/** The rule each string format of the API enforces, as the validator's error message says it. */
export const FORMAT_RULES: Record<string, string> = {
  'date-time': DATE_TIME_RULE,
  date: DATE_RULE,
  'year-month': MONTH_RULE,
};
