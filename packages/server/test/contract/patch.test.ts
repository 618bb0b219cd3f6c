// CONTRACT.md, PATCH: RFC 7396 merge patch and RFC 6902 JSON Patch, applied
// inside the store's transaction; 409 on a failed test; no prototype pollution.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { problemOf, put, startTestServer, type TestServer } from '../helpers/server.js';
import { storeFactories } from '../helpers/stores.js';

const MERGE = 'application/merge-patch+json';
const JSON_PATCH = 'application/json-patch+json';

describe.each(storeFactories)('PATCH on $name', (factory) => {
  let s: TestServer;
  let n = 0;
  const fresh = () => `/api/patch/p${++n}-${Date.now()}`;

  beforeAll(async () => {
    s = await startTestServer(factory);
  });
  afterAll(async () => {
    await s.close();
    await factory.cleanup();
  });

  async function create(body: unknown): Promise<{ path: string; etag: string }> {
    const path = fresh();
    const res = await put(s.base, path, body);
    expect(res.status).toBe(201);
    return { path, etag: res.headers.get('etag')! };
  }

  function patch(path: string, type: string, body: unknown, headers: Record<string, string> = {}) {
    return fetch(s.base + path, {
      method: 'PATCH',
      headers: { 'content-type': type, ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  }

  async function current(path: string): Promise<{ etag: string | null; body: string }> {
    const res = await fetch(s.base + path);
    return { etag: res.headers.get('etag'), body: await res.text() };
  }

  it('merge patch (RFC 7396): set, replace, remove with null; 200 + ETag + stored document', async () => {
    const { path, etag } = await create({ a: 1, b: { c: 2, d: 3 }, list: [1, 2] });
    const res = await patch(
      path,
      MERGE,
      { a: 9, b: { d: null, e: 4 }, list: [3] },
      { 'if-match': etag },
    );
    expect(res.status).toBe(200);
    const next = res.headers.get('etag')!;
    expect(next).not.toBe(etag);
    const doc = await res.json();
    expect(doc).toEqual({ a: 9, b: { c: 2, e: 4 }, list: [3] });
    const after = await current(path);
    expect(after.etag).toBe(next);
    expect(JSON.parse(after.body)).toEqual(doc);
    expect(res.headers.get('content-location')).toBe(path);
  });

  it('JSON Patch (RFC 6902): add, remove, replace, move, copy, test', async () => {
    const { path } = await create({ items: ['a'], old: 1, keep: { x: 1 } });
    const ops = [
      { op: 'test', path: '/old', value: 1 },
      { op: 'add', path: '/items/-', value: 'b' },
      { op: 'replace', path: '/old', value: 2 },
      { op: 'move', from: '/old', path: '/moved' },
      { op: 'copy', from: '/keep', path: '/copy' },
      { op: 'remove', path: '/keep/x' },
    ];
    const res = await patch(path, JSON_PATCH, ops);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ items: ['a', 'b'], moved: 2, keep: {}, copy: { x: 1 } });
  });

  it('a failed JSON Patch test operation -> 409 problem, nothing applied', async () => {
    const { path, etag } = await create({ n: 1, items: [] });
    const res = await patch(path, JSON_PATCH, [
      { op: 'add', path: '/items/-', value: 'should not land' },
      { op: 'test', path: '/n', value: 2 },
    ]);
    expect(res.status).toBe(409);
    await problemOf(res);
    const after = await current(path);
    expect(after.etag).toBe(etag);
    expect(JSON.parse(after.body)).toEqual({ n: 1, items: [] });
  });

  it('a JSON Patch that cannot apply (missing path) -> 422; a malformed patch document -> 400', async () => {
    const { path, etag } = await create({ a: 1 });
    const missing = await patch(path, JSON_PATCH, [{ op: 'remove', path: '/nope' }]);
    expect(missing.status).toBe(422);
    await problemOf(missing);
    for (const bad of [
      { op: 'add' },
      [{ op: 'frobnicate', path: '/a' }],
      [{ op: 'add', path: 'no-slash', value: 1 }],
      [{ op: 'move', path: '/b' }],
      '[1,2]',
    ]) {
      const res = await patch(path, JSON_PATCH, bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
      await problemOf(res);
    }
    expect((await current(path)).etag).toBe(etag);
  });

  it('a JSON Patch move into its own child (RFC 6902 4.4) -> 422, nothing applied', async () => {
    const { path, etag } = await create({ a: { x: 1 } });
    for (const op of [
      { op: 'move', from: '', path: '/' },
      { op: 'move', from: '', path: '/a' },
      { op: 'move', from: '/a', path: '/a/b' },
      { op: 'move', from: '/a', path: '/a/~1' },
    ]) {
      const res = await patch(path, JSON_PATCH, [op]);
      expect(res.status, JSON.stringify(op)).toBe(422);
      expect((await problemOf(res)).detail).toContain('own child');
    }
    // A sibling that shares the prefix as text is not a child.
    const sibling = await patch(path, JSON_PATCH, [{ op: 'move', from: '/a', path: '/ab' }]);
    expect(sibling.status).toBe(200);
    expect(JSON.parse((await current(path)).body)).toEqual({ ab: { x: 1 } });
    expect((await current(path)).etag).not.toBe(etag);
  });

  it('415 with Accept-Patch for other media types (including application/json)', async () => {
    const { path, etag } = await create({ a: 1 });
    for (const type of ['application/json', 'text/plain', 'application/xml']) {
      const res = await patch(path, type, { a: 2 });
      expect(res.status).toBe(415);
      expect(res.headers.get('accept-patch')).toContain(MERGE);
      expect(res.headers.get('accept-patch')).toContain(JSON_PATCH);
      await problemOf(res);
    }
    expect((await current(path)).etag).toBe(etag);
  });

  it('PATCH with a stale If-Match -> 412, current ETag, nothing applied', async () => {
    const { path, etag } = await create({ a: 1 });
    const res = await patch(
      path,
      MERGE,
      { a: 2 },
      { 'if-match': '"stale"', prefer: 'return=representation' },
    );
    expect(res.status).toBe(412);
    expect(res.headers.get('etag')).toBe(etag);
    const body = await problemOf(res);
    expect(body.current).toEqual({ a: 1 });
  });

  it('__proto__ in a merge patch: 4xx problem, Object.prototype untouched, state unchanged', async () => {
    const { path, etag } = await create({ safe: true });
    for (const evil of [
      '{"__proto__":{"polluted":"yes"}}',
      '{"a":{"__proto__":{"polluted":"yes"}}}',
      '{"constructor":{"prototype":{"polluted":"yes"}}}',
    ]) {
      const res = await patch(path, MERGE, evil);
      expect(res.status, evil).toBe(422);
      await problemOf(res);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect((await current(path)).etag).toBe(etag);
    // The server is still serving and still patches normally.
    const ok = await patch(path, MERGE, { fine: 1 });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ safe: true, fine: 1 });
  });

  it('__proto__ in a JSON Patch path is refused and pollutes nothing', async () => {
    const { path, etag } = await create({ safe: true });
    const res = await patch(path, JSON_PATCH, [
      { op: 'add', path: '/__proto__/polluted', value: 'yes' },
    ]);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    await problemOf(res);
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect((await current(path)).etag).toBe(etag);
  });

  it('a document stored with a "__proto__" member keeps it as data', async () => {
    const { path } = await create('{"__proto__":{"x":1},"y":2}');
    const res = await patch(path, MERGE, { y: 3 });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(JSON.parse(text)).toEqual(JSON.parse('{"__proto__":{"x":1},"y":3}'));
    expect(Object.prototype).not.toHaveProperty('x');
  });
});
