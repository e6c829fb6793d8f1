import { useCallback, useEffect, useState, type ReactNode } from 'react';
import { useNavigate } from 'react-router';
import type { ChatMessage, ConsentText, JoinResult, Visit, VisitContext, VisitToken } from '../../shared/api/visits.js';
import { api, ApiError, asParticipant, participantSession, type ParticipantSession } from '../api.js';
import { Call } from '../call/Call.js';
import type { CallEnd } from '../call/types.js';
import { DeviceCheck } from './DeviceCheck.js';
import { ClinicHeader, noteOf, VisitWhen, WaitingNotes } from './VisitContext.js';
import './join.css';

/**
 * The patient's (or guest's) way in, no account and no install: the join link → device check → consent →
 * the waiting room and the call (one connection: the server routes them to nobody until the host admits them)
 * → the post-visit survey. Each page before the call says whose visit it is (the clinic, the clinician, the time);
 * the waiting room also shows the clinician's notes ("Running 5 minutes late") as they arrive.
 */
type Step =
  | { at: 'joining' }
  | { at: 'problem'; title: string; message: string }
  | { at: 'devices'; session: ParticipantSession; consents: ConsentText[] }
  | { at: 'consent'; session: ParticipantSession; consents: ConsentText[]; tracks: MediaStreamTrack[] }
  | { at: 'call'; session: ParticipantSession; tracks: MediaStreamTrack[] }
  | { at: 'ended'; end: CallEnd };

const fmtTime = (iso: string) => new Date(iso).toLocaleString(undefined, { weekday: 'long', hour: 'numeric', minute: '2-digit', month: 'long', day: 'numeric' });

/** Words for why a link did not work; the API's own message otherwise. */
function linkProblem(err: unknown): { title: string; message: string } {
  if (!(err instanceof ApiError)) return { title: 'Something went wrong', message: 'Please reload the page.' };
  const details = err.details as { opensAt?: string; closesAt?: string } | undefined;
  switch (err.code) {
    case 'outside_join_window':
      return details?.opensAt && Date.parse(details.opensAt) > Date.now()
        ? { title: 'Your visit is not open yet', message: `You can join from ${fmtTime(details.opensAt)}. Come back then, using the same link.` }
        : { title: 'The time to join has passed', message: err.message };
    case 'link_expired':
      return { title: 'This link has expired', message: err.message };
    case 'link_revoked':
      return { title: 'This link is no longer valid', message: err.message };
    case 'link_invalid':
      return { title: 'This link does not work', message: err.message };
    case 'not_admitted':
      return { title: 'You cannot join this visit', message: err.message };
    case 'visit_locked':
      return { title: 'The visit is locked', message: err.message };
    default:
      return { title: 'Something went wrong', message: err.message };
  }
}

