// `npm run example -- ADAPTER --db DB --port N`: one of the four example apps
// on PostgreSQL (DB = postgres://...) or SQLite (DB = a file path).
import { parseArgs } from 'node:util';
import { unconditionalWrite } from '@ifmatch/core';
import { type Notes, openNotes } from './notes.js';

const STARTERS = {
  node: () => import('./node.js'),
  fastify: () => import('./fastify.js'),
  express: () => import('./express.js'),
  hono: () => import('./hono.js'),
};

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    db: { type: 'string' },
    port: { type: 'string', default: '8080' },
    etag: { type: 'string', default: 'version' },
    // Benchmark control only (bench/writes.mjs): writes ignore the request's
    // condition, i.e. a blind UPDATE that can lose edits. Never for real use.
    'unconditional-writes': { type: 'boolean', default: false },
  },
});
const adapter = positionals[0] as keyof typeof STARTERS | undefined;
if (adapter === undefined || !(adapter in STARTERS) || values.db === undefined) {
  console.error(
    'usage: npm run example -- node|fastify|express|hono --db postgres://...|FILE [--port N] [--etag version|hash]',
  );
  process.exit(2);
}
if (values.etag !== 'version' && values.etag !== 'hash') {
  console.error('--etag: version or hash');
  process.exit(2);
}

const { notes, close } = await openNotes(values.db, values.etag);
const store: Notes = values['unconditional-writes']
  ? {
      ...notes,
      put: (id, value) => notes.put(id, value, unconditionalWrite()),
      patch: (id, change) => notes.patch(id, change, unconditionalWrite()),
      delete: (id) => notes.delete(id, unconditionalWrite()),
    }
  : notes;
const app = await (await STARTERS[adapter]()).start(store, Number(values.port));
console.log(`${adapter} example on ${app.url}/notes/{id} (${values.db})`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void app
      .close()
      .then(close)
      .then(() => process.exit(0));
  });
}
