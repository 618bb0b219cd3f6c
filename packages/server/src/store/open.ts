import type { PostgresStoreOptions } from './postgres/settings.js';
import { openSqliteStore, type SqliteStoreOptions } from './sqlite.js';
import type { DocumentStore } from './types.js';

/**
 * Options of openStore: SQLite's, and those of them PostgreSQL shares
 * (passed on to it; its other settings come from the environment).
 */
export type StoreOptions = SqliteStoreOptions & Pick<PostgresStoreOptions, 'changeRetentionMs'>;

/** A storage error meant for a one-line message (the CLI prints `message` only). */
export class StoreOpenError extends Error {
  override name = 'StoreOpenError';
}

/** Describes a --db value for logs and the startup line, without credentials. */
export function describeDb(db: string): string {
  if (/^postgres(ql)?:\/\//i.test(db)) {
    try {
      const url = new URL(db);
      return `postgres ${url.hostname}${url.port ? `:${url.port}` : ''}${url.pathname}`;
    } catch {
      return 'postgres';
    }
  }
  return `sqlite ${db}`;
}

/**
 * Opens the store a --db value names: a file path or ':memory:' (SQLite), or a
 * postgres:// URL (PostgreSQL, loaded only when asked for).
 */
export async function openStore(db: string, options: StoreOptions = {}): Promise<DocumentStore> {
  if (db.trim() === '') throw new StoreOpenError('--db is empty');
  if (/^postgres(ql)?:\/\//i.test(db)) {
    let mod: {
      openPostgresStore?: (url: string, options?: PostgresStoreOptions) => Promise<DocumentStore>;
    };
    try {
      // A variable specifier keeps TypeScript from requiring the module to exist.
      const specifier = './postgres.js';
      mod = await import(specifier);
    } catch {
      throw new StoreOpenError('PostgreSQL support is not available');
    }
    if (typeof mod.openPostgresStore !== 'function') {
      throw new StoreOpenError('PostgreSQL support is not available');
    }
    let store: DocumentStore;
    try {
      store = await mod.openPostgresStore(
        db,
        options.changeRetentionMs === undefined
          ? {}
          : { changeRetentionMs: options.changeRetentionMs },
      );
    } catch (error) {
      throw new StoreOpenError(`cannot open ${describeDb(db)}: ${oneLine(error)}`);
    }
    // The store may tolerate a database that is down (it reconnects by
    // itself), but a server that starts against an unreachable --db is a
    // configuration mistake: say so now, in one line.
    if (!(await store.ready().catch(() => false))) {
      await store.close().catch(() => {});
      throw new StoreOpenError(`cannot reach ${describeDb(db)}`);
    }
    return store;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(db)) {
    throw new StoreOpenError(
      `unsupported --db ${JSON.stringify(db)}: use a file path, :memory: or postgres://`,
    );
  }
  try {
    return openSqliteStore(db, options);
  } catch (error) {
    throw new StoreOpenError(`cannot open sqlite database ${db}: ${oneLine(error)}`);
  }
}

function oneLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0] ?? message;
}
