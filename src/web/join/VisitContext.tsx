import type { ChatMessage, VisitContext } from '../../shared/api/visits.js';
import { clockTime, zoneName } from '../time.js';

/**
 * Whose visit this is, on every page before the call: the clinic's logo and name (the page header), the clinician
 * and the visit's time in the clinic's time zone, with its abbreviation ("Monday, December 7, 10:30 AM EST"; an
 * appointment is made in the clinic's time), followed by the time on the patient's device when its zone differs.
 */
export function formatVisitTime(iso: string, timeZone: string): string {
  const options: Intl.DateTimeFormatOptions = { weekday: 'long', month: 'long', day: 'numeric', hour: 'numeric', minute: '2-digit', timeZoneName: 'short' };
  try {
    return new Intl.DateTimeFormat(undefined, { ...options, timeZone }).format(new Date(iso));
  } catch {
    // A zone this browser does not know: the time where the patient is (still with its abbreviation).
    return new Intl.DateTimeFormat(undefined, options).format(new Date(iso));
  }
}

/** Whether the device's zone shows another time of day than the clinic's at `iso`. */
function deviceZoneDiffers(iso: string, timeZone: string): boolean {
  try {
    return clockTime(iso) !== clockTime(iso, timeZone) && zoneName(iso) !== zoneName(iso, timeZone);
  } catch {
    return false;
  }
}

/** `clinician`: during the call, whose visit it is stays in view (in a group their tile may be on another page). */
export function ClinicHeader({ clinic, clinician }: { clinic: { name: string; logoUrl: string | null } | null | undefined; clinician?: string | null }) {
  return (
    <header className="join-header">
      {clinic ? (
        <span className="clinic">
          {clinic.logoUrl ? <img className="clinic-logo" src={clinic.logoUrl} alt="" referrerPolicy="no-referrer" /> : null}
          <span className="clinic-name">{clinic.name}</span>
        </span>
      ) : (
        <span className="brand">OpenVisit</span>
      )}
      {clinician ? (
        <span className="join-clinician">
          with <strong>{clinician}</strong>
        </span>
      ) : null}
    </header>
  );
}

/** "Video visit with Dr X · Monday, December 7, 10:30 AM EST". */
export function VisitWhen({ context }: { context: VisitContext | null }) {
  if (!context) return null;
  return (
    <p className="visit-when">
      {context.clinicianName ? (
        <>
          Video visit with <strong className="visit-clinician">{context.clinicianName}</strong>
          <span aria-hidden="true"> · </span>
          <span className="visually-hidden">, </span>
        </>
      ) : (
        'Video visit · '
      )}
      <time className="visit-time" dateTime={context.scheduledStart}>
        {formatVisitTime(context.scheduledStart, context.clinic.timeZone)}
      </time>
      {deviceZoneDiffers(context.scheduledStart, context.clinic.timeZone) ? (
        <span className="visit-local"> ({clockTime(context.scheduledStart)} where you are)</span>
      ) : null}
    </p>
  );
}

/**
 * The clinician's notes to a waiting patient, newest first, prominent, each with its time of day on the patient's
 * device (time.ts's rule for patients' pages). The live region is there before any note arrives, so screen readers
 * announce each one as it comes.
 */
export function WaitingNotes({ notes }: { notes: ChatMessage[] }) {
  const shown = [...notes].reverse().slice(0, 3);
  return (
    <div className="waiting-notes" aria-live="polite" aria-relevant="additions text">
      {shown.map((note) => (
        <div key={note.id} className="waiting-note" role="note">
          <p className="waiting-note__from">
            Message from {note.displayName}
            <span className="waiting-note__time"> · {clockTime(note.createdAt)}</span>
          </p>
          <p className="waiting-note__body">{note.body}</p>
        </div>
      ))}
    </div>
  );
}


/** A note the server delivered on the media connection (`{ type: 'note', visitId, message }`), or null. */
export function noteOf(data: unknown, visitId: string): ChatMessage | null {
  if (typeof data !== 'object' || data === null) return null;
  const d = data as { type?: unknown; visitId?: unknown; message?: unknown };
  if (d.type !== 'note' || d.visitId !== visitId || typeof d.message !== 'object' || d.message === null) return null;
  const m = d.message as Partial<ChatMessage>;
  if (typeof m.id !== 'string' || typeof m.body !== 'string' || typeof m.createdAt !== 'string' || typeof m.displayName !== 'string') return null;
  return m as ChatMessage;
}
