/**
 * OpenVisit's icon: a white cross on the accent blue, rounded. The web app links the SVG (`/favicon.svg`); browsers
 * and tools that ask for `/favicon.ico` get a real ICO (PNG images at 16, 32 and 48 px, drawn here from the same
 * shape), so no page logs a 404. Both are built once per app and cached by browsers for a day.
 */
import { deflateSync } from 'node:zlib';

const ACCENT = [0x24, 0x58, 0xd6] as const;
/** The shape on a 64-unit square: corner radius, and the cross's arm width and length. */
const RADIUS = 14;
const ARM = 14;
const SPAN = 38;

export const FAVICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="${RADIUS}" fill="#2458d6"/><path fill="#fff" d="M${32 - ARM / 2} ${32 - SPAN / 2}h${ARM}v${(SPAN - ARM) / 2}h${(SPAN - ARM) / 2}v${ARM}h-${(SPAN - ARM) / 2}v${(SPAN - ARM) / 2}h-${ARM}v-${(SPAN - ARM) / 2}h-${(SPAN - ARM) / 2}v-${ARM}h${(SPAN - ARM) / 2}z"/></svg>\n`;

/** What covers the point (x, y) of the 64-unit square: nothing, the background, or the cross. */
function paintAt(x: number, y: number): 'none' | 'back' | 'cross' {
  const cx = Math.min(Math.max(x, RADIUS), 64 - RADIUS);
  const cy = Math.min(Math.max(y, RADIUS), 64 - RADIUS);
  if ((x - cx) ** 2 + (y - cy) ** 2 > RADIUS ** 2) return 'none';
  const inArm = (a: number, b: number) => Math.abs(a - 32) <= ARM / 2 && Math.abs(b - 32) <= SPAN / 2;
  return inArm(x, y) || inArm(y, x) ? 'cross' : 'back';
}

/** RGBA pixels of the icon at `size` px, each pixel the mean of 4x4 samples (anti-aliased edges). */
function pixels(size: number): Buffer {
  const out = Buffer.alloc(size * size * 4);
  const n = 4;
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let a = 0;
      for (let sy = 0; sy < n; sy++) {
        for (let sx = 0; sx < n; sx++) {
          const paint = paintAt(((px + (sx + 0.5) / n) * 64) / size, ((py + (sy + 0.5) / n) * 64) / size);
          if (paint === 'none') continue;
          const [cr, cg, cb] = paint === 'cross' ? [255, 255, 255] : ACCENT;
          r += cr;
          g += cg;
          b += cb;
          a += 1;
        }
      }
      const i = (py * size + px) * 4;
      // Straight (not premultiplied) alpha: the colour is the mean of the covered samples.
      out[i] = a ? Math.round(r / a) : 0;
      out[i + 1] = a ? Math.round(g / a) : 0;
      out[i + 2] = a ? Math.round(b / a) : 0;
      out[i + 3] = Math.round((a / (n * n)) * 255);
    }
  }
  return out;
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

/** A PNG of the icon at `size` px (8-bit RGBA). */
export function faviconPng(size: number): Buffer {
  const rgba = pixels(size);
  const rows = Buffer.alloc(size * (size * 4 + 1));
  for (let y = 0; y < size; y++) rgba.copy(rows, y * (size * 4 + 1) + 1, y * size * 4, (y + 1) * size * 4);
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // colour type: RGBA
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}

/** An ICO holding PNG images of the icon at the sizes given. */
export function faviconIco(sizes: readonly number[] = [16, 32, 48]): Buffer {
  const images = sizes.map((size) => ({ size, png: faviconPng(size) }));
  const header = Buffer.alloc(6);
  header.writeUInt16LE(0, 0);
  header.writeUInt16LE(1, 2); // type: icon
  header.writeUInt16LE(images.length, 4);
  let offset = 6 + 16 * images.length;
  const entries = images.map(({ size, png }) => {
    const entry = Buffer.alloc(16);
    entry[0] = size >= 256 ? 0 : size;
    entry[1] = size >= 256 ? 0 : size;
    entry.writeUInt16LE(1, 4); // colour planes
    entry.writeUInt16LE(32, 6); // bits per pixel
    entry.writeUInt32LE(png.length, 8);
    entry.writeUInt32LE(offset, 12);
    offset += png.length;
    return entry;
  });
  return Buffer.concat([header, ...entries, ...images.map((i) => i.png)]);
}
