import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import type { ChatMessage, Visit, VisitParticipant } from '../../shared/api/visits.js';
import { staffApi } from './auth.js';
import { errorText, formatWaited, ROLE_LABEL } from './format.js';
import { useNow } from './hooks.js';
import { ErrorNotice } from './ui.js';
import { useWaitingRooms } from './waiting.js';

export interface WaitingVisit {
  id: string;
  /** Shown above the visit's people when the panel covers several visits (Today). */
  label: string;
  status: Visit['status'];
}

interface Props {
  visits: WaitingVisit[];
  /** Several visits (Today): group people under each visit's label. */
  grouped?: boolean;
  /** Before admitting into a visit (Today starts a scheduled visit first). */
  beforeAdmit?: (visit: WaitingVisit) => Promise<void>;
  /** After someone was admitted (Today opens the visit). */
  onAdmitted?: (visit: WaitingVisit) => void;
  /** Told how many people wait, whenever that changes. */
  onCountChange?: (count: number) => void;
  id?: string;
}

/** One-click notes to someone waiting (any other text can be written). */
export const NOTE_PRESETS = ['Running 5 minutes late', 'Running 10 minutes late', 'I will be with you shortly'] as const;

/**
 * The waiting room of one or more visits: who is waiting (live), how long, and the host's answers: admit, admit
 * all, deny with a message, and a short note to the person waiting (a preset or free text: kept with the visit,
 * shown to them at once). The people come from the console-wide store (waiting.tsx), which also chimes and
 * keeps the count in the tab title.
 */
export function WaitingRoomPanel({ visits, grouped = false, beforeAdmit, onAdmitted, onCountChange, id }: Props) {
  const { lists: waiting, errors: loadErrors, refresh } = useWaitingRooms(visits.map((v) => v.id));
  const now = useNow(15_000);
  const total = visits.reduce((n, v) => n + (waiting[v.id]?.length ?? 0), 0);
  const countListener = useRef(onCountChange);
  countListener.current = onCountChange;
  useEffect(() => countListener.current?.(total), [total]);

  const headingId = useId();
  return (
    <section className="card waiting-room" aria-labelledby={headingId} id={id} tabIndex={-1}>
      <div className="row waiting-head">
        <h2 id={headingId}>Waiting room</h2>
        <span className={total > 0 ? 'badge waiting-count active' : 'badge waiting-count'} aria-label={`${total} waiting`}>
          {total}
        </span>
      </div>
      {visits.map((v) => (
        <ErrorNotice key={v.id} error={loadErrors[v.id]} />
      ))}
      {total === 0 ? <p className="muted waiting-empty">Nobody is waiting. You will hear a chime when someone arrives.</p> : null}
      {visits.map((visit) => {
        const people = waiting[visit.id] ?? [];
        if (people.length === 0) return null;
        return (
          <WaitingGroup
            key={visit.id}
            visit={visit}
            people={people}
            showLabel={grouped}
            now={now}
            refresh={() => refresh(visit.id)}
            {...(beforeAdmit ? { beforeAdmit } : {})}
            {...(onAdmitted ? { onAdmitted } : {})}
          />
        );
      })}
    </section>
  );
}

