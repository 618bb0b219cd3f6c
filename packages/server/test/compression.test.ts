// Content codings (CONTRACT.md, Validators): Accept-Encoding negotiation, one
// compression per stored version, a strong ETag per coding.
import type { IncomingHttpHeaders } from 'node:http';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { codingETag } from '@ifmatch/core';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/http/app.js';
import {
  COMPRESSION_THRESHOLD,
  CodingCache,
  codingFor,
  codingTags,
  negotiateEncoding,
} from '../src/http/compression.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import type { DocumentStore } from '../src/store/types.js';

describe('negotiateEncoding (RFC 9110 12.5.3)', () => {
  const table: [string | undefined, string][] = [
    [undefined, 'identity'],
    ['', 'identity'],
    ['   ', 'identity'],
    ['gzip', 'gzip'],
    ['GZIP', 'gzip'],
    ['x-gzip', 'gzip'],
    ['br', 'br'],
    ['gzip, deflate, br, zstd', 'br'],
    ['gzip;q=1.0, br;q=0.5', 'gzip'],
    ['br;q=0, gzip', 'gzip'],
    ['br;q=0, gzip;q=0', 'identity'],
    ['*', 'br'],
    ['*;q=0.5, br;q=0', 'gzip'],
    ['*;q=0', 'identity'],
    ['identity', 'identity'],
    ['identity;q=1, gzip;q=0.5', 'identity'],
    ['gzip, identity;q=0.5', 'gzip'],
    ['deflate', 'identity'],
    ['compress, zstd', 'identity'],
    ['gzip;q=2', 'identity'], // malformed weight: the member is ignored
    ['gzip;q=abc, br', 'br'],
    ['gzip;q=0.001', 'gzip'],
    [' gzip ; q = 0.8 , br ; q=0.9', 'br'],
    [',,gzip,,', 'gzip'],
    [';;;', 'identity'],
    ['gzip;level=9', 'gzip'],
  ];
  it.each(table)('%j -> %s', (accept, expected) => {
    expect(negotiateEncoding(accept)).toBe(expected);
  });

  it('joins several field lines', () => {
    expect(negotiateEncoding(['identity;q=0.1', 'gzip'])).toBe('gzip');
  });
});

describe('codingFor', () => {
  it('keeps small documents uncoded', () => {
    expect(codingFor('gzip', COMPRESSION_THRESHOLD - 1)).toBe('identity');
    expect(codingFor('gzip', COMPRESSION_THRESHOLD)).toBe('gzip');
    expect(codingFor('br', undefined)).toBe('br');
  });
});

describe('codingTags', () => {
  it('gives each coding its own strong tag and lists the others', () => {
    const t = codingTags('"7-abc"', 'gzip');
    expect(t.etag).toBe('"7-abc.gzip"');
    expect(t.alternateETags.sort()).toEqual(['"7-abc"', '"7-abc.br"'].sort());
    const i = codingTags('"7-abc"', 'identity');
    expect(i.etag).toBe('"7-abc"');
    expect(i.alternateETags.sort()).toEqual(['"7-abc.br"', '"7-abc.gzip"']);
  });
});

describe('CodingCache', () => {
  const body = Buffer.from(
    JSON.stringify({ items: Array.from({ length: 500 }, (_, i) => ({ i })) }),
  );

  it('compresses once per (ETag, coding), even for concurrent first requests', async () => {
    const cache = new CodingCache(1 << 20);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => cache.get('"1-a"', 'gzip', body)),
    );
    expect(cache.compressions).toBe(1);
    for (const r of results) expect(gunzipSync(r).equals(body)).toBe(true);
    await cache.get('"1-a"', 'gzip', body);
    expect(cache.compressions).toBe(1);
    await cache.get('"1-a"', 'br', body);
    await cache.get('"2-b"', 'gzip', body);
    expect(cache.compressions).toBe(3);
  });

  it('returns identity untouched without compressing', async () => {
    const cache = new CodingCache(1 << 20);
    expect(await cache.get('"1-a"', 'identity', body)).toBe(body);
    expect(cache.compressions).toBe(0);
  });
});

