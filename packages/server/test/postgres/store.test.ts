// The PostgreSQL store against a real server: two store instances (two pools,
// as two server processes would have) on one database.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { openPostgresStore, PostgresStore } from '../../src/store/postgres.js';
import {
  type DocumentStore,
  StoreUnavailableError,
  type WriteDecider,
} from '../../src/store/types.js';
import {
  createTestDatabase,
  describePostgres,
  relayToPostgres,
  type TestDatabase,
  terminateBackends,
} from './pg.js';

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

/** Read-modify-write of {n}: the decision an increment makes, retried on refusal by the caller. */
const increment: WriteDecider<number> = (current) => {
  const n = current ? (JSON.parse(current.body.toString()) as { n: number }).n : 0;
  return { action: 'put', body: json({ n: n + 1 }), result: n + 1 };
};

/** Put only if the current ETag is `etag` (If-Match). */
const ifMatch =
  (etag: string | undefined, body: Buffer): WriteDecider<string> =>
  (current) =>
    current !== undefined && current.etag === etag
      ? { action: 'put', body, result: 'ok' }
      : { action: 'refuse', result: 'precondition failed' };

await describePostgres('PostgreSQL store', () => {
  let db: TestDatabase;
  let a: DocumentStore;
  let b: DocumentStore;

  beforeAll(async () => {
    db = await createTestDatabase();
    // Several instances starting at once must not race into an error.
    const opened = await Promise.all(
      Array.from({ length: 6 }, () => openPostgresStore(db.url, { poolSize: 4 })),
    );
    a = opened[0]!;
    b = opened[1]!;
    await Promise.all(opened.slice(2).map((s) => s.close()));
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  it('creates, reads and agrees on ETags across instances', async () => {
    const key = { collection: 'docs', id: 'one' };
    const out = await a.write(key, () => ({ action: 'put', body: json({ x: 1 }) }));
    expect(out.action).toBe('put');
    if (out.action !== 'put') return;
    expect(out.created).toBe(true);
    expect(out.doc.etag).toMatch(/^"[0-9a-z]+-[A-Za-z0-9_-]+"$/);
    expect(await b.validators(key)).toEqual(out.doc);
    // The size comes with the validators (compression is chosen before any body read).
    expect(out.doc.size).toBe(7);
    const read = await b.read(key);
    expect(read?.body.toString()).toBe('{"x":1}');
    expect(read?.etag).toBe(out.doc.etag);
    // Last-Modified is the database clock, within a few seconds of ours.
    expect(Math.abs(out.doc.lastModified - Date.now())).toBeLessThan(5000);
  });

  it('never reuses an ETag, across delete and re-create with the same bytes', async () => {
    const key = { collection: 'docs', id: 'again' };
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const put = await (i % 2 ? b : a).write(key, () => ({
        action: 'put',
        body: json({ same: true }),
      }));
      if (put.action !== 'put') throw new Error('expected put');
      expect(seen.has(put.doc.etag)).toBe(false);
      seen.add(put.doc.etag);
      const del = await (i % 2 ? a : b).write(key, () => ({ action: 'delete' }));
      expect(del.action).toBe('delete');
      expect(await a.validators(key)).toBeUndefined();
    }
  });

  it('loses no increment when two instances write one document concurrently', async () => {
    const key = { collection: 'counters', id: 'c1' };
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 ? a : b).write(key, increment)),
    );
    const seen = results.map((r) => r.result).sort((x, y) => (x ?? 0) - (y ?? 0));
    // Every write saw a distinct predecessor: 1..200, each exactly once.
    expect(seen).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
    expect(JSON.parse((await b.read(key))!.body.toString())).toEqual({ n: 200 });
  });

  it('lets exactly one of two writes with the same If-Match win', async () => {
    const key = { collection: 'docs', id: 'contended' };
    await a.write(key, () => ({ action: 'put', body: json({ v: 0 }) }));
    for (let round = 1; round <= 20; round++) {
      const etag = (await a.validators(key))!.etag;
      const [x, y] = await Promise.all([
        a.write(key, ifMatch(etag, json({ v: round, by: 'a' }))),
        b.write(key, ifMatch(etag, json({ v: round, by: 'b' }))),
      ]);
      const winners = [x, y].filter((r) => r.action === 'put');
      expect(winners).toHaveLength(1);
      const loser = [x, y].find((r) => r.action === 'refuse')!;
      // The loser is told the state that beat it.
      if (loser.action === 'refuse' && winners[0]?.action === 'put') {
        expect(loser.current?.etag).toBe(winners[0].doc.etag);
      }
    }
  });

  it('creates an absent id exactly once when two instances race (If-None-Match: *)', async () => {
    for (let round = 0; round < 20; round++) {
      const key = { collection: 'race', id: `r${round}` };
      const createOnly: WriteDecider<string> = (current) =>
        current === undefined
          ? { action: 'put', body: json({ round }), result: 'created' }
          : { action: 'refuse', result: 'exists' };
      const outs = await Promise.all([a.write(key, createOnly), b.write(key, createOnly)]);
      expect(outs.filter((o) => o.action === 'put' && o.created)).toHaveLength(1);
      expect(outs.filter((o) => o.action === 'refuse')).toHaveLength(1);
    }
  });

  it('keeps collection validators and listings consistent across instances', async () => {
    const c = 'listing';
    expect(await a.collectionValidators(c)).toBeUndefined();
    const tags = new Set<string>();
    // Byte order, not locale order: 'B' < 'Z' < 'a' < 'b'.
    for (const id of ['b', 'a', 'Z', 'B']) {
      await (id < 'a' ? a : b).write({ collection: c, id }, () => ({
        action: 'put',
        body: json(id),
      }));
      const v = (await b.collectionValidators(c))!;
      expect(await a.collectionValidators(c)).toEqual(v);
      expect(tags.has(v.etag)).toBe(false);
      tags.add(v.etag);
    }
    const created = await b.create(c, json({ made: true }));
    expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(tags.has((await a.collectionValidators(c))!.etag)).toBe(false);

    // JS sorts ASCII by code unit, which is byte order.
    const all = ['b', 'a', 'Z', 'B', created.id].sort();
    const page1 = await a.list(c, { limit: 2 });
    expect(page1.items.map((i) => i.id)).toEqual(all.slice(0, 2));
    expect(page1.next).toBe(all[1]);
    const page2 = await b.list(c, { after: page1.next!, limit: 10 });
    expect(page2.items.map((i) => i.id)).toEqual(all.slice(2));
    expect(page2.next).toBeNull();
    const item = [...page1.items, ...page2.items].find((i) => i.id === created.id)!;
    expect(item.etag).toBe(created.etag);

    // A refused write changes nothing, so the listing keeps its ETag.
    const before = (await a.collectionValidators(c))!.etag;
    await a.write({ collection: c, id: 'a' }, () => ({ action: 'refuse', result: 412 }));
    expect((await b.collectionValidators(c))!.etag).toBe(before);
    await b.write({ collection: c, id: 'a' }, () => ({ action: 'delete' }));
    expect((await a.collectionValidators(c))!.etag).not.toBe(before);
  });

  it('answers StoreUnavailableError (not a crash) when the database is not there', async () => {
    // Port 1 on loopback: nothing listens, connections are refused at once.
    const down = await openPostgresStore('postgres://postgres@127.0.0.1:1/test', {
      connectionTimeoutMs: 500,
      onError: () => {},
    });
    try {
      expect(await down.ready()).toBe(false);
      await expect(down.validators({ collection: 'x', id: 'y' })).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
      await expect(down.write({ collection: 'x', id: 'y' }, increment)).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
    } finally {
      await down.close();
    }
  });

  it('opens while the database is down and migrates on first use once it is back', async () => {
    const fresh = await createTestDatabase();
    const relay = await relayToPostgres();
    await relay.stop();
    const store = await openPostgresStore(relay.url(fresh.name), { onError: () => {} });
    try {
      expect(await store.ready()).toBe(false);
      await expect(store.write({ collection: 'x', id: 'y' }, increment)).rejects.toBeInstanceOf(
        StoreUnavailableError,
      );
      await relay.start();
      expect(await store.ready()).toBe(true);
      expect((await store.write({ collection: 'x', id: 'y' }, increment)).result).toBe(1);
    } finally {
      await store.close();
      await relay.close();
      await fresh.drop();
    }
  });

  it('reports an exhausted pool as unavailable and recovers', async () => {
    const small = new PostgresStore(db.url, {
      poolSize: 1,
      connectionTimeoutMs: 300,
      statementTimeoutMs: 1500,
    });
    const key = { collection: 'docs', id: 'one' };
    // Another session holds the row lock; our only connection waits for it.
    let release!: () => void;
    const released = new Promise<void>((r) => {
      release = r;
    });
    let holding!: () => void;
    const held = new Promise<void>((r) => {
      holding = r;
    });
    // decide() must be synchronous, so the lock is held with a raw connection instead.
    const pg = (await import('pg')).default;
    const raw = new pg.Client({ connectionString: db.url });
    await raw.connect();
    try {
      await raw.query('BEGIN');
      await raw.query(
        `SELECT 1 FROM ifmatch_documents WHERE collection = 'docs' AND id = 'one' FOR UPDATE`,
      );
      holding();
      await held;
      const waiting = small.write(key, increment);
      // The pool's only connection is busy: the next caller times out.
      await expect(small.validators(key)).rejects.toBeInstanceOf(StoreUnavailableError);
      // And the blocked write itself gives up at statement_timeout.
      await expect(waiting).rejects.toBeInstanceOf(StoreUnavailableError);
      await raw.query('ROLLBACK');
      release();
      await released;
      expect(await small.ready()).toBe(true);
      expect((await small.write(key, increment)).action).toBe('put');
    } finally {
      await raw.end();
      await small.close();
    }
  });

  it('resolves a COMMIT whose answer was lost: acknowledged only if it landed', async () => {
    const relay = await relayToPostgres();
    const store = await openPostgresStore(relay.url(db.name), { poolSize: 2, onError: () => {} });
    const key = { collection: 'docs', id: 'commit-cut' };
    try {
      await store.write(key, () => ({ action: 'put', body: json({ v: 0 }) }));
      // Committed, answer lost: the store reads its own ETag back and acknowledges.
      relay.cutAtNextCommit('after');
      const landed = await store.write(key, () => ({ action: 'put', body: json({ v: 1 }) }));
      expect(landed.action).toBe('put');
      const after = (await a.read(key))!;
      expect(after.body.toString()).toBe('{"v":1}');
      if (landed.action === 'put') expect(after.etag).toBe(landed.doc.etag);
      // Never committed: 503 (unknown to the store), and indeed nothing changed.
      relay.cutAtNextCommit('before');
      await expect(
        store.write(key, () => ({ action: 'put', body: json({ v: 2 }) })),
      ).rejects.toBeInstanceOf(StoreUnavailableError);
      expect((await a.read(key))!.body.toString()).toBe('{"v":1}');
      // Same for create().
      relay.cutAtNextCommit('after');
      const made = await store.create('docs', json({ made: 1 }));
      expect((await a.validators({ collection: 'docs', id: made.id }))?.etag).toBe(made.etag);
    } finally {
      await store.close();
      await relay.close();
    }
  });

  it('migrates a database written by an older server (schema 1: no size column)', async () => {
    const old = await createTestDatabase();
    const pg = (await import('pg')).default;
    const raw = new pg.Client({ connectionString: old.url });
    await raw.connect();
    try {
      await raw.query(`
        CREATE TABLE ifmatch_schema (singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), version integer NOT NULL);
        INSERT INTO ifmatch_schema (version) VALUES (1);
        CREATE SEQUENCE ifmatch_version_seq AS bigint;
        CREATE TABLE ifmatch_documents (collection text COLLATE "C" NOT NULL, id text COLLATE "C" NOT NULL,
          etag text NOT NULL, last_modified bigint NOT NULL, body bytea NOT NULL, PRIMARY KEY (collection, id));
        CREATE TABLE ifmatch_collections (collection text COLLATE "C" PRIMARY KEY, version bigint NOT NULL,
          last_modified bigint NOT NULL);
        INSERT INTO ifmatch_documents VALUES ('docs', 'old', '"1-x"', 0, '\\x7b7d'::bytea);`);
      // Two new servers at once: one migrates, the other waits and finds it done.
      const [s1, s2] = await Promise.all([openPostgresStore(old.url), openPostgresStore(old.url)]);
      try {
        expect(await s1.validators({ collection: 'docs', id: 'old' })).toEqual({
          etag: '"1-x"',
          lastModified: 0,
          size: 2,
        });
        const { rows } = await raw.query('SELECT version FROM ifmatch_schema');
        expect(rows).toEqual([{ version: 2 }]);
        const put = await s2.write({ collection: 'docs', id: 'new' }, () => ({
          action: 'put',
          body: json([1, 2, 3]),
        }));
        expect(put.action === 'put' && put.doc.size).toBe(7);
      } finally {
        await s1.close();
        await s2.close();
      }
    } finally {
      await raw.end();
      await old.drop();
    }
  });

  it('survives pg_terminate_backend mid-run and loses no acknowledged write', async () => {
    const errors: Error[] = [];
    const s1 = await openPostgresStore(db.url, { poolSize: 4, onError: (e) => errors.push(e) });
    const s2 = await openPostgresStore(db.url, { poolSize: 4, onError: (e) => errors.push(e) });
    const key = { collection: 'counters', id: 'terminated' };
    let acknowledged = 0;
    let attempted = 0;
    let unavailable = 0;
    const deadline = Date.now() + 3000;
    const worker = async (store: DocumentStore) => {
      while (Date.now() < deadline) {
        attempted++;
        try {
          await store.write(key, increment);
          acknowledged++;
        } catch (error) {
          expect(error).toBeInstanceOf(StoreUnavailableError);
          unavailable++;
        }
      }
    };
    const killer = async () => {
      let killed = 0;
      while (Date.now() < deadline - 500) {
        await new Promise((r) => setTimeout(r, 150));
        killed += await terminateBackends(db.name);
      }
      return killed;
    };
    try {
      const [killed] = await Promise.all([killer(), ...[s1, s2, s1, s2].map(worker)]);
      expect(killed).toBeGreaterThan(0);
      // After the storm: both instances serve again, by themselves.
      expect(await s1.ready()).toBe(true);
      await s2.write(key, increment);
      acknowledged++;
      attempted++;
      const n = (JSON.parse((await s1.read(key))!.body.toString()) as { n: number }).n;
      // Every acknowledged increment is there; an unacknowledged one may or
      // may not have committed (its COMMIT answer was lost), never more.
      expect(n).toBeGreaterThanOrEqual(acknowledged);
      expect(n).toBeLessThanOrEqual(attempted);
      expect(acknowledged).toBeGreaterThan(10);
      console.info(
        `terminate storm: ${acknowledged} acknowledged, ${unavailable} unavailable, final n=${n}`,
      );
    } finally {
      await s1.close();
      await s2.close();
    }
  });
});
