// Request statistics for the freshness panel: counted at the fetch layer the
// client uses, so every request the app makes is seen, whoever made it.

export interface RequestRecord {
  seq: number;
  method: string;
  path: string;
  status: number;
  /** Bytes the 304 saved (the cached entry's size), else 0. */
  saved: number;
}

export interface StatsSnapshot {
  requests: number;
  notModified: number;
  bytesSaved: number;
  recent: readonly RequestRecord[];
  /** Status of the latest request per path (path + query). */
  lastStatus: Readonly<Record<string, number>>;
}

const RECENT = 12;

export class RequestStats {
  #snapshot: StatsSnapshot = {
    requests: 0,
    notModified: 0,
    bytesSaved: 0,
    recent: [],
    lastStatus: {},
  };
  #listeners = new Set<() => void>();

  readonly subscribe = (listener: () => void): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  readonly getSnapshot = (): StatsSnapshot => this.#snapshot;

  record(method: string, path: string, status: number, saved: number): void {
    const s = this.#snapshot;
    const rec: RequestRecord = { seq: s.requests + 1, method, path, status, saved };
    // A new object each time: useSyncExternalStore compares by reference.
    this.#snapshot = {
      requests: s.requests + 1,
      notModified: s.notModified + (status === 304 ? 1 : 0),
      bytesSaved: s.bytesSaved + saved,
      recent: [rec, ...s.recent].slice(0, RECENT),
      lastStatus: { ...s.lastStatus, [path]: status },
    };
    for (const l of this.#listeners) l();
  }
}

/**
 * Wraps `fetch` so every request is counted. A 304 adds the size of the
 * cached entry it confirmed (`cachedBytes(url)`) to "bytes not downloaded".
 */
export function instrumentFetch(
  stats: RequestStats,
  base: (input: string, init: RequestInit) => Promise<Response> = globalThis.fetch.bind(globalThis),
  cachedBytes: (url: string) => number | undefined = () => undefined,
): (input: string, init: RequestInit) => Promise<Response> {
  return async (input, init) => {
    const method = (init.method ?? 'GET').toUpperCase();
    const url = new URL(input, globalThis.location?.href);
    const response = await base(input, init);
    const saved = response.status === 304 ? (cachedBytes(input) ?? 0) : 0;
    stats.record(method, url.pathname + url.search, response.status, saved);
    return response;
  };
}
