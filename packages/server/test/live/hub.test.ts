// The live hub (src/live/waiters.ts) through the real server over every
// store: one write to a document watched by 1,000 waiters costs one read of
// the body; an expired cursor is 410; a slow event-stream reader is dropped
// at a bounded buffer; two app instances on one storage wake each other.
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/http/app.js';
import { openPostgresStore } from '../../src/store/postgres.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import { httpRequest } from '../helpers/http.js';
import { openEvents, sleep, until } from '../helpers/live.js';
import { problemOf, put, startTestServer } from '../helpers/server.js';
import { type StoreFactory, storeFactories } from '../helpers/stores.js';
import { createTestDatabase, type TestDatabase } from '../postgres/pg.js';

/**
 * One storage (a file / a database) as a factory whose `open()` opens another
 * store on it each time (not a fresh one): for instances that share storage.
 */
async function sharedStorage(
  kind: string,
  options: { changeRetentionMs?: number } = {},
): Promise<StoreFactory> {
  if (kind === 'sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'ifmatch-live-'));
    return {
      name: kind,
      open: async () => openSqliteStore(join(dir, 'live.db'), options),
      cleanup: async () => rmSync(dir, { recursive: true, force: true }),
    };
  }
  const db: TestDatabase = await createTestDatabase();
  return {
    name: kind,
    open: () => openPostgresStore(db.url, { poolSize: 4, ...options }),
    cleanup: () => db.drop(),
  };
}

/**
 * The three kinds of waiter at `base` for collection `c`: a long-poll on its
 * document `d` (If-None-Match: `etag`), and a feed wait and an event stream
 * from the listing's cursor now.
 */
async function waitOnAllThree(base: string, c: string, etag: string, wait: number) {
  const { cursor } = (await (await fetch(`${base}/api/${c}`)).json()) as { cursor: string };
  const prefer = `wait=${wait}`;
  return {
    poll: httpRequest(`${base}/api/${c}/d`, { headers: { 'if-none-match': etag, prefer } }),
    feedWait: httpRequest(`${base}/api/${c}?since=${cursor}`, { headers: { prefer } }),
    stream: openEvents(`${base}/api/${c}?since=${cursor}`),
  };
}

