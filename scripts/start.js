#!/usr/bin/env node
// `npm start`: build if anything changed (tsc is incremental, so an up-to-date build takes a moment),
// then migrate, seed the demo organisation if the database is empty, and serve.
// PORT, HOST, DATA_DIR and every other setting come from the environment or .env (see .env.example).
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const tsc = require.resolve('typescript/bin/tsc');
const build = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { stdio: 'inherit' });
if (build.status !== 0) {
  console.error('The build failed; see the errors above.');
  process.exit(build.status ?? 1);
}
const { main } = await import('../dist/server/cli/main.js');
await main([process.argv[0], 'openvisit', 'serve', '--seed-demo-if-empty']);
