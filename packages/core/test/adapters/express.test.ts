import type { AddressInfo } from 'node:net';
import { bodyETag, preconditions } from '@ifmatch/core/express';
import express, { type Express, type Request, type Response } from 'express';
import express4 from 'express4';
import { describe, expect, it } from 'vitest';
import { adapterSuite, Fixture, type Running, raw } from './suite.js';

function run(app: Express): Promise<Running> {
  return new Promise((resolve) => {
    const server = app.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () => new Promise((done) => server.close(() => done())),
      });
    });
  });
}

// The same app on Express 5 (default) and Express 4: the adapter supports both.
function startExpress(
  fixture: Fixture,
  { strict }: { strict: boolean },
  framework = express,
): Promise<Running> {
  const app = framework();
  // Express's own weak body ETag (on every status) would otherwise tag the 404s.
  app.set('etag', false);
  app.use((_req, res, next) => {
    res.set('cache-control', 'no-cache').set('access-control-allow-origin', '*');
    next();
  });
  // Body parsing first, so a 400 for bad JSON beats a 412 (13.2.1).
  app.use('/doc', framework.text({ type: 'application/json' }), (req, res, next) => {
    if (typeof req.body === 'string' && req.body !== '') {
      try {
        JSON.parse(req.body);
      } catch {
        res.status(400).send('bad json');
        return;
      }
    }
    next();
  });
  const validators = (req: Request) => fixture.validators(String(req.params['id']));
  const doc = preconditions<Request, Response>(
    validators,
    (req, res, state) => {
      fixture.calls++;
      const id = String(req.params['id']);
      if (req.method === 'PUT') {
        const { status, etag } = fixture.put(id, String(req.body));
        res.status(status).set('etag', etag).end();
        return;
      }
      const current = fixture.docs.get(id);
      if (current === undefined) {
        res.status(404).type('text/plain').send('not found');
        return;
      }
      if (req.method === 'DELETE') {
        fixture.docs.delete(id);
        res.status(204).end();
        return;
      }
      res.set('x-seen-etag', state?.validators.etag);
      res.type('application/json').send(current.body);
    },
    { strict },
  );
  app.all('/doc/:id', doc);

  app.use('/hash', bodyETag());
  app.get('/hash/plain', (_req, res) => {
    res.type('text/plain').send(fixture.hashBody);
  });
  app.get('/hash/own', (_req, res) => {
    res.type('text/plain').set('etag', '"own"').send(fixture.hashBody);
  });
  app.get('/hash/missing', (_req, res) => {
    res.status(404).type('text/plain').send('no');
  });
  app.get('/hash/stream', (_req, res) => {
    res.type('text/plain');
    res.write('one ');
    res.end('two ');
  });
  return run(app);
}

adapterSuite('Express 5', startExpress);
adapterSuite('Express 4', (fixture, options) =>
  startExpress(fixture, options, express4 as unknown as typeof express),
);

it('the Express 4 under test is Express 4', async () => {
  const { version } = (await import('express4/package.json', { with: { type: 'json' } })).default;
  expect(version).toMatch(/^4\./);
});

describe('Express specifics', () => {
  it('a body parse error (400) beats a failing If-Match', async () => {
    const fixture = new Fixture();
    const app = await startExpress(fixture, { strict: true });
    try {
      const r = await raw(
        app.url,
        'PUT',
        '/doc/a',
        ['If-Match: "stale"', 'Content-Type: application/json'],
        '{oops',
      );
      expect(r.status).toBe(400);
      expect(fixture.calls).toBe(0);
    } finally {
      await app.close();
    }
  });

  it('body-hash: res.end(body) without res.send is hashed too, and JSON via res.json', async () => {
    const app = express();
    app.use(bodyETag());
    app.get('/end', (_req, res) => {
      res.end('ended');
    });
    app.get('/json', (_req, res) => {
      res.json({ a: 1 });
    });
    const running = await run(app);
    try {
      for (const path of ['/end', '/json']) {
        const first = await raw(running.url, 'GET', path);
        expect(first.status).toBe(200);
        const etag = first.headers.get('etag')?.[0];
        expect(etag).toMatch(/^"/); // ours is strong; Express's own would be W/
        const again = await raw(running.url, 'GET', path, [`If-None-Match: ${etag}`]);
        expect(again.status).toBe(304);
        expect(again.headers.has('content-length')).toBe(false);
        expect(again.headers.has('content-type')).toBe(false);
        expect(again.body).toBe('');
      }
    } finally {
      await running.close();
    }
  });
});
