// The stores the contract suite runs against. Each entry opens a fresh, empty
// store; `cleanup` removes whatever the entry created. Append an entry (e.g.
// PostgreSQL) and every contract test runs against it too.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { DocumentStore } from '../../src/store/types.js';

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

export const storeFactories: StoreFactory[] = [sqliteFactory()];
