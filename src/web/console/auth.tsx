import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import type { LinkOrigin, Organization, User } from '../../shared/api/staff.js';
import { api, ApiError } from '../api.js';
import { ErrorNotice } from './ui.js';

export interface Me {
  user: User;
  organization: Organization;
  /** Where join links point (PUBLIC_URL): LinkNotice warns when patients on another device could not use them. */
  links: LinkOrigin;
}

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE';

/** Told when a staff request finds the session gone (expired, revoked): the console shows the sign-in page. */
let onSignedOut: (() => void) | null = null;

/** The console's requests: the staff session cookie; a 401 on any of them signs the page out. */
export async function staffApi<T>(method: Method, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  try {
    return await api<T>(method, path, body, signal ? { signal } : {});
  } catch (err) {
    if (err instanceof ApiError && err.status === 401 && err.code === 'unauthenticated') onSignedOut?.();
    throw err;
  }
}

interface AuthState {
  me: Me;
  signOut: () => Promise<void>;
  /** Asks the server whether the session still holds (e.g. after the realtime hub closed it). */
  recheck: () => void;
}

const AuthContext = createContext<AuthState | null>(null);

export function useAuth(): AuthState {
  const value = useContext(AuthContext);
  if (!value) throw new Error('useAuth outside <AuthGate>');
  return value;
}

type Status = { kind: 'loading' } | { kind: 'signedOut' } | { kind: 'signedIn'; me: Me } | { kind: 'error'; message: string };

/** Shows `signIn` until a staff session exists, then `children` with the signed-in user in context. */
export function AuthGate({ children, signIn }: { children: ReactNode; signIn: (onSignedIn: (me: Me) => void) => ReactNode }) {
  const [status, setStatus] = useState<Status>({ kind: 'loading' });

  const load = useCallback((signal?: AbortSignal) => {
    api<Me>('GET', '/auth/me', undefined, signal ? { signal } : {}).then(
      (me) => setStatus({ kind: 'signedIn', me }),
      (err: unknown) => {
        if (err instanceof Error && err.name === 'AbortError') return;
        if (err instanceof ApiError && (err.status === 401 || err.status === 403)) setStatus({ kind: 'signedOut' });
        else setStatus({ kind: 'error', message: err instanceof ApiError ? err.message : 'The server could not be reached.' });
      },
    );
  }, []);

  useEffect(() => {
    const controller = new AbortController();
    load(controller.signal);
    onSignedOut = () => setStatus({ kind: 'signedOut' });
    return () => {
      controller.abort();
      onSignedOut = null;
    };
  }, [load]);

  // The signed-in pages go first (their hub socket closes, their timers stop), then the session ends: nothing of
  // theirs is left to call the API with a revoked cookie.
  const signOut = useCallback(async () => {
    setStatus({ kind: 'signedOut' });
    try {
      await api('POST', '/auth/logout');
    } catch {
      // The sign-in page shows anyway; an unreachable server keeps nothing of this page.
    }
  }, []);
  const recheck = useCallback(() => load(), [load]);
  const me = status.kind === 'signedIn' ? status.me : null;
  const value = useMemo(() => (me ? { me, signOut, recheck } : null), [me, signOut, recheck]);

  if (status.kind === 'loading') {
    return (
      <main className="console-center" aria-busy="true">
        <p className="muted">Loading…</p>
      </main>
    );
  }
  if (status.kind === 'error') {
    return (
      <main className="console-center">
        <div className="card stack console-narrow">
          <h1>OpenVisit</h1>
          <ErrorNotice error={status.message} />
          <button type="button" className="primary" onClick={() => load()}>
            Try again
          </button>
        </div>
      </main>
    );
  }
  if (status.kind === 'signedOut') return <>{signIn((me) => setStatus({ kind: 'signedIn', me }))}</>;
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}
