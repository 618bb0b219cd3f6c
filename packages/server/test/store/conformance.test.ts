// The store conformance suite over every store: SQLite on a file, SQLite
// :memory:, PostgreSQL (required in CI, skipped with a message elsewhere).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPostgresStore } from '../../src/store/postgres.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import {
  createTestDatabase,
  describePostgres,
  type Outage,
  relayToPostgres,
  type TestDatabase,
} from '../postgres/pg.js';
import { storeConformance } from './conformance.js';

const dir = mkdtempSync(join(tmpdir(), 'ifmatch-conformance-'));
const file = join(dir, 'store.db');
let files = 0;

storeConformance({
  name: 'sqlite file',
  open: async () => openSqliteStore(file),
  // Another connection on the same file: what a second process sees.
  openSecond: async () => openSqliteStore(file),
  openWith: async (options) => openSqliteStore(join(dir, `with-${++files}.db`), options),
  retriesDecide: false,
  cleanup: async () => rmSync(dir, { recursive: true, force: true }),
});

storeConformance({
  name: 'sqlite :memory:',
  open: async () => openSqliteStore(':memory:'),
  openWith: async (options) => openSqliteStore(':memory:', options),
  retriesDecide: false,
  cleanup: async () => {},
});

// Through a relay adding 2 ms each way, so concurrent transactions overlap as
// they do over a network (the races below then really race).
let database: TestDatabase | undefined;
let relay: Outage | undefined;
/** Databases of openWith, each a store of its own. */
const others: TestDatabase[] = [];
await describePostgres('store conformance (PostgreSQL)', () => {
  storeConformance({
    name: 'postgres (2 ms each way)',
    async open() {
      database = await createTestDatabase();
      relay = await relayToPostgres({ latencyMs: 2 });
      return openPostgresStore(relay.url(database.name), { poolSize: 8 });
    },
    // A second pool on the same database: another server instance.
    openSecond: async () => openPostgresStore(relay!.url(database!.name), { poolSize: 4 }),
    async openWith(options) {
      const own = await createTestDatabase();
      others.push(own);
      return openPostgresStore(relay!.url(own.name), { poolSize: 4, ...options });
    },
    retriesDecide: true,
    async cleanup() {
      await relay?.close();
      await database?.drop();
      for (const own of others) await own.drop();
    },
  });
});
