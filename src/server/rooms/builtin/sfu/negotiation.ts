/**
 * Pure helpers for the server's own offers. A browser rejects an offer whose BUNDLE group maps one payload
 * type to two codecs, or one header-extension id to two URIs. The m-lines negotiated so far carry the
 * client's numbers (werift answers with the offerer's), while werift would give new m-lines numbers from its
 * own configuration; these functions pick numbers for new m-lines that agree with what is already in use.
 */

export interface CodecInUse {
  readonly payloadType: number;
  readonly mimeType: string;
  readonly clockRate: number;
  readonly channels?: number | undefined;
}

export interface ExtensionInUse {
  readonly id: number;
  readonly uri: string;
}

const DYNAMIC_PAYLOAD_TYPES = [...range(96, 127), ...range(35, 63)];

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function sameCodec(a: CodecInUse, b: Omit<CodecInUse, 'payloadType'>): boolean {
  return a.mimeType.toLowerCase() === b.mimeType.toLowerCase() && a.clockRate === b.clockRate && (a.channels ?? 1) === (b.channels ?? 1);
}

/** The payload type for `codec` in a new m-line: the one it already has in this session, else `preferred` if free, else the first free dynamic one. */
export function choosePayloadType(inUse: readonly CodecInUse[], codec: Omit<CodecInUse, 'payloadType'>, preferred: number): number {
  const existing = inUse.find((c) => sameCodec(c, codec));
  if (existing) return existing.payloadType;
  const used = new Set(inUse.map((c) => c.payloadType));
  if (!used.has(preferred)) return preferred;
  const free = DYNAMIC_PAYLOAD_TYPES.find((pt) => !used.has(pt));
  if (free === undefined) throw new Error('no free RTP payload type');
  return free;
}

/** The id for header extension `uri` in a new m-line: the one it already has in this session, else the smallest free one-byte id (1..14). */
export function chooseExtensionId(inUse: readonly ExtensionInUse[], uri: string): number {
  const existing = inUse.find((e) => e.uri === uri);
  if (existing) return existing.id;
  const used = new Set(inUse.map((e) => e.id));
  for (let id = 1; id <= 14; id++) if (!used.has(id)) return id;
  throw new Error('no free RTP header extension id');
}

/** Media sections of an SDP as far as the SFU needs them: kind, mid, direction, whether the port is 0. */
export interface MediaSection {
  readonly kind: string;
  readonly mid: string | undefined;
  readonly direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
  readonly rejected: boolean;
}

export function parseMediaSections(sdp: string): MediaSection[] {
  const sections: MediaSection[] = [];
  let sessionDirection: MediaSection['direction'] = 'sendrecv';
  let current: { kind: string; mid: string | undefined; direction: MediaSection['direction'] | undefined; rejected: boolean } | undefined;
  const flush = () => {
    if (current) sections.push({ kind: current.kind, mid: current.mid, direction: current.direction ?? sessionDirection, rejected: current.rejected });
  };
  for (const raw of sdp.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('m=')) {
      flush();
      const [kind = '', port = ''] = line.slice(2).split(' ');
      current = { kind, mid: undefined, direction: undefined, rejected: port === '0' };
    } else if (line.startsWith('a=mid:')) {
      if (current) current.mid = line.slice('a=mid:'.length);
    } else if (line === 'a=sendrecv' || line === 'a=sendonly' || line === 'a=recvonly' || line === 'a=inactive') {
      const direction = line.slice(2) as MediaSection['direction'];
      if (current) current.direction = direction;
      else sessionDirection = direction;
    }
  }
  flush();
  return sections;
}

/** Whether the remote side sends media on this section. */
export function remoteSends(section: MediaSection): boolean {
  return !section.rejected && (section.direction === 'sendrecv' || section.direction === 'sendonly');
}
