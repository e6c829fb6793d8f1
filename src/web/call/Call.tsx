/**
 * The in-call screen, shared by the clinician console (`as: 'host'`, with `hostControls`) and the patient's page
 * (`as: 'participant'`, which also uses it as the waiting room: connected, seeing nobody, until admitted). It sits
 * in the page's flow, from where it starts down to the window's bottom (useFitToWindow). Props and what tests can
 * find: types.ts. Connection:
 * useCallRoom.ts; names, admission and recording state: useVisit.ts (the API); chat: useChat.ts.
 */
import { useCallback, useEffect, useId, useLayoutEffect, useMemo, useRef, useState, type ReactNode, type RefObject } from 'react';
import type { RemoteParticipant } from '../../sdk/index.js';
import type { ChatMessage, ConsentText, VisitParticipant } from '../../shared/api/visits.js';
import { ApiError } from '../api.js';
import { ServerClock } from '../time.js';
import './call.css';
import { ChatPanel } from './ChatPanel.js';
import { ConfirmDialog, type ConfirmProps } from './ConfirmDialog.js';
import { CameraIcon, ChatIcon, EndIcon, GalleryIcon, LeaveIcon, MicIcon, PeopleIcon, RecordIcon, ScreenIcon, SoundIcon, SpeakerIcon } from './icons.js';
import { LocalVideo, NetworkQuality, RemoteAudio, RemoteVideo, initials, type AudioRegistry } from './media.js';
import { ParticipantsPanel, type PersonActions, type PersonRow } from './ParticipantsPanel.js';
import { RecordingConsent } from './RecordingConsent.js';
import { requesterFor, visitPath } from './request.js';
import { SessionTimer } from './SessionTimer.js';
import type { CallProps } from './types.js';
import { chatMessageOf, isRecord, useChat } from './useChat.js';
import { mediaMessage, useCallRoom } from './useCallRoom.js';
import { useVisit } from './useVisit.js';

export type { CallEnd, CallProps, HostControls } from './types.js';

type Layout = 'gallery' | 'speaker';
type Side = 'chat' | 'participants' | null;

interface Tile {
  key: string;
  source: 'camera' | 'screen';
  participant: RemoteParticipant;
  name: string;
}

/** A timestamped claim about whether the visit is recorded; the newest source wins. */
interface RecordingClaim {
  on: boolean;
  at: number;
}

const VISIT_POLL_MS = 10_000;
const WAITING_POLL_MS = 3_000;
const NOTICE_MS = 8_000;
const CHAT_NOTICE_MS = 15_000;
/** The least height the call takes, however little of the window is left below what is above it. */
const MIN_CALL_HEIGHT = 360;

