// changes(): a collection's change feed, `GET /api/{c}?since=CURSOR` with
// `Prefer: wait=N`, as one async iterator. The loop is pure decision; the
// client supplies the requests and the pacing (live.ts).
//
// No gap, no duplicate: the next page is asked for only after every change of
// the page before was yielded, always `since` the cursor that page ended at;
// a request that fails (network, 5xx) is made again with the same cursor, so
// nothing is skipped and nothing already yielded comes twice. Without a
// starting cursor the collection's listing gives one (its `cursor` member):
// every change committed after that listing is in the feed.

import { sleep } from './backoff.js';
import type { LivePacer } from './live.js';

/** One change of a collection, in commit order. */
export interface CollectionChange {
  /** The member's id. */
  id: string;
  /** The member's new ETag; absent for a deletion. */
  etag?: string;
  /** The new state's Last-Modified (HTTP date), as the listing shows it. */
  lastModified: string;
  /** True for a deletion (a tombstone). */
  deleted: boolean;
  /**
   * Where to resume (`changes(c, { since: cursor })`) to lose nothing after
   * this change. Exact for the last change of a page; for the others it is
   * where their page started (the feed has one cursor per page), so a resume
   * from it may deliver this change, and the ones before it in its page, again.
   */
  cursor: string;
}

/** One feed page as the client read it. */
export interface FeedPage {
  changes: readonly Omit<CollectionChange, 'cursor'>[];
  /** Per change, when the server gave one (else undefined). */
  cursors: readonly (string | undefined)[];
  /** The cursor after the last change: the next page's `since`. */
  cursor: string;
  /** The server held the request (Preference-Applied: wait). */
  waited: boolean;
}

export type Fetched<R> = { ok: R } | { failed: unknown };

export interface FeedSteps {
  signal: AbortSignal;
  wait: number;
  pacer: LivePacer;
  since: string | undefined;
  /** The listing's cursor (to start from now). */
  start(): Promise<Fetched<string>>;
  /** The changes after `cursor`; a 410 throws CursorExpiredError. */
  page(cursor: string, wait: number): Promise<Fetched<FeedPage>>;
}

export async function* runFeed(
  steps: FeedSteps,
): AsyncGenerator<CollectionChange, void, undefined> {
  const { signal, pacer } = steps;
  try {
    let cursor = steps.since;
    while (cursor === undefined) {
      const started = await steps.start();
      if ('ok' in started) cursor = started.ok;
      else await sleep(pacer.after('failed', started.failed), signal);
    }
    for (;;) {
      const fetched = await steps.page(cursor, steps.wait);
      if ('failed' in fetched) {
        await sleep(pacer.after('failed', fetched.failed), signal);
        continue;
      }
      const page = fetched.ok;
      const since = cursor;
      const last = page.changes.length - 1;
      for (let i = 0; i <= last; i++) {
        const cursorAfter = page.cursors[i] ?? (i === last ? page.cursor : since);
        yield { ...page.changes[i]!, cursor: cursorAfter };
      }
      cursor = page.cursor;
      const pause = pacer.after(last >= 0 ? 'news' : page.waited ? 'waited' : 'idle');
      if (pause > 0) await sleep(pause, signal);
    }
  } catch (error) {
    // Aborted (the caller's signal, or return()): the iteration just ends.
    if (signal.aborted) return;
    throw error;
  }
}
