/**
 * The server side of `bench/twilio.ts`, in its own process (see api.ts for why). Not meant to be run by hand.
 *
 *   node --import tsx bench/twilio-server.ts builtin <data dir> <port>
 *   node --import tsx bench/twilio-server.ts twilio  <data dir> <port> <Twilio Video API base URL> <credentials JSON>
 *
 * The app as `openvisit serve` starts it (PGlite, memory pub/sub, the media provider its configuration names), with an
 * organisation and an API key; listens on 127.0.0.1:<port>, which is its PUBLIC_URL (Twilio's callbacks come there),
 * and says `@@bench {"ready":true,"port":…,"apiKey":…}`. `stop` on stdin (or stdin closing) closes it.
 */
import { buildApp } from '../src/server/app.js';
import { createApiKey } from '../src/server/apikeys/service.js';
import { loadConfig } from '../src/server/config.js';
import { systemCtx } from '../src/server/context.js';
import { openDatabase } from '../src/server/db/index.js';
import { createOrganization } from '../src/server/orgs/service.js';
import { createMemoryPubSub } from '../src/server/pubsub/memory.js';
import { createMediaProvider } from '../src/server/rooms/loader.js';
import { benchSay, runBenchChild } from './common.js';

const [mode, dataDir, port, videoBase, credentialsJson] = process.argv.slice(2);
if ((mode !== 'builtin' && mode !== 'twilio') || !dataDir || !port || (mode === 'twilio' && (!videoBase || !credentialsJson))) {
  console.error('usage: bench/twilio-server.ts builtin <data dir> <port> | twilio <data dir> <port> <video API base> <credentials JSON>');
  process.exit(2);
}

async function start(onClose: (close: () => Promise<void>) => void): Promise<void> {
  const credentials = mode === 'twilio' ? (JSON.parse(credentialsJson!) as { accountSid: string; authToken: string; apiKeySid: string; apiKeySecret: string }) : null;
  const config = loadConfig(
    {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: port!,
      PUBLIC_URL: `http://127.0.0.1:${port}`,
      LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'silent',
      DATA_DIR: dataDir!,
      // The token endpoint's own rate limit would be what is measured otherwise.
      TOKEN_RATE_LIMIT_PER_MINUTE: '100000',
      RTC_ANNOUNCED_ADDRESSES: '127.0.0.1',
      RTC_USE_INTERFACE_ADDRESSES: 'false',
      ...(credentials
        ? {
            MEDIA_PROVIDER: 'twilio',
            TWILIO_ACCOUNT_SID: credentials.accountSid,
            TWILIO_AUTH_TOKEN: credentials.authToken,
            TWILIO_API_KEY_SID: credentials.apiKeySid,
            TWILIO_API_KEY_SECRET: credentials.apiKeySecret,
            TWILIO_VIDEO_API_BASE_URL: videoBase!,
          }
        : {}),
    },
    {},
  );
  const db = await openDatabase(config.database, { command: 'bench/twilio-server.ts' });
  const pubsub = createMemoryPubSub();
  let app: Awaited<ReturnType<typeof buildApp>> | undefined;
  onClose(async () => {
    try {
      await app?.close();
      await pubsub.close();
    } finally {
      await db.close();
    }
  });
  await db.migrate();
  app = await buildApp({ config, database: db, pubsub, media: createMediaProvider(config) });
  await app.ready();
  const org = await createOrganization(db.db, { slug: `bench-${process.pid}`, name: 'Benchmark clinic' }, { type: 'system', id: null });
  const { key } = await createApiKey({ db: db.db, hub: app.realtime }, systemCtx(org.id), 'benchmark');
  await app.listen({ host: '127.0.0.1', port: Number(port) });
  benchSay({ ready: true, port: Number(port), apiKey: key });
}

runBenchChild(start);
