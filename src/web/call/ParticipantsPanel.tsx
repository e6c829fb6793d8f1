/**
 * Who is in the call, with network quality; for the host, per-participant controls. In a group visit the host's
 * panel is the group console (docs/groups.md, "Web app"): a search over the list, the raised hands in the order they
 * went up (each with "Lower hand"), mute all (with or without letting people unmute themselves), lock, and the
 * waiting list with Admit / Admit all; per person also ask to unmute, spotlight and a private message. A participant
 * in a group may choose the name the others see there (when the organisation allows it).
 */
import { useEffect, useId, useRef, useState, type FormEvent, type ReactNode } from 'react';
import { NetworkQuality } from './media.js';

export interface PersonRow {
  id: string;
  name: string;
  /** 'host', 'patient', 'guest', … (null: not known yet). */
  role: string | null;
  self: boolean;
  quality: number | null;
  micOff: boolean;
  cameraOff: boolean;
  /** The host stopped their audio / video reaching anyone. */
  hostMuted: { audio: boolean; video: boolean };
  /** Host view while recording or about to: this person is not (yet) recorded. */
  notRecorded: boolean;
  /** Staff with host rights (the host, co-hosts): no host actions apply to them. */
  clinician: boolean;
  /** Group visits: their hand is up / they are in the spotlight. */
  handRaised: boolean;
  spotlit: boolean;
}

export interface PersonActions {
  mute(person: PersonRow, kind: 'audio' | 'video', muted: boolean): void;
  sendToWaitingRoom(person: PersonRow): void;
  remove(person: PersonRow): void;
  askToUnmute(person: PersonRow): void;
  spotlight(person: PersonRow, on: boolean): void;
  lowerHand(person: PersonRow): void;
  admit(person: PersonRow): void;
  /** Rejects with words to show. */
  message(person: PersonRow, body: string): Promise<void>;
  /** Actions in progress, by `${personId}:${action}`. */
  busy: ReadonlySet<string>;
}

export interface GroupActions {
  muteAll(muted: boolean, selfUnmute: boolean): void;
  lock(locked: boolean): void;
  admitAll(): void;
  /** Actions in progress: 'mute-all', 'lock', 'admit-all'. */
  busy: ReadonlySet<string>;
}

/** What the participants panel shows of a group visit. */
export interface GroupPanel {
  /** The raised hands, oldest first (hosts only; empty for others). */
  hands: { id: string; name: string }[];
  mutedAll: boolean;
  selfUnmute: boolean;
  locked: boolean;
  /** Host only. */
  actions: GroupActions | null;
  /** A participant choosing the name the others see (null: not offered); rejects with words to show. */
  chooseName: ((name: string) => Promise<void>) | null;
}

const ROLE_NAMES: Record<string, string> = { host: 'Clinician', cohost: 'Co-host', patient: 'Patient', guest: 'Guest', interpreter: 'Interpreter', caregiver: 'Caregiver' };

