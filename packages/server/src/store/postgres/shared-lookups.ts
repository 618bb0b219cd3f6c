// Shared round trips for reads: lookups that arrive while a query is in flight
// wait for the next one, which answers all of them in one statement.
//
// Why it is linearizable: a statement is sent only after every lookup it
// answers was queued, and under READ COMMITTED each statement reads a
// snapshot taken when it starts. So every answer comes from a snapshot taken
// after its request arrived: it includes every write acknowledged before
// then, by any instance (docs/SCALING.md, "Reads").

import type { DocKey } from '../types.js';

interface Waiter<V> {
  resolve(value: V | undefined): void;
  reject(error: unknown): void;
}

interface Queued<V> {
  key: DocKey;
  waiters: Waiter<V>[];
}

/** One statement for many keys: the found rows by `lookupKey`, absent keys left out. */
export type LookupQuery<V> = (keys: DocKey[]) => Promise<Map<string, V>>;

/** collection and id, unambiguously (either may hold any character). */
export function lookupKey(collection: string, id: string): string {
  return `${collection.length}:${collection}${id}`;
}

export class SharedLookups<V> {
  readonly #query: LookupQuery<V>;
  readonly #maxInFlight: number;
  #queued = new Map<string, Queued<V>>();
  #inFlight = 0;
  #scheduled = false;

  /** At most `maxInFlight` statements at once; later lookups wait for the next. */
  constructor(query: LookupQuery<V>, maxInFlight: number) {
    this.#query = query;
    this.#maxInFlight = maxInFlight;
  }

  get(key: DocKey): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      const k = lookupKey(key.collection, key.id);
      let queued = this.#queued.get(k);
      if (queued === undefined) {
        queued = { key, waiters: [] };
        this.#queued.set(k, queued);
      }
      queued.waiters.push({ resolve, reject });
      this.#schedule();
    });
  }

  /**
   * Issues once the I/O callbacks of this turn of the event loop have run, so
   * the requests that arrived together (on different sockets) share it.
   */
  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#maxInFlight) return;
    this.#scheduled = true;
    setImmediate(() => {
      this.#scheduled = false;
      if (this.#queued.size > 0 && this.#inFlight < this.#maxInFlight) this.#issue();
    });
  }

  /** Sends one statement for everything queued now; queues afresh for the next. */
  #issue(): void {
    const batch = this.#queued;
    this.#queued = new Map();
    this.#inFlight++;
    const keys = Array.from(batch.values(), (q) => q.key);
    let answer: Promise<Map<string, V>>;
    try {
      answer = this.#query(keys);
    } catch (error) {
      answer = Promise.reject(error);
    }
    answer
      .then(
        (found) => {
          for (const [k, q] of batch) {
            const value = found.get(k);
            for (const w of q.waiters) w.resolve(value);
          }
        },
        // A failed statement fails each of its lookups (503 upstream): never a guess.
        (error: unknown) => {
          for (const q of batch.values()) for (const w of q.waiters) w.reject(error);
        },
      )
      .finally(() => {
        this.#inFlight--;
        if (this.#queued.size > 0) this.#schedule();
      });
  }
}
