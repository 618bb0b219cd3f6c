// The stores the contract suite runs against. Each entry opens a fresh, empty
// store; `cleanup` removes whatever the entry created. Append an entry (e.g.
// PostgreSQL) and every contract test runs against it too.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPostgresStore } from '../../src/store/postgres.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { DocumentStore } from '../../src/store/types.js';
import {
  createTestDatabase,
  HOW_TO_ENABLE,
  probePostgres,
  type TestDatabase,
} from '../postgres/pg.js';

export interface StoreFactory {
  name: string;
  /** A fresh, empty store. */
  open: () => Promise<DocumentStore>;
  /** Removes what `open` created (files, databases); the stores are closed first. */
  cleanup: () => Promise<void>;
}

function sqliteFactory(): StoreFactory {
  const dirs: string[] = [];
  return {
    name: 'sqlite',
    async open() {
      // A real file (WAL and all), not :memory:.
      const dir = mkdtempSync(join(tmpdir(), 'ifmatch-contract-'));
      dirs.push(dir);
      return openSqliteStore(join(dir, 'ifmatch.db'));
    },
    async cleanup() {
      for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * PostgreSQL: a fresh `ifmatch_pg_<random>` database per open(), dropped by
 * cleanup(). Unreachable PostgreSQL: in CI an entry whose open() fails (the
 * suite must not pass without it), elsewhere no entry and a message.
 */
async function postgresFactory(): Promise<StoreFactory | undefined> {
  const problem = await probePostgres();
  const failing = problem !== undefined && process.env.CI === 'true';
  if (problem !== undefined && !failing) {
    console.warn(`contract suite: PostgreSQL skipped (${problem}); ${HOW_TO_ENABLE}`);
    return undefined;
  }
  const databases: TestDatabase[] = [];
  return {
    name: 'postgres',
    async open() {
      if (problem !== undefined) {
        throw new Error(`PostgreSQL is required in CI but unreachable: ${problem}`);
      }
      const db = await createTestDatabase();
      databases.push(db);
      return openPostgresStore(db.url, { poolSize: 4 });
    },
    async cleanup() {
      for (const db of databases.splice(0)) await db.drop();
    },
  };
}

const postgres = await postgresFactory();

export const storeFactories: StoreFactory[] = [sqliteFactory(), ...(postgres ? [postgres] : [])];
