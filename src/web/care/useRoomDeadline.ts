/**
 * The server's end of the call as the SDK's Room knows it: the rooms layer announces `{ endsAt, reason }` on the
 * participant channel when the call becomes active (and again when it moves: both parties away, back again), the Room
 * exposes it (`room.deadline`, `room.deadlineReason`, the `deadlineChanged` event). Answers epoch ms on the server's
 * clock and the reason, or null while there is none.
 */
import { useEffect, useState } from 'react';
import type { Room } from '../../sdk/index.js';

export interface Deadline {
  endsAt: number;
  reason: string | null;
}

// PROVISIONAL until the rooms helper's SDK change lands on main: read structurally.
interface DeadlineRoom {
  deadline?: Date | null;
  deadlineReason?: string | null;
  on(event: 'deadlineChanged', listener: (deadline: Date | null, reason: string | null) => void): () => void;
}

const of = (endsAt: Date | null | undefined, reason: string | null | undefined): Deadline | null =>
  endsAt instanceof Date && Number.isFinite(endsAt.getTime()) ? { endsAt: endsAt.getTime(), reason: reason ?? null } : null;

export function useRoomDeadline(room: Room | null): Deadline | null {
  const [deadline, setDeadline] = useState<Deadline | null>(null);
  useEffect(() => {
    if (!room) return;
    const r = room as unknown as DeadlineRoom;
    setDeadline(of(r.deadline, r.deadlineReason));
    return r.on('deadlineChanged', (endsAt, reason) => setDeadline(of(endsAt, reason)));
  }, [room]);
  return deadline;
}
