/**
 * Twilio's error codes, the ones a clinic meets, said for people. The Twilio provider (send errors) and its webhook
 * receiver (status callbacks) use them; so does the outbox, which plays a carrier with the same codes so that the
 * Outbox page shows what a real failure would look like.
 */
const REASONS: Record<string, string> = {
  '21211': 'The phone number is not valid.',
  '21408': 'Texts to this region are not enabled for the account.',
  '21608': 'A trial account can only text verified numbers.',
  '21610': 'The patient replied STOP: they have opted out of texts.',
  '21614': 'The number cannot receive texts (not a mobile number).',
  '21635': 'The number is a landline.',
  '30003': 'The phone is off or out of reach.',
  '30004': 'The recipient blocked messages.',
  '30005': 'The number does not exist or is no longer in service.',
  '30006': 'The number is a landline or the carrier cannot deliver texts to it.',
  '30007': 'The carrier filtered the message.',
  '30008': 'The carrier did not say why it was not delivered.',
};

/** The recipient has opted out (replied STOP to this sender): Twilio refuses every send to them. */
export const TWILIO_OPTED_OUT = '21610';

/** "Unknown error": what the outbox reports when the Outbox page marks a message failed without a code. */
export const TWILIO_UNKNOWN_DELIVERY_ERROR = '30008';

/** The code said for people, or null for a code not listed (status.ts then says "Provider error <code>."). */
export function twilioErrorReason(code: string | null | undefined): string | null {
  return code ? (REASONS[code] ?? null) : null;
}
