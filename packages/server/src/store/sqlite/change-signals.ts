import type Database from 'better-sqlite3';
import type { ChangeSignal } from '../types.js';
import { type CommitWatcher, commitWatcher } from './commit-watcher.js';

/** How often, while someone listens, the file is checked for other processes' commits. */
export const POLL_MS = 15;
/** Log rows read per statement when catching up. */
const READ_BATCH = 1000;
/** Own positions remembered so the poller does not signal them again (duplicates are allowed). */
const OWN_REMEMBERED = 10_000;

interface LogRow {
  position: number;
  collection: string;
  id: string;
}

export interface ChangeSignals {
  subscribe(listener: (signal: ChangeSignal) => void): () => void;
  /** This connection's commits, called right after the transaction committed. */
  committed(signals: readonly ChangeSignal[]): void;
  close(): void;
}

/**
 * The store's signals (types.ts ChangeSignal). Own commits are signalled by
 * the store right after they commit. Commits of other processes (or other
 * store objects) on the file are found by polling while at least one
 * listener exists: a commit watcher of its own (so the validators cache's
 * watcher keeps its news), and on a change the log rows after the last
 * position seen, in every collection. No timer while nobody listens.
 */
export function changeSignals(db: Database.Database, path: string): ChangeSignals {
  const subscriptions = new Set<{ listener: (signal: ChangeSignal) => void }>();
  // Nobody else can open a private in-memory database.
  const shared = path !== ':memory:' && path !== '';
  const newestPosition = db.prepare<[], number | null>('SELECT MAX(position) FROM changes').pluck();
  const logAfter = db.prepare<[number, number], LogRow>(
    'SELECT position, collection, id FROM changes WHERE position > ? ORDER BY position LIMIT ?',
  );
  let watcher: CommitWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  let lastSeen = 0;
  /** Set when a poll failed: the next tick reads the log whatever the watcher says. */
  let retry = false;
  const own = new Set<number>();
  let closed = false;

  function deliver(signal: ChangeSignal): void {
    for (const subscription of [...subscriptions]) {
      // One unsubscribed by an earlier listener of this signal gets no more.
      if (!subscriptions.has(subscription)) continue;
      try {
        subscription.listener(signal);
      } catch (error) {
        // A listener's bug must not fail the write that committed, nor the
        // poll: reported as an uncaught exception, out of the store's stack.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }

  function poll(): void {
    if (!watcher!.changed() && !retry) return;
    retry = false;
    try {
      for (;;) {
        const rows = logAfter.all(lastSeen, READ_BATCH);
        for (const row of rows) {
          lastSeen = row.position;
          if (own.delete(row.position)) continue;
          deliver({
            kind: 'change',
            collection: row.collection,
            id: row.id,
            position: row.position,
          });
          if (timer === undefined) return; // the last listener left meanwhile
        }
        if (rows.length < READ_BATCH) return;
      }
    } catch {
      // E.g. SQLITE_BUSY during a WAL recovery: read again on the next tick.
      retry = true;
    }
  }

  function start(): void {
    watcher ??= commitWatcher(db, path);
    watcher.changed(); // forget commits from before: the subscriber re-checks the store
    lastSeen = newestPosition.get() ?? 0;
    own.clear();
    timer = setInterval(poll, POLL_MS);
  }

  function stop(): void {
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
    own.clear();
  }

  return {
    subscribe(listener) {
      if (closed) return () => {};
      const subscription = { listener };
      subscriptions.add(subscription);
      if (shared && timer === undefined) start();
      return () => {
        if (!subscriptions.delete(subscription)) return;
        if (subscriptions.size === 0) stop();
      };
    },
    committed(signals) {
      if (subscriptions.size === 0) return;
      for (const signal of signals) {
        if (timer !== undefined && signal.kind === 'change') {
          if (own.size >= OWN_REMEMBERED) own.clear();
          own.add(signal.position);
        }
        deliver(signal);
      }
    },
    close() {
      closed = true;
      subscriptions.clear();
      stop();
      watcher?.close();
      watcher = undefined;
    },
  };
}
