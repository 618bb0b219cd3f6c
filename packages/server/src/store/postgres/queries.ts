// The SQL of the PostgreSQL store, and how its rows become validators.

import type { StoredValidators } from '../types.js';

// Milliseconds from the database clock: every instance stamps Last-Modified
// with the same clock, so skewed hosts cannot disagree or go back in time.
const NOW_MS = `(extract(epoch from clock_timestamp()) * 1000)::bigint`;

// Many keys in one statement (shared-lookups.ts): $1 the collections, $2 the
// ids, pairwise. COLLATE "C" as the columns, so the primary key is used.
const KEYS = `unnest($1::text[], $2::text[]) AS k(collection, id)
JOIN ifmatch_documents d ON d.collection = k.collection COLLATE "C" AND d.id = k.id COLLATE "C"`;

/**
 * A named statement: parsed and planned once per connection, then only bound
 * and run. The statements of every read and write are; a write sent unnamed
 * spent 0.5 ms of its 1.3 ms in the database parsing and planning its two
 * statements (log_min_duration_statement, 4 December). The listing and
 * feed pages stay unnamed: their `$2 IS NULL OR id > $2` wants a plan per value.
 */
function prepared(name: string, text: string): { name: string; text: string } {
  return { name: `ifmatch_${name}`, text };
}

export const SELECT_VALIDATORS_MANY = prepared(
  'validators_many',
  `SELECT d.collection, d.id, d.etag, d.last_modified, d.size FROM ${KEYS}`,
);

export const SELECT_DOCUMENTS_MANY = prepared(
  'documents_many',
  `SELECT d.collection, d.id, d.etag, d.last_modified, d.body FROM ${KEYS}`,
);

// The row and a fresh version in one round trip. The LEFT JOIN yields one row
// even when the document is absent; the lock is taken inside the CTE.
export const SELECT_FOR_UPDATE = prepared(
  'select_for_update',
  `
WITH cur AS (
  SELECT etag, last_modified, body FROM ifmatch_documents
  WHERE collection = $1 AND id = $2 FOR UPDATE
)
SELECT nextval('ifmatch_version_seq') AS version, cur.etag, cur.last_modified, cur.body
FROM (SELECT 1) AS one LEFT JOIN cur ON true`,
);

export const NEXT_VERSION = prepared(
  'next_version',
  `SELECT nextval('ifmatch_version_seq') AS version`,
);

// Every member write bumps its collection's counter and appends its change to
// the log in the same statement (same transaction, no extra round trip): the
// listing ETag and the feed change exactly when a member does. $1 is the
// collection and $2 the id in every write statement.
//
// Why the position is in commit order within a collection: the position is
// the collection's new `version`, and the upsert below keeps that row locked
// until COMMIT, so the next writer of the collection waits for this COMMIT
// and then (READ COMMITTED re-reads the locked row) takes version + 1. A
// waiter is woken only after the commit is visible to new snapshots, so a
// reader that sees position p also sees every position below it: the feed
// has no holes that fill in later.
function appendChange(etag: string, deleted: boolean): string {
  return `
c AS (
  INSERT INTO ifmatch_collections (collection, version, last_modified)
  SELECT $1, 1, last_modified FROM d
  ON CONFLICT (collection) DO UPDATE SET
    version = ifmatch_collections.version + 1,
    last_modified = GREATEST(ifmatch_collections.last_modified, excluded.last_modified)
  RETURNING version
), l AS (
  -- recorded_at is taken here, once the collection row is locked: it grows
  -- with the position (retention prunes a prefix of the log anyway).
  INSERT INTO ifmatch_changes (collection, position, id, etag, last_modified, deleted, recorded_at)
  SELECT $1, c.version, $2, ${etag}, d.last_modified, ${deleted}, ${NOW_MS} FROM c, d
)
SELECT d.last_modified, c.version AS position FROM d, c`;
}

/**
 * Sent right after a write's COMMIT, on the same connection, in a transaction
 * of its own. Not inside the write's transaction on purpose: a transaction
 * that NOTIFYs holds PostgreSQL's one notification-queue lock from its
 * pre-commit through its commit's WAL flush, so notifying writes commit one
 * at a time across the whole cluster (measured: 0.3x the throughput of 16
 * writers). Alone, it has no WAL to flush and holds that lock for microseconds.
 * The price: a process killed between COMMIT and this statement leaves other
 * instances unwoken until the next signal or their waiters' timeout.
 */
export const NOTIFY_CHANGE = prepared('notify', `SELECT pg_notify('ifmatch_changes', $1)`);

/**
 * The notification (notifications.ts parses it): [instance tag, position,
 * collection, id] as JSON. PostgreSQL refuses payloads of 8000 bytes or more:
 * a longer one is sent as [tag] alone, which listeners treat as a resync.
 */
