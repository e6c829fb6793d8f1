/**
 * The check-in app's requests (docs/checkins.md): a member session (the `ov_member` cookie set when a care link is
 * exchanged) or a staff caregiver's session cookie, whichever the browser holds; the server tells them apart. Every
 * answer's `Date` header feeds the page's ServerClock, so the countdown reads the server's time.
 */
import type Type from 'typebox';
import type { CareMe, CareSession, Checkin, CheckinStats, CheckinToken as CheckinTokenSchema } from '../../shared/api/checkins.js';
import { api } from '../api.js';
import type { ServerClock } from '../time.js';

export type CheckinToken = Type.Static<typeof CheckinTokenSchema>;
export type { CareMe, CareSession, Checkin, CheckinStats };
export type CareMembership = CareMe['members'][number];
export type CareMember = CareMembership['member'];

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export function careApi(clock: ServerClock) {
  const request = <T>(method: Method, path: string, body?: unknown): Promise<T> => {
    const sentAt = performance.now();
    return api<T>(method, path, body, { onResponse: (res) => clock.sample(res.headers.get('date'), sentAt, performance.now()) });
  };
  const call = (id: string, action: 'ring' | 'decline' | 'end') => request<Checkin>('POST', `/checkins/${encodeURIComponent(id)}/${action}`, {});
  return {
    exchange: (token: string) => request<CareSession>('POST', '/care/session', { token }),
    me: () => request<CareMe>('GET', '/care/me'),
    signOut: () => request<void>('DELETE', '/care/session'),
    start: (callerMemberId: string, calleeMemberId: string) => request<Checkin>('POST', '/checkins', { callerMemberId, calleeMemberId }),
    get: (id: string) => request<Checkin>('GET', `/checkins/${encodeURIComponent(id)}`),
    /** Ringing on this device: the server knows the app shows it (no text fallback needed). */
    ring: (id: string) => call(id, 'ring'),
    decline: (id: string) => call(id, 'decline'),
    end: (id: string) => call(id, 'end'),
    /** Answers the call for this party and gives the media token. */
    token: (id: string) => request<CheckinToken>('POST', `/checkins/${encodeURIComponent(id)}/token`, {}),
    list: (query: Record<string, string>) => request<{ data: Checkin[]; nextCursor: string | null }>('GET', `/checkins?${new URLSearchParams(query).toString()}`),
    stats: (memberId: string) => request<CheckinStats>('GET', `/checkins/stats?${new URLSearchParams({ memberId }).toString()}`),
  };
}

export type CareApi = ReturnType<typeof careApi>;

export const isFinal = (status: Checkin['status']) => status === 'completed' || status === 'missed' || status === 'declined' || status === 'cancelled' || status === 'failed';

/** The party of `checkin` that `memberIds` include (the caller first), or null. */
export function myParty(checkin: Checkin, memberIds: ReadonlySet<string>): { me: Checkin['caller']; other: Checkin['callee']; side: 'caller' | 'callee' } | null {
  if (memberIds.has(checkin.caller.memberId)) return { me: checkin.caller, other: checkin.callee, side: 'caller' };
  if (memberIds.has(checkin.callee.memberId)) return { me: checkin.callee, other: checkin.caller, side: 'callee' };
  return null;
}

/** "0:15", "2:05": a call's length. */
export function callLength(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** "15 seconds", "2 minutes 5 seconds": the same, in words (screen readers, the end screen). */
export function callLengthWords(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  const m = Math.floor(s / 60);
  const sec = s % 60;
  const part = (n: number, unit: string) => `${n} ${unit}${n === 1 ? '' : 's'}`;
  if (m === 0) return part(sec, 'second');
  return sec === 0 ? part(m, 'minute') : `${part(m, 'minute')} ${part(sec, 'second')}`;
}

/** How a call ended, in words for the person who was in it. */
export function outcome(checkin: Checkin, memberIds: ReadonlySet<string>): string {
  const party = myParty(checkin, memberIds);
  const other = party?.other.displayName ?? 'The other person';
  switch (checkin.status) {
    case 'completed':
      if (checkin.endReason === 'time_limit') return 'The time was up.';
      if (checkin.endReason === 'ended_early') return checkin.endedByMemberId && memberIds.has(checkin.endedByMemberId) ? 'You ended the call.' : checkin.endedByMemberId === party?.other.memberId ? `${other} ended the call.` : 'The call was ended.';
      if (checkin.endReason === 'disconnected') return 'The connection was lost.';
      return 'The call is over.';
    case 'missed':
      return party?.side === 'caller' ? `${other} did not answer.` : 'You missed this call.';
    case 'declined':
      return party?.side === 'caller' ? `${other} declined the call.` : 'You declined the call.';
    case 'cancelled':
      return party?.side === 'caller' ? 'You cancelled the call.' : `${other} cancelled the call.`;
    case 'failed':
      return checkin.endReason === 'no_connection' ? 'The call could not connect.' : 'The call could not be made.';
    default:
      return '';
  }
}

export const STATUS_WORDS: Record<Checkin['status'], string> = {
  requested: 'Scheduled',
  ringing: 'Ringing',
  active: 'In progress',
  completed: 'Completed',
  missed: 'Missed',
  declined: 'Declined',
  cancelled: 'Cancelled',
  failed: 'Failed',
};
