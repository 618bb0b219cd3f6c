// watch() and changes() against the real ifmatch server (in process, on a
// SQLite file in a temporary folder), through the counting proxy where the
// requests are counted or a connection is lost. The abort tests use a server
// of their own: the proxy does not cancel its upstream request when its
// client leaves, so the shared server still holds the other tests' polls.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CursorExpiredError, IfMatchClient } from '@ifmatch/client';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { activeTimers, collect, delay, stepper, take, until } from './helpers/iterate.js';
import { type CountingProxy, startProxy } from './helpers/proxy.js';
import { type RunningServer, startServer } from './helpers/server.js';

let server: RunningServer;
let proxy: CountingProxy;
const folder = mkdtempSync(join(tmpdir(), 'ifmatch-client-live-'));
let n = 0;
const dbFile = () => join(folder, `s${++n}.db`);
const unique = () => `${++n}-${Date.now()}`;

beforeAll(async () => {
  server = await startServer({ db: dbFile() });
  proxy = await startProxy(server.url);
});
afterAll(async () => {
  await proxy?.close();
  await server?.close();
  rmSync(folder, { recursive: true, force: true });
});

/** A server of the test's own, closed after `body`. */
async function withServer(
  options: { changeRetentionMs?: number },
  body: (own: RunningServer) => Promise<void>,
): Promise<void> {
  const own = await startServer({ db: dbFile(), ...options });
  try {
    await body(own);
  } finally {
    await own.close();
  }
}
afterEach(() => {
  vi.restoreAllMocks();
  proxy.reset();
});

