// Backoff between update() attempts after a 412.
//
// Writers on one document collide on the scale of one write's round trip: a
// 412 means another write committed while ours was in flight. So by default the
// sleeps are measured in that unit, not in a fixed number of milliseconds: the
// first ceiling is twice the smoothed round trip of this client's writes
// (base 'auto'), and it doubles per sleep, as in Ethernet's binary exponential
// backoff counted in slot times. A fixed base is too long for a server that
// commits in 1 ms (the document sits idle while every loser sleeps) and too
// short for one that takes 50 ms under load (losers collide again and again,
// and each 412 is work taken from the next commit).
//
// Jitter: 'full' (default) sleeps random(0, min(cap, base * 2^n)); 'decorrelated'
// sleeps min(cap, random(base, 3 * previous sleep)). Both keep retrying writers
// apart instead of colliding in lockstep (AWS Architecture Blog, "Exponential
// Backoff And Jitter"); full jitter makes the fewest wasted requests there.

export interface BackoffOptions {
  /**
   * Ceiling of the first sleep, ms; it doubles per sleep. 'auto' (default):
   * twice the smoothed round trip of this client's writes to the same origin,
   * at least 1 ms and at most `cap`.
   */
  base?: number | 'auto';
  /** Upper bound of any sleep, ms. Default 1000. */
  cap?: number;
  /** 'full' (default) or 'decorrelated'. */
  jitter?: 'full' | 'decorrelated';
  /**
   * update(): start the sleeps of the next call on the same URL at the level
   * the last successful call reached, one doubling lower (default true). Under
   * sustained contention this skips the collisions of climbing from the bottom
   * again; after calls without sleeps the level decays back to 0.
   */
  carry?: boolean;
  /** A source of [0, 1) numbers; Math.random by default (tests may fix it). */
  random?: () => number;
}

/** The base when 'auto' has no round trip measured yet (cannot happen in update()). */
export const DEFAULT_BASE = 10;
const DEFAULT_CAP = 1000;
/** Smallest 'auto' base, ms: timers are not finer than that. */
export const MIN_AUTO_BASE = 1;

/**
 * The first sleep's ceiling, ms. `roundTrip` is the smoothed write round trip
 * (ms), used when `base` is 'auto'.
 */
export function backoffBase(options: BackoffOptions = {}, roundTrip?: number): number {
  const cap = options.cap ?? DEFAULT_CAP;
  const base = options.base ?? 'auto';
  if (base !== 'auto') return base;
  if (roundTrip === undefined || !Number.isFinite(roundTrip)) return Math.min(cap, DEFAULT_BASE);
  return Math.min(cap, Math.max(MIN_AUTO_BASE, 2 * roundTrip));
}

/** The upper bound of the full-jitter sleep before retry number `retry` (0 = first retry). */
export function backoffCeiling(
  retry: number,
  options: BackoffOptions = {},
  roundTrip?: number,
): number {
  const cap = options.cap ?? DEFAULT_CAP;
  // 2^retry overflows to Infinity for huge retry numbers; min() keeps it at cap.
  return Math.min(cap, backoffBase(options, roundTrip) * 2 ** retry);
}

/** A full-jitter sleep: random(0, backoffCeiling(retry)). */
export function backoffDelay(
  retry: number,
  options: BackoffOptions = {},
  roundTrip?: number,
): number {
  const random = options.random ?? Math.random;
  return random() * backoffCeiling(retry, options, roundTrip);
}

/**
 * The sleeps of one update() call. `next(roundTrip)` returns the next sleep,
 * ms; the round trip is read at each sleep, so the unit follows the server as
 * it speeds up or slows down.
 */
export class BackoffSchedule {
  #retry = 0;
  #previous = 0;
  readonly #options: BackoffOptions;

  readonly #start: number;

  /** `start`: the retry number of the first sleep (a level carried over from earlier calls). */
  constructor(options: BackoffOptions = {}, start = 0) {
    this.#options = options;
    this.#start = Math.max(0, Math.floor(start));
    this.#retry = this.#start;
  }

  /** Sleeps taken so far. */
  get sleeps(): number {
    return this.#retry - this.#start;
  }

  /** The retry number the next sleep would use. */
  get level(): number {
    return this.#retry;
  }

  next(roundTrip?: number): number {
    const options = this.#options;
    const retry = this.#retry++;
    if (options.jitter !== 'decorrelated') return backoffDelay(retry, options, roundTrip);
    const random = options.random ?? Math.random;
    const cap = options.cap ?? DEFAULT_CAP;
    const base = backoffBase(options, roundTrip);
    const upper = this.#previous === 0 ? base * 2 ** retry : Math.max(base, 3 * this.#previous);
    this.#previous = Math.min(cap, base + random() * (upper - base));
    return this.#previous;
  }
}

/**
 * Smoothed round trip of writes (RFC 6298's SRTT: srtt += (sample - srtt) / 8),
 * one per origin: the unit of the 'auto' backoff.
 */
export class RoundTripEstimator {
  readonly #srtt = new Map<string, number>();

  sample(origin: string, ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    const srtt = this.#srtt.get(origin);
    this.#srtt.set(origin, srtt === undefined ? ms : srtt + (ms - srtt) / 8);
  }

  get(origin: string): number | undefined {
    return this.#srtt.get(origin);
  }
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