// ---------------------------------------------------------------------------
// Over real HTTP: the app on a real SQLite store, node:http requests (fetch
// would add and undo codings on its own).

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function send(
  url: string,
  method: string,
  headers: Record<string, string> = {},
  body?: Buffer,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('content codings over HTTP (CONTRACT.md, Validators)', () => {
  let app: FastifyInstance;
  let store: DocumentStore;
  let base: string;
  const big = Buffer.from(
    JSON.stringify({ items: Array.from({ length: 300 }, (_, i) => ({ i, name: `item ${i}` })) }),
  );
  const small = Buffer.from('{"small":true}');

  beforeAll(async () => {
    store = openSqliteStore(':memory:');
    app = await buildApp({ store, defaultMetrics: false });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address() as AddressInfo;
    base = `http://127.0.0.1:${address.port}`;
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  async function put(path: string, body: Buffer, headers: Record<string, string> = {}) {
    return send(base + path, 'PUT', { 'content-type': 'application/json', ...headers }, body);
  }

  it('sends gzip and br with their own strong ETags, identity without Accept-Encoding', async () => {
    const created = await put('/api/c/big', big);
    expect(created.status).toBe(201);
    const tag = created.headers.etag as string;
    expect(tag).toMatch(/^"[^"]+"$/);

    const plain = await send(`${base}/api/c/big`, 'GET');
    expect(plain.status).toBe(200);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.headers.etag).toBe(tag);
    expect(plain.headers.vary?.toLowerCase()).toContain('accept-encoding');
    expect(plain.body.equals(big)).toBe(true);

    const gz = await send(`${base}/api/c/big`, 'GET', { 'accept-encoding': 'gzip' });
    expect(gz.status).toBe(200);
    expect(gz.headers['content-encoding']).toBe('gzip');
    expect(gz.headers.etag).toBe(codingETag(tag, 'gzip'));
    expect(gz.headers.vary?.toLowerCase()).toContain('accept-encoding');
    expect(Number(gz.headers['content-length'])).toBe(gz.body.length);
    expect(gz.body.length).toBeLessThan(big.length);
    expect(gunzipSync(gz.body).equals(big)).toBe(true);

    const br = await send(`${base}/api/c/big`, 'GET', { 'accept-encoding': 'gzip, deflate, br' });
    expect(br.headers['content-encoding']).toBe('br');
    expect(br.headers.etag).toBe(codingETag(tag, 'br'));
    expect(brotliDecompressSync(br.body).equals(big)).toBe(true);

    const tags = new Set([plain.headers.etag, gz.headers.etag, br.headers.etag]);
    expect(tags.size).toBe(3);
  });

  it('answers If-None-Match with the coding tag: 304 for the same coding, 200 for another', async () => {
    const tag = (await put('/api/c/inm', big)).headers.etag as string;
    const gzTag = codingETag(tag, 'gzip');

    const hit = await send(`${base}/api/c/inm`, 'GET', {
      'accept-encoding': 'gzip',
      'if-none-match': gzTag,
    });
    expect(hit.status).toBe(304);
    expect(hit.body.length).toBe(0);
    expect(hit.headers.etag).toBe(gzTag);
    expect(hit.headers.vary?.toLowerCase()).toContain('accept-encoding');
    expect(hit.headers['content-length']).toBeUndefined();
    expect(hit.headers['content-type']).toBeUndefined();
    expect(hit.headers['content-encoding']).toBeUndefined();

    // The identity tag does not validate the gzip representation, and vice versa.
    const other = await send(`${base}/api/c/inm`, 'GET', {
      'accept-encoding': 'gzip',
      'if-none-match': tag,
    });
    expect(other.status).toBe(200);
    expect(other.headers.etag).toBe(gzTag);
    const identity = await send(`${base}/api/c/inm`, 'GET', { 'if-none-match': gzTag });
    expect(identity.status).toBe(200);
    expect(identity.headers.etag).toBe(tag);

    const head = await send(`${base}/api/c/inm`, 'HEAD', { 'accept-encoding': 'gzip' });
    expect(head.status).toBe(200);
    expect(head.headers.etag).toBe(gzTag);
    expect(head.headers['content-encoding']).toBe('gzip');
    expect(head.body.length).toBe(0);
  });

  it('lets If-Match name any coding of the current state, and only of the current state', async () => {
    const tag = (await put('/api/c/im', big)).headers.etag as string;
    const viaGzip = await put('/api/c/im', big, { 'if-match': codingETag(tag, 'gzip') });
    expect(viaGzip.status).toBe(200);
    const next = viaGzip.headers.etag as string;
    expect(next).not.toBe(tag);

    // The old state's coding tags are stale now.
    const stale = await put('/api/c/im', big, { 'if-match': codingETag(tag, 'br') });
    expect(stale.status).toBe(412);
    expect(stale.headers.etag).toBe(next);

    const viaBr = await put('/api/c/im', small, { 'if-match': codingETag(next, 'br') });
    expect(viaBr.status).toBe(200);
    const del = await send(`${base}/api/c/im`, 'DELETE', {
      'if-match': codingETag(viaBr.headers.etag as string, 'gzip'),
    });
    expect(del.status).toBe(204);
  });

  it('keeps documents under the threshold uncoded, still with Vary', async () => {
    const tag = (await put('/api/c/small', small)).headers.etag as string;
    const r = await send(`${base}/api/c/small`, 'GET', { 'accept-encoding': 'gzip, br' });
    expect(r.status).toBe(200);
    expect(r.headers['content-encoding']).toBeUndefined();
    expect(r.headers.etag).toBe(tag);
    expect(r.headers.vary?.toLowerCase()).toContain('accept-encoding');
    expect(r.body.equals(small)).toBe(true);
  });

  it('serves the same coded bytes to concurrent first requests of a new version', async () => {
    const doc = Buffer.from(JSON.stringify({ v: 'concurrent', pad: 'x'.repeat(5000) }));
    const tag = (await put('/api/c/conc', doc)).headers.etag as string;
    const all = await Promise.all(
      Array.from({ length: 16 }, () =>
        send(`${base}/api/c/conc`, 'GET', { 'accept-encoding': 'gzip' }),
      ),
    );
    for (const r of all) {
      expect(r.status).toBe(200);
      expect(r.headers.etag).toBe(codingETag(tag, 'gzip'));
      expect(r.body.equals(all[0]!.body)).toBe(true);
    }
    expect(gunzipSync(all[0]!.body).equals(doc)).toBe(true);
  });

  it('never fails on odd Accept-Encoding values', async () => {
    await put('/api/c/odd', big);
    for (const ae of [
      'gzip;q=abc',
      '*;q=0',
      'identity;q=0',
      ';;,,',
      'br;q=0, gzip;q=0',
      'x'.repeat(2000),
    ]) {
      const r = await send(`${base}/api/c/odd`, 'GET', { 'accept-encoding': ae });
      expect(r.status, ae).toBe(200);
      const coding = r.headers['content-encoding'];
      const body =
        coding === 'gzip'
          ? gunzipSync(r.body)
          : coding === 'br'
            ? brotliDecompressSync(r.body)
            : r.body;
      expect(body.equals(big), ae).toBe(true);
    }
  });
});
