import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { LRUCache } from 'lru-cache';
import { collectionETag, documentETag } from './etag.js';
import { newId } from './new-id.js';
import { DEFAULT_CHANGE_RETENTION_MS, pruneIntervalMs } from './retention.js';
import { changeSignals } from './sqlite/change-signals.js';
import { commitWatcher } from './sqlite/commit-watcher.js';
import { changeRetention } from './sqlite/retention.js';
import { setUpSchema } from './sqlite/schema.js';
import {
  type ChangePage,
  type ChangeSignal,
  ChangesExpiredError,
  type DocKey,
  type DocumentStore,
  type ListPage,
  type StoredChange,
  type StoredDocument,
  type StoredValidators,
  type WriteDecider,
  type WriteOutcome,
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
  /**
   * How long the change log keeps a change (ms, default 7 days): a cursor
   * older than that gets ChangesExpiredError (HTTP 410, list again).
   */
  changeRetentionMs?: number;
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
interface ChangeRow {
  position: number;
  id: string;
  etag: string | null;
  last_modified_ms: number;
}

/** Documents whose validators are kept in memory (a few hundred bytes each). */
const VALIDATORS_CACHED = 10_000;

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

/** The embedded store: one SQLite file (or ':memory:'), shareable by several processes. */
export function openSqliteStore(path: string, options: SqliteStoreOptions = {}): DocumentStore {
  if (path !== ':memory:' && !path.startsWith('file:')) mkdirParents(dirname(path));
  const retentionMs = options.changeRetentionMs ?? DEFAULT_CHANGE_RETENTION_MS;
  if (!(retentionMs > 0)) throw new RangeError('changeRetentionMs must be positive');
  const db = new Database(path);
  let identity: string;
  try {
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    identity = setUpSchema(db);
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
  const appendChange = db.prepare<[number, string, string, string | null, number]>(
    'INSERT INTO changes (position, collection, id, etag, last_modified_ms) VALUES (?, ?, ?, ?, ?)',
  );
  const selectPruned = db
    .prepare<[string], number>('SELECT pruned_through FROM collections WHERE name = ?')
    .pluck();
  const changesAfter = db.prepare<[string, number, number], ChangeRow>(
    'SELECT position, id, etag, last_modified_ms FROM changes WHERE collection = ? AND position > ? ORDER BY position LIMIT ?',
  );
  const ping = db.prepare('SELECT 1');

  const signals = changeSignals(db, path);
  /** Signals of the transaction running now, delivered once it committed. */
  const pending: ChangeSignal[] = [];

  // Every committed member write goes through here, inside its transaction.
  // It takes the next value of one global sequence, shared by all processes on
  // this file: a tag is never reused for a URL, even after delete and
  // re-create, and the per-collection counter never goes back. The same value
  // is the change's position in the log (commit order, BEGIN IMMEDIATE).
  // body null: a deletion.
  function commitMember(
    collection: string,
    id: string,
    body: Buffer,
  ): { seq: number; now: number; etag: string };
  function commitMember(collection: string, id: string, body: null): void;
  function commitMember(
    collection: string,
    id: string,
    body: Buffer | null,
  ): { seq: number; now: number; etag: string } | undefined {
    const seq = nextSeq.get()!.value;
    const now = Date.now();
    bumpCollection.run(collection, seq, now);
    const etag = body === null ? null : documentETag(seq, body);
    appendChange.run(seq, collection, id, etag, now);
    pending.push({ kind: 'change', collection, id, position: seq });
    return etag === null ? undefined : { seq, now, etag };
  }

  /** Runs a write transaction, then signals what it committed (nothing if it threw). */
  function committing<T>(transaction: () => T): T {
    pending.length = 0;
    let result: T;
    try {
      result = transaction();
    } catch (error) {
      pending.length = 0;
      throw error;
    }
    signals.committed(pending.splice(0));
    return result;
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
        const { seq, now, etag } = commitMember(key.collection, key.id, decision.body);
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
        commitMember(key.collection, key.id, null);
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
    const { seq, now, etag } = commitMember(collection, id, body);
    insertDoc.run(collection, id, seq, etag, now, body.length, body);
    return { id, etag, lastModified: now, size: body.length };
  });

  const toValidators = (row: CollectionRow): StoredValidators => ({
    etag: collectionETag(row.seq),
    lastModified: row.last_modified_ms,
  });

  function collectionValidators(collection: string): StoredValidators | undefined {
    const row = selectCollection.get(collection);
    return row ? toValidators(row) : undefined;
  }

  // One read transaction: the page, the collection's validators and its
  // position (the counter: the position of its last change) are one snapshot.
  const listTxn = db.transaction((collection: string, after: string, limit: number): ListPage => {
    const rows = listAfter.all(collection, after, limit + 1);
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const counter = selectCollection.get(collection);
    return {
      items: page.map((r) => ({ id: r.id, etag: r.etag, lastModified: r.last_modified_ms })),
      position: counter?.seq ?? 0,
      next: more ? page[page.length - 1]!.id : null,
      ...(counter ? { validators: toValidators(counter) } : {}),
    };
  });

  const toChange = (row: ChangeRow): StoredChange =>
    row.etag === null
      ? { position: row.position, id: row.id, lastModified: row.last_modified_ms, deleted: true }
      : {
          position: row.position,
          id: row.id,
          etag: row.etag,
          lastModified: row.last_modified_ms,
          deleted: false,
        };

  // One read transaction: the retention cannot prune between the check and the read.
  const changesTxn = db.transaction(
    (collection: string, after: number, limit: number): ChangePage => {
      const prunedThrough = selectPruned.get(collection) ?? 0;
      if (after > 0 && after < prunedThrough) throw new ChangesExpiredError(prunedThrough);
      const rows = changesAfter.all(collection, after, limit);
      return { changes: rows.map(toChange), position: rows.at(-1)?.position ?? after };
    },
  );

  // The retention: an unref'd timer (it never keeps a process alive), and
  // when a run leaves more to prune, the next batch right after, not at once.
  const retention = changeRetention(db, retentionMs);
  let closed = false;
  let pruneMore: NodeJS.Immediate | undefined;
  function prune(): void {
    pruneMore = undefined;
    if (closed) return;
    let more = false;
    try {
      more = retention.prune(Date.now());
    } catch {
      // Busy (another process held the write lock for busy_timeout): next run.
    }
    if (more) pruneMore = setImmediate(prune).unref();
  }
  const pruneTimer = setInterval(prune, pruneIntervalMs(retentionMs)).unref();

  // Validators cache: a conditional GET needs no query when nothing was
  // committed since the entry was read. "Nothing was committed" is checked
  // after the request arrived, so a cached entry never hides a write that
  // finished before it; this connection's own writes drop their key.
  //
  // One check serves every lookup made before it runs: it runs in the event
  // loop's check phase (setImmediate), after the poll phase that read those
  // requests, so it is after each of their arrivals, as the shared PostgreSQL
  // lookups are (postgres/shared-lookups.ts). Under load one pread then
  // answers the many requests a poll phase reads: measured with
  // bench/cpu-per-request.sh, a 1 KB 304 went from 52-64 to 39-46 us of CPU
  // (docs/PERFORMANCE.md), against a check per lookup.
  const commits = commitWatcher(db, path);
  const known = new LRUCache<string, StoredValidators | false>({ max: VALIDATORS_CACHED });
  const cacheKey = (collection: string, id: string) => `${collection}/${id}`;
  let checking: Promise<void> | undefined;
  const checked = (): Promise<void> =>
    (checking ??= new Promise((resolve) => {
      setImmediate(() => {
        checking = undefined;
        if (commits.changed()) known.clear();
        resolve();
      });
    }));

  /** The validators as of the last check (call only once a check ran after the lookup began). */
  function cachedValidators(key: DocKey): StoredValidators | undefined {
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

  return {
    kind: 'sqlite',
    validators: (key) => checked().then(() => cachedValidators(key)),
    async read(key) {
      const row = selectDoc.get(key.collection, key.id);
      return row ? toDoc(row) : undefined;
    },
    async write(key, decide) {
      // BEGIN IMMEDIATE takes the write lock before the read, so the decision
      // and the write are one atomic step across processes sharing the file.
      // The cached validators go before the signals: a listener that reads
      // at once must see this commit.
      return committing(() => {
        try {
          return writeTxn.immediate(key, decide) as WriteOutcome<never>;
        } finally {
          known.delete(cacheKey(key.collection, key.id));
        }
      });
    },
    async create(collection, body) {
      for (let attempt = 0; ; attempt++) {
        try {
          return committing(() => {
            const made = createTxn.immediate(collection, newId(), body);
            known.delete(cacheKey(collection, made.id));
            return made;
          });
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
    async changes(collection, { after, limit }) {
      return changesTxn(collection, after, limit);
    },
    subscribe(listener) {
      return signals.subscribe(listener);
    },
    async identity() {
      return identity;
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
      clearInterval(pruneTimer);
      if (pruneMore !== undefined) clearImmediate(pruneMore);
      signals.close();
      commits.close();
      db.close();
    },
  };
}
