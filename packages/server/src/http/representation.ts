import type { FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';

/**
 * Stored bytes by ETag. An ETag names one sequence of bytes for good (store
 * sequence + hash), so a cached entry can never be stale and no per-process
 * state leaks into responses: the cache only saves a read of the body column.
 */
export class BodyCache {
  readonly #lru: LRUCache<string, Buffer> | undefined;

  constructor(maxBytes: number) {
    this.#lru =
      maxBytes > 0
        ? new LRUCache<string, Buffer>({
            maxSize: maxBytes,
            // Bodies bigger than an eighth of the cache would evict too much.
            maxEntrySize: Math.max(1, Math.floor(maxBytes / 8)),
            sizeCalculation: (body) => Math.max(1, body.length),
          })
        : undefined;
  }

  get(etag: string): Buffer | undefined {
    return this.#lru?.get(etag);
  }

  set(etag: string, body: Buffer): void {
    if (this.#lru && body.length <= this.#lru.maxEntrySize) this.#lru.set(etag, body);
  }
}

/** What goes on the wire for one stored state. */
export interface Representation {
  body: Buffer;
  etag: string;
  /** ETags of the other codings of the same state (If-Match passes on any). */
  alternateETags: string[];
  headers: Record<string, string>;
}

/**
 * Chooses the representation of a stored document for this request. Identity
 * only for now; content codings (gzip, br) slot in here, each with its own
 * ETag (core's codingETag) and `Vary: Accept-Encoding`.
 */
export function selectRepresentation(
  _request: FastifyRequest,
  stored: { etag: string; body: Buffer },
): Representation {
  return { body: stored.body, etag: stored.etag, alternateETags: [], headers: {} };
}
