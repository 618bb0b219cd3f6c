// changes(): the feed iterator's decisions over real loopback HTTP, against a
// small server the test controls (helpers/live-server.ts): paging, resuming
// after failures without gap or duplicate, 410, pacing, abort.

import { CursorExpiredError, HttpError, IfMatchClient } from '@ifmatch/client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collect, delay, take, until } from './helpers/iterate.js';
import { type FeedEntry, type LiveServer, startLiveServer } from './helpers/live-server.js';

let server: LiveServer;

beforeEach(async () => {
  server = await startLiveServer();
});
afterEach(async () => {
  await server.close();
});

const change = (id: string, i: number, deleted = false): FeedEntry => ({
  id,
  ...(deleted ? {} : { etag: `"${id}-${i}"` }),
  lastModified: new Date(i * 1000).toUTCString(),
  deleted,
});

describe('changes()', () => {
  it('without since, starts from the listing cursor: earlier changes are not replayed', async () => {
    server.append(change('old', 1));
    const client = new IfMatchClient({ baseUrl: server.url });
    const events = client.changes('/api/c', { wait: 10 });
    const got = take(events, 2);
    await server.waitForRequests(2);
    expect(server.requests[0]!.url).toBe('/api/c?limit=1');
    server.append(change('a', 2), change('b', 3, true));
    const changes = await got;
    expect(changes).toEqual([
      {
        id: 'a',
        etag: '"a-2"',
        lastModified: new Date(2000).toUTCString(),
        deleted: false,
        cursor: '1.t',
      },
      { id: 'b', lastModified: new Date(3000).toUTCString(), deleted: true, cursor: '3.t' },
    ]);
    const poll = server.requests[1]!;
    expect(poll.url).toBe('/api/c?since=1.t');
    expect(poll.headers.prefer).toBe('wait=10');
    expect(poll.preferenceApplied).toBe(true);
  });

  it("since: '0' replays from the oldest kept, page by page, in order, each change once", async () => {
    const all = Array.from({ length: 25 }, (_, i) => change(`d${i % 7}`, i + 1, i % 5 === 4));
    server.append(...all);
    const client = new IfMatchClient({ baseUrl: server.url });
    const changes = await take(client.changes('/api/c', { since: '0', limit: 10, wait: 5 }), 25);
    expect(changes.map(({ cursor: _, ...c }) => c)).toEqual(all);
    // Three pages of 10, 10, 5; each page's last change carries the exact cursor.
    expect(server.requests.map((r) => r.url)).toEqual([
      '/api/c?since=0&limit=10',
      '/api/c?since=10.t&limit=10',
      '/api/c?since=20.t&limit=10',
    ]);
    expect(changes[9]!.cursor).toBe('10.t');
    expect(changes[19]!.cursor).toBe('20.t');
    expect(changes[24]!.cursor).toBe('25.t');
    expect(changes[3]!.cursor).toBe('0'); // mid-page: where its page started
  });

  it('resuming from any yielded cursor loses nothing after that change', async () => {
    const all = Array.from({ length: 12 }, (_, i) => change(`r${i}`, i + 1));
    server.append(...all);
    const client = new IfMatchClient({ baseUrl: server.url });
    const ids = (cs: { id: string }[]) => cs.map((c) => c.id);
    const first = await take(client.changes('/api/c', { since: '0', limit: 5, wait: 1 }), 12);
    expect(ids(first)).toEqual(ids(all));
    for (const [k, c] of first.entries()) {
      // This test server's cursors are "<position>.t": the position resumed from.
      const position = Number.parseInt(c.cursor, 10);
      expect(position).toBeLessThanOrEqual(k + 1); // never past the change itself
      const resumed = await take(
        client.changes('/api/c', { since: c.cursor, limit: 5, wait: 1 }),
        12 - position,
      );
      expect(ids(resumed)).toEqual(ids(all.slice(position)));
    }
  });

  it('survives 5xx and cut connections: retried from the last cursor, no gap, no duplicate', async () => {
    const client = new IfMatchClient({ baseUrl: server.url });
    const { out, stop } = collect((signal) =>
      client.changes('/api/c', {
        since: '0',
        limit: 3,
        wait: 5,
        signal,
        backoff: { base: 10, cap: 40 },
      }),
    );
    const expected: FeedEntry[] = [];
    for (let round = 0; round < 6; round++) {
      const batch = [change(`x${round}`, round * 2 + 1), change(`y${round}`, round * 2 + 2)];
      expected.push(...batch);
      if (round % 3 === 1) server.failNext(2, 502, '/api/c');
      if (round % 3 === 2) server.cutNext(1, '/api/c');
      server.append(...batch);
      await delay(60);
    }
    await until(() => out.length >= expected.length, 5000);
    await stop(); // ends cleanly: no throw
    expect(out.map(({ cursor: _, ...c }) => c)).toEqual(expected);
    const statuses = server.requests.map((r) => r.status);
    expect(statuses.filter((s) => s === 502).length).toBeGreaterThanOrEqual(2);
    expect(statuses.filter((s) => s === 0).length).toBeGreaterThanOrEqual(1);
  });

  it('a cursor older than the server keeps: CursorExpiredError (410), with the cursor', async () => {
    server.append(...Array.from({ length: 10 }, (_, i) => change(`e${i}`, i + 1)));
    server.expireThrough(6);
    const client = new IfMatchClient({ baseUrl: server.url });
    const error = await take(client.changes('/api/c', { since: '3.t' }), 1).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CursorExpiredError);
    expect(error).toBeInstanceOf(HttpError);
    expect((error as CursorExpiredError).status).toBe(410);
    expect((error as CursorExpiredError).cursor).toBe('3.t');
    expect((error as CursorExpiredError).type).toBe('cursor-expired');
  });

  it('a bad cursor (400) ends the iteration with the HttpError, no retry', async () => {
    const client = new IfMatchClient({ baseUrl: server.url });
    const error = await take(client.changes('/api/c', { since: 'junk' }), 1).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as HttpError).status).toBe(400);
    expect(server.requests).toHaveLength(1);
  });

  it('an empty page after the wait yields nothing; a server that does not wait is polled with spacing', async () => {
    const client = new IfMatchClient({ baseUrl: server.url });
    const controller = new AbortController();
    const events = client.changes('/api/c', {
      since: '0',
      wait: 1,
      signal: controller.signal,
      backoff: { base: 25, cap: 400 },
    });
    const next = events.next();
    await delay(2300);
    const waited = server.requests;
    expect(waited.length).toBeGreaterThanOrEqual(2);
    expect(waited.length).toBeLessThanOrEqual(3);
    expect(
      waited.every(
        (r) => r.preferenceApplied && r.heldMs > 900 && /^\/api\/c\?since=0(\.t)?$/.test(r.url),
      ),
    ).toBe(true);

    server.honourWait = false;
    const before = server.requests.length;
    await delay(1500);
    const polls = server.requests.slice(before);
    expect(polls.length).toBeGreaterThanOrEqual(3);
    expect(polls.length).toBeLessThan(60);
    server.append(change('late', 1));
    expect(await next).toMatchObject({ done: false, value: { id: 'late', cursor: '1.t' } });
    controller.abort();
    expect(await events.next()).toEqual({ done: true, value: undefined });
  });

  it('aborting ends a held poll at once and the server sees it closed', async () => {
    const client = new IfMatchClient({ baseUrl: server.url });
    const controller = new AbortController();
    const events = client.changes('/api/c', { wait: 30, signal: controller.signal });
    const next = events.next();
    await server.waitForRequests(2);
    await delay(100);
    expect(server.open).toBe(1);
    controller.abort();
    expect(await next).toEqual({ done: true, value: undefined });
    await delay(100);
    expect(server.open).toBe(0);
  });

  it('a listing without a cursor is not a change feed: TypeError; a missing collection: the 404', async () => {
    const client = new IfMatchClient({ baseUrl: server.url });
    const plain = await take(client.changes('/api/plain'), 1).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(plain).toBeInstanceOf(TypeError);
    expect((plain as Error).message).toMatch(/no cursor/);
    const missing = await take(client.changes('/nothing-here'), 1).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((missing as HttpError).status).toBe(404);
  });

  it('takes a full URL, and keeps the query it already has', async () => {
    server.append(change('q', 1));
    const client = new IfMatchClient();
    const [c] = await take(client.changes(`${server.url}/api/c?x=1`, { since: '0', wait: 1 }), 1);
    expect(c).toMatchObject({ id: 'q', cursor: '1.t' });
    expect(server.requests[0]!.url).toBe('/api/c?x=1&since=0');
  });
});
