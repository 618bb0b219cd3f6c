import { randomBytes } from 'node:crypto';
import type Database from 'better-sqlite3';

// The tables of the SQLite store. Every statement is idempotent (IF NOT
// EXISTS, OR IGNORE) and the whole setup runs in one BEGIN IMMEDIATE
// transaction, so processes opening the same new or old file at once agree.
const SCHEMA = `
CREATE TABLE IF NOT EXISTS sequence (
  one INTEGER PRIMARY KEY CHECK (one = 1),
  value INTEGER NOT NULL
);
INSERT OR IGNORE INTO sequence (one, value) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS documents (
  collection TEXT NOT NULL,
  id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  etag TEXT NOT NULL,
  last_modified_ms INTEGER NOT NULL,
  size INTEGER NOT NULL,
  body BLOB NOT NULL,
  PRIMARY KEY (collection, id)
);
-- Covering index: validators() and list() are answered from the index alone,
-- never touching the row that holds the body.
CREATE INDEX IF NOT EXISTS documents_validators
  ON documents (collection, id, etag, last_modified_ms, size);
-- seq: the global sequence value of the collection's last member write (its
-- counter, and the position of its last change). pruned_through: the highest
-- position the retention removed from its change log.
CREATE TABLE IF NOT EXISTS collections (
  name TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  last_modified_ms INTEGER NOT NULL,
  pruned_through INTEGER NOT NULL DEFAULT 0
);
-- The change log: one row per committed member write, appended in the write's
-- transaction. position = the write's global sequence value: BEGIN IMMEDIATE
-- serializes every writer of the file, so positions grow in commit order
-- across collections and processes. etag NULL: a deletion. last_modified_ms
-- is also when the row was recorded (the retention prunes by it).
CREATE TABLE IF NOT EXISTS changes (
  position INTEGER PRIMARY KEY,
  collection TEXT NOT NULL,
  id TEXT NOT NULL,
  etag TEXT,
  last_modified_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_by_collection ON changes (collection, position);
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;

/**
 * What setUpSchema makes; raise it with every change to SCHEMA or the
 * upgrades, so files set up by an older version are upgraded (1: before the
 * change log, which had no meta table).
 */
const SCHEMA_VERSION = '2';

/**
 * Creates or upgrades the schema and returns the storage's identity (a random
 * name made once, with the schema; `:memory:` therefore gets a fresh one).
 */
export function setUpSchema(db: Database.Database): string {
  // Already set up (the usual open): no write lock, so opening never waits
  // for another process's write.
  if (hasTable(db, 'meta') && metaValue(db, 'schema_version') === SCHEMA_VERSION) {
    const existing = metaValue(db, 'identity');
    if (existing !== undefined) return existing;
  }
  return db
    .transaction(() => {
      const hadCollections = hasTable(db, 'collections');
      const hadLog = hasColumn(db, 'collections', 'pruned_through');
      db.exec(SCHEMA);
      if (hadCollections && !hadLog) {
        // A file from before the change log: no change of these collections is
        // kept, so a position up to their current counter cannot be resumed.
        db.exec('ALTER TABLE collections ADD COLUMN pruned_through INTEGER NOT NULL DEFAULT 0');
        db.exec('UPDATE collections SET pruned_through = seq');
      }
      db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('identity', ?)").run(
        randomBytes(12).toString('base64url'),
      );
      db.prepare("INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)").run(
        SCHEMA_VERSION,
      );
      return metaValue(db, 'identity')!;
    })
    .immediate();
}

function metaValue(db: Database.Database, key: string): string | undefined {
  return db.prepare<[string], string>('SELECT value FROM meta WHERE key = ?').pluck().get(key);
}

function hasTable(db: Database.Database, table: string): boolean {
  return (
    db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(table) !==
    undefined
  );
}

function hasColumn(db: Database.Database, table: string, column: string): boolean {
  return (
    db.prepare('SELECT 1 FROM pragma_table_info(?) WHERE name = ?').get(table, column) !== undefined
  );
}
