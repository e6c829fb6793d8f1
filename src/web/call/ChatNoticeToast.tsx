/** The notice of new chat messages while the chat is closed (role status): who, the first words, "Open chat". */
import { ChatIcon } from './icons.js';
import type { ChatNotice } from './useNotices.js';

export function ChatNoticeToast({ notice, onOpen, onDismiss }: { notice: ChatNotice | null; onOpen(): void; onDismiss(): void }) {
  return (
    <div className="ov-chat-notice" role="status" aria-live="polite">
      {notice ? (
        <div className="ov-toast">
          <ChatIcon />
          <p className="ov-toast__text">
            <strong>{notice.count > 1 ? `${notice.count} new messages, the last from ${notice.last.displayName}` : `New message from ${notice.last.displayName}`}</strong>
            <span className="ov-toast__body">{firstWords(notice.last.body)}</span>
          </p>
          <button type="button" className="primary ov-toast__open" onClick={onOpen}>
            Open chat
          </button>
          <button type="button" className="ov-close" aria-label="Dismiss the message notice" onClick={onDismiss}>
            ×
          </button>
        </div>
      ) : null}
    </div>
  );
}

/** The start of a message for a notice: its first words, cut at a word near 90 characters. */
function firstWords(body: string): string {
  const flat = body.replace(/\s+/g, ' ').trim();
  if (flat.length <= 90) return flat;
  const cut = flat.slice(0, 90);
  const space = cut.lastIndexOf(' ');
  return `${(space > 40 ? cut.slice(0, space) : cut).trimEnd()}…`;
}
