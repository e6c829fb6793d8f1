/**
 * An incoming check-in call, over whatever the screen shows: the clinic, who is calling (name and relationship), a
 * big Answer and a smaller Decline, and the ring (useRinger: heard once the browser lets the page play sound; until
 * then "Turn on the ring sound" is offered, and the phone vibrates where it can).
 */
import { useEffect, useRef, useState } from 'react';
import type { Checkin } from './careApi.js';
import { ClinicBar, type Clinic } from './ClinicBar.js';
import { initials } from '../call/media.js';
import { useRinger } from './useRinger.js';

export interface IncomingCallProps {
  checkin: Checkin;
  clinic: Clinic;
  callerName: string;
  callerRelationship: string | null;
  simple: boolean;
  onAnswer(): void;
  onDecline(): Promise<void>;
}

export function IncomingCall({ checkin, clinic, callerName, callerRelationship, simple, onAnswer, onDecline }: IncomingCallProps) {
  const ringer = useRinger(true);
  const [declining, setDeclining] = useState(false);
  const answerRef = useRef<HTMLButtonElement>(null);
  useEffect(() => answerRef.current?.focus(), [checkin.id]);
  return (
    <div className={`care-incoming${simple ? ' care-incoming--simple' : ''}`} role="alertdialog" aria-modal="true" aria-labelledby="care-incoming-title" data-ring={ringer.audible ? 'sounding' : 'silent'}>
      <ClinicBar clinic={clinic} prominent />
      <div className="care-incoming__body">
        <div className="care-incoming__avatar" aria-hidden="true">
          {initials(callerName)}
        </div>
        <h1 id="care-incoming-title" className="care-incoming__title">
          <span className="care-incoming__name">{callerName}</span>
          {callerRelationship ? <span className="care-incoming__rel"> ({callerRelationship})</span> : null}
          <span className="care-incoming__verb"> is calling</span>
        </h1>
        <p className="care-incoming__sub">A video check-in of {checkin.durationLimitSeconds} seconds</p>
      </div>
      {!ringer.audible ? (
        <button type="button" className="care-incoming__sound" onClick={ringer.enable}>
          Turn on the ring sound
        </button>
      ) : null}
      <div className="care-incoming__actions">
        <button ref={answerRef} type="button" className="care-answer" onClick={onAnswer} disabled={declining}>
          Answer
        </button>
        <button
          type="button"
          className="care-decline"
          disabled={declining}
          onClick={() => {
            setDeclining(true);
            void onDecline().finally(() => setDeclining(false));
          }}
        >
          Decline
        </button>
      </div>
    </div>
  );
}
