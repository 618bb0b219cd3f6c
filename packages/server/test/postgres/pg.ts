// Shared by every PostgreSQL test: where the server is, whether it is
// reachable, and a throwaway database per test file.
//
// In CI (CI=true) PostgreSQL is required: unreachable means a failing test.
// Elsewhere the suites skip with a message saying how to enable them.

import { randomBytes } from 'node:crypto';
import { type AddressInfo, connect, createServer, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres.js';

/** A database we may connect to in order to create and drop test databases. */
export const ADMIN_URL = process.env.IFMATCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export const HOW_TO_ENABLE =
  'start PostgreSQL at 127.0.0.1:5432 (trust auth, user postgres, database test) ' +
  'or set IFMATCH_PG_URL=postgres://user:password@host:port/database';

/** ADMIN_URL without its password, for messages. */
function shownUrl(): string {
  try {
    const url = new URL(ADMIN_URL);
    if (url.password) url.password = '***';
    return url.toString();
  } catch {
    return 'IFMATCH_PG_URL (unparsable)';
  }
}

let probed: Promise<string | undefined> | undefined;

/** undefined when PostgreSQL answers, else why not. */
export function probePostgres(): Promise<string | undefined> {
  probed ??= (async () => {
    const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return undefined;
    } catch (error) {
      return error instanceof Error ? error.message : String(error);
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return probed;
}

/**
 * describe() when PostgreSQL is reachable; otherwise a failing test in CI, a
 * skipped suite (with a message) elsewhere. Use with top-level await.
 */
export async function describePostgres(name: string, body: () => void): Promise<void> {
  const problem = await probePostgres();
  if (problem === undefined) {
    describe(name, body);
  } else if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs PostgreSQL (required in CI)', () => {
        throw new Error(`PostgreSQL unreachable at ${shownUrl()}: ${problem}. ${HOW_TO_ENABLE}`);
      });
    });
  } else {
    console.warn(
      `skipping "${name}": PostgreSQL unreachable (${problem}); to run it, ${HOW_TO_ENABLE}`,
    );
    describe.skip(name, body);
  }
}

export interface TestDatabase {
  name: string;
  /** Connection URL of the new database. */
  url: string;
  /** Drops it (terminating whatever is still connected). */
  drop(): Promise<void>;
}

async function admin<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: ADMIN_URL, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

let orphansDropped: Promise<void> | undefined;

/**
 * Test databases carry the creating process's pid: one whose process is gone
 * (a run killed before its afterAll) is dropped by the next run. A database of
 * a live process, ours or another engineer's, is never touched.
 */
function dropOrphans(): Promise<void> {
  orphansDropped ??= admin(async (c) => {
    const { rows } = await c.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname ~ '^ifmatch_[a-z]+_p[0-9]+_[0-9a-f]+$'",
    );
    for (const { datname } of rows) {
      const pid = Number(/_p(\d+)_/.exec(datname)?.[1]);
      if (processAlive(pid)) continue;
      await c.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => {});
    }
  }).catch(() => {});
  return orphansDropped;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A fresh, uniquely named database `ifmatch_pg_p<pid>_<random>`, for one test file. */
export async function createTestDatabase(prefix = 'ifmatch_pg'): Promise<TestDatabase> {
  await dropOrphans();
  const name = `${prefix}_p${process.pid}_${randomBytes(6).toString('hex')}`;
  await admin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    drop: () =>
      admin(async (c) => {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }),
  };
}

