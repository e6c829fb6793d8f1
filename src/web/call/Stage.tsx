/**
 * The stage: the dark area for video. It shows where the call is (connecting, could not connect, waiting to be let
 * in, nobody else here yet), else the remote tiles in the gallery or speaker layout, and our self view in a corner
 * (large beside the waiting card). Main videos and screen shares are shown whole, letterboxed (call.css).
 */
import type { ReactNode } from 'react';
import { LocalVideo, initials } from './media.js';
import type { CallPhase, Capture, JoinFailure } from './useCallRoom.js';
import type { Layout, Paging, Tile } from './useStageLayout.js';
import { VideoTile } from './VideoTile.js';

export interface StageProps {
  phase: CallPhase;
  failure: JoinFailure | null;
  retry(capture?: Capture | null): void;
  waiting: boolean;
  /** What the waiting participant reads (WaitingCard), shown while `waiting`. */
  waitingCard: ReactNode;
  admitted: boolean;
  /** Who else is here: the layout's tiles (screens first), the gallery's page of them, the large one and the rest (speaker layout). */
  layout: Layout;
  tiles: Tile[];
  pageTiles: Tile[];
  paging: Paging;
  featured: Tile | null;
  /** The large tile is the person a host put in the spotlight. */
  spotlit: boolean;
  others: Tile[];
  /** The remote participant speaking now. */
  speaking: string | null;
  /** Hosts of a group visit: who has a hand up (said on their tile). */
  hands: ReadonlySet<string>;
  /** Nobody else here yet: host view of how many wait to be admitted (null: we cannot see the waiting room). */
  waitingCount: number | null;
  /** Our self view, once there is a room (null: none). */
  self: { cameraTrack: MediaStreamTrack | null; name: string } | null;
  /** Over the stage: the recording consent dialog. */
  children?: ReactNode;
}

export function Stage(props: StageProps) {
  const { phase, failure, waiting, admitted, layout, tiles, pageTiles, paging, featured, others, speaking, hands, self } = props;
  const inCall = tiles.length > 0;
  return (
    <section className={waiting ? 'ov-stage ov-stage--waiting' : 'ov-stage'} aria-label="Video">
      {phase === 'connecting' ? <p className="ov-call__center" role="status">Connecting…</p> : null}
      {phase === 'failed' && failure ? <JoinFailed failure={failure} retry={props.retry} /> : null}
      {waiting ? props.waitingCard : null}
      {admitted && !inCall ? <NobodyHere waitingCount={props.waitingCount} /> : null}
      {admitted && inCall && layout === 'gallery' ? (
        <div className={paging.pages > 1 ? 'ov-gallery-wrap has-pages' : 'ov-gallery-wrap'}>
          <div className="ov-gallery" data-count={Math.min(pageTiles.length, 9)} data-cols={columns(pageTiles.length)}>
            {pageTiles.map((t) => (
              <VideoTile key={t.key} tile={t} speaking={speaking === t.participant.identity} hand={hands.has(t.participant.identity)} />
            ))}
          </div>
          {paging.pages > 1 ? <Pager paging={paging} /> : null}
        </div>
      ) : null}
      {admitted && inCall && layout === 'speaker' && featured ? (
        <div className="ov-speaker">
          <div className="ov-speaker__main">
            <VideoTile tile={featured} speaking={speaking === featured.participant.identity} spotlit={props.spotlit} hand={hands.has(featured.participant.identity)} />
          </div>
          {others.length > 0 ? (
            <div className="ov-speaker__strip">
              {others.map((t) => (
                <VideoTile key={t.key} tile={t} speaking={speaking === t.participant.identity} hand={hands.has(t.participant.identity)} />
              ))}
            </div>
          ) : null}
        </div>
      ) : null}
      {self ? (
        <figure className={waiting ? 'ov-self ov-self--large' : 'ov-self'}>
          {self.cameraTrack ? (
            <LocalVideo track={self.cameraTrack} label="Self view" mirrored />
          ) : (
            <div className="ov-tile__avatar" aria-hidden="true">
              {initials(self.name)}
            </div>
          )}
          <figcaption>{self.cameraTrack ? 'You' : 'You (camera off)'}</figcaption>
        </figure>
      ) : null}
      {props.children}
    </section>
  );
}

/** Columns of a gallery page of `n` tiles (call.css: `data-cols`). */
function columns(n: number): number {
  return n <= 1 ? 1 : n <= 4 ? 2 : n <= 9 ? 3 : n <= 16 ? 4 : 5;
}

/** The gallery's pages: previous, where we are, next (in view under the tiles). */
function Pager({ paging }: { paging: Paging }) {
  return (
    <nav className="ov-pager" aria-label="Gallery pages">
      <button type="button" className="ov-pager__button" aria-label="Previous page" disabled={paging.page === 0} onClick={paging.previous}>
        ‹
      </button>
      <span className="ov-pager__where" role="status">
        Page {paging.page + 1} of {paging.pages}
      </span>
      <button type="button" className="ov-pager__button" aria-label="Next page" disabled={paging.page >= paging.pages - 1} onClick={paging.next}>
        ›
      </button>
    </nav>
  );
}

function JoinFailed({ failure, retry }: { failure: JoinFailure; retry: StageProps['retry'] }) {
  return (
    <div className="ov-call__center ov-card" role="alert">
      <h2>We could not connect you</h2>
      <p>{failure.message}</p>
      <div className="ov-row">
        <button type="button" className="primary" onClick={() => retry()}>
          Try again
        </button>
        {/* Audio only; the SDK cannot join publishing nothing at all (a microphone is needed). */}
        {failure.media ? (
          <button type="button" onClick={() => retry({ audio: true, video: false })}>
            Join without camera
          </button>
        ) : null}
      </div>
    </div>
  );
}

function NobodyHere({ waitingCount }: { waitingCount: number | null }) {
  return (
    <div className="ov-call__center ov-card">
      <h2>Nobody else is here yet</h2>
      <p className="muted">
        {waitingCount !== null
          ? waitingCount > 0
            ? `${waitingCount === 1 ? '1 person is' : `${waitingCount} people are`} in the waiting room. Admit them from the waiting room panel.`
            : 'Your patient will appear here once you admit them from the waiting room.'
          : 'The others will appear here when they join.'}
      </p>
    </div>
  );
}

/** What is left of the call once it is over (the page usually moves on at once). */
export function CallOver() {
  return (
    <div className="ov-call ov-call--over">
      <p className="ov-call__center" role="status">
        The call has ended.
      </p>
    </div>
  );
}
