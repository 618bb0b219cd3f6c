// CONTRACT.md, errors: malformed input of any kind is a 4xx problem+json, the
// stored state is unchanged and the server keeps serving.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { rawRequest } from '../helpers/raw.js';
import { problemOf, put, startTestServer, type TestServer } from '../helpers/server.js';
import { storeFactories } from '../helpers/stores.js';

const LIMIT = 64 * 1024;

describe.each(storeFactories)('bad input on $name', (factory) => {
  let s: TestServer;
  const path = '/api/bad/doc';
  let etag: string;

  beforeAll(async () => {
    s = await startTestServer(factory, { bodyLimit: LIMIT });
  });
  afterAll(async () => {
    await s.close();
    await factory.cleanup();
  });
  beforeEach(async () => {
    const current = await fetch(s.base + path);
    const res = await put(
      s.base,
      path,
      { ok: true },
      current.ok ? { 'if-match': current.headers.get('etag')! } : {},
    );
    expect(res.ok).toBe(true);
    etag = res.headers.get('etag')!;
  });

  async function expectUnchanged(): Promise<void> {
    const res = await fetch(s.base + path);
    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe(etag);
    expect(await res.json()).toEqual({ ok: true });
  }

  it('invalid JSON -> 400', async () => {
    for (const body of ['{', '{"a":}', 'nope', '', '{"a":1}{"b":2}', '\uFEFF{}']) {
      const res = await put(s.base, path, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      await problemOf(res);
    }
    await expectUnchanged();
  });

  it('wrong or missing content type -> 415', async () => {
    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'application/json; charset=latin1',
      'application/merge-patch+json',
    ]) {
      const res = await fetch(s.base + path, {
        method: 'PUT',
        headers: { 'content-type': type },
        body: '{"a":1}',
      });
      expect(res.status, type).toBe(415);
      await problemOf(res);
    }
    const none = await rawRequest(
      s.port,
      `PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\nConnection: close\r\n\r\n{"a":1}`,
    );
    expect(none.status).toBe(415);
    expect(none.headers['content-type']).toMatch(/^application\/problem\+json/);
    // Parameters and case are fine.
    const ok = await fetch(s.base + '/api/bad/typed', {
      method: 'PUT',
      headers: { 'content-type': 'Application/JSON; charset=UTF-8' },
      body: '{"a":1}',
    });
    expect(ok.status).toBe(201);
    await expectUnchanged();
  });

  it('invalid UTF-8 -> 400', async () => {
    const res = await fetch(s.base + path, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
    });
    expect(res.status).toBe(400);
    await problemOf(res);
    await expectUnchanged();
  });

  it('10,000-deep nesting -> 400 (no stack overflow), for PUT, POST and PATCH', async () => {
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    const deepObject = '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_000);
    expect((await put(s.base, path, deep)).status).toBe(400);
    const res = await put(s.base, path, deepObject);
    expect(res.status).toBe(400);
    await problemOf(res);
    const post = await fetch(`${s.base}/api/bad`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: deep,
    });
    expect(post.status).toBe(400);
    const patch = await fetch(s.base + path, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: deepObject,
    });
    expect(patch.status).toBe(400);
    // Brackets inside strings do not count.
    const ok = await put(s.base, '/api/bad/strings', JSON.stringify({ s: '['.repeat(10_000) }));
    expect(ok.status).toBe(201);
    await expectUnchanged();
  });

  it('a body over the limit -> 413 seen by fetch', async () => {
    const big = JSON.stringify({ x: 'y'.repeat(LIMIT * 4) });
    const res = await put(s.base, path, big);
    expect(res.status).toBe(413);
    await problemOf(res);
    await expectUnchanged();
  });

  it('a body over the limit from a client that reads only after sending everything: it gets the 413', async () => {
    // Like many simple clients: send the whole request, then read. If the
    // server answered and closed while bytes were still arriving, the kernel
    // would reset the connection and discard the 413 before the client reads.
    const total = 32 * 1024 * 1024; // far more than the loopback socket buffers hold
    const res = await rawRequest(
      s.port,
      (socket) => {
        socket.pause();
        socket.write(
          `PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${total}\r\n\r\n`,
        );
        const chunk = Buffer.alloc(16 * 1024, 0x20);
        let sent = 0;
        const pump = () => {
          while (sent < total) {
            const n = Math.min(chunk.length, total - sent);
            sent += n;
            const last = sent === total;
            const flushed = socket.write(
              chunk.subarray(0, n),
              last ? () => socket.resume() : undefined,
            );
            if (!flushed && !last) {
              socket.once('drain', pump);
              return;
            }
          }
        };
        pump();
      },
      1000,
    );
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(res.body.toString())).toMatchObject({ status: 413 });
    await expectUnchanged();
  });

  it('Expect: 100-continue with a Content-Length over the limit -> 413 before the body is sent', async () => {
    const res = await rawRequest(
      s.port,
      `PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${LIMIT * 10}\r\nExpect: 100-continue\r\n\r\n`,
    );
    expect(res.status).toBe(413);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(res.body.toString())).toMatchObject({ status: 413 });
    // Within the limit, the client is told to continue and the write lands.
    const body = '{"ok":true}';
    const ok = await rawRequest(s.port, (socket) => {
      socket.write(
        `PUT /api/bad/continued HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
      );
      socket.once('data', (chunk) => {
        expect(chunk.toString()).toMatch(/^HTTP\/1\.1 100 Continue/);
        socket.write(body);
      });
    });
    expect(ok.raw.toString()).toContain('201 Created');
    await expectUnchanged();
  });

  it('a chunked body over the limit (no Content-Length) -> 413', async () => {
    const res = await rawRequest(
      s.port,
      (socket) => {
        socket.write(
          `PUT ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
        );
        const piece = 'x'.repeat(8192);
        for (let i = 0; i < 20; i++) socket.write(`${piece.length.toString(16)}\r\n${piece}\r\n`);
        socket.write('0\r\n\r\n');
      },
      1000,
    );
    expect(res.status).toBe(413);
    await expectUnchanged();
  });

  it('bad ids -> 400: .., %2e%2e, 129 characters, encoded /, bad characters', async () => {
    for (const raw of [
      '/api/bad/..',
      '/api/bad/%2e%2e',
      '/api/bad/.',
      `/api/bad/${'a'.repeat(129)}`,
      '/api/bad/a%2Fb',
      '/api/bad/a%20b',
      '/api/bad/%C3%A9',
      '/api/../bad',
      `/api/${'c'.repeat(129)}/x`,
      `/api/bad/${'a'.repeat(1000)}`,
      '/api/bad/%zz',
    ]) {
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const body = method === 'PUT' ? '{"a":1}' : '';
        const res = await rawRequest(
          s.port,
          `${method} ${raw} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
        );
        expect(res.status, `${method} ${raw}`).toBe(400);
        expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      }
    }
    // 128 characters is fine.
    expect((await put(s.base, `/api/bad/${'a'.repeat(128)}`, {})).status).toBe(201);
    await expectUnchanged();
  });

  it('a malformed If-Match never lets a write through (412, nothing written)', async () => {
    for (const value of [
      'nope',
      '"unterminated',
      'W/',
      '"a" "b"',
      '*, "a"',
      `${etag}x`,
      `"a",,${etag.slice(0, -1)}`,
    ]) {
      const res = await put(s.base, path, { ok: false }, { 'if-match': value });
      expect(res.status, value).toBe(412);
      await problemOf(res);
      const del = await fetch(s.base + path, { method: 'DELETE', headers: { 'if-match': value } });
      expect(del.status, value).toBe(412);
    }
    await expectUnchanged();
  });

  it('malformed conditional headers on GET never cause a 5xx', async () => {
    for (const [name, value] of [
      ['if-none-match', '"unterminated'],
      ['if-none-match', 'W/W/"x"'],
      ['if-modified-since', 'not a date'],
      ['if-unmodified-since', 'Mon, 99 Foo 2020 99:99:99 GMT'],
      ['if-range', 'garbage'],
      ['range', 'bytes=abc'],
      ['range', 'pages=1-2'],
      ['range', 'bytes=5-1'],
    ] as const) {
      const res = await fetch(s.base + path, { headers: { [name]: value } });
      expect(res.status, `${name}: ${value}`).toBeLessThan(500);
    }
    await expectUnchanged();
  });

  it('405 + Allow on documents; OPTIONS lists the methods; unknown paths 404 problem', async () => {
    const post = await fetch(s.base + path, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD, PUT, PATCH, DELETE, OPTIONS');
    await problemOf(post);
    const trace = await rawRequest(
      s.port,
      `PROPFIND ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`,
    );
    expect([405, 400]).toContain(trace.status);
    const options = await fetch(s.base + path, { method: 'OPTIONS' });
    expect(options.status).toBe(204);
    expect(options.headers.get('allow')).toContain('PATCH');
    const nowhere = await fetch(`${s.base}/nowhere/at/all`);
    expect(nowhere.status).toBe(404);
    await problemOf(nowhere);
    const deep = await fetch(`${s.base}/api/a/b/c`);
    expect(deep.status).toBe(404);
    await problemOf(deep);
    await expectUnchanged();
  });
});
