// Live changes across real `ifmatch serve` processes sharing one storage (a
// SQLite file, a PostgreSQL database): a commit on instance A wakes a
// document long-poll, a feed wait and an event stream on instance B. Run by
// test/live/processes.test.ts (SQLite) and test/postgres/live-instances.test.ts.
// Latencies are printed (bench/ measures them properly), never asserted.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildIfStale } from '../helpers/build.js';
import { httpRequest } from '../helpers/http.js';
import { openEvents, until } from '../helpers/live.js';
import { CLI, type ServerProcess, startServer } from '../helpers/process.js';
import { put } from '../helpers/server.js';

/** Requests an instance holds right now (its /metrics gauge). */
async function waitersOn(base: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return Number(/^ifmatch_live_waiters (\d+)$/m.exec(text)?.[1] ?? Number.NaN);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface InstanceSuite {
  name: string;
  /** A fresh storage both instances open (--db value), and what removes it. */
  storage: () => Promise<{ db: string; remove: () => Promise<void> }>;
  env?: Record<string, string>;
}

export function liveInstanceSuite({ name, storage, env = {} }: InstanceSuite): void {
  let a: ServerProcess;
  let b: ServerProcess;
  let remove: () => Promise<void> = async () => {};

  beforeAll(async () => {
    buildIfStale(CLI, ['packages/server/src', 'packages/core/src'], ['packages/server']);
    const s = await storage();
    remove = s.remove;
    const args = ['--db', s.db, '--log-level', 'warn', '--max-wait', '20'];
    // Started together: both create (or migrate) the storage at the same moment.
    [a, b] = await Promise.all([startServer(args, { env }), startServer(args, { env })]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await remove();
  });

  it(`${name}: a write on A answers a long-poll on B with the new document`, async () => {
    let etag = (await put(a.url, `/api/live/doc`, { n: 0 })).headers.get('etag')!;
    const fromPut: number[] = [];
    const putOnly: number[] = [];
    for (let n = 1; n <= 40; n++) {
      const held = await waitersOn(b.url);
      const poll = httpRequest(`${b.url}/api/live/doc`, {
        headers: { 'if-none-match': etag, prefer: 'wait=20' },
      });
      // Write once B holds the request (else B answers at once, without waiting).
      await until(async () => (await waitersOn(b.url)) > held);
      const started = performance.now();
      const written = await put(a.url, `/api/live/doc`, { n }, { 'if-match': etag });
      putOnly.push(performance.now() - started);
      expect(written.status).toBe(200);
      const answer = await poll;
      fromPut.push(performance.now() - started);
      expect(answer.status).toBe(200);
      expect(JSON.parse(answer.body)).toEqual({ n });
      expect(answer.headers.etag).toBe(written.headers.get('etag'));
      expect(answer.headers['preference-applied']).toBe('wait=20');
      etag = written.headers.get('etag')!;
    }
    fromPut.sort((x, y) => x - y);
    putOnly.sort((x, y) => x - y);
    console.log(
      `${name}: PUT sent on A -> long-poll answered on B, 40 runs: p50 ${percentile(fromPut, 50).toFixed(1)} ms, p99 ${percentile(fromPut, 99).toFixed(1)} ms; the PUT's own round trip p50 ${percentile(putOnly, 50).toFixed(1)} ms, p99 ${percentile(putOnly, 99).toFixed(1)} ms`,
    );
  }, 60_000);

  it(`${name}: a write on A reaches a feed wait and an event stream on B, in commit order`, async () => {
    const { cursor } = (await (await fetch(`${b.url}/api/feed`)).json()) as { cursor: string };
    const feedWait = httpRequest(`${b.url}/api/feed?since=${cursor}`, {
      headers: { prefer: 'wait=20' },
    });
    const stream = openEvents(`${b.url}/api/feed?since=${cursor}`);
    try {
      await until(async () => (await waitersOn(b.url)) >= 2);
      const log = [
        ['x', false],
        ['y', false],
        ['z', false],
        ['y', true],
      ];
      for (const id of ['x', 'y', 'z']) {
        expect((await put(a.url, `/api/feed/${id}`, { id })).status).toBe(201);
      }
      await fetch(`${a.url}/api/feed/y`, { method: 'DELETE' });
      const page = JSON.parse((await feedWait).body) as {
        changes: Array<{ id: string; deleted: boolean }>;
      };
      // The wait answers at the first commit it sees: a prefix of the log (B may
      // hear of several commits at once, the delete included).
      expect(page.changes.length).toBeGreaterThanOrEqual(1);
      expect(page.changes.map((c) => [c.id, c.deleted])).toEqual(log.slice(0, page.changes.length));
      await until(() => stream.events().length >= 4);
      expect(stream.events().map((e) => [e.data.id, e.data.deleted])).toEqual(log);
    } finally {
      stream.close();
    }
    // The stream's ids and the feed agree on B and on A: one log.
    const lastId = [...stream.text.matchAll(/^id: (.*)$/gm)].at(-1)![1]!;
    for (const base of [a.url, b.url]) {
      const after = (await (await fetch(`${base}/api/feed?since=${lastId}`)).json()) as {
        changes: unknown[];
      };
      expect(after.changes).toEqual([]);
    }
  }, 60_000);

  it(`${name}: --max-wait caps the wait; SIGTERM answers a waiter at once`, async () => {
    const etag = (await put(a.url, `/api/cap/d`, {})).headers.get('etag')!;
    // Counted from what B holds already: stopping B before it holds this
    // request would make it a new request to a closing server (503).
    const held = await waitersOn(b.url);
    const poll = httpRequest(`${b.url}/api/cap/d`, {
      headers: { 'if-none-match': etag, prefer: 'wait=99999' },
    });
    await until(async () => (await waitersOn(b.url)) > held);
    const started = performance.now();
    await b.stop();
    const answer = await poll;
    expect(answer.status).toBe(304);
    expect(answer.headers['preference-applied']).toBe('wait=20');
    expect(performance.now() - started).toBeLessThan(5000);
  }, 30_000);
}
