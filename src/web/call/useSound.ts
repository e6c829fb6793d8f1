/**
 * The call's sound: every remote audio element registers here (media.tsx's RemoteAudio). When the browser refuses to
 * play one (autoplay policy, or the system paused it) the call shows "Enable sound", and the next click or key press
 * anywhere tries again: the banner stays until every element plays.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import type { AudioRegistry } from './media.js';

export function useSound() {
  const [soundBlocked, setSoundBlocked] = useState(false);
  const audioEls = useRef(new Set<HTMLAudioElement>());
  const registry = useMemo<AudioRegistry>(
    () => ({
      add: (el) => audioEls.current.add(el),
      delete: (el) => audioEls.current.delete(el),
      blocked: () => setSoundBlocked(true),
    }),
    [],
  );
  const enableSound = useCallback(async () => {
    const results = await Promise.allSettled([...audioEls.current].map((el) => el.play()));
    if (results.every((r) => r.status === 'fulfilled')) setSoundBlocked(false);
  }, []);
  // Any click or key press lets the page play sound: use the first one (the button stays until it worked).
  useEffect(() => {
    if (!soundBlocked) return;
    const retry = () => void enableSound();
    document.addEventListener('pointerdown', retry, true);
    document.addEventListener('keydown', retry, true);
    return () => {
      document.removeEventListener('pointerdown', retry, true);
      document.removeEventListener('keydown', retry, true);
    };
  }, [soundBlocked, enableSound]);
  return { soundBlocked, registry, enableSound };
}
