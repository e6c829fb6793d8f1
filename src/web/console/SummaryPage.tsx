import type { ReactNode } from 'react';
import { Link, useParams } from 'react-router';
import type { VisitSummary } from '../../shared/api/visits.js';
import { clockDateTime, clockTime } from '../time.js';
import { useAuth } from './auth.js';
import { formatDuration, money, ROLE_LABEL, VISIT_STATUS_LABEL } from './format.js';
import { useStaffResource } from './hooks.js';
import { visitTitle } from './TodayPage.js';
import { Fact, LoadState, Section } from './ui.js';

const ROLE_ORDER = ['host', 'patient', 'caregiver', 'interpreter', 'guest'];
const QUALITY_WORDS = ['lost', 'very poor', 'poor', 'fair', 'good', 'excellent'];
const ADMISSION_LABEL: Record<string, string> = { invited: 'Invited, never came', waiting: 'Still waiting', admitted: 'Admitted', denied: 'Denied', removed: 'Removed' };
const LEAVE_LABEL: Record<string, string> = {
  left: 'left',
  removed: 'removed',
  room_ended: 'visit ended',
  connection_lost: 'connection lost',
  replaced: 'joined again elsewhere',
  duration_exceeded: 'time limit',
  server_shutdown: 'server restart',
};

function quality(value: number | null): string {
  if (value === null) return 'Not measured';
  const word = QUALITY_WORDS[Math.max(0, Math.min(5, Math.round(value)))];
  return `${word} (${value.toFixed(value % 1 === 0 ? 0 : 1)} of 5)`;
}

/** What a recording holds, as the Content column says it (Twilio records each track apart, plus a composition). */
const CONTENT_LABEL: Record<string, string> = {
  camera: 'Camera',
  microphone: 'Microphone',
  screen: 'Screen share',
  composition: 'Whole visit (composition)',
};
/** The download link's words: "Download <what> of <who>". */
const CONTENT_NOUN: Record<string, string> = { camera: 'camera recording', microphone: 'audio recording', screen: 'screen share', composition: 'composition' };

