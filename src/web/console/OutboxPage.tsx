import { useCallback, useEffect, useId, useRef, useState, type FormEvent, type RefObject } from 'react';
import { Link } from 'react-router';
import type { Patient } from '../../shared/api/patients.js';
import { ApiError } from '../api.js';
import { staffApi, useAuth } from './auth.js';
import { errorText, formatWhen, isAbort } from './format.js';
import { useNow } from './hooks.js';
import { useHubEvents } from './hub.js';
import { MessageStatus } from './MessageStatus.js';
import { CHANNEL_LABEL, messageEvent, PURPOSE_LABEL, useMessagingSettings, usesOutbox, type Message, type MessagePage } from './messaging.js';
import { fullName, PatientPicker } from './PatientPicker.js';
import { ErrorNotice, FormActions, RetryNotice, Section } from './ui.js';

type Mark = { status: 'delivered' | 'undelivered' | 'failed'; errorCode?: string; label: string };
const MARKS: Mark[] = [
  { status: 'delivered', label: 'Delivered' },
  { status: 'undelivered', errorCode: '30006', label: 'Undelivered (30006)' },
  { status: 'failed', label: 'Failed' },
];

/**
 * The Outbox (the demo provider: nothing leaves the machine). Every message it carried, newest first, with the
 * carrier's part played by hand: mark one delivered, undelivered (30006) or failed, and reply as the patient.
 * Below, incoming texts from numbers that match no patient, to file under one. Live through the hub.
 */
export function OutboxPage() {
  const { me } = useAuth();
  const timeZone = me.organization.timeZone;
  const canAct = me.user.role === 'admin' || me.user.role === 'clinician';
  const settings = useMessagingSettings();
  const now = useNow(30_000);
  const [page, setPage] = useState<MessagePage | null>(null);
  const [unmatched, setUnmatched] = useState<Message[] | null>(null);
  const [names, setNames] = useState<Record<string, string>>({});
  const [error, setError] = useState('');
  const [more, setMore] = useState(false);
  const [replyFrom, setReplyFrom] = useState('');
  const namesRef = useRef(names);
  namesRef.current = names;
  const shown = useRef(50);
  const replyBody = useRef<HTMLTextAreaElement>(null);

  const load = useCallback(async (signal?: AbortSignal) => {
    try {
      const [all, inbox] = await Promise.all([
        staffApi<MessagePage>('GET', `/messages?provider=outbox&limit=${Math.min(200, shown.current)}`, undefined, signal),
        staffApi<MessagePage>('GET', '/messages?unmatched=true&limit=50', undefined, signal),
      ]);
      setPage(all);
      setUnmatched(inbox.data);
      setError('');
      const missing = [...new Set(all.data.map((m) => m.patientId).filter((p): p is string => p !== null && !(p in namesRef.current)))];
      if (missing.length > 0) {
        const found = await Promise.all(
          missing.map((pid) =>
            staffApi<Patient>('GET', `/patients/${pid}`, undefined, signal).then(
              (p) => [pid, fullName(p)] as const,
              () => [pid, 'A patient'] as const,
            ),
          ),
        );
        setNames((n) => ({ ...n, ...Object.fromEntries(found) }));
      }
    } catch (err) {
      if (!isAbort(err)) setError(errorText(err));
    }
  }, []);

  useEffect(() => {
    const controller = new AbortController();
    void load(controller.signal);
    return () => controller.abort();
  }, [load]);

  // Live: any message event reloads the list (debounced: a send publishes created, then updated).
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  const reloadSoon = useCallback(() => {
    clearTimeout(timer.current);
    timer.current = setTimeout(() => void load(), 100);
  }, [load]);
  useHubEvents((event) => {
    if (messageEvent(event)) reloadSoon();
  }, reloadSoon);

  const loadMore = async () => {
    if (!page?.nextCursor) return;
    setMore(true);
    try {
      const next = await staffApi<MessagePage>('GET', `/messages?provider=outbox&limit=50&cursor=${encodeURIComponent(page.nextCursor)}`);
      shown.current = Math.min(200, shown.current + next.data.length);
      setPage({ data: [...page.data, ...next.data], nextCursor: next.nextCursor });
    } catch (err) {
      setError(errorText(err));
    } finally {
      setMore(false);
    }
  };

  if (settings !== null && !usesOutbox(settings)) {
    return (
      <div className="stack">
        <h1>Outbox</h1>
        <p className="notice">
          The outbox is not in use here: texts go through {settings.smsProvider} and email through {settings.emailProvider}. Their statuses come from those providers.
        </p>
      </div>
    );
  }

  return (
    <div className="outbox stack">
      <div className="page-head">
        <div>
          <h1>Outbox</h1>
          <p className="muted page-sub">The demo carrier: nothing leaves this machine. Play the carrier’s part and the patient’s replies here.</p>
        </div>
      </div>
      <RetryNotice error={error} onRetry={load} />
      <div className="outbox-grid">
        <Section title="Messages">
          {page === null && !error ? <p className="muted">Loading the outbox…</p> : null}
          {page !== null && page.data.length === 0 ? <p className="muted">Nothing has gone through the outbox yet.</p> : null}
          {page !== null && page.data.length > 0 ? (
            <ul className="outbox-list" aria-label="Outbox messages">
              {page.data.map((m) => (
                <OutboxRow
                  key={m.id}
                  message={m}
                  patientName={m.patientId ? (names[m.patientId] ?? '…') : null}
                  timeZone={timeZone}
                  now={now}
                  canAct={canAct}
                  onChanged={reloadSoon}
                  onReply={(from) => {
                    setReplyFrom(from);
                    replyBody.current?.focus();
                  }}
                />
              ))}
            </ul>
          ) : null}
          {page?.nextCursor ? (
            <button type="button" onClick={() => void loadMore()} disabled={more}>
              {more ? 'Loading…' : 'Show older messages'}
            </button>
          ) : null}
        </Section>
        <div className="stack outbox-side">
          {canAct ? <ReplyAsPatient from={replyFrom} onFromChange={setReplyFrom} bodyRef={replyBody} onSent={reloadSoon} /> : null}
          <Section title="Unmatched">
            <p className="muted field-hint">Texts from numbers that match no patient (or several). File each under the right patient.</p>
            {unmatched !== null && unmatched.length === 0 ? <p className="muted">None.</p> : null}
            {unmatched !== null && unmatched.length > 0 ? (
              <ul className="outbox-list" aria-label="Unmatched messages">
                {unmatched.map((m) => (
                  <UnmatchedRow key={m.id} message={m} timeZone={timeZone} now={now} canAct={canAct} onAssigned={reloadSoon} />
                ))}
              </ul>
            ) : null}
          </Section>
        </div>
      </div>
    </div>
  );
}

