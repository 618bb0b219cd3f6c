// A small HTTP server the live-iterator tests control, over real loopback
// HTTP: one document (/doc) and one collection feed (/api/c), answering as
// ../shared/CONTRACT.md "Live changes" says (If-None-Match + Prefer: wait
// long-poll with Preference-Applied; ?since= feed pages, 410 for an expired
// cursor; the listing's cursor). The tests can make it fail (5xx, cut
// connections), stop honouring `wait`, and see every request and how many
// are still open.

import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LiveRequest {
  url: string;
  headers: http.IncomingHttpHeaders;
  status: number;
  preferenceApplied: boolean;
  /** ms from arrival to answer. */
  heldMs: number;
  /** performance.now() at arrival. */
  at: number;
}

export interface FeedEntry {
  id: string;
  etag?: string;
  lastModified: string;
  deleted: boolean;
}

export interface LiveServer {
  url: string;
  requests: LiveRequest[];
  /** Requests arrived and not yet answered or closed. */
  readonly open: number;
  /** Replace the document (a new version) or delete it (undefined). */
  setDoc(value: unknown | undefined): void;
  /** Append changes to the collection feed. */
  append(...changes: FeedEntry[]): void;
  /** Feed cursors at or below this position answer 410 (retention). */
  expireThrough(position: number): void;
  /** When false the server ignores Prefer: wait (a server without long-poll). */
  honourWait: boolean;
  /** Answer the next `n` requests matching with this status (a problem+json body, Retry-After if given). */
  failNext(n: number, status: number, path?: string, retryAfter?: string): void;
  /** Cut the connection of the next `n` requests matching, after reading them. */
  cutNext(n: number, path?: string): void;
  /** Requests arrived so far (answered or not). */
  readonly arrived: number;
  /** Wait until `n` requests (in total) have arrived. */
  waitForRequests(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const MAX_WAIT = 60;

export async function startLiveServer(): Promise<LiveServer> {
  let doc: { value: unknown; etag: string; lastModified: string } | undefined = {
    value: { v: 0 },
    etag: '"v0"',
    lastModified: new Date(0).toUTCString(),
  };
  let version = 0;
  const log: FeedEntry[] = [];
  let expired = 0;
  let failures: {
    n: number;
    status: number;
    path: string | undefined;
    retryAfter: string | undefined;
  } = { n: 0, status: 0, path: undefined, retryAfter: undefined };
  let cuts: { n: number; path: string | undefined } = { n: 0, path: undefined };
  const wakers = new Set<() => void>();
  const requests: LiveRequest[] = [];
  const arrivals = new Set<() => void>();
  let open = 0;
  let arrived = 0;
  const state = { honourWait: true };

  const wake = () => {
    for (const w of [...wakers]) w();
  };

  const server = http.createServer((req, res) => {
    open++;
    res.on('close', () => open--);
    const url = new URL(req.url ?? '/', 'http://x');
    const startedAt = performance.now();
    const record = (status: number, preferenceApplied: boolean) =>
      requests.push({
        url: req.url ?? '',
        headers: req.headers,
        status,
        preferenceApplied,
        heldMs: performance.now() - startedAt,
        at: startedAt,
      });
    arrived++;
    for (const a of [...arrivals]) a();

    if (cuts.n > 0 && (cuts.path === undefined || url.pathname === cuts.path)) {
      cuts.n--;
      record(0, false);
      req.socket.destroy();
      return;
    }
    if (failures.n > 0 && (failures.path === undefined || url.pathname === failures.path)) {
      failures.n--;
      record(failures.status, false);
      res.writeHead(failures.status, {
        'content-type': 'application/problem+json',
        ...(failures.retryAfter === undefined ? {} : { 'retry-after': failures.retryAfter }),
      });
      res.end(JSON.stringify({ type: 'about:blank', title: 'Failure', status: failures.status }));
      return;
    }
    const wait = preferredWait(req.headers.prefer?.toString());

    /** Hold until `ready()` is true or the wait passes, then `answer(waited)`. */
    const hold = (ready: () => boolean, answer: (waited: boolean) => void) => {
      if (wait === undefined || !state.honourWait || ready()) {
        answer(false);
        return;
      }
      const done = () => {
        clearTimeout(timer);
        wakers.delete(check);
        res.off('close', done);
      };
      const check = () => {
        if (!ready()) return;
        done();
        answer(true);
      };
      const timer = setTimeout(() => {
        done();
        answer(true);
      }, wait * 1000);
      wakers.add(check);
      res.on('close', done); // a client that leaves takes its timer and waker with it
    };
    const applied = (waited: boolean): Record<string, string> =>
      waited ? { 'preference-applied': `wait=${Math.min(wait ?? 0, MAX_WAIT)}` } : {};

    if (url.pathname === '/doc') {
      const inm = req.headers['if-none-match'];
      const matches = () => doc !== undefined && inm === doc.etag;
      hold(
        () => !matches(),
        (waited) => {
          if (matches()) {
            record(304, waited);
            res.writeHead(304, { etag: doc!.etag, ...applied(waited) });
            res.end();
          } else if (doc === undefined) {
            record(404, waited);
            res.writeHead(404, { 'content-type': 'application/problem+json', ...applied(waited) });
            res.end(JSON.stringify({ title: 'Not Found', status: 404 }));
          } else {
            record(200, waited);
            res.writeHead(200, {
              'content-type': 'application/json',
              etag: doc.etag,
              'last-modified': doc.lastModified,
              ...applied(waited),
            });
            res.end(JSON.stringify(doc.value));
          }
        },
      );
      return;
    }
    if (url.pathname === '/api/c') {
      const since = url.searchParams.get('since');
      if (since === null) {
        record(200, false);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ items: [], next: null, cursor: `${log.length}.t` }));
        return;
      }
      const position = /^(\d+)(?:\.t)?$/.exec(since);
      if (position === null) {
        record(400, false);
        res.writeHead(400, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ title: 'Bad cursor', status: 400 }));
        return;
      }
      const after = Number(position[1]);
      if (after > 0 && after < expired) {
        record(410, false);
        res.writeHead(410, { 'content-type': 'application/problem+json' });
        res.end(JSON.stringify({ type: 'cursor-expired', title: 'Gone', status: 410 }));
        return;
      }
      const limit = Number(url.searchParams.get('limit') ?? 1000);
      const from = Math.max(after, after === 0 ? expired : 0);
      hold(
        () => log.length > from,
        (waited) => {
          const changes = log.slice(from, from + limit);
          record(200, waited);
          res.writeHead(200, {
            'content-type': 'application/json',
            'cache-control': 'no-store',
            ...applied(waited),
          });
          res.end(JSON.stringify({ changes, cursor: `${from + changes.length}.t` }));
        },
      );
      return;
    }
    if (url.pathname === '/api/plain') {
      // A listing from a server without a change feed: no cursor member.
      record(200, false);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ items: [], next: null }));
      return;
    }
    record(404, false);
    res.writeHead(404, { 'content-type': 'application/problem+json' });
    res.end(JSON.stringify({ title: 'Not Found', status: 404 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get open() {
      return open;
    },
    get honourWait() {
      return state.honourWait;
    },
    set honourWait(value: boolean) {
      state.honourWait = value;
    },
    setDoc(value) {
      version++;
      doc =
        value === undefined
          ? undefined
          : { value, etag: `"v${version}"`, lastModified: new Date(version * 1000).toUTCString() };
      wake();
    },
    append(...changes) {
      log.push(...changes);
      wake();
    },
    expireThrough(position) {
      expired = position;
    },
    failNext(n, status, path, retryAfter) {
      failures = { n, status, path, retryAfter };
    },
    cutNext(n, path) {
      cuts = { n, path };
    },
    get arrived() {
      return arrived;
    },
    waitForRequests(n, timeoutMs = 10_000) {
      return new Promise<void>((resolve, reject) => {
        if (arrived >= n) {
          resolve();
          return;
        }
        const onArrival = () => {
          if (arrived < n) return;
          clearTimeout(timer);
          arrivals.delete(onArrival);
          resolve();
        };
        const timer = setTimeout(() => {
          arrivals.delete(onArrival);
          reject(new Error(`waited for ${n} requests, ${arrived} arrived`));
        }, timeoutMs);
        arrivals.add(onArrival);
      });
    },
    async close() {
      wake();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** RFC 7240 `wait=N` from a Prefer field; junk is no preference. */
function preferredWait(prefer: string | undefined): number | undefined {
  const m = /(?:^|[,;\s])wait\s*=\s*(\d+)/i.exec(prefer ?? '');
  return m ? Math.min(Number(m[1]), MAX_WAIT) : undefined;
}
