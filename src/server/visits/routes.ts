import Type from 'typebox';
import { ErrorResponse, IdParams, Page } from '../../shared/api/common.js';
import {
  AcceptConsentBody,
  ConsentText,
  CreateConsentTextBody,
  CreateVisitBody,
  DenyBody,
  EndVisitBody,
  ExtendVisitBody,
  Invite,
  InviteBody,
  JoinBody,
  JoinResult,
  LinkParams,
  ListVisitsQuery,
  LockVisitBody,
  MuteBody,
  ParticipantActionParams,
  Visit,
  VisitConsent,
  VisitParticipant,
  VisitToken,
  VisitRecordingState,
  RecordingParams,
  ChatMessage,
  SendMessageBody,
  ListMessagesQuery,
  VisitSummary,
  UsageQuery,
  Usage,
  SurveyTokenBody,
  SurveyInfo,
  SurveyAnswerBody,
  SurveyAnswer,
  NoteBody,
  VisitContext,
} from '../../shared/api/visits.js';
import { answerSurvey, openSurvey } from './survey.js';
import { listMessages, sendMessage, sendNote } from './chat.js';
import { listVisitRecordings, openVisitRecording, recordingState, startVisitRecording, stopVisitRecording } from './recording.js';
import { usage, visitSummary } from './summary.js';
import { Recording, RecordingMediaResponse } from '../../shared/api/rooms.js';
import { callerKey, ctxOf, type App } from '../context.js';
import { authErrors } from '../http/schemas.js';
import {
  acceptConsent,
  admitAll,
  controlParticipant,
  createConsentText,
  joinWithLink,
  listConsentTexts,
  listVisitConsents,
  muteParticipant,
  visitContext,
  visitToken,
  waitingRoom,
  type ClientInfo,
} from './access.js';
import { closeVisit, createInvite, createVisit, extendVisit, getVisit, listVisits, lockVisit, openVisit, revokeLink, type VisitDeps } from './service.js';

const STAFF = ['admin', 'clinician'] as const;

function clientOf(request: { ip: string; headers: Record<string, string | string[] | undefined> }): ClientInfo {
  const ua = request.headers['user-agent'];
  return { ip: request.ip, userAgent: typeof ua === 'string' ? ua.slice(0, 512) : null };
}

