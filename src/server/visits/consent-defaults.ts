/**
 * The consent texts an organisation has until it publishes its own (POST /api/v1/consent-texts). Plain,
 * general wording; a clinic's legal text replaces it. Versions are fixed: acceptances record them.
 */
export const DEFAULT_CONSENT_TEXTS = {
  telehealth: {
    version: 'openvisit-default-1',
    createdAt: '2026-01-01T00:00:00.000Z',
    body:
      'I agree to receive care by video. I understand that a telehealth visit has limits compared with an in-person ' +
      'visit, that my clinician may ask me to come in person, that the connection is encrypted, and that I can stop ' +
      'the visit at any time. I will join from a private place. In an emergency I will call my local emergency number.',
  },
  recording: {
    version: 'openvisit-default-1',
    createdAt: '2026-01-01T00:00:00.000Z',
    body:
      'I agree that this visit may be recorded (video and sound). The recording is part of my care record, is kept ' +
      'securely for the period the clinic keeps such records, and is only seen by people allowed to see my record. ' +
      'Recording only starts when everyone in the visit has agreed, and I can withdraw my agreement at any time.',
  },
} as const;
