// Bounded caches must be bounded in memory, not only in counted bytes: a
// cached Buffer that is a view on a larger ArrayBuffer (Node's 8 KiB pool,
// zlib's output chunks) pins the whole ArrayBuffer while the LRU counts the view.

import { describe, expect, it } from 'vitest';
import { CodingCache } from '../../src/http/compression.js';
import { BodyCache } from '../../src/http/representation.js';

const pinned = (b: Buffer) => b.buffer.byteLength;

describe('caches own exactly the bytes they count', () => {
  it('body cache: a 1 KiB request body does not pin its 8 KiB pool slab', () => {
    const body = Buffer.concat([Buffer.from(`{"s":"${'x'.repeat(1000)}"}`)]);
    expect(pinned(body)).toBeGreaterThan(body.length); // the premise: a pooled view
    const cache = new BodyCache(1024 * 1024);
    cache.set('"1-a"', body);
    const cached = cache.get('"1-a"')!;
    expect(cached.equals(body)).toBe(true);
    expect(pinned(cached)).toBe(cached.length);
  });

  it('coding cache: a small gzip output does not pin zlib’s chunk', async () => {
    const cache = new CodingCache(1024 * 1024);
    const body = Buffer.from(JSON.stringify({ s: 'abc'.repeat(2000) }));
    const first = await cache.get('"2-b"', 'gzip', body);
    expect(pinned(first)).toBeGreaterThan(first.length); // the premise: zlib hands out a view
    await new Promise((r) => setImmediate(r)); // the LRU is filled in a then()
    const cached = await cache.get('"2-b"', 'gzip', body);
    expect(cached.equals(first)).toBe(true);
    expect(cached.length).toBeLessThan(1024);
    expect(pinned(cached)).toBe(cached.length);
  });
});
