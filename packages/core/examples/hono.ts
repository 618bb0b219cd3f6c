// Hono: JSON notes at /notes/:id on PostgreSQL or SQLite, on web-standard
// Request/Response. The middleware evaluates the validators and puts the state
// in c.get('ifmatch'); its `condition` is what the store must still hold at
// commit. A write whose condition no longer held throws in the binding; the
// middleware answers 412 with the current ETag.
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { StoreUnavailableError, WriteConflictError } from '@ifmatch/core';
import { type IfMatchEnv, preconditions } from '@ifmatch/core/hono';
import { BareNotModifiedResponse } from '@ifmatch/core/node';
import { type Context, Hono } from 'hono';
import {
  applyMergePatch,
  ID,
  JSON_TYPE,
  MERGE_PATCH_TYPE,
  NOT_FOUND,
  type Notes,
  noteHeaders,
  PROBLEM_TYPE,
  parseBody,
} from './notes.js';

const problem = (status: number, body: object) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': PROBLEM_TYPE } });

export function app(notes: Notes) {
  const app = new Hono<IfMatchEnv & { Variables: { body: unknown } }>();
  app.onError((error) => {
    // Write conflicts and store failures are answered by `preconditions` (412/404/503).
    if (!(error instanceof WriteConflictError || error instanceof StoreUnavailableError)) {
      console.error(error);
    }
    return problem(500, { type: 'about:blank', title: 'Internal Server Error', status: 500 });
  });
  app.use('/notes/:id', async (c, next) => {
    if (!ID.test(c.req.param('id'))) return problem(404, NOT_FOUND);
    if (c.req.method === 'PUT' || c.req.method === 'PATCH') {
      // The body is checked first: a 400/415 comes before any precondition (RFC 9110 13.2.1).
      const type = c.req.method === 'PATCH' ? MERGE_PATCH_TYPE : JSON_TYPE;
      const parsed = parseBody(c.req.header('content-type'), await c.req.text(), type);
      if (!('value' in parsed)) return problem(parsed.status, parsed.problem);
      c.set('body', parsed.value);
    }
    await next();
  });
  app.use(
    '/notes/:id',
    preconditions((c: Context) => notes.validators(c.req.param('id')!), { strict: true }),
  );

  app.get('/notes/:id', async (c) => {
    const found = await notes.read(c.req.param('id'));
    if (found === undefined) return problem(404, NOT_FOUND);
    // The validators of the state read, not of the check before it.
    return c.body(found.text, 200, { ...noteHeaders(found.validators), 'Content-Type': JSON_TYPE });
  });
  app.put('/notes/:id', async (c) => {
    const saved = await notes.put(c.req.param('id'), c.get('body'), c.get('ifmatch')!.condition);
    if (!saved.created) return c.body(null, 204, noteHeaders(saved));
    return c.body(saved.text, 201, { ...noteHeaders(saved), 'Content-Type': JSON_TYPE });
  });
  app.patch('/notes/:id', async (c) => {
    const patch = applyMergePatch(c.get('body'));
    const saved = await notes.patch(c.req.param('id'), patch, c.get('ifmatch')!.condition);
    return c.body(saved.text, 200, { ...noteHeaders(saved), 'Content-Type': JSON_TYPE });
  });
  app.delete('/notes/:id', async (c) => {
    await notes.delete(c.req.param('id'), c.get('ifmatch')!.condition);
    return c.body(null, 204);
  });
  return app;
}

export function start(notes: Notes, port = 0) {
  return new Promise<{ url: string; close: () => Promise<void> }>((done) => {
    const server = serve(
      {
        fetch: app(notes).fetch,
        port,
        hostname: '127.0.0.1',
        // @hono/node-server adds a default Content-Type to every response; not to our 304s.
        serverOptions: { ServerResponse: BareNotModifiedResponse },
      },
      (info: AddressInfo) => {
        const url = `http://127.0.0.1:${info.port}`;
        const close = () => new Promise<void>((closed) => server.close(() => closed()));
        done({
          url,
          close: () => {
            // keep-alive sockets would hold close() open
            (server as { closeAllConnections?: () => void }).closeAllConnections?.();
            return close();
          },
        });
      },
    );
  });
}
