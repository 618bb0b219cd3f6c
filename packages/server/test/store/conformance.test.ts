// The store conformance suite over every store: SQLite on a file, SQLite
// :memory:, PostgreSQL (required in CI, skipped with a message elsewhere).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPostgresStore } from '../../src/store/postgres.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { createTestDatabase, describePostgres, type TestDatabase } from '../postgres/pg.js';
import { storeConformance } from './conformance.js';

const dir = mkdtempSync(join(tmpdir(), 'ifmatch-conformance-'));
const file = join(dir, 'store.db');

storeConformance({
  name: 'sqlite file',
  open: async () => openSqliteStore(file),
  // Another connection on the same file: what a second process sees.
  openSecond: async () => openSqliteStore(file),
  retriesDecide: false,
  cleanup: async () => rmSync(dir, { recursive: true, force: true }),
});

storeConformance({
  name: 'sqlite :memory:',
  open: async () => openSqliteStore(':memory:'),
  retriesDecide: false,
  cleanup: async () => {},
});

let database: TestDatabase | undefined;
await describePostgres('store conformance (PostgreSQL)', () => {
  storeConformance({
    name: 'postgres',
    async open() {
      database = await createTestDatabase();
      return openPostgresStore(database.url, { poolSize: 8 });
    },
    // A second pool on the same database: another server instance.
    openSecond: async () => openPostgresStore(database!.url, { poolSize: 4 }),
    retriesDecide: true,
    cleanup: async () => database?.drop(),
  });
});
