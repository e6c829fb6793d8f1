/**
 * A participant's recording consent in the call: the dialog (RecordingConsent.tsx) opens as soon as the visit is
 * recorded without their consent (again after "Not now" only if recording stops and restarts), when the server asks,
 * or from the participants panel. It shows the consent text the token carried, or the server's when that is stale.
 */
import { useEffect, useState } from 'react';
import type { ConsentText, VisitParticipant } from '../../shared/api/visits.js';
import { ApiError } from '../api.js';
import { visitPath, type Requester } from './request.js';
import type { CallToken } from './room.js';
import { isRecord } from './useChat.js';

export function useRecordingConsent(
  as: 'host' | 'participant',
  request: Requester,
  visitId: string,
  token: CallToken | null,
  self: VisitParticipant | undefined,
  recording: boolean,
  agreed: (text: string) => void,
) {
  const [open, setOpen] = useState(false);
  const [text, setText] = useState<ConsentText | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [agreedAt, setAgreedAt] = useState<string | null>(null);
  const [textStale, setTextStale] = useState(false);

  const myConsentAt = agreedAt ?? self?.recordingConsentAt ?? null;
  const notRecordedMe = as === 'participant' && recording && myConsentAt === null;
  const tokenAsks = token?.consentsRequired.find((c) => c.kind === 'recording') ?? null;

  useEffect(() => {
    if (notRecordedMe) setOpen(true);
  }, [notRecordedMe]);

  useEffect(() => {
    if (!open || text) return;
    if (tokenAsks && !textStale) return setText(tokenAsks);
    let stale = false;
    request<ConsentText[]>('GET', '/consent-texts')
      .then((texts) => {
        if (stale) return;
        const found = texts.find((t) => t.kind === 'recording');
        if (found) setText(found);
        else setError('The recording consent text could not be found.');
      })
      .catch((e: unknown) => !stale && setError(e instanceof ApiError ? e.message : 'The consent text could not be loaded.'));
    return () => {
      stale = true;
    };
  }, [open, text, tokenAsks, textStale, request]);

  const agree = async () => {
    if (!text) return;
    setBusy(true);
    setError(null);
    try {
      await request('POST', visitPath(visitId, '/consents'), { kind: 'recording', version: text.version });
      setAgreedAt(new Date().toISOString());
      setOpen(false);
      agreed(recording ? 'Thank you. You are now included in the recording.' : 'Thank you. Your clinician can now record the visit.');
    } catch (e) {
      if (e instanceof ApiError && isRecord(e.details) && typeof e.details.currentVersion === 'string') {
        // A newer text was published: show it (from the server, not the token's copy); they agree to what they read.
        setTextStale(true);
        setText(null);
        setError('The consent text has just been updated. Please read the new version.');
      } else setError(e instanceof ApiError ? e.message : 'Your answer could not be saved. Try again.');
    } finally {
      setBusy(false);
    }
  };

  const dismiss = () => {
    setOpen(false);
    setError(null);
  };

  return {
    /** Participant: whether they have agreed, and when (null: not yet). */
    myConsentAt,
    /** The visit is recorded and we (a participant) are left out of it. */
    notRecordedMe,
    /** The dialog, while it is open (participants only). */
    dialog: open && as === 'participant' ? { text, recording, busy, error, onAgree: () => void agree(), onDismiss: dismiss } : null,
    ask: () => setOpen(true),
  };
}
