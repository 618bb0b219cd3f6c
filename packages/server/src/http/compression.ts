// Content codings for documents: gzip and br negotiated by Accept-Encoding
// (RFC 9110 12.5.3), each coding compressed once per stored version (cached by
// ETag, concurrent first requests share one compression) and named by its own
// strong ETag (core's codingETag), so a 304 never touches the body.

import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import { codingETag } from '@ifmatch/core';
import { LRUCache } from 'lru-cache';

export type Coding = 'br' | 'gzip' | 'identity';

/** The codings we produce, in our order of preference on equal q-values (br is smaller). */
export const CODINGS: readonly Exclude<Coding, 'identity'>[] = ['br', 'gzip'];

/** Below this many bytes a coding saves too little to be worth a Vary'd variant. */
export const COMPRESSION_THRESHOLD = 1024;

const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * Weights of the listed codings and of `*`. A member with a malformed weight
 * is ignored rather than guessed at.
 */
function parseAcceptEncoding(value: string): { weights: Map<string, number>; star?: number } {
  const weights = new Map<string, number>();
  let star: number | undefined;
  for (const member of value.split(',')) {
    const [rawName = '', ...params] = member.split(';');
    const name = rawName.trim().toLowerCase();
    if (name === '') continue;
    let weight = 1;
    let valid = true;
    for (const param of params) {
      const eq = param.indexOf('=');
      if (eq === -1 || param.slice(0, eq).trim().toLowerCase() !== 'q') continue;
      const q = param.slice(eq + 1).trim();
      if (QVALUE.test(q)) weight = Number(q);
      else valid = false;
    }
    if (!valid) continue;
    // "x-gzip" is gzip (RFC 9110 8.4.1.3).
    const coding = name === 'x-gzip' ? 'gzip' : name;
    if (coding === '*') star = Math.max(star ?? 0, weight);
    else weights.set(coding, Math.max(weights.get(coding) ?? 0, weight));
  }
  return star === undefined ? { weights } : { weights, star };
}

/**
 * The coding to send. No Accept-Encoding (or an empty one): identity. A coding
 * not listed takes `*`'s weight; identity is acceptable unless excluded, but
 * loses to any coding the client weights above zero unless weighted higher.
 * When nothing is acceptable we still send identity (12.5.3 allows it).
 */
export function negotiateEncoding(accept: string | readonly string[] | undefined): Coding {
  if (accept === undefined) return 'identity';
  const value = typeof accept === 'string' ? accept : accept.join(',');
  if (value.trim() === '') return 'identity';
  const { weights, star } = parseAcceptEncoding(value);
  let best: Coding = 'identity';
  let bestWeight = 0;
  for (const coding of CODINGS) {
    const w = weights.get(coding) ?? star ?? 0;
    if (w > bestWeight) {
      best = coding;
      bestWeight = w;
    }
  }
  const identity = weights.get('identity');
  if (best !== 'identity' && identity !== undefined && identity > bestWeight) return 'identity';
  return best;
}

/** The coding a document of `size` bytes is sent in for this Accept-Encoding. */
export function codingFor(
  accept: string | readonly string[] | undefined,
  size: number | undefined,
): Coding {
  // Size unknown: decide as for a large document; the tags of all codings pass If-Match anyway.
  if (size !== undefined && size < COMPRESSION_THRESHOLD) return 'identity';
  return negotiateEncoding(accept);
}

/** The tag of `coding` and the tags of the other codings of the same state. */
export function codingTags(
  etag: string,
  coding: Coding,
): { etag: string; alternateETags: string[] } {
  const all = ['identity' as const, ...CODINGS].map((c) => ({ c, tag: codingETag(etag, c) }));
  return {
    etag: codingETag(etag, coding),
    alternateETags: all.filter((x) => x.c !== coding).map((x) => x.tag),
  };
}

const gzipAsync = promisify(gzip);
const brotliAsync = promisify(brotliCompress);

/**
 * A copy that owns exactly its bytes when `body` is a view on a larger
 * ArrayBuffer. zlib's output and small request bodies are views on 8-16 KiB
 * pool or chunk buffers: a cache holding the view pins the whole buffer while
 * counting only the view's length (a 55-byte gzip body pinned 8 KiB).
 */
export function ownBytes(body: Buffer): Buffer {
  if (body.byteOffset === 0 && body.byteLength === body.buffer.byteLength) return body;
  const copy = Buffer.allocUnsafeSlow(body.length);
  body.copy(copy);
  return copy;
}

function compress(coding: Exclude<Coding, 'identity'>, body: Buffer): Promise<Buffer> {
  // High levels are affordable: each version is compressed once (br 11 is not: seconds per MB).
  if (coding === 'gzip') return gzipAsync(body, { level: 9 });
  return brotliAsync(body, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: 9,
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      [constants.BROTLI_PARAM_SIZE_HINT]: body.length,
    },
  });
}

/**
 * An LRU of byte buffers bounded by their total size (undefined when
 * `maxBytes` is 0: caching off). No entry may exceed 1/`entryShare` of the
 * budget, so one huge body cannot evict everything else.
 */
export function bytesCache(
  maxBytes: number,
  entryShare: number,
): LRUCache<string, Buffer> | undefined {
  if (maxBytes <= 0) return undefined;
  return new LRUCache<string, Buffer>({
    maxSize: maxBytes,
    maxEntrySize: Math.max(1, Math.floor(maxBytes / entryShare)),
    sizeCalculation: (body) => Math.max(1, body.length),
  });
}

/**
 * Coded bodies by (ETag, coding). An ETag names one sequence of bytes for
 * good, so an entry is never stale. Compression runs off the event loop
 * (zlib's thread pool) and at most once per key at a time.
 */
export class CodingCache {
  readonly #lru: LRUCache<string, Buffer> | undefined;
  readonly #pending = new Map<string, Promise<Buffer>>();
  /** How many compressions ran (for tests and metrics: never one per request). */
  compressions = 0;

  constructor(maxBytes: number) {
    this.#lru = bytesCache(maxBytes, 4);
  }

  /** The coded body if it is already cached; never compresses. */
  peek(etag: string, coding: Exclude<Coding, 'identity'>): Buffer | undefined {
    return this.#lru?.get(`${coding} ${etag}`);
  }

  async get(etag: string, coding: Coding, body: Buffer): Promise<Buffer> {
    if (coding === 'identity') return body;
    const key = `${coding} ${etag}`;
    const hit = this.#lru?.get(key);
    if (hit) return hit;
    let pending = this.#pending.get(key);
    if (!pending) {
      this.compressions++;
      pending = compress(coding, body).finally(() => this.#pending.delete(key));
      this.#pending.set(key, pending);
      const done = pending;
      done.then(
        (coded) => {
          if (this.#lru && coded.length <= this.#lru.maxEntrySize)
            this.#lru.set(key, ownBytes(coded));
        },
        () => {},
      );
    }
    return pending;
  }
}
