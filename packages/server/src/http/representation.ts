import type { LRUCache } from 'lru-cache';
import { bytesCache, CodingCache, ownBytes } from './compression.js';

/**
 * Stored bytes by ETag. An ETag names one sequence of bytes for good (store
 * sequence + hash), so a cached entry can never be stale and no per-process
 * state leaks into responses: the cache only saves a read of the body column.
 */
export class BodyCache {
  readonly #lru: LRUCache<string, Buffer> | undefined;
  /** gzip/br bodies by ETag, same budget: each coding is compressed once per stored version. */
  readonly codings: CodingCache;

  constructor(maxBytes: number) {
    this.codings = new CodingCache(maxBytes);
    // Bodies bigger than an eighth of the cache would evict too much.
    this.#lru = bytesCache(maxBytes, 8);
  }

  get(etag: string): Buffer | undefined {
    return this.#lru?.get(etag);
  }

  set(etag: string, body: Buffer): void {
    if (this.#lru && body.length <= this.#lru.maxEntrySize) this.#lru.set(etag, ownBytes(body));
  }
}
