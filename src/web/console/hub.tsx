import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { HUB_CLOSE, type HubMessage, type OrgEvent } from '../../shared/events.js';

/**
 * The realtime hub (`WS /api/v1/events`, same origin, the session cookie): one socket for the signed-in console,
 * reconnected with backoff when it closes (or after `retryAfterMs` when the server says it is restarting).
 * Events carry ids only; listeners fetch what they show over REST. After a reconnect, listeners are told to
 * resync (events may have been missed while the socket was down).
 */
export type HubStatus = 'connecting' | 'live' | 'reconnecting';

interface Listener {
  onEvent?: (event: OrgEvent) => void;
  onResync?: () => void;
}

interface HubState {
  status: HubStatus;
  subscribe: (listener: Listener) => () => void;
}

const HubContext = createContext<HubState | null>(null);

const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];

export function HubProvider({ children, onSessionEnded }: { children: ReactNode; onSessionEnded: () => void }) {
  const [status, setStatus] = useState<HubStatus>('connecting');
  const listeners = useRef(new Set<Listener>());
  const sessionEnded = useRef(onSessionEnded);
  sessionEnded.current = onSessionEnded;

  useEffect(() => {
    let socket: WebSocket | null = null;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    let attempt = 0;
    let everLive = false;
    let serverDelay: number | null = null;

    const connect = () => {
      const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/api/v1/events`;
      const ws = new WebSocket(url);
      socket = ws;
      ws.onmessage = (m: MessageEvent) => {
        let message: HubMessage;
        try {
          message = JSON.parse(String(m.data)) as HubMessage;
        } catch {
          return;
        }
        if (message.type === 'hello') {
          attempt = 0;
          setStatus('live');
          if (everLive) for (const l of [...listeners.current]) l.onResync?.();
          everLive = true;
        } else if (message.type === 'event') {
          for (const l of [...listeners.current]) l.onEvent?.(message.event);
        } else if (message.type === 'reconnect') {
          serverDelay = message.retryAfterMs;
        }
      };
      ws.onclose = (e: CloseEvent) => {
        if (stopped || socket !== ws) return;
        socket = null;
        setStatus('reconnecting');
        if (e.code === HUB_CLOSE.sessionEnded) sessionEnded.current();
        const base = serverDelay ?? BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)]!;
        serverDelay = null;
        attempt += 1;
        // A little jitter so a restarted server is not met by every console at the same instant.
        timer = setTimeout(connect, base + Math.floor(Math.random() * Math.min(1000, base / 2)));
      };
    };
    connect();

    return () => {
      stopped = true;
      clearTimeout(timer);
      const ws = socket;
      socket = null;
      if (!ws) return;
      // Closing a socket that is still connecting makes browsers log a warning: close it once it opens.
      if (ws.readyState === WebSocket.CONNECTING) ws.onopen = () => ws.close(1000);
      else ws.close(1000);
    };
  }, []);

  const [value] = useState<Omit<HubState, 'status'>>(() => ({
    subscribe: (listener: Listener) => {
      listeners.current.add(listener);
      return () => {
        listeners.current.delete(listener);
      };
    },
  }));

  return <HubContext.Provider value={{ status, subscribe: value.subscribe }}>{children}</HubContext.Provider>;
}

export function useHubStatus(): HubStatus {
  return useContext(HubContext)?.status ?? 'connecting';
}

/** Calls the latest `onEvent` / `onResync` for every hub event while the component is mounted. */
export function useHubEvents(onEvent: (event: OrgEvent) => void, onResync?: () => void): void {
  const hub = useContext(HubContext);
  const latest = useRef<Listener>({});
  latest.current = { onEvent, ...(onResync ? { onResync } : {}) };
  const subscribe = hub?.subscribe;
  useEffect(() => {
    if (!subscribe) return;
    return subscribe({
      onEvent: (e) => latest.current.onEvent?.(e),
      onResync: () => latest.current.onResync?.(),
    });
  }, [subscribe]);
}
