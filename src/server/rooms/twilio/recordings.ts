import type { RecordingMedia, RecordingStore, StoredRecording } from '../provider.js';
import type { TwilioVideoApi } from './api.js';

const RECORDING_SID = /^RT[0-9a-fA-F]{32}$/;
const COMPOSITION_SID = /^CJ[0-9a-fA-F]{32}$/;

/** The API path of a recording's or composition's resource, by the SID the rooms layer stored as its ref; null for anything else. */
function resourceOf(ref: string): string | null {
  if (RECORDING_SID.test(ref)) return `/v1/Recordings/${ref}`;
  if (COMPOSITION_SID.test(ref)) return `/v1/Compositions/${ref}`;
  return null;
}

/**
 * Twilio keeps the recordings (per track, RT…) and compositions (CJ…): opening one follows its Media redirect to a
 * short-lived URL and streams it through, so the API's download works as with local files and Twilio's URLs never
 * reach a browser. Deleting removes Twilio's copy (the retention period, or a person).
 */
export class TwilioRecordingStore implements RecordingStore {
  constructor(readonly api: TwilioVideoApi) {}

  async open(recording: StoredRecording): Promise<RecordingMedia | null> {
    const resource = resourceOf(recording.ref);
    return resource ? this.api.media(`${resource}/Media`) : null;
  }

  async delete(recording: StoredRecording): Promise<void> {
    const resource = resourceOf(recording.ref);
    if (resource) await this.api.remove(resource);
  }
}