export async function visitRoutes(app: App, deps: VisitDeps): Promise<void> {
  const tags = ['visits'];

  app.post(
    '/visits',
    { config: { roles: STAFF }, schema: { tags, summary: 'Create a visit for an appointment, or an instant visit (`start: true` opens it now)', body: CreateVisitBody, response: { 201: Visit, ...authErrors } } },
    async (request, reply) => reply.status(201).send(await createVisit(deps, ctxOf(request), request.body)),
  );
  app.get(
    '/visits',
    { schema: { tags, summary: 'List visits by scheduled start (a day in the organisation’s time zone, a clinician, a status)', querystring: ListVisitsQuery, response: { 200: Page(Visit), ...authErrors } } },
    async (request) => listVisits(deps, ctxOf(request), request.query),
  );
  app.get(
    '/visits/:id',
    {
      config: { participants: true },
      schema: { tags, summary: 'Get a visit (a participant sees themselves, the host and who is admitted)', params: IdParams, response: { 200: Visit, ...authErrors } },
    },
    async (request) => getVisit(deps, ctxOf(request), request.params.id),
  );
  app.post(
    '/visits/:id/start',
    { config: { roles: STAFF }, schema: { tags, summary: 'Start (open) the visit: its room opens and waiting patients can be admitted', params: IdParams, response: { 200: Visit, ...authErrors } } },
    async (request) => openVisit(deps, ctxOf(request), request.params.id),
  );
  app.post(
    '/visits/:id/end',
    { config: { roles: STAFF }, schema: { tags, summary: 'End the visit for everyone (room ended, links and sessions revoked)', params: IdParams, body: Type.Optional(EndVisitBody), response: { 200: Visit, ...authErrors } } },
    async (request) => closeVisit(deps, ctxOf(request), request.params.id, 'end', request.body?.reason),
  );
  app.post(
    '/visits/:id/cancel',
    { config: { roles: STAFF }, schema: { tags, summary: 'Cancel a visit that has not started', params: IdParams, response: { 200: Visit, ...authErrors } } },
    async (request) => closeVisit(deps, ctxOf(request), request.params.id, 'cancel'),
  );
  app.post(
    '/visits/:id/no-show',
    { config: { roles: STAFF }, schema: { tags, summary: 'Mark the visit a no-show', params: IdParams, response: { 200: Visit, ...authErrors } } },
    async (request) => closeVisit(deps, ctxOf(request), request.params.id, 'no_show'),
  );
  app.post(
    '/visits/:id/extend',
    { config: { roles: STAFF }, schema: { tags, summary: 'Extend the visit’s time', params: IdParams, body: ExtendVisitBody, response: { 200: Visit, ...authErrors } } },
    async (request) => extendVisit(deps, ctxOf(request), request.params.id, request.body.minutes),
  );
  app.post(
    '/visits/:id/lock',
    { config: { roles: STAFF }, schema: { tags, summary: 'Lock (nobody new gets in) or unlock the visit', params: IdParams, body: LockVisitBody, response: { 200: Visit, ...authErrors } } },
    async (request) => lockVisit(deps, ctxOf(request), request.params.id, request.body.locked),
  );

  app.post(
    '/visits/:id/invites',
    { config: { roles: STAFF }, schema: { tags, summary: 'Invite a patient, guest, interpreter or caregiver: a signed, expiring join link', params: IdParams, body: InviteBody, response: { 201: Invite, ...authErrors } } },
    async (request, reply) => reply.status(201).send(await createInvite(deps, ctxOf(request), request.params.id, request.body)),
  );
  app.post(
    '/visits/:id/invites/:linkId/revoke',
    { config: { roles: STAFF }, schema: { tags, summary: 'Revoke a join link (and the sessions opened with it)', params: LinkParams, response: { 204: Type.Null(), ...authErrors } } },
    async (request, reply) => {
      await revokeLink(deps, ctxOf(request), request.params.id, request.params.linkId);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/join',
    {
      config: { auth: 'public', rateLimit: { max: app.deps.config.rateLimits.loginPerMinute, timeWindow: '1 minute' } },
      schema: { tags, summary: 'Exchange a join link for a participant session (no account needed)', body: JoinBody, response: { 200: JoinResult, ...authErrors, 410: ErrorResponse, 429: ErrorResponse } },
    },
    async (request) => joinWithLink(deps, request.body.token, clientOf(request)),
  );

  app.get(
    '/visits/:id/context',
    {
      config: { participants: true },
      schema: { tags, summary: 'What the patient’s pages show: the clinic (name, logo, time zone), the clinician and the visit’s time', params: IdParams, response: { 200: VisitContext, ...authErrors } },
    },
    async (request) => visitContext(deps, ctxOf(request), request.params.id),
  );

  app.get(
    '/visits/:id/consents',
    { config: { participants: true }, schema: { tags, summary: 'Consent acceptances in the visit (a participant: their own)', params: IdParams, response: { 200: Type.Array(VisitConsent), ...authErrors } } },
    async (request) => listVisitConsents(deps, ctxOf(request), request.params.id),
  );
  app.post(
    '/visits/:id/consents',
    {
      config: { participants: true, apiKeys: false },
      schema: { tags, summary: 'A participant accepts the consent text they were shown', params: IdParams, body: AcceptConsentBody, response: { 201: VisitConsent, ...authErrors } },
    },
    async (request, reply) => reply.status(201).send(await acceptConsent(deps, ctxOf(request), request.params.id, request.body, clientOf(request))),
  );
  app.get(
    '/consent-texts',
    { config: { participants: true }, schema: { tags, summary: 'The consent texts in force (telehealth, recording)', response: { 200: Type.Array(ConsentText), ...authErrors } } },
    async (request) => listConsentTexts(deps, ctxOf(request)),
  );
  app.post(
    '/consent-texts',
    { config: { roles: ['admin'] }, schema: { tags, summary: 'Publish a new version of a consent text', body: CreateConsentTextBody, response: { 201: ConsentText, ...authErrors } } },
    async (request, reply) => reply.status(201).send(await createConsentText(deps, ctxOf(request), request.body)),
  );

  app.post(
    '/visits/:id/token',
    {
      config: {
        participants: true,
        apiKeys: false,
        rateLimit: { max: app.deps.config.rateLimits.tokenPerMinute, timeWindow: '1 minute', keyGenerator: (request) => callerKey(request.principal, request.ip) },
      },
      schema: { tags, summary: 'The media token for the caller’s place in the visit (waiting room until admitted)', params: IdParams, response: { 200: VisitToken, ...authErrors } },
    },
    async (request) => visitToken(deps, ctxOf(request), request.params.id),
  );

  app.get(
    '/visits/:id/waiting-room',
    { config: { roles: STAFF }, schema: { tags, summary: 'Who is waiting, in order of arrival', params: IdParams, response: { 200: Type.Array(VisitParticipant), ...authErrors } } },
    async (request) => waitingRoom(deps, ctxOf(request), request.params.id),
  );
  app.post(
    '/visits/:id/waiting-room/admit-all',
    { config: { roles: STAFF }, schema: { tags, summary: 'Admit everyone waiting', params: IdParams, response: { 200: Type.Array(VisitParticipant), ...authErrors } } },
    async (request) => admitAll(deps, ctxOf(request), request.params.id),
  );
  for (const control of ['admit', 'return', 'remove'] as const) {
    app.post(
      `/visits/:id/participants/:pid/${control}`,
      {
        config: { roles: STAFF },
        schema: { tags, summary: CONTROL_SUMMARY[control], params: ParticipantActionParams, response: { 200: VisitParticipant, ...authErrors } },
      },
      async (request) => controlParticipant(deps, ctxOf(request), request.params.id, request.params.pid, control),
    );
  }
  app.post(
    '/visits/:id/participants/:pid/deny',
    { config: { roles: STAFF }, schema: { tags, summary: 'Deny a waiting participant, with a message for them', params: ParticipantActionParams, body: Type.Optional(DenyBody), response: { 200: VisitParticipant, ...authErrors } } },
    async (request) => controlParticipant(deps, ctxOf(request), request.params.id, request.params.pid, 'deny', request.body?.message),
  );
  app.post(
    '/visits/:id/participants/:pid/note',
    {
      config: { roles: STAFF, rateLimit: { max: app.deps.config.rateLimits.chatPerMinute, timeWindow: '1 minute', keyGenerator: (request) => callerKey(request.principal, request.ip) } },
      schema: {
        tags,
        summary: 'Send a private message to one participant, waiting (“Running 5 minutes late”) or in the visit: kept with the visit’s messages, listed only to sender, recipient and staff, delivered to them at once',
        params: ParticipantActionParams,
        body: NoteBody,
        response: { 201: ChatMessage, ...authErrors, 429: ErrorResponse },
      },
    },
    async (request, reply) => reply.status(201).send(await sendNote(deps, ctxOf(request), request.params.id, request.params.pid, request.body.body)),
  );
  app.post(
    '/visits/:id/participants/:pid/mute',
    { config: { roles: STAFF }, schema: { tags, summary: 'Host mute: nobody receives the participant’s audio and/or video', params: ParticipantActionParams, body: MuteBody, response: { 200: VisitParticipant, ...authErrors } } },
    async (request) => muteParticipant(deps, ctxOf(request), request.params.id, request.params.pid, request.body),
  );

  app.get(
    '/visits/:id/recording',
    { config: { roles: STAFF }, schema: { tags, summary: 'Whether the visit is being recorded, and who in it is not (no consent, or waiting)', params: IdParams, response: { 200: VisitRecordingState, ...authErrors } } },
    async (request) => recordingState(deps, ctxOf(request), request.params.id),
  );
  app.post(
    '/visits/:id/recordings/start',
    {
      config: { roles: STAFF },
      schema: { tags, summary: 'Start recording (refused while anyone in the visit has not agreed to be recorded)', params: IdParams, response: { 200: VisitRecordingState, ...authErrors } },
    },
    async (request) => startVisitRecording(deps, ctxOf(request), request.params.id),
  );
  app.post(
    '/visits/:id/recordings/stop',
    { config: { roles: STAFF }, schema: { tags, summary: 'Stop recording (the files are final when this answers)', params: IdParams, response: { 200: VisitRecordingState, ...authErrors } } },
    async (request) => stopVisitRecording(deps, ctxOf(request), request.params.id),
  );
  app.get(
    '/visits/:id/recordings',
    { config: { roles: STAFF }, schema: { tags, summary: 'The visit’s recording files (one per participant and stretch)', params: IdParams, response: { 200: Type.Object({ data: Type.Array(Recording) }), ...authErrors } } },
    async (request) => ({ data: await listVisitRecordings(deps, ctxOf(request), request.params.id) }),
  );
  app.get(
    '/visits/:id/recordings/:recordingId/media',
    {
      config: { roles: STAFF },
      schema: {
        tags,
        summary: 'Download one of the visit’s recordings (in its mediaType); audited',
        params: RecordingParams,
        response: { 200: RecordingMediaResponse, ...authErrors, 501: ErrorResponse },
      },
    },
    async (request, reply) => {
      const opened = await openVisitRecording(deps, ctxOf(request), request.params.id, request.params.recordingId);
      return reply
        .type(opened.contentType)
        .header('content-length', opened.bytes)
        .header('content-disposition', `attachment; filename="visit-${request.params.id}-${opened.recording.id}.${opened.extension}"`)
        .header('cache-control', 'no-store')
        .send(opened.stream);
    },
  );

  app.post(
    '/visits/:id/messages',
    {
      config: { participants: true, apiKeys: false, rateLimit: { max: app.deps.config.rateLimits.chatPerMinute, timeWindow: '1 minute', keyGenerator: (request) => callerKey(request.principal, request.ip) } },
      schema: { tags, summary: 'Send a chat message in the visit (stored, then delivered to everyone in it)', params: IdParams, body: SendMessageBody, response: { 201: ChatMessage, ...authErrors, 429: ErrorResponse } },
    },
    async (request, reply) => reply.status(201).send(await sendMessage(deps, ctxOf(request), request.params.id, request.body.body)),
  );
  app.get(
    '/visits/:id/messages',
    {
      config: { participants: true },
      schema: { tags, summary: 'The visit’s chat, oldest first (`after`: only newer messages)', params: IdParams, querystring: ListMessagesQuery, response: { 200: Type.Object({ data: Type.Array(ChatMessage) }), ...authErrors } },
    },
    async (request) => ({ data: await listMessages(deps, ctxOf(request), request.params.id, request.query) }),
  );

  app.get(
    '/visits/:id/summary',
    { config: { roles: STAFF }, schema: { tags, summary: 'The post-visit summary: attendance, consents, recordings, chat, quality, usage; audited', params: IdParams, response: { 200: VisitSummary, ...authErrors } } },
    async (request) => visitSummary(deps, ctxOf(request), request.params.id),
  );
  app.post(
    '/survey',
    {
      config: { auth: 'public', rateLimit: { max: app.deps.config.rateLimits.loginPerMinute, timeWindow: '1 minute' } },
      schema: { tags, summary: 'Open a post-visit survey link (no account): whose visit, and whether it is answered', body: SurveyTokenBody, response: { 200: SurveyInfo, ...authErrors, 410: ErrorResponse, 429: ErrorResponse } },
    },
    async (request) => openSurvey(deps, request.body.token),
  );
  app.post(
    '/survey/answer',
    {
      config: { auth: 'public', rateLimit: { max: app.deps.config.rateLimits.loginPerMinute, timeWindow: '1 minute' } },
      schema: { tags, summary: 'Answer the post-visit survey (once per participant)', body: SurveyAnswerBody, response: { 201: SurveyAnswer, ...authErrors, 410: ErrorResponse, 429: ErrorResponse } },
    },
    async (request, reply) => reply.status(201).send(await answerSurvey(deps, request.body, clientOf(request))),
  );
  app.get(
    '/usage',
    { config: { roles: ['admin'] }, schema: { tags: ['usage'], summary: 'Participant-minutes, recorded minutes and estimated cost for a month, in all and per visit', querystring: UsageQuery, response: { 200: Usage, ...authErrors } } },
    async (request) => usage(deps, ctxOf(request), request.query),
  );
}

const CONTROL_SUMMARY = {
  admit: 'Admit a waiting participant into the visit',
  return: 'Send an admitted participant back to the waiting room',
  remove: 'Remove a participant from the visit (their link and session end)',
} as const;
