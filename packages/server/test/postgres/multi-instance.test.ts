// Two real `ifmatch serve` processes on one PostgreSQL database: every
// guarantee of CONTRACT.md must hold whichever instance a request reaches.

import { IfMatchClient } from '@ifmatch/client';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTestDatabase, describePostgres, type TestDatabase } from './pg.js';
import { type Instance, startInstance } from './servers.js';

const put = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });

await describePostgres('several server processes on one PostgreSQL', () => {
  let db: TestDatabase;
  let a: Instance;
  let b: Instance;

  beforeAll(async () => {
    db = await createTestDatabase();
    // Started together: both migrate the fresh database at the same moment.
    [a, b] = await Promise.all([startInstance(db.url), startInstance(db.url)]);
  });
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await db?.drop();
  });

  it('instance B answers 304 to an ETag issued by instance A, for documents and listings', async () => {
    const created = await put(`${a.url}/api/notes/n1`, { text: 'hello' });
    expect(created.status).toBe(201);
    const etag = created.headers.get('etag')!;
    expect(etag).toMatch(/^"[^"]+"$/);

    const fromB = await fetch(`${b.url}/api/notes/n1`);
    expect(fromB.status).toBe(200);
    expect(fromB.headers.get('etag')).toBe(etag);
    expect(fromB.headers.get('last-modified')).toBe(created.headers.get('last-modified'));
    expect(await fromB.json()).toEqual({ text: 'hello' });

    const revalidated = await fetch(`${b.url}/api/notes/n1`, {
      headers: { 'if-none-match': etag },
    });
    expect(revalidated.status).toBe(304);
    expect(revalidated.headers.get('etag')).toBe(etag);
    expect(await revalidated.text()).toBe('');

    // The listing's validators come from the shared collection counter.
    const listA = await fetch(`${a.url}/api/notes`);
    expect(listA.status).toBe(200);
    const listTag = listA.headers.get('etag')!;
    const listB = await fetch(`${b.url}/api/notes`, { headers: { 'if-none-match': listTag } });
    expect(listB.status).toBe(304);
    // A write through B changes the listing's ETag seen through A.
    expect((await put(`${b.url}/api/notes/n2`, { text: 'two' })).status).toBe(201);
    const listA2 = await fetch(`${a.url}/api/notes`, { headers: { 'if-none-match': listTag } });
    expect(listA2.status).toBe(200);
    expect(listA2.headers.get('etag')).not.toBe(listTag);
    const items = ((await listA2.json()) as { items: { id: string }[] }).items;
    expect(items.map((i) => i.id)).toEqual(['n1', 'n2']);
  });

  it('of two writes with the same If-Match sent to different instances, exactly one wins', async () => {
    const url = (base: string) => `${base}/api/contended/doc`;
    expect((await put(url(a.url), { v: 0 })).status).toBe(201);
    for (let round = 1; round <= 20; round++) {
      const current = await fetch(url(round % 2 ? a.url : b.url));
      const etag = current.headers.get('etag')!;
      const [ra, rb] = await Promise.all([
        put(url(a.url), { v: round, by: 'a' }, { 'if-match': etag }),
        put(url(b.url), { v: round, by: 'b' }, { 'if-match': etag }),
      ]);
      const statuses = [ra.status, rb.status].sort();
      expect(statuses).toEqual([200, 412]);
      const [winner, loser] = ra.status === 200 ? [ra, rb] : [rb, ra];
      expect(loser.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      // The 412 names the state that beat it.
      expect(loser.headers.get('etag')).toBe(winner.headers.get('etag'));
      const stored = (await (await fetch(url(b.url))).json()) as { v: number; by: string };
      expect(stored).toEqual({ v: round, by: ra.status === 200 ? 'a' : 'b' });
    }
  });

  it('loses no update: 16 clients x 100 increments with update(), alternating instances', async () => {
    const path = '/api/counters/shared';
    expect((await put(`${a.url}${path}`, { n: 0 })).status).toBe(201);
    const clients = 16;
    const updates = 100;
    let conflicts = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: clients }, async (_, c) => {
        // One client per instance: their caches are per origin anyway.
        const http = [a.url, b.url].map(
          (baseUrl) =>
            new IfMatchClient({
              baseUrl,
              maxAttempts: 1000,
              backoff: { base: 2, cap: 100 },
            }),
        );
        for (let i = 0; i < updates; i++) {
          const result = await http[(c + i) % 2]!.update<{ n: number }>(path, (doc) => ({
            n: doc.n + 1,
          }));
          conflicts += result.conflicts;
        }
      }),
    );
    const seconds = (Date.now() - started) / 1000;
    const final = (await (await fetch(`${b.url}${path}`)).json()) as { n: number };
    expect(final.n).toBe(clients * updates);
    console.info(
      `multi-instance: ${clients * updates} updates in ${seconds.toFixed(1)} s ` +
        `(${((clients * updates) / seconds).toFixed(0)}/s), ${conflicts} conflicts (412) retried`,
    );
  }, 180_000);
});
