// What only the SQLite store's change log does beyond the conformance suite:
// files from before the log, the poller's timer (only while someone listens),
// its catching up on a burst, own commits signalled once, and the retention's
// batches.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { documentETag } from '../../src/store/etag.js';
import { pruneIntervalMs } from '../../src/store/retention.js';
import { POLL_MS } from '../../src/store/sqlite/change-signals.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import {
  type ChangeSignal,
  ChangesExpiredError,
  type DocumentStore,
} from '../../src/store/types.js';

const dir = mkdtempSync(join(tmpdir(), 'ifmatch-sqlite-changes-'));
let files = 0;
const newFile = () => join(dir, `f${++files}.db`);
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const open: DocumentStore[] = [];
function store(path: string, options?: Parameters<typeof openSqliteStore>[1]): DocumentStore {
  const s = openSqliteStore(path, options);
  open.push(s);
  return s;
}
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Ref'd timers of this process, lowest over a few samples (the runner's own come and go). */
async function lastingTimers(): Promise<number> {
  let lowest = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 6; i++) {
    await sleep(POLL_MS);
    const n = process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    lowest = Math.min(lowest, n);
  }
  return lowest;
}

// The schema of the versions before the change log, and rows as they wrote them.
const SCHEMA_BEFORE_THE_LOG = `
CREATE TABLE sequence (one INTEGER PRIMARY KEY CHECK (one = 1), value INTEGER NOT NULL);
CREATE TABLE documents (
  collection TEXT NOT NULL, id TEXT NOT NULL, seq INTEGER NOT NULL, etag TEXT NOT NULL,
  last_modified_ms INTEGER NOT NULL, size INTEGER NOT NULL, body BLOB NOT NULL,
  PRIMARY KEY (collection, id)
);
CREATE INDEX documents_validators ON documents (collection, id, etag, last_modified_ms, size);
CREATE TABLE collections (name TEXT PRIMARY KEY, seq INTEGER NOT NULL, last_modified_ms INTEGER NOT NULL);
`;

function fileBeforeTheLog(path: string): { etags: string[] } {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(SCHEMA_BEFORE_THE_LOG);
  const etags: string[] = [];
  const bodies = [json({ n: 1 }), json({ n: 2 }), json({ other: true })];
  const where = ['notes', 'notes', 'other'];
  const ids = ['a', 'b', 'x'];
  for (let seq = 1; seq <= 3; seq++) {
    const body = bodies[seq - 1]!;
    const etag = documentETag(seq, body);
    etags.push(etag);
    db.prepare('INSERT INTO documents VALUES (?, ?, ?, ?, ?, ?, ?)').run(
      where[seq - 1],
      ids[seq - 1],
      seq,
      etag,
      1_700_000_000_000 + seq,
      body.length,
      body,
    );
    db.prepare(
      'INSERT INTO collections VALUES (?, ?, ?) ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, last_modified_ms = excluded.last_modified_ms',
    ).run(where[seq - 1], seq, 1_700_000_000_000 + seq);
  }
  db.exec('INSERT INTO sequence VALUES (1, 3)');
  db.close();
  return { etags };
}

