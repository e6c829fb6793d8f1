import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Command, InvalidArgumentError } from 'commander';
import { Redis } from 'ioredis';
import pino from 'pino';
import { buildApp } from '../app.js';
import { createApiKey, listApiKeys, revokeApiKey } from '../apikeys/service.js';
import { verifyAuditChains } from '../audit/service.js';
import { ConfigError, loadConfig, type Config } from '../config.js';
import { systemCtx } from '../context.js';
import { openDatabase, type Database } from '../db/index.js';
import { DataDirLockedError } from '../db/lock.js';
import { USER_ROLES, type UserRole } from '../db/schema.js';
import { createCareLink } from '../checkins/care.js';
import { databaseIsEmpty, DEMO_PASSWORD, DEMO_SLUG, DEMO_USERS, seedDemo } from '../demo/seed.js';
import { AppError } from '../http/errors.js';
import { loggerOptions } from '../http/logging.js';
import { createOrganization, findOrganizationBySlug } from '../orgs/service.js';
import { openPubSub } from '../pubsub/index.js';
import { createOrgEvents, type OrgEvents } from '../realtime/events.js';
import { createMediaProvider } from '../rooms/loader.js';
import { linkSigningSecret } from '../secrets.js';
import { createUser } from '../users/service.js';
import { createLinkSigner } from '../visits/links.js';


function describeDatabase(config: Config): string {
  return config.database.kind === 'pglite' ? `embedded PGlite in ${config.database.dataDir}` : 'PostgreSQL (DATABASE_URL)';
}

/** Opens the configured database, runs pending migrations, hands it to `fn`, and always closes it. */
async function withDatabase<T>(command: string, fn: (database: Database, config: Config) => Promise<T>): Promise<T> {
  const config = loadConfig();
  const database = await openDatabase(config.database, { command: `openvisit ${command}` });
  try {
    await database.migrate();
    return await fn(database, config);
  } finally {
    await database.close();
  }
}

/**
 * Like withDatabase, with the organisation events a change announces: through the PubSub, so with Redis the
 * servers' hubs hear them (a new user appears, a revoked key's connections close). Operator commands act as the
 * system (systemCtx); the audit log records them as such.
 */
async function withEvents<T>(command: string, fn: (database: Database, events: OrgEvents, config: Config) => Promise<T>): Promise<T> {
  return withDatabase(command, async (database, config) => {
    const pubsub = await openPubSub(config);
    try {
      return await fn(database, createOrgEvents(pubsub, console), config);
    } finally {
      await pubsub.close();
    }
  });
}

async function orgIdOf(database: Database, slug: string): Promise<string> {
  const org = await findOrganizationBySlug(database.db, slug);
  if (!org) throw new AppError('not_found', `There is no organisation "${slug}" (create it with: openvisit org add ${slug} --name "…").`);
  return org.id;
}

function printDemoSignIns(url: string): void {
  console.log(`\n  Demo sign-ins at ${url} (password "${DEMO_PASSWORD}" unless changed):`);
  for (const u of DEMO_USERS) console.log(`    ${u.role.padEnd(10)} ${u.email}`);
  console.log('');
}

export interface ServeOptions {
  seedDemoIfEmpty?: boolean;
}

