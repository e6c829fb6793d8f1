/**
 * The web app's only way to the server: the public API under /api/v1 (JSON, the error envelope). Staff are
 * signed in by the session cookie; a patient or guest by their participant session (from the join link), sent as
 * `Authorization: Bearer ovp_…` and kept in this tab's sessionStorage only.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

const PARTICIPANT_KEY = 'openvisit.participant';

export interface ParticipantSession {
  session: string;
  visitId: string;
  participantId: string;
}

export const participantSession = {
  get(): ParticipantSession | null {
    const raw = sessionStorage.getItem(PARTICIPANT_KEY);
    return raw ? (JSON.parse(raw) as ParticipantSession) : null;
  },
  set(value: ParticipantSession): void {
    sessionStorage.setItem(PARTICIPANT_KEY, JSON.stringify(value));
  },
  clear(): void {
    sessionStorage.removeItem(PARTICIPANT_KEY);
  },
};

export interface RequestOptions {
  /** Send as the participant (Bearer ovp_…) instead of the staff cookie. */
  asParticipant?: boolean;
  signal?: AbortSignal;
  /** Sees the HTTP answer before its body is read (e.g. its `Date` header, for the server's clock). */
  onResponse?: (response: Response) => void;
}

export async function api<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (options.asParticipant) {
    const s = participantSession.get();
    if (s) headers.authorization = `Bearer ${s.session}`;
  }
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers,
      credentials: options.asParticipant ? 'omit' : 'same-origin',
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'network_error', 'The server could not be reached. Check your connection and try again.');
  }
  options.onResponse?.(res);
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  const data = text ? (JSON.parse(text) as unknown) : undefined;
  if (!res.ok) {
    const e = (data as { error?: { code: string; message: string; details?: unknown } } | undefined)?.error;
    throw new ApiError(res.status, e?.code ?? 'http_error', e?.message ?? `The server answered ${res.status}.`, e?.details);
  }
  return data as T;
}

/** A participant's request (the patient or guest page). */
export const asParticipant = <T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown, options: Omit<RequestOptions, 'asParticipant'> = {}) =>
  api<T>(method, path, body, { ...options, asParticipant: true });
