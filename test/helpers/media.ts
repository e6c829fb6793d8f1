// Shared by the media tests and benchmarks: loopback-only werift settings, a synthetic VP8/Opus RTP source
// whose packets carry their origin tag, and bounded waiting.
import { RTP_EXTENSION_URI, RtpHeader, RtpPacket, useAudioLevelIndication, useSdesMid, type RTCRtpTransceiver } from 'werift';
import { Sfu, type SfuOptions } from '../../src/server/rooms/builtin/sfu/sfu.js';

/** How long a test waits for something that should happen. */
export const WAIT_MS = 8000;
/** How long a test watches to be convinced something does not happen. */
export const ABSENCE_MS = 600;

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value other than undefined/false; rejects after `ms`. */
export async function waitFor<T>(what: string, check: () => T | undefined | false, ms = WAIT_MS): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}

export const LOOPBACK_ONLY = {
  iceServers: [],
  iceAdditionalHostAddresses: ['127.0.0.1'],
  iceUseIpv4: false,
  iceUseIpv6: false,
  bundlePolicy: 'max-bundle' as const,
  headerExtensions: { audio: [useSdesMid(), useAudioLevelIndication()], video: [useSdesMid()] },
};

export function newSfu(options: SfuOptions = {}): Sfu {
  return new Sfu({
    iceServers: [],
    iceAdditionalHostAddresses: ['127.0.0.1'],
    iceUseInterfaceAddresses: false,
    statsIntervalMs: 1000,
    speakerIntervalMs: 200,
    ...options,
  });
}

/** Appends "tag" and its length to a payload; `tagOf` reads it back. */
export function tagged(prefix: number[], tag: string): Buffer {
  const bytes = Buffer.from(tag);
  return Buffer.concat([Buffer.from(prefix), bytes, Buffer.from([bytes.length])]);
}

export function tagOf(payload: Buffer): string {
  const length = payload[payload.length - 1] ?? 0;
  return payload.subarray(payload.length - 1 - length, payload.length - 1).toString();
}

/** A synthetic publisher track: Opus-like audio or VP8 video, 50 packets/s; keyframes only when asked (PLI). */
export class SyntheticSource {
  seq = Math.floor(Math.random() * 0xffff);
  ts = Math.floor(Math.random() * 0xffffffff);
  plis = 0;
  sent = 0;
  /** Audio level carried in the RFC 6464 extension (dBov, 0 loudest). */
  level = 127;
  #keyframe = true;
  #n = 0;
  readonly #timer: NodeJS.Timeout;

  constructor(
    readonly tag: string,
    readonly kind: 'audio' | 'video',
    readonly transceiver: RTCRtpTransceiver,
    /** Skip every n-th packet (a gap in sequence numbers, as network loss would leave). */
    readonly skipEvery = 0,
  ) {
    transceiver.sender.onPictureLossIndication.subscribe(() => {
      this.plis++;
      this.#keyframe = true;
    });
    this.#timer = setInterval(() => this.#tick(), 20);
  }

  #tick(): void {
    const sender = this.transceiver.sender;
    if (sender.dtlsTransport?.state !== 'connected' || !sender.codec) return;
    this.#n++;
    this.seq = (this.seq + 1) & 0xffff;
    this.ts = (this.ts + (this.kind === 'audio' ? 960 : 1800)) >>> 0;
    if (this.skipEvery > 0 && this.#n % this.skipEvery === 0) return;
    let payload: Buffer;
    const extensions: { id: number; payload: Buffer }[] = [];
    if (this.kind === 'video') {
      const key = this.#keyframe;
      this.#keyframe = false;
      payload = tagged(key ? [0x10, 0x10, 0x00, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01] : [0x10, 0x11, 0x00, 0x00], this.tag);
    } else {
      payload = tagged([0xfc], this.tag);
      const ext = this.transceiver.headerExtensions.find((e) => e.uri === RTP_EXTENSION_URI.audioLevelIndication);
      if (ext) extensions.push({ id: ext.id, payload: Buffer.from([0x80 | (this.level & 0x7f)]) });
    }
    const header = new RtpHeader({ payloadType: 0, sequenceNumber: this.seq, timestamp: this.ts, marker: this.kind === 'video', extensions });
    this.sent++;
    sender.sendRtp(new RtpPacket(header, payload)).catch(() => undefined);
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}