function WaitingGroup({
  visit,
  people,
  showLabel,
  now,
  refresh,
  beforeAdmit,
  onAdmitted,
}: {
  visit: WaitingVisit;
  people: VisitParticipant[];
  showLabel: boolean;
  now: number;
  refresh: () => Promise<void>;
  beforeAdmit?: (visit: WaitingVisit) => Promise<void>;
  onAdmitted?: (visit: WaitingVisit) => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');

  const admitAll = async () => {
    setBusy(true);
    setError('');
    try {
      await beforeAdmit?.(visit);
      await staffApi('POST', `/visits/${visit.id}/waiting-room/admit-all`);
      await refresh();
      onAdmitted?.(visit);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="waiting-group">
      {showLabel ? <h3 className="waiting-visit">{visit.label}</h3> : null}
      <ul className="waiting-list">
        {people.map((p) => (
          <WaitingPerson key={p.id} visit={visit} person={p} now={now} refresh={refresh} groupBusy={busy} {...(beforeAdmit ? { beforeAdmit } : {})} {...(onAdmitted ? { onAdmitted } : {})} />
        ))}
      </ul>
      <div className="row">
        <button type="button" onClick={() => void admitAll()} disabled={busy}>
          Admit all
        </button>
      </div>
      <ErrorNotice error={error} />
    </div>
  );
}

function WaitingPerson({
  visit,
  person,
  now,
  refresh,
  groupBusy,
  beforeAdmit,
  onAdmitted,
}: {
  visit: WaitingVisit;
  person: VisitParticipant;
  now: number;
  refresh: () => Promise<void>;
  groupBusy: boolean;
  beforeAdmit?: (visit: WaitingVisit) => Promise<void>;
  onAdmitted?: (visit: WaitingVisit) => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [denying, setDenying] = useState(false);
  const [message, setMessage] = useState('');
  const [noting, setNoting] = useState(false);
  const [note, setNote] = useState('');
  const [sent, setSent] = useState<ChatMessage | null>(null);
  const nameId = useId();
  const messageId = useId();
  const noteId = useId();
  const messageRef = useRef<HTMLTextAreaElement>(null);
  const denyRef = useRef<HTMLButtonElement>(null);
  const noteRef = useRef<HTMLButtonElement>(null);
  const firstPresetRef = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    if (denying) messageRef.current?.focus();
  }, [denying]);
  useEffect(() => {
    if (noting) firstPresetRef.current?.focus();
  }, [noting]);

  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    setError('');
    try {
      await work();
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
      return;
    }
    setBusy(false);
  };

  const admit = () =>
    run(async () => {
      await beforeAdmit?.(visit);
      await staffApi('POST', `/visits/${visit.id}/participants/${person.id}/admit`);
      await refresh();
      onAdmitted?.(visit);
    });

  const deny = (e: FormEvent) => {
    e.preventDefault();
    const text = message.trim();
    void run(async () => {
      await staffApi('POST', `/visits/${visit.id}/participants/${person.id}/deny`, text ? { message: text } : {});
      await refresh();
    });
  };

  const sendNote = (text: string) =>
    run(async () => {
      setSent(await staffApi<ChatMessage>('POST', `/visits/${visit.id}/participants/${person.id}/note`, { body: text }));
      setNote('');
      setNoting(false);
      setTimeout(() => noteRef.current?.focus(), 0);
    });

  const disabled = busy || groupBusy;
  return (
    <li className="waiting-person">
      <div className="waiting-who">
        <span id={nameId} className="waiting-name">
          {person.displayName}
        </span>
        <span className="badge">{ROLE_LABEL[person.role] ?? person.role}</span>
        <span className="muted waiting-time">
          {formatWaited(person.arrivedAt, now) === 'just arrived' ? 'Just arrived' : `Waiting ${formatWaited(person.arrivedAt, now)}`}
        </span>
      </div>
      {denying ? (
        <form className="deny-form stack" onSubmit={deny}>
          <label htmlFor={messageId}>Message to the patient</label>
          <textarea
            id={messageId}
            ref={messageRef}
            rows={2}
            maxLength={500}
            value={message}
            placeholder="Optional, e.g. “Sorry, we need to reschedule. We will call you.”"
            onChange={(e) => setMessage(e.target.value)}
          />
          <div className="row">
            <button type="submit" className="danger" disabled={disabled} aria-describedby={nameId}>
              Send and deny
            </button>
            <button
              type="button"
              disabled={disabled}
              onClick={() => {
                setDenying(false);
                setTimeout(() => denyRef.current?.focus(), 0);
              }}
            >
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <div className="row waiting-actions">
          <button type="button" className="primary" onClick={() => void admit()} disabled={disabled} aria-label={`Admit ${person.displayName}`}>
            Admit
          </button>
          <button type="button" ref={denyRef} onClick={() => setDenying(true)} disabled={disabled} aria-describedby={nameId}>
            Deny
          </button>
          <button
            type="button"
            ref={noteRef}
            onClick={() => setNoting((open) => !open)}
            disabled={disabled}
            aria-expanded={noting}
            aria-label={`Send a note to ${person.displayName}`}
          >
            Send a note
          </button>
        </div>
      )}
      {noting ? (
        <div className="note-form stack">
          <p className="note-form__title" id={`${noteId}-title`}>
            Note to {person.displayName}
          </p>
          <div className="row note-presets" role="group" aria-labelledby={`${noteId}-title`}>
            {NOTE_PRESETS.map((preset, i) => (
              <button key={preset} type="button" ref={i === 0 ? firstPresetRef : undefined} disabled={disabled} onClick={() => void sendNote(preset)}>
                {preset}
              </button>
            ))}
          </div>
          <form
            className="row note-custom"
            onSubmit={(e) => {
              e.preventDefault();
              if (note.trim()) void sendNote(note.trim());
            }}
          >
            <label htmlFor={noteId} className="visually-hidden">
              Your own note to {person.displayName}
            </label>
            <input id={noteId} value={note} maxLength={500} placeholder="Or write a short note…" autoComplete="off" onChange={(e) => setNote(e.target.value)} />
            <button type="submit" className="primary" disabled={disabled || !note.trim()}>
              Send note
            </button>
            <button
              type="button"
              disabled={busy}
              onClick={() => {
                setNoting(false);
                setTimeout(() => noteRef.current?.focus(), 0);
              }}
            >
              Cancel
            </button>
          </form>
        </div>
      ) : null}
      <p className="muted note-sent" role="status">
        {sent ? (
          <>
            Note sent: <q>{sent.body}</q>
          </>
        ) : null}
      </p>
      <ErrorNotice error={error} />
    </li>
  );
}
