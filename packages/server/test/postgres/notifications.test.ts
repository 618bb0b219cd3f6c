// Change signals of the PostgreSQL store across instances (two store objects
// on one database, as two server processes): pg_notify in each write's
// statement, one LISTEN connection per instance, resync after that
// connection was cut, and nothing left behind by close().

import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { reconnectDelayMs, signalOf } from '../../src/store/postgres/notifications.js';
import { openPostgresStore } from '../../src/store/postgres.js';
import type { ChangeSignal, DocumentStore, WriteDecider } from '../../src/store/types.js';
import {
  ADMIN_URL,
  createTestDatabase,
  describePostgres,
  type Outage,
  relayToPostgres,
  type TestDatabase,
} from './pg.js';

const put =
  (value: unknown): WriteDecider<undefined> =>
  () => ({ action: 'put', body: Buffer.from(JSON.stringify(value)) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Signals received, and a way to wait for one that matches. */
function recorder(store: DocumentStore) {
  const seen: { signal: ChangeSignal; at: number }[] = [];
  const waiters: { match: (s: ChangeSignal) => boolean; resolve: (at: number) => void }[] = [];
  const unsubscribe = store.subscribe((signal) => {
    const at = performance.now();
    seen.push({ signal, at });
    for (const w of [...waiters]) {
      if (w.match(signal)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(at);
      }
    }
  });
  return {
    seen,
    unsubscribe,
    /** Resolves with the time the first matching signal from now on arrived; rejects after `ms`. */
    next(match: (s: ChangeSignal) => boolean, ms = 5000): Promise<number> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching signal in ${ms} ms`)), ms);
        waiters.push({
          match,
          resolve: (at) => {
            clearTimeout(timer);
            resolve(at);
          },
        });
      });
    },
  };
}

const isResync = (s: ChangeSignal) => s.kind === 'resync';
const isChange = (id: string) => (s: ChangeSignal) => s.kind === 'change' && s.id === id;

/** Connections of `application_name` 'ifmatch-listen' to `database` (LISTEN connections). */
async function listenConnections(database: string): Promise<number> {
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity
       WHERE datname = $1 AND application_name = 'ifmatch-listen'`,
      [database],
    );
    return Number(rows[0]!.n);
  } finally {
    await admin.end();
  }
}

it('reads payloads: its own tag skipped, junk and cut-short payloads as resync', () => {
  expect(signalOf('["other",7,"notes","n1"]', 'mine')).toEqual({
    kind: 'change',
    collection: 'notes',
    id: 'n1',
    position: 7,
  });
  expect(signalOf('["mine",7,"notes","n1"]', 'mine')).toBeUndefined();
  expect(signalOf('["other"]', 'mine')).toEqual({ kind: 'resync' });
  expect(signalOf('not json', 'mine')).toEqual({ kind: 'resync' });
  expect(signalOf(undefined, 'mine')).toEqual({ kind: 'resync' });
  expect(signalOf('["other","7","notes","n1"]', 'mine')).toEqual({ kind: 'resync' });
});

it('reconnects with a capped, jittered exponential backoff', () => {
  expect(reconnectDelayMs(0, 1)).toBe(100);
  expect(reconnectDelayMs(0, 0)).toBe(50);
  expect(reconnectDelayMs(3, 1)).toBe(800);
  expect(reconnectDelayMs(10, 1)).toBe(5000);
  expect(reconnectDelayMs(1000, 1)).toBe(5000);
});

await describePostgres('PostgreSQL change signals across instances', () => {
  let db: TestDatabase;
  let a: DocumentStore;
  let b: DocumentStore;

  beforeAll(async () => {
    db = await createTestDatabase();
    a = await openPostgresStore(db.url, { poolSize: 4 });
    b = await openPostgresStore(db.url, { poolSize: 4 });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await db?.drop();
  });

  it('a commit on A signals B within 50 ms, and A itself once, right after its commit', async () => {
    const onB = recorder(b);
    const onA = recorder(a);
    try {
      // B's LISTEN becomes active: a resync (it may have missed something until now).
      await onB.next(isResync);
      const latencies: number[] = [];
      for (let i = 0; i < 20; i++) {
        const id = `n${i}`;
        const heard = onB.next(isChange(id));
        const ownHeard = onA.next(isChange(id));
        await a.write({ collection: 'notes', id }, put(i));
        const committed = performance.now();
        // A's own signal is emitted before write() resolves.
        expect(await ownHeard).toBeLessThanOrEqual(committed);
        latencies.push((await heard) - committed);
      }
      latencies.sort((x, y) => x - y);
      console.info(
        `notify latency A -> B over 20 commits: median ${latencies[10]!.toFixed(1)} ms, max ${latencies[19]!.toFixed(1)} ms`,
      );
      expect(latencies[19]!).toBeLessThan(50);
      const changesOnB = onB.seen.filter((s) => s.signal.kind === 'change');
      expect(changesOnB.map((s) => s.signal)).toEqual(
        Array.from({ length: 20 }, (_, i) => ({
          kind: 'change',
          collection: 'notes',
          id: `n${i}`,
          position: i + 1,
        })),
      );
      await sleep(100);
      // A skips its own notification: each of its commits is signalled to it once.
      expect(onA.seen.filter((s) => s.signal.kind === 'change')).toHaveLength(20);
      // create() and delete signal too; a refusal and a no-op delete do not.
      const made = onB.next((s) => s.kind === 'change' && s.collection === 'made');
      const { id } = await a.create('made', Buffer.from('{}'));
      await made;
      expect(onB.seen.at(-1)!.signal).toEqual({
        kind: 'change',
        collection: 'made',
        id,
        position: 1,
      });
      const before = onB.seen.length;
      await a.write({ collection: 'made', id }, () => ({ action: 'refuse', result: 412 }));
      await a.write({ collection: 'made', id: 'absent' }, () => ({ action: 'delete' }));
      const gone = onB.next(isChange(id));
      await a.write({ collection: 'made', id }, () => ({ action: 'delete' }));
      await gone;
      expect(onB.seen.slice(before).map((s) => s.signal)).toEqual([
        { kind: 'change', collection: 'made', id, position: 2 },
      ]);
    } finally {
      onA.unsubscribe();
      onB.unsubscribe();
    }
  });

  it('stops calling a listener once it unsubscribed; one listener throwing does not stop another', async () => {
    const errors: Error[] = [];
    const c = await openPostgresStore(db.url, { poolSize: 2, onError: (e) => errors.push(e) });
    try {
      const kept = recorder(c);
      await kept.next(isResync);
      const dropped = recorder(c);
      const unsubscribeThrowing = c.subscribe(() => {
        throw new Error('listener bug');
      });
      dropped.unsubscribe();
      const heard = kept.next(isChange('u1'));
      await a.write({ collection: 'unsub', id: 'u1' }, put(1));
      await heard;
      await sleep(50);
      expect(dropped.seen).toEqual([]);
      expect(errors.map((e) => e.message)).toContain('listener bug');
      unsubscribeThrowing();
      kept.unsubscribe();
    } finally {
      await c.close();
    }
  });

  it('a key too long for a notification payload is signalled as a resync, and the write succeeds', async () => {
    const c = await openPostgresStore(db.url, { poolSize: 2 });
    const onC = recorder(c);
    try {
      await onC.next(isResync);
      // 1500 bytes stored, 9000 once JSON-escaped: over PostgreSQL's 8000-byte payload limit.
      const id = '\u0001'.repeat(1500);
      const resynced = onC.next(isResync);
      const outcome = await a.write({ collection: 'long', id }, put(1));
      expect(outcome.action).toBe('put');
      await resynced;
      expect((await c.changes('long', { after: 0, limit: 1 })).changes[0]?.id).toBe(id);
    } finally {
      onC.unsubscribe();
      await c.close();
    }
  });

  it('a subscriber on an unreachable database: errors reported, never thrown; close() ends the retries', async () => {
    const errors: Error[] = [];
    // Port 1 on loopback: nothing listens, every connection is refused.
    const down = await openPostgresStore('postgres://postgres@127.0.0.1:1/test', {
      connectionTimeoutMs: 300,
      onError: (e) => errors.push(e),
    });
    const heard: ChangeSignal[] = [];
    const unsubscribe = down.subscribe((s) => heard.push(s));
    await sleep(800);
    // Several attempts failed (100, 200, 400 ms apart); the outage is reported once.
    expect(errors.filter((e) => /change notifications/.test(e.message))).toHaveLength(1);
    expect(heard).toEqual([]);
    unsubscribe();
    await down.close();
  });

  it('after the LISTEN connection is cut: reconnects, resyncs, and hears later commits again', async () => {
    const relay: Outage = await relayToPostgres();
    const errors: Error[] = [];
    // Only the LISTEN connection goes through the relay (listenUrl): the pool stays up.
    const c = await openPostgresStore(db.url, {
      poolSize: 2,
      listenUrl: relay.url(db.name),
      onError: (e) => errors.push(e),
    });
    try {
      const onC = recorder(c);
      await onC.next(isResync);
      expect(await listenConnections(db.name)).toBeGreaterThanOrEqual(1);
      const before = onC.next(isChange('before'));
      await a.write({ collection: 'cut', id: 'before' }, put(0));
      await before;

      // The database vanishes for C (its connections cut, new ones refused),
      // then comes back: C must say it may have missed something.
      await relay.stop();
      await a.write({ collection: 'cut', id: 'missed' }, put(1));
      // The store itself still serves: only its signals were cut.
      expect((await c.changes('cut', { after: 0, limit: 10 })).changes).toHaveLength(2);
      await sleep(300);
      const resynced = onC.next(isResync, 10_000);
      await relay.start();
      await resynced;
      // What was committed while it was away is not signalled (resync stands for it)...
      expect(onC.seen.some((s) => s.signal.kind === 'change' && s.signal.id === 'missed')).toBe(
        false,
      );
      // ...but is in the log, and later commits are signalled again.
      const after = onC.next(isChange('after'));
      await a.write({ collection: 'cut', id: 'after' }, put(2));
      await after;
      const log = await c.changes('cut', { after: 0, limit: 10 });
      expect(log.changes.map((ch) => ch.id)).toEqual(['before', 'missed', 'after']);
      // The outage was reported once, as a background error, not thrown.
      expect(errors.filter((e) => /change notifications/.test(e.message))).toHaveLength(1);
      onC.unsubscribe();
    } finally {
      await c.close();
      await relay.close();
    }
  }, 30_000);

  it('close() ends the LISTEN connection and its reconnect timer, also while the database is away', async () => {
    const base = await listenConnections(db.name);
    const relay = await relayToPostgres();
    const c = await openPostgresStore(relay.url(db.name), { poolSize: 2, onError: () => {} });
    const onC = recorder(c);
    await onC.next(isResync);
    expect(await listenConnections(db.name)).toBe(base + 1);
    await relay.stop();
    // Reconnect attempts are now refused (about 100, 200, 400 ms apart); close() among them.
    await sleep(250);
    await c.close();
    await relay.start();
    try {
      // A retry timer left behind would connect and LISTEN again within ~1 s.
      await sleep(1500);
      expect(await listenConnections(db.name)).toBe(base);
    } finally {
      await relay.close();
    }
    // A second close() is harmless; subscribing to a closed store does not connect.
    await c.close();
    const late = c.subscribe(() => {});
    await sleep(200);
    late();
    expect(await listenConnections(db.name)).toBe(base);
  }, 30_000);
});
