import type { MessageChannel, TemplateKey } from '../db/schema.js';
import { AppError } from '../http/errors.js';

/**
 * Message templates: `{{variable}}` placeholders from a fixed list, none of which carries clinical facts. SMS and
 * email leave the clinic's control, so a template may only point the patient to the portal (a link); a template
 * naming a diagnosis, a medication or a result is refused (`template_phi`), and so is an unknown placeholder.
 */
export const TEMPLATE_VARIABLES = ['patientFirstName', 'orgName', 'clinicianName', 'appointmentDate', 'appointmentTime', 'link'] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];
export type TemplateValues = Partial<Record<TemplateVariable, string>>;

/**
 * Words that put clinical details into a text. Matched as whole words, case-insensitively; deliberately broad
 * (a false alarm costs a rewording, a leak cannot be taken back).
 */
const CLINICAL_TERMS = [
  'diagnosis', 'diagnosed', 'diagnoses', 'prescription', 'prescribed', 'medication', 'medications', 'dosage', 'dose',
  'lab result', 'lab results', 'test result', 'test results', 'results', 'biopsy', 'positive', 'negative', 'hiv', 'aids',
  'std', 'sti', 'pregnancy', 'pregnant', 'cancer', 'tumor', 'tumour', 'chemotherapy', 'oncology', 'psychiatric',
  'depression', 'anxiety', 'bipolar', 'schizophrenia', 'overdose', 'opioid', 'methadone', 'rehab', 'addiction',
  'abortion', 'hepatitis', 'diabetes', 'condition', 'symptoms', 'icd-10', 'mrn', 'date of birth', 'dob', 'ssn',
] as const;
const clinical = new RegExp(`(?<![\\p{L}\\p{N}])(${CLINICAL_TERMS.map((t) => t.replace(/\s/g, '\\s+')).join('|')})(?![\\p{L}\\p{N}])`, 'giu');
const placeholder = /\{\{\s*([^{}]*?)\s*\}\}/g;

export type TemplateProblem = { path: string; message: string };

/** Problems with a template's text, or none. */
export function checkTemplate(body: string, subject: string | null | undefined): TemplateProblem[] {
  const problems: TemplateProblem[] = [];
  for (const [field, text] of [['body', body], ['subject', subject ?? '']] as const) {
    for (const m of text.matchAll(placeholder)) {
      if (!(TEMPLATE_VARIABLES as readonly string[]).includes(m[1]!)) {
        problems.push({ path: `body/${field}`, message: `{{${m[1]}}} is not a template variable (use ${TEMPLATE_VARIABLES.map((v) => `{{${v}}}`).join(', ')})` });
      }
    }
    const terms = [...new Set([...text.replace(placeholder, ' ').matchAll(clinical)].map((m) => m[1]!.toLowerCase()))];
    if (terms.length > 0) {
      problems.push({ path: `body/${field}`, message: `names clinical details (${terms.join(', ')}); keep PHI out of messages and link to the portal instead` });
    }
  }
  return problems;
}

export function assertTemplate(body: string, subject: string | null | undefined): void {
  const problems = checkTemplate(body, subject);
  if (problems.length === 0) return;
  const phi = problems.some((p) => p.message.startsWith('names clinical'));
  throw new AppError(phi ? 'template_phi' : 'template_invalid', undefined, problems);
}

/** Clinical words in a free-text message (a warning shown before sending; staff decide). */
export function clinicalTermsIn(text: string): string[] {
  return [...new Set([...text.matchAll(clinical)].map((m) => m[1]!.toLowerCase()))];
}

export function render(text: string, values: TemplateValues): string {
  return text
    .replace(placeholder, (_, name: string) => values[name as TemplateVariable] ?? '')
    .replace(/[ \t]{2,}/g, ' ')
    .trim();
}

export interface BuiltInTemplate {
  name: string;
  purpose: Exclude<TemplateKey, 'custom'>;
  channel: MessageChannel;
  subject: string | null;
  body: string;
}

/** The templates every organisation starts with (editable; checked by the same rules). */
export const BUILT_IN_TEMPLATES: readonly BuiltInTemplate[] = [
  { name: 'Visit invite (SMS)', purpose: 'visit_invite', channel: 'sms', subject: null, body: '{{orgName}}: your video visit with {{clinicianName}} is ready. Join here: {{link}}' },
  {
    name: 'Visit invite (email)',
    purpose: 'visit_invite',
    channel: 'email',
    subject: 'Your video visit with {{orgName}}',
    body: 'Hello {{patientFirstName}},\n\nYour video visit with {{clinicianName}} is on {{appointmentDate}} at {{appointmentTime}}. Join from this link at that time:\n{{link}}\n\n{{orgName}}',
  },
  { name: 'Appointment reminder (SMS)', purpose: 'appointment_reminder', channel: 'sms', subject: null, body: '{{orgName}}: reminder of your appointment on {{appointmentDate}} at {{appointmentTime}}. {{link}}' },
  {
    name: 'Appointment reminder (email)',
    purpose: 'appointment_reminder',
    channel: 'email',
    subject: 'Reminder: your appointment with {{orgName}}',
    body: 'Hello {{patientFirstName}},\n\nThis is a reminder of your appointment on {{appointmentDate}} at {{appointmentTime}}.\n{{link}}\n\n{{orgName}}',
  },
  { name: 'Intake form (SMS)', purpose: 'intake_form', channel: 'sms', subject: null, body: '{{orgName}}: please fill in your form before your visit: {{link}}' },
  {
    name: 'Intake form (email)',
    purpose: 'intake_form',
    channel: 'email',
    subject: 'A form from {{orgName}}',
    body: 'Hello {{patientFirstName}},\n\nPlease fill in this form before your visit:\n{{link}}\n\n{{orgName}}',
  },
  { name: 'Check-in call notice (SMS)', purpose: 'checkin_notice', channel: 'sms', subject: null, body: '{{orgName}}: {{clinicianName}} is calling you now for a short video check-in. Answer: {{link}}' },
  {
    name: 'Check-in call notice (email)',
    purpose: 'checkin_notice',
    channel: 'email',
    subject: 'A video check-in call from {{orgName}}',
    body: 'Hello {{patientFirstName}},\n\n{{clinicianName}} is calling you now for a short video check-in. Answer here: {{link}}\n\n{{orgName}}',
  },
];
