// Two `ifmatch serve` processes on one PostgreSQL database: a commit on
// instance A wakes the long-polls, feed waits and event streams of instance B
// (LISTEN/NOTIFY), whichever instance a client is connected to; and when an
// instance's LISTEN connection drops, its waiters get what committed meanwhile.
import { expect, it } from 'vitest';
import { openPostgresStore } from '../../src/store/postgres.js';
import { openEvents, sleep, until } from '../helpers/live.js';
import { startTestServer } from '../helpers/server.js';
import { liveInstanceSuite } from '../live/instances.js';
import { createTestDatabase, describePostgres, type Outage, relayToPostgres } from './pg.js';

await describePostgres('live changes across two instances on one PostgreSQL', () => {
  liveInstanceSuite({
    name: 'postgres',
    storage: async () => {
      const db = await createTestDatabase();
      return { db: db.url, remove: () => db.drop() };
    },
    // Small pools: several instances and test files share one PostgreSQL.
    env: { IFMATCH_PG_POOL_SIZE: '6' },
  });
});

await describePostgres('live changes when the LISTEN connection drops', () => {
  it('a waiter and a stream on the cut instance get what committed meanwhile (resync re-checks them)', async () => {
    const db = await createTestDatabase();
    const relay: Outage = await relayToPostgres();
    const writer = await openPostgresStore(db.url, { poolSize: 2 });
    // Only B's LISTEN connection goes through the relay: its pool stays up.
    const cut = await startTestServer({
      name: 'postgres',
      open: () =>
        openPostgresStore(db.url, {
          poolSize: 2,
          listenUrl: relay.url(db.name),
          onError: () => {},
        }),
      cleanup: async () => {},
    });
    const { base, app } = cut;
    try {
      const first = await writer.write({ collection: 'c', id: 'd' }, () => ({
        action: 'put',
        body: Buffer.from('{"v":1}'),
      }));
      if (first.action !== 'put') throw new Error('not written');
      const { cursor } = (await (await fetch(`${base}/api/c`)).json()) as { cursor: string };
      const poll = fetch(`${base}/api/c/d`, {
        headers: { 'if-none-match': first.doc.etag, prefer: 'wait=30' },
      });
      const stream = openEvents(`${base}/api/c?since=${cursor}`);
      await until(() => app.live.size >= 2);
      expect(app.live.size).toBe(2);
      await sleep(200);
      await relay.stop();
      // Committed while B hears nothing.
      await writer.write({ collection: 'c', id: 'd' }, () => ({
        action: 'put',
        body: Buffer.from('{"v":2}'),
      }));
      await sleep(500);
      expect(stream.text).not.toContain('event: change');
      await relay.start();
      const answer = await poll;
      expect(answer.status).toBe(200);
      expect(await answer.json()).toEqual({ v: 2 });
      await until(() => stream.text.includes('event: change'));
      expect(stream.text).toContain('"id":"d"');
      stream.close();
    } finally {
      await cut.close();
      await writer.close();
      await relay.close();
      await db.drop();
    }
  }, 40_000);
});
