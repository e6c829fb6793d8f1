import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { ApiError } from '../api.js';
import { staffApi } from './auth.js';
import { errorText } from './format.js';
import type { IntakeField, IntakeForm } from './messaging.js';
import { ErrorNotice, FormActions, Section } from './ui.js';

type FieldType = IntakeField['type'];

const TYPE_LABEL: Record<FieldType, string> = {
  text: 'Short answer',
  textarea: 'Long answer',
  yesno: 'Yes / no',
  date: 'Date',
  choice: 'One of a list',
};

interface Draft {
  key: number;
  label: string;
  type: FieldType;
  required: boolean;
  /** For a choice: one option per line. */
  options: string;
}

/** A field id from its question: lowercase letters, digits and _, starting with a letter, unique in the form. */
function fieldIds(drafts: Draft[]): string[] {
  const used = new Set<string>();
  return drafts.map((d, i) => {
    const base = (d.label.toLowerCase().normalize('NFKD').replace(/[\u0300-\u036f]/g, '').replace(/[^a-z0-9]+/g, '_').replace(/^[^a-z]+|_+$/g, '') || `question_${i + 1}`).slice(0, 34);
    let id = base;
    for (let n = 2; used.has(id); n++) id = `${base}_${n}`;
    used.add(id);
    return id;
  });
}

let nextKey = 1;
const blank = (): Draft => ({ key: nextKey++, label: '', type: 'text', required: false, options: '' });

/** "New form": a name, an optional description and a few questions (short or long answer, yes/no, date, choice). */
export function IntakeFormBuilder({ onCreated, onCancel }: { onCreated: (form: IntakeForm) => void; onCancel: () => void }) {
  const [name, setName] = useState('');
  const [description, setDescription] = useState('');
  const [drafts, setDrafts] = useState<Draft[]>(() => [blank()]);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const ids = { name: useId(), description: useId() };
  const nameRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    nameRef.current?.focus();
  }, []);

  const update = (key: number, change: Partial<Draft>) => setDrafts((list) => list.map((d) => (d.key === key ? { ...d, ...change } : d)));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError('');
    const questions = drafts.filter((d) => d.label.trim() !== '');
    if (!name.trim()) return setError('Give the form a name.');
    if (questions.length === 0) return setError('Add at least one question.');
    const noOptions = questions.find((d) => d.type === 'choice' && d.options.split('\n').every((o) => !o.trim()));
    if (noOptions) return setError(`List the choices for “${noOptions.label.trim()}”, one per line.`);
    const idList = fieldIds(questions);
    setBusy(true);
    try {
      const form = await staffApi<IntakeForm>('POST', '/intake-forms', {
        name: name.trim(),
        ...(description.trim() ? { description: description.trim() } : {}),
        fields: questions.map((d, i) => ({
          id: idList[i]!,
          label: d.label.trim(),
          type: d.type,
          required: d.required,
          ...(d.type === 'choice' ? { options: [...new Set(d.options.split('\n').map((o) => o.trim()).filter(Boolean))] } : {}),
        })),
      });
      onCreated(form);
    } catch (err) {
      const details = err instanceof ApiError && Array.isArray(err.details) ? (err.details as { path?: string; message?: string }[]) : [];
      setError(details.length > 0 ? `${errorText(err)} ${details.map((d) => `${d.path ?? ''} ${d.message ?? ''}`.trim()).join('; ')}` : errorText(err));
      setBusy(false);
    }
  };

  return (
    <Section title="New intake form">
      <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
        <div>
          <label htmlFor={ids.name}>Form name</label>
          <input id={ids.name} ref={nameRef} value={name} maxLength={200} onChange={(e) => setName(e.target.value)} autoComplete="off" />
        </div>
        <div>
          <label htmlFor={ids.description}>
            Description<span className="muted optional"> (optional, shown to the patient)</span>
          </label>
          <textarea id={ids.description} rows={2} maxLength={2000} value={description} onChange={(e) => setDescription(e.target.value)} />
        </div>
        <ol className="builder-fields">
          {drafts.map((d, i) => (
            <BuilderField
              key={d.key}
              draft={d}
              index={i}
              canRemove={drafts.length > 1}
              onChange={(change) => update(d.key, change)}
              onRemove={() => setDrafts((list) => list.filter((x) => x.key !== d.key))}
            />
          ))}
        </ol>
        <div className="row">
          <button type="button" onClick={() => setDrafts((list) => [...list, blank()])} disabled={drafts.length >= 100}>
            Add question
          </button>
        </div>
        <ErrorNotice error={error} />
        <FormActions busy={busy} label="Save form" busyLabel="Saving…" onCancel={onCancel} />
      </form>
    </Section>
  );
}

function BuilderField({ draft, index, canRemove, onChange, onRemove }: {
  draft: Draft;
  index: number;
  canRemove: boolean;
  onChange: (change: Partial<Draft>) => void;
  onRemove: () => void;
}) {
  const ids = { label: useId(), type: useId(), options: useId() };
  const n = index + 1;
  return (
    <li className="builder-field">
      <fieldset>
        <legend>Question {n}</legend>
        <div className="form-grid">
          <div>
            <label htmlFor={ids.label}>Question {n} text</label>
            <input id={ids.label} value={draft.label} maxLength={300} onChange={(e) => onChange({ label: e.target.value })} autoComplete="off" />
          </div>
          <div>
            <label htmlFor={ids.type}>Question {n} answer type</label>
            <select id={ids.type} value={draft.type} onChange={(e) => onChange({ type: e.target.value as FieldType })}>
              {(Object.keys(TYPE_LABEL) as FieldType[]).map((t) => (
                <option key={t} value={t}>
                  {TYPE_LABEL[t]}
                </option>
              ))}
            </select>
          </div>
        </div>
        {draft.type === 'choice' ? (
          <div>
            <label htmlFor={ids.options}>Question {n} choices (one per line)</label>
            <textarea id={ids.options} rows={3} value={draft.options} onChange={(e) => onChange({ options: e.target.value })} />
          </div>
        ) : null}
        <div className="row builder-field-foot">
          <label className="checkbox">
            <input type="checkbox" checked={draft.required} onChange={(e) => onChange({ required: e.target.checked })} /> Question {n} is required
          </label>
          {canRemove ? (
            <button type="button" className="link-button" onClick={onRemove}>
              Remove question {n}
            </button>
          ) : null}
        </div>
      </fieldset>
    </li>
  );
}
