// Twilio Video for tests: the fake of its API (twilio-video-fake.ts), the settings that point the server at it, and
// participants as simulated twilio-video clients that wait, as a real client's app would see it, until the server has
// taken them up (their connect callback applied: subscribe rules written, or a revoked token thrown out).
import { randomBytes } from 'node:crypto';
import type { MediaProvider, RoomEvent } from '../../src/server/rooms/provider.js';
import { startFakeTwilioVideo, type FakeTwilioVideo, type FakeVideoParticipant, type TrackKind } from './twilio-video-fake.js';

export interface TwilioCredentials {
  accountSid: string;
  authToken: string;
  apiKeySid: string;
  apiKeySecret: string;
}

export function newTwilioCredentials(): TwilioCredentials {
  return {
    accountSid: `AC${randomBytes(16).toString('hex')}`,
    authToken: randomBytes(16).toString('hex'),
    apiKeySid: `SK${randomBytes(16).toString('hex')}`,
    apiKeySecret: randomBytes(16).toString('hex'),
  };
}

/** The server's settings for MEDIA_PROVIDER=twilio against `fake` (PUBLIC_URL is where its callbacks go). */
export function twilioMediaEnv(credentials: TwilioCredentials, fake: FakeTwilioVideo): Record<string, string> {
  return {
    MEDIA_PROVIDER: 'twilio',
    TWILIO_ACCOUNT_SID: credentials.accountSid,
    TWILIO_AUTH_TOKEN: credentials.authToken,
    TWILIO_API_KEY_SID: credentials.apiKeySid,
    TWILIO_API_KEY_SECRET: credentials.apiKeySecret,
    TWILIO_VIDEO_API_BASE_URL: fake.url,
    TWILIO_REQUEST_TIMEOUT_SECONDS: '2',
  };
}

export async function startTwilioFake(credentials: TwilioCredentials, timeScale?: number): Promise<FakeTwilioVideo> {
  return startFakeTwilioVideo({ ...credentials, ...(timeScale !== undefined ? { timeScale } : {}) });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A simulated client in the room, with what the contract and the feature suites ask of a participant. */
export interface TwilioTestParticipant {
  readonly identity: string;
  readonly client: FakeVideoParticipant;
  receives(publisher: string, kind: TrackKind): Promise<void>;
  receivesNothingOf(publisher: string, kinds?: readonly TrackKind[]): Promise<void>;
  disconnected(): Promise<void>;
  leave(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Joins with a token the server minted. Resolves once the provider has reported the join and written its subscribe
 * rules; rejects when Twilio refuses the token, or the server throws the connection out (a revoked token).
 */
export async function joinTwilio(fake: FakeTwilioVideo, provider: Pick<MediaProvider, 'onEvent'>, token: string, options: { publish?: readonly TrackKind[]; waitMs?: number } = {}): Promise<TwilioTestParticipant> {
  const joined: RoomEvent[] = [];
  const off = provider.onEvent((e) => {
    if (e.type === 'participant.joined') joined.push(e);
  });
  let client: FakeVideoParticipant;
  try {
    client = await fake.connect(token, { publish: [...(options.publish ?? ['audio', 'video'])] });
    const out = client.disconnected.then((reason) => {
      throw new Error(`thrown out of the room (${reason.code ?? 'no code'}: ${reason.reason})`);
    });
    const deadline = Date.now() + (options.waitMs ?? 10_000);
    const taken = (async () => {
      // Taken up: its join recorded and its subscribe rules written (the provider writes them as it reports the join).
      const rulesWritten = () => fake.room(client.roomSid)?.participants.find((p) => p.sid === client.sid)?.subscribeRules != null;
      while (!joined.some((e) => e.type === 'participant.joined' && e.identity === client.identity) || !rulesWritten()) {
        if (Date.now() > deadline) throw new Error(`the server did not take up ${client.identity} in time`);
        await sleep(10);
      }
    })();
    await Promise.race([taken, out]);
    out.catch(() => undefined);
  } finally {
    off();
  }
  const identity = client.identity;
  let gone = false;
  void client.disconnected.then(() => (gone = true));
  return {
    identity,
    client,
    async receives(publisher, kind) {
      const deadline = Date.now() + 10_000;
      while (!client.subscribed(publisher, kind)) {
        if (Date.now() > deadline) throw new Error(`${identity} never received ${publisher}'s ${kind}`);
        await sleep(10);
      }
    },
    async receivesNothingOf(publisher, kinds = ['audio', 'video']) {
      // The same watch the builtin clients keep (a while), on Twilio's subscriptions instead of packets.
      const until = Date.now() + 600;
      while (Date.now() < until) {
        for (const kind of kinds) if (client.subscribed(publisher, kind)) throw new Error(`${identity} receives ${publisher}'s ${kind}`);
        await sleep(20);
      }
    },
    async disconnected() {
      await client.disconnected;
    },
    async leave() {
      if (!gone) await client.disconnect();
      gone = true;
    },
    async close() {
      if (!gone) await client.disconnect().catch(() => undefined);
      gone = true;
    },
  };
}
