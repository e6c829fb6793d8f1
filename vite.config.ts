// The web app (clinician console and patient join flow): src/web, built into dist/web, served by the server.
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

/**
 * twilio-video builds a function from a string (util/dynamicimport.js) as it loads, which the server's
 * Content-Security-Policy (no 'unsafe-eval') refuses: src/sdk/twilio/dynamic-import.cjs goes in its place, as in
 * scripts/build.js for the SDK bundle.
 */
const twilioVideoWithoutEval: Plugin = {
  name: 'twilio-video-without-eval',
  enforce: 'pre',
  resolveId(source, importer) {
    if (importer && /[\\/]twilio-video[\\/]/.test(importer) && /[\\/]util[\\/]dynamicimport(\.js)?$/.test(source)) {
      return fileURLToPath(new URL('./src/sdk/twilio/dynamic-import.cjs', import.meta.url));
    }
    return null;
  },
};

export default defineConfig({
  root: fileURLToPath(new URL('./src/web', import.meta.url)),
  base: '/',
  plugins: [twilioVideoWithoutEval, react()],
  build: {
    outDir: fileURLToPath(new URL('./dist/web', import.meta.url)),
    emptyOutDir: true,
    sourcemap: true,
    target: ['chrome100', 'firefox100', 'safari15'],
    // No inline scripts or data: URLs for scripts: the server's Content-Security-Policy allows 'self' only.
    assetsInlineLimit: 0,
  },
  logLevel: 'warn',
});
