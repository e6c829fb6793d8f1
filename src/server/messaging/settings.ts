/**
 * Per-organisation messaging settings: the HELP reply, quiet hours and reminder offsets, each falling back to the
 * configured default; and the organisation's own SMS number / messaging service (texts go out from it, and
 * incoming texts it receives belong to this organisation: inbound.ts inboundOrgOf).
 */
import { and, eq, ne } from 'drizzle-orm';
import type { UpdateMessagingSettingsBody } from '../../shared/api/messaging.js';
import { audit } from '../audit/service.js';
import type { Config } from '../config.js';
import type { Ctx } from '../context.js';
import { sqlState } from '../db/index.js';
import { messagingSettings, organizations } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { toE164 } from '../http/phone.js';
import { formatHm, type QuietHours } from './quiet-hours.js';
import type { MessagingDeps } from './messages.js';

export interface EffectiveSettings {
  orgName: string;
  helpText: string;
  quietHours: QuietHours | null;
  reminderOffsetsMinutes: number[];
  /** The organisation's own SMS number and messaging service (null: the configured ones). */
  smsNumber: string | null;
  messagingServiceSid: string | null;
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
    smsNumber: s?.smsNumber ?? null,
    messagingServiceSid: s?.messagingServiceSid ?? null,
  };
}

function hm(v: string): number {
  const [h, m] = v.split(':').map(Number);
  return (h ?? 0) * 60 + (m ?? 0);
}

export async function getSettings(deps: MessagingDeps, ctx: Ctx) {
  const s = await settingsOf(deps, ctx.orgId);
  // What each field is with nothing set (the console shows it as the field's placeholder).
  const d = effectiveSettings(deps.config, s.orgName, null);
  const hours = (q: QuietHours | null) => (q ? { start: formatHm(q.start), end: formatHm(q.end) } : null);
  return {
    helpText: s.helpText,
    quietHours: hours(s.quietHours),
    reminderOffsetsMinutes: s.reminderOffsetsMinutes,
    smsNumber: s.smsNumber,
    messagingServiceSid: s.messagingServiceSid,
    defaults: { helpText: d.helpText, quietHours: hours(d.quietHours), reminderOffsetsMinutes: d.reminderOffsetsMinutes },
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
  if (body.smsNumber !== undefined) {
    // The schema holds it to E.164; this refuses numbers no country has.
    values.smsNumber = body.smsNumber === null ? null : toE164(body.smsNumber, deps.defaultPhoneRegion, 'body/smsNumber');
  }
  if (body.messagingServiceSid !== undefined) {
    values.messagingServiceSid = body.messagingServiceSid === null ? null : `MG${body.messagingServiceSid.slice(2).toLowerCase()}`;
  }
  // One organisation per number and per service (they decide where incoming texts go). The refusal is the same
  // whichever organisation holds the value, and names none.
  const taken = (path: string) => new AppError('already_exists', 'That number or messaging service is already in use on this installation.', [{ path, message: 'is already in use' }]);
  try {
    await deps.db.transaction(async (tx) => {
      for (const [column, path, value] of [
        [messagingSettings.smsNumber, 'body/smsNumber', values.smsNumber],
        [messagingSettings.messagingServiceSid, 'body/messagingServiceSid', values.messagingServiceSid],
      ] as const) {
        if (!value) continue;
        const [holder] = await tx.select({ orgId: messagingSettings.orgId }).from(messagingSettings).where(and(eq(column, value), ne(messagingSettings.orgId, ctx.orgId))).limit(1);
        if (holder) throw taken(path);
      }
      await tx
        .insert(messagingSettings)
        .values({ orgId: ctx.orgId, ...values })
        .onConflictDoUpdate({ target: messagingSettings.orgId, set: { ...values, updatedAt: new Date() } });
      await audit(tx, ctx, 'message.settings_updated', { type: 'org', id: ctx.orgId }, { fields: Object.keys(body).sort().join(',') });
    });
  } catch (err) {
    // Two organisations claiming the same value at once: the unique index decides.
    if (sqlState(err) === '23505') throw taken(values.smsNumber ? 'body/smsNumber' : 'body/messagingServiceSid');
    throw err;
  }
  return getSettings(deps, ctx);
}

