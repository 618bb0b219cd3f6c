// CONTRACT.md, strict mode: a PUT, PATCH or DELETE without If-Match or
// If-None-Match is 428. Order (docs/DECISIONS.md): 400/413/415 -> 428 -> 404 -> 412.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { problemOf, put, startTestServer, type TestServer } from '../helpers/server.js';
import { storeFactories } from '../helpers/stores.js';

describe.each(storeFactories)('strict mode on $name', (factory) => {
  let s: TestServer;

  beforeAll(async () => {
    s = await startTestServer(factory, { strict: true });
  });
  afterAll(async () => {
    await s.close();
    await factory.cleanup();
  });

  it('PUT, PATCH, DELETE without a precondition -> 428 naming the header; nothing written', async () => {
    const path = '/api/strict/a';
    const res = await put(s.base, path, { a: 1 });
    expect(res.status).toBe(428);
    const body = await problemOf(res);
    expect(String(body.detail)).toContain('If-None-Match');
    expect(String(body.detail)).toContain('If-Match');
    expect((await fetch(s.base + path)).status).toBe(404);

    const created = await put(s.base, path, { a: 1 }, { 'if-none-match': '*' });
    expect(created.status).toBe(201);
    const etag = created.headers.get('etag')!;

    const patch = await fetch(s.base + path, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: '{"b":2}',
    });
    expect(patch.status).toBe(428);
    expect(String((await problemOf(patch)).detail)).toContain('If-Match');
    const del = await fetch(s.base + path, { method: 'DELETE' });
    expect(del.status).toBe(428);
    await problemOf(del);
    // Unchanged by the refused writes.
    expect((await fetch(s.base + path)).headers.get('etag')).toBe(etag);

    // With a precondition everything works as usual.
    const ok = await fetch(s.base + path, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json', 'if-match': etag },
      body: '{"b":2}',
    });
    expect(ok.status).toBe(200);
  });

  it('order: 415/400 before 428, 428 before 404, 404 before 412', async () => {
    const absent = '/api/strict/absent';
    const wrongType = await fetch(s.base + absent, {
      method: 'PUT',
      headers: { 'content-type': 'text/plain' },
      body: '{}',
    });
    expect(wrongType.status).toBe(415);
    expect((await put(s.base, absent, '{bad')).status).toBe(400);
    expect((await fetch(s.base + absent, { method: 'DELETE' })).status).toBe(428);
    const del = await fetch(s.base + absent, { method: 'DELETE', headers: { 'if-match': '"x"' } });
    expect(del.status).toBe(404);
    // Reads and POST need no precondition.
    expect((await fetch(s.base + absent)).status).toBe(404);
    const post = await fetch(`${s.base}/api/strict`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(post.status).toBe(201);
  });
});
