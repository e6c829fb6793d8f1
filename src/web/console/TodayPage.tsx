import { useCallback, useEffect, useId, useMemo, useRef, useState } from 'react';
import { Link, useNavigate } from 'react-router';
import type { Appointment } from '../../shared/api/appointments.js';
import type { Patient } from '../../shared/api/patients.js';
import type { Visit } from '../../shared/api/visits.js';
import { ApiError } from '../api.js';
import { staffApi, useAuth } from './auth.js';
import { browserTimeZone, dayIn, errorText, formatDay, formatTime, isAbort, startOfDay, VISIT_STATUS_LABEL } from './format.js';
import { useNow } from './hooks.js';
import { useHubEvents } from './hub.js';
import { InvitePanel, type InvitablePatient } from './InvitePanel.js';
import { AppointmentPanel, InstantVisitPanel } from './NewVisitPanels.js';
import { fullName } from './PatientPicker.js';
import { ErrorNotice, RetryNotice } from './ui.js';
import { WaitingRoomPanel, type WaitingVisit } from './WaitingRoomPanel.js';
import { LinkNotice } from './LinkNotice.js';

const KIND_LABEL: Record<string, string> = { group: 'Group', checkin: 'Check-in' };
const FINAL = new Set(['ended', 'cancelled', 'no_show']);

interface Row {
  /** An appointment and its visit share a key, so the row (and an open invite panel) survives the visit's creation. */
  key: string;
  startsAt: string;
  endsAt: string;
  kind: string;
  patients: InvitablePatient[];
  visit: Visit | null;
  appointment: Appointment | null;
}

export function patientsOfVisit(visit: Visit): InvitablePatient[] {
  return visit.participants.filter((p) => p.role === 'patient' && p.patientId).map((p) => ({ patientId: p.patientId!, name: p.displayName }));
}

export function visitTitle(visit: Visit): string {
  const names = visit.participants.filter((p) => p.role === 'patient').map((p) => p.displayName);
  return names.length > 0 ? names.join(', ') : 'Visit without a patient yet';
}

