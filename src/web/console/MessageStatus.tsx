import type { ReactNode } from 'react';
import type { Message } from './messaging.js';
import { formatWhen } from './format.js';

/**
 * Where an outgoing message is: "Sending…", "Scheduled for 8:00 AM" (quiet hours), ✓ sent, ✓✓ delivered,
 * ⚠ not delivered / failed with the carrier's reason (shown, and as the title), or canceled. The glyphs are for the
 * eye; the words say it to everyone.
 */
export function MessageStatus({ message, timeZone, now = Date.now() }: { message: Message; timeZone: string; now?: number }) {
  const m = message;
  if (m.direction === 'inbound') return <Status status={m.status}>Received</Status>;
  switch (m.status) {
    case 'queued':
    case 'sending':
      return m.status === 'queued' && Date.parse(m.sendAfter) > now ? (
        <Status kind="scheduled" status="scheduled">
          Scheduled for {formatWhen(m.sendAfter, timeZone, now)}
        </Status>
      ) : (
        <Status kind="sending" status={m.status}>
          Sending…
        </Status>
      );
    case 'sent':
      return (
        <Status kind="sent" status="sent" title="Sent" mark="✓">
          Sent
        </Status>
      );
    case 'delivered':
      return (
        <Status kind="delivered" status="delivered" title="Delivered" mark="✓✓">
          Delivered
        </Status>
      );
    case 'undelivered':
    case 'failed': {
      const what = m.status === 'failed' ? 'Failed' : 'Not delivered';
      const reason = m.errorReason ?? (m.errorCode ? `Error ${m.errorCode}.` : '');
      return (
        <Status kind="failed" status={m.status} title={reason || what} mark="⚠">
          {what}
          {reason ? `: ${reason}` : ''}
        </Status>
      );
    }
    case 'canceled':
      return (
        <Status kind="canceled" status="canceled" title={m.errorReason ?? 'Canceled'}>
          Canceled{m.errorReason ? `: ${m.errorReason}` : ''}
        </Status>
      );
    default:
      return <Status status={m.status}>{m.status}</Status>;
  }
}

/** The badge: `msg-status status-<kind>`, the status as data-status, and a glyph for the eye (hidden from screen readers). */
function Status({ kind, status, title, mark, children }: { kind?: string; status: string; title?: string; mark?: string; children: ReactNode }) {
  return (
    <span className={kind ? `msg-status status-${kind}` : 'msg-status'} data-status={status} title={title}>
      {mark ? (
        <>
          <span className="msg-mark" aria-hidden="true">
            {mark}
          </span>{' '}
        </>
      ) : null}
      {children}
    </span>
  );
}
