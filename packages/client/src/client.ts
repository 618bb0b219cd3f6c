// IfMatchClient: the request methods over the standard fetch. Reads go through
// the validator cache (validator-cache.ts: If-None-Match -> a 304 costs no body
// and no parse); writes are conditional (If-Match); update() is the retry loop
// of update-loop.ts (on 412 re-read, re-apply, retry with backoff).

import { type BackoffOptions, BackoffSchedule, RoundTripEstimator } from './backoff.js';
import { type CollectionChange, type FeedPage, type Fetched, runFeed } from './change-feed.js';
import {
  CursorExpiredError,
  type HttpError,
  httpError,
  type PreconditionFailedError,
  type ProblemDetails,
} from './errors.js';
import { deepFreeze } from './json.js';
import { LivePacer, liveIterator, retryableStatus, waitApplied, waitSeconds } from './live.js';
import { runUpdate, type Sent } from './update-loop.js';
import { type CacheEntry, ValidatorCache } from './validator-cache.js';
import { type Polled, runWatch, type WatchEvent, type WatchedVersion } from './watch.js';

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface IfMatchClientOptions {
  /** Base for relative URLs. In a browser, relative URLs resolve against the page by default. */
  baseUrl?: string;
  /** The fetch to use (default: globalThis.fetch). */
  fetch?: FetchLike;
  /** Bound of the validator cache, in body bytes (default 8 MiB; 0 disables caching). */
  cacheBytes?: number;
  /** Headers sent with every request. */
  headers?: HeadersInit;
  /** update(): attempts before MaxAttemptsError (default 10). */
  maxAttempts?: number;
  /** update(): capped exponential backoff with jitter, scaled to the write round trip by default. */
  backoff?: BackoffOptions;
}

export interface RequestOptions {
  headers?: HeadersInit;
  signal?: AbortSignal;
}

export interface GetOptions extends RequestOptions {
  /**
   * 'default': revalidate the cached entry (If-None-Match / If-Modified-Since) and store the answer.
   * 'reload': send no validators, store the answer. 'no-store': bypass the cache entirely.
   */
  cache?: 'default' | 'reload' | 'no-store';
}

export interface GetResult<T = unknown> {
  /** The parsed document. Deep-frozen: it is shared with the cache. */
  value: T;
  etag: string | undefined;
  lastModified: string | undefined;
  /** 200, or 304 when the server confirmed the cached value. */
  status: number;
  /** True when the value came from the cache after a 304 (no body was transferred or parsed). */
  fromCache: boolean;
  /** Size of the document's body in bytes (as decoded by fetch). */
  bytes: number;
  /** Response header fields of the stored entry, lower-case names (after merging any 304). */
  headers: Readonly<Record<string, string>>;
}

export interface WriteOptions extends RequestOptions {
  /**
   * The entity-tag to send in If-Match. Default: the cached ETag of the URL
   * (for remove/patch, a GET through the cache learns it when none is cached).
   * `false` sends the write without any precondition.
   */
  ifMatch?: string | false;
  /**
   * RFC 7240 `Prefer: return=...` for the write. Default: `representation`
   * when a precondition is sent (a 412 then carries `current`), else none.
   */
  prefer?: 'minimal' | 'representation';
}

export interface PutOptions extends WriteOptions {
  /** '*' = create only (412 when the document exists). */
  ifNoneMatch?: '*';
}

export interface WriteResult<T = unknown> {
  /** The stored document when known (the value sent for PUT; the server's result for PATCH). */
  value: T | undefined;
  etag: string | undefined;
  lastModified: string | undefined;
  status: number;
  created: boolean;
}

export type Change<T> = (current: T) => T | Promise<T>;
export type Merge<T> = (base: T, mine: T, theirs: T) => T | Promise<T>;

export interface UpdateOptions<T> extends RequestOptions {
  /** Called on a conflict instead of re-applying `change` to the current state. */
  merge?: Merge<T>;
  maxAttempts?: number;
  backoff?: BackoffOptions;
  /** Ask for the current document in the 412 (default true): saves the re-GET. */
  preferRepresentation?: boolean;
}