/** Today: the signed-in clinician's visits and appointments for the day, the waiting room, new visits and invites. */
export function TodayPage() {
  const { me } = useAuth();
  const navigate = useNavigate();
  const timeZone = me.organization.timeZone;
  const now = useNow(60_000);
  const day = dayIn(new Date(now), timeZone);

  const [visits, setVisits] = useState<Visit[] | null>(null);
  const [appointments, setAppointments] = useState<Appointment[]>([]);
  const [names, setNames] = useState<Record<string, string>>({});
  const [error, setError] = useState('');
  const [panel, setPanel] = useState<'instant' | 'appointment' | null>(null);
  const namesRef = useRef(names);
  namesRef.current = names;

  const load = useCallback(
    async (signal?: AbortSignal) => {
      try {
        const from = startOfDay(day, timeZone).toISOString();
        const to = startOfDay(day, timeZone, 1).toISOString();
        const me_ = me.user.id;
        const [v, a] = await Promise.all([
          staffApi<{ data: Visit[] }>('GET', `/visits?day=${day}&hostUserId=${me_}&limit=200`, undefined, signal),
          staffApi<{ data: Appointment[] }>('GET', `/appointments?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&clinicianId=${me_}&limit=200`, undefined, signal),
        ]);
        setVisits(v.data);
        setAppointments(a.data);
        setError('');
        // Appointments carry patient ids: fetch the names not known yet.
        const missing = [...new Set(a.data.flatMap((x) => x.patientIds))].filter((id) => !(id in namesRef.current));
        if (missing.length > 0) {
          const found = await Promise.all(
            missing.map((id) =>
              staffApi<Patient>('GET', `/patients/${id}`, undefined, signal).then(
                (p) => [id, fullName(p)] as const,
                () => [id, 'A patient'] as const,
              ),
            ),
          );
          setNames((n) => ({ ...n, ...Object.fromEntries(found) }));
        }
      } catch (err) {
        if (!isAbort(err)) setError(errorText(err));
      }
    },
    [day, timeZone, me.user.id],
  );

  useEffect(() => {
    const controller = new AbortController();
    void load(controller.signal);
    return () => controller.abort();
  }, [load]);

  // Live: any change to visits or appointments reloads the day (debounced: one action publishes several events).
  const reloadTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const scheduleReload = useCallback(() => {
    clearTimeout(reloadTimer.current);
    reloadTimer.current = setTimeout(() => void load(), 300);
  }, [load]);
  useEffect(() => () => clearTimeout(reloadTimer.current), []);
  useHubEvents((event) => {
    if (event.type.startsWith('visit.') || event.type.startsWith('appointment.')) {
      if (event.type === 'visit.message_sent' || event.type === 'visit.consent_recorded' || event.type === 'visit.participant_muted') return;
      scheduleReload();
    }
  }, scheduleReload);

  const rows = useMemo<Row[]>(() => {
    const list: Row[] = [];
    const withVisit = new Set<string>();
    for (const v of visits ?? []) {
      if (v.appointmentId) withVisit.add(v.appointmentId);
      list.push({ key: v.appointmentId ? `a:${v.appointmentId}` : `v:${v.id}`, startsAt: v.scheduledStart, endsAt: v.endsAt, kind: v.kind, patients: patientsOfVisit(v), visit: v, appointment: null });
    }
    for (const a of appointments) {
      if (withVisit.has(a.id) || a.status !== 'scheduled') continue;
      list.push({
        key: `a:${a.id}`,
        startsAt: a.startsAt,
        endsAt: a.endsAt,
        kind: a.kind,
        patients: a.patientIds.map((id) => ({ patientId: id, name: names[id] ?? '…' })),
        visit: null,
        appointment: a,
      });
    }
    return list.sort((x, y) => Date.parse(x.startsAt) - Date.parse(y.startsAt));
  }, [visits, appointments, names]);

  const waitingVisits = useMemo<WaitingVisit[]>(
    () =>
      (visits ?? [])
        .filter((v) => !FINAL.has(v.status))
        .map((v) => ({ id: v.id, status: v.status, label: `${visitTitle(v)} · ${formatTime(v.scheduledStart, timeZone)}` })),
    [visits, timeZone],
  );

  const visitOf = async (a: Appointment): Promise<Visit> => {
    try {
      return await staffApi<Visit>('POST', '/visits', { appointmentId: a.id });
    } catch (err) {
      if (err instanceof ApiError && err.code === 'already_exists') {
        const page = await staffApi<{ data: Visit[] }>('GET', `/visits?day=${day}&hostUserId=${me.user.id}&limit=200`);
        const found = page.data.find((v) => v.appointmentId === a.id);
        if (found) return found;
      }
      throw err;
    }
  };

  const startVisit = async (row: Row) => {
    const visit = row.visit ?? (await visitOf(row.appointment!));
    if (visit.status === 'scheduled') await staffApi<Visit>('POST', `/visits/${visit.id}/start`);
    void navigate(`/visits/${visit.id}`);
  };

  const otherZone = browserTimeZone() !== timeZone;
  return (
    <div className="today">
      <div className="page-head">
        <div>
          <h1>Today</h1>
          <p className="muted page-sub">
            {formatDay(day)}
            {otherZone ? ` · times in ${timeZone.replace(/_/g, ' ')}` : ''}
          </p>
        </div>
        <div className="row">
          <button type="button" className="primary" aria-expanded={panel === 'instant'} onClick={() => setPanel(panel === 'instant' ? null : 'instant')}>
            New instant visit
          </button>
          <button type="button" aria-expanded={panel === 'appointment'} onClick={() => setPanel(panel === 'appointment' ? null : 'appointment')}>
            New appointment
          </button>
        </div>
      </div>

      <LinkNotice where="page" />
      {panel === 'instant' ? <InstantVisitPanel onClose={() => setPanel(null)} onCreated={(v) => void navigate(`/visits/${v.id}`)} /> : null}
      {panel === 'appointment' ? (
        <AppointmentPanel
          clinicianId={me.user.id}
          timeZone={timeZone}
          day={day}
          onClose={() => setPanel(null)}
          onCreated={() => {
            setPanel(null);
            void load();
          }}
        />
      ) : null}

      <div className="today-grid">
        <section className="today-schedule" aria-labelledby="schedule-heading">
          <h2 id="schedule-heading">Schedule</h2>
          <RetryNotice error={error} onRetry={load} />
          {visits === null && !error ? <p className="muted">Loading today’s schedule…</p> : null}
          {visits !== null && rows.length === 0 ? (
            <p className="card muted">Nothing is scheduled for you today. Use “New instant visit” to see someone now.</p>
          ) : null}
          <ul className="schedule-list">
            {rows.map((row) => (
              <ScheduleRow key={row.key} row={row} timeZone={timeZone} now={now} onStart={startVisit} visitOf={visitOf} />
            ))}
          </ul>
        </section>
        <aside className="today-waiting">
          <WaitingRoomPanel
            visits={waitingVisits}
            grouped
            beforeAdmit={async (w) => {
              if (w.status === 'scheduled') await staffApi('POST', `/visits/${w.id}/start`);
            }}
            onAdmitted={(w) => void navigate(`/visits/${w.id}`)}
          />
        </aside>
      </div>
    </div>
  );
}

