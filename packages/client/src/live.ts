// What watch() and changes() share: the pacing of their long-poll requests and
// an async iterator whose return() cancels the request in flight.
//
// Pacing: a server that honours `Prefer: wait` says so (`Preference-Applied:
// wait=...`) and holds the request itself, so the next one can go at once. An
// answer that did not wait (a server without long-poll, one over its waiter
// cap, a deleted document that cannot be waited on) and brought nothing new
// would make the loop a tight one: such answers, and failures, are spaced by
// a growing backoff instead. An answer with news goes on at once (its rate is
// the rate of writes) and starts the backoff over.

import { type BackoffOptions, BackoffSchedule } from './backoff.js';
import { HttpError } from './errors.js';

/** Default spacing of live requests to a server that does not wait, and after failures. */
export const LIVE_BACKOFF: BackoffOptions = { base: 500, cap: 15_000, jitter: 'decorrelated' };

/** Default `Prefer: wait` of watch() and changes(), seconds. */
export const DEFAULT_WAIT = 30;

/** How one live request ended, as far as pacing goes. */
export type Answer =
  /** Something new was delivered. */
  | 'news'
  /** Nothing new, and the server held the request (Preference-Applied: wait). */
  | 'waited'
  /** Nothing new, answered at once. */
  | 'idle'
  /** A network error or a 5xx, 408 or 429: nothing learnt. */
  | 'failed';

export class LivePacer {
  readonly #options: BackoffOptions;
  #schedule: BackoffSchedule;

  constructor(options: BackoffOptions = LIVE_BACKOFF) {
    this.#options = { ...LIVE_BACKOFF, ...options };
    this.#schedule = new BackoffSchedule(this.#options);
  }

  /**
   * Milliseconds to sleep before the next request, after `answer`; a failure
   * sleeps at least what its Retry-After asked for.
   */
  after(answer: Answer, failure?: unknown): number {
    if (answer === 'news' || answer === 'waited') {
      this.#schedule = new BackoffSchedule(this.#options);
      return 0;
    }
    return Math.max(this.#schedule.next(), retryAfterMs(failure) ?? 0);
  }
}

/** The longest Retry-After honoured, ms: a bigger one is a server's mistake, not a plan. */
const MAX_RETRY_AFTER = 10 * 60_000;

/** Retry-After (RFC 9110 10.2.3: delay-seconds or an HTTP-date) of a failed answer, ms. */
export function retryAfterMs(failure: unknown, now = Date.now()): number | undefined {
  if (!(failure instanceof HttpError)) return undefined;
  const value = failure.headers.get('retry-after')?.trim();
  if (value === undefined || value === '') return undefined;
  // An HTTP-date ends in GMT (IMF-fixdate and the obsolete forms alike).
  const ms = /^\d+$/.test(value)
    ? Number(value) * 1000
    : /GMT$/.test(value)
      ? Date.parse(value) - now
      : Number.NaN;
  return Number.isFinite(ms) ? Math.min(Math.max(0, ms), MAX_RETRY_AFTER) : undefined;
}

/** True when the response says the server applied `Prefer: wait` (RFC 7240 Preference-Applied). */
export function waitApplied(headers: Headers): boolean {
  const applied = headers.get('preference-applied');
  return applied !== null && /(?:^|[,;\s])wait\s*=/i.test(applied);
}

/** The wait in whole seconds (RFC 7240 delta-seconds); 0 = plain polling. */
export function waitSeconds(wait: number | undefined): number {
  if (wait === undefined) return DEFAULT_WAIT;
  if (!Number.isFinite(wait) || wait < 0) throw new RangeError(`wait: ${wait} is not >= 0 seconds`);
  return Math.floor(wait);
}

/** Statuses worth the same request again later: the server's trouble, not the request's. */
export function retryableStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408;
}

/**
 * An async iterator over `body(signal)` whose `return()` (a `break` out of
 * `for await`) aborts `signal` at once: a long-poll in flight is cancelled
 * instead of held until the server answers. The caller's `outer` signal
 * aborts it too. The body ends (returns) when its signal aborts; its listener
 * on `outer` is removed when it ends.
 */
export function liveIterator<Y>(
  outer: AbortSignal | undefined,
  body: (signal: AbortSignal) => AsyncGenerator<Y, void, undefined>,
): AsyncIterableIterator<Y> {
  const inner = new AbortController();
  const forward = () => inner.abort(outer?.reason);
  const detach = () => outer?.removeEventListener('abort', forward);
  const generator = body(inner.signal);
  let started = false;
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next() {
      if (!started) {
        started = true;
        // Listen only once iterated: an iterator made and dropped leaves nothing on `outer`.
        if (outer?.aborted) inner.abort(outer.reason);
        else outer?.addEventListener('abort', forward, { once: true });
      }
      return generator.next().then(
        (result) => {
          if (result.done) detach();
          return result;
        },
        (error: unknown) => {
          detach();
          throw error;
        },
      );
    },
    return() {
      inner.abort(new DOMException('The iteration was ended', 'AbortError'));
      detach();
      return generator.return(undefined);
    },
  };
}
