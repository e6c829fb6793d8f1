import PgBoss from 'pg-boss';
import type { FastifyBaseLogger } from 'fastify';
import type { Database } from '../db/index.js';

/**
 * Background jobs: a thin seam over pg-boss, running on the app's own database (PGlite or PostgreSQL) through
 * `Database.executeSql`, so there is no second connection pool and no extra service to run. Jobs survive
 * restarts; a failed run is retried by pg-boss with the queue's policy; several server processes share the
 * queues (pg-boss fetches with SKIP LOCKED, so each job runs once at a time).
 */

/** The pg-boss schema (tables `pgboss.job`, `pgboss.queue`, …), created and migrated by pg-boss itself. */
export const JOBS_SCHEMA = 'pgboss';

export interface QueuePolicy {
  /** Runs after the first one failed (pg-boss `retryLimit`): `maxAttempts - 1`. */
  retryLimit: number;
  /** Seconds before the first retry; with `retryBackoff` each retry waits about twice as long, with jitter. */
  retryDelaySeconds: number;
  retryBackoff: boolean;
  /** A run still active after this long is failed (and retried): it bounds a run lost with its process. */
  expireInSeconds: number;
}

export interface WorkOptions extends QueuePolicy {
  /** Jobs of this queue run at once on this process (one pg-boss worker each). */
  concurrency?: number;
}

export interface Job<T> {
  id: string;
  data: T;
  /** 0 on the first run, then 1, 2… */
  retryCount: number;
  retryLimit: number;
  /** Aborted when the jobs layer stops: cut network calls short so shutdown stays quick. */
  signal: AbortSignal;
}

/** Resolving completes the job; throwing fails this run (retried while the policy allows). */
export type JobHandler<T> = (job: Job<T>) => Promise<void>;

export interface Jobs {
  /** Declares a queue (created or updated with the policy) and runs its handler; before or after start(). */
  work<T extends object>(queue: string, options: WorkOptions, handler: JobHandler<T>): Promise<void>;
  /**
   * Enqueues a job on a declared queue (starting the layer if it is not yet) and wakes a local worker; resolves the
   * job id. `startAfter` schedules it (reminders); `singletonKey` keeps one queued job per key.
   */
  send<T extends object>(queue: string, data: T, options?: SendOptions): Promise<string>;
  /** Cancels jobs not yet run (a cancelled appointment's reminders). Unknown or finished ids are ignored. */
  cancel(queue: string, ids: string[]): Promise<void>;
  /** Creates or migrates pg-boss's schema, then starts the declared workers and maintenance. */
  start(): Promise<void>;
  /**
   * Starts now if this database has used jobs before (pg-boss's schema exists), so work left by an earlier
   * run or another process is picked up; otherwise the first send() starts it. An app that never sends a
   * job then costs one query instead of a schema, a queue and idle pollers (about 0.1 s on PGlite).
   */
  startIfUsed(): Promise<void>;
  /** Stops fetching, aborts running handlers, waits for them briefly. Safe to call twice or before start. */
  stop(): Promise<void>;
}

export interface SendOptions {
  startAfter?: Date;
  singletonKey?: string;
}

export interface JobsOptions {
  /** How often an idle worker looks for due jobs (pg-boss minimum 0.5 s). Local sends wake a worker at once. */
  pollingIntervalSeconds: number;
  /** How long stop() waits for running handlers (after aborting them) before failing them. */
  stopTimeoutMs?: number;
}

