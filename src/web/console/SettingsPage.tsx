/**
 * Settings (admins): the clinic (name, time zone, logo with a live preview: PATCH /organization), group sessions (how
 * clients see each other's names, whether they may choose their own, the default size limit: PATCH /organization) and messaging
 * (HELP text, quiet hours, reminder offsets, the organisation's own SMS number and Messaging Service:
 * PATCH /messaging/settings). Only changed fields are sent; an emptied field is sent as null (the default again).
 * The API's validation errors are shown next to their fields.
 */
import { useEffect, useId, useMemo, useState, type FormEvent, type ReactNode } from 'react';
import type { Organization } from '../../shared/api/staff.js';
import { ApiError } from '../api.js';
import { staffApi, useAuth } from './auth.js';
import { errorText } from './format.js';
import { useStaffResource } from './hooks.js';
import type { MessagingSettings } from './messaging.js';
import { ErrorNotice, FormActions, LoadState, Section } from './ui.js';

export function SettingsPage() {
  const { me } = useAuth();
  useEffect(() => {
    document.title = 'Settings · OpenVisit';
    return () => {
      document.title = 'OpenVisit';
    };
  }, []);
  if (me.user.role !== 'admin') {
    return (
      <div className="card stack">
        <h1>Settings</h1>
        <p className="notice warn" role="status">
          Only administrators can change the clinic’s settings. Ask an administrator of {me.organization.name} if something here needs to change.
        </p>
      </div>
    );
  }
  return (
    <div className="stack settings">
      <h1>Settings</h1>
      <ClinicSettings />
      <GroupSettings />
      <MessagingSection />
    </div>
  );
}

type FieldErrors = Record<string, string>;

const PATTERN_TEXT: Record<string, string> = {
  smsNumber: 'SMS number must start with + and the country code, digits only (e.g. +15555550142).',
  messagingServiceSid: 'Messaging Service SID must be MG followed by 32 hexadecimal characters.',
  quietHours: 'Quiet hours take times as HH:MM.',
};

/** The API's `details` as field → message (the last part of `body/smsNumber`), for the fields this form has. */
function fieldErrorsOf(err: unknown, fields: readonly string[], labels: Record<string, string>): FieldErrors {
  const out: FieldErrors = {};
  if (!(err instanceof ApiError) || !Array.isArray(err.details)) return out;
  for (const d of err.details as { path?: string; message?: string }[]) {
    const field = d.path?.split('/').filter((part) => part !== '' && part !== 'body')[0];
    if (!field || !fields.includes(field) || out[field]) continue;
    // The schema's pattern says what the field takes, in words, rather than as a regular expression.
    out[field] = d.message?.startsWith('must match pattern') && PATTERN_TEXT[field] ? PATTERN_TEXT[field] : `${labels[field] ?? field} ${d.message ?? 'is not valid'}.`;
  }
  // A number no country has is its own error code.
  if (err.code === 'invalid_phone_number' && fields.includes('smsNumber') && !out.smsNumber) out.smsNumber = err.message;
  return out;
}

/** A labelled input with its hint and its error (aria-describedby both). */
function Field({ label, hint, error, children }: { label: string; hint?: ReactNode; error?: string | undefined; children: (props: { id: string; 'aria-invalid'?: true; 'aria-describedby'?: string }) => ReactNode }) {
  const id = useId();
  const describedBy = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean).join(' ');
  return (
    <div className="settings-field">
      <label htmlFor={id}>{label}</label>
      {children({ id, ...(error ? { 'aria-invalid': true as const } : {}), ...(describedBy ? { 'aria-describedby': describedBy } : {}) })}
      {hint ? (
        <p id={`${id}-hint`} className="muted field-hint">
          {hint}
        </p>
      ) : null}
      {error ? (
        <p id={`${id}-error`} className="field-error">
          {error}
        </p>
      ) : null}
    </div>
  );
}