function bytes(n: number | null): string {
  if (n === null) return '';
  if (n < 1024 * 1024) return `${Math.max(1, Math.round(n / 1024))} kB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/** After the visit: attendance, consents, recordings, chat, quality and usage, from GET /visits/:id/summary. */
export function SummaryPage() {
  const { id = '' } = useParams();
  const { me } = useAuth();
  const timeZone = me.organization.timeZone;
  const { data: summary, error, retryable, reload: load } = useStaffResource<VisitSummary>(`/visits/${id}/summary`);

  if (!summary) {
    return (
      <div className="stack">
        <p>
          <Link to="/">← Today</Link>
        </p>
        <LoadState loading="Loading the summary…" error={error} onRetry={retryable ? load : undefined} />
      </div>
    );
  }

  const { visit } = summary;
  const nameOf = (participantId: string) => summary.participants.find((p) => p.id === participantId)?.displayName ?? 'Someone';
  // A composition is the whole room's (identity ''); the builtin provider's 'camera' file also holds the microphone.
  const onlyBuiltinKinds = summary.recordings.every((r) => r.content === 'camera' || r.content === 'screen');
  const contentOf = (content: string) => (content === 'camera' && onlyBuiltinKinds ? 'Camera and microphone' : (CONTENT_LABEL[content] ?? content));
  const recordedWho = (identity: string) => (identity === '' ? 'Everyone' : nameOf(identity));
  const t = (iso: string | null) => (iso ? clockTime(iso, timeZone) : '—');
  const surveys = summary.surveys ?? [];

  return (
    <div className="summary stack">
      <div className="page-head">
        <div>
          <p className="back-link">
            <Link to="/">← Today</Link>
          </p>
          <h1>Visit summary</h1>
          <p className="page-sub">
            {visitTitle(visit)} · {clockDateTime(visit.scheduledStart, timeZone)}
          </p>
        </div>
        {visit.status === 'open' || visit.status === 'in_progress' ? (
          <Link className="button primary" to={`/visits/${visit.id}`}>
            Back to the visit
          </Link>
        ) : null}
      </div>

      <Section title="Overview">
        <dl className="facts">
          <Fact term="Status">
            {VISIT_STATUS_LABEL[visit.status] ?? visit.status}
            {visit.endReason ? ` (${visit.endReason.replace(/_/g, ' ')})` : ''}
          </Fact>
          <Fact term="Duration">{summary.durationSeconds === null ? 'Never started' : formatDuration(summary.durationSeconds)}</Fact>
          <Fact term="Started">{t(visit.startedAt ?? visit.openedAt)}</Fact>
          <Fact term="Ended">{t(visit.endedAt)}</Fact>
          <Fact term="Connection quality, average">{quality(summary.quality.average)}</Fact>
          <Fact term="Connection quality, worst">{quality(summary.quality.worst)}</Fact>
          <Fact term="Reconnects">{summary.quality.reconnects}</Fact>
          <Fact term="Participant-minutes">{summary.usage.participantMinutes}</Fact>
          <Fact term="Recorded minutes">{summary.usage.recordedMinutes}</Fact>
          {summary.usage.compositionMinutes > 0 ? <Fact term="Composition minutes">{summary.usage.compositionMinutes}</Fact> : null}
          <Fact term="Estimated cost">{money(summary.usage.estimatedCost, summary.usage.currency)}</Fact>
        </dl>
      </Section>

      <Section title="Participants">
        <ul className="summary-people">
          {[...summary.participants].sort((x, y) => ROLE_ORDER.indexOf(x.role) - ROLE_ORDER.indexOf(y.role)).map((p) => (
            <li key={p.id} className="summary-person">
              <div className="row">
                <strong>{p.displayName}</strong>
                <span className="badge">{ROLE_LABEL[p.role] ?? p.role}</span>
                <span className="muted">{ADMISSION_LABEL[p.admission] ?? p.admission}</span>
              </div>
              <p className="muted">
                {p.stays.length === 0
                  ? 'Did not join the call'
                  : `In the call ${formatDuration(p.secondsInVisit)} · ${p.reconnects === 0 ? 'no reconnects' : p.reconnects === 1 ? '1 reconnect' : `${p.reconnects} reconnects`}`}
              </p>
              {p.stays.length > 0 ? (
                <ul className="stays">
                  {p.stays.map((s) => (
                    <li key={s.joinedAt}>
                      Joined {t(s.joinedAt)}, {s.leftAt ? `left ${t(s.leftAt)}` : 'still connected'}
                      {s.leaveReason ? ` (${LEAVE_LABEL[s.leaveReason] ?? s.leaveReason.replace(/_/g, ' ')})` : ''}
                      {s.qualityAverage !== null ? ` · quality ${quality(s.qualityAverage)}, worst ${quality(s.qualityMin)}` : ''}
                    </li>
                  ))}
                </ul>
              ) : null}
            </li>
          ))}
        </ul>
      </Section>

      <Section title="Consents">
        {summary.consents.length === 0 ? (
          <p className="muted">No consents were accepted in this visit.</p>
        ) : (
          <Table label="Consents" head={['Who', 'Consent', 'Text version', 'Accepted']}>
            {summary.consents.map((c) => (
              <tr key={`${c.participantId}-${c.kind}-${c.acceptedAt}`}>
                <td data-label="Who">{nameOf(c.participantId)}</td>
                <td data-label="Consent">{c.kind === 'telehealth' ? 'Telehealth' : 'Recording'}</td>
                <td data-label="Text version">{c.textVersion}</td>
                <td data-label="Accepted">{clockDateTime(c.acceptedAt, timeZone)}</td>
              </tr>
            ))}
          </Table>
        )}
      </Section>

      <Section title="Recordings">
        {summary.recordings.length === 0 ? (
          <p className="muted">This visit was not recorded.</p>
        ) : (
          <Table label="Recordings" head={['Who', 'Content', 'Started', 'Length', 'File']}>
            {summary.recordings.map((r) => (
              <tr key={r.id}>
                <td data-label="Who">{recordedWho(r.identity)}</td>
                <td data-label="Content">{contentOf(r.content)}</td>
                <td data-label="Started">{t(r.startedAt)}</td>
                <td data-label="Length">{r.durationSeconds === null ? '—' : formatDuration(r.durationSeconds)}</td>
                <td data-label="File">
                  {r.deletedAt ? (
                    <span className="muted">Deleted (retention period)</span>
                  ) : r.status === 'completed' ? (
                    <a href={`/api/v1/visits/${visit.id}/recordings/${r.id}/media`} download>
                      {r.content === 'composition'
                        ? `Download the composition of the visit (${bytes(r.bytes)})`
                        : `Download ${r.content === 'camera' && onlyBuiltinKinds ? 'recording' : (CONTENT_NOUN[r.content] ?? 'recording')} of ${nameOf(r.identity)} (${bytes(r.bytes)})`}
                    </a>
                  ) : r.status === 'failed' ? (
                    <span className="error">Failed{r.error ? `: ${r.error}` : ''}</span>
                  ) : (
                    <span className="muted">Still recording</span>
                  )}
                </td>
              </tr>
            ))}
          </Table>
        )}
      </Section>

      <Section title="Chat">
        {summary.chat.length === 0 ? (
          <p className="muted">No messages were sent.</p>
        ) : (
          <ol className="transcript">
            {summary.chat.map((m) => (
              <li key={m.id}>
                <span className="muted transcript-time">{t(m.createdAt)}</span> <strong>{m.displayName}</strong>
                {m.toParticipantId ? <span className="muted"> to {nameOf(m.toParticipantId)} only (a note in the waiting room)</span> : null}
                <p className="transcript-body">{m.body}</p>
              </li>
            ))}
          </ol>
        )}
      </Section>

      <Section title="Survey">
        {summary.surveyUrl ? (
          <p>
            <a href={summary.surveyUrl} target="_blank" rel="noreferrer">
              Open the survey
            </a>
          </p>
        ) : null}
        {surveys.length === 0 ? (
          <p className="muted">{visit.status === 'ended' ? 'No answers yet.' : 'Patients get the survey when the visit ends.'}</p>
        ) : (
          <ul className="survey-answers">
            {surveys.map((s) => (
              <li key={s.participantId}>
                <strong>{s.displayName}</strong>: {s.rating} of 5{s.comment ? ` — “${s.comment}”` : ''}
              </li>
            ))}
          </ul>
        )}
      </Section>
    </div>
  );
}

function Table({ label, head, children }: { label: string; head: string[]; children: ReactNode }) {
  return (
    <div className="table-wrap" role="region" aria-label={label} tabIndex={0}>
      <table>
        <thead>
          <tr>
            {head.map((h) => (
              <th key={h} scope="col">
                {h}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}