export function Call(props: CallProps) {
  const { visitId, as, hostControls, timeZone } = props;
  const request = requesterFor(as);
  const uid = useId();

  const [side, setSide] = useState<Side>(null);
  const [layout, setLayout] = useState<Layout>('gallery');
  const [soundBlocked, setSoundBlocked] = useState(false);
  const [notices, setNotices] = useState<{ id: number; text: string }[]>([]);
  const [problem, setProblem] = useState<string | null>(null);
  const [busy, setBusy] = useState<ReadonlySet<string>>(() => new Set());
  const [confirm, setConfirm] = useState<Omit<ConfirmProps, 'onCancel'> | null>(null);
  const [noticeRecording, setNoticeRecording] = useState<RecordingClaim | null>(null);
  const [hostRecording, setHostRecording] = useState<RecordingClaim | null>(null);
  const [consentOpen, setConsentOpen] = useState(false);
  const [consentText, setConsentText] = useState<ConsentText | null>(null);
  const [consentBusy, setConsentBusy] = useState(false);
  const [consentError, setConsentError] = useState<string | null>(null);
  const [agreedAt, setAgreedAt] = useState<string | null>(null);
  const [textStale, setTextStale] = useState(false);
  const [showRecordReason, setShowRecordReason] = useState(false);
  const [hostMuteOverride, setHostMuteOverride] = useState<Record<string, { audio?: boolean; video?: boolean }>>({});
  const [clock] = useState(() => new ServerClock());
  const [mountedAt] = useState(() => clock.now());
  const [chatNotice, setChatNotice] = useState<{ count: number; last: ChatMessage } | null>(null);
  const surveyUrl = useRef<string | undefined>(undefined);
  const endNotice = useRef<string | null>(null);
  const noticeSeq = useRef(0);
  const rootRef = useRef<HTMLDivElement>(null);
  const [fullscreen, setFullscreen] = useState(false);
  const chatToggle = useRef<HTMLButtonElement>(null);
  const peopleToggle = useRef<HTMLButtonElement>(null);
  useFitToWindow(rootRef);

  const noticeTimers = useRef(new Set<ReturnType<typeof setTimeout>>());
  useEffect(() => {
    const timers = noticeTimers.current;
    return () => {
      for (const timer of timers) clearTimeout(timer);
    };
  }, []);
  const addNotice = useCallback((text: string) => {
    const id = ++noticeSeq.current;
    setNotices((list) => [...list.slice(-2), { id, text }]);
    const timer = setTimeout(() => {
      noticeTimers.current.delete(timer);
      setNotices((list) => list.filter((n) => n.id !== id));
    }, NOTICE_MS);
    noticeTimers.current.add(timer);
  }, []);

  const call = useCallRoom(props.getToken, props.tracks, {
    onData(payload, from) {
      if (from !== null) return; // only the server speaks on the data channel in a visit
      let data: unknown;
      try {
        data = JSON.parse(payload);
      } catch {
        return;
      }
      const message = chatMessageOf(data, visitId);
      if (message) return chat.receive(message);
      if (isRecord(data) && data.type === 'survey' && typeof data.url === 'string') surveyUrl.current = data.url;
      else props.onServerData?.(data);
    },
    onNotice(notice) {
      if (notice.code === 'recording_started') setNoticeRecording({ on: true, at: Date.now() });
      else if (notice.code === 'recording_stopped') setNoticeRecording({ on: false, at: Date.now() });
      else if (notice.code === 'recording_consent_required') {
        setNoticeRecording({ on: true, at: Date.now() });
        if (as === 'participant') setConsentOpen(true);
      } else {
        // Denied or removed: the server's words (the host's message) are what the page shows once the call ends.
        if (notice.code === 'denied' || notice.code === 'removed') endNotice.current = notice.message;
        addNotice(notice.message);
      }
    },
    onRemotesChanged() {
      visit.refreshSoon();
    },
    onReconnected() {
      void visit.refresh();
      if (admitted) void chat.load();
    },
    onEnd(reason, message) {
      props.onLeft({ reason, message: endNotice.current ?? message, ...(surveyUrl.current ? { surveyUrl: surveyUrl.current } : {}) });
    },
  });
  const { room, phase } = call;
  const token = call.token?.value ?? null;
  const me = token?.identity ?? null;
  const live = phase === 'connected' || phase === 'reconnecting';

  const visit = useVisit(request, visitId, as === 'host', live, VISIT_POLL_MS, clock);
  const people = useMemo(() => new Map<string, VisitParticipant>((visit.visit?.value.participants ?? []).map((p) => [p.id, p])), [visit.visit]);
  const self = me ? people.get(me) : undefined;
  const nameOf = (id: string) => people.get(id)?.displayName ?? 'Participant';

  // ---- who is where ------------------------------------------------------------------------------------------
  const remotes: RemoteParticipant[] = room ? [...room.participants.values()] : [];
  // A host's token sees everyone in the room, waiting or not: only the visit's admitted people are in the call.
  const seesEveryone = as === 'host' || (room?.grants.admin ?? false);
  const inVisit = (id: string) => {
    if (!visit.visit) return true;
    const p = people.get(id);
    return p !== undefined && (p.role === 'host' || p.admission === 'admitted');
  };
  const inCall = seesEveryone ? remotes.filter((p) => inVisit(p.identity)) : remotes;
  const waitingRemotes = seesEveryone && visit.visit ? remotes.filter((p) => people.get(p.identity)?.admission === 'waiting') : [];
  const myAdmission = self?.admission ?? token?.admission ?? null;
  // Someone else in view means we are in the visit (a waiting participant is alone in their own group).
  const waiting = as === 'participant' && live && inCall.length === 0 && (myAdmission === 'waiting' || myAdmission === 'invited');
  const admitted = live && !waiting;

  // A message from someone else while the chat is closed: a notice over the video (the count stays on "Chat").
  const onUnread = useCallback((fresh: ChatMessage[]) => {
    const last = fresh[fresh.length - 1];
    if (last) setChatNotice((n) => ({ count: (n?.count ?? 0) + fresh.length, last }));
  }, []);
  const chat = useChat(request, visitId, admitted, side === 'chat', me, onUnread);
  const { load: loadChat } = chat;
  useEffect(() => {
    if (admitted && props.transcriptVersion) void loadChat();
  }, [admitted, props.transcriptVersion, loadChat]);
  useEffect(() => {
    if (side === 'chat' || !admitted) setChatNotice(null);
  }, [side, admitted]);
  useEffect(() => {
    if (!chatNotice) return;
    const timer = setTimeout(() => setChatNotice(null), CHAT_NOTICE_MS);
    return () => clearTimeout(timer);
  }, [chatNotice]);

  useEffect(() => {
    if (!waiting) return;
    const timer = setInterval(() => void visit.refresh(), WAITING_POLL_MS);
    return () => clearInterval(timer);
  }, [waiting, visit.refresh]);

  // ---- recording ---------------------------------------------------------------------------------------------
  const claims: RecordingClaim[] = [];
  if (call.token) claims.push({ on: call.token.value.recording, at: call.token.at });
  if (visit.visit) claims.push({ on: visit.visit.value.recordingSince !== null, at: visit.visit.at });
  if (visit.recordingState) claims.push({ on: visit.recordingState.value.recording, at: visit.recordingState.at });
  if (noticeRecording) claims.push(noticeRecording);
  if (hostRecording) claims.push(hostRecording);
  const recording = claims.reduce<RecordingClaim | null>((a, b) => (a === null || b.at >= a.at ? b : a), null)?.on ?? false;
  const myConsentAt = agreedAt ?? self?.recordingConsentAt ?? null;
  const notRecordedMe = as === 'participant' && recording && myConsentAt === null;
  const tokenAsks = token?.consentsRequired.find((c) => c.kind === 'recording') ?? null;

  // Ask as soon as the visit is recorded without our consent (again after "Not now" only if it stops and restarts).
  useEffect(() => {
    if (notRecordedMe) setConsentOpen(true);
  }, [notRecordedMe]);

  useEffect(() => {
    if (!consentOpen || consentText) return;
    if (tokenAsks && !textStale) return setConsentText(tokenAsks);
    let stale = false;
    request<ConsentText[]>('GET', '/consent-texts')
      .then((texts) => {
        if (stale) return;
        const text = texts.find((t) => t.kind === 'recording');
        if (text) setConsentText(text);
        else setConsentError('The recording consent text could not be found.');
      })
      .catch((error: unknown) => !stale && setConsentError(error instanceof ApiError ? error.message : 'The consent text could not be loaded.'));
    return () => {
      stale = true;
    };
  }, [consentOpen, consentText, tokenAsks, textStale, request]);

  const agreeToRecording = async () => {
    if (!consentText) return;
    setConsentBusy(true);
    setConsentError(null);
    try {
      await request('POST', visitPath(visitId, '/consents'), { kind: 'recording', version: consentText.version });
      setAgreedAt(new Date().toISOString());
      setConsentOpen(false);
      addNotice(recording ? 'Thank you. You are now included in the recording.' : 'Thank you. Your clinician can now record the visit.');
      visit.refreshSoon();
    } catch (error) {
      if (error instanceof ApiError && isRecord(error.details) && typeof error.details.currentVersion === 'string') {
        // A newer text was published: show it (from the server, not the token's copy); they agree to what they read.
        setTextStale(true);
        setConsentText(null);
        setConsentError('The consent text has just been updated. Please read the new version.');
      } else setConsentError(error instanceof ApiError ? error.message : 'Your answer could not be saved. Try again.');
    } finally {
      setConsentBusy(false);
    }
  };

  // The host may record once everyone admitted and connected has agreed (waiting people are never recorded).
  const consentMissing = (visit.recordingState?.value.notRecorded ?? []).filter((id) => {
    const p = people.get(id);
    return p !== undefined && p.role !== 'host' && p.admission === 'admitted';
  });
  const recordBlockedReason = hostControls && !recording && consentMissing.length > 0 ? consentReason(consentMissing.map(nameOf)) : null;

  // ---- sound -------------------------------------------------------------------------------------------------
  const audioEls = useRef(new Set<HTMLAudioElement>());
  const registry = useMemo<AudioRegistry>(
    () => ({
      add: (el) => audioEls.current.add(el),
      delete: (el) => audioEls.current.delete(el),
      blocked: () => setSoundBlocked(true),
    }),
    [],
  );
  const enableSound = useCallback(async () => {
    const results = await Promise.allSettled([...audioEls.current].map((el) => el.play()));
    if (results.every((r) => r.status === 'fulfilled')) setSoundBlocked(false);
  }, []);
  // Any click or key press lets the page play sound: use the first one (the button stays until it worked).
  useEffect(() => {
    if (!soundBlocked) return;
    const retry = () => void enableSound();
    document.addEventListener('pointerdown', retry, true);
    document.addEventListener('keydown', retry, true);
    return () => {
      document.removeEventListener('pointerdown', retry, true);
      document.removeEventListener('keydown', retry, true);
    };
  }, [soundBlocked, enableSound]);

  // ---- layout ------------------------------------------------------------------------------------------------
  const screens: Tile[] = inCall.filter((p) => p.tracks.has('screen')).map((p) => ({ key: `${p.identity}:screen`, source: 'screen', participant: p, name: nameOf(p.identity) }));
  const cameras: Tile[] = inCall.map((p) => ({ key: `${p.identity}:camera`, source: 'camera', participant: p, name: nameOf(p.identity) }));
  const screenKey = screens.map((t) => t.key).join(',');
  const seenScreens = useRef(new Set<string>());
  useEffect(() => {
    // A new screen share is what everyone wants to see: show it large (the viewer can switch back).
    const keys = screenKey ? screenKey.split(',') : [];
    if (keys.some((k) => !seenScreens.current.has(k))) setLayout('speaker');
    seenScreens.current = new Set(keys);
  }, [screenKey]);
  const featured = screens[0] ?? cameras.find((t) => t.participant.identity === call.lastSpeaker) ?? cameras[0] ?? null;
  const others = [...screens, ...cameras].filter((t) => t !== featured);

  // ---- local controls ----------------------------------------------------------------------------------------
  const local = room?.localParticipant ?? null;
  const micOn = local?.microphoneEnabled ?? false;
  const cameraTrack = local?.tracks.get('camera') ?? null;
  const sharing = local?.screenSharing ?? false;
  const canShare = typeof navigator !== 'undefined' && typeof navigator.mediaDevices?.getDisplayMedia === 'function';

  const run = async (key: string, action: () => Promise<void>, describe: (error: unknown) => string | null) => {
    if (busy.has(key)) return;
    setBusy((s) => new Set(s).add(key));
    try {
      await action();
    } catch (error) {
      const text = describe(error);
      if (text) setProblem(text);
    } finally {
      setBusy((s) => {
        const next = new Set(s);
        next.delete(key);
        return next;
      });
      call.bump();
    }
  };

  const deviceProblem = (what: string, on: boolean) => (e: unknown) =>
    on ? `Your ${what} could not be turned on. ${e instanceof Error ? mediaMessage(e) : ''}` : `Your ${what} could not be turned off. ${e instanceof Error ? e.message : ''}`;
  const toggleMic = () => {
    if (local) void run('mic', () => local.setMicrophoneEnabled(!micOn), deviceProblem('microphone', !micOn));
  };
  const toggleCamera = () => {
    if (local) void run('camera', () => local.setCameraEnabled(!cameraTrack), deviceProblem('camera', !cameraTrack));
  };
  const toggleShare = () => {
    if (!local) return;
    void run(
      'screen',
      async () => {
        if (sharing) await local.stopScreenShare();
        else await local.startScreenShare();
      },
      // Closing the browser's picker is a choice, not an error.
      (e) => (e instanceof DOMException && (e.name === 'NotAllowedError' || e.name === 'AbortError') ? null : `Screen sharing could not start. ${e instanceof Error ? e.message : ''}`),
    );
  };

  const apiText = (e: unknown, fallback: string) => (e instanceof ApiError ? e.message : e instanceof Error && e.message ? e.message : fallback);

  const toggleRecording = () => {
    if (!hostControls) return;
    if (recordBlockedReason) return setShowRecordReason((v) => !v);
    void run(
      'record',
      async () => {
        if (recording) {
          await hostControls.stopRecording();
          setHostRecording({ on: false, at: Date.now() });
        } else {
          await hostControls.startRecording();
          setHostRecording({ on: true, at: Date.now() });
        }
        await visit.refresh();
      },
      (e) => {
        if (e instanceof ApiError && e.code === 'recording_consent_missing') {
          void visit.refresh();
          const ids = isRecord(e.details) && Array.isArray(e.details.participantIds) ? e.details.participantIds.filter((x): x is string => typeof x === 'string') : [];
          return ids.length > 0 ? consentReason(ids.map(nameOf)) : "Recording needs everyone's consent.";
        }
        return apiText(e, recording ? 'Recording could not be stopped.' : 'Recording could not start.');
      },
    );
  };

  const personActions: PersonActions | null = hostControls
    ? {
        busy,
        mute: (p, kind, muted) =>
          void run(
            `${p.id}:${kind}`,
            async () => {
              await hostControls.mute(p.id, kind, muted);
              setHostMuteOverride((o) => ({ ...o, [p.id]: { ...o[p.id], [kind]: muted } }));
              visit.refreshSoon();
            },
            (e) => apiText(e, `${p.name} could not be ${muted ? 'muted' : 'unmuted'}.`),
          ),
        sendToWaitingRoom: (p) =>
          void run(
            `${p.id}:return`,
            async () => {
              await hostControls.sendToWaitingRoom(p.id);
              addNotice(`${p.name} is back in the waiting room.`);
              visit.refreshSoon();
            },
            (e) => apiText(e, `${p.name} could not be sent to the waiting room.`),
          ),
        remove: (p) =>
          setConfirm({
            title: `Remove ${p.name}?`,
            body: `${p.name} will leave the visit and their link will stop working. They cannot come back unless you invite them again.`,
            confirmLabel: 'Yes, remove',
            onConfirm: () => {
              setConfirm(null);
              void run(
                `${p.id}:remove`,
                async () => {
                  await hostControls.remove(p.id);
                  visit.refreshSoon();
                },
                (e) => apiText(e, `${p.name} could not be removed.`),
              );
            },
          }),
      }
    : null;

  const endForEveryone = () => {
    if (!hostControls) return;
    setConfirm({
      title: 'End the visit for everyone?',
      body:
        'Everyone is disconnected, every join link stops working and the visit is closed for good; its summary opens. ' +
        'This cannot be undone. To step out and come back, choose Leave instead: the visit stays open.',
      confirmLabel: 'Yes, end visit',
      onConfirm: () => {
        setConfirm(null);
        void run('end', () => hostControls.endForEveryone(), (e) => apiText(e, 'The visit could not be ended.'));
      },
    });
  };

  // ---- full screen -------------------------------------------------------------------------------------------
  const canFullscreen = typeof document !== 'undefined' && document.fullscreenEnabled === true;
  useEffect(() => {
    const changed = () => setFullscreen(document.fullscreenElement !== null && document.fullscreenElement === rootRef.current);
    document.addEventListener('fullscreenchange', changed);
    return () => document.removeEventListener('fullscreenchange', changed);
  }, []);
  const toggleFullscreen = () => {
    if (document.fullscreenElement) void document.exitFullscreen().catch(() => undefined);
    else void rootRef.current?.requestFullscreen().catch(() => undefined);
  };

  // ---- side panels -------------------------------------------------------------------------------------------
  const toggleSide = (which: Exclude<Side, null>) => setSide((s) => (s === which ? null : which));
  const closeSide = () => {
    const back = side === 'chat' ? chatToggle.current : peopleToggle.current;
    setSide(null);
    back?.focus();
  };
  // Chat and participants need the visit (a waiting participant has neither).
  useEffect(() => {
    if (!admitted) setSide(null);
  }, [admitted]);

  const rows: PersonRow[] = [];
  if (me) {
    rows.push({
      id: me,
      name: self?.displayName ?? 'You',
      role: self?.role ?? (as === 'host' ? 'host' : null),
      self: true,
      quality: local?.networkQuality ?? null,
      micOff: !micOn,
      cameraOff: !cameraTrack,
      hostMuted: { audio: false, video: false },
      notRecorded: false,
    });
  }
  for (const p of inCall) rows.push(personRow(p, people.get(p.identity), hostMuteOverride[p.identity], consentMissing.includes(p.identity)));
  const waitingRows = waitingRemotes.map((p) => personRow(p, people.get(p.identity), undefined, false));

  const consentFooter: ReactNode =
    as === 'participant' && myConsentAt === null ? (
      <div className="ov-people__consent">
        <h3 className="ov-people__sub">Recording</h3>
        <p className="muted">{recording ? 'This visit is being recorded. You are not recorded unless you agree.' : 'You have not agreed to be recorded. Your clinician can only record the visit if everyone agrees.'}</p>
        <button
          type="button"
          onClick={() => {
            setSide(null);
            setConsentOpen(true);
          }}
        >
          Review recording consent
        </button>
      </div>
    ) : null;

  // ---- render ------------------------------------------------------------------------------------------------
  const endsAtIso = visit.visit?.value.endsAt ?? props.endsAt ?? null;
  const startedAtIso = visit.visit?.value.startedAt ?? null;

  if (phase === 'ended') {
    return (
      <div className="ov-call ov-call--over">
        <p className="ov-call__center" role="status">
          The call has ended.
        </p>
      </div>
    );
  }

  return (
    <div ref={rootRef} className={`ov-call${side ? ' has-side' : ''}`} data-layout={layout} data-role={as}>
      <header className="ov-call__top">
        <div className="ov-call__top-left" aria-live="polite">
          {recording ? (
            <span className="ov-rec">
              <span className="ov-rec__dot" aria-hidden="true" />
              Recording
              {notRecordedMe ? <span className="ov-rec__you"> — you are not recorded</span> : null}
            </span>
          ) : null}
        </div>
        {admitted ? <SessionTimer startedAt={startedAtIso ? Date.parse(startedAtIso) : null} endsAt={endsAtIso ? Date.parse(endsAtIso) : null} clock={clock} /> : <span />}
        <div className="ov-call__top-right">
          {live ? (
            <span className="ov-call__conn">
              <span className="ov-call__conn-label">Your connection</span>
              <NetworkQuality level={local?.networkQuality ?? null} who="your connection" />
            </span>
          ) : null}
          {admitted ? (
            <button type="button" className="ov-top-button ov-top-button--layout" aria-label={layout === 'gallery' ? 'Switch to speaker view' : 'Switch to gallery view'} onClick={() => setLayout((l) => (l === 'gallery' ? 'speaker' : 'gallery'))}>
              {layout === 'gallery' ? <SpeakerIcon /> : <GalleryIcon />}
              <span>{layout === 'gallery' ? 'Speaker view' : 'Gallery view'}</span>
            </button>
          ) : null}
          {canFullscreen ? (
            <button type="button" className="ov-top-button" aria-pressed={fullscreen} onClick={toggleFullscreen}>
              Full screen
            </button>
          ) : null}
        </div>
      </header>

      <div className="ov-banners">
        {phase === 'reconnecting' ? (
          <div className="ov-banner ov-banner--warn" role="status">
            <strong>Reconnecting…</strong> <span>Your connection dropped. Hold on, we are getting you back.</span>
          </div>
        ) : null}
        {soundBlocked ? (
          <div className="ov-banner ov-banner--sound" role="alert">
            <span>Your browser blocked the sound of this call.</span>
            <button type="button" className="primary ov-sound-button" onClick={() => void enableSound()}>
              <SoundIcon /> Enable sound
            </button>
          </div>
        ) : null}
        {problem ? (
          <div className="ov-banner ov-banner--error" role="alert">
            <span>{problem}</span>
            <button type="button" className="ov-close" aria-label="Dismiss" onClick={() => setProblem(null)}>
              ×
            </button>
          </div>
        ) : null}
        <div aria-live="polite" className="ov-notices">
          {sharing ? <div className="ov-banner">You are sharing your screen.</div> : null}
          {notices.map((n) => (
            <div key={n.id} className="ov-banner">
              {n.text}
            </div>
          ))}
        </div>
      </div>

      <div className="ov-call__body">
        <section className={waiting ? 'ov-stage ov-stage--waiting' : 'ov-stage'} aria-label="Video">
          {phase === 'connecting' ? <p className="ov-call__center" role="status">Connecting…</p> : null}
          {phase === 'failed' && call.failure ? (
            <div className="ov-call__center ov-card" role="alert">
              <h2>We could not connect you</h2>
              <p>{call.failure.message}</p>
              <div className="ov-row">
                <button type="button" className="primary" onClick={() => call.retry()}>
                  Try again
                </button>
                {/* Audio only; the SDK cannot join publishing nothing at all (a microphone is needed). */}
                {call.failure.media ? (
                  <button type="button" onClick={() => call.retry({ audio: true, video: false })}>
                    Join without camera
                  </button>
                ) : null}
              </div>
            </div>
          ) : null}
          {waiting ? (
            <WaitingCard clinician={hostName(people)} since={self?.arrivedAt ? Date.parse(self.arrivedAt) : mountedAt} clock={clock}>
              {props.waitingInfo}
            </WaitingCard>
          ) : null}
          {admitted && inCall.length === 0 ? (
            <div className="ov-call__center ov-card">
              <h2>Nobody else is here yet</h2>
              <p className="muted">
                {seesEveryone
                  ? waitingRemotes.length > 0
                    ? `${waitingRemotes.length === 1 ? '1 person is' : `${waitingRemotes.length} people are`} in the waiting room. Admit them from the waiting room panel.`
                    : 'Your patient will appear here once you admit them from the waiting room.'
                  : 'The others will appear here when they join.'}
              </p>
            </div>
          ) : null}
          {admitted && inCall.length > 0 && layout === 'gallery' ? (
            <div className="ov-gallery" data-count={Math.min(screens.length + cameras.length, 9)}>
              {[...screens, ...cameras].map((t) => (
                <VideoTile key={t.key} tile={t} speaking={call.speaking === t.participant.identity} />
              ))}
            </div>
          ) : null}
          {admitted && inCall.length > 0 && layout === 'speaker' && featured ? (
            <div className="ov-speaker">
              <div className="ov-speaker__main">
                <VideoTile tile={featured} speaking={call.speaking === featured.participant.identity} />
              </div>
              {others.length > 0 ? (
                <div className="ov-speaker__strip">
                  {others.map((t) => (
                    <VideoTile key={t.key} tile={t} speaking={call.speaking === t.participant.identity} />
                  ))}
                </div>
              ) : null}
            </div>
          ) : null}
          {room && phase !== 'failed' ? (
            <figure className={waiting ? 'ov-self ov-self--large' : 'ov-self'}>
              {cameraTrack ? (
                <LocalVideo track={cameraTrack} label="Self view" mirrored />
              ) : (
                <div className="ov-tile__avatar" aria-hidden="true">
                  {initials(self?.displayName ?? 'You')}
                </div>
              )}
              <figcaption>{cameraTrack ? 'You' : 'You (camera off)'}</figcaption>
            </figure>
          ) : null}
          {consentOpen && as === 'participant' ? (
            <RecordingConsent
              text={consentText}
              recording={recording}
              busy={consentBusy}
              error={consentError}
              onAgree={() => void agreeToRecording()}
              onDismiss={() => {
                setConsentOpen(false);
                setConsentError(null);
              }}
            />
          ) : null}
        </section>

        <div className="ov-chat-notice" role="status" aria-live="polite">
          {chatNotice ? (
            <div className="ov-toast">
              <ChatIcon />
              <p className="ov-toast__text">
                <strong>{chatNotice.count > 1 ? `${chatNotice.count} new messages, the last from ${chatNotice.last.displayName}` : `New message from ${chatNotice.last.displayName}`}</strong>
                <span className="ov-toast__body">{firstWords(chatNotice.last.body)}</span>
              </p>
              <button type="button" className="primary ov-toast__open" onClick={() => setSide('chat')}>
                Open chat
              </button>
              <button type="button" className="ov-close" aria-label="Dismiss the message notice" onClick={() => setChatNotice(null)}>
                ×
              </button>
            </div>
          ) : null}
        </div>

        {side && admitted ? (
          <aside
            className="ov-side"
            id={`${uid}-side`}
            aria-label={side === 'chat' ? 'Chat' : 'Participants'}
            onKeyDown={(e) => {
              if (e.key === 'Escape') closeSide();
            }}
          >
            {side === 'chat' ? (
              <ChatPanel chat={chat} me={me} timeZone={timeZone} nameOf={nameOf} onClose={closeSide} />
            ) : (
              <ParticipantsPanel people={rows} waiting={waitingRows} actions={personActions} error={null} footer={consentFooter} onClose={closeSide} />
            )}
          </aside>
        ) : null}
      </div>

      <footer className="ov-controls" role="group" aria-label="Call controls">
        <button type="button" className={micOn ? 'ov-ctl' : 'ov-ctl is-off'} aria-label={micOn ? 'Mute microphone' : 'Unmute microphone'} disabled={!live || busy.has('mic')} onClick={toggleMic}>
          <MicIcon off={!micOn} />
          <span className="ov-ctl__text">{micOn ? 'Mute' : 'Unmute'}</span>
        </button>
        <button type="button" className={cameraTrack ? 'ov-ctl' : 'ov-ctl is-off'} aria-label={cameraTrack ? 'Turn camera off' : 'Turn camera on'} disabled={!live || busy.has('camera')} onClick={toggleCamera}>
          <CameraIcon off={!cameraTrack} />
          <Label long={cameraTrack ? 'Camera off' : 'Camera on'} short="Camera" />
        </button>
        {admitted && canShare ? (
          <button type="button" className={sharing ? 'ov-ctl is-active' : 'ov-ctl'} aria-label={sharing ? 'Stop sharing' : 'Share screen'} disabled={busy.has('screen')} onClick={toggleShare}>
            <ScreenIcon off={sharing} />
            <Label long={sharing ? 'Stop sharing' : 'Share screen'} short={sharing ? 'Stop share' : 'Share'} />
          </button>
        ) : null}
        {admitted ? (
          <button
            ref={peopleToggle}
            type="button"
            className={side === 'participants' ? 'ov-ctl is-active' : 'ov-ctl'}
            aria-label={`Participants (${rows.length})`}
            aria-expanded={side === 'participants'} aria-controls={side === 'participants' ? `${uid}-side` : undefined} onClick={() => toggleSide('participants')}>
            <PeopleIcon />
            <Label long="Participants" short="People" />
            <span className="ov-ctl__count" aria-hidden="true">
              {rows.length}
            </span>
          </button>
        ) : null}
        {admitted ? (
          <button
            ref={chatToggle}
            type="button"
            className={side === 'chat' ? 'ov-ctl is-active' : 'ov-ctl'}
            aria-label={chat.unread > 0 ? `Chat (${chat.unread} unread)` : 'Chat'}
            aria-expanded={side === 'chat'}
            aria-controls={side === 'chat' ? `${uid}-side` : undefined}
            onClick={() => toggleSide('chat')}
          >
            <ChatIcon />
            <span className="ov-ctl__text">Chat</span>
            {chat.unread > 0 ? (
              <span className="ov-ctl__badge" aria-hidden="true">
                {chat.unread > 99 ? '99+' : chat.unread}
              </span>
            ) : null}
          </button>
        ) : null}
        {admitted && hostControls ? (
          <span className="ov-ctl-wrap">
            <button
              type="button"
              className={recording ? 'ov-ctl is-recording' : 'ov-ctl'}
              aria-disabled={recordBlockedReason ? true : undefined}
              aria-describedby={recordBlockedReason ? `${uid}-record-reason` : undefined}
              disabled={busy.has('record')}
              onClick={toggleRecording}
            >
              <RecordIcon stop={recording} />
              <Label long={recording ? 'Stop recording' : 'Record'} short={recording ? 'Stop rec.' : 'Record'} />
            </button>
            {recordBlockedReason ? (
              <span id={`${uid}-record-reason`} className={showRecordReason ? 'ov-hint is-shown' : 'ov-hint'}>
                {recordBlockedReason}
              </span>
            ) : null}
          </span>
        ) : null}
        <button type="button" className="ov-ctl ov-ctl--leave" title={hostControls ? 'Leave the call; the visit stays open and you can rejoin' : 'Leave the call'} onClick={call.leave}>
          <LeaveIcon />
          <span className="ov-ctl__text">Leave</span>
        </button>
        {hostControls && live ? (
          <span className="ov-controls__end">
            <button type="button" className="ov-ctl ov-ctl--end" aria-label="End visit for everyone" disabled={busy.has('end')} onClick={endForEveryone}>
              <EndIcon />
              <Label long="End visit for all" short="End for all" />
            </button>
          </span>
        ) : null}
      </footer>

      <div className="ov-audio">
        {remotes.map((p) => {
          const track = p.tracks.get('microphone');
          return track ? <RemoteAudio key={`${p.identity}:${track.sid}`} track={track} identity={p.identity} registry={registry} /> : null;
        })}
      </div>

      {confirm ? <ConfirmDialog {...confirm} onCancel={() => setConfirm(null)} /> : null}
    </div>
  );
}

