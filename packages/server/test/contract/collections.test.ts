// CONTRACT.md, collections: listing with validators, paging, 304, POST.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { problemOf, put, startTestServer, type TestServer } from '../helpers/server.js';
import { storeFactories } from '../helpers/stores.js';

interface Page {
  items: Array<{ id: string; etag: string; lastModified: string }>;
  next: string | null;
}

describe.each(storeFactories)('collections on $name', (factory) => {
  let s: TestServer;
  let n = 0;
  const freshCollection = () => `c${++n}-${Date.now()}`;

  beforeAll(async () => {
    s = await startTestServer(factory);
  });
  afterAll(async () => {
    await s.close();
    await factory.cleanup();
  });

  it('lists members in id order with their ETags; the listing has validators', async () => {
    const c = freshCollection();
    const tags: Record<string, string> = {};
    for (const id of ['b', 'a', 'c']) {
      const res = await put(s.base, `/api/${c}/${id}`, { id });
      tags[id] = res.headers.get('etag')!;
    }
    const res = await fetch(`${s.base}/api/${c}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toMatch(/^"[^"]+"$/);
    expect(res.headers.get('last-modified')).toMatch(/GMT$/);
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const page = (await res.json()) as Page;
    expect(page.items.map((i) => i.id)).toEqual(['a', 'b', 'c']);
    for (const item of page.items) {
      expect(item.etag).toBe(tags[item.id]);
      expect(item.lastModified).toMatch(/GMT$/);
    }
    expect(page.next).toBeNull();
  });

  it('conditional GET of a listing -> 304; any member write changes the tag', async () => {
    const c = freshCollection();
    const created = await put(s.base, `/api/${c}/x`, { v: 1 });
    const first = await fetch(`${s.base}/api/${c}`);
    const tag = first.headers.get('etag')!;
    const again = await fetch(`${s.base}/api/${c}`, { headers: { 'if-none-match': tag } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(tag);
    expect(await again.text()).toBe('');

    // A member change (replace) changes the listing's tag.
    await put(s.base, `/api/${c}/x`, { v: 2 }, { 'if-match': created.headers.get('etag')! });
    const afterPut = await fetch(`${s.base}/api/${c}`, { headers: { 'if-none-match': tag } });
    expect(afterPut.status).toBe(200);
    const tag2 = afterPut.headers.get('etag')!;
    expect(tag2).not.toBe(tag);
    // So does a delete, and the tag never returns to an earlier value.
    await fetch(`${s.base}/api/${c}/x`, { method: 'DELETE' });
    const afterDelete = await fetch(`${s.base}/api/${c}`);
    expect(afterDelete.status).toBe(200);
    expect((await afterDelete.json()) as Page).toEqual({
      items: [],
      next: null,
      cursor: expect.any(String),
    });
    const tag3 = afterDelete.headers.get('etag')!;
    expect(new Set([tag, tag2, tag3]).size).toBe(3);
    // A write in another collection does not touch this one.
    await put(s.base, `/api/${freshCollection()}/y`, {});
    expect((await fetch(`${s.base}/api/${c}`, { headers: { 'if-none-match': tag3 } })).status).toBe(
      304,
    );
  });

  it('pages with ?limit and ?after; different pages have different tags', async () => {
    const c = freshCollection();
    const ids = Array.from({ length: 7 }, (_, i) => `m${i}`);
    for (const id of ids) await put(s.base, `/api/${c}/${id}`, { id });
    const seen: string[] = [];
    const tags = new Set<string>();
    let after: string | null = null;
    let pages = 0;
    do {
      const url: string = `${s.base}/api/${c}?limit=3${after ? `&after=${after}` : ''}`;
      const res = await fetch(url);
      expect(res.status).toBe(200);
      tags.add(res.headers.get('etag')!);
      const page = (await res.json()) as Page;
      seen.push(...page.items.map((i) => i.id));
      after = page.next;
      pages++;
    } while (after !== null && pages < 10);
    expect(seen).toEqual(ids);
    expect(pages).toBe(3);
    expect(tags.size).toBe(3);
  });

  it('a collection that never had a member lists as empty 200 with validators', async () => {
    const res = await fetch(`${s.base}/api/${freshCollection()}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBeTruthy();
    expect(res.headers.get('last-modified')).toBeTruthy();
    expect(await res.json()).toEqual({ items: [], next: null, cursor: expect.any(String) });
  });

  it('invalid ?limit or ?after -> 400 problem', async () => {
    const c = freshCollection();
    for (const q of [
      'limit=0',
      'limit=1001',
      'limit=abc',
      'limit=1.5',
      'after=..',
      `after=${'x'.repeat(129)}`,
    ]) {
      const res = await fetch(`${s.base}/api/${c}?${q}`);
      expect(res.status, q).toBe(400);
      await problemOf(res);
    }
    expect((await fetch(`${s.base}/api/${c}?limit=1000`)).status).toBe(200);
  });

  it('POST creates with a server id: 201 + Location + ETag, bytes stored as sent', async () => {
    const c = freshCollection();
    const bytes = '{ "posted" : true }';
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${s.base}/api/${c}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: bytes,
      });
      expect(res.status).toBe(201);
      const location = res.headers.get('location')!;
      expect(location).toMatch(new RegExp(`^/api/${c}/[A-Za-z0-9._~-]{1,128}$`));
      ids.add(location);
      const etag = res.headers.get('etag')!;
      expect(etag).toMatch(/^"[^"]+"$/);
      const got = await fetch(s.base + location);
      expect(got.headers.get('etag')).toBe(etag);
      expect(await got.text()).toBe(bytes);
    }
    expect(ids.size).toBe(3);
    const minimal = await fetch(`${s.base}/api/${c}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', prefer: 'return=minimal' },
      body: '{}',
    });
    expect(minimal.status).toBe(204);
    expect(minimal.headers.get('location')).toBeTruthy();
    expect(minimal.headers.get('etag')).toBeTruthy();
  });

  it('POST refuses bad bodies (415, 400) and creates nothing', async () => {
    const c = freshCollection();
    const wrongType = await fetch(`${s.base}/api/${c}`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: '{}',
    });
    expect(wrongType.status).toBe(415);
    await problemOf(wrongType);
    const invalid = await fetch(`${s.base}/api/${c}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{nope',
    });
    expect(invalid.status).toBe(400);
    await problemOf(invalid);
    expect(await (await fetch(`${s.base}/api/${c}`)).json()).toEqual({
      items: [],
      next: null,
      cursor: expect.any(String),
    });
  });

  it('405 + Allow for unsupported methods on a collection', async () => {
    for (const method of ['PUT', 'DELETE', 'PATCH']) {
      const res = await fetch(`${s.base}/api/${freshCollection()}`, { method });
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow')).toContain('POST');
      expect(res.headers.get('allow')).toContain('GET');
      await problemOf(res);
    }
  });
});
