/** Who is in the call, with network quality; for the host, per-participant controls. */
import { useEffect, useId, useRef, type ReactNode } from 'react';
import { NetworkQuality } from './media.js';

export interface PersonRow {
  id: string;
  name: string;
  /** 'host', 'patient', 'guest', … (null: not known yet). */
  role: string | null;
  self: boolean;
  quality: number | null;
  micOff: boolean;
  cameraOff: boolean;
  /** The host stopped their audio / video reaching anyone. */
  hostMuted: { audio: boolean; video: boolean };
  /** Host view while recording or about to: this person is not (yet) recorded. */
  notRecorded: boolean;
}

export interface PersonActions {
  mute(person: PersonRow, kind: 'audio' | 'video', muted: boolean): void;
  sendToWaitingRoom(person: PersonRow): void;
  remove(person: PersonRow): void;
  /** Actions in progress, by `${personId}:${action}`. */
  busy: ReadonlySet<string>;
}

const ROLE_NAMES: Record<string, string> = { host: 'Clinician', patient: 'Patient', guest: 'Guest', interpreter: 'Interpreter', caregiver: 'Caregiver' };

export function ParticipantsPanel({
  people,
  waiting,
  actions,
  error,
  footer,
  onClose,
}: {
  people: PersonRow[];
  /** Host only: connected people still in the waiting room (admitted from the waiting-room panel). */
  waiting: PersonRow[];
  actions: PersonActions | null;
  error: string | null;
  footer?: ReactNode;
  onClose: () => void;
}) {
  const id = useId();
  const headingRef = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    headingRef.current?.focus();
  }, []);
  return (
    <section className="ov-side__panel" aria-labelledby={`${id}-title`}>
      <header className="ov-side__head">
        <h2 id={`${id}-title`} ref={headingRef} tabIndex={-1}>
          Participants ({people.length})
        </h2>
        <button type="button" className="ov-close" aria-label="Close participants" onClick={onClose}>
          ×
        </button>
      </header>
      <div className="ov-side__scroll">
        {error ? (
          <p className="notice error" role="alert">
            {error}
          </p>
        ) : null}
        <ul className="ov-people" aria-label="In the call">
          {people.map((p) => (
            <Person key={p.id} person={p} actions={p.self || p.role === 'host' ? null : actions} />
          ))}
        </ul>
        {waiting.length > 0 ? (
          <>
            <h3 className="ov-people__sub">In the waiting room ({waiting.length})</h3>
            <ul className="ov-people" aria-label="In the waiting room">
              {waiting.map((p) => (
                <li key={p.id} className="ov-person" data-identity={p.id}>
                  <div className="ov-person__line">
                    <span className="ov-person__name">{p.name}</span>
                    <span className="badge">waiting</span>
                  </div>
                </li>
              ))}
            </ul>
          </>
        ) : null}
        {footer}
      </div>
    </section>
  );
}

function Person({ person: p, actions }: { person: PersonRow; actions: PersonActions | null }) {
  const id = useId();
  const busy = (what: string) => actions?.busy.has(`${p.id}:${what}`) ?? false;
  return (
    <li className="ov-person" data-identity={p.id}>
      <div className="ov-person__line">
        <span className="ov-person__name" id={`${id}-name`}>
          {p.self ? `${p.name} (you)` : p.name}
        </span>
        {p.role ? <span className="ov-person__role muted">{ROLE_NAMES[p.role] ?? p.role}</span> : null}
        <NetworkQuality level={p.quality} who={p.self ? 'you' : p.name} />
      </div>
      <div className="ov-person__state muted">
        {p.micOff ? <span>Microphone off</span> : null}
        {p.cameraOff ? <span>Camera off</span> : null}
        {p.hostMuted.audio ? <span>Audio muted by host</span> : null}
        {p.hostMuted.video ? <span>Video muted by host</span> : null}
        {p.notRecorded ? <span>Not agreed to recording</span> : null}
      </div>
      {actions ? (
        <div className="ov-person__actions" role="group" aria-labelledby={`${id}-name`}>
          <button type="button" aria-describedby={`${id}-name`} disabled={busy('audio')} onClick={() => actions.mute(p, 'audio', !p.hostMuted.audio)}>
            {p.hostMuted.audio ? 'Unmute audio' : 'Mute audio'}
          </button>
          <button type="button" aria-describedby={`${id}-name`} disabled={busy('video')} onClick={() => actions.mute(p, 'video', !p.hostMuted.video)}>
            {p.hostMuted.video ? 'Unmute video' : 'Mute video'}
          </button>
          <button type="button" aria-describedby={`${id}-name`} disabled={busy('return')} onClick={() => actions.sendToWaitingRoom(p)}>
            Send to waiting room
          </button>
          <button type="button" className="ov-danger-text" aria-describedby={`${id}-name`} disabled={busy('remove')} onClick={() => actions.remove(p)}>
            Remove
          </button>
        </div>
      ) : null}
    </li>
  );
}