/**
 * Sizes the call to the window (the CSS variable --ov-call-fit): from where it starts on the page down to the
 * window's bottom, less the bottom padding of what holds it, so every control is in view without scrolling whatever
 * the page puts above it (a header, a banner that comes and goes). Measured again when the window or the page
 * changes size.
 */
function useFitToWindow(ref: RefObject<HTMLDivElement | null>) {
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    let frame = 0;
    const fit = () => {
      frame = 0;
      let below = 0;
      for (let box = el.parentElement; box && box !== document.documentElement; box = box.parentElement) {
        const style = getComputedStyle(box);
        below += (parseFloat(style.paddingBottom) || 0) + (parseFloat(style.borderBottomWidth) || 0);
      }
      const top = el.getBoundingClientRect().top + window.scrollY;
      const height = Math.max(MIN_CALL_HEIGHT, Math.floor(window.innerHeight - top - below));
      if (el.style.getPropertyValue('--ov-call-fit') !== `${height}px`) el.style.setProperty('--ov-call-fit', `${height}px`);
    };
    const soon = () => {
      if (!frame) frame = requestAnimationFrame(fit);
    };
    fit();
    window.addEventListener('resize', soon);
    const observer = new ResizeObserver(soon);
    observer.observe(document.body);
    return () => {
      window.removeEventListener('resize', soon);
      observer.disconnect();
      if (frame) cancelAnimationFrame(frame);
    };
  }, [ref]);
}