describe('watch() against the ifmatch server', () => {
  it("sees another client's write within the wait, with one held GET and no polling", async () => {
    const path = `/api/live-client/w${unique()}`;
    const other = new IfMatchClient({ baseUrl: server.url });
    await other.create(path, { v: 0 });
    const client = new IfMatchClient({ baseUrl: proxy.url });
    const events = stepper((signal) => client.watch<{ v: number }>(path, { signal, wait: 20 }));

    const first = await events.within(5000);
    expect(first).toMatchObject({ done: false, value: { deleted: false, value: { v: 0 } } });
    expect(await events.within(1500)).toBe('none'); // held for 1.5 s
    expect(proxy.count('GET')).toBe(1); // the long-poll is still open: no GET per second

    const wrote = performance.now();
    const write = await other.put(path, { v: 1 });
    const second = await events.within(5000);
    const latency = performance.now() - wrote;
    expect(second).toMatchObject({
      done: false,
      value: { deleted: false, value: { v: 1 }, etag: write.etag },
    });
    expect(latency).toBeLessThan(1000);
    const [, poll] = proxy.log.filter((e) => e.method === 'GET');
    expect(poll!.status).toBe(200);
    expect(poll!.requestHeaders['if-none-match']).toBe(
      first !== 'none' && !first.value.deleted ? first.value.etag : '',
    );
    expect(poll!.requestHeaders.prefer).toBe('wait=20');
    expect(poll!.responseHeaders['preference-applied']).toMatch(/^wait=\d+$/);
    expect(proxy.count('GET')).toBe(2);
    console.log(`watch: write -> yield ${latency.toFixed(1)} ms through the proxy`);
    await events.stop();
  });

  it('a timeout 304 yields nothing, sends no body and parses nothing', async () => {
    const path = `/api/live-client/t${unique()}`;
    await new IfMatchClient({ baseUrl: server.url }).create(path, {
      big: Array.from({ length: 2000 }, (_, i) => i),
    });
    const client = new IfMatchClient({ baseUrl: proxy.url });
    const events = stepper((signal) => client.watch(path, { signal, wait: 1 }));
    await events.within(5000);
    const parse = vi.spyOn(JSON, 'parse');
    expect(await events.within(2500)).toBe('none');
    expect(parse).not.toHaveBeenCalled();
    const polls = proxy.log.filter((e) => e.method === 'GET').slice(1);
    expect(polls.length).toBeGreaterThanOrEqual(2);
    expect(polls.length).toBeLessThanOrEqual(3); // one per wait, not a tight loop
    for (const poll of polls) {
      expect(poll.status).toBe(304);
      expect(poll.bodyBytes).toBe(0);
      expect(poll.responseHeaders['preference-applied']).toMatch(/^wait=1$/);
    }
    await events.stop();
  });

  it('a deletion, then the document created again', async () => {
    const path = `/api/live-client/d${unique()}`;
    const other = new IfMatchClient({ baseUrl: server.url });
    await other.create(path, { v: 'a' });
    const client = new IfMatchClient({ baseUrl: proxy.url });
    const events = stepper((signal) =>
      client.watch<{ v: string }>(path, {
        signal,
        wait: 10,
        backoff: { base: 50, cap: 200 },
      }),
    );
    await events.within(5000);
    await delay(200);
    await other.remove(path);
    expect(await events.within(3000)).toEqual({
      done: false,
      value: { deleted: true },
    });
    await delay(500);
    await other.create(path, { v: 'b' });
    expect(await events.within(3000)).toMatchObject({
      value: { deleted: false, value: { v: 'b' } },
    });
    const gets = proxy.log.filter((e) => e.method === 'GET');
    // While deleted the server cannot hold the request: the client spaced its
    // GETs (>= 50 ms): a handful in 0.5 s, not hundreds.
    expect(gets.filter((e) => e.status === 404).length).toBeLessThanOrEqual(12);
    await events.stop();
  });

  it('abort during the long-poll: the iteration ends, the server holds no waiter, no timer is left', async () => {
    let before = 0;
    await withServer({}, async (own) => {
      const path = `/api/live-client/a${unique()}`;
      await new IfMatchClient({ baseUrl: own.url }).create(path, { v: 0 });
      const client = new IfMatchClient({ baseUrl: own.url });
      const controller = new AbortController();
      const events = client.watch(path, { signal: controller.signal, wait: 30 });
      await events.next();
      before = activeTimers();
      const held = events.next();
      await until(() => own.waiters() === 1);
      controller.abort();
      expect(await held).toEqual({ done: true, value: undefined });
      await until(() => own.waiters() === 0); // the server saw the client leave
    });
    // Closed: the server's timers are gone (its store subscription lingers a
    // while after the last waiter, by design); any left would be the client's.
    await delay(50);
    expect(activeTimers()).toBeLessThanOrEqual(before);
  });
});

