import fp from 'fastify-plugin';
import type { App } from '../context.js';
import { createJobs } from './index.js';

/** How often idle job workers look for due jobs (retries, jobs sent by other processes); pg-boss's minimum. */
const JOBS_POLLING_INTERVAL_S = 0.5;

/**
 * Background jobs (`app.jobs`). They start when the app is ready if this database has used them before, else on
 * the first job sent (an app that never sends one skips pg-boss's schema and pollers). Registered first because
 * Fastify runs onClose hooks last-registered first: jobs stop last, so events recorded while closing still queue
 * their webhooks.
 */
async function jobsPlugin(app: App): Promise<void> {
  const jobs = createJobs(app.deps.database, app.log, { pollingIntervalSeconds: JOBS_POLLING_INTERVAL_S });
  app.decorate('jobs', jobs);
  app.addHook('onReady', async () => {
    await jobs.startIfUsed();
  });
  app.addHook('onClose', async () => {
    await jobs.stop();
  });
}

export default fp(jobsPlugin, { name: 'jobs' });
