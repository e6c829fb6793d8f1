import type { FastifyBaseLogger } from 'fastify';
import type { OrgEvent, OrgEventType } from '../../shared/events.js';
import type { PubSub } from '../pubsub/index.js';

/** What travels on an organisation's pub/sub channel: events for clients, and control notes for hubs. */
export type ChannelMessage =
  | { kind: 'event'; event: OrgEvent }
  | { kind: 'revoke' } & RevokeTargets;

/** Whose hub connections to close: staff sessions or users, API keys, care members' sessions or members. */
export interface RevokeTargets {
  sessionIds?: string[];
  userIds?: string[];
  apiKeyIds?: string[];
  memberSessionIds?: string[];
  memberIds?: string[];
}

export function orgChannel(orgId: string): string {
  return `org:${orgId}`;
}

/**
 * How domain code announces changes. Publishing goes through the PubSub, so it reaches hub clients on
 * every server process, including when the change was made by the CLI.
 */
export interface OrgEvents {
  /**
   * Publishes to every connected client of the organisation, then hands the event to the observers (webhooks, reminders).
   * Never rejects: the change is committed already.
   */
  publish(orgId: string, type: OrgEventType, data: OrgEvent['data']): Promise<void>;
  /** Closes the hub connections of ended sessions, disabled users, revoked keys, ended member sessions or removed members. Never rejects. */
  revoke(orgId: string, who: RevokeTargets): Promise<void>;
}

/**
 * Sees every event this process publishes, once, after the hub has it: how work that must happen once per
 * event (webhook deliveries, appointment reminders) hooks in, where subscribers on every server would each see it.
 */
export type OrgEventObserver = (orgId: string, event: OrgEvent) => Promise<void> | void;

/** OrgEvents with its observers: features add theirs while the app is built (`observe`), before any publish. */
export interface ObservedOrgEvents extends OrgEvents {
  /** Adds an observer; observers run in the order added, each after the previous one, a failure logged alone. */
  observe(observer: OrgEventObserver): void;
}

export function createOrgEvents(pubsub: PubSub, log: Pick<FastifyBaseLogger, 'warn'>): ObservedOrgEvents {
  const observers: OrgEventObserver[] = [];
  const send = (orgId: string, message: ChannelMessage, what: string) =>
    pubsub.publish(orgChannel(orgId), message).catch((err: unknown) => log.warn({ err, what }, 'realtime publish failed'));
  return {
    async publish(orgId, type, data) {
      const event: OrgEvent = { type, at: new Date().toISOString(), data };
      await send(orgId, { kind: 'event', event }, type);
      // Awaited, so a caller's answer comes after the event's webhooks are queued (never before their rows exist).
      for (const observer of observers) {
        try {
          await observer(orgId, event);
        } catch (err) {
          log.warn({ err, what: type }, 'event observer failed');
        }
      }
    },
    async revoke(orgId, who) {
      await send(orgId, { kind: 'revoke', ...who }, 'revoke');
    },
    observe(observer) {
      observers.push(observer);
    },
  };
}
