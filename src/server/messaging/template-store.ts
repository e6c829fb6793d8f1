/**
 * The organisation's message templates (the text rules are in templates.ts): the built-in ones created on first
 * use, one default per purpose and channel, and their CRUD (audited).
 */
import { randomUUID } from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import type { CreateTemplateBody, UpdateTemplateBody } from '../../shared/api/messaging.js';
import { audit } from '../audit/service.js';
import type { Ctx } from '../context.js';
import { sqlState, type Db } from '../db/index.js';
import { messageTemplates, type MessageChannel } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import { segmentsOf } from './segments.js';
import type { MessagingDeps } from './messages.js';
import { assertTemplate, BUILT_IN_TEMPLATES } from './templates.js';

export type TemplateRow = typeof messageTemplates.$inferSelect;

export async function templateRow(db: Db, orgId: string, id: string): Promise<TemplateRow> {
  const [row] = await db.select().from(messageTemplates).where(and(eq(messageTemplates.orgId, orgId), eq(messageTemplates.id, id))).limit(1);
  if (!row) throw new AppError('not_found', 'There is no such template.');
  return row;
}

/** The organisation's default template for a purpose and channel (the built-in ones are created on first use). */
export async function defaultTemplate(db: Db, orgId: string, purpose: Exclude<TemplateRow['purpose'], 'custom'>, channel: MessageChannel): Promise<TemplateRow> {
  await ensureBuiltInTemplates(db, orgId);
  const [row] = await db
    .select()
    .from(messageTemplates)
    .where(and(eq(messageTemplates.orgId, orgId), eq(messageTemplates.purpose, purpose), eq(messageTemplates.channel, channel), eq(messageTemplates.isDefault, true)))
    .limit(1);
  if (row) return row;
  // The organisation unset every default for this purpose: the built-in text still applies.
  const builtIn = BUILT_IN_TEMPLATES.find((t) => t.purpose === purpose && t.channel === channel)!;
  return { ...builtIn, id: randomUUID(), orgId, isDefault: true, createdAt: new Date(0), updatedAt: new Date(0) };
}

async function ensureBuiltInTemplates(db: Db, orgId: string): Promise<void> {
  const [any] = await db.select({ id: messageTemplates.id }).from(messageTemplates).where(eq(messageTemplates.orgId, orgId)).limit(1);
  if (any) return;
  await db
    .insert(messageTemplates)
    .values(BUILT_IN_TEMPLATES.map((t) => ({ orgId, name: t.name, purpose: t.purpose, channel: t.channel, subject: t.subject, body: t.body, isDefault: true })))
    .onConflictDoNothing();
}

function toTemplateDto(row: TemplateRow) {
  const seg = segmentsOf(row.body);
  return {
    id: row.id,
    name: row.name,
    purpose: row.purpose,
    channel: row.channel,
    subject: row.subject,
    body: row.body,
    isDefault: row.isDefault,
    segments: row.channel === 'sms' ? seg.segments : 1,
    encoding: row.channel === 'sms' ? seg.encoding : 'email',
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

export async function listTemplates(deps: MessagingDeps, ctx: Ctx) {
  await ensureBuiltInTemplates(deps.db, ctx.orgId);
  const rows = await deps.db.select().from(messageTemplates).where(eq(messageTemplates.orgId, ctx.orgId)).orderBy(asc(messageTemplates.purpose), asc(messageTemplates.channel), asc(messageTemplates.name));
  return rows.map(toTemplateDto);
}

export async function getTemplate(deps: MessagingDeps, ctx: Ctx, id: string) {
  return toTemplateDto(await templateRow(deps.db, ctx.orgId, id));
}

function templateConflict(err: unknown): never {
  if (sqlState(err) === '23505') throw new AppError('already_exists', 'Another template has this name.', [{ path: 'body/name', message: 'is already in use' }]);
  throw err;
}

export async function createTemplate(deps: MessagingDeps, ctx: Ctx, body: CreateTemplateBody) {
  if (body.channel === 'sms' && body.subject) throw new AppError('validation_failed', undefined, [{ path: 'body/subject', message: 'SMS templates have no subject' }]);
  assertTemplate(body.body, body.subject);
  await ensureBuiltInTemplates(deps.db, ctx.orgId);
  const row = await deps.db
    .transaction(async (tx) => {
      const isDefault = body.isDefault === true && body.purpose !== 'custom';
      if (isDefault) await clearDefault(tx, ctx.orgId, body.purpose, body.channel);
      const [inserted] = await tx
        .insert(messageTemplates)
        .values({ orgId: ctx.orgId, name: body.name.trim(), purpose: body.purpose, channel: body.channel, subject: body.subject ?? null, body: body.body, isDefault })
        .returning();
      await audit(tx, ctx, 'message.template_created', { type: 'template', id: inserted!.id }, { purpose: body.purpose, channel: body.channel, isDefault });
      return inserted!;
    })
    .catch(templateConflict);
  return toTemplateDto(row);
}

async function clearDefault(tx: Db, orgId: string, purpose: TemplateRow['purpose'], channel: MessageChannel) {
  await tx
    .update(messageTemplates)
    .set({ isDefault: false })
    .where(and(eq(messageTemplates.orgId, orgId), eq(messageTemplates.purpose, purpose), eq(messageTemplates.channel, channel), eq(messageTemplates.isDefault, true)));
}

export async function updateTemplate(deps: MessagingDeps, ctx: Ctx, id: string, body: UpdateTemplateBody) {
  const current = await templateRow(deps.db, ctx.orgId, id);
  const next = { body: body.body ?? current.body, subject: body.subject !== undefined ? body.subject : current.subject };
  if (current.channel === 'sms' && next.subject) throw new AppError('validation_failed', undefined, [{ path: 'body/subject', message: 'SMS templates have no subject' }]);
  assertTemplate(next.body, next.subject);
  const row = await deps.db
    .transaction(async (tx) => {
      if (body.isDefault === true && current.purpose !== 'custom') await clearDefault(tx, ctx.orgId, current.purpose, current.channel);
      const [updated] = await tx
        .update(messageTemplates)
        .set({
          ...(body.name !== undefined ? { name: body.name.trim() } : {}),
          body: next.body,
          subject: next.subject,
          ...(body.isDefault !== undefined ? { isDefault: body.isDefault && current.purpose !== 'custom' } : {}),
          updatedAt: new Date(),
        })
        .where(and(eq(messageTemplates.orgId, ctx.orgId), eq(messageTemplates.id, id)))
        .returning();
      await audit(tx, ctx, 'message.template_updated', { type: 'template', id }, { fields: Object.keys(body).sort().join(',') });
      return updated!;
    })
    .catch(templateConflict);
  return toTemplateDto(row);
}

export async function deleteTemplate(deps: MessagingDeps, ctx: Ctx, id: string): Promise<void> {
  const current = await templateRow(deps.db, ctx.orgId, id);
  if (current.isDefault) throw new AppError('invalid_state', 'This is the default template for its purpose: make another one the default first.');
  await deps.db.transaction(async (tx) => {
    await tx.delete(messageTemplates).where(and(eq(messageTemplates.orgId, ctx.orgId), eq(messageTemplates.id, id)));
    await audit(tx, ctx, 'message.template_deleted', { type: 'template', id });
  });
}
