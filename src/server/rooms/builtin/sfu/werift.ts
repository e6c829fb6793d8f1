/** Workarounds for werift 0.24 behaviour, shared by the SFU and by tests that drive werift peers. */
import type { RTCPeerConnection } from 'werift';

/**
 * werift 0.24's ICE agent falls back to stun.l.google.com:19302 when no STUN server is configured, even with
 * `iceServers: []`, and looks it up and queries it for a server-reflexive candidate of every IPv4 host address
 * while gathering. Clearing the agent's STUN server before each setLocalDescription (gathering happens there)
 * keeps a peer from ever contacting a public STUN server unless one is configured.
 */
export function suppressDefaultStun(pc: RTCPeerConnection): void {
  const configured = pc.config.iceServers.some((server) =>
    (Array.isArray(server.urls) ? server.urls : [server.urls]).some((url) => /^stuns?:/i.test(url)),
  );
  if (configured) return;
  for (const transport of pc.iceTransports) transport.connection.stunServer = undefined;
}

/** DTLS records held per transport until werift's DTLS endpoint exists (a handshake flight is a few records). */
const EARLY_DTLS_LIMIT = 16;

/**
 * Readies a peer connection's new DTLS transports for a fast handshake. Call once per connection, in its first
 * negotiation: between setRemoteDescription(offer) and createAnswer, or after setLocalDescription(offer).
 *
 * 1. When answering, answers a client's `a=setup:actpass` with `passive` (werift is the DTLS server) instead of werift's
 *    default `active`: as a DTLS client werift 0.24 waits a fixed 100 ms after ICE connects before sending its
 *    ClientHello (`RTCDtlsTransport.start`). Both roles are valid for an answerer (RFC 8842 §5.3).
 * 2. Keeps DTLS records that arrive before werift's DTLS endpoint exists and hands them to it once it does.
 *    The browser starts its handshake as soon as its own ICE check succeeds, which is often a few ms before
 *    werift's ICE completes and `start()` creates the DTLS server; werift drops those records and the handshake
 *    then waits for the browser's retransmission timer (50 ms, doubling). Measured in Chromium: ICE connected →
 *    DTLS connected went from 70–400 ms to 10–20 ms.
 */
export function prepareDtls(pc: RTCPeerConnection): void {
  const answering = pc.signalingState === 'have-remote-offer';
  for (const transport of pc.dtlsTransports) {
    if (transport.state !== 'new') continue;
    if (answering && transport.role === 'auto') transport.role = 'server';
    const connection = transport.iceTransport.connection;
    let early: Buffer[] = [];
    const holding = connection.onData.subscribe((data) => {
      if (transport.state === 'new' && isDtlsRecord(data) && early.length < EARLY_DTLS_LIMIT) early.push(Buffer.from(data));
    });
    const watching = transport.onStateChange.subscribe((state) => {
      if (state === 'new') return;
      holding.unSubscribe();
      watching.unSubscribe();
      const held = early;
      early = [];
      // start() creates the DTLS endpoint synchronously right after announcing 'connecting'.
      if (state === 'connecting' && held.length > 0) setImmediate(() => held.forEach((data) => connection.onData.execute(data)));
    });
  }
}

/** RFC 7983 demultiplexing: a first byte of 20–63 is DTLS. */
function isDtlsRecord(data: Buffer): boolean {
  const first = data[0];
  return first !== undefined && first > 19 && first < 64;
}

/**
 * Whether an ICE candidate's address (the fifth field of `candidate:…`) is an mDNS name (`<uuid>.local`), what a
 * browser announces instead of its address while the page has no camera or microphone permission. werift 0.24
 * resolves such a name by multicast DNS with a fixed 10 s timeout (a socket on UDP 5353 per connection), and a
 * server can seldom resolve it at all (the name answers only on the browser's own link). The SFU never passes
 * one to werift: the browser's checks reach the SFU's announced addresses, and ICE learns the browser's real
 * address from them (a peer-reflexive candidate).
 */
export function isMdnsCandidate(candidate: string): boolean {
  const address = candidate.trim().replace(/^a=/, '').replace(/^candidate:/i, '').split(/\s+/)[4];
  return address !== undefined && /\.local\.?$/i.test(address);
}

/** The SDP without its mDNS candidate lines (see isMdnsCandidate); anything else is kept as it is. */
export function withoutMdnsCandidates(sdp: string): string {
  if (!/\.local\b/i.test(sdp)) return sdp;
  return sdp
    .split('\r\n')
    .filter((line) => !(line.startsWith('a=candidate:') && isMdnsCandidate(line)))
    .join('\r\n');
}