/** A control's words: the long ones, or the short ones when the call is narrow (call.css; the hidden one is not read). */
function Label({ long, short }: { long: string; short: string }) {
  return (
    <span className="ov-ctl__text">
      <span className="ov-ctl__long">{long}</span>
      <span className="ov-ctl__short">{short}</span>
    </span>
  );
}

function VideoTile({ tile, speaking }: { tile: Tile; speaking: boolean }) {
  const { participant: p, name, source } = tile;
  const track = p.tracks.get(source);
  const published = p.published.find((t) => t.source === source);
  const mic = p.published.find((t) => t.source === 'microphone');
  const off = !track || track.muted || track.hostMuted;
  const micOff = !mic || mic.muted || mic.hostMuted;
  return (
    <figure className={`ov-tile ov-tile--${source}${speaking && source === 'camera' ? ' is-speaking' : ''}`} data-identity={p.identity}>
      {track ? <RemoteVideo track={track} label={source === 'screen' ? `Screen shared by ${name}` : `Video of ${name}`} className={off ? 'is-hidden' : undefined} /> : null}
      {off && source === 'camera' ? (
        <div className="ov-tile__avatar" aria-hidden="true">
          {initials(name)}
        </div>
      ) : null}
      <figcaption className="ov-tile__caption">
        <span className="ov-tile__name">{source === 'screen' ? `${name}'s screen` : name}</span>
        {source === 'camera' && micOff ? (
          <span className="ov-tile__muted">
            <MicIcon off />
            <span className="visually-hidden">microphone off</span>
          </span>
        ) : null}
        {source === 'camera' && off && published ? <span className="visually-hidden">camera off</span> : null}
        {source === 'camera' ? <NetworkQuality level={p.networkQuality} who={name} /> : null}
      </figcaption>
    </figure>
  );
}