describe.each(storeFactories)('the live hub on $name', (factory: StoreFactory) => {
  afterAll(async () => {
    await factory.cleanup();
  });

  it('1,000 waiters on one document, one write: all answered, ONE read of the body', async () => {
    // No body cache: the write's bytes are not kept, so every answer needs the store.
    const s = await startTestServer(factory, { cacheBytes: 0, live: { maxWaitSeconds: 60 } });
    try {
      const first = await put(s.base, '/api/fan/d', { v: 1 });
      const etag = first.headers.get('etag')!;
      const store = s.store;
      const read = store.read.bind(store);
      const validators = store.validators.bind(store);
      let reads = 0;
      let lookups = 0;
      store.read = (key) => {
        reads++;
        return read(key);
      };
      store.validators = (key) => {
        lookups++;
        return validators(key);
      };
      const N = 1000;
      const answers = Array.from({ length: N }, () =>
        httpRequest(`${s.base}/api/fan/d`, {
          headers: { 'if-none-match': etag, prefer: 'wait=60' },
        }),
      );
      // Every waiter registered and re-checked (one lookup by the route, one after subscribing).
      await until(() => s.app.live.size === N && lookups >= 2 * N, 30_000);
      await sleep(50);
      expect(reads).toBe(0);
      const lookupsBefore = lookups;
      const started = performance.now();
      const written = await put(s.base, '/api/fan/d', { v: 2 }, { 'if-match': etag });
      expect(written.status).toBe(200);
      const all = await Promise.all(answers);
      const ms = performance.now() - started;
      for (const a of all) {
        expect(a.status).toBe(200);
        expect(JSON.parse(a.body)).toEqual({ v: 2 });
        expect(a.headers.etag).toBe(written.headers.get('etag'));
        expect(a.headers['preference-applied']).toBe('wait=60');
      }
      expect(reads).toBe(1);
      // One validators() for the whole group too (signals may repeat: a few at most).
      expect(lookups - lookupsBefore).toBeLessThanOrEqual(3);
      expect(s.app.live.size).toBe(0);
      console.log(
        `${factory.name}: 1000 waiters answered ${ms.toFixed(0)} ms after the write, ${reads} read, ${lookups - lookupsBefore} lookups`,
      );
    } finally {
      await s.close();
    }
  }, 60_000);

  it('a cursor older than the retention is 410 problem+json (feed and stream); since=0 is never expired', async () => {
    const storage = await sharedStorage(factory.name, { changeRetentionMs: 100 });
    const s = await startTestServer(storage);
    const { base } = s;
    try {
      await put(base, '/api/old/a', {});
      const { cursor } = (await (await fetch(`${base}/api/old`)).json()) as { cursor: string };
      await put(base, '/api/old/b', {});
      await put(base, '/api/old/c', {});
      // Past the retention, the pruning (at most every retention/4) drops them.
      let res: Response | undefined;
      const end = Date.now() + 10_000;
      do {
        await sleep(100);
        await put(base, '/api/old/d', { t: Date.now() });
        res = await fetch(`${base}/api/old?since=${cursor}`);
      } while (res.status !== 410 && Date.now() < end);
      expect(res.status).toBe(410);
      const p = await problemOf(res);
      expect(p.type).toMatch(/cursor-expired$/);
      expect(p.title).toBe('Gone');
      expect(String(p.detail)).toMatch(/list/);
      const stream = await fetch(`${base}/api/old`, {
        headers: { accept: 'text/event-stream', 'last-event-id': cursor },
      });
      expect(stream.status).toBe(410);
      await problemOf(stream);
      expect((await fetch(`${base}/api/old?since=0`)).status).toBe(200);
      // The listing's fresh cursor works again.
      const again = (await (await fetch(`${base}/api/old`)).json()) as { cursor: string };
      expect((await fetch(`${base}/api/old?since=${again.cursor}`)).status).toBe(200);
    } finally {
      await s.close();
      await storage.cleanup();
    }
  }, 30_000);

  it('a catch-up bigger than the buffer bound reaches a reader that keeps reading, in order', async () => {
    const s = await startTestServer(factory, { live: { streamBufferBytes: 16 * 1024 } });
    try {
      const ids = Array.from({ length: 600 }, (_, i) => `m${String(i).padStart(4, '0')}`);
      for (let i = 0; i < ids.length; i += 50) {
        await Promise.all(ids.slice(i, i + 50).map((id) => put(s.base, `/api/big/${id}`, {})));
      }
      const feed = (await (await fetch(`${s.base}/api/big?since=0&limit=10000`)).json()) as {
        changes: Array<{ id: string }>;
        cursor: string;
      };
      const expected = feed.changes.map((c) => c.id);
      expect(expected).toHaveLength(600);
      const stream = openEvents(`${s.base}/api/big?since=0`);
      await until(() => stream.events().length >= 600, 50_000);
      stream.close();
      const got = stream.events().map((e) => e.data.id);
      expect(got).toEqual(expected);
    } finally {
      await s.close();
    }
  }, 60_000);

  it('a change whose signal never comes: a long-poll and a feed wait read it at their timeout, a stream at its heartbeat', async () => {
    // The store's signals are cut (as when another instance dies between its
    // COMMIT and its NOTIFY): only the timeouts and heartbeats are left.
    const mute: StoreFactory = {
      ...factory,
      async open() {
        const store = await factory.open();
        store.subscribe = () => () => {};
        return store;
      },
    };
    const s = await startTestServer(mute, { live: { heartbeatMs: 100 } });
    const { base } = s;
    try {
      const etag = (await put(base, '/api/mute/d', { v: 1 })).headers.get('etag')!;
      const { poll, feedWait, stream } = await waitOnAllThree(base, 'mute', etag, 1);
      await until(() => s.app.live.size === 3);
      const written = await put(base, '/api/mute/d', { v: 2 }, { 'if-match': etag });
      expect(written.status).toBe(200);
      const answered = await poll;
      expect(answered.status).toBe(200);
      expect(JSON.parse(answered.body)).toEqual({ v: 2 });
      expect(answered.headers['preference-applied']).toBe('wait=1');
      const page = JSON.parse((await feedWait).body) as { changes: Array<{ id: string }> };
      expect(page.changes.map((c) => c.id)).toEqual(['d']);
      await until(() => /^data: .*"d"/m.test(stream.text), 5000);
      stream.close();
    } finally {
      await s.close();
    }
  }, 30_000);

  it('two app instances on one storage: a write on A wakes a long-poll, a feed wait and a stream on B', async () => {
    const storage = await sharedStorage(factory.name);
    const servers = [await startTestServer(storage), await startTestServer(storage)];
    const [a, b] = servers.map((s) => s.base) as [string, string];
    try {
      const etag = (await put(a, '/api/two/d', { v: 1 })).headers.get('etag')!;
      const { poll, feedWait, stream } = await waitOnAllThree(b, 'two', etag, 20);
      await until(() => servers[1]!.app.live.size === 3);
      const started = performance.now();
      const written = await put(a, '/api/two/d', { v: 2 }, { 'if-match': etag });
      const newTag = written.headers.get('etag');
      const answered = await poll;
      const pollMs = performance.now() - started;
      expect(answered.status).toBe(200);
      expect(JSON.parse(answered.body)).toEqual({ v: 2 });
      expect(answered.headers.etag).toBe(newTag);
      const page = JSON.parse((await feedWait).body) as { changes: Array<{ etag: string }> };
      expect(page.changes.map((c) => c.etag)).toEqual([newTag]);
      await until(() => stream.text.includes('event: change'));
      expect(stream.text).toContain(JSON.stringify(newTag).slice(1, -1));
      stream.close();
      console.log(
        `${factory.name}: write on A -> long-poll on B answered in ${pollMs.toFixed(1)} ms`,
      );
    } finally {
      for (const s of servers) await s.close();
      await storage.cleanup();
    }
  }, 60_000);
});

