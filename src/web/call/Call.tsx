/**
 * The in-call screen, shared by the clinician console (`as: 'host'`, with `hostControls`) and the patient's page
 * (`as: 'participant'`, which also uses it as the waiting room: connected, seeing nobody, until admitted). Props and
 * what tests can find: types.ts. This component only wires its parts together; each part holds its own state:
 *
 * - connection: useCallRoom.ts (the SDK room, phase, speakers, retry, leave); the visit from the API: useVisit.ts;
 *   who is where (in the call, waiting, admitted): useRoster.ts; chat: useChat.ts
 * - on screen, top to bottom: TopBar.tsx (recording indicator, timer, connection, layout, full screen), Banners.tsx
 *   (reconnecting, sound, a control's failure, notices), Stage.tsx (status cards, tiles: VideoTile.tsx, self view,
 *   WaitingCard.tsx; RecordingConsent.tsx over it), ChatNoticeToast.tsx, SidePanel.tsx (ChatPanel / ParticipantsPanel),
 *   Controls.tsx (the control bar), the remote audio elements, and a ConfirmDialog.tsx when one is asked
 * - behaviour: useActions.ts (busy keys, the problem banner), localControls.ts (microphone, camera, screen share),
 *   useStageLayout.ts (tiles, gallery / speaker), useFitToWindow.ts (the call's height), useFullscreen.ts,
 *   useSound.ts (autoplay), useNotices.ts (notices, the chat notice), useSidePanel.ts, useRecording.ts and
 *   useRecordingConsent.ts, useHostActions.ts (per person, the group, recording), useCallEnd.ts (the end, End visit
 *   for everyone), useGroup.ts (group visits: spotlight, hands, the group notices, a chosen name)
 */
import { useEffect, useId, useRef, useState } from 'react';
import { ServerClock } from '../time.js';
import { Banners } from './Banners.js';
import './call.css';
import { ChatNoticeToast } from './ChatNoticeToast.js';
import { useConfirm } from './ConfirmDialog.js';
import { Controls } from './Controls.js';
import { microphoneAndCamera, screenShare } from './localControls.js';
import { RemoteAudios } from './media.js';
import { personRows } from './personRows.js';
import { RecordingConsent } from './RecordingConsent.js';
import { requesterFor } from './request.js';
import { SidePanel } from './SidePanel.js';
import { CallOver, Stage } from './Stage.js';
import { TopBar } from './TopBar.js';
import type { CallProps } from './types.js';
import { useActions } from './useActions.js';
import { useCallEnd } from './useCallEnd.js';
import { useCallRoom } from './useCallRoom.js';
import { chatMessageOf, isRecord, useChat } from './useChat.js';
import { useFitToWindow } from './useFitToWindow.js';
import { useFullscreen } from './useFullscreen.js';
import { isClinicianRole, useGroup, usePinnedFeature } from './useGroup.js';
import { useHostActions } from './useHostActions.js';
import { useChatNotice, useNotices } from './useNotices.js';
import { useRecording } from './useRecording.js';
import { useRecordingConsent } from './useRecordingConsent.js';
import { useRoster } from './useRoster.js';
import { useSidePanel } from './useSidePanel.js';
import { useSound } from './useSound.js';
import { useStageLayout } from './useStageLayout.js';
import { useVisit } from './useVisit.js';
import { WaitingCard } from './WaitingCard.js';

export type { CallEnd, CallProps, HostControls } from './types.js';

const VISIT_POLL_MS = 10_000;
/** A participant sees nobody's hand on the tiles (the queue is the hosts'). */
const NO_HANDS: ReadonlySet<string> = new Set();

