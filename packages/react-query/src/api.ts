import {
  type FetchLike,
  IfMatchClient,
  type IfMatchClientOptions,
  NotFoundError,
  PreconditionFailedError,
  type WriteResult,
} from '@ifmatch/client';
import { instrumentFetch, type RequestStats } from './stats.js';
import {
  AlreadyExistsError,
  type CollectionChange,
  ConflictError,
  type DocumentApi,
  DocumentNotFoundError,
  type DocumentSnapshot,
  type LiveOptions,
  type WatchEvent,
} from './types.js';

export interface DocumentApiOptions extends Omit<IfMatchClientOptions, 'fetch'> {
  /** The fetch under the client (default: globalThis.fetch). */
  fetch?: FetchLike;
  /** Count every request, 304s and the bytes they saved. */
  stats?: RequestStats;
  /** Use an existing client instead of creating one (then `fetch`/`stats` are not applied). */
  client?: IfMatchClient;
}

/**
 * The DocumentApi over @ifmatch/client: reads go through its validator cache
 * (a 304 returns the cached, already-parsed value), writes carry If-Match /
 * If-None-Match: * and ask for the current document on a 412
 * (Prefer: return=representation), so a conflict needs no extra GET.
 */
export function createDocumentApi(options: DocumentApiOptions = {}): DocumentApi {
  const { stats, client: given, fetch: baseFetch, ...clientOptions } = options;
  let client: IfMatchClient;
  if (given) client = given;
  else {
    const fetch = stats
      ? // A 304's saving is the size of the cached entry it confirmed.
        instrumentFetch(stats, baseFetch, (href) => client.cached(href)?.bytes)
      : baseFetch;
    client = new IfMatchClient({ ...clientOptions, ...(fetch ? { fetch } : {}) });
  }

  return {
    async get<T>(url: string): Promise<DocumentSnapshot<T>> {
      try {
        const r = await client.get<T>(url);
        return {
          url,
          value: r.value,
          etag: r.etag,
          lastModified: r.lastModified,
          notModified: r.fromCache,
        };
      } catch (e) {
        throw translate(url, e);
      }
    },

    async save<T>(url: string, value: T, ifMatch: string): Promise<DocumentSnapshot<T>> {
      try {
        const r = await client.put(url, value, { ifMatch, prefer: 'representation' });
        return written(url, value, r);
      } catch (e) {
        throw translate(url, e);
      }
    },

    async create<T>(url: string, value: T): Promise<DocumentSnapshot<T>> {
      try {
        return written(url, value, await client.create(url, value));
      } catch (e) {
        if (e instanceof PreconditionFailedError) throw new AlreadyExistsError(url, { cause: e });
        throw translate(url, e);
      }
    },

    async remove(url: string, ifMatch: string): Promise<void> {
      try {
        await client.remove(url, { ifMatch });
      } catch (e) {
        throw translate(url, e);
      }
    },

    async *watch<T>(url: string, options: LiveOptions): AsyncIterable<WatchEvent<T>> {
      for await (const v of client.watch<T>(url, options)) {
        if (v.deleted) yield { kind: 'deleted', url };
        else
          yield {
            kind: 'version',
            snapshot: {
              url,
              value: v.value,
              etag: v.etag,
              lastModified: v.lastModified,
              notModified: false,
            },
          };
      }
    },

    async *changes(
      collectionUrl: string,
      options: LiveOptions & { since?: string },
    ): AsyncIterable<CollectionChange> {
      for await (const c of client.changes(collectionUrl, options)) {
        yield {
          id: c.id,
          etag: c.etag,
          lastModified: c.lastModified,
          deleted: c.deleted,
          cursor: c.cursor,
        };
      }
    },
  };
}
/** The snapshot after a successful write: the stored value when the server sent it, else what we sent. */
function written<T>(url: string, sent: T, r: WriteResult): DocumentSnapshot<T> {
  return {
    url,
    value: (r.value ?? sent) as T,
    etag: r.etag,
    lastModified: r.lastModified,
    notModified: false,
  };
}

function translate(url: string, e: unknown): unknown {
  if (e instanceof PreconditionFailedError) {
    return new ConflictError(url, e.currentETag, e.hasCurrent ? { value: e.current } : undefined, {
      cause: e,
    });
  }
  if (e instanceof NotFoundError) return new DocumentNotFoundError(url, { cause: e });
  return e;
}
