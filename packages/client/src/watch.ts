// watch(): the versions of one document as they happen. The loop is pure
// decision; the client supplies the request (poll) and the pacing (live.ts).
//
// First the current version (a GET through the validator cache, no waiting).
// Then each request is a conditional long-poll: If-None-Match of the version
// held plus `Prefer: wait=N`. The server answers 304 after N seconds when
// nothing changed (no body, no parse, nothing yielded), or the new version as
// soon as there is one (yielded once), or 404 when it was deleted (yielded
// once as `{ deleted: true }`; then plain polling, backoff-spaced, until it is
// created again, since there is no version to name in If-None-Match).

import { sleep } from './backoff.js';
import { jsonEqual } from './json.js';
import type { Answer, LivePacer } from './live.js';

/** A version of a watched document. */
export interface WatchedVersion<T> {
  deleted: false;
  /** The parsed document, deep-frozen (shared with the validator cache). */
  value: T;
  etag: string | undefined;
  lastModified: string | undefined;
}

/** What watch() yields: a new version, or the news that the document is gone (404). */
export type WatchEvent<T> = WatchedVersion<T> | { deleted: true };

/** One request of the loop, as the client reports it. */
export type Polled<T> =
  | {
      /** The document's state now; 'unchanged' = a 304 to the If-None-Match of `held`. */
      state: WatchedVersion<T> | 'gone' | 'unchanged';
      /** The server held the request (Preference-Applied: wait). */
      waited: boolean;
    }
  /** A network error or a 5xx: retry after a backoff. */
  | { failed: unknown };

export interface WatchSteps<T> {
  signal: AbortSignal;
  wait: number;
  pacer: LivePacer;
  /** A GET through the validator cache; `held` (when no cache entry names it) goes in If-None-Match. */
  poll(wait: number, held: WatchedVersion<T> | undefined): Promise<Polled<T>>;
}

export async function* runWatch<T>(
  steps: WatchSteps<T>,
): AsyncGenerator<WatchEvent<T>, void, undefined> {
  const { signal, pacer } = steps;
  /** What was yielded last: undefined before the first yield. */
  let held: WatchedVersion<T> | 'gone' | undefined;
  try {
    for (;;) {
      const version = typeof held === 'object' ? held : undefined;
      // The first read answers at once: the current version is the first thing to yield.
      const polled = await steps.poll(held === undefined ? 0 : steps.wait, version);
      let answer: Answer;
      let failure: unknown;
      if ('failed' in polled) {
        answer = 'failed';
        failure = polled.failed;
      } else {
        const now = polled.state === 'unchanged' ? held : polled.state;
        if (now !== undefined && !sameState(now, held)) {
          held = now;
          answer = 'news';
          yield now === 'gone' ? { deleted: true } : now;
        } else {
          answer = polled.waited ? 'waited' : 'idle';
        }
      }
      const pause = pacer.after(answer, failure);
      if (pause > 0) await sleep(pause, signal);
    }
  } catch (error) {
    // Aborted (the caller's signal, or return()): the iteration just ends.
    if (signal.aborted) return;
    throw error;
  }
}

/** Same version: the same entity-tag; without tags, the same Last-Modified and value. */
function sameState<T>(
  a: WatchedVersion<T> | 'gone',
  b: WatchedVersion<T> | 'gone' | undefined,
): boolean {
  if (a === 'gone' || b === 'gone' || b === undefined) return a === b;
  if (a.etag !== undefined || b.etag !== undefined) return a.etag === b.etag;
  return a.lastModified === b.lastModified && jsonEqual(a.value, b.value);
}
