/**
 * The chat sidebar: the transcript (sender, time, text) and a box to write in (Enter sends, Shift+Enter breaks the line).
 * A private note (the host's note to one participant, `toParticipantId`) is labelled "Private note to <name>" ("to
 * you" for its recipient) and set apart: it was not said to everyone in the call.
 */
import { useEffect, useId, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent } from 'react';
import { clockTime } from '../time.js';
import type { Chat } from './useChat.js';

/**
 * `timeZone`: the zone message times are shown in (the clinic's in the console; the device's when omitted).
 * `nameOf`: a participant's name (for a private note's recipient).
 */
export function ChatPanel({ chat, me, timeZone, nameOf, onClose }: { chat: Chat; me: string | null; timeZone?: string; nameOf: (participantId: string) => string; onClose: () => void }) {
  const id = useId();
  const [draft, setDraft] = useState('');
  const [sending, setSending] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const listRef = useRef<HTMLOListElement>(null);
  const inputRef = useRef<HTMLTextAreaElement>(null);
  const stick = useRef(true);

  useEffect(() => {
    inputRef.current?.focus();
  }, []);

  // Keep the newest message in view unless the reader scrolled up to read older ones.
  useLayoutEffect(() => {
    const list = listRef.current;
    if (list && stick.current) list.scrollTop = list.scrollHeight;
  }, [chat.messages.length]);

  const submit = async (event?: FormEvent) => {
    event?.preventDefault();
    const body = draft.trim();
    if (!body || sending) return;
    setSending(true);
    setError(null);
    try {
      await chat.send(body);
      setDraft('');
      stick.current = true;
    } catch (err) {
      setError(err instanceof Error ? err.message : 'The message could not be sent.');
    } finally {
      setSending(false);
      inputRef.current?.focus();
    }
  };

  const onKeyDown = (event: KeyboardEvent<HTMLTextAreaElement>) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.nativeEvent.isComposing) {
      event.preventDefault();
      void submit();
    }
  };

  return (
    <section className="ov-side__panel" aria-labelledby={`${id}-title`}>
      <header className="ov-side__head">
        <h2 id={`${id}-title`}>Chat</h2>
        <button type="button" className="ov-close" aria-label="Close chat" onClick={onClose}>
          ×
        </button>
      </header>
      <ol
        ref={listRef}
        className="ov-chat__list"
        role="log"
        aria-label="Chat history"
        aria-live="polite"
        onScroll={(e) => {
          const el = e.currentTarget;
          stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        }}
      >
        {chat.messages.length === 0 ? <li className="ov-chat__empty muted">No messages yet. Messages are kept with the visit record.</li> : null}
        {chat.messages.map((m) => (
          <li key={m.id} className={`ov-chat__msg${m.participantId === me ? ' is-mine' : ''}${m.toParticipantId ? ' is-private' : ''}`}>
            {m.toParticipantId ? <p className="ov-chat__private">{m.toParticipantId === me ? 'Private note to you' : `Private note to ${nameOf(m.toParticipantId)}`}</p> : null}
            <div className="ov-chat__meta">
              <strong>{m.participantId === me ? 'You' : m.displayName}</strong>{' '}
              <time dateTime={m.createdAt}>{clockTime(m.createdAt, timeZone)}</time>
            </div>
            <p className="ov-chat__body">{m.body}</p>
          </li>
        ))}
      </ol>
      {chat.loadError ? (
        <p className="error" role="alert">
          {chat.loadError}{' '}
          <button type="button" onClick={() => void chat.load()}>
            Retry
          </button>
        </p>
      ) : null}
      <form className="ov-chat__form" onSubmit={(e) => void submit(e)}>
        <label htmlFor={`${id}-message`}>Message</label>
        <textarea
          id={`${id}-message`}
          ref={inputRef}
          rows={2}
          maxLength={4000}
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={onKeyDown}
          aria-describedby={error ? `${id}-error` : undefined}
        />
        <button type="submit" className="primary" disabled={sending || draft.trim() === ''}>
          Send
        </button>
        {error ? (
          <p id={`${id}-error`} className="error" role="alert">
            {error}
          </p>
        ) : null}
      </form>
    </section>
  );
}
