// The PostgreSQL store: several server instances share one database, so every
// input to a response (ETags, Last-Modified, collection counters) lives in it.
//
// Concurrency: READ COMMITTED, the row locked with SELECT … FOR UPDATE, decide()
// run in JS while the lock is held, then one data-modifying statement that also
// bumps the collection counter, then COMMIT. See docs/SCALING.md for why.

import pg from 'pg';
import { collectionETag, documentETag } from './etag.js';
import { newId } from './new-id.js';
import {
  type DocKey,
  type DocumentStore,
  type ListPage,
  type StoredDocument,
  type StoredValidators,
  StoreUnavailableError,
  type WriteDecider,
  type WriteOutcome,
} from './types.js';

/** Each option falls back to an environment variable (named below), then a default. */
export interface PostgresStoreOptions {
  /** Connections per process (IFMATCH_PG_POOL_SIZE, default 10; mind max_connections x instances). */
  poolSize?: number;
  /** Server-side statement_timeout, also bounds row-lock waits (IFMATCH_PG_STATEMENT_TIMEOUT_MS, default 5000). */
  statementTimeoutMs?: number;
  /** Connecting, and waiting for a free pooled connection (IFMATCH_PG_CONNECT_TIMEOUT_MS, default 3000). */
  connectionTimeoutMs?: number;
  /** Idle pooled connections are closed after this (default 30000 ms). */
  idleTimeoutMs?: number;
  /** Sent as Retry-After with the 503 (default 1 s). */
  retryAfterSeconds?: number;
  /** Background errors (a pooled connection lost while idle). Default: one line on stderr. */
  onError?: (error: Error) => void;
}

/** Bumped when the schema changes; the migration below brings older ones up. */
const SCHEMA_VERSION = 2;
/** pg_advisory_xact_lock key serializing migrations of concurrently starting instances. */
const MIGRATION_LOCK = 0x1f3a7c01;
/** Upper bound of a schema migration (and of waiting for another instance's). */
const MIGRATION_TIMEOUT_MS = 10 * 60_000;
/** A write that keeps losing races (or connections) gives up with a 503. */
const MAX_ATTEMPTS = 5;

// Milliseconds from the database clock: every instance stamps Last-Modified
// with the same clock, so skewed hosts cannot disagree or go back in time.
const NOW_MS = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;

const MIGRATION = `
CREATE TABLE IF NOT EXISTS ifmatch_schema (
  singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  version integer NOT NULL
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
  last_modified bigint NOT NULL
);
INSERT INTO ifmatch_schema (version) VALUES (${SCHEMA_VERSION}) ON CONFLICT DO NOTHING;
`;

// The row and a fresh version in one round trip. The LEFT JOIN yields one row
// even when the document is absent; the lock is taken inside the CTE.
const SELECT_FOR_UPDATE = `
WITH cur AS (
  SELECT etag, last_modified, body FROM ifmatch_documents
  WHERE collection = $1 AND id = $2 FOR UPDATE
)
SELECT nextval('ifmatch_version_seq') AS version, cur.etag, cur.last_modified, cur.body
FROM (SELECT 1) AS one LEFT JOIN cur ON true`;

// Every member write bumps its collection's counter in the same statement
// (same transaction): the listing ETag changes exactly when a member does.
const BUMP_COLLECTION = `
c AS (
  INSERT INTO ifmatch_collections (collection, version, last_modified)
  SELECT $1, 1, last_modified FROM d
  ON CONFLICT (collection) DO UPDATE SET
    version = ifmatch_collections.version + 1,
    last_modified = GREATEST(ifmatch_collections.last_modified, excluded.last_modified)
)`;

const UPDATE_DOC = `
WITH d AS (
  UPDATE ifmatch_documents SET etag = $3, body = $4::bytea, size = octet_length($4::bytea), last_modified = ${NOW_MS}
  WHERE collection = $1 AND id = $2 RETURNING last_modified
), ${BUMP_COLLECTION}
SELECT last_modified FROM d`;

// ON CONFLICT DO NOTHING: a concurrent create of the same id makes this return
// no row, and the whole transaction is retried (then it sees that row).
const INSERT_DOC = `
WITH d AS (
  INSERT INTO ifmatch_documents (collection, id, etag, body, size, last_modified)
  VALUES ($1, $2, $3, $4::bytea, octet_length($4::bytea), ${NOW_MS})
  ON CONFLICT DO NOTHING RETURNING last_modified
), ${BUMP_COLLECTION}
SELECT last_modified FROM d`;

