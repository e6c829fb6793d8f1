/**
 * Whether the visit is recorded, and who is left out of it. Several sources say so, each at its own time: the media
 * token, the visit and (host) the recording state read from the API, the server's notices, and the host's own
 * start / stop. The newest claim wins.
 */
import { useState } from 'react';
import type { Visit, VisitParticipant, VisitRecordingState } from '../../shared/api/visits.js';
import type { CallToken } from './room.js';

/** A timestamped claim about whether the visit is recorded; the newest source wins. */
interface RecordingClaim {
  on: boolean;
  at: number;
}

type Stamped<T> = { value: T; at: number } | null;

export function useRecording(
  token: Stamped<CallToken>,
  visit: Stamped<Visit>,
  recordingState: Stamped<VisitRecordingState>,
  people: Map<string, VisitParticipant>,
) {
  const [noticeRecording, setNoticeRecording] = useState<RecordingClaim | null>(null);
  const [hostRecording, setHostRecording] = useState<RecordingClaim | null>(null);

  const claims: RecordingClaim[] = [];
  if (token) claims.push({ on: token.value.recording, at: token.at });
  if (visit) claims.push({ on: visit.value.recordingSince !== null, at: visit.at });
  if (recordingState) claims.push({ on: recordingState.value.recording, at: recordingState.at });
  if (noticeRecording) claims.push(noticeRecording);
  if (hostRecording) claims.push(hostRecording);
  const recording = claims.reduce<RecordingClaim | null>((a, b) => (a === null || b.at >= a.at ? b : a), null)?.on ?? false;

  // The host may record once everyone admitted and connected has agreed (waiting people are never recorded).
  const consentMissing = (recordingState?.value.notRecorded ?? []).filter((id) => {
    const p = people.get(id);
    return p !== undefined && p.role !== 'host' && p.admission === 'admitted';
  });

  return {
    recording,
    consentMissing,
    /** A server notice (`recording_started`, `recording_stopped`, `recording_consent_required`). */
    heard(on: boolean) {
      setNoticeRecording({ on, at: Date.now() });
    },
    /** The host started or stopped it (the API answered). */
    hostSet(on: boolean) {
      setHostRecording({ on, at: Date.now() });
    },
  };
}

/** Why the host may not record yet, naming who has not agreed. */
export function consentReason(names: string[]): string {
  const list = names.length <= 1 ? (names[0] ?? 'Someone') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
  return `Recording needs everyone's consent: ${list} ${names.length > 1 ? 'have' : 'has'} not agreed to be recorded yet.`;
}
