// A byte-bounded LRU on a Map: a Map iterates in insertion order, so the first
// key is the least recently used once every hit re-inserts its key.

export interface Sized {
  readonly bytes: number;
}

export class ByteLru<V extends Sized> {
  readonly maxBytes: number;
  #map = new Map<string, V>();
  #bytes = 0;

  constructor(maxBytes: number) {
    this.maxBytes = Math.max(0, maxBytes);
  }

  get size(): number {
    return this.#map.size;
  }

  /** Bytes currently held: never above `maxBytes`. */
  get bytes(): number {
    return this.#bytes;
  }

  get(key: string): V | undefined {
    const value = this.#map.get(key);
    if (value === undefined) return undefined;
    this.#map.delete(key);
    this.#map.set(key, value);
    return value;
  }

  /** Look without changing the order. */
  peek(key: string): V | undefined {
    return this.#map.get(key);
  }

  has(key: string): boolean {
    return this.#map.has(key);
  }

  /** Returns false (and stores nothing) when the value alone exceeds the bound. */
  set(key: string, value: V): boolean {
    this.delete(key);
    if (value.bytes > this.maxBytes) return false;
    this.#map.set(key, value);
    this.#bytes += value.bytes;
    for (const [oldest, old] of this.#map) {
      if (this.#bytes <= this.maxBytes) break;
      this.#map.delete(oldest);
      this.#bytes -= old.bytes;
    }
    return true;
  }

  delete(key: string): boolean {
    const old = this.#map.get(key);
    if (old === undefined) return false;
    this.#map.delete(key);
    this.#bytes -= old.bytes;
    return true;
  }

  clear(): void {
    this.#map.clear();
    this.#bytes = 0;
  }

  keys(): IterableIterator<string> {
    return this.#map.keys();
  }
}