const DELETE_DOC = `
WITH d AS (
  DELETE FROM ifmatch_documents WHERE collection = $1 AND id = $2
  RETURNING ${NOW_MS} AS last_modified
), ${BUMP_COLLECTION}
SELECT last_modified FROM d`;

interface CurrentRow {
  version: string;
  etag: string | null;
  last_modified: string | null;
  body: Buffer | null;
}

/** Lost the race to create an absent row: roll back and run the transaction again. */
class RetryTransaction extends Error {}

// SQLSTATEs meaning "the database cannot serve us right now", not "bad request".
const UNAVAILABLE_CODES = new Set([
  '57P01', // admin_shutdown (pg_terminate_backend)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down)
  '53300', // too_many_connections
  '53400', // configuration_limit_exceeded
  '57014', // query_canceled: statement_timeout (a lock held too long)
  '55P03', // lock_not_available
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '25P03', // idle_in_transaction_session_timeout
]);
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

function errorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The connection itself is gone: nothing more can happen on it. */
function isConnectionLost(error: unknown): boolean {
  const code = errorCode(error);
  if (code !== undefined && (code.startsWith('08') || NETWORK_CODES.has(code))) return true;
  if (code === '57P01' || code === '57P02' || code === '57P03') return true;
  const message = error instanceof Error ? error.message : '';
  // node-postgres reports these without a code.
  return /Connection terminated|not queryable|timeout exceeded when trying to connect|Query read timeout|ECONNREFUSED/.test(
    message,
  );
}

function isUnavailable(error: unknown): boolean {
  const code = errorCode(error);
  return (code !== undefined && UNAVAILABLE_CODES.has(code)) || isConnectionLost(error);
}

function toValidators(
  etag: string,
  lastModified: string | number,
  size?: number,
): StoredValidators {
  const v: StoredValidators = { etag, lastModified: Number(lastModified) };
  if (size !== undefined) v.size = size;
  return v;
}

export class PostgresStore implements DocumentStore {
  readonly kind = 'postgres';
  readonly #pool: pg.Pool;
  readonly #retryAfter: number;
  #schema: Promise<void> | undefined;
  #closed = false;

