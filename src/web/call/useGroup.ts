/**
 * A group visit on the call screen (docs/groups.md, "Web app"): whether the visit is one, who is in the spotlight,
 * the raised hands (hosts: the queue, oldest first; a participant: their own hand, raised and lowered from the control
 * bar), the server's group notices (`muted_by_host`, `unmute_requested`, `hand_lowered`: src/shared/channel.ts) and
 * the participant's own chosen name. Everything shown comes from the visit as the API gives it to this viewer (names
 * by the organisation's policy: never derived here).
 */
import { useEffect, useRef, useState } from 'react';
import type { Visit, VisitParticipant } from '../../shared/api/visits.js';
import { ApiError } from '../api.js';
import { visitPath, type Requester } from './request.js';
import type { CallRoom, Run } from './room.js';
import { apiText } from './useActions.js';

/** Staff with host rights in the visit. */
export const isClinicianRole = (role: string | null | undefined) => role === 'host' || role === 'cohost';

export interface GroupDeps {
  request: Requester;
  visitId: string;
  visit: Visit | null;
  self: VisitParticipant | undefined;
  run: Run;
  refresh(): Promise<void>;
  addNotice(text: string): void;
  /** Turns our microphone off (the host muted everyone) / on (we accept the host's request). */
  setMicrophone(on: boolean): Promise<void>;
  micOn: boolean;
  /**
   * The spotlight as the room's media policy says it (the SDK's `room.mediaPolicy`, told at once on every change),
   * null: nobody; undefined: the room has no policy (yet), so the visit's `spotlightParticipantId` is used.
   */
  policySpotlight: string | null | undefined;
}

export function useGroup(deps: GroupDeps) {
  const { request, visitId, visit, self, run, refresh, addNotice } = deps;
  const isGroup = visit?.kind === 'group';
  /** Our hand as we last set it, until the visit read back says the same (null: as the visit says). */
  const [handOverride, setHandOverride] = useState<boolean | null>(null);
  /** A host asked us to unmute: the prompt shows until we answer or turn the microphone on. */
  const [unmuteAsked, setUnmuteAsked] = useState(false);
  /** The organisation does not let participants choose their name (learnt from the server's answer). */
  const [namesFixed, setNamesFixed] = useState(false);

  const visitHand = self?.handRaisedAt != null;
  useEffect(() => {
    if (handOverride !== null && handOverride === visitHand) setHandOverride(null);
  }, [handOverride, visitHand]);
  const handRaised = handOverride ?? visitHand;

  useEffect(() => {
    if (deps.micOn) setUnmuteAsked(false);
  }, [deps.micOn]);

  const hands: VisitParticipant[] = (visit?.participants ?? [])
    .filter((p) => p.handRaisedAt !== null && p.admission === 'admitted')
    .sort((a, b) => Date.parse(a.handRaisedAt!) - Date.parse(b.handRaisedAt!) || (a.id < b.id ? -1 : 1));
  const seesHands = isGroup && isClinicianRole(self?.role);
  const handsKey = seesHands ? hands.map((p) => `${p.id}@${p.handRaisedAt}`).join(',') : '';
  /** The hands a host has been told about (null: not read yet; the hands up when the host arrives are not news). */
  const toldHands = useRef<Set<string> | null>(null);
  const loaded = visit !== null;
  useEffect(() => {
    if (!seesHands || !loaded) return;
    const now = new Set(handsKey ? handsKey.split(',') : []);
    if (toldHands.current !== null) {
      for (const p of hands) if (!toldHands.current.has(`${p.id}@${p.handRaisedAt}`)) addNotice(`${p.displayName} raised their hand.`);
    }
    toldHands.current = now;
    // `hands` comes from the visit; handsKey says when it changed.
  }, [seesHands, loaded, handsKey]);

  const toggleHand = () => {
    const raised = !handRaised;
    void run(
      'hand',
      async () => {
        await request('POST', visitPath(visitId, '/hand'), { raised });
        setHandOverride(raised);
        void refresh();
      },
      (e) => apiText(e, raised ? 'Your hand could not be raised.' : 'Your hand could not be lowered.'),
    );
  };

  /** A group notice from the server: handled here (true) or not ours (false). */
  const heardNotice = (code: string): boolean => {
    switch (code) {
      case 'muted_by_host':
        // The SDK has turned the microphone off already (its `mutedByHost`); this says so.
        setUnmuteAsked(false);
        addNotice('The host muted your microphone.');
        return true;
      case 'unmute_requested':
        setUnmuteAsked(true);
        return true;
      case 'hand_lowered':
        setHandOverride(false);
        addNotice('The host lowered your hand.');
        void refresh();
        return true;
      default:
        return false;
    }
  };

  const acceptUnmute = () => {
    setUnmuteAsked(false);
    void run('mic', () => deps.setMicrophone(true), (e) => `Your microphone could not be turned on. ${e instanceof Error ? e.message : ''}`);
  };

  /** Sets the name the others see (when the organisation allows it); rejects with words to show. */
  const chooseName = async (displayName: string) => {
    try {
      await request('PUT', visitPath(visitId, '/me/display-name'), { displayName });
    } catch (e) {
      if (e instanceof ApiError && e.code === 'display_name_not_allowed') {
        setNamesFixed(true);
        throw new Error('Your clinic does not let participants choose the name others see.');
      }
      throw new Error(apiText(e, 'Your name could not be changed.'));
    }
    await refresh();
  };

  return {
    isGroup,
    spotlight: isGroup ? (deps.policySpotlight !== undefined ? deps.policySpotlight : (visit?.spotlightParticipantId ?? null)) : null,
    mutedAll: visit?.mutedAll ?? false,
    selfUnmute: visit?.selfUnmute ?? true,
    locked: visit?.locked ?? false,
    hands,
    handRaised,
    toggleHand,
    heardNotice,
    unmuteAsked,
    acceptUnmute,
    dismissUnmute: () => setUnmuteAsked(false),
    canChooseName: isGroup && !namesFixed && self !== undefined && !isClinicianRole(self.role),
    chooseName,
  };
}

export type Group = ReturnType<typeof useGroup>;

/**
 * The speaker view's large tile in a group (not a host's spotlight, which the server already puts first for everyone):
 * pinned for this viewer, so the server keeps sending it, in its best layer, whatever last-N would choose.
 */
export function usePinnedFeature(room: CallRoom | null, identity: string | null) {
  useEffect(() => {
    if (!room || !identity) return;
    room.setPinned(identity, 'camera', true);
    return () => room.setPinned(identity, 'camera', false);
  }, [room, identity]);
}
