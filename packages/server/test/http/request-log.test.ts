// The request log line (src/http/request-log.ts) is formatted by hand for a
// pino logger. pino's own `log.info(object, msg)` is the reference: the line
// must be the one pino writes, byte for byte for the logger `ifmatch serve`
// builds, and a logger configured so that pino would write something else
// must still get pino's line. Both lanes (fast lane and Fastify hook) write it.
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/http/app.js';
import { type LoggedRequest, logRequest } from '../../src/http/request-log.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { DocumentStore } from '../../src/store/types.js';

// The pino Fastify itself uses (the server's own dependency may be another major).
const fastifyRequire = createRequire(createRequire(import.meta.url).resolve('fastify'));
const pino = fastifyRequire('pino') as typeof import('pino').default;
const { serializers } = fastifyRequire('./lib/logger-pino.js') as {
  serializers: Record<string, (v: unknown) => unknown>;
};

/** serve.ts's options, as Fastify completes them. */
const SERVE_OPTIONS = {
  level: 'info',
  redact: ['req.headers.authorization', 'headers.authorization', 'authorization'],
  serializers,
};

function capture() {
  const lines: string[] = [];
  return { lines, stream: { write: (s: string) => void lines.push(s) } };
}

const REQUESTS: LoggedRequest[] = [
  { reqId: 'a1b2', method: 'GET', url: '/api/c/d', statusCode: 304, responseTime: 0.123456789 },
  {
    reqId: '9f0c4c58-5b3e-4a5c-9a47-2f5b1b0e6a11',
    method: 'HEAD',
    url: '/api/c/d?q="x"\\y',
    statusCode: 200,
    responseTime: 12,
  },
  { reqId: 'r', method: 'PUT', url: '/x/%C3%A9', statusCode: 412, responseTime: Number.NaN },
];

/** What pino itself writes for the same call (request-log.ts's fallback). */
function pinoLine(log: FastifyBaseLogger, r: LoggedRequest): void {
  log.info(
    {
      reqId: r.reqId,
      req: { method: r.method, url: r.url },
      res: { statusCode: r.statusCode },
      responseTime: r.responseTime,
    },
    'request completed',
  );
}

function both(options: Record<string, unknown>, child?: Record<string, unknown>) {
  const ours = capture();
  const theirs = capture();
  const make = (stream: { write: (s: string) => void }) => {
    const root = pino({ ...options, timestamp: () => ',"time":1700000000000' }, stream);
    return (child ? root.child(child) : root) as unknown as FastifyBaseLogger;
  };
  const a = make(ours.stream);
  const b = make(theirs.stream);
  // Counts the lines request-log.ts left to pino (its fallback).
  let viaPino = 0;
  const info = a.info.bind(a);
  a.info = ((...args: Parameters<typeof info>) => {
    viaPino++;
    info(...args);
  }) as typeof a.info;
  for (const r of REQUESTS) {
    logRequest(a, r);
    pinoLine(b, r);
  }
  return { ours: ours.lines, theirs: theirs.lines, viaPino };
}

/** The request line's keys, in pino's order (bindings after level and time). */
const LINE_KEYS = [
  'level',
  'time',
  'pid',
  'hostname',
  'reqId',
  'req',
  'res',
  'responseTime',
  'msg',
];