export function ParticipantsPanel({
  people,
  waiting,
  actions,
  group,
  error,
  footer,
  onClose,
}: {
  people: PersonRow[];
  /** Host only: connected people still in the waiting room. */
  waiting: PersonRow[];
  actions: PersonActions | null;
  /** Group visits (null: a 1:1 visit). */
  group: GroupPanel | null;
  error: string | null;
  footer?: ReactNode;
  onClose: () => void;
}) {
  const id = useId();
  const headingRef = useRef<HTMLHeadingElement>(null);
  const [search, setSearch] = useState('');
  useEffect(() => {
    headingRef.current?.focus();
  }, []);
  const needle = search.trim().toLocaleLowerCase();
  const shown = needle ? people.filter((p) => p.name.toLocaleLowerCase().includes(needle)) : people;
  const shownWaiting = needle ? waiting.filter((p) => p.name.toLocaleLowerCase().includes(needle)) : waiting;
  const byId = new Map(people.map((p) => [p.id, p]));
  return (
    <section className="ov-side__panel" aria-labelledby={`${id}-title`}>
      <header className="ov-side__head">
        <h2 id={`${id}-title`} ref={headingRef} tabIndex={-1}>
          Participants ({people.length})
        </h2>
        <button type="button" className="ov-close" aria-label="Close participants" onClick={onClose}>
          ×
        </button>
      </header>
      <div className="ov-side__scroll">
        {error ? (
          <p className="notice error" role="alert">
            {error}
          </p>
        ) : null}
        {group ? (
          <input
            type="search"
            className="ov-people__search"
            aria-label="Search participants"
            placeholder="Search participants"
            value={search}
            autoComplete="off"
            onChange={(e) => setSearch(e.target.value)}
          />
        ) : null}
        {group?.actions ? <GroupControls group={group} actions={group.actions} /> : null}
        {group && actions && group.hands.length > 0 ? (
          <>
            <h3 className="ov-people__sub" id={`${id}-hands`}>
              Raised hands ({group.hands.length})
            </h3>
            <ol className="ov-hands" aria-labelledby={`${id}-hands`}>
              {group.hands.map((h) => {
                const row = byId.get(h.id);
                return (
                  <li key={h.id} className="ov-hand" data-identity={h.id}>
                    <span className="ov-hand__name">{h.name}</span>
                    {row ? (
                      <button type="button" aria-label={`Lower hand of ${h.name}`} disabled={actions.busy.has(`${h.id}:hand`)} onClick={() => actions.lowerHand(row)}>
                        Lower hand
                      </button>
                    ) : null}
                  </li>
                );
              })}
            </ol>
          </>
        ) : null}
        {group && needle && shown.length === 0 && shownWaiting.length === 0 ? <p className="muted">Nobody is called “{search.trim()}”.</p> : null}
        <ul className="ov-people" aria-label="In the call">
          {shown.map((p) => (
            <Person key={p.id} person={p} actions={p.self || p.clinician ? null : actions} group={group !== null} chooseName={p.self ? (group?.chooseName ?? null) : null} />
          ))}
        </ul>
        {shownWaiting.length > 0 ? (
          <>
            <div className="ov-people__subrow">
              <h3 className="ov-people__sub">In the waiting room ({waiting.length})</h3>
              {group?.actions && waiting.length > 1 ? (
                <button type="button" disabled={group.actions.busy.has('admit-all')} onClick={group.actions.admitAll}>
                  Admit all
                </button>
              ) : null}
            </div>
            <ul className="ov-people" aria-label="In the waiting room">
              {shownWaiting.map((p) => (
                <li key={p.id} className="ov-person" data-identity={p.id}>
                  <div className="ov-person__line">
                    <span className="ov-person__name">{p.name}</span>
                    <span className="badge">waiting</span>
                    {group && actions ? (
                      <button type="button" className="primary" aria-label={`Admit ${p.name}`} disabled={actions.busy.has(`${p.id}:admit`)} onClick={() => actions.admit(p)}>
                        Admit
                      </button>
                    ) : null}
                  </div>
                </li>
              ))}
            </ul>
          </>
        ) : null}
        {footer}
      </div>
    </section>
  );
}

/** Mute all (and whether people may unmute themselves), lock. */
function GroupControls({ group, actions }: { group: GroupPanel; actions: GroupActions }) {
  const id = useId();
  const [selfUnmute, setSelfUnmute] = useState(true);
  return (
    <div className="ov-group" role="group" aria-label="Group controls">
      <div className="ov-group__row">
        {group.mutedAll ? (
          <button type="button" disabled={actions.busy.has('mute-all')} onClick={() => actions.muteAll(false, true)}>
            Lift mute all
          </button>
        ) : (
          <>
            <button type="button" disabled={actions.busy.has('mute-all')} onClick={() => actions.muteAll(true, selfUnmute)}>
              Mute all
            </button>
            <label className="ov-group__check" htmlFor={`${id}-self`}>
              <input id={`${id}-self`} type="checkbox" checked={selfUnmute} onChange={(e) => setSelfUnmute(e.target.checked)} /> Let them unmute themselves
            </label>
          </>
        )}
      </div>
      {group.mutedAll ? <p className="muted ov-group__state">{group.selfUnmute ? 'Everyone is muted; they may unmute themselves.' : 'Everyone is muted until you ask them to unmute.'}</p> : null}
      <div className="ov-group__row">
        <button type="button" aria-pressed={group.locked} disabled={actions.busy.has('lock')} onClick={() => actions.lock(!group.locked)}>
          {group.locked ? 'Unlock visit' : 'Lock visit'}
        </button>
        <span className="muted ov-group__state">{group.locked ? 'Locked: nobody new gets in.' : 'Open: invited people can join.'}</span>
      </div>
    </div>
  );
}

