// Capped exponential backoff with full jitter: sleep = random(0, min(cap, base * 2^n)).
// Full jitter spreads retrying writers apart instead of having them collide again
// in lockstep (AWS Architecture Blog, "Exponential Backoff And Jitter").

export interface BackoffOptions {
  /** First retry's upper bound, ms. Default 10. */
  base?: number;
  /** Upper bound of any sleep, ms. Default 1000. */
  cap?: number;
  /** A source of [0, 1) numbers; Math.random by default (tests may fix it). */
  random?: () => number;
}

/** The upper bound of the sleep before retry number `retry` (0 = first retry). */
export function backoffCeiling(retry: number, options: BackoffOptions = {}): number {
  const base = options.base ?? 10;
  const cap = options.cap ?? 1000;
  // 2^retry overflows to Infinity for huge retry numbers; min() keeps it at cap.
  return Math.min(cap, base * 2 ** retry);
}

export function backoffDelay(retry: number, options: BackoffOptions = {}): number {
  const random = options.random ?? Math.random;
  return random() * backoffCeiling(retry, options);
}

/** Sleep that an AbortSignal ends at once, rejecting with the signal's reason. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
