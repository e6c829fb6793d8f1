import Type from 'typebox';
import { ErrorResponse, IdParams, Page, Uuid } from '../../shared/api/common.js';
import {
  Checkin,
  CheckinListQuery,
  CheckinSchedule,
  CheckinStats,
  CheckinStatsQuery,
  CheckinToken,
  CheckinTokenBody,
  CreateCheckinBody,
  CreateCheckinScheduleBody,
} from '../../shared/api/checkins.js';
import { callerKey, ctxOf, type App } from '../context.js';
import { authErrors } from '../http/schemas.js';
import type { CheckinDeps } from './deps.js';
import { cancelSchedule, createSchedule, listSchedules } from './schedules.js';
import { acknowledgeRing, checkinStats, checkinToken, createCheckin, declineCheckin, endCheckin, getCheckin, listCheckins } from './service.js';

const MANAGERS = ['admin', 'clinician'] as const;
const PatientParams = Type.Object({ patientId: Uuid });
/** An API key names the party it acts for; a member session or a staff caregiver is its own party. */
const PartyBody = Type.Optional(CheckinTokenBody);
const callErrors = { ...authErrors, 410: ErrorResponse, 502: ErrorResponse, 503: ErrorResponse } as const;

/** Check-in calls: request, ring, answer (token), decline, end, history, stats; schedules. */
export async function checkinRoutes(app: App, deps: CheckinDeps): Promise<void> {
  const tags = ['checkins'];
  const members = { members: true } as const;

  app.post(
    '/checkins',
    { config: members, schema: { tags, summary: 'Call a member of the care circle now (it rings; the caller who asks has answered)', body: CreateCheckinBody, response: { 201: Checkin, ...callErrors } } },
    async (request, reply) => reply.status(201).send(await createCheckin(deps, ctxOf(request), request.body)),
  );
  app.get(
    '/checkins',
    { config: members, schema: { tags, summary: 'Check-in history, newest first (a member session: its own calls)', querystring: CheckinListQuery, response: { 200: Page(Checkin), ...authErrors } } },
    async (request) => listCheckins(deps, ctxOf(request), request.query),
  );
  app.get(
    '/checkins/stats',
    { config: members, schema: { tags, summary: 'Counts per status, completion rate and mean duration over the filtered calls', querystring: CheckinStatsQuery, response: { 200: CheckinStats, ...authErrors } } },
    async (request) => checkinStats(deps, ctxOf(request), request.query),
  );
  app.get(
    '/checkins/:id',
    { config: members, schema: { tags, summary: 'One check-in call', params: IdParams, response: { 200: Checkin, ...authErrors } } },
    async (request) => getCheckin(deps, ctxOf(request), request.params.id),
  );
  app.post(
    '/checkins/:id/ring',
    { config: members, schema: { tags, summary: 'The party’s app shows the incoming call (no fallback text is sent to it then)', params: IdParams, body: PartyBody, response: { 200: Checkin, ...callErrors } } },
    async (request) => acknowledgeRing(deps, ctxOf(request), request.params.id, request.body?.memberId),
  );
  app.post(
    '/checkins/:id/token',
    {
      config: { members: true, rateLimit: { max: app.deps.config.rateLimits.tokenPerMinute, timeWindow: '1 minute', keyGenerator: (request) => callerKey(request.principal, request.ip) } },
      schema: { tags, summary: 'Answer: a media token for one of the two parties (anyone else 403 checkin_not_party; over: 410 checkin_over)', params: IdParams, body: PartyBody, response: { 200: CheckinToken, ...callErrors } },
    },
    async (request) => checkinToken(deps, ctxOf(request), request.params.id, request.body?.memberId),
  );
  app.post(
    '/checkins/:id/decline',
    { config: members, schema: { tags, summary: 'A rung party declines the call', params: IdParams, body: PartyBody, response: { 200: Checkin, ...callErrors } } },
    async (request) => declineCheckin(deps, ctxOf(request), request.params.id, request.body?.memberId),
  );
  app.post(
    '/checkins/:id/end',
    {
      config: members,
      schema: { tags, summary: 'End the call: before it is active, cancelled (caller, staff) or declined (callee); active, ended early for both', params: IdParams, body: PartyBody, response: { 200: Checkin, ...callErrors } },
    },
    async (request) => endCheckin(deps, ctxOf(request), request.params.id, request.body?.memberId),
  );

  app.post(
    '/care/recipients/:patientId/schedules',
    { config: { roles: MANAGERS }, schema: { tags, summary: 'Schedule check-ins: once, daily or weekly at a local time', params: PatientParams, body: CreateCheckinScheduleBody, response: { 201: CheckinSchedule, ...authErrors } } },
    async (request, reply) => reply.status(201).send(await createSchedule(deps, ctxOf(request), request.params.patientId, request.body)),
  );
  app.get(
    '/care/recipients/:patientId/schedules',
    { schema: { tags, summary: 'The care recipient’s check-in schedules', params: PatientParams, response: { 200: Type.Array(CheckinSchedule), ...authErrors } } },
    async (request) => listSchedules(deps, ctxOf(request), request.params.patientId),
  );
  app.delete(
    '/checkin-schedules/:id',
    { config: { roles: MANAGERS }, schema: { tags, summary: 'Cancel a schedule (no further calls)', params: IdParams, response: { 200: CheckinSchedule, ...authErrors } } },
    async (request) => cancelSchedule(deps, ctxOf(request), request.params.id),
  );
}
