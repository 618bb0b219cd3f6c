// The --auth plugin on a bare Fastify instance over real loopback HTTP: the
// routes here only echo, so every 401/403/404 below comes from the plugin.
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AuthConfigError,
  authPlugin,
  bearerToken,
  findToken,
  loadAuthConfig,
  parseAuthConfig,
} from '../../src/http/auth.js';

const ALICE = 'alice-token-0123456789abcdef';
const BOB = 'bob-token-0123456789abcdef';
const CAROL = 'carol-token-0123456789abcdef';

const tokensFile = {
  tokens: [
    { name: 'alice', token: ALICE, scopes: { notes: ['read', 'write'], '*': ['read'] } },
    { name: 'bob', token: BOB, scopes: { notes: ['read'] } },
    {
      name: 'carol',
      sha256: createHash('sha256').update(CAROL).digest('hex'),
      scopes: { '*': ['read', 'write'], secret: [] },
    },
  ],
};

let app: FastifyInstance;
let base: string;
const logLines: string[] = [];

beforeAll(async () => {
  const stream = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  });
  app = Fastify({ logger: { level: 'trace', stream } });
  await app.register(authPlugin, { config: parseAuthConfig(tokensFile) });
  // A route that would answer 412/304 from its own precondition logic: the
  // plugin must decide before it ever runs.
  // Each route declares what it needs (config.access); /metrics declares
  // nothing, so it needs a valid token (new routes fail closed).
  app.all('/api/:collection/:id', { config: { access: 'collection' } }, async (request, reply) => {
    reply.header('ETag', '"secret-etag"');
    if (request.headers['if-match'] === '"nope"') return reply.code(412).send({ precondition: 1 });
    return { collection: (request.params as { collection: string }).collection };
  });
  app.get('/api/:collection', { config: { access: 'collection' } }, async () => ({ items: [] }));
  app.get('/healthz', { config: { access: 'public' } }, async () => ({ ok: true }));
  app.get('/metrics', async () => 'metrics 1\n');
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  base = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  await app.close();
});

function get(path: string, headers: Record<string, string> = {}, method = 'GET', body?: string) {
  return fetch(base + path, { method, headers, body });
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('auth plugin', () => {
  it('401 with WWW-Authenticate: Bearer and problem+json when the token is missing', async () => {
    const res = await get('/api/notes/a');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="ifmatch"$/);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(res.headers.get('etag')).toBeNull();
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({ status: 401, title: 'Unauthorized' });
    expect(typeof body.type).toBe('string');
    expect(typeof body.detail).toBe('string');
  });

  it('401 with error="invalid_token" for a wrong or malformed token', async () => {
    for (const authorization of [
      `Bearer ${ALICE}x`,
      `Bearer ${ALICE.slice(0, -1)}`,
      'Bearer ',
      `Basic ${Buffer.from('alice:x').toString('base64')}`,
      `Bearer ${ALICE} extra`,
      'Bearer \u00e9\u00e9\u00e9',
    ]) {
      const res = await get('/api/notes/a', { authorization });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer realm="ifmatch"/);
      expect(res.headers.get('etag')).toBeNull();
    }
  });

  it('accepts a plaintext token, a sha256 token and a case-insensitive scheme', async () => {
    expect((await get('/api/notes/a', bearer(ALICE))).status).toBe(200);
    expect((await get('/api/notes/a', bearer(CAROL))).status).toBe(200);
    expect((await get('/api/notes/a', { authorization: `bearer ${ALICE}` })).status).toBe(200);
  });

  it('403 for a write with read-only scope, before any precondition is evaluated', async () => {
    const res = await get(
      '/api/notes/a',
      { ...bearer(BOB), 'content-type': 'application/json', 'if-match': '"nope"' },
      'PUT',
      '{}',
    );
    expect(res.status).toBe(403);
    expect(res.headers.get('etag')).toBeNull();
    expect(res.headers.get('www-authenticate')).toContain('insufficient_scope');
    expect(((await res.json()) as { status: number }).status).toBe(403);
    // Alice may write notes: the route runs (and answers its own 412).
    const ok = await get(
      '/api/notes/a',
      { ...bearer(ALICE), 'content-type': 'application/json', 'if-match': '"nope"' },
      'PUT',
      '{}',
    );
    expect(ok.status).toBe(412);
  });

  it('404 without an ETag for a collection the token cannot read, whatever preconditions', async () => {
    const variants: Record<string, string>[] = [
      {},
      { 'if-none-match': '"secret-etag"' },
      { 'if-match': '"nope"' },
      { 'if-modified-since': new Date().toUTCString() },
    ];
    for (const headers of variants) {
      for (const method of ['GET', 'HEAD', 'PUT', 'DELETE']) {
        const res = await get('/api/secret/a', { ...bearer(CAROL), ...headers }, method);
        expect(res.status, `${method} ${JSON.stringify(headers)}`).toBe(404);
        expect(res.headers.get('etag')).toBeNull();
        expect(res.headers.get('last-modified')).toBeNull();
      }
      // Bob has no scope at all beyond notes.
      const res = await get('/api/other', { ...bearer(BOB), ...headers });
      expect(res.status).toBe(404);
      expect(res.headers.get('etag')).toBeNull();
    }
    // Percent-encoding does not get around it: the router decodes the name.
    const encoded = await get('/api/%73ecret/a', bearer(CAROL));
    expect(encoded.status).toBe(404);
    // "*" grants the rest.
    expect((await get('/api/other/a', bearer(CAROL))).status).toBe(200);
    expect((await get('/api/other/a', bearer(ALICE))).status).toBe(200);
    expect((await get('/api/other/a', bearer(ALICE), 'DELETE')).status).toBe(403);
  });

  it('private, no-cache and Vary: Authorization on every response', async () => {
    for (const res of [
      await get('/api/notes/a', bearer(ALICE)),
      await get('/api/notes/a'),
      await get('/api/secret/a', bearer(CAROL)),
      await get('/healthz'),
      await get('/nope'),
    ]) {
      expect(res.headers.get('cache-control')).toMatch(/^private, no-(cache|store)$/);
      expect(res.headers.get('vary')).toMatch(/authorization/i);
    }
  });

  it('leaves /healthz public and OPTIONS alone; /metrics needs a valid token', async () => {
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/metrics')).status).toBe(401);
    expect((await get('/metrics', bearer(BOB))).status).toBe(200);
    expect((await get('/api/notes/a', {}, 'OPTIONS')).status).not.toBe(401);
  });

  it('never writes a token into the log', async () => {
    await get('/api/notes/a', bearer(ALICE));
    await get('/api/notes/a', { authorization: `Bearer ${ALICE}zz` });
    const all = logLines.join('');
    expect(all.length).toBeGreaterThan(0);
    expect(all).not.toContain(ALICE);
    expect(all).toContain('"user":"alice"');
  });
});

