// What the live-iterator tests (watch(), changes()) share: stepping through
// an async iterator with a time limit, collecting what it yields, polling for
// a condition, and counting the timers left behind.

export const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves when `condition()` holds; fails the test after `ms`. */
export async function until(condition: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not true within ${ms} ms: ${condition}`);
    await delay(10);
  }
}

/**
 * Starts `start(signal)` on an abort signal of its own and steps through it
 * with time limits: `within(ms)` is the next item, or 'none' when none comes
 * within `ms` (that next() stays pending for the following call); `stop()`
 * aborts and resolves with what the pending next(), if any, ended with.
 */
export function stepper<T>(start: (signal: AbortSignal) => AsyncIterator<T>) {
  const controller = new AbortController();
  const events = start(controller.signal);
  let pending: Promise<IteratorResult<T>> | undefined;
  return {
    async within(ms: number): Promise<IteratorResult<T> | 'none'> {
      pending ??= events.next();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const result = await Promise.race([
        pending,
        new Promise<'none'>((r) => {
          timer = setTimeout(() => r('none'), ms);
        }),
      ]);
      clearTimeout(timer);
      if (result !== 'none') pending = undefined;
      return result;
    },
    stop(): Promise<IteratorResult<T> | undefined> {
      controller.abort();
      return Promise.resolve(pending);
    },
  };
}

/** Collect `n` items from the iterator (then stop it). */
export async function take<T>(events: AsyncIterable<T>, n: number): Promise<T[]> {
  const out: T[] = [];
  if (n === 0) return out;
  for await (const c of events) {
    out.push(c);
    if (out.length === n) break;
  }
  return out;
}

/**
 * Reads what `start(signal)` yields in the background: `out` grows as items
 * come; `stop()` aborts the signal and resolves when the iteration has ended
 * (rejects if it threw).
 */
export function collect<T>(start: (signal: AbortSignal) => AsyncIterable<T>): {
  out: T[];
  stop: () => Promise<void>;
} {
  const controller = new AbortController();
  const events = start(controller.signal);
  const out: T[] = [];
  const done = (async () => {
    for await (const c of events) out.push(c);
  })();
  return {
    out,
    stop: () => {
      controller.abort();
      return done;
    },
  };
}

/** Timers alive in this process (to see that an iterator leaves none behind). */
export const activeTimers = () =>
  process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
