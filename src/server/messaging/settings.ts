/**
 * Per-organisation messaging settings: the HELP reply, quiet hours and reminder offsets, each falling back to the
 * configured default.
 */
import { eq } from 'drizzle-orm';
import type { UpdateMessagingSettingsBody } from '../../shared/api/messaging.js';
import { audit } from '../audit/service.js';
import type { Config } from '../config.js';
import type { Ctx } from '../context.js';
import { messagingSettings, organizations } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { formatHm, type QuietHours } from './quiet-hours.js';
import type { MessagingDeps } from './service.js';

export interface EffectiveSettings {
  orgName: string;
  helpText: string;
  quietHours: QuietHours | null;
  reminderOffsetsMinutes: number[];
}

export async function settingsOf(deps: Pick<MessagingDeps, 'db' | 'config'>, orgId: string): Promise<EffectiveSettings> {
  const [row] = await deps.db
    .select({ name: organizations.name, s: messagingSettings })
    .from(organizations)
    .leftJoin(messagingSettings, eq(messagingSettings.orgId, organizations.id))
    .where(eq(organizations.id, orgId))
    .limit(1);
  if (!row) throw new AppError('not_found', 'There is no such organisation.');
  return effectiveSettings(deps.config, row.name, row.s);
}

export function effectiveSettings(config: Config['messaging'], orgName: string, s: typeof messagingSettings.$inferSelect | null): EffectiveSettings {
  // '' stored for quiet hours = none for this organisation; null = the configured default.
  const quietHours =
    s && s.quietHoursStart !== null && s.quietHoursEnd !== null
      ? s.quietHoursStart === '' ? null : { start: hm(s.quietHoursStart), end: hm(s.quietHoursEnd) }
      : config.quietHours;
  return {
    orgName,
    helpText: s?.helpText ?? `${orgName}: messages about your appointments and care. For help, call the clinic. Reply STOP to opt out, START to opt back in.`,
    quietHours: quietHours && quietHours.start !== quietHours.end ? quietHours : null,
    reminderOffsetsMinutes: s?.reminderOffsetsMinutes ?? [...config.reminderOffsetsMinutes],
  };
}

function hm(v: string): number {
  const [h, m] = v.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

export async function getSettings(deps: MessagingDeps, ctx: Ctx) {
  const s = await settingsOf(deps, ctx.orgId);
  return {
    helpText: s.helpText,
    quietHours: s.quietHours ? { start: formatHm(s.quietHours.start), end: formatHm(s.quietHours.end) } : null,
    reminderOffsetsMinutes: s.reminderOffsetsMinutes,
    smsProvider: deps.sms.name,
    emailProvider: deps.email.name,
    segmentPrice: deps.config.segmentPrice,
    currency: deps.config.currency,
  };
}

export async function updateSettings(deps: MessagingDeps, ctx: Ctx, body: UpdateMessagingSettingsBody) {
  const values: Partial<typeof messagingSettings.$inferInsert> = {};
  if (body.helpText !== undefined) {
    if (body.helpText !== null && !/STOP/i.test(body.helpText)) {
      throw new AppError('validation_failed', undefined, [{ path: 'body/helpText', message: 'must tell people how to opt out (mention STOP)' }]);
    }
    values.helpText = body.helpText;
  }
  if (body.quietHours !== undefined) {
    // null = no quiet hours for this organisation ('' is stored so the configured default does not apply).
    values.quietHoursStart = body.quietHours?.start ?? '';
    values.quietHoursEnd = body.quietHours?.end ?? '';
  }
  if (body.reminderOffsetsMinutes !== undefined) {
    values.reminderOffsetsMinutes = body.reminderOffsetsMinutes === null ? null : [...new Set(body.reminderOffsetsMinutes)].sort((a, b) => b - a);
  }
  await deps.db.transaction(async (tx) => {
    await tx
      .insert(messagingSettings)
      .values({ orgId: ctx.orgId, ...values })
      .onConflictDoUpdate({ target: messagingSettings.orgId, set: { ...values, updatedAt: new Date() } });
    await audit(tx, ctx, 'message.settings_updated', { type: 'org', id: ctx.orgId }, { fields: Object.keys(body).sort().join(',') });
  });
  return getSettings(deps, ctx);
}

