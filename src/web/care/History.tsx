/** Recent check-in calls of the signed-in member(s): who, when, how it went, how long; and the completion rate. */
import { clockDateTime } from '../time.js';
import { callLength, callLengthWords, type Checkin, type CheckinStats, myParty, STATUS_WORDS } from './careApi.js';

export interface HistoryData {
  calls: Checkin[];
  stats: CheckinStats | null;
}

export function History({ data, memberIds, error }: { data: HistoryData | null; memberIds: ReadonlySet<string>; error: string | null }) {
  return (
    <section className="care-history" aria-labelledby="care-history-title">
      <div className="care-history__head">
        <h2 id="care-history-title">Recent calls</h2>
        {data?.stats ? <Completion stats={data.stats} /> : null}
      </div>
      {error ? <p className="notice error">{error}</p> : null}
      {!data && !error ? <p className="muted">Loading…</p> : null}
      {data && data.calls.length === 0 ? <p className="muted">No calls yet.</p> : null}
      {data && data.calls.length > 0 ? (
        <ul className="care-history__list">
          {data.calls.map((c) => {
            const party = myParty(c, memberIds);
            const who = party?.other.displayName ?? `${c.caller.displayName} → ${c.callee.displayName}`;
            return (
              <li key={c.id} className="care-history__item" data-status={c.status} data-checkin={c.id}>
                <span className="care-history__who">
                  {party ? <span className="care-history__dir">{party.side === 'caller' ? 'You called ' : 'Called you: '}</span> : null}
                  {who}
                </span>
                <time className="care-history__when" dateTime={c.createdAt}>
                  {clockDateTime(c.createdAt)}
                </time>
                <span className={`care-status care-status--${c.status}`}>{STATUS_WORDS[c.status]}</span>
                {c.durationMs !== null ? (
                  <span className="care-history__length" data-duration-ms={c.durationMs}>
                    <span aria-hidden="true">{callLength(c.durationMs)}</span>
                    <span className="visually-hidden">{callLengthWords(c.durationMs)}</span>
                  </span>
                ) : null}
              </li>
            );
          })}
        </ul>
      ) : null}
    </section>
  );
}

function Completion({ stats }: { stats: CheckinStats }) {
  if (stats.completionRate === null) return null;
  const completed = stats.byStatus.completed ?? 0;
  const counted = Object.entries(stats.byStatus)
    .filter(([status]) => status === 'completed' || status === 'missed' || status === 'declined' || status === 'failed')
    .reduce((n, [, v]) => n + v, 0);
  return (
    <p className="care-history__rate" data-rate={stats.completionRate}>
      <strong>{Math.round(stats.completionRate * 100)}%</strong> completed
      {counted > 0 ? (
        <span className="muted">
          {' '}
          ({completed} of {counted})
        </span>
      ) : null}
    </p>
  );
}

/** Several memberships' stats as one (a staff caregiver in several circles). */
export function mergeStats(all: CheckinStats[]): CheckinStats | null {
  if (all.length === 0) return null;
  if (all.length === 1) return all[0]!;
  const byStatus: Record<string, number> = {};
  let total = 0;
  let durationSum = 0;
  for (const s of all) {
    total += s.total;
    for (const [k, v] of Object.entries(s.byStatus)) byStatus[k] = (byStatus[k] ?? 0) + v;
    if (s.averageDurationMs !== null) durationSum += s.averageDurationMs * (s.byStatus.completed ?? 0);
  }
  const completed = byStatus.completed ?? 0;
  const ended = (byStatus.completed ?? 0) + (byStatus.missed ?? 0) + (byStatus.declined ?? 0) + (byStatus.failed ?? 0);
  return { total, byStatus, completionRate: ended > 0 ? completed / ended : null, averageDurationMs: completed > 0 ? durationSum / completed : null };
}
