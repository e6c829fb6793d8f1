/**
 * The server's end of the call as the SDK's Room knows it: the rooms layer announces `{ endsAt, reason }` on the
 * participant channel when the call becomes active (and again when it moves), the Room exposes it (`deadline` getter
 * and event). Answers epoch ms on the server's clock, or null while there is none.
 */
import { useEffect, useState } from 'react';
import type { Room } from '../../sdk/index.js';

// PROVISIONAL: the rooms helper's SDK change (Room.deadline + 'deadline' event) is read structurally until it lands.
interface DeadlineLike {
  endsAt: string | number | Date;
  reason?: string;
}
interface DeadlineRoom {
  deadline?: DeadlineLike | null;
  on?(event: 'deadline', listener: (deadline: DeadlineLike | null) => void): () => void;
}

const toMs = (d: DeadlineLike | null | undefined): number | null => {
  if (!d) return null;
  const ms = d.endsAt instanceof Date ? d.endsAt.getTime() : typeof d.endsAt === 'number' ? d.endsAt : Date.parse(d.endsAt);
  return Number.isFinite(ms) ? ms : null;
};

export function useRoomDeadline(room: Room | null): number | null {
  const [endsAt, setEndsAt] = useState<number | null>(null);
  useEffect(() => {
    if (!room) return;
    const r = room as unknown as DeadlineRoom;
    setEndsAt(toMs(r.deadline));
    return r.on?.('deadline', (d) => setEndsAt(toMs(d)));
  }, [room]);
  return endsAt;
}
