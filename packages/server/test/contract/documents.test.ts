// CONTRACT.md, documents: validators, preconditions (13.2.1 then 13.2.2),
// methods, Prefer, Range. Real HTTP over loopback against every store.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest } from '../helpers/raw.js';
import { problemOf, put, startTestServer, type TestServer } from '../helpers/server.js';
import { storeFactories } from '../helpers/stores.js';

const IMF_FIXDATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;
const STRONG_ETAG = /^"[\x21\x23-\x7e]+"$/;

describe.each(storeFactories)('documents on $name', (factory) => {
  let s: TestServer;
  let n = 0;
  // A fresh document path per test: tests share one server.
  const fresh = () => `/api/docs/d${++n}-${Date.now()}`;

  beforeAll(async () => {
    s = await startTestServer(factory);
  });
  afterAll(async () => {
    await s.close();
    await factory.cleanup();
  });

  async function create(body: unknown = { v: 1 }): Promise<{ path: string; etag: string }> {
    const path = fresh();
    const res = await put(s.base, path, body);
    expect(res.status).toBe(201);
    return { path, etag: res.headers.get('etag')! };
  }

  it('PUT creates (201 + Location + ETag), GET returns the exact bytes with validators', async () => {
    const path = fresh();
    const bytes = '{ "title" : "héllo",\n  "n": [1, 2.50] }';
    const res = await put(s.base, path, bytes);
    expect(res.status).toBe(201);
    expect(res.headers.get('location')).toBe(path);
    const etag = res.headers.get('etag')!;
    expect(etag).toMatch(STRONG_ETAG);
    expect(await res.text()).toBe(bytes);

    const got = await fetch(s.base + path);
    expect(got.status).toBe(200);
    expect(got.headers.get('etag')).toBe(etag);
    expect(got.headers.get('last-modified')).toMatch(IMF_FIXDATE);
    expect(got.headers.get('cache-control')).toBe('no-cache');
    expect(got.headers.get('accept-ranges')).toBe('bytes');
    expect(got.headers.get('content-type')).toBe('application/json');
    // Stored byte for byte (RFC 9110 9.3.4): not re-serialized.
    expect(await got.text()).toBe(bytes);
  });

  it('PUT replace is 200 + new ETag + the stored document', async () => {
    const { path, etag } = await create();
    const res = await put(s.base, path, { v: 2 }, { 'if-match': etag });
    expect(res.status).toBe(200);
    const next = res.headers.get('etag')!;
    expect(next).toMatch(STRONG_ETAG);
    expect(next).not.toBe(etag);
    expect(await res.json()).toEqual({ v: 2 });
    // The ETag of the response identifies what a GET now returns.
    const got = await fetch(s.base + path);
    expect(got.headers.get('etag')).toBe(next);
  });

  it('the same bytes written twice get different ETags (never reused for a URL)', async () => {
    const { path, etag } = await create({ same: true });
    const again = await put(s.base, path, { same: true }, { 'if-match': etag });
    expect(again.status).toBe(200);
    expect(again.headers.get('etag')).not.toBe(etag);
  });

  it('GET If-None-Match current -> 304 with exactly the 15.4.5 header set (raw)', async () => {
    const { path, etag } = await create({ big: 'x'.repeat(1000) });
    const res = await rawRequest(
      s.port,
      `GET ${path} HTTP/1.1\r\nHost: x\r\nIf-None-Match: "nope", ${etag}\r\nConnection: close\r\n\r\n`,
    );
    expect(res.status).toBe(304);
    expect(res.headers['etag']).toBe(etag);
    expect(res.headers['cache-control']).toBe('no-cache');
    expect(res.headers['date']).toBeDefined();
    expect(res.headerNames).not.toContain('content-length');
    expect(res.headerNames).not.toContain('content-type');
    expect(res.headerNames).not.toContain('transfer-encoding');
    expect(res.headerNames).not.toContain('accept-ranges');
    expect(res.body.length).toBe(0);
  });

  it('If-None-Match uses weak comparison; * matches an existing document', async () => {
    const { path, etag } = await create();
    expect((await fetch(s.base + path, { headers: { 'if-none-match': `W/${etag}` } })).status).toBe(
      304,
    );
    expect((await fetch(s.base + path, { headers: { 'if-none-match': '*' } })).status).toBe(304);
    expect((await fetch(s.base + path, { headers: { 'if-none-match': '"other"' } })).status).toBe(
      200,
    );
  });

  it('If-Modified-Since: 304 when not modified, ignored when If-None-Match is present', async () => {
    const { path } = await create();
    const lm = (await fetch(s.base + path)).headers.get('last-modified')!;
    expect((await fetch(s.base + path, { headers: { 'if-modified-since': lm } })).status).toBe(304);
    const past = new Date(Date.parse(lm) - 60_000).toUTCString();
    expect((await fetch(s.base + path, { headers: { 'if-modified-since': past } })).status).toBe(
      200,
    );
    const both = await fetch(s.base + path, {
      headers: { 'if-modified-since': lm, 'if-none-match': '"other"' },
    });
    expect(both.status).toBe(200);
    // An invalid date is ignored.
    expect(
      (await fetch(s.base + path, { headers: { 'if-modified-since': 'yesterday' } })).status,
    ).toBe(200);
  });

  it('GET with If-Match not matching -> 412 with the current ETag', async () => {
    const { path, etag } = await create();
    const res = await fetch(s.base + path, { headers: { 'if-match': '"stale"' } });
    expect(res.status).toBe(412);
    expect(res.headers.get('etag')).toBe(etag);
    await problemOf(res);
  });

  it('13.2.1: GET, HEAD, PATCH, DELETE of an absent document are 404 whatever the preconditions', async () => {
    const path = fresh();
    for (const headers of [
      { 'if-match': '"x"' },
      { 'if-none-match': '*' },
      { 'if-unmodified-since': 'Thu, 01 Jan 1970 00:00:00 GMT' },
      {},
    ]) {
      const get = await fetch(s.base + path, { headers });
      expect(get.status).toBe(404);
      await problemOf(get);
      expect((await fetch(s.base + path, { method: 'HEAD', headers })).status).toBe(404);
      const del = await fetch(s.base + path, { method: 'DELETE', headers });
      expect(del.status).toBe(404);
      await problemOf(del);
      const patch = await fetch(s.base + path, {
        method: 'PATCH',
        headers: { ...headers, 'content-type': 'application/merge-patch+json' },
        body: '{"a":1}',
      });
      expect(patch.status).toBe(404);
      await problemOf(patch);
    }
  });

  it('PUT with If-Match to an absent id -> 412 and nothing is created', async () => {
    const path = fresh();
    const res = await put(s.base, path, { a: 1 }, { 'if-match': '"1-abc"' });
    expect(res.status).toBe(412);
    expect(res.headers.get('etag')).toBeNull();
    await problemOf(res);
    expect((await put(s.base, path, { a: 1 }, { 'if-match': '*' })).status).toBe(412);
    expect((await fetch(s.base + path)).status).toBe(404);
  });

  it('PUT If-None-Match: * creates only: 201 when absent, 412 when it exists', async () => {
    const path = fresh();
    const first = await put(s.base, path, { a: 1 }, { 'if-none-match': '*' });
    expect(first.status).toBe(201);
    const second = await put(s.base, path, { a: 2 }, { 'if-none-match': '*' });
    expect(second.status).toBe(412);
    expect(second.headers.get('etag')).toBe(first.headers.get('etag'));
    await problemOf(second);
    expect(await (await fetch(s.base + path)).json()).toEqual({ a: 1 });
  });

  it('412 carries the current ETag and a problem naming the precondition; state unchanged', async () => {
    const { path, etag } = await create({ v: 1 });
    const moved = await put(s.base, path, { v: 2 }, { 'if-match': etag });
    const current = moved.headers.get('etag');
    const stale = await put(s.base, path, { v: 3 }, { 'if-match': etag });
    expect(stale.status).toBe(412);
    expect(stale.headers.get('etag')).toBe(current);
    const body = await problemOf(stale);
    expect(body.precondition).toBe('If-Match');
    expect(body.etag).toBe(current);
    expect(body.current).toBeUndefined();
    expect(await (await fetch(s.base + path)).json()).toEqual({ v: 2 });
  });

  it('412 with Prefer: return=representation carries the current document in the problem', async () => {
    const stored = '{"v":  "current", "n": [1,2]}';
    const { path } = await create(stored);
    const res = await put(
      s.base,
      path,
      { v: 9 },
      {
        'if-match': '"stale"',
        prefer: 'return=representation',
      },
    );
    expect(res.status).toBe(412);
    expect(res.headers.get('preference-applied')).toBe('return=representation');
    const body = await problemOf(res);
    expect(body.current).toEqual({ v: 'current', n: [1, 2] });
    expect(body.etag).toBe(res.headers.get('etag'));
  });

  it('Prefer: return=minimal -> 204 + ETag, no body (PUT create, PUT replace, PATCH)', async () => {
    const path = fresh();
    const created = await put(s.base, path, { a: 1 }, { prefer: 'return=minimal' });
    expect(created.status).toBe(204);
    expect(created.headers.get('preference-applied')).toBe('return=minimal');
    expect(created.headers.get('etag')).toMatch(STRONG_ETAG);
    expect(created.headers.get('location')).toBe(path);
    expect(await created.text()).toBe('');
    const replaced = await put(
      s.base,
      path,
      { a: 2 },
      {
        prefer: 'return=minimal',
        'if-match': created.headers.get('etag')!,
      },
    );
    expect(replaced.status).toBe(204);
    const patched = await fetch(s.base + path, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json', prefer: 'return=minimal' },
      body: '{"b":1}',
    });
    expect(patched.status).toBe(204);
    expect(await patched.text()).toBe('');
    expect((await fetch(s.base + path)).headers.get('etag')).toBe(patched.headers.get('etag'));
  });

  it('If-Unmodified-Since in the past -> 412 on writes; ignored when If-Match is present', async () => {
    const { path, etag } = await create();
    const past = 'Thu, 01 Jan 2015 00:00:00 GMT';
    expect((await put(s.base, path, { a: 1 }, { 'if-unmodified-since': past })).status).toBe(412);
    const withMatch = await put(
      s.base,
      path,
      { a: 1 },
      { 'if-match': etag, 'if-unmodified-since': past },
    );
    expect(withMatch.status).toBe(200);
    const future = new Date(Date.now() + 3600_000).toUTCString();
    const ok = await put(s.base, path, { a: 2 }, { 'if-unmodified-since': future });
    expect(ok.status).toBe(200);
  });

  it('If-Match uses strong comparison: a weak tag never matches', async () => {
    const { path, etag } = await create();
    expect((await put(s.base, path, { a: 1 }, { 'if-match': `W/${etag}` })).status).toBe(412);
    expect((await put(s.base, path, { a: 1 }, { 'if-match': `"x", ${etag}` })).status).toBe(200);
  });

  it('If-Match on two header lines is one list (raw)', async () => {
    const { path, etag } = await create();
    const body = '{"two":"lines"}';
    const res = await rawRequest(
      s.port,
      `PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n` +
        `If-Match: "nope"\r\nIf-Match: ${etag}\r\nConnection: close\r\n\r\n${body}`,
    );
    expect(res.status).toBe(200);
  });

  it('DELETE -> 204; then GET 404; re-create gets a new ETag', async () => {
    const bytes = { same: 'bytes' };
    const { path, etag } = await create(bytes);
    const del = await fetch(s.base + path, { method: 'DELETE', headers: { 'if-match': etag } });
    expect(del.status).toBe(204);
    expect((await fetch(s.base + path)).status).toBe(404);
    const again = await put(s.base, path, bytes);
    expect(again.status).toBe(201);
    expect(again.headers.get('etag')).not.toBe(etag);
    // The old tag no longer validates anything.
    expect((await fetch(s.base + path, { headers: { 'if-none-match': etag } })).status).toBe(200);
    expect((await put(s.base, path, bytes, { 'if-match': etag })).status).toBe(412);
  });

  it('DELETE with a stale If-Match -> 412, document kept', async () => {
    const { path } = await create();
    const res = await fetch(s.base + path, {
      method: 'DELETE',
      headers: { 'if-match': '"stale"' },
    });
    expect(res.status).toBe(412);
    await problemOf(res);
    expect((await fetch(s.base + path)).status).toBe(200);
  });

  it('HEAD has the same header fields as GET and no body', async () => {
    const { path } = await create({ head: 'x'.repeat(100) });
    const get = await fetch(s.base + path);
    const head = await fetch(s.base + path, { method: 'HEAD' });
    expect(head.status).toBe(200);
    for (const name of [
      'etag',
      'last-modified',
      'cache-control',
      'content-type',
      'accept-ranges',
      'content-length',
    ]) {
      expect(head.headers.get(name), name).toBe(get.headers.get(name));
    }
    expect(await head.text()).toBe('');
    const raw = await rawRequest(
      s.port,
      `HEAD ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    expect(raw.body.length).toBe(0);
    const notModified = await fetch(s.base + path, {
      method: 'HEAD',
      headers: { 'if-none-match': get.headers.get('etag')! },
    });
    expect(notModified.status).toBe(304);
  });

  it('Range: one byte range -> 206 + Content-Range; suffix; unsatisfiable -> 416; several -> 200', async () => {
    const text = '{"alphabet":"abcdefghijklmnopqrstuvwxyz"}';
    const { path, etag } = await create(text);
    const r = await fetch(s.base + path, { headers: { range: 'bytes=0-9' } });
    expect(r.status).toBe(206);
    expect(r.headers.get('content-range')).toBe(`bytes 0-9/${text.length}`);
    expect(r.headers.get('etag')).toBe(etag);
    expect(await r.text()).toBe(text.slice(0, 10));
    const suffix = await fetch(s.base + path, { headers: { range: 'bytes=-5' } });
    expect(suffix.status).toBe(206);
    expect(await suffix.text()).toBe(text.slice(-5));
    const open = await fetch(s.base + path, { headers: { range: 'bytes=30-' } });
    expect(await open.text()).toBe(text.slice(30));
    const bad = await fetch(s.base + path, { headers: { range: `bytes=${text.length}-` } });
    expect(bad.status).toBe(416);
    expect(bad.headers.get('content-range')).toBe(`bytes */${text.length}`);
    await problemOf(bad);
    const many = await fetch(s.base + path, { headers: { range: 'bytes=0-1, 4-5' } });
    expect(many.status).toBe(200);
    expect(await many.text()).toBe(text);
  });

  it('If-Range: the range only when it matches (ETag strongly, or the Last-Modified date)', async () => {
    const text = '{"range":"0123456789"}';
    const { path, etag } = await create(text);
    const lm = (await fetch(s.base + path)).headers.get('last-modified')!;
    const match = await fetch(s.base + path, { headers: { range: 'bytes=0-4', 'if-range': etag } });
    expect(match.status).toBe(206);
    expect(await match.text()).toBe(text.slice(0, 5));
    const stale = await fetch(s.base + path, {
      headers: { range: 'bytes=0-4', 'if-range': '"old"' },
    });
    expect(stale.status).toBe(200);
    expect(await stale.text()).toBe(text);
    const weak = await fetch(s.base + path, {
      headers: { range: 'bytes=0-4', 'if-range': `W/${etag}` },
    });
    expect(weak.status).toBe(200);
    const byDate = await fetch(s.base + path, { headers: { range: 'bytes=0-4', 'if-range': lm } });
    expect(byDate.status).toBe(206);
    const oldDate = await fetch(s.base + path, {
      headers: { range: 'bytes=0-4', 'if-range': 'Thu, 01 Jan 2015 00:00:00 GMT' },
    });
    expect(oldDate.status).toBe(200);
  });

  it('X-Request-Id on every response; a sane incoming id is echoed, an insane one replaced', async () => {
    const { path } = await create();
    const a = await fetch(s.base + path);
    expect(a.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const b = await fetch(s.base + path, { headers: { 'x-request-id': 'trace-123' } });
    expect(b.headers.get('x-request-id')).toBe('trace-123');
    const c = await fetch(s.base + fresh(), { headers: { 'x-request-id': 'bad id with spaces' } });
    expect(c.status).toBe(404);
    expect(c.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    // Also on errors Fastify raises before routing (bad percent-encoding).
    const badUrl = await fetch(`${s.base}/api/docs/%zz`, {
      headers: { 'x-request-id': 'early-1' },
    });
    expect(badUrl.status).toBe(400);
    expect(badUrl.headers.get('x-request-id')).toBe('early-1');
    const nm = await fetch(s.base + path, { headers: { 'if-none-match': a.headers.get('etag')! } });
    expect(nm.status).toBe(304);
    expect(nm.headers.get('x-request-id')).toBeTruthy();
  });

  it('a GET served from the body cache and one read from the store are the same bytes and tag', async () => {
    // Written by another "instance" (directly through the store): this process
    // has never seen the bytes, so the GET must read them.
    const path = fresh();
    const [, , collection, id] = path.split('/');
    const body = Buffer.from('{"from":"elsewhere"}');
    const outcome = await s.store.write({ collection: collection!, id: id! }, () => ({
      action: 'put',
      body,
    }));
    expect(outcome.action).toBe('put');
    const first = await fetch(s.base + path);
    expect(await first.text()).toBe(body.toString());
    const etag = first.headers.get('etag');
    expect(etag).toBe(outcome.action === 'put' ? outcome.doc.etag : '');
    const second = await fetch(s.base + path);
    expect(second.headers.get('etag')).toBe(etag);
    expect(await second.text()).toBe(body.toString());
  });
});
