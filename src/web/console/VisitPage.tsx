import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import type { Visit, VisitToken } from '../../shared/api/visits.js';
import { Call } from '../call/Call.js';
import type { HostControls } from '../call/types.js';
import { staffApi, useAuth } from './auth.js';
import { clockRange } from '../time.js';
import { errorText, VISIT_STATUS_LABEL } from './format.js';
import { useStaffResource } from './hooks.js';
import { useHubEvents } from './hub.js';
import { InvitePanel } from './InvitePanel.js';
import { patientsOfVisit, visitTitle } from './TodayPage.js';
import { ErrorNotice, LoadState } from './ui.js';
import { WaitingRoomPanel } from './WaitingRoomPanel.js';

const LIVE = new Set(['open', 'in_progress']);
const IGNORED_EVENTS = new Set(['visit.message_sent', 'visit.participant_muted']);

/**
 * One visit: start it, the waiting room, invites and the call (as host, with the host controls). In the call the
 * page's head shrinks to one line (back, visit, status, time, Invite) and the call fills the window below it; the
 * waiting room stays beside it (below it on narrow screens).
 */
export function VisitPage() {
  const { id = '' } = useParams();
  const { me } = useAuth();
  const navigate = useNavigate();
  const timeZone = me.organization.timeZone;
  const { data: visit, setData: setVisit, error: loadError, retryable, reload: load, reloadSoon } = useStaffResource<Visit>(`/visits/${id}`, 250);
  const [actionError, setActionError] = useState('');
  const [busy, setBusy] = useState(false);
  const [inviting, setInviting] = useState(false);
  /** The call is mounted (it stays so until it reports it is over, even if the visit ended meanwhile). */
  const [inCall, setInCall] = useState(false);
  const [callKey, setCallKey] = useState(0);
  const [left, setLeft] = useState<{ reason: string; message: string } | null>(null);
  const [waitingCount, setWaitingCount] = useState(0);
  const endedByMe = useRef(false);

  // Another visit: nothing of the last one's call carries over.
  useEffect(() => {
    setInCall(false);
    setLeft(null);
    endedByMe.current = false;
  }, [id]);
  /** Bumped by the hub's visit.message_sent: the call's chat fetches what is new (the host's notes reach it so). */
  const [transcriptVersion, setTranscriptVersion] = useState(0);
  /** Bumped by the hub's other visit events: the call reads the visit again (a raised hand reaches the host so). */
  const [visitVersion, setVisitVersion] = useState(0);
  useHubEvents((event) => {
    if (event.data.visitId !== id) return;
    if (event.type === 'visit.message_sent') setTranscriptVersion((v) => v + 1);
    if (event.type.startsWith('visit.') && !IGNORED_EVENTS.has(event.type)) {
      reloadSoon();
      setVisitVersion((v) => v + 1);
    }
  }, reloadSoon);

  // Join the call once the visit is live (and the host has not left it on this page).
  const live = visit !== null && LIVE.has(visit.status);
  useEffect(() => {
    if (live && left === null) setInCall(true);
  }, [live, left]);

  // Stable props for the call: a new function must never make it reconnect.
  const getToken = useCallback(() => staffApi<VisitToken>('POST', `/visits/${id}/token`), [id]);
  const hostControls = useMemo<HostControls>(
    () => ({
      async mute(participantId, kind, muted) {
        await staffApi('POST', `/visits/${id}/participants/${participantId}/mute`, kind === 'audio' ? { audio: muted } : { video: muted });
      },
      async remove(participantId) {
        await staffApi('POST', `/visits/${id}/participants/${participantId}/remove`);
      },
      async sendToWaitingRoom(participantId) {
        await staffApi('POST', `/visits/${id}/participants/${participantId}/return`);
      },
      async startRecording() {
        await staffApi('POST', `/visits/${id}/recordings/start`);
      },
      async stopRecording() {
        await staffApi('POST', `/visits/${id}/recordings/stop`);
      },
      async admit(participantId) {
        await staffApi('POST', `/visits/${id}/participants/${participantId}/admit`);
      },
      async admitAll() {
        await staffApi('POST', `/visits/${id}/waiting-room/admit-all`);
      },
      async lowerHand(participantId) {
        await staffApi('POST', `/visits/${id}/participants/${participantId}/hand`, { raised: false });
      },
      async spotlight(participantId) {
        await staffApi('POST', `/visits/${id}/spotlight`, { participantId });
      },
      async muteAll(muted, selfUnmute) {
        await staffApi('POST', `/visits/${id}/mute-all`, { muted, selfUnmute });
      },
      async askToUnmute(participantId) {
        await staffApi('POST', `/visits/${id}/participants/${participantId}/ask-unmute`);
      },
      async message(participantId, body) {
        await staffApi('POST', `/visits/${id}/participants/${participantId}/note`, { body });
      },
      async lock(locked) {
        await staffApi('POST', `/visits/${id}/lock`, { locked });
      },
      async endForEveryone() {
        endedByMe.current = true;
        try {
          await staffApi('POST', `/visits/${id}/end`, {});
        } catch (err) {
          endedByMe.current = false;
          throw err;
        }
      },
    }),
    [id],
  );
  const navigateRef = useRef(navigate);
  navigateRef.current = navigate;
  const onLeft = useCallback(
    (why: { reason: string; message: string }) => {
      const toSummary = () => void navigateRef.current(`/visits/${id}/summary`);
      if (endedByMe.current || why.reason === 'room_ended') return toSummary();
      void staffApi<Visit>('GET', `/visits/${id}`).then(
        (v) => {
          if (v.status === 'ended') return toSummary();
          if (why.reason === 'left') return void navigateRef.current('/');
          // Dropped, replaced by another tab, refused…: stay here and offer to rejoin.
          setVisit(v);
          setInCall(false);
          setLeft(why);
        },
        () => {
          if (why.reason === 'left') return void navigateRef.current('/');
          setInCall(false);
          setLeft(why);
        },
      );
    },
    [id],
  );

  const start = async () => {
    setBusy(true);
    setActionError('');
    try {
      setVisit(await staffApi<Visit>('POST', `/visits/${id}/start`));
    } catch (err) {
      setActionError(errorText(err));
    } finally {
      setBusy(false);
    }
  };

  const waitingVisits = useMemo(() => (visit && !['ended', 'cancelled', 'no_show'].includes(visit.status) ? [{ id: visit.id, label: visitTitle(visit), status: visit.status }] : []), [visit]);

  if (!visit) {
    return (
      <div className="stack">
        <p>
          <Link to="/">← Today</Link>
        </p>
        <LoadState loading="Loading the visit…" error={loadError} onRetry={retryable ? load : undefined} />
      </div>
    );
  }

  const final = ['ended', 'cancelled', 'no_show'].includes(visit.status);
  return (
    <div className={`visit-page${inCall ? ' in-call' : ''}`}>
      <div className="page-head visit-head">
        <div>
          <p className="back-link">
            <Link to="/">← Today</Link>
          </p>
          <h1>{visitTitle(visit)}</h1>
          <div className="row schedule-badges">
            <span className={`badge status-${visit.status}`}>{VISIT_STATUS_LABEL[visit.status] ?? visit.status}</span>
            <span className="muted">{clockRange(visit.scheduledStart, visit.endsAt, timeZone)}</span>
          </div>
        </div>
        <div className="row">
          {visit.status === 'scheduled' ? (
            <button type="button" className="primary" disabled={busy} onClick={() => void start()}>
              {busy ? 'Starting…' : 'Start visit'}
            </button>
          ) : null}
          {!final ? (
            <button type="button" aria-expanded={inviting} onClick={() => setInviting((v) => !v)}>
              Invite
            </button>
          ) : null}
        </div>
      </div>
      {waitingCount > 0 ? (
        <p className="notice warn waiting-jump">
          <a href="#visit-waiting">{waitingCount === 1 ? 'Someone is waiting' : `${waitingCount} people are waiting`} in the waiting room</a>
        </p>
      ) : null}
      <ErrorNotice error={actionError} />

      <div className="visit-grid">
        <div className="visit-main">
          {inCall ? (
            <Call
              key={callKey}
              visitId={visit.id}
              as="host"
              getToken={getToken}
              endsAt={visit.endsAt}
              timeZone={timeZone}
              transcriptVersion={transcriptVersion}
              visitVersion={visitVersion}
              hostControls={hostControls}
              onLeft={onLeft}
            />
          ) : left ? (
            <div className="card stack">
              <h2>You are not in the call</h2>
              <p>{left.message || 'The call was interrupted.'}</p>
              <div className="row">
                <button
                  type="button"
                  className="primary"
                  onClick={() => {
                    setLeft(null);
                    setCallKey((k) => k + 1);
                  }}
                >
                  Rejoin the call
                </button>
                <Link className="button" to="/">
                  Back to Today
                </Link>
              </div>
            </div>
          ) : visit.status === 'scheduled' ? (
            <div className="card stack">
              <h2>Not started yet</h2>
              <p>Start the visit when you are ready. Patients who arrive early wait in the waiting room until you admit them.</p>
            </div>
          ) : visit.status === 'ended' ? (
            <div className="card stack">
              <h2>This visit has ended</h2>
              <p>
                <Link className="button primary" to={`/visits/${visit.id}/summary`}>
                  View summary
                </Link>
              </p>
            </div>
          ) : (
            <div className="card">
              <h2>This visit is {VISIT_STATUS_LABEL[visit.status]?.toLowerCase()}</h2>
              <p className="muted">Nothing more can happen in it.</p>
            </div>
          )}
        </div>
        {!final || inviting ? (
          <aside className="visit-side stack">
            {inviting && !final ? (
              <div className="card">
                <InvitePanel visitId={async () => visit.id} patients={patientsOfVisit(visit)} timeZone={timeZone} onClose={() => setInviting(false)} />
              </div>
            ) : null}
            {!final ? <WaitingRoomPanel visits={waitingVisits} id="visit-waiting" onCountChange={setWaitingCount} /> : null}
          </aside>
        ) : null}
      </div>
    </div>
  );
}
