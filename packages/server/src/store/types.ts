// The storage interface. Every backend (SQLite, PostgreSQL, or a third one)
// implements it, and every guarantee of CONTRACT.md that concerns state lives
// behind it: the precondition check and the write are one atomic step inside
// the store. test/store/conformance.ts is what an implementation must pass.
//
// What every store keeps (the HTTP layer relies on it):
// - ETags in the one format of etag.ts (documentETag, collectionETag), from one
//   write sequence per store: a tag is never reused for a URL, even after a
//   delete and re-create, and a collection's counter never goes back.
// - Every committed write (put, create, delete) of a member moves its
//   collection's counter and last-modified; a refusal or a no-op moves nothing.
// - Bodies are returned byte for byte as written.

export interface DocKey {
  collection: string;
  id: string;
}

/** What a conditional GET needs: never the body. */
export interface StoredValidators {
  /** Formatted strong entity-tag, e.g. `"1a-9f3k…"`: store sequence + hash of the stored bytes. */
  etag: string;
  /** Write time, epoch milliseconds (the wire rounds down to seconds). */
  lastModified: number;
  /**
   * Byte length of the stored body, when the store can tell without reading
   * it (optional; used for metrics of bytes a 304 did not send).
   */
  size?: number;
}

export interface StoredDocument extends StoredValidators {
  /** The stored bytes, exactly as received (PUT/POST) or as serialized once (PATCH). */
  body: Buffer;
}

/**
 * Decides a write inside the store's transaction, given the current state
 * (undefined = absent). Synchronous on purpose: it runs while the row is
 * locked, so it must not await anything.
 */
export type WriteDecision<R> =
  | { action: 'put'; body: Buffer; result?: R }
  | { action: 'delete'; result?: R }
  | { action: 'refuse'; result: R };

export type WriteDecider<R> = (current: StoredDocument | undefined) => WriteDecision<R>;

/**
 * What `write` did. `delete` of an absent document (decide saw `undefined` and
 * chose delete) is a no-op that succeeds: `previous` is undefined, nothing is
 * written and the collection's counter does not move.
 * "Make it absent" already holds, so this is neither an error nor a refusal
 * (which would need a `result` the decision may not have); a caller that must
 * answer 404 refuses in decide, as the routes do.
 */
export type WriteOutcome<R> =
  | { action: 'put'; created: boolean; doc: StoredValidators; result?: R }
  | { action: 'delete'; previous: StoredValidators | undefined; result?: R }
  | { action: 'refuse'; current: StoredDocument | undefined; result: R };

export interface ListItem {
  id: string;
  etag: string;
  lastModified: number;
}

export interface ListPage {
  items: ListItem[];
  /**
   * The collection's change position taken in the same snapshot as the items
   * (or before them): every change the items do not show is in
   * `changes(collection, { after: position })`. 0 when the collection never
   * had a change. The listing's `cursor` is made from it.
   */
  position: number;
  /** The id to pass as `after` for the next page, or null at the end. */
  next: string | null;
  /**
   * Optional: the collection's validators read in the same snapshot as the
   * items, so the listing's ETag names exactly these bytes even when a write
   * lands between the conditional check and the read.
   */
  validators?: StoredValidators;
}

/**
 * One committed change of a member, as the change feed reports it. A change
 * log per collection, in commit order, kept for the store's retention (then
 * pruned; see ChangesExpiredError). Deletions are kept as tombstones.
 */
export interface StoredChange {
  /**
   * Where the change sits in its collection's log: positions grow strictly in
   * commit order (gaps allowed, never reused). The first change is >= 1.
   */
  position: number;
  id: string;
  /** The new state's ETag; absent for a deletion. */
  etag?: string;
  /** The new state's Last-Modified (a deletion: when it was deleted), epoch ms. */
  lastModified: number;
  deleted: boolean;
}

export interface ChangePage {
  /** At most `limit` changes with position > `after`, in position order. */
  changes: StoredChange[];
  /** The position to resume after: the last change's, or `after` itself when there is none. */
  position: number;
}

