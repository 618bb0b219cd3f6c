// The shapes the hooks speak. `DocumentApi` is implemented over
// @ifmatch/client in api.ts; the hooks only depend on this interface.

export interface DocumentSnapshot<T = unknown> {
  url: string;
  value: T;
  /** Strong ETag of this state, used for If-Match on the next write. */
  etag: string | undefined;
  /** Last-Modified as sent by the server (an HTTP-date). */
  lastModified: string | undefined;
  /**
   * This snapshot came from a 304 (the cached value, no body, no parse).
   * useDocument keeps one object per state, so for the outcome of the latest
   * request use useLastResponse(url).
   */
  notModified: boolean;
}

export interface DocumentApi {
  /** Conditional GET through the validator cache (If-None-Match). */
  get<T = unknown>(url: string): Promise<DocumentSnapshot<T>>;
  /** PUT with If-Match: `ifMatch`; a 412 rejects with a ConflictError. */
  save<T = unknown>(url: string, value: T, ifMatch: string): Promise<DocumentSnapshot<T>>;
  /** PUT with If-None-Match: * (create only); an existing document rejects with AlreadyExistsError. */
  create<T = unknown>(url: string, value: T): Promise<DocumentSnapshot<T>>;
  /** DELETE with If-Match: `ifMatch`; a 412 rejects with a ConflictError. */
  remove(url: string, ifMatch: string): Promise<void>;
  /**
   * The versions of `url` as they are saved, by anyone (the first event is the
   * current state): conditional GETs held by the server until the ETag changes
   * (If-None-Match + Prefer: wait). Runs until `signal` aborts; network errors
   * are retried underneath.
   */
  watch<T = unknown>(url: string, options: LiveOptions): AsyncIterable<WatchEvent<T>>;
  /**
   * The change feed of a collection (`collectionUrl`, e.g. `/api/notes`) after
   * `since` (the `cursor` of a listing page: nothing committed after that
   * listing is missed), in commit order; without `since`, from now. Runs until
   * `signal` aborts; a cursor the server no longer keeps rejects with the
   * client's CursorExpiredError (list again).
   */
  changes(
    collectionUrl: string,
    options: LiveOptions & { since?: string },
  ): AsyncIterable<CollectionChange>;
}

export interface LiveOptions {
  /** Ends the subscription and cancels the request in flight. */
  signal: AbortSignal;
  /** How long the server may hold each request, in seconds (`Prefer: wait`); the client's default when absent. */
  wait?: number;
}

/** One event of DocumentApi.watch: a new version, or the document is gone (404). */
export type WatchEvent<T = unknown> =
  | { kind: 'version'; snapshot: DocumentSnapshot<T> }
  | { kind: 'deleted'; url: string };

/** One committed change of a collection member (the change feed's entry). */
export interface CollectionChange {
  id: string;
  /** ETag of the new state; undefined for a deletion. */
  etag: string | undefined;
  /** Last-Modified of the new state (an HTTP-date), as the listing formats it. */
  lastModified: string;
  deleted: boolean;
  /** The feed position after this change: following from it misses nothing. */
  cursor: string;
}

/**
 * A conditional write was refused (412): someone else changed the document.
 * `current` is the current document when the 412 carried it
 * (Prefer: return=representation); `currentETag` is absent when the document
 * no longer exists.
 */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
  constructor(
    readonly url: string,
    readonly currentETag: string | undefined,
    readonly current: { value: unknown } | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      currentETag
        ? `The document changed elsewhere (now ${currentETag}); nothing was overwritten.`
        : 'The document no longer exists; nothing was written.',
      options,
    );
  }
}

/** Create-only refused: the id is taken (412 on If-None-Match: *). */
export class AlreadyExistsError extends Error {
  override readonly name = 'AlreadyExistsError';
  constructor(
    readonly url: string,
    options?: { cause?: unknown },
  ) {
    super('A document with this id already exists; nothing was overwritten.', options);
  }
}

/** 404: the document does not exist (or was deleted elsewhere). */
export class DocumentNotFoundError extends Error {
  override readonly name = 'DocumentNotFoundError';
  constructor(
    readonly url: string,
    options?: { cause?: unknown },
  ) {
    super('Not found: the document does not exist (or was deleted).', options);
  }
}
