/**
 * A check-in call on screen, for both sides (caregiver and recipient): the other person's video large and whole
 * (object-fit: contain), my own small beside the End button, the countdown to the server's end of the call (the SDK
 * Room's deadline; the server ends the room, this screen only hears it), and, until both are connected, what is
 * happening ("Calling Rosa…", "Connecting…"). The media is the browser SDK's Room through the visit call's
 * useCallRoom (token from `POST /checkins/:id/token`, which also answers the call for this party).
 */
import { useCallback, useState } from 'react';
import { RemoteAudios, LocalVideo, RemoteVideo, initials } from '../call/media.js';
import { useCallRoom } from '../call/useCallRoom.js';
import { useSound } from '../call/useSound.js';
import type { ServerClock } from '../time.js';
import { type CareApi, type Checkin, myParty } from './careApi.js';
import { Countdown } from './Countdown.js';
import { ClinicBar, type Clinic } from './ClinicBar.js';
import { useRoomDeadline } from './useRoomDeadline.js';

export interface CheckinCallProps {
  checkin: Checkin;
  memberIds: ReadonlySet<string>;
  api: CareApi;
  clock: ServerClock;
  clinic: Clinic;
  /** "Rosa Layout (Mother)": how the other person is named on this screen. */
  otherLabel: string;
  /** The recipient's screen: bigger type, fewer words. */
  simple: boolean;
  /** The room is over for this page (ended by the server, refused, or left): the page looks the call up. */
  onRoomEnded(reason: string): void;
}

export function CheckinCall({ checkin, memberIds, api, clock, clinic, otherLabel, simple, onRoomEnded }: CheckinCallProps) {
  const party = myParty(checkin, memberIds);
  const other = party?.other ?? checkin.callee;
  const sound = useSound();
  const [ending, setEnding] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const getToken = useCallback(() => api.token(checkin.id), [api, checkin.id]);
  const call = useCallRoom(getToken, undefined, {
    onData: () => undefined,
    onNotice: ({ message }) => setProblem(message),
    onRemotesChanged: () => undefined,
    onReconnected: () => setProblem(null),
    onEnd: (reason) => onRoomEnded(reason),
  });
  const { room, phase } = call;
  const deadline = useRoomDeadline(room);
  // The room's deadline first (the channel's word), else the call's own record of it (same server value).
  const endsAt = deadline?.endsAt ?? (checkin.endsAt ? Date.parse(checkin.endsAt) : null);

  const remote = room?.participants.get(other.memberId) ?? null;
  const remoteVideo = remote?.tracks.get('camera') ?? null;
  const myCamera = room?.localParticipant.tracks.get('camera') ?? null;
  const active = checkin.status === 'active';
  const waitingForAnswer = checkin.status === 'ringing' && other.answeredAt === null;

  const end = async () => {
    setEnding(true);
    setProblem(null);
    try {
      await api.end(checkin.id);
      // The room ends (the server's doing); this screen hears it and the page shows the end.
    } catch (error) {
      setEnding(false);
      setProblem(error instanceof Error ? error.message : 'The call could not be ended.');
    }
  };

  let status: string | null = null;
  if (phase === 'failed') status = call.failure?.media ? call.failure.message : 'We could not connect the call. Check your internet connection.';
  else if (waitingForAnswer) status = `Calling ${other.displayName}…`;
  else if (phase === 'connecting' || !remote) status = 'Connecting…';
  else if (phase === 'reconnecting') status = 'Reconnecting…';
  // Both were away: the server ends the call soon unless someone comes back (the countdown shows when).
  const away = deadline?.reason === 'disconnected' && !remote;

  return (
    <div className={`care-call${simple ? ' care-call--simple' : ''}`} data-status={checkin.status}>
      <header className="care-call__top">
        <ClinicBar clinic={clinic} compact />
        <div className="care-call__who">
          <h1 className="care-call__title">
            <span className="visually-hidden">Call with </span>
            {otherLabel}
          </h1>
          {active || deadline ? <Countdown endsAt={endsAt} clock={clock} size={simple ? 'huge' : 'large'} /> : null}
        </div>
        {away ? <p className="care-call__away">The call ends soon unless {other.displayName} comes back.</p> : null}
      </header>
      <section className="care-call__stage" aria-label="Video">
        {remoteVideo ? <RemoteVideo track={remoteVideo} label={`Video of ${other.displayName}`} className="care-call__remote" /> : null}
        {!remoteVideo && remote && !status ? (
          <div className="care-call__avatar" aria-hidden="true">
            {initials(other.displayName)}
          </div>
        ) : null}
        {status ? (
          <p className="care-call__status" role="status">
            {status}
          </p>
        ) : null}
        {phase === 'failed' ? (
          <button type="button" className="care-call__retry" onClick={() => call.retry()}>
            Try again
          </button>
        ) : null}
      </section>
      {problem ? (
        <p className="care-call__problem" role="alert">
          {problem}
        </p>
      ) : null}
      {sound.soundBlocked ? (
        <button type="button" className="care-call__sound" onClick={() => void sound.enableSound()}>
          Turn on sound
        </button>
      ) : null}
      <footer className="care-call__bottom">
        <figure className="care-call__self">
          {myCamera ? (
            <LocalVideo track={myCamera} label="Your own video" mirrored />
          ) : (
            <div className="care-call__self-empty" aria-hidden="true">
              You
            </div>
          )}
          <figcaption className="visually-hidden">You</figcaption>
        </figure>
        <button type="button" className="danger care-call__end" onClick={() => void end()} disabled={ending}>
          {waitingForAnswer && party?.side === 'caller' ? 'Cancel call' : 'End call'}
        </button>
      </footer>
      <RemoteAudios remotes={remote ? [remote] : []} registry={sound.registry} />
    </div>
  );
}
