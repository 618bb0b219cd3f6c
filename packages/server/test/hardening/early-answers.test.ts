// Answers given before a route runs, over raw sockets: every one is
// problem+json (never Node's bare 400/417 or a silent close), and
// authorization comes before the body-size check of a 100-continue request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAuthConfig } from '../../src/http/auth.js';
import { rawRequest } from '../helpers/raw.js';
import { type RunningApp, startApp } from './inproc.js';

const TOKEN = 'early-token-0123456789abcdef';
let open: RunningApp;
let guarded: RunningApp;

beforeAll(async () => {
  open = await startApp({ bodyLimit: 1024 });
  guarded = await startApp({
    bodyLimit: 1024,
    auth: parseAuthConfig({
      tokens: [{ name: 'w', token: TOKEN, scopes: { '*': ['read', 'write'] } }],
    }),
  });
});
afterAll(async () => {
  await open?.close();
  await guarded?.close();
});

function expectProblem(
  res: { status: number; headers: Record<string, string>; body: Buffer },
  status: number,
  slug: string,
) {
  expect(res.status).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
  const body = JSON.parse(res.body.toString()) as { status: number; type: string };
  expect(body.status).toBe(status);
  expect(body.type).toBe(`https://ifmatch.dev/problems/${slug}`);
}

describe('early answers', () => {
  it('Expect other than 100-continue: 417 problem', async () => {
    const res = await rawRequest(
      open.port,
      'GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n\r\n',
    );
    expectProblem(res, 417, 'expectation-failed');
  });

  it.each([
    ['no Host', 'GET /healthz HTTP/1.1\r\n\r\n'],
    ['an empty Host', 'GET /healthz HTTP/1.1\r\nHost:\r\n\r\n'],
  ])('HTTP/1.1 with %s: 400 problem', async (_what, request) => {
    const res = await rawRequest(open.port, request);
    expectProblem(res, 400, 'missing-host');
  });

  it('HTTP/1.0 without Host is fine (Host is an HTTP/1.1 requirement)', async () => {
    const res = await rawRequest(open.port, 'GET /healthz HTTP/1.0\r\n\r\n');
    expect(res.status).toBe(200);
  });

  it.each([
    ['/metrics#x', 'fragment'],
    ['/api//notes/1', 'empty segment'],
    ['/api/notes/../x', 'dot segment'],
    ['/api/a%2Fb/c', 'escaped slash'],
    ['gopher://x/api/a/b', 'neither'],
  ])('target %s: 400 problem (%s)', async (target, why) => {
    const res = await rawRequest(open.port, `GET ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expectProblem(res, 400, 'bad-request-target');
    expect(res.body.toString()).toContain(why);
  });

  it('a refused target with a body still gets its answer, and the connection stays usable', async () => {
    const body = '{"a":1}';
    const res = await rawRequest(
      open.port,
      `PUT /api//x HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}` +
        'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expectProblem(
      { ...res, body: res.body.subarray(0, res.body.indexOf('}') + 1) },
      400,
      'bad-request-target',
    );
    expect(res.raw.toString()).toContain('HTTP/1.1 200 OK');
  });

  it('CONNECT: 405 problem, not a silent close', async () => {
    const res = await rawRequest(
      open.port,
      'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
    );
    expectProblem(res, 405, 'method-not-allowed');
  });

  it('100-continue over the limit without a token: 401 first, then the connection closes', async () => {
    const res = await rawRequest(
      guarded.port,
      'PUT /api/notes/big HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 999999\r\nExpect: 100-continue\r\n\r\n',
    );
    expectProblem(res, 401, 'unauthorized');
    expect(res.raw.toString()).not.toContain('100 Continue');
    expect(res.headers.connection).toBe('close');
  });

  it('100-continue over the limit with a valid token: 413, no 100 Continue, closed', async () => {
    const res = await rawRequest(
      guarded.port,
      `PUT /api/notes/big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: 999999\r\nExpect: 100-continue\r\n\r\n`,
    );
    expectProblem(res, 413, 'body-too-large');
    expect(res.raw.toString()).not.toContain('100 Continue');
    expect(res.headers.connection).toBe('close');
  });

  it('100-continue within the limit with a valid token: 100, then the write', async () => {
    const body = '{"ok":true}';
    const res = await rawRequest(guarded.port, (socket) => {
      socket.write(
        `PUT /api/notes/small HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
      );
      socket.once('data', () => socket.write(body));
    });
    expect(res.raw.toString()).toMatch(/^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 201 Created/);
  });
});
