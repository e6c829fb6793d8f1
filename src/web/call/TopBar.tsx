/**
 * The call's top bar: the recording indicator (left), the session timer (centre, once in the visit), and on the right
 * our connection's quality, the layout switch and "Full screen". What the page shows about the clinic and clinician
 * sits above the call, in the page.
 */
import type { ServerClock } from '../time.js';
import { GalleryIcon, SpeakerIcon } from './icons.js';
import { NetworkQuality } from './media.js';
import { SessionTimer } from './SessionTimer.js';
import { PAGE_SIZES, type Layout, type Paging } from './useStageLayout.js';

export interface TopBarProps {
  recording: boolean;
  /** The visit is recorded, but not us (we have not agreed). */
  notRecordedMe: boolean;
  /** In the visit: the timer and the layout switch show. */
  admitted: boolean;
  /** Connected (or reconnecting): our connection's quality shows. */
  live: boolean;
  /** ISO times from the visit: when it started (null: not yet) and when it is scheduled to end. */
  startedAt: string | null;
  endsAt: string | null;
  clock: ServerClock;
  quality: number | null;
  layout: Layout;
  onToggleLayout(): void;
  /** Group visits: the gallery's pages (the "Tiles per page" choice); null: 1:1. */
  paging: Paging | null;
  fullscreen: { canFullscreen: boolean; fullscreen: boolean; toggle(): void };
}

export function TopBar({ recording, notRecordedMe, admitted, live, startedAt, endsAt, clock, quality, layout, onToggleLayout, paging, fullscreen }: TopBarProps) {
  return (
    <header className="ov-call__top">
      <div className="ov-call__top-left" aria-live="polite">
        {recording ? (
          <span className="ov-rec">
            <span className="ov-rec__dot" aria-hidden="true" />
            Recording
            {notRecordedMe ? <span className="ov-rec__you"> — you are not recorded</span> : null}
          </span>
        ) : null}
      </div>
      {admitted ? <SessionTimer startedAt={startedAt ? Date.parse(startedAt) : null} endsAt={endsAt ? Date.parse(endsAt) : null} clock={clock} /> : <span />}
      <div className="ov-call__top-right">
        {live ? (
          <span className="ov-call__conn">
            <span className="ov-call__conn-label">Your connection</span>
            <NetworkQuality level={quality} who="your connection" />
          </span>
        ) : null}
        {admitted ? (
          <button type="button" className="ov-top-button ov-top-button--layout" aria-label={layout === 'gallery' ? 'Switch to speaker view' : 'Switch to gallery view'} onClick={onToggleLayout}>
            {layout === 'gallery' ? <SpeakerIcon /> : <GalleryIcon />}
            <span>{layout === 'gallery' ? 'Speaker view' : 'Gallery view'}</span>
          </button>
        ) : null}
        {admitted && paging?.paged && layout === 'gallery' ? (
          <label className="ov-top-select">
            <span className="ov-top-select__label">Tiles</span>
            <select
              aria-label="Tiles per page"
              value={String(paging.choice)}
              onChange={(e) => paging.choose(e.target.value === 'auto' ? 'auto' : (Number(e.target.value) as (typeof PAGE_SIZES)[number]))}
            >
              <option value="auto">Auto ({paging.choice === 'auto' ? paging.pageSize : 'by window'})</option>
              {PAGE_SIZES.map((n) => (
                <option key={n} value={n}>
                  {n}
                </option>
              ))}
            </select>
          </label>
        ) : null}
        {fullscreen.canFullscreen ? (
          <button type="button" className="ov-top-button" aria-pressed={fullscreen.fullscreen} onClick={fullscreen.toggle}>
            Full screen
          </button>
        ) : null}
      </div>
    </header>
  );
}
