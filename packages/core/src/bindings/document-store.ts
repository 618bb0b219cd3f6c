// What every store binding shares: JSON documents by id, each write one atomic
// conditional statement chosen from the WriteCondition, the ETag from a version
// column or a content-hash column. A binding supplies only the Driver (its
// statements) and how to read its errors; the decisions live here, once.
import { parseEntityTag } from '../entity-tag.js';
import { hashBytes, versionETag } from '../etag-generate.js';
import type { Validators } from '../preconditions.js';
import {
  StoreUnavailableError,
  type WriteCondition,
  WriteConflictError,
} from '../write-condition.js';

/**
 * Where the ETag comes from: `version` = an integer column the write
 * increments (ETag `"<version base 36>"`); `hash` = a column holding a hash of
 * the stored JSON text, written with it (ETag `"<hash>"`: same bytes, same tag).
 */
export type ETagSource = 'version' | 'hash';

/** The table (or key prefix) layout; every name is checked as a plain identifier. */
export interface DocumentTable {
  /** Table name (Redis: the key prefix). */
  table: string;
  etag: ETagSource;
  /** Column names; defaults: id, body, version or hash (per `etag`), modified. */
  columns?: { id?: string; body?: string; token?: string; modified?: string };
}

/** A column value that identifies the state: a version number or a hash. */
export type Token = number | string;

export interface TokenRow {
  token: Token;
  /** Epoch ms of the last write. */
  modified: number;
}

export interface DocumentRow extends TokenRow {
  /** The stored JSON text, sent as is. */
  text: string;
}

export interface NewState {
  text: string;
  modified: number;
  /** The new hash (hash source); a version source increments in the statement itself. */
  hash: string | undefined;
}

/** One binding's statements. Each is a single atomic operation; undefined/false = condition not met. */
export interface Driver {
  selectToken(id: string): Promise<TokenRow | undefined>;
  select(id: string): Promise<DocumentRow | undefined>;
  /** Update the row if it exists and (when `expected` is given) still holds `expected`. */
  update(id: string, next: NewState, expected: Token | undefined): Promise<TokenRow | undefined>;
  /** Insert unless the row exists. */
  insert(id: string, next: NewState): Promise<TokenRow | undefined>;
  /** Delete if it exists and (when `expected` is given) still holds `expected`. */
  delete(id: string, expected: Token | undefined): Promise<boolean>;
  /**
   * Whether a failed call may have been applied (see StoreUnavailableError);
   * undefined = not a store failure (a bug): rethrown as is.
   */
  outcome(error: unknown): 'not-applied' | 'unknown' | undefined;
}

export interface Stored<T> {
  value: T;
  /** The JSON text as stored: the bytes to send (the ETag is of this representation). */
  text: string;
  validators: Validators & { exists: true; etag: string; lastModified: number };
}

export interface Written {
  etag: string;
  lastModified: number;
  created: boolean;
  /** The JSON text now stored. */
  text: string;
}

/**
 * A document store whose writes are conditional: every write takes the
 * WriteCondition the adapter evaluated and throws WriteConflictError when the
 * store no longer holds it (nothing written), StoreUnavailableError when the
 * store failed. There is no write without a condition.
 */