function ScheduleRow({
  row,
  timeZone,
  now,
  onStart,
  visitOf,
}: {
  row: Row;
  timeZone: string;
  now: number;
  onStart: (row: Row) => Promise<void>;
  visitOf: (a: Appointment) => Promise<Visit>;
}) {
  const [inviting, setInviting] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const titleId = useId();
  const inviteButton = useRef<HTMLButtonElement>(null);
  const visit = row.visit;
  const status = visit?.status ?? null;
  const waiting = visit ? visit.participants.filter((p) => p.admission === 'waiting').length : 0;
  const final = status !== null && FINAL.has(status);
  // The visit that is due (from 15 minutes before its start) gets the prominent button; later ones stay quiet.
  const soon = Date.parse(row.startsAt) - now <= 15 * 60_000 || waiting > 0;
  const title = row.patients.length > 0 ? row.patients.map((p) => p.name).join(', ') : visit ? visitTitle(visit) : 'Appointment';

  const start = async () => {
    setBusy(true);
    setError('');
    try {
      await onStart(row);
    } catch (err) {
      setError(errorText(err));
      setBusy(false);
    }
  };

  return (
    <li className={`card schedule-row${waiting > 0 ? ' has-waiting' : status === 'open' || status === 'in_progress' ? ' live' : ''}`}>
      <div className="schedule-main">
        <div className="schedule-time">
          <span>{formatTime(row.startsAt, timeZone)}</span>
          <span className="visually-hidden"> to </span>
          <span className="time-sep" aria-hidden="true">
            –
          </span>
          <span className="muted">{formatTime(row.endsAt, timeZone)}</span>
        </div>
        <div className="schedule-info">
          <h3 id={titleId} className="schedule-title">
            {title}
          </h3>
          <div className="row schedule-badges">
            <span className={`badge status-${status ?? 'none'}`}>{status ? VISIT_STATUS_LABEL[status] : 'Not started'}</span>
            {KIND_LABEL[row.kind] ? <span className="badge">{KIND_LABEL[row.kind]}</span> : null}
            {visit && !visit.appointmentId ? <span className="badge">Instant</span> : null}
            {waiting > 0 ? <span className="badge waiting-badge">{waiting} waiting</span> : null}
            {visit?.recordingSince ? <span className="badge live">Recording</span> : null}
          </div>
        </div>
        <div className="row schedule-actions">
          {visit && (status === 'open' || status === 'in_progress') ? (
            <Link className="button primary" to={`/visits/${visit.id}`} aria-describedby={titleId}>
              Join visit
            </Link>
          ) : null}
          {!final && !(status === 'open' || status === 'in_progress') ? (
            <button type="button" className={soon ? 'primary' : undefined} disabled={busy} onClick={() => void start()} aria-describedby={titleId}>
              {busy ? 'Starting…' : 'Start visit'}
            </button>
          ) : null}
          {!final ? (
            <button type="button" ref={inviteButton} aria-expanded={inviting} aria-describedby={titleId} onClick={() => setInviting((v) => !v)}>
              Invite
            </button>
          ) : null}
          {visit && status === 'ended' ? (
            <Link className="button" to={`/visits/${visit.id}/summary`} aria-describedby={titleId}>
              View summary
            </Link>
          ) : null}
        </div>
      </div>
      <ErrorNotice error={error} />
      {inviting && !final ? (
        <InvitePanel
          patients={row.patients}
          timeZone={timeZone}
          visitId={async () => (row.visit ? row.visit.id : (await visitOf(row.appointment!)).id)}
          onClose={() => {
            setInviting(false);
            setTimeout(() => inviteButton.current?.focus(), 0);
          }}
        />
      ) : null}
    </li>
  );
}
