// A counting HTTP proxy for tests: forwards every request to the real server,
// records method, status and the body bytes the server sent, and can "lose" a
// response: forward the request, let the server commit, then destroy the
// client's connection instead of answering.

import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Exchange {
  method: string;
  url: string;
  status: number;
  /** Body bytes the server sent (as on the wire, after any content coding). */
  bodyBytes: number;
  requestHeaders: http.IncomingHttpHeaders;
  responseHeaders: http.IncomingHttpHeaders;
}

export interface CountingProxy {
  url: string;
  log: Exchange[];
  count(method: string): number;
  /** The next request matching the predicate is forwarded, then its response is dropped. */
  dropResponseOf(predicate: (req: http.IncomingMessage) => boolean): void;
  /** The next request matching the predicate never reaches the server: its connection is cut. */
  dropRequestOf(predicate: (req: http.IncomingMessage) => boolean): void;
  dropped: number;
  reset(): void;
  close(): Promise<void>;
}

const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection']);

export async function startProxy(target: string): Promise<CountingProxy> {
  const upstream = new URL(target);
  const agent = new http.Agent({ keepAlive: true });
  let drop: ((req: http.IncomingMessage) => boolean) | undefined;
  let cut: ((req: http.IncomingMessage) => boolean) | undefined;
  const state = {
    log: [] as Exchange[],
    dropped: 0,
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (cut?.(req)) {
        cut = undefined;
        state.dropped++;
        req.socket.destroy();
        return;
      }
      const shouldDrop = drop?.(req) ?? false;
      if (shouldDrop) drop = undefined;
      const headers: http.OutgoingHttpHeaders = { ...req.headers, host: upstream.host };
      for (const h of HOP) delete headers[h];
      const up = http.request(
        new URL(req.url ?? '/', upstream),
        { method: req.method, headers, agent },
        (ures) => {
          const out: Buffer[] = [];
          ures.on('data', (c: Buffer) => out.push(c));
          ures.on('end', () => {
            const body = Buffer.concat(out);
            state.log.push({
              method: req.method ?? '',
              url: req.url ?? '',
              status: ures.statusCode ?? 0,
              bodyBytes: body.length,
              requestHeaders: req.headers,
              responseHeaders: ures.headers,
            });
            if (shouldDrop) {
              // The server has committed; the client never hears about it.
              state.dropped++;
              req.socket.destroy();
              return;
            }
            const outHeaders: http.OutgoingHttpHeaders = {};
            for (const [k, v] of Object.entries(ures.headers)) {
              if (!HOP.has(k) && v !== undefined) outHeaders[k] = v;
            }
            if (body.length > 0) outHeaders['content-length'] = body.length;
            res.writeHead(ures.statusCode ?? 502, outHeaders);
            res.end(body);
          });
        },
      );
      up.on('error', () => res.destroy());
      up.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get log() {
      return state.log;
    },
    get dropped() {
      return state.dropped;
    },
    count: (method) => state.log.filter((e) => e.method === method).length,
    dropResponseOf(predicate) {
      drop = predicate;
    },
    dropRequestOf(predicate) {
      cut = predicate;
    },
    reset() {
      state.log = [];
      state.dropped = 0;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
