// Serves test/fixture (a small app over this package's hooks) with Vite's dev
// server, from the TypeScript sources, and proxies /api to a real document
// server: the page and the API share one origin, as in a deployed app.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import { createServer, defaultClientConditions } from 'vite';

const FIXTURE = fileURLToPath(new URL('../fixture', import.meta.url));

export interface FixtureServer {
  url: string;
  close(): Promise<void>;
}

export async function serveFixture(apiTarget: string): Promise<FixtureServer> {
  const cacheDir = mkdtempSync(join(tmpdir(), 'ifmatch-rq-vite-'));
  const vite = await createServer({
    configFile: false,
    root: FIXTURE,
    cacheDir,
    logLevel: 'warn',
    plugins: [react()],
    resolve: { conditions: ['source', ...defaultClientConditions] },
    // Pre-bundle the dependencies up front: a dependency discovered while the
    // page loads would make Vite reload it mid-test.
    optimizeDeps: {
      noDiscovery: true,
      include: [
        'react',
        'react/jsx-runtime',
        'react/jsx-dev-runtime',
        'react-dom/client',
        '@tanstack/react-query',
      ],
    },
    server: {
      host: '127.0.0.1',
      port: 0,
      hmr: false,
      watch: null,
      proxy: { '/api': apiTarget },
    },
  });
  try {
    await vite.listen();
  } catch (error) {
    await vite.close();
    rmSync(cacheDir, { recursive: true, force: true });
    throw error;
  }
  const url = vite.resolvedUrls?.local[0];
  if (!url) throw new Error('vite gave no URL');
  return {
    url: url.replace(/\/$/, ''),
    async close() {
      await vite.close();
      rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}
