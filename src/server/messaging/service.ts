/**
 * Patient messaging's services, by role (this file only gathers them for callers outside messaging/):
 *   messages.ts     the rows: shared deps, status ranks, the API shape, reading conversations
 *   queue.ts        queueing a message (consent, address, template, opt-out notice, segments, quiet hours,
 *                   idempotency), previews, cancelling
 *   status.ts       status reports (status_rank only grows; a provider's opt-out revokes consent)
 *   inbound.ts      incoming texts and keywords, inboundOrgOf, the unmatched inbox
 *   outbox-page.ts  the Outbox page's actions
 *   notifier.ts     the PatientNotifier other features use
 *   webhooks.ts     the providers' webhook routes wired to inbound.ts and status.ts
 */
export { getMessage, listMessages, listPatientMessages, messageIdsFor, STATUS_RANK, toMessageDto, type MessageRow, type MessagingDeps } from './messages.js';
export { cancelMessage, previewMessage, sendToPatient, type QueueOptions } from './queue.js';
export { applyStatus, type StatusReport } from './status.js';
export { assignMessage, inboundOrgOf, receiveInbound, type InboundRecipient, type InboundSms } from './inbound.js';
export { injectOutboxReply, setOutboxStatus } from './outbox-page.js';
export { patientNotifier, type PatientNotifier } from './notifier.js';
export { messagingWebhookRoutes } from './webhooks.js';