export function JoinFlow() {
  const [step, setStep] = useState<Step>({ at: 'joining' });
  const [context, setContext] = useState<VisitContext | null>(null);
  const [notes, setNotes] = useState<ChatMessage[]>([]);
  const navigate = useNavigate();
  const session = step.at === 'devices' || step.at === 'consent' || step.at === 'call' ? step.session : null;
  const inCall = step.at === 'call';

  // The clinician's notes to this patient while waiting: those sent before this page got here, then each as the
  // server delivers it (onServerData below).
  const addNotes = useCallback((more: ChatMessage[]) => {
    setNotes((list) => {
      const known = new Set(list.map((n) => n.id));
      const next = [...list, ...more.filter((n) => !known.has(n.id))];
      return next.length === list.length ? list : next.sort((x, y) => x.createdAt.localeCompare(y.createdAt));
    });
  }, []);
  useEffect(() => {
    if (!inCall || !session) return;
    const controller = new AbortController();
    api<{ data: ChatMessage[] }>('GET', `/visits/${session.visitId}/messages?limit=200`, undefined, { asParticipant: true, signal: controller.signal })
      .then((page) => addNotes(page.data.filter((m) => m.toParticipantId === session.participantId)))
      .catch(() => undefined);
    return () => controller.abort();
  }, [inCall, session?.visitId, session?.participantId, addNotes]);
  const onServerData = useCallback(
    (data: unknown) => {
      const note = session ? noteOf(data, session.visitId) : null;
      if (note && note.toParticipantId === session?.participantId) addNotes([note]);
    },
    [session?.visitId, session?.participantId, addNotes],
  );

  useEffect(() => {
    const token = decodeURIComponent(window.location.hash.slice(1));
    // The token never stays in the address bar (or the history, or a screenshot).
    if (token) history.replaceState(null, '', '/join');
    const resume = participantSession.get();
    if (!token) {
      if (resume) {
        // A reload: the session is this tab's; ask again for the consent if it was not given yet.
        Promise.all([asParticipant<Visit>('GET', `/visits/${resume.visitId}`), asParticipant<VisitContext>('GET', `/visits/${resume.visitId}/context`)])
          .then(async ([visit, visitContext]) => {
            const me = visit.participants.find((p) => p.id === resume.participantId);
            const texts = me?.telehealthConsentAt ? [] : (await asParticipant<ConsentText[]>('GET', '/consent-texts')).filter((c) => c.kind === 'telehealth');
            setContext(visitContext);
            setStep({ at: 'devices', session: resume, consents: texts });
          })
          .catch((err: unknown) => {
            participantSession.clear();
            setStep({ at: 'problem', ...linkProblem(err) });
          });
        return;
      }
      setStep({ at: 'problem', title: 'This link is incomplete', message: 'Open the whole link from your invitation (it ends with a long code).' });
      return;
    }
    asParticipant<JoinResult>('POST', '/join', { token })
      .then((joined) => {
        const session = { session: joined.session, visitId: joined.visit.id, participantId: joined.participant.id };
        participantSession.set(session);
        setContext(joined.context);
        setStep({ at: 'devices', session, consents: joined.consentsRequired });
      })
      .catch((err: unknown) => setStep({ at: 'problem', ...linkProblem(err) }));
  }, []);

  const getToken = useCallback(
    () => asParticipant<VisitToken>('POST', `/visits/${step.at === 'call' ? step.session.visitId : ''}/token`),
    [step],
  );

  return (
    <main className={step.at === 'call' ? 'join join--call' : 'join'}>
      <ClinicHeader clinic={context?.clinic} clinician={step.at === 'call' ? context?.clinicianName : null} />
      {step.at === 'joining' && <p role="status">Opening your visit…</p>}
      {step.at === 'problem' && (
        <section className="card stack" role="alert">
          <h1>{step.title}</h1>
          <p>{step.message}</p>
        </section>
      )}
      {step.at === 'devices' && (
        <DeviceCheck
          intro={<VisitWhen context={context} />}
          onReady={(tracks) =>
            setStep(step.consents.length > 0 ? { at: 'consent', session: step.session, consents: step.consents, tracks } : { at: 'call', session: step.session, tracks })
          }
        />
      )}
      {step.at === 'consent' && (
        <ConsentForm step={step} intro={<VisitWhen context={context} />} onAccepted={() => setStep({ at: 'call', session: step.session, tracks: step.tracks })} />
      )}
      {step.at === 'call' && (
        <Call
          visitId={step.session.visitId}
          as="participant"
          getToken={getToken}
          tracks={step.tracks}
          waitingInfo={
            <>
              <VisitWhen context={context} />
              <WaitingNotes notes={notes} />
            </>
          }
          onServerData={onServerData}
          onLeft={(end) => {
            step.tracks.forEach((t) => t.stop());
            participantSession.clear();
            const survey = end.surveyUrl ? new URL(end.surveyUrl, window.location.href) : null;
            // OpenVisit's own survey (its signed ovs_ link) opens here, on whatever name this page has; an
            // organisation's own survey is offered as a link.
            if (survey && survey.pathname === '/survey' && survey.hash.startsWith('#ovs_')) return void navigate(`/survey${survey.hash}`);
            setStep({ at: 'ended', end });
          }}
        />
      )}
      {step.at === 'ended' && <Ended end={step.end} />}
    </main>
  );
}

function ConsentForm({ step, intro, onAccepted }: { step: Extract<Step, { at: 'consent' }>; intro: ReactNode; onAccepted: () => void }) {
  const [agreed, setAgreed] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const consent = step.consents[0]!;
  const accept = async () => {
    setBusy(true);
    setError(null);
    try {
      for (const c of step.consents) await asParticipant('POST', `/visits/${step.session.visitId}/consents`, { kind: c.kind, version: c.version });
      onAccepted();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : 'Your answer could not be saved. Try again.');
    } finally {
      setBusy(false);
    }
  };
  return (
    <section className="card stack consent" aria-labelledby="consent-title">
      <h1 id="consent-title">Consent to a video visit</h1>
      {intro}
      <div className="consent-text" tabIndex={0} aria-label="Consent text">
        {consent.body.split(/\n{2,}/).map((para, i) => (
          <p key={i}>{para}</p>
        ))}
      </div>
      <p className="muted">Version {consent.version}</p>
      {/* The answer stays in view while the text scrolls (a phone shows only part of it). */}
      <div className="join-actions stack">
        {error && (
          <p className="error" role="alert">
            {error}
          </p>
        )}
        <label className="checkbox">
          <input type="checkbox" checked={agreed} onChange={(e) => setAgreed(e.target.checked)} /> I have read this and I agree
        </label>
        <button type="button" className="primary" disabled={!agreed || busy} onClick={() => void accept()}>
          Accept and continue
        </button>
      </div>
    </section>
  );
}

const ENDINGS: Record<string, string> = {
  room_ended: 'The visit has ended.',
  left: 'You left the visit.',
  removed: 'You are no longer in the visit.',
};

function Ended({ end }: { end: CallEnd }) {
  return (
    <section className="card stack" aria-labelledby="ended-title">
      <h1 id="ended-title">{ENDINGS[end.reason] ?? 'The call has ended.'}</h1>
      {end.message && <p>{end.message}</p>}
      {end.surveyUrl && (
        <p>
          <a className="button primary" href={end.surveyUrl} target="_blank" rel="noreferrer">
            Tell us how it went
          </a>
        </p>
      )}
      <p className="muted">You can close this page.</p>
    </section>
  );
}
