// IfMatchClient: a validator cache for reads (If-None-Match -> 304 costs no
// body and no parse) joined with a conditional writer (If-Match, and on 412
// re-read, re-apply, retry with backoff) over the standard fetch.

import { type BackoffOptions, BackoffSchedule, RoundTripEstimator, sleep } from './backoff.js';
import {
  type HttpError,
  httpError,
  MaxAttemptsError,
  type PreconditionFailedError,
  type ProblemDetails,
} from './errors.js';
import { deepFreeze, jsonEqual } from './json.js';
import { ByteLru } from './lru.js';

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
  /** RFC 7240 `Prefer: return=...` for the write. */
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

interface CacheEntry {
  value: unknown;
  etag: string | undefined;
  lastModified: string | undefined;
  bytes: number;
  headers: Record<string, string>;
  /** Request header names the response's Vary named, and their values when stored. */
  varyNames: readonly string[];
  varyValues: readonly string[];
}

const JSON_TYPE = 'application/json';
/** URLs whose backoff level update() remembers (see BackoffOptions.carry). */
const MAX_LEVELS = 1024;
const MERGE_PATCH_TYPE = 'application/merge-patch+json';
const JSON_PATCH_TYPE = 'application/json-patch+json';
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// Connection-specific fields (RFC 9110 7.6.1): never part of a stored response.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

// RFC 9111 3.2: fields a 304 must not overwrite in the stored response.
const KEEP_ON_304 = new Set([
  ...HOP_BY_HOP,
  'content-length',
  'content-encoding',
  'content-type',
  'content-range',
]);

