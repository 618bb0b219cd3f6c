// The write contract on SQLite (better-sqlite3 and Kysely's SQLite dialect), all four adapters and Express 4.
import { type Combo, raceSuite } from './write-races.js';

// The full 16 x 50 counter race here; 6 x 5 elsewhere (the same code path, and the file stays short).
const COMBOS: Combo[] = [
  { adapter: 'node', store: 'sqlite', etag: 'version', counter: [16, 50] },
  { adapter: 'fastify', store: 'sqlite', etag: 'hash', counter: [6, 5] },
  { adapter: 'express', store: 'sqlite', etag: 'version', counter: [6, 5] },
  { adapter: 'express4', store: 'sqlite', etag: 'version', counter: [6, 5] },
  { adapter: 'hono', store: 'sqlite', etag: 'version', counter: [6, 5] },
  { adapter: 'node', store: 'kysely-sqlite', etag: 'hash', counter: [6, 5] },
];

for (const combo of COMBOS) raceSuite(combo, () => undefined);
