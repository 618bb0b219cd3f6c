// Live queries: instead of polling, follow what the server pushes. A document
// follows DocumentApi.watch (GETs held until the ETag changes) and writes each
// new version into its query; a collection listing follows the change feed
// (DocumentApi.changes) and is revalidated when a member changes. Components
// keep reading the ordinary queries (useDocument), so a 304 still renders
// nothing and the live part only decides *when* the data moves.
import { CursorExpiredError } from '@ifmatch/client';
import { type QueryClient, type UseQueryResult, useQueryClient } from '@tanstack/react-query';
import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import { primeDocument, useDocument, useDocumentApi } from './hooks.js';
import { documentKey, documentQueryOptions, type UseDocumentOptions } from './options.js';
import {
  type CollectionChange,
  type DocumentApi,
  DocumentNotFoundError,
  type DocumentSnapshot,
} from './types.js';

/**
 * `connecting`: subscribed, the server has not answered yet (a document's
 * first version, a collection's cursor); `live`: following (reconnections
 * happen underneath, without a gap); `paused`: the page is hidden (no request
 * held; showing it again catches up first); `stopped`: disabled, or the
 * subscription ended with an error (`error` says which).
 */
export type LiveState = 'connecting' | 'live' | 'paused' | 'stopped';

export interface LiveStatus {
  state: LiveState;
  error?: Error;
}

export interface UseUpdatesOptions {
  /** Follow only while true (default true). */
  enabled?: boolean;
  /** Seconds the server may hold each request (`Prefer: wait`; default: the client's, 30). */
  wait?: number;
  /**
   * Keep following while the page is hidden (default false). A browser gives
   * one host about six HTTP/1.1 connections for all its tabs: held requests in
   * hidden tabs would leave none for the visible one. Paused, a hidden tab
   * holds nothing; shown again, it asks for what changed (the document's
   * current version; the feed from the listing's cursor) before following on.
   */
  whileHidden?: boolean;
}

const onVisibility = (callback: () => void) => {
  if (typeof document === 'undefined') return () => {};
  document.addEventListener('visibilitychange', callback);
  return () => document.removeEventListener('visibilitychange', callback);
};
const pageVisible = () => typeof document === 'undefined' || document.visibilityState !== 'hidden';

/** False while the page is hidden (another tab in front, a minimized window). */
function usePageVisible(): boolean {
  return useSyncExternalStore(onVisibility, pageVisible, () => true);
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
  const visible = usePageVisible();
  const wanted = options.enabled ?? true;
  const enabled = wanted && (visible || options.whileHidden === true);
  const { wait } = options;
  const [status, setStatus] = useState<LiveStatus>({ state: 'connecting' });

  useEffect(() => {
    if (!enabled) return;
    const controller = new AbortController();
    const { signal } = controller;
    setStatus({ state: 'connecting' });
    const key = documentKey(url);
    let following = false;
    void (async () => {
      try {
        // Let the query's first load finish (or share it): the watch's first
        // read is then a 304 through the same validator cache, not a second download.
        await queryClient.ensureQueryData(documentQueryOptions(api, url)).catch(() => {});
        for await (const event of api.watch(url, { signal, ...waitOption(wait) })) {
          if (signal.aborted) return;
          const current = queryClient.getQueryState<DocumentSnapshot>(key);
          if (event.kind === 'version') {
            // The version the query holds already (same strong ETag): nothing to do.
            if (event.snapshot.etag === undefined || current?.data?.etag !== event.snapshot.etag) {
              // A refetch that left before this version committed must not land
              // after it and put the older state back: drop it (the watch has
              // the newer one).
              await queryClient.cancelQueries({ queryKey: key, exact: true });
              if (signal.aborted) return;
              primeDocument(queryClient, event.snapshot);
            }
          } else if (!(current?.error instanceof DocumentNotFoundError)) {
            // Gone: the refetch answers 404 (DocumentNotFoundError) like any read would.
            await queryClient.invalidateQueries({ queryKey: key, exact: true });
          }
          // Once: a state update per version would render the component again.
          if (!following) {
            following = true;
            setStatus({ state: 'live' });
          }
        }
      } catch (error) {
        if (signal.aborted) return;
        setStatus({ state: 'stopped', error: asError(error) });
      }
    })();
    return () => controller.abort();
  }, [api, queryClient, url, enabled, wait]);

  return enabled ? status : { state: wanted ? 'paused' : 'stopped' };
}

/**
 * useDocument without a polling interval (unless asked for), kept current by
 * useDocumentUpdates: another tab's save shows up as it commits.
 */
export function useLiveDocument<T = unknown>(
  url: string,
  options: UseDocumentOptions & Pick<UseUpdatesOptions, 'wait' | 'whileHidden'> = {},
): UseQueryResult<DocumentSnapshot<T>, Error> {
  const query = useDocument<T>(url, {
    ...options,
    refetchInterval: options.refetchInterval ?? false,
  });
  useDocumentUpdates(url, {
    enabled: options.enabled ?? true,
    ...waitOption(options.wait),
    ...(options.whileHidden === undefined ? {} : { whileHidden: options.whileHidden }),
  });
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
  const visible = usePageVisible();
  const wanted = (options.enabled ?? true) && options.since !== undefined;
  const enabled = wanted && (visible || options.whileHidden === true);
  const { wait } = options;
  // The feed starts from the cursor known when it starts; later listings
  // (revalidated because of the feed itself) do not restart it.
  const since = useRef(options.since);
  since.current = options.since;
  const [status, setStatus] = useState<CollectionUpdates>({ state: 'connecting', recent: [] });

  useEffect(() => {
    if (!enabled) return;
    const controller = new AbortController();
    const { signal } = controller;
    // A restart (shown again) keeps the changes listed so far.
    setStatus((s) => ({ state: 'connecting', recent: s.recent }));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const revalidate = () => {
      timer ??= setTimeout(() => {
        timer = undefined;
        void queryClient.invalidateQueries({
          predicate: (q) => isListingOf(collectionUrl, q.queryKey),
        });
      }, 0);
    };
    void follow(
      api,
      queryClient,
      collectionUrl,
      since.current ?? undefined,
      wait,
      signal,
      (change) => {
        revalidate();
        setStatus((s) => ({
          state: 'live',
          recent: [change, ...s.recent].slice(0, RECENT_CHANGES),
        }));
      },
    ).then(
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
  }, [api, queryClient, collectionUrl, enabled, wait]);

  if (enabled) return status;
  if (wanted) return { ...status, state: 'paused' };
  return { state: options.since === undefined ? 'connecting' : 'stopped', recent: [] };
}

/** The feed from `since`, across expired cursors (list again, resume from the new listing). */
async function follow(
  api: DocumentApi,
  queryClient: QueryClient,
  collectionUrl: string,
  since: string | undefined,
  wait: number | undefined,
  signal: AbortSignal,
  onChange: (change: CollectionChange) => void,
): Promise<void> {
  let from = since;
  for (;;) {
    try {
      for await (const change of api.changes(collectionUrl, {
        ...(from !== undefined ? { since: from } : {}),
        ...waitOption(wait),
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

const waitOption = (wait: number | undefined) => (wait === undefined ? {} : { wait });

const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));