export function Call(props: CallProps) {
  const { visitId, as, hostControls, timeZone } = props;
  const request = requesterFor(as);
  const uid = useId();
  const rootRef = useRef<HTMLDivElement>(null);
  const [clock] = useState(() => new ServerClock());
  const [mountedAt] = useState(() => clock.now());
  useFitToWindow(rootRef);
  const fullscreen = useFullscreen(rootRef);
  const sound = useSound();
  const { notices, addNotice } = useNotices();
  const confirm = useConfirm();
  const ending = useCallEnd(props.onLeft);

  // The room's events reach the parts below (read when they happen, after this render has declared them all).
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
      if (isRecord(data) && data.type === 'survey' && typeof data.url === 'string') ending.heardSurvey(data.url);
      else props.onServerData?.(data);
    },
    onNotice({ code, message }) {
      if (code === 'recording_started') recordingState.heard(true);
      else if (code === 'recording_stopped') recordingState.heard(false);
      else if (code === 'recording_consent_required') {
        recordingState.heard(true);
        if (as === 'participant') consent.ask();
      } else if (group.heardNotice(code)) {
        // A group notice (muted by the host, asked to unmute, hand lowered): useGroup.ts shows it its own way.
      } else {
        ending.heardNotice(code, message);
        addNotice(message);
      }
    },
    onRemotesChanged: () => visit.refreshSoon(),
    onMediaPolicy: () => visit.refreshSoon(),
    onReconnected() {
      void visit.refresh();
      if (roster.admitted) void chat.load();
    },
    onEnd: ending.ended,
  });
  const { room, phase } = call;
  const token = call.token?.value ?? null;
  const me = token?.identity ?? null;
  const live = phase === 'connected' || phase === 'reconnecting';

  const visit = useVisit(request, visitId, as === 'host', live, VISIT_POLL_MS, clock);
  const roster = useRoster(as, room, token, visit.visit?.value ?? null, live, visit.refresh);
  const { people, self, nameOf, inCall, waiting, admitted } = roster;
  const side = useSidePanel(admitted);
  const chatNotice = useChatNotice(side.side === 'chat', admitted);
  const chat = useChat(request, visitId, admitted, side.side === 'chat', me, chatNotice.onUnread);
  const { load: loadChat } = chat;
  useEffect(() => {
    if (admitted && props.transcriptVersion) void loadChat();
  }, [admitted, props.transcriptVersion, loadChat]);
  const { refreshSoon: refreshVisitSoon } = visit;
  useEffect(() => {
    if (props.visitVersion) refreshVisitSoon();
  }, [props.visitVersion, refreshVisitSoon]);

  const recordingState = useRecording(call.token, visit.visit, visit.recordingState, people);
  const { recording, consentMissing } = recordingState;
  const consent = useRecordingConsent(as, request, visitId, token, self, recording, (thanks) => {
    addNotice(thanks);
    visit.refreshSoon();
  });

  const actions = useActions(call.bump);
  const local = room?.localParticipant ?? null;
  const media = microphoneAndCamera(local, actions.run);
  const share = screenShare(local, actions.run);
  const group = useGroup({
    request,
    visitId,
    visit: visit.visit?.value ?? null,
    self,
    run: actions.run,
    refresh: visit.refresh,
    addNotice,
    setMicrophone: async (on) => {
      await local?.setMicrophoneEnabled(on);
      call.bump();
    },
    micOn: media.micOn,
    policySpotlight: room?.mediaPolicy ? room.mediaPolicy.spotlight : undefined,
  });
  const stage = useStageLayout(inCall, nameOf, call.lastSpeaker, { spotlight: group.spotlight, paged: group.isGroup, isClinician: (id) => isClinicianRole(people.get(id)?.role) });
  usePinnedFeature(room, group.isGroup && stage.layout === 'speaker' && !stage.spotlit ? (stage.featured?.participant.identity ?? null) : null);
  const host = useHostActions(hostControls, {
    ...actions,
    ask: confirm.ask,
    addNotice,
    refresh: visit.refresh,
    refreshSoon: visit.refreshSoon,
    nameOf,
    recording,
    consentMissing,
    recordingSet: recordingState.hostSet,
    recordReasonId: `${uid}-record-reason`,
  });
  const { rows, waitingRows } = personRows({
    as,
    me,
    self,
    quality: local?.networkQuality ?? null,
    micOn: media.micOn,
    cameraOn: media.cameraTrack !== null,
    inCall,
    waitingRemotes: roster.waitingRemotes,
    people,
    muteOverrides: host.muteOverrides,
    consentMissing,
    spotlight: group.spotlight,
  });

  if (phase === 'ended') return <CallOver />;

  const sideId = `${uid}-side`;
  const reviewConsent = () => {
    side.open(null);
    consent.ask();
  };
  return (
    <div ref={rootRef} className={`ov-call${side.side ? ' has-side' : ''}`} data-layout={stage.layout} data-role={as}>
      <TopBar
        recording={recording}
        notRecordedMe={consent.notRecordedMe}
        admitted={admitted}
        live={live}
        startedAt={visit.visit?.value.startedAt ?? null}
        endsAt={visit.visit?.value.endsAt ?? props.endsAt ?? null}
        clock={clock}
        quality={local?.networkQuality ?? null}
        layout={stage.layout}
        onToggleLayout={stage.toggleLayout}
        paging={group.isGroup ? stage.paging : null}
        fullscreen={fullscreen}
      />
      <Banners
        reconnecting={phase === 'reconnecting'}
        soundBlocked={sound.soundBlocked}
        onEnableSound={() => void sound.enableSound()}
        problem={actions.problem}
        onDismissProblem={actions.dismissProblem}
        sharing={share.sharing}
        notices={notices}
        unmute={group.unmuteAsked && !media.micOn ? { accept: group.acceptUnmute, dismiss: group.dismissUnmute } : null}
      />
      <div className="ov-call__body">
        <Stage
          phase={phase}
          failure={call.failure}
          retry={call.retry}
          waiting={waiting}
          waitingCard={
            <WaitingCard clinician={roster.clinician} since={self?.arrivedAt ? Date.parse(self.arrivedAt) : mountedAt} clock={clock}>
              {props.waitingInfo}
            </WaitingCard>
          }
          admitted={admitted}
          layout={stage.layout}
          tiles={stage.tiles}
          pageTiles={stage.pageTiles}
          paging={stage.paging}
          featured={stage.featured}
          spotlit={stage.spotlit}
          others={stage.others}
          speaking={call.speaking}
          hands={as === 'host' ? new Set(group.hands.map((p) => p.id)) : NO_HANDS}
          waitingCount={roster.seesEveryone ? roster.waitingRemotes.length : null}
          self={room && phase !== 'failed' ? { cameraTrack: media.cameraTrack, name: self?.displayName ?? 'You' } : null}
        >
          {consent.dialog ? <RecordingConsent {...consent.dialog} /> : null}
        </Stage>
        <ChatNoticeToast notice={chatNotice.chatNotice} onOpen={() => side.open('chat')} onDismiss={chatNotice.dismiss} />
        {side.side && admitted ? (
          <SidePanel
            id={sideId}
            side={side.side}
            onClose={side.close}
            chat={chat}
            me={me}
            timeZone={timeZone}
            nameOf={nameOf}
            rows={rows}
            waitingRows={waitingRows}
            actions={host.personActions}
            group={
              group.isGroup
                ? {
                    hands: as === 'host' ? group.hands.map((p) => ({ id: p.id, name: p.displayName })) : [],
                    mutedAll: group.mutedAll,
                    selfUnmute: group.selfUnmute,
                    locked: group.locked,
                    actions: host.groupActions,
                    chooseName: group.canChooseName ? group.chooseName : null,
                  }
                : null
            }
            consent={as === 'participant' && consent.myConsentAt === null ? { recording, review: reviewConsent } : null}
          />
        ) : null}
      </div>
      <Controls
        live={live}
        admitted={admitted}
        busy={actions.busy}
        media={media}
        share={share}
        side={side}
        sideId={sideId}
        peopleCount={rows.length}
        handsUp={as === 'host' ? group.hands.length : 0}
        unread={chat.unread}
        onLeave={call.leave}
        hand={group.isGroup && as === 'participant' ? { raised: group.handRaised, toggle: group.toggleHand } : null}
        host={host.buttons}
      />
      <RemoteAudios remotes={roster.remotes} registry={sound.registry} />
      {confirm.dialog}
    </div>
  );
}
