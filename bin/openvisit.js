#!/usr/bin/env node
// The `openvisit` command. Runs the compiled CLI (npm install builds it; `npm run build` rebuilds it).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/server/cli/main.js', import.meta.url);
if (!existsSync(entry)) {
  console.error('OpenVisit is not built yet: run `npm run build` in the project folder (npm install does it too).');
  process.exit(1);
}
const { main } = await import(entry.href);
await main(process.argv);