export class IfMatchClient {
  readonly #fetch: FetchLike;
  readonly #baseUrl: string | undefined;
  readonly #defaultHeaders: [string, string][];
  readonly #cache: ByteLru<CacheEntry>;
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
    this.#cache = new ByteLru(options.cacheBytes ?? 8 * 1024 * 1024);
    this.#maxAttempts = options.maxAttempts ?? 10;
    this.#backoff = options.backoff ?? {};
  }

  /** Cache statistics (bytes never exceed maxBytes). */
  get cacheStats(): { entries: number; bytes: number; maxBytes: number } {
    return { entries: this.#cache.size, bytes: this.#cache.bytes, maxBytes: this.#cache.maxBytes };
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
    const mode = options.cache ?? 'default';
    let entry = mode === 'default' ? this.#cache.get(href) : undefined;
    if (entry !== undefined && !varyMatches(entry, headers)) entry = undefined;
    if (entry?.etag !== undefined) headers.set('if-none-match', entry.etag);
    else if (entry?.lastModified !== undefined)
      headers.set('if-modified-since', entry.lastModified);

    const res = await this.#send('GET', href, headers, undefined, options.signal);
    if (res.status === 304) {
      if (entry !== undefined) {
        // The hot path: no body, no parse; refresh the stored header fields (RFC 9111 4.3.4).
        mergeNotModified(entry, res.headers);
        if (!this.#cache.has(href)) this.#cache.set(href, entry);
        return resultOf<T>(entry, 304, true);
      }
      // A 304 to validators the caller set: we hold nothing to return, so ask plainly.
      return this.get<T>(url, {
        ...options,
        headers: withoutValidators(options.headers),
        cache: 'reload',
      });
    }
    if (!res.ok) throw await this.#error('GET', href, res);
    const { value, bytes } = await readJson(res);
    const fresh = this.#entryFrom(res.headers, headers, value, bytes);
    if (mode !== 'no-store') this.#remember(href, fresh, res.headers);
    return resultOf<T>(fresh, res.status, false);
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
    if (options.prefer) headers.set('prefer', `return=${options.prefer}`);
    const body = encoder.encode(JSON.stringify(value));
    const res = await this.#send('PUT', href, headers, body, options.signal);
    if (!res.ok) throw await this.#error('PUT', href, res);
    await drain(res);
    // Cache what the server stored: our bytes, parsed back (drops undefined members, etc.).
    const stored = this.#rememberWrite(href, headers, res.headers, body);
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
    if (options.prefer) headers.set('prefer', `return=${options.prefer}`);
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
      this.#remember(href, this.#entryFrom(res.headers, headers, value, read.bytes), res.headers);
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
    const maxAttempts = options.maxAttempts ?? this.#maxAttempts;
    const backoff = options.backoff ?? this.#backoff;
    const href = this.resolve(url);
    const readOptions = { headers: options.headers, signal };

    let base = await this.get<T>(url, readOptions);
    let mine = await change(base.value);
    const failed = new Set<string>();
    let attempts = 0;
    let conflicts = 0;
    // Contention outlives one call: start where the last update() of this URL
    // ended, one doubling lower, instead of colliding up from the bottom again.
    const carried = backoff.carry === false ? 0 : (this.#levels.get(href) ?? 0);
    const schedule = new BackoffSchedule(backoff, carried - 1);
    const origin = new URL(href).origin;
    let lastError: unknown;

    for (;;) {
      signal?.throwIfAborted();
      if (base.etag === undefined) {
        throw new TypeError(`update ${href}: the server sent no ETag, so If-Match is impossible`);
      }
      attempts++;
      const headers = this.#headers(options.headers);
      headers.set('content-type', JSON_TYPE);
      headers.set('if-match', base.etag);
      if (options.preferRepresentation !== false) headers.set('prefer', 'return=representation');
      const body = encoder.encode(JSON.stringify(mine));

      let res: Response | undefined;
      const sentAt = performance.now();
      try {
        res = await this.#send('PUT', href, headers, body, signal);
        // The unit of the 'auto' backoff: how long a write takes, as seen from here.
        this.#roundTrips.sample(origin, performance.now() - sentAt);
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        lastError = error; // the request may or may not have been applied
      }

      let theirs: { value: T; etag: string | undefined } | undefined;
      let refetch = false;
      if (res?.ok) {
        await drain(res);
        const value = this.#rememberWrite(href, headers, res.headers, body) as T;
        this.#rememberLevel(href, schedule.level);
        return { value, etag: res.headers.get('etag') ?? undefined, attempts, conflicts };
      }
      if (res !== undefined) {
        if (res.status !== 412) throw await this.#error('PUT', href, res);
        const error = (await this.#error('PUT', href, res)) as PreconditionFailedError;
        lastError = error;
        conflicts++;
        failed.add(base.etag);
        const current = error.currentETag;
        if (error.hasCurrent && current !== undefined && !failed.has(current)) {
          const value = deepFreeze(error.current) as T;
          // Cache the document the 412 carried; the problem body's size bounds its own.
          const entry = this.#entryFrom(res.headers, headers, value, error.bodyBytes);
          delete entry.headers['content-type'];
          delete entry.headers['content-length'];
          this.#remember(href, entry, res.headers);
          theirs = { value, etag: current };
        } else {
          refetch = true;
        }
      } else {
        // Unknown outcome (connection lost after sending): look before calling it a conflict.
        const now = await this.get<T>(url, { ...readOptions, cache: 'reload' });
        const sent = JSON.parse(decoder.decode(body)) as unknown;
        if (jsonEqual(now.value, sent)) {
          return { value: now.value, etag: now.etag, attempts, conflicts };
        }
        if (now.etag !== base.etag) {
          conflicts++;
          failed.add(base.etag);
          theirs = now;
        }
        // else: the state is still the one we based on; the write did not land, resend it.
      }

      if (attempts >= maxAttempts) {
        throw new MaxAttemptsError(href, attempts, conflicts, { cause: lastError });
      }
      // The first 412 that carried the current document is retried at once:
      // that state is as fresh as it gets. Later conflicts back off (backoff.ts:
      // in units of the write round trip, jittered); after a sleep any state in
      // hand is stale, so re-read through the cache (a 304 and no body when the
      // 412's document is still current).
      if (!(theirs !== undefined && conflicts === 1 && schedule.sleeps === 0)) {
        await sleep(schedule.next(this.#roundTrips.get(origin)), signal);
        if (theirs !== undefined) refetch = true;
      }
      if (refetch) {
        const got = await this.get<T>(url, readOptions);
        // A cache answer could only repeat a failed tag if the server were odd; then read plainly.
        theirs =
          got.etag !== undefined && failed.has(got.etag)
            ? await this.get<T>(url, { ...readOptions, cache: 'reload' })
            : got;
      }
      if (theirs !== undefined) {
        mine = options.merge
          ? await options.merge(base.value, mine, theirs.value)
          : await change(theirs.value);
        base = { ...base, value: theirs.value, etag: theirs.etag };
      }
    }
  }

  // ---------------------------------------------------------------------------

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

  #entryFrom(
    responseHeaders: Headers,
    requestHeaders: Headers,
    value: unknown,
    bytes: number,
  ): CacheEntry {
    const headers: Record<string, string> = {};
    responseHeaders.forEach((v, k) => {
      if (!HOP_BY_HOP.has(k)) headers[k] = v;
    });
    const varyNames = parseVary(responseHeaders.get('vary'));
    return {
      value: deepFreeze(value),
      etag: responseHeaders.get('etag') ?? undefined,
      lastModified: responseHeaders.get('last-modified') ?? undefined,
      bytes,
      headers,
      varyNames,
      varyValues: varyNames.map((n) => requestHeaders.get(n) ?? ''),
    };
  }

  #remember(href: string, entry: CacheEntry, responseHeaders: Headers): void {
    const cacheControl = responseHeaders.get('cache-control') ?? '';
    const storable =
      (entry.etag !== undefined || entry.lastModified !== undefined) &&
      !entry.varyNames.includes('*') &&
      !/(?:^|,)\s*no-store\b/i.test(cacheControl);
    if (!storable || !this.#cache.set(href, entry)) this.#cache.delete(href);
  }

  /** After a successful PUT: the stored state is exactly the bytes we sent. */
  #rememberWrite(
    href: string,
    requestHeaders: Headers,
    responseHeaders: Headers,
    body: Uint8Array<ArrayBuffer>,
  ): unknown {
    const value = JSON.parse(decoder.decode(body)) as unknown;
    if (responseHeaders.get('etag') === null) {
      this.#cache.delete(href);
      return deepFreeze(value);
    }
    const previous = this.#cache.peek(href);
    const entry = this.#entryFrom(responseHeaders, requestHeaders, value, body.byteLength);
    if (previous !== undefined && entry.varyNames.length === 0) {
      // A write response may omit Vary; keep the variant key the GET established.
      entry.varyNames = previous.varyNames;
      entry.varyValues = previous.varyNames.map((n) => requestHeaders.get(n) ?? '');
    }
    this.#remember(href, entry, responseHeaders);
    return entry.value;
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

function parseVary(value: string | null): string[] {
  if (value === null) return [];
  return value
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s.length > 0);
}

function varyMatches(entry: CacheEntry, headers: Headers): boolean {
  for (let i = 0; i < entry.varyNames.length; i++) {
    const name = entry.varyNames[i]!;
    if (name === '*' || (headers.get(name) ?? '') !== entry.varyValues[i]) return false;
  }
  return true;
}

function mergeNotModified(entry: CacheEntry, headers: Headers): void {
  // Copy, not mutate: results handed out earlier keep the headers they had.
  const merged = { ...entry.headers };
  headers.forEach((v, k) => {
    if (!KEEP_ON_304.has(k)) merged[k] = v;
  });
  entry.headers = merged;
  const etag = headers.get('etag');
  if (etag !== null) entry.etag = etag;
  const lastModified = headers.get('last-modified');
  if (lastModified !== null) entry.lastModified = lastModified;
}

function withoutValidators(extra: HeadersInit | undefined): Headers {
  const headers = new Headers(extra);
  headers.delete('if-none-match');
  headers.delete('if-modified-since');
  return headers;
}