describe('request log line', () => {
  it("is byte for byte pino's line for the logger ifmatch serve builds", () => {
    const { ours, theirs, viaPino } = both(SERVE_OPTIONS);
    expect(viaPino).toBe(0);
    expect(ours).toHaveLength(REQUESTS.length);
    expect(ours).toEqual(theirs);
    for (const line of ours) {
      expect(line.endsWith('}\n')).toBe(true);
      const parsed = JSON.parse(line);
      expect(Object.keys(parsed)).toEqual(LINE_KEYS);
    }
    expect(JSON.parse(ours[1]!).req.url).toBe('/api/c/d?q="x"\\y');
    expect(JSON.parse(ours[2]!).responseTime).toBeNull();
  });

  it("writes a request child logger's bound id once, with pino's values", () => {
    const { ours, theirs, viaPino } = both(SERVE_OPTIONS, { reqId: 'a1b2' });
    expect(viaPino).toBe(0);
    // pino writes the bound reqId and the logged one: two equal keys.
    expect(theirs[0]!.match(/"reqId"/g)).toHaveLength(2);
    expect(ours[0]!.match(/"reqId"/g)).toHaveLength(1);
    expect(ours.map((l) => JSON.parse(l))).toEqual(theirs.map((l) => JSON.parse(l)));
    // Another request's id bound to the child: both keys stay, as pino writes them.
    expect(ours[1]).toBe(theirs[1]);
  });

  it("is pino's own line for loggers whose line differs from the fixed shape", () => {
    // [name, options, formatted here (true) or left to pino (false)]
    const cases: Array<[string, Record<string, unknown>, boolean]> = [
      ['mixin', { ...SERVE_OPTIONS, mixin: () => ({ extra: 1 }) }, false],
      [
        'log formatter',
        { ...SERVE_OPTIONS, formatters: { log: (o: object) => ({ ...o, f: 1 }) } },
        false,
      ],
      [
        'level label',
        { ...SERVE_OPTIONS, formatters: { level: (label: string) => ({ level: label }) } },
        true,
      ],
      ['nested key', { ...SERVE_OPTIONS, nestedKey: 'payload' }, false],
      ['message key', { ...SERVE_OPTIONS, messageKey: 'message' }, true],
      ['prefix', { ...SERVE_OPTIONS, msgPrefix: '[http] ' }, false],
      ['no base', { ...SERVE_OPTIONS, base: null }, true],
      ['name', { ...SERVE_OPTIONS, name: 'ifmatch' }, true],
      [
        'req serializer',
        { ...SERVE_OPTIONS, serializers: { req: () => ({ hidden: true }) } },
        false,
      ],
      ['redacted url', { ...SERVE_OPTIONS, redact: ['req.url'] }, false],
      ['redacted wildcard', { ...SERVE_OPTIONS, redact: ['*.method'] }, false],
      [
        'stream hook',
        { ...SERVE_OPTIONS, hooks: { streamWrite: (s: string) => s.toUpperCase() } },
        false,
      ],
      ['crlf', { ...SERVE_OPTIONS, crlf: true }, true],
    ];
    for (const [name, options, formatted] of cases) {
      const { ours, theirs, viaPino } = both(options);
      expect(ours, name).toEqual(theirs);
      expect(viaPino, name).toBe(formatted ? 0 : REQUESTS.length);
    }
    expect(both(cases[0]![1]).ours[0]).toContain('"extra":1');
    expect(both(cases[8]![1]).ours[0]).toContain('"req":{"hidden":true}');
  });

  it('goes through info() on a logger that is not pino', () => {
    const calls: unknown[][] = [];
    const custom = {
      level: 'info',
      info: (...args: unknown[]) => void calls.push(args),
    } as unknown as FastifyBaseLogger;
    logRequest(custom, REQUESTS[0]!);
    expect(calls).toEqual([
      [
        {
          reqId: 'a1b2',
          req: { method: 'GET', url: '/api/c/d' },
          res: { statusCode: 304 },
          responseTime: 0.123456789,
        },
        'request completed',
      ],
    ]);
  });
});

describe('request log line from both lanes', () => {
  let dir: string;
  let store: DocumentStore;
  let etag: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ifmatch-request-log-'));
    store = openSqliteStore(join(dir, 'db.sqlite'));
    const out = await store.write({ collection: 'log', id: 'doc' }, () => ({
      action: 'put',
      body: Buffer.from('{"a":1}'),
      result: undefined,
    }));
    etag = (out as { doc: { etag: string } }).doc.etag;
  });
  afterAll(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function get(port: number, path: string, headers: Record<string, string>): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('one valid line per request, one reqId key, from the fast lane and from the route', async () => {
    const { lines, stream } = capture();
    const app = await buildApp({
      store,
      defaultMetrics: false,
      logger: { ...SERVE_OPTIONS, serializers: undefined, stream },
    });
    // request-log.ts writes the line itself for both lanes (Fastify's request
    // loggers are children of app.log: they would call this one).
    let viaPino = 0;
    const info = app.log.info.bind(app.log);
    app.log.info = ((...args: Parameters<typeof info>) => {
      if (args[1] === 'request completed') viaPino++;
      info(...args);
    }) as typeof info;
    let viaFastify = 0;
    app.addHook('onResponse', (_request, _reply, done) => {
      viaFastify++;
      done();
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const { port } = app.server.address() as { port: number };
      // A 304 the lane answers, then a range (206) and an absent document (404): the route's.
      const shapes: Array<[string, Record<string, string>, number]> = [
        ['/api/log/doc', { 'if-none-match': etag, 'x-request-id': 'lane-1' }, 304],
        ['/api/log/doc', { range: 'bytes=0-1', 'x-request-id': 'route-1' }, 206],
        ['/api/log/none', { 'x-request-id': 'route-2' }, 404],
      ];
      for (const [path, headers, status] of shapes) {
        expect(await get(port, path, headers)).toBe(status);
      }
      expect(viaFastify).toBe(2);
      expect(viaPino).toBe(0);
      for (const [path, headers, status] of shapes) {
        const id = headers['x-request-id']!;
        const mine = lines.filter((l) => l.includes(`"${id}"`));
        expect(mine, id).toHaveLength(1);
        expect(mine[0]!.match(/"reqId"/g), mine[0]).toHaveLength(1);
        const parsed = JSON.parse(mine[0]!);
        expect(Object.keys(parsed)).toEqual(LINE_KEYS);
        expect(parsed).toMatchObject({
          level: 30,
          pid: process.pid,
          reqId: id,
          req: { method: 'GET', url: path },
          res: { statusCode: status },
          msg: 'request completed',
        });
        expect(typeof parsed.responseTime).toBe('number');
        expect(Math.abs(parsed.time - Date.now())).toBeLessThan(60_000);
      }
    } finally {
      await app.close();
    }
  });
});
