import { createContext, useCallback, useContext, useEffect, useMemo, useRef, useState, type ReactNode } from 'react';
import type { Visit, VisitParticipant } from '../../shared/api/visits.js';
import type { OrgEvent } from '../../shared/events.js';
import { staffApi, useAuth } from './auth.js';
import { playChime } from './chime.js';
import { dayIn, errorText } from './format.js';
import { useNow, useWaitingTitle } from './hooks.js';
import { useHubEvents } from './hub.js';

/**
 * Who is waiting for the signed-in clinician, on every console page: the waiting rooms of their visits today
 * (and of any other visit a page shows), kept live from the hub. Events carry ids only, so after each relevant
 * event the visit's waiting room is fetched again (GET /visits/:id/waiting-room). A new arrival plays a chime and
 * is announced to screen readers; the count is in the tab title ("(2) OpenVisit").
 */
interface WaitingStore {
  lists: Readonly<Record<string, VisitParticipant[]>>;
  errors: Readonly<Record<string, string>>;
  total: number;
  refresh: (visitId: string) => Promise<void>;
  /** Watch these visits' waiting rooms while the caller is mounted (besides today's visits). */
  watch: (visitIds: string[]) => () => void;
}

const WaitingContext = createContext<WaitingStore | null>(null);

const FINAL = new Set<Visit['status']>(['ended', 'cancelled', 'no_show']);
/** Events after which a visit's waiting room may have changed. */
const WAITING_EVENTS = new Set<OrgEvent['type']>([
  'visit.participant_waiting',
  'visit.participant_admitted',
  'visit.participant_denied',
  'visit.participant_returned',
  'visit.participant_removed',
  'visit.participant_left',
]);
/** Events after which the list of today's visits may have changed. */
const VISIT_LIST_EVENTS = new Set<OrgEvent['type']>(['visit.created', 'visit.opened', 'visit.started', 'visit.ended', 'visit.cancelled', 'visit.no_show', 'visit.updated']);

