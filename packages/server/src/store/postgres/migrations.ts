// The schema: created by the first instance to start, brought up to date from
// older versions, serialized across instances that start together.

import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { isConnectionLost, toStoreError } from './pool.js';

/** Bumped when the schema changes; the migration below brings older ones up. */
export const SCHEMA_VERSION = 3;
/** pg_advisory_xact_lock key serializing migrations of concurrently starting instances. */
const MIGRATION_LOCK = 0x1f3a7c01;
/** Upper bound of a schema migration (and of waiting for another instance's). */
const MIGRATION_TIMEOUT_MS = 10 * 60_000;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS ifmatch_schema (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  version integer NOT NULL,
  -- A random name of this database, made once (identity(): feed cursors carry it).
  identity text
);
CREATE SEQUENCE IF NOT EXISTS ifmatch_version_seq AS bigint;
-- COLLATE "C": byte order, as SQLite lists ids, and a stable ?after= cursor.
CREATE TABLE IF NOT EXISTS ifmatch_documents (
  collection text COLLATE "C" NOT NULL,
  id text COLLATE "C" NOT NULL,
  etag text NOT NULL,
  last_modified bigint NOT NULL,
  -- The body's length, so validators() (the 304 path) never touches the body.
  size integer NOT NULL,
  body bytea NOT NULL,
  PRIMARY KEY (collection, id)
);
CREATE TABLE IF NOT EXISTS ifmatch_collections (
  collection text COLLATE "C" PRIMARY KEY,
  version bigint NOT NULL,
  last_modified bigint NOT NULL,
  -- The highest change position pruned from ifmatch_changes (0: none).
  pruned_through bigint NOT NULL DEFAULT 0
);
-- The change log: one row per committed member write, position = the
-- collection's version after it (queries.ts, APPEND_CHANGE).
CREATE TABLE IF NOT EXISTS ifmatch_changes (
  collection text COLLATE "C" NOT NULL,
  position bigint NOT NULL,
  id text COLLATE "C" NOT NULL,
  etag text,
  last_modified bigint NOT NULL,
  deleted boolean NOT NULL,
  recorded_at bigint NOT NULL,
  PRIMARY KEY (collection, position)
);
-- Pruning finds what is older than the retention without scanning the log.
CREATE INDEX IF NOT EXISTS ifmatch_changes_recorded_at ON ifmatch_changes (recorded_at);
INSERT INTO ifmatch_schema (version) VALUES (${SCHEMA_VERSION}) ON CONFLICT DO NOTHING;
`;

/**
 * Creates or migrates the schema in one transaction. Instances starting
 * together serialize on a transaction-scoped advisory lock, so none sees a
 * half-created table. Unavailability comes out as StoreUnavailableError.
 * Resolves to the database's identity (made here the first time).
 */
export async function migrate(pool: pg.Pool, retryAfterSeconds: number): Promise<string> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (error) {
    throw toStoreError(error, retryAfterSeconds);
  }
  let broken: unknown;
  // A migration may rewrite a big table, and others wait for it on the
  // advisory lock: the request timeouts do not apply here.
  // (query_timeout per query is supported by pg but missing from its types.)
  const q = <T extends pg.QueryResultRow>(text: string, values?: unknown[]) => {
    const config: pg.QueryConfig & { query_timeout: number } = {
      text,
      values: values ?? [],
      query_timeout: MIGRATION_TIMEOUT_MS,
    };
    return client.query<T>(config);
  };
  try {
    await q('BEGIN');
    await q(`SET LOCAL statement_timeout = ${MIGRATION_TIMEOUT_MS}`);
    try {
      await q('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await q(SCHEMA);
      const found = await q<{ version: number }>('SELECT version FROM ifmatch_schema');
      const version = found.rows[0]?.version ?? SCHEMA_VERSION;
      if (version > SCHEMA_VERSION) {
        throw new Error(
          `the database schema is version ${version}, newer than this server's ${SCHEMA_VERSION}`,
        );
      }
      // Each step brings a database written by an older server up to date.
      if (version < 2) {
        await q(`
          ALTER TABLE ifmatch_documents ADD COLUMN IF NOT EXISTS size integer;
          UPDATE ifmatch_documents SET size = octet_length(body) WHERE size IS NULL;
          ALTER TABLE ifmatch_documents ALTER COLUMN size SET NOT NULL;`);
      }
      if (version < 3) {
        // The change log starts now: what came before was never logged, so a
        // feed cursor can only start from the current counter (a listing).
        await q(`
          ALTER TABLE ifmatch_schema ADD COLUMN IF NOT EXISTS identity text;
          ALTER TABLE ifmatch_collections ADD COLUMN IF NOT EXISTS pruned_through bigint NOT NULL DEFAULT 0;
          UPDATE ifmatch_collections SET pruned_through = version;`);
      }
      await q('UPDATE ifmatch_schema SET version = $1', [SCHEMA_VERSION]);
      await q('UPDATE ifmatch_schema SET identity = $1 WHERE identity IS NULL', [
        randomBytes(16).toString('base64url'),
      ]);
      const named = await q<{ identity: string }>('SELECT identity FROM ifmatch_schema');
      await q('COMMIT');
      return named.rows[0]!.identity;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => {});
      throw error;
    }
  } catch (error) {
    if (isConnectionLost(error)) broken = error;
    throw toStoreError(error, retryAfterSeconds);
  } finally {
    client.release(broken instanceof Error ? broken : undefined);
  }
}