describe('tokens file', () => {
  it('rejects bad files with a message naming the problem', () => {
    const bad: [unknown, RegExp][] = [
      [null, /tokens/],
      [{ tokens: [] }, /empty/],
      [{ tokens: [{ name: 'a', token: 'short', scopes: {} }] }, /at least 16/],
      [{ tokens: [{ name: 'a', token: ALICE, sha256: 'ab', scopes: {} }] }, /exactly one/],
      [{ tokens: [{ name: 'a', token: ALICE, scopes: { notes: ['admin'] } }] }, /read.*write/],
      [{ tokens: [{ name: 'a', token: ALICE, scopes: { '..': ['read'] } }] }, /not a collection/],
      [
        {
          tokens: [
            { name: 'a', token: ALICE, scopes: {} },
            { name: 'b', token: ALICE, scopes: {} },
          ],
        },
        /twice/,
      ],
    ];
    for (const [json, message] of bad) {
      expect(() => parseAuthConfig(json)).toThrowError(message);
      expect(() => parseAuthConfig(json)).toThrowError(AuthConfigError);
    }
  });

  it('loads from disk and reports unreadable or invalid files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ifmatch-auth-'));
    try {
      const good = join(dir, 'tokens.json');
      await writeFile(good, JSON.stringify(tokensFile));
      const config = await loadAuthConfig(good);
      expect(findToken(config, ALICE)?.name).toBe('alice');
      expect(findToken(config, CAROL)?.name).toBe('carol');
      expect(findToken(config, 'nobody-0123456789abcdef')).toBeUndefined();
      const broken = join(dir, 'broken.json');
      await writeFile(broken, '{"tokens": [');
      await expect(loadAuthConfig(broken)).rejects.toThrow(/not valid JSON/);
      await expect(loadAuthConfig(join(dir, 'missing.json'))).rejects.toThrow(/ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('parses the Authorization header strictly', () => {
    expect(bearerToken(`Bearer ${ALICE}`)).toBe(ALICE);
    expect(bearerToken(`BEARER   ${ALICE}`)).toBe(ALICE);
    expect(bearerToken(undefined)).toBeUndefined();
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(bearerToken('Bearer a"b')).toBeUndefined();
  });
});
