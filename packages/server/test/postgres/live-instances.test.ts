// Two `ifmatch serve` processes on one PostgreSQL database: a commit on
// instance A wakes the long-polls, feed waits and event streams of instance B
// (LISTEN/NOTIFY), whichever instance a client is connected to.
import { liveInstanceSuite } from '../live/instances.js';
import { createTestDatabase, describePostgres } from './pg.js';

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