export interface UpdateResult<T = unknown> {
  value: T;
  etag: string | undefined;
  /** PUT attempts made, 1 when there was no conflict. */
  attempts: number;
  /** 412s met (and unknown outcomes that turned out to be conflicts). */
  conflicts: number;
}

export interface WatchOptions {
  /** Ends the iteration (cleanly: no error) and cancels the request in flight. */
  signal?: AbortSignal;
  /** `Prefer: wait` in seconds (default 30; the server may cap it). 0 = plain polling. */
  wait?: number;
  headers?: HeadersInit;
  /**
   * Spacing of requests the server answered without waiting, and of retries
   * after network errors and 5xx (default: decorrelated jitter from 500 ms,
   * capped at 15 s).
   */
  backoff?: BackoffOptions;
}

export interface ChangesOptions extends WatchOptions {
  /** The cursor to follow from ('0' = the oldest change kept). Default: now (the listing's cursor). */
  since?: string;
  /** Changes per page (the server's default when absent). */
  limit?: number;
}

/** One GET through the validator cache (IfMatchClient.#read). */
type Read =
  /** 304: the stored entry is current. */
  | { kind: 'cached'; entry: CacheEntry; res: Response }
  /** 2xx: read, parsed (and stored when allowed). */
  | { kind: 'fresh'; entry: CacheEntry; res: Response }
  /** 304 to validators the cache did not set: there is no stored value to return. */
  | { kind: 'unconfirmed'; res: Response }
  /** Any other status, body unread. */
  | { kind: 'failed'; res: Response };

