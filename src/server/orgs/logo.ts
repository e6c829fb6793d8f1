/**
 * The organisation's logo (shown to patients on their join pages): an https URL, or a base64 data: URL of a PNG,
 * JPEG, SVG or WebP image whose bytes really are that image, up to LOGO_MAX_BYTES. Anything else is refused with
 * a 400 that says why. The page's Content-Security-Policy allows images from https origins and data: URLs only.
 */
import { LOGO_MAX_BYTES } from '../../shared/api/staff.js';
import { AppError } from '../http/errors.js';

export const LOGO_URL_MAX_CHARS = 2048;
const LOGO_TYPES = ['image/png', 'image/jpeg', 'image/svg+xml', 'image/webp'] as const;
type LogoType = (typeof LOGO_TYPES)[number];

const refuse = (path: string, message: string): never => {
  throw new AppError('validation_failed', `The logo ${message}.`, [{ path, message }]);
};

/** Whether `bytes` start like an image of `type` (its signature; an SVG: an <svg> element near the start). */
function looksLike(type: LogoType, bytes: Buffer): boolean {
  switch (type) {
    case 'image/png':
      return bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    case 'image/jpeg':
      return bytes.length > 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
    case 'image/webp':
      return bytes.subarray(0, 4).toString('latin1') === 'RIFF' && bytes.subarray(8, 12).toString('latin1') === 'WEBP';
    case 'image/svg+xml':
      return /<svg[\s>]/i.test(bytes.subarray(0, 4096).toString('utf8'));
  }
}

/** The logo value to store (trimmed), or a validation_failed naming `path`. */
export function checkLogoUrl(raw: string, path = 'body/logoUrl'): string {
  const value = raw.trim();
  if (value.toLowerCase().startsWith('data:')) {
    const match = /^data:([a-z0-9.+/-]+);base64,([A-Za-z0-9+/]*={0,2})$/i.exec(value);
    if (!match) return refuse(path, 'must be a base64 data: URL such as data:image/png;base64,…');
    const type = match[1]!.toLowerCase();
    if (!(LOGO_TYPES as readonly string[]).includes(type)) return refuse(path, `must be a PNG, JPEG, SVG or WebP image (not ${type})`);
    if (match[2]!.length % 4 !== 0) return refuse(path, 'is not valid base64');
    const bytes = Buffer.from(match[2]!, 'base64');
    if (bytes.length === 0) return refuse(path, 'is empty');
    if (bytes.length > LOGO_MAX_BYTES) return refuse(path, `is larger than ${LOGO_MAX_BYTES / 1024} KB (${Math.ceil(bytes.length / 1024)} KB)`);
    if (!looksLike(type as LogoType, bytes)) return refuse(path, `is not a ${type} image`);
    return `data:${type};base64,${match[2]}`;
  }
  if (value.length > LOGO_URL_MAX_CHARS) return refuse(path, `URL is longer than ${LOGO_URL_MAX_CHARS} characters`);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return refuse(path, 'must be an https URL or a data: URL of an image');
  }
  if (url.protocol !== 'https:') return refuse(path, 'URL must use https (patients’ pages are served securely)');
  if (url.username || url.password) return refuse(path, 'URL must not carry a user name or password');
  return url.href;
}