/** Runs the server until SIGTERM/SIGINT, then shuts down gracefully. */
export async function serve(options: ServeOptions = {}): Promise<void> {
  const config = loadConfig();
  const logger = pino(loggerOptions(config.logLevel));
  const database = await openDatabase(config.database, { command: 'openvisit serve' });
  let redis: Redis | undefined;
  try {
    await database.migrate();
    const pubsub = await openPubSub(config, (err) => logger.warn({ err: err.message }, 'redis pub/sub error'));
    if (config.redisUrl) {
      redis = new Redis(config.redisUrl, { maxRetriesPerRequest: 1, enableOfflineQueue: false });
      redis.on('error', (err: Error) => logger.warn({ err: err.message }, 'redis rate-limit store error'));
    }
    let seeded: Awaited<ReturnType<typeof seedDemo>> | undefined;
    if (options.seedDemoIfEmpty && (await databaseIsEmpty(database.db))) {
      seeded = await seedDemo(database.db, createOrgEvents(pubsub, logger));
    }
    const media = createMediaProvider(config, logger);
    const app = await buildApp({ config, database, pubsub, media, redis, logger });
    await app.listen({ host: config.host, port: config.port });
    const port = (app.server.address() as AddressInfo).port;
    const url = config.publicUrl === `http://localhost:${config.port}` ? `http://localhost:${port}` : config.publicUrl;
    console.log(`\n  OpenVisit is running at ${url}  (API docs: ${url}/api/docs)`);
    console.log(`  Database: ${describeDatabase(config)}; events: ${pubsub.kind}; media: ${config.mediaProvider}; sms: ${config.messaging.smsProvider}; email: ${config.messaging.emailProvider}`);
    if (seeded) console.log('  Demo data was seeded into the empty database.');
    if (options.seedDemoIfEmpty && (await findOrganizationBySlug(database.db, DEMO_SLUG))) printDemoSignIns(url);
    if (seeded) {
      // Shown once, at seeding (a care link is a credential: the database keeps only its row).
      const careLinkSigner = createLinkSigner(linkSigningSecret(config), 'care');
      const link = await createCareLink({ db: database.db, careLinks: careLinkSigner, publicUrl: url, config: config.checkins }, systemCtx(seeded.orgId), seeded.familyMemberId);
      console.log(`  Check-ins as Rose Whitfield's granddaughter (a family caregiver), valid ${Math.round(config.checkins.careLinkTtlMs / 86_400_000)} days:\n    ${link.url}\n`);
    }

    let stopping = false;
    const stop = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      const force = setTimeout(() => {
        logger.error('shutdown took longer than 10 s; exiting');
        process.exit(1);
      }, 10_000);
      force.unref();
      try {
        await app.close(); // stops accepting, lets in-flight requests finish, tells hub clients to reconnect
        await media.close();
        await pubsub.close();
        await redis?.quit().catch(() => {});
        await database.close();
        process.exit(0);
      } catch (err) {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      }
    };
    process.once('SIGTERM', () => void stop('SIGTERM'));
    process.once('SIGINT', () => void stop('SIGINT'));
  } catch (err) {
    redis?.disconnect();
    await database.close();
    throw err;
  }
}

function parseRole(value: string): UserRole {
  if (!(USER_ROLES as readonly string[]).includes(value)) throw new InvalidArgumentError(`use one of ${USER_ROLES.join(', ')}`);
  return value as UserRole;
}