export function notifyPayload(
  tag: string,
  position: number,
  collection: string,
  id: string,
): string {
  const full = JSON.stringify([tag, position, collection, id]);
  return Buffer.byteLength(full) < 7900 ? full : JSON.stringify([tag]);
}

/** What the write statements return: the write's stamp and its change's position. */
export interface WrittenRow {
  last_modified: string;
  position: string;
}

/** $1 collection, $2 id, $3 etag, $4 body. */
export const UPDATE_DOC = prepared(
  'update',
  `
WITH d AS (
  UPDATE ifmatch_documents SET etag = $3, body = $4::bytea, size = octet_length($4::bytea), last_modified = ${NOW_MS}
  WHERE collection = $1 AND id = $2 RETURNING last_modified
), ${appendChange('$3', false)}`,
);

// ON CONFLICT DO NOTHING: a concurrent create of the same id makes this return
// no row (and append nothing), and the whole transaction is retried (then it
// sees that row). Parameters as UPDATE_DOC.
export const INSERT_DOC = prepared(
  'insert',
  `
WITH d AS (
  INSERT INTO ifmatch_documents (collection, id, etag, body, size, last_modified)
  VALUES ($1, $2, $3, $4::bytea, octet_length($4::bytea), ${NOW_MS})
  ON CONFLICT DO NOTHING RETURNING last_modified
), ${appendChange('$3', false)}`,
);

/** $1 collection, $2 id. Deleting nothing appends nothing. */
export const DELETE_DOC = prepared(
  'delete',
  `
WITH d AS (
  DELETE FROM ifmatch_documents WHERE collection = $1 AND id = $2
  RETURNING ${NOW_MS} AS last_modified
), ${appendChange('NULL', true)}`,
);

// One row more than asked tells whether there is a next page. The
// collection's counter comes from the same statement, so the same snapshot
// as the items (ListPage.position); the one-row `col` keeps it on an empty page.
export const LIST_PAGE = `
SELECT col.version, col.last_modified AS collection_modified, p.id, p.etag, p.last_modified
FROM (SELECT 1) AS one
LEFT JOIN ifmatch_collections col ON col.collection = $1
LEFT JOIN LATERAL (
  SELECT id, etag, last_modified FROM ifmatch_documents
  WHERE collection = $1 AND ($2::text IS NULL OR id > $2::text)
  ORDER BY id LIMIT $3
) p ON true
ORDER BY p.id`;

// The log after $2, at most $3 changes, and how far it was pruned, in one
// statement (one snapshot: a prune commits both at once).
export const CHANGES_PAGE = `
SELECT col.pruned_through, ch.position, ch.id, ch.etag, ch.last_modified, ch.deleted
FROM (SELECT 1) AS one
LEFT JOIN ifmatch_collections col ON col.collection = $1
LEFT JOIN LATERAL (
  SELECT position, id, etag, last_modified, deleted FROM ifmatch_changes
  WHERE collection = $1 AND position > $2
  ORDER BY position LIMIT $3
) ch ON true
ORDER BY ch.position`;

/**
 * Prunes, per collection, the prefix of the log up to its last change older
 * than $1 ms (at most $2 of the oldest changes looked at per round), and
 * records how far in pruned_through (GREATEST: never back). Run with the
 * PRUNE_LOCK held (change-log.ts), so two instances never prune at once.
 */
export const PRUNE_CHANGES = `
WITH old AS (
  SELECT collection, position FROM ifmatch_changes
  WHERE recorded_at < ${NOW_MS} - $1::bigint
  ORDER BY recorded_at LIMIT $2
), cut AS (
  SELECT collection, max(position) AS through, count(*) AS n FROM old GROUP BY collection
), gone AS (
  DELETE FROM ifmatch_changes ch USING cut
  WHERE ch.collection = cut.collection AND ch.position <= cut.through
), marked AS (
  UPDATE ifmatch_collections col SET pruned_through = GREATEST(col.pruned_through, cut.through)
  FROM cut WHERE col.collection = cut.collection
)
SELECT coalesce(sum(n), 0)::int AS looked_at FROM cut`;

export const SELECT_COLLECTION = prepared(
  'collection',
  'SELECT version, last_modified FROM ifmatch_collections WHERE collection = $1',
);

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
/** LIST_PAGE: the nulls are a collection never written, or an empty page. */
export interface ListRow {
  version: string | null;
  collection_modified: string | null;
  id: string | null;
  etag: string | null;
  last_modified: string | null;
}
/** CHANGES_PAGE: the nulls are a collection never written, or nothing after $2. */
export interface ChangeRow {
  pruned_through: string | null;
  position: string | null;
  id: string | null;
  etag: string | null;
  last_modified: string | null;
  deleted: boolean | null;
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
