/**
 * The visit's chat: the transcript from the API, then messages the server delivers over the media connection
 * (deduplicated by id, so a message both fetched and delivered shows once). Sending goes through the API, which
 * stores the message before delivering it to everyone.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { ChatMessage } from '../../shared/api/visits.js';
import { ApiError } from '../api.js';
import { visitPath, type Requester } from './request.js';

const PAGE = 200;

export interface Chat {
  messages: ChatMessage[];
  /** Messages from others that arrived while the chat was closed. */
  unread: number;
  loadError: string | null;
  /** Fetches what is new (all of it the first time). */
  load(): Promise<void>;
  /** A message delivered by the server. */
  receive(message: ChatMessage): void;
  /** Sends; rejects with a message to show. */
  send(body: string): Promise<void>;
}

/** `onUnread`: messages from others that arrived while the chat was closed (for a notice), as they come. */
export function useChat(request: Requester, visitId: string, enabled: boolean, open: boolean, me: string | null, onUnread?: (messages: ChatMessage[]) => void): Chat {
  const [messages, setMessages] = useState<ChatMessage[]>([]);
  const [unread, setUnread] = useState(0);
  const [loadError, setLoadError] = useState<string | null>(null);
  const known = useRef(new Set<string>());
  const newest = useRef<ChatMessage | null>(null);
  const loaded = useRef(false);
  const loading = useRef<Promise<void> | null>(null);
  const openRef = useRef(open);
  const meRef = useRef(me);
  const onUnreadRef = useRef(onUnread);
  useEffect(() => {
    openRef.current = open;
    meRef.current = me;
    onUnreadRef.current = onUnread;
  });

  const add = useCallback((incoming: readonly ChatMessage[], countUnread: boolean) => {
    const fresh = incoming.filter((m) => !known.current.has(m.id));
    if (fresh.length === 0) return;
    for (const m of fresh) {
      known.current.add(m.id);
      if (!newest.current || compare(m, newest.current) > 0) newest.current = m;
    }
    setMessages((prev) => [...prev, ...fresh].sort(compare));
    if (countUnread && !openRef.current) {
      const others = fresh.filter((m) => m.participantId !== meRef.current).sort(compare);
      if (others.length > 0) {
        setUnread((n) => n + others.length);
        onUnreadRef.current?.(others);
      }
    }
  }, []);

  const load = useCallback((): Promise<void> => {
    if (loading.current) return loading.current;
    const run = (async () => {
      try {
        // Messages fetched after the first load arrived while we were away (reconnecting): they count as unread.
        const catchUp = loaded.current;
        for (let pages = 0; pages < 20; pages++) {
          const after = newest.current ? `&after=${encodeURIComponent(newest.current.id)}` : '';
          const page = await request<{ data: ChatMessage[] }>('GET', visitPath(visitId, `/messages?limit=${PAGE}${after}`));
          add(page.data, catchUp);
          if (page.data.length < PAGE) break;
        }
        loaded.current = true;
        setLoadError(null);
      } catch (error) {
        setLoadError(error instanceof ApiError ? error.message : 'The chat could not be loaded.');
      } finally {
        loading.current = null;
      }
    })();
    loading.current = run;
    return run;
  }, [request, visitId, add]);

  useEffect(() => {
    if (enabled) void load();
  }, [enabled, load]);

  useEffect(() => {
    if (open) setUnread(0);
  }, [open]);

  const receive = useCallback((message: ChatMessage) => add([message], true), [add]);

  const send = useCallback(
    async (body: string) => {
      try {
        const message = await request<ChatMessage>('POST', visitPath(visitId, '/messages'), { body });
        add([message], false);
      } catch (error) {
        if (error instanceof ApiError && error.code === 'rate_limited') throw new Error('You are sending messages too quickly. Wait a moment and try again.');
        throw new Error(error instanceof ApiError ? error.message : 'The message could not be sent.');
      }
    },
    [request, visitId, add],
  );

  return { messages, unread, loadError, load, receive, send };
}

function compare(a: ChatMessage, b: ChatMessage): number {
  const t = Date.parse(a.createdAt) - Date.parse(b.createdAt);
  if (t !== 0) return t;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** A server data message that is a chat message of this visit, or null. */
export function chatMessageOf(data: unknown, visitId: string): ChatMessage | null {
  if (!isRecord(data) || data.type !== 'chat' || data.visitId !== visitId || !isRecord(data.message)) return null;
  const m = data.message;
  if (typeof m.id !== 'string' || typeof m.body !== 'string' || typeof m.participantId !== 'string' || typeof m.createdAt !== 'string' || typeof m.displayName !== 'string') return null;
  return m as unknown as ChatMessage;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
