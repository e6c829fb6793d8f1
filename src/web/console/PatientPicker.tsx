import { useEffect, useId, useState } from 'react';
import type { Patient } from '../../shared/api/patients.js';
import { staffApi } from './auth.js';
import { errorText, isAbort } from './format.js';
import { ErrorNotice } from './ui.js';

export function fullName(p: Pick<Patient, 'givenName' | 'familyName'>): string {
  return `${p.givenName} ${p.familyName}`.trim();
}

/** Search the organisation's patients and tick one or more. */
export function PatientPicker({ selected, onChange, autoFocus = false }: { selected: Patient[]; onChange: (next: Patient[]) => void; autoFocus?: boolean }) {
  const [q, setQ] = useState('');
  const [results, setResults] = useState<Patient[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState('');
  const searchId = useId();
  const listId = useId();

  useEffect(() => {
    const controller = new AbortController();
    const term = q.trim();
    const timer = setTimeout(
      () => {
        setLoading(true);
        staffApi<{ data: Patient[] }>('GET', `/patients?limit=50${term ? `&q=${encodeURIComponent(term)}` : ''}`, undefined, controller.signal).then(
          (page) => {
            setResults(page.data);
            setError('');
            setLoading(false);
          },
          (err: unknown) => {
            if (isAbort(err)) return;
            setError(errorText(err));
            setLoading(false);
          },
        );
      },
      term ? 250 : 0,
    );
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [q]);

  const isSelected = (id: string) => selected.some((p) => p.id === id);
  const toggle = (p: Patient) => onChange(isSelected(p.id) ? selected.filter((s) => s.id !== p.id) : [...selected, p]);
  // Ticked patients stay listed (and untickable) even when a new search no longer finds them.
  const shown = [...selected.filter((s) => !results.some((r) => r.id === s.id)), ...results];

  return (
    <div className="patient-picker">
      <label htmlFor={searchId}>Search patients</label>
      <input id={searchId} type="search" value={q} autoComplete="off" autoFocus={autoFocus} onChange={(e) => setQ(e.target.value)} aria-controls={listId} />
      <ErrorNotice error={error} />
      <fieldset className="picker-list" id={listId} aria-busy={loading}>
        <legend className="visually-hidden">Patients</legend>
        {shown.length === 0 && !loading ? <p className="muted">No patients match “{q.trim()}”.</p> : null}
        {shown.map((p) => (
          <label key={p.id} className="picker-item">
            <input type="checkbox" checked={isSelected(p.id)} onChange={() => toggle(p)} />
            <span>{fullName(p)}</span>
            {p.dateOfBirth ? <span className="muted picker-dob">born {p.dateOfBirth}</span> : null}
          </label>
        ))}
      </fieldset>
    </div>
  );
}
