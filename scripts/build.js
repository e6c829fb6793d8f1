// The build shared by `npm start` and `npm test`: the server (tsc, incremental), a type-check of the browser
// SDK and of the web app (tsc with the DOM library), the SDK bundle served at /sdk/openvisit.js (esbuild, an ES
// module and the chunks it loads when needed) and the web app (Vite, into dist/web; skipped when nothing it is made
// of changed).
// Returns true when everything built; errors are printed.
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

export async function build() {
  const tsc = require.resolve('typescript/bin/tsc');
  for (const project of ['tsconfig.build.json', 'tsconfig.sdk.json', 'tsconfig.web.json']) {
    const result = spawnSync(process.execPath, [tsc, '-p', project], { stdio: 'inherit', cwd: root });
    if (result.status !== 0) return false;
  }
  const esbuild = await import('esbuild');
  // Chunk names carry a hash: the previous build's would stay behind.
  rmSync(path.join(root, 'dist/sdk/chunks'), { recursive: true, force: true });
  try {
    await esbuild.build({
      absWorkingDir: root,
      entryPoints: ['src/sdk/index.ts'],
      // One entry, openvisit.js; what it imports dynamically (twilio-video, for rooms on Twilio only) goes to
      // chunks/ and is fetched when needed, so the bundle every page loads stays small.
      outdir: 'dist/sdk',
      entryNames: 'openvisit',
      chunkNames: 'chunks/[name]-[hash]',
      splitting: true,
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: ['chrome100', 'firefox100', 'safari15'],
      sourcemap: true,
      minify: true,
      legalComments: 'none',
      logLevel: 'warning',
      plugins: [twilioVideoWithoutEval],
    });
  } catch {
    return false;
  }
  if (newestChange(['src/web', 'src/sdk', 'src/shared', 'vite.config.ts', 'package-lock.json']) > mtime('dist/web/index.html')) {
    const vite = await import('vite');
    try {
      await vite.build({ configFile: path.join(root, 'vite.config.ts'), logLevel: 'warn' });
    } catch (err) {
      console.error(err instanceof Error ? err.message : err);
      return false;
    }
  }
  return true;
}

/**
 * twilio-video builds a function from a string (util/dynamicimport.js) as it loads, which a Content-Security-Policy
 * without 'unsafe-eval' (the server's) refuses: its replacement, src/sdk/twilio/dynamic-import.cjs, goes in its place.
 * vite.config.ts does the same for the web app.
 */
const twilioVideoWithoutEval = {
  name: 'twilio-video-without-eval',
  setup(build) {
    build.onResolve({ filter: /[\\/]util[\\/]dynamicimport(\.js)?$/ }, (args) =>
      args.importer.includes(`${path.sep}twilio-video${path.sep}`) ? { path: path.join(root, 'src/sdk/twilio/dynamic-import.cjs') } : undefined,
    );
  },
};

function mtime(file) {
  try {
    return statSync(path.join(root, file)).mtimeMs;
  } catch {
    return 0;
  }
}

/** The newest modification time of the files (and files below the folders) given. */
function newestChange(entries) {
  let newest = 0;
  for (const entry of entries) {
    const full = path.join(root, entry);
    let info;
    try {
      info = statSync(full);
    } catch {
      continue;
    }
    if (!info.isDirectory()) {
      newest = Math.max(newest, info.mtimeMs);
      continue;
    }
    for (const name of readdirSync(full, { recursive: true })) newest = Math.max(newest, mtime(path.join(entry, String(name))));
  }
  return newest;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exit((await build()) ? 0 : 1);
}
