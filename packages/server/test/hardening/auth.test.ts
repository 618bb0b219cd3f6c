// --auth on the real document server: the real routes, store and logger, over
// loopback HTTP; and the CLI flag on a real process.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAuthConfig } from '../../src/http/auth.js';
import { cliBuilt, startServer } from '../helpers/process.js';
import { type RunningApp, startApp } from './inproc.js';

const WRITER = 'writer-token-0123456789abcdef';
const READER = 'reader-token-0123456789abcdef';
const OTHER = 'other-token-0123456789abcdef';
const TOKENS = {
  tokens: [
    {
      name: 'writer',
      token: WRITER,
      scopes: { notes: ['read', 'write'], secret: ['read', 'write'] },
    },
    { name: 'reader', token: READER, scopes: { notes: ['read'] } },
    { name: 'other', token: OTHER, scopes: { '*': ['read', 'write'], secret: [] } },
  ],
};

let s: RunningApp;
const logs: string[] = [];
const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const json = { 'content-type': 'application/json' };
let secretETag: string;

beforeAll(async () => {
  s = await startApp({
    auth: parseAuthConfig(TOKENS),
    logger: {
      level: 'trace',
      redact: ['req.headers.authorization', 'headers.authorization', 'authorization'],
      stream: new Writable({
        write(chunk, _enc, cb) {
          logs.push(String(chunk));
          cb();
        },
      }),
    },
  });
  const res = await fetch(`${s.url}/api/secret/plan`, {
    method: 'PUT',
    headers: { ...auth(WRITER), ...json },
    body: '{"launch":"tuesday"}',
  });
  expect(res.status).toBe(201);
  secretETag = res.headers.get('etag')!;
  await fetch(`${s.url}/api/notes/n1`, {
    method: 'PUT',
    headers: { ...auth(WRITER), ...json },
    body: '{"text":"hi"}',
  });
});

afterAll(async () => {
  await s?.close();
});

