import type { FastifyRequest } from 'fastify';
import type { LRUCache } from 'lru-cache';
import { bytesCache, CodingCache, codingFor, codingTags, ownBytes } from './compression.js';

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

/** What goes on the wire for one stored state. */
export interface Representation {
  body: Buffer;
  etag: string;
  /** ETags of the other codings of the same state (If-Match passes on any). */
  alternateETags: string[];
  headers: Record<string, string>;
}

/**
 * Chooses the representation of a stored document for this request: identity,
 * gzip or br by Accept-Encoding (documents above the threshold), each coding
 * with its own ETag (core's codingETag) and compressed once per stored version.
 */
export async function selectRepresentation(
  request: FastifyRequest,
  stored: { etag: string; body: Buffer },
  cache: BodyCache,
): Promise<Representation> {
  const coding = codingFor(request.headers['accept-encoding'], stored.body.length);
  const tags = codingTags(stored.etag, coding);
  const body = await cache.codings.get(stored.etag, coding, stored.body);
  const headers: Record<string, string> = { vary: 'accept-encoding' };
  if (coding !== 'identity') headers['content-encoding'] = coding;
  return { body, etag: tags.etag, alternateETags: tags.alternateETags, headers };
}

/**
 * The validators of a stored state as this request sees them: the selected
 * coding's tag, the other codings' tags as alternates (If-Match passes on any).
 * Needs the size only, never the body, so a 304 stays body-free.
 */
export function representationValidators(
  request: FastifyRequest,
  v: { etag: string; size?: number | undefined },
): { etag: string; alternateETags: string[] } {
  return codingTags(v.etag, codingFor(request.headers['accept-encoding'], v.size));
}

/** Every coding's tag of a state except `etag` itself: what a write's If-Match may name. */
export function allCodingTags(etag: string): string[] {
  return codingTags(etag, 'identity').alternateETags;
}
