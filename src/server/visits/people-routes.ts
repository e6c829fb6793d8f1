import Type from 'typebox';
import { IdParams, Uuid } from '../../shared/api/common.js';
import { AddCohostBody, DisplayNameBody, VisitParticipant } from '../../shared/api/visits.js';
import { ctxOf, type App } from '../context.js';
import { authErrors } from '../http/schemas.js';
import { addCohost, removeCohost, setOwnDisplayName } from './people.js';
import type { VisitDeps } from './service.js';

const STAFF = ['admin', 'clinician'] as const;

/** Co-hosts and self-chosen names (people.ts): thin, schema and call. */
export async function visitPeopleRoutes(app: App, deps: VisitDeps): Promise<void> {
  const tags = ['visits'];
  app.post(
    '/visits/:id/cohosts',
    {
      config: { roles: STAFF },
      schema: { tags, summary: 'Make a clinician or admin a co-host (the host’s rights in this visit); audited', params: IdParams, body: AddCohostBody, response: { 201: VisitParticipant, ...authErrors } },
    },
    async (request, reply) => reply.status(201).send(await addCohost(deps, ctxOf(request), request.params.id, request.body.userId)),
  );
  app.delete(
    '/visits/:id/cohosts/:userId',
    {
      config: { roles: STAFF },
      schema: { tags, summary: 'Remove a co-host: their tokens for the visit revoked, their connection ended; audited', params: Type.Object({ id: Uuid, userId: Uuid }), response: { 204: Type.Null(), ...authErrors } },
    },
    async (request, reply) => {
      await removeCohost(deps, ctxOf(request), request.params.id, request.params.userId);
      return reply.status(204).send(null);
    },
  );
  app.put(
    '/visits/:id/me/display-name',
    {
      config: { participants: true, apiKeys: false },
      schema: {
        tags,
        summary: 'A client chooses the name the others in a group see (when the organisation allows it: else 403 display_name_not_allowed)',
        params: IdParams,
        body: DisplayNameBody,
        response: { 200: VisitParticipant, ...authErrors },
      },
    },
    async (request) => setOwnDisplayName(deps, ctxOf(request), request.params.id, request.body.displayName),
  );
}
