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
