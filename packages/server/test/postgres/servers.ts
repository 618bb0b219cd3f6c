// Real `ifmatch serve` processes from dist/ for the multi-instance tests.

import { type ServerProcess, startServer } from '../helpers/process.js';

export type Instance = Pick<ServerProcess, 'url' | 'output' | 'stop' | 'kill'>;

/**
 * Spawns `serve --port 0 --db <db>` and resolves with the URL it prints.
 * `healthy`: also wait until /healthz is 200 (not for an instance whose
 * database is down on purpose).
 */
export function startInstance(db: string, healthy = true): Promise<Instance> {
  return startServer(['--db', db, '--log-level', 'warn'], {
    healthy,
    // Small pools: several instances and test files share one PostgreSQL.
    env: { IFMATCH_PG_POOL_SIZE: '6' },
  });
}
