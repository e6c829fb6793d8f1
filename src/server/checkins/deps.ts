import type { Config } from '../config.js';
import type { Db } from '../db/index.js';
import type { PatientNotifier } from '../messaging/notifier.js';
import type { OrgEvents } from '../realtime/events.js';
import type { RoomDeps } from '../rooms/service.js';
import type { LinkSigner } from '../visits/links.js';

/** What the check-ins feature's services are given (plugin.ts builds it once per app). */
export interface CheckinDeps {
  db: Db;
  hub: OrgEvents;
  rooms: RoomDeps;
  /** Texts a recipient who is not online the call's link (patient messaging: consent, quiet hours, opt-out). */
  notifier: PatientNotifier;
  /** Signs `ovc_` care links (a member's sign-in, or one call's link). */
  careLinks: LinkSigner;
  publicUrl: string;
  /** Where a family member's phone number without a country code is read (DEFAULT_PHONE_REGION). */
  defaultPhoneRegion: string;
  config: Config['checkins'];
}