const JSON_TYPE = 'application/json';
/** URLs whose backoff level update() remembers (see BackoffOptions.carry). */
const MAX_LEVELS = 1024;
const MERGE_PATCH_TYPE = 'application/merge-patch+json';
const JSON_PATCH_TYPE = 'application/json-patch+json';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export class IfMatchClient {
  readonly #fetch: FetchLike;
  readonly #baseUrl: string | undefined;
  readonly #defaultHeaders: [string, string][];
  readonly #cache: ValidatorCache;
  readonly #maxAttempts: number;
  readonly #backoff: BackoffOptions;
  readonly #roundTrips = new RoundTripEstimator();
  readonly #levels = new Map<string, number>();

  constructor(options: IfMatchClientOptions = {}) {
    // Bind: browsers throw "Illegal invocation" when fetch is called off window.
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#baseUrl = options.baseUrl;
    const defaults = new Headers({ accept: JSON_TYPE });
    if (options.headers) for (const [k, v] of new Headers(options.headers)) defaults.set(k, v);
    this.#defaultHeaders = [...defaults];
    this.#cache = new ValidatorCache(options.cacheBytes ?? 8 * 1024 * 1024);
    this.#maxAttempts = options.maxAttempts ?? 10;
    this.#backoff = options.backoff ?? {};
  }

  /** Cache statistics (bytes never exceed maxBytes). */
  get cacheStats(): { entries: number; bytes: number; maxBytes: number } {
    return this.#cache.stats;
  }

  /** The cached entry of a URL, without touching the LRU order. */
  cached(url: string): { value: unknown; etag: string | undefined; bytes: number } | undefined {
    const entry = this.#cache.peek(this.resolve(url));
    return entry && { value: entry.value, etag: entry.etag, bytes: entry.bytes };
  }

  invalidate(url: string): void {
    this.#cache.delete(this.resolve(url));
  }

  clearCache(): void {
    this.#cache.clear();
  }

  resolve(url: string): string {
    if (this.#baseUrl !== undefined) return new URL(url, this.#baseUrl).href;
    const here = (globalThis as { location?: { href: string } }).location?.href;
    return here === undefined ? url : new URL(url, here).href;
  }

  async get<T = unknown>(url: string, options: GetOptions = {}): Promise<GetResult<T>> {
    const href = this.resolve(url);
    const headers = this.#headers(options.headers);
    const read = await this.#read(href, headers, options.cache ?? 'default', options.signal);
    if (read.kind === 'unconfirmed') {
      // A 304 to validators the caller set: we hold nothing to return, so ask plainly.
      return this.get<T>(url, {
        ...options,
        headers: withoutValidators(options.headers),
        cache: 'reload',
      });
    }
    if (read.kind === 'failed') throw await this.#error('GET', href, read.res);
    return resultOf<T>(read.entry, read.res.status, read.kind === 'cached');
  }

  /**
   * The versions of a document as they happen: first the current one (a GET
   * through the cache), then each new one, announced by the server through a
   * conditional long-poll (If-None-Match + `Prefer: wait`): a 304 after the
   * wait costs no body and no parse and yields nothing. A deletion yields
   * `{ deleted: true }` once, then the document is polled (backoff-spaced)
   * until it exists again. Network errors and 5xx are retried with backoff;
   * other errors end the iteration with the HttpError. Aborting `signal`, or
   * leaving the `for await`, ends it at once and cancels the request in flight.
   */
  watch<T = unknown>(
    url: string,
    options: WatchOptions = {},
  ): AsyncIterableIterator<WatchEvent<T>> {
    const href = this.resolve(url);
    const wait = waitSeconds(options.wait);
    const pacer = new LivePacer(options.backoff);
    return liveIterator(options.signal, (signal) =>
      runWatch<T>({
        signal,
        wait,
        pacer,
        poll: (seconds, held) => this.#poll<T>(href, options.headers, seconds, held, signal),
      }),
    );
  }

  /**
   * A collection's changes in commit order, from the feed
   * (`GET {collection}?since=CURSOR`, long-polled with `Prefer: wait`).
   * Without `since`, from now: the listing's cursor. Resumes after network
   * errors and 5xx from the last cursor (no gap, no duplicate). A cursor the
   * server no longer keeps throws CursorExpiredError (list again). Aborting
   * `signal`, or leaving the `for await`, ends it at once.
   */
  changes(
    collection: string,
    options: ChangesOptions = {},
  ): AsyncIterableIterator<CollectionChange> {
    const href = this.resolve(collection);
    const wait = waitSeconds(options.wait);
    const pacer = new LivePacer(options.backoff);
    const limit: Record<string, string> =
      options.limit === undefined ? {} : { limit: String(options.limit) };
    return liveIterator(options.signal, (signal) =>
      runFeed({
        signal,
        wait,
        pacer,
        since: options.since,
        start: () => this.#listingCursor(withQuery(href, { limit: '1' }), options.headers, signal),
        page: (cursor, seconds) =>
          this.#feedPage(
            withQuery(href, { since: cursor, ...limit }),
            cursor,
            options.headers,
            seconds,
            signal,
          ),
      }),
    );
  }

  async put<T>(url: string, value: T, options: PutOptions = {}): Promise<WriteResult<T>> {
    const href = this.resolve(url);
    const headers = this.#headers(options.headers);
    headers.set('content-type', JSON_TYPE);
    if (options.ifNoneMatch !== undefined) headers.set('if-none-match', options.ifNoneMatch);
    const ifMatch =
      options.ifMatch ??
      (options.ifNoneMatch === undefined ? this.#cache.peek(href)?.etag : undefined);
    if (ifMatch) headers.set('if-match', ifMatch);
    preferFor(headers, options.prefer);
    const body = encoder.encode(JSON.stringify(value));
    const res = await this.#send('PUT', href, headers, body, options.signal);
    if (!res.ok) throw await this.#error('PUT', href, res);
    await drain(res);
    // Cache what the server stored: our bytes, parsed back (drops undefined members, etc.).
    const stored = this.#cache.storeWritten(href, headers, res.headers, body);
    return {
      value: stored as T,
      etag: res.headers.get('etag') ?? undefined,
      lastModified: res.headers.get('last-modified') ?? undefined,
      status: res.status,
      created: res.status === 201,
    };
  }

  /** Create only: PUT with `If-None-Match: *`; 412 (PreconditionFailedError) when it exists. */
  create<T>(url: string, value: T, options: RequestOptions = {}): Promise<WriteResult<T>> {
    return this.put(url, value, { ...options, ifNoneMatch: '*', ifMatch: false });
  }

  /** DELETE with If-Match: the given ETag, else the cached one, else the one a GET reports. */
  async remove(url: string, options: WriteOptions = {}): Promise<{ status: number }> {
    const href = this.resolve(url);
    const headers = this.#headers(options.headers);
    const ifMatch = await this.#ifMatchFor(url, href, options);
    if (ifMatch) headers.set('if-match', ifMatch);
    preferFor(headers, options.prefer);
    const res = await this.#send('DELETE', href, headers, undefined, options.signal);
    this.#cache.delete(href);
    if (!res.ok) throw await this.#error('DELETE', href, res);
    await drain(res);
    return { status: res.status };
  }

  /**
   * PATCH with If-Match: an array is a JSON Patch (RFC 6902), an object a JSON
   * Merge Patch (RFC 7396).
   */
  async patch<T = unknown>(
    url: string,
    patch: Record<string, unknown> | readonly unknown[],
    options: WriteOptions = {},
  ): Promise<WriteResult<T>> {
    const href = this.resolve(url);
    const headers = this.#headers(options.headers);
    headers.set('content-type', Array.isArray(patch) ? JSON_PATCH_TYPE : MERGE_PATCH_TYPE);
    const ifMatch = await this.#ifMatchFor(url, href, options);
    if (ifMatch) headers.set('if-match', ifMatch);
    preferFor(headers, options.prefer);
    const body = encoder.encode(JSON.stringify(patch));
    const res = await this.#send('PATCH', href, headers, body, options.signal);
    if (!res.ok) {
      this.#cache.delete(href);
      throw await this.#error('PATCH', href, res);
    }
    let value: unknown;
    const etag = res.headers.get('etag') ?? undefined;
    if (res.status === 200) {
      const read = await readJson(res);
      value = read.value;
      const entry = this.#cache.entryFrom(res.headers, headers, value, read.bytes);
      this.#cache.store(href, entry, res.headers);
    } else {
      await drain(res);
      this.#cache.delete(href); // 204: the new state's bytes are unknown here
    }
    return {
      value: value as T | undefined,
      etag,
      lastModified: res.headers.get('last-modified') ?? undefined,
      status: res.status,
      created: false,
    };
  }

  /**
   * Read-modify-write that never loses an edit: GET (through the cache), apply
   * `change`, PUT with If-Match. On 412 take the current state (from the 412's
   * body when the server sent it, else a re-GET), re-apply `change` (or call
   * `merge`), back off and retry. An If-Match that failed is never sent again.
   */
  async update<T = unknown>(
    url: string,
    change: Change<T>,
    options: UpdateOptions<T> = {},
  ): Promise<UpdateResult<T>> {
    const { signal } = options;
    const backoff = options.backoff ?? this.#backoff;
    const href = this.resolve(url);
    const readOptions = { headers: options.headers, signal };
    const base = await this.get<T>(url, readOptions);
    // Contention outlives one call: start where the last update() of this URL
    // ended, one doubling lower, instead of colliding up from the bottom again.
    const carried = backoff.carry === false ? 0 : (this.#levels.get(href) ?? 0);
    const schedule = new BackoffSchedule(backoff, carried - 1);
    const origin = new URL(href).origin;
    const done = await runUpdate<T>(
      {
        href,
        change,
        merge: options.merge,
        maxAttempts: options.maxAttempts ?? this.#maxAttempts,
        schedule,
        signal,
        read: (reload) =>
          this.get<T>(url, reload ? { ...readOptions, cache: 'reload' } : readOptions),
        send: (etag, mine) => this.#sendIfMatch<T>(href, etag, mine, origin, options),
        roundTrip: () => this.#roundTrips.get(origin),
      },
      base,
    );
    if (done.acknowledged) this.#rememberLevel(href, schedule.level);
    return {
      value: done.value,
      etag: done.etag,
      attempts: done.attempts,
      conflicts: done.conflicts,
    };
  }

  /** One PUT of update(): its answer as an outcome the loop decides on. */
  async #sendIfMatch<T>(
    href: string,
    etag: string,
    mine: T,
    origin: string,
    options: UpdateOptions<T>,
  ): Promise<Sent<T>> {
    const { signal } = options;
    const headers = this.#headers(options.headers);
    headers.set('content-type', JSON_TYPE);
    headers.set('if-match', etag);
    if (options.preferRepresentation !== false) headers.set('prefer', 'return=representation');
    const body = encoder.encode(JSON.stringify(mine));
    let res: Response;
    const sentAt = performance.now();
    try {
      res = await this.#send('PUT', href, headers, body, signal);
      // The unit of the 'auto' backoff: how long a write takes, as seen from here.
      this.#roundTrips.sample(origin, performance.now() - sentAt);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      return { outcome: 'lost', error }; // the request may or may not have been applied
    }
    if (res.ok) {
      await drain(res);
      const value = this.#cache.storeWritten(href, headers, res.headers, body) as T;
      return { outcome: 'stored', value, etag: res.headers.get('etag') ?? undefined };
    }
    if (res.status !== 412) throw await this.#error('PUT', href, res);
    const error = (await this.#error('PUT', href, res)) as PreconditionFailedError;
    const current =
      error.hasCurrent && error.currentETag !== undefined
        ? {
            value: deepFreeze(error.current) as T,
            etag: error.currentETag,
            keep: () =>
              this.#cache.storeCurrent(
                href,
                headers,
                res.headers,
                error.current,
                error.bodyBytes,
              ) as T,
          }
        : undefined;
    return { outcome: 'conflict', error, current };
  }

  // ---------------------------------------------------------------------------

  /**
   * One GET through the validator cache: the stored entry's validators go in
   * the request, a 304 confirms the entry (no body, no parse), a 2xx is parsed
   * and stored (unless `no-store`). Any other status comes back unread.
   */
  async #read(
    href: string,
    headers: Headers,
    mode: NonNullable<GetOptions['cache']>,
    signal: AbortSignal | undefined,
  ): Promise<Read> {
    const entry = mode === 'default' ? this.#cache.lookup(href, headers) : undefined;
    if (entry?.etag !== undefined) headers.set('if-none-match', entry.etag);
    else if (entry?.lastModified !== undefined)
      headers.set('if-modified-since', entry.lastModified);

    const res = await this.#send('GET', href, headers, undefined, signal);
    if (res.status === 304) {
      if (entry === undefined) return { kind: 'unconfirmed', res };
      // The hot path: no body, no parse; refresh the stored header fields (RFC 9111 4.3.4).
      this.#cache.notModified(href, entry, res.headers);
      return { kind: 'cached', entry, res };
    }
    if (!res.ok) return { kind: 'failed', res };
    const { value, bytes } = await readJson(res);
    const fresh = this.#cache.entryFrom(res.headers, headers, value, bytes);
    if (mode !== 'no-store') this.#cache.store(href, fresh, res.headers);
    return { kind: 'fresh', entry: fresh, res };
  }

  /**
   * One request of watch(): a GET through the cache with `Prefer: wait`. When
   * the cache does not hold the watched version (evicted, or too big for it),
   * If-None-Match names `held`, and a 304 means "still that one".
   */
  async #poll<T>(
    href: string,
    extra: HeadersInit | undefined,
    wait: number,
    held: WatchedVersion<T> | undefined,
    signal: AbortSignal,
  ): Promise<Polled<T>> {
    const headers = this.#headers(withoutValidators(extra));
    if (wait > 0) headers.set('prefer', `wait=${wait}`);
    if (held?.etag !== undefined) headers.set('if-none-match', held.etag);
    let read: Read;
    try {
      read = await this.#read(href, headers, 'default', signal);
    } catch (error) {
      if (signal.aborted || error instanceof SyntaxError) throw error;
      return { failed: error }; // no answer, or a body cut short
    }
    const waited = waitApplied(read.res.headers);
    if (read.kind === 'cached' || read.kind === 'fresh') {
      const { entry } = read;
      const version = {
        deleted: false as const,
        value: entry.value as T,
        etag: entry.etag,
        lastModified: entry.lastModified,
      };
      return { state: version, waited };
    }
    if (read.kind === 'unconfirmed') {
      if (held?.etag !== undefined) return { state: 'unchanged', waited };
      throw await this.#error('GET', href, read.res); // a 304 to a request without validators
    }
    const { res } = read;
    if (res.status === 404) {
      await drain(res);
      this.#cache.delete(href);
      return { state: 'gone', waited };
    }
    const error = await this.#error('GET', href, res);
    if (retryableStatus(res.status)) return { failed: error };
    throw error;
  }

  /** The `cursor` member of a collection's listing: the feed's "now". */
  async #listingCursor(
    href: string,
    extra: HeadersInit | undefined,
    signal: AbortSignal,
  ): Promise<Fetched<string>> {
    const body = await this.#fetchJson(href, this.#headers(extra), signal);
    if ('failed' in body) return body;
    const cursor = (body.ok.value as { cursor?: unknown } | null)?.cursor;
    if (typeof cursor !== 'string') {
      throw new TypeError(
        `GET ${href}: the listing has no cursor (a server without a change feed?)`,
      );
    }
    return { ok: cursor };
  }

  /** One page of a change feed; 410 throws CursorExpiredError. */
  async #feedPage(
    href: string,
    since: string,
    extra: HeadersInit | undefined,
    wait: number,
    signal: AbortSignal,
  ): Promise<Fetched<FeedPage>> {
    const headers = this.#headers(extra);
    if (wait > 0) headers.set('prefer', `wait=${wait}`);
    const body = await this.#fetchJson(href, headers, signal, since);
    if ('failed' in body) return body;
    const page = feedPageOf(body.ok.value, waitApplied(body.ok.res.headers));
    if (page === undefined) throw new TypeError(`GET ${href}: not a change feed page`);
    return { ok: page };
  }

  /**
   * A GET whose 2xx body is JSON, outside the validator cache (feed pages are
   * no-store). Network errors and 5xx/429 come back as `failed`; a 410 of a
   * feed (`since` given) throws CursorExpiredError; any other error throws.
   */
  async #fetchJson(
    href: string,
    headers: Headers,
    signal: AbortSignal,
    since?: string,
  ): Promise<Fetched<{ value: unknown; res: Response }>> {
    let res: Response;
    let value: unknown;
    try {
      res = await this.#send('GET', href, headers, undefined, signal);
      if (res.ok) value = (await readJson(res)).value;
    } catch (error) {
      if (signal.aborted || error instanceof SyntaxError) throw error;
      return { failed: error };
    }
    if (res.ok) return { ok: { value, res } };
    const error = await this.#error('GET', href, res);
    if (res.status === 410 && since !== undefined) {
      throw new CursorExpiredError(href, since, error.problem, res.headers);
    }
    if (retryableStatus(res.status)) return { failed: error };
    throw error;
  }

  /** The backoff level an update() of `href` ended at; bounded, oldest first out. */
  #rememberLevel(href: string, level: number): void {
    this.#levels.delete(href);
    if (level <= 0) return;
    this.#levels.set(href, level);
    if (this.#levels.size > MAX_LEVELS) {
      const oldest = this.#levels.keys().next().value;
      if (oldest !== undefined) this.#levels.delete(oldest);
    }
  }

  #headers(extra: HeadersInit | undefined): Headers {
    const headers = new Headers(this.#defaultHeaders);
    if (extra !== undefined) for (const [k, v] of new Headers(extra)) headers.set(k, v);
    return headers;
  }

  async #send(
    method: string,
    href: string,
    headers: Headers,
    body: Uint8Array<ArrayBuffer> | undefined,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    signal?.throwIfAborted();
    try {
      // cache: 'no-store' keeps a browser's HTTP cache out of the way: this client owns its store.
      const init: RequestInit = { method, headers, cache: 'no-store' };
      if (body !== undefined) init.body = body;
      if (signal !== undefined) init.signal = signal;
      return await this.#fetch(href, init);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw error;
    }
  }

  async #error(method: string, href: string, res: Response): Promise<HttpError> {
    let problem: ProblemDetails = {};
    let bytes = 0;
    try {
      const buffer = await res.arrayBuffer();
      bytes = buffer.byteLength;
      const text = decoder.decode(buffer);
      const type = res.headers.get('content-type') ?? '';
      if (text.length > 0 && /json/i.test(type)) {
        const parsed = JSON.parse(text) as unknown;
        if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
          problem = parsed as ProblemDetails;
        }
      } else if (text.length > 0) {
        problem = { detail: text.slice(0, 500) };
      }
    } catch {
      // An unreadable error body still yields a typed error with the status.
    }
    const error = httpError(method, href, res.status, problem, res.headers);
    error.bodyBytes = bytes;
    return error;
  }

  async #ifMatchFor(url: string, href: string, options: WriteOptions): Promise<string | undefined> {
    if (options.ifMatch === false) return undefined;
    if (options.ifMatch !== undefined) return options.ifMatch;
    const cached = this.#cache.peek(href)?.etag;
    if (cached !== undefined) return cached;
    return (await this.get(url, { headers: options.headers, signal: options.signal })).etag;
  }
}

