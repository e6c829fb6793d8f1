import type { ReactNode } from 'react';
import type { VisitToken } from '../../shared/api/visits.js';

/**
 * The in-call screen, shared by the clinician console (host) and the patient's page. It connects with the SDK,
 * shows gallery or speaker layout, self view, controls (microphone, camera, screen share, leave), the participant
 * list with network quality, the chat sidebar (API + server-delivered messages), the recording indicator, the
 * session timer and the reconnecting banner, and an "enable sound" button when autoplay is blocked. For a
 * participant it is also the waiting room ("Waiting for the clinician to let you in") until the host admits them.
 *
 * Pass stable `getToken` / `hostControls` / `onLeft` (useCallback / useMemo): the call connects once per mount
 * (remount it, e.g. with a new `key`, to join again). It sits in the page's flow, from where it starts down to the
 * window's bottom (measured; override with the CSS variable `--ov-call-height`), and has a "Full screen" toggle.
 *
 * What tests can find (role and label locators):
 * - buttons: "Mute microphone" / "Unmute microphone", "Turn camera off" / "Turn camera on", "Share screen" /
 *   "Stop sharing", "Participants (N)", "Chat" ("Chat (N unread)" while messages wait), "Leave" (not red); in the top
 *   bar "Switch to speaker view" / "Switch to gallery view", "Full screen" (aria-pressed); "Enable sound"; host:
 *   "Record" / "Stop recording" (aria-disabled, with the reason as its description, until everyone has agreed),
 *   "End visit for everyone" (red, set apart; visible words "End visit for all") then
 *   "Yes, end visit" in the dialog; per person in the participants list (`li[data-identity=<participant id>]`):
 *   "Mute audio" / "Unmute audio", "Mute video" / "Unmute video", "Send to waiting room", "Remove" then
 *   "Yes, remove"; group visits (docs/groups.md, "Web app"): per person also "Ask to unmute", "Spotlight" /
 *   "Remove spotlight", "Message" (then textbox "Private message to <name>", "Send privately"); in the participants
 *   panel the searchbox "Search participants", the list "Raised hands" (in order, each with "Lower hand"), "Mute all"
 *   (checkbox "Let them unmute themselves") / "Lift mute all", "Lock visit" / "Unlock visit", and in its waiting list
 *   "Admit <name>", "Admit all"; the control bar's "Raise hand" / "Lower hand" (aria-pressed; participants), the
 *   prompt "The host asks you to unmute" with "Unmute" and "Not now"; the top bar's select "Tiles per page"; the
 *   gallery's "Previous page" / "Next page" and "Page N of M"; the spotlit tile says "Spotlight"; chat: textbox "Message", "Send", "Close chat"; consent: "I agree to be recorded", "Not now",
 *   "Review recording consent" (participants panel).
 * - media: `video` labelled "Video of <name>", "Screen shared by <name>", "Self view"; `audio[data-identity=<id>]`.
 * - texts: "Recording" (indicator), "Reconnecting…" (role status), "Waiting for the clinician to let you in",
 *   "Nobody else is here yet"; `window.ovCall.room` is the SDK Room.
 * - the timer: role timer "Time in the visit" ("Not started" until the visit is in progress; its elapsed part
 *   carries `data-seconds`); a chat message while the chat is closed: a notice (role status) "New message from
 *   <name>" with its first words and "Open chat".
 */
export interface CallProps {
  visitId: string;
  /** Whose page this is: the host gets host controls through `hostControls`. */
  as: 'host' | 'participant';
  /** Asks the server for a media token (first join, and again if one expires during a reconnect). */
  getToken: () => Promise<VisitToken>;
  /**
   * Tracks already captured by the device check, published instead of capturing again. Only the kinds given are
   * published (audio only: the camera starts off, the user can turn it on); none still live: both are captured.
   * The SDK stops them when the call ends.
   */
  tracks?: MediaStreamTrack[];
  /**
   * The time zone chat times are shown in, with its abbreviation: the console passes the clinic's (the
   * organisation's); without it, the device's own (the patient's page). See src/web/time.ts.
   */
  timeZone?: string;
  /** When the visit is scheduled to end (the session timer counts against it). */
  endsAt?: string;
  /** Participant: what the page adds to the waiting room's card (the clinic, clinician and time; the host's notes). */
  waitingInfo?: ReactNode;
  /** What the server sends on the media connection that the call itself does not handle (e.g. `{ type: 'note' }`). */
  onServerData?: (data: unknown) => void;
  /**
   * Changes when the visit's transcript gained a message the media connection does not bring to this page (the
   * console: the hub's `visit.message_sent`, e.g. the host's private note to someone waiting, which the server
   * delivers to its recipient only): the chat fetches what is new.
   */
  transcriptVersion?: number;
  /**
   * Changes when the visit changed in a way the media connection does not tell this page (the console: the hub's
   * visit events, e.g. a raised hand): the call reads the visit again.
   */
  visitVersion?: number;
  /** Host only: the extra controls (participant list actions, recording, end for everyone). */
  hostControls?: HostControls;
  /**
   * The call is over for this page: `reason` is the SDK's disconnect reason ('left', 'removed', 'room_ended',
   * 'token_expired', 'connection_lost', …) or, when joining failed for good, the API error's code (e.g.
   * 'not_admitted', 'invalid_state'). Being sent back to the waiting room is not an end: the call screen shows the
   * waiting state itself. `surveyUrl`: the post-visit survey the server sent when the visit ended (patients).
   */
  onLeft: (why: CallEnd) => void;
}

export interface CallEnd {
  reason: string;
  message: string;
  surveyUrl?: string;
}

export interface HostControls {
  mute(participantId: string, kind: 'audio' | 'video', muted: boolean): Promise<void>;
  remove(participantId: string): Promise<void>;
  sendToWaitingRoom(participantId: string): Promise<void>;
  startRecording(): Promise<void>;
  stopRecording(): Promise<void>;
  endForEveryone(): Promise<void>;
  /** Let someone in from the waiting room / everyone who waits (a full group answers visit_full). */
  admit(participantId: string): Promise<void>;
  admitAll(): Promise<void>;
  /** Group visits: lower someone's raised hand. */
  lowerHand(participantId: string): Promise<void>;
  /** Group visits: the person everyone sees large (null: nobody). */
  spotlight(participantId: string | null): Promise<void>;
  /** Group visits: mute everyone but the hosts (`selfUnmute`: they may unmute themselves), or lift it. */
  muteAll(muted: boolean, selfUnmute: boolean): Promise<void>;
  /** Group visits: ask someone to turn their microphone on (it lifts the host's own mute of them). */
  askToUnmute(participantId: string): Promise<void>;
  /** A private message to one person in the visit. */
  message(participantId: string, body: string): Promise<void>;
  /** Nobody new gets in while locked. */
  lock(locked: boolean): Promise<void>;
}
