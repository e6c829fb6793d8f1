import { useId, useState, type FormEvent } from 'react';
import type { Appointment } from '../../shared/api/appointments.js';
import type { Patient } from '../../shared/api/patients.js';
import type { Visit } from '../../shared/api/visits.js';
import { staffApi } from './auth.js';
import { errorText, timeIn, zonedTime } from './format.js';
import { PatientPicker } from './PatientPicker.js';
import { ErrorNotice, FormActions, Section } from './ui.js';

/** "New instant visit": pick the patient(s), the visit opens now and the page goes to it. */
export function InstantVisitPanel({ onCreated, onClose }: { onCreated: (visit: Visit) => void; onClose: () => void }) {
  const [selected, setSelected] = useState<Patient[]>([]);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (selected.length === 0) return setError('Choose at least one patient.');
    setBusy(true);
    setError('');
    try {
      onCreated(await staffApi<Visit>('POST', '/visits', { patientIds: selected.map((p) => p.id), start: true }));
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };

  return (
    <Section title="New instant visit">
      <p className="muted">The visit opens now. Invite the patient from the visit page to send them their link.</p>
      <form className="stack" onSubmit={(e) => void submit(e)}>
        <PatientPicker selected={selected} onChange={setSelected} autoFocus />
        <ErrorNotice error={error} />
        <FormActions busy={busy} label="Start instant visit" busyLabel="Starting…" onCancel={onClose} />
      </form>
    </Section>
  );
}

/** "New appointment": the signed-in clinician's video appointment (a group one with several patients). */
export function AppointmentPanel({
  clinicianId,
  timeZone,
  day,
  onCreated,
  onClose,
}: {
  clinicianId: string;
  timeZone: string;
  day: string;
  onCreated: (appointment: Appointment) => void;
  onClose: () => void;
}) {
  const [selected, setSelected] = useState<Patient[]>([]);
  const [date, setDate] = useState(day);
  const [time, setTime] = useState(() => {
    // The next quarter hour.
    const t = new Date(Math.ceil(Date.now() / 900_000) * 900_000);
    return timeIn(t, timeZone);
  });
  const [duration, setDuration] = useState('50');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const ids = { date: useId(), time: useId(), duration: useId() };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const minutes = Number(duration);
    if (selected.length === 0) return setError('Choose at least one patient.');
    if (!/^\d{4}-\d{2}-\d{2}$/.test(date) || !/^\d{2}:\d{2}$/.test(time)) return setError('Enter the date and start time.');
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 1440) return setError('The duration is a number of minutes (1 to 1440).');
    setBusy(true);
    setError('');
    try {
      const appointment = await staffApi<Appointment>('POST', '/appointments', {
        kind: selected.length > 1 ? 'group' : 'video',
        clinicianId,
        patientIds: selected.map((p) => p.id),
        startsAt: zonedTime(date, time, timeZone).toISOString(),
        durationMinutes: minutes,
      });
      onCreated(appointment);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };

  return (
    <Section title="New appointment">
      <form className="stack" onSubmit={(e) => void submit(e)}>
        <PatientPicker selected={selected} onChange={setSelected} autoFocus />
        <div className="form-grid">
          <div>
            <label htmlFor={ids.date}>Date</label>
            <input id={ids.date} type="date" value={date} onChange={(e) => setDate(e.target.value)} required />
          </div>
          <div>
            <label htmlFor={ids.time}>Start time</label>
            <input id={ids.time} type="time" value={time} onChange={(e) => setTime(e.target.value)} required />
          </div>
          <div>
            <label htmlFor={ids.duration}>Duration (minutes)</label>
            <input id={ids.duration} type="number" inputMode="numeric" min={1} max={1440} value={duration} onChange={(e) => setDuration(e.target.value)} required />
          </div>
        </div>
        <ErrorNotice error={error} />
        <FormActions busy={busy} label="Save appointment" busyLabel="Saving…" onCancel={onClose} />
      </form>
    </Section>
  );
}
