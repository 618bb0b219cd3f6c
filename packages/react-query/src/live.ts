// Live queries: instead of polling, follow what the server pushes. A document
// follows DocumentApi.watch (GETs held until the ETag changes) and writes each
// new version into its query; a collection listing follows the change feed
// (DocumentApi.changes) and is revalidated when a member changes. Components
// keep reading the ordinary queries (useDocument), so a 304 still renders
// nothing and the live part only decides *when* the data moves.
import { CursorExpiredError } from '@ifmatch/client';
import { type QueryClient, type UseQueryResult, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState } from 'react';
import { primeDocument, useDocument, useDocumentApi } from './hooks.js';
import { documentKey, type UseDocumentOptions } from './options.js';
import type { CollectionChange, DocumentApi, DocumentSnapshot } from './types.js';

/**
 * `connecting`: subscribed, the server has not answered yet (a document's
 * first version, a collection's cursor); `live`: following (reconnections
 * happen underneath, without a gap); `stopped`: disabled, or the subscription
 * ended with an error (`error` says which).
 */
export type LiveState = 'connecting' | 'live' | 'stopped';

export interface LiveStatus {
  state: LiveState;
  error?: Error;
}

export interface UseUpdatesOptions {
  /** Follow only while true (default true). */
  enabled?: boolean;
}

/**
 * Keeps the query of `url` (useDocument's) at the version the server holds:
 * every version saved anywhere is written into the cache as it commits, a
 * deletion refetches (the query then fails with DocumentNotFoundError).
 * Returns the subscription's state; unmounting aborts the held request.
 */
export function useDocumentUpdates(url: string, options: UseUpdatesOptions = {}): LiveStatus {
  const api = useDocumentApi();
  const queryClient = useQueryClient();
  const enabled = options.enabled ?? true;
  const [status, setStatus] = useState<LiveStatus>({ state: 'connecting' });

  useEffect(() => {
    if (!enabled) return;
    const controller = new AbortController();
    const { signal } = controller;
    setStatus({ state: 'connecting' });
    const key = documentKey(url);
    void (async () => {
      try {
        for await (const event of api.watch(url, { signal })) {
          // A refetch that left before this version committed must not land
          // after it and put the older state back: drop it (the watch has the
          // newer one). A query without a fetch in flight is untouched.
          await queryClient.cancelQueries({ queryKey: key, exact: true });
          if (signal.aborted) return;
          if (event.kind === 'version') primeDocument(queryClient, event.snapshot);
          else void queryClient.invalidateQueries({ queryKey: key, exact: true });
          setStatus((s) => (s.state === 'live' ? s : { state: 'live' }));
        }
      } catch (error) {
        if (signal.aborted) return;
        setStatus({ state: 'stopped', error: asError(error) });
      }
    })();
    return () => controller.abort();
  }, [api, queryClient, url, enabled]);

  return enabled ? status : { state: 'stopped' };
}

/**
 * useDocument without a polling interval (unless asked for), kept current by
 * useDocumentUpdates: another tab's save shows up as it commits.
 */
export function useLiveDocument<T = unknown>(
  url: string,
  options: UseDocumentOptions = {},
): UseQueryResult<DocumentSnapshot<T>, Error> {
  const query = useDocument<T>(url, {
    ...options,
    refetchInterval: options.refetchInterval ?? false,
  });
  useDocumentUpdates(url, { enabled: options.enabled ?? true });
  return query;
}

export interface CollectionUpdatesOptions extends UseUpdatesOptions {
  /**
   * Where the feed starts: the `cursor` of the listing page shown, so that no
   * change committed after that listing is missed. `undefined` = not known
   * yet (the feed waits for it); `null` = from now.
   */
  since: string | null | undefined;
}

export interface CollectionUpdates extends LiveStatus {
  /** The latest changes, newest first (at most RECENT_CHANGES). */
  recent: readonly CollectionChange[];
}

export const RECENT_CHANGES = 20;

