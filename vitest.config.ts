import { defineConfig } from 'vitest/config';

// Tests import workspace packages from their TypeScript sources (the "source"
// export condition), so a change in core is seen without a rebuild. Tests that
// spawn the CLI as a real process use dist/, which `npm test` builds first.
export default defineConfig({
  resolve: { conditions: ['source', 'import', 'module', 'default'] },
  // Vitest also passes these to Node as --conditions for external packages: 'import'
  // there would make CJS require() pick ESM entries (pg -> pg-pool breaks), so
  // keep Vite's SSR defaults plus 'source'.
  ssr: { resolve: { conditions: ['source', 'module', 'node', 'development|production'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