/**
 * RFC 7240 Prefer for a write: the `prefer` asked for, else (and unless the
 * caller's headers say otherwise) `return=representation` on a conditional
 * write, so a 412 carries the current document (PreconditionFailedError.current)
 * and the caller can merge without another GET. It costs nothing on success:
 * the server sends the new representation by default anyway (DELETE: 204).
 */
function preferFor(headers: Headers, prefer: WriteOptions['prefer']): void {
  if (prefer !== undefined) headers.set('prefer', `return=${prefer}`);
  else if (!headers.has('prefer') && (headers.has('if-match') || headers.has('if-none-match'))) {
    headers.set('prefer', 'return=representation');
  }
}

function resultOf<T>(entry: CacheEntry, status: number, fromCache: boolean): GetResult<T> {
  return {
    value: entry.value as T,
    etag: entry.etag,
    lastModified: entry.lastModified,
    status,
    fromCache,
    bytes: entry.bytes,
    headers: entry.headers,
  };
}

async function readJson(res: Response): Promise<{ value: unknown; bytes: number }> {
  const buffer = await res.arrayBuffer();
  if (buffer.byteLength === 0) return { value: undefined, bytes: 0 };
  return { value: JSON.parse(decoder.decode(buffer)) as unknown, bytes: buffer.byteLength };
}

