/** The call screen's API access: the staff session for the host, the participant session for everyone else. */
import { api, asParticipant, type RequestOptions } from '../api.js';

export type CallRequestOptions = Pick<RequestOptions, 'onResponse'>;
export type Requester = <T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, options?: CallRequestOptions) => Promise<T>;

const asStaff: Requester = <T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, options?: CallRequestOptions) => api<T>(method, path, body, options);
const asGuest: Requester = <T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, options?: CallRequestOptions) => asParticipant<T>(method, path, body, options);

export function requesterFor(as: 'host' | 'participant'): Requester {
  return as === 'host' ? asStaff : asGuest;
}

/** `/visits/<id>` with the id escaped. */
export const visitPath = (visitId: string, rest = '') => `/visits/${encodeURIComponent(visitId)}${rest}`;
