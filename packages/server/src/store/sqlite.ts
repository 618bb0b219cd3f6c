import { closeSync, existsSync, mkdirSync, openSync, readSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { LRUCache } from 'lru-cache';
import { collectionETag, documentETag } from './etag.js';
import { newId } from './new-id.js';
import type {
  DocKey,
  DocumentStore,
  ListPage,
  StoredDocument,
  StoredValidators,
  WriteDecider,
  WriteOutcome,
} from './types.js';

export interface SqliteStoreOptions {
  /**
   * FULL (default): a write acknowledged with 2xx survives a power loss.
   * NORMAL: faster, survives process crashes but may lose the last commits on
   * power loss. See docs/DECISIONS.md.
   */
  synchronous?: 'FULL' | 'NORMAL';
  /** How long a writer waits for another process's transaction (ms). */
  busyTimeoutMs?: number;
}

interface DocRow {
  etag: string;
  last_modified_ms: number;
  body: Buffer;
}
interface ValidatorRow {
  etag: string;
  last_modified_ms: number;
  size: number;
}
interface ListRow extends ValidatorRow {
  id: string;
}
interface CollectionRow {
  seq: number;
  last_modified_ms: number;
}

/** Documents whose validators are kept in memory (a few hundred bytes each). */
const VALIDATORS_CACHED = 10_000;
/** Both copies of the wal-index header at the start of the -shm file. */
const WAL_INDEX_HEADERS = 96;

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
CREATE TABLE IF NOT EXISTS collections (
  name TEXT PRIMARY KEY,
  seq INTEGER NOT NULL,
  last_modified_ms INTEGER NOT NULL
);
`;

/**
 * mkdir -p, one level at a time: Node's recursive mkdirSync can spin forever
 * on some special file systems (e.g. under /proc), and a bad --db must fail.
 */
function mkdirParents(dir: string): void {
  const missing: string[] = [];
  let current = resolve(dir);
  while (!existsSync(current)) {
    missing.unshift(current);
    const parent = dirname(current);
    if (parent === current) break;
    current = parent;
  }
  for (const d of missing) mkdirSync(d);
}

/**
 * A cheap "has any connection committed since I last asked?" for the
 * validators cache. In WAL mode it reads the wal-index header, the first 96
 * bytes of the -shm file (two copies of WalIndexHdr, sqlite.org/walformat.html):
 * every commit rewrites them (iChange, mxFrame, checksums), and SQLite's own
 * readers trust the same bytes. One pread, no lock and no statement (about
 * 1 us against 3 us for `PRAGMA data_version` on an idle machine), with the
 * pragma as the fallback (no -shm file, e.g. :memory:, or a failed read).
 * A torn read can only look like a change, which just empties the cache.
 */
function commitWatcher(
  db: Database.Database,
  path: string,
): { changed: () => boolean; close: () => void } {
  const dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
  let seenVersion = dataVersion.get();
  const byVersion = () => {
    const version = dataVersion.get();
    if (version === seenVersion) return false;
    seenVersion = version;
    return true;
  };
  const wal = String(db.pragma('journal_mode', { simple: true })).toLowerCase() === 'wal';
  const fallback = { changed: byVersion, close: () => {} };
  if (!wal || path === ':memory:' || path.startsWith('file:')) return fallback;
  let fd: number;
  try {
    fd = openSync(`${path}-shm`, 'r');
  } catch {
    return fallback;
  }
  const seen = Buffer.alloc(WAL_INDEX_HEADERS);
  const now = Buffer.alloc(WAL_INDEX_HEADERS);
  readSync(fd, seen, 0, WAL_INDEX_HEADERS, 0);
  return {
    changed: () => {
      let read = 0;
      try {
        read = readSync(fd, now, 0, WAL_INDEX_HEADERS, 0);
      } catch {
        // Whatever went wrong with the file, SQLite's own answer still holds.
      }
      if (read !== WAL_INDEX_HEADERS) return byVersion();
      if (now.equals(seen)) return false;
      now.copy(seen);
      return true;
    },
    close: () => closeSync(fd),
  };
}

/** The embedded store: one SQLite file (or ':memory:'), shareable by several processes. */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): DocumentStore {
  if (path !== ':memory:' && !path.startsWith('file:')) mkdirParents(dirname(path));
  const db = new Database(path);
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    db.exec(SCHEMA);
  } catch (error) {
    db.close();
    throw error;
  }

  const selectValidators = db.prepare<[string, string], ValidatorRow>(
    'SELECT etag, last_modified_ms, size FROM documents INDEXED BY documents_validators WHERE collection = ? AND id = ?',
  );
  const selectDoc = db.prepare<[string, string], DocRow>(
    'SELECT etag, last_modified_ms, body FROM documents WHERE collection = ? AND id = ?',
  );
  const nextSeq = db.prepare<[], { value: number }>(
    'UPDATE sequence SET value = value + 1 WHERE one = 1 RETURNING value',
  );
  const upsertDoc = db.prepare(
    `INSERT INTO documents (collection, id, seq, etag, last_modified_ms, size, body) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (collection, id) DO UPDATE SET seq = excluded.seq, etag = excluded.etag,
       last_modified_ms = excluded.last_modified_ms, size = excluded.size, body = excluded.body`,
  );
  const insertDoc = db.prepare(
    'INSERT INTO documents (collection, id, seq, etag, last_modified_ms, size, body) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const deleteDoc = db.prepare('DELETE FROM documents WHERE collection = ? AND id = ?');
  const bumpCollection = db.prepare(
    `INSERT INTO collections (name, seq, last_modified_ms) VALUES (?, ?, ?)
     ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, last_modified_ms = excluded.last_modified_ms`,
  );
  const selectCollection = db.prepare<[string], CollectionRow>(
    'SELECT seq, last_modified_ms FROM collections WHERE name = ?',
  );
  const listAfter = db.prepare<[string, string, number], ListRow>(
    'SELECT id, etag, last_modified_ms, size FROM documents INDEXED BY documents_validators WHERE collection = ? AND id > ? ORDER BY id LIMIT ?',
  );
  const ping = db.prepare('SELECT 1');

  // Every write takes the next value of one global sequence, shared by all
  // processes on this file: a tag is never reused for a URL, even after delete
  // and re-create, and the per-collection counter never goes back.
  function stamp(collection: string): { seq: number; now: number } {
    const seq = nextSeq.get()!.value;
    const now = Date.now();
    bumpCollection.run(collection, seq, now);
    return { seq, now };
  }

  function toDoc(row: DocRow): StoredDocument {
    return {
      etag: row.etag,
      lastModified: row.last_modified_ms,
      size: row.body.length,
      body: row.body,
    };
  }

  const writeTxn = db.transaction(<R>(key: DocKey, decide: WriteDecider<R>): WriteOutcome<R> => {
    const row = selectDoc.get(key.collection, key.id);
    const current = row ? toDoc(row) : undefined;
    const decision = decide(current);
    switch (decision.action) {
      case 'refuse':
        return { action: 'refuse', current, result: decision.result };
      case 'put': {
        const { seq, now } = stamp(key.collection);
        const etag = documentETag(seq, decision.body);
        upsertDoc.run(key.collection, key.id, seq, etag, now, decision.body.length, decision.body);
        return {
          action: 'put',
          created: current === undefined,
          doc: { etag, lastModified: now, size: decision.body.length },
          result: decision.result,
        };
      }
      case 'delete': {
        // Nothing to delete: nothing changes (types.ts, WriteOutcome).
        if (!current) return { action: 'delete', previous: undefined, result: decision.result };
        stamp(key.collection);
        deleteDoc.run(key.collection, key.id);
        return {
          action: 'delete',
          previous: { etag: current.etag, lastModified: current.lastModified, size: current.size },
          result: decision.result,
        };
      }
    }
  });

  const createTxn = db.transaction((collection: string, id: string, body: Buffer) => {
    const { seq, now } = stamp(collection);
    const etag = documentETag(seq, body);
    insertDoc.run(collection, id, seq, etag, now, body.length, body);
    return { id, etag, lastModified: now, size: body.length };
  });

  function collectionValidators(collection: string): StoredValidators | undefined {
    const row = selectCollection.get(collection);
    return row ? { etag: collectionETag(row.seq), lastModified: row.last_modified_ms } : undefined;
  }

  // One read transaction: the page and the collection's validators are one snapshot.
  const listTxn = db.transaction((collection: string, after: string, limit: number): ListPage => {
    const rows = listAfter.all(collection, after, limit + 1);
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const validators = collectionValidators(collection);
    return {
      items: page.map((r) => ({ id: r.id, etag: r.etag, lastModified: r.last_modified_ms })),
      next: more ? page[page.length - 1]!.id : null,
      ...(validators ? { validators } : {}),
    };
  });

  // Validators cache: a conditional GET needs no query when nothing was
  // committed since the entry was read. "Nothing was committed" is checked on
  // every call, after the request arrived, so a cached entry never hides a
  // write that finished before it; this connection's own writes drop their key.
  const commits = commitWatcher(db, path);
  const known = new LRUCache<string, StoredValidators | false>({ max: VALIDATORS_CACHED });
  const cacheKey = (collection: string, id: string) => `${collection}/${id}`;

  function currentValidators(key: DocKey): StoredValidators | undefined {
    if (commits.changed()) known.clear();
    const k = cacheKey(key.collection, key.id);
    const hit = known.get(k);
    if (hit !== undefined) return hit || undefined;
    const row = selectValidators.get(key.collection, key.id);
    const v = row
      ? { etag: row.etag, lastModified: row.last_modified_ms, size: row.size }
      : undefined;
    known.set(k, v ?? false);
    return v;
  }

  let closed = false;
  return {
    kind: 'sqlite',
    // Synchronous on purpose (better-sqlite3 is): the 304 path needs no promise.
    validators: currentValidators,
    async read(key) {
      const row = selectDoc.get(key.collection, key.id);
      return row ? toDoc(row) : undefined;
    },
    async write(key, decide) {
      // BEGIN IMMEDIATE takes the write lock before the read, so the decision
      // and the write are one atomic step across processes sharing the file.
      try {
        return writeTxn.immediate(key, decide) as WriteOutcome<never>;
      } finally {
        known.delete(cacheKey(key.collection, key.id));
      }
    },
    async create(collection, body) {
      for (let attempt = 0; ; attempt++) {
        try {
          const made = createTxn.immediate(collection, newId(), body);
          known.delete(cacheKey(collection, made.id));
          return made;
        } catch (error) {
          const code = (error as { code?: string }).code;
          if (code !== 'SQLITE_CONSTRAINT_PRIMARYKEY' || attempt >= 3) throw error;
        }
      }
    },
    async list(collection, { after, limit }): Promise<ListPage> {
      return listTxn(collection, after ?? '', limit);
    },
    async collectionValidators(collection) {
      return collectionValidators(collection);
    },
    async ready() {
      if (closed) return false;
      try {
        ping.get();
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      commits.close();
      db.close();
    },
  };
}
