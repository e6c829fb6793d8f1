/** The call screen's API access: the staff session for the host, the participant session for everyone else. */
import { api, asParticipant } from '../api.js';

export type Requester = <T>(method: 'GET' | 'POST', path: string, body?: unknown) => Promise<T>;

const asStaff: Requester = <T>(method: 'GET' | 'POST', path: string, body?: unknown) => api<T>(method, path, body);
const asGuest: Requester = <T>(method: 'GET' | 'POST', path: string, body?: unknown) => asParticipant<T>(method, path, body);

export function requesterFor(as: 'host' | 'participant'): Requester {
  return as === 'host' ? asStaff : asGuest;
}

/** `/visits/<id>` with the id escaped. */
export const visitPath = (visitId: string, rest = '') => `/visits/${encodeURIComponent(visitId)}${rest}`;
