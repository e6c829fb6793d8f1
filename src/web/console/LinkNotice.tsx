import { useAuth } from './auth.js';

/**
 * Where the console hands out links (the invite panel, Today): a warning when join links would not work for a
 * patient on another device. Links always start with PUBLIC_URL (never the address this page was opened at), so:
 * - PUBLIC_URL names this computer (unset: http://localhost:PORT): the links open here only. Prominent when the
 *   clinician reached the console by another name or address (they are clearly not testing on this computer);
 *   `compact` (a one-line hint, for the invite panel) when they are on this computer themselves.
 * - PUBLIC_URL is plain http on another name: the links open, but browsers refuse cameras and microphones there.
 * `where`: 'invite' shows the compact hint too; 'page' only the warnings.
 */
export function LinkNotice({ where }: { where: 'invite' | 'page' }) {
  const { links } = useAuth().me;
  const here = window.location.origin;
  const linkOrigin = new URL(links.publicUrl).origin;
  const elsewhere = here !== linkOrigin;
  const how = (
    <>
      Set <code>PUBLIC_URL</code> in <code>.env</code> to the address patients reach this server at (for example{' '}
      <code>https://visits.example.org</code>) and restart the server. Cameras and microphones only work on a secure address: https (or
      localhost, on this computer).
    </>
  );
  if (links.loopback && elsewhere) {
    return (
      <div className="notice warn link-notice" role="note" aria-label="Where your links work">
        <p>
          <strong>Join links will only work on this computer.</strong> They point to <code>{links.publicUrl}</code>
          {links.configured ? '' : ' (PUBLIC_URL is not set)'}, but you opened the console at <code>{here}</code>: a patient on another device
          cannot open them.
        </p>
        <p>{how}</p>
      </div>
    );
  }
  if (links.loopback) {
    return where === 'invite' ? (
      <p className="muted link-notice link-notice--compact">
        Links point to <code>{links.publicUrl}</code> and open on this computer only. {how}
      </p>
    ) : null;
  }
  if (!links.secure) {
    return (
      <div className="notice warn link-notice" role="note" aria-label="Where your links work">
        <p>
          <strong>Patients will not be able to use their camera.</strong> Join links point to <code>{links.publicUrl}</code>, which is not https:
          browsers allow cameras and microphones only on https (or localhost).
        </p>
        <p>
          Set <code>PUBLIC_URL</code> in <code>.env</code> to an https address of this server and restart it.
        </p>
      </div>
    );
  }
  return null;
}
