// Limits: each one a clear 4xx problem+json that the client actually sees
// (no connection reset), and nothing written.

import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_DEPTH } from '../../src/http/body.js';
import { type RunningApp, rawExchange, startApp } from './inproc.js';

let s: RunningApp;

beforeAll(async () => {
  s = await startApp(); // defaults: 1 MiB body, Node's 16 KiB of headers
});
afterAll(async () => {
  await s?.close();
});

async function expectProblem(res: Response, status: number): Promise<Record<string, unknown>> {
  expect(res.status).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as Record<string, unknown>;
  expect(body.status).toBe(status);
  for (const member of ['type', 'title', 'detail']) expect(typeof body[member]).toBe('string');
  return body;
}

function splitResponse(text: string) {
  const end = text.indexOf('\r\n\r\n');
  return { head: text.slice(0, end), body: text.slice(end + 4) };
}

describe('header size (Node maxHeaderSize, 16 KiB)', () => {
  it('431 problem+json, then a clean close, for 20 KiB of headers', async () => {
    const { text, closed } = await rawExchange(s.port, [
      `GET /api/notes/a HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`,
    ]);
    expect(closed).toBe('end');
    const { head, body } = splitResponse(text);
    expect(head).toMatch(/^HTTP\/1\.1 431 /);
    expect(head).toMatch(/content-type: application\/problem\+json/i);
    expect(head).toMatch(/connection: close/i);
    expect(JSON.parse(body)).toMatchObject({
      status: 431,
      title: 'Request Header Fields Too Large',
    });
  });

  it('a fetch client sees the 431 (not a reset); a 100 KiB URL too', async () => {
    await expectProblem(
      await fetch(`${s.url}/api/notes/a`, { headers: { 'x-big': 'a'.repeat(20 * 1024) } }),
      431,
    );
    const res = await fetch(`${s.url}/api/notes/${'a'.repeat(100 * 1024)}`);
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });

  it('just under the limit is served', async () => {
    const res = await fetch(`${s.url}/api/notes/a`, {
      headers: { 'x-big': 'a'.repeat(12 * 1024) },
    });
    await expectProblem(res, 404); // served by the route: the document does not exist
  });
});

describe('body size (--body-limit, default 1 MiB)', () => {
  const big = JSON.stringify({ s: 'x'.repeat(2 * 1024 * 1024) });

  it('413 for a 2 MiB PUT with Content-Length: the client sees it, nothing is written', async () => {
    const body = await expectProblem(
      await fetch(`${s.url}/api/limits/big`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: big,
      }),
      413,
    );
    expect(body.detail).toBeTruthy();
    expect((await fetch(`${s.url}/api/limits/big`)).status).toBe(404);
  });

  it('413 for a chunked upload that grows past the limit', async () => {
    const status = await new Promise<number | string>((resolve) => {
      const req = http.request(
        `${s.url}/api/limits/chunked`,
        { method: 'PUT', headers: { 'content-type': 'application/json' } },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', (e) => resolve(`error: ${e.message}`));
      for (let i = 0; i < 32; i++) req.write('x'.repeat(64 * 1024)); // 2 MiB in 64 KiB chunks
      req.end();
    });
    expect(status).toBe(413);
    expect((await fetch(`${s.url}/api/limits/chunked`)).status).toBe(404);
  });

  it('exactly at the limit is accepted', async () => {
    const limit = 1024 * 1024;
    const text = JSON.stringify({ s: '' });
    const body = JSON.stringify({ s: 'x'.repeat(limit - text.length) });
    expect(Buffer.byteLength(body)).toBe(limit);
    const res = await fetch(`${s.url}/api/limits/exact`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(res.status).toBe(201);
  });
});

describe('nesting depth', () => {
  const nested = (depth: number) => `${'['.repeat(depth)}1${']'.repeat(depth)}`;

  it(`${MAX_DEPTH} levels are accepted, ${MAX_DEPTH + 1} and 100,000 are 400`, async () => {
    const put = (body: string) =>
      fetch(`${s.url}/api/limits/deep`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body,
      });
    expect((await put(nested(MAX_DEPTH))).status).toBe(201);
    const etag = (await fetch(`${s.url}/api/limits/deep`)).headers.get('etag');
    for (const depth of [MAX_DEPTH + 1, 100_000]) {
      const body = await expectProblem(await put(nested(depth)), 400);
      expect(body.type).toMatch(/too-deep/);
    }
    // A merge patch cannot smuggle depth in either.
    const patch = await fetch(`${s.url}/api/limits/deep`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: `{"a":${nested(MAX_DEPTH)}}`,
    });
    expect(patch.status).toBeGreaterThanOrEqual(400);
    expect(patch.status).toBeLessThan(500);
    expect((await fetch(`${s.url}/api/limits/deep`)).headers.get('etag')).toBe(etag);
  });
});

describe('collection pages', () => {
  beforeAll(async () => {
    // Setup through the store: 1001 members.
    for (let i = 0; i < 1001; i++) {
      const id = `m${String(i).padStart(4, '0')}`;
      await s.store.write({ collection: 'many', id }, () => ({
        action: 'put',
        body: Buffer.from(`{"i":${i}}`),
      }));
    }
  });

  it('?limit over 1000, under 1 or not a number: 400 problem', async () => {
    for (const limit of ['1001', '0', '-1', 'abc', '1.5', '99999999999999999999']) {
      await expectProblem(await fetch(`${s.url}/api/many?limit=${limit}`), 400);
    }
  });

  it('a page holds at most 1000 members (default 100) and links the next', async () => {
    const full = (await (await fetch(`${s.url}/api/many?limit=1000`)).json()) as {
      items: { id: string }[];
      next: string | null;
    };
    expect(full.items).toHaveLength(1000);
    expect(full.next).toBe('m0999');
    const rest = (await (
      await fetch(`${s.url}/api/many?limit=1000&after=${full.next}`)
    ).json()) as {
      items: { id: string }[];
      next: string | null;
    };
    expect(rest.items.map((i) => i.id)).toEqual(['m1000']);
    expect(rest.next).toBeNull();
    const page = (await (await fetch(`${s.url}/api/many`)).json()) as { items: unknown[] };
    expect(page.items).toHaveLength(100);
  });
});