describe('--auth on the document server', () => {
  it('401 + WWW-Authenticate: Bearer for a missing or wrong token, before anything else', async () => {
    for (const headers of [
      {},
      auth('wrong-token-0123456789abcdef'),
      { authorization: 'Basic eDp5' },
    ]) {
      for (const [method, path] of [
        ['GET', '/api/notes/n1'],
        ['GET', '/api/notes'],
        ['PUT', '/api/notes/n1'],
        ['DELETE', '/api/notes/n1'],
        ['GET', '/api/bad%20name/x'],
        ['GET', '/metrics'],
      ] as const) {
        const res = await fetch(s.url + path, {
          method,
          headers: { ...headers, ...json, 'if-none-match': '*' },
          ...(method === 'PUT' ? { body: '{}' } : {}),
        });
        expect(res.status, `${method} ${path}`).toBe(401);
        expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(res.headers.get('etag')).toBeNull();
        expect(((await res.json()) as { status: number }).status).toBe(401);
      }
    }
  });

  it('a big unauthorized upload still gets its 401 (no reset)', async () => {
    const res = await fetch(`${s.url}/api/notes/n2`, {
      method: 'PUT',
      headers: json,
      body: JSON.stringify({ s: 'x'.repeat(512 * 1024) }),
    });
    expect(res.status).toBe(401);
  });

  it('403 when the scope is short; the document is untouched', async () => {
    const res = await fetch(`${s.url}/api/notes/n1`, {
      method: 'PUT',
      headers: { ...auth(READER), ...json },
      body: '{"text":"mine"}',
    });
    expect(res.status).toBe(403);
    expect(res.headers.get('etag')).toBeNull();
    const read = await fetch(`${s.url}/api/notes/n1`, { headers: auth(READER) });
    expect(read.status).toBe(200);
    expect(await read.json()).toEqual({ text: 'hi' });
  });

  it('no read scope: 404 with no ETag whatever preconditions are sent (nothing leaks)', async () => {
    const cases: [string, Record<string, string>][] = [
      ['GET', {}],
      ['GET', { 'if-none-match': secretETag }], // would be 304 if evaluated
      ['HEAD', { 'if-none-match': secretETag }],
      ['GET', { 'if-match': '"nope"' }], // would be 412 if evaluated
      ['PUT', { 'if-none-match': '*' }], // would be 412: the document exists
      ['PUT', { 'if-match': secretETag }], // would be 200: a write
      ['DELETE', { 'if-match': secretETag }],
      ['GET', { range: 'bytes=0-3' }],
    ];
    for (const [method, headers] of cases) {
      for (const token of [OTHER, READER]) {
        const res = await fetch(`${s.url}/api/secret/plan`, {
          method,
          headers: { ...auth(token), ...json, ...headers },
          ...(method === 'PUT' ? { body: '{"launch":"never"}' } : {}),
        });
        expect(res.status, `${method} ${JSON.stringify(headers)}`).toBe(404);
        expect(res.headers.get('etag')).toBeNull();
        expect(res.headers.get('last-modified')).toBeNull();
      }
      // And the same answer for a document that does not exist.
      const absent = await fetch(`${s.url}/api/secret/absent`, { method, headers: auth(OTHER) });
      expect(absent.status).toBe(404);
    }
    const list = await fetch(`${s.url}/api/secret`, { headers: auth(OTHER) });
    expect(list.status).toBe(404);
    expect(list.headers.get('etag')).toBeNull();
    // Nothing was written by any of the above.
    const owner = await fetch(`${s.url}/api/secret/plan`, { headers: auth(WRITER) });
    expect(owner.headers.get('etag')).toBe(secretETag);
    expect(await owner.json()).toEqual({ launch: 'tuesday' });
  });

  it('with access, preconditions work as usual (304, 412, 200)', async () => {
    const h = auth(WRITER);
    expect(
      (await fetch(`${s.url}/api/secret/plan`, { headers: { ...h, 'if-none-match': secretETag } }))
        .status,
    ).toBe(304);
    expect(
      (
        await fetch(`${s.url}/api/secret/plan`, {
          method: 'PUT',
          headers: { ...h, ...json, 'if-match': '"stale"' },
          body: '{}',
        })
      ).status,
    ).toBe(412);
    expect((await fetch(`${s.url}/api/other/x`, { headers: auth(OTHER) })).status).toBe(404); // absent, readable
  });

  it('Cache-Control: private on every response, Vary: Authorization, 304 included', async () => {
    const responses = [
      await fetch(`${s.url}/api/notes/n1`, { headers: auth(READER) }),
      await fetch(`${s.url}/api/notes`, { headers: auth(READER) }),
      await fetch(`${s.url}/api/secret/plan`, {
        headers: { ...auth(WRITER), 'if-none-match': secretETag },
      }),
      await fetch(`${s.url}/api/notes/n1`),
      await fetch(`${s.url}/api/secret/plan`, { headers: auth(OTHER) }),
      await fetch(`${s.url}/healthz`),
    ];
    for (const res of responses) {
      expect(res.headers.get('cache-control'), `${res.url} ${res.status}`).toMatch(
        /^private, no-(cache|store)$/,
      );
      expect(res.headers.get('vary')).toMatch(/authorization/i);
    }
    // Documents and listings: exactly private, no-cache (store privately, revalidate).
    expect(responses[0]!.headers.get('cache-control')).toBe('private, no-cache');
    expect(responses[1]!.headers.get('cache-control')).toBe('private, no-cache');
    expect(responses[2]!.status).toBe(304);
  });

  it('/healthz stays public; /metrics needs a token', async () => {
    expect((await fetch(`${s.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${s.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${s.url}/metrics`, { headers: auth(READER) })).status).toBe(200);
  });

  it('no token ever reaches the log', () => {
    const all = logs.join('');
    expect(all).toContain('"user":"writer"');
    for (const token of [WRITER, READER, OTHER]) expect(all).not.toContain(token);
  });
});

describe('ifmatch serve --auth', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ifmatch-auth-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it.skipIf(!cliBuilt())('turns access control on from a tokens file; logs no token', async () => {
    const file = join(dir, 'tokens.json');
    await writeFile(file, JSON.stringify(TOKENS));
    const server = await startServer([
      '--db',
      join(dir, 'a.db'),
      '--auth',
      file,
      '--log-level',
      'debug',
    ]);
    try {
      expect((await fetch(`${server.url}/api/notes/x`)).status).toBe(401);
      const res = await fetch(`${server.url}/api/notes/x`, {
        method: 'PUT',
        headers: { ...auth(WRITER), ...json },
        body: '{}',
      });
      expect(res.status).toBe(201);
      expect(res.headers.get('cache-control')).toBe('private, no-cache');
    } finally {
      const { code } = await server.kill('SIGTERM');
      expect(code).toBe(0);
    }
    expect(server.output()).toContain('"user":"writer"');
    expect(server.output()).not.toContain(WRITER);
  });

  it.skipIf(!cliBuilt())('refuses a bad tokens file with a one-line error', async () => {
    const file = join(dir, 'bad.json');
    await writeFile(file, '{"tokens":[{"name":"a","token":"short","scopes":{}}]}');
    await expect(
      startServer(['--db', join(dir, 'b.db'), '--auth', file], { timeoutMs: 5000 }),
    ).rejects.toThrow(/at least 16 characters/);
  });
});
