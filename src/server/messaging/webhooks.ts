/**
 * The providers' webhooks wired to messaging: each provider with a webhook receiver registers its own routes (its
 * paths, signature check and parsing live in its adapter, providers/); what they parse reaches inbound.ts and
 * status.ts in our words.
 */
import type { FastifyInstance } from 'fastify';
import { systemCtx } from '../context.js';
import { inboundOrgOf, receiveInbound } from './inbound.js';
import type { MessagingDeps } from './messages.js';
import type { MessagingProvider, WebhookHandlers } from './provider.js';
import { applyStatus } from './status.js';

function handlersFor(deps: MessagingDeps, provider: MessagingProvider): WebhookHandlers {
  return {
    async inbound(text) {
      // The organisation is the one that received the text (its number or sending service), never a patient match.
      const orgId = await inboundOrgOf(deps, text);
      await receiveInbound(deps, systemCtx(orgId), { provider: provider.name, providerMessageId: text.providerMessageId, from: text.from, to: text.to, body: text.body });
    },
    async status(update) {
      if (!update.status) return;
      await applyStatus(deps, {
        provider: provider.name,
        providerMessageId: update.providerMessageId,
        messageId: update.messageId,
        status: update.status,
        errorCode: update.errorCode,
        errorReason: update.errorReason,
        optedOut: update.optedOut,
      });
    },
  };
}

/** Registers the webhook routes of the SMS and email providers that have them (each in its own scope). */
export async function messagingWebhookRoutes(app: FastifyInstance, deps: MessagingDeps): Promise<void> {
  const providers = deps.sms === deps.email ? [deps.sms] : [deps.sms, deps.email];
  for (const provider of providers) {
    const receiver = provider.webhooks;
    if (!receiver) continue;
    await app.register(async (scope) => receiver.routes(scope, handlersFor(deps, provider)));
  }
}