function WaitingCard({ clinician, since, clock, children }: { clinician: string | null; since: number; clock: ServerClock; children?: ReactNode }) {
  // Read on every render (the server's time, as well as it is known by then), and again every 15 s.
  const [, tick] = useState(0);
  useEffect(() => {
    const timer = setInterval(() => tick((n) => n + 1), 15_000);
    return () => clearInterval(timer);
  }, []);
  const minutes = Math.max(0, Math.floor((clock.now() - since) / 60_000));
  return (
    <div className="ov-call__center ov-card ov-waiting">
      {children}
      <h2>Waiting for the clinician to let you in</h2>
      <p>{clinician ? `${clinician} has been notified that you are here.` : 'Your clinician has been notified that you are here.'}</p>
      <p className="muted">
        {minutes < 1 ? 'You just arrived.' : `You have been waiting ${minutes} minute${minutes === 1 ? '' : 's'}.`} Please keep this page open; you will join the visit automatically.
      </p>
    </div>
  );
}

/** The start of a message for a notice: its first words, cut at a word near 90 characters. */
function firstWords(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  if (flat.length <= 90) return flat;
  const cut = flat.slice(0, 90);
  const space = cut.lastIndexOf(' ');
  return `${(space > 40 ? cut.slice(0, space) : cut).trimEnd()}…`;
}

