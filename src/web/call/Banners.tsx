/**
 * The banners under the top bar: reconnecting, sound blocked (with "Enable sound"), a control's failure (dismissable),
 * and the passing notices (we are sharing our screen; the server's and the host's notices, useNotices.ts).
 */
import { SoundIcon } from './icons.js';
import type { Notice } from './useNotices.js';

export interface BannersProps {
  reconnecting: boolean;
  soundBlocked: boolean;
  onEnableSound(): void;
  problem: string | null;
  onDismissProblem(): void;
  sharing: boolean;
  notices: Notice[];
  /** Group visits: a host asks us to turn the microphone on (we answer; nothing is turned on for us). */
  unmute: { accept(): void; dismiss(): void } | null;
}

export function Banners({ reconnecting, soundBlocked, onEnableSound, problem, onDismissProblem, sharing, notices, unmute }: BannersProps) {
  return (
    <div className="ov-banners">
      {reconnecting ? (
        <div className="ov-banner ov-banner--warn" role="status">
          <strong>Reconnecting…</strong> <span>Your connection dropped. Hold on, we are getting you back.</span>
        </div>
      ) : null}
      {soundBlocked ? (
        <div className="ov-banner ov-banner--sound" role="alert">
          <span>Your browser blocked the sound of this call.</span>
          <button type="button" className="primary ov-sound-button" onClick={onEnableSound}>
            <SoundIcon /> Enable sound
          </button>
        </div>
      ) : null}
      {unmute ? (
        <div className="ov-banner ov-banner--ask" role="alertdialog" aria-label="The host asks you to unmute" aria-describedby="ov-unmute-ask">
          <span id="ov-unmute-ask">
            <strong>The host asks you to unmute.</strong> Your microphone stays off unless you turn it on.
          </span>
          <span className="ov-banner__actions">
            <button type="button" className="primary" onClick={unmute.accept}>
              Unmute
            </button>
            <button type="button" onClick={unmute.dismiss}>
              Not now
            </button>
          </span>
        </div>
      ) : null}
      {problem ? (
        <div className="ov-banner ov-banner--error" role="alert">
          <span>{problem}</span>
          <button type="button" className="ov-close" aria-label="Dismiss" onClick={onDismissProblem}>
            ×
          </button>
        </div>
      ) : null}
      <div aria-live="polite" className="ov-notices">
        {sharing ? <div className="ov-banner">You are sharing your screen.</div> : null}
        {notices.map((n) => (
          <div key={n.id} className="ov-banner">
            {n.text}
          </div>
        ))}
      </div>
    </div>
  );
}
