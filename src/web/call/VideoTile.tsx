/**
 * One remote camera or shared screen on the stage: the video (or the person's initials; a name card while the server
 * pauses it), name, microphone, network.
 */
import { MicIcon } from './icons.js';
import { NetworkQuality, RemoteVideo, initials } from './media.js';
import type { Tile } from './useStageLayout.js';

/** `spotlit`: a host put this person in the spotlight for everyone; `hand`: (hosts) their hand is up. Both said on the tile. */
export function VideoTile({ tile, speaking, spotlit = false, hand = false }: { tile: Tile; speaking: boolean; spotlit?: boolean; hand?: boolean }) {
  const { participant: p, name, source } = tile;
  const track = p.tracks.get(source);
  const published = p.published.find((t) => t.source === source);
  const mic = p.published.find((t) => t.source === 'microphone');
  const off = !track || track.muted || track.hostMuted;
  const micOff = !mic || mic.muted || mic.hostMuted;
  // The server is not sending this video now (beyond the room's last-N, or over our bandwidth): the person's name card
  // over the element, which stays in place (shown, sized) so that the video comes back as soon as it can.
  const paused = source === 'camera' && !off && track?.streamState.state === 'paused' && track.streamState.reason !== 'hidden';
  return (
    <figure
      className={`ov-tile ov-tile--${source}${speaking && source === 'camera' ? ' is-speaking' : ''}${spotlit ? ' is-spotlit' : ''}`}
      data-identity={p.identity}
      data-speaking={speaking && source === 'camera' ? 'true' : undefined}
    >
      {spotlit || (hand && source === 'camera') ? (
        <span className="ov-tile__badges">
          {spotlit ? <span className="ov-tile__spotlight">Spotlight</span> : null}
          {hand && source === 'camera' ? <span className="ov-tile__hand">Hand raised</span> : null}
        </span>
      ) : null}
      {track ? <RemoteVideo track={track} label={source === 'screen' ? `Screen shared by ${name}` : `Video of ${name}`} className={off ? 'is-hidden' : undefined} /> : null}
      {paused && track ? (
        <div className="ov-tile__paused" data-paused={track.streamState.reason ?? 'paused'}>
          <div className="ov-tile__avatar" aria-hidden="true">
            {initials(name)}
          </div>
          <span>{track.streamState.reason === 'bandwidth' ? 'Video paused: your connection is busy' : 'Video paused while others speak'}</span>
        </div>
      ) : null}
      {off && source === 'camera' ? (
        <div className="ov-tile__avatar" aria-hidden="true">
          {initials(name)}
        </div>
      ) : null}
      <figcaption className="ov-tile__caption">
        <span className="ov-tile__name">{source === 'screen' ? `${name}'s screen` : name}</span>
        {source === 'camera' && micOff ? (
          <span className="ov-tile__muted">
            <MicIcon off />
            <span className="visually-hidden">microphone off</span>
          </span>
        ) : null}
        {source === 'camera' && off && published ? <span className="visually-hidden">camera off</span> : null}
        {source === 'camera' ? <NetworkQuality level={p.networkQuality} who={name} /> : null}
      </figcaption>
    </figure>
  );
}
