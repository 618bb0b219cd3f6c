// The client's store of responses by URL (RFC 9111), kept for their validators:
// a GET revalidates its entry with If-None-Match / If-Modified-Since, and a 304
// hands back the stored, already parsed value. Bounded by body bytes (ByteLru);
// one variant per URL, keyed by the request fields the response's Vary named.

import { deepFreeze } from './json.js';
import { ByteLru } from './lru.js';

export interface CacheEntry {
  /** The parsed document, deep-frozen: results share it. */
  value: unknown;
  etag: string | undefined;
  lastModified: string | undefined;
  bytes: number;
  /** Response header fields, lower-case names, hop-by-hop fields left out. */
  headers: Record<string, string>;
  /** Request header names the response's Vary named, and their values when stored. */
  varyNames: readonly string[];
  varyValues: readonly string[];
}

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

export class ValidatorCache {
  readonly #lru: ByteLru<CacheEntry>;

  constructor(maxBytes: number) {
    this.#lru = new ByteLru(maxBytes);
  }

  get stats(): { entries: number; bytes: number; maxBytes: number } {
    return { entries: this.#lru.size, bytes: this.#lru.bytes, maxBytes: this.#lru.maxBytes };
  }

  /** Without touching the LRU order. */
  peek(href: string): CacheEntry | undefined {
    return this.#lru.peek(href);
  }

  /** The entry a request may revalidate: same URL, and the request fields Vary names unchanged. */
  lookup(href: string, requestHeaders: Headers): CacheEntry | undefined {
    const entry = this.#lru.get(href);
    return entry !== undefined && varyMatches(entry, requestHeaders) ? entry : undefined;
  }

  delete(href: string): void {
    this.#lru.delete(href);
  }

  clear(): void {
    this.#lru.clear();
  }

  /** A 304 confirmed `entry`: refresh its header fields (RFC 9111 4.3.4), keep it stored. */
  notModified(href: string, entry: CacheEntry, responseHeaders: Headers): void {
    // Copy, not mutate: results handed out earlier keep the headers they had.
    const merged = { ...entry.headers };
    responseHeaders.forEach((v, k) => {
      if (!KEEP_ON_304.has(k)) merged[k] = v;
    });
    entry.headers = merged;
    const etag = responseHeaders.get('etag');
    if (etag !== null) entry.etag = etag;
    const lastModified = responseHeaders.get('last-modified');
    if (lastModified !== null) entry.lastModified = lastModified;
    if (!this.#lru.has(href)) this.#lru.set(href, entry);
  }

  /** An entry for `value` as this response describes it (not stored yet). */
  entryFrom(
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

  /** Stores `entry` if the response allows it (a validator, no `Vary: *`, no `no-store`); else forgets the URL. */
  store(href: string, entry: CacheEntry, responseHeaders: Headers): void {
    const cacheControl = responseHeaders.get('cache-control') ?? '';
    const storable =
      (entry.etag !== undefined || entry.lastModified !== undefined) &&
      !entry.varyNames.includes('*') &&
      !/(?:^|,)\s*no-store\b/i.test(cacheControl);
    if (!storable || !this.#lru.set(href, entry)) this.#lru.delete(href);
  }

  /**
   * After a successful PUT: the stored state is exactly the bytes sent, parsed
   * back (drops undefined members, etc.). Returns that value, frozen.
   */
  storeWritten(
    href: string,
    requestHeaders: Headers,
    responseHeaders: Headers,
    body: Uint8Array,
  ): unknown {
    const value = JSON.parse(decoder.decode(body)) as unknown;
    if (responseHeaders.get('etag') === null) {
      this.#lru.delete(href);
      return deepFreeze(value);
    }
    const previous = this.#lru.peek(href);
    const entry = this.entryFrom(responseHeaders, requestHeaders, value, body.byteLength);
    if (previous !== undefined && entry.varyNames.length === 0) {
      // A write response may omit Vary; keep the variant key the GET established.
      entry.varyNames = previous.varyNames;
      entry.varyValues = previous.varyNames.map((n) => requestHeaders.get(n) ?? '');
    }
    this.store(href, entry, responseHeaders);
    return entry.value;
  }

  /**
   * A 412 carried the current document (Prefer: return=representation): store
   * it under the 412's validators. Its size is bounded by the problem body's.
   */
  storeCurrent(
    href: string,
    requestHeaders: Headers,
    responseHeaders: Headers,
    value: unknown,
    bodyBytes: number,
  ): unknown {
    const entry = this.entryFrom(responseHeaders, requestHeaders, value, bodyBytes);
    // Those describe the problem body, not the document.
    delete entry.headers['content-type'];
    delete entry.headers['content-length'];
    this.store(href, entry, responseHeaders);
    return entry.value;
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
