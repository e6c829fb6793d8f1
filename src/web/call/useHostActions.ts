/**
 * The host's actions in the call: per person (mute / unmute their audio or video for everyone, send them back to the
 * waiting room, remove them after a confirmation) and recording (start / stop; while someone admitted has not agreed
 * the button only shows why, `recordBlockedReason`).
 */
import { useState } from 'react';
import { ApiError } from '../api.js';
import type { ConfirmProps } from './ConfirmDialog.js';
import type { HostButtons } from './Controls.js';
import type { PersonActions } from './ParticipantsPanel.js';
import type { Run } from './room.js';
import type { HostControls } from './types.js';
import { apiText } from './useActions.js';
import { endForEveryone } from './useCallEnd.js';
import { isRecord } from './useChat.js';
import { consentReason } from './useRecording.js';

/** What the host told the server about someone's media before any track shows it (by person, then kind). */
export type MuteOverrides = Record<string, { audio?: boolean; video?: boolean }>;

export interface HostActionDeps {
  run: Run;
  busy: ReadonlySet<string>;
  ask(confirm: Omit<ConfirmProps, 'onCancel'>): void;
  addNotice(text: string): void;
  refresh(): Promise<void>;
  refreshSoon(): void;
  nameOf(id: string): string;
  recording: boolean;
  /** The admitted people who have not agreed to be recorded. */
  consentMissing: string[];
  /** The host's start / stop went through. */
  recordingSet(on: boolean): void;
  /** The element id of the reason recording cannot start yet. */
  recordReasonId: string;
}

export function useHostActions(hostControls: HostControls | undefined, deps: HostActionDeps) {
  const { run, busy, ask, addNotice, refresh, refreshSoon, nameOf, recording, consentMissing } = deps;
  const [muteOverrides, setMuteOverrides] = useState<MuteOverrides>({});
  const [showRecordReason, setShowRecordReason] = useState(false);
  const recordBlockedReason = hostControls && !recording && consentMissing.length > 0 ? consentReason(consentMissing.map(nameOf)) : null;

  const toggleRecording = () => {
    if (!hostControls) return;
    if (recordBlockedReason) return setShowRecordReason((v) => !v);
    void run(
      'record',
      async () => {
        if (recording) {
          await hostControls.stopRecording();
          deps.recordingSet(false);
        } else {
          await hostControls.startRecording();
          deps.recordingSet(true);
        }
        await refresh();
      },
      (e) => {
        if (e instanceof ApiError && e.code === 'recording_consent_missing') {
          void refresh();
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
              setMuteOverrides((o) => ({ ...o, [p.id]: { ...o[p.id], [kind]: muted } }));
              refreshSoon();
            },
            (e) => apiText(e, `${p.name} could not be ${muted ? 'muted' : 'unmuted'}.`),
          ),
        sendToWaitingRoom: (p) =>
          void run(
            `${p.id}:return`,
            async () => {
              await hostControls.sendToWaitingRoom(p.id);
              addNotice(`${p.name} is back in the waiting room.`);
              refreshSoon();
            },
            (e) => apiText(e, `${p.name} could not be sent to the waiting room.`),
          ),
        remove: (p) =>
          ask({
            title: `Remove ${p.name}?`,
            body: `${p.name} will leave the visit and their link will stop working. They cannot come back unless you invite them again.`,
            confirmLabel: 'Yes, remove',
            onConfirm: () =>
              void run(
                `${p.id}:remove`,
                async () => {
                  await hostControls.remove(p.id);
                  refreshSoon();
                },
                (e) => apiText(e, `${p.name} could not be removed.`),
              ),
          }),
      }
    : null;

  /** The control bar's host buttons: Record / Stop recording, End visit for everyone. */
  const buttons: HostButtons | null = hostControls
    ? {
        recording,
        recordBlockedReason,
        showRecordReason,
        recordReasonId: deps.recordReasonId,
        toggleRecording,
        endForEveryone: () => endForEveryone(hostControls, ask, run),
      }
    : null;

  return { personActions, muteOverrides, buttons };
}