/** The IANA zones the browser knows, with `current` in it even when the browser does not list it (e.g. UTC). */
/** A settings form's foot: its error, what was saved, and the save button. */
function SaveFooter({ error, saved, busy, label }: { error: string; saved: string; busy: boolean; label: string }) {
  return (
    <>
      <ErrorNotice error={error} />
      {saved ? (
        <p className="notice" role="status">
          {saved}
        </p>
      ) : null}
      <FormActions busy={busy} label={label} busyLabel="Saving…" />
    </>
  );
}

function timeZones(current: string): string[] {
  let zones: string[] = [];
  try {
    zones = Intl.supportedValuesOf('timeZone');
  } catch {
    zones = [];
  }
  const all = new Set([...zones, 'UTC', current]);
  return [...all].sort();
}

/**
 * A form over the organisation (GET / PATCH /organization): its field errors, its message, its busy state, and
 * `save(body)`, which says "Nothing changed." for an empty body, else PATCHes, keeps the answer and says
 * "<What> saved." (or maps the API's field errors onto the form). Each form builds its own body and checks its own
 * fields first.
 */
function useOrganizationForm(labels: Record<string, string>, what: string) {
  const org = useStaffResource<Organization>('/organization');
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState('');
  const [saved, setSaved] = useState('');
  const [busy, setBusy] = useState(false);
  const loading = (title: string) => (
    <Section title={title}>
      <LoadState loading={`Loading the ${what.toLowerCase()}…`} error={org.error} onRetry={org.retryable ? () => org.reload() : undefined} />
    </Section>
  );
  /** Starts a submit: the last outcome goes. */
  const begin = () => {
    setSaved('');
    setError('');
  };
  const save = async (body: Record<string, unknown>): Promise<boolean> => {
    setErrors({});
    if (Object.keys(body).length === 0) {
      setSaved('Nothing changed.');
      return false;
    }
    setBusy(true);
    try {
      org.setData(await staffApi<Organization>('PATCH', '/organization', body));
      setSaved(`${what} saved.`);
      return true;
    } catch (err) {
      const byField = fieldErrorsOf(err, Object.keys(labels), labels);
      setErrors(byField);
      setError(Object.keys(byField).length > 0 ? `The ${what.toLowerCase()} were not saved: please correct the highlighted fields.` : errorText(err));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { org, errors, setErrors, error, saved, busy, loading, begin, save };
}

const GROUP_LABEL: Record<string, string> = { groupNamePolicy: 'Names in groups', groupSelfNames: 'Own names', groupMaxParticipants: 'Largest group' };

const NAME_POLICIES: { value: Organization['groupNamePolicy']; label: string }[] = [
  { value: 'first_initial', label: 'First name and initial (Maria G.)' },
  { value: 'first', label: 'First name (Maria)' },
  { value: 'full', label: 'Full name (Maria Garcia)' },
  { value: 'participant_n', label: 'A number (Participant 3)' },
];

/** Group sessions: how clients see each other (staff always see full names), own names, the default limit. */
function GroupSettings() {
  const form = useOrganizationForm(GROUP_LABEL, 'Group settings');
  const { org, errors, error, saved, busy } = form;
  const [policy, setPolicy] = useState<Organization['groupNamePolicy']>('first_initial');
  const [selfNames, setSelfNames] = useState(false);
  const [limit, setLimit] = useState('');

  useEffect(() => {
    if (!org.data) return;
    setPolicy(org.data.groupNamePolicy);
    setSelfNames(org.data.groupSelfNames);
    setLimit(String(org.data.groupMaxParticipants));
  }, [org.data]);

  if (!org.data) return form.loading('Group sessions');
  const current = org.data;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    form.begin();
    const body: Record<string, string | number | boolean> = {};
    if (policy !== current.groupNamePolicy) body.groupNamePolicy = policy;
    if (selfNames !== current.groupSelfNames) body.groupSelfNames = selfNames;
    const size = Number(limit.trim());
    if (!/^\d+$/.test(limit.trim()) || size < 2 || size > 50) {
      form.setErrors({ groupMaxParticipants: 'Largest group takes a whole number from 2 to 50.' });
      return;
    }
    if (size !== current.groupMaxParticipants) body.groupMaxParticipants = size;
    await form.save(body);
  };

  return (
    <Section title="Group sessions">
      <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
        <div className="form-grid">
          <Field label="Names in groups" error={errors.groupNamePolicy} hint="How patients in a group see each other. Clinicians always see full names.">
            {(p) => (
              <select {...p} value={policy} onChange={(e) => setPolicy(e.target.value as Organization['groupNamePolicy'])}>
                {NAME_POLICIES.map((o) => (
                  <option key={o.value} value={o.value}>
                    {o.label}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Largest group" error={errors.groupMaxParticipants} hint="Patients and guests a group admits at once, unless a session sets its own (2 to 50).">
            {(p) => <input {...p} type="number" min={2} max={50} step={1} inputMode="numeric" value={limit} onChange={(e) => setLimit(e.target.value)} />}
          </Field>
        </div>
        <div className="settings-field">
          <label className="checkbox">
            <input type="checkbox" checked={selfNames} {...(errors.groupSelfNames ? { 'aria-invalid': true } : {})} onChange={(e) => setSelfNames(e.target.checked)} /> Let patients choose the name
            others in the group see
          </label>
          {errors.groupSelfNames ? <p className="field-error">{errors.groupSelfNames}</p> : null}
        </div>
        <SaveFooter error={error} saved={saved} busy={busy} label="Save group settings" />
      </form>
    </Section>
  );
}

const CLINIC_LABEL: Record<string, string> = { name: 'Clinic name', timeZone: 'Time zone', logoUrl: 'Logo URL' };

function ClinicSettings() {
  const { recheck } = useAuth();
  const form = useOrganizationForm(CLINIC_LABEL, 'Clinic settings');
  const { org, errors, error, saved, busy } = form;
  const [name, setName] = useState('');
  const [timeZone, setTimeZone] = useState('');
  const [logoUrl, setLogoUrl] = useState('');
  const [previewFailed, setPreviewFailed] = useState(false);

  useEffect(() => {
    if (!org.data) return;
    setName(org.data.name);
    setTimeZone(org.data.timeZone);
    setLogoUrl(org.data.logoUrl ?? '');
  }, [org.data]);
  useEffect(() => setPreviewFailed(false), [logoUrl]);
  const zones = useMemo(() => timeZones(org.data?.timeZone ?? 'UTC'), [org.data?.timeZone]);

  if (!org.data) return form.loading('Clinic');
  const current = org.data;

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    form.begin();
    const body: Record<string, string | null> = {};
    if (name.trim() !== current.name) body.name = name.trim();
    if (timeZone !== current.timeZone) body.timeZone = timeZone;
    const logo = logoUrl.trim();
    if (logo !== (current.logoUrl ?? '')) body.logoUrl = logo === '' ? null : logo;
    if (name.trim() === '') {
      form.setErrors({ name: 'Enter the clinic’s name.' });
      return;
    }
    // The header shows the clinic's name from the session's answer.
    if (await form.save(body)) recheck();
  };

  const preview = logoUrl.trim();
  return (
    <Section title="Clinic">
      <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
        <div className="form-grid">
          <Field label="Clinic name" error={errors.name} hint="Shown to patients on their join pages and in texts.">
            {(p) => <input {...p} value={name} maxLength={200} autoComplete="organization" onChange={(e) => setName(e.target.value)} />}
          </Field>
          <Field label="Time zone" error={errors.timeZone} hint="The clinic’s day, visit times and quiet hours are in this zone.">
            {(p) => (
              <select {...p} value={timeZone} onChange={(e) => setTimeZone(e.target.value)}>
                {zones.map((z) => (
                  <option key={z} value={z}>
                    {z.replace(/_/g, ' ')}
                  </option>
                ))}
              </select>
            )}
          </Field>
        </div>
        <div className="settings-logo">
          <Field
            label="Logo URL"
            error={errors.logoUrl}
            hint="An https address or a data: URL of a PNG, JPEG, SVG or WebP image (up to 100 KB). Leave empty for no logo."
          >
            {(p) => <input {...p} value={logoUrl} inputMode="url" spellCheck={false} placeholder="https://…" onChange={(e) => setLogoUrl(e.target.value)} />}
          </Field>
          <div className="settings-logo-preview" aria-live="polite">
            <span className="muted">Preview</span>
            {preview && !previewFailed ? (
              <img src={preview} alt="Logo preview" className="clinic-logo" onError={() => setPreviewFailed(true)} />
            ) : (
              <p className="muted">{preview ? 'The image could not be shown.' : 'No logo.'}</p>
            )}
          </div>
        </div>
        <SaveFooter error={error} saved={saved} busy={busy} label="Save clinic settings" />
      </form>
    </Section>
  );
}

const MESSAGING_LABEL: Record<string, string> = {
  helpText: 'HELP reply',
  quietHours: 'Quiet hours',
  reminderOffsetsMinutes: 'Reminder times',
  smsNumber: 'SMS number',
  messagingServiceSid: 'Messaging Service SID',
};

interface MessagingForm {
  helpText: string;
  quietStart: string;
  quietEnd: string;
  offsets: string;
  smsNumber: string;
  messagingServiceSid: string;
}

/** The form for `s`: a field still at its default is empty (the default is its placeholder). */
function formOf(s: MessagingSettings): MessagingForm {
  const offsets = s.reminderOffsetsMinutes.join(', ');
  return {
    helpText: s.helpText === s.defaults.helpText ? '' : s.helpText,
    quietStart: s.quietHours?.start ?? '',
    quietEnd: s.quietHours?.end ?? '',
    offsets: offsets === s.defaults.reminderOffsetsMinutes.join(', ') ? '' : offsets,
    smsNumber: s.smsNumber ?? '',
    messagingServiceSid: s.messagingServiceSid ?? '',
  };
}

function MessagingSection() {
  const settings = useStaffResource<MessagingSettings>('/messaging/settings');
  const [form, setForm] = useState<MessagingForm | null>(null);
  const [errors, setErrors] = useState<FieldErrors>({});
  const [error, setError] = useState('');
  const [saved, setSaved] = useState('');
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (settings.data) setForm(formOf(settings.data));
  }, [settings.data]);

  if (!settings.data || !form) {
    return (
      <Section title="Messaging">
        <LoadState loading="Loading the messaging settings…" error={settings.error} onRetry={settings.retryable ? () => settings.reload() : undefined} />
      </Section>
    );
  }
  const initial = formOf(settings.data);
  const { defaults } = settings.data;
  const set = (key: keyof MessagingForm) => (e: { target: { value: string } }) => setForm((f) => (f ? { ...f, [key]: e.target.value } : f));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSaved('');
    setError('');
    const local: FieldErrors = {};
    const body: Record<string, unknown> = {};
    if (form.helpText.trim() !== initial.helpText) body.helpText = form.helpText.trim() === '' ? null : form.helpText.trim();
    if (form.quietStart !== initial.quietStart || form.quietEnd !== initial.quietEnd) {
      if (!form.quietStart && !form.quietEnd) body.quietHours = null;
      else if (!form.quietStart || !form.quietEnd) local.quietHours = 'Quiet hours need a start and an end (or neither, for none).';
      else body.quietHours = { start: form.quietStart, end: form.quietEnd };
    }
    if (form.offsets.trim() !== initial.offsets) {
      const parts = form.offsets.split(/[\s,]+/).filter(Boolean);
      if (parts.length === 0) body.reminderOffsetsMinutes = null;
      else if (parts.some((p) => !/^\d+$/.test(p))) local.reminderOffsetsMinutes = 'Reminder times are whole numbers of minutes, separated by commas.';
      else body.reminderOffsetsMinutes = parts.map(Number);
    }
    if (form.smsNumber.trim() !== initial.smsNumber) body.smsNumber = form.smsNumber.trim() === '' ? null : form.smsNumber.trim();
    if (form.messagingServiceSid.trim() !== initial.messagingServiceSid) body.messagingServiceSid = form.messagingServiceSid.trim() === '' ? null : form.messagingServiceSid.trim();
    setErrors(local);
    if (Object.keys(local).length > 0) {
      setError('The messaging settings were not saved: please correct the highlighted fields.');
      return;
    }
    if (Object.keys(body).length === 0) {
      setSaved('Nothing changed.');
      return;
    }
    setBusy(true);
    try {
      await staffApi('PATCH', '/messaging/settings', body);
      // The answer is the settings as they now apply (a null field reads as its default).
      await settings.reload();
      setSaved('Messaging settings saved.');
    } catch (err) {
      const byField = fieldErrorsOf(err, Object.keys(MESSAGING_LABEL), MESSAGING_LABEL);
      if (err instanceof ApiError && err.code === 'already_exists') {
        for (const k of Object.keys(byField)) byField[k] = err.message;
      }
      setErrors(byField);
      setError(Object.keys(byField).length > 0 ? 'The messaging settings were not saved: please correct the highlighted fields.' : errorText(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Section title="Messaging">
      <p className="muted">
        Texts go out through {settings.data.smsProvider}, email through {settings.data.emailProvider}. Empty a field and save to go back to the installation’s default.
      </p>
      <form className="stack" onSubmit={(e) => void submit(e)} noValidate>
        <Field label="HELP reply" error={errors.helpText} hint="Sent when a patient texts HELP. It must mention STOP. Empty: the default shown.">
          {(p) => <textarea {...p} rows={3} maxLength={320} value={form.helpText} placeholder={defaults.helpText} onChange={set('helpText')} />}
        </Field>
        <fieldset className="settings-fieldset">
          <legend>Quiet hours</legend>
          <p className="muted field-hint">
            Non-urgent texts wait until the end of quiet hours (in the clinic’s time zone). Empty both for none.
            {defaults.quietHours ? ` The installation’s default is ${defaults.quietHours.start}–${defaults.quietHours.end}.` : ''}
          </p>
          <div className="form-grid">
            <Field label="From" error={undefined}>
              {(p) => <input {...p} type="time" value={form.quietStart} onChange={set('quietStart')} />}
            </Field>
            <Field label="Until" error={undefined}>
              {(p) => <input {...p} type="time" value={form.quietEnd} onChange={set('quietEnd')} />}
            </Field>
          </div>
          {errors.quietHours ? <p className="field-error">{errors.quietHours}</p> : null}
        </fieldset>
        <Field label="Reminder times (minutes before)" error={errors.reminderOffsetsMinutes} hint="Up to 5, separated by commas (1440 is a day before). Empty: the default shown.">
          {(p) => <input {...p} inputMode="numeric" value={form.offsets} placeholder={defaults.reminderOffsetsMinutes.join(', ')} onChange={set('offsets')} />}
        </Field>
        <div className="form-grid">
          <Field label="SMS number" error={errors.smsNumber} hint="This clinic’s own Twilio number, with + and the country code. Empty: the installation’s number.">
            {(p) => <input {...p} type="tel" autoComplete="off" value={form.smsNumber} placeholder="Default: TWILIO_FROM_NUMBER" onChange={set('smsNumber')} />}
          </Field>
          <Field label="Messaging Service SID" error={errors.messagingServiceSid} hint="MG and 32 hex characters. Empty: the installation’s service.">
            {(p) => <input {...p} autoComplete="off" spellCheck={false} value={form.messagingServiceSid} placeholder="Default: TWILIO_MESSAGING_SERVICE_SID" onChange={set('messagingServiceSid')} />}
          </Field>
        </div>
        <SaveFooter error={error} saved={saved} busy={busy} label="Save messaging settings" />
      </form>
    </Section>
  );
}
