/**
 * The side panel (chat or participants, one at a time). Its toggles in the control bar hold `chatToggle` /
 * `peopleToggle`: closing the panel puts the focus back on the toggle that opened it. Both panels need the visit, so
 * the panel closes when we are no longer in it (sent back to the waiting room).
 */
import { useEffect, useRef, useState } from 'react';

export type Side = 'chat' | 'participants';

export function useSidePanel(admitted: boolean) {
  const [side, setSide] = useState<Side | null>(null);
  const chatToggle = useRef<HTMLButtonElement>(null);
  const peopleToggle = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (!admitted) setSide(null);
  }, [admitted]);
  const toggle = (which: Side) => setSide((s) => (s === which ? null : which));
  const close = () => {
    const back = side === 'chat' ? chatToggle.current : peopleToggle.current;
    setSide(null);
    back?.focus();
  };
  return { side, open: setSide, toggle, close, chatToggle, peopleToggle };
}
