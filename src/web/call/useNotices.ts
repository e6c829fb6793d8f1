/**
 * What the call tells the user in passing: short notices over the video (the server's admission notices, "… is back
 * in the waiting room"), three at most, each gone after a while; and the notice of chat messages that arrived while
 * the chat was closed (the unread count itself stays on the "Chat" button, useChat.ts).
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { ChatMessage } from '../../shared/api/visits.js';

const NOTICE_MS = 8_000;
const CHAT_NOTICE_MS = 15_000;

export interface Notice {
  id: number;
  text: string;
}

export function useNotices() {
  const [notices, setNotices] = useState<Notice[]>([]);
  const seq = useRef(0);
  const timers = useRef(new Set<ReturnType<typeof setTimeout>>());
  useEffect(() => {
    const pending = timers.current;
    return () => {
      for (const timer of pending) clearTimeout(timer);
    };
  }, []);
  const addNotice = useCallback((text: string) => {
    const id = ++seq.current;
    setNotices((list) => [...list.slice(-2), { id, text }]);
    const timer = setTimeout(() => {
      timers.current.delete(timer);
      setNotices((list) => list.filter((n) => n.id !== id));
    }, NOTICE_MS);
    timers.current.add(timer);
  }, []);
  return { notices, addNotice };
}

/** New messages from others while the chat is closed: how many, and the last one. */
export interface ChatNotice {
  count: number;
  last: ChatMessage;
}

/**
 * The chat notice: `onUnread` (for useChat) adds to it; it goes when the chat opens, when we are no longer in the
 * visit, when dismissed, or after a while.
 */
export function useChatNotice(chatOpen: boolean, admitted: boolean) {
  const [chatNotice, setChatNotice] = useState<ChatNotice | null>(null);
  const onUnread = useCallback((fresh: ChatMessage[]) => {
    const last = fresh[fresh.length - 1];
    if (last) setChatNotice((n) => ({ count: (n?.count ?? 0) + fresh.length, last }));
  }, []);
  useEffect(() => {
    if (chatOpen || !admitted) setChatNotice(null);
  }, [chatOpen, admitted]);
  useEffect(() => {
    if (!chatNotice) return;
    const timer = setTimeout(() => setChatNotice(null), CHAT_NOTICE_MS);
    return () => clearTimeout(timer);
  }, [chatNotice]);
  return { chatNotice, onUnread, dismiss: () => setChatNotice(null) };
}