export function WaitingProvider({ children }: { children: ReactNode }) {
  const { me } = useAuth();
  const timeZone = me.organization.timeZone;
  const day = dayIn(new Date(useNow(60_000)), timeZone);

  const [todayIds, setTodayIds] = useState<string[]>([]);
  const [extraIds, setExtraIds] = useState<string[]>([]);
  const [registered, setRegistered] = useState<Record<string, number>>({});
  const [lists, setLists] = useState<Record<string, VisitParticipant[]>>({});
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [announcement, setAnnouncement] = useState('');
  /** Ids seen waiting per visit (a new arrival is one not seen before). */
  const seen = useRef(new Map<string, Set<string>>());
  /** Visits an arrival was announced for before they were watched: their first load chimes. */
  const pending = useRef(new Set<string>());
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);

  const watched = useMemo(() => [...new Set([...todayIds, ...extraIds, ...Object.keys(registered)])].sort(), [todayIds, extraIds, registered]);
  const watchedKey = watched.join(',');
  const watchedRef = useRef(watched);
  watchedRef.current = watched;

  const loadToday = useCallback(async () => {
    try {
      const page = await staffApi<{ data: Visit[] }>('GET', `/visits?day=${day}&hostUserId=${me.user.id}&limit=200`);
      if (!mounted.current) return;
      const ids = page.data.filter((v) => !FINAL.has(v.status)).map((v) => v.id);
      setTodayIds((old) => (old.join(',') === ids.join(',') ? old : ids));
      setExtraIds((old) => old.filter((id) => !page.data.some((v) => v.id === id && FINAL.has(v.status))));
    } catch {
      // The panels show their own errors; the next event or resync tries again.
    }
  }, [day, me.user.id]);
  useEffect(() => {
    void loadToday();
  }, [loadToday]);

  const fetchRoom = useCallback(async (visitId: string, announce: boolean) => {
    try {
      const people = await staffApi<VisitParticipant[]>('GET', `/visits/${visitId}/waiting-room`);
      if (!mounted.current || !watchedRef.current.includes(visitId)) return;
      const before = seen.current.get(visitId);
      const fresh = people.filter((p) => !before?.has(p.id));
      seen.current.set(visitId, new Set(people.map((p) => p.id)));
      setLists((l) => ({ ...l, [visitId]: people }));
      setErrors((e) => {
        if (!(visitId in e)) return e;
        const rest = { ...e };
        delete rest[visitId];
        return rest;
      });
      if (announce && fresh.length > 0) {
        playChime();
        setAnnouncement(`${fresh.map((p) => p.displayName).join(', ')} ${fresh.length === 1 ? 'is' : 'are'} waiting.`);
      }
    } catch (err) {
      if (mounted.current) setErrors((e) => ({ ...e, [visitId]: errorText(err) }));
    }
  }, []);

  // Load each newly watched visit; forget the ones no longer watched.
  useEffect(() => {
    const ids = watchedKey ? watchedKey.split(',') : [];
    for (const id of ids) {
      if (seen.current.has(id)) continue;
      seen.current.set(id, new Set());
      void fetchRoom(id, pending.current.delete(id));
    }
    for (const id of [...seen.current.keys()]) if (!ids.includes(id)) seen.current.delete(id);
    setLists((l) => (Object.keys(l).every((id) => ids.includes(id)) ? l : Object.fromEntries(Object.entries(l).filter(([id]) => ids.includes(id)))));
    setErrors((e) => (Object.keys(e).every((id) => ids.includes(id)) ? e : Object.fromEntries(Object.entries(e).filter(([id]) => ids.includes(id)))));
  }, [watchedKey, fetchRoom]);

  const listTimer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(listTimer.current), []);
  useHubEvents(
    (event) => {
      const visitId = typeof event.data.visitId === 'string' ? event.data.visitId : null;
      if (VISIT_LIST_EVENTS.has(event.type)) {
        clearTimeout(listTimer.current);
        listTimer.current = setTimeout(() => void loadToday(), 300);
      }
      if (!visitId || !WAITING_EVENTS.has(event.type)) return;
      if (watchedRef.current.includes(visitId)) {
        void fetchRoom(visitId, event.type === 'visit.participant_waiting');
        return;
      }
      if (event.type !== 'visit.participant_waiting') return;
      // Someone arrived in a visit not watched yet (another day's, or just created): watch it if it is ours.
      void staffApi<Visit>('GET', `/visits/${visitId}`).then(
        (visit) => {
          if (!mounted.current || visit.hostUserId !== me.user.id || FINAL.has(visit.status)) return;
          pending.current.add(visitId);
          setExtraIds((old) => (old.includes(visitId) ? old : [...old, visitId]));
        },
        () => {},
      );
    },
    () => {
      void loadToday();
      for (const id of watchedRef.current) void fetchRoom(id, true);
    },
  );

  const watch = useCallback((visitIds: string[]) => {
    setRegistered((r) => {
      const next = { ...r };
      for (const id of visitIds) next[id] = (next[id] ?? 0) + 1;
      return next;
    });
    return () =>
      setRegistered((r) => {
        const next = { ...r };
        for (const id of visitIds) {
          const n = (next[id] ?? 0) - 1;
          if (n <= 0) delete next[id];
          else next[id] = n;
        }
        return next;
      });
  }, []);

  const refresh = useCallback((visitId: string) => fetchRoom(visitId, false), [fetchRoom]);
  const total = watched.reduce((n, id) => n + (lists[id]?.length ?? 0), 0);
  useWaitingTitle(total);

  const value = useMemo<WaitingStore>(() => ({ lists, errors, total, refresh, watch }), [lists, errors, total, refresh, watch]);
  return (
    <WaitingContext.Provider value={value}>
      {children}
      <p className="visually-hidden" aria-live="polite">
        {announcement}
      </p>
    </WaitingContext.Provider>
  );
}

function useStore(): WaitingStore {
  const store = useContext(WaitingContext);
  if (!store) throw new Error('useWaiting outside <WaitingProvider>');
  return store;
}

/** Everyone waiting for the signed-in clinician (today's visits and those pages watch). */
export function useWaitingTotal(): number {
  return useStore().total;
}

/** The waiting rooms of these visits, watched while the caller is mounted. */
export function useWaitingRooms(visitIds: string[]) {
  const store = useStore();
  const key = visitIds.join(',');
  const { watch } = store;
  useEffect(() => (key ? watch(key.split(',')) : undefined), [key, watch]);
  return store;
}
