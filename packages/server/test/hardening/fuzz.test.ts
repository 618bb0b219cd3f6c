// Fuzz over the HTTP surface: fast-check drives real requests to a real
// `ifmatch serve` process over loopback. Invariants after every request:
// - never a 5xx, never a crash (/healthz still answers);
// - every 4xx is problem+json with string type/title/detail and status = the status;
// - a tracked document changes only through a 2xx write: we GET it after each
//   request and compare bytes and ETag with our model of it.

import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ServerProcess, startServer } from '../helpers/process.js';

const BODY_LIMIT = 64 * 1024; // small, so over-limit bodies are cheap to send
const TRACKED = ['a', 'b', 'c'];
const CUR = '\u0000CUR\u0000'; // replaced by the tracked document's current ETag at send time
const CUR_OPAQUE = '\u0000OPQ\u0000'; // its opaque part (inside the quotes)

let server: ServerProcess;
let dir: string;
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
let casesRun = 0;
const statuses = new Map<number, number>();

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function send(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: Buffer,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const url = new URL(server.url);
    // Always framed: a body without Content-Length would be parsed as the next
    // request (the raw-socket test covers unframed bytes).
    const framed =
      body === undefined ? headers : { ...headers, 'content-length': String(body.length) };
    const req = http.request(
      { host: url.hostname, port: url.port, method, path, headers: framed, agent },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(15_000, () => req.destroy(new Error('timeout')));
    req.end(body);
  });
}

interface DocModel {
  status: number; // 200 or 404
  body: string;
  etag: string | undefined;
}
const model = new Map<string, DocModel>();

async function observe(id: string): Promise<DocModel> {
  const res = await send('GET', `/api/fuzz/${id}`, {});
  expect(res.status, `GET /api/fuzz/${id}`).toBeLessThan(500);
  return {
    status: res.status,
    body: res.status === 200 ? res.body.toString('latin1') : '',
    etag: res.status === 200 ? (res.headers.etag as string) : undefined,
  };
}

function expectProblem(res: Reply, method: string, what: string): void {
  expect(String(res.headers['content-type']), `${what}: content-type`).toMatch(
    /^application\/problem\+json/,
  );
  if (method === 'HEAD') return;
  const problem = JSON.parse(res.body.toString('utf8'));
  expect(typeof problem.type, `${what}: type`).toBe('string');
  expect(typeof problem.title, `${what}: title`).toBe('string');
  expect(typeof problem.detail, `${what}: detail`).toBe('string');
  expect(problem.status, `${what}: status`).toBe(res.status);
}

// fast-check prints the whole counterexample; bodies can be 128 KiB: keep the
// report readable (the failing request is in the assertion message anyway).
const options = (numRuns: number): fc.Parameters<[FuzzRequest]> => ({
  numRuns,
  endOnFailure: true,
  ...(process.env.FUZZ_SEED ? { seed: Number(process.env.FUZZ_SEED) } : {}),
  reporter(out) {
    if (!out.failed) return;
    const cause =
      out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance);
    throw new Error(
      `fuzz failed after ${out.numRuns} cases (seed ${out.seed}, path ${out.counterexamplePath}):\n${cause.slice(0, 3000)}`,
    );
  },
});

// ---- arbitraries ----------------------------------------------------------

const latin1 = fc.string({
  unit: fc
    .integer({ min: 0x20, max: 0xff })
    .filter((c) => c !== 0x7f)
    .map((c) => String.fromCharCode(c)),
  maxLength: 40,
});

const etagish = fc.oneof(
  fc.constant(CUR),
  fc.constant(`W/${CUR}`),
  fc.constant(`"${CUR_OPAQUE}"x`),
  fc.constant(`${CUR}, "other"`),
  fc.constant(`"other", ${CUR}`),
  fc.constant(`${CUR},,`),
  fc.constant('*'),
  fc.constant('*, "x"'),
  fc.constant(`"${CUR_OPAQUE}`),
  fc.constant(CUR_OPAQUE),
  fc.string({ maxLength: 12 }).map((s) => `"${s.replace(/[^\x21\x23-\x7e]/g, '')}"`),
  latin1,
);

const dateish = fc.oneof(
  fc
    .date({ min: new Date(0), max: new Date(4_102_444_800_000), noInvalidDate: true })
    .map((d) => d.toUTCString()),
  fc.constant(new Date(Date.now() + 86_400_000).toUTCString()),
  fc.constant(new Date(Date.now() - 86_400_000).toUTCString()),
  fc.constant('Sunday, 06-Nov-94 08:49:37 GMT'),
  fc.constant('Sun Nov  6 08:49:37 1994'),
  fc.constant('Sun, 31 Feb 2026 25:61:61 GMT'),
  fc.constant('0'),
  latin1,
);

