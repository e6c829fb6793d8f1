import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import type { Static } from 'typebox';
import type { PublicIntakeForm } from '../../shared/api/messaging.js';
import { ApiError, api } from '../api.js';
import './join.css';

type Form = Static<typeof PublicIntakeForm>;
type Field = Form['fields'][number];
type Answer = string | boolean;

const TOKEN_KEY = 'openvisit.intake';

type State =
  | { at: 'opening' }
  | { at: 'problem'; title: string; message: string }
  | { at: 'form'; form: Form }
  | { at: 'done'; orgName: string };

function problemOf(err: unknown): { title: string; message: string } {
  if (!(err instanceof ApiError)) return { title: 'Something went wrong', message: 'Please reload the page.' };
  switch (err.code) {
    case 'intake_link_invalid':
      return { title: 'This link does not work', message: err.message };
    case 'intake_link_expired':
      return { title: 'This link has expired', message: err.message };
    case 'intake_already_submitted':
      return { title: 'This form was already sent', message: 'The clinic has your answers. Thank you. You can close this page.' };
    case 'network_error':
      return { title: 'No connection', message: err.message };
    default:
      return { title: 'Something went wrong', message: err.message };
  }
}

function readToken(): string {
  let fromHash = window.location.hash.slice(1);
  try {
    fromHash = decodeURIComponent(fromHash).trim();
  } catch {
    // A mangled link: sent as it is, the server answers that it is not valid.
  }
  if (fromHash) {
    sessionStorage.setItem(TOKEN_KEY, fromHash);
    // The token never stays in the address bar (or the history, or a screenshot).
    history.replaceState(null, '', '/intake');
    return fromHash;
  }
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

/**
 * The patient's intake form, from the link in their text or email: the token after '#' (never sent to the server
 * in a URL, and removed from the address bar at once; kept in this tab so a reload still works) → the form → the
 * answers (required ones checked here and by the server) → "Thank you". No account.
 */
export function IntakePage() {
  // A link opened again in this tab (only its '#' part changes, so the page does not load again) opens anew.
  const [link, setLink] = useState(() => ({ token: readToken(), opened: 0 }));
  const token = link.token;
  const [state, setState] = useState<State>({ at: 'opening' });

  useEffect(() => {
    const onHashChange = () => {
      if (!window.location.hash.slice(1)) return;
      const next = readToken();
      setLink((l) => ({ token: next, opened: l.opened + 1 }));
    };
    window.addEventListener('hashchange', onHashChange);
    return () => window.removeEventListener('hashchange', onHashChange);
  }, []);

  useEffect(() => {
    document.title = 'Your form';
    setState({ at: 'opening' });
    if (!token) {
      setState({ at: 'problem', title: 'This link is incomplete', message: 'Open the whole link from your text or email (it ends with a long code).' });
      return;
    }
    let current = true;
    api<Form>('POST', '/intake/open', { token }).then(
      (form) => {
        if (!current) return;
        if (form.status === 'submitted') {
          sessionStorage.removeItem(TOKEN_KEY);
          setState({ at: 'problem', ...problemOf(new ApiError(409, 'intake_already_submitted', '')) });
        } else setState({ at: 'form', form });
      },
      (err: unknown) => {
        if (current) setState({ at: 'problem', ...problemOf(err) });
      },
    );
    return () => {
      current = false;
    };
  }, [link, token]);

  return (
    <main className="join intake">
      <header className="join-header">
        <span className="brand">{state.at === 'form' ? state.form.orgName : 'OpenVisit'}</span>
      </header>
      {state.at === 'opening' && <p role="status">Opening your form…</p>}
      {state.at === 'problem' && (
        <section className="card stack" role="alert">
          <h1>{state.title}</h1>
          <p>{state.message}</p>
        </section>
      )}
      {state.at === 'form' && (
        <IntakeForm
          key={link.opened}
          token={token}
          form={state.form}
          onDone={() => {
            sessionStorage.removeItem(TOKEN_KEY);
            setState({ at: 'done', orgName: state.form.orgName });
          }}
          onProblem={(err) => setState({ at: 'problem', ...problemOf(err) })}
        />
      )}
      {state.at === 'done' && (
        <section className="card stack" role="status">
          <h1>Thank you</h1>
          <p>{state.orgName} has your answers. You can close this page.</p>
        </section>
      )}
    </main>
  );
}

function isEmpty(v: Answer | undefined): boolean {
  return v === undefined || (typeof v === 'string' && v.trim() === '');
}

function IntakeForm({ token, form, onDone, onProblem }: { token: string; form: Form; onDone: () => void; onProblem: (err: unknown) => void }) {
  const [answers, setAnswers] = useState<Record<string, Answer>>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [summary, setSummary] = useState('');
  const [busy, setBusy] = useState(false);
  const titleId = useId();
  const refs = useRef(new Map<string, HTMLElement>());

  const focusFirst = (errs: Record<string, string>) => {
    const first = form.fields.find((f) => errs[f.id]);
    if (first) refs.current.get(first.id)?.focus();
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const local: Record<string, string> = {};
    for (const f of form.fields) {
      if (f.required && isEmpty(answers[f.id])) local[f.id] = f.type === 'yesno' ? 'Choose yes or no.' : f.type === 'choice' ? 'Choose one.' : 'Please answer this question.';
    }
    setErrors(local);
    if (Object.keys(local).length > 0) {
      setSummary(`Please answer the ${Object.keys(local).length === 1 ? 'required question' : `${Object.keys(local).length} required questions`} marked below.`);
      return focusFirst(local);
    }
    setSummary('');
    setBusy(true);
    const sent: Record<string, Answer> = {};
    for (const f of form.fields) {
      const v = answers[f.id];
      if (!isEmpty(v)) sent[f.id] = typeof v === 'string' ? v.trim() : v!;
    }
    try {
      await api('POST', '/intake/submit', { token, answers: sent });
      onDone();
    } catch (err) {
      setBusy(false);
      if (err instanceof ApiError && err.code === 'validation_failed' && Array.isArray(err.details)) {
        const byField: Record<string, string> = {};
        for (const d of err.details as { path?: string; message?: string }[]) {
          const id = d.path?.split('/').pop();
          if (id && form.fields.some((f) => f.id === id)) byField[id] = `This answer ${d.message ?? 'is not valid'}.`;
        }
        setErrors(byField);
        setSummary('Please check the answers marked below.');
        return focusFirst(byField);
      }
      if (err instanceof ApiError && ['intake_link_invalid', 'intake_link_expired', 'intake_already_submitted'].includes(err.code)) return onProblem(err);
      setSummary(err instanceof ApiError ? err.message : 'Your answers could not be sent. Try again.');
    }
  };

  const set = (id: string, v: Answer) => {
    setAnswers((a) => ({ ...a, [id]: v }));
    if (errors[id]) setErrors(({ [id]: _gone, ...rest }) => rest);
  };

  return (
    <form className="card stack intake-form" aria-labelledby={titleId} onSubmit={(e) => void submit(e)} noValidate>
      <h1 id={titleId}>{form.name}</h1>
      {form.description ? <p className="intake-description">{form.description}</p> : null}
      <p className="muted">Questions marked “optional” can be left empty.</p>
      {form.fields.map((f) => (
        <IntakeQuestion
          key={f.id}
          field={f}
          value={answers[f.id]}
          error={errors[f.id]}
          onChange={(v) => set(f.id, v)}
          inputRef={(el) => {
            if (el) refs.current.set(f.id, el);
            else refs.current.delete(f.id);
          }}
        />
      ))}
      {summary ? (
        <p className="notice error" role="alert">
          {summary}
        </p>
      ) : null}
      <button type="submit" className="primary intake-submit" disabled={busy}>
        {busy ? 'Sending…' : 'Send my answers'}
      </button>
    </form>
  );
}

function IntakeQuestion({ field: f, value, error, onChange, inputRef }: {
  field: Field;
  value: Answer | undefined;
  error: string | undefined;
  onChange: (v: Answer) => void;
  inputRef: (el: HTMLElement | null) => void;
}) {
  const id = useId();
  const errorId = `${id}-error`;
  const label = (
    <>
      {f.label}
      {f.required ? null : <span className="muted optional"> (optional)</span>}
    </>
  );
  const common = {
    id,
    'aria-invalid': error ? true : undefined,
    'aria-describedby': error ? errorId : undefined,
    'aria-required': f.required || undefined,
  } as const;
  const text = typeof value === 'string' ? value : '';
  const errorText = error ? (
    <p id={errorId} className="field-error">
      {error}
    </p>
  ) : null;

  if (f.type === 'yesno') {
    return (
      <fieldset
        role="radiogroup"
        className={`intake-question yesno${error ? ' has-error' : ''}`}
        aria-describedby={error ? errorId : undefined}
        aria-required={f.required || undefined}
        aria-invalid={error ? true : undefined}
      >
        <legend>{label}</legend>
        <div className="row">
          {([true, false] as const).map((v, i) => (
            <label key={String(v)} className="rating">
              <input type="radio" name={id} checked={value === v} onChange={() => onChange(v)} ref={i === 0 ? inputRef : undefined} /> {v ? 'Yes' : 'No'}
            </label>
          ))}
        </div>
        {errorText}
      </fieldset>
    );
  }
  return (
    <div className="intake-question">
      <label htmlFor={id}>{label}</label>
      {f.type === 'textarea' ? (
        <textarea {...common} ref={inputRef} rows={4} maxLength={5000} value={text} onChange={(e) => onChange(e.target.value)} />
      ) : f.type === 'choice' ? (
        <select {...common} ref={inputRef} value={text} onChange={(e) => onChange(e.target.value)}>
          <option value="">Choose…</option>
          {(f.options ?? []).map((o) => (
            <option key={o} value={o}>
              {o}
            </option>
          ))}
        </select>
      ) : (
        <input {...common} ref={inputRef} type={f.type === 'date' ? 'date' : 'text'} maxLength={5000} value={text} onChange={(e) => onChange(e.target.value)} autoComplete="off" />
      )}
      {errorText}
    </div>
  );
}
