// The one decision for a document read (src/http/document-read.ts): table
// tests of the pure function, and two defects of the old two-path design,
// each against the real route over loopback HTTP.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/http/app.js';
import { decideRead, notModifiedFields, readRequestOf } from '../../src/http/document-read.js';
import { openSqliteStore } from '../../src/store/sqlite.js';
import type { DocumentStore, StoredValidators } from '../../src/store/types.js';

const V: StoredValidators = { etag: '"7-abc"', lastModified: Date.UTC(2026, 0, 1), size: 5000 };

function request(headers: Record<string, string>, method = 'GET') {
  return readRequestOf({ method, headers, rawHeaders: Object.entries(headers).flat() });
}

describe('decideRead', () => {
  it.each([
    ['no document', {}, undefined, 'absent'],
    ['unconditional', {}, V, 'send'],
    ['If-None-Match current', { 'if-none-match': '"7-abc"' }, V, 'not-modified'],
    ['If-None-Match weak form', { 'if-none-match': 'W/"7-abc"' }, V, 'not-modified'],
    [
      'If-None-Match gzip tag, gzip accepted',
      { 'if-none-match': '"7-abc.gzip"', 'accept-encoding': 'gzip' },
      V,
      'not-modified',
    ],
    [
      'If-None-Match plain tag, gzip sent',
      { 'if-none-match': '"7-abc"', 'accept-encoding': 'gzip' },
      V,
      'send',
    ],
    ['If-Match other coding', { 'if-match': '"7-abc.br"' }, V, 'send'],
    ['If-Match stale', { 'if-match': '"6-old"' }, V, 'failed'],
    ['If-Match malformed', { 'if-match': 'nope' }, V, 'failed'],
    [
      'no size, coding negotiable',
      { 'accept-encoding': 'gzip' },
      { ...V, size: undefined },
      'needs-size',
    ],
    [
      'no size, no Accept-Encoding',
      { 'if-none-match': '"7-abc"' },
      { ...V, size: undefined },
      'not-modified',
    ],
  ] as const)('%s -> %s', (_name, headers, v, kind) => {
    expect(decideRead(request(headers), v as StoredValidators | undefined).kind).toBe(kind);
  });

  it('a 304 keeps ETag, Cache-Control and Vary of the 200, and drops the body fields', () => {
    const d = decideRead(request({ 'if-none-match': '"7-abc.br"', 'accept-encoding': 'br' }), V);
    if (d.kind !== 'not-modified') throw new Error(d.kind);
    expect(notModifiedFields(['x-request-id', 'r', ...d.fields])).toEqual([
      'x-request-id',
      'r',
      'cache-control',
      'no-cache',
      'vary',
      'Accept-Encoding',
      'etag',
      '"7-abc.br"',
    ]);
  });
});

describe('the route decides for the representation it sends', () => {
  let dir: string;
  let real: DocumentStore;
  const large = Buffer.from(JSON.stringify({ items: Array.from({ length: 400 }, (_, i) => i) }));
  const small = Buffer.from('{"s":1}');

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ifmatch-read-'));
    real = openSqliteStore(join(dir, 'read.db'));
  });
  afterAll(async () => {
    await real.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function serve(store: DocumentStore) {
    const app = await buildApp({ store, fastLane: false, defaultMetrics: false, cacheBytes: 0 });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const address = app.server.address();
    if (address === null || typeof address === 'string') throw new Error('no port');
    return { app, url: `http://127.0.0.1:${address.port}` };
  }

  async function put(id: string, body: Buffer) {
    const out = await real.write({ collection: 'r', id }, () => ({
      action: 'put',
      body,
      result: undefined,
    }));
    if (out.action !== 'put') throw new Error('refused');
    return out.doc;
  }

  it('a write between the validators and the body read: the new gzip tag the client holds is a 304', async () => {
    const old = await put('race', large);
    const current = await put(
      'race',
      Buffer.from(JSON.stringify({ items: Array.from({ length: 401 }, (_, i) => i) })),
    );
    // validators() still sees the old state, read() the new one: the window of a real race.
    const stale: DocumentStore = {
      ...real,
      validators: (key) => (key.id === 'race' ? old : real.validators(key)),
    };
    const { app, url } = await serve(stale);
    try {
      const res = await fetch(`${url}/api/r/race`, {
        headers: {
          'accept-encoding': 'gzip',
          'if-none-match': current.etag.replace(/"$/, '.gzip"'),
        },
      });
      expect(res.status).toBe(304);
      expect(res.headers.get('etag')).toBe(current.etag.replace(/"$/, '.gzip"'));
    } finally {
      await app.close();
    }
  });

  it('a store without sizes: a small document under Accept-Encoding: gzip still gets its 304', async () => {
    const doc = await put('small', small);
    const sizeless: DocumentStore = {
      ...real,
      validators: (key) => {
        const v = real.validators(key);
        if (v instanceof Promise || v === undefined) return v;
        const { size: _size, ...rest } = v;
        return rest;
      },
    };
    const { app, url } = await serve(sizeless);
    try {
      const res = await fetch(`${url}/api/r/small`, {
        headers: { 'accept-encoding': 'gzip', 'if-none-match': doc.etag },
      });
      expect(res.status).toBe(304);
      const ok = await fetch(`${url}/api/r/small`, { headers: { 'accept-encoding': 'gzip' } });
      expect(ok.status).toBe(200);
      expect(ok.headers.get('etag')).toBe(doc.etag);
      expect(ok.headers.get('content-encoding')).toBeNull();
    } finally {
      await app.close();
    }
  });
});
