// CONTRACT.md resources beyond documents: /healthz, /metrics, /openapi.json,
// the web app at /, and CORS for browsers on other origins.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from '../helpers/raw.js';
import { put, startTestServer, type TestServer } from '../helpers/server.js';
import { storeFactories } from '../helpers/stores.js';

const ORIGIN = 'http://app.example:5173';

describe.each(storeFactories)('operations on $name', (factory) => {
  let s: TestServer;
  const web = mkdtempSync(join(tmpdir(), 'ifmatch-web-'));

  beforeAll(async () => {
    mkdirSync(join(web, 'assets'));
    writeFileSync(
      join(web, 'index.html'),
      '<!doctype html><title>app</title><script src="/assets/app-abc123.js"></script>',
    );
    writeFileSync(join(web, 'assets', 'app-abc123.js'), 'console.log("app")');
    s = await startTestServer(factory, { cors: [ORIGIN], webDist: web });
  });
  afterAll(async () => {
    await s.close();
    await factory.cleanup();
    rmSync(web, { recursive: true, force: true });
  });

  it('/healthz reports the store ready', async () => {
    const res = await fetch(`${s.base}/healthz`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      status: 'ok',
      storage: { kind: s.store.kind, ready: true },
    });
  });

  it('/metrics counts requests, 304s, 412s and bytes a 304 did not send', async () => {
    const body = JSON.stringify({ pad: 'p'.repeat(500) });
    const created = await put(s.base, '/api/metrics/doc', body);
    const etag = created.headers.get('etag')!;
    for (let i = 0; i < 3; i++) {
      expect(
        (await fetch(`${s.base}/api/metrics/doc`, { headers: { 'if-none-match': etag } })).status,
      ).toBe(304);
    }
    expect((await put(s.base, '/api/metrics/doc', {}, { 'if-match': '"stale"' })).status).toBe(412);
    const res = await fetch(`${s.base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    const value = (pattern: RegExp) => Number(pattern.exec(text)?.[1] ?? Number.NaN);
    expect(value(/^ifmatch_not_modified_total\{route="\/api\/:collection\/:id"\} (\d+)$/m)).toBe(3);
    expect(
      value(
        /^ifmatch_precondition_failed_total\{route="\/api\/:collection\/:id",method="PUT"\} (\d+)$/m,
      ),
    ).toBe(1);
    expect(value(/^ifmatch_not_modified_bytes_saved_total (\d+)$/m)).toBe(3 * body.length);
    expect(
      value(
        /^ifmatch_http_requests_total\{route="\/api\/:collection\/:id",method="GET",status="304"\} (\d+)$/m,
      ),
    ).toBe(3);
    expect(text).toMatch(/ifmatch_http_request_duration_seconds_bucket/);
  });

  it('/openapi.json is OpenAPI 3.1 and describes every route of the app', async () => {
    const res = await fetch(`${s.base}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as {
      openapi: string;
      paths: Record<
        string,
        Record<string, { parameters?: Array<{ name: string }>; requestBody?: unknown }>
      >;
      components?: { schemas?: Record<string, unknown> };
    };
    expect(doc.openapi).toBe('3.1.0');
    const expected: Record<string, string[]> = {
      '/api/{collection}/{id}': ['get', 'put', 'patch', 'delete'],
      '/api/{collection}': ['get', 'post'],
      '/healthz': ['get'],
      '/metrics': ['get'],
      '/openapi.json': ['get'],
    };
    for (const [path, methods] of Object.entries(expected)) {
      for (const method of methods)
        expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    }
    const put = doc.paths['/api/{collection}/{id}']!.put!;
    expect(put.requestBody).toBeDefined();
    expect(put.parameters?.map((p) => p.name)).toEqual(
      expect.arrayContaining(['If-Match', 'If-None-Match', 'Prefer']),
    );
    expect(doc.paths['/api/{collection}/{id}']!.patch!.requestBody).toBeDefined();
    // And the other way round: each described operation is a route of the app.
    for (const [path, item] of Object.entries(doc.paths)) {
      const url = path.replace(/\{(\w+)\}/g, ':$1');
      for (const method of Object.keys(item)) {
        if (!['get', 'head', 'put', 'patch', 'delete', 'post'].includes(method)) continue;
        expect(
          s.app.hasRoute({ url, method: method.toUpperCase() as 'GET' }),
          `${method} ${url}`,
        ).toBe(true);
      }
    }
  });

  it('the web app: index.html no-cache + ETag + 304; hashed assets immutable', async () => {
    const index = await fetch(`${s.base}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toMatch(/^text\/html/);
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const etag = index.headers.get('etag')!;
    expect(etag).toMatch(/^"[^"]+"$/);
    expect(await index.text()).toContain('<title>app</title>');
    const again = await rawRequest(
      s.port,
      `GET / HTTP/1.1\r\nHost: x\r\nIf-None-Match: ${etag}\r\nConnection: close\r\n\r\n`,
    );
    expect(again.status).toBe(304);
    expect(again.headerNames).not.toContain('content-length');
    const asset = await fetch(`${s.base}/assets/app-abc123.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    expect((await fetch(`${s.base}/assets/missing.js`)).status).toBe(404);
  });

  it('CORS: exposes the validators, preflights allow the conditional headers, 304 keeps CORS', async () => {
    const created = await put(s.base, '/api/cors/doc', { a: 1 });
    const etag = created.headers.get('etag')!;
    const get = await fetch(`${s.base}/api/cors/doc`, { headers: { origin: ORIGIN } });
    expect(get.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    const exposed = get.headers.get('access-control-expose-headers')!.toLowerCase();
    for (const name of ['etag', 'last-modified', 'location', 'content-location'])
      expect(exposed).toContain(name);

    const preflight = await fetch(`${s.base}/api/cors/doc`, {
      method: 'OPTIONS',
      headers: {
        origin: ORIGIN,
        'access-control-request-method': 'PUT',
        'access-control-request-headers': 'if-match, content-type, prefer',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(ORIGIN);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('PUT');
    const allowed = preflight.headers.get('access-control-allow-headers')!.toLowerCase();
    for (const name of [
      'if-match',
      'if-none-match',
      'if-modified-since',
      'if-unmodified-since',
      'if-range',
      'range',
      'prefer',
    ]) {
      expect(allowed).toContain(name);
    }

    const notModified = await rawRequest(
      s.port,
      `GET /api/cors/doc HTTP/1.1\r\nHost: x\r\nOrigin: ${ORIGIN}\r\nIf-None-Match: ${etag}\r\nConnection: close\r\n\r\n`,
    );
    expect(notModified.status).toBe(304);
    expect(notModified.headers['access-control-allow-origin']).toBe(ORIGIN);
    expect(notModified.headers['access-control-expose-headers']).toContain('ETag');
    expect(notModified.headers['vary']).toContain('Origin');

    // Errors carry CORS too, so a script can read the 412's ETag.
    const failed = await put(
      s.base,
      '/api/cors/doc',
      {},
      { origin: ORIGIN, 'if-match': '"stale"' },
    );
    expect(failed.status).toBe(412);
    expect(failed.headers.get('access-control-allow-origin')).toBe(ORIGIN);

    // Other origins get no CORS grant.
    const other = await fetch(`${s.base}/api/cors/doc`, {
      headers: { origin: 'http://evil.example' },
    });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
  });
});
