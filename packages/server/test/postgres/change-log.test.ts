// The PostgreSQL store's change log against a real server: what only
// PostgreSQL has (the conformance suite covers what every store must do):
// commit order of positions across two instances (two pools) writing at once,
// a database of schema version 2 migrated to the log, and retention pruned by
// several instances at once.

import pg from 'pg';
import { beforeAll, expect, it } from 'vitest';
import { openPostgresStore, type PostgresStore } from '../../src/store/postgres.js';
import {
  ChangesExpiredError,
  type DocumentStore,
  type StoredChange,
  type WriteDecider,
} from '../../src/store/types.js';
import { createTestDatabase, describePostgres, sharedDatabase } from './pg.js';

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const put =
  (value: unknown): WriteDecider<undefined> =>
  () => ({ action: 'put', body: json(value) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every change after `after`, page by page (small pages: paging is exercised too). */
async function allChanges(store: DocumentStore, collection: string, after = 0) {
  const changes: StoredChange[] = [];
  let position = after;
  for (;;) {
    const page = await store.changes(collection, { after: position, limit: 7 });
    changes.push(...page.changes);
    if (page.changes.length === 0) return { changes, position };
    position = page.position;
  }
}

await describePostgres('PostgreSQL change log', () => {
  const instances = sharedDatabase({ latencyMs: 2, a: { poolSize: 8 }, b: { poolSize: 8 } });
  let a: DocumentStore;
  let b: DocumentStore;
  beforeAll(() => {
    ({ a, b } = instances);
  });

  it('logs every committed write with the collection counter as position; refusals and no-op deletes add nothing', async () => {
    const c = 'basics';
    const created = await a.write({ collection: c, id: 'x' }, put({ v: 1 }));
    const made = await b.create(c, json({ v: 'made' }));
    await a.write({ collection: c, id: 'x' }, () => ({ action: 'refuse', result: 412 }));
    await a.write({ collection: c, id: 'absent' }, () => ({ action: 'delete' }));
    const deleted = await b.write({ collection: c, id: 'x' }, () => ({ action: 'delete' }));
    expect(created.action).toBe('put');
    expect(deleted.action === 'delete' && deleted.previous).toBeTruthy();

    const page = await a.changes(c, { after: 0, limit: 100 });
    expect(page.changes.map((ch) => [ch.position, ch.id, ch.deleted])).toEqual([
      [1, 'x', false],
      [2, made.id, false],
      [3, 'x', true],
    ]);
    expect(page.changes[0]!.etag).toBe(created.action === 'put' && created.doc.etag);
    expect(page.changes[1]!.etag).toBe(made.etag);
    expect(page.changes[1]!.lastModified).toBe(made.lastModified);
    expect(page.changes[2]!.etag).toBeUndefined();
    expect(page.position).toBe(3);
    // Nothing after the end: the position stays.
    expect(await b.changes(c, { after: 3, limit: 10 })).toEqual({ changes: [], position: 3 });
    const listed = await b.list(c, { limit: 10 });
    expect(listed.position).toBe(3);
    expect(listed.items.map((i) => i.id)).toEqual([made.id]);
    // The listing's validators from the same statement as its items.
    expect(listed.validators?.etag).toBe((await a.collectionValidators(c))?.etag);
    expect(await a.list('never-written', { limit: 10 })).toEqual({
      items: [],
      position: 0,
      next: null,
    });
  });

  it('names the database: the same identity for every instance, another for another database', async () => {
    const other = await createTestDatabase();
    const third = await openPostgresStore(other.url);
    try {
      const id = await a.identity();
      expect(id).toMatch(/^[A-Za-z0-9_-]{16,}$/);
      expect(await b.identity()).toBe(id);
      expect(await third.identity()).not.toBe(id);
    } finally {
      await third.close();
      await other.drop();
    }
  });

  it('16 writers on two instances: positions in commit order, no hole a reader could skip', async () => {
    const c = 'ordered';
    const acknowledged: { etag: string; started: number; finished: number }[] = [];
    let writing = true;
    // A reader following the log while it grows: had a position become visible
    // before a smaller one, it would have moved past the smaller one for good.
    const followed: StoredChange[] = [];
    const follower = (async () => {
      let position = 0;
      while (writing) {
        const page = await (followed.length % 2 ? a : b).changes(c, { after: position, limit: 50 });
        followed.push(...page.changes);
        position = page.position;
        await sleep(1);
      }
      followed.push(...(await allChanges(a, c, position)).changes);
    })();
    await Promise.all(
      Array.from({ length: 16 }, async (_, w) => {
        const store = w % 2 ? a : b;
        for (let i = 0; i < 25; i++) {
          // Half the writers share a few documents (row-lock waits), half write their own.
          const id = w % 2 ? `shared-${i % 3}` : `own-${w}`;
          const started = performance.now();
          const outcome = await store.write({ collection: c, id }, put({ w, i }));
          if (outcome.action !== 'put') throw new Error('a put was not applied');
          acknowledged.push({ etag: outcome.doc.etag, started, finished: performance.now() });
        }
      }),
    );
    writing = false;
    await follower;

    const all = (await allChanges(b, c)).changes;
    expect(all).toHaveLength(16 * 25);
    // Dense and strictly increasing: one position per committed write.
    expect(all.map((ch) => ch.position)).toEqual(all.map((_, i) => i + 1));
    // The follower saw exactly the same log: no position appeared behind it.
    expect(followed).toEqual(all);
    // Every acknowledged write is there, and a write acknowledged before
    // another began sits before it (real-time order = log order).
    const positionOf = new Map(all.map((ch) => [ch.etag, ch.position]));
    for (const w of acknowledged) expect(positionOf.has(w.etag)).toBe(true);
    const outOfOrder: string[] = [];
    for (const later of acknowledged) {
      for (const earlier of acknowledged) {
        if (
          earlier.finished < later.started &&
          positionOf.get(earlier.etag)! > positionOf.get(later.etag)!
        ) {
          outOfOrder.push(`${earlier.etag} before ${later.etag}`);
        }
      }
    }
    expect(outOfOrder).toEqual([]);
    expect((await a.list(c, { limit: 1 })).position).toBe(16 * 25);
  }, 60_000);

  it('a listing position is never ahead of its items', async () => {
    const c = 'snapshot';
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) await a.write({ collection: c, id: `d${i % 20}` }, put(i));
    })();
    await sleep(20);
    for (let round = 0; round < 30; round++) {
      const page = await b.list(c, { limit: 100 });
      const kept = new Map(page.items.map((item) => [item.id, item.etag]));
      // Replaying the log up to the position must give exactly the items:
      // had the position been read after the items, a write in between would
      // be in the log but not in the page.
      const upTo = (await allChanges(b, c)).changes.filter((ch) => ch.position <= page.position);
      const replayed = new Map<string, string>();
      for (const ch of upTo) {
        if (ch.deleted) replayed.delete(ch.id);
        else replayed.set(ch.id, ch.etag!);
      }
      expect(replayed).toEqual(kept);
    }
    writing = false;
    await writer;
  });

  it('prunes by retention, in every instance at once, and says when a position has expired', async () => {
    const pruneDb = await createTestDatabase();
    // Retention 1.5 s: the timers run every 375 ms, in three instances (long enough
    // that a change written below is still kept when read on a loaded machine).
    const stores = await Promise.all(
      [0, 1, 2].map(() => openPostgresStore(pruneDb.url, { changeRetentionMs: 1500, poolSize: 3 })),
    );
    const [p, q] = stores as [PostgresStore, PostgresStore, PostgresStore];
    try {
      const c = 'pruned';
      for (let i = 0; i < 5; i++) await p.write({ collection: c, id: `d${i}` }, put(i));
      expect((await q.changes(c, { after: 0, limit: 10 })).changes).toHaveLength(5);
      // Explicit rounds from two instances at once on top of the timers: one
      // prunes, the other finds the lock taken (-1) or nothing left; no error.
      await sleep(1600);
      const rounds = await Promise.all([p.pruneChanges(), q.pruneChanges(), p.pruneChanges()]);
      for (const n of rounds) expect(n).toBeGreaterThanOrEqual(-1);
      // Written after the old ones are due: kept.
      await q.write({ collection: c, id: 'fresh' }, put('fresh'));
      let expired: unknown;
      try {
        await p.changes(c, { after: 2, limit: 10 });
      } catch (error) {
        expired = error;
      }
      expect(expired).toBeInstanceOf(ChangesExpiredError);
      expect((expired as ChangesExpiredError).oldest).toBe(5);
      // After exactly what was pruned, or from the start: what is kept.
      expect((await p.changes(c, { after: 5, limit: 10 })).changes.map((ch) => ch.id)).toEqual([
        'fresh',
      ]);
      expect((await q.changes(c, { after: 0, limit: 10 })).changes.map((ch) => ch.id)).toEqual([
        'fresh',
      ]);
      expect((await q.list(c, { limit: 100 })).position).toBe(6);
      // The timers go on pruning by themselves.
      await sleep(2200);
      expect((await q.changes(c, { after: 0, limit: 10 })).changes).toEqual([]);
      await expect(q.changes(c, { after: 5, limit: 10 })).rejects.toBeInstanceOf(
        ChangesExpiredError,
      );
      expect((await q.changes(c, { after: 6, limit: 10 })).changes).toEqual([]);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
      await pruneDb.drop();
    }
  });

  it('migrates a schema 2 database: documents kept, the log starts at the current counters', async () => {
    const old = await createTestDatabase();
    const raw = new pg.Client({ connectionString: old.url });
    await raw.connect();
    try {
      // Schema 2 exactly as the previous server created it.
      await raw.query(`
        CREATE TABLE ifmatch_schema (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), version integer NOT NULL);
        CREATE SEQUENCE ifmatch_version_seq AS bigint;
        CREATE TABLE ifmatch_documents (collection text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL,
          etag text NOT NULL, last_modified bigint NOT NULL, size integer NOT NULL, body bytea NOT NULL,
          PRIMARY KEY (collection, id));
        CREATE TABLE ifmatch_collections (collection text COLLATE "C" PRIMARY KEY, version bigint NOT NULL,
          last_modified bigint NOT NULL);
        INSERT INTO ifmatch_schema (version) VALUES (2);
        SELECT setval('ifmatch_version_seq', 40);
        INSERT INTO ifmatch_documents VALUES ('docs', 'a', '"1-x"', 1000, 2, '\\x7b7d'::bytea),
          ('docs', 'b', '"2-y"', 2000, 2, '\\x5b5d'::bytea);
        INSERT INTO ifmatch_collections VALUES ('docs', 5, 2000);`);
      const [s1, s2] = await Promise.all([openPostgresStore(old.url), openPostgresStore(old.url)]);
      try {
        expect((await raw.query('SELECT version FROM ifmatch_schema')).rows).toEqual([
          { version: 3 },
        ]);
        expect((await s1.read({ collection: 'docs', id: 'a' }))?.body.toString()).toBe('{}');
        expect(await s2.identity()).toBe(await s1.identity());
        const listed = await s1.list('docs', { limit: 10 });
        expect(listed.items.map((i) => [i.id, i.etag])).toEqual([
          ['a', '"1-x"'],
          ['b', '"2-y"'],
        ]);
        expect(listed.position).toBe(5);
        // Before the log there is nothing to replay: a cursor from before it has expired.
        await expect(s1.changes('docs', { after: 3, limit: 10 })).rejects.toBeInstanceOf(
          ChangesExpiredError,
        );
        expect(await s1.changes('docs', { after: 5, limit: 10 })).toEqual({
          changes: [],
          position: 5,
        });
        const written = await s2.write({ collection: 'docs', id: 'a' }, put({ after: true }));
        const deleted = await s1.write({ collection: 'docs', id: 'b' }, () => ({
          action: 'delete',
        }));
        expect(deleted.action).toBe('delete');
        const page = await s1.changes('docs', { after: listed.position, limit: 10 });
        expect(page.changes.map((ch) => [ch.position, ch.id, ch.deleted, ch.etag])).toEqual([
          [6, 'a', false, written.action === 'put' ? written.doc.etag : 'none'],
          [7, 'b', true, undefined],
        ]);
      } finally {
        await s1.close();
        await s2.close();
      }
    } finally {
      await raw.end();
      await old.drop();
    }
  });
});
