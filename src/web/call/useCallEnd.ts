/**
 * How the call ends for this page. Leaving is the room's (useCallRoom's `leave`); the host may also end the visit
 * for everyone, after a confirmation. When the call is over the page hears `onLeft` with the words to show: the
 * server's notice when we were denied or removed (the host's message), else the room's; and the post-visit survey
 * link if the server sent one.
 */
import { useRef } from 'react';
import type { ConfirmProps } from './ConfirmDialog.js';
import type { Run } from './room.js';
import type { CallEnd, HostControls } from './types.js';
import { apiText } from './useActions.js';

export function useCallEnd(onLeft: (why: CallEnd) => void) {
  const endNotice = useRef<string | null>(null);
  const surveyUrl = useRef<string | undefined>(undefined);
  return {
    /** A server notice: being denied or removed is what the page shows once the call ends. */
    heardNotice(code: string, message: string) {
      if (code === 'denied' || code === 'removed') endNotice.current = message;
    },
    heardSurvey(url: string) {
      surveyUrl.current = url;
    },
    /** The room's end (useCallRoom's `onEnd`). */
    ended(reason: string, message: string) {
      onLeft({ reason, message: endNotice.current ?? message, ...(surveyUrl.current ? { surveyUrl: surveyUrl.current } : {}) });
    },
  };
}

/** The host's "End visit for everyone": a confirmation first, which says what Leave does instead. */
export function endForEveryone(hostControls: HostControls | undefined, ask: (confirm: Omit<ConfirmProps, 'onCancel'>) => void, run: Run) {
  if (!hostControls) return;
  ask({
    title: 'End the visit for everyone?',
    body:
      'Everyone is disconnected, every join link stops working and the visit is closed for good; its summary opens. ' +
      'This cannot be undone. To step out and come back, choose Leave instead: the visit stays open.',
    confirmLabel: 'Yes, end visit',
    onConfirm: () => void run('end', () => hostControls.endForEveryone(), (e) => apiText(e, 'The visit could not be ended.')),
  });
}
