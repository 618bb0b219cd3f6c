// Slow clients: headersTimeout, requestTimeout and keepAliveTimeout, set short
// here, bound how long a client that dribbles bytes can hold a socket, and the
// server keeps serving everyone else meanwhile.

import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TIMEOUTS } from '../../src/http/app.js';
import { type RunningApp, startApp } from './inproc.js';

const HEADERS_TIMEOUT = 2000;
const REQUEST_TIMEOUT = 3000;
const KEEP_ALIVE_TIMEOUT = 500;
const SLOW_SOCKETS = 100;

let s: RunningApp;

beforeAll(async () => {
  s = await startApp({
    timeouts: {
      headersTimeout: HEADERS_TIMEOUT,
      requestTimeout: REQUEST_TIMEOUT,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT,
    },
  });
  await fetch(`${s.url}/api/slow/doc`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: '{"ok":true}',
  });
});
afterAll(async () => {
  await s?.close();
});

interface Dribbler {
  received: string;
  closedAfterMs: Promise<number>;
  stop(): void;
}

/** Opens a socket and sends `first`, then `next()` every `everyMs` until closed. */
function dribble(first: string, next: () => string, everyMs: number): Dribbler {
  const started = Date.now();
  const socket = net.connect(s.port, '127.0.0.1');
  const d: Dribbler = {
    received: '',
    closedAfterMs: new Promise((resolve) =>
      socket.on('close', () => resolve(Date.now() - started)),
    ),
    stop: () => socket.destroy(),
  };
  socket.on('error', () => {});
  socket.on('data', (c: Buffer) => {
    d.received += c.toString('latin1');
  });
  socket.write(first);
  const timer = setInterval(() => {
    if (socket.writable) socket.write(next());
  }, everyMs);
  socket.on('close', () => clearInterval(timer));
  return d;
}

describe('slow clients', () => {
  it('the defaults are set deliberately (not Node/Fastify defaults)', () => {
    expect(TIMEOUTS.headersTimeout).toBeLessThan(60_000); // Node's default
    expect(TIMEOUTS.requestTimeout).toBeGreaterThan(0); // Fastify's default 0 = never
    expect(TIMEOUTS.headersTimeout).toBeLessThanOrEqual(TIMEOUTS.requestTimeout);
  });

  it(`${SLOW_SOCKETS} slow-headers sockets neither hold the server nor live past headersTimeout`, async () => {
    let n = 0;
    const slow = Array.from({ length: SLOW_SOCKETS }, () =>
      dribble('GET /api/slow/doc HTTP/1.1\r\nHost: x\r\n', () => `X-${n++}: y\r\n`, 100),
    );
    try {
      // Meanwhile, ordinary requests are answered, and quickly.
      const t0 = Date.now();
      let firstClosed = Number.POSITIVE_INFINITY;
      for (const d of slow)
        void d.closedAfterMs.then((ms) => (firstClosed = Math.min(firstClosed, ms)));
      for (let i = 0; i < 20; i++) {
        const started = Date.now();
        const res = await fetch(`${s.url}/api/slow/doc`);
        expect(res.status).toBe(200);
        expect(await res.json()).toEqual({ ok: true });
        expect(Date.now() - started).toBeLessThan(1000);
      }
      // ...while every slow socket was still open: served during the attack.
      expect(Date.now() - t0).toBeLessThan(firstClosed);
      // Each slow socket is answered 408 and closed, shortly after headersTimeout
      // (Node checks every connectionsCheckingInterval = 1 s here).
      const closedAfter = await Promise.all(slow.map((d) => d.closedAfterMs));
      for (const ms of closedAfter) {
        expect(ms).toBeGreaterThanOrEqual(HEADERS_TIMEOUT - 50);
        expect(ms).toBeLessThan(HEADERS_TIMEOUT + 3000);
      }
      const answered = slow.filter((d) => /^HTTP\/1\.1 408 /.test(d.received));
      expect(answered.length).toBeGreaterThan(SLOW_SOCKETS * 0.9);
      expect(answered[0]!.received).toMatch(/application\/problem\+json/);
    } finally {
      for (const d of slow) d.stop();
    }
  }, 20_000);

  it('a slow body is cut at requestTimeout with a 408', async () => {
    const d = dribble(
      'PUT /api/slow/body HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"s":"',
      () => 'x',
      50,
    );
    const ms = await d.closedAfterMs;
    expect(ms).toBeGreaterThanOrEqual(REQUEST_TIMEOUT - 50);
    expect(ms).toBeLessThan(REQUEST_TIMEOUT + 3000);
    expect(d.received).toMatch(/^HTTP\/1\.1 408 /);
    expect((await fetch(`${s.url}/api/slow/body`)).status).toBe(404);
  }, 20_000);

  it('an idle keep-alive connection is closed after keepAliveTimeout', async () => {
    const d = dribble('GET /api/slow/doc HTTP/1.1\r\nHost: x\r\n\r\n', () => '', 1_000_000);
    const ms = await d.closedAfterMs;
    expect(d.received).toMatch(/^HTTP\/1\.1 200 /);
    expect(d.received).toMatch(/^keep-alive: timeout=\d+/im);
    expect(ms).toBeGreaterThanOrEqual(KEEP_ALIVE_TIMEOUT - 50);
    expect(ms).toBeLessThan(KEEP_ALIVE_TIMEOUT + 2000);
  }, 10_000);
});