  constructor(url: string, options: PostgresStoreOptions = {}) {
    const statementTimeout =
      options.statementTimeoutMs ?? envNumber('IFMATCH_PG_STATEMENT_TIMEOUT_MS') ?? 5000;
    const onError =
      options.onError ??
      ((error: Error) => process.stderr.write(`ifmatch postgres: ${error.message}\n`));
    this.#retryAfter = options.retryAfterSeconds ?? 1;
    this.#pool = new pg.Pool({
      connectionString: url,
      max: options.poolSize ?? envNumber('IFMATCH_PG_POOL_SIZE') ?? 10,
      connectionTimeoutMillis:
        options.connectionTimeoutMs ?? envNumber('IFMATCH_PG_CONNECT_TIMEOUT_MS') ?? 3000,
      idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
      statement_timeout: statementTimeout,
      // The client gives up a little after the server would have, in case the
      // server (or the network to it) no longer answers at all.
      query_timeout: statementTimeout + 2000,
      // A process stuck mid-transaction must not hold row locks forever.
      idle_in_transaction_session_timeout: statementTimeout * 2,
      application_name: 'ifmatch',
    });
    // An idle pooled connection that dies (pg_terminate_backend, restart) is
    // reported here; without a listener Node would crash the process.
    this.#pool.on('error', (error) => onError(error));
    // A checked-out connection that dies emits 'error' on the client as well
    // as rejecting its query: the rejection is handled where it is awaited.
    this.#pool.on('connect', (client) => {
      client.on('error', () => {});
    });
  }

  /**
   * Creates or migrates the schema. Instances starting together serialize on a
   * transaction-scoped advisory lock, so none sees a half-created table. Run
   * again on the next call if it failed (the database was down at start).
   */
  ensureSchema(): Promise<void> {
    if (this.#schema === undefined) {
      this.#schema = this.#migrate().catch((error: unknown) => {
        this.#schema = undefined;
        throw error;
      });
    }
    return this.#schema;
  }

  async #migrate(): Promise<void> {
    let client: pg.PoolClient;
    try {
      client = await this.#pool.connect();
    } catch (error) {
      throw this.#translate(error);
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
        await q(MIGRATION);
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
        await q('UPDATE ifmatch_schema SET version = $1', [SCHEMA_VERSION]);
        await q('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      }
    } catch (error) {
      if (isConnectionLost(error)) broken = error;
      throw this.#translate(error);
    } finally {
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  #translate(error: unknown): unknown {
    if (error instanceof StoreUnavailableError || !isUnavailable(error)) return error;
    const reason = error instanceof Error ? error.message : String(error);
    return new StoreUnavailableError(`PostgreSQL is unavailable: ${reason}`, {
      cause: error,
      retryAfterSeconds: this.#retryAfter,
    });
  }

  /**
   * Runs fn on a pooled connection. A connection lost before anything could
   * have committed is retried on a fresh one (the pool may hand out a
   * connection whose backend was just terminated); `state.committing` says
   * when that is no longer safe.
   */
  async #withClient<T>(
    fn: (client: pg.PoolClient, state: { committing: boolean }) => Promise<T>,
  ): Promise<T> {
    if (this.#closed) throw new StoreUnavailableError('the store is closed');
    try {
      await this.ensureSchema();
    } catch (error) {
      throw this.#translate(error);
    }
    let lastError: unknown;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.#pool.connect();
      } catch (error) {
        // Refused or timed out waiting for a free connection: retrying now
        // would only queue more work on a struggling database.
        throw this.#translate(error);
      }
      const state = { committing: false };
      let broken: Error | undefined;
      try {
        return await fn(client, state);
      } catch (error) {
        lastError = error;
        if (isConnectionLost(error)) broken = error instanceof Error ? error : new Error('lost');
        const retry =
          error instanceof RetryTransaction ||
          // The outcome of a COMMIT whose answer never came is unknown: never
          // re-run the write (it may have happened); report 503 instead.
          (!state.committing &&
            ((broken !== undefined && !isClientTimeout(error)) || isRetryableConflict(error)));
        if (!retry) throw this.#translate(error);
      } finally {
        client.release(broken);
      }
    }
    throw lastError instanceof RetryTransaction
      ? new StoreUnavailableError('the write kept losing races to concurrent writers', {
          retryAfterSeconds: this.#retryAfter,
        })
      : this.#translate(lastError);
  }

  async validators(key: DocKey): Promise<StoredValidators | undefined> {
    return this.#withClient(async (client) => {
      const { rows } = await client.query<{ etag: string; last_modified: string; size: number }>(
        'SELECT etag, last_modified, size FROM ifmatch_documents WHERE collection = $1 AND id = $2',
        [key.collection, key.id],
      );
      const row = rows[0];
      return row === undefined ? undefined : toValidators(row.etag, row.last_modified, row.size);
    });
  }

  async read(key: DocKey): Promise<StoredDocument | undefined> {
    return this.#withClient(async (client) => {
      const { rows } = await client.query<{ etag: string; last_modified: string; body: Buffer }>(
        'SELECT etag, last_modified, body FROM ifmatch_documents WHERE collection = $1 AND id = $2',
        [key.collection, key.id],
      );
      const row = rows[0];
      return row === undefined
        ? undefined
        : { ...toValidators(row.etag, row.last_modified, row.body.length), body: row.body };
    });
  }

  async write<R>(key: DocKey, decide: WriteDecider<R>): Promise<WriteOutcome<R>> {
    let committing: WriteOutcome<R> | undefined;
    try {
      return await this.#withClient(async (client, state) => {
        // Explicit, so a database whose default is SERIALIZABLE behaves the same.
        await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
        let outcome: WriteOutcome<R>;
        try {
          outcome = await this.#decideAndApply(client, key, decide);
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          throw error;
        }
        state.committing = true;
        committing = outcome;
        await client.query('COMMIT');
        return outcome;
      });
    } catch (error) {
      const put = committing?.action === 'put' ? committing : undefined;
      if (put !== undefined && (await this.#landed(key, put.doc.etag, error))) return put;
      throw error;
    }
  }

  /**
   * The answer to a COMMIT was lost: did it happen? Our ETag (a fresh sequence
   * value) being current proves it did; anything else stays unknown (503).
   */
  async #landed(key: DocKey, etag: string, error: unknown): Promise<boolean> {
    if (!(error instanceof StoreUnavailableError)) return false;
    const now = await this.validators(key).catch(() => undefined);
    return now?.etag === etag;
  }

  async #decideAndApply<R>(
    client: pg.PoolClient,
    key: DocKey,
    decide: WriteDecider<R>,
  ): Promise<WriteOutcome<R>> {
    const selected = await client.query<CurrentRow>(SELECT_FOR_UPDATE, [key.collection, key.id]);
    const row = selected.rows[0]!;
    const current: StoredDocument | undefined =
      row.etag === null || row.last_modified === null || row.body === null
        ? undefined
        : { ...toValidators(row.etag, row.last_modified, row.body.length), body: row.body };
    // Synchronous, while the row (if any) is locked.
    const decision = decide(current);
    const params = [key.collection, key.id];
    if (decision.action === 'refuse') {
      return { action: 'refuse', current, result: decision.result };
    }
    if (decision.action === 'delete') {
      // Nothing to delete: nothing changes (types.ts, WriteOutcome).
      if (current === undefined) {
        return { action: 'delete', previous: undefined, result: decision.result };
      }
      await client.query(DELETE_DOC, params);
      return {
        action: 'delete',
        previous: toValidators(current.etag, current.lastModified, current.body.length),
        result: decision.result,
      };
    }
    const etag = documentETag(BigInt(row.version), decision.body);
    const written = await client.query<{ last_modified: string }>(
      current === undefined ? INSERT_DOC : UPDATE_DOC,
      [...params, etag, decision.body],
    );
    const stamp = written.rows[0];
    if (stamp === undefined) throw new RetryTransaction('lost the create race');
    return {
      action: 'put',
      created: current === undefined,
      doc: toValidators(etag, stamp.last_modified, decision.body.length),
      result: decision.result,
    };
  }

  async create(collection: string, body: Buffer): Promise<{ id: string } & StoredValidators> {
    let committing: ({ id: string } & StoredValidators) | undefined;
    try {
      return await this.#withClient(async (client, state) => {
        const id = newId();
        await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
        let stamp: { last_modified: string } | undefined;
        let etag: string;
        try {
          const { rows } = await client.query<{ version: string }>(
            `SELECT nextval('ifmatch_version_seq') AS version`,
          );
          etag = documentETag(BigInt(rows[0]!.version), body);
          const written = await client.query<{ last_modified: string }>(INSERT_DOC, [
            collection,
            id,
            etag,
            body,
          ]);
          stamp = written.rows[0];
          // An id collision is not expected; if it happens, try another id.
          if (stamp === undefined) throw new RetryTransaction('id taken');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          throw error;
        }
        state.committing = true;
        committing = { id, ...toValidators(etag, stamp.last_modified, body.length) };
        await client.query('COMMIT');
        return committing;
      });
    } catch (error) {
      const made = committing;
      if (
        made !== undefined &&
        (await this.#landed({ collection, id: made.id }, made.etag, error))
      ) {
        return made;
      }
      throw error;
    }
  }

  async list(collection: string, options: { after?: string; limit: number }): Promise<ListPage> {
    const limit = Math.max(0, Math.floor(options.limit));
    return this.#withClient(async (client) => {
      // One row more than asked tells whether there is a next page.
      const { rows } = await client.query<{ id: string; etag: string; last_modified: string }>(
        `SELECT id, etag, last_modified FROM ifmatch_documents
         WHERE collection = $1 AND ($2::text IS NULL OR id > $2::text)
         ORDER BY id LIMIT $3`,
        [collection, options.after ?? null, limit + 1],
      );
      const items = rows
        .slice(0, limit)
        .map((r) => ({ id: r.id, ...toValidators(r.etag, r.last_modified) }));
      const next = rows.length > limit && items.length > 0 ? items[items.length - 1]!.id : null;
      return { items, next };
    });
  }

  async collectionValidators(collection: string): Promise<StoredValidators | undefined> {
    return this.#withClient(async (client) => {
      const { rows } = await client.query<{ version: string; last_modified: string }>(
        'SELECT version, last_modified FROM ifmatch_collections WHERE collection = $1',
        [collection],
      );
      const row = rows[0];
      if (row === undefined) return undefined;
      // The counter only grows (the row is never deleted), so the tag is never reused.
      return toValidators(collectionETag(BigInt(row.version)), row.last_modified);
    });
  }

  async ready(): Promise<boolean> {
    if (this.#closed) return false;
    try {
      await this.#withClient(async (client) => client.query('SELECT 1'));
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#pool.end();
  }
}

/** Settings for deployments that start the CLI without code: a positive integer or unset. */
function envNumber(name: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return undefined;
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** The database stopped answering: waiting that long again would only double the wait. */
function isClientTimeout(error: unknown): boolean {
  return error instanceof Error && /Query read timeout/.test(error.message);
}

function isRetryableConflict(error: unknown): boolean {
  const code = errorCode(error);
  return code === '40001' || code === '40P01';
}

/**
 * Opens the store for a `postgres://` or `postgresql://` URL. The schema is
 * created or migrated now; if the database is unreachable the store still
 * opens (answering 503, /healthz not ready) and migrates once it is back.
 */
export async function openPostgresStore(
  url: string,
  options: PostgresStoreOptions = {},
): Promise<DocumentStore> {
  const store = new PostgresStore(url, options);
  try {
    await store.ensureSchema();
  } catch (error) {
    if (!(error instanceof StoreUnavailableError)) {
      await store.close();
      throw error;
    }
  }
  return store;
}