function OutboxRow({ message: m, patientName, timeZone, now, canAct, onChanged, onReply }: {
  message: Message;
  patientName: string | null;
  timeZone: string;
  now: number;
  canAct: boolean;
  onChanged: () => void;
  onReply: (from: string) => void;
}) {
  const titleId = useId();
  const [busy, setBusy] = useState(false);
  const [note, setNote] = useState('');
  const out = m.direction === 'outbound';
  // The carrier reports once the message was handed over (it has the provider's id); not after a final report.
  const markable = out && m.providerMessageId !== null && (m.status === 'sending' || m.status === 'sent');

  const mark = async (which: Mark) => {
    setBusy(true);
    setNote('');
    try {
      const updated = await staffApi<Message>('POST', `/outbox/messages/${m.id}/status`, { status: which.status, ...(which.errorCode ? { errorCode: which.errorCode } : {}) });
      // The server keeps the first final status: a later report changes nothing (and says so only by the answer).
      if (updated.status !== which.status) setNote(`Not changed: the message is already ${updated.status}.`);
      onChanged();
    } catch (err) {
      setNote(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <li className={`outbox-item ${out ? 'is-out' : 'is-in'}`} data-message-id={m.id} data-status={m.status}>
      <div className="outbox-head">
        <h3 id={titleId} className="outbox-title">
          {out ? `To ${m.to}` : `From ${m.from ?? 'unknown'}`}
          <span className="visually-hidden">, {m.body.slice(0, 60)}</span>
        </h3>
        <span className="badge">{CHANNEL_LABEL[m.channel]}</span>
        <span className="badge">{PURPOSE_LABEL[m.purpose]}</span>
        <time className="muted" dateTime={m.createdAt}>
          {formatWhen(m.createdAt, timeZone, now)}
        </time>
      </div>
      {patientName && m.patientId ? (
        <p className="outbox-patient">
          <Link to={`/patients/${m.patientId}?tab=chat`}>{patientName}</Link>
        </p>
      ) : null}
      {m.subject ? <p className="chat-subject">{m.subject}</p> : null}
      <p className="chat-body">{m.body}</p>
      <div className="row outbox-foot">
        <MessageStatus message={m} timeZone={timeZone} now={now} />
        {canAct && markable
          ? MARKS.map((which) => (
              <button key={which.status} type="button" className="small" disabled={busy} aria-describedby={titleId} onClick={() => void mark(which)}>
                {which.label}
              </button>
            ))
          : null}
        {canAct && out && m.channel === 'sms' ? (
          <button type="button" className="small link-button" aria-describedby={titleId} onClick={() => onReply(m.to)}>
            Reply as this patient
          </button>
        ) : null}
      </div>
      {note ? (
        <p className="muted field-hint" role="status">
          {note}
        </p>
      ) : null}
    </li>
  );
}

/** "Reply as patient": a text from a phone number, as if the patient answered (STOP, START and HELP included). */
function ReplyAsPatient({ from, onFromChange, bodyRef, onSent }: {
  from: string;
  onFromChange: (v: string) => void;
  bodyRef: RefObject<HTMLTextAreaElement | null>;
  onSent: () => void;
}) {
  const [body, setBody] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [done, setDone] = useState('');
  const ids = { from: useId(), body: useId() };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError('');
    setDone('');
    if (!from.trim() || !body.trim()) return setError('Enter the phone number it comes from and the text.');
    setBusy(true);
    try {
      const m = await staffApi<Message>('POST', '/outbox/inbound', { from: from.trim(), body: body.trim() });
      setBody('');
      setDone(m.patientId ? `Received from ${m.from ?? from}.` : `Received from ${m.from ?? from}: no patient has this number, so it is in Unmatched.`);
      onSent();
    } catch (err) {
      setError(err instanceof ApiError && err.code === 'invalid_phone_number' ? 'That is not a usable phone number.' : errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Section title="Reply as patient">
      <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
        <div>
          <label htmlFor={ids.from}>From number</label>
          <input id={ids.from} type="tel" value={from} onChange={(e) => onFromChange(e.target.value)} autoComplete="off" placeholder="+1 555 010 0000" />
        </div>
        <div>
          <label htmlFor={ids.body}>Text</label>
          <textarea id={ids.body} ref={bodyRef} rows={3} maxLength={1600} value={body} onChange={(e) => setBody(e.target.value)} aria-describedby={`${ids.body}-hint`} />
          <p id={`${ids.body}-hint`} className="muted field-hint">
            STOP, START and HELP work as they would from a phone.
          </p>
        </div>
        <ErrorNotice error={error} />
        <p className="muted" role="status" hidden={!done}>
          {done}
        </p>
        <FormActions busy={busy} label="Send reply" busyLabel="Sending…" />
      </form>
    </Section>
  );
}

function UnmatchedRow({ message: m, timeZone, now, canAct, onAssigned }: { message: Message; timeZone: string; now: number; canAct: boolean; onAssigned: () => void }) {
  const [open, setOpen] = useState(false);
  const [picked, setPicked] = useState<Patient[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const titleId = useId();
  const patient = picked.at(-1) ?? null;

  const assign = async () => {
    if (!patient) return setError('Choose the patient this text is from.');
    setBusy(true);
    setError('');
    try {
      await staffApi<Message>('POST', `/messages/${m.id}/assign`, { patientId: patient.id });
      setOpen(false);
      onAssigned();
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };

  return (
    <li className="outbox-item is-in" data-message-id={m.id}>
      <div className="outbox-head">
        <h3 id={titleId} className="outbox-title">
          From {m.from ?? 'unknown'}
        </h3>
        <time className="muted" dateTime={m.createdAt}>
          {formatWhen(m.createdAt, timeZone, now)}
        </time>
      </div>
      <p className="chat-body">{m.body}</p>
      {canAct ? (
        <div className="row">
          <button type="button" aria-expanded={open} aria-describedby={titleId} onClick={() => setOpen((v) => !v)}>
            Assign to patient
          </button>
        </div>
      ) : null}
      {open ? (
        <div className="stack assign-panel">
          {/* One patient: ticking another replaces the choice. */}
          <PatientPicker selected={patient ? [patient] : []} onChange={(next) => setPicked(next.slice(-1))} autoFocus />
          <ErrorNotice error={error} />
          <div className="row">
            <button type="button" className="primary" disabled={busy || !patient} onClick={() => void assign()} aria-describedby={titleId}>
              {busy ? 'Assigning…' : patient ? `Assign to ${fullName(patient)}` : 'Assign'}
            </button>
            <button type="button" onClick={() => setOpen(false)}>
              Cancel
            </button>
          </div>
        </div>
      ) : null}
    </li>
  );
}
