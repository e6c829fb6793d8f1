import fp from 'fastify-plugin';
import { API_PREFIX, type App } from '../context.js';
import { linkSigningSecret } from '../secrets.js';
import { visitRoomListener } from './events.js';
import { createLinkSigner } from './links.js';
import { controlRoutes } from './controls-routes.js';
import { visitPeopleRoutes } from './people-routes.js';
import { visitRoutes } from './routes.js';
import { joinLinkForAppointment, type VisitDeps } from './service.js';

/**
 * Telehealth visits over the rooms layer: their room events heard (the rooms layer restores their rooms and
 * routing itself), invites sent through messaging's PatientNotifier, the routes. Offers `app.visits` (appointment join links) to
 * the features after it (reminders).
 */
async function visitsPlugin(app: App): Promise<void> {
  const { config, database } = app.deps;
  const secret = linkSigningSecret(config);
  const deps: VisitDeps = {
    db: database.db,
    hub: app.realtime,
    rooms: app.rooms,
    config: config.visits,
    groups: config.groups,
    links: createLinkSigner(secret, 'join'),
    surveys: createLinkSigner(secret, 'survey'),
    publicUrl: config.publicUrl,
    usage: config.usage,
    notifier: app.messaging.notifier,
  };
  // A video appointment's reminder carries the patient's join link (a new invite for its visit, if it has one).
  app.decorate('visits', { joinLinkFor: (orgId: string, appointmentId: string, patientId: string) => joinLinkForAppointment(deps, orgId, appointmentId, patientId) });
  app.roomEvents.listen(visitRoomListener(deps));
  await app.register(async (scope) => visitRoutes(scope, deps), { prefix: API_PREFIX });
  await app.register(async (scope) => controlRoutes(scope, deps), { prefix: API_PREFIX });
  await app.register(async (scope) => visitPeopleRoutes(scope, deps), { prefix: API_PREFIX });
}

export default fp(visitsPlugin, { name: 'visits', dependencies: ['realtime', 'messaging', 'rooms'] });
