// The write contract on PostgreSQL (pg and Kysely's PostgreSQL dialect) behind a
// latency proxy, all four adapters and Express 4; and the control: the old
// check-then-write handler loses updates under the same proxy.
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { InProcessLock } from '@ifmatch/core';
import { preconditions } from '@ifmatch/core/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestDatabase,
  describePostgres,
  type TestDatabase,
} from '../../../server/test/postgres/pg.js';
import { type Backend, openBackend } from '../helpers/stores.js';
import {
  type Combo,
  create,
  JSON_HEADERS,
  N,
  ok,
  type Running,
  raceSuite,
  send,
} from './write-races.js';

// The full 16 x 50 counter race on pg; 6 x 5 elsewhere (each increment is a few proxied round trips).
const COMBOS: Combo[] = [
  { adapter: 'fastify', store: 'pg', etag: 'version', counter: [16, 50] },
  { adapter: 'node', store: 'pg', etag: 'hash', counter: [6, 5] },
  { adapter: 'express', store: 'pg', etag: 'version', counter: [6, 5] },
  { adapter: 'express4', store: 'pg', etag: 'version', counter: [6, 5] },
  { adapter: 'hono', store: 'pg', etag: 'version', counter: [6, 5] },
  { adapter: 'hono', store: 'kysely-pg', etag: 'version', counter: [6, 5] },
];

/**
 * A node:http app that evaluates If-Match and then, after a little async work,
 * writes: `atomic` with the condition (one conditional UPDATE), or the old way
 * (an unconditional UPDATE after the check), optionally under an InProcessLock.
 */
async function writer(backend: Backend, mode: 'atomic' | 'naive' | 'naive+lock'): Promise<Running> {
  const idOf = (req: IncomingMessage) => req.url!.slice('/notes/'.length);
  const lock = new InProcessLock();
  const route = preconditions(
    (req) => backend.notes.validators(idOf(req)),
    async (req, res, state) => {
      let text = '';
      for await (const chunk of req) text += chunk;
      await sleep(20); // "a little async work" between the check and the write
      if (mode === 'atomic') {
        const saved = await backend.notes.put(idOf(req), JSON.parse(text), state!.condition);
        res.writeHead(204, { ETag: saved.etag }).end();
      } else {
        await backend.blindWrite(idOf(req), JSON.parse(text));
        res.writeHead(204).end();
      }
    },
    { strict: true, ...(mode === 'naive+lock' ? { inProcessLock: { lock, key: idOf } } : {}) },
  );
  const server = createServer((req, res) => void route(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((done) => server.close(() => done())),
  };
}

let db: TestDatabase | undefined;
await describePostgres('PostgreSQL', () => {
  beforeAll(async () => {
    db = await createTestDatabase('ifmatch_core');
  });
  afterAll(async () => {
    await db?.drop();
  });
  for (const combo of COMBOS) raceSuite(combo, () => db?.url);

  describe('the control: check-then-write loses updates through the same proxy', () => {
    let backend: Backend;
    beforeAll(async () => {
      backend = await openBackend('pg', 'version', db!.url);
    });
    afterAll(async () => {
      await backend?.close();
    });

    const race = async (mode: 'atomic' | 'naive' | 'naive+lock') => {
      const app = await writer(backend, mode);
      try {
        const url = `${app.url}/notes/${mode.replace('+', '-')}`;
        // Created through the store (this app only replaces).
        const { start } = await import('../../examples/node.js');
        const examples = await start(backend.notes);
        const base = await create(`${examples.url}/notes/${mode.replace('+', '-')}`, { w: -1 });
        await examples.close();
        const results = await Promise.all(
          Array.from({ length: N }, (_, i) =>
            send(url, 'PUT', { ...JSON_HEADERS, 'If-Match': base }, { w: i }),
          ),
        );
        return results.filter((r) => ok(r.status)).length;
      } finally {
        await app.close();
      }
    };

    it('the naive handler lets several writers with the same If-Match through', async () => {
      expect(await race('naive')).toBeGreaterThan(1);
    });
    it('the same handler writing with the condition: exactly one', async () => {
      expect(await race('atomic')).toBe(1);
    });
    it('the naive handler under inProcessLock (one process): exactly one', async () => {
      expect(await race('naive+lock')).toBe(1);
    });
  });
});