/** The listing queries of a collection: document queries of its URL, any query string. */
export function isListingOf(collectionUrl: string, queryKey: readonly unknown[]): boolean {
  const [a, b, url] = queryKey;
  return (
    a === 'ifmatch' && b === 'document' && typeof url === 'string' && pathOf(url) === collectionUrl
  );
}

const pathOf = (url: string) => {
  const end = url.search(/[?#]/);
  return end < 0 ? url : url.slice(0, end);
};

/**
 * Follows the change feed of `collectionUrl` (e.g. `/api/notes`) from
 * `since`: each committed change (create, save, delete of a member)
 * revalidates the collection's listing queries (one conditional GET per burst
 * of changes; pages stay the server's), and is listed in `recent`. A cursor
 * the server no longer keeps: the listings are fetched again and the feed
 * resumes from their cursor.
 */
export function useCollectionUpdates(
  collectionUrl: string,
  options: CollectionUpdatesOptions,
): CollectionUpdates {
  const api = useDocumentApi();
  const queryClient = useQueryClient();
  const enabled = (options.enabled ?? true) && options.since !== undefined;
  // The feed starts from the cursor known when it starts; later listings
  // (revalidated because of the feed itself) do not restart it.
  const since = useRef(options.since);
  since.current = options.since;
  const [status, setStatus] = useState<CollectionUpdates>({ state: 'connecting', recent: [] });

  useEffect(() => {
    if (!enabled) return;
    const controller = new AbortController();
    const { signal } = controller;
    setStatus({ state: 'connecting', recent: [] });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const revalidate = () => {
      timer ??= setTimeout(() => {
        timer = undefined;
        void queryClient.invalidateQueries({
          predicate: (q) => isListingOf(collectionUrl, q.queryKey),
        });
      }, 0);
    };
    void follow(api, queryClient, collectionUrl, since.current ?? undefined, signal, (change) => {
      revalidate();
      setStatus((s) => ({
        state: 'live',
        recent: [change, ...s.recent].slice(0, RECENT_CHANGES),
      }));
    }).then(
      () => {},
      (error: unknown) => {
        if (!signal.aborted) setStatus((s) => ({ ...s, state: 'stopped', error: asError(error) }));
      },
    );
    // The feed request is out (held until a change commits): following.
    setStatus((s) => ({ ...s, state: 'live' }));
    return () => {
      controller.abort();
      if (timer !== undefined) clearTimeout(timer);
    };
  }, [api, queryClient, collectionUrl, enabled]);

  return enabled
    ? status
    : { state: options.since === undefined ? 'connecting' : 'stopped', recent: [] };
}

/** The feed from `since`, across expired cursors (list again, resume from the new listing). */
async function follow(
  api: DocumentApi,
  queryClient: QueryClient,
  collectionUrl: string,
  since: string | undefined,
  signal: AbortSignal,
  onChange: (change: CollectionChange) => void,
): Promise<void> {
  let from = since;
  for (;;) {
    try {
      for await (const change of api.changes(collectionUrl, {
        ...(from !== undefined ? { since: from } : {}),
        signal,
      })) {
        from = change.cursor;
        onChange(change);
      }
      return;
    } catch (error) {
      if (signal.aborted || !(error instanceof CursorExpiredError)) throw error;
      await queryClient.refetchQueries({
        predicate: (q) => isListingOf(collectionUrl, q.queryKey),
      });
      from = listingCursor(queryClient, collectionUrl);
    }
  }
}

/** The `cursor` member of any listing page of the collection in the cache. */
function listingCursor(queryClient: QueryClient, collectionUrl: string): string | undefined {
  for (const [, data] of queryClient.getQueriesData<DocumentSnapshot>({
    predicate: (q) => isListingOf(collectionUrl, q.queryKey),
  })) {
    const cursor = (data?.value as { cursor?: unknown } | undefined)?.cursor;
    if (typeof cursor === 'string') return cursor;
  }
  return undefined;
}

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));
