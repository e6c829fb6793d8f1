import { useEffect, useRef, type ReactNode } from 'react';
import { Link, NavLink, Route, Routes, useLocation } from 'react-router';
import { AuthGate, useAuth } from './auth.js';
import { armChime } from './chime.js';
import { HubProvider, useHubStatus } from './hub.js';
import { useMessagingSettings, usesOutbox } from './messaging.js';
import { OutboxPage } from './OutboxPage.js';
import { PatientPage } from './PatientPage.js';
import { PatientsPage } from './PatientsPage.js';
import { SettingsPage } from './SettingsPage.js';
import { SignInPage } from './SignInPage.js';
import { SummaryPage } from './SummaryPage.js';
import { TodayPage } from './TodayPage.js';
import { VisitPage } from './VisitPage.js';
import { useWaitingTotal, WaitingProvider } from './waiting.js';
import './console.css';

/**
 * The clinician console: sign-in, then Today, Patients (a patient's profile: details, chat, intake), a visit and its
 * summary, the Outbox (when the demo provider carries messages), Settings (admins). Mounted at `/*`.
 */
export function ConsoleRoutes() {
  return (
    <AuthGate signIn={(onSignedIn) => <SignInPage onSignedIn={onSignedIn} />}>
      <SignedIn />
    </AuthGate>
  );
}

function SignedIn() {
  const { recheck } = useAuth();
  useEffect(() => armChime(), []);
  return (
    <HubProvider onSessionEnded={recheck}>
      <WaitingProvider>
        <Layout>
          <Routes>
            <Route index element={<TodayPage />} />
            <Route path="patients" element={<PatientsPage />} />
            <Route path="patients/:id" element={<PatientPage />} />
            <Route path="outbox" element={<OutboxPage />} />
            <Route path="settings" element={<SettingsPage />} />
            <Route path="visits/:id" element={<VisitPage />} />
            <Route path="visits/:id/summary" element={<SummaryPage />} />
            <Route path="*" element={<NotFound />} />
          </Routes>
        </Layout>
      </WaitingProvider>
    </HubProvider>
  );
}

function Layout({ children }: { children: ReactNode }) {
  const { me, signOut } = useAuth();
  const hub = useHubStatus();
  const waiting = useWaitingTotal();
  const messaging = useMessagingSettings();
  const location = useLocation();
  const mainRef = useRef<HTMLElement>(null);
  const first = useRef(true);

  // After navigating, move focus to the page (screen readers announce it; the keyboard starts at the top).
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    mainRef.current?.focus();
  }, [location.pathname]);

  return (
    <>
      <a className="skip-link" href="#console-main">
        Skip to content
      </a>
      <header className="console-header">
        <div className="console-header-inner">
          <Link to="/" className="brand">
            <span className="visually-hidden">OpenVisit: </span>
            {me.organization.name}
          </Link>
          <nav aria-label="Main" className="console-nav">
            <NavLink to="/" end>
              Today
            </NavLink>
            <NavLink to="/patients">Patients</NavLink>
            {usesOutbox(messaging) ? <NavLink to="/outbox">Outbox</NavLink> : null}
            {me.user.role === 'admin' ? <NavLink to="/settings">Settings</NavLink> : null}
            {me.user.role === 'caregiver' ? <a href="/care">Check-ins</a> : null}
          </nav>
          {waiting > 0 && location.pathname !== '/' ? (
            <Link to="/" className="header-waiting">
              {waiting} waiting
            </Link>
          ) : null}
          <div className="console-user">
            <span className="muted console-user-name">{me.user.name}</span>
            <button type="button" className="link-button" onClick={() => void signOut()}>
              Sign out
            </button>
          </div>
        </div>
      </header>
      {hub === 'reconnecting' ? (
        <p className="notice warn hub-banner" role="status">
          Live updates are reconnecting… The waiting room will catch up as soon as the connection is back.
        </p>
      ) : null}
      <main id="console-main" ref={mainRef} tabIndex={-1} className="console-main">
        {children}
      </main>
    </>
  );
}

function NotFound() {
  return (
    <div className="card stack">
      <h1>Page not found</h1>
      <p>
        <Link to="/">Go to Today</Link>
      </p>
    </div>
  );
}