function Person({ person: p, actions, group, chooseName }: { person: PersonRow; actions: PersonActions | null; group: boolean; chooseName: ((name: string) => Promise<void>) | null }) {
  const id = useId();
  const [writing, setWriting] = useState(false);
  const [renaming, setRenaming] = useState(false);
  const busy = (what: string) => actions?.busy.has(`${p.id}:${what}`) ?? false;
  return (
    <li className={p.handRaised ? 'ov-person has-hand' : 'ov-person'} data-identity={p.id}>
      <div className="ov-person__line">
        <span className="ov-person__name" id={`${id}-name`}>
          {p.self ? `${p.name} (you)` : p.name}
        </span>
        {p.role ? <span className="ov-person__role muted">{ROLE_NAMES[p.role] ?? p.role}</span> : null}
        {p.handRaised ? <span className="badge ov-person__hand">Hand raised</span> : null}
        {p.spotlit ? <span className="badge ov-person__spot">Spotlight</span> : null}
        <NetworkQuality level={p.quality} who={p.self ? 'you' : p.name} />
      </div>
      <div className="ov-person__state muted">
        {p.micOff ? <span>Microphone off</span> : null}
        {p.cameraOff ? <span>Camera off</span> : null}
        {p.hostMuted.audio ? <span>Audio muted by host</span> : null}
        {p.hostMuted.video ? <span>Video muted by host</span> : null}
        {p.notRecorded ? <span>Not agreed to recording</span> : null}
      </div>
      {actions ? (
        <div className="ov-person__actions" role="group" aria-labelledby={`${id}-name`}>
          <button type="button" aria-describedby={`${id}-name`} disabled={busy('audio')} onClick={() => actions.mute(p, 'audio', !p.hostMuted.audio)}>
            {p.hostMuted.audio ? 'Unmute audio' : 'Mute audio'}
          </button>
          {group && (p.micOff || p.hostMuted.audio) ? (
            <button type="button" aria-describedby={`${id}-name`} disabled={busy('ask-unmute')} onClick={() => actions.askToUnmute(p)}>
              Ask to unmute
            </button>
          ) : null}
          <button type="button" aria-describedby={`${id}-name`} disabled={busy('video')} onClick={() => actions.mute(p, 'video', !p.hostMuted.video)}>
            {p.hostMuted.video ? 'Unmute video' : 'Mute video'}
          </button>
          {group ? (
            <button type="button" aria-describedby={`${id}-name`} aria-pressed={p.spotlit} disabled={busy('spotlight')} onClick={() => actions.spotlight(p, !p.spotlit)}>
              {p.spotlit ? 'Remove spotlight' : 'Spotlight'}
            </button>
          ) : null}
          {group ? (
            <button type="button" aria-describedby={`${id}-name`} aria-expanded={writing} onClick={() => setWriting((w) => !w)}>
              Message
            </button>
          ) : null}
          <button type="button" aria-describedby={`${id}-name`} disabled={busy('return')} onClick={() => actions.sendToWaitingRoom(p)}>
            Send to waiting room
          </button>
          <button type="button" className="ov-danger-text" aria-describedby={`${id}-name`} disabled={busy('remove')} onClick={() => actions.remove(p)}>
            Remove
          </button>
        </div>
      ) : null}
      {actions && writing ? <PrivateMessage person={p} send={(body) => actions.message(p, body)} onDone={() => setWriting(false)} /> : null}
      {chooseName ? (
        renaming ? (
          <ChooseName current={p.name} choose={chooseName} onDone={() => setRenaming(false)} />
        ) : (
          <div className="ov-person__actions">
            <button type="button" onClick={() => setRenaming(true)}>
              Change my name
            </button>
          </div>
        )
      ) : null}
    </li>
  );
}

/** The host's private message to one person (only they and the staff see it). */
function PrivateMessage({ person, send, onDone }: { person: PersonRow; send(body: string): Promise<void>; onDone(): void }) {
  const id = useId();
  const [body, setBody] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const text = body.trim();
    if (!text) return;
    setBusy(true);
    setError(null);
    try {
      await send(text);
      setBody('');
      onDone();
    } catch (err) {
      setError(err instanceof Error ? err.message : 'The message could not be sent.');
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="ov-person__form" onSubmit={(e) => void submit(e)}>
      <label htmlFor={id}>Private message to {person.name}</label>
      <textarea id={id} rows={2} maxLength={500} value={body} autoFocus onChange={(e) => setBody(e.target.value)} />
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
      <div className="ov-person__actions">
        <button type="submit" className="primary" disabled={busy || !body.trim()}>
          Send privately
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** A participant's own name in the group (the organisation allows it, or the server says so). */
function ChooseName({ current, choose, onDone }: { current: string; choose(name: string): Promise<void>; onDone(): void }) {
  const id = useId();
  const [name, setName] = useState(current);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const text = name.trim();
    if (!text) return;
    setBusy(true);
    setError(null);
    try {
      await choose(text);
      onDone();
    } catch (err) {
      setError(err instanceof Error ? err.message : 'Your name could not be changed.');
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="ov-person__form" onSubmit={(e) => void submit(e)}>
      <label htmlFor={id}>Your name in the group</label>
      <input id={id} value={name} maxLength={60} autoFocus autoComplete="off" onChange={(e) => setName(e.target.value)} />
      {error ? (
        <p className="error" role="alert">
          {error}
        </p>
      ) : null}
      <div className="ov-person__actions">
        <button type="submit" className="primary" disabled={busy || !name.trim()}>
          Save name
        </button>
        <button type="button" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}
