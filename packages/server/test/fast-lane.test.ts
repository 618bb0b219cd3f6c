// The read fast lane (src/http/fast-lane.ts) answers document GET/HEAD before
// Fastify. The Fastify route is the reference: for every request shape, the
// lane's answer must be the route's, field for field and byte for byte (apart
// from Date and the request id's value), and the lane must really answer the
// requests it claims (no Fastify hook runs for them).
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/http/app.js';
import { parseAuthConfig } from '../src/http/auth.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import type { DocumentStore } from '../src/store/types.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function get(
  port: number,
  path: string,
  method: string,
  headers: Record<string, string>,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** What must be equal: everything but Date and the request id's value. */
function comparable(a: Answer) {
  const { date: _date, 'x-request-id': id, ...headers } = a.headers;
  expect(id).toMatch(/^[0-9a-f-]{36}$/);
  return { status: a.status, headers, body: a.body.toString('base64') };
}

interface Running {
  app: FastifyInstance;
  port: number;
  /** Requests that went through Fastify's hooks. */
  viaFastify: () => number;
}

/**
 * Counts what Fastify answered (onResponse runs for every answer, refusals by
 * earlier onRequest hooks included), then listens on an ephemeral port.
 */
async function listening(app: FastifyInstance): Promise<Running> {
  let count = 0;
  app.addHook('onResponse', (_request, _reply, done) => {
    count++;
    done();
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { app, port: address.port, viaFastify: () => count };
}

async function start(store: DocumentStore, fastLane: boolean): Promise<Running> {
  return listening(await buildApp({ store, fastLane, defaultMetrics: false }));
}

describe('read fast lane', () => {
  let dir: string;
  let store: DocumentStore;
  let lane: Running;
  let route: Running;
  const small = Buffer.from('{"title":"small","n":1}');
  const large = Buffer.from(JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => i) }));
  const tags: Record<string, string> = {};

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ifmatch-lane-'));
    store = openSqliteStore(join(dir, 'lane.db'));
    lane = await start(store, true);
    route = await start(store, false);
    for (const [id, body] of [
      ['small', small],
      ['large', large],
    ] as const) {
      const res = await fetch(`http://127.0.0.1:${route.port}/api/lane/${id}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(res.status).toBe(201);
      tags[id] = res.headers.get('etag')!;
    }
    // Warm both body caches (identity, gzip, br) through the route.
    for (const r of [lane, route]) {
      for (const id of ['small', 'large']) {
        for (const ae of ['', 'gzip', 'br']) {
          const a = await get(r.port, `/api/lane/${id}`, 'GET', { 'accept-encoding': ae });
          expect(a.status).toBe(200);
        }
      }
    }
  });

  afterAll(async () => {
    await lane?.app.close();
    await route?.app.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const coded = (id: string, coding: string) =>
    coding === '' || id === 'small' ? tags[id]! : tags[id]!.replace(/"$/, `.${coding}"`);

  type Case = [name: string, id: string, method: string, headers: () => Record<string, string>];
  const cases: Case[] = [];
  for (const id of ['small', 'large']) {
    for (const method of ['GET', 'HEAD']) {
      for (const ae of ['', 'gzip', 'br', 'gzip, br;q=0.5']) {
        const coding = ae === '' ? '' : ae.startsWith('gzip') ? 'gzip' : 'br';
        const base = ae === '' ? {} : { 'accept-encoding': ae };
        const label = `${method} ${id} ae=${ae || '-'}`;
        cases.push(
          [`${label} unconditional`, id, method, () => ({ ...base })],
          [
            `${label} If-None-Match current`,
            id,
            method,
            () => ({ ...base, 'if-none-match': coded(id, coding) }),
          ],
          [
            `${label} If-None-Match weak`,
            id,
            method,
            () => ({ ...base, 'if-none-match': `W/${coded(id, coding)}` }),
          ],
          [
            `${label} If-None-Match list`,
            id,
            method,
            () => ({ ...base, 'if-none-match': `"nope", ${coded(id, coding)}` }),
          ],
          [`${label} If-None-Match *`, id, method, () => ({ ...base, 'if-none-match': '*' })],
          [`${label} If-None-Match other`, id, method, () => ({ ...base, 'if-none-match': '"x"' })],
          [
            `${label} If-Modified-Since future`,
            id,
            method,
            () => ({ ...base, 'if-modified-since': 'Fri, 01 Jan 2100 00:00:00 GMT' }),
          ],
          [
            `${label} If-Match other coding's tag`,
            id,
            method,
            () => ({ ...base, 'if-match': tags[id]!.replace(/"$/, '.gzip"') }),
          ],
        );
      }
    }
  }

  it.each(cases)(
    '%s: same answer with and without the lane',
    async (_name, id, method, headers) => {
      const h = headers();
      const before = lane.viaFastify();
      const viaLane = await get(lane.port, `/api/lane/${id}`, method, h);
      // Every shape here is one the lane answers (bodies cached, no 412/404/range).
      expect(lane.viaFastify(), 'answered by the lane').toBe(before);
      const viaRoute = await get(route.port, `/api/lane/${id}`, method, h);
      expect(comparable(viaLane)).toEqual(comparable(viaRoute));
    },
  );

  it('answers 304s and cached 200s without entering Fastify', async () => {
    const before = lane.viaFastify();
    const notModified = await get(lane.port, '/api/lane/small', 'GET', {
      'if-none-match': tags.small!,
    });
    const ok = await get(lane.port, '/api/lane/small', 'GET', {});
    const head = await get(lane.port, '/api/lane/large', 'HEAD', { 'accept-encoding': 'gzip' });
    expect([notModified.status, ok.status, head.status]).toEqual([304, 200, 200]);
    expect(lane.viaFastify()).toBe(before);
  });

  it('hands everything else to the route: absent, 412, ranges, odd URLs, other methods', async () => {
    const before = lane.viaFastify();
    const answers = await Promise.all([
      get(lane.port, '/api/lane/missing', 'GET', {}),
      get(lane.port, '/api/lane/small', 'GET', { 'if-match': '"x"' }),
      get(lane.port, '/api/lane/small', 'GET', { range: 'bytes=0-3' }),
      get(lane.port, '/api/lane/%73mall', 'GET', {}),
      get(lane.port, '/api/lane/small/', 'GET', {}),
      get(lane.port, '/api/lane/..', 'GET', {}),
      get(lane.port, '/api/lane', 'GET', {}),
    ]);
    expect(answers.map((a) => a.status)).toEqual([404, 412, 206, 200, 404, 400, 200]);
    // %73mall reaches the lane as /small (the front door made it canonical) and
    // `..` is refused by the front door: neither goes through Fastify.
    expect(lane.viaFastify()).toBe(before + answers.length - 2);
  });

  it('serves a write by another connection at once (the validators cache follows commits)', async () => {
    const other = openSqliteStore(join(dir, 'lane.db'));
    try {
      for (let i = 0; i < 20; i++) {
        const body = Buffer.from(JSON.stringify({ title: 'small', n: i + 100 }));
        const out = await other.write({ collection: 'lane', id: 'small' }, () => ({
          action: 'put',
          body,
          result: undefined,
        }));
        if (out.action !== 'put') throw new Error('write refused');
        // The old tag must not be answered 304, and the body is the new one.
        const a = await get(lane.port, '/api/lane/small', 'GET', { 'if-none-match': tags.small! });
        expect(a.status).toBe(200);
        expect(a.headers.etag).toBe(out.doc.etag);
        expect(a.body.equals(body)).toBe(true);
        const b = await get(lane.port, '/api/lane/small', 'GET', { 'if-none-match': out.doc.etag });
        expect(b.status).toBe(304);
        tags.small = out.doc.etag;
      }
      await other.write({ collection: 'lane', id: 'small' }, () => ({
        action: 'delete',
        result: undefined,
      }));
      const gone = await get(lane.port, '/api/lane/small', 'GET', { 'if-none-match': tags.small! });
      expect(gone.status).toBe(404);
    } finally {
      await other.close();
    }
  });

  it('logs its answers like Fastify does: request id, method, URL, status', async () => {
    const lines: Record<string, unknown>[] = [];
    const stream = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const { app, port } = await listening(
      await buildApp({ store, defaultMetrics: false, logger: { level: 'info', stream } }),
    );
    try {
      const a = await get(port, '/api/lane/large', 'GET', {
        'if-none-match': tags.large!,
        'x-request-id': 'trace-lane-1',
      });
      expect(a.status).toBe(304);
      expect(a.headers['x-request-id']).toBe('trace-lane-1');
      const mine = lines.filter((l) => l.reqId === 'trace-lane-1');
      expect(mine.map((l) => l.msg)).toEqual(['request completed']);
      expect(mine[0]).toMatchObject({
        req: { method: 'GET', url: '/api/lane/large' },
        res: { statusCode: 304 },
      });
      expect(typeof mine[0]!.responseTime).toBe('number');
    } finally {
      await app.close();
    }
  });

  it('hands its read of the validators to the route: one store read per request', async () => {
    let reads = 0;
    const counting: DocumentStore = {
      ...store,
      validators(key) {
        reads++;
        return store.validators(key);
      },
    };
    const { app, port, viaFastify } = await listening(
      await buildApp({ store: counting, defaultMetrics: false }),
    );
    try {
      const answers = [
        await get(port, '/api/lane/large', 'GET', { range: 'bytes=0-9' }),
        await get(port, '/api/lane/large', 'GET', { 'if-match': '"x"' }),
        await get(port, '/api/lane/missing', 'GET', {}),
      ];
      expect(answers.map((a) => a.status)).toEqual([206, 412, 404]);
      expect(viaFastify()).toBe(3);
      expect(reads).toBe(3);
    } finally {
      await app.close();
    }
  });

  it('a failure inside the lane costs that request only: the route answers it', async () => {
    let broken = true;
    const flaky: DocumentStore = {
      ...store,
      async validators(key) {
        const v = await store.validators(key);
        if (!broken || v === undefined) return v;
        // Reading the validators throws wherever they are read, in the lane and the route.
        return Object.defineProperty({ ...v }, 'size', {
          get() {
            throw new Error('boom');
          },
        });
      },
    };
    const { app, port } = await listening(await buildApp({ store: flaky, defaultMetrics: false }));
    try {
      const failed = await get(port, '/api/lane/large', 'GET', { 'if-none-match': tags.large! });
      expect(failed.status).toBe(500);
      expect(failed.headers['content-type']).toMatch(/^application\/problem\+json/);
      broken = false;
      const ok = await get(port, '/api/lane/large', 'GET', { 'if-none-match': tags.large! });
      expect(ok.status).toBe(304);
    } finally {
      await app.close();
    }
  });

  it('with --cors and --auth: the same answers as the route, refusals left to the route', async () => {
    const TOKEN = 'lane-token-0123456789abcdef';
    const READER = 'lane-reader-0123456789abcdef';
    const auth = parseAuthConfig({
      tokens: [
        { name: 'w', token: TOKEN, scopes: { '*': ['read', 'write'] } },
        { name: 'r', token: READER, scopes: { other: ['read'] } },
      ],
    });
    const options = { store, cors: ['https://app.example'], auth, defaultMetrics: false };
    const withLane = await listening(await buildApp({ ...options, fastLane: true }));
    const withoutLane = await listening(await buildApp({ ...options, fastLane: false }));
    try {
      const shapes: Array<[string, Record<string, string>, 'lane' | 'route']> = [
        ['/api/lane/large', { 'if-none-match': tags.large! }, 'lane'],
        [
          '/api/lane/large',
          { 'if-none-match': tags.large!, origin: 'https://app.example' },
          'lane',
        ],
        ['/api/lane/large', { origin: 'https://evil.example' }, 'lane'],
        ['/api/lane/large', { 'accept-encoding': 'gzip', origin: 'https://app.example' }, 'lane'],
        // refusals: no token, a wrong one, no read scope
        ['/api/lane/large', { authorization: '' }, 'route'],
        ['/api/lane/large', { authorization: 'Bearer nope-nope-nope-nope-nope' }, 'route'],
        [
          '/api/lane/large',
          { authorization: `Bearer ${READER}`, 'if-none-match': tags.large! },
          'route',
        ],
      ];
      // Fill the new app's body caches (the lane answers 200s from them only).
      for (const [id, ae] of [
        ['large', ''],
        ['large', 'gzip'],
      ] as const) {
        const warm = { authorization: `Bearer ${TOKEN}`, 'accept-encoding': ae };
        const w = await get(withLane.port, `/api/lane/${id}`, 'GET', warm);
        expect(w.status, w.body.toString()).toBe(200);
      }
      for (const [path, extra, expected] of shapes) {
        const headers = { authorization: `Bearer ${TOKEN}`, ...extra };
        if (headers.authorization === '') delete (headers as Record<string, string>).authorization;
        const before = withLane.viaFastify();
        const viaLane = await get(withLane.port, path, 'GET', headers);
        const answeredBy = withLane.viaFastify() === before ? 'lane' : 'route';
        const viaRoute = await get(withoutLane.port, path, 'GET', headers);
        expect(comparable(viaLane), `${path} ${JSON.stringify(extra)}`).toEqual(
          comparable(viaRoute),
        );
        expect(answeredBy, `${path} ${JSON.stringify(extra)}`).toBe(expected);
      }
    } finally {
      await withLane.app.close();
      await withoutLane.app.close();
    }
  });
});
