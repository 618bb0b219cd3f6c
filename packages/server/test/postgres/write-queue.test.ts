// Writes to one document from one instance take turns (store/postgres/document-queue.ts):
// a write that waited while the one ahead committed, and whose precondition
// fails on that committed state, is refused without a statement; one that
// arrives after that commit is decided by the database, so a commit of
// another instance in between is never missed.

import { beforeAll, expect, it } from 'vitest';
import type { PostgresStore } from '../../src/store/postgres.js';
import type { WriteDecider } from '../../src/store/types.js';
import { describePostgres, sharedDatabase } from './pg.js';

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const writes = (store: PostgresStore) => store.queryCounts().get('write') ?? 0;

/** If-Match: put only on the given ETag, else refuse (what a PUT with If-Match decides). */
const ifMatch =
  (etag: string, value: unknown): WriteDecider<string> =>
  (current) =>
    current?.etag === etag
      ? { action: 'put', body: json(value), result: 'stored' }
      : { action: 'refuse', result: 'precondition failed' };

await describePostgres('PostgreSQL: writes to one document take turns per instance', () => {
  const instances = sharedDatabase({ latencyMs: 3, a: { poolSize: 8 }, b: { poolSize: 8 } });
  let a: PostgresStore;
  let b: PostgresStore;
  beforeAll(() => {
    ({ a, b } = instances);
  });

  it('of 16 writes with one If-Match, one wins and the 15 queued behind it are refused off its commit, without a statement', async () => {
    const key = { collection: 'queue', id: 'one-if-match' };
    const first = await a.write(key, () => ({ action: 'put', body: json({ v: 0 }) }));
    if (first.action !== 'put') throw new Error('not written');
    const before = writes(a);
    const outs = await Promise.all(
      Array.from({ length: 16 }, (_, i) => a.write(key, ifMatch(first.doc.etag, { v: i + 1 }))),
    );
    const sent = writes(a) - before;
    const winners = outs.filter((o) => o.action === 'put');
    expect(winners).toHaveLength(1);
    const winner = winners[0]!;
    if (winner.action !== 'put') throw new Error('unreachable');
    for (const o of outs) {
      if (o.action !== 'refuse') continue;
      expect(o.result).toBe('precondition failed');
      // The 412 names (and carries) the state that beat it.
      expect(o.current?.etag).toBe(winner.doc.etag);
      expect(JSON.parse(o.current!.body.toString())).toEqual(
        JSON.parse((await a.read(key))!.body.toString()),
      );
    }
    // One transaction (BEGIN, SELECT … FOR UPDATE, UPDATE, COMMIT), then the
    // NOTIFY that wakes other instances (sent after COMMIT, see queries.ts).
    expect(sent).toBe(5);
  });

  it('decides a write that arrives after a commit in the database: a commit of another instance in between counts', async () => {
    const key = { collection: 'queue', id: 'interleaved' };
    let overtaken = 0;
    for (let n = 1; n <= 20; n++) {
      // A commits s1 and has a second write queued behind it: while that one
      // runs, A's queue still holds s1 as its last commit.
      const w1 = a.write(key, () => ({ action: 'put', body: json({ by: 'a1', n }) }));
      let s1 = '';
      const w2 = a.write(key, (current) =>
        current?.etag === s1
          ? { action: 'put', body: json({ by: 'a2', n }), result: 'a2 first' }
          : { action: 'refuse', result: 'b first' },
      );
      const out1 = await w1;
      if (out1.action !== 'put') throw new Error('not written');
      s1 = out1.doc.etag;
      // B races w2 for the row; when it wins, its commit lands while w2 is still in A's queue.
      const viaB = await b.write(key, () => ({ action: 'put', body: json({ by: 'b', n }) }));
      if (viaB.action !== 'put') throw new Error('not written');
      // Arrives after B's commit was acknowledged: must be decided on B's state
      // (or a later one), never refused off s1.
      const viaA = await a.write(key, (current) =>
        current === undefined || current.etag === s1
          ? { action: 'refuse', result: current?.etag }
          : { action: 'put', body: json({ by: 'a3', n }), result: 'saw a newer state' },
      );
      expect(viaA.action).toBe('put');
      if ((await w2).result === 'b first') overtaken++;
    }
    expect(JSON.parse((await b.read(key))!.body.toString())).toEqual({ by: 'a3', n: 20 });
    console.log(`write-queue: B overtook A's queued write in ${overtaken} of 20 rounds`);
  });
});
