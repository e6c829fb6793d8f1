/**
 * `npm run bench:groups` — media at group size on the embedded SFU: what selection (simulcast layer by tile size,
 * last-N, the downlink cap; src/server/rooms/builtin/selection.ts) saves each subscriber and the server, against the
 * same group forwarded without selection (every camera's high layer to everyone), both measured in the same run.
 * A script, not a test: it prints a table and writes every figure to bench/results/groups.json.
 *
 * For each group size N (BENCH_GROUPS_SIZES, default 12,25): the server (bench/groups-server.ts: the SFU with its
 * real /rtc signaling and selection, in its own process) opens a room with the group policy (collaboration,
 * last-N = GROUP_LAST_N, default 9; downlink cap GROUP_DOWNLINK_BPS, default 2.5 Mbit/s). N headless simulcast
 * publishers (test/helpers/simulcast.ts: real VP8 at 320x180 / 640x360 / 1280x720 plus Opus at the group audio rate, GROUP_AUDIO_BITRATE_BPS, default 16 kbit/s, as the SDK sends it in a group) join over /rtc with
 * every camera on. Then:
 *   1. publishers only: the server's CPU (process.cpuUsage over BENCH_GROUPS_SECONDS) → cost per publisher;
 *   2. S viewers (BENCH_GROUPS_VIEWERS, default 3) join and report a gallery view (every camera in a grid of a
 *      1280x800 window: 4x3 tiles of 320x266 for 12, 5x5 of 256x160 for 25): with selection;
 *   3. the room's policy is removed (as a 1:1 room): the same viewers receive every camera's high layer.
 * Each viewer's received Mbit/s (RTP payload) is measured at the viewer, the server's CPU in the server process.
 * The viewers stand for the group's members: a member of a real group both publishes and views; here only S of
 * them view, because N viewers without selection would have this machine decrypt N·(N−1) high layers (25: about
 * 600 Mbit/s) in the load generator. The full group is extrapolated from the measured parts:
 *   p      = CPU(publishers only) / N                          (one participant's publishing)
 *   v      = (CPU(with viewers) − CPU(publishers only)) / S    (one participant's viewing)
 *   per participant = p + v (selection: what one receives is bounded by last-N and the downlink cap, so v does not
 *                     grow with N); without selection v grows with the number of cameras, v·(N−1)/N for a member
 *   largest group one core carries: selection n = 100 / (p + v); without, n·p + n·(n−1)·c = 100 with c = v/N the
 *                     cost of one forwarded high layer.
 * Bounded: fixed sizes (≤ 30), a time limit per phase, a watchdog on the whole run, every peer and the server
 * process stopped on success, failure and Ctrl-C. Environment: BENCH_GROUPS_SIZES, BENCH_GROUPS_VIEWERS (1–5),
 * BENCH_GROUPS_SECONDS (5), BENCH_GROUPS_WARMUP_SECONDS (4). Exit code 1 when a phase failed to run; a missed
 * target is a finding (printed MISS), not a failure.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RtcStreamState, RtcTrackView } from '../src/shared/rtc.js';
import { createTokenSigner } from '../src/server/rooms/builtin/tokens.js';
import { RtcPeer } from '../test/helpers/rtc-peer.js';
import { ensureSimulcastCapture, SimulcastPublisher, type SimulcastCapture } from '../test/helpers/simulcast.js';
import { busyBeforeStart, busyPct, envNumber, gitCommit, installCleanups, machineTicks, ROOT, runBench, startBenchChild, type BenchChild } from './common.js';

const RESULTS = fileURLToPath(new URL('./results/groups.json', import.meta.url));
const SIZES = (process.env.BENCH_GROUPS_SIZES ?? '12,25').split(',').map((s) => Number(s.trim()));
if (SIZES.some((n) => !Number.isInteger(n) || n < 2 || n > 30)) throw new Error('BENCH_GROUPS_SIZES: group sizes from 2 to 30');
const VIEWERS = envNumber('BENCH_GROUPS_VIEWERS', 3, 1, 5);
const SECONDS = envNumber('BENCH_GROUPS_SECONDS', 5, 2, 60);
const WARMUP_SECONDS = envNumber('BENCH_GROUPS_WARMUP_SECONDS', 4, 1, 60);
const TARGET_MBPS = 2.5;
/** What a group member's SDK sends (config.groups.audioBitrateBps): the publishers' Opus is encoded at this. */
const AUDIO_KBPS = Math.round(envNumber('GROUP_AUDIO_BITRATE_BPS', 16_000, 6_000, 510_000) / 1000);
const WINDOW = { width: 1280, height: 800 };

