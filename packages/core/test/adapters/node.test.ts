import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { preconditions, sendWithETag } from '@ifmatch/core/node';
import { describe, expect, it } from 'vitest';
import { adapterSuite, type Fixture, type Running, raw } from './suite.js';

async function readBody(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of req) body += chunk;
  return body;
}

function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
}

function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<Running> {
  const server = createServer(handler);
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

function startNode(fixture: Fixture, { strict }: { strict: boolean }): Promise<Running> {
  const doc = preconditions(
    (req) => fixture.validators(new URL(req.url!, 'http://x').pathname.slice('/doc/'.length)),
    async (req, res, state) => {
      fixture.calls++;
      const id = new URL(req.url!, 'http://x').pathname.slice('/doc/'.length);
      const current = fixture.docs.get(id);
      if (req.method === 'PUT') {
        const { status, etag } = fixture.put(id, await readBody(req));
        res.writeHead(status, { etag }).end();
        return;
      }
      if (current === undefined) return notFound(res);
      if (req.method === 'DELETE') {
        fixture.docs.delete(id);
        res.writeHead(204).end();
        return;
      }
      res.setHeader('x-seen-etag', state?.validators.etag ?? '');
      res.writeHead(200, { 'content-type': 'application/json' }).end(current.body);
    },
    { strict },
  );
  return listen((req, res) => {
    res.setHeader('cache-control', 'no-cache');
    res.setHeader('access-control-allow-origin', '*');
    const path = new URL(req.url!, 'http://x').pathname;
    const text = { 'content-type': 'text/plain' };
    if (path.startsWith('/doc/')) return void doc(req, res);
    if (path === '/hash/plain') return sendWithETag(req, res, 200, text, fixture.hashBody);
    if (path === '/hash/own')
      return sendWithETag(req, res, 200, { ...text, etag: '"own"' }, fixture.hashBody);
    if (path === '/hash/missing') return sendWithETag(req, res, 404, text, 'no');
    if (path === '/hash/stream') {
      res.writeHead(200, text);
      res.write('one ');
      res.end('two ');
      return;
    }
    notFound(res);
  });
}

adapterSuite('node:http', startNode);

describe('node:http specifics', () => {
  it('duplicate If-Modified-Since lines are invalid, so ignored', async () => {
    let handled = 0;
    const v = { exists: true, etag: '"e"', lastModified: Date.UTC(2024, 0, 1) };
    const route = preconditions(
      () => v,
      (_req, res) => {
        handled++;
        res.end('body');
      },
    );
    const app = await listen((req, res) => void route(req, res));
    try {
      const date = 'If-Modified-Since: Mon, 01 Jan 2024 00:00:00 GMT';
      expect((await raw(app.url, 'GET', '/', [date])).status).toBe(304);
      expect(handled).toBe(0);
      const twice = await raw(app.url, 'GET', '/', [date, date]);
      expect(twice.status).toBe(200);
      expect(twice.body).toBe('body');
      expect(handled).toBe(1);
    } finally {
      await app.close();
    }
  });

  it('validators undefined skips: no ETag set, handler runs even with If-Match', async () => {
    const route = preconditions(
      () => undefined,
      (_req, res, state) => {
        res.end(state === undefined ? 'ran' : 'state?');
      },
      { strict: true },
    );
    const app = await listen((req, res) => void route(req, res));
    try {
      const r = await raw(app.url, 'DELETE', '/', ['If-Match: "nope"']);
      expect(r.status).toBe(200);
      expect(r.body).toBe('ran');
      expect(r.headers.has('etag')).toBe(false);
    } finally {
      await app.close();
    }
  });
});
