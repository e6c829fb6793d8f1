import { useCallback, useEffect, useId, useState, type FormEvent } from 'react';
import type { Patient } from '../../shared/api/patients.js';
import { ApiError } from '../api.js';
import { staffApi } from './auth.js';
import { errorText, formatDateTime, isAbort } from './format.js';
import { useHubEvents } from './hub.js';
import { IntakeFormBuilder } from './IntakeFormBuilder.js';
import { BLOCKED_TEXT, DELIVERY_LABEL, type IntakeForm, type IntakeRequest } from './messaging.js';
import { CopyLink, ErrorNotice, FormActions, Section } from './ui.js';

type Delivery = 'sms' | 'email_sms' | 'email';

/**
 * The Intake tab: the forms sent to the patient (sent or submitted, and when), reading a submitted form's answers,
 * "Send intake form" (SMS only, Email & SMS, Email only), and a small form builder. A submission arrives live
 * (the hub's intake.submitted).
 */
export function PatientIntake({ patient, timeZone, canSend }: { patient: Patient; timeZone: string; canSend: boolean }) {
  const [requests, setRequests] = useState<IntakeRequest[] | null>(null);
  const [forms, setForms] = useState<IntakeForm[] | null>(null);
  const [error, setError] = useState('');
  const [open, setOpen] = useState<string | null>(null);
  const [building, setBuilding] = useState(false);
  const [answersVersion, setAnswersVersion] = useState(0);
  const [formId, setFormId] = useState('');
  const patientId = patient.id;

  const loadRequests = useCallback(
    async (signal?: AbortSignal) => {
      try {
        setRequests(await staffApi<IntakeRequest[]>('GET', `/patients/${patientId}/intake-requests`, undefined, signal));
        setError('');
      } catch (err) {
        if (!isAbort(err)) setError(errorText(err));
      }
    },
    [patientId],
  );
  const loadForms = useCallback(async (signal?: AbortSignal) => {
    try {
      setForms(await staffApi<IntakeForm[]>('GET', '/intake-forms', undefined, signal));
    } catch (err) {
      if (!isAbort(err)) setError(errorText(err));
    }
  }, []);

  useEffect(() => {
    const controller = new AbortController();
    void loadRequests(controller.signal);
    void loadForms(controller.signal);
    return () => controller.abort();
  }, [loadRequests, loadForms]);

  useHubEvents(
    (event) => {
      if (event.type === 'intake.submitted' && event.data.patientId === patientId) {
        void loadRequests();
        setAnswersVersion((v) => v + 1);
      }
    },
    () => void loadRequests(),
  );

  return (
    <div className="stack">
      <ErrorNotice error={error} />
      <Section title="Forms sent">
        {requests === null && !error ? <p className="muted">Loading…</p> : null}
        {requests !== null && requests.length === 0 ? <p className="muted">No intake forms have been sent to this patient yet.</p> : null}
        {requests !== null && requests.length > 0 ? (
          <ul className="intake-list" aria-label="Intake forms sent">
            {requests.map((r) => (
              <IntakeRequestRow
                key={r.id}
                request={r}
                timeZone={timeZone}
                canRead={canSend}
                open={open === r.id}
                answersVersion={answersVersion}
                onToggle={() => setOpen(open === r.id ? null : r.id)}
              />
            ))}
          </ul>
        ) : null}
      </Section>
      {canSend ? (
        <>
          {forms !== null && forms.length === 0 && !building ? (
            <Section title="Send intake form">
              <p>There are no intake forms yet. Create one with the questions patients should answer before a visit.</p>
              <div className="row">
                <button type="button" className="primary" onClick={() => setBuilding(true)}>
                  New form
                </button>
              </div>
            </Section>
          ) : null}
          {forms !== null && forms.length > 0 ? (
            <SendIntakePanel
              patient={patient}
              forms={forms}
              formId={forms.some((f) => f.id === formId) ? formId : forms[0]!.id}
              onFormIdChange={setFormId}
              timeZone={timeZone}
              onSent={() => void loadRequests()}
              onNewForm={() => setBuilding(true)}
              building={building}
            />
          ) : null}
          {building ? (
            <IntakeFormBuilder
              onCancel={() => setBuilding(false)}
              onCreated={(form) => {
                setBuilding(false);
                setForms((f) => [...(f ?? []), form].sort((a, b) => a.name.localeCompare(b.name)));
                setFormId(form.id);
              }}
            />
          ) : null}
        </>
      ) : null}
    </div>
  );
}

