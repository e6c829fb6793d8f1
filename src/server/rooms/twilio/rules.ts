/**
 * The rooms layer's routing as Twilio rules, pure. Twilio has no server-side routing groups: a Group room's routing is
 * each participant's subscribe rules (Track Subscription API) and the room's recording rules. Rules name publishers
 * by identity, so they can be written before those publishers connect.
 *
 * Encoding, chosen to mean the same whether Twilio resolves a track matched by several rules by order or by "exclude
 * wins" (its docs say to set rules once and refine; they do not define conflicts): a subscriber whose group admits
 * people nobody has routed yet (the default group) gets `include all` and then an `exclude` per known publisher it
 * must not receive (or per kind, for a host mute); any other subscriber gets only `include`s, one per publisher of its
 * group (per kind when one kind is muted), or `exclude all` when there is nobody. Twilio allows 20 rules per
 * subscriber (error 53215): a routing that needs more is refused with RulesLimitError, never applied in part.
 */
import { ProviderLimitError, type Grants, type RoutingState } from '../provider.js';

export type TwilioRule = { type: 'include' | 'exclude'; all?: true; publisher?: string; kind?: 'audio' | 'video' };

/** Twilio's limit of rules per subscriber (error 53215), and as documented for recording rules alike. */
export const MAX_RULES = 20;

/** The group of anyone nobody routed (builtin's default alike). */
export const DEFAULT_GROUP = 'main';

export const DEFAULT_ROUTING: Readonly<RoutingState> = Object.freeze({ group: DEFAULT_GROUP, audioMuted: false, videoMuted: false, recorded: true });

export class RulesLimitError extends ProviderLimitError {
  constructor(
    readonly whose: string,
    readonly count: number,
  ) {
    super(
      whose === 'the recording' ? 'recording' : 'routing',
      'twilio',
      `Twilio allows ${MAX_RULES} rules per participant; this needs ${count} for ${whose}. Fewer people in a separate group, or fewer host mutes, would fit.`,
    );
    this.name = 'RulesLimitError';
  }
}

export interface RoutingView {
  /** Routing of every identity the rooms layer placed (absent: the default). */
  routing: ReadonlyMap<string, RoutingState>;
  /** Per-pair overrides: subscriber → publisher → per kind (absent kind: the group rule). */
  overrides: ReadonlyMap<string, ReadonlyMap<string, { audio?: boolean; video?: boolean }>>;
  /** Grants of the identities a token was minted for (absent: the defaults, all granted). */
  grants: ReadonlyMap<string, Grants>;
  /**
   * The publishers the rules must mention: those connected or holding a token. Others (placed but not let in yet,
   * e.g. held in a waiting room) cannot publish, and naming them would spend the 20-rule budget.
   */
  publishers: ReadonlySet<string>;
  /** Identities whose tokens were revoked (denied, removed): nobody receives them, they receive nobody. */
  blocked?: ReadonlySet<string>;
}

const routingOf = (view: RoutingView, identity: string): RoutingState => view.routing.get(identity) ?? DEFAULT_ROUTING;

/** What `subscriber` receives of `publisher` by routing alone (group, host mutes, publish grant), then the pair's override. */
export function allowedKinds(view: RoutingView, subscriber: string, publisher: string): { audio: boolean; video: boolean } {
  const s = routingOf(view, subscriber);
  const p = routingOf(view, publisher);
  const publishes = (view.grants.get(publisher)?.publish ?? true) && !view.blocked?.has(publisher);
  const sameGroup = s.group === p.group;
  const override = view.overrides.get(subscriber)?.get(publisher);
  return {
    audio: override?.audio ?? (publishes && sameGroup && !p.audioMuted),
    video: override?.video ?? (publishes && sameGroup && !p.videoMuted),
  };
}

/** The subscribe rules of `subscriber`. */
export function subscribeRules(view: RoutingView, subscriber: string): TwilioRule[] {
  if (view.grants.get(subscriber)?.subscribe === false || view.blocked?.has(subscriber)) return [{ type: 'exclude', all: true }];
  const openGroup = routingOf(view, subscriber).group === DEFAULT_GROUP;
  const rules: TwilioRule[] = openGroup ? [{ type: 'include', all: true }] : [];
  for (const publisher of [...view.publishers].sort()) {
    if (publisher === subscriber) continue;
    const allowed = allowedKinds(view, subscriber, publisher);
    if (openGroup) {
      if (!allowed.audio && !allowed.video) rules.push({ type: 'exclude', publisher });
      else if (!allowed.audio) rules.push({ type: 'exclude', publisher, kind: 'audio' });
      else if (!allowed.video) rules.push({ type: 'exclude', publisher, kind: 'video' });
    } else if (allowed.audio && allowed.video) rules.push({ type: 'include', publisher });
    else if (allowed.audio) rules.push({ type: 'include', publisher, kind: 'audio' });
    else if (allowed.video) rules.push({ type: 'include', publisher, kind: 'video' });
  }
  if (rules.length === 0) return [{ type: 'exclude', all: true }];
  if (rules.length > MAX_RULES) throw new RulesLimitError(subscriber, rules.length);
  return rules;
}

/**
 * The room's recording rules: nothing while not recording; while recording, the publishers whose routing says
 * `recorded` (the default) and who may publish. Written as an allow-list (`include` per recorded publisher), so a
 * publisher the rules have not caught up with yet is never recorded, consent or not; only when the allow-list would
 * pass Twilio's limit, as `include all` minus the publishers kept out (then a publisher nobody placed is recorded, as
 * on the builtin provider; the visits feature places everyone before handing out a token).
 */
export function recordingRules(view: RoutingView, recording: boolean): TwilioRule[] {
  if (!recording) return [{ type: 'exclude', all: true }];
  const recorded: string[] = [];
  const kept: string[] = [];
  for (const publisher of [...view.publishers].sort()) {
    (routingOf(view, publisher).recorded && (view.grants.get(publisher)?.publish ?? true) && !view.blocked?.has(publisher) ? recorded : kept).push(publisher);
  }
  if (recorded.length === 0) return [{ type: 'exclude', all: true }];
  if (recorded.length <= MAX_RULES) return recorded.map((publisher) => ({ type: 'include', publisher }));
  if (kept.length + 1 <= MAX_RULES) return [{ type: 'include', all: true }, ...kept.map((publisher): TwilioRule => ({ type: 'exclude', publisher }))];
  throw new RulesLimitError('the recording', Math.min(recorded.length, kept.length + 1));
}
