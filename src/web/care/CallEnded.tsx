/** "Call ended": how long it lasted (the server's record: completedAt − startedAt), with whom, and how it ended. */
import { useEffect, useRef } from 'react';
import { callLength, callLengthWords, type Checkin, isFinal, outcome } from './careApi.js';
import { ClinicBar, type Clinic } from './ClinicBar.js';

export interface CallEndedProps {
  checkin: Checkin;
  memberIds: ReadonlySet<string>;
  clinic: Clinic;
  otherLabel: string;
  simple: boolean;
  /** The room ended here a moment ago and the call's record is not final yet. */
  settling: boolean;
  /** The call is still on (this device lost it): join it again. */
  onRejoin(): void;
  onDone(): void;
}

export function CallEnded({ checkin, memberIds, clinic, otherLabel, simple, settling, onRejoin, onDone }: CallEndedProps) {
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => headingRef.current?.focus(), []);
  const over = isFinal(checkin.status);
  const stillOn = !over && !settling && (checkin.status === 'active' || checkin.status === 'ringing');
  if (stillOn) {
    return (
      <main className={`care care-ended${simple ? ' care-ended--simple' : ''}`} data-status={checkin.status}>
        <header className="care-top">
          <ClinicBar clinic={clinic} />
        </header>
        <div className="care-ended__body" role="status">
          <h1 ref={headingRef} tabIndex={-1} className="care-ended__title">
            You left the call
          </h1>
          <p className="care-ended__with">with {otherLabel}</p>
          <p className="care-ended__how">The call is still on. You can join it again.</p>
        </div>
        <div className="care-ended__actions">
          <button type="button" className="primary care-ended__done" onClick={onRejoin}>
            Join again
          </button>
          <button type="button" className="care-ended__done" onClick={onDone}>
            Done
          </button>
        </div>
      </main>
    );
  }
  return (
    <main className={`care care-ended${simple ? ' care-ended--simple' : ''}`} data-status={checkin.status}>
      <header className="care-top">
        <ClinicBar clinic={clinic} />
      </header>
      <div className="care-ended__body" role="status">
        <h1 ref={headingRef} tabIndex={-1} className="care-ended__title">
          Call ended
        </h1>
        {checkin.durationMs !== null ? (
          <p className="care-ended__length" data-duration-ms={checkin.durationMs}>
            <span aria-hidden="true">{callLength(checkin.durationMs)}</span>
            <span className="visually-hidden">Length: {callLengthWords(checkin.durationMs)}</span>
          </p>
        ) : null}
        <p className="care-ended__with">with {otherLabel}</p>
        <p className="care-ended__how">{over ? outcome(checkin, memberIds) : '…'}</p>
      </div>
      <button type="button" className="primary care-ended__done" onClick={onDone}>
        Done
      </button>
    </main>
  );
}
