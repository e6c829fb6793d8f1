/**
 * What the stage shows and how: one tile per camera and per shared screen, in the gallery (all alike) or the speaker
 * layout (one large: a shared screen, else the last dominant speaker, else the first; the others in a strip). A new
 * screen share switches to the speaker layout (what everyone wants to see, large); the viewer can switch back.
 */
import { useEffect, useRef, useState } from 'react';
import type { RemotePeer } from './room.js';

export type Layout = 'gallery' | 'speaker';

export interface Tile {
  key: string;
  source: 'camera' | 'screen';
  participant: RemotePeer;
  name: string;
}

export function useStageLayout(inCall: RemotePeer[], nameOf: (id: string) => string, lastSpeaker: string | null) {
  const [layout, setLayout] = useState<Layout>('gallery');
  const screens: Tile[] = inCall.filter((p) => p.tracks.has('screen')).map((p) => ({ key: `${p.identity}:screen`, source: 'screen', participant: p, name: nameOf(p.identity) }));
  const cameras: Tile[] = inCall.map((p) => ({ key: `${p.identity}:camera`, source: 'camera', participant: p, name: nameOf(p.identity) }));

  const screenKey = screens.map((t) => t.key).join(',');
  const seenScreens = useRef(new Set<string>());
  useEffect(() => {
    const keys = screenKey ? screenKey.split(',') : [];
    if (keys.some((k) => !seenScreens.current.has(k))) setLayout('speaker');
    seenScreens.current = new Set(keys);
  }, [screenKey]);

  const tiles = [...screens, ...cameras];
  const featured = screens[0] ?? cameras.find((t) => t.participant.identity === lastSpeaker) ?? cameras[0] ?? null;
  return {
    layout,
    toggleLayout: () => setLayout((l) => (l === 'gallery' ? 'speaker' : 'gallery')),
    /** Screens first, then cameras (the gallery's order). */
    tiles,
    featured,
    others: tiles.filter((t) => t !== featured),
  };
}