/** Consume a body we do not need so the connection can be reused; a failure here changes nothing. */
async function drain(res: Response): Promise<void> {
  if (res.body === null) return;
  try {
    await res.arrayBuffer();
  } catch {
    // The status line already told us the outcome.
  }
}

function withoutValidators(extra: HeadersInit | undefined): Headers {
  const headers = new Headers(extra);
  headers.delete('if-none-match');
  headers.delete('if-modified-since');
  return headers;
}

/** `href` with these query parameters set (relative URLs stay relative). */
function withQuery(href: string, params: Record<string, string>): string {
  const absolute = /^[a-z][a-z\d+.-]*:/i.test(href);
  const url = new URL(href, absolute ? undefined : 'http://relative.invalid');
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  url.hash = '';
  return absolute ? url.href : `${url.pathname}${url.search}`;
}

/** A feed page's JSON, checked: `{ changes: [{ id, etag?, lastModified, deleted }], cursor }`. */
function feedPageOf(body: unknown, waited: boolean): FeedPage | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const { changes, cursor } = body as { changes?: unknown; cursor?: unknown };
  if (!Array.isArray(changes) || typeof cursor !== 'string') return undefined;
  const out: FeedPage['changes'][number][] = [];
  const cursors: (string | undefined)[] = [];
  for (const raw of changes as unknown[]) {
    if (typeof raw !== 'object' || raw === null) return undefined;
    const c = raw as Record<string, unknown>;
    if (typeof c.id !== 'string') return undefined;
    const deleted = c.deleted === true;
    out.push({
      id: c.id,
      ...(!deleted && typeof c.etag === 'string' ? { etag: c.etag } : {}),
      lastModified: typeof c.lastModified === 'string' ? c.lastModified : '',
      deleted,
    });
    cursors.push(typeof c.cursor === 'string' ? c.cursor : undefined);
  }
  return { changes: out, cursors, cursor, waited };
}
