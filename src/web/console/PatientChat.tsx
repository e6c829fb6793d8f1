import { useCallback, useEffect, useId, useLayoutEffect, useMemo, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import type { Patient } from '../../shared/api/patients.js';
import { ApiError } from '../api.js';
import { staffApi } from './auth.js';
import { errorText, formatDateTime, formatWhen, isAbort, money } from './format.js';
import { useNow } from './hooks.js';
import { useHubEvents } from './hub.js';
import { MessageStatus } from './MessageStatus.js';
import { BLOCKED_TEXT, CHANNEL_LABEL, messageEvent, newer, PURPOSE_LABEL, type Message, type MessagePage, type MessagePreview } from './messaging.js';
import { RecordSmsConsent, consentOf } from './PatientDetails.js';
import { fullName } from './PatientPicker.js';
import { ErrorNotice, RetryNotice } from './ui.js';

const PAGE = 30;

function byTime(a: Message, b: Message): number {
  return Date.parse(a.createdAt) - Date.parse(b.createdAt) || (a.id < b.id ? -1 : 1);
}

/**
 * The Chat tab: the patient's conversation (SMS and email, both directions), oldest at the top, older pages on
 * demand, and a composer. New messages, replies and status changes arrive through the hub (each event names a
 * message: it is fetched again), never by polling.
 */
export function PatientChat({ patient, timeZone, canSend, active, onPatientChanged }: {
  patient: Patient;
  timeZone: string;
  canSend: boolean;
  /** The tab is shown (a hidden list has no height to scroll). */
  active: boolean;
  onPatientChanged: () => void;
}) {
  const [messages, setMessages] = useState<Record<string, Message>>({});
  const [older, setOlder] = useState<string | null>(null);
  const [loaded, setLoaded] = useState(false);
  const [loadingOlder, setLoadingOlder] = useState(false);
  const [error, setError] = useState('');
  const listRef = useRef<HTMLOListElement>(null);
  const stick = useRef(true);
  const keepFrom = useRef<number | null>(null);
  const now = useNow(30_000);
  const patientId = patient.id;

  const merge = useCallback(
    (list: Message[]) => {
      setMessages((prev) => {
        const next = { ...prev };
        for (const m of list) if (m.patientId === patientId) next[m.id] = newer(prev[m.id], m);
        return next;
      });
    },
    [patientId],
  );

  // The first page sets the cursor for older messages; a resync (the hub reconnected) keeps the reader's pages.
  const firstPage = useRef(true);
  const loadNewest = useCallback(
    async (signal?: AbortSignal) => {
      try {
        const page = await staffApi<MessagePage>('GET', `/patients/${patientId}/messages?limit=${PAGE}`, undefined, signal);
        merge(page.data);
        if (firstPage.current) setOlder(page.nextCursor);
        firstPage.current = false;
        setLoaded(true);
        setError('');
      } catch (err) {
        if (!isAbort(err)) setError(errorText(err));
      }
    },
    [patientId, merge],
  );

  useEffect(() => {
    const controller = new AbortController();
    void loadNewest(controller.signal);
    return () => controller.abort();
  }, [loadNewest]);

  const loadOlder = async () => {
    if (!older) return;
    setLoadingOlder(true);
    try {
      const page = await staffApi<MessagePage>('GET', `/patients/${patientId}/messages?limit=${PAGE}&before=${encodeURIComponent(older)}`);
      keepFrom.current = listRef.current ? listRef.current.scrollHeight - listRef.current.scrollTop : null;
      merge(page.data);
      setOlder(page.nextCursor);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setLoadingOlder(false);
    }
  };

  // Live: the event's status is shown at once (never backwards), then the message is fetched for the rest.
  const refetch = useCallback(
    (id: string) => {
      staffApi<Message>('GET', `/messages/${id}`).then(
        (m) => merge([m]),
        () => undefined,
      );
    },
    [merge],
  );
  useHubEvents(
    (event) => {
      const e = messageEvent(event);
      if (!e || e.patientId !== patientId) return;
      setMessages((prev) => {
        const current = prev[e.messageId];
        return current ? { ...prev, [e.messageId]: newer(current, { ...current, status: e.status, errorCode: e.errorCode }) } : prev;
      });
      refetch(e.messageId);
    },
    () => void loadNewest(),
  );

  const list = useMemo(() => Object.values(messages).sort(byTime), [messages]);

  // The newest message stays in view unless the reader scrolled up; loading older ones keeps the reader's place.
  useLayoutEffect(() => {
    const el = listRef.current;
    if (!el) return;
    if (keepFrom.current !== null) {
      el.scrollTop = el.scrollHeight - keepFrom.current;
      keepFrom.current = null;
    } else if (stick.current) el.scrollTop = el.scrollHeight;
  }, [list]);
  // A hidden tab has no height: scroll to the newest message when the tab is shown again.
  useLayoutEffect(() => {
    const el = listRef.current;
    if (active && el && stick.current) el.scrollTop = el.scrollHeight;
  }, [active]);

  const name = fullName(patient);
  return (
    <div className="chat stack">
      <RetryNotice error={error} onRetry={loadNewest} />
      <div className="card chat-card">
        {older ? (
          <div className="chat-older">
            <button type="button" onClick={() => void loadOlder()} disabled={loadingOlder}>
              {loadingOlder ? 'Loading…' : 'Load older messages'}
            </button>
          </div>
        ) : null}
        <ol
          ref={listRef}
          className="chat-log"
          role="log"
          aria-label={`Conversation with ${name}`}
          aria-live="polite"
          tabIndex={0}
          onScroll={(e) => {
            const el = e.currentTarget;
            stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
          }}
        >
          {!loaded && !error ? <li className="muted chat-empty">Loading the conversation…</li> : null}
          {loaded && list.length === 0 ? <li className="muted chat-empty">No messages yet. Messages sent here go to the patient by text or email.</li> : null}
          {list.map((m) => (
            <ChatMessage key={m.id} message={m} patientName={name} timeZone={timeZone} now={now} />
          ))}
        </ol>
      </div>
      {canSend ? (
        <Composer
          patient={patient}
          timeZone={timeZone}
          onSent={(m) => {
            stick.current = true;
            merge([m]);
          }}
          onPatientChanged={onPatientChanged}
        />
      ) : (
        <p className="muted">Your role can read conversations; clinicians and admins send messages.</p>
      )}
    </div>
  );
}

function ChatMessage({ message: m, patientName, timeZone, now }: { message: Message; patientName: string; timeZone: string; now: number }) {
  const out = m.direction === 'outbound';
  const who = out ? (m.purpose === 'chat' ? 'Clinic' : `Clinic · ${PURPOSE_LABEL[m.purpose]}`) : patientName;
  return (
    <li className={`chat-msg ${out ? 'is-out' : 'is-in'}${m.status === 'failed' || m.status === 'undelivered' ? ' has-problem' : ''}`} data-message-id={m.id} data-status={m.status}>
      <div className="chat-meta">
        <strong>{who}</strong>
        {m.channel === 'email' ? <span className="badge channel-badge">Email</span> : null}
        <time dateTime={m.createdAt}>{formatWhen(m.createdAt, timeZone, now)}</time>
      </div>
      {m.subject ? <p className="chat-subject">{m.subject}</p> : null}
      <p className="chat-body">{m.body}</p>
      {out ? (
        <div className="chat-foot">
          <MessageStatus message={m} timeZone={timeZone} now={now} />
        </div>
      ) : null}
    </li>
  );
}

type Channel = Message['channel'];

/**
 * The composer: SMS or email, Enter sends (Shift+Enter breaks the line). A debounced preview from the server
 * shows segments, encoding and the estimated cost, clinical words to keep out, quiet hours, and what blocks a
 * send (no number, no SMS consent, opted out): then Send is disabled and the reason is said.
 */
function Composer({ patient, timeZone, onSent, onPatientChanged }: { patient: Patient; timeZone: string; onSent: (m: Message) => void; onPatientChanged: () => void }) {
  const [channel, setChannel] = useState<Channel>('sms');
  const [subject, setSubject] = useState('');
  const [body, setBody] = useState('');
  const [urgent, setUrgent] = useState(false);
  const [preview, setPreview] = useState<(MessagePreview & { probe: boolean }) | null>(null);
  const [previewError, setPreviewError] = useState('');
  const [sending, setSending] = useState(false);
  const [sendError, setSendError] = useState('');
  const [sentCount, setSentCount] = useState(0);
  const textarea = useRef<HTMLTextAreaElement>(null);
  const ids = { heading: useId(), form: useId(), body: useId(), subject: useId(), meta: useId(), blocked: useId(), channel: useId() };
  // What the preview depends on in the record: a new number, email or consent asks the server again.
  const recordKey = `${patient.phone ?? ''}|${patient.email ?? ''}|${patient.archived}|${patient.consents.map((c) => `${c.kind}:${c.status}:${c.recordedAt}`).join(',')}`;

  useEffect(() => {
    const controller = new AbortController();
    const text = body.trim();
    // An empty draft still asks whether anything blocks a send (the preview takes no body for that).
    const input = { channel, ...(text ? { body: text } : {}), ...(channel === 'email' && subject.trim() ? { subject: subject.trim() } : {}), ...(urgent ? { urgent } : {}) };
    const timer = setTimeout(
      () => {
        staffApi<MessagePreview>('POST', `/patients/${patient.id}/messages/preview`, input, controller.signal).then(
          (p) => {
            setPreview({ ...p, probe: text === '' });
            setPreviewError('');
          },
          (err: unknown) => {
            if (isAbort(err)) return;
            setPreviewError(errorText(err));
          },
        );
      },
      text ? 350 : 0,
    );
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [patient.id, channel, subject, body, urgent, recordKey, sentCount]);

  // A preview for the other channel says nothing about this one.
  const current = preview && preview.channel === channel ? preview : null;
  const blockedBy = current?.blockedBy ?? null;
  const text = body.trim();
  const canSubmit = text !== '' && !sending && blockedBy === null;

  const submit = async (e?: FormEvent) => {
    e?.preventDefault();
    if (!canSubmit) return;
    setSending(true);
    setSendError('');
    try {
      const sent = await staffApi<Message>('POST', `/patients/${patient.id}/messages`, {
        channel,
        body: text,
        ...(channel === 'email' && subject.trim() ? { subject: subject.trim() } : {}),
        ...(urgent ? { urgent } : {}),
      });
      onSent(sent);
      setBody('');
      setSubject('');
      setUrgent(false);
      setSentCount((n) => n + 1);
    } catch (err) {
      setSendError(err instanceof ApiError && BLOCKED_TEXT[err.code] ? BLOCKED_TEXT[err.code]! : errorText(err));
      setSentCount((n) => n + 1);
    } finally {
      setSending(false);
      textarea.current?.focus();
    }
  };

  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      void submit();
    }
  };

  const meta = (() => {
    if (!current || current.probe) return channel === 'sms' ? 'Texts are split into segments of 160 characters (70 with emoji or accents).' : 'Email';
    if (current.channel === 'email') return 'Email · no per-message cost';
    const segs = `${current.segments} segment${current.segments === 1 ? '' : 's'}`;
    return `${segs} · ${current.encoding}${current.encoding === 'UCS-2' ? ' (special characters: 70 per segment)' : ''} · est. ${money(current.estimatedCost, current.currency)}`;
  })();

  return (
    // The notices sit outside the <form> (the consent one holds a form of its own); Send belongs to it by `form`.
    <section className="card stack composer" aria-labelledby={ids.heading}>
      <h2 id={ids.heading} className="visually-hidden">
        New message
      </h2>
      <form id={ids.form} className="stack" onSubmit={(e) => void submit(e)} noValidate>
        <fieldset className="channel-switch">
          <legend>Send by</legend>
          {(['sms', 'email'] as const).map((c) => (
            <label key={c} className="channel-option">
              <input type="radio" name={ids.channel} value={c} checked={channel === c} onChange={() => setChannel(c)} /> {CHANNEL_LABEL[c]}
            </label>
          ))}
        </fieldset>
        {channel === 'email' ? (
          <div>
            <label htmlFor={ids.subject}>
              Subject<span className="muted optional"> (optional)</span>
            </label>
            <input id={ids.subject} value={subject} maxLength={200} onChange={(e) => setSubject(e.target.value)} autoComplete="off" />
          </div>
        ) : null}
        <div>
          <label htmlFor={ids.body}>Message</label>
          <textarea
            id={ids.body}
            ref={textarea}
            rows={3}
            maxLength={1600}
            value={body}
            onChange={(e) => setBody(e.target.value)}
            onKeyDown={onKeyDown}
            aria-describedby={`${ids.meta}${blockedBy ? ` ${ids.blocked}` : ''}`}
          />
          <p id={ids.meta} className="muted field-hint composer-meta">
            {meta}
            <span className="visually-hidden">. Enter sends; Shift+Enter starts a new line.</span>
          </p>
        </div>
      </form>
      {blockedBy ? (
        <div id={ids.blocked} className="notice warn stack" role="status">
          <p>{BLOCKED_TEXT[blockedBy] ?? `This message cannot be sent (${blockedBy}).`}</p>
          {/* An opt-out is the patient's own word (STOP): it is undone by START, or by a new consent recorded on Details. */}
          {blockedBy === 'sms_consent_required' ? (
            <RecordSmsConsent patientId={patient.id} current={consentOf(patient, 'sms')?.status ?? null} onRecorded={onPatientChanged} />
          ) : null}
        </div>
      ) : null}
      {current && !current.probe && current.phiWarnings.length > 0 ? (
        <p className="notice warn" role="status">
          This message mentions {current.phiWarnings.map((w) => `“${w}”`).join(', ')}. Keep clinical details out of {channel === 'sms' ? 'texts' : 'email'}: ask
          the patient to call, or talk in a visit.
        </p>
      ) : null}
      {current && !blockedBy && (current.deferredByQuietHours || urgent) ? (
        <div className="notice">
          <p>{urgent ? 'Urgent: it goes now, even in the patient’s quiet hours.' : `Quiet hours for the patient: it will be sent at ${formatDateTime(current.sendAfter, timeZone)}.`}</p>
          <label className="checkbox">
            <input type="checkbox" checked={urgent} onChange={(e) => setUrgent(e.target.checked)} /> Urgent: send now
          </label>
        </div>
      ) : null}
      {current && !current.probe && !blockedBy && current.optOutNoticeAdded ? <p className="muted field-hint">“Reply STOP to opt out.” is added to the first text to this number.</p> : null}
      {previewError && text ? <p className="muted field-hint">{previewError}</p> : null}
      <ErrorNotice error={sendError} />
      <div className="row composer-actions">
        <button type="submit" form={ids.form} className="primary" disabled={!canSubmit}>
          {sending ? 'Sending…' : 'Send'}
        </button>
      </div>
    </section>
  );
}