export function buildCli(): Command {
  const program = new Command('openvisit')
    .description('OpenVisit: open-source telehealth communications server')
    .showHelpAfterError()
    .configureOutput({ outputError: (text, write) => write(text) });

  program
    .command('serve')
    .description('Migrate the database and serve HTTP (PORT, HOST, DATA_DIR and the rest from the environment or .env)')
    .option('--seed-demo-if-empty', 'seed the demo organisation when the database has no organisation yet')
    .action(async (opts: { seedDemoIfEmpty?: boolean }) => serve({ seedDemoIfEmpty: opts.seedDemoIfEmpty === true }));

  program
    .command('migrate')
    .description('Apply pending database migrations')
    .action(() =>
      withDatabase('migrate', async (_db, config) => {
        console.log(`Database is up to date (${describeDatabase(config)}).`);
      }),
    );

  const org = program.command('org').description('Organisations');
  org
    .command('add <slug>')
    .description('Create an organisation')
    .requiredOption('--name <name>', 'display name')
    .option('--time-zone <zone>', 'IANA time zone', 'UTC')
    .action((slug: string, opts: { name: string; timeZone: string }) =>
      withDatabase('org add', async (database) => {
        const created = await createOrganization(database.db, { slug, name: opts.name, timeZone: opts.timeZone });
        console.log(`Created organisation ${created.slug} (${created.id}).`);
      }),
    );

  const user = program.command('user').description('Staff users');
  user
    .command('add')
    .description('Create a staff user; prints a generated password unless --password is given')
    .requiredOption('--email <email>', 'sign-in email')
    .requiredOption('--role <role>', `one of ${USER_ROLES.join(', ')}`, parseRole)
    .requiredOption('--org <slug>', 'organisation slug')
    .option('--name <name>', 'display name (default: the part of the email before @)')
    .option('--password <password>', 'initial password, at least 10 characters (default: generated)')
    .action((opts: { email: string; role: UserRole; org: string; name?: string; password?: string }) =>
      withEvents('user add', async (database, events) => {
        if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(opts.email)) throw new AppError('validation_failed', `"${opts.email}" is not an email address.`);
        if (opts.password !== undefined && opts.password.length < 10) throw new AppError('validation_failed', 'The password must have at least 10 characters.');
        const orgId = await orgIdOf(database, opts.org);
        const password = opts.password ?? randomBytes(12).toString('base64url');
        const created = await createUser({ db: database.db, hub: events }, systemCtx(orgId), { email: opts.email, name: opts.name ?? opts.email.split('@')[0]!, role: opts.role, password });
        console.log(`Created ${created.role} ${created.email} (${created.id}) in ${opts.org}.`);
        if (opts.password === undefined) console.log(`Password (shown once): ${password}`);
      }),
    );

  const apikey = program.command('apikey').description('API keys for host apps');
  apikey
    .command('create')
    .description('Create an API key; the key is printed once, alone on the last line')
    .requiredOption('--org <slug>', 'organisation slug')
    .option('--name <name>', 'what the key is for', 'host app')
    .action((opts: { org: string; name: string }) =>
      withEvents('apikey create', async (database, events) => {
        const created = await createApiKey({ db: database.db, hub: events }, systemCtx(await orgIdOf(database, opts.org)), opts.name);
        console.log(`Created API key ${created.apiKey.id} ("${created.apiKey.name}") for ${opts.org}. Store it now; it is not shown again:`);
        console.log(created.key);
      }),
    );
  apikey
    .command('list')
    .description("List an organisation's API keys")
    .requiredOption('--org <slug>', 'organisation slug')
    .option('--all', 'include revoked keys')
    .action((opts: { org: string; all?: boolean }) =>
      withDatabase('apikey list', async (database) => {
        const keys = await listApiKeys({ db: database.db }, systemCtx(await orgIdOf(database, opts.org)), { includeRevoked: opts.all === true, limit: 200 });
        if (keys.data.length === 0) console.log('No API keys.');
        for (const k of keys.data) {
          console.log(`${k.id}  ${k.prefix}…  ${k.name}  created ${k.createdAt}  last used ${k.lastUsedAt ?? 'never'}${k.revokedAt ? `  REVOKED ${k.revokedAt}` : ''}`);
        }
      }),
    );
  apikey
    .command('revoke <id>')
    .description('Revoke an API key')
    .requiredOption('--org <slug>', 'organisation slug')
    .action((id: string, opts: { org: string }) =>
      withEvents('apikey revoke', async (database, events) => {
        if (!/^[0-9a-f-]{36}$/i.test(id)) throw new AppError('validation_failed', `"${id}" is not an API key id (see openvisit apikey list).`);
        const revoked = await revokeApiKey({ db: database.db, hub: events }, systemCtx(await orgIdOf(database, opts.org)), id);
        console.log(`Revoked API key ${revoked.id} at ${revoked.revokedAt}.`);
      }),
    );

  program
    .command('audit')
    .description('Audit log')
    .command('verify')
    .description('Walk every hash chain and report the first broken link (exit 1 if any)')
    .action(() =>
      withDatabase('audit verify', async (database) => {
        const result = await verifyAuditChains(database.db);
        if (result.ok) {
          console.log(`Audit log intact: ${result.events} events in ${result.chains} chains.`);
          // Keep these heads elsewhere: a chain cut short at its newest events verifies, but its head changes.
          for (const h of result.heads) console.log(`  head ${h.chain} #${h.seq} ${h.hash}`);
          return;
        }
        const b = result.broken!;
        console.log(`Audit log BROKEN at chain ${b.chain}, event #${b.seq} (row id ${b.id}): ${b.reason}.`);
        process.exitCode = 1;
      }),
    );

  program
    .command('demo')
    .description(`Seed the demo organisation ("${DEMO_SLUG}": an admin, two clinicians, a caregiver, patients, today's appointments)`)
    .action(() =>
      withEvents('demo', async (database, events, config) => {
        const summary = await seedDemo(database.db, events);
        console.log(`Seeded the demo organisation: ${summary.users.length} staff, ${summary.patients} patients, ${summary.appointments} appointments.`);
        printDemoSignIns(config.publicUrl);
      }),
    );

  return program;
}

/** Entry point: runs one command and maps known failures to a clear message and exit code. */
export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(2);
    }
    if (err instanceof DataDirLockedError || err instanceof AppError) {
      console.error(`Error: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
}
