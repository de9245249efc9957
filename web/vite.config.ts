// Vite build of the console: a static site in dist/ (React, code-split per page), and the
// Vitest set-up for the unit tests (happy-dom).
/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// `VITE_API_BASE` (build time) points the console at a gateway on another origin; the run-time
// `config.json` next to index.html overrides it. Empty: the console's own origin.
export default defineConfig({
  plugins: [react()],
  build: {
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: Object.fromEntries(
      ['/api', '/v1', '/v1beta', '/health'].map((p) => [p, process.env.GATEWAY_URL ?? 'http://127.0.0.1:8787']),
    ),
  },
  test: {
    environment: 'happy-dom',
    include: ['src/**/*.test.{ts,tsx}'],
  },
});
