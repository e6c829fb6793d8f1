import Type from 'typebox';
import { IdParams, Page } from '../../shared/api/common.js';
import {
  CreatedWebhook,
  CreateWebhookBody,
  DeliveryParams,
  ListDeliveriesQuery,
  ListWebhooksQuery,
  RotatedSecret,
  UpdateWebhookBody,
  Webhook,
  WebhookDelivery,
  WebhookEventTypes,
} from '../../shared/api/webhooks.js';
import { ctxOf, type App } from '../context.js';
import { authErrors } from '../http/schemas.js';
import { WEBHOOK_EVENT_CATEGORIES, WEBHOOK_EVENT_TYPES } from './events.js';
import {
  createWebhook,
  deleteWebhook,
  getDelivery,
  getWebhook,
  listDeliveries,
  listWebhooks,
  redeliver,
  rotateWebhookSecret,
  testWebhook,
  updateWebhook,
  type WebhookDeps,
} from './service.js';

/** Webhook subscriptions of host apps: admins and API keys (a host app registers its own endpoint). */
export async function webhookRoutes(app: App, deps: WebhookDeps): Promise<void> {
  const tags = ['webhooks'];
  const config = { roles: ['admin'] as const };

  app.get(
    '/webhooks/event-types',
    { config, schema: { tags, summary: 'The event types a subscription can name (and their categories, usable as `category.*`)', response: { 200: WebhookEventTypes, ...authErrors } } },
    async () => ({ eventTypes: [...WEBHOOK_EVENT_TYPES], categories: [...WEBHOOK_EVENT_CATEGORIES] }),
  );
  app.post(
    '/webhooks',
    { config, schema: { tags, summary: 'Subscribe an endpoint to events; the signing secret is shown once', body: CreateWebhookBody, response: { 201: CreatedWebhook, ...authErrors } } },
    async (request, reply) => reply.status(201).send(await createWebhook(deps, ctxOf(request), request.body)),
  );
  app.get(
    '/webhooks',
    { config, schema: { tags, summary: "List the organisation's webhooks (never their secrets)", querystring: ListWebhooksQuery, response: { 200: Page(Webhook), ...authErrors } } },
    async (request) => listWebhooks(deps, ctxOf(request), request.query),
  );
  app.get(
    '/webhooks/:id',
    { config, schema: { tags, summary: 'Get a webhook', params: IdParams, response: { 200: Webhook, ...authErrors } } },
    async (request) => getWebhook(deps, ctxOf(request), request.params.id),
  );
  app.patch(
    '/webhooks/:id',
    { config, schema: { tags, summary: 'Change a webhook’s URL, events, description, or pause it (`active: false`)', params: IdParams, body: UpdateWebhookBody, response: { 200: Webhook, ...authErrors } } },
    async (request) => updateWebhook(deps, ctxOf(request), request.params.id, request.body),
  );
  app.delete(
    '/webhooks/:id',
    { config, schema: { tags, summary: 'Delete a webhook and its delivery log', params: IdParams, response: { 204: Type.Null(), ...authErrors } } },
    async (request, reply) => {
      await deleteWebhook(deps, ctxOf(request), request.params.id);
      return reply.status(204).send(null);
    },
  );
  app.post(
    '/webhooks/:id/rotate-secret',
    { config, schema: { tags, summary: 'Replace the signing secret (effective at once; shown once)', params: IdParams, response: { 200: RotatedSecret, ...authErrors } } },
    async (request) => rotateWebhookSecret(deps, ctxOf(request), request.params.id),
  );
  app.post(
    '/webhooks/:id/test',
    { config, schema: { tags, summary: 'Send a `webhook.test` event to this endpoint (queued; see its deliveries)', params: IdParams, response: { 202: WebhookDelivery, ...authErrors } } },
    async (request, reply) => reply.status(202).send(await testWebhook(deps, ctxOf(request), request.params.id)),
  );
  app.get(
    '/webhooks/:id/deliveries',
    {
      config,
      schema: { tags, summary: 'The delivery log, newest first, with every attempt', params: IdParams, querystring: ListDeliveriesQuery, response: { 200: Page(WebhookDelivery), ...authErrors } },
    },
    async (request) => listDeliveries(deps, ctxOf(request), request.params.id, request.query),
  );
  app.get(
    '/webhooks/deliveries/:deliveryId',
    { config, schema: { tags, summary: 'One delivery with its attempts', params: DeliveryParams, response: { 200: WebhookDelivery, ...authErrors } } },
    async (request) => getDelivery(deps, ctxOf(request), request.params.deliveryId),
  );
  app.post(
    '/webhooks/deliveries/:deliveryId/redeliver',
    {
      config,
      schema: { tags, summary: 'Send a delivered or failed delivery again (same `webhook-id`, a fresh set of attempts)', params: DeliveryParams, response: { 202: WebhookDelivery, ...authErrors } },
    },
    async (request, reply) => reply.status(202).send(await redeliver(deps, ctxOf(request), request.params.deliveryId)),
  );
}