describe('sqlite change log', () => {
  it('opens a file from before the log: data intact, older positions expired, new writes logged', async () => {
    const path = newFile();
    const { etags } = fileBeforeTheLog(path);
    const s = store(path);
    // Nothing was lost or renumbered.
    expect((await s.validators({ collection: 'notes', id: 'a' }))?.etag).toBe(etags[0]);
    const listed = await s.list('notes', { limit: 10 });
    expect(listed.items.map((i) => [i.id, i.etag])).toEqual([
      ['a', etags[0]],
      ['b', etags[1]],
    ]);
    // The log starts empty; the counter is where a listing resumes from.
    expect(listed.position).toBe(2);
    expect(await s.changes('notes', { after: 0, limit: 10 })).toEqual({ changes: [], position: 0 });
    expect(await s.changes('notes', { after: 2, limit: 10 })).toEqual({ changes: [], position: 2 });
    // A position before the log (a cursor nobody could have had, but the
    // contract is that unkept changes expire) is refused, not answered short.
    await expect(s.changes('notes', { after: 1, limit: 10 })).rejects.toEqual(
      new ChangesExpiredError(2),
    );
    expect((await s.changes('other', { after: 3, limit: 10 })).changes).toEqual([]);

    const out = await s.write({ collection: 'notes', id: 'a' }, () => ({
      action: 'put',
      body: json({ n: 3 }),
    }));
    expect(out.action).toBe('put');
    const page = await s.changes('notes', { after: listed.position, limit: 10 });
    expect(page.changes).toHaveLength(1);
    expect(page.changes[0]).toMatchObject({ position: 4, id: 'a', deleted: false });
    expect(typeof (await s.identity())).toBe('string');

    // Reopened (and opened by a second store), the upgrade is not redone.
    await s.close();
    const again = store(path);
    expect((await again.changes('notes', { after: 0, limit: 10 })).changes).toHaveLength(1);
    await expect(again.changes('notes', { after: 1, limit: 10 })).rejects.toBeInstanceOf(
      ChangesExpiredError,
    );
    const other = store(path);
    expect(await other.identity()).toBe(await again.identity());
  });

  it("opening a file that is set up takes no write lock (never waits for another process's write)", async () => {
    const path = newFile();
    const first = store(path);
    const identity = await first.identity();
    const writer = new Database(path);
    writer.exec('BEGIN IMMEDIATE');
    try {
      const started = Date.now();
      const second = store(path, { busyTimeoutMs: 2000 });
      expect(Date.now() - started).toBeLessThan(1000);
      expect(await second.identity()).toBe(identity);
    } finally {
      writer.exec('ROLLBACK');
      writer.close();
    }
  });

  it('polls the file only while someone listens, and never for :memory:', async () => {
    const path = newFile();
    const s = store(path);
    const idle = await lastingTimers();
    const stop = s.subscribe(() => {});
    expect(await lastingTimers()).toBe(idle + 1);
    const stopAlso = s.subscribe(() => {});
    expect(await lastingTimers()).toBe(idle + 1); // one poller, however many listen
    stop();
    expect(await lastingTimers()).toBe(idle + 1);
    stopAlso();
    expect(await lastingTimers()).toBe(idle);

    const memory = store(':memory:');
    const signals: ChangeSignal[] = [];
    const stopMemory = memory.subscribe((x) => signals.push(x));
    expect(await lastingTimers()).toBe(idle);
    await memory.write({ collection: 'c', id: 'a' }, () => ({ action: 'put', body: json(1) }));
    expect(signals).toEqual([{ kind: 'change', collection: 'c', id: 'a', position: 1 }]);
    stopMemory();
  });

  it('signals own commits once, and catches up on a burst of another connection', async () => {
    const path = newFile();
    const a = store(path);
    const b = store(path, { synchronous: 'NORMAL' });
    const signals: ChangeSignal[] = [];
    const stop = a.subscribe((x) => signals.push(x));
    // Own commits come before write() resolves.
    await a.write({ collection: 'own', id: 'x' }, () => ({ action: 'put', body: json(1) }));
    expect(signals).toHaveLength(1);
    // More than one read batch (1000 rows) between two polls: the writes
    // below run without yielding to timers.
    const burst = 2500;
    for (let i = 0; i < burst; i++) {
      await b.write({ collection: 'burst', id: `d${i % 10}` }, () => ({
        action: 'put',
        body: json(i),
      }));
    }
    for (let i = 0; i < 20; i++) {
      await a.write({ collection: 'own', id: 'x' }, () => ({ action: 'put', body: json(i) }));
    }
    const until = Date.now() + 5000;
    const burstSignals = () =>
      signals.filter((x) => x.kind === 'change' && x.collection === 'burst');
    while (burstSignals().length < burst && Date.now() < until) await sleep(POLL_MS);
    await sleep(5 * POLL_MS);
    const log = (await a.changes('burst', { after: 0, limit: 10_000 })).changes;
    expect(burstSignals().map((x) => x.kind === 'change' && x.position)).toEqual(
      log.map((ch) => ch.position),
    );
    const own = signals.filter((x) => x.kind === 'change' && x.collection === 'own');
    const ownPositions = own.map((x) => x.kind === 'change' && x.position);
    expect(own).toHaveLength(21);
    expect(new Set(ownPositions).size).toBe(21);
    stop();
  });

  it('a listener that throws fails neither the write nor the other listeners', async () => {
    // :memory: has no poller, so each commit is signalled exactly once here.
    const s = store(':memory:');
    const seen: ChangeSignal[] = [];
    const thrown: unknown[] = [];
    const onUncaught = (error: unknown) => thrown.push(error);
    // The store reports it as an uncaught exception, out of the write's stack.
    const listeners = process.listeners('uncaughtException');
    process.removeAllListeners('uncaughtException');
    process.on('uncaughtException', onUncaught);
    try {
      const stopBad = s.subscribe(() => {
        throw new Error('listener bug');
      });
      const stopGood = s.subscribe((x) => seen.push(x));
      const out = await s.write({ collection: 'c', id: 'a' }, () => ({
        action: 'put',
        body: json(1),
      }));
      expect(out.action).toBe('put');
      expect(seen).toHaveLength(1);
      await sleep(10);
      expect(thrown).toEqual([new Error('listener bug')]);
      stopBad();
      stopGood();
    } finally {
      process.off('uncaughtException', onUncaught);
      for (const l of listeners) process.on('uncaughtException', l);
    }
  });

  it('the retention prunes a long log in batches and keeps the rest resumable', async () => {
    const retention = 400;
    expect(pruneIntervalMs(retention)).toBe(100);
    expect(pruneIntervalMs(7 * 24 * 3600 * 1000)).toBe(60_000);
    const s = store(newFile(), { changeRetentionMs: retention, synchronous: 'NORMAL' });
    const rows = 12_000; // more than two prune batches
    for (let i = 0; i < rows; i++) {
      await s.write({ collection: i % 2 ? 'odd' : 'even', id: `d${i % 7}` }, () => ({
        action: 'put',
        body: json(i),
      }));
    }
    const lastOdd = (await s.list('odd', { limit: 1 })).position;
    const lastEven = (await s.list('even', { limit: 1 })).position;
    const until = Date.now() + 10_000;
    const kept = async () =>
      (await s.changes('odd', { after: 0, limit: rows })).changes.length +
      (await s.changes('even', { after: 0, limit: rows })).changes.length;
    while ((await kept()) > 0 && Date.now() < until) await sleep(50);
    expect(await kept()).toBe(0);
    // Each collection's oldest resumable position is its own last pruned one.
    await expect(s.changes('odd', { after: 1, limit: 1 })).rejects.toEqual(
      new ChangesExpiredError(lastOdd),
    );
    await expect(s.changes('even', { after: 1, limit: 1 })).rejects.toEqual(
      new ChangesExpiredError(lastEven),
    );
    expect(await s.changes('odd', { after: lastOdd, limit: 1 })).toEqual({
      changes: [],
      position: lastOdd,
    });
  });

  it('refuses a retention that is not positive', () => {
    expect(() => openSqliteStore(':memory:', { changeRetentionMs: 0 })).toThrow(RangeError);
  });
});
