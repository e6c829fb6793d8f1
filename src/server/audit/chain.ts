import { createHash } from 'node:crypto';

/** The chain's first `prev_hash`. */
export const GENESIS_HASH = '0'.repeat(64);

/** JSON with object keys sorted at every level, so the same event always hashes the same. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value ?? null);
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** The hashed fields of an event: everything but the database id and the hashes themselves. */
export interface ChainedFields {
  chain: string;
  seq: number;
  orgId: string | null;
  at: Date;
  actorType: string;
  actorId: string | null;
  action: string;
  targetType: string | null;
  targetId: string | null;
  requestId: string | null;
  ip: string | null;
  outcome: string;
  details: Record<string, unknown> | null;
}

export function eventHash(prevHash: string, event: ChainedFields): string {
  const body = canonicalJson({
    chain: event.chain,
    seq: event.seq,
    orgId: event.orgId,
    at: event.at.toISOString(),
    actorType: event.actorType,
    actorId: event.actorId,
    action: event.action,
    targetType: event.targetType,
    targetId: event.targetId,
    requestId: event.requestId,
    ip: event.ip,
    outcome: event.outcome,
    details: event.details,
  });
  return createHash('sha256').update(prevHash).update(body).digest('hex');
}
