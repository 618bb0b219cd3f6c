// @ifmatch/core/kysely: conditional JSON documents through Kysely (an optional
// peer), on any of its SQL dialects with ON CONFLICT and RETURNING (PostgreSQL,
// SQLite). Kysely rather than Prisma or Drizzle: it is a typed query builder over
// the same drivers (pg, better-sqlite3 dialects built in), with no engine binary
// to download at install (Prisma's) and no schema DSL to adopt. Each write is one
// statement, as in the pg and sqlite bindings.
import { type Kysely, sql } from 'kysely';
import {
  type DocumentStore,
  type DocumentTable,
  documentStore,
  layout,
  type TokenRow,
} from './document-store.js';
import { pgOutcome } from './pg.js';

export type {
  DocumentStore,
  DocumentTable,
  ETagSource,
  Stored,
  Written,
} from './document-store.js';

/**
 * A DocumentStore on `db` (any database type: the table is addressed by the
 * names in `spec`). Call `createTable()` once (CREATE TABLE IF NOT EXISTS).
 */
export function kyselyDocuments<T = unknown>(
  // biome-ignore lint/suspicious/noExplicitAny: the app's Database type need not know the table
  db: Kysely<any>,
  spec: DocumentTable,
): DocumentStore<T> & { createTable(): Promise<void> } {
  const l = layout(spec);
  const hash = l.etag === 'hash';
  const returned = [`${l.token} as token`, `${l.modified} as modified`] as const;
  const toRow = (row: { token: unknown; modified: unknown } | undefined): TokenRow | undefined =>
    row && {
      token: hash ? String(row.token) : Number(row.token),
      modified: Number(row.modified),
    };
  const values = (next: { text: string; modified: number; hash: string | undefined }) => ({
    [l.body]: next.text,
    [l.modified]: next.modified,
    // The version increments inside the statement; a hash is the new text's.
    [l.token]: hash ? next.hash : sql`${sql.ref(l.token)} + 1`,
  });
  const store = documentStore<T>(
    {
      async selectToken(id) {
        const row = await db
          .selectFrom(l.table)
          .select(returned)
          .where(l.id, '=', id)
          .executeTakeFirst();
        return toRow(row);
      },
      async select(id) {
        const row = await db
          .selectFrom(l.table)
          .select([...returned, `${l.body} as text`])
          .where(l.id, '=', id)
          .executeTakeFirst();
        const token = toRow(row);
        return token && { ...token, text: String(row!.text) };
      },
      async update(id, next, expected) {
        let q = db.updateTable(l.table).set(values(next)).where(l.id, '=', id);
        if (expected !== undefined) q = q.where(l.token, '=', expected);
        return toRow(await q.returning(returned).executeTakeFirst());
      },
      async insert(id, next) {
        const row = await db
          .insertInto(l.table)
          .values({
            [l.id]: id,
            [l.body]: next.text,
            [l.modified]: next.modified,
            [l.token]: hash ? next.hash : 1,
          })
          .onConflict((oc) => oc.column(l.id).doNothing())
          .returning(returned)
          .executeTakeFirst();
        return toRow(row);
      },
      async delete(id, expected) {
        let q = db.deleteFrom(l.table).where(l.id, '=', id);
        if (expected !== undefined) q = q.where(l.token, '=', expected);
        return (await q.executeTakeFirst()).numDeletedRows > 0n;
      },
      // The dialect's driver error: SQLSTATE (pg) or SQLITE_* codes mean not applied.
      outcome: (error) =>
        String((error as { code?: unknown } | null)?.code).startsWith('SQLITE_')
          ? 'not-applied'
          : pgOutcome(error),
    },
    l.etag,
  );
  return {
    ...store,
    async createTable() {
      await db.schema
        .createTable(l.table)
        .ifNotExists()
        .addColumn(l.id, 'text', (c) => c.primaryKey())
        .addColumn(l.body, 'text', (c) => c.notNull())
        .addColumn(l.token, hash ? 'text' : 'bigint', (c) => c.notNull())
        .addColumn(l.modified, 'bigint', (c) => c.notNull())
        .execute();
    },
  };
}