export interface DocumentStore<T = unknown> {
  /** The validators of `id` (token and modified columns only, never the body). */
  validators(id: string): Promise<Validators>;
  read(id: string): Promise<Stored<T> | undefined>;
  /** Create or replace: `absent` inserts, `match`/`exists` update, `none` upserts. */
  put(id: string, value: T, condition: WriteCondition): Promise<Written>;
  /**
   * Read, `change`, and write back only if the row still holds what was read
   * (and, under `match`, what was evaluated): a lost patch is impossible.
   * Without a precondition (`none`/`exists`) a lost race is retried a few times.
   */
  patch(id: string, change: (current: T) => T, condition: WriteCondition): Promise<Written>;
  delete(id: string, condition: WriteCondition): Promise<void>;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export interface Layout {
  table: string;
  id: string;
  body: string;
  token: string;
  modified: string;
  etag: ETagSource;
}

/** Names resolved and checked (they are interpolated into SQL as quoted identifiers). */
export function layout(spec: DocumentTable): Layout {
  const c = spec.columns ?? {};
  const out: Layout = {
    table: spec.table,
    id: c.id ?? 'id',
    body: c.body ?? 'body',
    token: c.token ?? spec.etag,
    modified: c.modified ?? 'modified',
    etag: spec.etag,
  };
  for (const [what, name] of Object.entries(out)) {
    if (what !== 'etag' && !IDENTIFIER.test(name)) {
      throw new TypeError(`${what} name ${JSON.stringify(name)} is not a plain identifier`);
    }
  }
  if (spec.etag !== 'version' && spec.etag !== 'hash') {
    throw new TypeError(`etag must be 'version' or 'hash', not ${JSON.stringify(spec.etag)}`);
  }
  return out;
}

/** The ETag of a stored state. */
export function etagOf(source: ETagSource, token: Token): string {
  return source === 'version' ? versionETag(Number(token)) : `"${token}"`;
}

/** The column value an ETag of ours stands for; undefined = not one of ours (cannot match). */
export function tokenOf(source: ETagSource, etag: string): Token | undefined {
  const tag = parseEntityTag(etag);
  if (tag === undefined || tag.weak) return undefined;
  if (source === 'hash') return tag.opaque;
  const n = Number.parseInt(tag.opaque, 36);
  return Number.isSafeInteger(n) && n >= 0 && versionETag(n) === etag ? n : undefined;
}

/** The driver's calls with conditions, failures and ETags decided once. */
export function documentStore<T = unknown>(raw: Driver, source: ETagSource): DocumentStore<T> {
  const driver = guarded(raw);
  const newState = (value: unknown): NewState => {
    const text = JSON.stringify(value);
    if (text === undefined) throw new TypeError('the document is not JSON');
    return { text, modified: Date.now(), hash: source === 'hash' ? hashBytes(text) : undefined };
  };
  const written = (row: TokenRow, next: NewState, created: boolean): Written => ({
    etag: etagOf(source, row.token),
    lastModified: row.modified,
    created,
    text: next.text,
  });
  /** The token a `match` condition requires; a tag that is not ours can never match. */
  const expected = (condition: WriteCondition): Token => {
    const token = condition.kind === 'match' ? tokenOf(source, condition.etag) : undefined;
    if (token === undefined) throw new WriteConflictError(condition);
    return token;
  };

  return {
    async validators(id) {
      const row = await driver.selectToken(id);
      if (row === undefined) return { exists: false };
      return { exists: true, etag: etagOf(source, row.token), lastModified: row.modified };
    },

    read: (id) =>
      (async () => {
        const row = await driver.select(id);
        if (row === undefined) return undefined;
        const etag = etagOf(source, row.token);
        return {
          value: JSON.parse(row.text) as T,
          text: row.text,
          validators: { exists: true, etag, lastModified: row.modified },
        };
      })(),

    put: (id, value, condition) =>
      (async () => {
        const next = newState(value);
        switch (condition.kind) {
          case 'match':
          case 'exists': {
            const token = condition.kind === 'match' ? expected(condition) : undefined;
            const row = await driver.update(id, next, token);
            if (row === undefined) throw new WriteConflictError(condition);
            return written(row, next, false);
          }
          case 'absent': {
            const row = await driver.insert(id, next);
            if (row === undefined) throw new WriteConflictError(condition);
            return written(row, next, true);
          }
          case 'none': {
            // No precondition: replace if there, else create; a concurrent
            // create or delete between the two statements is retried.
            for (let attempt = 0; attempt < 4; attempt++) {
              const updated = await driver.update(id, next, undefined);
              if (updated !== undefined) return written(updated, next, false);
              const inserted = await driver.insert(id, next);
              if (inserted !== undefined) return written(inserted, next, true);
            }
            throw new WriteConflictError(condition);
          }
        }
      })(),

    patch: (id, change, condition) =>
      (async () => {
        if (condition.kind === 'absent') throw new WriteConflictError(condition);
        const required = condition.kind === 'match' ? expected(condition) : undefined;
        for (let attempt = 0; attempt < 4; attempt++) {
          const row = await driver.select(id);
          if (row === undefined) throw new WriteConflictError(condition);
          if (required !== undefined && String(row.token) !== String(required)) {
            throw new WriteConflictError(condition);
          }
          const next = newState(change(JSON.parse(row.text) as T));
          // Written only if the row still holds what `change` was applied to.
          const updated = await driver.update(id, next, row.token);
          if (updated !== undefined) return written(updated, next, false);
          if (required !== undefined) throw new WriteConflictError(condition);
        }
        throw new WriteConflictError(condition);
      })(),

    delete: (id, condition) =>
      (async () => {
        if (condition.kind === 'absent') throw new WriteConflictError(condition);
        const token = condition.kind === 'match' ? expected(condition) : undefined;
        if (!(await driver.delete(id, token))) throw new WriteConflictError(condition);
      })(),
  };
}

/** Every driver statement's failure as a StoreUnavailableError with the driver's outcome. */
function guarded(driver: Driver): Driver {
  const wrap =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      try {
        return await fn.apply(driver, args);
      } catch (error) {
        const outcome = driver.outcome(error);
        if (outcome === undefined) throw error;
        throw new StoreUnavailableError(outcome, { cause: error });
      }
    };
  return {
    selectToken: wrap(driver.selectToken),
    select: wrap(driver.select),
    update: wrap(driver.update),
    insert: wrap(driver.insert),
    delete: wrap(driver.delete),
    outcome: (error) => driver.outcome(error),
  };
}
