/**
 * The Twilio Video adapter's connect settings: what an application may override (ConnectOptions.twilio) and the
 * defaults, taken from the seed integration's (seed 002: a collaboration bandwidth profile, VP8 then H.264, 16 kb/s
 * audio). Types only from twilio-video: nothing here loads it.
 */
import type { ConnectOptions as TwilioConnectOptions } from 'twilio-video';

/** The twilio-video connect options an application may set; the adapter owns the rest (tracks, subscription, …). */
export type TwilioOptions = Pick<
  TwilioConnectOptions,
  'bandwidthProfile' | 'preferredVideoCodecs' | 'preferredAudioCodecs' | 'maxAudioBitrate' | 'maxVideoBitrate' | 'region' | 'enableDscp'
>;

export const TWILIO_DEFAULTS: Readonly<TwilioOptions> = {
  bandwidthProfile: {
    video: {
      mode: 'collaboration',
      dominantSpeakerPriority: 'standard',
      // The seed's `maxTracks: 10` is deprecated in twilio-video 2.x. Its replacement, clientTrackSwitchOffControl,
      // defaults to 'auto', which switches off every remote video not attached through twilio-video's own
      // track.attach(): the neutral Room plays the MediaStreamTrack in its own elements, so twilio-video would see
      // none and switch them all off. 'manual' leaves them on (the server's subscribe rules decide what arrives);
      // the same holds for the render-size hints (contentPreferencesMode).
      clientTrackSwitchOffControl: 'manual',
      contentPreferencesMode: 'manual',
    },
  },
  preferredVideoCodecs: ['VP8', 'H264'],
  maxAudioBitrate: 16_000,
};

/**
 * The defaults with an application's settings over them (the bandwidth profile's video part merged field by field),
 * a fresh object each time: twilio-video is handed its own.
 */
export function twilioSettings(overrides: TwilioOptions = {}): TwilioOptions {
  const video = { ...TWILIO_DEFAULTS.bandwidthProfile?.video, ...overrides.bandwidthProfile?.video };
  // twilio-video refuses a deprecated setting beside its replacement: an application's own maxTracks or
  // renderDimensions wins over the default that replaces it.
  if (overrides.bandwidthProfile?.video && 'maxTracks' in overrides.bandwidthProfile.video) delete video.clientTrackSwitchOffControl;
  if (overrides.bandwidthProfile?.video && 'renderDimensions' in overrides.bandwidthProfile.video) delete video.contentPreferencesMode;
  return { ...TWILIO_DEFAULTS, ...overrides, bandwidthProfile: { ...TWILIO_DEFAULTS.bandwidthProfile, ...overrides.bandwidthProfile, video } };
}
