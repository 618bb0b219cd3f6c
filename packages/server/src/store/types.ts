// The storage interface. Every backend (SQLite, PostgreSQL) implements it, and
// every guarantee of CONTRACT.md that concerns state lives behind it: the
// precondition check and the write are one atomic step inside the store.

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

export type WriteOutcome<R> =
  | { action: 'put'; created: boolean; doc: StoredValidators; result?: R }
  | { action: 'delete'; previous: StoredValidators; result?: R }
  | { action: 'refuse'; current: StoredDocument | undefined; result: R };

export interface ListItem {
  id: string;
  etag: string;
  lastModified: number;
}

export interface ListPage {
  items: ListItem[];
  /** The id to pass as `after` for the next page, or null at the end. */
  next: string | null;
  /**
   * Optional: the collection's validators read in the same snapshot as the
   * items, so the listing's ETag names exactly these bytes even when a write
   * lands between the conditional check and the read.
   */
  validators?: StoredValidators;
}

export interface DocumentStore {
  readonly kind: 'sqlite' | 'postgres';
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
   * (for example two creates of the same absent id).
   */
  write<R>(key: DocKey, decide: WriteDecider<R>): Promise<WriteOutcome<R>>;
  /** Create-only with a server-chosen unique id. */
  create(collection: string, body: Buffer): Promise<{ id: string } & StoredValidators>;
  /** A page of members in id order. */
  list(collection: string, options: { after?: string; limit: number }): Promise<ListPage>;
  /**
   * The listing's validators from a per-collection change counter, without
   * reading members. Undefined when the collection never had a member.
   */
  collectionValidators(collection: string): Promise<StoredValidators | undefined>;
  /** Storage readiness for /healthz. */
  ready(): Promise<boolean>;
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
