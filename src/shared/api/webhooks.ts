import Type from 'typebox';
import { IsoDateTime, Uuid } from './common.js';

const Nullable = <T extends Type.TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** An event type (`visit.ended`), every type of a category (`participant.*`), or every event (`*`). */
export const WebhookEventPattern = Type.String({
  pattern: '^(\\*|[a-z][a-z_]*\\.(\\*|[a-z][a-z_]*))$',
  maxLength: 64,
  description: 'An event type such as `visit.ended`, a category such as `participant.*`, or `*` for every event (GET /webhooks/event-types lists them).',
});

export const WebhookUrl = Type.String({ minLength: 8, maxLength: 2048, description: 'An http or https URL that accepts POST requests.' });
const Description = Type.String({ maxLength: 500 });
const Events = Type.Array(WebhookEventPattern, { minItems: 1, maxItems: 100 });

export const Webhook = Type.Object({
  id: Uuid,
  url: Type.String(),
  events: Type.Array(Type.String()),
  description: Nullable(Type.String()),
  /** Inactive subscriptions receive nothing (deliveries already queued are not sent). */
  active: Type.Boolean(),
  createdAt: IsoDateTime,
  updatedAt: IsoDateTime,
});
export type Webhook = Type.Static<typeof Webhook>;

export const CreateWebhookBody = Type.Object(
  { url: WebhookUrl, events: Events, description: Type.Optional(Description), active: Type.Optional(Type.Boolean({ default: true })) },
  { additionalProperties: false },
);
export type CreateWebhookBody = Type.Static<typeof CreateWebhookBody>;

export const UpdateWebhookBody = Type.Object(
  { url: Type.Optional(WebhookUrl), events: Type.Optional(Events), description: Type.Optional(Nullable(Description)), active: Type.Optional(Type.Boolean()) },
  { additionalProperties: false, minProperties: 1 },
);
export type UpdateWebhookBody = Type.Static<typeof UpdateWebhookBody>;

const Secret = Type.String({ description: 'The signing secret (`whsec_` + base64), shown only here: store it now. Verify deliveries with it (Standard Webhooks).' });
export const CreatedWebhook = Type.Object({ webhook: Webhook, secret: Secret });
export const RotatedSecret = Type.Object({ webhook: Webhook, secret: Secret });

export const WebhookDeliveryStatus = Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]);

export const WebhookAttempt = Type.Object({
  /** 1 for the first attempt; redeliveries continue the count. */
  attempt: Type.Integer(),
  at: IsoDateTime,
  /** The endpoint's HTTP status; null when none came (timeout, refused connection). */
  statusCode: Nullable(Type.Integer()),
  durationMs: Type.Integer(),
  /** Why it failed, briefly (never the response body); null on success. */
  error: Nullable(Type.String()),
});

export const WebhookPayload = Type.Object({
  type: Type.String(),
  timestamp: IsoDateTime,
  data: Type.Record(Type.String(), Type.Unknown()),
});

export const WebhookDelivery = Type.Object({
  id: Uuid,
  webhookId: Uuid,
  /** The `webhook-id` header: the same on every attempt and redelivery, so receivers can drop duplicates. */
  messageId: Type.String(),
  eventType: Type.String(),
  payload: WebhookPayload,
  status: WebhookDeliveryStatus,
  attemptCount: Type.Integer(),
  lastStatusCode: Nullable(Type.Integer()),
  lastError: Nullable(Type.String()),
  createdAt: IsoDateTime,
  deliveredAt: Nullable(IsoDateTime),
  /** Oldest first. */
  attempts: Type.Array(WebhookAttempt),
});
export type WebhookDelivery = Type.Static<typeof WebhookDelivery>;

export const ListWebhooksQuery = Type.Object({
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  limit: Type.Integer({ minimum: 1, maximum: 200, default: 50 }),
});
export type ListWebhooksQuery = Type.Static<typeof ListWebhooksQuery>;

export const ListDeliveriesQuery = Type.Object({
  status: Type.Optional(WebhookDeliveryStatus),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 20 }),
});
export type ListDeliveriesQuery = Type.Static<typeof ListDeliveriesQuery>;

export const DeliveryParams = Type.Object({ deliveryId: Uuid });

export const WebhookEventTypes = Type.Object({
  /** Every event type a subscription can name. */
  eventTypes: Type.Array(Type.String()),
  /** The categories, usable as `category.*`. */
  categories: Type.Array(Type.String()),
});
