#!/usr/bin/env node
// `npm start`: build if anything changed (tsc is incremental, so an up-to-date build takes a moment),
// then migrate, seed the demo organisation if the database is empty, and serve.
// PORT, HOST, DATA_DIR and every other setting come from the environment or .env (see .env.example).
import { build } from './build.js';

if (!(await build())) {
  console.error('The build failed; see the errors above.');
  process.exit(1);
}
const { main } = await import('../dist/server/cli/main.js');
await main([process.argv[0], 'openvisit', 'serve', '--seed-demo-if-empty']);
