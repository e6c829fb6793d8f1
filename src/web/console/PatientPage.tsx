import { Link, useParams, useSearchParams } from 'react-router';
import type { Patient } from '../../shared/api/patients.js';
import { useAuth } from './auth.js';
import { useStaffResource } from './hooks.js';
import { useHubEvents } from './hub.js';
import { consentChangedFor } from './messaging.js';
import { PatientChat } from './PatientChat.js';
import { PatientDetails } from './PatientDetails.js';
import { PatientIntake } from './PatientIntake.js';
import { fullName } from './PatientPicker.js';
import { LoadState, Tabs } from './ui.js';

const TABS = [
  { key: 'details', label: 'Details' },
  { key: 'chat', label: 'Chat' },
  { key: 'intake', label: 'Intake' },
] as const;
type Tab = (typeof TABS)[number]['key'];
const isTab = (v: string | null): v is Tab => TABS.some((t) => t.key === v);

/** A patient's profile: Details (the record, consents), Chat (SMS and email) and Intake (forms), as tabs (?tab=). */
export function PatientPage() {
  const { id = '' } = useParams();
  const { me } = useAuth();
  const timeZone = me.organization.timeZone;
  const canWrite = me.user.role === 'admin' || me.user.role === 'clinician';
  const [params, setParams] = useSearchParams();
  const tabParam = params.get('tab');
  const tab: Tab = isTab(tabParam) ? tabParam : 'details';
  // The record or its consents change here, elsewhere, or by the patient texting STOP / START: reloaded on those events.
  const { data: patient, error, retryable, reload: load, reloadSoon } = useStaffResource<Patient>(`/patients/${id}`, 150);
  useHubEvents((event) => {
    if (((event.type === 'patient.updated' || event.type === 'patient.archived' || event.type === 'patient.restored') && event.data.patientId === id) || consentChangedFor(event, id)) reloadSoon();
  }, reloadSoon);

  if (!patient) {
    return (
      <div className="stack">
        <p className="back-link">
          <Link to="/patients">← Patients</Link>
        </p>
        <LoadState loading="Loading the patient…" error={error} onRetry={retryable ? load : undefined} />
      </div>
    );
  }

  const meta = [patient.dateOfBirth ? `Born ${patient.dateOfBirth}` : null, patient.phone, patient.email].filter(Boolean).join(' · ');
  return (
    <div className="patient-page">
      <div className="page-head">
        <div>
          <p className="back-link">
            <Link to="/patients">← Patients</Link>
          </p>
          <h1>{fullName(patient)}</h1>
          <p className="muted page-sub">
            {meta || 'No contact details'}
            {patient.archived ? (
              <>
                {' '}
                <span className="badge">Archived</span>
              </>
            ) : null}
          </p>
        </div>
      </div>
      <Tabs
        key={patient.id}
        label={`${fullName(patient)}’s record`}
        tabs={[...TABS]}
        current={tab}
        onChange={(key) =>
          setParams(
            (p) => {
              const next = new URLSearchParams(p);
              if (key === 'details') next.delete('tab');
              else next.set('tab', key);
              return next;
            },
            { replace: true },
          )
        }
        render={(key) =>
          key === 'details' ? (
            <PatientDetails patient={patient} timeZone={timeZone} canWrite={canWrite} onChanged={() => void load()} />
          ) : key === 'chat' ? (
            <PatientChat patient={patient} timeZone={timeZone} canSend={canWrite} active={tab === 'chat'} onPatientChanged={() => void load()} />
          ) : (
            <PatientIntake patient={patient} timeZone={timeZone} canSend={canWrite} />
          )
        }
      />
    </div>
  );
}
