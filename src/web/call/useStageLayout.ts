/**
 * What the stage shows and how: one tile per camera and per shared screen, in the gallery (all alike) or the speaker
 * layout (one large: the spotlit person, else a shared screen, else the last dominant speaker, else the first; the
 * others in a strip). A new screen share, or a host's spotlight, switches to the speaker layout (what everyone wants
 * to see, large); the viewer can switch back.
 *
 * Group visits page the gallery: up to `pageSize` tiles a page (4, 9, 16 or 25; by default from the window: 4 on a
 * phone), with the page turned by the viewer. Tiles on other pages are not rendered at all, so the SDK's adaptive
 * stream sees their videos detached and the server stops sending them (docs/groups.md, "Web app"). The clinicians
 * (host and co-hosts) come first after screens, so a patient always finds their clinician on page 1.
 */
import { useEffect, useRef, useState } from 'react';
import type { RemotePeer } from './room.js';

export type Layout = 'gallery' | 'speaker';
/** The viewer's choice of tiles per page ('auto': from the window's size). */
export type PageSizeChoice = 'auto' | 4 | 9 | 16 | 25;
export const PAGE_SIZES = [4, 9, 16, 25] as const;

export interface Tile {
  key: string;
  source: 'camera' | 'screen';
  participant: RemotePeer;
  name: string;
}

export interface StageOptions {
  /** The participant id in the spotlight (the visit's, for everyone), or null. */
  spotlight: string | null;
  /** Page the gallery (group visits); 1:1 visits show everyone at once. */
  paged: boolean;
  /** Clinicians (host, co-hosts) by id: first in the order. */
  isClinician(id: string): boolean;
}

/** Tiles per page when the viewer has not chosen: fewer on small windows (a phone shows 4). */
export function autoPageSize(width: number, height: number): number {
  if (width < 640 || height < 500) return 4;
  if (width < 1100) return 9;
  if (width < 1700) return 16;
  return 25;
}

function useWindowSize() {
  const read = () => ({ width: typeof window === 'undefined' ? 1280 : window.innerWidth, height: typeof window === 'undefined' ? 800 : window.innerHeight });
  const [size, setSize] = useState(read);
  useEffect(() => {
    const onResize = () => setSize(read());
    window.addEventListener('resize', onResize);
    return () => window.removeEventListener('resize', onResize);
  }, []);
  return size;
}

export function useStageLayout(inCall: RemotePeer[], nameOf: (id: string) => string, lastSpeaker: string | null, options: StageOptions) {
  const { spotlight, paged, isClinician } = options;
  const [layout, setLayout] = useState<Layout>('gallery');
  const [choice, setChoice] = useState<PageSizeChoice>('auto');
  const [page, setPage] = useState(0);
  const win = useWindowSize();

  const screens: Tile[] = inCall.filter((p) => p.tracks.has('screen')).map((p) => ({ key: `${p.identity}:screen`, source: 'screen', participant: p, name: nameOf(p.identity) }));
  // The room's order (who came first) within each rank: the spotlit person, the clinicians, everyone else.
  const rank = (p: RemotePeer) => (p.identity === spotlight ? 0 : isClinician(p.identity) ? 1 : 2);
  const cameras: Tile[] = inCall
    .map((p, i) => ({ p, i }))
    .sort((a, b) => rank(a.p) - rank(b.p) || a.i - b.i)
    .map(({ p }) => ({ key: `${p.identity}:camera`, source: 'camera', participant: p, name: nameOf(p.identity) }));

  const screenKey = screens.map((t) => t.key).join(',');
  const seenScreens = useRef(new Set<string>());
  useEffect(() => {
    const keys = screenKey ? screenKey.split(',') : [];
    if (keys.some((k) => !seenScreens.current.has(k))) setLayout('speaker');
    seenScreens.current = new Set(keys);
  }, [screenKey]);

  // A new spotlight shows the spotlit person large to everyone (the viewer may switch back to the gallery); when the
  // host removes it, a viewer the spotlight moved goes back to the layout they had.
  const spotlitHere = spotlight !== null && inCall.some((p) => p.identity === spotlight);
  /** The layout before the spotlight switched it (null: the spotlight did not, or the viewer chose since). */
  const beforeSpotlight = useRef<Layout | null>(null);
  useEffect(() => {
    if (spotlitHere) {
      setLayout((l) => {
        if (l !== 'speaker') beforeSpotlight.current = l;
        return 'speaker';
      });
    } else if (beforeSpotlight.current !== null) {
      setLayout(beforeSpotlight.current);
      beforeSpotlight.current = null;
    }
  }, [spotlight, spotlitHere]);

  const tiles = [...screens, ...cameras];
  const spotlit = spotlitHere ? cameras.find((t) => t.participant.identity === spotlight) : undefined;
  const featured = spotlit ?? screens[0] ?? cameras.find((t) => t.participant.identity === lastSpeaker) ?? cameras[0] ?? null;

  const pageSize = paged ? (choice === 'auto' ? autoPageSize(win.width, win.height) : choice) : Math.max(1, tiles.length);
  const pages = Math.max(1, Math.ceil(tiles.length / pageSize));
  const current = Math.min(page, pages - 1);
  useEffect(() => {
    if (page > pages - 1) setPage(pages - 1);
  }, [page, pages]);

  return {
    layout,
    toggleLayout: () => {
      beforeSpotlight.current = null;
      setLayout((l) => (l === 'gallery' ? 'speaker' : 'gallery'));
    },
    /** Screens first, then cameras (the gallery's order). */
    tiles,
    /** The gallery's current page of tiles. */
    pageTiles: tiles.slice(current * pageSize, (current + 1) * pageSize),
    paging: {
      paged,
      page: current,
      pages,
      pageSize,
      choice,
      choose: (c: PageSizeChoice) => {
        setChoice(c);
        setPage(0);
      },
      previous: () => setPage(Math.max(0, current - 1)),
      next: () => setPage(Math.min(pages - 1, current + 1)),
    },
    featured,
    /** Whether the large tile is there because of a host's spotlight. */
    spotlit: spotlit !== undefined,
    others: tiles.filter((t) => t !== featured),
  };
}

export type Paging = ReturnType<typeof useStageLayout>['paging'];
