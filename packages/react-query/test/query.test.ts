// The query layer without React, in Node against the real server (in process,
// from source): the hooks themselves are tested in Chromium (browser.test.ts).
import { QueryClient } from '@tanstack/react-query';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const eventually = <T>(fn: () => T | Promise<T>) =>
  expect.poll(fn, { timeout: 10_000, interval: 20 });

import { type RunningServer, startServer } from '../../client/test/helpers/server.js';
import { createDocumentApi } from '../src/api.js';
import { documentQueryOptions } from '../src/options.js';
import { RequestStats } from '../src/stats.js';
import { AlreadyExistsError, ConflictError, DocumentNotFoundError } from '../src/types.js';
import { putJson } from './helpers/http.js';

describe('query layer over @ifmatch/client', () => {
  let server: RunningServer;
  const coll = `q${Date.now().toString(36)}`;
  const url = (id: string) => `/api/${coll}/${id}`;

  beforeAll(async () => {
    server = await startServer();
  });
  afterAll(async () => {
    await server?.close();
  });

  const makeApi = () => {
    const stats = new RequestStats();
    return { stats, api: createDocumentApi({ baseUrl: server.url, stats }) };
  };

  it('a refetch answered 304 yields the very same snapshot object; the stats count its bytes', async () => {
    const doc = { title: 'same', list: [1, 2, 3] };
    expect((await putJson(server.url + url('same'), doc)).status).toBe(201);
    const { api, stats } = makeApi();
    const qc = new QueryClient();
    const options = documentQueryOptions(api, url('same'));
    const first = await qc.fetchQuery(options);
    await qc.refetchQueries({ queryKey: options.queryKey, type: 'all' });
    const second = qc.getQueryData(options.queryKey);
    expect(second).toBe(first); // same reference: no re-render, no deep compare
    expect(first.value).toEqual(doc);

    const s = stats.getSnapshot();
    expect(s.requests).toBe(2);
    expect(s.notModified).toBe(1);
    expect(s.recent[0]).toMatchObject({ method: 'GET', status: 304 });
    expect(s.bytesSaved).toBe(new TextEncoder().encode(JSON.stringify(doc)).byteLength);

    // A change elsewhere: new snapshot with the new ETag.
    const put = await putJson(
      server.url + url('same'),
      { title: 'changed' },
      { 'if-match': first.etag! },
    );
    expect(put.status).toBe(200);
    await qc.refetchQueries({ queryKey: options.queryKey, type: 'all' });
    const third = qc.getQueryData(options.queryKey);
    expect(third).not.toBe(first);
    expect(third).toMatchObject({
      value: { title: 'changed' },
      etag: put.headers.get('etag'),
      notModified: false,
    });
    qc.clear();
  });

  it('save with a stale ETag rejects with ConflictError carrying the current document', async () => {
    const { api } = makeApi();
    const created = await api.create(url('c'), { n: 1 });
    expect(created.etag).toMatch(/^"/);
    const saved = await api.save(url('c'), { n: 2 }, created.etag!);
    expect(saved.etag).not.toBe(created.etag);
    const error = await api.save(url('c'), { n: 3 }, created.etag!).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect(error).toMatchObject({ currentETag: saved.etag, current: { value: { n: 2 } } });
    expect((await api.get(url('c'))).value).toEqual({ n: 2 });
  });

  it('create-only, stale delete, and 404 map to typed errors', async () => {
    const { api } = makeApi();
    const first = await api.create(url('d'), { v: 1 });
    await expect(api.create(url('d'), { v: 'other' })).rejects.toBeInstanceOf(AlreadyExistsError);
    const second = await api.save(url('d'), { v: 2 }, first.etag!);
    await expect(api.remove(url('d'), first.etag!)).rejects.toBeInstanceOf(ConflictError);
    expect((await api.get(url('d'))).value).toEqual({ v: 2 });
    await api.remove(url('d'), second.etag!);
    await expect(api.get(url('d'))).rejects.toBeInstanceOf(DocumentNotFoundError);
  });

  it('watch: the current version, then each save elsewhere as it commits, then the deletion', async () => {
    const { api } = makeApi();
    const first = await putJson(server.url + url('w'), { v: 1 });
    const controller = new AbortController();
    const events = api
      .watch(url('w'), { signal: controller.signal, wait: 5 })
      [Symbol.asyncIterator]();
    const next = async () => (await events.next()).value;
    expect(await next()).toMatchObject({
      kind: 'version',
      snapshot: { url: url('w'), value: { v: 1 }, etag: first.headers.get('etag') },
    });
    const pending = next(); // held by the server until the save below
    await eventually(() => server.waiters()).toBe(1);
    const second = await putJson(
      server.url + url('w'),
      { v: 2 },
      { 'if-match': first.headers.get('etag')! },
    );
    expect(await pending).toMatchObject({
      kind: 'version',
      snapshot: { value: { v: 2 }, etag: second.headers.get('etag') },
    });
    const gone = next();
    await eventually(() => server.waiters()).toBe(1);
    expect((await fetch(server.url + url('w'), { method: 'DELETE' })).status).toBe(204);
    expect(await gone).toEqual({ kind: 'deleted', url: url('w') });
    controller.abort();
    expect(await events.next()).toMatchObject({ done: true });
    await eventually(() => server.waiters()).toBe(0);
  });

  it('changes: from a listing cursor, every change after it in commit order', async () => {
    const { api } = makeApi();
    const c = `${coll}-feed`;
    const member = (id: string) => `${server.url}/api/${c}/${id}`;
    await putJson(member('x'), { n: 0 });
    const listing = (await api.get<{ cursor: string }>(`/api/${c}`)).value;
    const a = await putJson(member('a'), { n: 1 });
    const a2 = await putJson(member('a'), { n: 2 }, { 'if-match': a.headers.get('etag')! });
    expect((await fetch(member('x'), { method: 'DELETE' })).status).toBe(204);
    const controller = new AbortController();
    const seen: unknown[] = [];
    for await (const change of api.changes(`/api/${c}`, {
      since: listing.cursor,
      signal: controller.signal,
      wait: 5,
    })) {
      seen.push(change);
      if (seen.length === 3) controller.abort();
    }
    expect(seen).toEqual([
      expect.objectContaining({ id: 'a', deleted: false, etag: a.headers.get('etag') }),
      expect.objectContaining({ id: 'a', deleted: false, etag: a2.headers.get('etag') }),
      expect.objectContaining({ id: 'x', deleted: true, etag: undefined }),
    ]);
    for (const change of seen) expect(change).toHaveProperty('cursor', expect.any(String));
  });
});
