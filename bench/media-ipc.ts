/**
 * The messages `bench/media.ts` and its child processes exchange over Node's IPC channel (process.send), and a
 * small request/response helper. Not a signaling protocol for anything but this benchmark.
 *
 * Three kinds of child: `sfu` (bench/media-sfu.ts), `pub` and `subs` (bench/media-peers.ts). The parent talks to
 * each; a peers child's requests always go to the SFU and the parent relays them (and the SFU's answers and
 * per-participant events back), so the peers never share a process with the SFU.
 */
export type Endpoint = 'main' | 'pub' | 'subs';

/** A request; `from` says where the response goes. */
export interface Req {
  kind: 'req';
  id: number;
  from: Endpoint;
  op: string;
  args: Record<string, unknown>;
}

export interface Res {
  kind: 'res';
  id: number;
  to: Endpoint;
  ok: boolean;
  result?: unknown;
  error?: string;
}

/** An event from the SFU child for the peers child that owns participant `pid`. */
export interface Evt {
  kind: 'evt';
  to: Endpoint;
  pid: string;
  event: 'iceCandidate' | 'needsNegotiation' | 'connectionState';
  data: unknown;
}

/** A child's one-time announcement that it has started. */
export interface Ready {
  kind: 'ready';
}

export type Message = Req | Res | Evt | Ready;

export interface Sender {
  send(message: Message): unknown;
}

/** Sends requests on one channel and matches responses by id; every request is bounded by `timeoutMs`. */
export class Requester {
  #next = 1;
  /** Set by failAll: the other side is gone, so later requests fail at once instead of timing out. */
  #gone: string | undefined;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();

  constructor(
    readonly from: Endpoint,
    readonly channel: Sender,
    readonly name: string,
  ) {}

  request<T = unknown>(op: string, args: Record<string, unknown> = {}, timeoutMs = 20_000): Promise<T> {
    const id = this.#next++;
    if (this.#gone) return Promise.reject(new Error(`${this.name}: ${this.#gone} (request "${op}")`));
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${this.name}: no answer to "${op}" within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      this.channel.send({ kind: 'req', id, from: this.from, op, args });
    });
  }

  /** Delivers a response; false if it was not one of ours (already timed out). */
  settle(res: Res): boolean {
    const pending = this.#pending.get(res.id);
    if (!pending) return false;
    this.#pending.delete(res.id);
    clearTimeout(pending.timer);
    if (res.ok) pending.resolve(res.result);
    else pending.reject(new Error(`${this.name}: ${res.error ?? 'failed'}`));
    return true;
  }

  /** Rejects everything still waiting (the other side went away). */
  failAll(reason: string): void {
    this.#gone = reason;
    for (const [id, pending] of this.#pending) {
      clearTimeout(pending.timer);
      pending.reject(new Error(`${this.name}: ${reason}`));
      this.#pending.delete(id);
    }
  }
}

/** Answers requests arriving on this process's IPC channel with `handle`. */
export function serve(handle: (op: string, args: Record<string, unknown>, from: Endpoint) => Promise<unknown>): void {
  process.on('message', (raw) => {
    const message = raw as Message;
    if (message.kind !== 'req') return;
    handle(message.op, message.args, message.from).then(
      (result) => reply({ kind: 'res', id: message.id, to: message.from, ok: true, result }),
      (error: unknown) => reply({ kind: 'res', id: message.id, to: message.from, ok: false, error: error instanceof Error ? error.message : String(error) }),
    );
  });
}

/** process.send that does nothing once the parent is gone (the child is about to exit anyway). */
export function reply(message: Message): void {
  if (process.connected) process.send!(message);
}

/** The child's own process figures, for CPU deltas measured by the parent. */
export interface ProcessSample {
  /** process.hrtime.bigint() in ms (monotonic). */
  atMs: number;
  /** process.cpuUsage(): user + system, ms, cumulative. */
  cpuMs: number;
  rssMB: number;
}

export function processSample(): ProcessSample {
  const cpu = process.cpuUsage();
  return { atMs: Number(process.hrtime.bigint()) / 1e6, cpuMs: (cpu.user + cpu.system) / 1000, rssMB: process.memoryUsage.rss() / 2 ** 20 };
}

export function isChildMessage(raw: unknown): raw is Message {
  return typeof raw === 'object' && raw !== null && 'kind' in raw;
}
