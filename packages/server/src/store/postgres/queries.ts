// The SQL of the PostgreSQL store, and how its rows become validators.

import type { StoredValidators } from '../types.js';

// Milliseconds from the database clock: every instance stamps Last-Modified
// with the same clock, so skewed hosts cannot disagree or go back in time.
const NOW_MS = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;

// Many keys in one statement (shared-lookups.ts): $1 the collections, $2 the
// ids, pairwise. COLLATE "C" as the columns, so the primary key is used.
const KEYS = `unnest($1::text[], $2::text[]) AS k(collection, id)
JOIN ifmatch_documents d ON d.collection = k.collection COLLATE "C" AND d.id = k.id COLLATE "C"`;

/** Named: prepared once per connection, then only bound and run. */
export const SELECT_VALIDATORS_MANY = {
  name: 'ifmatch_validators_many',
  text: `SELECT d.collection, d.id, d.etag, d.last_modified, d.size FROM ${KEYS}`,
};

export const SELECT_DOCUMENTS_MANY = {
  name: 'ifmatch_documents_many',
  text: `SELECT d.collection, d.id, d.etag, d.last_modified, d.body FROM ${KEYS}`,
};

// The row and a fresh version in one round trip. The LEFT JOIN yields one row
// even when the document is absent; the lock is taken inside the CTE.
export const SELECT_FOR_UPDATE = `
WITH cur AS (
  SELECT etag, last_modified, body FROM ifmatch_documents
  WHERE collection = $1 AND id = $2 FOR UPDATE
)
SELECT nextval('ifmatch_version_seq') AS version, cur.etag, cur.last_modified, cur.body
FROM (SELECT 1) AS one LEFT JOIN cur ON true`;

export const NEXT_VERSION = `SELECT nextval('ifmatch_version_seq') AS version`;

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

export const UPDATE_DOC = `
WITH d AS (
  UPDATE ifmatch_documents SET etag = $3, body = $4::bytea, size = octet_length($4::bytea), last_modified = ${NOW_MS}
  WHERE collection = $1 AND id = $2 RETURNING last_modified
), ${BUMP_COLLECTION}
SELECT last_modified FROM d`;

// ON CONFLICT DO NOTHING: a concurrent create of the same id makes this return
// no row, and the whole transaction is retried (then it sees that row).
export const INSERT_DOC = `
WITH d AS (
  INSERT INTO ifmatch_documents (collection, id, etag, body, size, last_modified)
  VALUES ($1, $2, $3, $4::bytea, octet_length($4::bytea), ${NOW_MS})
  ON CONFLICT DO NOTHING RETURNING last_modified
), ${BUMP_COLLECTION}
SELECT last_modified FROM d`;

export const DELETE_DOC = `
WITH d AS (
  DELETE FROM ifmatch_documents WHERE collection = $1 AND id = $2
  RETURNING ${NOW_MS} AS last_modified
), ${BUMP_COLLECTION}
SELECT last_modified FROM d`;

// One row more than asked tells whether there is a next page.
export const LIST_PAGE = `SELECT id, etag, last_modified FROM ifmatch_documents
         WHERE collection = $1 AND ($2::text IS NULL OR id > $2::text)
         ORDER BY id LIMIT $3`;

export const SELECT_COLLECTION =
  'SELECT version, last_modified FROM ifmatch_collections WHERE collection = $1';

export interface ValidatorRow {
  etag: string;
  last_modified: string;
  size: number;
}
export interface DocumentRow {
  etag: string;
  last_modified: string;
  body: Buffer;
}
/** A row of the *_MANY lookups: which key it answers, then its columns. */
export type KeyedRow<R> = R & { collection: string; id: string };
/** SELECT_FOR_UPDATE: the nulls are an absent document. */
export interface CurrentRow {
  version: string;
  etag: string | null;
  last_modified: string | null;
  body: Buffer | null;
}
export interface ListRow {
  id: string;
  etag: string;
  last_modified: string;
}
export interface CollectionRow {
  version: string;
  last_modified: string;
}

/** bigint columns arrive as strings. */
export function toValidators(
  etag: string,
  lastModified: string | number,
  size?: number,
): StoredValidators {
  const v: StoredValidators = { etag, lastModified: Number(lastModified) };
  if (size !== undefined) v.size = size;
  return v;
}
