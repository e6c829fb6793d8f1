import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import type { Invite } from '../../shared/api/visits.js';
import { staffApi } from './auth.js';
import { errorText, formatDateTime } from './format.js';
import { LinkNotice } from './LinkNotice.js';
import { CopyLink, ErrorNotice, FormActions } from './ui.js';

export interface InvitablePatient {
  patientId: string;
  name: string;
}

type Role = 'patient' | 'guest' | 'interpreter' | 'caregiver';

interface Props {
  /** The visit to invite to (a function: Today creates the visit of an appointment on first invite). */
  visitId: () => Promise<string>;
  patients: InvitablePatient[];
  onClose: () => void;
  timeZone?: string;
}

/** Creates a join link (patient, guest, interpreter or caregiver) and shows it with a copy button. */
export function InvitePanel({ visitId, patients, onClose, timeZone }: Props) {
  const [role, setRole] = useState<Role>(patients.length > 0 ? 'patient' : 'guest');
  const [patientId, setPatientId] = useState(patients[0]?.patientId ?? '');
  const [name, setName] = useState('');
  const [sendVia, setSendVia] = useState<('sms' | 'email')[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const [invite, setInvite] = useState<Invite | null>(null);
  const ids = { role: useId(), patient: useId(), name: useId(), heading: useId() };
  const firstField = useRef<HTMLSelectElement>(null);

  useEffect(() => {
    firstField.current?.focus();
  }, []);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError('');
    if (role === 'patient' && !patientId) return setError('Choose the patient to invite.');
    if (role !== 'patient' && !name.trim()) return setError('Enter the name of the person you are inviting.');
    setBusy(true);
    try {
      const id = await visitId();
      const body = role === 'patient' ? { role, patientId, ...(sendVia.length > 0 ? { sendVia } : {}) } : { role, displayName: name.trim() };
      setInvite(await staffApi<Invite>('POST', `/visits/${id}/invites`, body));
    } catch (err) {
      setError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="invite-panel stack" aria-labelledby={ids.heading}>
      <h3 id={ids.heading}>Invite to this visit</h3>
      <LinkNotice where="invite" />
      {invite ? (
        <>
          <InviteLink invite={invite} {...(timeZone ? { timeZone } : {})} />
          {invite.messageIds?.length ? (
            <p className="notice" role="status">
              The link was also sent ({sendVia.map((c) => (c === 'sms' ? 'text message' : 'email')).join(' and ')}). Its delivery shows in the patient’s Chat tab.
            </p>
          ) : null}
        </>
      ) : (
        <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
          <div>
            <label htmlFor={ids.role}>Role</label>
            <select id={ids.role} ref={firstField} value={role} onChange={(e) => setRole(e.target.value as Role)}>
              {patients.length > 0 ? <option value="patient">Patient</option> : null}
              <option value="guest">Guest</option>
              <option value="interpreter">Interpreter</option>
              <option value="caregiver">Caregiver</option>
            </select>
          </div>
          {role === 'patient' ? (
            <div>
              <label htmlFor={ids.patient}>Patient</label>
              <select id={ids.patient} value={patientId} onChange={(e) => setPatientId(e.target.value)}>
                {patients.map((p) => (
                  <option key={p.patientId} value={p.patientId}>
                    {p.name}
                  </option>
                ))}
              </select>
            </div>
          ) : null}
          {role === 'patient' ? (
            <fieldset className="row">
              <legend>Also send the link</legend>
              {(['sms', 'email'] as const).map((channel) => (
                <label key={channel} className="checkbox">
                  <input
                    type="checkbox"
                    checked={sendVia.includes(channel)}
                    onChange={(e) => setSendVia((v) => (e.target.checked ? [...v, channel] : v.filter((c) => c !== channel)))}
                  />{' '}
                  {channel === 'sms' ? 'by text message' : 'by email'}
                </label>
              ))}
            </fieldset>
          ) : (
            <div>
              <label htmlFor={ids.name}>Name</label>
              <input id={ids.name} value={name} maxLength={120} autoComplete="off" onChange={(e) => setName(e.target.value)} aria-describedby={`${ids.name}-hint`} />
              <p id={`${ids.name}-hint`} className="muted field-hint">
                Shown to the clinician in the waiting room and in the call.
              </p>
            </div>
          )}
          <ErrorNotice error={error} />
          <FormActions busy={busy} label="Create link" busyLabel="Creating link…" onCancel={onClose} />
        </form>
      )}
      {invite ? (
        <div className="row">
          <button
            type="button"
            onClick={() => {
              setInvite(null);
              setName('');
            }}
          >
            Invite someone else
          </button>
          <button type="button" onClick={onClose}>
            Done
          </button>
        </div>
      ) : null}
    </section>
  );
}

function InviteLink({ invite, timeZone }: { invite: Invite; timeZone?: string }) {
  return (
    <CopyLink
      label="Join link"
      value={invite.url}
      autoFocus
      copiedText="Link copied. Paste it into a message to send it."
      about={
        <>
          For {invite.participant.displayName}. It works until {formatDateTime(invite.expiresAt, timeZone)}. Keep it private: anyone with this link can join as{' '}
          {invite.participant.displayName}.
        </>
      }
    />
  );
}
