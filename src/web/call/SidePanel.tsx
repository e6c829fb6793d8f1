/**
 * The side panel beside the stage (an overlay on phones): the chat or the participants list. Escape closes it. A
 * participant who has not agreed to be recorded finds "Review recording consent" at the bottom of the list.
 */
import { ChatPanel } from './ChatPanel.js';
import { ParticipantsPanel, type GroupPanel, type PersonActions, type PersonRow } from './ParticipantsPanel.js';
import type { Chat } from './useChat.js';
import type { Side } from './useSidePanel.js';

export interface SidePanelProps {
  id: string;
  side: Side;
  onClose(): void;
  chat: Chat;
  me: string | null;
  timeZone?: string;
  nameOf(id: string): string;
  rows: PersonRow[];
  waitingRows: PersonRow[];
  actions: PersonActions | null;
  /** Group visits: the group console (hosts) and the participant's own name (null: a 1:1 visit). */
  group: GroupPanel | null;
  /** A participant who has not agreed to be recorded: whether the visit is recorded, and the way to the dialog. */
  consent: { recording: boolean; review(): void } | null;
}

export function SidePanel({ id, side, onClose, chat, me, timeZone, nameOf, rows, waitingRows, actions, group, consent }: SidePanelProps) {
  return (
    <aside
      className="ov-side"
      id={id}
      aria-label={side === 'chat' ? 'Chat' : 'Participants'}
      onKeyDown={(e) => {
        if (e.key === 'Escape') onClose();
      }}
    >
      {side === 'chat' ? (
        <ChatPanel chat={chat} me={me} timeZone={timeZone} nameOf={nameOf} onClose={onClose} />
      ) : (
        <ParticipantsPanel people={rows} waiting={waitingRows} actions={actions} group={group} error={null} footer={consent ? <ConsentFooter recording={consent.recording} onReview={consent.review} /> : null} onClose={onClose} />
      )}
    </aside>
  );
}

/** A participant who has not agreed to be recorded: what that means, and the way back to the consent dialog. */
function ConsentFooter({ recording, onReview }: { recording: boolean; onReview(): void }) {
  return (
    <div className="ov-people__consent">
      <h3 className="ov-people__sub">Recording</h3>
      <p className="muted">{recording ? 'This visit is being recorded. You are not recorded unless you agree.' : 'You have not agreed to be recorded. Your clinician can only record the visit if everyone agrees.'}</p>
      <button type="button" onClick={onReview}>
        Review recording consent
      </button>
    </div>
  );
}