const rangeish = fc.oneof(
  fc.tuple(fc.nat(200), fc.nat(200)).map(([a, b]) => `bytes=${a}-${b}`),
  fc.nat(200).map((n) => `bytes=-${n}`),
  fc.nat(200).map((n) => `bytes=${n}-`),
  fc.constant('bytes=0-0,5-6'),
  fc.constant('bytes=99999999999999999999999-'),
  fc.constant('bytes=-0'),
  fc.constant('items=0-1'),
  fc.constant('bytes='),
  latin1,
);

const headersArb = fc.record(
  {
    'if-match': etagish,
    'if-none-match': etagish,
    'if-modified-since': dateish,
    'if-unmodified-since': dateish,
    'if-range': fc.oneof(etagish, dateish),
    range: rangeish,
    prefer: fc.constantFrom('return=minimal', 'return=representation', 'return=', 'wait=1', 'x'),
    accept: fc.constantFrom('application/json', '*/*', 'text/html', 'application/xml', ''),
    'accept-encoding': fc.constantFrom('gzip', 'br', 'identity', 'gzip;q=0', '*', 'x'),
  },
  { requiredKeys: [] },
);

const contentType = fc.oneof(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'application/json; charset=UTF-8',
    'APPLICATION/JSON',
    'application/merge-patch+json',
    'application/json-patch+json',
    'application/json; charset=latin1',
    'text/plain',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=x',
    'application/json;;;',
    '',
  ),
  latin1,
);

const nested = fc
  .tuple(fc.integer({ min: 50, max: 20_000 }), fc.constantFrom('[', '{"a":'))
  .map(([depth, open]) => {
    const close = open === '[' ? ']' : '}';
    return `${open.repeat(depth)}1${close.repeat(depth)}`;
  });

const patchOp = fc.record({
  op: fc.constantFrom('add', 'remove', 'replace', 'move', 'copy', 'test', 'nope'),
  path: fc.constantFrom(
    '/x',
    '/n',
    '/__proto__/polluted',
    '/constructor/prototype/polluted',
    '/prototype',
    '/a/b/c',
    '',
    '/',
    'x',
    '/items/-',
    '/~1/~0',
  ),
  from: fc.constantFrom('/x', '/n', '/__proto__', ''),
  value: fc.jsonValue({ maxDepth: 2 }),
});

const bodyText = fc.oneof(
  { weight: 5, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify({ n: 1, v })) },
  { weight: 2, arbitrary: nested },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: 1024, max: 2 * BODY_LIMIT })
      .map((n) => JSON.stringify({ s: 'x'.repeat(n) })),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '{"a":1,"a":2}',
      '{"__proto__":{"polluted":true}}',
      '{"constructor":{"prototype":{"polluted":true}}}',
      '{"prototype":{"polluted":true}}',
      '{"__proto__":null}',
      '{"a":{"__proto__":{"b":1}}}',
      '[{"op":"add","path":"/__proto__/polluted","value":true}]',
      '[{"op":"add","path":"/constructor/prototype/polluted","value":true}]',
      '[{"op":"test","path":"/n","value":"never"}]',
      '\ufeff{}',
      '',
      'null',
      '{',
      '{"a":"\\ud800"}',
      '1e999',
    ),
  },
  { weight: 2, arbitrary: fc.array(patchOp, { maxLength: 4 }).map((ops) => JSON.stringify(ops)) },
  { weight: 1, arbitrary: latin1 },
);

const bodyArb = fc.oneof(
  { weight: 8, arbitrary: bodyText.map((t) => Buffer.from(t, 'utf8')) },
  // Invalid UTF-8: random bytes, and valid JSON with a stray byte in a string.
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b)) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom(0x80, 0xc0, 0xff, 0xed)
      .map((b) =>
        Buffer.concat([Buffer.from('{"s":"'), Buffer.from([b, 0x41]), Buffer.from('"}')]),
      ),
  },
);

const idArb = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...TRACKED) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '..',
      '.',
      '%2e%2e',
      '%2E',
      'a'.repeat(129),
      'a'.repeat(128),
      '%',
      '%zz',
      '%00',
      'a%2Fb',
      '%C0%AF',
      '%FF',
      '%c3%bc',
      'a%20b',
      '~x',
      'x.y-z_1',
      '__proto__',
      'constructor',
      'prototype',
      '',
      'a/b',
      'a;b',
      'a?x=1',
    ),
  },
  { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 20 }).map(encodeURIComponent) },
);

