import { Readable } from 'node:stream';
import { ifmatch } from '@ifmatch/core/fastify';
import Fastify, { type FastifyInstance } from 'fastify';
import { describe, expect, it } from 'vitest';
import { adapterSuite, type Fixture, type Running, raw } from './suite.js';

async function run(app: FastifyInstance): Promise<Running> {
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, close: () => app.close() };
}

async function startFastify(fixture: Fixture, { strict }: { strict: boolean }): Promise<Running> {
  const app = Fastify();
  // Set before the preconditions run: a 304 must keep them.
  app.addHook('onRequest', async (_req, reply) => {
    reply.header('cache-control', 'no-cache').header('access-control-allow-origin', '*');
  });
  await app.register(ifmatch, { strict });

  const validators = (req: { params: unknown }) =>
    fixture.validators((req.params as { id: string }).id);
  type Doc = { Params: { id: string }; Body: unknown };
  // HEAD comes with GET (exposeHeadRoutes). A body schema on PUT: a bad body is
  // 400 before any precondition (13.2.1).
  app.put<Doc>(
    '/doc/:id',
    { schema: { body: { type: 'object' } }, config: { validators } },
    async (req, reply) => {
      fixture.calls++;
      const { status, etag } = fixture.put(req.params.id, JSON.stringify(req.body));
      return reply.code(status).header('etag', etag).send();
    },
  );
  app.route<Doc>({
    method: ['GET', 'DELETE'],
    url: '/doc/:id',
    config: { validators },
    handler: async (req, reply) => {
      fixture.calls++;
      const { id } = req.params;
      const current = fixture.docs.get(id);
      if (current === undefined) return reply.code(404).type('text/plain').send('not found');
      if (req.method === 'DELETE') {
        fixture.docs.delete(id);
        return reply.code(204).send();
      }
      reply.header('x-seen-etag', req.ifmatch?.validators.etag);
      return reply.type('application/json').send(current.body);
    },
  });

  const hash = { config: { bodyHash: true } };
  app.get('/hash/plain', hash, async (_req, reply) =>
    reply.type('text/plain').send(fixture.hashBody),
  );
  app.get('/hash/own', hash, async (_req, reply) =>
    reply.type('text/plain').header('etag', '"own"').send(fixture.hashBody),
  );
  app.get('/hash/missing', hash, async (_req, reply) =>
    reply.code(404).type('text/plain').send('no'),
  );
  app.get('/hash/stream', hash, async (_req, reply) =>
    reply.type('text/plain').send(Readable.from(['one ', 'two '])),
  );
  return run(app);
}

adapterSuite('Fastify', startFastify);

describe('Fastify specifics', () => {
  it('400 (schema) and 415 (content type) beat 412: preHandler runs after validation', async () => {
    const fixture = new (await import('./suite.js')).Fixture();
    const app = await startFastify(fixture, { strict: true });
    try {
      const bad = await raw(
        app.url,
        'PUT',
        '/doc/a',
        ['If-Match: "stale"', 'Content-Type: application/json'],
        '[1]',
      );
      expect(bad.status).toBe(400);
      const type = await raw(
        app.url,
        'PUT',
        '/doc/a',
        ['If-Match: "stale"', 'Content-Type: text/csv'],
        'a,b',
      );
      expect(type.status).toBe(415);
      expect(fixture.calls).toBe(0);
    } finally {
      await app.close();
    }
  });

  it('the plugin reaches routes of the context that registers it, not its siblings', async () => {
    const app = Fastify();
    await app.register(async (api) => {
      await api.register(ifmatch);
      api.get('/in', { config: { validators: () => ({ exists: true, etag: '"i"' }) } }, () => 'in');
    });
    app.get('/out', { config: { validators: () => ({ exists: true, etag: '"o"' }) } }, () => 'out');
    const running = await run(app);
    try {
      expect((await raw(running.url, 'GET', '/in', ['If-None-Match: "i"'])).status).toBe(304);
      const out = await raw(running.url, 'GET', '/out', ['If-None-Match: "o"']);
      expect(out.status).toBe(200);
      expect(out.headers.has('etag')).toBe(false);
    } finally {
      await running.close();
    }
  });

  it('async validators and the handler reading request.ifmatch.evaluation', async () => {
    const app = Fastify();
    await app.register(ifmatch);
    app.get(
      '/r',
      {
        config: {
          validators: async () => ({ exists: true, etag: '"r"', lastModified: new Date(0) }),
        },
      },
      async (req) => ({ status: req.ifmatch?.evaluation?.status }),
    );
    const running = await run(app);
    try {
      const r = await fetch(`${running.url}/r`, { headers: { 'If-None-Match': '"other"' } });
      expect(r.status).toBe(200);
      expect(r.headers.get('last-modified')).toBe('Thu, 01 Jan 1970 00:00:00 GMT');
      expect(await r.json()).toEqual({ status: 'proceed' });
    } finally {
      await running.close();
    }
  });
});
