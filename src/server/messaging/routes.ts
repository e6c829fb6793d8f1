import Type from 'typebox';
import { ErrorResponse, IdParams, Page } from '../../shared/api/common.js';
import {
  AssignMessageBody,
  CreateIntakeFormBody,
  CreateTemplateBody,
  IntakeForm,
  IntakeRequest,
  IntakeSubmission,
  ListMessagesQuery,
  ListPatientMessagesQuery,
  Message,
  MessagePreview,
  MessageTemplate,
  MessagingSettings,
  OutboxInboundBody,
  OutboxStatusBody,
  PublicIntakeForm,
  SendIntakeFormBody,
  SendMessageBody,
  TokenParams,
  UpdateMessagingSettingsBody,
  UpdateTemplateBody,
} from '../../shared/api/messaging.js';
import { ctxOf, type App } from '../context.js';
import { AppError } from '../http/errors.js';
import { authErrors } from '../http/schemas.js';
import { archiveIntakeForm, createIntakeForm, getIntakeForm, getIntakeRequest, listIntakeForms, listIntakeRequests, openIntake, sendIntakeForm, submitIntake, type IntakeDeps } from './intake.js';
import { assignMessage } from './inbound.js';
import { getMessage, listMessages, listPatientMessages } from './messages.js';
import { injectOutboxReply, setOutboxStatus } from './outbox-page.js';
import { cancelMessage, previewMessage, sendToPatient } from './queue.js';
import { getSettings, updateSettings } from './settings.js';
import { createTemplate, deleteTemplate, getTemplate, listTemplates, updateTemplate } from './template-store.js';

const SENDERS = ['admin', 'clinician'] as const;
const IDEMPOTENCY_KEY = /^[A-Za-z0-9._:-]{8,128}$/;

