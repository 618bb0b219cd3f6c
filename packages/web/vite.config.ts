import react from '@vitejs/plugin-react';
import { defaultClientConditions, defineConfig } from 'vite';

// `source` first: the workspace packages (@ifmatch/react-query and
// @ifmatch/client under it) are bundled from their TypeScript sources, so the
// web build does not depend on their dist/ being fresh.
export default defineConfig({
  plugins: [react()],
  resolve: { conditions: ['source', ...defaultClientConditions] },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    // Vendor code in its own hashed chunks: an app change does not
    // invalidate the (immutable, long-cached) editor and React bundles.
    rollupOptions: {
      output: {
        manualChunks: (id) =>
          id.includes('node_modules/@codemirror') || id.includes('node_modules/@lezer')
            ? 'codemirror'
            : id.includes('node_modules/react') || id.includes('node_modules/scheduler')
              ? 'react'
              : undefined,
      },
    },
  },
  server: {
    host: '127.0.0.1',
    port: Number(process.env.WEB_PORT ?? 18500),
    // Development only: the document server runs separately (IFMATCH_URL).
    proxy: { '/api': process.env.IFMATCH_URL ?? 'http://127.0.0.1:18501' },
  },
});
