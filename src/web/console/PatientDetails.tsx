import { useId, useRef, useState, type FormEvent } from 'react';
import type { Patient } from '../../shared/api/patients.js';
import { staffApi } from './auth.js';
import { errorText, formatDateTime } from './format.js';
import { ErrorNotice, Fact, FormActions, Section } from './ui.js';

type ConsentKind = Patient['consents'][number]['kind'];

const CONSENT_LABEL: Record<ConsentKind, string> = {
  telehealth: 'Telehealth visits',
  recording: 'Recording',
  sms: 'Text messages (SMS)',
  email: 'Email',
};

const METHOD_LABEL = { verbal: 'Verbally (by phone or in person)', written: 'In writing', web: 'On a web form' } as const;
type Method = keyof typeof METHOD_LABEL;

export function consentOf(patient: Patient, kind: ConsentKind): Patient['consents'][number] | null {
  return patient.consents.find((c) => c.kind === kind) ?? null;
}

/** The Details tab: the patient's record and the consents in force, with "Record SMS consent". */
export function PatientDetails({ patient, timeZone, canWrite, onChanged }: { patient: Patient; timeZone: string; canWrite: boolean; onChanged: () => void }) {
  return (
    <div className="stack">
      <Section title="Record">
        <dl className="facts">
          <Fact term="Name">
            {patient.givenName} {patient.familyName}
          </Fact>
          <Fact term="Date of birth">{patient.dateOfBirth ?? 'Not recorded'}</Fact>
          <Fact term="Mobile phone">{patient.phone ?? 'None on file'}</Fact>
          <Fact term="Email">{patient.email ?? 'None on file'}</Fact>
          <Fact term="Time zone">{patient.timeZone.replace(/_/g, ' ')}</Fact>
          <Fact term="Record number">{patient.externalId ?? '—'}</Fact>
          <Fact term="Added">{formatDateTime(patient.createdAt, timeZone)}</Fact>
        </dl>
      </Section>
      <Section title="Consents in force">
        <ul className="consent-list" aria-label="Consents in force">
          {(Object.keys(CONSENT_LABEL) as ConsentKind[]).map((kind) => {
            const c = consentOf(patient, kind);
            return (
              <li key={kind} className="consent-item">
                <span className="consent-kind">{CONSENT_LABEL[kind]}</span>
                <span className={`badge consent-${c?.status ?? 'none'}`}>{c ? (c.status === 'granted' ? 'Agreed' : 'Withdrawn') : 'Not recorded'}</span>
                {c ? <span className="muted consent-when">{formatDateTime(c.recordedAt, timeZone)}</span> : null}
              </li>
            );
          })}
        </ul>
        {canWrite ? <RecordSmsConsent patientId={patient.id} current={consentOf(patient, 'sms')?.status ?? null} onRecorded={onChanged} /> : null}
      </Section>
    </div>
  );
}

/** "Record SMS consent": how the patient agreed to texts (or withdrew), written to the consent ledger. */
export function RecordSmsConsent({ patientId, current, onRecorded }: { patientId: string; current: 'granted' | 'revoked' | null; onRecorded: () => void }) {
  const [open, setOpen] = useState(false);
  const [status, setStatus] = useState<'granted' | 'revoked'>('granted');
  const [method, setMethod] = useState<Method>('verbal');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [done, setDone] = useState('');
  const ids = { heading: useId(), method: useId() };
  const toggle = useRef<HTMLButtonElement>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError('');
    try {
      await staffApi('POST', `/patients/${patientId}/consents`, { kind: 'sms', status, method });
      setOpen(false);
      setDone(status === 'granted' ? 'SMS consent recorded: the patient agreed to receive texts.' : 'Recorded: the patient withdrew consent to texts.');
      onRecorded();
      setTimeout(() => toggle.current?.focus(), 0);
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="stack record-consent">
      <div className="row">
        <button
          type="button"
          ref={toggle}
          aria-expanded={open}
          onClick={() => {
            setOpen((v) => !v);
            setStatus(current === 'granted' ? 'revoked' : 'granted');
            setDone('');
          }}
        >
          Record SMS consent
        </button>
      </div>
      <p className="muted" role="status" hidden={!done}>
        {done}
      </p>
      {open ? (
        <form className="stack consent-form" aria-labelledby={ids.heading} onSubmit={(e) => void submit(e)}>
          <h3 id={ids.heading}>SMS consent</h3>
          <fieldset className="choice-group">
            <legend>The patient</legend>
            <label className="choice">
              <input type="radio" name={`${ids.heading}-status`} checked={status === 'granted'} onChange={() => setStatus('granted')} /> agrees to receive text messages
            </label>
            <label className="choice">
              <input type="radio" name={`${ids.heading}-status`} checked={status === 'revoked'} onChange={() => setStatus('revoked')} /> withdraws consent to text messages
            </label>
          </fieldset>
          <div>
            <label htmlFor={ids.method}>How</label>
            <select id={ids.method} value={method} onChange={(e) => setMethod(e.target.value as Method)}>
              {(Object.keys(METHOD_LABEL) as Method[]).map((m) => (
                <option key={m} value={m}>
                  {METHOD_LABEL[m]}
                </option>
              ))}
            </select>
          </div>
          <ErrorNotice error={error} />
          <FormActions busy={busy} label="Save consent" busyLabel="Saving…" onCancel={() => setOpen(false)} />
        </form>
      ) : null}
    </div>
  );
}
