/**
 * The post-visit survey. With VISIT_SURVEY_URL the organisation's own survey is linked; otherwise OpenVisit's:
 * each patient gets a signed link of their own (`PUBLIC_URL/survey#ovs_…`, over their participant id), handed to
 * them over the media connection when the host ends the visit. No account; one answer per participant, for
 * SURVEY_DAYS after the visit ended; answers show in the visit summary.
 */
import { and, asc, eq } from 'drizzle-orm';
import type { SurveyAnswer, SurveyAnswerBody, SurveyInfo } from '../../shared/api/visits.js';
import { audit } from '../audit/service.js';
import type { Config } from '../config.js';
import type { Ctx } from '../context.js';
import { sqlState, type Db } from '../db/index.js';
import { organizations, users, visitParticipants, visits, visitSurveys } from '../db/schema.js';
import { AppError } from '../http/errors.js';
import type { ClientInfo } from './access.js';
import type { VisitDeps, VisitRow } from './service.js';

/** How long after the visit its survey can be answered. */
export const SURVEY_DAYS = 30;

/**
 * The organisation's post-visit survey link, once the visit has ended and when one is configured. Here, not in
 * service.ts, which uses it and surveyLinkFor: service.ts importing this module and this one it would be a cycle.
 */
export function surveyUrlOf(v: VisitRow, config: Config['visits']): string | null {
  if (v.status !== 'ended' || !config.surveyUrl) return null;
  return config.surveyUrl.replaceAll('{visitId}', encodeURIComponent(v.id));
}

/** The survey link for one participant of an ended visit: the organisation's survey, or OpenVisit's own. */
export function surveyLinkFor(deps: VisitDeps, visit: VisitRow, participantId: string): string {
  return surveyUrlOf(visit, deps.config) ?? `${deps.publicUrl}/survey#${deps.surveys.sign(participantId)}`;
}

async function surveyTarget(deps: VisitDeps, token: string) {
  const participantId = deps.surveys.verify(token);
  if (!participantId) throw new AppError('link_invalid', 'This survey link is not valid.');
  const [found] = await deps.db
    .select({ visit: visits, participant: visitParticipants, hostName: users.name, clinic: { name: organizations.name, logoUrl: organizations.logoUrl } })
    .from(visitParticipants)
    .innerJoin(visits, and(eq(visits.orgId, visitParticipants.orgId), eq(visits.id, visitParticipants.visitId)))
    .innerJoin(organizations, eq(organizations.id, visits.orgId))
    .innerJoin(users, and(eq(users.orgId, visits.orgId), eq(users.id, visits.hostUserId)))
    .where(eq(visitParticipants.id, participantId))
    .limit(1);
  if (!found || found.visit.status !== 'ended' || !found.visit.endedAt) throw new AppError('link_invalid', 'This survey link is not valid.');
  if (Date.now() - found.visit.endedAt.getTime() > SURVEY_DAYS * 86_400_000) throw new AppError('link_expired', 'This survey has closed. Thank you all the same.');
  return found;
}

async function answered(db: Db, participantId: string): Promise<boolean> {
  const [row] = await db.select({ id: visitSurveys.id }).from(visitSurveys).where(eq(visitSurveys.participantId, participantId)).limit(1);
  return row !== undefined;
}

/** What the survey page shows: whose visit it was, when, and whether it is answered already. */
export async function openSurvey(deps: VisitDeps, token: string): Promise<SurveyInfo> {
  const { visit, participant, hostName, clinic } = await surveyTarget(deps, token);
  return { visitId: visit.id, clinic, clinicianName: hostName, endedAt: visit.endedAt!.toISOString(), displayName: participant.displayName, answered: await answered(deps.db, participant.id) };
}

export async function answerSurvey(deps: VisitDeps, body: SurveyAnswerBody, client: ClientInfo): Promise<SurveyAnswer> {
  const { visit, participant } = await surveyTarget(deps, body.token);
  const ctx: Ctx = {
    orgId: visit.orgId,
    actor: { type: 'participant', id: participant.id },
    principal: { kind: 'participant', orgId: visit.orgId, visitId: visit.id, participantId: participant.id, sessionId: '' },
    requestId: null,
    ip: client.ip,
  };
  const comment = body.comment?.trim() || null;
  try {
    const row = await deps.db.transaction(async (tx) => {
      const [inserted] = await tx.insert(visitSurveys).values({ orgId: visit.orgId, visitId: visit.id, participantId: participant.id, rating: body.rating, comment }).returning();
      await audit(tx, ctx, 'visit.survey_answered', { type: 'visit', id: visit.id }, { participantId: participant.id, rating: body.rating });
      return inserted!;
    });
    return toAnswerDto(row, participant.displayName);
  } catch (err) {
    if (sqlState(err) === '23505') throw new AppError('already_exists', 'This survey was answered already. Thank you!');
    throw err;
  }
}

function toAnswerDto(row: typeof visitSurveys.$inferSelect, displayName: string): SurveyAnswer {
  return { participantId: row.participantId, displayName, rating: row.rating, comment: row.comment, createdAt: row.createdAt.toISOString() };
}

/** The visit's answers, for its summary. */
export async function surveyAnswers(db: Db, orgId: string, visitId: string): Promise<SurveyAnswer[]> {
  const rows = await db
    .select({ answer: visitSurveys, displayName: visitParticipants.displayName })
    .from(visitSurveys)
    .innerJoin(visitParticipants, and(eq(visitParticipants.orgId, visitSurveys.orgId), eq(visitParticipants.id, visitSurveys.participantId)))
    .where(and(eq(visitSurveys.orgId, orgId), eq(visitSurveys.visitId, visitId)))
    .orderBy(asc(visitSurveys.createdAt));
  return rows.map((r) => toAnswerDto(r.answer, r.displayName));
}
