// A keyed mutex for stores that cannot compare-and-set. It serializes check +
// write per key INSIDE ONE PROCESS only: a second process (a cluster worker,
// another instance) is not excluded and can still lose an update. Prefer a
// binding that makes the write itself conditional.

export class InProcessLock {
  readonly #tails = new Map<string, Promise<void>>();

  /** Run `fn` once every earlier `run` with the same key has settled. */
  async run<T>(key: string, fn: () => T | Promise<T>): Promise<T> {
    const before = this.#tails.get(key);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = before === undefined ? mine : before.then(() => mine);
    this.#tails.set(key, tail);
    try {
      if (before !== undefined) await before;
      return await fn();
    } finally {
      release();
      // The last holder cleans up, so the map only holds keys in use.
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    }
  }

  /** Keys with a holder or waiters (for tests and metrics). */
  get size(): number {
    return this.#tails.size;
  }
}
