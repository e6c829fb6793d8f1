// The build shared by `npm start` and `npm test`: the server (tsc, incremental), a type-check of the browser
// SDK (tsc with the DOM library), and the SDK bundle served at /sdk/openvisit.js (esbuild, one ES module).
// Returns true when everything built; errors are printed.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

export async function build() {
  const tsc = require.resolve('typescript/bin/tsc');
  for (const project of ['tsconfig.build.json', 'tsconfig.sdk.json']) {
    const result = spawnSync(process.execPath, [tsc, '-p', project], { stdio: 'inherit', cwd: root });
    if (result.status !== 0) return false;
  }
  const esbuild = await import('esbuild');
  try {
    await esbuild.build({
      absWorkingDir: root,
      entryPoints: ['src/sdk/index.ts'],
      outfile: 'dist/sdk/openvisit.js',
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: ['chrome100', 'firefox100', 'safari15'],
      sourcemap: true,
      minify: true,
      legalComments: 'none',
      logLevel: 'warning',
    });
  } catch {
    return false;
  }
  return true;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exit((await build()) ? 0 : 1);
}
