/**
 * The one error catalogue. Every error OpenVisit answers carries one of these codes; codes are stable
 * (clients branch on them), messages are for people and may be reworded.
 *
 * Body shape: { "error": { "code", "message", "requestId", "details"? } }
 */
export const ERRORS = {
  bad_request: { status: 400, message: 'The request is not valid.' },
  validation_failed: { status: 400, message: 'Some fields are missing or invalid.' },
  invalid_json: { status: 400, message: 'The request body is not valid JSON.' },
  invalid_cursor: { status: 400, message: 'The pagination cursor is not valid.' },
  invalid_phone_number: { status: 400, message: 'The phone number is not a usable phone number.' },
  invalid_time_zone: { status: 400, message: 'The time zone is not a known IANA time zone.' },
  invalid_webhook_url: { status: 400, message: 'The webhook URL must be an absolute http or https URL.' },
  unauthenticated: { status: 401, message: 'Sign in or send a valid API key.' },
  invalid_credentials: { status: 401, message: 'The email or password is incorrect.' },
  forbidden: { status: 403, message: 'You do not have permission to do this.' },
  origin_not_allowed: { status: 403, message: 'This origin is not allowed.' },
  not_found: { status: 404, message: 'Not found.' },
  route_not_found: { status: 404, message: 'There is no such route.' },
  conflict: { status: 409, message: 'The request conflicts with the current state.' },
  already_exists: { status: 409, message: 'A record with the same unique value already exists.' },
  invalid_state: { status: 409, message: 'This is not possible in the current state.' },
  link_invalid: { status: 404, message: 'This visit link is not valid. Check that you used the whole link, or ask the clinic for a new one.' },
  link_expired: { status: 410, message: 'This visit link has expired. Ask the clinic for a new one.' },
  link_revoked: { status: 410, message: 'This visit link is no longer valid. Ask the clinic for a new one.' },
  outside_join_window: { status: 403, message: 'The visit is not open for joining now.' },
  consent_required: { status: 403, message: 'Accept the telehealth consent before joining.' },
  not_admitted: { status: 403, message: 'The clinician has not let you in.' },
  visit_locked: { status: 403, message: 'The visit is locked: nobody else can join.' },
  visit_full: { status: 409, message: 'The group is full: it admits no more participants. Raise its limit or remove someone first.' },
  display_name_not_allowed: { status: 403, message: 'The clinic does not let participants choose their own name in a group.' },
  no_phone_number: { status: 409, message: 'The patient has no usable mobile phone number. Add one to their record first.' },
  no_email_address: { status: 409, message: 'The patient has no email address. Add one to their record first.' },
  sms_consent_required: { status: 409, message: 'The patient has not agreed to receive text messages. Record their SMS consent first.' },
  recipient_opted_out: { status: 409, message: 'The patient has opted out of these messages (they replied STOP). They can reply START to opt back in.' },
  template_invalid: { status: 400, message: 'The template is not valid.' },
  template_phi: { status: 400, message: 'The template puts clinical details into a message. Keep PHI out of SMS and email: link to the portal instead.' },
  signature_invalid: { status: 403, message: 'The request signature is not valid.' },
  outbox_disabled: { status: 409, message: 'The outbox is not the messaging provider here: messages go to a real provider.' },
  intake_link_invalid: { status: 404, message: 'This form link is not valid. Ask the clinic for a new one.' },
  intake_link_expired: { status: 410, message: 'This form link has expired. Ask the clinic for a new one.' },
  intake_already_submitted: { status: 409, message: 'This form has already been submitted. Thank you.' },
  care_link_invalid: { status: 404, message: 'This check-in link is not valid. Ask for a new one.' },
  care_link_expired: { status: 410, message: 'This check-in link has expired. Ask for a new one.' },
  care_permission: { status: 403, message: 'This member of the care circle may not do this (start or receive calls).' },
  checkin_not_party: { status: 403, message: 'Only the two people in this check-in call can join it.' },
  checkin_over: { status: 410, message: 'This check-in call is over.' },
  recording_consent_missing: { status: 409, message: 'Someone in the visit has not agreed to be recorded.' },
  request_timeout: { status: 408, message: 'The request was not received in time.' },
  payload_too_large: { status: 413, message: 'The request body is too large.' },
  unsupported_media_type: { status: 415, message: 'Send the body as application/json.' },
  upgrade_required: { status: 426, message: 'This endpoint speaks WebSocket: open it with a WebSocket client.' },
  rate_limited: { status: 429, message: 'Too many requests. Try again later.' },
  headers_too_large: { status: 431, message: 'The request headers are too large.' },
  provider_error: { status: 502, message: 'The media provider did not answer as expected. Try again.' },
  internal_error: { status: 500, message: 'Something went wrong on our side. Quote the request id to support.' },
  // The media provider this server runs lacks what the request needs (details: capability, provider); another
  // provider, or a later version of this one, may offer it. Not retryable.
  capability_unavailable: { status: 501, message: 'The media provider in use does not offer this.' },
  not_ready: { status: 503, message: 'The service is not ready.' },
  // The media provider could not be reached, or refused this server's credentials (details.reason): retry later, or
  // fix the provider's settings. The seeds' apps answered this as "Video service not configured".
  media_unavailable: { status: 503, message: 'The video service is not available right now. Try again shortly.' },
} as const satisfies Record<string, { status: number; message: string }>;

export type ErrorCode = keyof typeof ERRORS;

export interface ErrorDetail {
  /** JSON pointer-ish path of the offending field, e.g. "/phone" or "querystring/limit". */
  path?: string;
  message: string;
  [key: string]: unknown;
}

export interface ErrorBody {
  error: {
    code: ErrorCode;
    message: string;
    requestId: string;
    details?: ErrorDetail[] | Record<string, unknown>;
  };
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERRORS, value);
}
