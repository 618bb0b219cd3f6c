// @ifmatch/core/pg: conditional JSON documents in PostgreSQL through node-postgres
// (`pg`, an optional peer). Every write is one statement (UPDATE ... WHERE
// version = $v RETURNING, INSERT ... ON CONFLICT DO NOTHING, DELETE ... WHERE),
// so a condition is checked and the write applied atomically, in one round trip.
import type { Pool, PoolClient } from 'pg';
import {
  type DocumentStore,
  type DocumentTable,
  documentStore,
  layout,
  type TokenRow,
} from './document-store.js';
import { statements, writeParams } from './sql.js';

export type {
  DocumentStore,
  DocumentTable,
  ETagSource,
  Stored,
  Written,
} from './document-store.js';

type Queryable = Pick<Pool | PoolClient, 'query'>;

// Connection-level failures before a statement could be sent: nothing was applied.
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

/**
 * PostgreSQL's answer tells: an error with a SQLSTATE (`code` of 5 characters)
 * means the statement failed and, autocommitted, was rolled back; a refused
 * connection means it was never sent. A connection lost after sending (reset,
 * "Connection terminated", a timeout) is `unknown`: it may have committed.
 */
export function pgOutcome(error: unknown): 'not-applied' | 'unknown' | undefined {
  // Our own bugs (a wrong parameter, a bad value) are not outages: let them through.
  if (error instanceof TypeError || error instanceof RangeError) return undefined;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && (/^[0-9A-Z]{5}$/.test(code) || NOT_SENT.has(code))) {
    return 'not-applied';
  }
  if (error instanceof Error && /timeout exceeded when trying to connect/i.test(error.message)) {
    return 'not-applied'; // pg.Pool's connectionTimeoutMillis: no connection, no statement
  }
  return 'unknown';
}

type Row = Record<string, unknown> | undefined;

/**
 * A DocumentStore on `pool` (a pg.Pool, or one client). Call `createTable()`
 * once (it is `CREATE TABLE IF NOT EXISTS`).
 */
export function pgDocuments<T = unknown>(
  pool: Queryable,
  spec: DocumentTable,
): DocumentStore<T> & { createTable(): Promise<void> } {
  const l = layout(spec);
  const s = statements(l, (n) => `$${n}`);
  const first = async (text: string, values: unknown[]): Promise<Row> =>
    (await pool.query({ text, values })).rows[0];
  // BIGINT arrives as a string: a version is made a number again, a hash stays text.
  const toRow = (row: Row): TokenRow | undefined =>
    row && {
      token: l.etag === 'version' ? Number(row['token']) : String(row['token']),
      modified: Number(row['modified']),
    };
  const store = documentStore<T>(
    {
      async selectToken(id) {
        return toRow(await first(s.selectToken, [id]));
      },
      async select(id) {
        const row = await first(s.select, [id]);
        const token = toRow(row);
        return token && { ...token, text: String(row!['text']) };
      },
      async update(id, next, expected) {
        const params = writeParams(id, next);
        const text = expected === undefined ? s.updateAny : s.updateIf;
        if (expected !== undefined) params.push(expected);
        return toRow(await first(text, params));
      },
      async insert(id, next) {
        return toRow(await first(s.insert, writeParams(id, next)));
      },
      async delete(id, expected) {
        const result =
          expected === undefined
            ? await pool.query(s.deleteAny, [id])
            : await pool.query(s.deleteIf, [id, expected]);
        return (result.rowCount ?? 0) > 0;
      },
      outcome: pgOutcome,
    },
    l.etag,
  );
  return {
    ...store,
    async createTable() {
      await pool.query(s.createTable);
    },
  };
}
