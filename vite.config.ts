// The web app (clinician console and patient join flow): src/web, built into dist/web, served by the server.
import react from '@vitejs/plugin-react';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

export default defineConfig({
  root: fileURLToPath(new URL('./src/web', import.meta.url)),
  base: '/',
  plugins: [react()],
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