// The drop is the HTTP layer's (the same for every store): SQLite with
// synchronous NORMAL writes fast enough to fill the loopback socket buffers
// (megabytes) before the server's own buffer passes its bound.
const fastDirs: string[] = [];
const fastSqlite: StoreFactory = {
  name: 'sqlite-normal',
  async open() {
    const dir = mkdtempSync(join(tmpdir(), 'ifmatch-live-slow-'));
    fastDirs.push(dir);
    return openSqliteStore(join(dir, 'slow.db'), { synchronous: 'NORMAL' });
  },
  async cleanup() {
    for (const dir of fastDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  },
};

describe('a slow event-stream reader', () => {
  afterAll(() => fastSqlite.cleanup());

  it('an event-stream reader that stops reading is dropped and its connection closed', async () => {
    // A Unix socket: fixed kernel buffers (loopback TCP autotunes its receive
    // buffer to tens of MB for a reader that does not read).
    const store = await fastSqlite.open();
    const app = await buildApp({
      store,
      defaultMetrics: false,
      live: { streamBufferBytes: 64 * 1024, heartbeatMs: 100 },
    });
    const path = join(fastDirs.at(-1)!, 'http.sock');
    await app.listen({ path });
    try {
      const socket = connect(path);
      let closed = false;
      socket.on('close', () => {
        closed = true;
      });
      socket.on('error', () => {});
      socket.write('GET /api/slow HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
      // Read the head, then never again.
      await new Promise((r) => socket.once('data', r));
      socket.pause();
      await until(() => app.live.size === 1);
      const id = 'i'.repeat(100);
      let written = 0;
      // Changes far beyond what the socket buffers hold; stop once it is dropped.
      while (app.live.size === 1 && written < 50_000) {
        for (let i = 0; i < 100; i++) {
          await store.write({ collection: 'slow', id: `${id}${written + i}` }, () => ({
            action: 'put',
            body: Buffer.from('{}'),
          }));
        }
        written += 100;
        await sleep(1);
      }
      await until(() => app.live.size === 0, 5000);
      expect(written).toBeLessThan(50_000);
      // The server closed the connection (dropped, not just forgotten).
      socket.resume();
      await until(() => closed, 5000);
      console.log(
        `sqlite: a reader that stopped was dropped after ${written} changes (~${Math.round((written * 260) / 1024)} KiB of events)`,
      );
    } finally {
      await app.close();
      await store.close();
    }
  }, 120_000);
});
