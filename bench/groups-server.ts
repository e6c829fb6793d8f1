/**
 * The server side of `bench/groups.ts`, in its own process so its CPU is measured apart from the headless peers:
 * the embedded SFU with its real `/rtc` signaling and selection (RtcServer, as BuiltinProvider builds it) on an
 * HTTP server on 127.0.0.1, loopback-only ICE, the production timers. Not meant to be run by hand.
 *
 * Arguments: the token signing secret, then the group sizes. Commands (stdin lines, one `@@bench` reply each):
 *   `open:<n>`        opens room `group-<n>` with the group policy (collaboration, last-N GROUP_LAST_N default 9)
 *   `selection:<n>:on|off`  sets or removes that room's policy (off: every video to everyone, as a 1:1 room)
 *   `close:<n>`       closes the room
 *   `sample`          this process's cumulative CPU time (µs) and RSS
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../src/server/config.js';
import type { MediaPolicy } from '../src/server/rooms/provider.js';
import { RtcServer } from '../src/server/rooms/builtin/rtc-server.js';
import { Sfu } from '../src/server/rooms/builtin/sfu/index.js';
import { createTokenSigner } from '../src/server/rooms/builtin/tokens.js';
import { benchSay, runBenchChild } from './common.js';

const [secret, ...sizeArgs] = process.argv.slice(2);
if (!secret || sizeArgs.length === 0) {
  console.error('bench/groups-server.ts is started by bench/groups.ts');
  process.exit(2);
}
const sizes = sizeArgs.map(Number);
const groups = loadConfig({}).groups;
const BENCH_ORG = 'bench-org';
const policy: MediaPolicy = { simulcast: true, mode: 'collaboration', spotlight: null, lastN: groups.lastN };
const commands: Record<string, () => void> = {
  sample: () => {
    const cpu = process.cpuUsage();
    benchSay({ cpuUs: cpu.user + cpu.system, rssBytes: process.memoryUsage.rss() });
  },
};

runBenchChild(
  async (onClose) => {
    const sfu = new Sfu({ iceServers: [], iceAdditionalHostAddresses: ['127.0.0.1'], iceUseInterfaceAddresses: false });
    const rtc = new RtcServer({
      sfu,
      signer: createTokenSigner(secret),
      reconnectGraceMs: 10_000,
      iceServersFor: () => [],
      emit: () => undefined,
      log: sfu.log,
      maxPayloadBytes: 256 * 1024,
      recordingsDir: '/nonexistent-bench-recordings',
      selection: { downlinkBps: groups.downlinkBps, audioBitrateBps: groups.audioBitrateBps },
    });
    const http = createServer((_req, res) => res.writeHead(404).end());
    http.on('upgrade', rtc.handleUpgrade);
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    onClose(async () => {
      await rtc.close();
      await new Promise<void>((resolve) => http.close(() => resolve()));
    });
    benchSay({ ready: true, url: `ws://127.0.0.1:${(http.address() as AddressInfo).port}/rtc`, policy, downlinkBps: groups.downlinkBps, audioBitrateBps: groups.audioBitrateBps });
    for (const n of sizes) {
      commands[`open:${n}`] = () => benchSay({ opened: rtc.openRoom({ roomId: `group-${n}`, orgId: BENCH_ORG, name: `group-${n}`, maxParticipants: 60, media: policy }) });
      commands[`selection:${n}:on`] = () => benchSay({ set: rtc.setMediaPolicy(`group-${n}`, policy) });
      commands[`selection:${n}:off`] = () => benchSay({ set: rtc.setMediaPolicy(`group-${n}`, null) });
      commands[`close:${n}`] = () => void rtc.closeRoom(`group-${n}`).then((at) => benchSay({ closed: at !== null }));
    }
  },
  commands,
);
