/**
 * `/care`: the check-in app (docs/checkins.md, "Web app"). Made for a phone, fine on a laptop.
 *
 * - A care link opens `/care?t=ovc_…`: the token is exchanged (`POST /care/session`, which sets the device's member
 *   session cookie), then removed from the address bar. A call link also names its call: it opens at once.
 * - Who I am comes from `GET /care/me` (a link session is one member; a staff caregiver signed in to the console may
 *   be in several circles). The recipient's device gets the simple screen (RecipientHome); caregivers get the people
 *   they can call, and the history (CaregiverHome).
 * - Ringing comes over the realtime hub (`WS /api/v1/events`, the console's HubProvider): a `checkin.*` event naming
 *   one of my member ids makes the page look the call up; a call ringing me that I have not answered shows the
 *   incoming call (IncomingCall) and is acknowledged (`POST /checkins/:id/ring`). A call in progress is CheckinCall;
 *   its end (the server's: time limit, ended, declined, missed) shows "Call ended" with the length.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { ApiError } from '../api.js';
import { HubProvider, useHubEvents } from '../console/hub.js';
import { ServerClock } from '../time.js';
import { CaregiverHome, RecipientHome } from './Home.js';
import { type CareApi, careApi, type CareMe, type Checkin, isFinal, myParty } from './careApi.js';
import { CallEnded } from './CallEnded.js';
import { CheckinCall } from './CheckinCall.js';
import { ClinicBar } from './ClinicBar.js';
import { History, mergeStats, type HistoryData } from './History.js';
import { IncomingCall } from './IncomingCall.js';
import './care.css';

type Boot =
  | { kind: 'loading' }
  | { kind: 'signedOut'; message: string | null }
  | { kind: 'error'; message: string }
  | { kind: 'ready'; me: CareMe; openCall: string | null; notice: string | null };

export function CarePage() {
  const [clock] = useState(() => new ServerClock());
  const api = useMemo(() => careApi(clock), [clock]);
  const [boot, setBoot] = useState<Boot>({ kind: 'loading' });

  const load = useCallback(async () => {
    const params = new URLSearchParams(window.location.search);
    const token = params.get('t');
    let openCall: string | null = null;
    let linkProblem: string | null = null;
    if (token) {
      try {
        const session = await api.exchange(token);
        openCall = session.checkinId ?? null;
      } catch (error) {
        if (error instanceof ApiError && error.status === 0) {
          setBoot({ kind: 'error', message: error.message });
          return; // the token stays in the address bar: trying again can still use it
        }
        linkProblem = linkMessage(error);
      }
      // The link has done its work (or never will): it leaves the address bar and the history.
      params.delete('t');
      const rest = params.toString();
      window.history.replaceState(window.history.state, '', `${window.location.pathname}${rest ? `?${rest}` : ''}${window.location.hash}`);
    }
    try {
      setBoot({ kind: 'ready', me: await api.me(), openCall, notice: linkProblem });
    } catch (error) {
      if (error instanceof ApiError && (error.status === 401 || error.status === 403)) setBoot({ kind: 'signedOut', message: linkProblem });
      else setBoot({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
    }
  }, [api]);

  // Once per page (a link is exchanged once, whatever React's development double mount does).
  const started = useRef(false);
  useEffect(() => {
    if (started.current) return;
    started.current = true;
    void load();
  }, [load]);

  if (boot.kind === 'loading') {
    return (
      <main className="care care--center" aria-busy="true">
        <p className="muted">Loading…</p>
      </main>
    );
  }
  if (boot.kind === 'signedOut' || boot.kind === 'error') {
    return (
      <main className="care care--center">
        <div className="card stack care-narrow">
          <h1>Check-in calls</h1>
          {boot.kind === 'error' ? <p className="notice error">{boot.message}</p> : null}
          {boot.kind === 'signedOut' ? (
            <>
              {boot.message ? <p className="notice error">{boot.message}</p> : null}
              <p>This device is not signed in. Open the link your care team sent you (by text or email) on this device.</p>
              <p className="muted">
                Staff caregivers: <a href="/">sign in to OpenVisit</a>, then choose Check-ins.
              </p>
            </>
          ) : (
            <button type="button" className="primary" onClick={() => void load()}>
              Try again
            </button>
          )}
        </div>
      </main>
    );
  }
  return (
    <HubProvider onSessionEnded={() => setBoot({ kind: 'signedOut', message: 'This device was signed out.' })}>
      <CareApp me={boot.me} api={api} clock={clock} openCall={boot.openCall} notice={boot.notice} onSignedOut={() => setBoot({ kind: 'signedOut', message: null })} />
    </HubProvider>
  );
}

function linkMessage(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.code === 'care_link_expired') return 'This link has expired or was replaced. Ask your care team for a new one.';
    if (error.code === 'care_link_invalid') return 'This link is not valid. Check that you opened the whole link.';
    return error.message;
  }
  return 'The link could not be opened.';
}

type Screen = { kind: 'home' } | { kind: 'call'; checkin: Checkin } | { kind: 'ended'; checkin: Checkin; settling: boolean };

interface CareAppProps {
  me: CareMe;
  api: CareApi;
  clock: ServerClock;
  openCall: string | null;
  notice: string | null;
  onSignedOut(): void;
}

function CareApp({ me, api, clock, openCall, notice, onSignedOut }: CareAppProps) {
  const memberIds = useMemo(() => new Set(me.members.map((m) => m.member.id)), [me]);
  const recipientOnly = me.members.length > 0 && me.members.every((m) => m.member.kind === 'recipient');
  const [screen, setScreen] = useState<Screen>({ kind: 'home' });
  const [incoming, setIncoming] = useState<Checkin | null>(null);
  const [problem, setProblem] = useState<string | null>(notice);
  const [history, setHistory] = useState<HistoryData | null>(null);
  const [historyError, setHistoryError] = useState<string | null>(null);
  const screenRef = useRef(screen);
  screenRef.current = screen;
  const incomingRef = useRef(incoming);
  incomingRef.current = incoming;
  /** Calls this page told the server it rings for (once each). */
  const acked = useRef(new Set<string>());
  /** Calls answered or declined here: their ringing is over for this page whatever comes late. */
  const handled = useRef(new Set<string>());

  /** Who the other party is to me: their name and relationship (the call's own record, else my circle's contacts). */
  const describe = useCallback(
    (party: Checkin['caller']) => {
      const contact = me.members.flatMap((m) => m.contacts).find((c) => c.id === party.memberId);
      const relationship = party.relationship ?? contact?.relationship ?? null;
      return { name: party.displayName || contact?.displayName || 'Someone', relationship: relationship ?? (party.kind === 'caregiver' && contact?.userId ? 'Caregiver' : null) };
    },
    [me],
  );
  const labelOf = (party: Checkin['caller']) => {
    const d = describe(party);
    return d.relationship ? `${d.name} (${d.relationship})` : d.name;
  };

  const loadHistory = useCallback(async () => {
    if (recipientOnly) return;
    try {
      const ids = [...memberIds];
      const [lists, stats] = await Promise.all([Promise.all(ids.map((id) => api.list({ memberId: id, limit: '10' }))), Promise.all(ids.map((id) => api.stats(id)))]);
      const seen = new Set<string>();
      const calls = lists
        .flatMap((l) => l.data)
        .filter((c) => (seen.has(c.id) ? false : (seen.add(c.id), true)))
        .sort((a, b) => b.createdAt.localeCompare(a.createdAt))
        .slice(0, 10);
      setHistory({ calls, stats: mergeStats(stats) });
      setHistoryError(null);
    } catch (error) {
      setHistoryError(error instanceof Error ? error.message : 'The history could not be loaded.');
    }
  }, [api, memberIds, recipientOnly]);

  /** A call rings here: show it (once), and tell the server this device rings. */
  const ringHere = useCallback(
    (checkin: Checkin) => {
      if (handled.current.has(checkin.id) || screenRef.current.kind === 'call') return;
      if (incomingRef.current && incomingRef.current.id !== checkin.id) return;
      setIncoming(checkin);
      if (!acked.current.has(checkin.id)) {
        acked.current.add(checkin.id);
        api.ring(checkin.id).catch(() => acked.current.delete(checkin.id));
      }
    },
    [api],
  );

  /** What the page does with a call's latest state (after an event, or on loading). */
  const apply = useCallback(
    (checkin: Checkin) => {
      const party = myParty(checkin, memberIds);
      if (!party) return;
      const current = screenRef.current;
      if (current.kind === 'call' && current.checkin.id === checkin.id) {
        setScreen(isFinal(checkin.status) ? { kind: 'ended', checkin, settling: false } : { kind: 'call', checkin });
      } else if (current.kind === 'ended' && current.checkin.id === checkin.id) {
        setScreen({ kind: 'ended', checkin, settling: current.settling && !isFinal(checkin.status) });
      }
      if (incomingRef.current?.id === checkin.id && (checkin.status !== 'ringing' || party.me.answeredAt !== null)) {
        setIncoming(null);
      } else if (checkin.status === 'ringing' && party.me.answeredAt === null && Date.parse(checkin.ringExpiresAt) > clock.now()) {
        ringHere(checkin);
      }
      if (isFinal(checkin.status)) void loadHistory();
    },
    [memberIds, ringHere, loadHistory, clock],
  );

  const lookUp = useCallback(
    async (id: string) => {
      try {
        apply(await api.get(id));
      } catch {
        // A call we may not see (another circle's, for a staff caregiver): nothing to show.
      }
    },
    [api, apply],
  );

  /** Calls ringing me now (on loading, and after the hub reconnects: events may have been missed). */
  const resync = useCallback(async () => {
    try {
      const lists = await Promise.all([...memberIds].map((id) => api.list({ memberId: id, status: 'ringing', limit: '10' })));
      for (const c of lists.flatMap((l) => l.data)) apply(c);
    } catch {
      // The next event or reconnect tries again.
    }
    const current = screenRef.current;
    if (current.kind === 'call') void lookUp(current.checkin.id);
    void loadHistory();
  }, [api, memberIds, apply, lookUp, loadHistory]);

  useHubEvents(
    (event) => {
      if (!event.type.startsWith('checkin.')) return;
      const ids = event.data.memberIds;
      const id = event.data.checkinId;
      if (typeof id !== 'string' || !Array.isArray(ids) || !ids.some((m) => memberIds.has(m))) return;
      void lookUp(id);
    },
    () => void resync(),
  );

  const opened = useRef(false);
  useEffect(() => {
    if (opened.current) return;
    opened.current = true;
    void resync();
    if (openCall) {
      // A call link: straight into that call (or what became of it).
      handled.current.add(openCall);
      api.get(openCall).then(
        (checkin) => setScreen(isFinal(checkin.status) ? { kind: 'ended', checkin, settling: false } : { kind: 'call', checkin }),
        (error: unknown) => setProblem(error instanceof Error ? error.message : 'The call could not be opened.'),
      );
    }
  }, [api, openCall, resync]);

  const startCall = async (callerMemberId: string, calleeMemberId: string) => {
    setProblem(null);
    try {
      const checkin = await api.start(callerMemberId, calleeMemberId);
      handled.current.add(checkin.id);
      setScreen({ kind: 'call', checkin });
    } catch (error) {
      setProblem(error instanceof Error ? error.message : 'The call could not be started.');
    }
  };

  const answer = () => {
    const checkin = incoming;
    if (!checkin) return;
    handled.current.add(checkin.id);
    setIncoming(null);
    setScreen({ kind: 'call', checkin });
  };
  const decline = async () => {
    const checkin = incoming;
    if (!checkin) return;
    handled.current.add(checkin.id);
    try {
      await api.decline(checkin.id);
      setIncoming(null);
      void loadHistory();
    } catch (error) {
      handled.current.delete(checkin.id);
      setProblem(error instanceof Error ? error.message : 'The call could not be declined.');
      setIncoming(null);
    }
  };

  /**
   * The room is over for this page: "Call ended" at once, then the call's record says how and how long (the server
   * writes it from the room's end, a moment later; its hub event usually comes first). A call still active after
   * that (this device lost the room, the other person is still there) can be joined again.
   */
  const roomEnded = useCallback(
    (id: string) => {
      const current = screenRef.current;
      if (current.kind !== 'call' || current.checkin.id !== id) return;
      setScreen({ kind: 'ended', checkin: current.checkin, settling: true });
      let tries = 0;
      const check = async () => {
        const now = screenRef.current;
        if (now.kind !== 'ended' || now.checkin.id !== id || !now.settling) return;
        tries += 1;
        try {
          const checkin = await api.get(id);
          if (isFinal(checkin.status) || tries >= 12) {
            setScreen({ kind: 'ended', checkin, settling: false });
            void loadHistory();
            return;
          }
        } catch {
          if (tries >= 12) return setScreen({ kind: 'home' });
        }
        setTimeout(() => void check(), 500);
      };
      void check();
    },
    [api, loadHistory],
  );

  const signOut = async () => {
    try {
      await api.signOut();
    } finally {
      onSignedOut();
    }
  };

  const clinic = me.org;
  const from = incoming ? (myParty(incoming, memberIds)?.other ?? incoming.caller) : null;
  const caller = from ? describe(from) : null;
  let body;
  if (screen.kind === 'call') {
    const party = myParty(screen.checkin, memberIds);
    body = (
      <CheckinCall
        key={screen.checkin.id}
        checkin={screen.checkin}
        memberIds={memberIds}
        api={api}
        clock={clock}
        clinic={clinic}
        otherLabel={party ? labelOf(party.other) : screen.checkin.callee.displayName}
        simple={recipientOnly}
        onRoomEnded={() => roomEnded(screen.checkin.id)}
      />
    );
  } else if (screen.kind === 'ended') {
    const party = myParty(screen.checkin, memberIds);
    body = (
      <CallEnded
        checkin={screen.checkin}
        memberIds={memberIds}
        clinic={clinic}
        otherLabel={party ? labelOf(party.other) : screen.checkin.callee.displayName}
        simple={recipientOnly}
        settling={screen.settling}
        onRejoin={() => setScreen({ kind: 'call', checkin: screen.checkin })}
        onDone={() => setScreen({ kind: 'home' })}
      />
    );
  } else if (me.members.length === 0) {
    body = (
      <main className="care">
        <ClinicBar clinic={clinic} />
        <div className="card stack">
          <h1>Check-in calls</h1>
          <p>You are not in anyone’s care circle yet. Your clinic adds you as a caregiver of the people you look after.</p>
          <p>
            <a href="/">Back to OpenVisit</a>
          </p>
        </div>
      </main>
    );
  } else if (recipientOnly) {
    body = <RecipientHome me={me} clinic={clinic} problem={problem} onCall={(callee) => void startCall(me.members[0]!.member.id, callee)} />;
  } else {
    body = (
      <CaregiverHome
        me={me}
        clinic={clinic}
        problem={problem}
        onDismissProblem={() => setProblem(null)}
        onCall={(caller, callee) => void startCall(caller, callee)}
        onSignOut={me.members.some((m) => m.member.userId === null) ? () => void signOut() : null}
        history={<History data={history} memberIds={memberIds} error={historyError} />}
      />
    );
  }

  return (
    <>
      {body}
      {incoming && caller ? (
        <IncomingCall checkin={incoming} clinic={clinic} callerName={caller.name} callerRelationship={caller.relationship} simple={recipientOnly} onAnswer={answer} onDecline={decline} />
      ) : null}
    </>
  );
}
