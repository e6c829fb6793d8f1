import Type from 'typebox';
import { IdParams } from '../../shared/api/common.js';
import { HandBody, MuteAllBody, ParticipantActionParams, SpotlightBody, UpdateGroupBody, Visit, VisitParticipant } from '../../shared/api/visits.js';
import { ctxOf, type App } from '../context.js';
import { AppError } from '../http/errors.js';
import { authErrors } from '../http/schemas.js';
import { askUnmute, handsQueue, lowerHand, muteAll, setOwnHand, setSpotlight, updateGroup } from './controls.js';
import type { VisitDeps } from './service.js';

const STAFF = ['admin', 'clinician'] as const;

/** The group controls (controls.ts; docs/groups.md, "Group controls"). */
export async function controlRoutes(app: App, deps: VisitDeps): Promise<void> {
  const tags = ['visits'];

  app.post(
    '/visits/:id/hand',
    { config: { participants: true, apiKeys: false }, schema: { tags, summary: 'A participant in the visit raises or lowers their own hand', params: IdParams, body: HandBody, response: { 200: VisitParticipant, ...authErrors } } },
    async (request) => setOwnHand(deps, ctxOf(request), request.params.id, request.body.raised),
  );
  app.post(
    '/visits/:id/participants/:pid/hand',
    {
      config: { roles: STAFF },
      schema: { tags, summary: 'A host lowers a participant’s hand (`raised: false`; they are told)', params: ParticipantActionParams, body: HandBody, response: { 200: VisitParticipant, ...authErrors } },
    },
    async (request) => {
      if (request.body.raised) throw new AppError('validation_failed', 'A host lowers hands; only the participant raises theirs.', [{ path: 'body/raised', message: 'must be false' }]);
      return lowerHand(deps, ctxOf(request), request.params.id, request.params.pid);
    },
  );
  app.get(
    '/visits/:id/hands',
    { config: { roles: STAFF }, schema: { tags, summary: 'The raised hands, oldest first', params: IdParams, response: { 200: Type.Array(VisitParticipant), ...authErrors } } },
    async (request) => handsQueue(deps, ctxOf(request), request.params.id),
  );
  app.post(
    '/visits/:id/spotlight',
    {
      config: { roles: STAFF },
      schema: { tags, summary: 'Put a participant in the spotlight for everyone (null: nobody); group visits', params: IdParams, body: SpotlightBody, response: { 200: Visit, ...authErrors } },
    },
    async (request) => setSpotlight(deps, ctxOf(request), request.params.id, request.body.participantId),
  );
  app.post(
    '/visits/:id/mute-all',
    {
      config: { roles: STAFF },
      schema: {
        tags,
        summary: 'Mute everyone but the hosts, newcomers too (`selfUnmute: false`: the server stops their audio until asked to unmute), or lift it',
        params: IdParams,
        body: MuteAllBody,
        response: { 200: Visit, ...authErrors },
      },
    },
    async (request) => muteAll(deps, ctxOf(request), request.params.id, request.body),
  );
  app.post(
    '/visits/:id/participants/:pid/ask-unmute',
    {
      config: { roles: STAFF },
      schema: { tags, summary: 'Ask a participant to unmute: the server’s mute of them is lifted and they are asked (their microphone is never turned on for them)', params: ParticipantActionParams, response: { 200: VisitParticipant, ...authErrors } },
    },
    async (request) => askUnmute(deps, ctxOf(request), request.params.id, request.params.pid),
  );
  app.patch(
    '/visits/:id/group',
    { config: { roles: STAFF }, schema: { tags, summary: 'Change a group visit’s media mode or limit while it runs', params: IdParams, body: UpdateGroupBody, response: { 200: Visit, ...authErrors } } },
    async (request) => updateGroup(deps, ctxOf(request), request.params.id, request.body),
  );
}
