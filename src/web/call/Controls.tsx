/**
 * The control bar: microphone, camera, screen share, participants, chat, (group participants) raise / lower hand,
 * (host) record, Leave, and set apart in red,
 * (host) "End visit for everyone" (it asks first: useCallEnd.ts). Chat, participants and sharing need the visit: a
 * waiting participant has only their devices and Leave. Each button's words shorten when the call is narrow.
 */
import type { RefObject } from 'react';
import { CameraIcon, ChatIcon, EndIcon, HandIcon, LeaveIcon, MicIcon, PeopleIcon, RecordIcon, ScreenIcon } from './icons.js';
import type { Side } from './useSidePanel.js';

export interface ControlsProps {
  live: boolean;
  admitted: boolean;
  /** Keys of the actions under way (useActions.ts): their buttons are disabled. */
  busy: ReadonlySet<string>;
  media: { micOn: boolean; cameraTrack: MediaStreamTrack | null; toggleMic(): void; toggleCamera(): void };
  share: { sharing: boolean; canShare: boolean; toggleShare(): void };
  side: { side: Side | null; toggle(which: Side): void; chatToggle: RefObject<HTMLButtonElement | null>; peopleToggle: RefObject<HTMLButtonElement | null> };
  /** The side panel's element id (the toggles control it). */
  sideId: string;
  peopleCount: number;
  /** Hosts of a group visit: how many hands are up (shown on the Participants button; 0: none). */
  handsUp: number;
  unread: number;
  onLeave(): void;
  /** Group visits, participants: their raised hand (null: no hand to raise). */
  hand: { raised: boolean; toggle(): void } | null;
  /** The host's controls (absent for participants). */
  host: HostButtons | null;
}

export interface HostButtons {
  recording: boolean;
  /** Why recording cannot start yet (the button says so instead), with its element id. */
  recordBlockedReason: string | null;
  showRecordReason: boolean;
  recordReasonId: string;
  toggleRecording(): void;
  endForEveryone(): void;
}

export function Controls({ live, admitted, busy, media, share, side, sideId, peopleCount, handsUp, unread, onLeave, hand, host }: ControlsProps) {
  const { micOn, cameraTrack } = media;
  const open = side.side;
  return (
    <footer className="ov-controls" role="group" aria-label="Call controls">
      <button type="button" className={micOn ? 'ov-ctl' : 'ov-ctl is-off'} aria-label={micOn ? 'Mute microphone' : 'Unmute microphone'} disabled={!live || busy.has('mic')} onClick={media.toggleMic}>
        <MicIcon off={!micOn} />
        <span className="ov-ctl__text">{micOn ? 'Mute' : 'Unmute'}</span>
      </button>
      <button type="button" className={cameraTrack ? 'ov-ctl' : 'ov-ctl is-off'} aria-label={cameraTrack ? 'Turn camera off' : 'Turn camera on'} disabled={!live || busy.has('camera')} onClick={media.toggleCamera}>
        <CameraIcon off={!cameraTrack} />
        <Label long={cameraTrack ? 'Camera off' : 'Camera on'} short="Camera" />
      </button>
      {admitted && share.canShare ? (
        <button type="button" className={share.sharing ? 'ov-ctl is-active' : 'ov-ctl'} aria-label={share.sharing ? 'Stop sharing' : 'Share screen'} disabled={busy.has('screen')} onClick={share.toggleShare}>
          <ScreenIcon off={share.sharing} />
          <Label long={share.sharing ? 'Stop sharing' : 'Share screen'} short={share.sharing ? 'Stop share' : 'Share'} />
        </button>
      ) : null}
      {admitted ? (
        <button
          ref={side.peopleToggle}
          type="button"
          className={open === 'participants' ? 'ov-ctl is-active' : 'ov-ctl'}
          aria-label={`Participants (${peopleCount})${handsUp > 0 ? `, ${handsUp === 1 ? '1 hand' : `${handsUp} hands`} raised` : ''}`}
          aria-expanded={open === 'participants'}
          aria-controls={open === 'participants' ? sideId : undefined}
          onClick={() => side.toggle('participants')}
        >
          <PeopleIcon />
          <Label long="Participants" short="People" />
          <span className="ov-ctl__count" aria-hidden="true">
            {peopleCount}
          </span>
          {handsUp > 0 ? (
            <span className="ov-ctl__badge ov-ctl__badge--hand" aria-hidden="true">
              <HandIcon />
              {handsUp}
            </span>
          ) : null}
        </button>
      ) : null}
      {admitted ? (
        <button
          ref={side.chatToggle}
          type="button"
          className={open === 'chat' ? 'ov-ctl is-active' : 'ov-ctl'}
          aria-label={unread > 0 ? `Chat (${unread} unread)` : 'Chat'}
          aria-expanded={open === 'chat'}
          aria-controls={open === 'chat' ? sideId : undefined}
          onClick={() => side.toggle('chat')}
        >
          <ChatIcon />
          <span className="ov-ctl__text">Chat</span>
          {unread > 0 ? (
            <span className="ov-ctl__badge" aria-hidden="true">
              {unread > 99 ? '99+' : unread}
            </span>
          ) : null}
        </button>
      ) : null}
      {admitted && hand ? (
        <button
          type="button"
          className={hand.raised ? 'ov-ctl is-hand' : 'ov-ctl'}
          aria-pressed={hand.raised}
          aria-label={hand.raised ? 'Lower hand' : 'Raise hand'}
          disabled={busy.has('hand')}
          onClick={hand.toggle}
        >
          <HandIcon />
          <Label long={hand.raised ? 'Lower hand' : 'Raise hand'} short={hand.raised ? 'Lower' : 'Hand'} />
        </button>
      ) : null}
      {admitted && host ? <RecordButton host={host} busy={busy.has('record')} /> : null}
      <button type="button" className="ov-ctl ov-ctl--leave" title={host ? 'Leave the call; the visit stays open and you can rejoin' : 'Leave the call'} onClick={onLeave}>
        <LeaveIcon />
        <span className="ov-ctl__text">Leave</span>
      </button>
      {host && live ? (
        <span className="ov-controls__end">
          <button type="button" className="ov-ctl ov-ctl--end" aria-label="End visit for everyone" disabled={busy.has('end')} onClick={host.endForEveryone}>
            <EndIcon />
            <Label long="End visit for all" short="End for all" />
          </button>
        </span>
      ) : null}
    </footer>
  );
}

/** Record / Stop recording; while it cannot start, a click shows why (the reason is also its description). */
function RecordButton({ host, busy }: { host: HostButtons; busy: boolean }) {
  const { recording, recordBlockedReason: reason } = host;
  return (
    <span className="ov-ctl-wrap">
      <button
        type="button"
        className={recording ? 'ov-ctl is-recording' : 'ov-ctl'}
        aria-disabled={reason ? true : undefined}
        aria-describedby={reason ? host.recordReasonId : undefined}
        disabled={busy}
        onClick={host.toggleRecording}
      >
        <RecordIcon stop={recording} />
        <Label long={recording ? 'Stop recording' : 'Record'} short={recording ? 'Stop rec.' : 'Record'} />
      </button>
      {reason ? (
        <span id={host.recordReasonId} className={host.showRecordReason ? 'ov-hint is-shown' : 'ov-hint'}>
          {reason}
        </span>
      ) : null}
    </span>
  );
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