/** Patient messaging under /api/v1: conversations, the outbox, templates, settings, intake forms. */
export async function messagingRoutes(app: App, deps: IntakeDeps): Promise<void> {
  const tags = ['messaging'];

  app.get(
    '/patients/:id/messages',
    { schema: { tags, summary: "A patient's conversation (SMS and email, both directions), newest first", params: IdParams, querystring: ListPatientMessagesQuery, response: { 200: Page(Message), ...authErrors } } },
    async (request) => listPatientMessages(deps, ctxOf(request), request.params.id, request.query),
  );
  app.post(
    '/patients/:id/messages',
    {
      config: { roles: SENDERS },
      schema: {
        tags,
        summary: 'Send a patient a message (queued in the outbox; sent by the worker). An Idempotency-Key header makes a retry return the first message.',
        description:
          'SMS needs the patient’s SMS consent (`sms_consent_required`), refuses an opted-out patient (`recipient_opted_out`) and a patient with no usable number (`no_phone_number`). Non-urgent messages wait for the end of quiet hours in the patient’s time zone (`sendAfter`).',
        params: IdParams,
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ maxLength: 128 })) }),
        body: SendMessageBody,
        response: { 200: Message, 201: Message, ...authErrors, 429: ErrorResponse },
      },
    },
    async (request, reply) => {
      const key = request.headers['idempotency-key'];
      if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
        throw new AppError('validation_failed', undefined, [{ path: 'headers/idempotency-key', message: 'must be 8 to 128 letters, digits, . _ : -' }]);
      }
      const { message, created } = await sendToPatient(deps, ctxOf(request), request.params.id, request.body, { purpose: request.body.templateId ? 'other' : 'chat', idempotencyKey: key ? `api:${key}` : undefined });
      return reply.status(created ? 201 : 200).send(message);
    },
  );
  app.post(
    '/patients/:id/messages/preview',
    { config: { roles: SENDERS }, schema: { tags, summary: 'What a send would be: text, SMS segments (GSM-7 or UCS-2), estimated cost, when it would go, and what blocks it', params: IdParams, body: SendMessageBody, response: { 200: MessagePreview, ...authErrors } } },
    async (request) => previewMessage(deps, ctxOf(request), request.params.id, request.body),
  );
  app.get(
    '/messages',
    { schema: { tags, summary: "The organisation's messages, newest first (filters: status, direction, channel, provider, unmatched)", querystring: ListMessagesQuery, response: { 200: Page(Message), ...authErrors } } },
    async (request) => listMessages(deps, ctxOf(request), request.query),
  );
  app.get('/messages/:id', { schema: { tags, summary: 'Get a message', params: IdParams, response: { 200: Message, ...authErrors } } }, async (request) => getMessage(deps, ctxOf(request), request.params.id));
  app.post(
    '/messages/:id/cancel',
    { config: { roles: SENDERS }, schema: { tags, summary: 'Cancel a message that has not gone yet (waiting for quiet hours or a retry)', params: IdParams, response: { 200: Message, ...authErrors } } },
    async (request) => cancelMessage(deps, ctxOf(request), request.params.id),
  );
  app.post(
    '/messages/:id/assign',
    { config: { roles: SENDERS }, schema: { tags, summary: 'File an unmatched incoming message (and the others from that number) under a patient', params: IdParams, body: AssignMessageBody, response: { 200: Message, ...authErrors } } },
    async (request) => assignMessage(deps, ctxOf(request), request.params.id, request.body.patientId),
  );

  // The outbox (MESSAGING_PROVIDER=outbox / EMAIL_PROVIDER=outbox): a stand-in carrier for demos and tests.
  app.post(
    '/outbox/messages/:id/status',
    { config: { roles: SENDERS }, schema: { tags, summary: 'Outbox: report a status as the carrier would (delivered, undelivered with a code…)', params: IdParams, body: OutboxStatusBody, response: { 200: Message, ...authErrors } } },
    async (request) => setOutboxStatus(deps, ctxOf(request), request.params.id, request.body.status, request.body.errorCode),
  );
  app.post(
    '/outbox/inbound',
    { config: { roles: SENDERS }, schema: { tags, summary: 'Outbox: a text from a phone number, as if the patient replied (keywords included)', body: OutboxInboundBody, response: { 201: Message, ...authErrors } } },
    async (request, reply) => reply.status(201).send(await injectOutboxReply(deps, ctxOf(request), request.body.from, request.body.body)),
  );

  app.get('/templates', { schema: { tags, summary: "The organisation's message templates", response: { 200: Type.Array(MessageTemplate), ...authErrors } } }, async (request) => listTemplates(deps, ctxOf(request)));
  app.post(
    '/templates',
    { config: { roles: ['admin'] }, schema: { tags, summary: 'Create a template (placeholders from a fixed list; clinical details refused: template_phi)', body: CreateTemplateBody, response: { 201: MessageTemplate, ...authErrors } } },
    async (request, reply) => reply.status(201).send(await createTemplate(deps, ctxOf(request), request.body)),
  );
  app.get('/templates/:id', { schema: { tags, summary: 'Get a template', params: IdParams, response: { 200: MessageTemplate, ...authErrors } } }, async (request) => getTemplate(deps, ctxOf(request), request.params.id));
  app.patch(
    '/templates/:id',
    { config: { roles: ['admin'] }, schema: { tags, summary: 'Change a template', params: IdParams, body: UpdateTemplateBody, response: { 200: MessageTemplate, ...authErrors } } },
    async (request) => updateTemplate(deps, ctxOf(request), request.params.id, request.body),
  );
  app.delete(
    '/templates/:id',
    { config: { roles: ['admin'] }, schema: { tags, summary: 'Delete a template (not a default one)', params: IdParams, response: { 204: Type.Null(), ...authErrors } } },
    async (request, reply) => {
      await deleteTemplate(deps, ctxOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );

  app.get('/messaging/settings', { schema: { tags, summary: 'Messaging settings: HELP reply, quiet hours, reminder offsets, providers', response: { 200: MessagingSettings, ...authErrors } } }, async (request) => getSettings(deps, ctxOf(request)));
  app.patch(
    '/messaging/settings',
    { config: { roles: ['admin'] }, schema: { tags, summary: 'Change messaging settings (null restores the configured default)', body: UpdateMessagingSettingsBody, response: { 200: MessagingSettings, ...authErrors } } },
    async (request) => updateSettings(deps, ctxOf(request), request.body),
  );

  app.get('/intake-forms', { schema: { tags, summary: 'Intake forms', response: { 200: Type.Array(IntakeForm), ...authErrors } } }, async (request) => listIntakeForms(deps, ctxOf(request)));
  app.post(
    '/intake-forms',
    { config: { roles: SENDERS }, schema: { tags, summary: 'Create an intake form', body: CreateIntakeFormBody, response: { 201: IntakeForm, ...authErrors } } },
    async (request, reply) => reply.status(201).send(await createIntakeForm(deps, ctxOf(request), request.body)),
  );
  app.get('/intake-forms/:id', { schema: { tags, summary: 'Get an intake form', params: IdParams, response: { 200: IntakeForm, ...authErrors } } }, async (request) => getIntakeForm(deps, ctxOf(request), request.params.id));
  app.post(
    '/intake-forms/:id/archive',
    { config: { roles: SENDERS }, schema: { tags, summary: 'Archive an intake form (sent links keep working)', params: IdParams, response: { 200: IntakeForm, ...authErrors } } },
    async (request) => archiveIntakeForm(deps, ctxOf(request), request.params.id),
  );
  app.post(
    '/intake-forms/:id/send',
    { config: { roles: SENDERS }, schema: { tags, summary: 'Send a form link to a patient by "SMS only", "Email & SMS" or email', params: IdParams, body: SendIntakeFormBody, response: { 201: IntakeRequest, ...authErrors } } },
    async (request, reply) => reply.status(201).send(await sendIntakeForm(deps, ctxOf(request), request.params.id, request.body)),
  );
  app.get(
    '/patients/:id/intake-requests',
    { schema: { tags, summary: 'The forms sent to a patient and whether they were submitted', params: IdParams, response: { 200: Type.Array(IntakeRequest), ...authErrors } } },
    async (request) => listIntakeRequests(deps, ctxOf(request), request.params.id),
  );
  app.get(
    '/intake-requests/:id',
    { config: { roles: SENDERS }, schema: { tags, summary: 'A sent form with the patient’s answers (reading them is audited)', params: IdParams, response: { 200: IntakeRequest, ...authErrors } } },
    async (request) => getIntakeRequest(deps, ctxOf(request), request.params.id),
  );

  // The patient's side: the link's token is the credential (kept out of URLs: it travels in the body).
  app.post(
    '/intake/open',
    { config: { auth: 'public', rateLimit: { max: app.deps.config.rateLimits.loginPerMinute, timeWindow: '1 minute' } }, schema: { tags, summary: 'The form behind an intake link (public: the token is the credential)', body: Type.Object({ token: TokenParams.properties.token }, { additionalProperties: false }), response: { 200: PublicIntakeForm, 400: ErrorResponse, 404: ErrorResponse, 410: ErrorResponse } } },
    async (request) => openIntake(deps, request.body.token, request.ip),
  );
  app.post(
    '/intake/submit',
    {
      config: { auth: 'public', rateLimit: { max: app.deps.config.rateLimits.loginPerMinute, timeWindow: '1 minute' } },
      schema: { tags, summary: 'Submit an intake form (once)', body: Type.Object({ token: TokenParams.properties.token, answers: IntakeSubmission.properties.answers }, { additionalProperties: false }), response: { 200: Type.Object({ status: Type.Literal('submitted') }), 400: ErrorResponse, 404: ErrorResponse, 409: ErrorResponse, 410: ErrorResponse } },
    },
    async (request) => submitIntake(deps, request.body.token, request.body.answers, request.ip),
  );
}
