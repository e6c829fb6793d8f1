import type { Message } from './messaging.js';
import { formatWhen } from './format.js';

/**
 * Where an outgoing message is: "Sending…", "Scheduled for 8:00 AM" (quiet hours), ✓ sent, ✓✓ delivered,
 * ⚠ not delivered / failed with the carrier's reason (shown, and as the title), or canceled. The glyphs are for the
 * eye; the words say it to everyone.
 */
export function MessageStatus({ message, timeZone, now = Date.now() }: { message: Message; timeZone: string; now?: number }) {
  const m = message;
  if (m.direction === 'inbound') {
    return (
      <span className="msg-status" data-status={m.status}>
        Received
      </span>
    );
  }
  switch (m.status) {
    case 'queued':
      if (Date.parse(m.sendAfter) > now) {
        return (
          <span className="msg-status status-scheduled" data-status="scheduled">
            Scheduled for {formatWhen(m.sendAfter, timeZone, now)}
          </span>
        );
      }
      return (
        <span className="msg-status status-sending" data-status={m.status}>
          Sending…
        </span>
      );
    case 'sending':
      return (
        <span className="msg-status status-sending" data-status={m.status}>
          Sending…
        </span>
      );
    case 'sent':
      return (
        <span className="msg-status status-sent" data-status="sent" title="Sent">
          <span className="msg-mark" aria-hidden="true">
            ✓
          </span>{' '}
          Sent
        </span>
      );
    case 'delivered':
      return (
        <span className="msg-status status-delivered" data-status="delivered" title="Delivered">
          <span className="msg-mark" aria-hidden="true">
            ✓✓
          </span>{' '}
          Delivered
        </span>
      );
    case 'undelivered':
    case 'failed': {
      const what = m.status === 'failed' ? 'Failed' : 'Not delivered';
      const reason = m.errorReason ?? (m.errorCode ? `Error ${m.errorCode}.` : '');
      return (
        <span className="msg-status status-failed" data-status={m.status} title={reason || what}>
          <span className="msg-mark" aria-hidden="true">
            ⚠
          </span>{' '}
          {what}
          {reason ? `: ${reason}` : ''}
        </span>
      );
    }
    case 'canceled':
      return (
        <span className="msg-status status-canceled" data-status="canceled" title={m.errorReason ?? 'Canceled'}>
          Canceled{m.errorReason ? `: ${m.errorReason}` : ''}
        </span>
      );
    default:
      return (
        <span className="msg-status" data-status={m.status}>
          {m.status}
        </span>
      );
  }
}
