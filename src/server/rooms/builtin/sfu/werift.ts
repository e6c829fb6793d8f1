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
