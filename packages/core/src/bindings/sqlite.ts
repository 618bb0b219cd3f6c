// @ifmatch/core/sqlite: conditional JSON documents in SQLite through
// better-sqlite3 (an optional peer). Each write is one prepared statement
// (UPDATE ... WHERE version = ? RETURNING, INSERT ... ON CONFLICT DO NOTHING),
// atomic in SQLite; better-sqlite3 runs it synchronously, so the outcome of a
// failure is always known: the statement was rolled back (`not-applied`).
import type { Database } from 'better-sqlite3';
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

type Row = { token: number | string; modified: number; text?: string };
type Named = Record<string, unknown>;

/** Positional values as better-sqlite3's named parameters @p1, @p2, ... */
const named = (...values: unknown[]): Named =>
  Object.fromEntries(values.map((value, i) => [`p${i + 1}`, value]));

/** A DocumentStore on `db`; the table is created if missing. */
export function sqliteDocuments<T = unknown>(db: Database, spec: DocumentTable): DocumentStore<T> {
  const l = layout(spec);
  const s = statements(l, (n) => `@p${n}`);
  db.exec(s.createTable);
  const prepared = {
    selectToken: db.prepare<[Named], Row>(s.selectToken),
    select: db.prepare<[Named], Row>(s.select),
    updateAny: db.prepare<[Named], Row>(s.updateAny),
    updateIf: db.prepare<[Named], Row>(s.updateIf),
    insert: db.prepare<[Named], Row>(s.insert),
    deleteAny: db.prepare<[Named]>(s.deleteAny),
    deleteIf: db.prepare<[Named]>(s.deleteIf),
  };
  const token = (row: Row | undefined): TokenRow | undefined =>
    row && { token: row.token, modified: Number(row.modified) };
  return documentStore<T>(
    {
      async selectToken(id) {
        return token(prepared.selectToken.get(named(id)));
      },
      async select(id) {
        const row = prepared.select.get(named(id));
        return row && { token: row.token, modified: Number(row.modified), text: String(row.text) };
      },
      async update(id, next, expected) {
        const params = writeParams(id, next);
        if (expected === undefined) return token(prepared.updateAny.get(named(...params)));
        return token(prepared.updateIf.get(named(...params, expected)));
      },
      async insert(id, next) {
        return token(prepared.insert.get(named(...writeParams(id, next))));
      },
      async delete(id, expected) {
        const info =
          expected === undefined
            ? prepared.deleteAny.run(named(id))
            : prepared.deleteIf.run(named(id, expected));
        return info.changes > 0;
      },
      // Synchronous and in-process: a thrown statement (SQLITE_BUSY, SQLITE_FULL,
      // SQLITE_IOERR ...) was rolled back. Anything else is a bug, not an outage.
      outcome: (error) =>
        String((error as { code?: unknown } | null)?.code).startsWith('SQLITE_')
          ? 'not-applied'
          : undefined,
    },
    l.etag,
  );
}
