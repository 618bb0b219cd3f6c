// The PostgreSQL store against a real server: two store instances (two pools,
// as two server processes would have) on one database. What every store must
// do (validators, compare-and-set, create races, listings, counters, a second
// instance) is in test/store/conformance.ts, which runs on PostgreSQL too; here
// is what only PostgreSQL has: lock contention across pools, outages, lost
// COMMIT answers, migrations, terminated backends.

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

await describePostgres('PostgreSQL store', () => {
  let db: TestDatabase;
  let a: DocumentStore;
  let b: DocumentStore;

  beforeAll(async () => {
    db = await createTestDatabase();
    // Several instances starting at once must not race into an error.
    // A generous wait for a pooled connection: 200 writes queue on 4 connections
    // (on a loaded machine that can exceed the 3 s default; not what is tested).
    const opened = await Promise.all(
      Array.from({ length: 6 }, () =>
        openPostgresStore(db.url, { poolSize: 4, connectionTimeoutMs: 20_000 }),
      ),
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
    // The row must exist for FOR UPDATE below to lock it.
    await a.write(key, () => ({ action: 'put', body: json({ x: 1 }) }));
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
        expect(rows).toEqual([{ version: 3 }]);
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
