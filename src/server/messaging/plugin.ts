import fp from 'fastify-plugin';
import { API_PREFIX, type App } from '../context.js';
import { linkSigningSecret, loadOrCreateSecret } from '../secrets.js';
import { createLinkSigner } from '../visits/links.js';
import { createCipher } from './crypto.js';
import type { IntakeDeps } from './intake.js';
import { loadMessagingProviders } from './providers/loader.js';
import { reconcileReminders, reminderObserver, startReminderWorkers, type ReminderDeps } from './reminders.js';
import { messagingRoutes } from './routes.js';
import { applyStatus, messagingWebhookRoutes, patientNotifier } from './service.js';
import { startOutboxWorker, type OutboxWorker } from './worker.js';

/**
 * Patient messaging: the providers, the outbox worker, the providers' webhook routes, the routes. Offers
 * `app.messaging` (its deps and the PatientNotifier visits send invites with) to the features after it.
 */
async function messagingPlugin(app: App): Promise<void> {
  const { config, database } = app.deps;
  const db = database.db;
  // The outbox provider reports through the same status path as a provider's webhook.
  const providers = loadMessagingProviders(config, async (provider, providerMessageId, status, messageId) => {
    await applyStatus({ db, hub: app.realtime }, { provider, providerMessageId, messageId, status });
  });
  const key = config.messaging.encryptionKey ? Buffer.from(config.messaging.encryptionKey, 'base64') : loadOrCreateSecret(config.dataDir, 'message-encryption', 32);
  // The worker runs from when the app is ready; a message queued before that waits for its first poll.
  let outbox: OutboxWorker | undefined;
  const deps: IntakeDeps = {
    db,
    hub: app.realtime,
    config: config.messaging,
    publicUrl: config.publicUrl,
    defaultPhoneRegion: config.defaultPhoneRegion,
    cipher: createCipher(key),
    sms: providers.sms,
    email: providers.email,
    kick: () => outbox?.kick(),
    intakeLinks: createLinkSigner(linkSigningSecret(config), 'intake'),
  };
  app.decorate('messaging', { deps, notifier: patientNotifier(deps) });
  app.decorate('outbox', { idle: () => outbox?.idle() ?? Promise.resolve() });
  app.addHook('onReady', async () => {
    outbox = startOutboxWorker(deps, app.log);
  });
  // Before the providers close: a send in flight finishes (or is cut short) first.
  app.addHook('preClose', async () => {
    await outbox?.stop();
    await providers.sms.close?.();
    await providers.email.close?.();
  });
  await messagingWebhookRoutes(app, deps);
  await app.register(async (scope) => messagingRoutes(scope, deps), { prefix: API_PREFIX });
}

/**
 * Appointment reminders: one job per patient and offset, made and cancelled from the hub's appointment events,
 * reconciled when the app is ready. After visits, whose join links a video appointment's reminder carries.
 */
async function remindersPlugin(app: App): Promise<void> {
  const deps: ReminderDeps = { ...app.messaging.deps, jobs: app.jobs, log: app.log, joinLinkFor: app.visits.joinLinkFor };
  await startReminderWorkers(deps);
  app.realtime.observe(reminderObserver(deps));
  app.addHook('onReady', async () => {
    await reconcileReminders(deps).catch((err: unknown) => app.log.warn({ err }, 'reminder reconciliation failed'));
  });
}

export const messaging = fp(messagingPlugin, { name: 'messaging', dependencies: ['realtime'] });
export const reminders = fp(remindersPlugin, { name: 'reminders', dependencies: ['jobs', 'realtime', 'messaging', 'visits'] });
