// CONTRACT.md: every write is atomic with its precondition check. Real
// concurrent HTTP requests on separate connections.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { httpRequest } from '../helpers/http.js';
import { put, startTestServer, type TestServer } from '../helpers/server.js';
import { storeFactories } from '../helpers/stores.js';

const N = 50;

describe.each(storeFactories)('concurrent writes on $name', (factory) => {
  let s: TestServer;

  beforeAll(async () => {
    s = await startTestServer(factory);
  });
  afterAll(async () => {
    await s.close();
    await factory.cleanup();
  });

  it(`${N} concurrent PUTs with the same If-Match: exactly one 2xx, ${N - 1} x 412`, async () => {
    const path = '/api/race/put';
    const created = await put(s.base, path, { writer: 'none' });
    const etag = created.headers.get('etag')!;
    const results = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        // One connection per request: the requests really are in flight together.
        httpRequest(s.base + path, {
          method: 'PUT',
          headers: { 'content-type': 'application/json', 'if-match': etag },
          body: JSON.stringify({ writer: i }),
        }).then((res) => ({ status: res.status, etag: res.headers.etag, body: res.body })),
      ),
    );
    const winners = results.filter((r) => r.status >= 200 && r.status < 300);
    const losers = results.filter((r) => r.status === 412);
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(N - 1);
    // Every loser was told the winner's tag, and the stored state is the winner's.
    const winner = winners[0]!;
    for (const loser of losers) expect(loser.etag).toBe(winner.etag);
    const now = await fetch(s.base + path);
    expect(now.headers.get('etag')).toBe(winner.etag);
    expect(await now.text()).toBe(winner.body);
  });

  it(`${N} concurrent JSON Patch adds to one array without If-Match: all ${N} land`, async () => {
    const path = '/api/race/patch';
    await put(s.base, path, { items: [] });
    const results = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        httpRequest(s.base + path, {
          method: 'PATCH',
          headers: { 'content-type': 'application/json-patch+json' },
          body: JSON.stringify([{ op: 'add', path: '/items/-', value: i }]),
        }).then((res) => res.status),
      ),
    );
    expect(results.every((status) => status === 200)).toBe(true);
    const doc = (await (await fetch(s.base + path)).json()) as { items: number[] };
    expect(doc.items).toHaveLength(N);
    expect([...doc.items].sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i));
  });

  it(`${N} concurrent create-only PUTs (If-None-Match: *): exactly one 201`, async () => {
    const path = '/api/race/create-only';
    const statuses = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        httpRequest(s.base + path, {
          method: 'PUT',
          headers: { 'content-type': 'application/json', 'if-none-match': '*' },
          body: JSON.stringify({ creator: i }),
        }).then((res) => res.status),
      ),
    );
    expect(statuses.filter((x) => x === 201)).toHaveLength(1);
    expect(statuses.filter((x) => x === 412)).toHaveLength(N - 1);
  });
});
