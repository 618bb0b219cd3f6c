// Reads that arrive together share one statement (store/postgres/shared-lookups.ts):
// fewer statements than lookups, and still no lookup answered from a state
// older than its arrival. Two stores (two pools: two server instances) on one
// database, through a relay adding latency, so lookups really pile up behind a
// statement in flight and writes really interleave with them.

import { beforeAll, expect, it } from 'vitest';
import { buildApp } from '../../src/http/app.js';
import type { PostgresStore } from '../../src/store/postgres.js';
import { StoreUnavailableError } from '../../src/store/types.js';
import { describePostgres, type Outage, sharedDatabase } from './pg.js';

const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const queries = (store: PostgresStore, op: string) => store.queryCounts().get(op) ?? 0;

await describePostgres('PostgreSQL: shared round trips for reads', () => {
  const instances = sharedDatabase({
    latencyMs: 3,
    a: { poolSize: 4, readsInFlight: 2 },
    b: { poolSize: 4 },
  });
  let reader: PostgresStore;
  let writer: PostgresStore;
  let relay: Outage;
  beforeAll(() => {
    ({ a: reader, b: writer, relay } = instances);
  });

  it('answers many concurrent lookups with fewer statements than lookups, each its own answer', async () => {
    const ids = Array.from({ length: 20 }, (_, i) => `d${i}`);
    const written = new Map<string, string>();
    for (const id of ids) {
      const out = await writer.write({ collection: 'many', id }, () => ({
        action: 'put',
        body: json({ id }),
      }));
      if (out.action !== 'put') throw new Error('not written');
      written.set(id, out.doc.etag);
    }
    const before = queries(reader, 'validators');
    // 60 lookups at once: each id three times, and ids that do not exist.
    const keys = [...ids, ...ids, ...ids, 'absent-1', 'absent-2'].map((id) => ({
      collection: 'many',
      id,
    }));
    const answers = await Promise.all(keys.map((k) => reader.validators(k)));
    const sent = queries(reader, 'validators') - before;
    expect(answers.map((a) => a?.etag)).toEqual(keys.map((k) => written.get(k.id)));
    expect(answers.slice(-2)).toEqual([undefined, undefined]);
    // Queued in one turn of the event loop: one statement (at most readsInFlight + 1).
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThanOrEqual(3);

    const reads = await Promise.all(keys.map((k) => reader.read(k)));
    keys.forEach((k, i) => {
      expect(reads[i]?.etag).toBe(written.get(k.id));
      expect(reads[i] && JSON.parse(reads[i].body.toString())).toEqual(
        written.has(k.id) ? { id: k.id } : undefined,
      );
    });
  });

  it('never answers a lookup with a state older than a write acknowledged before it arrived', async () => {
    const key = { collection: 'interleaved', id: 'counter' };
    // etag -> n, and the highest n acknowledged so far (by the other instance).
    const versionOf = new Map<string, number>();
    let acknowledged = 0;
    const first = await writer.write(key, () => ({ action: 'put', body: json({ n: 0 }) }));
    if (first.action !== 'put') throw new Error('not written');
    versionOf.set(first.doc.etag, 0);

    let writing = true;
    const writes = (async () => {
      for (let n = 1; n <= 60; n++) {
        const out = await writer.write(key, () => ({ action: 'put', body: json({ n }) }));
        if (out.action !== 'put') throw new Error('not written');
        versionOf.set(out.doc.etag, n);
        acknowledged = n;
      }
      writing = false;
    })();

    let lookups = 0;
    const stale: string[] = [];
    const before = queries(reader, 'validators') + queries(reader, 'read');
    const readers = Array.from({ length: 12 }, async (_, r) => {
      while (writing) {
        // Let I/O in between, as requests arriving over sockets would.
        await new Promise((resolve) => setImmediate(resolve));
        const floor = acknowledged; // what had been acknowledged when this lookup arrived
        lookups++;
        if (r % 2 === 0) {
          const v = await reader.validators(key);
          const n = versionOf.get(v!.etag);
          // An ETag not yet in the map is a write whose answer is still on its way: newer.
          if (n !== undefined && n < floor)
            stale.push(`validators: ${n} after ${floor} acknowledged`);
        } else {
          const doc = await reader.read(key);
          const n = (JSON.parse(doc!.body.toString()) as { n: number }).n;
          if (n < floor) stale.push(`read: ${n} after ${floor} acknowledged`);
        }
      }
    });
    await Promise.all([writes, ...readers]);
    const sent = queries(reader, 'validators') + queries(reader, 'read') - before;

    expect(stale).toEqual([]);
    expect(acknowledged).toBe(60);
    // The lookups did share statements while the writes went on.
    expect(lookups).toBeGreaterThan(100);
    expect(sent).toBeLessThan(lookups / 2);
  });

  it('fails every lookup of a failed statement as unavailable, then recovers', async () => {
    const key = { collection: 'outage', id: 'doc' };
    await writer.write(key, () => ({ action: 'put', body: json({ up: true }) }));
    await relay.stop();
    try {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 10 }, (_, i) => (i % 2 ? reader.read(key) : reader.validators(key))),
      );
      for (const o of outcomes) {
        expect(o.status).toBe('rejected');
        expect((o as PromiseRejectedResult).reason).toBeInstanceOf(StoreUnavailableError);
      }
    } finally {
      await relay.start();
    }
    const back = await reader.read(key);
    expect(JSON.parse(back!.body.toString())).toEqual({ up: true });
  });
  it('exposes the statements in /metrics: concurrent 304s over HTTP cost fewer than one each', async () => {
    const app = await buildApp({ store: reader, defaultMetrics: false });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    const base = `http://127.0.0.1:${address.port}`;
    const counted = async () => {
      const text = await (await fetch(`${base}/metrics`)).text();
      return Number(/^ifmatch_store_queries_total\{op="validators"\} (\d+)$/m.exec(text)?.[1]);
    };
    try {
      const created = await fetch(`${base}/api/metrics/doc`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: '{"a":1}',
      });
      const etag = created.headers.get('etag')!;
      const before = await counted();
      const statuses = await Promise.all(
        Array.from({ length: 40 }, async () => {
          const res = await fetch(`${base}/api/metrics/doc`, {
            headers: { 'if-none-match': etag },
          });
          await res.arrayBuffer();
          return res.status;
        }),
      );
      expect(statuses).toEqual(Array(40).fill(304));
      const sent = (await counted()) - before;
      expect(sent).toBeGreaterThan(0);
      expect(sent).toBeLessThan(40);
    } finally {
      await app.close();
    }
  });
});
