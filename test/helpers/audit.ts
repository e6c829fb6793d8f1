import { and, asc, eq } from 'drizzle-orm';
import { auditEvents } from '../../src/server/db/schema.js';
import type { TestApp } from './app.js';

/** The audit actions recorded against one target, oldest first. */
export async function auditActions(t: TestApp, orgId: string, targetId: string): Promise<string[]> {
  const rows = await t.database.db
    .select({ action: auditEvents.action })
    .from(auditEvents)
    .where(and(eq(auditEvents.orgId, orgId), eq(auditEvents.targetId, targetId)))
    .orderBy(asc(auditEvents.id));
  return rows.map((r) => r.action);
}

export async function allAuditRows(t: TestApp) {
  return t.database.db.select().from(auditEvents).orderBy(asc(auditEvents.id));
}
