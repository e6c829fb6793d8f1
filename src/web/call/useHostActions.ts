/**
 * The host's actions in the call: per person (mute / unmute their audio or video for everyone, send them back to the
 * waiting room, remove them after a confirmation; in group visits also ask to unmute, spotlight, a private message,
 * lower a hand, admit), for the whole group (mute all, lock, admit all) and recording (start / stop; while someone
 * admitted has not agreed the button only shows why, `recordBlockedReason`).
 */
import { useState } from 'react';
import { ApiError } from '../api.js';
import type { ConfirmProps } from './ConfirmDialog.js';
import type { HostButtons } from './Controls.js';
import type { GroupActions, PersonActions } from './ParticipantsPanel.js';
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
        askToUnmute: (p) =>
          void run(
            `${p.id}:ask-unmute`,
            async () => {
              await hostControls.askToUnmute(p.id);
              addNotice(`${p.name} was asked to unmute.`);
              refreshSoon();
            },
            (e) => apiText(e, `${p.name} could not be asked to unmute.`),
          ),
        spotlight: (p, on) =>
          void run(
            `${p.id}:spotlight`,
            async () => {
              await hostControls.spotlight(on ? p.id : null);
              await refresh();
            },
            (e) => apiText(e, on ? `${p.name} could not be put in the spotlight.` : 'The spotlight could not be removed.'),
          ),
        lowerHand: (p) =>
          void run(
            `${p.id}:hand`,
            async () => {
              await hostControls.lowerHand(p.id);
              await refresh();
            },
            (e) => apiText(e, `${p.name}'s hand could not be lowered.`),
          ),
        admit: (p) =>
          void run(
            `${p.id}:admit`,
            async () => {
              await hostControls.admit(p.id);
              await refresh();
            },
            (e) => apiText(e, `${p.name} could not be admitted.`),
          ),
        async message(p, body) {
          try {
            await hostControls.message(p.id, body);
          } catch (e) {
            throw new Error(apiText(e, `The message to ${p.name} could not be sent.`));
          }
        },
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

  /** For the whole group (participants panel). */
  const groupActions: GroupActions | null = hostControls
    ? {
        busy,
        muteAll: (muted, selfUnmute) =>
          void run(
            'mute-all',
            async () => {
              await hostControls.muteAll(muted, selfUnmute);
              addNotice(muted ? (selfUnmute ? 'Everyone is muted; they can unmute themselves.' : 'Everyone is muted until you ask them to unmute.') : 'Mute all is lifted.');
              await refresh();
            },
            (e) => apiText(e, muted ? 'Everyone could not be muted.' : 'Mute all could not be lifted.'),
          ),
        lock: (locked) =>
          void run(
            'lock',
            async () => {
              await hostControls.lock(locked);
              await refresh();
            },
            (e) => apiText(e, locked ? 'The visit could not be locked.' : 'The visit could not be unlocked.'),
          ),
        admitAll: () =>
          void run(
            'admit-all',
            async () => {
              await hostControls.admitAll();
              await refresh();
            },
            (e) => apiText(e, 'Everyone waiting could not be admitted.'),
          ),
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

  return { personActions, groupActions, muteOverrides, buttons };
}
