/**
 * The rooms layer's routing as Twilio rules, pure. Twilio has no server-side routing groups: a Group room's routing is
 * each participant's subscribe rules (Track Subscription API) and the room's recording rules. Rules name publishers
 * by identity, so they can be written before those publishers connect.
 *
 * Every encoding puts its `include`s before its `exclude`s, so it means the same whether Twilio resolves a track
 * matched by several rules by order (the last match decides) or by "exclude wins" (its docs say to set rules once and
 * refine; they do not define conflicts): a track is received when an include matches it and no exclude does.
 *
 * Twilio allows 20 rules per subscriber (error 53215), and a group of 50 must fit, with its waiting room and a host
 * who muted everyone. So the subscribe rules are the shortest of the forms that say exactly the routing for every
 * publisher the rules must name (RoutingView.publishers):
 * - open: `include all`, then an `exclude` per publisher it must not receive (per kind when only one kind is
 *   kept from it). Only for a subscriber of the default group, whose group admits people nobody routed yet; it is
 *   the form used whenever it fits, since it also receives such a newcomer fully, as the group rule says.
 * - one kind open: `include kind:video` (or audio), an `include` of the other kind per publisher allowed it, then an
 *   `exclude` per publisher kept out of the open kind. A muted-everyone group of 50 is `include kind:video`, one
 *   `include kind:audio` per host and per participant asked to unmute, and an `exclude` per connected participant
 *   outside the group (sent back). Default group only, as above; a newcomer nobody named yet is then received in the
 *   open kind only until its first token or connection names it (the provider rewrites the rules then).
 * - closed: an `include` per publisher it receives (per kind when only one kind), or `exclude all` when there is
 *   nobody: any other group (a waiting room, a breakout), where nobody unnamed may ever be received.
 * A routing whose shortest form passes Twilio's limit is refused with RulesLimitError, never applied in part.
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

type Kind = 'audio' | 'video';
interface PublisherKinds {
  publisher: string;
  audio: boolean;
  video: boolean;
}

/** `include all`, then what is kept out. */
function openForm(kinds: readonly PublisherKinds[]): TwilioRule[] {
  const rules: TwilioRule[] = [{ type: 'include', all: true }];
  for (const { publisher, audio, video } of kinds) {
    if (!audio && !video) rules.push({ type: 'exclude', publisher });
    else if (!audio) rules.push({ type: 'exclude', publisher, kind: 'audio' });
    else if (!video) rules.push({ type: 'exclude', publisher, kind: 'video' });
  }
  return rules;
}

/** `include kind:<open>`, the other kind publisher by publisher, then who is kept out of the open kind. */
function oneKindOpenForm(kinds: readonly PublisherKinds[], open: Kind): TwilioRule[] {
  const other: Kind = open === 'audio' ? 'video' : 'audio';
  const includes: TwilioRule[] = [{ type: 'include', kind: open }];
  const excludes: TwilioRule[] = [];
  for (const k of kinds) {
    if (k[other]) includes.push({ type: 'include', publisher: k.publisher, kind: other });
    // Nothing of theirs is included in the other kind: the whole publisher goes (its data tracks too).
    if (!k[open]) excludes.push(k[other] ? { type: 'exclude', publisher: k.publisher, kind: open } : { type: 'exclude', publisher: k.publisher });
  }
  return [...includes, ...excludes];
}

/** Only what it receives, named. */
function closedForm(kinds: readonly PublisherKinds[]): TwilioRule[] {
  const rules: TwilioRule[] = [];
  for (const { publisher, audio, video } of kinds) {
    if (audio && video) rules.push({ type: 'include', publisher });
    else if (audio) rules.push({ type: 'include', publisher, kind: 'audio' });
    else if (video) rules.push({ type: 'include', publisher, kind: 'video' });
  }
  return rules.length === 0 ? [{ type: 'exclude', all: true }] : rules;
}

/** The subscribe rules of `subscriber`: the shortest exact form (see above); RulesLimitError when none fits. */
export function subscribeRules(view: RoutingView, subscriber: string): TwilioRule[] {
  if (view.grants.get(subscriber)?.subscribe === false || view.blocked?.has(subscriber)) return [{ type: 'exclude', all: true }];
  const kinds = [...view.publishers]
    .filter((publisher) => publisher !== subscriber)
    .sort()
    .map((publisher): PublisherKinds => ({ publisher, ...allowedKinds(view, subscriber, publisher) }));
  if (routingOf(view, subscriber).group !== DEFAULT_GROUP) {
    const rules = closedForm(kinds);
    if (rules.length > MAX_RULES) throw new RulesLimitError(subscriber, rules.length);
    return rules;
  }
  const open = openForm(kinds);
  if (open.length <= MAX_RULES) return open;
  // Shortest first; on a tie, the earlier (more of the room received as its group rule says).
  const shortest = [oneKindOpenForm(kinds, 'video'), oneKindOpenForm(kinds, 'audio'), closedForm(kinds)].reduce((best, form) => (form.length < best.length ? form : best));
  if (shortest.length > MAX_RULES) throw new RulesLimitError(subscriber, shortest.length);
  return shortest;
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
