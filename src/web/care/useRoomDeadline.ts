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

const of = (endsAt: Date | null, reason: string | null): Deadline | null => (endsAt ? { endsAt: endsAt.getTime(), reason } : null);

export function useRoomDeadline(room: Room | null): Deadline | null {
  const [deadline, setDeadline] = useState<Deadline | null>(null);
  useEffect(() => {
    if (!room) return;
    setDeadline(of(room.deadline, room.deadlineReason));
    return room.on('deadlineChanged', (endsAt, reason) => setDeadline(of(endsAt, reason)));
  }, [room]);
  return deadline;
}
