// The workload: sequential clients doing random reads and conditional writes
// on a few documents, each request recorded with its invoke and completion
// times on one monotonic clock, as the checker wants them.

import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Operation, Request, Response } from './checker.js';

export interface WorkloadOptions {
  clients: number;
  seconds: number;
  /** Document paths, e.g. `/api/lin/d0`. */
  keys: string[];
  /** Base URLs to read from, looked up at each request (a restarted instance moves). */
  readers: () => string[];
  /** Base URLs to write to. */
  writers: () => string[];
  /** A request not answered by then is abandoned: unknown. */
  timeoutMs?: number;
}

export interface Recorded {
  history: Operation[];
  /** Requests refused at connect (nothing sent, so nothing happened): left out. */
  refused: number;
  /** Responses outside the contract (a 500, a 400…), as `METHOD status body`; recorded as unknown. */
  unexpected: string[];
}

type Raw = { status: number; headers: http.IncomingHttpHeaders; body: string };

/** One request on the client's own keep-alive connection; never retried (node:http does not). */
function send(
  agent: http.Agent,
  url: string,
  method: string,
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers, agent, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/** The bytes of the current document a 412 carries with `Prefer: return=representation`. */
function currentOf(problemJson: string): string | undefined {
  try {
    const current = (JSON.parse(problemJson) as { current?: unknown }).current;
    if (current === undefined) return undefined;
    return typeof current === 'string' ? current : JSON.stringify(current);
  } catch {
    return undefined;
  }
}

const expected: Record<Request['kind'], number[]> = {
  get: [200, 304, 404],
  put: [200, 412],
  create: [201, 412],
  // DELETE with If-Match on an absent document is answered 404 (nothing to delete).
  delete: [204, 404, 412],
};

function toResponse(request: Request, raw: Raw): Response | undefined {
  if (raw.status === 503) return { unknown: '503' };
  if (!expected[request.kind].includes(raw.status)) return undefined;
  const etag = typeof raw.headers.etag === 'string' ? raw.headers.etag : undefined;
  const res: Response = { status: raw.status, ...(etag ? { etag } : {}) };
  if (request.kind === 'get' && raw.status === 200) return { ...res, body: raw.body };
  if (raw.status === 412) {
    const body = currentOf(raw.body);
    return body === undefined ? res : { ...res, body };
  }
  return res;
}

const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)]!;

/** Runs `clients` sequential clients for `seconds`, recording every request. */
export async function runWorkload(o: WorkloadOptions): Promise<Recorded> {
  const timeoutMs = o.timeoutMs ?? 3000;
  const history: Operation[] = [];
  const unexpected: string[] = [];
  let refused = 0;
  let nextId = 0;
  const deadline = performance.now() + o.seconds * 1000;
  const client = async (c: number) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    // The last ETag this client saw per document: what its next If-Match carries.
    const seen = new Map<string, string>();
    let n = 0;
    try {
      while (performance.now() < deadline) {
        const key = pick(o.keys);
        const etag = seen.get(key);
        const r = Math.random();
        const body = JSON.stringify({ c, n: n++ });
        const request: Request =
          r < 0.45
            ? { kind: 'get', ...(etag && Math.random() < 0.5 ? { ifNoneMatch: etag } : {}) }
            : etag === undefined || r < 0.55
              ? { kind: 'create', body }
              : r < 0.9
                ? { kind: 'put', ifMatch: etag, body }
                : { kind: 'delete', ifMatch: etag };
        const base = pick(request.kind === 'get' ? o.readers() : o.writers());
        const headers: Record<string, string> = {};
        if (request.kind !== 'get') headers.prefer = 'return=representation';
        if (request.kind === 'put' || request.kind === 'create')
          headers['content-type'] = 'application/json';
        if (request.kind === 'get' && request.ifNoneMatch)
          headers['if-none-match'] = request.ifNoneMatch;
        if (request.kind === 'put' || request.kind === 'delete')
          headers['if-match'] = request.ifMatch;
        if (request.kind === 'create') headers['if-none-match'] = '*';
        const method =
          request.kind === 'get' ? 'GET' : request.kind === 'delete' ? 'DELETE' : 'PUT';
        const sent = request.kind === 'put' || request.kind === 'create' ? request.body : undefined;
        const invoke = performance.now();
        let response: Response;
        try {
          const raw = await send(agent, `${base}${key}`, method, headers, sent, timeoutMs);
          const known = toResponse(request, raw);
          if (known === undefined)
            unexpected.push(`${method} ${raw.status} ${raw.body.slice(0, 200)}`);
          response = known ?? { unknown: `status ${raw.status}` };
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          if (code === 'ECONNREFUSED') {
            refused++;
            continue;
          }
          response = { unknown: code ?? (error as Error).message };
        }
        const complete = performance.now();
        history.push({ id: nextId++, client: c, key, invoke, complete, request, response });
        if (!('unknown' in response)) {
          if (response.etag) seen.set(key, response.etag);
          else if (response.status === 404 || response.status === 204) seen.delete(key);
          else if (response.status === 412) seen.delete(key); // absent: the next write creates
        }
        // A breath between requests keeps the machine usable; interleavings stay dense.
        await new Promise((r) => setTimeout(r, Math.random() * 3));
      }
    } finally {
      agent.destroy();
    }
  };
  await Promise.all(Array.from({ length: o.clients }, (_, c) => client(c)));
  return { history, refused, unexpected };
}
