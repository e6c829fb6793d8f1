import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import { AppError } from './errors.js';

/**
 * Phone numbers are stored in E.164. Common national formats ((555) 555-0123, 5555550123) are read in
 * the configured default region. Acceptance is by length per country ("possible"), not by assigned
 * ranges, so fictional 555 numbers used in demos and tests work; anything else is refused with a 400.
 */
export function toE164(input: string, defaultRegion: string, path = 'body/phone'): string {
  const parsed = parsePhoneNumberFromString(input.trim(), defaultRegion as CountryCode);
  if (!parsed || !parsed.isPossible()) {
    throw new AppError('invalid_phone_number', 'The phone number is not a usable phone number. Include the country code (e.g. +1 555 555 0123) if it is not local.', [
      { path, message: 'is not a valid phone number' },
    ]);
  }
  return parsed.number;
}
