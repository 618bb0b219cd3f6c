// Validator generation: entity-tags from a version, from bytes, from JSON, and
// their weak and per-content-coding variants.
import { canonicalJson } from './canonical-json.js';
import { formatEntityTag, isOpaque, parseEntityTag } from './entity-tag.js';

const encoder = new TextEncoder();

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

function base64url64(hi: number, lo: number): string {
  const bytes = [
    hi >>> 24,
    (hi >>> 16) & 255,
    (hi >>> 8) & 255,
    hi & 255,
    lo >>> 24,
    (lo >>> 16) & 255,
    (lo >>> 8) & 255,
    lo & 255,
  ];
  let out = '';
  for (let i = 0; i < 8; i += 3) {
    const b0 = bytes[i]!;
    const b1 = bytes[i + 1] ?? 0;
    const b2 = bytes[i + 2] ?? 0;
    out += B64URL[b0 >> 2]! + B64URL[((b0 & 3) << 4) | (b1 >> 4)]!;
    if (i + 1 < 8) out += B64URL[((b1 & 15) << 2) | (b2 >> 6)]!;
    if (i + 2 < 8) out += B64URL[b2 & 63]!;
  }
  return out; // 8 bytes -> 11 characters, no padding
}

/**
 * A fast non-cryptographic 64-bit hash (two independent 32-bit lanes, a
 * MurmurHash3-style block mix with different constants and seeds, cross-mixed
 * at the end), base64url, 11 characters. Not for security: it identifies
 * content, it does not protect it. Strings are hashed as UTF-8.
 */
export function hashBytes(data: Uint8Array | string): string {
  const bytes = typeof data === 'string' ? encoder.encode(data) : data;
  const n = bytes.length;
  let h1 = 0x9747b28c;
  let h2 = 0x2f1e0d3b;
  const blocks = n & ~3;
  let i = 0;
  for (; i < blocks; i += 4) {
    const k = bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24);
    let k1 = Math.imul(k, 0xcc9e2d51);
    k1 = Math.imul(rotl(k1, 15), 0x1b873593);
    h1 = Math.imul(rotl(h1 ^ k1, 13), 5) + 0xe6546b64;
    let k2 = Math.imul(k, 0x85ebca77);
    k2 = Math.imul(rotl(k2, 17), 0xc2b2ae3d);
    h2 = Math.imul(rotl(h2 ^ k2, 11), 9) + 0x27d4eb2f;
  }
  const rest = n & 3;
  if (rest > 0) {
    let tail = bytes[i]!;
    if (rest > 1) tail |= bytes[i + 1]! << 8;
    if (rest > 2) tail |= bytes[i + 2]! << 16;
    h1 ^= Math.imul(rotl(Math.imul(tail, 0xcc9e2d51), 15), 0x1b873593);
    h2 ^= Math.imul(rotl(Math.imul(tail, 0x85ebca77), 17), 0xc2b2ae3d);
  }
  // The length goes in as well (it is the upper bits that lanes would lose on 4 GiB+).
  h1 ^= n;
  h2 ^= Math.floor(n / 0x100000000);
  h2 ^= n;
  h1 = (h1 + h2) | 0;
  h2 = (h2 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h1 = (h1 + h2) | 0;
  h2 = (h2 + h1) | 0;
  return base64url64(h1 >>> 0, h2 >>> 0);
}

function withWeakness(opaque: string, weak: boolean | undefined): string {
  return formatEntityTag({ weak: weak === true, opaque });
}

/**
 * `"<version>-<hash>"` (or `"<version>"` without a hash). Numbers and bigints
 * must be non-negative integers and are written in base 36; strings are used
 * as-is and must consist of etagc characters.
 */
export function versionETag(version: number | bigint | string, hash?: string): string {
  let v: string;
  if (typeof version === 'number') {
    if (!Number.isSafeInteger(version) || version < 0) {
      throw new RangeError(`versionETag: ${version} is not a non-negative safe integer`);
    }
    v = version.toString(36);
  } else if (typeof version === 'bigint') {
    if (version < 0n) throw new RangeError('versionETag: negative version');
    v = version.toString(36);
  } else if (typeof version === 'string' && version.length > 0 && isOpaque(version)) {
    v = version;
  } else {
    throw new TypeError('versionETag: version must be a number, bigint or non-empty etagc string');
  }
  if (hash === undefined) return formatEntityTag({ weak: false, opaque: v });
  if (!isOpaque(hash)) throw new TypeError('versionETag: hash has a character outside etagc');
  return formatEntityTag({ weak: false, opaque: `${v}-${hash}` });
}

/** `"<length in base 36>-<hashBytes>"`; the length is free extra distinctness. */
export function bytesETag(data: Uint8Array | string, options?: { weak?: boolean }): string {
  const bytes = typeof data === 'string' ? encoder.encode(data) : data;
  return withWeakness(`${bytes.length.toString(36)}-${hashBytes(bytes)}`, options?.weak);
}

/** The tag of a JSON value's RFC 8785 canonical form: equal data, equal tag, whatever the key order. */
export function jsonETag(value: unknown, options?: { weak?: boolean }): string {
  return bytesETag(canonicalJson(value), options);
}

function mustParse(etag: string, fn: string) {
  const tag = parseEntityTag(etag);
  if (tag === undefined) throw new TypeError(`${fn}: not an entity-tag: ${etag}`);
  return tag;
}

/** The weak form of a tag (`W/"…"`); an already weak tag is returned unchanged. */
export function weakETag(etag: string): string {
  const tag = mustParse(etag, 'weakETag');
  return formatEntityTag({ weak: true, opaque: tag.opaque });
}

function normalizeCoding(coding: string): string {
  const c = coding.trim().toLowerCase();
  // A content-coding is a token; keep the tag's grammar valid whatever comes in.
  if (!/^[a-z0-9!#$%&'*+^_`|~-]+$/.test(c)) {
    throw new TypeError(`not a content-coding: ${coding}`);
  }
  return c;
}

/**
 * The tag of one content coding of a representation, `"abc"` + gzip ->
 * `"abc.gzip"` (weakness kept). Each coding has distinct bytes, so each needs
 * its own strong tag (RFC 9110 8.8.3.3). identity returns the tag unchanged.
 */
export function codingETag(etag: string, coding: string): string {
  const tag = mustParse(etag, 'codingETag');
  const c = normalizeCoding(coding);
  if (c === 'identity') return etag;
  return formatEntityTag({ weak: tag.weak, opaque: `${tag.opaque}.${c}` });
}

/**
 * The inverse of codingETag: the base tag when `etag` is the `coding` variant,
 * otherwise undefined (identity: the tag itself).
 */
export function baseETag(etag: string, coding: string): string | undefined {
  const tag = parseEntityTag(etag);
  if (tag === undefined) return undefined;
  const c = normalizeCoding(coding);
  if (c === 'identity') return etag;
  const suffix = `.${c}`;
  if (!tag.opaque.endsWith(suffix) || tag.opaque.length === suffix.length) return undefined;
  return formatEntityTag({ weak: tag.weak, opaque: tag.opaque.slice(0, -suffix.length) });
}
