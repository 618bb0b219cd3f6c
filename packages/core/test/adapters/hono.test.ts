import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { bodyETag, type IfMatchEnv, preconditions } from '@ifmatch/core/hono';
import { BareNotModifiedResponse } from '@ifmatch/core/node';
import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import { adapterSuite, type Fixture, type Running } from './suite.js';

function run(app: { fetch: (req: Request) => Response | Promise<Response> }): Promise<Running> {
  return new Promise((resolve) => {
    // @hono/node-server gives every response a default Content-Type, 304s too:
    // BareNotModifiedResponse takes it off 304s.
    const options = {
      fetch: app.fetch,
      port: 0,
      hostname: '127.0.0.1',
      serverOptions: { ServerResponse: BareNotModifiedResponse },
    };
    const server = serve(options, (info) => {
      resolve({
        url: `http://127.0.0.1:${(info as AddressInfo).port}`,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

function startHono(fixture: Fixture, { strict }: { strict: boolean }): Promise<Running> {
  const app = new Hono<IfMatchEnv>();
  app.use('*', async (c, next) => {
    c.header('cache-control', 'no-cache');
    c.header('access-control-allow-origin', '*');
    await next();
  });
  app.use(
    '/doc/:id',
    preconditions((c) => fixture.validators(c.req.param('id') ?? ''), { strict }),
  );
  app.on(['GET', 'PUT', 'DELETE'], '/doc/:id', async (c) => {
    fixture.calls++;
    const id = c.req.param('id');
    if (c.req.method === 'PUT') {
      const { status, etag } = fixture.put(id, await c.req.text());
      return c.body(null, status as 200 | 201, { etag });
    }
    const current = fixture.docs.get(id);
    if (current === undefined) return c.text('not found', 404);
    if (c.req.method === 'DELETE') {
      fixture.docs.delete(id);
      return c.body(null, 204);
    }
    c.header('x-seen-etag', c.get('ifmatch')?.validators.etag);
    return c.body(current.body, 200, { 'content-type': 'application/json' });
  });

  app.use('/hash/*', bodyETag());
  app.get('/hash/plain', (c) => c.text(fixture.hashBody));
  app.get('/hash/own', (c) => c.text(fixture.hashBody, 200, { etag: '"own"' }));
  app.get('/hash/missing', (c) => c.text('no', 404));
  // Every Hono body is a stream; an event stream is the one it leaves alone.
  app.get('/hash/stream', () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('one '));
        controller.enqueue(new TextEncoder().encode('two '));
        controller.close();
      },
    });
    return new Response(body, { headers: { 'content-type': 'text/event-stream' } });
  });
  return run(app);
}

adapterSuite('Hono', startHono);

describe('Hono specifics', () => {
  it('a handler returning a raw Response keeps the validator headers', async () => {
    const app = new Hono<IfMatchEnv>();
    app.use(
      '/r',
      preconditions(() => ({ exists: true, etag: '"r"', lastModified: 0 })),
    );
    app.get('/r', (c) => new Response(`seen ${c.get('ifmatch')?.evaluation?.status}`));
    const running = await run(app);
    try {
      const r = await fetch(`${running.url}/r`);
      expect(r.status).toBe(200);
      expect(r.headers.get('etag')).toBe('"r"');
      expect(r.headers.get('last-modified')).toBe('Thu, 01 Jan 1970 00:00:00 GMT');
      expect(await r.text()).toBe('seen proceed');
      expect(
        (await fetch(`${running.url}/r`, { headers: { 'If-None-Match': '"r"' } })).status,
      ).toBe(304);
    } finally {
      await running.close();
    }
  });

  it('works in-process with app.request (no server): web-standard Request/Response', async () => {
    const app = new Hono();
    app.use(
      '/x',
      preconditions(() => ({ exists: true, etag: '"x"' }), { strict: true }),
    );
    app.delete('/x', (c) => c.body(null, 204));
    expect((await app.request('/x', { method: 'DELETE' })).status).toBe(428);
    const failed = await app.request('/x', { method: 'DELETE', headers: { 'If-Match': '"y"' } });
    expect(failed.status).toBe(412);
    expect(failed.headers.get('etag')).toBe('"x"');
    expect(await failed.json()).toMatchObject({ status: 412, precondition: 'If-Match' });
    const ok = await app.request('/x', { method: 'DELETE', headers: { 'If-Match': '"x"' } });
    expect(ok.status).toBe(204);
  });
});
