/**
 * The rooms' deadline timers of this process: one timer per room that has a deadline (rooms.ends_at), re-armed when
 * the deadline moves, cleared when it is cleared or the room ends, all cleared when the app closes. Owned by the rooms
 * plugin instance (RoomDeps.deadlines): two apps in one process have their own. The timers only make the end precise;
 * the deadline itself is the row's (service.ts: setRoomDeadline, endRoomsAtDeadline), so the sweep (lifecycle.ts)
 * still ends a room whose timer is on another process, or was lost to a restart.
 *
 * Rooms whose timers fire in the same turn of the event loop (many calls with the same limit that started together)
 * are handed over together, so that ending them costs one read, not one per room.
 */
export interface DeadlineTimers {
  /** Hands the room to `onDue` at `at` (at once when it is past); replaces the room's previous timer. */
  arm(roomId: string, at: Date): void;
  /** Forgets the room's timer (its deadline was cleared, or it ended). */
  clear(roomId: string): void;
  /** When the room's timer of this process fires, if it has one that has not fired yet. */
  armedAt(roomId: string): Date | null;
  /** Timers armed now. */
  size(): number;
  /** Clears every timer; nothing is handed over afterwards. */
  close(): void;
}

/** setTimeout's longest delay (about 24.8 days); a later deadline waits in steps. */
const MAX_DELAY_MS = 2 ** 31 - 1;

/** `onDue` gets the rooms whose deadline came, in batches (it does its own error handling). */
export function createDeadlineTimers(onDue: (roomIds: string[]) => void): DeadlineTimers {
  const timers = new Map<string, { at: Date; handle: NodeJS.Timeout }>();
  let due: string[] = [];
  let closed = false;

  const flush = () => {
    const batch = due;
    due = [];
    if (!closed && batch.length > 0) onDue(batch);
  };

  const schedule = (roomId: string, at: Date) => {
    const handle = setTimeout(
      () => {
        if (timers.get(roomId)?.handle !== handle) return;
        // A clock a millisecond behind the timer's, or a deadline beyond setTimeout's range: wait again.
        if (at.getTime() > Date.now()) return schedule(roomId, at);
        timers.delete(roomId);
        if (due.length === 0) setImmediate(flush);
        due.push(roomId);
      },
      Math.min(Math.max(0, at.getTime() - Date.now()), MAX_DELAY_MS),
    );
    // A deadline never keeps the process alive by itself (the sweep, and restoreRooms at the next start, back it up).
    handle.unref();
    timers.set(roomId, { at, handle });
  };

  return {
    arm(roomId, at) {
      if (closed) return;
      const previous = timers.get(roomId);
      if (previous) clearTimeout(previous.handle);
      schedule(roomId, at);
    },
    clear(roomId) {
      const previous = timers.get(roomId);
      if (!previous) return;
      clearTimeout(previous.handle);
      timers.delete(roomId);
    },
    armedAt: (roomId) => timers.get(roomId)?.at ?? null,
    size: () => timers.size,
    close() {
      closed = true;
      for (const { handle } of timers.values()) clearTimeout(handle);
      timers.clear();
      due = [];
    },
  };
}
