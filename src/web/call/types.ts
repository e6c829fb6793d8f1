import type { VisitToken } from '../../shared/api/visits.js';

/**
 * The in-call screen, shared by the clinician console (host) and the patient's page. It connects with the SDK,
 * shows gallery or speaker layout, self view, controls (microphone, camera, screen share, leave), the participant
 * list with network quality, the chat sidebar (API + server-delivered messages), the recording indicator, the
 * session timer and the reconnecting banner, and an "enable sound" button when autoplay is blocked.
 */
export interface CallProps {
  visitId: string;
  /** Whose page this is: the host gets host controls through `hostControls`. */
  as: 'host' | 'participant';
  /** Asks the server for a media token (first join, and again if one expires during a reconnect). */
  getToken: () => Promise<VisitToken>;
  /** Tracks already captured by the device check (published instead of capturing again). */
  tracks?: MediaStreamTrack[];
  /** When the visit is scheduled to end (the session timer counts against it). */
  endsAt?: string;
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
}