export function createJobs(database: Database, log: Pick<FastifyBaseLogger, 'warn' | 'error'>, options: JobsOptions): Jobs {
  const inflight = new Set<Promise<unknown>>();
  let closed = false;
  /**
   * pg-boss's `db` adapter. After stop() it answers nothing, like pg-boss's own closed pool: a worker that
   * fetched a job while stopping completes or fails it without awaiting, and a rejection there would be
   * unhandled. Such a job stays active until it expires, and is then retried.
   */
  const db: PgBoss.Db = {
    executeSql(text: string, values: unknown[]) {
      if (closed) return Promise.resolve(undefined as unknown as { rows: unknown[] });
      const running = database.executeSql(text, values);
      inflight.add(running);
      const forget = () => inflight.delete(running);
      running.then(forget, forget);
      return running;
    },
  };
  const makeBoss = () => {
    const boss = new PgBoss({
      db,
      schema: JOBS_SCHEMA,
      // No cron schedules yet: skipping the timekeeper saves a worker and a clock query.
      schedule: false,
      supervise: true,
      migrate: true,
      pollingIntervalSeconds: options.pollingIntervalSeconds,
    });
    boss.on('error', (err: Error & { queue?: string; code?: string }) => {
      if (!closed) log.warn({ err, queue: err.queue }, 'job queue error');
    });
    return boss;
  };
  let boss = makeBoss();

  const abort = new AbortController();
  interface Declared {
    queue: string;
    options: WorkOptions;
    handler: JobHandler<never>;
    running: boolean;
  }
  const declared: Declared[] = [];
  /** Per queue: this process's workers and whether each is running a job (an idle one is woken on send). */
  const workers = new Map<string, { id: string; busy: boolean }[]>();
  let state: 'idle' | 'starting' | 'started' | 'stopped' = 'idle';
  let starting: Promise<void> | undefined;

  const policyOf = (o: QueuePolicy) => ({
    retryLimit: o.retryLimit,
    retryDelay: o.retryDelaySeconds,
    retryBackoff: o.retryBackoff,
    expireInSeconds: o.expireInSeconds,
  });

  const runWorkers = async (d: Declared) => {
    if (d.running) return;
    d.running = true;
    const policy = policyOf(d.options);
    const existing = await boss.getQueue(d.queue);
    if (!existing) await boss.createQueue(d.queue, { name: d.queue, ...policy });
    else if (
      existing.retryLimit !== policy.retryLimit ||
      existing.retryDelay !== policy.retryDelay ||
      existing.retryBackoff !== policy.retryBackoff ||
      (existing as { expireInSeconds?: number }).expireInSeconds !== policy.expireInSeconds
    ) {
      // The configuration changed since the queue was made: jobs sent from now on follow the new policy.
      await boss.updateQueue(d.queue, { name: d.queue, ...policy });
    }
    const mine = workers.get(d.queue) ?? [];
    workers.set(d.queue, mine);
    for (let i = 0; i < Math.max(1, d.options.concurrency ?? 1); i++) {
      const slot = { id: '', busy: false };
      slot.id = await boss.work<object>(d.queue, { includeMetadata: true, batchSize: 1 }, async ([job]) => {
        if (!job) return;
        // A job fetched while stopping: fail this run (retried later) rather than start work now.
        if (abort.signal.aborted) throw new Error('the server is shutting down');
        slot.busy = true;
        try {
          await d.handler({ id: job.id, data: job.data as never, retryCount: job.retryCount, retryLimit: job.retryLimit, signal: abort.signal });
        } finally {
          slot.busy = false;
        }
      });
      mine.push(slot);
    }
  };

  const start = async (): Promise<void> => {
    if (state === 'starting' || state === 'started') return starting;
    if (state === 'stopped') throw new Error('jobs are stopped');
    state = 'starting';
    starting = (async () => {
      try {
        await boss.start();
        for (const d of declared) await runWorkers(d);
        state = 'started';
      } catch (err) {
        // Back to idle with a fresh instance, so the next send() tries again (a pg-boss that failed to
        // start cannot be started again).
        await boss.stop({ graceful: false, close: false }).catch(() => {});
        boss = makeBoss();
        for (const d of declared) d.running = false;
        workers.clear();
        state = 'idle';
        throw err;
      }
    })();
    return starting;
  };

  return {
    async work(queue, options, handler) {
      const d: Declared = { queue, options, handler: handler as JobHandler<never>, running: false };
      declared.push(d);
      if (state === 'starting') await starting?.catch(() => {});
      if (state === 'started') await runWorkers(d);
    },

    async send(queue, data, sendOptions) {
      if (state !== 'started') await start();
      if (!workers.has(queue)) throw new Error(`queue ${queue} is not declared`);
      const id = await boss.send(queue, data, {
        ...(sendOptions?.startAfter ? { startAfter: sendOptions.startAfter } : {}),
        ...(sendOptions?.singletonKey ? { singletonKey: sendOptions.singletonKey } : {}),
      });
      if (!id) throw new Error(`queue ${queue} refused the job`);
      const idle = workers.get(queue)?.find((w) => !w.busy);
      if (idle && !sendOptions?.startAfter) boss.notifyWorker(idle.id);
      return id;
    },

    async cancel(queue, ids) {
      if (ids.length === 0) return;
      if (state !== 'started') await start();
      await boss.cancel(queue, ids);
    },

    start,

    async startIfUsed() {
      if (state !== 'idle') return;
      const { rows } = await database.executeSql('select to_regclass($1) is not null as used', [`${JOBS_SCHEMA}.version`]);
      if (rows[0]?.used === true) await start();
    },

    async stop() {
      if (state === 'stopped') return;
      if (state === 'starting') await starting?.catch(() => {});
      const wasStarted = state === 'started';
      state = 'stopped';
      abort.abort();
      if (wasStarted) {
        try {
          await boss.stop({ graceful: true, wait: true, close: false, timeout: options.stopTimeoutMs ?? 5000 });
        } catch (err) {
          log.warn({ err }, 'job queue did not stop cleanly');
        }
      }
      // A worker may be in the middle of a fetch: let the statements already sent finish before the
      // database closes; from then on the adapter answers nothing.
      while (inflight.size > 0) await Promise.allSettled([...inflight]);
      closed = true;
    },
  };
}
