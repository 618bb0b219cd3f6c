// Content codings (CONTRACT.md, Validators): Accept-Encoding negotiation, one
// compression per stored version, a strong ETag per coding.
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  COMPRESSION_THRESHOLD,
  CodingCache,
  codingFor,
  codingTags,
  negotiateEncoding,
} from '../src/http/compression.js';

describe('negotiateEncoding (RFC 9110 12.5.3)', () => {
  const table: [string | undefined, string][] = [
    [undefined, 'identity'],
    ['', 'identity'],
    ['   ', 'identity'],
    ['gzip', 'gzip'],
    ['GZIP', 'gzip'],
    ['x-gzip', 'gzip'],
    ['br', 'br'],
    ['gzip, deflate, br, zstd', 'br'],
    ['gzip;q=1.0, br;q=0.5', 'gzip'],
    ['br;q=0, gzip', 'gzip'],
    ['br;q=0, gzip;q=0', 'identity'],
    ['*', 'br'],
    ['*;q=0.5, br;q=0', 'gzip'],
    ['*;q=0', 'identity'],
    ['identity', 'identity'],
    ['identity;q=1, gzip;q=0.5', 'identity'],
    ['gzip, identity;q=0.5', 'gzip'],
    ['deflate', 'identity'],
    ['compress, zstd', 'identity'],
    ['gzip;q=2', 'identity'], // malformed weight: the member is ignored
    ['gzip;q=abc, br', 'br'],
    ['gzip;q=0.001', 'gzip'],
    [' gzip ; q = 0.8 , br ; q=0.9', 'br'],
    [',,gzip,,', 'gzip'],
    [';;;', 'identity'],
    ['gzip;level=9', 'gzip'],
  ];
  it.each(table)('%j -> %s', (accept, expected) => {
    expect(negotiateEncoding(accept)).toBe(expected);
  });

  it('joins several field lines', () => {
    expect(negotiateEncoding(['identity;q=0.1', 'gzip'])).toBe('gzip');
  });
});

describe('codingFor', () => {
  it('keeps small documents uncoded', () => {
    expect(codingFor('gzip', COMPRESSION_THRESHOLD - 1)).toBe('identity');
    expect(codingFor('gzip', COMPRESSION_THRESHOLD)).toBe('gzip');
    expect(codingFor('br', undefined)).toBe('br');
  });
});

describe('codingTags', () => {
  it('gives each coding its own strong tag and lists the others', () => {
    const t = codingTags('"7-abc"', 'gzip');
    expect(t.etag).toBe('"7-abc.gzip"');
    expect(t.alternateETags.sort()).toEqual(['"7-abc"', '"7-abc.br"'].sort());
    const i = codingTags('"7-abc"', 'identity');
    expect(i.etag).toBe('"7-abc"');
    expect(i.alternateETags.sort()).toEqual(['"7-abc.br"', '"7-abc.gzip"']);
  });
});

describe('CodingCache', () => {
  const body = Buffer.from(
    JSON.stringify({ items: Array.from({ length: 500 }, (_, i) => ({ i })) }),
  );

  it('compresses once per (ETag, coding), even for concurrent first requests', async () => {
    const cache = new CodingCache(1 << 20);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => cache.get('"1-a"', 'gzip', body)),
    );
    expect(cache.compressions).toBe(1);
    for (const r of results) expect(gunzipSync(r).equals(body)).toBe(true);
    await cache.get('"1-a"', 'gzip', body);
    expect(cache.compressions).toBe(1);
    await cache.get('"1-a"', 'br', body);
    await cache.get('"2-b"', 'gzip', body);
    expect(cache.compressions).toBe(3);
  });

  it('returns identity untouched without compressing', async () => {
    const cache = new CodingCache(1 << 20);
    expect(await cache.get('"1-a"', 'identity', body)).toBe(body);
    expect(cache.compressions).toBe(0);
  });
});