describe('changes() against the ifmatch server', () => {
  it('from now (the listing cursor): every later change in commit order, each once', async () => {
    const collection = `/api/feed${unique()}`;
    const writer = new IfMatchClient({ baseUrl: server.url });
    await writer.create(`${collection}/before`, { n: 0 }); // not in the feed: before the listing
    const client = new IfMatchClient({ baseUrl: proxy.url });
    const { out, stop } = collect((signal) => client.changes(collection, { signal, wait: 10 }));
    await until(() => proxy.count('GET') >= 1);
    await delay(100); // the feed request is held now
    const tags: (string | undefined)[] = [];
    for (let i = 0; i < 5; i++) tags.push((await writer.put(`${collection}/x`, { i })).etag);
    await writer.remove(`${collection}/x`);
    const created = await writer.create(`${collection}/y`, { y: 1 });
    await until(() => out.length >= 7, 5000);
    await stop();
    expect(out.map((c) => [c.id, c.deleted, c.etag])).toEqual([
      ...tags.map((t) => ['x', false, t]),
      ['x', true, undefined],
      ['y', false, created.etag],
    ]);
    expect(out.every((c) => typeof c.cursor === 'string' && c.lastModified.endsWith('GMT'))).toBe(
      true,
    );
    expect(proxy.log[0]!.url).toMatch(/\?limit=1$/);
  });

  it('a change committed between the listing and the first feed request is not skipped', async () => {
    const collection = `/api/feed${unique()}`;
    const writer = new IfMatchClient({ baseUrl: server.url });
    let between: string | undefined;
    const client = new IfMatchClient({
      baseUrl: server.url,
      fetch: async (url, init) => {
        const res = await fetch(url, init);
        // The listing has answered; before the client can ask the feed, another client writes.
        if (url.endsWith('?limit=1'))
          between = (await writer.create(`${collection}/b`, { b: 1 })).etag;
        return res;
      },
    });
    const [c] = await take(client.changes(collection, { wait: 5 }), 1);
    expect(between).toBeDefined();
    expect(c).toMatchObject({ id: 'b', etag: between, deleted: false });
  });

  it('yields every change in order across lost responses and cut requests, no gap, no duplicate', async () => {
    const collection = `/api/feed${unique()}`;
    const writer = new IfMatchClient({ baseUrl: server.url });
    const client = new IfMatchClient({ baseUrl: proxy.url });
    const { out, stop } = collect((signal) =>
      client.changes(collection, {
        since: '0',
        limit: 4,
        wait: 5,
        signal,
        backoff: { base: 10, cap: 50 },
      }),
    );
    const expected: string[] = [];
    const feedGet = (req: { method?: string; url?: string }) =>
      req.method === 'GET' && (req.url ?? '').includes('since=');
    for (let round = 0; round < 8; round++) {
      if (round % 4 === 1) proxy.dropResponseOf(feedGet); // the server answered; the client never hears
      if (round % 4 === 3) proxy.dropRequestOf(feedGet); // never reaches the server
      for (let i = 0; i < 3; i++) {
        const id = `m${round}-${i}`;
        const w = await writer.create(`${collection}/${id}`, { round, i });
        expected.push(`${id} ${w.etag}`);
      }
      await delay(80);
    }
    await until(() => out.length >= expected.length, 8000);
    await delay(200); // a duplicate would show up now
    await stop();
    expect(out.map((c) => `${c.id} ${c.etag}`)).toEqual(expected);
    expect(proxy.dropped).toBeGreaterThanOrEqual(2);
  });

  it('a cursor older than the retention: CursorExpiredError', async () => {
    await withServer({ changeRetentionMs: 200 }, async (own) => {
      const collection = `/api/feed${unique()}`;
      const writer = new IfMatchClient({ baseUrl: own.url });
      await writer.create(`${collection}/a`, { a: 1 });
      const listing = await writer.get<{ cursor: string }>(collection, { cache: 'no-store' });
      const old = listing.value.cursor;
      expect(typeof old).toBe('string');
      await writer.create(`${collection}/b`, { b: 1 });
      await delay(700); // the pruning (every retention / 4) removes both changes
      await writer.create(`${collection}/c`, { c: 1 });
      const client = new IfMatchClient({ baseUrl: own.url });
      let error: unknown;
      try {
        for await (const _ of client.changes(collection, { since: old, wait: 1 })) break;
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(CursorExpiredError);
      expect((error as CursorExpiredError).status).toBe(410);
      expect((error as CursorExpiredError).cursor).toBe(old);
      expect((error as CursorExpiredError).type).toMatch(/cursor-expired$/);
    });
  });

  it('abort during the held feed request: ends cleanly, no waiter and no timer left', async () => {
    const before = activeTimers();
    await withServer({}, async (own) => {
      const collection = `/api/feed${unique()}`;
      const client = new IfMatchClient({ baseUrl: own.url });
      const controller = new AbortController();
      const events = client.changes(collection, { signal: controller.signal, wait: 30 });
      const next = events.next();
      await until(() => own.waiters() === 1);
      controller.abort();
      expect(await next).toEqual({ done: true, value: undefined });
      await until(() => own.waiters() === 0);
    });
    await delay(50);
    expect(activeTimers()).toBeLessThanOrEqual(before);
  });
});
