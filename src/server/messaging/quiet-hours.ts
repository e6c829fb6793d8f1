/**
 * Quiet hours in the patient's own time zone: a non-urgent message created inside them waits until they end.
 * Hours are minutes after local midnight, [start, end), and may wrap midnight (21:00-08:00).
 */
export interface QuietHours {
  start: number;
  end: number;
}

function localMinutes(at: Date, timeZone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(at);
  const hour = Number(parts.find((p) => p.type === 'hour')?.value ?? 0);
  const minute = Number(parts.find((p) => p.type === 'minute')?.value ?? 0);
  return hour * 60 + minute;
}

export function inQuietHours(at: Date, timeZone: string, quiet: QuietHours): boolean {
  const m = localMinutes(at, timeZone);
  return quiet.start < quiet.end ? m >= quiet.start && m < quiet.end : m >= quiet.start || m < quiet.end;
}

/** When a message created at `at` may go: `at` itself outside quiet hours, else the first minute they are over. */
export function nextSendTime(at: Date, timeZone: string, quiet: QuietHours | null): Date {
  if (!quiet || !inQuietHours(at, timeZone, quiet)) return at;
  // Step to the end of quiet hours by local minutes, then correct for a daylight-saving shift in between (the
  // local clock then reads an hour off the end; an end time the shift skips is passed by the last check).
  const wait = (quiet.end - localMinutes(at, timeZone) + 24 * 60) % (24 * 60);
  let candidate = new Date(Math.floor(at.getTime() / 60_000) * 60_000 + wait * 60_000);
  for (let i = 0; i < 3; i++) {
    let diff = quiet.end - localMinutes(candidate, timeZone);
    if (diff > 720) diff -= 1440;
    if (diff < -720) diff += 1440;
    if (diff === 0) break;
    candidate = new Date(candidate.getTime() + diff * 60_000);
  }
  while (inQuietHours(candidate, timeZone, quiet)) candidate = new Date(candidate.getTime() + 15 * 60_000);
  return candidate;
}

export function formatHm(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}
