// A 412 on any write (not only update()) carries the current document when the
// server sent it: conditional writes ask for it with Prefer: return=representation.
// Against the real server, through the counting proxy to see what was sent.

import { IfMatchClient, PreconditionFailedError } from '@ifmatch/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type CountingProxy, startProxy } from './helpers/proxy.js';
import { type RunningServer, startServer } from './helpers/server.js';

let server: RunningServer;
let proxy: CountingProxy;
let n = 0;
const doc = () => `/api/client-conflicts/d${++n}-${Date.now()}`;

beforeAll(async () => {
  server = await startServer();
  proxy = await startProxy(server.url);
});
afterAll(async () => {
  await proxy?.close();
  await server?.close();
});
afterEach(() => proxy.reset());

async function failure(promise: Promise<unknown>): Promise<PreconditionFailedError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PreconditionFailedError);
  return error as PreconditionFailedError;
}

/** A document whose current state is `{ v: 2 }`, while `stale` still holds the `{ v: 1 }` tag. */
async function staleClient(path: string) {
  const other = new IfMatchClient({ baseUrl: server.url });
  await other.create(path, { v: 1 });
  const stale = new IfMatchClient({ baseUrl: proxy.url });
  await stale.get(path);
  const now = await other.put(path, { v: 2 });
  return { stale, etag: now.etag };
}

describe('a 412 on any write carries the current document', () => {
  it('put with a stale If-Match (the cached tag)', async () => {
    const path = doc();
    const { stale, etag } = await staleClient(path);
    const error = await failure(stale.put(path, { v: 'mine' }));
    expect(proxy.log.at(-1)!.requestHeaders.prefer).toBe('return=representation');
    expect(error.hasCurrent).toBe(true);
    expect(error.current).toEqual({ v: 2 });
    expect(error.currentETag).toBe(etag);
  });

  it('create on an existing document (If-None-Match: *)', async () => {
    const path = doc();
    const client = new IfMatchClient({ baseUrl: proxy.url });
    const made = await client.create(path, { first: true });
    const error = await failure(client.create(path, { second: true }));
    expect(error.current).toEqual({ first: true });
    expect(error.currentETag).toBe(made.etag);
  });

  it('patch and remove with a stale If-Match', async () => {
    const path = doc();
    const { stale, etag } = await staleClient(path);
    const patched = await failure(stale.patch(path, { v: 3 }, { ifMatch: '"stale"' }));
    expect(patched.current).toEqual({ v: 2 });
    const removed = await failure(stale.remove(path, { ifMatch: '"stale"' }));
    expect(proxy.log.at(-1)!.requestHeaders.prefer).toBe('return=representation');
    expect(removed.current).toEqual({ v: 2 });
    expect(removed.currentETag).toBe(etag);
  });

  it('an explicit prefer wins; an unconditional write asks for nothing', async () => {
    const path = doc();
    const { stale } = await staleClient(path);
    const minimal = await failure(stale.put(path, { v: 'mine' }, { prefer: 'minimal' }));
    expect(proxy.log.at(-1)!.requestHeaders.prefer).toBe('return=minimal');
    expect(minimal.hasCurrent).toBe(false);
    expect(minimal.current).toBeUndefined();
    // The caller's own Prefer header is kept as sent.
    await failure(stale.put(path, { v: 'mine' }, { headers: { prefer: 'handling=lenient' } }));
    expect(proxy.log.at(-1)!.requestHeaders.prefer).toBe('handling=lenient');
    const plain = await stale.put(path, { v: 'forced' }, { ifMatch: false });
    expect(plain.status).toBe(200);
    expect(proxy.log.at(-1)!.requestHeaders.prefer).toBeUndefined();
  });

  it('a successful conditional write is unchanged by asking (same status, value, cache)', async () => {
    const path = doc();
    const client = new IfMatchClient({ baseUrl: proxy.url });
    const made = await client.create(path, { v: 1 });
    expect(made.status).toBe(201);
    const put = await client.put(path, { v: 2 });
    expect(put).toMatchObject({ status: 200, value: { v: 2 }, created: false });
    expect(await client.get(path)).toMatchObject({ status: 304, value: { v: 2 } });
    expect((await client.remove(path)).status).toBe(204);
  });
});
