// The write contract on Redis (Lua scripts through ioredis), behind a latency proxy, all four adapters.
import { describeRedis } from '../helpers/redis.js';
import { type Combo, raceSuite } from './write-races.js';

// 16 x 10 on one adapter, 6 x 5 on the others: each increment is a few proxied round trips.
const COMBOS: Combo[] = [
  { adapter: 'express', store: 'redis', etag: 'version', counter: [16, 10] },
  { adapter: 'fastify', store: 'redis', etag: 'hash', counter: [6, 5] },
  { adapter: 'node', store: 'redis', etag: 'version', counter: [6, 5] },
  { adapter: 'hono', store: 'redis', etag: 'version', counter: [6, 5] },
];

await describeRedis('Redis', () => {
  for (const combo of COMBOS) raceSuite(combo, () => undefined);
});
