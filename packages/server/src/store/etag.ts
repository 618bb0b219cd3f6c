// The ETag format every store writes, so a tag means the same thing whatever
// holds the data (and a database moved between stores keeps its tags' shape).
// Byte-for-byte what the README's seed transcript shows ("1--8T_jQuXGfk").

import { hashBytes, versionETag } from '@ifmatch/core';

/**
 * A document version: the store's write sequence value (base 36, never reused
 * for a URL, even after delete and re-create) and a hash of the stored bytes.
 */
export function documentETag(sequence: number | bigint, body: Uint8Array): string {
  return versionETag(sequence, hashBytes(body));
}

/**
 * A collection listing: `c` and its change counter in decimal. The `c` keeps
 * it from ever equalling a document's tag; the counter only grows, so a
 * listing's tag is never reused.
 */
export function collectionETag(counter: number | bigint): string {
  return versionETag(`c${counter}`);
}
