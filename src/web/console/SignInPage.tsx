import { useEffect, useId, useRef, useState, type FormEvent } from 'react';
import { api, ApiError } from '../api.js';
import type { Me } from './auth.js';

/** Staff sign-in (POST /auth/login sets the session cookie). */
export function SignInPage({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const ids = { email: useId(), password: useId(), error: useId() };
  const emailRef = useRef<HTMLInputElement>(null);
  const passwordRef = useRef<HTMLInputElement>(null);

  useEffect(() => {
    document.title = 'Sign in · OpenVisit';
    emailRef.current?.focus();
    return () => {
      document.title = 'OpenVisit';
    };
  }, []);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!email.trim() || !password) {
      setError('Enter your email and password.');
      (email.trim() ? passwordRef : emailRef).current?.focus();
      return;
    }
    setBusy(true);
    setError('');
    try {
      onSignedIn(await api<Me>('POST', '/auth/login', { email: email.trim(), password }));
    } catch (err) {
      if (err instanceof ApiError && err.code === 'rate_limited') setError('Too many sign-in attempts. Please wait a minute, then try again.');
      else if (err instanceof ApiError && err.code === 'invalid_credentials') setError('The email or password is incorrect. Please try again.');
      else setError(err instanceof ApiError ? err.message : 'Something went wrong. Please try again.');
      setPassword('');
      setBusy(false);
      passwordRef.current?.focus();
    }
  };

  return (
    <main className="console-center">
      <div className="card console-narrow signin">
        <p className="brand signin-brand" aria-hidden="true">
          OpenVisit
        </p>
        <h1>Sign in</h1>
        <p className="muted">For clinicians and clinic staff. Patients join with the link they were sent.</p>
        <form onSubmit={(e) => void submit(e)} noValidate aria-describedby={error ? ids.error : undefined}>
          <label htmlFor={ids.email}>Email</label>
          <input
            id={ids.email}
            ref={emailRef}
            type="email"
            autoComplete="username"
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? ids.error : undefined}
          />
          <label htmlFor={ids.password}>Password</label>
          <input
            id={ids.password}
            ref={passwordRef}
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            aria-invalid={error ? true : undefined}
            aria-describedby={error ? ids.error : undefined}
          />
          {error ? (
            <p id={ids.error} className="notice error signin-error" role="alert">
              {error}
            </p>
          ) : null}
          <button type="submit" className="primary signin-submit" disabled={busy}>
            {busy ? 'Signing in…' : 'Sign in'}
          </button>
        </form>
      </div>
    </main>
  );
}