function personRow(p: RemoteParticipant, info: VisitParticipant | undefined, override: { audio?: boolean; video?: boolean } | undefined, notRecorded: boolean): PersonRow {
  const pub = (source: 'microphone' | 'camera') => p.published.find((t) => t.source === source);
  const hostMuted = (kind: 'audio' | 'video') => {
    const tracks = p.published.filter((t) => t.kind === kind);
    return tracks.length > 0 ? tracks.some((t) => t.hostMuted) : (override?.[kind] ?? false);
  };
  const mic = pub('microphone');
  const cam = pub('camera');
  return {
    id: p.identity,
    name: info?.displayName ?? 'Participant',
    role: info?.role ?? null,
    self: false,
    quality: p.networkQuality,
    micOff: !mic || mic.muted,
    cameraOff: !cam || cam.muted,
    hostMuted: { audio: hostMuted('audio'), video: hostMuted('video') },
    notRecorded,
  };
}

function hostName(people: Map<string, VisitParticipant>): string | null {
  for (const p of people.values()) if (p.role === 'host') return p.displayName;
  return null;
}

function consentReason(names: string[]): string {
  const list = names.length <= 1 ? (names[0] ?? 'Someone') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
  return `Recording needs everyone's consent: ${list} ${names.length > 1 ? 'have' : 'has'} not agreed to be recorded yet.`;
}
