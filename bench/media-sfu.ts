/**
 * The SFU side of `bench/media.ts`, in its own process so its CPU and memory are measured apart from the load
 * generators. Not meant to be run by hand: it needs the parent's IPC channel (bench/media-ipc.ts).
 *
 * One `Sfu` with loopback-only ICE options; every request maps to one
 * `Sfu` / `SfuParticipant` call, and each participant's iceCandidate / needsNegotiation / connectionState events
 * go back to the process that joined it. `sample` returns this process's cumulative CPU time and RSS plus the
 * SFU's own packet counters. The process exits when the parent disconnects (so it never outlives a run).
 */
import { Sfu } from '../src/server/rooms/builtin/sfu/sfu.js';
import type { SfuParticipant } from '../src/server/rooms/builtin/sfu/participant.js';
import type { IceCandidateInit, TrackSource } from '../src/server/rooms/builtin/sfu/types.js';
import { processSample, reply, serve, type Endpoint } from './media-ipc.js';

if (!process.send) {
  console.error('bench/media-sfu.ts is started by bench/media.ts (it needs an IPC channel)');
  process.exit(2);
}

const ROOM = 'bench';
// Loopback-only ICE as in test/helpers/media.ts newSfu(); the timers (REMB, stats, dominant speaker) keep their
// production defaults, since their cost is part of what is measured (newSfu() shortens them for tests).
const sfu = new Sfu({
  iceServers: [],
  iceAdditionalHostAddresses: ['127.0.0.1'],
  iceUseInterfaceAddresses: false,
});
const participants = new Map<string, SfuParticipant>();

function participant(pid: unknown): SfuParticipant {
  const p = participants.get(String(pid));
  if (!p) throw new Error(`unknown participant ${String(pid)}`);
  return p;
}

async function handle(op: string, args: Record<string, unknown>, from: Endpoint): Promise<unknown> {
  switch (op) {
    case 'join': {
      const pid = String(args.pid);
      const p = await sfu.join(ROOM, pid, 'everyone');
      participants.set(pid, p);
      p.on('iceCandidate', (candidate) => reply({ kind: 'evt', to: from, pid, event: 'iceCandidate', data: candidate }));
      p.on('needsNegotiation', (sdp) => reply({ kind: 'evt', to: from, pid, event: 'needsNegotiation', data: sdp }));
      p.on('connectionState', (state) => reply({ kind: 'evt', to: from, pid, event: 'connectionState', data: state }));
      return {};
    }
    case 'createAnswer':
      return participant(args.pid).createAnswer(String(args.sdp), { sources: (args.sources ?? {}) as Record<string, TrackSource> });
    case 'createOffer':
      return participant(args.pid).createOffer();
    case 'setRemoteDescription':
      return participant(args.pid).setRemoteDescription(String(args.sdp));
    case 'addIceCandidate':
      return participant(args.pid).addIceCandidate((args.candidate ?? null) as IceCandidateInit | null);
    case 'sample': {
      let slots = 0;
      let packetsSent = 0;
      let packetsReceived = 0;
      let connected = 0;
      for (const p of participants.values()) {
        const c = p.counters();
        slots += c.slots;
        packetsSent += c.packetsSent;
        packetsReceived += c.packetsReceived;
        if (p.connectionState === 'connected') connected++;
      }
      return { ...processSample(), participants: participants.size, connected, slots, packetsSent, packetsReceived };
    }
    case 'close':
      await sfu.close();
      participants.clear();
      return {};
    default:
      throw new Error(`unknown op ${op}`);
  }
}

serve(handle);
process.on('disconnect', () => void sfu.close().finally(() => process.exit(0)));
reply({ kind: 'ready' });