function IntakeRequestRow({ request: r, timeZone, canRead, open, answersVersion, onToggle }: {
  request: IntakeRequest;
  timeZone: string;
  canRead: boolean;
  open: boolean;
  answersVersion: number;
  onToggle: () => void;
}) {
  const titleId = useId();
  const expired = r.status === 'sent' && Date.parse(r.expiresAt) < Date.now();
  return (
    <li className="intake-item" data-status={r.status}>
      <div className="intake-head">
        <div>
          <h3 id={titleId} className="intake-name">
            {r.formName}
          </h3>
          <p className="muted intake-when">
            Sent {formatDateTime(r.createdAt, timeZone)} · {DELIVERY_LABEL[r.delivery] ?? r.delivery}
            {r.submittedAt ? ` · submitted ${formatDateTime(r.submittedAt, timeZone)}` : expired ? ' · link expired' : ` · link works until ${formatDateTime(r.expiresAt, timeZone)}`}
          </p>
        </div>
        <span className={`badge intake-${r.status}`}>{r.status === 'submitted' ? 'Submitted' : expired ? 'Expired' : 'Sent'}</span>
        {r.status === 'submitted' && canRead ? (
          <button type="button" aria-expanded={open} aria-describedby={titleId} onClick={onToggle}>
            {open ? 'Hide answers' : 'View answers'}
          </button>
        ) : null}
      </div>
      {open ? <IntakeAnswers requestId={r.id} formId={r.formId} version={answersVersion} /> : null}
    </li>
  );
}

/** A submitted form's answers, labelled with the form's questions (reading them is audited by the server). */
function IntakeAnswers({ requestId, formId, version }: { requestId: string; formId: string; version: number }) {
  const [data, setData] = useState<{ request: IntakeRequest; form: IntakeForm } | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    const controller = new AbortController();
    Promise.all([
      staffApi<IntakeRequest>('GET', `/intake-requests/${requestId}`, undefined, controller.signal),
      staffApi<IntakeForm>('GET', `/intake-forms/${formId}`, undefined, controller.signal),
    ]).then(
      ([request, form]) => setData({ request, form }),
      (err: unknown) => {
        if (!isAbort(err)) setError(errorText(err));
      },
    );
    return () => controller.abort();
  }, [requestId, formId, version]);

  if (error) return <ErrorNotice error={error} />;
  if (!data) return <p className="muted">Loading the answers…</p>;
  const answers = data.request.answers ?? {};
  const show = (v: string | boolean | undefined) => (v === undefined || v === '' ? 'No answer' : typeof v === 'boolean' ? (v ? 'Yes' : 'No') : v);
  return (
    <dl className="answers" aria-label={`Answers to ${data.form.name}`}>
      {data.form.fields.map((f) => (
        <div key={f.id} className="answer">
          <dt>{f.label}</dt>
          <dd>{show(answers[f.id])}</dd>
        </div>
      ))}
    </dl>
  );
}

function SendIntakePanel({ patient, forms, formId, onFormIdChange, timeZone, building, onSent, onNewForm }: {
  patient: Patient;
  forms: IntakeForm[];
  formId: string;
  onFormIdChange: (id: string) => void;
  timeZone: string;
  building: boolean;
  onSent: () => void;
  onNewForm: () => void;
}) {
  const [delivery, setDelivery] = useState<Delivery>('sms');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [sent, setSent] = useState<IntakeRequest | null>(null);
  const ids = { form: useId(), delivery: useId() };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    setSent(null);
    try {
      setSent(await staffApi<IntakeRequest>('POST', `/intake-forms/${formId}/send`, { patientId: patient.id, delivery }));
      onSent();
    } catch (err) {
      setError(err instanceof ApiError && BLOCKED_TEXT[err.code] ? BLOCKED_TEXT[err.code]! : errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Section
      title="Send intake form"
      actions={
        building ? null : (
          <button type="button" onClick={onNewForm}>
            New form
          </button>
        )
      }
    >
      <form className="stack" onSubmit={(e) => void submit(e)}>
        <div>
          <label htmlFor={ids.form}>Form</label>
          <select id={ids.form} value={formId} onChange={(e) => onFormIdChange(e.target.value)}>
            {forms.map((f) => (
              <option key={f.id} value={f.id}>
                {f.name} ({f.fields.length} question{f.fields.length === 1 ? '' : 's'})
              </option>
            ))}
          </select>
        </div>
        <fieldset className="choice-group">
          <legend>Send by</legend>
          {(['sms', 'email_sms', 'email'] as const).map((d) => (
            <label key={d} className="choice">
              <input type="radio" name={ids.delivery} value={d} checked={delivery === d} onChange={() => setDelivery(d)} /> {DELIVERY_LABEL[d]}
            </label>
          ))}
        </fieldset>
        <ErrorNotice error={error} />
        <FormActions busy={busy} label="Send form" busyLabel="Sending…" />
      </form>
      {sent ? (
        <div className="stack">
          <p className="notice" role="status">
            “{sent.formName}” was sent ({DELIVERY_LABEL[sent.delivery] ?? sent.delivery}).
          </p>
          {sent.link ? (
            <CopyLink
              label="The patient’s link"
              value={sent.link}
              about={<>Already in the message to the patient. It works until {formatDateTime(sent.expiresAt, timeZone)}; keep it private.</>}
            />
          ) : null}
        </div>
      ) : null}
    </Section>
  );
}
