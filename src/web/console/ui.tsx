/**
 * Small pieces the console's pages share: a titled card, a fact in a list, a link to copy, tabs, an error notice,
 * a form's buttons and what a page shows until its data is in.
 */
import { useEffect, useId, useRef, useState, type KeyboardEvent, type ReactNode } from 'react';

/** An error, announced as it appears (role="alert"); nothing while there is none. */
export function ErrorNotice({ error }: { error: string | null | undefined }) {
  return error ? (
    <p className="notice error" role="alert">
      {error}
    </p>
  ) : null;
}

/**
 * A form's buttons: the submit button (its label says "Saving…" and the like while `busy`, and it is disabled then)
 * and, with `onCancel`, a Cancel button.
 */
export function FormActions({ busy, label, busyLabel, onCancel }: { busy: boolean; label: string; busyLabel: string; onCancel?: () => void }) {
  return (
    <div className="row">
      <button type="submit" className="primary" disabled={busy}>
        {busy ? busyLabel : label}
      </button>
      {onCancel ? (
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
      ) : null}
    </div>
  );
}

/** A load that failed: the message and, with `onRetry` (leave it out where trying again cannot help), Try again. */
export function RetryNotice({ error, onRetry }: { error: string; onRetry?: (() => unknown) | undefined }) {
  return error ? (
    <div className="notice error" role="alert">
      <p>{error}</p>
      {onRetry ? (
        <button type="button" onClick={() => void onRetry()}>
          Try again
        </button>
      ) : null}
    </div>
  ) : null;
}

/** What a page shows until its data is in: a muted `loading` line ("Loading the visit…"), or why it could not load. */
export function LoadState({ loading, error, onRetry }: { loading: string; error: string; onRetry?: (() => unknown) | undefined }) {
  return error ? <RetryNotice error={error} onRetry={onRetry} /> : <p className="muted">{loading}</p>;
}

/** A card named by its h2 heading, with `actions` (buttons, links) beside the heading where given. */
export function Section({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  const id = useId();
  return (
    <section className="card stack" aria-labelledby={id}>
      {actions ? (
        <div className="section-head">
          <h2 id={id}>{title}</h2>
          {actions}
        </div>
      ) : (
        <h2 id={id}>{title}</h2>
      )}
      {children}
    </section>
  );
}

/** One term and its value inside a `<dl className="facts">`. */
export function Fact({ term, children }: { term: string; children: ReactNode }) {
  return (
    <div className="fact">
      <dt>{term}</dt>
      <dd>{children}</dd>
    </div>
  );
}

/** A link in a read-only field with a Copy button (falls back to selecting it where the clipboard is not allowed). */
export function CopyLink({ label, value, about, copiedText = 'Link copied.', autoFocus = false }: {
  label: string;
  value: string;
  about?: ReactNode;
  copiedText?: string;
  autoFocus?: boolean;
}) {
  const id = useId();
  const field = useRef<HTMLInputElement>(null);
  const [status, setStatus] = useState('');

  useEffect(() => {
    if (!autoFocus) return;
    field.current?.focus();
    field.current?.select();
  }, [autoFocus]);

  const copy = async () => {
    try {
      if (!navigator.clipboard) throw new Error('no clipboard');
      await navigator.clipboard.writeText(value);
      setStatus(copiedText);
    } catch {
      field.current?.focus();
      field.current?.select();
      setStatus('The link is selected: press Ctrl+C (⌘C on a Mac) to copy it.');
    }
  };

  return (
    <div className="stack">
      <div>
        <label htmlFor={id}>{label}</label>
        <div className="copy-row">
          <input id={id} ref={field} readOnly value={value} onFocus={(e) => e.currentTarget.select()} aria-describedby={about ? `${id}-about` : undefined} />
          <button type="button" className="primary" onClick={() => void copy()}>
            Copy link
          </button>
        </div>
      </div>
      <p className="muted" role="status">
        {status}
      </p>
      {about ? (
        <p id={`${id}-about`} className="muted field-hint">
          {about}
        </p>
      ) : null}
    </div>
  );
}

export interface TabSpec<K extends string> {
  key: K;
  label: ReactNode;
}

/**
 * Tabs (WAI-ARIA tabs pattern: arrow keys, Home and End move between tabs; one tab stop). Each panel is mounted
 * the first time it is shown and then kept (hidden), so a draft or a scroll position survives a switch.
 */
export function Tabs<K extends string>({ label, tabs, current, onChange, render }: {
  label: string;
  tabs: TabSpec<K>[];
  current: K;
  onChange: (key: K) => void;
  render: (key: K) => ReactNode;
}) {
  const base = useId();
  const refs = useRef(new Map<K, HTMLButtonElement>());
  const [visited, setVisited] = useState<Set<K>>(() => new Set([current]));
  useEffect(() => {
    setVisited((v) => (v.has(current) ? v : new Set([...v, current])));
  }, [current]);

  const onKeyDown = (e: KeyboardEvent<HTMLButtonElement>) => {
    const i = tabs.findIndex((t) => t.key === current);
    const to = e.key === 'ArrowRight' ? (i + 1) % tabs.length : e.key === 'ArrowLeft' ? (i - 1 + tabs.length) % tabs.length : e.key === 'Home' ? 0 : e.key === 'End' ? tabs.length - 1 : -1;
    if (to < 0) return;
    e.preventDefault();
    const key = tabs[to]!.key;
    onChange(key);
    refs.current.get(key)?.focus();
  };

  return (
    <div className="tabs">
      <div role="tablist" aria-label={label} className="tab-list">
        {tabs.map((t) => (
          <button
            key={t.key}
            ref={(el) => {
              if (el) refs.current.set(t.key, el);
              else refs.current.delete(t.key);
            }}
            type="button"
            role="tab"
            id={`${base}-tab-${t.key}`}
            aria-selected={t.key === current}
            aria-controls={`${base}-panel-${t.key}`}
            tabIndex={t.key === current ? 0 : -1}
            className="tab"
            onClick={() => onChange(t.key)}
            onKeyDown={onKeyDown}
          >
            {t.label}
          </button>
        ))}
      </div>
      {tabs.map((t) =>
        visited.has(t.key) || t.key === current ? (
          <div key={t.key} role="tabpanel" id={`${base}-panel-${t.key}`} aria-labelledby={`${base}-tab-${t.key}`} hidden={t.key !== current} className="tab-panel">
            {render(t.key)}
          </div>
        ) : null,
      )}
    </div>
  );
}
