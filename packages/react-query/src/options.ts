import { queryOptions } from '@tanstack/react-query';
import { type DocumentApi, DocumentNotFoundError, type DocumentSnapshot } from './types.js';

/** The query key of a document URL: one cache entry per URL. */
export const documentKey = (url: string) => ['ifmatch', 'document', url] as const;

/**
 * Keep the previous snapshot object when the state did not change (same ETag
 * and, on a 304, the very same cached value): components see the same
 * reference and skip re-rendering, without TanStack's deep comparison walking
 * the whole document on every revalidation.
 */
function sameState(old: unknown, next: unknown): unknown {
  const o = old as DocumentSnapshot | undefined;
  const n = next as DocumentSnapshot;
  if (o && o.etag !== undefined && o.etag === n.etag && o.value === n.value) return o;
  return n;
}

export interface UseDocumentOptions {
  /** Revalidate every N ms with If-None-Match; false = never. Default 5000. */
  refetchInterval?: number | false;
  /** Revalidate when the window regains focus. Default true. */
  refetchOnWindowFocus?: boolean;
  enabled?: boolean;
}

/**
 * The query options behind useDocument, for `useQuery`, `useSuspenseQuery`,
 * `queryClient.fetchQuery` or `prefetchQuery` alike.
 */
export function documentQueryOptions<T = unknown>(
  api: DocumentApi,
  url: string,
  options: UseDocumentOptions = {},
) {
  return queryOptions({
    queryKey: documentKey(url),
    queryFn: () => api.get<T>(url),
    refetchInterval: options.refetchInterval ?? 5000,
    refetchOnWindowFocus: options.refetchOnWindowFocus ?? true,
    enabled: options.enabled ?? true,
    structuralSharing: sameState as (old: unknown, next: unknown) => DocumentSnapshot<T>,
    // The data is always revalidated before use; 304s make that cheap.
    staleTime: 0,
    // A missing document is an answer, not a transient failure.
    retry: (count: number, error: Error) => !(error instanceof DocumentNotFoundError) && count < 2,
  });
}
