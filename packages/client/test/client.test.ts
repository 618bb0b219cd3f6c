// @ifmatch/client against the real document server over loopback, through a
// counting proxy that sees every exchange (and can lose a response).

import {
  HttpError,
  IfMatchClient,
  MaxAttemptsError,
  NotFoundError,
  PreconditionFailedError,
  PreconditionRequiredError,
} from '@ifmatch/client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { type CountingProxy, startProxy } from './helpers/proxy.js';
import { type RunningServer, startServer } from './helpers/server.js';

let server: RunningServer;
let proxy: CountingProxy;
let n = 0;
/** A fresh document path per test, so tests do not see each other's state. */
const doc = () => `/api/client-test/d${++n}-${Date.now()}`;
const fast = { base: 1, cap: 20 };

beforeAll(async () => {
  server = await startServer();
  proxy = await startProxy(server.url);
});
afterAll(async () => {
  await proxy?.close();
  await server?.close();
});
afterEach(() => {
  vi.restoreAllMocks();
  proxy.reset();
});

describe('validator cache', () => {
  it('a 304 returns the cached value; the server sent no body and nothing was parsed', async () => {
    const path = doc();
    const client = new IfMatchClient({ baseUrl: proxy.url });
    const value = { title: 'hello', items: Array.from({ length: 200 }, (_, i) => i) };
    await new IfMatchClient({ baseUrl: server.url }).put(path, value, { ifMatch: false });

    const first = await client.get(path);
    expect(first).toMatchObject({ status: 200, fromCache: false, value });
    expect(first.etag).toMatch(/^"/);
    expect(first.bytes).toBeGreaterThan(500);

    const parse = vi.spyOn(JSON, 'parse');
    const second = await client.get(path);
    expect(parse).not.toHaveBeenCalled(); // the hot path costs no JSON parse
    expect(second.status).toBe(304);
    expect(second.fromCache).toBe(true);
    expect(second.value).toBe(first.value); // the very cached object
    expect(second.etag).toBe(first.etag);

    const [a, b] = proxy.log.filter((e) => e.method === 'GET');
    expect(a!.status).toBe(200);
    expect(a!.bodyBytes).toBeGreaterThan(0);
    expect(b!.requestHeaders['if-none-match']).toBe(first.etag);
    expect(b!.status).toBe(304);
    expect(b!.bodyBytes).toBe(0);
  });

  it("merges the 304's header fields into the stored entry (RFC 9111 4.3.4)", async () => {
    const path = doc();
    const client = new IfMatchClient({ baseUrl: proxy.url });
    await client.put(path, { x: 1 }, { ifMatch: false });
    client.invalidate(path);
    const first = await client.get(path);
    await new Promise((r) => setTimeout(r, 1100)); // let the Date field change
    const second = await client.get(path);
    expect(second.status).toBe(304);
    const notModified = proxy.log.at(-1)!;
    expect(notModified.status).toBe(304);
    expect(notModified.responseHeaders.date).not.toBe(first.headers.date);
    expect(second.headers.date).toBe(notModified.responseHeaders.date);
    expect(second.headers['content-type']).toBe(first.headers['content-type']); // body fields kept
    expect(second.headers['x-request-id']).toBe(notModified.responseHeaders['x-request-id']);
    expect(first.headers['x-request-id']).not.toBe(second.headers['x-request-id']); // results are snapshots
  });

  it('a PUT stores what was sent under the new ETag: the next GET is a 304', async () => {
    const path = doc();
    const client = new IfMatchClient({ baseUrl: proxy.url });
    const created = await client.create(path, { v: 1, gone: undefined });
    expect(created.status).toBe(201);
    expect(created.value).toEqual({ v: 1 }); // what the server stored: undefined members vanish
    const read = await client.get(path);
    expect(read).toMatchObject({
      status: 304,
      fromCache: true,
      value: { v: 1 },
      etag: created.etag,
    });
    const put = await client.put(path, { v: 2 });
    expect(proxy.log.at(-1)!.requestHeaders['if-match']).toBe(created.etag); // cached ETag used
    const again = await client.get(path);
    expect(again).toMatchObject({ status: 304, value: { v: 2 }, etag: put.etag });
  });

  it('cache: no-store bypasses the cache; cached values are frozen', async () => {
    const path = doc();
    const client = new IfMatchClient({ baseUrl: proxy.url });
    await client.put(path, { deep: { list: [1] } }, { ifMatch: false });
    const fresh = await client.get<{ deep: { list: number[] } }>(path, { cache: 'no-store' });
    expect(fresh.status).toBe(200);
    expect(proxy.log.at(-1)!.requestHeaders['if-none-match']).toBeUndefined();
    expect(() => fresh.value.deep.list.push(2)).toThrow(TypeError);
  });

  it('stays within its byte bound, evicting the least recently used', async () => {
    const paths = [doc(), doc(), doc(), doc(), doc()];
    const writer = new IfMatchClient({ baseUrl: server.url });
    for (const p of paths) await writer.put(p, { pad: 'x'.repeat(1000) }, { ifMatch: false });
    const client = new IfMatchClient({ baseUrl: proxy.url, cacheBytes: 3 * 1020 });
    for (const p of paths) {
      await client.get(p);
      expect(client.cacheStats.bytes).toBeLessThanOrEqual(3 * 1020);
    }
    expect(client.cacheStats.entries).toBe(3);
    expect(client.cached(paths[0]!)).toBeUndefined();
    expect(client.cached(paths[4]!)).toBeDefined();
    proxy.reset();
    expect((await client.get(paths[0]!)).status).toBe(200); // evicted: a full GET
    expect(proxy.log.at(-1)!.requestHeaders['if-none-match']).toBeUndefined();
    expect((await client.get(paths[4]!)).status).toBe(304); // still cached
    expect(client.cacheStats.bytes).toBeLessThanOrEqual(3 * 1020);
  });
});

describe('writes and typed errors', () => {
  it('create on an existing document is a PreconditionFailedError with the current ETag', async () => {
    const path = doc();
    const a = new IfMatchClient({ baseUrl: server.url });
    const made = await a.create(path, { n: 1 });
    const error = await a.create(path, { n: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PreconditionFailedError);
    const failed = error as PreconditionFailedError;
    expect(failed.status).toBe(412);
    expect(failed.currentETag).toBe(made.etag);
    expect(failed.problem.status).toBe(412);
    expect(typeof failed.title).toBe('string');
  });

  it('a missing document is a NotFoundError with problem fields', async () => {
    const error = await new IfMatchClient({ baseUrl: server.url })
      .get(doc())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect(error).toBeInstanceOf(HttpError);
    expect((error as NotFoundError).problem).toMatchObject({ status: 404 });
    expect((error as NotFoundError).detail).toBeTypeOf('string');
  });

  it('patch: merge patch and JSON Patch with If-Match, cache updated', async () => {
    const path = doc();
    const client = new IfMatchClient({ baseUrl: proxy.url });
    const made = await client.create(path, { a: 1, b: 2 });
    const merged = await client.patch(path, { b: null, c: 3 });
    expect(proxy.log.at(-1)!.requestHeaders).toMatchObject({
      'content-type': 'application/merge-patch+json',
      'if-match': made.etag,
    });
    expect(merged.value).toEqual({ a: 1, c: 3 });
    const patched = await client.patch(path, [{ op: 'replace', path: '/a', value: 10 }]);
    expect(proxy.log.at(-1)!.requestHeaders['content-type']).toBe('application/json-patch+json');
    expect(patched.value).toEqual({ a: 10, c: 3 });
    expect(await client.get(path)).toMatchObject({ status: 304, value: { a: 10, c: 3 } });
  });

  it('remove sends If-Match; a stale ETag is refused and nothing is deleted', async () => {
    const path = doc();
    const a = new IfMatchClient({ baseUrl: server.url });
    const b = new IfMatchClient({ baseUrl: server.url });
    await a.create(path, { v: 1 });
    await b.get(path);
    await a.put(path, { v: 2 });
    await expect(b.remove(path)).rejects.toBeInstanceOf(PreconditionFailedError);
    expect((await a.get(path)).value).toEqual({ v: 2 });
    expect((await a.remove(path)).status).toBe(204);
    await expect(a.get(path)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('update()', () => {
  it('16 concurrent callers incrementing 20 times each lose nothing', async () => {
    const path = doc();
    await new IfMatchClient({ baseUrl: server.url }).put(path, { counter: 0 }, { ifMatch: false });
    const shared = new IfMatchClient({ baseUrl: proxy.url, maxAttempts: 500, backoff: fast });
    const results = await Promise.all(
      Array.from({ length: 16 }, async (_, caller) => {
        // Half own a client, half share one (and its cache).
        const client =
          caller < 8
            ? new IfMatchClient({ baseUrl: proxy.url, maxAttempts: 500, backoff: fast })
            : shared;
        let conflicts = 0;
        for (let i = 0; i < 20; i++) {
          const r = await client.update<{ counter: number }>(
            path,
            (d) => ({ counter: d.counter + 1 }),
            { headers: { 'x-caller': String(caller) } },
          );
          conflicts += r.conflicts;
        }
        return conflicts;
      }),
    );
    const final = await new IfMatchClient({ baseUrl: server.url }).get<{ counter: number }>(path);
    expect(final.value.counter).toBe(16 * 20);
    const conflicts = results.reduce((a, b) => a + b, 0);
    // With 16 writers on one document some must have collided (and been retried).
    expect(conflicts).toBeGreaterThan(0);
    const puts = proxy.log.filter((e) => e.method === 'PUT');
    expect(puts.filter((e) => e.status === 412)).toHaveLength(conflicts);
    expect(puts.filter((e) => e.status === 200)).toHaveLength(320);
    // No caller ever sent an If-Match again after it had failed.
    for (let caller = 0; caller < 16; caller++) {
      const failed = new Set<unknown>();
      for (const e of puts.filter((x) => x.requestHeaders['x-caller'] === String(caller))) {
        expect(failed.has(e.requestHeaders['if-match'])).toBe(false);
        if (e.status === 412) failed.add(e.requestHeaders['if-match']);
      }
    }
  }, 120_000); // 320 commits on one row: slow when the machine is busy, never wrong

  /** A change function that lets another client write first, once: a guaranteed conflict. */
  function interfering(path: string, theirs: unknown) {
    const other = new IfMatchClient({ baseUrl: server.url });
    let done = false;
    return async () => {
      if (!done) {
        done = true;
        await other.put(path, theirs, { ifMatch: false });
      }
    };
  }

  it('calls merge(base, mine, theirs) with the right three values instead of re-applying', async () => {
    const path = doc();
    const client = new IfMatchClient({ baseUrl: proxy.url, backoff: fast });
    await client.create(path, { a: 1 });
    const interfere = interfering(path, { a: 1, b: 2 });
    const change = vi.fn(async (d: Record<string, unknown>) => {
      await interfere();
      return { ...d, c: 3 };
    });
    const merge = vi.fn(
      (
        _base: Record<string, unknown>,
        mine: Record<string, unknown>,
        theirs: Record<string, unknown>,
      ) => ({
        ...theirs,
        c: mine.c,
      }),
    );
    const result = await client.update(path, change, { merge });
    expect(change).toHaveBeenCalledTimes(1);
    expect(merge).toHaveBeenCalledTimes(1);
    expect(merge).toHaveBeenCalledWith({ a: 1 }, { a: 1, c: 3 }, { a: 1, b: 2 });
    expect(result).toMatchObject({ attempts: 2, conflicts: 1, value: { a: 1, b: 2, c: 3 } });
    const stored = await new IfMatchClient({ baseUrl: server.url }).get(path);
    expect(stored.value).toEqual({ a: 1, b: 2, c: 3 });
    expect(stored.etag).toBe(result.etag);
    // The failed If-Match was not sent again.
    const puts = proxy.log.filter((e) => e.method === 'PUT' && e.requestHeaders['if-match']);
    expect(puts.map((e) => e.status)).toEqual([412, 200]);
    expect(puts[1]!.requestHeaders['if-match']).not.toBe(puts[0]!.requestHeaders['if-match']);
  });

  it('the 412 with the representation saves the re-GET (counted at the proxy)', async () => {
    const gets: Record<string, number> = {};
    for (const prefer of [true, false]) {
      const path = doc();
      const client = new IfMatchClient({ baseUrl: proxy.url, backoff: fast });
      await new IfMatchClient({ baseUrl: server.url }).create(path, { counter: 0 });
      const interfere = interfering(path, { counter: 10 });
      proxy.reset();
      const result = await client.update<{ counter: number }>(
        path,
        async (d) => {
          await interfere();
          return { counter: d.counter + 1 };
        },
        { preferRepresentation: prefer },
      );
      expect(result).toMatchObject({ value: { counter: 11 }, attempts: 2, conflicts: 1 });
      const conflict = proxy.log.find((e) => e.status === 412)!;
      expect(conflict.requestHeaders.prefer ?? '').toBe(prefer ? 'return=representation' : '');
      gets[String(prefer)] = proxy.count('GET');
    }
    expect(gets).toEqual({ true: 1, false: 2 });
  });

  it('abort stops a backoff sleep at once and rejects with the reason', async () => {
    const path = doc();
    const client = new IfMatchClient({
      baseUrl: proxy.url,
      backoff: { base: 120_000, cap: 120_000, random: () => 0.99 }, // ~2 minutes: longer than the test timeout
    });
    await client.create(path, { v: 0 });
    proxy.reset();
    const other = new IfMatchClient({ baseUrl: server.url });
    let k = 0;
    const controller = new AbortController();
    const pending = client.update<{ v: number }>(
      path,
      async (d) => {
        await other.put(path, { v: 100 + ++k }, { ifMatch: false }); // always someone first
        return { v: d.v + 1 };
      },
      { signal: controller.signal },
    );
    // The first 412 is retried at once (it carried the current state); the second one sleeps.
    while (proxy.log.filter((e) => e.status === 412).length < 2) {
      await new Promise((r) => setTimeout(r, 5));
    }
    await new Promise((r) => setTimeout(r, 20)); // now inside the two-minute sleep
    const reason = new Error('user cancelled');
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(proxy.count('PUT')).toBe(2);
    // An already-aborted signal sends nothing.
    proxy.reset();
    await expect(client.update(path, (d) => d, { signal: controller.signal })).rejects.toBe(reason);
    expect(proxy.log).toHaveLength(0);
  });

  it('gives up with MaxAttemptsError after maxAttempts conflicts', async () => {
    const path = doc();
    const client = new IfMatchClient({ baseUrl: server.url, backoff: fast });
    const other = new IfMatchClient({ baseUrl: server.url });
    await client.create(path, { v: 0 });
    let k = 0;
    const error = await client
      .update<{ v: number }>(
        path,
        async (d) => {
          await other.put(path, { v: 1000 + ++k }, { ifMatch: false }); // always someone first
          return { v: d.v + 1 };
        },
        { maxAttempts: 3 },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MaxAttemptsError);
    expect(error).toMatchObject({ attempts: 3, conflicts: 3 });
    expect((error as MaxAttemptsError).cause).toBeInstanceOf(PreconditionFailedError);
  });

  it('a lost response after the server committed is reported as success, not a conflict', async () => {
    const path = doc();
    const client = new IfMatchClient({ baseUrl: proxy.url, backoff: fast });
    await new IfMatchClient({ baseUrl: server.url }).create(path, { counter: 41 });
    proxy.dropResponseOf((req) => req.method === 'PUT');
    const result = await client.update<{ counter: number }>(path, (d) => ({
      counter: d.counter + 1,
    }));
    expect(proxy.dropped).toBe(1);
    expect(result).toMatchObject({ value: { counter: 42 }, attempts: 1, conflicts: 0 });
    expect(proxy.count('PUT')).toBe(1); // not resent: a resend would have met a false 412
    const stored = await new IfMatchClient({ baseUrl: server.url }).get(path);
    expect(stored.value).toEqual({ counter: 42 });
    expect(result.etag).toBe(stored.etag);
    expect(await client.get(path)).toMatchObject({ status: 304, value: { counter: 42 } });
  });

  it('a request lost before the server saw it is sent again (same If-Match, not a conflict)', async () => {
    const path = doc();
    const client = new IfMatchClient({ baseUrl: proxy.url, backoff: fast });
    await new IfMatchClient({ baseUrl: server.url }).create(path, { counter: 7 });
    proxy.dropRequestOf((req) => req.method === 'PUT');
    const result = await client.update<{ counter: number }>(path, (d) => ({
      counter: d.counter + 1,
    }));
    expect(proxy.dropped).toBe(1);
    expect(result).toMatchObject({ value: { counter: 8 }, attempts: 2, conflicts: 0 });
    const stored = await new IfMatchClient({ baseUrl: server.url }).get(path);
    expect(stored.value).toEqual({ counter: 8 });
  });
});

describe('strict server', () => {
  it('a write without a precondition is a PreconditionRequiredError (428)', async () => {
    const strict = await startServer({ strict: true });
    try {
      const client = new IfMatchClient({ baseUrl: strict.url });
      const error = await client
        .put('/api/strict/a', { v: 1 }, { ifMatch: false })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PreconditionRequiredError);
      expect((error as PreconditionRequiredError).problem.status).toBe(428);
      // With preconditions everything works: create, then update() with If-Match.
      await client.create('/api/strict/a', { v: 1 });
      const r = await client.update<{ v: number }>('/api/strict/a', (d) => ({ v: d.v + 1 }));
      expect(r.value).toEqual({ v: 2 });
    } finally {
      await strict.close();
    }
  });
});

describe('update() backoff policy', () => {
  /** A fetch that records when each request started and ended, and can slow PUTs down. */
  function timedFetch(putDelayMs = 0) {
    const log: { method: string; start: number; end: number; status: number }[] = [];
    const fetchFn = async (input: string, init: RequestInit) => {
      const start = performance.now();
      const method = init.method ?? 'GET';
      if (method === 'PUT' && putDelayMs > 0) await new Promise((r) => setTimeout(r, putDelayMs));
      const res = await fetch(input, init);
      log.push({ method, start, end: performance.now(), status: res.status });
      return res;
    };
    return { log, fetch: fetchFn };
  }

  /** A change function that lets another client write first, the first `times` calls. */
  function interferingTimes(path: string, times: number) {
    const other = new IfMatchClient({ baseUrl: server.url });
    let k = 0;
    return async (d: { v: number }) => {
      if (k < times) await other.put(path, { v: 1000 + ++k }, { ifMatch: false });
      return { v: d.v + 1 };
    };
  }

  /** Pause between the end of each 412 and the next request (the backoff sleep, if any). */
  function pausesAfter412(log: { start: number; end: number; status: number }[]) {
    return log
      .slice(0, -1)
      .flatMap((e, i) => (e.status === 412 ? [log[i + 1]!.start - e.end] : []));
  }

  it("base 'auto' sleeps in units of the observed write round trip (slow server, long sleep)", async () => {
    const path = doc();
    const slow = timedFetch(60); // every PUT takes >= 60 ms
    const client = new IfMatchClient({
      baseUrl: server.url,
      fetch: slow.fetch,
      backoff: { random: () => 0.999 }, // sleep ~ its ceiling
    });
    await client.create(path, { v: 0 });
    const r = await client.update(path, interferingTimes(path, 2));
    expect(r).toMatchObject({ attempts: 3, conflicts: 2 });
    // 412, retried at once with the state it carried; 412 again, then one sleep.
    const [atOnce, slept] = pausesAfter412(slow.log);
    expect(atOnce).toBeLessThan(60);
    // The ceiling is 2 x the smoothed PUT round trip (>= 60 ms): >= ~120 ms,
    // where the old fixed 10 ms base would have slept at most 10 ms.
    expect(slept).toBeGreaterThanOrEqual(0.999 * 2 * 60 - 2);
  });

  it('a numeric base is used as given, whatever the round trip', async () => {
    const path = doc();
    const slow = timedFetch(60);
    const client = new IfMatchClient({
      baseUrl: server.url,
      fetch: slow.fetch,
      backoff: { base: 1, random: () => 0.999 },
    });
    await client.create(path, { v: 0 });
    await client.update(path, interferingTimes(path, 2));
    const [, slept] = pausesAfter412(slow.log);
    expect(slept).toBeLessThan(60); // ~1 ms sleep + a GET, far from 2 x 60 ms
  });

  it('the next update() of a contended URL starts one doubling below where the last ended', async () => {
    const run = async (carry: boolean) => {
      const path = doc();
      const timed = timedFetch();
      const client = new IfMatchClient({
        baseUrl: server.url,
        fetch: timed.fetch,
        backoff: { base: 10, cap: 10_000, random: () => 0.999, carry },
      });
      await client.create(path, { v: 0 });
      // 5 conflicts: at once, then sleeps at levels 0..3 (10, 20, 40, 80 ms): level 4 reached.
      await client.update(path, interferingTimes(path, 5));
      timed.log.length = 0;
      // 2 conflicts: at once, then one sleep, at level 3 when carried (80 ms), else 0 (10 ms).
      await client.update(path, interferingTimes(path, 2));
      return pausesAfter412(timed.log)[1];
    };
    expect(await run(true)).toBeGreaterThanOrEqual(0.999 * 80 - 2);
    expect(await run(false)).toBeLessThan(0.999 * 80 - 2);
  });
});
