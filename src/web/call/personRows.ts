/** The participants panel's rows (ParticipantsPanel.tsx's PersonRow), from the room and the visit. */
import type { VisitParticipant } from '../../shared/api/visits.js';
import type { PersonRow } from './ParticipantsPanel.js';
import type { RemotePeer } from './room.js';
import { isClinicianRole } from './useGroup.js';
import type { MuteOverrides } from './useHostActions.js';

export interface RowsInput {
  as: 'host' | 'participant';
  /** Our identity (null until the token came) and visit participant, our connection and devices. */
  me: string | null;
  self: VisitParticipant | undefined;
  quality: number | null;
  micOn: boolean;
  cameraOn: boolean;
  inCall: RemotePeer[];
  waitingRemotes: RemotePeer[];
  people: Map<string, VisitParticipant>;
  muteOverrides: MuteOverrides;
  consentMissing: string[];
  /** Group visits: the participant in the spotlight. */
  spotlight: string | null;
}

/** Ourselves first, then the others in the call; apart, those in the waiting room (host view). */
export function personRows(input: RowsInput): { rows: PersonRow[]; waitingRows: PersonRow[] } {
  const { as, me, self, people } = input;
  const rows: PersonRow[] = [];
  if (me) {
    rows.push({
      id: me,
      name: self?.displayName ?? 'You',
      role: self?.role ?? (as === 'host' ? 'host' : null),
      self: true,
      quality: input.quality,
      micOff: !input.micOn,
      cameraOff: !input.cameraOn,
      hostMuted: { audio: false, video: false },
      notRecorded: false,
      clinician: isClinicianRole(self?.role ?? (as === 'host' ? 'host' : null)),
      handRaised: self?.handRaisedAt != null,
      spotlit: input.spotlight === me,
    });
  }
  for (const p of input.inCall) rows.push(personRow(p, people.get(p.identity), input.muteOverrides[p.identity], input.consentMissing.includes(p.identity), input.spotlight));
  const waitingRows = input.waitingRemotes.map((p) => personRow(p, people.get(p.identity), undefined, false, null));
  return { rows, waitingRows };
}

function personRow(p: RemotePeer, info: VisitParticipant | undefined, override: MuteOverrides[string] | undefined, notRecorded: boolean, spotlight: string | null): PersonRow {
  const pub = (source: 'microphone' | 'camera') => p.published.find((t) => t.source === source);
  // Host-muted as the tracks say; with no track of that kind yet, as the host last asked.
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
    clinician: isClinicianRole(info?.role),
    handRaised: info?.handRaisedAt != null,
    spotlit: spotlight === p.identity,
  };
}