const cleanups = installCleanups();
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

interface Window {
  cpuPct: number;
  machineBusyPct: number | null;
  /** Per viewer, RTP payload Mbit/s received (audio and video). */
  viewerMbps: number[];
  /** Of it, audio. */
  viewerAudioMbps: number[];
}

/** Runs `fn` over a measuring window: the server's CPU (% of one core) and the viewers' received Mbit/s. */
async function measure(server: BenchChild, viewers: RtcPeer[]): Promise<Window> {
  const bytes0 = viewers.map((v) => v.bytes);
  const audio0 = viewers.map((v) => v.audioBytes);
  const m0 = machineTicks();
  const c0 = (await server.command('sample')).cpuUs as number;
  const t0 = performance.now();
  await sleep(SECONDS * 1000);
  const c1 = (await server.command('sample')).cpuUs as number;
  const ms = performance.now() - t0;
  const m1 = machineTicks();
  return {
    cpuPct: ((c1 - c0) / 1000 / ms) * 100,
    machineBusyPct: busyPct(m0, m1),
    viewerMbps: viewers.map((v, i) => ((v.bytes - bytes0[i]!) * 8) / 1000 / ms),
    viewerAudioMbps: viewers.map((v, i) => ((v.audioBytes - audio0[i]!) * 8) / 1000 / ms),
  };
}

/** Every camera in a grid filling the window (what the web app's gallery shows). */
function galleryView(identities: string[]): RtcTrackView[] {
  const cols = Math.ceil(Math.sqrt(identities.length));
  const rows = Math.ceil(identities.length / cols);
  const width = Math.floor(WINDOW.width / cols);
  const height = Math.floor(WINDOW.height / rows);
  return identities.map((identity) => ({ identity, source: 'camera', visible: true, width, height }));
}

async function inBatches<T>(count: number, batch: number, make: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < count; i += batch) out.push(...(await Promise.all(Array.from({ length: Math.min(batch, count - i) }, (_, j) => make(i + j)))));
  return out;
}

const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / Math.max(1, xs.length);
const round = (x: number, digits = 2) => Math.round(x * 10 ** digits) / 10 ** digits;

async function runGroup(n: number, server: BenchChild, capture: SimulcastCapture, url: string, secret: string) {
  const signer = createTokenSigner(secret);
  const token = async (identity: string, publish: boolean) =>
    (await signer.sign({ orgId: 'bench-org', roomId: `group-${n}`, roomName: `group-${n}`, identity, grants: { publish, subscribe: !publish, data: true, admin: false } }, 3600)).token;
  const peers: RtcPeer[] = [];
  const closePeers = async () => void (await Promise.all(peers.splice(0).map((p) => p.close().catch(() => undefined))));
  cleanups.add(`group ${n} peers`, closePeers);
  try {
    await server.command(`open:${n}`);
    const identities = Array.from({ length: n }, (_, i) => `member-${String(i + 1).padStart(2, '0')}`);
    const publishers = await inBatches(n, 1, async (i) => {
      const peer = await RtcPeer.connect(url, await token(identities[i]!, true), identities[i]!, new SimulcastPublisher(capture));
      peers.push(peer);
      return peer;
    });
    await sleep(WARMUP_SECONDS * 1000);
    const sent = publishers.map((p) => Object.values(p.publisher!.counters()).reduce((s, c) => s + c.packets, 0));
    if (sent.some((x) => !(x > 0))) throw new Error(`group ${n}: a publisher sent nothing`);
    const alone = await measure(server, []);

    const viewers = await inBatches(VIEWERS, VIEWERS, async (i) => {
      const peer = await RtcPeer.connect(url, await token(`viewer-${i + 1}`, false), `viewer-${i + 1}`, null);
      peers.push(peer);
      return peer;
    });
    for (const v of viewers) v.send({ type: 'subscription', tracks: galleryView(identities) });
    const states = await Promise.all(viewers.map((v) => v.next('streamStates', (m) => m.states.length === n, 20_000)));
    await sleep(WARMUP_SECONDS * 1000);
    const latest = (v: RtcPeer) => [...v.messages].reverse().find((m): m is { type: 'streamStates'; states: RtcStreamState[] } => m.type === 'streamStates')?.states ?? states[0]!.states;
    const selected = await measure(server, viewers);
    const forwarded = viewers.map((v) => latest(v).filter((s) => s.state === 'active'));

    await server.command(`selection:${n}:off`);
    await sleep(WARMUP_SECONDS * 1000);
    const all = await measure(server, viewers);

    const p = alone.cpuPct / n;
    const vSel = Math.max(0, selected.cpuPct - alone.cpuPct) / VIEWERS;
    const vAll = Math.max(0, all.cpuPct - alone.cpuPct) / VIEWERS;
    const c = vAll / n;
    const nMaxAll = Math.floor((-(p - c) + Math.sqrt((p - c) ** 2 + 4 * c * 100)) / (2 * c));
    const result = {
      n,
      viewers: VIEWERS,
      tile: galleryView(identities)[0]!,
      publishersOnly: { cpuPct: round(alone.cpuPct), machineBusyPct: alone.machineBusyPct },
      selection: {
        cpuPct: round(selected.cpuPct),
        machineBusyPct: selected.machineBusyPct,
        viewerMbps: selected.viewerMbps.map((x) => round(x)),
        viewerAudioMbps: selected.viewerAudioMbps.map((x) => round(x)),
        forwardedVideos: forwarded.map((f) => f.length),
        layers: forwarded.map((f) => [...new Set(f.map((s) => s.layer))].join('/')),
        pausedFor: [...new Set(viewers.flatMap((v) => latest(v).filter((s) => s.state === 'paused').map((s) => s.reason)))],
      },
      without: {
        cpuPct: round(all.cpuPct),
        machineBusyPct: all.machineBusyPct,
        viewerMbps: all.viewerMbps.map((x) => round(x)),
        viewerAudioMbps: all.viewerAudioMbps.map((x) => round(x)),
      },
      perParticipantCpuPct: { publishing: round(p, 3), selection: round(p + vSel, 3), without: round(p + (vAll * (n - 1)) / n, 3) },
      largestGroupOneCore: { selection: Math.floor(100 / (p + vSel)), without: nMaxAll },
    };
    return result;
  } finally {
    await closePeers();
    await server.command(`close:${n}`).catch(() => undefined);
  }
}

