import {
  type QueryClient,
  type UseMutationResult,
  type UseQueryResult,
  useMutation,
  useQuery,
  useQueryClient,
} from '@tanstack/react-query';
import { createContext, type ReactNode, useContext, useSyncExternalStore } from 'react';
import { documentKey, documentQueryOptions, type UseDocumentOptions } from './options.js';

export type { UseDocumentOptions };

import type { RequestStats, StatsSnapshot } from './stats.js';
import type { DocumentApi, DocumentSnapshot } from './types.js';

interface IfMatchContextValue {
  api: DocumentApi;
  stats: RequestStats | undefined;
}

const IfMatchContext = createContext<IfMatchContextValue | null>(null);

/** Provides the document API (and optionally request stats) to the hooks below. */
export function IfMatchProvider(props: {
  api: DocumentApi;
  stats?: RequestStats;
  children: ReactNode;
}) {
  return (
    <IfMatchContext.Provider value={{ api: props.api, stats: props.stats }}>
      {props.children}
    </IfMatchContext.Provider>
  );
}

export function useDocumentApi(): DocumentApi {
  const ctx = useContext(IfMatchContext);
  if (!ctx) throw new Error('useDocumentApi needs an <IfMatchProvider>');
  return ctx.api;
}

const EMPTY: StatsSnapshot = {
  requests: 0,
  notModified: 0,
  bytesSaved: 0,
  recent: [],
  lastStatus: {},
};
const noSubscribe = () => () => {};

/** Live request counters (requests, 304s, bytes not downloaded). */
export function useRequestStats(): StatsSnapshot {
  const stats = useContext(IfMatchContext)?.stats;
  return useSyncExternalStore(stats?.subscribe ?? noSubscribe, stats?.getSnapshot ?? (() => EMPTY));
}

/** HTTP status of the latest request for `url` (e.g. 304 after a revalidation), if seen. */
export function useLastResponse(url: string): number | undefined {
  const { lastStatus } = useRequestStats();
  const u = new URL(url, globalThis.location?.href ?? 'http://localhost/');
  return lastStatus[u.pathname + u.search];
}

/**
 * A document (or collection listing) kept fresh by conditional GETs: every
 * revalidation sends If-None-Match; a 304 costs no body and no JSON parse and
 * yields the same snapshot object.
 */
export function useDocument<T = unknown>(
  url: string,
  options: UseDocumentOptions = {},
): UseQueryResult<DocumentSnapshot<T>, Error> {
  const api = useDocumentApi();
  return useQuery(documentQueryOptions<T>(api, url, options));
}

/** Put a snapshot we know is current into the query cache (after a write or a 412). */
export function primeDocument(queryClient: QueryClient, snapshot: DocumentSnapshot): void {
  queryClient.setQueryData(documentKey(snapshot.url), snapshot);
}

export interface SaveVariables<T = unknown> {
  url: string;
  value: T;
  /** The ETag the edit was based on. */
  ifMatch: string;
}

/**
 * PUT with If-Match. Success updates the document's query; a 412 rejects
 * with a ConflictError carrying the current document when the server sent it
 * (the app decides when to show it: `primeDocument` puts it in the cache).
 */
export function useSaveDocument<T = unknown>(): UseMutationResult<
  DocumentSnapshot<T>,
  Error,
  SaveVariables<T>
> {
  const api = useDocumentApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (v: SaveVariables<T>) => api.save<T>(v.url, v.value, v.ifMatch),
    onSuccess: (snapshot) => primeDocument(queryClient, snapshot),
  });
}

/** PUT with If-None-Match: * ; an existing id rejects with AlreadyExistsError. */
export function useCreateDocument<T = unknown>(): UseMutationResult<
  DocumentSnapshot<T>,
  Error,
  { url: string; value: T }
> {
  const api = useDocumentApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (v: { url: string; value: T }) => api.create<T>(v.url, v.value),
    onSuccess: (snapshot) => {
      primeDocument(queryClient, snapshot);
      void queryClient.invalidateQueries({
        queryKey: ['ifmatch', 'document'],
        refetchType: 'active',
      });
    },
  });
}

/** DELETE with If-Match; a stale ETag rejects with ConflictError. */
export function useDeleteDocument(): UseMutationResult<
  void,
  Error,
  { url: string; ifMatch: string }
> {
  const api = useDocumentApi();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (v: { url: string; ifMatch: string }) => api.remove(v.url, v.ifMatch),
    onSuccess: (_r, v) => {
      queryClient.removeQueries({ queryKey: documentKey(v.url), exact: true });
      void queryClient.invalidateQueries({
        queryKey: ['ifmatch', 'document'],
        refetchType: 'active',
      });
    },
  });
}
