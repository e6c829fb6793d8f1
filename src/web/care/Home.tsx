/**
 * The check-in app's home screens. A caregiver's: the clinic and who I am at the top, then the people I can call as
 * big buttons (name and relationship), then the recent calls. The recipient's: very simple, big type: the clinic,
 * a greeting, what will happen when someone calls, and the people they may call, if any.
 */
import type { ReactNode } from 'react';
import { initials } from '../call/media.js';
import type { CareMe, CareMember } from './careApi.js';
import { ClinicBar, type Clinic } from './ClinicBar.js';
import { useRinger } from './useRinger.js';

/** The second line of a contact's button: how they are related to the care recipient. */
export function relationshipOf(member: CareMember): string {
  if (member.relationship) return member.relationship;
  if (member.kind === 'recipient') return 'Care recipient';
  return member.userId ? 'Caregiver' : 'Family';
}

function ContactButton({ contact, big, onCall }: { contact: CareMember; big?: boolean; onCall(): void }) {
  return (
    <button type="button" className={big ? 'care-contact care-contact--big' : 'care-contact'} onClick={onCall} data-member={contact.id}>
      <span className="care-contact__avatar" aria-hidden="true">
        {initials(contact.displayName)}
      </span>
      <span className="care-contact__text">
        <span className="care-contact__verb">Call </span>
        <span className="care-contact__name">{contact.displayName}</span>
        <span className="visually-hidden">, </span>
        <span className="care-contact__rel">{relationshipOf(contact)}</span>
      </span>
      <span className="care-contact__icon" aria-hidden="true">
        <PhoneIcon />
      </span>
    </button>
  );
}

function PhoneIcon() {
  return (
    <svg viewBox="0 0 24 24" width="28" height="28" fill="currentColor" aria-hidden="true">
      <path d="M6.6 10.8a15.2 15.2 0 0 0 6.6 6.6l2.2-2.2a1 1 0 0 1 1-.25 11.4 11.4 0 0 0 3.6.57 1 1 0 0 1 1 1V20a1 1 0 0 1-1 1A17 17 0 0 1 3 4a1 1 0 0 1 1-1h3.5a1 1 0 0 1 1 1c0 1.25.2 2.45.57 3.6a1 1 0 0 1-.25 1z" />
    </svg>
  );
}

function SoundCheck() {
  const ringer = useRinger(false);
  if (ringer.audible) return null;
  return (
    <button type="button" className="care-soundcheck" onClick={ringer.enable}>
      Turn on the ring sound
    </button>
  );
}

export interface CaregiverHomeProps {
  me: CareMe;
  clinic: Clinic;
  problem: string | null;
  onDismissProblem(): void;
  onCall(callerMemberId: string, calleeMemberId: string): void;
  /** A link session may sign this device out (a staff caregiver signs out of the console). */
  onSignOut: (() => void) | null;
  history: ReactNode;
}

export function CaregiverHome({ me, clinic, problem, onDismissProblem, onCall, onSignOut, history }: CaregiverHomeProps) {
  const first = me.members[0]!.member;
  const staff = me.members.some((m) => m.member.userId !== null);
  return (
    <main className="care care-home">
      <header className="care-top">
        <ClinicBar clinic={clinic}>
          {staff ? (
            <a className="care-top__link" href="/">
              Console
            </a>
          ) : onSignOut ? (
            <button type="button" className="link-button care-top__link" onClick={onSignOut}>
              Sign out
            </button>
          ) : null}
        </ClinicBar>
        <p className="care-me">
          <span className="muted">You: </span>
          <strong className="care-me__name">{first.displayName}</strong>
          {first.relationship ? <span className="care-me__rel"> ({first.relationship})</span> : null}
        </p>
      </header>
      {problem ? (
        <div className="notice error care-problem" role="alert">
          <span>{problem}</span>
          <button type="button" className="link-button" onClick={onDismissProblem}>
            Dismiss
          </button>
        </div>
      ) : null}
      {me.members.map((m) => (
        <section key={m.member.id} className="care-circle" aria-label={`Caring for ${m.recipient.displayName}`}>
          {me.members.length > 1 ? <h2 className="care-circle__title">Caring for {m.recipient.displayName}</h2> : null}
          {m.member.canStart && m.contacts.length > 0 ? (
            <div className="care-contacts">
              {m.contacts.map((c) => (
                <ContactButton key={c.id} contact={c} onCall={() => onCall(m.member.id, c.id)} />
              ))}
            </div>
          ) : (
            <p className="muted">{m.member.canStart ? 'Nobody here can take calls yet.' : 'Your care team starts the calls: they ring here.'}</p>
          )}
        </section>
      ))}
      <SoundCheck />
      {history}
    </main>
  );
}

export interface RecipientHomeProps {
  me: CareMe;
  clinic: Clinic;
  problem: string | null;
  onCall(calleeMemberId: string): void;
}

export function RecipientHome({ me, clinic, problem, onCall }: RecipientHomeProps) {
  const m = me.members[0]!;
  const firstName = m.member.displayName.split(/\s+/)[0] ?? m.member.displayName;
  return (
    <main className="care care-recipient">
      <header className="care-top">
        <ClinicBar clinic={clinic} />
      </header>
      <h1 className="care-recipient__hello">Hello, {firstName}</h1>
      <p className="care-recipient__text">When someone from your care team calls, you will see it here. Keep this page open.</p>
      {problem ? (
        <p className="notice error" role="alert">
          {problem}
        </p>
      ) : null}
      <SoundCheck />
      {m.member.canStart && m.contacts.length > 0 ? (
        <div className="care-contacts">
          {m.contacts.map((c) => (
            <ContactButton key={c.id} contact={c} big onCall={() => onCall(c.id)} />
          ))}
        </div>
      ) : null}
    </main>
  );
}
