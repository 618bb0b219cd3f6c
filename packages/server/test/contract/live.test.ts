// CONTRACT.md "Live changes" over every store: the document long-poll
// (Prefer: wait), the collection's change feed (?since=, Prefer: wait), the
// listing's cursor, Server-Sent Events (Last-Event-ID, heartbeats), bad input,
// caps, disconnects and graceful shutdown. Real HTTP on loopback.
import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAuthConfig } from '../../src/http/auth.js';
import { StoreUnavailableError } from '../../src/store/types.js';
import { type Change, openEvents, sleep, until } from '../helpers/live.js';
import { problemOf, put, startTestServer, type TestServer } from '../helpers/server.js';
import { type StoreFactory, storeFactories } from '../helpers/stores.js';

interface FeedPage {
  changes: Change[];
  cursor: string;
}
interface ListPage {
  items: Array<{ id: string; etag: string }>;
  next: string | null;
  cursor: string;
}

async function listing(base: string, c: string): Promise<ListPage> {
  const res = await fetch(`${base}/api/${c}`);
  expect(res.status).toBe(200);
  return (await res.json()) as ListPage;
}

async function feed(base: string, c: string, since: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/api/${c}?since=${encodeURIComponent(since)}`, { headers });
  return res;
}

/**
 * A request on its own connection (node:http, no pool: an aborted fetch makes
 * undici open a spare connection that holds the server's close()), answered
 * as a fetch Response.
 */
function pending(url: string, headers: Record<string, string>, method = 'GET') {
  const started = Date.now();
  let req: ReturnType<typeof httpRequest> | undefined;
  const response = new Promise<{ res: Response; ms: number }>((resolve, reject) => {
    req = httpRequest(url, { method, headers, agent: false });
    req.on('error', reject);
    req.on('response', (incoming) => {
      const chunks: Buffer[] = [];
      incoming.on('data', (c: Buffer) => chunks.push(c));
      incoming.on('error', reject);
      incoming.on('end', () => {
        const h = new Headers();
        for (const [name, value] of Object.entries(incoming.headers)) {
          for (const v of Array.isArray(value) ? value : [value ?? '']) h.append(name, v);
        }
        const status = incoming.statusCode!;
        const body = status === 304 || status === 204 ? null : Buffer.concat(chunks);
        resolve({ res: new Response(body, { status, headers: h }), ms: Date.now() - started });
      });
    });
    req.end();
  });
  response.catch(() => {});
  return { response, abort: () => req?.destroy() };
}

describe.each(storeFactories)('live documents on $name', (factory: StoreFactory) => {
  let s: TestServer;
  let n = 0;
  const fresh = () => `live${++n}-${Date.now()}`;

  beforeAll(async () => {
    s = await startTestServer(factory, { live: { maxWaitSeconds: 3, heartbeatMs: 100 } });
  });
  afterAll(async () => {
    await s.close();
    await factory.cleanup();
  });

  async function created(c: string, id = 'd', body: unknown = { v: 1 }) {
    const res = await put(s.base, `/api/${c}/${id}`, body);
    expect(res.status).toBe(201);
    return res.headers.get('etag')!;
  }

  it('Prefer: wait holds a 304 until a write on the document; the answer is the new 200', async () => {
    const c = fresh();
    const etag = await created(c);
    const url = `${s.base}/api/${c}/d`;
    const wait = pending(url, { 'if-none-match': etag, prefer: 'wait=3' });
    await until(() => s.app.live.size === 1);
    await sleep(100);
    const written = await put(s.base, `/api/${c}/d`, { v: 2 }, { 'if-match': etag });
    const { res, ms } = await wait.response;
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe(written.headers.get('etag'));
    expect(res.headers.get('preference-applied')).toBe('wait=3');
    expect(await res.json()).toEqual({ v: 2 });
    expect(ms).toBeGreaterThanOrEqual(100);
    expect(ms).toBeLessThan(2500);
    expect(s.app.live.size).toBe(0);
  });

  it('a wait that times out is the ordinary 304, with Preference-Applied', async () => {
    const c = fresh();
    const etag = await created(c);
    const started = Date.now();
    const res = await fetch(`${s.base}/api/${c}/d`, {
      headers: { 'if-none-match': etag, prefer: 'wait=1' },
    });
    expect(res.status).toBe(304);
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(res.headers.get('etag')).toBe(etag);
    expect(res.headers.get('preference-applied')).toBe('wait=1');
    expect(s.app.live.size).toBe(0);
  });

  it('a delete wakes the waiter with the ordinary 404; HEAD waits too', async () => {
    const c = fresh();
    const etag = await created(c);
    const get = pending(`${s.base}/api/${c}/d`, { 'if-none-match': etag, prefer: 'wait=3' });
    const head = pending(
      `${s.base}/api/${c}/d`,
      { 'if-none-match': etag, prefer: 'wait=3' },
      'HEAD',
    );
    await until(() => s.app.live.size === 2);
    expect((await fetch(`${s.base}/api/${c}/d`, { method: 'DELETE' })).status).toBe(204);
    const [g, h] = await Promise.all([get.response, head.response]);
    expect(g.res.status).toBe(404);
    await problemOf(g.res);
    expect(h.res.status).toBe(404);
    expect(g.res.headers.get('preference-applied')).toBe('wait=3');
  });

  it('no wait without If-None-Match, with one that does not match, or for an absent document', async () => {
    const c = fresh();
    await created(c);
    const url = `${s.base}/api/${c}/d`;
    for (const [headers, status] of [
      [{ prefer: 'wait=3' }, 200],
      [{ prefer: 'wait=3', 'if-none-match': '"nope"' }, 200],
    ] as const) {
      const started = Date.now();
      const res = await fetch(url, { headers });
      expect(res.status).toBe(status);
      expect(res.headers.get('preference-applied')).toBeNull();
      expect(Date.now() - started).toBeLessThan(1000);
    }
    const absent = await fetch(`${s.base}/api/${c}/absent`, {
      headers: { prefer: 'wait=3', 'if-none-match': '*' },
    });
    expect(absent.status).toBe(404);
  });

  it('Prefer: wait junk, negative, fractional or 0 is ignored; a huge one is capped by --max-wait', async () => {
    const c = fresh();
    const etag = await created(c);
    const url = `${s.base}/api/${c}/d`;
    for (const prefer of ['wait=junk', 'wait=-1', 'wait=1.5', 'wait=0', 'wait', 'wait=', ',;=,']) {
      const started = Date.now();
      const res = await fetch(url, { headers: { 'if-none-match': etag, prefer } });
      expect(res.status, prefer).toBe(304);
      expect(res.headers.get('preference-applied'), prefer).toBeNull();
      expect(Date.now() - started, prefer).toBeLessThan(900);
    }
    const started = Date.now();
    const res = await fetch(url, {
      headers: { 'if-none-match': etag, prefer: 'respond-async, wait=99999999999999999999' },
    });
    expect(res.status).toBe(304);
    // maxWaitSeconds: 3 in this app
    expect(res.headers.get('preference-applied')).toBe('wait=3');
    expect(Date.now() - started).toBeGreaterThanOrEqual(2900);
  });

  it('a client that goes away leaves no waiter behind', async () => {
    const c = fresh();
    const etag = await created(c);
    const waits = Array.from({ length: 5 }, () =>
      pending(`${s.base}/api/${c}/d`, { 'if-none-match': etag, prefer: 'wait=3' }),
    );
    await until(() => s.app.live.size === 5);
    for (const w of waits) w.abort();
    await until(() => s.app.live.size === 0, 1000);
  });

  it('the listing carries a cursor; ?since= gives every later change in commit order, tombstones included', async () => {
    const c = fresh();
    await created(c, 'a');
    const before = await listing(s.base, c);
    expect(typeof before.cursor).toBe('string');
    const b = await put(s.base, `/api/${c}/b`, { b: 1 });
    const a2 = await put(s.base, `/api/${c}/a`, { a: 2 });
    expect((await fetch(`${s.base}/api/${c}/b`, { method: 'DELETE' })).status).toBe(204);
    // A refused write and a no-op delete add nothing.
    expect((await put(s.base, `/api/${c}/a`, {}, { 'if-match': '"stale"' })).status).toBe(412);
    expect((await fetch(`${s.base}/api/${c}/b`, { method: 'DELETE' })).status).toBe(404);
    const res = await feed(s.base, c, before.cursor);
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('vary')).toMatch(/Accept/);
    const page = (await res.json()) as FeedPage;
    expect(page.changes.map((ch) => [ch.id, ch.deleted])).toEqual([
      ['b', false],
      ['a', false],
      ['b', true],
    ]);
    expect(page.changes[0]!.etag).toBe(b.headers.get('etag'));
    expect(page.changes[1]!.etag).toBe(a2.headers.get('etag'));
    expect(page.changes[1]!.lastModified).toBe(a2.headers.get('last-modified'));
    expect('etag' in page.changes[2]!).toBe(false);
    expect(page.changes[2]!.lastModified).toMatch(/GMT$/);
    expect(page.cursor).not.toBe(before.cursor);
    // Nothing after the last cursor: empty, same cursor.
    const empty = (await (await feed(s.base, c, page.cursor)).json()) as FeedPage;
    expect(empty).toEqual({ changes: [], cursor: page.cursor });
    // The listing after them names the same place.
    expect((await listing(s.base, c)).cursor).toBe(page.cursor);
  });

  it('since=0 starts from the oldest change kept; limit pages through the log', async () => {
    const c = fresh();
    for (const id of ['x', 'y', 'z']) await created(c, id);
    const all = (await (await feed(s.base, c, '0')).json()) as FeedPage;
    expect(all.changes.map((ch) => ch.id)).toEqual(['x', 'y', 'z']);
    const ids: string[] = [];
    let cursor = '0';
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${s.base}/api/${c}?since=${cursor}&limit=1`);
      const page = (await res.json()) as FeedPage;
      expect(page.changes).toHaveLength(1);
      ids.push(page.changes[0]!.id);
      cursor = page.cursor;
    }
    expect(ids).toEqual(['x', 'y', 'z']);
    expect(cursor).toBe(all.cursor);
    for (const q of ['limit=0', 'limit=10001', 'limit=x']) {
      const res = await fetch(`${s.base}/api/${c}?since=0&${q}`);
      expect(res.status, q).toBe(400);
      await problemOf(res);
    }
    expect((await fetch(`${s.base}/api/${c}?since=0&limit=10000`)).status).toBe(200);
    // The listing keeps its own maximum.
    expect((await fetch(`${s.base}/api/${c}?limit=1001`)).status).toBe(400);
  });

  it('the feed with Prefer: wait is held until a change commits, or answers empty with the same cursor', async () => {
    const c = fresh();
    await created(c, 'a');
    const { cursor } = await listing(s.base, c);
    const held = pending(`${s.base}/api/${c}?since=${cursor}`, { prefer: 'wait=3' });
    await until(() => s.app.live.size === 1);
    const written = await put(s.base, `/api/${c}/new`, { n: 1 });
    const { res, ms } = await held.response;
    expect(res.status).toBe(200);
    expect(res.headers.get('preference-applied')).toBe('wait=3');
    const page = (await res.json()) as FeedPage;
    expect(page.changes.map((ch) => ch.id)).toEqual(['new']);
    expect(page.changes[0]!.etag).toBe(written.headers.get('etag'));
    expect(ms).toBeLessThan(2500);

    const started = Date.now();
    const timeout = await fetch(`${s.base}/api/${c}?since=${page.cursor}`, {
      headers: { prefer: 'wait=1' },
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(timeout.headers.get('preference-applied')).toBe('wait=1');
    expect(await timeout.json()).toEqual({ changes: [], cursor: page.cursor });
    // Changes already there: no wait at all.
    const quick = Date.now();
    const now = await fetch(`${s.base}/api/${c}?since=${cursor}`, {
      headers: { prefer: 'wait=3' },
    });
    expect(((await now.json()) as FeedPage).changes).toHaveLength(1);
    expect(Date.now() - quick).toBeLessThan(1000);
  });

  it('bad cursors are 400 problems: junk, another collection, another database', async () => {
    const c = fresh();
    const other = fresh();
    await created(c);
    await created(other);
    for (const since of [
      'junk',
      '-1',
      '1',
      '1.',
      '.x',
      '01.abc',
      '1.a.b',
      '',
      '99999999999999999999.x',
    ]) {
      const res = await feed(s.base, c, since);
      expect(res.status, since).toBe(400);
      expect((await problemOf(res)).type, since).toMatch(/(bad-cursor|invalid-request)$/);
    }
    const foreign = await feed(s.base, c, (await listing(s.base, other)).cursor);
    expect(foreign.status).toBe(400);
    expect((await problemOf(foreign)).type).toMatch(/bad-cursor$/);
    // Another database (a second store of the same kind): its cursor names another identity.
    const second = await startTestServer(factory);
    try {
      await put(second.base, `/api/${c}/d`, { v: 1 });
      const theirs = (await listing(second.base, c)).cursor;
      const res = await feed(s.base, c, theirs);
      expect(res.status).toBe(400);
      expect((await problemOf(res)).type).toMatch(/bad-cursor$/);
    } finally {
      await second.close();
    }
  });

  it('the event stream sends each change as it commits; Last-Event-ID resumes after it', async () => {
    const c = fresh();
    await created(c, 'a');
    const { cursor } = await listing(s.base, c);
    const stream = openEvents(`${s.base}/api/${c}?since=${cursor}`);
    await until(() => stream.status === 200);
    expect(stream.header('content-type')).toMatch(/^text\/event-stream/);
    expect(stream.header('cache-control')).toBe('no-store');
    const b = await put(s.base, `/api/${c}/b`, { b: 1 });
    await put(s.base, `/api/${c}/c`, { c: 1 });
    await fetch(`${s.base}/api/${c}/a`, { method: 'DELETE' });
    await until(() => stream.events().length === 3);
    const events = stream.events();
    expect(events.map((e) => [e.event, e.data.id, e.data.deleted])).toEqual([
      ['change', 'b', false],
      ['change', 'c', false],
      ['change', 'a', true],
    ]);
    expect(events[0]!.data.etag).toBe(b.headers.get('etag'));
    // Each id is the cursor after that change: the feed from it has the rest.
    const rest = (await (await feed(s.base, c, events[0]!.id)).json()) as FeedPage;
    expect(rest.changes.map((ch) => ch.id)).toEqual(['c', 'a']);
    expect(rest.cursor).toBe(events[2]!.id);
    // Heartbeats (every 100 ms in this app).
    await until(() => stream.text.includes(': heartbeat'));
    stream.close();
    await until(() => s.app.live.size === 0, 1000);

    // Reconnection: Last-Event-ID wins over since.
    const again = openEvents(`${s.base}/api/${c}?since=${cursor}`, {
      'last-event-id': events[0]!.id,
    });
    await until(() => again.events().length === 2);
    expect(again.events().map((e) => e.data.id)).toEqual(['c', 'a']);
    again.close();
  });

  it('a stream outlives the request and keep-alive timeouts (they bound receiving requests only)', async () => {
    const short = await startTestServer(factory, {
      timeouts: { headersTimeout: 300, requestTimeout: 600, keepAliveTimeout: 300 },
      live: { heartbeatMs: 100 },
    });
    try {
      const stream = openEvents(`${short.base}/api/t`);
      await sleep(2000);
      expect(stream.ended).toBe(false);
      const beats = stream.text.split(': heartbeat').length;
      await put(short.base, '/api/t/late', {});
      await until(() => stream.events().length === 1);
      await until(() => stream.text.split(': heartbeat').length > beats);
      expect(stream.ended).toBe(false);
      stream.close();
    } finally {
      await short.close();
    }
  });

  it('an event stream without since starts from now, and names its start for reconnections', async () => {
    const c = fresh();
    await created(c, 'old');
    const stream = openEvents(`${s.base}/api/${c}`);
    await until(() => s.app.live.size === 1 && stream.text.includes('id: '));
    const start = /^id: (.+)$/m.exec(stream.text)![1]!;
    expect(start).toBe((await listing(s.base, c)).cursor);
    await put(s.base, `/api/${c}/new`, {});
    await until(() => stream.events().length === 1);
    expect(stream.events()[0]!.data.id).toBe('new');
    stream.close();
  });

  it('Last-Event-ID or since junk on an event stream is a 400 problem', async () => {
    const c = fresh();
    await created(c);
    for (const headers of [{ 'last-event-id': 'junk' }, { 'last-event-id': '5.nottag' }]) {
      const res = await fetch(`${s.base}/api/${c}`, {
        headers: { accept: 'text/event-stream', ...headers },
      });
      expect(res.status).toBe(400);
      expect((await problemOf(res)).type).toMatch(/bad-cursor$/);
    }
    const res = await fetch(`${s.base}/api/${c}?since=nope`, {
      headers: { accept: 'text/event-stream' },
    });
    expect(res.status).toBe(400);
    await problemOf(res);
  });

  it('a store failure while waiting ends in the ordinary 503 problem, not a hang', async () => {
    const c = fresh();
    const etag = await created(c);
    const broken = s.store;
    const original = broken.validators.bind(broken);
    let fail = false;
    broken.validators = (key) => {
      if (fail) throw new StoreUnavailableError('injected: database down');
      return original(key);
    };
    try {
      const wait = pending(`${s.base}/api/${c}/d`, { 'if-none-match': etag, prefer: 'wait=3' });
      await until(() => s.app.live.size === 1);
      fail = true;
      await put(s.base, `/api/${c}/d`, { v: 2 });
      const { res, ms } = await wait.response;
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBeTruthy();
      await problemOf(res);
      expect(ms).toBeLessThan(2500);
    } finally {
      broken.validators = original;
    }
  });
  it('a store failure during a feed wait is the 503 problem; a stream rides it out and catches up', async () => {
    const c = fresh();
    await created(c);
    const { cursor } = await listing(s.base, c);
    const store = s.store;
    const original = store.changes.bind(store);
    let fail = false;
    store.changes = (collection, options) => {
      if (fail) return Promise.reject(new StoreUnavailableError('injected: database down'));
      return original(collection, options);
    };
    try {
      const wait = pending(`${s.base}/api/${c}?since=${cursor}`, { prefer: 'wait=3' });
      const stream = openEvents(`${s.base}/api/${c}?since=${cursor}`);
      await until(() => s.app.live.size === 2);
      fail = true;
      await put(s.base, `/api/${c}/during`, {});
      const { res, ms } = await wait.response;
      expect(res.status).toBe(503);
      await problemOf(res);
      expect(ms).toBeLessThan(2500);
      await sleep(300);
      expect(stream.ended).toBe(false);
      expect(stream.events()).toEqual([]);
      fail = false;
      // No new commit: the next heartbeat (100 ms here) retries the failed read.
      await until(() => stream.events().length === 1, 3000);
      expect(stream.events()[0]!.data.id).toBe('during');
      stream.close();
    } finally {
      store.changes = original;
    }
  });
});

