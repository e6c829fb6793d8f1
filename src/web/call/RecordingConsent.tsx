/**
 * Asks a participant to agree to be recorded, showing the organisation's recording consent text. Until they agree
 * they are kept out of the recording; "Not now" closes it and the call goes on.
 */
import { useEffect, useId, useRef } from 'react';
import type { ConsentText } from '../../shared/api/visits.js';

export function RecordingConsent({
  text,
  recording,
  busy,
  error,
  onAgree,
  onDismiss,
}: {
  text: ConsentText | null;
  recording: boolean;
  busy: boolean;
  error: string | null;
  onAgree: () => void;
  onDismiss: () => void;
}) {
  const id = useId();
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    headingRef.current?.focus();
  }, []);
  return (
    <section
      className="ov-consent"
      role="dialog"
      aria-labelledby={`${id}-title`}
      aria-describedby={`${id}-lead`}
      onKeyDown={(e) => {
        if (e.key === 'Escape') onDismiss();
      }}
    >
      <h2 id={`${id}-title`} ref={headingRef} tabIndex={-1}>
        {recording ? 'This visit is being recorded' : 'Recording consent'}
      </h2>
      <p id={`${id}-lead`}>
        {recording
          ? 'You are not recorded unless you agree. You can stay in the visit either way.'
          : 'Your clinician can record this visit only if everyone agrees. You can stay in the visit either way.'}
      </p>
      <div className="ov-consent__text" tabIndex={0} aria-label="Recording consent text">
        {text ? text.body : <span className="muted">Loading the consent text…</span>}
      </div>
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
      <div className="ov-consent__actions">
        <button type="button" className="primary" disabled={!text || busy} onClick={onAgree}>
          I agree to be recorded
        </button>
        <button type="button" onClick={onDismiss}>
          Not now
        </button>
      </div>
    </section>
  );
}
