/**
 * The Twilio Video adapter's connect settings: what an application may override (ConnectOptions.twilio) and the
 * defaults, taken from the seed integration's (seed 002: a collaboration bandwidth profile, VP8 then H.264, 16 kb/s
 * audio). Types only from twilio-video: nothing here loads it.
 */
import type { ConnectOptions as TwilioConnectOptions } from 'twilio-video';
import type { TokenMedia } from '../types.js';

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
 * A group room's settings (the token answer's `media`), seed 002's for groups: the bandwidth profile in the room's
 * mode, the dominant speaker's video at `high` priority while presenting (the shared screen, published `high`, comes
 * first anyway), the camera in VP8 simulcast layers when the policy says so (Twilio's SFU then forwards each
 * subscriber the layer its render dimensions need), and the room's Opus cap.
 *
 * The seed's `maxTracks` (the policy's last-N) cannot be given: twilio-video refuses it beside
 * `clientTrackSwitchOffControl`, which replaces it and which the adapter needs 'manual' to switch off what the page
 * does not show. Last-N is applied by the adapter itself instead: of the visible cameras, at most `lastN` are switched
 * on, the spotlight, pinned ones and the latest speakers first (room.ts).
 */
export function groupSettings(media: TokenMedia): TwilioOptions {
  return {
    bandwidthProfile: {
      video: {
        mode: media.mode,
        dominantSpeakerPriority: media.mode === 'presentation' ? 'high' : 'standard',
        clientTrackSwitchOffControl: 'manual',
        contentPreferencesMode: 'manual',
      },
    },
    preferredVideoCodecs: media.simulcast ? [{ codec: 'VP8', simulcast: true }, 'H264'] : ['VP8', 'H264'],
    maxAudioBitrate: media.audioBitrateBps,
  };
}

/**
 * The defaults (a group room's when `media` is given) with an application's settings over them (the bandwidth
 * profile's video part merged field by field), a fresh object each time: twilio-video is handed its own.
 */
export function twilioSettings(overrides: TwilioOptions = {}, media: TokenMedia | null = null): TwilioOptions {
  const base = media ? { ...TWILIO_DEFAULTS, ...groupSettings(media) } : TWILIO_DEFAULTS;
  const video = { ...base.bandwidthProfile?.video, ...overrides.bandwidthProfile?.video };
  // twilio-video refuses a deprecated setting beside its replacement: an application's own maxTracks or
  // renderDimensions wins over the default that replaces it.
  if (overrides.bandwidthProfile?.video && 'maxTracks' in overrides.bandwidthProfile.video) delete video.clientTrackSwitchOffControl;
  if (overrides.bandwidthProfile?.video && 'renderDimensions' in overrides.bandwidthProfile.video) delete video.contentPreferencesMode;
  return { ...base, ...overrides, bandwidthProfile: { ...base.bandwidthProfile, ...overrides.bandwidthProfile, video } };
}