describe.each(storeFactories)('live limits and shutdown on $name', (factory: StoreFactory) => {
  afterAll(async () => {
    await factory.cleanup();
  });

  it('beyond --max-waiters a long-poll is answered at once, never a 5xx', async () => {
    const s = await startTestServer(factory, { live: { maxWaiters: 2 } });
    try {
      const etag = (await put(s.base, '/api/cap/d', {})).headers.get('etag')!;
      const h = { 'if-none-match': etag, prefer: 'wait=30' };
      const held = [pending(`${s.base}/api/cap/d`, h), pending(`${s.base}/api/cap/d`, h)];
      await until(() => s.app.live.size === 2);
      const started = Date.now();
      const third = await fetch(`${s.base}/api/cap/d`, { headers: h });
      expect(third.status).toBe(304);
      expect(third.headers.get('preference-applied')).toBeNull();
      const feedFull = await fetch(`${s.base}/api/cap?since=0`, { headers: { prefer: 'wait=30' } });
      expect(feedFull.status).toBe(200);
      const stream = await fetch(`${s.base}/api/cap`, { headers: { accept: 'text/event-stream' } });
      expect(stream.status).toBe(200);
      // Ends at once, naming where to resume and when.
      expect(await stream.text()).toMatch(/id: .+\n\nretry: \d+\n\n$/);
      expect(Date.now() - started).toBeLessThan(2000);
      for (const w of held) w.abort();
    } finally {
      await s.close();
    }
  });

  it('graceful shutdown answers every waiter at once and ends the streams', async () => {
    const s = await startTestServer(factory, { live: { maxWaitSeconds: 60 } });
    const etag = (await put(s.base, '/api/shut/d', {})).headers.get('etag')!;
    const { cursor } = await listing(s.base, 'shut');
    const doc = pending(`${s.base}/api/shut/d`, { 'if-none-match': etag, prefer: 'wait=60' });
    const page = pending(`${s.base}/api/shut?since=${cursor}`, { prefer: 'wait=60' });
    const stream = openEvents(`${s.base}/api/shut`);
    await until(() => s.app.live.size === 3);
    const started = Date.now();
    await s.close();
    expect(Date.now() - started).toBeLessThan(3000);
    const [d, p] = await Promise.all([doc.response, page.response]);
    expect(d.res.status).toBe(304);
    expect(p.res.status).toBe(200);
    expect(await p.res.json()).toEqual({ changes: [], cursor });
    await stream.done;
    expect(stream.ended).toBe(true);
  });

  it('CORS and auth fields are on long-poll answers and streams; refusals come first', async () => {
    const token = 'live-reader-token-0123456789';
    const s = await startTestServer(factory, {
      cors: ['*'],
      auth: parseAuthConfig({ tokens: [{ name: 'r', token, scopes: { '*': ['read', 'write'] } }] }),
      live: { maxWaitSeconds: 1 },
    });
    try {
      const auth = { authorization: `Bearer ${token}`, origin: 'https://app.example' };
      const etag = (await put(s.base, '/api/cors/d', {}, auth)).headers.get('etag')!;
      const started = Date.now();
      const refused = await fetch(`${s.base}/api/cors/d`, {
        headers: { 'if-none-match': etag, prefer: 'wait=1' },
      });
      expect(refused.status).toBe(401);
      expect(Date.now() - started).toBeLessThan(900);
      const res = await fetch(`${s.base}/api/cors/d`, {
        headers: { ...auth, 'if-none-match': etag, prefer: 'wait=1' },
      });
      expect(res.status).toBe(304);
      expect(res.headers.get('preference-applied')).toBe('wait=1');
      expect(res.headers.get('access-control-allow-origin')).toBe('*');
      expect(res.headers.get('access-control-expose-headers')).toMatch(/Preference-Applied/);
      expect(res.headers.get('cache-control')).toMatch(/private/);
      const stream = openEvents(`${s.base}/api/cors`, auth);
      await until(() => stream.status !== 0);
      expect(stream.status).toBe(200);
      expect(stream.header('access-control-allow-origin')).toBe('*');
      expect(stream.header('cache-control')).toMatch(/no-store/);
      stream.close();
      const noToken = await fetch(`${s.base}/api/cors`, {
        headers: { accept: 'text/event-stream' },
      });
      expect(noToken.status).toBe(401);
    } finally {
      await s.close();
    }
  });
});
