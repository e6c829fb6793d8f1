/**
 * Times the web app shows, for both sides of a visit.
 *
 * The rule for a time of day (a chat message, a visit's start and end, a summary's times): the clinician's console
 * shows it in the clinic's time zone (the organisation's setting, whatever the computer's own zone), the patient's
 * pages in the patient's device's zone; either way with the zone's abbreviation, so a reader never has to guess.
 * `clockTime` is the one formatter for that.
 *
 * Elapsed times (the session timer, how long someone has waited) count from the server's timestamps on the server's
 * clock: `ServerClock` estimates it from the `Date` header of API answers, so a browser whose clock is off by minutes
 * still shows the right duration.
 */

/** "2:05 PM EST": the time of day of `iso` in `timeZone` (the device's zone when omitted), with the zone's name. */
export function clockTime(iso: string, timeZone?: string): string {
  return new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit', timeZoneName: 'short', ...(timeZone ? { timeZone } : {}) }).format(new Date(iso));
}

/** "Dec 7, 2026, 2:05 PM EST": a date and time of day, the same rule. */
export function clockDateTime(iso: string, timeZone?: string): string {
  return new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short', ...(timeZone ? { timeZone } : {}) }).format(new Date(iso)) + ` ${zoneName(iso, timeZone)}`;
}

/** The short name of `timeZone` (the device's when omitted) at the instant `iso`: "EST", "GMT+1". */
export function zoneName(iso: string, timeZone?: string): string {
  const parts = new Intl.DateTimeFormat(undefined, { timeZoneName: 'short', ...(timeZone ? { timeZone } : {}) }).formatToParts(new Date(iso));
  return parts.find((p) => p.type === 'timeZoneName')?.value ?? timeZone ?? '';
}

/** "2:05 – 2:35 PM EST": a span of time in `timeZone` (the device's zone when omitted), the zone named once. */
export function clockRange(fromIso: string, toIso: string, timeZone?: string): string {
  const format = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit', timeZoneName: 'short', ...(timeZone ? { timeZone } : {}) });
  return format.formatRange(new Date(fromIso), new Date(toIso));
}

/**
 * The server's time, estimated on a monotonic clock (performance.now(), which a change of the computer's clock does
 * not move). Each API answer's `Date` header (whole seconds, truncated) bounds the offset between the two clocks:
 * the answer was written at some instant between sending and receiving, when the server's clock read between the
 * header's second and the next. The bounds of all answers are intersected (narrowing to about one round trip);
 * `now()` takes the middle. Until an answer has been seen, the device's own clock stands in.
 */
export class ServerClock {
  /** serverMs − performance.now() lies in [low, high]. */
  #low = -Infinity;
  #high = Infinity;

  /** Records an answer: `sentAt` and `receivedAt` are performance.now() around the request. */
  sample(dateHeader: string | null, sentAt: number, receivedAt: number): void {
    const serverMs = dateHeader ? Date.parse(dateHeader) : NaN;
    if (!Number.isFinite(serverMs) || receivedAt < sentAt) return;
    const low = serverMs - receivedAt;
    const high = serverMs + 1000 - sentAt;
    if (low > this.#high || high < this.#low) {
      // Disjoint from what we knew: the server's clock was set (or ours drifted a lot). Start again from this answer.
      this.#low = low;
      this.#high = high;
      return;
    }
    this.#low = Math.max(this.#low, low);
    this.#high = Math.min(this.#high, high);
  }

  /** Whether an answer from the server has been seen. */
  get synced(): boolean {
    return Number.isFinite(this.#low);
  }

  /** The server's time now (epoch ms). */
  now(): number {
    if (!this.synced) return Date.now();
    return performance.now() + (this.#low + this.#high) / 2;
  }
}