const methodArb = fc.constantFrom(
  'GET',
  'GET',
  'HEAD',
  'PUT',
  'PUT',
  'PATCH',
  'PATCH',
  'DELETE',
  'POST',
  'OPTIONS',
  'TRACE',
  'PROPFIND',
);

const targetArb = fc.oneof(
  { weight: 8, arbitrary: idArb.map((id) => ({ kind: 'doc' as const, id })) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(
        fc.oneof(fc.nat(3000).map(String), latin1.map(encodeURIComponent), fc.constant('-1')),
        fc.oneof(fc.constant(''), idArb),
      )
      .map(([limit, after]) => ({
        kind: 'list' as const,
        query: `?limit=${limit}&after=${after}`,
      })),
  },
  {
    // Raw paths outside the document routes.
    weight: 1,
    arbitrary: fc
      .constantFrom(
        '/api/..',
        '/api/%2e%2e/x',
        '/api/fuzz/a/b',
        '/api/',
        '/api',
        '/nope',
        '/api/fuzz/a?x=%zz',
      )
      .map((path) => ({ kind: 'raw' as const, path })),
  },
);

const requestArb = fc.record({
  method: methodArb,
  target: targetArb,
  headers: headersArb,
  contentType: fc.option(contentType, { nil: undefined }),
  body: fc.option(bodyArb, { nil: undefined }),
});

type FuzzRequest = typeof requestArb extends fc.Arbitrary<infer T> ? T : never;

function trackedId(path: string): string | undefined {
  const m = /^\/api\/fuzz\/([^/?]+)\/?(\?|$)/.exec(path);
  if (!m) return undefined;
  try {
    const id = decodeURIComponent(m[1]!);
    return TRACKED.includes(id) ? id : undefined;
  } catch {
    return undefined;
  }
}

async function runCase(r: FuzzRequest): Promise<void> {
  casesRun++;
  const path =
    r.target.kind === 'doc'
      ? `/api/fuzz/${r.target.id}`
      : r.target.kind === 'list'
        ? `/api/fuzz${r.target.query}`
        : r.target.path;
  // Any path that addresses a tracked document (raw paths and encodings too).
  const tracked = trackedId(path);
  const before = tracked ? model.get(tracked)! : undefined;
  const current = before?.etag ?? '"none"';
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(r.headers)) {
    if (value === undefined) continue;
    headers[name] = value.split(CUR).join(current).split(CUR_OPAQUE).join(current.slice(1, -1));
  }
  if (r.contentType !== undefined) headers['content-type'] = r.contentType;
  const what = `${r.method} ${path} ${JSON.stringify(headers).slice(0, 300)} body=${r.body === undefined ? 'none' : r.body.length > 600 ? `${r.body.length} bytes` : JSON.stringify(r.body.toString('latin1'))}`;

  const res = await send(r.method, path, headers, r.body);
  if (process.env.FUZZ_VERBOSE) console.log(`${res.status} <- ${what}`);
  statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
  expect(res.status, what).toBeLessThan(500);
  if (res.status >= 400) expectProblem(res, r.method, what);

  if (tracked) {
    const after = await observe(tracked);
    const write = ['PUT', 'PATCH', 'DELETE'].includes(r.method);
    if (write && res.status >= 200 && res.status < 300) {
      if (r.method === 'PUT') {
        // Stored exactly as sent.
        expect(after.status, what).toBe(200);
        expect(after.body, what).toBe(r.body!.toString('latin1'));
      }
      if (r.method === 'DELETE') expect(after.status, what).toBe(404);
      if (r.method === 'PATCH') {
        expect(after.status, what).toBe(200);
        expect(() => JSON.parse(after.body)).not.toThrow();
      }
      model.set(tracked, after);
    } else {
      // No 2xx write: not a byte, not the ETag, changed.
      expect(after, `state changed without a 2xx write: ${what} -> ${res.status}`).toEqual(before);
    }
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ifmatch-fuzz-'));
  server = await startServer(['--db', join(dir, 'fuzz.db'), '--body-limit', String(BODY_LIMIT)]);
  for (const id of TRACKED) {
    const res = await send(
      'PUT',
      `/api/fuzz/${id}`,
      { 'content-type': 'application/json' },
      Buffer.from(`{"n":0,"id":"${id}"}`),
    );
    expect(res.status).toBe(201);
    model.set(id, await observe(id));
  }
});

