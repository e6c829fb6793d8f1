// A headless member of a builtin room in a process of its own: `node --import tsx test/helpers/headless-member.ts
// <ws url of /rtc> <media token> <identity>`. It joins over the real /rtc protocol, publishes real simulcast (VP8
// encodes and the Opus of test/helpers/simulcast.ts), shows nobody's video (its `subscription` lists no tile), joins
// again when its connection fails, prints "ready" once connected and leaves when its stdin closes (or after 15
// minutes at most).
// In a process of its own, its media work (werift's SRTP in JavaScript) does not load the server's thread, and the
// machine's second core can take it.
// Started by spawnHeadlessMember (test/helpers/headless.ts).
import { RtcPeer } from './rtc-peer.js';
import { ensureSimulcastCapture, SimulcastPublisher } from './simulcast.js';

const [url, token, identity] = process.argv.slice(2);
if (!url || !token || !identity) {
  console.error('usage: headless-member.ts <ws url> <token> <identity>');
  process.exit(2);
}
const capture = await ensureSimulcastCapture();
const at = () => new Date().toISOString().slice(11, 23);
let peer: RtcPeer | null = null;
let leaving = false;

/**
 * Joins and publishes (the low and medium layers: what a small tile needs, at a third of the full set's cost). When
 * the connection fails, it joins again, as the SDK does (at most 3 times).
 */
async function join(attempt: number): Promise<void> {
  const current = await RtcPeer.connect(url!, token!, identity!, new SimulcastPublisher(capture, { rids: ['q', 'h'] }));
  peer = current;
  current.send({ type: 'subscription', tracks: [] });
  // What happens to the connection, on stderr (the parent keeps the end of it for a failure's message).
  current.pc.connectionStateChange.subscribe((state) => {
    console.error(`${at()} peer connection ${state}`);
    if (state === 'failed' && !leaving && attempt < 3 && peer === current) {
      void current.close().catch(() => undefined);
      join(attempt + 1).catch((err: unknown) => console.error(`${at()} rejoin failed: ${String(err)}`));
    }
  });
  current.ws.on('close', (code, reason) => console.error(`${at()} socket closed ${code} ${reason.toString()}`));
  current.ws.on('message', (data) => {
    const type = (JSON.parse(data.toString()) as { type: string }).type;
    if (['bye', 'error', 'participantLeft', 'notice', 'joined'].includes(type)) console.error(`${at()} message ${type}`);
  });
}

await join(0);
process.stdout.write('ready\n');
const leave = async (code: number) => {
  leaving = true;
  await peer?.close().catch(() => undefined);
  process.exit(code);
};
process.stdin.resume();
process.stdin.on('end', () => void leave(0));
setTimeout(() => void leave(0), 15 * 60_000).unref();
