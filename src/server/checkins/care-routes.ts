import type { FastifyReply } from 'fastify';
import Type from 'typebox';
import { ErrorResponse, IdParams } from '../../shared/api/common.js';
import { AddCaregiverBody, CareLink, CareLinkExchangeBody, CareMe, CareMember, CareSession, RecipientParams, UpdateCareMemberBody } from '../../shared/api/checkins.js';
import { MEMBER_COOKIE } from '../auth/secrets.js';
import { ctxOf, type App } from '../context.js';
import { AppError } from '../http/errors.js';
import { originAllowed } from '../http/origin.js';
import { authErrors } from '../http/schemas.js';
import { addCaregiver, careMe, createCareLink, createRecipientLink, exchangeCareLink, listCircle, removeCareMember, signOutMember, updateCareMember, type CareClient } from './care.js';
import type { CheckinDeps } from './deps.js';

/** Who manages care circles: admins and clinicians (and host apps' API keys); staff caregivers and members read. */
const MANAGERS = ['admin', 'clinician'] as const;

function clientOf(request: { id: string; ip: string; headers: Record<string, string | string[] | undefined> }): CareClient {
  const ua = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof ua === 'string' ? ua.slice(0, 512) : null, requestId: request.id };
}

/** Care circles: members, their links and sessions, `GET /care/me` (care.ts). */
export async function careRoutes(app: App, deps: CheckinDeps): Promise<void> {
  const tags = ['care'];
  const { config } = app.deps;
  const setMemberCookie = (reply: FastifyReply, session: string) =>
    reply.setCookie(MEMBER_COOKIE, session, {
      path: '/',
      httpOnly: true,
      sameSite: 'lax',
      secure: config.publicUrl.startsWith('https:'),
      maxAge: Math.floor(config.checkins.careSessionMs / 1000),
    });

  app.get(
    '/care/recipients/:patientId/members',
    { schema: { tags, summary: 'A care recipient’s circle: the recipient and their caregivers (live members, the recipient first)', params: RecipientParams, response: { 200: Type.Array(CareMember), ...authErrors } } },
    async (request) => listCircle(deps, ctxOf(request), request.params.patientId),
  );
  app.post(
    '/care/recipients/:patientId/caregivers',
    {
      config: { roles: MANAGERS },
      schema: {
        tags,
        summary: 'Add a caregiver: a staff user with the caregiver role (`userId`) or a family member (`displayName`); the recipient’s own member is made with the first',
        params: RecipientParams,
        body: AddCaregiverBody,
        response: { 201: CareMember, ...authErrors },
      },
    },
    async (request, reply) => reply.status(201).send(await addCaregiver(deps, ctxOf(request), request.params.patientId, request.body)),
  );
  app.post(
    '/care/recipients/:patientId/recipient-link',
    {
      config: { roles: MANAGERS },
      schema: { tags, summary: 'A sign-in link for the recipient’s own device (makes the recipient’s member on first use). Shown once', params: RecipientParams, response: { 201: CareLink, ...authErrors } },
    },
    async (request, reply) => reply.status(201).send(await createRecipientLink(deps, ctxOf(request), request.params.patientId)),
  );
  app.patch(
    '/care/members/:id',
    { config: { roles: MANAGERS }, schema: { tags, summary: 'Change what a member may do (start, receive calls) or their relationship', params: IdParams, body: UpdateCareMemberBody, response: { 200: CareMember, ...authErrors } } },
    async (request) => updateCareMember(deps, ctxOf(request), request.params.id, request.body),
  );
  app.delete(
    '/care/members/:id',
    { config: { roles: MANAGERS }, schema: { tags, summary: 'Remove a member from the circle (kept for history; their sessions and links revoked)', params: IdParams, response: { 204: Type.Null(), ...authErrors } } },
    async (request, reply) => {
      await removeCareMember(deps, ctxOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );
  app.post(
    '/care/members/:id/link',
    {
      config: { roles: MANAGERS },
      schema: { tags, summary: 'A sign-in link for a family member or the recipient’s device (not a staff caregiver: 409). Shown once', params: IdParams, response: { 201: CareLink, ...authErrors } },
    },
    async (request, reply) => reply.status(201).send(await createCareLink(deps, ctxOf(request), request.params.id)),
  );

  app.post(
    '/care/session',
    {
      config: { auth: 'public', rateLimit: { max: config.rateLimits.loginPerMinute, timeWindow: '1 minute' } },
      schema: {
        tags,
        summary: 'Exchange a care link for a member session (sets the httpOnly `ov_member` cookie; the session is also answered, for apps)',
        security: [],
        body: CareLinkExchangeBody,
        response: { 200: CareSession, ...authErrors, 410: ErrorResponse, 429: ErrorResponse },
      },
    },
    async (request, reply) => {
      const answer = await exchangeCareLink(deps, request.body.token, clientOf(request));
      void setMemberCookie(reply, answer.session);
      return answer;
    },
  );
  // Public, as /auth/logout: a device whose session has ended (or was revoked) can still drop its httpOnly cookie.
  app.delete(
    '/care/session',
    {
      config: { auth: 'public' },
      schema: {
        tags,
        summary: 'Sign this device’s member session out (the `ov_member` cookie or a bearer `ovm_…`; always succeeds)',
        security: [],
        response: { 204: Type.Null(), 403: ErrorResponse },
      },
    },
    async (request, reply) => {
      const bearer = /^Bearer\s+(ovm_\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
      const fromCookie = bearer === undefined ? request.cookies[MEMBER_COOKIE] : undefined;
      // A cookie goes with any page's request: only our own pages (or allowed origins) sign it out.
      if (fromCookie && !originAllowed(request.headers.origin, request, config)) throw new AppError('origin_not_allowed');
      const token = bearer ?? fromCookie;
      const principal = token ? await app.principals.resolve({ kind: 'member', token, fromCookie: fromCookie !== undefined }) : undefined;
      if (principal?.kind === 'member') {
        request.principal = principal;
        await signOutMember(deps, ctxOf(request));
      }
      void reply.clearCookie(MEMBER_COOKIE, { path: '/' });
      return reply.status(204).send(null);
    },
  );
  app.get(
    '/care/me',
    {
      config: { members: true, apiKeys: false },
      schema: { tags, summary: 'Who the caller is in the check-in app: the clinic, their memberships and the people each can call', response: { 200: CareMe, ...authErrors } },
    },
    async (request) => careMe(deps, ctxOf(request)),
  );
}
