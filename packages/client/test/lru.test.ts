import { ByteLru } from '@ifmatch/client';
import { describe, expect, it } from 'vitest';

const item = (bytes: number) => ({ bytes });

describe('ByteLru', () => {
  it('evicts least recently used entries to stay within the byte bound', () => {
    const lru = new ByteLru<{ bytes: number }>(100);
    lru.set('a', item(40));
    lru.set('b', item(40));
    expect(lru.get('a')).toBeDefined(); // a is now more recent than b
    lru.set('c', item(40)); // 120 > 100: b goes
    expect([...lru.keys()]).toEqual(['a', 'c']);
    expect(lru.bytes).toBe(80);
    lru.set('d', item(90)); // only d fits
    expect([...lru.keys()]).toEqual(['d']);
    expect(lru.bytes).toBe(90);
  });

  it('refuses a value larger than the bound and keeps the rest', () => {
    const lru = new ByteLru<{ bytes: number }>(50);
    lru.set('a', item(10));
    expect(lru.set('big', item(51))).toBe(false);
    expect(lru.has('big')).toBe(false);
    expect(lru.has('a')).toBe(true);
  });

  it('replacing a key re-counts its bytes, peek does not reorder', () => {
    const lru = new ByteLru<{ bytes: number }>(100);
    lru.set('a', item(30));
    lru.set('b', item(30));
    lru.set('a', item(60));
    expect(lru.bytes).toBe(90);
    expect(lru.peek('b')).toBeDefined();
    lru.set('c', item(20)); // 110: the oldest is b (a was re-set after it)
    expect([...lru.keys()]).toEqual(['a', 'c']);
    expect(lru.delete('a')).toBe(true);
    expect(lru.bytes).toBe(20);
  });

  it('never exceeds the bound under random use', () => {
    const lru = new ByteLru<{ bytes: number }>(1000);
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    for (let i = 0; i < 5000; i++) {
      const key = `k${Math.floor(rand() * 50)}`;
      if (rand() < 0.3) lru.get(key);
      else lru.set(key, item(Math.floor(rand() * 300)));
      expect(lru.bytes).toBeLessThanOrEqual(1000);
      let sum = 0;
      for (const k of lru.keys()) sum += lru.peek(k)!.bytes;
      expect(sum).toBe(lru.bytes);
    }
  });
});
