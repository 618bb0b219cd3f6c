// The stores the write-contract tests run on, each behind the binding under
// test: SQLite (a temp file), PostgreSQL and Redis through a latency proxy,
// and Kysely on both SQL dialects. `failWrites` installs a trigger that makes
// writes of a body containing "boom" fail inside the database.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kyselyDocuments } from '@ifmatch/core/kysely';
import type { DocumentStore, ETagSource } from '@ifmatch/core/pg';
import { pgDocuments } from '@ifmatch/core/pg';
import { redisDocuments } from '@ifmatch/core/redis';
import { sqliteDocuments } from '@ifmatch/core/sqlite';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { ADMIN_URL } from '../../../server/test/postgres/pg.js';
import { type LatencyProxy, latencyProxy } from './latency-proxy.js';

export type StoreKind = 'sqlite' | 'pg' | 'redis' | 'kysely-pg' | 'kysely-sqlite';

export interface Backend {
  notes: DocumentStore;
  /** The relay between app and database (PostgreSQL, Redis); none for SQLite. */
  proxy: LatencyProxy | undefined;
  /** A marker of the write statement on the wire (for proxy.cutAt). */
  writeMarker: string;
  /** Make writes of bodies containing "boom" fail in the database (SQL stores). */
  failWrites?(): Promise<void>;
  /** An unconditional write straight to the store (the naive control's write). */
  blindWrite(id: string, value: unknown): Promise<void>;
  close(): Promise<void>;
}

const tableName = () => `notes_${randomBytes(4).toString('hex')}`;

function pgPool(url: string, proxy: LatencyProxy): pg.Pool {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  const pool = new pg.Pool({ connectionString: u.toString(), max: 10 });
  pool.on('error', () => {}); // an idle connection cut by the proxy: the pool replaces it
  // A connection cut mid-query can report its end after the query's own error
  // listener is gone: the query already failed (that is what these tests
  // assert), so the late 'error' event is expected, not a crash.
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/** Milliseconds the proxies add in each direction. */
export const PROXY_DELAY_MS = 2;

async function pgTarget() {
  const u = new URL(ADMIN_URL);
  return latencyProxy({ host: u.hostname, port: Number(u.port || 5432) }, PROXY_DELAY_MS);
}

const PG_BOOM = (t: string) => `
  CREATE OR REPLACE FUNCTION ${t}_boom() RETURNS trigger AS $$
  BEGIN IF NEW.body LIKE '%boom%' THEN RAISE EXCEPTION 'boom'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql;
  CREATE TRIGGER ${t}_boom BEFORE INSERT OR UPDATE ON "${t}" FOR EACH ROW EXECUTE FUNCTION ${t}_boom();`;

const SQLITE_BOOM = (t: string) => `
  CREATE TRIGGER ${t}_boom_u BEFORE UPDATE ON "${t}" WHEN NEW.body LIKE '%boom%'
  BEGIN SELECT RAISE(ABORT, 'boom'); END;
  CREATE TRIGGER ${t}_boom_i BEFORE INSERT ON "${t}" WHEN NEW.body LIKE '%boom%'
  BEGIN SELECT RAISE(ABORT, 'boom'); END;`;

/** `pgUrl`: the test file's PostgreSQL database (pg, kysely-pg). */
export async function openBackend(
  kind: StoreKind,
  etag: ETagSource,
  pgUrl?: string,
): Promise<Backend> {
  const table = tableName();
  const spec = { table, etag };
  if (kind === 'sqlite' || kind === 'kysely-sqlite') {
    const dir = mkdtempSync(join(tmpdir(), 'ifmatch-core-'));
    const db = new Database(join(dir, 'notes.db'));
    db.pragma('journal_mode = WAL');
    const notes =
      kind === 'sqlite'
        ? sqliteDocuments(db, spec)
        : await (async () => {
            const k = kyselyDocuments(
              new Kysely({ dialect: new SqliteDialect({ database: db }) }),
              spec,
            );
            await k.createTable();
            return k;
          })();
    return {
      notes,
      proxy: undefined,
      writeMarker: 'UPDATE', // (no proxy: unused)
      failWrites: async () => void db.exec(SQLITE_BOOM(table)),
      blindWrite: async (id, value) =>
        void db
          .prepare(`UPDATE "${table}" SET body = ?, version = version + 1 WHERE id = ?`)
          .run(JSON.stringify(value), id),
      close: async () => {
        db.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  if (kind === 'pg' || kind === 'kysely-pg') {
    const proxy = await pgTarget();
    const pool = pgPool(pgUrl!, proxy);
    const kysely =
      kind === 'kysely-pg' ? new Kysely({ dialect: new PostgresDialect({ pool }) }) : undefined;
    const notes = kysely ? kyselyDocuments(kysely, spec) : pgDocuments(pool, spec);
    await notes.createTable();
    return {
      notes,
      proxy,
      writeMarker: kysely ? 'update "' : 'UPDATE "',
      failWrites: async () => void (await pool.query(PG_BOOM(table))),
      blindWrite: async (id, value) =>
        void (await pool.query(
          `UPDATE "${table}" SET body = $1, version = version + 1 WHERE id = $2`,
          [JSON.stringify(value), id],
        )),
      close: async () => {
        if (kysely) await kysely.destroy();
        else await pool.end();
        await proxy.close();
      },
    };
  }
  const proxy = await latencyProxy({ host: '127.0.0.1', port: 6379 }, PROXY_DELAY_MS);
  const redis = new Redis({
    host: '127.0.0.1',
    port: proxy.port,
    lazyConnect: true,
    autoResendUnfulfilledCommands: false,
  });
  await redis.connect();
  return {
    notes: redisDocuments(redis, spec),
    proxy,
    writeMarker: 'tonumber(cur)', // only in the update script
    blindWrite: async (id, value) => {
      await redis.hset(`${table}:${id}`, 'b', JSON.stringify(value));
      await redis.hincrby(`${table}:${id}`, 't', 1);
    },
    close: async () => {
      const keys = await redis.keys(`${table}:*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
      await proxy.close();
    },
  };
}