async function main(): Promise<number> {
  const { busyBeforePct, warnings } = await busyBeforeStart();
  const capture = await ensureSimulcastCapture({ audioKbps: AUDIO_KBPS });
  const secret = randomBytes(32).toString('hex');
  const server = await startBenchChild('groups', path.join(ROOT, 'bench/groups-server.ts'), [secret, ...SIZES.map(String)], cleanups);
  const url = String(server.ready.url);
  const results = [];
  for (const n of SIZES) {
    console.error(`group of ${n}: ${n} simulcast publishers, ${VIEWERS} viewers…`);
    results.push(await runGroup(n, server, capture, url, secret));
  }
  console.log(`\nviewer Mbit/s is RTP payload, audio and video; (audio) is the audio part: every member's Opus at ${AUDIO_KBPS} kbit/s`);
  console.log('group  viewer Mbit/s (selection | without)  server CPU % (pubs | +viewers sel | +viewers without)  CPU %/participant (sel | without)  largest group/core (sel | without)');
  for (const r of results) {
    const sel = mean(r.selection.viewerMbps);
    const verdict = Math.max(...r.selection.viewerMbps) <= TARGET_MBPS ? 'MET' : 'MISS';
    console.log(
      `${String(r.n).padStart(5)}  ${sel.toFixed(2).padStart(6)} (audio ${mean(r.selection.viewerAudioMbps).toFixed(2)}) | ${mean(r.without.viewerMbps).toFixed(2).padStart(6)} (${verdict} ≤ ${TARGET_MBPS})` +
        `    ${r.publishersOnly.cpuPct.toFixed(1)} | ${r.selection.cpuPct.toFixed(1)} | ${r.without.cpuPct.toFixed(1)}` +
        `    ${r.perParticipantCpuPct.selection.toFixed(2)} | ${r.perParticipantCpuPct.without.toFixed(2)}` +
        `    ${r.largestGroupOneCore.selection} | ${r.largestGroupOneCore.without}` +
        `   (forwarded ${r.selection.forwardedVideos.join(',')} videos at ${r.selection.layers.join(',')})`,
    );
  }
  mkdirSync(path.dirname(RESULTS), { recursive: true });
  writeFileSync(
    RESULTS,
    `${JSON.stringify({ at: new Date().toISOString(), commit: gitCommit(), cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, busyBeforePct, warnings, seconds: SECONDS, audioKbps: AUDIO_KBPS, results }, null, 2)}\n`,
  );
  console.log(`\nfigures: ${path.relative(ROOT, RESULTS)}`);
  return 0;
}

await runBench(main, () => cleanups.run(), SIZES.length * 240_000);