afterAll(async () => {
  agent.destroy();
  const byStatus = [...statuses].sort(([a], [b]) => a - b).map(([s, n]) => `${s}: ${n}`);
  console.log(`fuzz: ${casesRun} HTTP cases run; statuses ${byStatus.join(', ')}`);
  if (server) {
    const { code } = await server.kill('SIGTERM');
    expect(code, 'the server survived the fuzz and stopped cleanly').toBe(0);
  }
  await rm(dir, { recursive: true, force: true });
});

describe('fuzz over the HTTP surface', () => {
  it('random requests: no 5xx, problem+json errors, state changes only via 2xx writes', async () => {
    await fc.assert(fc.asyncProperty(requestArb, runCase), options(4000));
    expect((await send('GET', '/healthz', {})).status).toBe(200);
  }, 120_000);

  it('conditional writes with the current ETag chain: exactly the 2xx ones land', async () => {
    // Biased toward writes that can succeed, so the model is exercised on 2xx paths too.
    const writeArb = fc.record({
      method: fc.constantFrom('PUT', 'PATCH', 'DELETE', 'PUT'),
      target: fc.constantFrom(...TRACKED).map((id) => ({ kind: 'doc' as const, id })),
      headers: fc.record(
        {
          'if-match': fc.constantFrom(CUR, `W/${CUR}`, '*', '"stale"', `${CUR}, "x"`),
          'if-none-match': fc.constantFrom('*', CUR, '"x"'),
          'if-unmodified-since': dateish,
        },
        { requiredKeys: [] },
      ),
      contentType: fc.constantFrom(
        'application/json',
        'application/merge-patch+json',
        'application/json-patch+json',
      ),
      body: fc.oneof(
        fc.jsonValue({ maxDepth: 3 }).map((v) => Buffer.from(JSON.stringify({ n: 1, v }))),
        fc.array(patchOp, { maxLength: 3 }).map((ops) => Buffer.from(JSON.stringify(ops))),
        fc.constantFrom(
          Buffer.from('{"__proto__":{"polluted":true},"n":2}'),
          Buffer.from('{"constructor":{"prototype":{"polluted":true}}}'),
          Buffer.from('{"a":1,"a":2}'),
        ),
      ),
    });
    await fc.assert(fc.asyncProperty(writeArb, runCase), options(1000));
    expect((await send('GET', '/healthz', {})).status).toBe(200);
  }, 120_000);

  it('malformed HTTP on a raw socket: a 4xx or a close, never a crash', async () => {
    const url = new URL(server.url);
    const raw = [
      'GET /api/fuzz/a HTTP/1.1\r\nHost: x\r\nIf-Match: "a\u0000b"\r\n\r\n',
      'GET /api/fuzz/a HTTP/1.1\r\nHost: x\r\nIf-Match: "a"\r\n "b"\r\n\r\n', // obs-fold
      'GET /api/fuzz/a HTTP/1.1\nHost: x\n\n', // bare LF
      'FOO /api/fuzz/a HTTP/1.1\r\nHost: x\r\n\r\n',
      'GET /api/fuzz/a HTTP/9.9\r\nHost: x\r\n\r\n',
      'GET /api/fuzz/a\r\n\r\n',
      'PUT /api/fuzz/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
      'PUT /api/fuzz/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
      'PUT /api/fuzz/a HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n',
      'PUT /api/fuzz/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n',
      `GET /${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      'GET /api/fuzz/a HTTP/1.1\r\nHost: x\r\nX: \xff\xfe\r\n\r\n',
      '\r\n\r\n\r\n',
      'GET /api/fuzz/a HTTP/1.1\r\nHost: x\r\n\r\n{"n":1}', // unframed body: read as a next request
      '\u0016\u0003\u0001\u0000\u00a5\u0001\u0000', // a TLS ClientHello start
    ];
    for (const text of raw) {
      const answer = await new Promise<string>((resolve) => {
        const socket = net.connect(Number(url.port), url.hostname);
        let got = '';
        socket.on('data', (c) => {
          got += c.toString('latin1');
        });
        socket.on('error', () => resolve(got));
        socket.on('close', () => resolve(got));
        socket.setTimeout(5000, () => socket.destroy());
        socket.end(Buffer.from(text, 'latin1'));
      });
      casesRun++;
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1];
      if (status !== undefined) {
        expect(Number(status), JSON.stringify(text.slice(0, 80))).toBeLessThan(500);
        // A 2xx here must not have changed anything (e.g. the TE+CL request).
        if (Number(status) >= 400)
          expect(answer, JSON.stringify(text.slice(0, 80))).toMatch(/application\/problem\+json/i);
      }
      expect((await send('GET', '/healthz', {})).status).toBe(200);
    }
    for (const id of TRACKED) expect(await observe(id)).toEqual(model.get(id));
  });
});