/**
 * A wake-up, not data: something committed (a listener re-reads from the
 * store, which is the only source of truth). Signals of this process's own
 * commits come right after the commit; those of other instances or processes
 * sharing the storage within tens of milliseconds. Duplicates are allowed.
 * `resync`: signals may have been missed (e.g. the notification connection
 * dropped and came back): every listener must re-check what it waits for.
 */
export type ChangeSignal =
  | { kind: 'change'; collection: string; id: string; position: number }
  | { kind: 'resync' };

export interface DocumentStore {
  /**
   * A short name of the backend for /healthz and messages ("sqlite",
   * "postgres", or a third store's own); nothing branches on it.
   */
  readonly kind: string;
  /**
   * Validators only (the 304 path): must not read the body column. An
   * in-process store may answer synchronously, so a 304 costs no promise.
   */
  validators(key: DocKey): StoredValidators | undefined | Promise<StoredValidators | undefined>;
  /** The whole document. */
  read(key: DocKey): Promise<StoredDocument | undefined>;
  /**
   * Compare-and-set: reads the current state under a lock, calls `decide`,
   * applies its decision, all in one transaction. `decide` must be pure: a
   * store may call it again when it retries a transaction that lost a race
   * (for example two creates of the same absent id); only the last call's
   * decision is applied and returned. `put` on an absent document creates it
   * (`created: true`). See WriteOutcome for `delete` of an absent document.
   */
  write<R>(key: DocKey, decide: WriteDecider<R>): Promise<WriteOutcome<R>>;
  /** Create-only with a server-chosen unique id. */
  create(collection: string, body: Buffer): Promise<{ id: string } & StoredValidators>;
  /**
   * A page of members in id order (byte order of the UTF-8 ids), at most
   * `limit` (at least 1), starting after the id `after` (which need not exist).
   */
  list(collection: string, options: { after?: string; limit: number }): Promise<ListPage>;
  /**
   * The listing's validators from a per-collection change counter, without
   * reading members. Undefined when the collection never had a member.
   */
  collectionValidators(collection: string): Promise<StoredValidators | undefined>;
  /**
   * The collection's change log after `after` (0 = from the oldest change
   * kept, never expired). Throws ChangesExpiredError when changes after
   * `after` were already pruned (`after` > 0 and older than what is kept).
   */
  changes(collection: string, options: { after: number; limit: number }): Promise<ChangePage>;
  /**
   * Calls `listener` on every signal until the returned function is called.
   * Subscribe first, then re-check the store: no commit is then missed.
   */
  subscribe(listener: (signal: ChangeSignal) => void): () => void;
  /**
   * A stable name of the storage: the same for every instance and process
   * sharing it, different for another database or file (made when the schema
   * is created; `:memory:` gets a fresh one). Cursors carry it, so a cursor
   * from another database is refused rather than read as a wrong feed.
   */
  identity(): Promise<string>;
  /** Storage readiness for /healthz. */
  ready(): Promise<boolean>;
  /**
   * Optional: statements sent to a database so far, by operation (for
   * /metrics, `ifmatch_store_queries_total{op}`). In-process stores omit it.
   */
  queryCounts?(): ReadonlyMap<string, number>;
  close(): Promise<void>;
}

/**
 * The storage backend cannot answer right now (database down, connection lost,
 * pool exhausted, statement timeout). Nothing was committed, or the outcome is
 * unknown and was not acknowledged. The HTTP layer answers 503 problem+json
 * with `Retry-After: retryAfterSeconds`; the store recovers by itself.
 */
export class StoreUnavailableError extends Error {
  override readonly name = 'StoreUnavailableError';
  readonly retryAfterSeconds: number;
  constructor(message: string, options: { cause?: unknown; retryAfterSeconds?: number } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterSeconds = options.retryAfterSeconds ?? 1;
  }
}

/** changes(): the changes after the asked position were pruned (HTTP 410: list again). */
export class ChangesExpiredError extends Error {
  override readonly name = 'ChangesExpiredError';
  /** The oldest position still resumable: changes after it are all kept. */
  readonly oldest: number;
  constructor(oldest: number) {
    super(`changes before position ${oldest} are no longer kept`);
    this.oldest = oldest;
  }
}