/** Terminates every backend connected to the database (what a DB restart does to clients). */
export function terminateBackends(database: string): Promise<number> {
  return admin(async (c) => {
    const { rows } = await c.query<{ n: string }>(
      `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n
       FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
      [database],
    );
    return Number(rows[0]?.n ?? 0);
  });
}

/**
 * A TCP relay in front of PostgreSQL: stop() makes the database vanish for
 * whoever connects through it (refused connections, open ones cut), start()
 * brings it back on the same port. A real outage without stopping the shared
 * PostgreSQL server.
 */
export interface Outage {
  port: number;
  url(database: string): string;
  stop(): Promise<void>;
  start(): Promise<void>;
  /**
   * Cuts the connection that sends the next COMMIT, just before the database
   * receives it ('before': rolled back) or just after ('after': committed, but
   * the client never gets the answer).
   */
  cutAtNextCommit(mode: 'before' | 'after'): void;
  close(): Promise<void>;
}

/**
 * `latencyMs`: each chunk is delayed that long in each direction (in order), so
 * concurrent transactions really overlap, as over a network.
 */
export async function relayToPostgres(options: { latencyMs?: number } = {}): Promise<Outage> {
  const latency = options.latencyMs ?? 0;
  const deliver = (to: Socket, chunk: Buffer) => {
    if (latency <= 0) to.write(chunk);
    // Timers of one duration fire in the order they were set: chunks stay in order.
    else setTimeout(() => to.destroyed || to.write(chunk), latency);
  };
  const target = new URL(ADMIN_URL);
  const targetPort = Number(target.port || 5432);
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  let cut: 'before' | 'after' | undefined;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const s = createServer((inbound) => {
        const outbound = connect(targetPort, target.hostname);
        for (const sock of [inbound, outbound]) {
          sockets.add(sock);
          sock.on('close', () => sockets.delete(sock));
          sock.on('error', () => {
            inbound.destroy();
            outbound.destroy();
          });
        }
        // 'after' mode: the COMMIT went through; the database's answer is dropped.
        let swallowAnswer = false;
        outbound.on('data', (chunk: Buffer) => {
          if (!swallowAnswer) {
            deliver(inbound, chunk);
            return;
          }
          // The database has answered the COMMIT (so it committed); the client never hears it.
          inbound.destroy();
          outbound.destroy();
        });
        inbound.on('data', (chunk: Buffer) => {
          // A simple-protocol COMMIT: where a cut makes the outcome unknown to the client.
          if (cut !== undefined && chunk.includes('COMMIT\0')) {
            const mode = cut;
            cut = undefined;
            if (mode === 'after') {
              swallowAnswer = true;
              outbound.write(chunk);
            } else {
              // 'before': the database never sees it and rolls back.
              outbound.destroy();
              inbound.destroy();
            }
            return;
          }
          deliver(outbound, chunk);
        });
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => {
        port = (s.address() as AddressInfo).port;
        server = s;
        resolve();
      });
    });
  const stop = async () => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  await listen();
  return {
    get port() {
      return port;
    },
    url(database: string) {
      const u = new URL(ADMIN_URL);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      u.pathname = `/${database}`;
      return u.toString();
    },
    cutAtNextCommit(mode) {
      cut = mode;
    },
    stop,
    start: listen,
    close: stop,
  };
}

/** Two server instances' stores on one fresh database, for a suite (see sharedDatabase). */
export interface StorePair {
  a: PostgresStore;
  b: PostgresStore;
  /** The relay both connect through: stop() and start() it for an outage. */
  relay: Outage;
  db: TestDatabase;
}

/**
 * Two stores (two pools: two server instances) on one throwaway database,
 * through a relay adding `latencyMs` each way so their transactions really
 * overlap, as over a network. Opened (schema created) before the suite's
 * tests and closed after them; the fields are set once the tests run.
 */
export function sharedDatabase(options: {
  latencyMs: number;
  a: PostgresStoreOptions;
  b: PostgresStoreOptions;
}): StorePair {
  const pair = {} as StorePair;
  beforeAll(async () => {
    pair.db = await createTestDatabase();
    pair.relay = await relayToPostgres({ latencyMs: options.latencyMs });
    pair.a = new PostgresStore(pair.relay.url(pair.db.name), options.a);
    pair.b = new PostgresStore(pair.relay.url(pair.db.name), options.b);
    await Promise.all([pair.a.ensureSchema(), pair.b.ensureSchema()]);
  });
  afterAll(async () => {
    await pair.a?.close();
    await pair.b?.close();
    await pair.relay?.close();
    await pair.db?.drop();
  });
  return pair;
}
