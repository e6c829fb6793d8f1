import { useCallback, useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import type { Patient } from '../../shared/api/patients.js';
import { ApiError } from '../api.js';
import { staffApi } from './auth.js';
import { errorText, isAbort } from './format.js';
import { fullName } from './PatientPicker.js';
import { ErrorNotice, FormActions, Section } from './ui.js';

interface Page {
  data: Patient[];
  nextCursor: string | null;
}

type Field = 'givenName' | 'familyName' | 'phone';
const FIELD_LABEL: Record<Field, string> = { givenName: 'Given name', familyName: 'Family name', phone: 'Phone' };

/** The organisation's patients: search, add one, open one's profile. */
export function PatientsPage() {
  const [q, setQ] = useState('');
  const [page, setPage] = useState<Page | null>(null);
  const [more, setMore] = useState(false);
  const [error, setError] = useState('');
  const [adding, setAdding] = useState(false);
  const [added, setAdded] = useState('');
  const searchId = useId();
  const addButton = useRef<HTMLButtonElement>(null);

  const load = useCallback(async (term: string, signal?: AbortSignal) => {
    try {
      const result = await staffApi<Page>('GET', `/patients?limit=50${term ? `&q=${encodeURIComponent(term)}` : ''}`, undefined, signal);
      setPage(result);
      setError('');
    } catch (err) {
      if (!isAbort(err)) setError(errorText(err));
    }
  }, []);

  useEffect(() => {
    const controller = new AbortController();
    const term = q.trim();
    const timer = setTimeout(() => void load(term, controller.signal), term ? 250 : 0);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [q, load]);

  const loadMore = async () => {
    if (!page?.nextCursor) return;
    setMore(true);
    try {
      const term = q.trim();
      const next = await staffApi<Page>('GET', `/patients?limit=50&cursor=${encodeURIComponent(page.nextCursor)}${term ? `&q=${encodeURIComponent(term)}` : ''}`);
      setPage({ data: [...page.data, ...next.data], nextCursor: next.nextCursor });
    } catch (err) {
      setError(errorText(err));
    } finally {
      setMore(false);
    }
  };

  return (
    <div className="patients stack">
      <div className="page-head">
        <h1>Patients</h1>
        <button type="button" ref={addButton} className="primary" aria-expanded={adding} onClick={() => setAdding((v) => !v)}>
          Add patient
        </button>
      </div>
      {adding ? (
        <AddPatientForm
          onCancel={() => {
            setAdding(false);
            setTimeout(() => addButton.current?.focus(), 0);
          }}
          onAdded={(p) => {
            setAdding(false);
            setAdded(`${fullName(p)} was added.`);
            void load(q.trim());
          }}
        />
      ) : null}
      <p className="notice" role="status" hidden={!added}>
        {added}
      </p>
      <div className="card stack">
        <div>
          <label htmlFor={searchId}>Search patients</label>
          <input id={searchId} type="search" value={q} onChange={(e) => setQ(e.target.value)} placeholder="Name, phone, email or record number" autoComplete="off" />
        </div>
        <ErrorNotice error={error} />
        {page === null && !error ? <p className="muted">Loading patients…</p> : null}
        {page !== null && page.data.length === 0 ? <p className="muted">{q.trim() ? `No patients match “${q.trim()}”.` : 'No patients yet. Add the first one.'}</p> : null}
        {page !== null && page.data.length > 0 ? (
          <ul className="patient-list" aria-label="Patients">
            {page.data.map((p) => (
              <li key={p.id} className="patient-item">
                <Link className="patient-name" to={`/patients/${p.id}`}>
                  {fullName(p)}
                </Link>
                <div className="muted patient-meta">
                  {[p.dateOfBirth ? `Born ${p.dateOfBirth}` : null, p.phone, p.email].filter(Boolean).join(' · ') || 'No contact details'}
                </div>
              </li>
            ))}
          </ul>
        ) : null}
        {page?.nextCursor ? (
          <button type="button" onClick={() => void loadMore()} disabled={more}>
            {more ? 'Loading…' : 'Show more patients'}
          </button>
        ) : null}
      </div>
    </div>
  );
}

function AddPatientForm({ onAdded, onCancel }: { onAdded: (p: Patient) => void; onCancel: () => void }) {
  const [values, setValues] = useState<Record<Field, string>>({ givenName: '', familyName: '', phone: '' });
  const [fieldErrors, setFieldErrors] = useState<Partial<Record<Field, string>>>({});
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const ids: Record<Field, string> = { givenName: useId(), familyName: useId(), phone: useId() };
  const refs = { givenName: useRef<HTMLInputElement>(null), familyName: useRef<HTMLInputElement>(null), phone: useRef<HTMLInputElement>(null) };

  useEffect(() => {
    refs.givenName.current?.focus();
    // Focus once, when the form opens.
  }, []);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const local: Partial<Record<Field, string>> = {};
    if (!values.givenName.trim()) local.givenName = 'Enter the given name.';
    if (!values.familyName.trim()) local.familyName = 'Enter the family name.';
    setFieldErrors(local);
    setError('');
    const first = (['givenName', 'familyName'] as const).find((f) => local[f]);
    if (first) return refs[first].current?.focus();
    setBusy(true);
    try {
      const phone = values.phone.trim();
      const patient = await staffApi<Patient>('POST', '/patients', { givenName: values.givenName.trim(), familyName: values.familyName.trim(), ...(phone ? { phone } : {}) });
      onAdded(patient);
    } catch (err) {
      const byField: Partial<Record<Field, string>> = {};
      if (err instanceof ApiError && Array.isArray(err.details)) {
        for (const d of err.details as { path?: string; message?: string }[]) {
          const field = d.path?.split('/').pop() as Field | undefined;
          if (field && field in FIELD_LABEL) byField[field] = `${FIELD_LABEL[field]} ${d.message ?? 'is not valid'}.`;
        }
      }
      // A phone number the server could not read comes back as its own error code.
      if (err instanceof ApiError && err.code === 'invalid_phone_number' && !byField.phone) byField.phone = err.message;
      setFieldErrors(byField);
      setError(Object.keys(byField).length > 0 ? 'Please correct the highlighted fields.' : errorText(err));
      const first = (['givenName', 'familyName', 'phone'] as const).find((f) => byField[f]);
      if (first) refs[first].current?.focus();
      setBusy(false);
    }
  };

  const field = (name: Field, extra: { optional?: boolean; type?: string; autoComplete: string }) => (
    <div>
      <label htmlFor={ids[name]}>
        {FIELD_LABEL[name]}
        {extra.optional ? <span className="muted optional"> (optional)</span> : null}
      </label>
      <input
        id={ids[name]}
        ref={refs[name]}
        type={extra.type ?? 'text'}
        value={values[name]}
        autoComplete={extra.autoComplete}
        aria-invalid={fieldErrors[name] ? true : undefined}
        aria-describedby={fieldErrors[name] ? `${ids[name]}-error` : undefined}
        onChange={(e) => setValues((v) => ({ ...v, [name]: e.target.value }))}
      />
      {fieldErrors[name] ? (
        <p id={`${ids[name]}-error`} className="field-error">
          {fieldErrors[name]}
        </p>
      ) : null}
    </div>
  );

  return (
    <Section title="Add a patient">
      <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
        <div className="form-grid">
          {field('givenName', { autoComplete: 'off' })}
          {field('familyName', { autoComplete: 'off' })}
          {field('phone', { optional: true, type: 'tel', autoComplete: 'off' })}
        </div>
        <ErrorNotice error={error} />
        <FormActions busy={busy} label="Save patient" busyLabel="Saving…" onCancel={onCancel} />
      </form>
    </Section>
  );
}
